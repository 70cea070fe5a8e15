//! Allocation plans of the `ets` market as data.
//!
//! A [`Plan`] is one compliance cycle's rules, read from one TOML file: the free-allocation
//! formula's benchmarks and correction factors ([`AllocationPolicy`]), the monitoring defaults
//! ([`MrvRules`]) and the surrender rules ([`CompliancePolicy`]). The file format is documented
//! key by key in `docs/policy-file.md`; the shipped plans live in `policies/` and are embedded,
//! so [`Plan::builtin`] needs no file system.
//!
//! **Architecture Invariant:** policy values are data. No benchmark, factor or deadline is a
//! constant in code; code only knows the *shape* of the rules. Numbers are read from their TOML
//! source text straight into `Decimal`, never through `f64`.
//!
//! **Architecture Invariant:** a `Plan` returned by [`Plan::from_toml_str`] is validated (shares
//! in `0..=1`, benchmarks positive, load-factor bands contiguous over `0..=1`, a benchmark for
//! every category and year, years ascending). Errors name the file and the key path.

mod error;
mod model;
mod parse;

pub use error::{PolicyError, Problem};
pub use model::{
    AllocationPolicy, Benchmark, BorrowingPolicy, CompliancePolicy, CoolingFactors,
    CorrectionFactor, FuelDefaults, FuelUnit, HeatSupplyCorrection, LoadFactorBand,
    LoadFactorCorrection, LoadFactorFormula, MrvRules, PenaltyPolicy, Plan, PreAllocation,
    Rounding,
};

/// The shipped plans: (id, file text).
const BUILTIN: &[(&str, &str)] = &[
    (
        "cn-power-2019-2020",
        include_str!("../../../policies/cn-power-2019-2020.toml"),
    ),
    (
        "cn-power-2021-2022",
        include_str!("../../../policies/cn-power-2021-2022.toml"),
    ),
];

const BUILTIN_IDS: &[&str] = &["cn-power-2019-2020", "cn-power-2021-2022"];

impl Plan {
    /// Parses and validates a plan file. `source` names the file in error messages, e.g.
    /// `cn-power-2019-2020.toml`.
    ///
    /// # Errors
    /// [`PolicyError`] naming `source` and the key path of the first problem found.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Plan, PolicyError> {
        parse::parse_plan(text, source)
    }

    /// A shipped plan by id, `None` for an unknown id.
    ///
    /// # Panics
    /// If a shipped plan file is invalid; the crate's tests parse every shipped file, so this is
    /// a build defect, not a runtime condition.
    pub fn builtin(id: &str) -> Option<Plan> {
        let (_, text) = BUILTIN.iter().find(|(i, _)| *i == id)?;
        match Plan::from_toml_str(text, &format!("{id}.toml")) {
            Ok(plan) => Some(plan),
            Err(e) => panic!("shipped plan is invalid: {e}"),
        }
    }

    /// Ids of the shipped plans, oldest first.
    pub fn builtin_ids() -> &'static [&'static str] {
        BUILTIN_IDS
    }

    /// The file text of a shipped plan, e.g. to show or to start a variant from.
    pub fn builtin_text(id: &str) -> Option<&'static str> {
        BUILTIN.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }
}
