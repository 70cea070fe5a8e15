//! Compliance (履约): what each company owes, what it may surrender, whether it complied, and the
//! completion rates the regulator publishes per company, province and nation.
//!
//! Principal items: [`obligation`] (verified emissions with the gas-unit and large-gap rules of
//! the plan), [`check_surrender`] (vintage eligibility, the offset limit, no surrender beyond the
//! obligation), [`assess`] (status, shortfall and penalty of one company), [`summarize`]
//! (totals and completion rates by volume and by count, nationally and per province).
//!
//! Everything here is pure arithmetic on whole tonnes; the policy's [`CompliancePolicy`] says
//! which rules apply and how fractional tonnes round. Rates are exact [`Ratio`]s of integers and
//! become decimals only for display.

use std::collections::BTreeMap;

use ets_policy::CompliancePolicy;
use ets_types::{CompanyId, Tonnes, UnitCategory, UnitClass, UnitId, Year};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

mod codes;

/// Years for a message: `2019, 2020`.
fn years(list: &[Year]) -> String {
    list.iter()
        .map(|y| y.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One generating unit's figures for the cycle.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnitFigures {
    pub unit: UnitId,
    pub category: UnitCategory,
    /// Final allocation of the cycle (all its years).
    pub allocation_t: Tonnes,
    /// Verified emissions of the cycle (all its years).
    pub verified_t: Tonnes,
}

/// How a company's obligation was derived from its verified emissions.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Obligation {
    pub verified_t: Tonnes,
    pub allocation_t: Tonnes,
    /// Tonnes forgiven because gas units never owe more than their allocation.
    pub gas_relief_t: Tonnes,
    /// Tonnes forgiven by the large-gap rule (obligation ≤ allocation + share × verified).
    pub large_gap_relief_t: Tonnes,
    pub obligation_t: Tonnes,
}

/// The obligation of a company: verified emissions, less the gas-unit relief (per gas unit, the
/// excess of emissions over allocation), capped by the large-gap rule at the company level.
pub fn obligation(units: &[UnitFigures], policy: &CompliancePolicy) -> Obligation {
    // Sums saturate: no real company comes near 2^64 t, and a saturated obligation stays above
    // any holding, so the surrender checks remain on the safe side.
    let verified_t: Tonnes = units.iter().fold(0, |a, u| a.saturating_add(u.verified_t));
    let allocation_t: Tonnes = units
        .iter()
        .fold(0, |a, u| a.saturating_add(u.allocation_t));
    let gas_relief_t: Tonnes = if policy.gas_cap {
        units
            .iter()
            .filter(|u| u.category.is_gas())
            .map(|u| u.verified_t.saturating_sub(u.allocation_t))
            .fold(0, Tonnes::saturating_add)
            .min(verified_t)
    } else {
        0
    };
    let after_gas = verified_t - gas_relief_t;
    let large_gap_relief_t = match policy.large_gap_relief {
        Some(share) => {
            let cap = allocation_t.saturating_add(
                policy
                    .rounding
                    .round_to_tonnes(share * Decimal::from(verified_t)),
            );
            after_gas.saturating_sub(cap)
        }
        None => 0,
    };
    let obligation_t = after_gas - large_gap_relief_t;
    assert!(obligation_t <= verified_t);
    Obligation {
        verified_t,
        allocation_t,
        gas_relief_t,
        large_gap_relief_t,
        obligation_t,
    }
}

/// The most offset credits a company may surrender: the policy's share of its obligation,
/// rounded down (a limit is never exceeded by rounding).
pub fn offset_limit_t(obligation_t: Tonnes, policy: &CompliancePolicy) -> Tonnes {
    let limit = (policy.offset_limit_share * Decimal::from(obligation_t))
        .round_dp_with_strategy(0, RoundingStrategy::ToZero);
    u64::try_from(limit.mantissa()).expect("a share of a tonnage is a non-negative tonnage")
}

/// What a company has surrendered toward one cycle so far.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Surrendered {
    pub allowances_t: Tonnes,
    pub offsets_t: Tonnes,
}

