//! The request bodies of the API: one type per POST route, checked while it is deserialized.
//!
//! Fields are typed by what they may hold, not by how JSON spells them: a [`CompanyRef`] is a
//! company id that passed `CompanyId::parse` (as on the command line and in the forms), a
//! [`Class`] went through [`parse_class`], a [`Tonnes`] is a whole number of tonnes above zero
//! and below [`TONNES_MAX`], a [`Text`] has a length limit and no control characters. A value
//! that does not fit is refused with the field's path (`units[0].unit`) and a stable code
//! (`invalid_id`, `invalid_class`, `out_of_range`, `too_long`, `invalid_text`…); a field the
//! route does not take is `unknown_field`, never ignored.
//!
//! The same types write the OpenAPI schemas ([`Schema`]): the document is exactly as strict as
//! the server, because it is made from the types the server parses with.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use ets_market::Stage;
use ets_market::trading::exchange::{OrderSide, Tif};
use ets_registry::AccountStatus;
use ets_types::{
    AccountId, CompanyId, Cooling, Decimal, ProjectId, UnitCategory, UnitClass, UnitId,
};
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::access::Role;
use crate::error::ApiError;

/// Largest quantity of one request, in tonnes: above the whole national quota (about 4.5 Gt a
/// year), so that no real request is refused, and far below overflow when quantities are added.
pub const TONNES_MAX: i64 = 10_000_000_000;
/// Highest price of an order or bid, in fen per tonne: 100,000 yuan, some 2,000 times the
/// market's price. The exchange's price band refuses much less; this bound keeps `price × qty`
/// within `i64` (10^7 × 10^10 = 10^17 < 9.2 × 10^18).
pub const PRICE_FEN_MAX: i64 = 10_000_000;
/// Largest deposit or withdrawal, in fen (10 trillion yuan).
pub const AMOUNT_FEN_MAX: i64 = 1_000_000_000_000_000;
/// Compliance and vintage years the API accepts.
pub const YEAR_MIN: i64 = 2005;
pub const YEAR_MAX: i64 = 2100;
/// Representatives an account request may name at most: each is a password to hash (Argon2id,
/// tens of milliseconds by design), and the request is anonymous.
pub const MAX_REPRESENTATIVES: usize = 5;
/// Documents an account request may carry at most.
pub const MAX_DOCUMENTS: usize = 4;
/// Largest document of an account request, in bytes once decoded (the journal keeps it).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Largest measured figure of a report (fuel consumption, MWh, GJ).
pub const DECIMAL_MAX: i64 = 1_000_000_000_000;

/// The JSON Schema of a request type or field type (OpenAPI 3.1 flavour).
pub trait Schema {
    fn schema() -> Value;
    /// Whether a field of this type must be present (`Option` fields may be left out).
    const REQUIRED: bool = true;
    /// The codes a value of this type may be refused with, besides `malformed`.
    fn codes(_out: &mut BTreeSet<&'static str>) {}
}

// ---------------------------------------------------------------------------------------------
// Refusals travel through serde as text: a mark, the code, the field below this value (for
// values decoded in two steps), the params and the message.

const MARK: char = '\u{1e}';

/// A refusal of one value.
struct Refusal {
    code: &'static str,
    message: String,
    params: Value,
}

fn refusal(code: &'static str, message: impl Into<String>, params: Value) -> Refusal {
    Refusal {
        code,
        message: message.into(),
        params,
    }
}

impl Refusal {
    fn into_de<E: serde::de::Error>(self) -> E {
        E::custom(format!(
            "{MARK}{}{MARK}{MARK}{}{MARK}{}",
            self.code, self.params, self.message
        ))
    }
}

/// An [`ApiError`] of a value decoded inside another, carried out through serde with its field.
fn nested<E: serde::de::Error>(e: ApiError) -> E {
    E::custom(format!(
        "{MARK}{}{MARK}{}{MARK}{}{MARK}{}",
        e.code,
        e.field.unwrap_or_default(),
        Value::Object(e.params),
        e.message
    ))
}

fn join(path: &str, field: &str) -> Option<String> {
    match (path, field) {
        ("" | ".", "") => None,
        ("" | ".", f) => Some(f.to_string()),
        (p, "") => Some(p.to_string()),
        (p, f) if f.starts_with('[') => Some(format!("{p}{f}")),
        (p, f) => Some(format!("{p}.{f}")),
    }
}

/// The first `` `name` `` of a serde message.
fn quoted(text: &str) -> Option<&str> {
    text.split('`').nth(1)
}

/// The error of a body that did not deserialize, with its field and code.
fn from_path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::of(
            "malformed",
            format!("the request body is not JSON: {inner}"),
            None,
        );
    }
    let mut text = inner.to_string();
    // serde_json adds where in the text the value was; the field says it better.
    if let Some(at) = text.rfind(" at line ") {
        text.truncate(at);
    }
    if let Some(rest) = text.strip_prefix(MARK) {
        let mut parts = rest.splitn(4, MARK);
        let (code, field, params, message) = (
            parts.next().unwrap_or("malformed"),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("{}"),
            parts.next().unwrap_or(""),
        );
        let field = join(&path, field);
        let mut err = ApiError::of(
            code,
            match &field {
                Some(f) => format!("{f}: {message}"),
                None => message.to_string(),
            },
            field.as_deref(),
        );
        if let Ok(Value::Object(p)) = serde_json::from_str(params) {
            err.params = p;
        }
        return err;
    }
    let named = |code: &str, what: &str| {
        let name = quoted(&text).unwrap_or("");
        // The path already ends with an unknown key's name when serde got that far.
        let field = if path.ends_with(name) {
            join(&path, "")
        } else {
            join(&path, name)
        };
        let f = field.clone().unwrap_or_default();
        ApiError::of(code, format!("{what} `{f}`"), field.as_deref())
    };
    if text.starts_with("missing field") {
        return named("missing_field", "missing field");
    }
    if text.starts_with("unknown field") {
        let mut e = named("unknown_field", "this route takes no field");
        if let Some((_, expected)) = text.split_once("expected ") {
            e.message = format!("{}; it takes {expected}", e.message);
        }
        return e;
    }
    let field = join(&path, "");
    let at = field.as_deref().map_or(String::new(), |f| format!("{f}: "));
    if text.starts_with("unknown variant") {
        let allowed: Vec<&str> = text
            .split_once("expected")
            .map(|(_, e)| e.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        return ApiError::of("invalid_enum", format!("{at}{text}"), field.as_deref())
            .with("allowed", json!(allowed));
    }
    ApiError::of("malformed", format!("{at}{text}"), field.as_deref())
}

