//! Emissions computed by hand from the formulas of DOMAIN.md §3, and the report workflow.

use ets_mrv::{
    Mrv, MrvError, ReportStatus, Verification, unit_emissions, verified_emissions, verified_total_t,
};
use ets_policy::{MrvRules, Plan, Rounding};
use ets_types::{CompanyId, Date, Decimal, FuelUse, UnitActivity, UnitId};
use rust_decimal_macros::dec;

fn rules() -> MrvRules {
    Plan::builtin("cn-power-2019-2020").unwrap().mrv
}

fn fuel(key: &str, consumption: Decimal) -> FuelUse {
    FuelUse {
        fuel: key.to_string(),
        consumption,
        ncv_gj: None,
        carbon_content_tc_per_gj: None,
        elemental_carbon: None,
        oxidation_rate: None,
    }
}

fn activity(unit: &str, year: u16, fuels: Vec<FuelUse>) -> UnitActivity {
    UnitActivity {
        unit: UnitId::parse(unit).unwrap(),
        year,
        fuels,
        purchased_electricity_mwh: dec!(0),
        power_supplied_mwh: dec!(1000000),
        heat_supplied_gj: dec!(0),
        load_factor: dec!(0.8),
    }
}

#[test]
fn unmeasured_coal_takes_the_high_defaults() {
    // 1000 t bituminous coal, NCV 19.570 GJ/t, CC 0.03356 tC/GJ, OF 0.99 (plan defaults):
    // carbon = 1000 × 19.570 × 0.03356 × 0.99 = 650.201508 tC
    // CO2    = 650.201508 × 44 / 12 = 2384.072196 t → 2384 (half up)
    let e = unit_emissions(
        &activity("G1", 2019, vec![fuel("bituminous_coal", dec!(1000))]),
        &rules(),
    )
    .unwrap();
    assert_eq!(e.combustion, dec!(2384.072196));
    assert_eq!(e.electricity, dec!(0));
    assert_eq!(e.total_t, 2384);
}

#[test]
fn measured_parameters_and_purchased_electricity() {
    // 100,000 t coal, measured NCV 20.0 GJ/t and CC 0.026 tC/GJ, default OF 0.99:
    // carbon = 100000 × 20.0 × 0.026 × 0.99 = 51,480 tC; CO2 = 51480 × 44/12 = 188,760 t
    // electricity = 1,000 MWh × 0.6101 = 610.1 t; total 189,370.1 → 189,370
    let mut f = fuel("bituminous_coal", dec!(100000));
    f.ncv_gj = Some(dec!(20.0));
    f.carbon_content_tc_per_gj = Some(dec!(0.026));
    let mut a = activity("G1", 2019, vec![f]);
    a.purchased_electricity_mwh = dec!(1000);
    let e = unit_emissions(&a, &rules()).unwrap();
    assert_eq!(e.combustion, dec!(188760));
    assert_eq!(e.electricity, dec!(610.1));
    assert_eq!(e.total_t, 189370);

    // The same with purchased electricity left out by the rules: 188,760.
    let mut r = rules();
    r.include_purchased_electricity = false;
    let e = unit_emissions(&a, &r).unwrap();
    assert_eq!((e.electricity, e.total_t), (dec!(0), 188760));
}

#[test]
fn measured_elemental_carbon_replaces_ncv_times_cc() {
    // 1000 t × 0.6 tC/t × OF 0.98 = 588 tC; × 44/12 = 2156 t. NCV and CC are ignored.
    let mut f = fuel("lignite", dec!(1000));
    f.elemental_carbon = Some(dec!(0.6));
    f.oxidation_rate = Some(dec!(0.98));
    f.ncv_gj = Some(dec!(99));
    let e = unit_emissions(&activity("G1", 2019, vec![f]), &rules()).unwrap();
    assert_eq!(e.combustion, dec!(2156));
    assert_eq!(e.total_t, 2156);
}

