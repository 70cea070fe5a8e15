//! Allocations checked against hand computations from the 2019-2020 plan's formula
//! (benchmarks 0.877 / 0.979 / 1.146 / 0.392 tCO2/MWh, heat 0.126 / 0.059 tCO2/GJ, air cooling
//! 1.05, heat-supply coefficients 0.22 (coal) / 0.6 (gas), factors rounded half up to 4 dp,
//! tonnes rounded half up once per unit).

use ets_allocation::{
    AllocationError, CompanyAllocation, TrueUp, company_allocation, company_pre_allocation,
    heat_supply_ratio, load_factor_correction, unit_allocation, unit_pre_allocation,
};
use ets_policy::{AllocationPolicy, Plan, Rounding};
use ets_types::{CompanyId, Cooling, Decimal, GeneratingUnit, UnitActivity, UnitCategory, UnitId};
use rust_decimal_macros::dec;

fn policy() -> AllocationPolicy {
    Plan::builtin("cn-power-2019-2020").unwrap().allocation
}

fn unit(id: &str, category: UnitCategory, cooling: Cooling) -> GeneratingUnit {
    GeneratingUnit {
        id: UnitId::parse(id).unwrap(),
        company: CompanyId::parse("SX0001").unwrap(),
        category,
        capacity_mw: 600,
        cooling,
    }
}

fn act(id: &str, year: u16, power_mwh: Decimal, heat_gj: Decimal, load: Decimal) -> UnitActivity {
    UnitActivity {
        unit: UnitId::parse(id).unwrap(),
        year,
        fuels: vec![],
        purchased_electricity_mwh: dec!(0),
        power_supplied_mwh: power_mwh,
        heat_supplied_gj: heat_gj,
        load_factor: load,
    }
}

#[track_caller]
fn check_load(f: Decimal, expected: Decimal) {
    assert_eq!(
        load_factor_correction(f, &policy()).unwrap(),
        expected,
        "F = {f}"
    );
}

#[test]
fn load_factor_bands() {
    // F >= 85 %: 1.
    check_load(dec!(0.90), dec!(1));
    check_load(dec!(1), dec!(1)); // the last band holds F = 1
    check_load(dec!(0.85), dec!(1)); // edge: 0.85 is in the top band (1 + 0.0014 × 0 = 1 too)
    // 80 % <= F < 85 %: 1 + 0.0014 × (85 − 100F)
    check_load(dec!(0.82), dec!(1.0042)); // 1 + 0.0014 × 3
    check_load(dec!(0.849999), dec!(1.0000)); // 1 + 0.0014 × 0.0001 = 1.00000014 → 1.0000
    check_load(dec!(0.80), dec!(1.0070)); // edge: 1 + 0.0014 × 5 = 1.007
    // 75 % <= F < 80 %: 1.007 + 0.0016 × (80 − 100F)
    check_load(dec!(0.7999), dec!(1.0070)); // 1.007 + 0.0016 × 0.01 = 1.007016 → 1.0070
    check_load(dec!(0.78), dec!(1.0102)); // 1.007 + 0.0016 × 2
    check_load(dec!(0.75), dec!(1.0150)); // edge: 1.007 + 0.0016 × 5 = 1.015
    // F < 75 %: 1.015^(16 − 20F)
    check_load(dec!(0.74999), dec!(1.0150)); // 1.015^1.0002 = 1.0150030.. → 1.0150
    check_load(dec!(0.72), dec!(1.0241)); // 1.015^1.6 = 1.0241077.. → 1.0241
    check_load(dec!(0.70), dec!(1.0302)); // 1.015^2 = 1.030225 → 1.0302
    check_load(dec!(0.5), dec!(1.0934)); // 1.015^6 = 1.0934432.. → 1.0934
    check_load(dec!(0), dec!(1.2690)); // 1.015^16 = 1.2689855.. → 1.2690

    assert_eq!(
        load_factor_correction(dec!(1.01), &policy())
            .unwrap_err()
            .to_string(),
        "load factor 1.01 is outside 0..=1"
    );
    assert!(matches!(
        load_factor_correction(dec!(-0.01), &policy()),
        Err(AllocationError::LoadFactorOutOfRange { .. })
    ));
}

#[test]
fn factor_decimals_are_data() {
    // With 6 decimals: 1.015^1.6 = 1.02410778.. → 1.024108.
    let mut p = policy();
    p.factor_decimals = 6;
    assert_eq!(
        load_factor_correction(dec!(0.72), &p).unwrap(),
        dec!(1.024108)
    );
}