/// Decodes a request body into its type; an empty body is `{}`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(from_path_error)?;
    de.end().map_err(|e| {
        ApiError::of(
            "malformed",
            format!("the request body is not JSON: {e}"),
            None,
        )
    })?;
    Ok(value)
}

/// Decodes a JSON value already read (the variants of a tagged body).
fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(from_path_error)
}

// ---------------------------------------------------------------------------------------------
// Field types

/// A string field checked by `parse`.
macro_rules! parsed_string {
    ($(#[$m:meta])* $name:ident($inner:ty), codes = [$($code:literal),*], schema = $schema:expr, parse = $parse:expr $(,)?) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(pub $inner);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let parse: fn(&str) -> Result<$inner, Refusal> = $parse;
                parse(&text).map($name).map_err(Refusal::into_de)
            }
        }
        impl Schema for $name {
            fn schema() -> Value {
                $schema
            }
            fn codes(out: &mut BTreeSet<&'static str>) {
                $(out.insert($code);)*
            }
        }
    };
}

/// The characters of identifiers (as `ets_types` ids): 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

fn id_schema(example: &str, what: &str) -> Value {
    json!({"type": "string", "pattern": ID_PATTERN, "minLength": 1, "maxLength": 64,
           "description": what, "examples": [example]})
}

fn id_refusal(what: &str, text: &str) -> Refusal {
    refusal(
        "invalid_id",
        format!(
            "{what} {:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
            clip(text)
        ),
        json!({"value": clip(text)}),
    )
}

/// At most 80 characters of a refused value, for messages.
pub fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

fn plain_id(what: &'static str, text: &str) -> Result<String, Refusal> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(id_refusal(what, text))
    }
}

parsed_string!(
    /// A company id, checked by `CompanyId::parse` as everywhere else.
    CompanyRef(CompanyId),
    codes = ["invalid_id"],
    schema = id_schema("SX0001", "a company id"),
    parse = |s| {
        if s != s.trim() {
            return Err(id_refusal("company", s));
        }
        CompanyId::parse(s).map_err(|_| id_refusal("company", s))
    },
);
parsed_string!(
    /// A generating unit id (`UnitId::parse`).
    UnitRef(UnitId),
    codes = ["invalid_id"],
    schema = id_schema("SX0001-G1", "a generating unit id"),
    parse = |s| {
        if s != s.trim() {
            return Err(id_refusal("unit", s));
        }
        UnitId::parse(s).map_err(|_| id_refusal("unit", s))
    },
);
parsed_string!(
    /// An offset project id (`ProjectId::parse`).
    ProjectRef(ProjectId),
    codes = ["invalid_id"],
    schema = id_schema("CCER-FOREST-0001", "an offset project id"),
    parse = |s| {
        if s != s.trim() {
            return Err(id_refusal("project", s));
        }
        ProjectId::parse(s).map_err(|_| id_refusal("project", s))
    },
);
parsed_string!(
    /// A party to a movement: a company id, a project id, a holder's name or an account number.
    Party(String),
    codes = ["invalid_id"],
    schema = id_schema(
        "trader-0001",
        "an account's holder: a company id, a project id, a holder's name or an account number (CN-000123)"
    ),
    parse = |s| plain_id("holder", s),
);
parsed_string!(
    /// A user name: 1 to 64 letters, digits, '-', '_', '.' or '@'.
    UserName(String),
    codes = ["invalid_name"],
    schema = json!({"type": "string", "pattern": crate::core::USER_NAME_PATTERN, "minLength": 1, "maxLength": 64,
                    "description": "a user name: 1 to 64 letters, digits, '-', '_', '.' or '@'", "examples": ["rep-a"]}),
    parse = |s| parse_user_name(s),
);

fn parse_user_name(s: &str) -> Result<String, Refusal> {
    if crate::core::valid_user_name(s) {
        Ok(s.to_string())
    } else {
        Err(refusal(
            "invalid_name",
            format!(
                "user name {:?}: 1 to 64 letters, digits, '-', '_', '.' or '@'",
                clip(s)
            ),
            json!({"value": clip(s)}),
        ))
    }
}

/// Checks a user name of a path (`field` names where it came from).
pub fn parse_user(text: &str, field: &str) -> Result<String, ApiError> {
    parse_user_name(text).map_err(|r| ApiError::of(r.code, r.message, Some(field)))
}

/// Checks an account's holder (or any id) of a query string or path.
pub fn parse_id_text(text: &str, field: &str) -> Result<String, ApiError> {
    plain_id("holder", text).map_err(|r| ApiError::of(r.code, r.message, Some(field)))
}

