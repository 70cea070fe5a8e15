//! The plan as typed data: allocation, MRV and compliance rules.
//!
//! Fields are public so that tests and simulations can build variants, but a hand-built value is
//! not validated: only [`crate::Plan::from_toml_str`] checks the invariants documented here, and
//! the calculating crates report (never panic on) the inconsistencies they meet.

use std::collections::BTreeMap;

use ets_types::{Cooling, Date, Decimal, UnitCategory, Year};
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};

/// A whole allocation plan (one compliance cycle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Stable identifier, e.g. `cn-power-2019-2020`.
    pub id: String,
    pub name: String,
    /// Emission years of the cycle, ascending, e.g. `[2019, 2020]`.
    pub years: Vec<Year>,
    /// Year whose output the pre-allocation is computed from (2018 for the first cycle).
    pub base_year: Year,
    pub allocation: AllocationPolicy,
    pub mrv: MrvRules,
    pub compliance: CompliancePolicy,
}

/// How fractional tonnes (or factors) are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Half away from zero (四舍五入): 2.5 → 3.
    HalfUp,
    /// Toward zero: 2.9 → 2.
    Down,
    /// Away from zero: 2.1 → 3.
    Up,
}

impl Rounding {
    /// Keys used in plan files.
    pub const KEYS: &'static str = "\"half_up\", \"down\", \"up\"";

    pub fn key(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::Down => "down",
            Rounding::Up => "up",
        }
    }

    pub fn parse(s: &str) -> Option<Rounding> {
        match s {
            "half_up" => Some(Rounding::HalfUp),
            "down" => Some(Rounding::Down),
            "up" => Some(Rounding::Up),
            _ => None,
        }
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        }
    }

    /// Rounds to `decimals` places with this mode.
    pub fn round_dp(self, d: Decimal, decimals: u32) -> Decimal {
        d.round_dp_with_strategy(decimals, self.strategy())
    }

    /// Rounds a non-negative quantity to whole tonnes.
    ///
    /// # Panics
    /// If `d` is negative or does not fit a `u64`: tonnes owed or allocated are never negative,
    /// so a negative value here is a bug in the caller. Use
    /// [`Rounding::checked_round_to_tonnes`] on values that come from outside.
    pub fn round_to_tonnes(self, d: Decimal) -> u64 {
        match self.checked_round_to_tonnes(d) {
            Some(t) => t,
            None => panic!("cannot round {d} to whole tonnes: negative or above u64::MAX"),
        }
    }

    /// Like [`Rounding::round_to_tonnes`], `None` for a negative value or one above `u64::MAX`.
    pub fn checked_round_to_tonnes(self, d: Decimal) -> Option<u64> {
        if d.is_sign_negative() && !d.is_zero() {
            return None;
        }
        let r = self.round_dp(d, 0);
        u64::try_from(r).ok()
    }
}

/// Supply and heat benchmarks of one category in one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Benchmark {
    /// tCO2 per MWh of net power supplied.
    pub supply_t_per_mwh: Decimal,
    /// tCO2 per GJ of heat supplied.
    pub heat_t_per_gj: Decimal,
}

/// Cooling correction factors of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoolingFactors {
    pub water: Decimal,
    pub air: Decimal,
}

impl CoolingFactors {
    pub fn get(&self, cooling: Cooling) -> Decimal {
        match cooling {
            Cooling::Water => self.water,
            Cooling::Air => self.air,
        }
    }
}

/// The CHP (heat-supply) correction `1 − coefficient × heat_supply_ratio`, where
/// `heat_supply_ratio = heat_supplied_gj / (heat_supplied_gj + power_heat_equivalent_gj_per_mwh ×
/// power_supplied_mwh)`, 0 when both are 0.
///
/// The plan defines the ratio on boiler heat (heat used for supply over total heat produced);
/// activity data carry only outputs, so the output-based ratio is our reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeatSupplyCorrection {
    /// GJ counted per MWh of power in the ratio's denominator (3.6 is the energy equivalent).
    pub power_heat_equivalent_gj_per_mwh: Decimal,
    /// Per category, in `0..=1`; 0 means no correction. Every category has an entry.
    pub coefficient: BTreeMap<UnitCategory, Decimal>,
}

