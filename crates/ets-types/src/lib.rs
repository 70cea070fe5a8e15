//! Shared value types of the `ets` market.
//!
//! Everything here is plain data: identifiers (`CompanyId`, `UnitId`, `AccountId`, `ProjectId`),
//! the unit classes the registry holds (`UnitClass`), whole-tonne quantities (`Tonnes`), calendar
//! dates (`Date`) and the description of covered companies and their generating units
//! (`Company`, `GeneratingUnit`, `UnitCategory`, `Cooling`) with their yearly activity data
//! (`UnitActivity`, `FuelUse`).
//!
//! **Architecture Invariant:** no floating point. Quantities of allowances are whole tonnes
//! (`u64`); measured activity data and factors are `rust_decimal::Decimal`, which is exact in
//! base ten and deterministic on every machine.

use std::fmt;

pub use rust_decimal::Decimal;

mod provinces;
pub use provinces::{PROVINCES, province_named, province_spellings, province_zh};
use serde::{Deserialize, Serialize};

/// Whole tonnes of CO2 (one allowance or one offset credit is one tonne).
pub type Tonnes = u64;

/// A compliance or vintage year, e.g. 2019.
pub type Year = u16;

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses an identifier: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let s = s.trim();
                if s.is_empty() || s.len() > 64 {
                    return Err(IdError { kind: stringify!($name), value: s.to_string() });
                }
                if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
                    return Err(IdError { kind: stringify!($name), value: s.to_string() });
                }
                Ok(Self(s.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        /// Lets maps keyed by this id be searched with a plain `&str`, without allocating.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A covered company (key emitting unit), e.g. `SX0001`.
    CompanyId
);
string_id!(
    /// A generating unit of a company, e.g. `SX0001-G1`.
    UnitId
);
string_id!(
    /// An offset project, e.g. `CCER-SX-F001` (a forestry carbon-sink project in Shanxi).
    ProjectId
);

/// An identifier that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

/// A registry account number, assigned by the registry in opening order, starting at 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct AccountId(pub u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CN-{:06}", self.0)
    }
}

/// What a registry holding is made of: allowances of one vintage, or offset credits of one
/// project and vintage. Serial numbers are unique within a class.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnitClass {
    /// China Emission Allowance (CEA) of an allocation year.
    Cea { vintage: Year },
    /// Offset credit (CCER) of a project (by its registry number) and vintage.
    Ccer { project: u32, vintage: Year },
}

impl UnitClass {
    pub fn vintage(self) -> Year {
        match self {
            UnitClass::Cea { vintage } | UnitClass::Ccer { vintage, .. } => vintage,
        }
    }
    pub fn is_offset(self) -> bool {
        matches!(self, UnitClass::Ccer { .. })
    }
}

impl fmt::Display for UnitClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitClass::Cea { vintage } => write!(f, "CEA-{vintage}"),
            UnitClass::Ccer { project, vintage } => write!(f, "CCER-P{project}-{vintage}"),
        }
    }
}

/// A calendar date (business date). The core never reads a clock: dates come in with commands.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// A date that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected YYYY-MM-DD")]
pub struct DateError(pub String);

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, DateError> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if !(1900..=9999).contains(&year) || day == 0 || day > days {
            return Err(DateError(format!("{year:04}-{month:02}-{day:02}")));
        }
        Ok(Date { year, month, day })
    }
    pub fn parse(s: &str) -> Result<Date, DateError> {
        let err = || DateError(s.to_string());
        let b = s.trim().as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, DateError> {
            std::str::from_utf8(&b[r])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(err)
        };
        Date::new(num(0..4)?, num(5..7)? as u8, num(8..10)? as u8).map_err(|_| err())
    }
    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(s: String) -> Result<Date, DateError> {
        Date::parse(&s)
    }
}
impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

/// The four unit categories of the power-sector allocation plans (DOMAIN.md §2.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum UnitCategory {
    /// Conventional coal, above 300 MW class. Spelt as in the policy and data files
    /// (`coal_above_300`); the spelling of journals written before is read too.
    #[serde(rename = "coal_above_300", alias = "coal_above300")]
    CoalAbove300,
    /// Conventional coal, 300 MW class and below (`coal_up_to_300`, formerly `coal_up_to300`).
    #[serde(rename = "coal_up_to_300", alias = "coal_up_to300")]
    CoalUpTo300,
    /// Unconventional coal: coal gangue, coal slime, coal-water slurry, circulating fluidised bed.
    CoalUnconventional,
    /// Natural gas.
    Gas,
}