parsed_string!(
    /// An allocation plan id.
    PlanRef(String),
    codes = ["invalid_id"],
    schema = id_schema("cn-power-2021-2022", "an allocation plan id"),
    parse = |s| plain_id("plan", s),
);
parsed_string!(
    /// A unit class: `CEA-2021` or `CCER-P12-2019`.
    Class(UnitClass),
    codes = ["invalid_class"],
    schema = json!({"type": "string", "pattern": CLASS_PATTERN, "maxLength": 40,
                    "description": format!("a unit class: CEA-<vintage> or CCER-P<project>-<vintage>, the vintage from {YEAR_MIN} to {YEAR_MAX}; an order's, block's or auction's class must be an instrument of the market file (an offset class, a registered project's)"),
                    "examples": ["CEA-2021", "CCER-P12-2019"]}),
    parse = |s| parse_unit_class(s),
);
parsed_string!(
    /// A registry account number: `CN-000123` (or `123`).
    Account(AccountId),
    codes = ["invalid_account"],
    schema = json!({"type": "string", "pattern": ACCOUNT_PATTERN, "maxLength": 12, "examples": ["CN-000004"],
                    "description": "a registry account number"}),
    parse = |s| parse_account_number(s),
);
parsed_string!(
    /// One of the 31 mainland provincial-level divisions, by its English name.
    Province(String),
    codes = ["invalid_enum"],
    schema = json!({"type": "string", "enum": crate::web::i18n::PROVINCES.iter().map(|p| p.0).collect::<Vec<_>>(),
                    "description": "a province by its English name"}),
    parse = |s| {
        crate::web::i18n::PROVINCES
            .iter()
            .find(|p| p.0 == s)
            .map(|p| p.0.to_string())
            .ok_or_else(|| refusal(
                "invalid_enum",
                format!("province {:?}: one of the 31 provinces by English name (Shanxi, Guangdong…)", clip(s)),
                json!({"value": clip(s)}),
            ))
    },
);
parsed_string!(
    /// A measured figure: a non-negative decimal written as a string (exact, never a float).
    Dec(Decimal),
    codes = ["invalid_decimal", "out_of_range"],
    schema = json!({"type": "string", "pattern": DECIMAL_PATTERN, "maxLength": 40,
                    "description": format!("a non-negative decimal as a string, at most {DECIMAL_MAX}, with at most {DECIMAL_PLACES} decimal places"),
                    "examples": ["21.5"]}),
    parse = |s| {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && s.bytes().filter(|b| *b == b'.').count() <= 1
            && !s.starts_with('.')
            && !s.ends_with('.')
            && s.split_once('.').is_none_or(|(_, f)| f.len() <= DECIMAL_PLACES);
        let d: Decimal = match ok.then(|| s.parse::<Decimal>().ok()).flatten() {
            Some(d) => d,
            None => {
                return Err(refusal(
                    "invalid_decimal",
                    format!("{:?} is not a decimal such as \"21.5\" (at most {DECIMAL_PLACES} decimal places)", clip(s)),
                    json!({"value": clip(s)}),
                ));
            }
        };
        if d > Decimal::from(DECIMAL_MAX) {
            return Err(refusal(
                "out_of_range",
                format!("{s} is above {DECIMAL_MAX}"),
                json!({"min": 0, "max": DECIMAL_MAX, "value": s}),
            ));
        }
        Ok(d)
    },
);
/// A document's content in standard base64, at most `MAX` bytes once decoded: the length of
/// the text is checked before anything is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base64<const MAX: usize>(pub Vec<u8>);

/// Standard base64 as the server decodes it: groups of four, padded, the unused bits of the last
/// character zero.
pub const BASE64_PATTERN: &str =
    "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// The length of the base64 text of `bytes` bytes (with padding).
pub const fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

impl<'de, const MAX: usize> Deserialize<'de> for Base64<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let too_long = || {
            refusal(
                "too_long",
                format!("a document of at most {MAX} bytes"),
                json!({"max": MAX}),
            )
        };
        if text.len() > base64_len(MAX) {
            return Err(too_long().into_de());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| {
                refusal("invalid_base64", format!("not base64: {e}"), json!({})).into_de()
            })?;
        if bytes.len() > MAX {
            return Err(too_long().into_de());
        }
        Ok(Base64(bytes))
    }
}
impl<const MAX: usize> Schema for Base64<MAX> {
    fn schema() -> Value {
        json!({"type": "string", "contentEncoding": "base64", "pattern": BASE64_PATTERN,
               "maxLength": base64_len(MAX),
               "description": format!("standard base64 of at most {MAX} bytes")})
    }
    fn codes(out: &mut BTreeSet<&'static str>) {
        out.extend(["invalid_base64", "too_long"]);
    }
}

/// `CEA-<vintage>` or `CCER-P<project>-<vintage>`, the vintage from [`YEAR_MIN`] to
/// [`YEAR_MAX`] (2005 to 2100).
pub const CLASS_PATTERN: &str = "^(CEA|CCER-P[0-9]{1,9})-(200[5-9]|20[1-9][0-9]|2100)$";
/// `CN-000123` or `123`: 1 to 9 digits, not all zero (no account 0).
pub const ACCOUNT_PATTERN: &str = "^(CN-)?([1-9][0-9]{0,8}|0[1-9][0-9]{0,7}|00[1-9][0-9]{0,6}|000[1-9][0-9]{0,5}|0000[1-9][0-9]{0,4}|00000[1-9][0-9]{0,3}|000000[1-9][0-9]{0,2}|0000000[1-9][0-9]?|00000000[1-9])$";
/// A non-negative decimal of at most [`DECIMAL_MAX`] (10^12) with at most
/// [`DECIMAL_PLACES`] decimal places: the pattern says what the parser takes.
pub const DECIMAL_PATTERN: &str = "^0*([0-9]{1,12}(\\.[0-9]{1,15})?|1000000000000(\\.0{1,15})?)$";
/// Decimal places a measured figure may have (with 13 digits before the point, 28 in all: what
/// a `Decimal` holds exactly).
pub const DECIMAL_PLACES: usize = 15;

