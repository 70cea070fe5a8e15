//! Seeded scenarios of China's national carbon market (power sector, first cycle).
//!
//! Two parts, both pure functions of a `u64` seed and a configuration:
//!
//! - [`generate`] builds a [`NationalMarket`]: 2,162 companies over the 31 mainland provinces
//!   (Shanxi exactly 107), their generating units in the plan's four categories, each unit's
//!   activity data for the base year 2018 and the compliance years 2019 and 2020, and a few
//!   dozen CCER offset projects, forestry first. Emission intensities are drawn around the
//!   config's own reference intensities per category (equal to the 2019-2020 benchmarks in the
//!   shipped file), so some companies end in surplus and some in deficit, and the national total
//!   comes out near 4.5 Gt CO2 a year. No allocation plan goes in: the same seed gives the same
//!   fleet whatever plan it is then allocated under.
//! - [`BehaviourModel`] decides, per company, what it offers to sell, what it tries to buy and
//!   what it hands in at the deadline. Its parameters are behaviours (who is cash-constrained,
//!   who banks, who ignores the deadline); the completion rate is an outcome of a run.
//!
//! Every distribution parameter is in `cn-power.toml` (embedded; see
//! [`GeneratorConfig::default_cn_power`]), each with its source or marked as an assumption;
//! `docs/market-generator.md` describes the model and the figures a default run produces.
//!
//! **Architecture Invariant:** no clock, no global RNG, no I/O. Randomness is ChaCha8 seeded from
//! the caller's `u64`; the same seed and config give the same output on every machine.
//!
//! **Architecture Invariant:** `f64` lives only inside random draws. Everything handed out is
//! `Decimal` with a fixed number of decimal places, or an integer.

mod behaviour;
mod config;
mod draw;
mod generate;

use ets_types::{Company, GeneratingUnit, ProjectId, UnitActivity, Year};

pub use behaviour::{BehaviourModel, CompanyPosition, TradingIntent};
pub use config::{
    ArchetypeConfig, BehaviourConfig, CN_POWER_TOML, COMPANIES_MAX, CategoryIntensity, FuelConfig,
    FuelMixConfig, GeneratorConfig, IntensityConfig, MarketConfig, OffsetKindConfig, OffsetsConfig,
    PROJECTS_MAX, ProvinceConfig, UnitsConfig, YearHours,
};
pub use generate::{combustion_emissions_t, generate};

/// An offset (CCER) project with the credits it has issued for one vintage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetProject {
    /// E.g. `CCER-SX-F001`: province code, kind letter, number within the kind.
    pub id: ProjectId,
    pub name: String,
    /// Province name in English, as in `Company::province`.
    pub province: String,
    /// "forestry", "wind", "solar", "methane", "hydro" (the config's kinds).
    pub kind: String,
    pub vintage: Year,
    /// Credits issued, whole tonnes CO2e.
    pub credits_t: u64,
}

/// A generated national market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NationalMarket {
    /// In province order of the config, then by number: `BJ0001`, `BJ0002`, ...
    pub companies: Vec<Company>,
    /// In company order, then `-G1`, `-G2`, ...
    pub units: Vec<GeneratingUnit>,
    /// Every unit for the base year and each compliance year: all units of the base year first,
    /// then all units of each compliance year, each block in unit order.
    pub activity: Vec<UnitActivity>,
    /// Forestry projects first.
    pub offset_projects: Vec<OffsetProject>,
}

/// A configuration that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The TOML does not parse, or a key is missing, unknown or of the wrong type.
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{source_name}: key `{key}`: {reason}")]
    Invalid {
        source_name: String,
        key: String,
        reason: String,
    },
}
