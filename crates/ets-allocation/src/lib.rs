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

use std::cell::RefCell;
use std::collections::BTreeSet;

use ets_policy::{AllocationPolicy, CorrectionFactor, LoadFactorFormula};
use ets_types::{CompanyId, Decimal, GeneratingUnit, UnitActivity, UnitId, Year};
use rust_decimal::MathematicalOps;
use serde::{Deserialize, Serialize};

mod codes;

/// Why an allocation cannot be computed. Every variant has a stable code and its figures
/// ([`AllocationError::code`], [`AllocationError::params`], in `codes.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
            pow(base, exponent).ok_or_else(overflow)?
        }
    };
    Ok(policy.round_factor(raw))
}

/// `base^exponent` in `Decimal`, equal to `rust_decimal`'s `checked_powd` once rounded to a few
/// decimals, but far cheaper for the plans' bases near 1.
///
/// Whole exponents (and bases far from 1, or not positive) go to `checked_powd` unchanged. A
/// fractional exponent `n + f` (`n = ⌊exponent⌋`, `0 < f < 1`) is computed as
/// `base^n × base^f`: `base^n` by `checked_powi` (exact, or rounded at 28 digits), and
/// `base^f = exp(f × ln base)` with `ln base = 2(z + z³/3 + z⁵/5 + …)`, `z = (base − 1)/(base + 1)`
/// (the atanh series, which for `|z| ≤ 0.2` gains at least 1.4 digits per term) and `exp` by its
/// Taylor series on the small argument (`|f × ln base| < 0.41`), both summed until the next term
/// is zero at `Decimal`'s 28 decimal places. When `f` has at most [`DIGITS`] decimals
/// (`0.d₁d₂…`, as every load factor of the plans gives), `base^f = Π base^(dᵢ/10^i)`, each factor
/// computed once per base by the same series and kept (see [`Powers`]), so a call costs a few
/// multiplications. No floats; the same inputs give the same digits everywhere. `checked_powd`
/// instead evaluates `exp(exponent × ln base)` with wide intermediates, ~20 µs per call.
/// `tests::pow_matches_checked_powd_after_rounding` proves that both agree after rounding to the
/// plans' factor decimals for every load factor with 4 decimals; the other tests bound the
/// difference unrounded.
fn pow(base: Decimal, exponent: Decimal) -> Option<Decimal> {
    let whole = exponent.floor();
    let fraction = exponent.checked_sub(whole)?.normalize();
    if fraction.is_zero() || base <= Decimal::ZERO {
        return base.checked_powd(exponent);
    }
    let Ok(n) = i64::try_from(whole) else {
        return base.checked_powd(exponent);
    };
    let integral = base.checked_powi(n)?;
    let fractional = POWERS.with_borrow_mut(|cached| {
        if cached.as_ref().is_none_or(|p| p.base != base) {
            *cached = Some(Box::new(Powers::new(base)?));
        }
        cached.as_mut()?.fractional(fraction)
    });
    match fractional {
        Some(x) => integral.checked_mul(x),
        None => base.checked_powd(exponent),
    }
}

/// The decimals of a fractional exponent that [`Powers`] tabulates.
const DIGITS: usize = 6;
/// `|z|` up to which [`ln_atanh`] is used: `|ln base| ≤ 2 atanh(0.2) ≈ 0.405`.
const Z_MAX: Decimal = Decimal::from_parts(2, 0, 0, false, 1);
/// Terms are summed until zero; these bounds (far above what `|z| ≤ 0.2` and `|y| < 0.41`
/// need: ~21 and ~30 terms) only guard against a bug looping for ever.
const SERIES_TERMS_MAX: u32 = 200;

thread_local! {
    /// The [`Powers`] of the last base: a plan has one power band, so one base for every unit.
    /// A cache of a pure function of the base: it changes no result.
    static POWERS: RefCell<Option<Box<Powers>>> = const { RefCell::new(None) };
}

/// `ln base` and the powers `base^(d/10^i)` (`d` = 1..=9, `i` = 1..=[`DIGITS`]) of one base,
/// each computed by the series on first use.
struct Powers {
    base: Decimal,
    ln: Decimal,
    /// `digit[i - 1][d - 1] = base^(d/10^i)`.
    digit: [[Option<Decimal>; 9]; DIGITS],
}

impl Powers {
    /// `None` when the base is too far from 1 for [`ln_atanh`] (`|z| > 0.2`: outside ~0.67..1.5).
    fn new(base: Decimal) -> Option<Powers> {
        let z = base
            .checked_sub(Decimal::ONE)?
            .checked_div(base.checked_add(Decimal::ONE)?)?;
        if z.abs() > Z_MAX {
            return None;
        }
        Some(Powers {
            base,
            ln: ln_atanh(z)?,
            digit: [[None; 9]; DIGITS],
        })
    }

