//! Output-based benchmark allocation of free allowances (DOMAIN.md §2).
//!
//! ```text
//! unit allocation = supply_benchmark(category, year) × power_supplied_mwh
//!                     × cooling × heat_supply × load_factor
//!                 + heat_benchmark(category, year) × heat_supplied_gj      → rounded once to tonnes
//! company allocation = Σ unit allocations (each already whole tonnes)
//! pre-allocation     = share × (base-year output × benchmarks of the year × the listed factors)
//! ```
//! [`unit_allocation`] is the final (true-up) allocation from verified output of the year;
//! [`unit_pre_allocation`] the provisional one from base-year output; [`TrueUp`] the difference
//! issued or returned. Every number of the rules comes from the plan's
//! [`ets_policy::AllocationPolicy`].
//!
//! **Architecture Invariant:** pure and exact: no I/O, no floats. Correction factors are
//! rounded to the plan's `factor_decimals` before use and the allocation is rounded to whole
//! tonnes once per unit, so the same inputs give the same tonnes on every machine.

use std::collections::BTreeSet;

use ets_policy::{AllocationPolicy, CorrectionFactor, LoadFactorFormula};
use ets_types::{CompanyId, Decimal, GeneratingUnit, UnitActivity, UnitId, Year};
use rust_decimal::MathematicalOps;
use serde::{Deserialize, Serialize};

/// Why an allocation cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocationError {
    #[error("unit {unit}: activity data belong to unit {activity_unit}")]
    UnitMismatch { unit: UnitId, activity_unit: UnitId },
    #[error("unit {unit}: activity data are of year {activity_year}, expected {expected}")]
    YearMismatch {
        unit: UnitId,
        expected: Year,
        activity_year: Year,
    },
    #[error("unit {unit}: the plan has no {category} benchmark for {year}")]
    NoBenchmark {
        unit: UnitId,
        category: &'static str,
        year: Year,
    },
    #[error("unit {unit}: the plan has no cooling factors for {category}")]
    NoCoolingFactor {
        unit: UnitId,
        category: &'static str,
    },
    #[error("unit {unit}: the plan has no heat-supply coefficient for {category}")]
    NoHeatCoefficient {
        unit: UnitId,
        category: &'static str,
    },
    #[error("unit {unit}: {field} is negative ({value})")]
    Negative {
        unit: UnitId,
        field: &'static str,
        value: Decimal,
    },
    #[error("load factor {value} is outside 0..=1")]
    LoadFactorOutOfRange { value: Decimal },
    #[error("unit {unit}: load factor {value} is outside 0..=1")]
    UnitLoadFactorOutOfRange { unit: UnitId, value: Decimal },
    #[error("load factor {value}: no band of the plan holds it")]
    NoBand { value: Decimal },
    #[error("load factor {value}: the correction cannot be computed in decimal range")]
    LoadFactorOverflow { value: Decimal },
    #[error("unit {unit}: allocation overflows the decimal range")]
    Overflow { unit: UnitId },
    #[error("company {company}: unit {unit} belongs to company {unit_company}")]
    WrongCompany {
        company: CompanyId,
        unit: UnitId,
        unit_company: CompanyId,
    },
    #[error("company {company}: no activity data for unit {unit}")]
    MissingActivity { company: CompanyId, unit: UnitId },
    #[error("company {company}: activity data for unit {unit}, which is not one of its units")]
    UnknownUnit { company: CompanyId, unit: UnitId },
    #[error("company {company}: unit {unit} listed more than once")]
    DuplicateUnit { company: CompanyId, unit: UnitId },
    #[error("company {company}: no units")]
    NoUnits { company: CompanyId },
    #[error("true-up of {company} {year}: pre-allocation is for {other_company} {other_year}")]
    TrueUpMismatch {
        company: CompanyId,
        year: Year,
        other_company: CompanyId,
        other_year: Year,
    },
}

/// One unit's allocation for one year, with the figures that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAllocation {
    pub unit: UnitId,
    /// The allocation year (the benchmarks' year).
    pub year: Year,
    /// Supply part in tCO2, unrounded (after the pre-allocation share for a pre-allocation).
    pub supply_t: Decimal,
    /// Heat part in tCO2, unrounded (after the pre-allocation share for a pre-allocation).
    pub heat_t: Decimal,
    pub cooling_factor: Decimal,
    pub heat_factor: Decimal,
    /// 1 for categories (or pre-allocations) without the load-factor correction.
    pub load_factor_factor: Decimal,
    /// `supply_t + heat_t` rounded once with the plan's rounding.
    pub total_t: u64,
}