impl Surrendered {
    /// Totals saturate: surrenders are bounded by the obligation, so only a replayed journal
    /// of absurd figures could reach 2^64 t, and it must not panic.
    pub fn total_t(self) -> Tonnes {
        self.allowances_t.saturating_add(self.offsets_t)
    }
    pub fn add(&mut self, class: UnitClass, quantity: Tonnes) {
        if class.is_offset() {
            self.offsets_t = self.offsets_t.saturating_add(quantity);
        } else {
            self.allowances_t = self.allowances_t.saturating_add(quantity);
        }
    }
}

/// Why a surrender is refused by the compliance rules.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SurrenderRejection {
    #[error(
        "{class} is not eligible for this cycle (eligible allowance vintages: {})",
        years(eligible)
    )]
    IneligibleVintage {
        class: UnitClass,
        eligible: Vec<Year>,
    },
    #[error(
        "offset credits of vintage {vintage} are older than the earliest eligible vintage {min}"
    )]
    IneligibleOffsetVintage { vintage: Year, min: Year },
    #[error(
        "offset limit exceeded: {limit_t} t allowed, {used_t} t already used, {requested_t} t requested"
    )]
    OffsetLimitExceeded {
        limit_t: Tonnes,
        used_t: Tonnes,
        requested_t: Tonnes,
    },
    #[error("surrender of {requested_t} t exceeds the {remaining_t} t still owed")]
    ExceedsObligation {
        remaining_t: Tonnes,
        requested_t: Tonnes,
    },
    #[error("the obligation is not yet known: the company's emission report is not accepted")]
    NoObligation,
}

/// Checks one surrender against the cycle's rules, given what was surrendered before.
pub fn check_surrender(
    class: UnitClass,
    quantity: Tonnes,
    obligation_t: Tonnes,
    before: Surrendered,
    policy: &CompliancePolicy,
) -> Result<(), SurrenderRejection> {
    match class {
        UnitClass::Cea { vintage } => {
            if !policy.eligible_vintages.contains(&vintage) {
                return Err(SurrenderRejection::IneligibleVintage {
                    class,
                    eligible: policy.eligible_vintages.clone(),
                });
            }
        }
        UnitClass::Ccer { vintage, .. } => {
            if let Some(min) = policy.offset_min_vintage
                && vintage < min
            {
                return Err(SurrenderRejection::IneligibleOffsetVintage { vintage, min });
            }
            let limit_t = offset_limit_t(obligation_t, policy);
            if before.offsets_t.saturating_add(quantity) > limit_t {
                return Err(SurrenderRejection::OffsetLimitExceeded {
                    limit_t,
                    used_t: before.offsets_t,
                    requested_t: quantity,
                });
            }
        }
    }
    let remaining_t = obligation_t.saturating_sub(before.total_t());
    if quantity > remaining_t {
        return Err(SurrenderRejection::ExceedsObligation {
            remaining_t,
            requested_t: quantity,
        });
    }
    Ok(())
}

/// A company's standing at the end of a cycle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Surrendered at least its obligation.
    Complied,
    /// Surrendered something, but less than its obligation.
    Partly,
    /// Owed something and surrendered nothing.
    NotAtAll,
}

/// The sanction for a shortfall, per the policy: a fine and a deduction from the next allocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Penalty {
    pub fine_cny: u64,
    pub deduction_t: Tonnes,
}

/// One company's compliance result for a cycle.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CompanyResult {
    pub company: CompanyId,
    pub province: String,
    pub allocated_t: Tonnes,
    pub verified_t: Tonnes,
    pub obligation_t: Tonnes,
    /// Allowances and offset credits surrendered toward the obligation.
    pub surrendered_t: Tonnes,
    pub offsets_used_t: Tonnes,
    pub shortfall_t: Tonnes,
    pub status: Status,
    /// Eligible allowances still held after surrender (banked where the policy allows it).
    pub surplus_t: Tonnes,
    pub penalty: Option<Penalty>,
}

