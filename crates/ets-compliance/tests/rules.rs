//! The surrender rules of the first cycle's plan, case by case, each computed by hand.

use ets_compliance::*;
use ets_policy::{CompliancePolicy, Plan};
use ets_types::{CompanyId, UnitCategory, UnitClass, UnitId};
use rust_decimal::Decimal;

fn policy() -> CompliancePolicy {
    Plan::builtin("cn-power-2019-2020")
        .expect("shipped plan")
        .compliance
}

fn unit(n: u32, category: UnitCategory, allocation_t: u64, verified_t: u64) -> UnitFigures {
    UnitFigures {
        unit: UnitId::parse(&format!("U{n}")).unwrap(),
        category,
        allocation_t,
        verified_t,
    }
}

const CEA19: UnitClass = UnitClass::Cea { vintage: 2019 };

#[test]
fn obligation_is_verified_emissions_when_the_gap_is_small() {
    // A 10 % gap: 1,000,000 allocated, 1,100,000 emitted; the cap 1,000,000 + 220,000 does not bite.
    let o = obligation(
        &[unit(1, UnitCategory::CoalAbove300, 1_000_000, 1_100_000)],
        &policy(),
    );
    assert_eq!(o.obligation_t, 1_100_000);
    assert_eq!((o.gas_relief_t, o.large_gap_relief_t), (0, 0));
}

#[test]
fn large_gap_rule_caps_the_obligation_at_allocation_plus_20_percent_of_verified() {
    // 600,000 allocated, 1,000,000 emitted: cap = 600,000 + 0.20 × 1,000,000 = 800,000.
    let o = obligation(
        &[unit(1, UnitCategory::CoalUpTo300, 600_000, 1_000_000)],
        &policy(),
    );
    assert_eq!(o.obligation_t, 800_000);
    assert_eq!(o.large_gap_relief_t, 200_000);
    // Exactly at the cap: 800,000 allocated... no: 700,000 allocated, 875,000 emitted:
    // cap = 700,000 + 175,000 = 875,000 = verified, so no relief.
    let o = obligation(
        &[unit(1, UnitCategory::CoalUpTo300, 700_000, 875_000)],
        &policy(),
    );
    assert_eq!((o.obligation_t, o.large_gap_relief_t), (875_000, 0));
    // Rounding down: 0.20 × 1,000,003 = 200,000.6 -> 200,000; cap 300,000 + 200,000 = 500,000.
    let o = obligation(
        &[unit(1, UnitCategory::CoalUpTo300, 300_000, 1_000_003)],
        &policy(),
    );
    assert_eq!(o.obligation_t, 500_000);
    // Switched off in the policy, the whole gap is owed.
    let mut p = policy();
    p.large_gap_relief = None;
    let o = obligation(
        &[unit(1, UnitCategory::CoalUpTo300, 600_000, 1_000_000)],
        &p,
    );
    assert_eq!(o.obligation_t, 1_000_000);
}

#[test]
fn gas_units_never_owe_more_than_their_allocation() {
    // Gas unit: 400,000 allocated, 450,000 emitted -> owes 400,000. Coal unit beside it owes all
    // its 900,000 (allocation 880,000; the company cap 1,280,000 + 270,000 does not bite).
    let units = [
        unit(1, UnitCategory::Gas, 400_000, 450_000),
        unit(2, UnitCategory::CoalAbove300, 880_000, 900_000),
    ];
    let o = obligation(&units, &policy());
    assert_eq!(o.gas_relief_t, 50_000);
    assert_eq!(o.obligation_t, 1_300_000);
    // A gas unit in surplus owes its emissions.
    let o = obligation(&[unit(1, UnitCategory::Gas, 400_000, 350_000)], &policy());
    assert_eq!(o.obligation_t, 350_000);
    let mut p = policy();
    p.gas_cap = false;
    assert_eq!(
        obligation(&[unit(1, UnitCategory::Gas, 400_000, 450_000)], &p).obligation_t,
        450_000
    );
}

