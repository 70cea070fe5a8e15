//! The national cycle's compute for the generated market of 2,162 companies.
//!
//! Setup (not timed): `ets_sim::generate` with seed 2021 and the default configuration, then a
//! [`Market`] in memory (no journal) built through `Market::execute` as `ets demo` does: adopt
//! the plan, register every company with its units, submit/verify/accept the 2018 reports,
//! pre-allocate, submit/verify/accept the 2019 and 2020 reports, true up.
//!
//! Timed, each over every company:
//! - `allocation`: `ets_allocation::unit_allocation` for every unit and both years, on the
//!   verified activity gathered beforehand (pure compute);
//! - `allocation_with_lookups`: the same, finding units and accepted reports through the market
//!   as `TrueUp` does;
//! - `obligations`: `Market::obligation(plan, company)`;
//! - `compliance_report`: `Market::compliance_report(plan)` (which computes every obligation
//!   again, and the holdings, and the totals);
//! - `all_three`: allocation + obligations + compliance report.
//!
//! Goal: the three together under 50 ms. Run with `cargo bench -p ets-market --bench cycle`;
//! figures in docs/benchmarks.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ets_market::{Command, Envelope, Market};
use ets_policy::Plan;
use ets_sim::GeneratorConfig;
use ets_types::{
    CompanyId, Date, GeneratingUnit, ReportInput, UnitActivity, VerificationInput, Year,
};

const PLAN: &str = "cn-power-2019-2020";
const SEED: u64 = 2021;

fn env(date: &str, command: Command) -> Envelope {
    Envelope {
        date: Date::parse(date).expect("date"),
        initiator: "bench".into(),
        key: None,
        reason: "benchmark".into(),
        command,
    }
}

fn exec(market: &mut Market, envs: impl IntoIterator<Item = Envelope>) -> usize {
    let mut n = 0;
    for e in envs {
        if let Err(err) = market.execute(&e) {
            panic!("setup command {} rejected: {err}", e.command.name());
        }
        n += 1;
    }
    n
}

/// Submit, verify (as reported) and accept every company's report of one year.
fn report_year(
    market: &mut Market,
    activity: &BTreeMap<(CompanyId, Year), Vec<UnitActivity>>,
    year: Year,
) -> usize {
    let of_year: Vec<_> = activity.iter().filter(|((_, y), _)| *y == year).collect();
    let mut n = exec(
        market,
        of_year.iter().map(|((c, y), units)| {
            env(
                "2021-04-30",
                Command::SubmitReport {
                    report: ReportInput {
                        company: c.clone(),
                        year: *y,
                        units: (*units).clone(),
                    },
                },
            )
        }),
    );
    n += exec(
        market,
        of_year.iter().map(|((c, y), _)| {
            env(
                "2021-06-30",
                Command::VerifyReport {
                    verification: VerificationInput {
                        company: c.clone(),
                        year: *y,
                        verifier: "V".into(),
                        units: None,
                        findings: vec![],
                    },
                },
            )
        }),
    );
    n += exec(
        market,
        of_year.iter().map(|((c, y), _)| {
            env(
                "2021-07-15",
                Command::AcceptReport {
                    company: c.clone(),
                    year: *y,
                },
            )
        }),
    );
    n
}

