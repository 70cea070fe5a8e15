//! Emission reports and verifications as JSON: an array of objects shaped exactly like the serde
//! form of `ReportInput` / `VerificationInput`, with unknown keys refused.
//!
//! serde stops at the first error of a value, so each report, unit and fuel is parsed on its own
//! (the array is first split into raw values): an error in one report does not hide those of the
//! next, and cross-checks (a unit given twice) can name the line where each object starts.
//! Leaf values go through the same strict parsers as CSV cells; their errors carry the key name
//! to the top through serde's custom error message, tagged (see [`TAG`]).

use std::collections::HashMap;

use ets_types::{
    CompanyId, Decimal, FuelUse, ReportInput, UnitActivity, UnitId, VerificationInput, Year,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};
use serde_json::value::RawValue;

use crate::error::{Errors, FileErrors};
use crate::value::{self, Check};

/// Parses a JSON array of reports (see `docs/file-formats.md`).
///
/// Decimals are JSON strings (`"1300000.5"`), as the serde form writes them: a JSON number would
/// pass through a float. Optional figures may be `null` or left out.
///
/// # Errors
/// Malformed JSON (with its line), unknown or missing keys, values of the wrong type or range, a
/// report given twice, a unit or fuel given twice, a unit whose year is not the report's.
pub fn parse_reports_json(file: &str, text: &str) -> Result<Vec<ReportInput>, FileErrors> {
    let mut p = Parser::new(file, text);
    let Some(items) = p.array("reports") else {
        return p.errs.fail();
    };
    let mut out = Vec::with_capacity(items.len());
    let mut reports: HashMap<(CompanyId, Year), u64> = HashMap::new();
    let mut units_seen = HashMap::new();
    for raw in items {
        if p.errs.full() {
            break;
        }
        let Some((r, line)) = p.parse::<JReport>(raw) else {
            continue;
        };
        p.once(
            &mut reports,
            (r.company.clone(), r.year),
            line,
            "company",
            |(c, y)| format!("report of {c} for {y}"),
        );
        if let Some(units) = p.units(&r.units, &r.company, r.year, line, &mut units_seen) {
            out.push(ReportInput {
                company: r.company,
                year: r.year,
                units,
            });
        }
    }
    p.errs.finish(out)
}