/// How a load-factor band turns F (a fraction of rated output) into a correction factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadFactorFormula {
    /// `value`.
    Constant { value: Decimal },
    /// `intercept + slope × (pivot − 100·F)`; `pivot` is in percentage points.
    Linear {
        intercept: Decimal,
        slope: Decimal,
        pivot: Decimal,
    },
    /// `base ^ (a − b·F)`.
    Power {
        base: Decimal,
        a: Decimal,
        b: Decimal,
    },
}

/// One band of the load-factor table: `min <= F < max`, except that the last band also holds
/// `F == max` (= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadFactorBand {
    pub min: Decimal,
    pub max: Decimal,
    pub formula: LoadFactorFormula,
}

/// The load (output) factor correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadFactorCorrection {
    /// Categories the correction applies to; others get 1.
    pub categories: Vec<UnitCategory>,
    /// Ascending, contiguous bands covering `0..=1` exactly.
    pub bands: Vec<LoadFactorBand>,
}

impl LoadFactorCorrection {
    pub fn applies_to(&self, category: UnitCategory) -> bool {
        self.categories.contains(&category)
    }

    /// The band holding `f`, `None` outside `0..=1` (or if hand-built bands leave a gap).
    pub fn band(&self, f: Decimal) -> Option<&LoadFactorBand> {
        let last = self.bands.len().checked_sub(1)?;
        self.bands
            .iter()
            .enumerate()
            .find(|(i, b)| b.min <= f && (f < b.max || (*i == last && f == b.max)))
            .map(|(_, b)| b)
    }
}

/// A correction factor of the supply part of the allocation formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionFactor {
    Cooling,
    HeatSupply,
    LoadFactor,
}

impl CorrectionFactor {
    pub const KEYS: &'static str = "\"cooling\", \"heat_supply\", \"load_factor\"";

    pub fn key(self) -> &'static str {
        match self {
            CorrectionFactor::Cooling => "cooling",
            CorrectionFactor::HeatSupply => "heat_supply",
            CorrectionFactor::LoadFactor => "load_factor",
        }
    }

    pub fn parse(s: &str) -> Option<CorrectionFactor> {
        match s {
            "cooling" => Some(CorrectionFactor::Cooling),
            "heat_supply" => Some(CorrectionFactor::HeatSupply),
            "load_factor" => Some(CorrectionFactor::LoadFactor),
            _ => None,
        }
    }
}

/// Pre-allocation: `share × (base-year output × benchmark of the allocation year × factors)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAllocation {
    /// Fraction in `0..=1` (0.70).
    pub share: Decimal,
    /// Year of the output data the pre-allocation uses (the plan's `base_year`).
    pub base_year: Year,
    /// Correction factors applied (computed from base-year data); the others count as 1.
    pub factors: Vec<CorrectionFactor>,
}

/// The free-allocation rules of a plan (DOMAIN.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPolicy {
    /// Every category has a benchmark for every year of the plan.
    pub benchmarks: BTreeMap<UnitCategory, BTreeMap<Year, Benchmark>>,
    /// Every category has cooling factors.
    pub cooling: BTreeMap<UnitCategory, CoolingFactors>,
    pub heat_supply: HeatSupplyCorrection,
    pub load_factor: LoadFactorCorrection,
    pub pre_allocation: PreAllocation,
    /// How a unit's allocation is rounded to whole tonnes (once, at the end).
    pub rounding: Rounding,
    /// Decimal places the computed correction factors are rounded to before use.
    pub factor_decimals: u32,
    /// How the correction factors are rounded.
    pub factor_rounding: Rounding,
}

impl AllocationPolicy {
    pub fn benchmark(&self, category: UnitCategory, year: Year) -> Option<&Benchmark> {
        self.benchmarks.get(&category)?.get(&year)
    }