#[test]
fn water_and_air_cooled_power_only_units() {
    let p = policy();
    // Water, F = 0.90: 0.877 × 3,000,000 × 1 × 1 × 1 = 2,631,000.
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        &act("G1", 2019, dec!(3000000), dec!(0), dec!(0.90)),
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(
        (a.cooling_factor, a.heat_factor, a.load_factor_factor),
        (dec!(1), dec!(1), dec!(1))
    );
    assert_eq!(a.supply_t, dec!(2631000));
    assert_eq!(a.total_t, 2_631_000);
    // Air: × 1.05 = 2,762,550.
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Air),
        &act("G1", 2019, dec!(3000000), dec!(0), dec!(0.90)),
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(a.cooling_factor, dec!(1.05));
    assert_eq!(a.total_t, 2_762_550);
}

#[test]
fn load_factor_in_the_allocation() {
    // Coal <= 300 MW, water, F = 0.78: 0.979 × 1,000,000 × 1.0102 = 988,985.8 → 988,986.
    let a = unit_allocation(
        &unit("G2", UnitCategory::CoalUpTo300, Cooling::Water),
        &act("G2", 2020, dec!(1000000), dec!(0), dec!(0.78)),
        2020,
        &policy(),
    )
    .unwrap();
    assert_eq!(a.load_factor_factor, dec!(1.0102));
    assert_eq!(a.supply_t, dec!(988985.8));
    assert_eq!(a.total_t, 988_986);

    // Unconventional coal is not load-corrected: F = 0.6 gives 1, air 1.05:
    // 1.146 × 100,000 × 1.05 = 120,330.
    let a = unit_allocation(
        &unit("G3", UnitCategory::CoalUnconventional, Cooling::Air),
        &act("G3", 2019, dec!(100000), dec!(0), dec!(0.6)),
        2019,
        &policy(),
    )
    .unwrap();
    assert_eq!(
        (a.cooling_factor, a.load_factor_factor, a.total_t),
        (dec!(1.05), dec!(1), 120_330)
    );

    // A load factor above 1 is refused for a corrected category, naming the unit.
    let err = unit_allocation(
        &unit("G2", UnitCategory::CoalUpTo300, Cooling::Water),
        &act("G2", 2020, dec!(1), dec!(0), dec!(1.2)),
        2020,
        &policy(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "unit G2: load factor 1.2 is outside 0..=1");
}

#[test]
fn chp_heat_supply_factor_coal() {
    let p = policy();
    // power 2,000,000 MWh, heat 1,800,000 GJ: ratio = 1.8M / (1.8M + 3.6 × 2M) = 0.2
    // heat factor = 1 − 0.22 × 0.2 = 0.956
    // supply = 0.877 × 2,000,000 × 0.956 = 1,676,824; heat = 0.126 × 1,800,000 = 226,800
    // total = 1,903,624
    let ua = act("G1", 2019, dec!(2000000), dec!(1800000), dec!(0.90));
    assert_eq!(heat_supply_ratio(&ua, &p), Some(dec!(0.2)));
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        &ua,
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(a.heat_factor, dec!(0.956));
    assert_eq!(a.supply_t, dec!(1676824));
    assert_eq!(a.heat_t, dec!(226800));
    assert_eq!(a.total_t, 1_903_624);

    // An inexact ratio: power 1,000,000, heat 1,000,000: ratio = 1 / 4.6 = 0.2173913..;
    // factor = 1 − 0.22 × 0.2173913.. = 0.95217391.. → 0.9522
    // supply = 0.877 × 1,000,000 × 0.9522 = 835,079.4; heat 126,000; total 961,079.4 → 961,079
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        &act("G1", 2019, dec!(1000000), dec!(1000000), dec!(0.90)),
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(a.heat_factor, dec!(0.9522));
    assert_eq!(a.total_t, 961_079);

    // Heat only (no power): ratio 1, factor 0.78, supply 0; heat 0.126 × 1000 = 126.
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        &act("G1", 2019, dec!(0), dec!(1000), dec!(0.90)),
        2019,
        &p,
    )
    .unwrap();
    assert_eq!((a.heat_factor, a.total_t), (dec!(0.78), 126));
    // Nothing supplied: ratio 0, factor 1, allocation 0.
    let a = unit_allocation(
        &unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        &act("G1", 2019, dec!(0), dec!(0), dec!(0)),
        2019,
        &p,
    )
    .unwrap();
    assert_eq!((a.heat_factor, a.total_t), (dec!(1), 0));
}

