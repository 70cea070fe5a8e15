//! Shared setup of the store tests: a two-company market run to the true-up.
#![allow(dead_code)]

use ets_market::{Command, Envelope};
use ets_store::Store;
use ets_types::*;

pub fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}
pub fn env(date: &str, command: Command) -> Envelope {
    Envelope {
        date: d(date),
        initiator: "test".into(),
        key: None,
        reason: "test".into(),
        command,
    }
}
pub fn cid(s: &str) -> CompanyId {
    CompanyId::parse(s).unwrap()
}

/// A coal unit's activity: `coal_t` of bituminous coal at measured carbon content, supplying
/// `mwh` at load factor `lf`.
pub fn activity(unit: &str, year: Year, coal_t: &str, mwh: &str, lf: &str) -> UnitActivity {
    UnitActivity {
        unit: UnitId::parse(unit).unwrap(),
        year,
        fuels: vec![FuelUse {
            fuel: "bituminous_coal".into(),
            consumption: dec(coal_t),
            ncv_gj: Some(dec("21.5")),
            carbon_content_tc_per_gj: Some(dec("0.0262")),
            elemental_carbon: None,
            oxidation_rate: Some(dec("0.99")),
        }],
        purchased_electricity_mwh: Decimal::ZERO,
        power_supplied_mwh: dec(mwh),
        heat_supplied_gj: Decimal::ZERO,
        load_factor: dec(lf),
    }
}

pub fn company(id: &str, province: &str) -> (Company, Vec<GeneratingUnit>) {
    let c = Company {
        id: cid(id),
        name: format!("{id} Power"),
        province: province.into(),
    };
    let u = GeneratingUnit {
        id: UnitId::parse(&format!("{id}-G1")).unwrap(),
        company: cid(id),
        category: UnitCategory::CoalAbove300,
        capacity_mw: 600,
        cooling: Cooling::Water,
    };
    (c, vec![u])
}

pub const PLAN: &str = "cn-power-2019-2020";

/// Runs registration, reports, allocation and true-up for two companies: SX0001 efficient
/// (surplus) and HB0001 inefficient (deficit).
pub fn setup(store: &mut Store) {
    let toml = ets_policy::Plan::builtin_text(PLAN).unwrap().to_string();
    store
        .submit(&env(
            "2021-01-04",
            Command::AdoptPlan {
                source: "plan".into(),
                toml,
            },
        ))
        .unwrap();
    for (id, p) in [("SX0001", "Shanxi"), ("HB0001", "Hubei")] {
        let (company, units) = company(id, p);
        store
            .submit(&env(
                "2021-01-05",
                Command::RegisterCompany { company, units },
            ))
            .unwrap();
    }
    // SX0001 burns 1.15 Mt of coal for 3 TWh (about 2.35 Mt CO2, under its allocation);
    // HB0001 1.40 Mt for the same output (about 2.86 Mt CO2, over it).
    let coal = [("SX0001", "1150000"), ("HB0001", "1400000")];
    for year in [2018, 2019, 2020] {
        for (id, coal_t) in coal {
            let report = ReportInput {
                company: cid(id),
                year,
                units: vec![activity(
                    &format!("{id}-G1"),
                    year,
                    coal_t,
                    "3000000",
                    "0.82",
                )],
            };
            store
                .submit(&env("2021-01-10", Command::SubmitReport { report }))
                .unwrap();
            let verification = VerificationInput {
                company: cid(id),
                year,
                verifier: "V".into(),
                units: None,
                findings: vec![],
            };
            store
                .submit(&env("2021-01-11", Command::VerifyReport { verification }))
                .unwrap();
            store
                .submit(&env(
                    "2021-01-12",
                    Command::AcceptReport {
                        company: cid(id),
                        year,
                    },
                ))
                .unwrap();
        }
        if year == 2018 {
            for (id, _) in coal {
                store
                    .submit(&env(
                        "2021-01-29",
                        Command::PreAllocate {
                            plan: PLAN.into(),
                            company: cid(id),
                        },
                    ))
                    .unwrap();
            }
        }
    }
    for (id, _) in coal {
        store
            .submit(&env(
                "2021-09-30",
                Command::TrueUp {
                    plan: PLAN.into(),
                    company: cid(id),
                },
            ))
            .unwrap();
    }
}