fn parse_unit_class(text: &str) -> Result<UnitClass, Refusal> {
    let err = || {
        refusal(
            "invalid_class",
            format!(
                "unit class {:?}: expected CEA-<vintage> or CCER-P<project>-<vintage>, the vintage from {YEAR_MIN} to {YEAR_MAX}",
                clip(text)
            ),
            json!({"value": clip(text), "min": YEAR_MIN, "max": YEAR_MAX}),
        )
    };
    let year = |s: &str| {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|y| (YEAR_MIN..=YEAR_MAX).contains(&i64::from(*y)))
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(v) = text.strip_prefix("CEA-") {
        return Ok(UnitClass::Cea {
            vintage: year(v).ok_or_else(err)?,
        });
    }
    let rest = text.strip_prefix("CCER-P").ok_or_else(err)?;
    let (p, v) = rest.split_once('-').ok_or_else(err)?;
    if !digits(p) {
        return Err(err());
    }
    Ok(UnitClass::Ccer {
        project: p.parse().map_err(|_| err())?,
        vintage: year(v).ok_or_else(err)?,
    })
}

/// Parses `CEA-2021` or `CCER-P12-2019` (the API, the forms and the query strings).
pub fn parse_class(text: &str) -> Result<UnitClass, ApiError> {
    parse_unit_class(text).map_err(|r| {
        let mut e = ApiError::of(r.code, r.message, Some("class"));
        if let Value::Object(p) = r.params {
            e.params = p;
        }
        e
    })
}

fn parse_account_number(text: &str) -> Result<AccountId, Refusal> {
    let digits = text.strip_prefix("CN-").unwrap_or(text);
    (!digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u32>().ok())
        .flatten()
        .filter(|n| *n > 0)
        .map(AccountId)
        .ok_or_else(|| {
            refusal(
                "invalid_account",
                format!("account {:?}: expected CN-000123", clip(text)),
                json!({"value": clip(text)}),
            )
        })
}

/// Parses an account number of a path or form (`field` names where it came from).
pub fn parse_account(text: &str, field: &str) -> Result<AccountId, ApiError> {
    parse_account_number(text).map_err(|r| ApiError::of(r.code, r.message, Some(field)))
}

/// A text of 1 to `MAX` characters without control characters (names, reasons, labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text<const MAX: usize>(pub String);

/// A text of 1 to `MAX` characters that may span lines (a file's text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lines<const MAX: usize>(pub String);

/// Characters that reorder or hide text when shown (Unicode bidirectional controls: LRM, RLM,
/// ALM, the embeddings and overrides, the isolates): refused in every text, as control
/// characters are, so that a name cannot display as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The characters no text takes, as a regular expression class's contents (the schemas'
/// patterns): C0 and C1 controls, DEL, and the bidirectional controls.
const NOT_IN_TEXT: &str =
    "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
/// The same for texts that may span lines (tab, line feed and carriage return allowed).
const NOT_IN_LINES: &str = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";

/// A pattern of texts without `not` characters and with at least one character that is not
/// white space (the server refuses blank texts).
fn text_pattern(not: &str) -> String {
    format!("^[^{not}]*[^\\s{not}][^{not}]*$")
}

fn check_text(text: &str, max: usize, lines: bool) -> Result<(), Refusal> {
    let n = text.chars().count();
    if n > max {
        return Err(refusal(
            "too_long",
            format!("{n} characters, at most {max}"),
            json!({"max": max, "length": n}),
        ));
    }
    if text.trim().is_empty() {
        return Err(refusal("invalid_text", "empty", json!({})));
    }
    let allowed = |c: char| lines && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = text.chars().find(|c| c.is_control() && !allowed(*c)) {
        return Err(refusal(
            "invalid_text",
            format!("control character U+{:04X}", u32::from(c)),
            json!({"character": format!("U+{:04X}", u32::from(c))}),
        ));
    }
    if let Some(c) = text.chars().find(|c| is_bidi_control(*c)) {
        return Err(refusal(
            "invalid_text",
            format!("bidirectional control character U+{:04X}", u32::from(c)),
            json!({"character": format!("U+{:04X}", u32::from(c))}),
        ));
    }
    Ok(())
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        check_text(&text, MAX, false).map_err(Refusal::into_de)?;
        Ok(Text(text))
    }
}
impl<const MAX: usize> Schema for Text<MAX> {
    fn schema() -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": MAX, "pattern": text_pattern(NOT_IN_TEXT)})
    }
    fn codes(out: &mut BTreeSet<&'static str>) {
        out.extend(["too_long", "invalid_text"]);
    }
}
impl<'de, const MAX: usize> Deserialize<'de> for Lines<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        check_text(&text, MAX, true).map_err(Refusal::into_de)?;
        Ok(Lines(text))
    }
}
impl<const MAX: usize> Schema for Lines<MAX> {
    fn schema() -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": MAX, "pattern": text_pattern(NOT_IN_LINES)})
    }
    fn codes(out: &mut BTreeSet<&'static str>) {
        out.extend(["too_long", "invalid_text"]);
    }
}

/// A whole number from `MIN` to `MAX` (tonnes, fen, years, minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