/// The generated national market run up to the true-up, in memory.
fn build() -> (Market, Plan) {
    let plan = Plan::builtin(PLAN).expect("shipped plan");
    let t = Instant::now();
    let national = ets_sim::generate(SEED, &GeneratorConfig::default_cn_power());
    eprintln!(
        "setup: generated {} companies, {} units, {} unit-years in {:.0} ms",
        national.companies.len(),
        national.units.len(),
        national.activity.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let mut market = Market::new(Date::parse("2021-01-04").expect("date"));
    let toml = Plan::builtin_text(PLAN).expect("shipped plan").to_string();
    let mut n = exec(
        &mut market,
        [env(
            "2021-01-04",
            Command::AdoptPlan {
                source: format!("{PLAN}.toml"),
                toml,
            },
        )],
    );
    let mut units_by_company: BTreeMap<&CompanyId, Vec<GeneratingUnit>> = BTreeMap::new();
    for u in &national.units {
        units_by_company
            .entry(&u.company)
            .or_default()
            .push(u.clone());
    }
    n += exec(
        &mut market,
        national.companies.iter().map(|c| {
            let units = units_by_company.get(&c.id).cloned().unwrap_or_default();
            env(
                "2021-01-05",
                Command::RegisterCompany {
                    company: c.clone(),
                    units,
                },
            )
        }),
    );
    let company_of: BTreeMap<_, _> = national
        .units
        .iter()
        .map(|u| (u.id.clone(), u.company.clone()))
        .collect();
    let mut activity: BTreeMap<(CompanyId, Year), Vec<UnitActivity>> = BTreeMap::new();
    for a in &national.activity {
        activity
            .entry((company_of[&a.unit].clone(), a.year))
            .or_default()
            .push(a.clone());
    }
    n += report_year(&mut market, &activity, plan.base_year);
    n += exec(
        &mut market,
        national.companies.iter().map(|c| {
            env(
                "2021-01-29",
                Command::PreAllocate {
                    plan: PLAN.into(),
                    company: c.id.clone(),
                },
            )
        }),
    );
    for &year in &plan.years {
        n += report_year(&mut market, &activity, year);
    }
    n += exec(
        &mut market,
        national.companies.iter().map(|c| {
            env(
                "2021-09-30",
                Command::TrueUp {
                    plan: PLAN.into(),
                    company: c.id.clone(),
                },
            )
        }),
    );
    eprintln!(
        "setup: {n} commands through Market::execute in {:.1} s ({} registry transactions)",
        t.elapsed().as_secs_f64(),
        market.registry().transactions().len()
    );
    (market, plan)
}

/// Every (unit, verified activity, year) of the plan's years, gathered from the market.
fn allocation_inputs<'m>(
    market: &'m Market,
    plan: &Plan,
) -> Vec<(&'m GeneratingUnit, &'m UnitActivity, Year)> {
    let mut out = Vec::new();
    for c in market.company_ids() {
        for &year in &plan.years {
            let report = market.accepted_report(c, year).expect("accepted report");
            let acts = report
                .verification
                .as_ref()
                .map_or(&report.units[..], |v| &v.units[..]);
            for a in acts {
                out.push((market.unit(&a.unit).expect("registered unit"), a, year));
            }
        }
    }
    out
}

fn allocation(inputs: &[(&GeneratingUnit, &UnitActivity, Year)], plan: &Plan) -> u64 {
    inputs
        .iter()
        .map(|(u, a, y)| {
            ets_allocation::unit_allocation(u, a, *y, &plan.allocation)
                .expect("allocation")
                .total_t
        })
        .sum()
}

/// As `TrueUp` finds its inputs: the company's units, its accepted report, the unit's activity.
fn allocation_with_lookups(market: &Market, plan: &Plan, companies: &[CompanyId]) -> u64 {
    let mut total = 0;
    for c in companies {
        let units = market.units_of(c);
        for &year in &plan.years {
            let report = market.accepted_report(c, year).expect("accepted report");
            let acts = report
                .verification
                .as_ref()
                .map_or(&report.units[..], |v| &v.units[..]);
            for u in &units {
                let Some(a) = acts.iter().find(|a| a.unit == u.id) else {
                    continue;
                };
                total += ets_allocation::unit_allocation(u, a, year, &plan.allocation)
                    .expect("allocation")
                    .total_t;
            }
        }
    }
    total
}

fn obligations(market: &Market, companies: &[CompanyId]) -> u64 {
    companies
        .iter()
        .map(|c| market.obligation(PLAN, c).expect("obligation").obligation_t)
        .sum()
}

fn cycle(c: &mut Criterion) {
    let (market, plan) = build();
    let companies: Vec<CompanyId> = market.company_ids().cloned().collect();
    let inputs = allocation_inputs(&market, &plan);

    // Cross-check outside the timing: the pure computation equals what the true-up recorded.
    let recorded: u64 = plan
        .years
        .iter()
        .flat_map(|&y| companies.iter().map(move |c| (c, y)))
        .map(|(c, y)| {
            market
                .allocation(PLAN, c, y, ets_market::Stage::Final)
                .expect("final allocation")
        })
        .sum();
    assert_eq!(
        allocation(&inputs, &plan),
        recorded,
        "benchmark allocation equals the recorded final allocation"
    );
    let report = market.compliance_report(PLAN).expect("report");
    assert!(report.pending.is_empty(), "every company has an obligation");
    eprintln!(
        "companies {}, unit-years allocated {}, national allocation {} t, obligation {} t",
        companies.len(),
        inputs.len(),
        recorded,
        report.national.obligation_t
    );

    let mut g = c.benchmark_group("cycle");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("allocation", |b| {
        b.iter(|| black_box(allocation(&inputs, &plan)))
    });
    g.bench_function("allocation_with_lookups", |b| {
        b.iter(|| black_box(allocation_with_lookups(&market, &plan, &companies)))
    });
    g.bench_function("obligations", |b| {
        b.iter(|| black_box(obligations(&market, &companies)))
    });
    g.bench_function("compliance_report", |b| {
        b.iter(|| black_box(market.compliance_report(PLAN).expect("report")))
    });
    g.bench_function("all_three", |b| {
        b.iter(|| {
            black_box(allocation(&inputs, &plan));
            black_box(obligations(&market, &companies));
            black_box(market.compliance_report(PLAN).expect("report"))
        })
    });
    g.finish();
}

criterion_group!(benches, cycle);
criterion_main!(benches);