/// The final allocation of a unit: benchmark of `year` × the output of `year` × the corrections.
///
/// # Errors
/// Activity of another unit or year, a category or year without benchmark, negative output,
/// a load factor outside `0..=1` (for categories corrected by it), or an overflow.
pub fn unit_allocation(
    unit: &GeneratingUnit,
    activity: &UnitActivity,
    year: Year,
    policy: &AllocationPolicy,
) -> Result<UnitAllocation, AllocationError> {
    check_activity(unit, activity, year)?;
    let all = [
        CorrectionFactor::Cooling,
        CorrectionFactor::HeatSupply,
        CorrectionFactor::LoadFactor,
    ];
    compute(unit, activity, year, policy, &all, Decimal::ONE)
}

/// The pre-allocation of a unit for `year`: the plan's share × (base-year output × benchmarks of
/// `year` × the correction factors the plan lists for pre-allocation, computed from base-year
/// data). Factors not listed are reported as 1.
///
/// # Errors
/// As [`unit_allocation`]; `base_activity` must be of the plan's base year.
pub fn unit_pre_allocation(
    unit: &GeneratingUnit,
    base_activity: &UnitActivity,
    year: Year,
    policy: &AllocationPolicy,
) -> Result<UnitAllocation, AllocationError> {
    check_activity(unit, base_activity, policy.pre_allocation.base_year)?;
    let pre = &policy.pre_allocation;
    compute(unit, base_activity, year, policy, &pre.factors, pre.share)
}

/// The load (output) factor correction for a load factor `f` (fraction of rated output), rounded
/// to the plan's factor decimals. Does not check whether a category is corrected at all.
///
/// # Errors
/// `f` outside `0..=1`, a hand-built policy whose bands do not hold `f`, or an exponent out of
/// decimal range.
pub fn load_factor_correction(
    f: Decimal,
    policy: &AllocationPolicy,
) -> Result<Decimal, AllocationError> {
    if f < Decimal::ZERO || f > Decimal::ONE {
        return Err(AllocationError::LoadFactorOutOfRange { value: f });
    }
    let band = policy
        .load_factor
        .band(f)
        .ok_or(AllocationError::NoBand { value: f })?;
    let overflow = || AllocationError::LoadFactorOverflow { value: f };
    let raw = match band.formula {
        LoadFactorFormula::Constant { value } => value,
        LoadFactorFormula::Linear {
            intercept,
            slope,
            pivot,
        } => {
            // The plan writes F in percent: pivot − 100F.
            let pct = f.checked_mul(Decimal::ONE_HUNDRED).ok_or_else(overflow)?;
            let delta = pivot.checked_sub(pct).ok_or_else(overflow)?;
            intercept
                .checked_add(slope.checked_mul(delta).ok_or_else(overflow)?)
                .ok_or_else(overflow)?
        }
        LoadFactorFormula::Power { base, a, b } => {
            let exponent = a
                .checked_sub(b.checked_mul(f).ok_or_else(overflow)?)
                .ok_or_else(overflow)?;
            // Whole exponents are computed exactly; others through exp/ln to 28 digits, far
            // below the factor rounding.
            base.checked_powd(exponent).ok_or_else(overflow)?
        }
    };
    Ok(policy.round_factor(raw))
}

/// `heat / (heat + k × power)`, 0 for a unit that supplied nothing; the plan's boiler-heat ratio
/// read on outputs (see `docs/mrv.md`).
pub fn heat_supply_ratio(activity: &UnitActivity, policy: &AllocationPolicy) -> Option<Decimal> {
    let power_gj = activity
        .power_supplied_mwh
        .checked_mul(policy.heat_supply.power_heat_equivalent_gj_per_mwh)?;
    let denominator = activity.heat_supplied_gj.checked_add(power_gj)?;
    if denominator.is_zero() {
        return Some(Decimal::ZERO);
    }
    activity.heat_supplied_gj.checked_div(denominator)
}

