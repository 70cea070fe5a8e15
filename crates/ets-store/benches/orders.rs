//! Orders per second through the whole path: pre-trade checks, freezes, matching, delivery
//! versus payment in the registry and the funds ledger, and the journal (fsync per batch).
//!
//! Setup (not timed): two covered companies trued up under the shipped plan (so they hold
//! allowances), a continuous market from the shipped file, funds deposited, a trading day open.
//! Timed: batches of 1,000 orders, alternately a sell that rests and a buy that crosses it, so
//! every second order trades and settles.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ets_journal::JournalOptions;
use ets_market::trading::exchange::{OrderSide, Tif};
use ets_market::{Command, Envelope, ExchangeCommand};
use ets_store::Store;
use ets_types::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}
fn env(date: &str, command: Command) -> Envelope {
    Envelope {
        date: d(date),
        initiator: "bench".into(),
        key: None,
        reason: "bench".into(),
        command,
    }
}
fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn setup(dir: &std::path::Path) -> Store {
    let (mut store, _) = Store::open(dir, d("2021-01-04"), JournalOptions::default()).unwrap();
    let plan = "cn-power-2019-2020";
    let toml = ets_policy::Plan::builtin_text(plan).unwrap().to_string();
    store
        .submit(&env(
            "2021-01-04",
            Command::AdoptPlan {
                source: "plan".into(),
                toml,
            },
        ))
        .unwrap();
    let ids = ["SX0001", "HB0001"];
    for id in ids {
        let company = Company {
            id: CompanyId::parse(id).unwrap(),
            name: id.into(),
            province: "Shanxi".into(),
        };
        let unit = GeneratingUnit {
            id: UnitId::parse(&format!("{id}-G1")).unwrap(),
            company: company.id.clone(),
            category: UnitCategory::CoalAbove300,
            capacity_mw: 600,
            cooling: Cooling::Water,
        };
        store
            .submit(&env(
                "2021-01-05",
                Command::RegisterCompany {
                    company,
                    units: vec![unit],
                },
            ))
            .unwrap();
    }
    for year in [2018, 2019, 2020] {
        for id in ids {
            let units = vec![UnitActivity {
                unit: UnitId::parse(&format!("{id}-G1")).unwrap(),
                year,
                fuels: vec![FuelUse {
                    fuel: "bituminous_coal".into(),
                    consumption: dec("1200000"),
                    ncv_gj: Some(dec("21.5")),
                    carbon_content_tc_per_gj: Some(dec("0.0262")),
                    elemental_carbon: None,
                    oxidation_rate: Some(dec("0.99")),
                }],
                purchased_electricity_mwh: Decimal::ZERO,
                power_supplied_mwh: dec("3000000"),
                heat_supplied_gj: Decimal::ZERO,
                load_factor: dec("0.86"),
            }];
            let company = CompanyId::parse(id).unwrap();
            store
                .submit(&env(
                    "2021-01-10",
                    Command::SubmitReport {
                        report: ReportInput {
                            company: company.clone(),
                            year,
                            units,
                        },
                    },
                ))
                .unwrap();
            let v = VerificationInput {
                company: company.clone(),
                year,
                verifier: "V".into(),
                units: None,
                findings: vec![],
            };
            store
                .submit(&env(
                    "2021-01-11",
                    Command::VerifyReport { verification: v },
                ))
                .unwrap();
            store
                .submit(&env(
                    "2021-01-12",
                    Command::AcceptReport {
                        company: company.clone(),
                        year,
                    },
                ))
                .unwrap();
            if year == 2018 {
                store
                    .submit(&env(
                        "2021-01-29",
                        Command::PreAllocate {
                            plan: plan.into(),
                            company,
                        },
                    ))
                    .unwrap();
            }
        }
    }
    for id in ids {
        store
            .submit(&env(
                "2021-09-30",
                Command::TrueUp {
                    plan: plan.into(),
                    company: CompanyId::parse(id).unwrap(),
                },
            ))
            .unwrap();
    }
    // Continuous matching, and settlement at the trade: the bench never closes its day, so under
    // the shipped settlement after the close the seller's units would stay frozen and the
    // orders would soon be refused; this measures every fill settled at once, as before.
    let market = ets_market::trading::config::MarketRules::builtin_text()
        .replace("matching = \"click_to_trade\"", "matching = \"continuous\"")
        .replace("settlement = \"end_of_day\"", "settlement = \"immediate\"");
    assert!(market.contains("settlement = \"immediate\""));
    store
        .submit(&env(
            "2021-07-01",
            Command::OpenExchange {
                source: "m".into(),
                toml: market,
            },
        ))
        .unwrap();
    store
        .submit(&env(
            "2021-07-15",
            Command::Exchange(ExchangeCommand::Deposit {
                holder: "HB0001".into(),
                fen: 1 << 50,
            }),
        ))
        .unwrap();
    store
        .submit(&env(
            "2021-07-16",
            Command::Exchange(ExchangeCommand::OpenDay),
        ))
        .unwrap();
    store
}

fn orders(n: usize) -> Vec<Envelope> {
    (0..n)
        .map(|i| {
            let (holder, side) = if i % 2 == 0 {
                ("SX0001", OrderSide::Sell)
            } else {
                ("HB0001", OrderSide::Buy)
            };
            let price = 4800 + (i as i64 % 7) * 10;
            env(
                "2021-07-16",
                Command::Exchange(ExchangeCommand::Order {
                    holder: holder.into(),
                    class: UnitClass::Cea { vintage: 2019 },
                    side,
                    price,
                    qty: 1,
                    tif: Tif::Day,
                    minute: 600,
                }),
            )
        })
        .collect()
}

fn whole_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = setup(dir.path());
    let mut group = c.benchmark_group("orders_whole_path");
    group.sample_size(10);
    for batch in [100usize, 1_000] {
        let envs = orders(batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                let results = store.submit_each(&envs).unwrap();
                assert!(results.iter().all(|r| r.is_ok()), "every order is accepted");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, whole_path);
criterion_main!(benches);