#[test]
fn gas_and_several_fuels_round_once() {
    // Gas: 1000 × 10^4 Nm3 × 389.31 GJ × 0.01532 tC/GJ × 0.99 = 5904.586908 tC
    //      × 44/12 = 21650.151996 t
    // Oil: 10 t × 41.816 × 0.0211 × 0.98 = 8.64671248 tC → × 44/12 = 31.704612426.. t
    // Carbon summed first: 5913.23362048 tC × 44/12 = 21681.856608426.. t → 21682 (one rounding)
    let a = activity(
        "G1",
        2019,
        vec![fuel("natural_gas", dec!(1000)), fuel("fuel_oil", dec!(10))],
    );
    let e = unit_emissions(&a, &rules()).unwrap();
    assert_eq!(e.combustion.round_dp(6), dec!(21681.856608));
    assert_eq!(e.total_t, 21682);
}

#[test]
fn rounding_follows_the_rules() {
    // 3 t × 0.5 tC/t × OF 1 = 1.5 tC → 5.5 t exactly: half up 6, down 5, up 6.
    let mut f = fuel("coal_gangue", dec!(3));
    f.elemental_carbon = Some(dec!(0.5));
    f.oxidation_rate = Some(dec!(1));
    let a = activity("G1", 2019, vec![f]);
    let mut r = rules();
    for (mode, t) in [
        (Rounding::HalfUp, 6),
        (Rounding::Down, 5),
        (Rounding::Up, 6),
    ] {
        r.rounding = mode;
        let e = unit_emissions(&a, &r).unwrap();
        assert_eq!(e.combustion, dec!(5.5));
        assert_eq!(e.total_t, t, "{mode:?}");
    }
}

#[test]
fn bad_activity_names_unit_and_fuel() {
    let r = rules();
    let err = unit_emissions(
        &activity("SX0001-G1", 2019, vec![fuel("peat", dec!(1))]),
        &r,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SX0001-G1: unknown fuel peat (not in the plan's mrv.fuels)"
    );

    let err = unit_emissions(
        &activity("SX0001-G1", 2019, vec![fuel("anthracite", dec!(-1))]),
        &r,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SX0001-G1: fuel anthracite consumption is negative (-1)"
    );

    let mut f = fuel("anthracite", dec!(1));
    f.oxidation_rate = Some(dec!(1.01));
    let err = unit_emissions(&activity("SX0001-G1", 2019, vec![f]), &r).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SX0001-G1: fuel anthracite oxidation rate 1.01 is above 1"
    );

    let mut a = activity("SX0001-G1", 2019, vec![]);
    a.purchased_electricity_mwh = dec!(-3);
    let err = unit_emissions(&a, &r).unwrap_err();
    assert!(matches!(err, MrvError::Negative { .. }), "{err}");

    let mut f = fuel("anthracite", dec!(70000000000000000000000000));
    f.ncv_gj = Some(dec!(70000000000000000000));
    let err = unit_emissions(&activity("SX0001-G1", 2019, vec![f]), &r).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SX0001-G1: emissions overflow the decimal range"
    );
}