fn check_activity(
    unit: &GeneratingUnit,
    activity: &UnitActivity,
    year: Year,
) -> Result<(), AllocationError> {
    if activity.unit != unit.id {
        return Err(AllocationError::UnitMismatch {
            unit: unit.id.clone(),
            activity_unit: activity.unit.clone(),
        });
    }
    if activity.year != year {
        return Err(AllocationError::YearMismatch {
            unit: unit.id.clone(),
            expected: year,
            activity_year: activity.year,
        });
    }
    for (field, value) in [
        ("power_supplied_mwh", activity.power_supplied_mwh),
        ("heat_supplied_gj", activity.heat_supplied_gj),
        ("load_factor", activity.load_factor),
    ] {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AllocationError::Negative {
                unit: unit.id.clone(),
                field,
                value,
            });
        }
    }
    Ok(())
}

/// The formula, with the factors in `factors` applied and the others set to 1, times `share`.
fn compute(
    unit: &GeneratingUnit,
    activity: &UnitActivity,
    year: Year,
    policy: &AllocationPolicy,
    factors: &[CorrectionFactor],
    share: Decimal,
) -> Result<UnitAllocation, AllocationError> {
    let id = &unit.id;
    let cat = unit.category;
    let overflow = || AllocationError::Overflow { unit: id.clone() };
    let benchmark = policy
        .benchmark(cat, year)
        .ok_or_else(|| AllocationError::NoBenchmark {
            unit: id.clone(),
            category: cat.key(),
            year,
        })?;

    let cooling_factor = if factors.contains(&CorrectionFactor::Cooling) {
        let c = policy.cooling_factor(cat, unit.cooling).ok_or_else(|| {
            AllocationError::NoCoolingFactor {
                unit: id.clone(),
                category: cat.key(),
            }
        })?;
        policy.round_factor(c)
    } else {
        Decimal::ONE
    };
    let heat_factor = if factors.contains(&CorrectionFactor::HeatSupply) {
        heat_factor(unit, activity, policy)?
    } else {
        Decimal::ONE
    };
    let load_factor_factor =
        if factors.contains(&CorrectionFactor::LoadFactor) && policy.load_factor.applies_to(cat) {
            load_factor_correction(activity.load_factor, policy).map_err(|e| match e {
                AllocationError::LoadFactorOutOfRange { value } => {
                    AllocationError::UnitLoadFactorOutOfRange {
                        unit: id.clone(),
                        value,
                    }
                }
                other => other,
            })?
        } else {
            Decimal::ONE
        };

    let supply_t = [
        benchmark.supply_t_per_mwh,
        cooling_factor,
        heat_factor,
        load_factor_factor,
        share,
    ]
    .into_iter()
    .try_fold(activity.power_supplied_mwh, |acc, x| acc.checked_mul(x))
    .ok_or_else(overflow)?;
    let heat_t = activity
        .heat_supplied_gj
        .checked_mul(benchmark.heat_t_per_gj)
        .and_then(|x| x.checked_mul(share))
        .ok_or_else(overflow)?;
    let sum = supply_t.checked_add(heat_t).ok_or_else(overflow)?;
    let total_t = policy
        .rounding
        .checked_round_to_tonnes(sum)
        .ok_or_else(overflow)?;
    Ok(UnitAllocation {
        unit: id.clone(),
        year,
        supply_t,
        heat_t,
        cooling_factor,
        heat_factor,
        load_factor_factor,
        total_t,
    })
}

/// `1 − coefficient(category) × heat_supply_ratio`, rounded to the plan's factor decimals.
fn heat_factor(
    unit: &GeneratingUnit,
    activity: &UnitActivity,
    policy: &AllocationPolicy,
) -> Result<Decimal, AllocationError> {
    let overflow = || AllocationError::Overflow {
        unit: unit.id.clone(),
    };
    let coefficient = policy
        .heat_supply
        .coefficient
        .get(&unit.category)
        .ok_or_else(|| AllocationError::NoHeatCoefficient {
            unit: unit.id.clone(),
            category: unit.category.key(),
        })?;
    let ratio = heat_supply_ratio(activity, policy).ok_or_else(overflow)?;
    let f = Decimal::ONE
        .checked_sub(coefficient.checked_mul(ratio).ok_or_else(overflow)?)
        .ok_or_else(overflow)?;
    Ok(policy.round_factor(f))
}

/// A company's allocation for one year: its units' allocations and their sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyAllocation {
    pub company: CompanyId,
    pub year: Year,
    /// In the order of the units given.
    pub units: Vec<UnitAllocation>,
    /// Σ units' `total_t`.
    pub total_t: u64,
}

