//! Parsers of single cells: numbers, years, identifiers and text, strict and float-free.
//!
//! Each returns the value or the message of a [`crate::FileError`]; the caller adds file, line
//! and field. Cells arrive trimmed and non-empty (emptiness is the caller's rule).

use ets_types::{CompanyId, Cooling, Decimal, ProjectId, UnitCategory, UnitId, Year};

pub(crate) type Check<T> = Result<T, String>;

/// Years a file may name: before 1990 or after 2100 is a typo, not data.
pub(crate) const YEAR_MIN: Year = 1990;
pub(crate) const YEAR_MAX: Year = 2100;

/// Free text (names, provinces, verifiers, findings) is capped so a stray binary file or a
/// missing quote that swallows the rest of the file is caught.
pub(crate) const TEXT_CHARS_MAX: usize = 500;

/// The key of the allowance unit class in transfer and surrender files.
pub const CEA: &str = "CEA";

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `digits[.digits]`, nothing else: no sign, exponent, spaces or thousands separators.
fn is_plain_decimal(s: &str) -> bool {
    match s.split_once('.') {
        Some((int, frac)) => is_digits(int) && is_digits(frac),
        None => is_digits(s),
    }
}

/// A decimal number `>= 0`, read digit by digit (never through a float).
pub(crate) fn non_negative(s: &str) -> Check<Decimal> {
    if let Some(rest) = s.strip_prefix('-')
        && is_plain_decimal(rest)
    {
        return Err(format!("must not be negative, found {s:?}"));
    }
    if !is_plain_decimal(s) {
        return Err(format!(
            "{s:?} is not a plain decimal number: write digits with an optional `.` fraction, \
             e.g. 1234.5 (no exponent, sign, spaces or thousands separators)"
        ));
    }
    Decimal::from_str_exact(s).map_err(|_| format!("{s:?} has too many digits (at most 28)"))
}

/// A decimal number `> 0` (calorific values, carbon contents: zero is a typo, not a measurement).
pub(crate) fn positive(s: &str) -> Check<Decimal> {
    let d = non_negative(s)?;
    if d.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    Ok(d)
}

/// A fraction `0 <= x <= 1` such as a load factor. Percentages are refused rather than guessed.
pub(crate) fn fraction(s: &str) -> Check<Decimal> {
    if s.ends_with('%') {
        return Err(format!(
            "{s:?} is a percentage: write a fraction between 0 and 1, e.g. 0.78"
        ));
    }
    let d = non_negative(s)?;
    if d > Decimal::ONE {
        return Err(format!(
            "{s:?} is not a fraction between 0 and 1 (write 78 % as 0.78)"
        ));
    }
    Ok(d)
}

/// An oxidation rate: a fraction `0 < x <= 1`.
pub(crate) fn oxidation_rate(s: &str) -> Check<Decimal> {
    let d = fraction(s)?;
    if d.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    Ok(d)
}

/// A whole number `>= 1` of `what` (tonnes, MW), digits only.
fn whole(s: &str, what: &str) -> Check<u64> {
    if let Some(rest) = s.strip_prefix('-')
        && is_plain_decimal(rest)
    {
        return Err(format!("must not be negative, found {s:?}"));
    }
    if !is_digits(s) {
        return Err(format!(
            "{s:?} is not a whole number of {what}: write digits only, e.g. 25000"
        ));
    }
    let n: u64 = s.parse().map_err(|_| format!("{s:?} is too large"))?;
    if n == 0 {
        return Err(format!("must be at least 1 {what}, found 0"));
    }
    Ok(n)
}

/// Whole tonnes, `>= 1` (a movement of nothing is a mistake).
pub(crate) fn tonnes(s: &str) -> Check<u64> {
    whole(s, "tonnes")
}

/// Rated capacity in whole MW, `>= 1`.
pub(crate) fn capacity_mw(s: &str) -> Check<u32> {
    let n = whole(s, "MW")?;
    u32::try_from(n).map_err(|_| format!("{s:?} is too large"))
}

pub(crate) fn year(s: &str) -> Check<Year> {
    let out_of_range = || format!("{s:?} is not a year between {YEAR_MIN} and {YEAR_MAX}");
    if !is_digits(s) {
        return Err(out_of_range());
    }
    match s.parse::<Year>() {
        Ok(y) if (YEAR_MIN..=YEAR_MAX).contains(&y) => Ok(y),
        _ => Err(out_of_range()),
    }
}