/// Parses a JSON array of verifications. `"units": null` (or no `units` key) confirms the
/// reported figures; otherwise `units` holds the verified figures, shaped as in a report.
///
/// # Errors
/// As [`parse_reports_json`], and an empty verifier or finding.
pub fn parse_verifications_json(
    file: &str,
    text: &str,
) -> Result<Vec<VerificationInput>, FileErrors> {
    let mut p = Parser::new(file, text);
    let Some(items) = p.array("verifications") else {
        return p.errs.fail();
    };
    let mut out = Vec::with_capacity(items.len());
    let mut seen: HashMap<(CompanyId, Year), u64> = HashMap::new();
    let mut units_seen = HashMap::new();
    for raw in items {
        if p.errs.full() {
            break;
        }
        let Some((v, line)) = p.parse::<JVerification>(raw) else {
            continue;
        };
        p.once(
            &mut seen,
            (v.company.clone(), v.year),
            line,
            "company",
            |(c, y)| format!("verification of {c} for {y}"),
        );
        let units = match &v.units {
            None => None,
            Some(raws) => match p.units(raws, &v.company, v.year, line, &mut units_seen) {
                Some(units) => Some(units),
                None => continue,
            },
        };
        out.push(VerificationInput {
            company: v.company,
            year: v.year,
            verifier: v.verifier,
            units,
            findings: v.findings,
        });
    }
    p.errs.finish(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a report object")]
struct JReport<'a> {
    #[serde(deserialize_with = "de_company")]
    company: CompanyId,
    #[serde(deserialize_with = "de_year")]
    year: Year,
    #[serde(borrow)]
    units: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a verification object")]
struct JVerification<'a> {
    #[serde(deserialize_with = "de_company")]
    company: CompanyId,
    #[serde(deserialize_with = "de_year")]
    year: Year,
    #[serde(deserialize_with = "de_verifier")]
    verifier: String,
    #[serde(default, borrow)]
    units: Option<Vec<&'a RawValue>>,
    #[serde(deserialize_with = "de_findings")]
    findings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an unit object")]
struct JUnit<'a> {
    #[serde(deserialize_with = "de_unit")]
    unit: UnitId,
    #[serde(deserialize_with = "de_year")]
    year: Year,
    #[serde(borrow)]
    fuels: Vec<&'a RawValue>,
    #[serde(deserialize_with = "de_purchased_electricity_mwh")]
    purchased_electricity_mwh: Decimal,
    #[serde(deserialize_with = "de_power_supplied_mwh")]
    power_supplied_mwh: Decimal,
    #[serde(deserialize_with = "de_heat_supplied_gj")]
    heat_supplied_gj: Decimal,
    #[serde(deserialize_with = "de_load_factor")]
    load_factor: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a fuel object")]
struct JFuel {
    #[serde(deserialize_with = "de_fuel")]
    fuel: String,
    #[serde(deserialize_with = "de_consumption")]
    consumption: Decimal,
    #[serde(default, deserialize_with = "de_ncv_gj")]
    ncv_gj: Option<Decimal>,
    #[serde(default, deserialize_with = "de_carbon_content_tc_per_gj")]
    carbon_content_tc_per_gj: Option<Decimal>,
    #[serde(default, deserialize_with = "de_elemental_carbon")]
    elemental_carbon: Option<Decimal>,
    #[serde(default, deserialize_with = "de_oxidation_rate")]
    oxidation_rate: Option<Decimal>,
}

/// Marks a custom error message as `TAG key TAG message`, so the key can be split off again
/// after serde_json has appended the position. A control character never occurs in a key.
const TAG: char = '\u{1}';

/// Any JSON value, kept only as far as the messages about it need.
enum Leaf {
    Str(String),
    Number(String),
    Bool,
    Null,
    Array(Vec<Leaf>),
    Object,
}

impl Leaf {
    fn describe(&self) -> String {
        match self {
            Leaf::Str(s) => format!("the string {s:?}"),
            Leaf::Number(n) => format!("the number {n}"),
            Leaf::Bool => "a boolean".to_string(),
            Leaf::Null => "null".to_string(),
            Leaf::Array(_) => "an array".to_string(),
            Leaf::Object => "an object".to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Leaf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Leaf, D::Error> {
        d.deserialize_any(LeafVisitor)
    }
}

struct LeafVisitor;

impl<'de> de::Visitor<'de> for LeafVisitor {
    type Value = Leaf;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Leaf, E> {
        Ok(Leaf::Bool)
    }
    fn visit_i64<E>(self, n: i64) -> Result<Leaf, E> {
        Ok(Leaf::Number(n.to_string()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Leaf, E> {
        Ok(Leaf::Number(n.to_string()))
    }
    // Only ever shown in a message: a number with a fraction is refused whatever its value.
    fn visit_f64<E>(self, n: f64) -> Result<Leaf, E> {
        Ok(Leaf::Number(n.to_string()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Leaf, E> {
        Ok(Leaf::Str(s.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Leaf, E> {
        Ok(Leaf::Null)
    }
    fn visit_none<E>(self) -> Result<Leaf, E> {
        Ok(Leaf::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Leaf, D::Error> {
        Leaf::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Leaf, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Leaf>()? {
            items.push(item);
        }
        Ok(Leaf::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Leaf, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Leaf::Object)
    }
}

const DECIMAL: &str = "a decimal number written as a string, e.g. \"1234.5\"";
const STRING: &str = "a string";

/// The string of a leaf that must be a non-empty string.
fn string(leaf: Leaf, expected: &str) -> Check<String> {
    match leaf {
        Leaf::Str(s) if s.is_empty() => Err("must not be empty".to_string()),
        Leaf::Str(s) => Ok(s),
        other => Err(format!("expected {expected}, found {}", other.describe())),
    }
}

fn decimal(leaf: Leaf, check: fn(&str) -> Check<Decimal>) -> Check<Decimal> {
    check(&string(leaf, DECIMAL)?)
}

fn optional_decimal(leaf: Leaf, check: fn(&str) -> Check<Decimal>) -> Check<Option<Decimal>> {
    match leaf {
        Leaf::Null => Ok(None),
        other => decimal(other, check).map(Some),
    }
}

fn year(leaf: Leaf) -> Check<Year> {
    match leaf {
        Leaf::Number(n) => match n.parse::<u64>() {
            Ok(n) => value::year_number(n),
            Err(_) => Err(format!(
                "{n} is not a year between {} and {}",
                value::YEAR_MIN,
                value::YEAR_MAX
            )),
        },
        other => Err(format!(
            "expected a year as a number, e.g. 2019, found {}",
            other.describe()
        )),
    }
}

fn findings(leaf: Leaf) -> Check<Vec<String>> {
    match leaf {
        Leaf::Array(items) => items
            .into_iter()
            .map(|l| value::text(&string(l, STRING)?))
            .collect(),
        other => Err(format!(
            "expected an array of strings, found {}",
            other.describe()
        )),
    }
}

/// Converts the value of one key, inside serde_json's visit of it: an error raised there gets the
/// position of the value itself (raised later, it would get the position where the enclosing
/// object ends).
struct KeyVisitor<T> {
    key: &'static str,
    conv: fn(Leaf) -> Check<T>,
}

impl<T> KeyVisitor<T> {
    fn done<E: de::Error>(self, leaf: Leaf) -> Result<T, E> {
        (self.conv)(leaf).map_err(|m| E::custom(format!("{TAG}{}{TAG}{m}", self.key)))
    }
}

impl<'de, T> de::Visitor<'de> for KeyVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the value of `{}`", self.key)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<T, E> {
        self.done(LeafVisitor.visit_bool::<E>(b)?)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        self.done(LeafVisitor.visit_i64::<E>(n)?)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        self.done(LeafVisitor.visit_u64::<E>(n)?)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<T, E> {
        self.done(LeafVisitor.visit_f64::<E>(n)?)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        self.done(LeafVisitor.visit_str::<E>(s)?)
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        self.done(Leaf::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        self.done(Leaf::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        self.done(LeafVisitor.visit_seq(seq)?)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        self.done(LeafVisitor.visit_map(map)?)
    }
}

/// A `deserialize_with` function for key `$key`, converting its value with `$conv`.
macro_rules! key_fn {
    ($name:ident, $key:literal, $ty:ty, $conv:expr) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            d.deserialize_any(KeyVisitor::<$ty> {
                key: $key,
                conv: $conv,
            })
        }
    };
}

key_fn!(de_company, "company", CompanyId, |l| value::company_id(
    &string(l, STRING)?
));
key_fn!(de_unit, "unit", UnitId, |l| value::unit_id(&string(
    l, STRING
)?));
key_fn!(de_year, "year", Year, year);
key_fn!(de_verifier, "verifier", String, |l| value::text(&string(
    l, STRING
)?));
key_fn!(de_findings, "findings", Vec<String>, findings);
key_fn!(de_fuel, "fuel", String, |l| value::fuel_key(&string(
    l, STRING
)?));
key_fn!(de_consumption, "consumption", Decimal, |l| decimal(
    l,
    value::non_negative
));
key_fn!(de_ncv_gj, "ncv_gj", Option<Decimal>, |l| optional_decimal(
    l,
    value::positive
));
key_fn!(
    de_carbon_content_tc_per_gj,
    "carbon_content_tc_per_gj",
    Option<Decimal>,
    |l| optional_decimal(l, value::positive)
);
key_fn!(
    de_elemental_carbon,
    "elemental_carbon",
    Option<Decimal>,
    |l| optional_decimal(l, value::positive)
);
key_fn!(de_oxidation_rate, "oxidation_rate", Option<Decimal>, |l| {
    optional_decimal(l, value::oxidation_rate)
});
key_fn!(
    de_purchased_electricity_mwh,
    "purchased_electricity_mwh",
    Decimal,
    |l| decimal(l, value::non_negative)
);
key_fn!(de_power_supplied_mwh, "power_supplied_mwh", Decimal, |l| {
    decimal(l, value::non_negative)
});
key_fn!(de_heat_supplied_gj, "heat_supplied_gj", Decimal, |l| {
    decimal(l, value::non_negative)
});
key_fn!(de_load_factor, "load_factor", Decimal, |l| decimal(
    l,
    value::fraction
));

/// The parse of one file: the text, where its lines start, and the errors so far.
struct Parser<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
    errs: Errors,
}

impl<'t> Parser<'t> {
    fn new(file: &str, text: &'t str) -> Parser<'t> {
        // A BOM is not JSON, but editors write one; it sits on line 1 and shifts no line.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Parser {
            text,
            line_starts,
            errs: Errors::new(file),
        }
    }

    /// 1-based line and column of a slice of the text.
    fn position(&self, slice: &str) -> (u64, u64) {
        let offset = slice.as_ptr() as usize - self.text.as_ptr() as usize;
        assert!(offset <= self.text.len(), "slice not of this text");
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let column = offset - self.line_starts[line - 1] + 1;
        (line as u64, column as u64)
    }

    /// The top-level array, split into its elements.
    fn array(&mut self, what: &str) -> Option<Vec<&'t RawValue>> {
        let trimmed = self.text.trim_start();
        if trimmed.is_empty() {
            self.errs.push(
                0,
                None,
                format!("empty file: expected a JSON array of {what}"),
            );
            return None;
        }
        if !trimmed.starts_with('[') {
            let (line, _) = self.position(trimmed);
            self.errs.push(
                line,
                None,
                format!("expected a JSON array of {what}, starting with `[`"),
            );
            return None;
        }
        match serde_json::from_str::<Vec<&RawValue>>(self.text) {
            Ok(items) => Some(items),
            Err(e) => {
                self.serde_error(&e, (1, 1));
                None
            }
        }
    }

    /// One element, parsed on its own; errors are placed by where the element starts.
    fn parse<T: Deserialize<'t>>(&mut self, raw: &'t RawValue) -> Option<(T, u64)> {
        let at = self.position(raw.get());
        match serde_json::from_str::<T>(raw.get()) {
            Ok(v) => Some((v, at.0)),
            Err(e) => {
                self.serde_error(&e, at);
                None
            }
        }
    }

    fn serde_error(&mut self, e: &serde_json::Error, (base_line, base_column): (u64, u64)) {
        let (rel_line, rel_column) = (e.line() as u64, e.column() as u64);
        let line = base_line + rel_line.saturating_sub(1);
        let column = if rel_line <= 1 {
            base_column + rel_column.saturating_sub(1)
        } else {
            rel_column
        };
        let full = e.to_string();
        let message = full
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&full);
        if let Some((key, message)) = message.strip_prefix(TAG).and_then(|m| m.split_once(TAG)) {
            self.errs.push(line, Some(key), message);
            return;
        }
        // serde's own messages about keys name them in backticks: pick the key out for `field`.
        let key = ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key);
        self.errs
            .push(line, key, format!("{message} (column {column})"));
    }

    /// Records `key` at `line`, or an error if an earlier element had it.
    fn once<K: std::hash::Hash + Eq + Clone>(
        &mut self,
        seen: &mut HashMap<K, u64>,
        key: K,
        line: u64,
        field: &str,
        name: impl Fn(&K) -> String,
    ) -> bool {
        if let Some(first) = seen.get(&key) {
            self.errs.push(
                line,
                Some(field),
                format!("{} is already given on line {first}", name(&key)),
            );
            return false;
        }
        seen.insert(key, line);
        true
    }

    /// The units of one report or verification; `None` if any is wrong.
    fn units(
        &mut self,
        raws: &[&'t RawValue],
        company: &CompanyId,
        year: Year,
        line: u64,
        seen: &mut HashMap<(Year, UnitId), (CompanyId, u64)>,
    ) -> Option<Vec<UnitActivity>> {
        if raws.is_empty() {
            self.errs
                .push(line, Some("units"), "must list at least one unit");
            return None;
        }
        let mut out = Vec::with_capacity(raws.len());
        let mut ok = true;
        for raw in raws {
            let Some((u, line)) = self.parse::<JUnit>(raw) else {
                ok = false;
                continue;
            };
            if u.year != year {
                self.errs.push(
                    line,
                    Some("year"),
                    format!("{} differs from the report's year {year}", u.year),
                );
                ok = false;
            }
            match seen.get(&(year, u.unit.clone())) {
                Some((other, first)) if other == company => {
                    self.errs.push(
                        line,
                        Some("unit"),
                        format!("unit {} is already given on line {first}", u.unit),
                    );
                    ok = false;
                }
                Some((other, first)) => {
                    self.errs.push(
                        line,
                        Some("unit"),
                        format!("unit {} is already reported by company {other} on line {first} for {year}", u.unit),
                    );
                    ok = false;
                }
                None => {
                    seen.insert((year, u.unit.clone()), (company.clone(), line));
                }
            }
            let mut fuels = Vec::with_capacity(u.fuels.len());
            let mut fuel_lines: HashMap<String, u64> = HashMap::new();
            for raw in &u.fuels {
                let Some((f, line)) = self.parse::<JFuel>(raw) else {
                    ok = false;
                    continue;
                };
                if !self.once(&mut fuel_lines, f.fuel.clone(), line, "fuel", |k| {
                    format!("fuel {k} of unit {}", u.unit)
                }) {
                    ok = false;
                }
                fuels.push(FuelUse {
                    fuel: f.fuel,
                    consumption: f.consumption,
                    ncv_gj: f.ncv_gj,
                    carbon_content_tc_per_gj: f.carbon_content_tc_per_gj,
                    elemental_carbon: f.elemental_carbon,
                    oxidation_rate: f.oxidation_rate,
                });
            }
            out.push(UnitActivity {
                unit: u.unit,
                year: u.year,
                fuels,
                purchased_electricity_mwh: u.purchased_electricity_mwh,
                power_supplied_mwh: u.power_supplied_mwh,
                heat_supplied_gj: u.heat_supplied_gj,
                load_factor: u.load_factor,
            });
        }
        ok.then_some(out)
    }
}