/// Tonnes of one request: at least 1, at most [`TONNES_MAX`].
pub type Tonnes = Int<1, TONNES_MAX>;
/// A price in fen per tonne: at least 1 fen, at most [`PRICE_FEN_MAX`].
pub type Price = Int<1, PRICE_FEN_MAX>;
/// An amount of money in fen: at least 1, at most [`AMOUNT_FEN_MAX`].
pub type Amount = Int<1, AMOUNT_FEN_MAX>;
/// A compliance or vintage year.
pub type YearN = Int<YEAR_MIN, YEAR_MAX>;
/// A minute of the day (Beijing time), 9:30 = 570.
pub type Minute = Int<0, 1439>;

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    pub fn u64(self) -> u64 {
        // MIN is never negative for the aliases above; a negative MIN would be a bug here.
        u64::try_from(self.0).unwrap_or(0)
    }
    pub fn u16(self) -> u16 {
        u16::try_from(self.0).unwrap_or(u16::MAX)
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: i64, const MAX: i64>;
        impl<const MIN: i64, const MAX: i64> V<MIN, MAX> {
            fn check<E: serde::de::Error>(n: i128) -> Result<Int<MIN, MAX>, E> {
                if n < i128::from(MIN) || n > i128::from(MAX) {
                    return Err(refusal(
                        "out_of_range",
                        format!("{n} is not between {MIN} and {MAX}"),
                        json!({"min": MIN, "max": MAX, "value": n.to_string()}),
                    )
                    .into_de());
                }
                Ok(Int(n as i64))
            }
        }
        impl<'de, const MIN: i64, const MAX: i64> Visitor<'de> for V<MIN, MAX> {
            type Value = Int<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Self::check(i128::from(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Self::check(i128::from(n))
            }
            fn visit_u128<E: serde::de::Error>(self, n: u128) -> Result<Self::Value, E> {
                Self::check(i128::try_from(n).unwrap_or(i128::MAX))
            }
            fn visit_i128<E: serde::de::Error>(self, n: i128) -> Result<Self::Value, E> {
                Self::check(n)
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Self::Value, E> {
                // JSON has one kind of number: `426.0` is the whole number 426 (as JSON Schema's
                // `integer` says), taken when a float holds it exactly (up to 2^53). A fraction
                // is never a quantity (no floats for tonnes or money); a whole number too large
                // for 64 bits arrives as a float too, and is out of range.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if n.fract() == 0.0 && n.abs() <= EXACT {
                    return Self::check(n as i128);
                }
                if n.fract() == 0.0 && n.abs() > 1e18 {
                    return Err(refusal(
                        "out_of_range",
                        format!("{n} is not between {MIN} and {MAX}"),
                        json!({"min": MIN, "max": MAX}),
                    )
                    .into_de());
                }
                Err(E::invalid_type(serde::de::Unexpected::Float(n), &self))
            }
        }
        d.deserialize_any(V::<MIN, MAX>)
    }
}
impl<const MIN: i64, const MAX: i64> Schema for Int<MIN, MAX> {
    fn schema() -> Value {
        json!({"type": "integer", "minimum": MIN, "maximum": MAX})
    }
    fn codes(out: &mut BTreeSet<&'static str>) {
        out.insert("out_of_range");
    }
}

/// A list of at most `MAX` items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List<T, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(d)?;
        if items.len() > MAX {
            return Err(refusal(
                "too_long",
                format!("{} items, at most {MAX}", items.len()),
                json!({"max": MAX, "length": items.len()}),
            )
            .into_de());
        }
        Ok(List(items))
    }
}
impl<T: Schema, const MAX: usize> Schema for List<T, MAX> {
    fn schema() -> Value {
        json!({"type": "array", "items": T::schema(), "maxItems": MAX})
    }
    fn codes(out: &mut BTreeSet<&'static str>) {
        out.insert("too_long");
        T::codes(out);
    }
}

impl<T: Schema> Schema for Option<T> {
    fn schema() -> Value {
        json!({"anyOf": [T::schema(), {"type": "null"}]})
    }
    const REQUIRED: bool = false;
    fn codes(out: &mut BTreeSet<&'static str>) {
        T::codes(out);
    }
}

impl Schema for bool {
    fn schema() -> Value {
        json!({"type": "boolean"})
    }
}

/// The schema of a foreign enum: the serde names of its variants.
fn enum_schema<T: serde::Serialize>(variants: &[T]) -> Value {
    let names: Vec<Value> = variants
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .collect();
    json!({"type": "string", "enum": names})
}

macro_rules! enum_field {
    ($ty:ty, [$($v:expr),* $(,)?]) => {
        impl Schema for $ty {
            fn schema() -> Value {
                enum_schema(&[$($v),*])
            }
            fn codes(out: &mut BTreeSet<&'static str>) {
                out.insert("invalid_enum");
            }
        }
    };
}
enum_field!(OrderSide, [OrderSide::Buy, OrderSide::Sell]);
enum_field!(Tif, [Tif::Day, Tif::Ioc, Tif::Fok]);
enum_field!(Stage, [Stage::Pre, Stage::Final]);
enum_field!(
    AccountStatus,
    [
        AccountStatus::Open,
        AccountStatus::Frozen,
        AccountStatus::Closed
    ]
);
enum_field!(
    Role,
    [
        Role::Regulator,
        Role::Bureau,
        Role::Company,
        Role::Verifier,
        Role::Member,
        Role::Auditor
    ]
);
enum_field!(
    UnitCategory,
    [
        UnitCategory::CoalAbove300,
        UnitCategory::CoalUpTo300,
        UnitCategory::CoalUnconventional,
        UnitCategory::Gas
    ]
);
enum_field!(Cooling, [Cooling::Water, Cooling::Air]);

// ---------------------------------------------------------------------------------------------
// Request types