#[test]
fn offsets_are_limited_to_5_percent_of_the_obligation() {
    let p = policy();
    let ccer = UnitClass::Ccer {
        project: 7,
        vintage: 2017,
    };
    // 1,000,019 t owed: limit = floor(50,000.95) = 50,000.
    assert_eq!(offset_limit_t(1_000_019, &p), 50_000);
    let none = Surrendered::default();
    assert_eq!(check_surrender(ccer, 50_000, 1_000_019, none, &p), Ok(()));
    assert_eq!(
        check_surrender(ccer, 50_001, 1_000_019, none, &p),
        Err(SurrenderRejection::OffsetLimitExceeded {
            limit_t: 50_000,
            used_t: 0,
            requested_t: 50_001
        })
    );
    // The limit counts offsets already surrendered.
    let some = Surrendered {
        allowances_t: 0,
        offsets_t: 49_000,
    };
    assert_eq!(
        check_surrender(ccer, 1_001, 1_000_019, some, &p),
        Err(SurrenderRejection::OffsetLimitExceeded {
            limit_t: 50_000,
            used_t: 49_000,
            requested_t: 1_001
        })
    );
    assert_eq!(check_surrender(ccer, 1_000, 1_000_019, some, &p), Ok(()));
}

#[test]
fn only_eligible_vintages_and_no_more_than_is_owed() {
    let p = policy();
    let none = Surrendered::default();
    let cea18 = UnitClass::Cea { vintage: 2018 };
    let cea21 = UnitClass::Cea { vintage: 2021 };
    for class in [cea18, cea21] {
        assert_eq!(
            check_surrender(class, 10, 1_000, none, &p),
            Err(SurrenderRejection::IneligibleVintage {
                class,
                eligible: vec![2019, 2020]
            })
        );
    }
    assert_eq!(check_surrender(CEA19, 1_000, 1_000, none, &p), Ok(()));
    let part = Surrendered {
        allowances_t: 990,
        offsets_t: 0,
    };
    assert_eq!(
        check_surrender(CEA19, 11, 1_000, part, &p),
        Err(SurrenderRejection::ExceedsObligation {
            remaining_t: 10,
            requested_t: 11
        })
    );
    let mut p2 = p.clone();
    p2.offset_min_vintage = Some(2013);
    assert_eq!(
        check_surrender(
            UnitClass::Ccer {
                project: 1,
                vintage: 2012
            },
            1,
            1_000,
            none,
            &p2
        ),
        Err(SurrenderRejection::IneligibleOffsetVintage {
            vintage: 2012,
            min: 2013
        })
    );
}

#[test]
fn status_penalty_and_rates() {
    let p = policy();
    let o = |t| Obligation {
        verified_t: t,
        allocation_t: t,
        obligation_t: t,
        ..Obligation::default()
    };
    let c = |s: &str| CompanyId::parse(s).unwrap();
    let full = assess(
        c("A1"),
        "Shanxi".into(),
        o(1_000),
        Surrendered {
            allowances_t: 950,
            offsets_t: 50,
        },
        200,
        &p,
    );
    let part = assess(
        c("A2"),
        "Shanxi".into(),
        o(1_000),
        Surrendered {
            allowances_t: 600,
            offsets_t: 0,
        },
        0,
        &p,
    );
    let none = assess(
        c("B1"),
        "Hubei".into(),
        o(2_000),
        Surrendered::default(),
        0,
        &p,
    );
    assert_eq!(
        (full.status, full.shortfall_t, full.penalty, full.surplus_t),
        (Status::Complied, 0, None, 200)
    );
    assert_eq!(part.status, Status::Partly);
    assert_eq!(
        part.penalty,
        Some(Penalty {
            fine_cny: 20_000,
            deduction_t: 400
        })
    );
    assert_eq!(none.status, Status::NotAtAll);
    assert_eq!(
        none.penalty,
        Some(Penalty {
            fine_cny: 30_000,
            deduction_t: 2_000
        })
    );
    let (nation, provinces) = summarize([&full, &part, &none]);
    // By volume: (1,000 + 600 + 0) / 4,000 = 0.4; by count: 1 / 3.
    assert_eq!(
        nation.completion_volume,
        Ratio {
            num: 1_600,
            den: 4_000
        }
    );
    assert_eq!(nation.completion_volume.to_decimal(4), Decimal::new(4, 1));
    assert_eq!(nation.completion_count.to_decimal(4), Decimal::new(3333, 4));
    assert_eq!(nation.fines_cny, 50_000);
    let names: Vec<&str> = provinces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Hubei", "Shanxi"]);
    assert_eq!(
        provinces[1].completion_volume,
        Ratio {
            num: 1_600,
            den: 2_000
        }
    );
    // Nothing owed counts as complete.
    assert_eq!(Ratio::new(0, 0).to_decimal(2), Decimal::ONE);
}