fn co() -> CompanyId {
    CompanyId::parse("SX0001").unwrap()
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn units(year: u16, tonnes: Decimal) -> Vec<UnitActivity> {
    let mut f = fuel("coal_gangue", tonnes);
    f.elemental_carbon = Some(dec!(0.3));
    f.oxidation_rate = Some(dec!(1));
    vec![
        activity("SX0001-G1", year, vec![f]),
        activity("SX0001-G2", year, vec![fuel("natural_gas", dec!(0))]),
    ]
}

fn verification(units: Vec<UnitActivity>, on: &str) -> Verification {
    Verification {
        verifier: "Shanxi GHG assessment centre".into(),
        units,
        findings: vec![],
        verified_on: d(on),
    }
}

#[test]
fn workflow_happy_path_and_correction() {
    let mut m = Mrv::default();
    let c = co();
    assert_eq!(m.save_draft(&c, 2019, units(2019, dec!(1000))).unwrap(), 1);
    // Editing a draft keeps the version.
    assert_eq!(m.save_draft(&c, 2019, units(2019, dec!(1100))).unwrap(), 1);
    assert_eq!(m.submit(&c, 2019, d("2020-03-31")).unwrap(), 1);
    // The verifier finds 1200 t of gangue burnt, not 1100.
    m.record_verification(
        &c,
        2019,
        verification(units(2019, dec!(1200)), "2020-06-30"),
    )
    .unwrap();
    assert_eq!(m.accepted(&c, 2019), None);
    m.accept(&c, 2019, d("2020-07-15")).unwrap();

    let r = m.accepted(&c, 2019).unwrap();
    assert_eq!(
        (r.version, r.status, r.accepted_on),
        (1, ReportStatus::Accepted, Some(d("2020-07-15")))
    );
    // Verified figures, not reported ones: 1200 t × 0.3 × 1 = 360 tC × 44/12 = 1320 t; gas unit 0.
    let e = verified_emissions(r, &rules()).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].0.as_str(), "SX0001-G1");
    assert_eq!(e[0].1.total_t, 1320);
    assert_eq!(verified_total_t(r, &rules()).unwrap(), 1320);

    // A correction opens version 2 as a draft; version 1 stays the accepted one meanwhile.
    assert_eq!(
        m.correct(
            &c,
            2019,
            units(2019, dec!(1250)),
            "meter recalibrated".into()
        )
        .unwrap(),
        2
    );
    assert_eq!(m.current(&c, 2019).unwrap().status, ReportStatus::Draft);
    assert_eq!(
        m.current(&c, 2019).unwrap().correction_reason.as_deref(),
        Some("meter recalibrated")
    );
    assert_eq!(m.accepted(&c, 2019).unwrap().version, 1);
    assert_eq!(m.history(&c, 2019).len(), 2);
    assert_eq!(m.history(&c, 2019)[0].status, ReportStatus::Accepted);

    m.submit(&c, 2019, d("2020-09-01")).unwrap();
    m.record_verification(
        &c,
        2019,
        verification(units(2019, dec!(1250)), "2020-09-10"),
    )
    .unwrap();
    m.accept(&c, 2019, d("2020-09-20")).unwrap();
    let r = m.accepted(&c, 2019).unwrap();
    // 1250 × 0.3 = 375 tC × 44/12 = 1375 t.
    assert_eq!(
        (r.version, verified_total_t(r, &rules()).unwrap()),
        (2, 1375)
    );
    assert_eq!(m.reports().count(), 1);
}

#[test]
fn reports_iterate_in_company_then_year_order() {
    let mut m = Mrv::default();
    let b = CompanyId::parse("SX0002").unwrap();
    m.save_draft(&b, 2019, units(2019, dec!(1))).unwrap();
    m.save_draft(&co(), 2020, units(2020, dec!(1))).unwrap();
    m.save_draft(&co(), 2019, units(2019, dec!(1))).unwrap();
    let keys: Vec<(String, u16)> = m
        .reports()
        .map(|r| (r.company.to_string(), r.year))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("SX0001".into(), 2019),
            ("SX0001".into(), 2020),
            ("SX0002".into(), 2019)
        ]
    );
    // Clone + PartialEq: a copy is equal until one side changes.
    let copy = m.clone();
    assert_eq!(copy, m);
    m.submit(&b, 2019, d("2020-03-01")).unwrap();
    assert_ne!(copy, m);
}