/// A request body: a struct with serde's `deny_unknown_fields`, and its schema from its fields.
macro_rules! request {
    ($(#[doc = $doc:literal])* $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $( $(#[doc = $fdoc])* pub $field: $ty ),* }
        impl Schema for $name {
            #[allow(unused_mut)]
            fn schema() -> Value {
                let mut properties = Map::new();
                let mut required: Vec<&str> = Vec::new();
                $(
                    let mut s = <$ty as Schema>::schema();
                    let doc: &str = concat!($($fdoc),*);
                    if !doc.is_empty() {
                        s["description"] = json!(doc.trim());
                    }
                    properties.insert(stringify!($field).to_string(), s);
                    if <$ty as Schema>::REQUIRED {
                        required.push(stringify!($field));
                    }
                )*
                let doc: &str = concat!($($doc),*);
                json!({"type": "object", "title": stringify!($name), "description": doc.trim(),
                       "additionalProperties": false, "properties": properties, "required": required})
            }
            fn codes(_out: &mut BTreeSet<&'static str>) {
                $(<$ty as Schema>::codes(_out);)*
            }
        }
    };
}

/// For request types defined beside their routes (`api::account`).
pub(crate) use request;

request!(
    /// No fields: the path says everything.
    Empty {}
);

request!(
    /// User name and password.
    Login {
        username: Text<64>,
        password: Text<1024>,
    }
);
request!(
    /// An API token's label (the token itself is shown once in the answer).
    NewToken { label: Text<100> }
);
request!(
    /// A user made by the regulator; its scope by role: a bureau its province, a member its
    /// account's holder.
    NewUser {
        /// 1-64 letters, digits, '-', '_', '.', '@'.
        name: UserName,
        display: Text<100>,
        /// At least 12 characters (stored as an Argon2id hash).
        password: Text<1024>,
        role: Role,
        province: Option<Province>,
        company: Option<CompanyRef>,
        holder: Option<Party>,
    }
);
request!(
    /// The company assigned to a verifier.
    Assignment { company: CompanyRef }
);
request!(
    /// A reason (rejections).
    Reason { reason: Text<500> }
);

// Account opening.
request!(
    /// A covered company as it applies.
    NewCompany {
        id: CompanyRef,
        name: Text<200>,
        province: Province,
    }
);
request!(
    /// A generating unit of an applying company.
    NewUnit {
        id: UnitRef,
        company: CompanyRef,
        category: UnitCategory,
        capacity_mw: Int<1, 10_000>,
        cooling: Cooling,
    }
);
request!(
    /// An applying covered company with its generating units.
    CompanyApplicant {
        company: NewCompany,
        units: List<NewUnit, 200>,
    }
);
request!(
    /// An applying institution or individual: a holding and trading account.
    HolderApplicant { holder: Party }
);
request!(
    /// A document of an account request.
    NewDocument {
        name: Text<200>,
        media_type: Text<100>,
        content_base64: Base64<MAX_DOCUMENT_BYTES>,
    }
);
request!(
    /// A representative of an account request, with the password they chose.
    NewRepresentative {
        name: UserName,
        display: Text<100>,
        password: Text<1024>,
    }
);
request!(
    /// An account-opening request.
    NewAccountRequest {
        applicant: Applicant,
        /// At most `MAX_DOCUMENTS` (4), each at most `MAX_DOCUMENT_BYTES` (256 KiB) decoded.
        documents: List<NewDocument, MAX_DOCUMENTS>,
        /// At most `MAX_REPRESENTATIVES` (5); the policy's minimum (2) is checked after.
        representatives: List<NewRepresentative, MAX_REPRESENTATIVES>,
    }
);

/// A body whose shape depends on a tag field (`kind`, `command`): the tag picks the variant's
/// type, which is then decoded with its own fields' paths.
macro_rules! tagged {
    ($(#[doc = $doc:literal])* $name:ident by $tag:literal { $($variant:ident($ty:ty) = $value:literal),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug)]
        pub enum $name { $($variant($ty)),* }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut m = Map::<String, Value>::deserialize(d)?;
                let tag = match m.remove($tag) {
                    Some(Value::String(t)) => t,
                    Some(_) => return Err(nested(ApiError::of("malformed", concat!("`", $tag, "` must be a string"), Some($tag)))),
                    None => return Err(nested(ApiError::of("missing_field", concat!("missing field `", $tag, "`"), Some($tag)))),
                };
                match tag.as_str() {
                    $($value => decode_value::<$ty>(Value::Object(m)).map($name::$variant).map_err(nested),)*
                    other => Err(nested(ApiError::of(
                        "invalid_enum",
                        format!(concat!("`", $tag, "` {:?}: one of {}"), clip(other), [$($value),*].join(", ")),
                        Some($tag),
                    ).with("allowed", json!([$($value),*])))),
                }
            }
        }
        impl Schema for $name {
            fn schema() -> Value {
                let variants: Vec<Value> = vec![$({
                    let mut s = <$ty as Schema>::schema();
                    s["properties"][$tag] = json!({"const": $value});
                    if let Some(r) = s["required"].as_array_mut() {
                        r.insert(0, json!($tag));
                    }
                    s
                }),*];
                let doc: &str = concat!($($doc),*);
                json!({"description": doc.trim(), "oneOf": variants, "discriminator": {"propertyName": $tag}})
            }
            fn codes(out: &mut BTreeSet<&'static str>) {
                out.extend(["invalid_enum", "missing_field"]);
                $(<$ty as Schema>::codes(out);)*
            }
        }
    };
}

tagged!(
    /// Who applies: a covered company, or a holder.
    Applicant by "kind" {
        Company(CompanyApplicant) = "company",
        Holder(HolderApplicant) = "holder",
    }
);

// Four eyes.
request!(
    /// A transfer out of the company's account, to an account on its trusted list.
    TransferInstruction {
        company: CompanyRef,
        class: Class,
        quantity: Tonnes,
        to: Party,
    }
);
request!(
    /// A surrender of the company's units for a plan.
    SurrenderInstruction {
        company: CompanyRef,
        plan: PlanRef,
        class: Class,
        quantity: Tonnes,
    }
);
request!(
    /// An account to add to the company's trusted list.
    TrustInstruction {
        company: CompanyRef,
        account: Account,
    }
);
tagged!(
    /// A four-eyes instruction.
    NewInstruction by "kind" {
        Transfer(TransferInstruction) = "transfer",
        Surrender(SurrenderInstruction) = "surrender",
        Trust(TrustInstruction) = "trust",
    }
);