impl UnitCategory {
    pub const ALL: [UnitCategory; 4] = [
        UnitCategory::CoalAbove300,
        UnitCategory::CoalUpTo300,
        UnitCategory::CoalUnconventional,
        UnitCategory::Gas,
    ];
    /// The key used in policy and data files.
    pub fn key(self) -> &'static str {
        match self {
            UnitCategory::CoalAbove300 => "coal_above_300",
            UnitCategory::CoalUpTo300 => "coal_up_to_300",
            UnitCategory::CoalUnconventional => "coal_unconventional",
            UnitCategory::Gas => "gas",
        }
    }
    pub fn parse(s: &str) -> Option<UnitCategory> {
        UnitCategory::ALL.into_iter().find(|c| c.key() == s.trim())
    }
    pub fn is_gas(self) -> bool {
        self == UnitCategory::Gas
    }
    pub fn is_conventional_coal(self) -> bool {
        matches!(self, UnitCategory::CoalAbove300 | UnitCategory::CoalUpTo300)
    }
}

/// How a unit's condenser is cooled (a correction factor of the allocation formula).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Cooling {
    Water,
    Air,
}

impl Cooling {
    pub fn key(self) -> &'static str {
        match self {
            Cooling::Water => "water",
            Cooling::Air => "air",
        }
    }
    pub fn parse(s: &str) -> Option<Cooling> {
        match s.trim() {
            "water" => Some(Cooling::Water),
            "air" => Some(Cooling::Air),
            _ => None,
        }
    }
}

/// A covered company (key emitting unit, 重点排放单位).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    /// Province name in English, e.g. "Shanxi".
    pub province: String,
}

/// A generating unit included in allowance management.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GeneratingUnit {
    pub id: UnitId,
    pub company: CompanyId,
    pub category: UnitCategory,
    pub capacity_mw: u32,
    pub cooling: Cooling,
}

/// One fuel burnt by a unit in a year, as reported (DOMAIN.md §3).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FuelUse {
    /// Key of the fuel in the policy's MRV defaults, e.g. "bituminous_coal", "natural_gas".
    pub fuel: String,
    /// Consumption in the fuel's unit (t for solids, 10^4 Nm3 for gas).
    pub consumption: Decimal,
    /// Net calorific value, GJ per fuel unit; `None` means the policy default.
    pub ncv_gj: Option<Decimal>,
    /// Carbon content per unit heat, tC/GJ; `None` means unmeasured (the policy's high default).
    pub carbon_content_tc_per_gj: Option<Decimal>,
    /// Measured elemental carbon as received, tC per fuel unit (fraction of mass for solids).
    /// When present, emissions are consumption × this × oxidation × 44/12.
    pub elemental_carbon: Option<Decimal>,
    /// Oxidation rate as a fraction; `None` means the policy default.
    pub oxidation_rate: Option<Decimal>,
}

/// A unit's activity data for one year: what it burnt, bought, generated and supplied.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct UnitActivity {
    pub unit: UnitId,
    pub year: Year,
    pub fuels: Vec<FuelUse>,
    /// Electricity bought from the grid, MWh (counted only where the year's rules include it).
    pub purchased_electricity_mwh: Decimal,
    /// Net electricity supplied to the grid, MWh.
    pub power_supplied_mwh: Decimal,
    /// Heat supplied, GJ.
    pub heat_supplied_gj: Decimal,
    /// Load (output) factor as a fraction of rated output, e.g. 0.78.
    pub load_factor: Decimal,
}

/// An emission report as a company files it: its units' activity data for one year.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReportInput {
    pub company: CompanyId,
    pub year: Year,
    pub units: Vec<UnitActivity>,
}

/// A verifier's result for one report: the verified figures (by default, the reported ones) and
/// findings.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct VerificationInput {
    pub company: CompanyId,
    pub year: Year,
    pub verifier: String,
    /// Verified activity data; `None` confirms the reported figures.
    pub units: Option<Vec<UnitActivity>>,
    pub findings: Vec<String>,
}

/// An integer with thousands separators (1,234,567), for tables of tonnes and money.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