    pub fn cooling_factor(&self, category: UnitCategory, cooling: Cooling) -> Option<Decimal> {
        self.cooling.get(&category).map(|c| c.get(cooling))
    }

    /// Rounds a computed factor as the plan says.
    pub fn round_factor(&self, d: Decimal) -> Decimal {
        self.factor_rounding.round_dp(d, self.factor_decimals)
    }
}

/// Unit in which a fuel's consumption is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FuelUnit {
    /// Tonnes (solid and liquid fuels); key `t`.
    #[serde(rename = "t")]
    Tonne,
    /// 10^4 normal cubic metres (gas); key `1e4_nm3`.
    #[serde(rename = "1e4_nm3")]
    TenThousandNm3,
}

impl FuelUnit {
    pub const KEYS: &'static str = "\"t\", \"1e4_nm3\"";

    pub fn key(self) -> &'static str {
        match self {
            FuelUnit::Tonne => "t",
            FuelUnit::TenThousandNm3 => "1e4_nm3",
        }
    }

    pub fn parse(s: &str) -> Option<FuelUnit> {
        match s {
            "t" => Some(FuelUnit::Tonne),
            "1e4_nm3" => Some(FuelUnit::TenThousandNm3),
            _ => None,
        }
    }
}

/// Defaults of one fuel, used where a report leaves a parameter unmeasured (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuelDefaults {
    pub unit: FuelUnit,
    /// Net calorific value, GJ per fuel unit.
    pub ncv_gj: Decimal,
    /// Carbon content per unit heat, tC/GJ, for unmeasured fuel (the high default).
    pub carbon_content_tc_per_gj: Decimal,
    /// Oxidation rate, fraction in `0..=1`.
    pub oxidation_rate: Decimal,
}

/// Monitoring and reporting rules of a plan (DOMAIN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrvRules {
    /// Whether purchased electricity counts towards a unit's emissions.
    pub include_purchased_electricity: bool,
    /// tCO2 per MWh of purchased electricity.
    pub grid_factor_t_per_mwh: Decimal,
    /// Defaults by fuel key (`bituminous_coal`, `natural_gas`, ...).
    pub fuels: BTreeMap<String, FuelDefaults>,
    /// How a unit's emissions are rounded to whole tonnes (once, at the end).
    pub rounding: Rounding,
}

/// Penalty for a shortfall at the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyPolicy {
    pub fine_cny_min: u64,
    pub fine_cny_max: u64,
    /// The shortfall is deducted from the next allocation.
    pub deduct_shortfall_next_allocation: bool,
}

/// Borrowing from a future allocation (2021–22 plan only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BorrowingPolicy {
    /// Only entities whose gap is at least this share of their allocation may borrow.
    pub min_gap_share_of_allocation: Decimal,
    /// At most this share of the gap may be borrowed.
    pub max_share_of_gap: Decimal,
    /// Allocation year borrowed from.
    pub from_vintage: Year,
}

/// The surrender rules of a plan (DOMAIN.md §2.4, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompliancePolicy {
    /// Last day to surrender.
    pub deadline: Date,
    /// CEA vintages that may be surrendered, ascending.
    pub eligible_vintages: Vec<Year>,
    /// A gas unit never owes more than its allocation.
    pub gas_cap: bool,
    /// `Some(r)`: obligation ≤ allocation + r × verified emissions.
    pub large_gap_relief: Option<Decimal>,
    /// Offsets may cover at most this share of the obligation.
    pub offset_limit_share: Decimal,
    /// Offset credits of a vintage older than this are ineligible (`None` = any vintage).
    pub offset_min_vintage: Option<Year>,
    /// How fractional tonnes in these rules are rounded.
    pub rounding: Rounding,
    pub penalty: PenaltyPolicy,
    /// Surplus allowances may be banked into the next cycle.
    pub carry_over: bool,
    /// Obligations are settled per emission year rather than over the cycle's pooled years
    /// (annual management from 2021, DOMAIN.md §2.2).
    pub per_year_obligation: bool,
    pub borrowing: Option<BorrowingPolicy>,
}