#[test]
fn gas_unit_chp_without_load_factor() {
    // Gas, air cooled (1.00 for gas), F = 0.5 ignored: power 500,000 MWh, heat 600,000 GJ
    // ratio = 600,000 / (600,000 + 3.6 × 500,000) = 0.25; factor = 1 − 0.6 × 0.25 = 0.85
    // supply = 0.392 × 500,000 × 0.85 = 166,600; heat = 0.059 × 600,000 = 35,400; total 202,000
    let a = unit_allocation(
        &unit("G4", UnitCategory::Gas, Cooling::Air),
        &act("G4", 2020, dec!(500000), dec!(600000), dec!(0.5)),
        2020,
        &policy(),
    )
    .unwrap();
    assert_eq!(
        (a.cooling_factor, a.heat_factor, a.load_factor_factor),
        (dec!(1), dec!(0.85), dec!(1))
    );
    assert_eq!((a.supply_t, a.heat_t), (dec!(166600), dec!(35400)));
    assert_eq!(a.total_t, 202_000);
}

#[test]
fn rounding_to_tonnes_is_data() {
    // 0.877 × 500 = 438.5: half up 439, down 438, up 439.
    let u = unit("G1", UnitCategory::CoalAbove300, Cooling::Water);
    let ua = act("G1", 2019, dec!(500), dec!(0), dec!(0.9));
    let mut p = policy();
    for (mode, t) in [
        (Rounding::HalfUp, 439),
        (Rounding::Down, 438),
        (Rounding::Up, 439),
    ] {
        p.rounding = mode;
        assert_eq!(
            unit_allocation(&u, &ua, 2019, &p).unwrap().total_t,
            t,
            "{mode:?}"
        );
    }
}