/// A year given as a JSON number.
pub(crate) fn year_number(n: u64) -> Check<Year> {
    match Year::try_from(n) {
        Ok(y) if (YEAR_MIN..=YEAR_MAX).contains(&y) => Ok(y),
        _ => Err(format!(
            "{n} is not a year between {YEAR_MIN} and {YEAR_MAX}"
        )),
    }
}

pub(crate) fn company_id(s: &str) -> Check<CompanyId> {
    CompanyId::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn unit_id(s: &str) -> Check<UnitId> {
    UnitId::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn category(s: &str) -> Check<UnitCategory> {
    UnitCategory::parse(s).ok_or_else(|| {
        let keys: Vec<&str> = UnitCategory::ALL.iter().map(|c| c.key()).collect();
        format!(
            "{s:?} is not a unit category: expected one of {}",
            keys.join(", ")
        )
    })
}

pub(crate) fn cooling(s: &str) -> Check<Cooling> {
    Cooling::parse(s).ok_or_else(|| format!("{s:?} is not a cooling type: expected water or air"))
}

/// A fuel key of the policy's MRV defaults, e.g. `bituminous_coal`. Whether the policy knows it
/// is checked when the report is computed; here only its spelling.
pub(crate) fn fuel_key(s: &str) -> Check<String> {
    let ok = s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "{s:?} is not a fuel key: expected lowercase letters, digits and `_`, e.g. bituminous_coal"
        ));
    }
    Ok(s.to_string())
}

/// Free text: no control characters (a tab or newline in a name is a pasting accident).
pub(crate) fn text(s: &str) -> Check<String> {
    if s.chars().count() > TEXT_CHARS_MAX {
        return Err(format!("is longer than {TEXT_CHARS_MAX} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters (tabs, line breaks)".to_string());
    }
    Ok(s.to_string())
}

/// `CEA` (any case, stored as `CEA`) or an offset project id.
pub(crate) fn unit_class(s: &str) -> Check<String> {
    if s.eq_ignore_ascii_case(CEA) {
        return Ok(CEA.to_string());
    }
    ProjectId::parse(s)
        .map(|p| p.to_string())
        .map_err(|_| format!("{s:?} is neither CEA nor an offset project id (1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.')"))
}

/// A party to a transfer: a company id, a project id, a holder's name or an account number; the
/// registry resolves it.
pub(crate) fn party(s: &str) -> Check<String> {
    if s.len() > 128 {
        return Err("is longer than 128 characters".to_string());
    }
    text(s)
}

/// An idempotency key: the same characters as identifiers, so it survives any file format.
pub(crate) fn key(s: &str) -> Check<String> {
    let ok = s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !ok {
        return Err(format!(
            "{s:?} is not a key: expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'"
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain() {
        for good in ["0", "1", "1234.5", "0.000001", "007"] {
            assert!(non_negative(good).is_ok(), "{good}");
        }
        for bad in [
            "", "1e3", "1E3", "NaN", "inf", "+1", ".5", "1.", "1,000", "1 000", "0x10", "1.2.3",
        ] {
            assert!(
                non_negative(bad)
                    .unwrap_err()
                    .contains("not a plain decimal"),
                "{bad}"
            );
        }
        assert_eq!(
            non_negative("-3").unwrap_err(),
            "must not be negative, found \"-3\""
        );
        assert!(non_negative("99999999999999999999999999999").is_err());
    }

    #[test]
    fn tonnes_are_whole() {
        assert_eq!(tonnes("25000"), Ok(25000));
        assert!(
            tonnes("1.5")
                .unwrap_err()
                .contains("not a whole number of tonnes")
        );
        assert!(
            tonnes("1e3")
                .unwrap_err()
                .contains("not a whole number of tonnes")
        );
        assert_eq!(
            tonnes("-3").unwrap_err(),
            "must not be negative, found \"-3\""
        );
        assert!(tonnes("0").unwrap_err().contains("at least 1"));
        assert!(
            tonnes("18446744073709551616")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn fractions_and_years() {
        assert!(fraction("78%").unwrap_err().contains("percentage"));
        assert!(fraction("78").unwrap_err().contains("not a fraction"));
        assert_eq!(fraction("1").unwrap(), Decimal::ONE);
        assert!(oxidation_rate("0").is_err());
        assert_eq!(year("2019"), Ok(2019));
        for bad in ["1989", "2101", "19", "2019.0", "-2019", "year"] {
            assert!(year(bad).is_err(), "{bad}");
        }
    }
}