// MRV.
request!(
    /// One fuel burnt by a unit in the year.
    FuelBody {
        /// The fuel's key in the plan's MRV defaults (bituminous_coal, natural_gas…).
        fuel: Text<64>,
        consumption: Dec,
        ncv_gj: Option<Dec>,
        carbon_content_tc_per_gj: Option<Dec>,
        elemental_carbon: Option<Dec>,
        oxidation_rate: Option<Dec>,
    }
);
request!(
    /// A unit's activity data for the year.
    ActivityBody {
        unit: UnitRef,
        year: YearN,
        fuels: List<FuelBody, 32>,
        purchased_electricity_mwh: Dec,
        power_supplied_mwh: Dec,
        heat_supplied_gj: Dec,
        load_factor: Dec,
    }
);
request!(
    /// An emission report: the company's units' activity data for one year.
    ReportBody {
        company: CompanyRef,
        year: YearN,
        units: List<ActivityBody, 200>,
    }
);
request!(
    /// A new version of a report, with the reason.
    Correction {
        report: ReportBody,
        reason: Text<500>,
    }
);
request!(
    /// The verified figures of a report (`units` null confirms the reported ones).
    Verification {
        company: CompanyRef,
        year: YearN,
        /// The verifier's name; only the regulator may record on a verifier's behalf.
        verifier: Option<UserName>,
        units: Option<List<ActivityBody, 200>>,
        findings: List<Text<500>, 100>,
    }
);
request!(
    /// A verified report to accept.
    Acceptance {
        company: CompanyRef,
        year: YearN,
    }
);

// Plans, allocation, offsets, compliance.
request!(
    /// A shipped file by its id (`builtin`), or a file's text (`toml`, with an optional `source`
    /// naming it).
    FileBody {
        builtin: Option<PlanRef>,
        source: Option<Text<200>>,
        toml: Option<Lines<200_000>>,
    }
);
request!(
    /// A company's allocation under a plan: `pre` (pre-allocation) or `final` (true-up).
    AllocationBody {
        plan: PlanRef,
        company: CompanyRef,
        stage: Stage,
    }
);
request!(
    /// An offset project.
    NewProject {
        project: ProjectRef,
        name: Text<200>,
        province: Province,
        /// forestry, methane, renewable…
        kind: Text<64>,
    }
);
request!(
    /// Offset credits issued to a project for a vintage.
    Issuance {
        project: ProjectRef,
        vintage: YearN,
        quantity: Tonnes,
    }
);
request!(
    /// A company taken out of a cycle, with the reason.
    Exemption {
        company: CompanyRef,
        reason: Text<500>,
    }
);

// The regulator's direct registry commands: each with the reason the journal keeps.
request!(
    /// A direct registry transfer (a correction), with its reason.
    RawTransfer {
        class: Class,
        quantity: Tonnes,
        from: Party,
        to: Party,
        reason: Text<500>,
    }
);
request!(
    /// A direct surrender for a company, with its reason.
    RawSurrender {
        plan: PlanRef,
        company: CompanyRef,
        class: Class,
        quantity: Tonnes,
        reason: Text<500>,
    }
);
request!(
    /// A cancellation of units (voluntary or correction), with its reason.
    RawCancel {
        holder: Party,
        class: Class,
        quantity: Tonnes,
        reason: Text<500>,
    }
);
request!(
    /// An account's status (frozen, open, closed), with its reason.
    RawStatus {
        holder: Party,
        status: AccountStatus,
        reason: Text<500>,
    }
);
request!(
    /// A holding account for an institution or individual, with its reason.
    RawHolder {
        holder: Party,
        reason: Text<500>,
    }
);
tagged!(
    /// A registry command of the regulator, named by `command`.
    RawCommand by "command" {
        Transfer(RawTransfer) = "transfer",
        Surrender(RawSurrender) = "surrender",
        Cancel(RawCancel) = "cancel",
        SetAccountStatus(RawStatus) = "set_account_status",
        RegisterHolder(RawHolder) = "register_holder",
    }
);

// The exchange.
request!(
    /// Money into or out of a trading account, in fen.
    Funds { holder: Party, fen: Amount }
);
request!(
    /// A listed order: price in fen per tonne, quantity in tonnes; `tif` day (default), ioc or
    /// fok.
    NewOrder {
        holder: Party,
        class: Class,
        side: OrderSide,
        price: Price,
        qty: Tonnes,
        tif: Option<Tif>,
    }
);
request!(
    /// The account acting on an order, proposal or auction of the path.
    HolderBody { holder: Party }
);
request!(
    /// A new price and quantity for an order.
    Amendment {
        holder: Party,
        price: Price,
        qty: Tonnes,
    }
);
request!(
    /// The quantity to take from a listed order.
    TakeBody { holder: Party, qty: Tonnes }
);
request!(
    /// A block trade proposed to a named counterparty.
    BlockProposal {
        holder: Party,
        counterparty: Party,
        class: Class,
        side: OrderSide,
        price: Price,
        qty: Tonnes,
    }
);
request!(
    /// A one-way auction: the quantity, the floor (sell) or ceiling (buy) price and the
    /// bidding window of the day.
    NewAuction {
        holder: Party,
        class: Class,
        side: OrderSide,
        qty: Tonnes,
        limit: Price,
        pay_as_bid: bool,
        open_minute: Minute,
        close_minute: Minute,
    }
);
request!(
    /// A bid in a one-way auction.
    BidBody {
        holder: Party,
        price: Price,
        qty: Tonnes,
    }
);