/// The final allocation of a company: [`unit_allocation`] for each of its units, summed. Every
/// unit needs activity data of `year`, and every activity must belong to one of the units.
pub fn company_allocation(
    company: &CompanyId,
    units: &[GeneratingUnit],
    activities: &[UnitActivity],
    year: Year,
    policy: &AllocationPolicy,
) -> Result<CompanyAllocation, AllocationError> {
    sum_units(company, units, activities, year, |u, a| {
        unit_allocation(u, a, year, policy)
    })
}

/// The pre-allocation of a company for `year` from base-year activities: [`unit_pre_allocation`]
/// for each unit, summed (the 2021–22 "sum of unit pre-allocations").
pub fn company_pre_allocation(
    company: &CompanyId,
    units: &[GeneratingUnit],
    base_activities: &[UnitActivity],
    year: Year,
    policy: &AllocationPolicy,
) -> Result<CompanyAllocation, AllocationError> {
    sum_units(company, units, base_activities, year, |u, a| {
        unit_pre_allocation(u, a, year, policy)
    })
}

fn sum_units(
    company: &CompanyId,
    units: &[GeneratingUnit],
    activities: &[UnitActivity],
    year: Year,
    allocate: impl Fn(&GeneratingUnit, &UnitActivity) -> Result<UnitAllocation, AllocationError>,
) -> Result<CompanyAllocation, AllocationError> {
    if units.is_empty() {
        return Err(AllocationError::NoUnits {
            company: company.clone(),
        });
    }
    let mut ids = BTreeSet::new();
    for u in units {
        if u.company != *company {
            return Err(AllocationError::WrongCompany {
                company: company.clone(),
                unit: u.id.clone(),
                unit_company: u.company.clone(),
            });
        }
        if !ids.insert(&u.id) {
            return Err(AllocationError::DuplicateUnit {
                company: company.clone(),
                unit: u.id.clone(),
            });
        }
    }
    let mut seen = BTreeSet::new();
    for a in activities {
        if !ids.contains(&a.unit) {
            return Err(AllocationError::UnknownUnit {
                company: company.clone(),
                unit: a.unit.clone(),
            });
        }
        if !seen.insert(&a.unit) {
            return Err(AllocationError::DuplicateUnit {
                company: company.clone(),
                unit: a.unit.clone(),
            });
        }
    }
    let mut out = Vec::with_capacity(units.len());
    let mut total_t: u64 = 0;
    for u in units {
        let a = activities.iter().find(|a| a.unit == u.id).ok_or_else(|| {
            AllocationError::MissingActivity {
                company: company.clone(),
                unit: u.id.clone(),
            }
        })?;
        let ua = allocate(u, a)?;
        total_t = total_t
            .checked_add(ua.total_t)
            .ok_or_else(|| AllocationError::Overflow { unit: u.id.clone() })?;
        out.push(ua);
    }
    Ok(CompanyAllocation {
        company: company.clone(),
        year,
        units: out,
        total_t,
    })
}

/// Settlement of a year's allocation after verification: the final allocation minus what was
/// pre-allocated is issued (if positive) or returned (if negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrueUp {
    pub company: CompanyId,
    pub year: Year,
    pub pre_allocated_t: u64,
    pub final_t: u64,
}

impl TrueUp {
    /// Builds the true-up of a company's pre-allocation and final allocation for the same year.
    pub fn new(
        pre: &CompanyAllocation,
        fin: &CompanyAllocation,
    ) -> Result<TrueUp, AllocationError> {
        if pre.company != fin.company || pre.year != fin.year {
            return Err(AllocationError::TrueUpMismatch {
                company: fin.company.clone(),
                year: fin.year,
                other_company: pre.company.clone(),
                other_year: pre.year,
            });
        }
        Ok(TrueUp {
            company: fin.company.clone(),
            year: fin.year,
            pre_allocated_t: pre.total_t,
            final_t: fin.total_t,
        })
    }

    /// Allowances still to issue: `final − pre-allocated`, or 0.
    pub fn to_issue_t(&self) -> u64 {
        self.final_t.saturating_sub(self.pre_allocated_t)
    }

    /// Allowances the company must return: `pre-allocated − final`, or 0.
    pub fn to_return_t(&self) -> u64 {
        self.pre_allocated_t.saturating_sub(self.final_t)
    }
}