#[test]
fn transitions_out_of_order_are_refused() {
    let mut m = Mrv::default();
    let c = co();
    let err = m.submit(&c, 2019, d("2020-03-31")).unwrap_err();
    assert_eq!(err.to_string(), "report SX0001 2019: no report");
    m.save_draft(&c, 2019, units(2019, dec!(1))).unwrap();
    let err = m.accept(&c, 2019, d("2020-03-31")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: cannot accept a report that is draft"
    );
    let err = m
        .record_verification(&c, 2019, verification(units(2019, dec!(1)), "2020-06-30"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            MrvError::InvalidTransition {
                from: ReportStatus::Draft,
                ..
            }
        ),
        "{err}"
    );
    let err = m
        .correct(&c, 2019, units(2019, dec!(2)), "x".into())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: cannot correct a report that is draft"
    );

    m.submit(&c, 2019, d("2020-03-31")).unwrap();
    let err = m.submit(&c, 2019, d("2020-04-01")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: cannot submit a report that is submitted"
    );
    let err = m.save_draft(&c, 2019, units(2019, dec!(1))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: cannot save a draft of a report that is submitted"
    );
    let err = m.accept(&c, 2019, d("2020-07-01")).unwrap_err();
    assert!(matches!(
        err,
        MrvError::InvalidTransition {
            from: ReportStatus::Submitted,
            action: "accept",
            ..
        }
    ));

    // Dates must not run backwards.
    let err = m
        .record_verification(&c, 2019, verification(units(2019, dec!(1)), "2020-03-30"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: verification on 2020-03-30 is before 2020-03-31"
    );
    m.record_verification(&c, 2019, verification(units(2019, dec!(1)), "2020-06-30"))
        .unwrap();
    let err = m
        .record_verification(&c, 2019, verification(units(2019, dec!(1)), "2020-06-30"))
        .unwrap_err();
    assert!(matches!(
        err,
        MrvError::InvalidTransition {
            from: ReportStatus::Verified,
            ..
        }
    ));
    let err = m.accept(&c, 2019, d("2020-06-29")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: acceptance on 2020-06-29 is before 2020-06-30"
    );
    m.accept(&c, 2019, d("2020-07-01")).unwrap();
    let err = m.accept(&c, 2019, d("2020-07-02")).unwrap_err();
    assert!(matches!(
        err,
        MrvError::InvalidTransition {
            from: ReportStatus::Accepted,
            ..
        }
    ));
    let err = m
        .correct(&c, 2019, units(2019, dec!(2)), " ".into())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: correction reason must not be empty"
    );
}

#[test]
fn invalid_units_are_refused() {
    let mut m = Mrv::default();
    let c = co();
    let err = m.save_draft(&c, 2019, vec![]).unwrap_err();
    assert_eq!(err.to_string(), "report SX0001 2019: no units");
    let mut dup = units(2019, dec!(1));
    dup[1].unit = dup[0].unit.clone();
    let err = m.save_draft(&c, 2019, dup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: unit SX0001-G1 appears more than once"
    );
    let err = m.save_draft(&c, 2019, units(2020, dec!(1))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: unit SX0001-G1 carries data of year 2020"
    );
    let mut neg = units(2019, dec!(1));
    neg[1].power_supplied_mwh = dec!(-5);
    let err = m.save_draft(&c, 2019, neg).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit SX0001-G2: power_supplied_mwh is negative (-5)"
    );
    assert!(
        m.current(&c, 2019).is_none(),
        "a refused draft leaves no trace"
    );
    assert!(m.history(&c, 2019).is_empty());

    m.save_draft(&c, 2019, units(2019, dec!(1))).unwrap();
    m.submit(&c, 2019, d("2020-03-31")).unwrap();
    let mut fewer = units(2019, dec!(1));
    fewer.pop();
    let err = m
        .record_verification(&c, 2019, verification(fewer, "2020-06-30"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: verification covers different units than the report (not verified: [SX0001-G2]; not reported: [])"
    );
    let mut v = verification(units(2019, dec!(1)), "2020-06-30");
    v.verifier = String::new();
    let err = m.record_verification(&c, 2019, v).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019: verifier must not be empty"
    );
    let err = verified_emissions(m.current(&c, 2019).unwrap(), &rules()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "report SX0001 2019 version 1: not verified"
    );
}