/// A request type's schema and codes, and a check of a body against it (for documents and
/// tests).
pub struct BodyType {
    pub name: &'static str,
    pub schema: fn() -> Value,
    pub codes: fn(&mut BTreeSet<&'static str>),
    pub check: fn(&[u8]) -> Result<(), ApiError>,
}

impl BodyType {
    pub fn of<T: Schema + DeserializeOwned>() -> BodyType {
        BodyType {
            name: short_name::<T>(),
            schema: T::schema,
            codes: T::codes,
            check: |bytes| decode::<T>(bytes).map(|_| ()),
        }
    }
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<T: DeserializeOwned + fmt::Debug>(body: Value) -> (String, Option<String>) {
        let e = decode::<T>(body.to_string().as_bytes()).unwrap_err();
        (e.code, e.field)
    }

    fn pair(code: &str, field: &str) -> (String, Option<String>) {
        (code.to_string(), Some(field.to_string()))
    }

    #[test]
    fn fields_are_checked_where_they_are() {
        let order = json!({"holder": "trader-1", "class": "CEA-2021", "side": "buy", "price": 4500, "qty": 1000});
        let ok: NewOrder = decode(order.to_string().as_bytes()).unwrap();
        assert_eq!(ok.class.0, UnitClass::Cea { vintage: 2021 });
        let with = |k: &str, v: Value| {
            let mut o = order.clone();
            o[k] = v;
            o
        };
        assert_eq!(
            refused::<NewOrder>(with("qty", json!(0))),
            pair("out_of_range", "qty")
        );
        assert_eq!(
            refused::<NewOrder>(with("qty", json!(-3))),
            pair("out_of_range", "qty")
        );
        assert_eq!(
            refused::<NewOrder>(with("price", json!(PRICE_FEN_MAX + 1))),
            pair("out_of_range", "price")
        );
        assert_eq!(
            refused::<NewOrder>(with("price", json!(45.5))),
            pair("malformed", "price")
        );
        assert_eq!(
            refused::<NewOrder>(with("class", json!("CEA-21"))),
            pair("invalid_class", "class")
        );
        assert_eq!(
            refused::<NewOrder>(with("side", json!("short"))),
            pair("invalid_enum", "side")
        );
        assert_eq!(
            refused::<NewOrder>(with("holder", json!("a b"))),
            pair("invalid_id", "holder")
        );
        assert_eq!(
            refused::<NewOrder>(with("extra", json!(1))),
            pair("unknown_field", "extra")
        );
        let mut missing = order.clone();
        missing.as_object_mut().unwrap().remove("qty");
        assert_eq!(refused::<NewOrder>(missing), pair("missing_field", "qty"));
        let e = decode::<NewOrder>(b"{not json").unwrap_err();
        assert_eq!((e.code.as_str(), e.field), ("malformed", None));
    }

    #[test]
    fn nested_and_tagged_fields_are_named_by_path() {
        let mut report = json!({"company": "SX0001", "year": 2021, "units": [{"unit": "SX0001-G1", "year": 2021,
            "fuels": [{"fuel": "coal", "consumption": "1", "ncv_gj": null, "carbon_content_tc_per_gj": null, "elemental_carbon": null, "oxidation_rate": null}],
            "purchased_electricity_mwh": "0", "power_supplied_mwh": "1", "heat_supplied_gj": "0", "load_factor": "0.8"}]});
        decode::<ReportBody>(report.to_string().as_bytes()).unwrap();
        report["units"][0]["fuels"][0]["consumption"] = json!("-1");
        assert_eq!(
            refused::<ReportBody>(report.clone()),
            pair("invalid_decimal", "units[0].fuels[0].consumption")
        );
        report["units"][0]["fuels"][0]["consumption"] = json!("1");
        report["units"][0]["unit"] = json!("SX 1");
        assert_eq!(
            refused::<ReportBody>(report),
            pair("invalid_id", "units[0].unit")
        );
        let trust = json!({"kind": "trust", "company": "SX0001", "account": "CN-000004"});
        decode::<NewInstruction>(trust.to_string().as_bytes()).unwrap();
        assert_eq!(
            refused::<NewInstruction>(
                json!({"kind": "trust", "company": "SX0001", "account": "CN-x"})
            ),
            pair("invalid_account", "account")
        );
        assert_eq!(
            refused::<NewInstruction>(json!({"kind": "gift", "company": "SX0001"})),
            pair("invalid_enum", "kind")
        );
        assert_eq!(
            refused::<NewAccountRequest>(json!({"applicant": {"kind": "company",
                "company": {"id": "SX 9", "name": "x", "province": "Shanxi"}, "units": []},
                "documents": [], "representatives": []})),
            pair("invalid_id", "applicant.company.id")
        );
        assert_eq!(
            refused::<NewAccountRequest>(json!({"applicant": {"kind": "holder", "holder": "h"},
                "documents": [], "representatives": [{"name": "a", "display": "a\u{7}", "password": "p"}]})),
            pair("invalid_text", "representatives[0].display")
        );
        assert_eq!(
            refused::<NewProject>(
                json!({"project": "P1", "name": "n", "province": "Atlantis", "kind": "forestry"})
            ),
            pair("invalid_enum", "province")
        );
        assert_eq!(
            refused::<Reason>(json!({"reason": "x".repeat(501)})),
            pair("too_long", "reason")
        );
    }

    #[test]
    fn schemas_say_what_the_types_take() {
        let s = NewOrder::schema();
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(
            s["required"],
            json!(["holder", "class", "side", "price", "qty"])
        );
        assert_eq!(s["properties"]["price"]["maximum"], json!(PRICE_FEN_MAX));
        assert_eq!(s["properties"]["side"]["enum"], json!(["buy", "sell"]));
        assert_eq!(s["properties"]["holder"]["pattern"], json!(ID_PATTERN));
        let i = NewInstruction::schema();
        assert_eq!(i["oneOf"].as_array().unwrap().len(), 3);
        let mut codes = BTreeSet::new();
        NewOrder::codes(&mut codes);
        assert!(codes.contains("invalid_class") && codes.contains("out_of_range"));
    }
}