/// Status, shortfall and penalty of one company. The penalty reading of the 2021 Measures: the
/// lower fine for a partial shortfall, the upper fine when nothing was surrendered, and the
/// shortfall deducted from the next allocation where the policy says so.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    company: CompanyId,
    province: String,
    obligation: Obligation,
    surrendered: Surrendered,
    holdings_eligible_t: Tonnes,
    policy: &CompliancePolicy,
) -> CompanyResult {
    let surrendered_t = surrendered.total_t();
    let shortfall_t = obligation.obligation_t.saturating_sub(surrendered_t);
    let status = if shortfall_t == 0 {
        Status::Complied
    } else if surrendered_t > 0 {
        Status::Partly
    } else {
        Status::NotAtAll
    };
    let penalty = (shortfall_t > 0).then(|| Penalty {
        fine_cny: if status == Status::NotAtAll {
            policy.penalty.fine_cny_max
        } else {
            policy.penalty.fine_cny_min
        },
        deduction_t: if policy.penalty.deduct_shortfall_next_allocation {
            shortfall_t
        } else {
            0
        },
    });
    CompanyResult {
        company,
        province,
        allocated_t: obligation.allocation_t,
        verified_t: obligation.verified_t,
        obligation_t: obligation.obligation_t,
        surrendered_t,
        offsets_used_t: surrendered.offsets_t,
        shortfall_t,
        status,
        surplus_t: if shortfall_t == 0 {
            holdings_eligible_t
        } else {
            0
        },
        penalty,
    }
}

/// An exact rate: `num / den`. A group that owes nothing has completed everything (1/1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    pub fn new(num: u64, den: u64) -> Ratio {
        if den == 0 {
            Ratio { num: 1, den: 1 }
        } else {
            Ratio { num, den }
        }
    }
    /// The rate as a decimal fraction, rounded half-up to `dp` places.
    pub fn to_decimal(self, dp: u32) -> Decimal {
        (Decimal::from(self.num) / Decimal::from(self.den))
            .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// Totals of a group of companies (a province, or the nation).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Totals {
    pub name: String,
    pub companies: u64,
    pub allocated_t: Tonnes,
    pub verified_t: Tonnes,
    pub obligation_t: Tonnes,
    pub surrendered_t: Tonnes,
    pub offsets_used_t: Tonnes,
    pub shortfall_t: Tonnes,
    pub complied: u64,
    pub partly: u64,
    pub not_at_all: u64,
    pub fines_cny: u64,
    /// Σ min(surrendered, obligation) / Σ obligation.
    pub completion_volume: Ratio,
    /// Companies that complied / companies.
    pub completion_count: Ratio,
}

impl Totals {
    fn new(name: &str) -> Totals {
        Totals {
            name: name.to_string(),
            companies: 0,
            allocated_t: 0,
            verified_t: 0,
            obligation_t: 0,
            surrendered_t: 0,
            offsets_used_t: 0,
            shortfall_t: 0,
            complied: 0,
            partly: 0,
            not_at_all: 0,
            fines_cny: 0,
            completion_volume: Ratio::new(0, 0),
            completion_count: Ratio::new(0, 0),
        }
    }
    fn add(&mut self, r: &CompanyResult, covered: &mut Tonnes) {
        self.companies += 1;
        self.allocated_t += r.allocated_t;
        self.verified_t += r.verified_t;
        self.obligation_t += r.obligation_t;
        self.surrendered_t += r.surrendered_t;
        self.offsets_used_t += r.offsets_used_t;
        self.shortfall_t += r.shortfall_t;
        self.fines_cny += r.penalty.map_or(0, |p| p.fine_cny);
        match r.status {
            Status::Complied => self.complied += 1,
            Status::Partly => self.partly += 1,
            Status::NotAtAll => self.not_at_all += 1,
        }
        *covered += r.surrendered_t.min(r.obligation_t);
    }
}

/// National totals and per-province totals (sorted by province name).
pub fn summarize<'a>(rows: impl IntoIterator<Item = &'a CompanyResult>) -> (Totals, Vec<Totals>) {
    let mut national = Totals::new("China");
    let mut national_covered = 0;
    let mut provinces: BTreeMap<&str, (Totals, Tonnes)> = BTreeMap::new();
    for r in rows {
        national.add(r, &mut national_covered);
        let (t, covered) = provinces
            .entry(&r.province)
            .or_insert_with(|| (Totals::new(&r.province), 0));
        t.add(r, covered);
    }
    let finish = |mut t: Totals, covered: Tonnes| {
        t.completion_volume = Ratio::new(covered, t.obligation_t);
        t.completion_count = Ratio::new(t.complied, t.companies);
        t
    };
    let national = finish(national, national_covered);
    let provinces = provinces.into_values().map(|(t, c)| finish(t, c)).collect();
    (national, provinces)
}
