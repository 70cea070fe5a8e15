//! Monitoring, reporting and verification (MRV) for the `ets` market.
//!
//! Two parts:
//! - [`unit_emissions`]: a unit's yearly emissions from its activity data and the plan's
//!   [`ets_policy::MrvRules`] (fuel combustion plus, where counted, purchased electricity).
//! - [`Mrv`]: the annual emission report workflow of each company, a pure state machine
//!   `Draft → Submitted → Verified → Accepted`, with corrections opening a new version while every
//!   earlier version stays in the history. [`verified_emissions`] computes the figures that
//!   compliance uses from an accepted (or verified) report's verification.
//!
//! Formulas and states are documented in `docs/mrv.md`.
//!
//! **Architecture Invariant:** no I/O, no clock, no floats. Dates come in with the commands;
//! quantities are `Decimal` until the single rounding to whole tonnes per unit.

mod codes;
mod emissions;
mod workflow;

pub use emissions::{UnitEmissions, unit_emissions};
pub use workflow::{Mrv, Report, ReportStatus, Verification, verified_emissions, verified_total_t};

use ets_types::{CompanyId, Date, Decimal, UnitId, Year};

/// Why an MRV computation or workflow step is refused.
///
/// Every variant has a stable code and its figures ([`MrvError::code`], [`MrvError::params`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrvError {
    #[error("unit {unit}: unknown fuel {fuel} (not in the plan's mrv.fuels)")]
    UnknownFuel { unit: UnitId, fuel: String },
    #[error("unit {unit}: {field} is negative ({value})")]
    Negative {
        unit: UnitId,
        field: String,
        value: Decimal,
    },
    #[error("unit {unit}: fuel {fuel} oxidation rate {value} is above 1")]
    OxidationAboveOne {
        unit: UnitId,
        fuel: String,
        value: Decimal,
    },
    #[error("unit {unit}: emissions overflow the decimal range")]
    Overflow { unit: UnitId },
    #[error("report {company} {year}: no units")]
    NoUnits { company: CompanyId, year: Year },
    #[error("report {company} {year}: unit {unit} appears more than once")]
    DuplicateUnit {
        company: CompanyId,
        year: Year,
        unit: UnitId,
    },
    #[error("report {company} {year}: unit {unit} carries data of year {unit_year}")]
    WrongYear {
        company: CompanyId,
        year: Year,
        unit: UnitId,
        unit_year: Year,
    },
    #[error("report {company} {year}: no report")]
    NoReport { company: CompanyId, year: Year },
    #[error("report {company} {year}: cannot {action} a report that is {from}")]
    InvalidTransition {
        company: CompanyId,
        year: Year,
        from: ReportStatus,
        action: &'static str,
    },
    #[error(
        "report {company} {year}: verification covers different units than the report (not verified: {}; not reported: {})",
        unit_list(not_verified),
        unit_list(not_reported)
    )]
    VerificationUnits {
        company: CompanyId,
        year: Year,
        /// Reported units the verification leaves out.
        not_verified: Vec<UnitId>,
        /// Verified units the report does not name.
        not_reported: Vec<UnitId>,
    },
    #[error("report {company} {year}: {action} on {date} is before {previous}")]
    DateOrder {
        company: CompanyId,
        year: Year,
        action: &'static str,
        date: Date,
        previous: Date,
    },
    #[error("report {company} {year}: {what} must not be empty")]
    Blank {
        company: CompanyId,
        year: Year,
        what: &'static str,
    },
    #[error("report {company} {year} version {version}: not verified")]
    NotVerified {
        company: CompanyId,
        year: Year,
        version: u32,
    },
}

/// Units for a message: `[U1, U2]`, or `[]`.
fn unit_list(units: &[UnitId]) -> String {
    let names: Vec<String> = units.iter().map(|u| u.to_string()).collect();
    format!("[{}]", names.join(", "))
}