    /// `base^f` for `0 < f < 1`.
    fn fractional(&mut self, f: Decimal) -> Option<Decimal> {
        if f.scale() as usize > DIGITS {
            return exp_taylor(f.checked_mul(self.ln)?);
        }
        // f = m / 10^DIGITS, 0 < m < 10^DIGITS; its digits from the first decimal on.
        let m = u64::try_from(f.mantissa()).ok()? * 10u64.pow(DIGITS as u32 - f.scale());
        let mut product = Decimal::ONE;
        for i in 1..=DIGITS {
            let d = (m / 10u64.pow((DIGITS - i) as u32) % 10) as usize;
            if d == 0 {
                continue;
            }
            let power = match self.digit[i - 1][d - 1] {
                Some(p) => p,
                None => {
                    let exponent = Decimal::new(d as i64, i as u32);
                    let p = exp_taylor(exponent.checked_mul(self.ln)?)?;
                    self.digit[i - 1][d - 1] = Some(p);
                    p
                }
            };
            product = product.checked_mul(power)?;
        }
        Some(product)
    }
}

/// `ln b = 2 atanh z = 2(z + z³/3 + z⁵/5 + …)` for `z = (b − 1)/(b + 1)`, `|z| ≤ 0.2`.
fn ln_atanh(z: Decimal) -> Option<Decimal> {
    let z2 = z.checked_mul(z)?;
    let mut power = z;
    let mut sum = z;
    let mut k = 3u32;
    while k < 2 * SERIES_TERMS_MAX {
        power = power.checked_mul(z2)?;
        let term = power.checked_div(Decimal::from(k))?;
        if term.is_zero() {
            return sum.checked_add(sum);
        }
        sum = sum.checked_add(term)?;
        k += 2;
    }
    None
}

/// `exp y = 1 + y + y²/2! + …` for a small `|y|` (< 0.41 here).
fn exp_taylor(y: Decimal) -> Option<Decimal> {
    let mut term = Decimal::ONE;
    let mut sum = Decimal::ONE;
    for i in 1..SERIES_TERMS_MAX {
        term = term.checked_mul(y)?.checked_div(Decimal::from(i))?;
        if term.is_zero() {
            return Some(sum);
        }
        sum = sum.checked_add(term)?;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use ets_policy::Plan;

    /// The series give the same correction factor as `checked_powd` after rounding to the
    /// plan's factor decimals, for every load factor of 4 decimals in every power band of the
    /// shipped plans (0.0000 to 0.7499 for both), plus exponents of other shapes.
    #[test]
    fn pow_matches_checked_powd_after_rounding() {
        for name in ["cn-power-2019-2020", "cn-power-2021-2022"] {
            let plan = Plan::builtin(name).expect("shipped plan");
            let policy = &plan.allocation;
            let mut checked = 0;
            for i in 0..=10_000i64 {
                let f = Decimal::new(i, 4);
                let Some(band) = policy.load_factor.band(f) else {
                    continue;
                };
                let LoadFactorFormula::Power { base, a, b } = band.formula else {
                    continue;
                };
                let exponent = a - b * f;
                let old = policy.round_factor(base.checked_powd(exponent).unwrap());
                let new = policy.round_factor(pow(base, exponent).unwrap());
                assert_eq!(new, old, "{name}: F = {f}, {base}^{exponent}");
                assert_eq!(
                    load_factor_correction(f, policy),
                    Ok(old),
                    "{name}: F = {f}"
                );
                checked += 1;
            }
            assert_eq!(
                checked, 7_500,
                "{name}: F = 0.0000 ..= 0.7499 are in power bands"
            );
        }
    }

    /// Unrounded, the series agree with `checked_powd` to far more digits than any plan keeps
    /// (at most 12 factor decimals), over bases either side of 1 and negative exponents too.
    #[test]
    fn pow_agrees_with_checked_powd_to_20_digits() {
        let tolerance = Decimal::new(1, 20);
        for base in ["1.015", "0.985", "1.2", "0.7", "1.4999", "1.000001"] {
            let base: Decimal = base.parse().unwrap();
            for e in (-400..=400).step_by(7) {
                let exponent = Decimal::new(e, 2);
                let old = base.checked_powd(exponent).unwrap();
                let new = pow(base, exponent).unwrap();
                let diff = (new - old).abs();
                assert!(
                    diff <= tolerance * old.abs().max(Decimal::ONE),
                    "{base}^{exponent}: {new} vs {old}"
                );
            }
        }
        // Exponents with more decimals than the table take the series itself.
        for base in ["1.015", "0.985", "1.3"] {
            let base: Decimal = base.parse().unwrap();
            for e in (-3_000_000_000i64..=3_000_000_000).step_by(123_456_789) {
                let exponent = Decimal::new(e, 9);
                let old = base.checked_powd(exponent).unwrap();
                let new = pow(base, exponent).unwrap();
                assert!(
                    (new - old).abs() <= tolerance * old.abs().max(Decimal::ONE),
                    "{base}^{exponent}: {new} vs {old}"
                );
            }
        }
        // Far from 1, and whole exponents, go to checked_powd itself.
        for (base, exponent) in [("3", "0.5"), ("0.1", "1.5"), ("1.015", "16"), ("2", "-3")] {
            let (base, exponent): (Decimal, Decimal) =
                (base.parse().unwrap(), exponent.parse().unwrap());
            assert_eq!(pow(base, exponent), base.checked_powd(exponent));
        }
    }
}