#[test]
fn pre_allocation_at_seventy_percent() {
    // 2018 base output, air-cooled coal > 300 MW: power 3,000,000 MWh, heat 900,000 GJ, F = 0.70.
    // Pre-allocation factors (plan): cooling and heat supply; load factor not applied (1).
    // ratio = 0.9M / (0.9M + 10.8M) = 0.0769230..; heat factor = 1 − 0.22 × 0.0769230.. =
    //   0.98307692.. → 0.9831
    // supply = 0.70 × 0.877 × 3,000,000 × 1.05 × 0.9831 = 1,901,104.0335
    // heat   = 0.70 × 0.126 × 900,000 = 79,380
    // total  = 1,980,484.0335 → 1,980,484
    let u = unit("G1", UnitCategory::CoalAbove300, Cooling::Air);
    let base = act("G1", 2018, dec!(3000000), dec!(900000), dec!(0.70));
    let a = unit_pre_allocation(&u, &base, 2019, &policy()).unwrap();
    assert_eq!(a.year, 2019);
    assert_eq!(
        (a.cooling_factor, a.heat_factor, a.load_factor_factor),
        (dec!(1.05), dec!(0.9831), dec!(1))
    );
    assert_eq!(a.supply_t, dec!(1901104.0335));
    assert_eq!(a.heat_t, dec!(79380));
    assert_eq!(a.total_t, 1_980_484);

    // With the load factor listed too (a plan variant): × 1.0302 (F = 0.70) on the supply part:
    // 1,901,104.0335 × 1.0302 = 1,958,517.37531 + 79,380 = 2,037,897.37531 → 2,037,897
    let mut p = policy();
    p.pre_allocation
        .factors
        .push(ets_policy::CorrectionFactor::LoadFactor);
    let a = unit_pre_allocation(&u, &base, 2019, &p).unwrap();
    assert_eq!((a.load_factor_factor, a.total_t), (dec!(1.0302), 2_037_897));

    // Base-year data of another year are refused.
    let err = unit_pre_allocation(
        &u,
        &act("G1", 2019, dec!(1), dec!(0), dec!(0.9)),
        2019,
        &policy(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit G1: activity data are of year 2019, expected 2018"
    );
}

fn two_units() -> Vec<GeneratingUnit> {
    vec![
        unit("G1", UnitCategory::CoalAbove300, Cooling::Water),
        unit("G4", UnitCategory::Gas, Cooling::Air),
    ]
}

#[test]
fn company_sums_units_and_true_up_both_ways() {
    let p = policy();
    let co = CompanyId::parse("SX0001").unwrap();
    // 2019 final: G1 0.877 × 3,000,000 = 2,631,000; G4 (case above) 202,000; total 2,833,000.
    let fin = company_allocation(
        &co,
        &two_units(),
        &[
            act("G4", 2019, dec!(500000), dec!(600000), dec!(0.5)),
            act("G1", 2019, dec!(3000000), dec!(0), dec!(0.90)),
        ],
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(
        fin.units.iter().map(|u| u.total_t).collect::<Vec<_>>(),
        vec![2_631_000, 202_000]
    );
    assert_eq!(fin.total_t, 2_833_000);

    // Pre-allocation from 2018: G1 0.7 × 0.877 × 2,000,000 = 1,227,800;
    // G4 0.7 × (0.392 × 500,000 × 0.85 + 0.059 × 600,000) = 0.7 × 202,000 = 141,400; Σ 1,369,200.
    let pre = company_pre_allocation(
        &co,
        &two_units(),
        &[
            act("G1", 2018, dec!(2000000), dec!(0), dec!(0.90)),
            act("G4", 2018, dec!(500000), dec!(600000), dec!(0.5)),
        ],
        2019,
        &p,
    )
    .unwrap();
    assert_eq!(pre.total_t, 1_369_200);

    // Output rose: issue 2,833,000 − 1,369,200 = 1,463,800.
    let t = TrueUp::new(&pre, &fin).unwrap();
    assert_eq!((t.pre_allocated_t, t.final_t), (1_369_200, 2_833_000));
    assert_eq!((t.to_issue_t(), t.to_return_t()), (1_463_800, 0));

    // Output collapsed: final 1,000,000 below pre-allocated 1,369,200: return 369,200.
    let t = TrueUp {
        company: co.clone(),
        year: 2019,
        pre_allocated_t: 1_369_200,
        final_t: 1_000_000,
    };
    assert_eq!((t.to_issue_t(), t.to_return_t()), (0, 369_200));
    let t = TrueUp {
        company: co.clone(),
        year: 2019,
        pre_allocated_t: 5,
        final_t: 5,
    };
    assert_eq!((t.to_issue_t(), t.to_return_t()), (0, 0));

    let other = CompanyAllocation {
        year: 2020,
        ..pre.clone()
    };
    assert_eq!(
        TrueUp::new(&other, &fin).unwrap_err().to_string(),
        "true-up of SX0001 2019: pre-allocation is for SX0001 2020"
    );
}

#[test]
fn company_errors() {
    let p = policy();
    let co = CompanyId::parse("SX0001").unwrap();
    let err = company_allocation(
        &co,
        &two_units(),
        &[act("G1", 2019, dec!(1), dec!(0), dec!(0.9))],
        2019,
        &p,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "company SX0001: no activity data for unit G4"
    );
    let err = company_allocation(
        &co,
        &two_units(),
        &[act("G9", 2019, dec!(1), dec!(0), dec!(0.9))],
        2019,
        &p,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "company SX0001: activity data for unit G9, which is not one of its units"
    );
    let mut units = two_units();
    units[1].company = CompanyId::parse("SX0002").unwrap();
    let err = company_allocation(&co, &units, &[], 2019, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "company SX0001: unit G4 belongs to company SX0002"
    );
    let err = company_allocation(&co, &[], &[], 2019, &p).unwrap_err();
    assert_eq!(err.to_string(), "company SX0001: no units");
}

#[test]
fn unit_errors() {
    let p = policy();
    let u = unit("G1", UnitCategory::CoalAbove300, Cooling::Water);
    let err =
        unit_allocation(&u, &act("G2", 2019, dec!(1), dec!(0), dec!(0.9)), 2019, &p).unwrap_err();
    assert_eq!(err.to_string(), "unit G1: activity data belong to unit G2");
    let err =
        unit_allocation(&u, &act("G1", 2020, dec!(1), dec!(0), dec!(0.9)), 2019, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit G1: activity data are of year 2020, expected 2019"
    );
    let err =
        unit_allocation(&u, &act("G1", 2021, dec!(1), dec!(0), dec!(0.9)), 2021, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit G1: the plan has no coal_above_300 benchmark for 2021"
    );
    let err =
        unit_allocation(&u, &act("G1", 2019, dec!(-1), dec!(0), dec!(0.9)), 2019, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit G1: power_supplied_mwh is negative (-1)"
    );

    // A hand-built policy with a gap between bands is reported, not a panic.
    let mut gap = policy();
    gap.load_factor.bands[1].min = dec!(0.76);
    assert_eq!(
        load_factor_correction(dec!(0.755), &gap)
            .unwrap_err()
            .to_string(),
        "load factor 0.755: no band of the plan holds it"
    );
}

#[test]
fn second_cycle_benchmarks_apply_by_year() {
    // 2021-22 plan, coal > 300 MW, water, F = 0.9: 2021 0.8218 × 1,000,000 = 821,800;
    // 2022 0.8177 × 1,000,000 = 817,700.
    let p = Plan::builtin("cn-power-2021-2022").unwrap().allocation;
    let u = unit("G1", UnitCategory::CoalAbove300, Cooling::Water);
    let a21 = unit_allocation(
        &u,
        &act("G1", 2021, dec!(1000000), dec!(0), dec!(0.9)),
        2021,
        &p,
    )
    .unwrap();
    let a22 = unit_allocation(
        &u,
        &act("G1", 2022, dec!(1000000), dec!(0), dec!(0.9)),
        2022,
        &p,
    )
    .unwrap();
    assert_eq!((a21.total_t, a22.total_t), (821_800, 817_700));
}
