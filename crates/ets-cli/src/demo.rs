//! `ets demo`: China's first compliance cycle (2019–2020 emissions) on a generated market, run
//! through the same commands and journal as every other step.
//!
//! Phases, with the business dates of the real timeline (DOMAIN.md §1.2, §3): register the
//! companies and adopt the plan; take in the verified 2018 base-year reports; pre-allocate 70 %;
//! report, verify and accept 2019 and 2020; true up; offset projects issue credits; companies
//! in surplus transfer to companies in deficit; companies surrender by the 31 December 2021
//! deadline; the regulator assesses. Every phase is journaled in atomic batches, so a run
//! killed at any point leaves a consistent journal.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ets_journal::JournalOptions;
use ets_market::{Command, Envelope};
use ets_sim::{BehaviourConfig, BehaviourModel, Benchmarks, CompanyPosition, GeneratorConfig};
use ets_store::Store;
use ets_types::{
    CompanyId, Date, Decimal, UnitActivity, UnitCategory, UnitClass, VerificationInput, Year,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{Rng, SeedableRng};

use crate::output;

mod exchange;

const PLAN: &str = "cn-power-2019-2020";
/// Marks a data directory the demo created, so a later demo may replace it and nothing else.
const MARKER: &str = "DEMO";
/// Commands per journal batch: each batch is atomic and fsynced once.
const BATCH: usize = 500;

fn d(s: &str) -> Date {
    Date::parse(s).expect("demo dates are valid")
}

struct Run {
    store: Store,
    quiet: bool,
    started: Instant,
}

impl Run {
    fn env(&self, date: &str, initiator: &str, reason: &str, command: Command) -> Envelope {
        Envelope {
            date: d(date),
            initiator: initiator.to_string(),
            key: None,
            reason: reason.to_string(),
            command,
        }
    }

    /// Submits a phase's commands in atomic batches, with a progress bar.
    /// A progress bar on a terminal, hidden otherwise (and under `--quiet`).
    fn bar(&self, name: &str, len: u64) -> ProgressBar {
        let bar = if self.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(len)
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:32}] {pos:>5}/{len:5} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar
    }

    /// Submits a phase's commands in atomic batches, with a progress bar.
    fn phase(&mut self, name: &str, envs: Vec<Envelope>) -> Result<()> {
        let bar = self.bar(name, envs.len() as u64);
        for chunk in envs.chunks(BATCH) {
            if let Err(e) = self.store.submit_all(chunk) {
                bail!("{name}: {e}");
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish();
        if !self.quiet && bar.is_hidden() {
            eprintln!(
                "{name:>28}: {} commands ({:.1} s)",
                envs.len(),
                self.started.elapsed().as_secs_f32()
            );
        }
        Ok(())
    }
}

fn prepare(data: &Path) -> Result<()> {
    if data.exists() {
        let empty = std::fs::read_dir(data)?.next().is_none();
        if !empty && !data.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `ets demo`; choose another --data directory (the demo only replaces its own)",
                data.display()
            );
        }
        std::fs::remove_dir_all(data)
            .with_context(|| format!("removing the earlier demo in {}", data.display()))?;
    }
    std::fs::create_dir_all(data)?;
    std::fs::write(
        data.join(MARKER),
        "created by `ets demo`; `ets demo` may replace this directory\n",
    )?;
    Ok(())
}

pub fn run(data: &Path, seed: u64, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let plan = ets_policy::Plan::builtin(PLAN).context("shipped plan")?;
    let plan_text = ets_policy::Plan::builtin_text(PLAN).context("shipped plan")?;
    let mut benchmarks = Benchmarks::default();
    for cat in UnitCategory::ALL {
        let b = plan
            .allocation
            .benchmark(cat, plan.years[0])
            .context("plan has every category")?;
        benchmarks.supply_t_per_mwh.insert(cat, b.supply_t_per_mwh);
        benchmarks.heat_t_per_gj.insert(cat, b.heat_t_per_gj);
    }
    let national = ets_sim::generate(seed, &GeneratorConfig::default_cn_power(), &benchmarks);
    if !quiet {
        eprintln!(
            "generated {} companies, {} generating units, {} offset projects (seed {seed}) in {:.1} s",
            national.companies.len(),
            national.units.len(),
            national.offset_projects.len(),
            started.elapsed().as_secs_f32()
        );
    }
    prepare(data)?;
    let (store, _) = Store::open(data, d("2021-01-04"), JournalOptions::default())?;
    let mut run = Run {
        store,
        quiet,
        started,
    };

    // Register the companies with their units, and adopt the plan.
    let mut envs = vec![run.env(
        "2021-01-04",
        "MEE",
        "2019-2020 allocation plan",
        Command::AdoptPlan {
            source: format!("{PLAN}.toml (shipped)"),
            toml: plan_text.to_string(),
        },
    )];
    let mut units_by_company: BTreeMap<&CompanyId, Vec<ets_types::GeneratingUnit>> =
        BTreeMap::new();
    for u in &national.units {
        units_by_company
            .entry(&u.company)
            .or_default()
            .push(u.clone());
    }
    for c in &national.companies {
        let units = units_by_company.get(&c.id).cloned().unwrap_or_default();
        envs.push(run.env(
            "2021-01-05",
            "MEE",
            "key emitting unit listed",
            Command::RegisterCompany {
                company: c.clone(),
                units,
            },
        ));
    }
    run.phase("register companies", envs)?;

    let mut activity: BTreeMap<(CompanyId, Year), Vec<UnitActivity>> = BTreeMap::new();
    let company_of: BTreeMap<_, _> = national
        .units
        .iter()
        .map(|u| (u.id.clone(), u.company.clone()))
        .collect();
    for a in &national.activity {
        activity
            .entry((company_of[&a.unit].clone(), a.year))
            .or_default()
            .push(a.clone());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5645_5249_4659);

    // Base year, then pre-allocation, then the cycle's own years.
    report_year(
        &mut run,
        &activity,
        plan.base_year,
        ("2021-01-11", "2021-01-18", "2021-01-22"),
        &mut rng,
    )?;
    let envs = national
        .companies
        .iter()
        .map(|c| {
            run.env(
                "2021-01-29",
                "MEE",
                "pre-allocation: 70 % of 2018 output x benchmark",
                Command::PreAllocate {
                    plan: PLAN.into(),
                    company: c.id.clone(),
                },
            )
        })
        .collect();
    run.phase("pre-allocate 70 %", envs)?;
    for &year in &plan.years {
        report_year(
            &mut run,
            &activity,
            year,
            ("2021-04-30", "2021-06-30", "2021-07-15"),
            &mut rng,
        )?;
    }
    let envs = national
        .companies
        .iter()
        .map(|c| {
            run.env(
                "2021-09-30",
                "MEE",
                "final allocation from verified output",
                Command::TrueUp {
                    plan: PLAN.into(),
                    company: c.id.clone(),
                },
            )
        })
        .collect();
    run.phase("true-up", envs)?;

    // Offset projects and their credits.
    let mut envs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &national.offset_projects {
        if seen.insert(p.id.clone()) {
            envs.push(run.env(
                "2021-03-01",
                "MEE",
                "CCER project registered",
                Command::RegisterProject {
                    project: p.id.clone(),
                    name: p.name.clone(),
                    province: p.province.clone(),
                    kind: p.kind.clone(),
                },
            ));
        }
        envs.push(run.env(
            "2021-03-15",
            "MEE",
            "CCER issued",
            Command::IssueOffsets {
                project: p.id.clone(),
                vintage: p.vintage,
                quantity: p.credits_t,
            },
        ));
    }
    run.phase("offset projects", envs)?;

    let mut behaviour = BehaviourModel::new(seed, &BehaviourConfig::default_cn_power());
    exempt(&mut run, &plan, &mut behaviour)?;
    trade(
        &mut run,
        &plan,
        &national.offset_projects,
        &mut behaviour,
        seed,
    )?;
    surrender(&mut run, &plan, &mut behaviour)?;
    let assess = run.env(
        "2022-01-04",
        "MEE",
        "assessment after the 31 Dec 2021 deadline",
        Command::AssessCycle { plan: PLAN.into() },
    );
    run.phase("assess", vec![assess])?;

    let report = run.store.market().compliance_report(PLAN)?;
    let n = &report.national;
    println!();
    println!(
        "ets demo: China's national carbon market, first cycle (2019-2020 emissions), seed {seed}"
    );
    println!(
        "  companies                {:>16}  ({} registered, {} exempted)",
        output::t(n.companies),
        output::t(national.companies.len() as u64),
        report.exempted.len()
    );
    println!(
        "  allocated                {:>16} t",
        output::t(n.allocated_t)
    );
    println!(
        "  verified emissions       {:>16} t",
        output::t(n.verified_t)
    );
    println!(
        "  obligation               {:>16} t",
        output::t(n.obligation_t)
    );
    println!(
        "  surrendered              {:>16} t  (of which offsets {} t)",
        output::t(n.surrendered_t),
        output::t(n.offsets_used_t)
    );
    println!(
        "  shortfall                {:>16} t",
        output::t(n.shortfall_t)
    );
    println!(
        "  completion by volume     {:>16}",
        output::pct(n.completion_volume)
    );
    println!(
        "  completion by count      {:>16}  ({} complied, {} partly, {} not at all)",
        output::pct(n.completion_count),
        n.complied,
        n.partly,
        n.not_at_all
    );
    if let Some(sx) = report.provinces.iter().find(|p| p.name == "Shanxi") {
        println!(
            "  Shanxi                   {:>16}  by volume, {} by count, {} companies ({:+.2} points against the nation)",
            output::pct(sx.completion_volume),
            output::pct(sx.completion_count),
            sx.companies,
            (sx.completion_volume.to_decimal(6) - n.completion_volume.to_decimal(6))
                * Decimal::ONE_HUNDRED
        );
    }
    println!();
    if let Some(ex) = run.store.market().exchange() {
        output::print_market(ex, &mut std::io::stdout())?;
        println!();
    }
    output::print_compliance(&report, None, &mut std::io::stdout())?;
    println!(
        "\njournal: {} records in {}; {:.1} s. Try `ets --data {} report compliance --province Shanxi` or `ets --data {} verify`.",
        run.store.last_seq(),
        data.display(),
        started.elapsed().as_secs_f32(),
        data.display(),
        data.display()
    );
    Ok(())
}

/// Submit, verify and accept every company's report of one year. A few verifications correct
/// a fuel consumption, as real verifiers do.
fn report_year(
    run: &mut Run,
    activity: &BTreeMap<(CompanyId, Year), Vec<UnitActivity>>,
    year: Year,
    (submitted, verified, accepted): (&str, &str, &str),
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<()> {
    let of_year: Vec<_> = activity.iter().filter(|((_, y), _)| *y == year).collect();
    let envs = of_year
        .iter()
        .map(|((c, y), units)| {
            let report = ets_types::ReportInput {
                company: c.clone(),
                year: *y,
                units: (*units).clone(),
            };
            run.env(
                submitted,
                c.as_str(),
                "annual emission report",
                Command::SubmitReport { report },
            )
        })
        .collect();
    run.phase(&format!("{year} reports submitted"), envs)?;
    let mut envs = Vec::with_capacity(of_year.len());
    for ((c, y), units) in &of_year {
        let mut findings = Vec::new();
        let mut verified_units = None;
        // About one report in twenty-five has its coal consumption corrected by the verifier.
        if rng.random_range(0..25) == 0 {
            let mut units = (*units).clone();
            let permille: i64 = rng.random_range(-30..=20);
            if let Some(unit) = units.first_mut()
                && let Some(fuel) = unit.fuels.first_mut()
            {
                let before = fuel.consumption;
                fuel.consumption =
                    (before * (Decimal::ONE + Decimal::new(permille, 3))).round_dp(2);
                findings.push(format!(
                    "{}: {} consumption corrected from {before} to {} per weighbridge records",
                    unit.unit, fuel.fuel, fuel.consumption
                ));
            }
            verified_units = Some(units);
        }
        let v = VerificationInput {
            company: c.clone(),
            year: *y,
            verifier: "provincial-verifier".into(),
            units: verified_units,
            findings,
        };
        envs.push(run.env(
            verified,
            "provincial-verifier",
            "third-party verification",
            Command::VerifyReport { verification: v },
        ));
    }
    run.phase(&format!("{year} reports verified"), envs)?;
    let envs = of_year
        .iter()
        .map(|((c, y), _)| {
            run.env(
                accepted,
                "MEE",
                "verified figures accepted",
                Command::AcceptReport {
                    company: c.clone(),
                    year: *y,
                },
            )
        })
        .collect();
    run.phase(&format!("{year} reports accepted"), envs)
}

fn position(run: &Run, plan: &ets_policy::Plan, company: &CompanyId) -> Result<CompanyPosition> {
    let m = run.store.market();
    let obligation = m.obligation(PLAN, company)?;
    let account = m.company_account(company).context("registered company")?;
    let offsets_held_t = m
        .registry()
        .holdings_of(account)
        .into_iter()
        .filter(|(c, _)| matches!(c, UnitClass::Ccer { vintage, .. } if plan.compliance.offset_min_vintage.is_none_or(|min| *vintage >= min)))
        .map(|(_, q)| q)
        .sum();
    Ok(CompanyPosition {
        company: company.clone(),
        province: m
            .company(company)
            .map(|c| c.province.clone())
            .unwrap_or_default(),
        obligation_t: obligation.obligation_t,
        allocation_t: obligation.allocation_t,
        holdings_t: m.eligible_holdings(PLAN, company),
        offsets_held_t,
    })
}

/// Companies that closed or were deregistered during the cycle are taken out of it.
fn exempt(run: &mut Run, plan: &ets_policy::Plan, behaviour: &mut BehaviourModel) -> Result<()> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let mut envs = Vec::new();
    for c in &companies {
        if behaviour.exempt(&position(run, plan, c)?) {
            envs.push(run.env(
                "2021-10-08",
                "MEE",
                "closed or deregistered during the cycle",
                Command::ExemptCompany {
                    plan: PLAN.into(),
                    company: c.clone(),
                    reason: "closed or deregistered during the cycle".into(),
                },
            ));
        }
    }
    run.phase("exemptions", envs)
}

/// Offset users buy credits from projects (bilaterally: CCERs trade elsewhere), then a year
/// on the exchange: companies in surplus sell, companies in deficit buy.
fn trade(
    run: &mut Run,
    plan: &ets_policy::Plan,
    projects: &[ets_sim::OffsetProject],
    behaviour: &mut BehaviourModel,
    seed: u64,
) -> Result<()> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let mut sellers: Vec<(CompanyId, u64)> = Vec::new();
    let mut buyers: Vec<(CompanyId, u64, u64)> = Vec::new();
    for c in companies
        .iter()
        .filter(|c| !run.store.market().is_exempted(PLAN, c))
    {
        let p = position(run, plan, c)?;
        let limit = ets_compliance::offset_limit_t(p.obligation_t, &plan.compliance);
        let intent = behaviour.trading_intent(&p, limit);
        if intent.sell_t > 0 {
            sellers.push((c.clone(), intent.sell_t));
        }
        if intent.buy_t + intent.buy_offsets_t > 0 {
            buyers.push((c.clone(), intent.buy_t, intent.buy_offsets_t));
        }
    }
    // What each seller holds by vintage, oldest first, so transfers name real holdings.
    let m = run.store.market();
    let mut stock: BTreeMap<CompanyId, Vec<(UnitClass, u64)>> = BTreeMap::new();
    for (c, _) in &sellers {
        let account = m.company_account(c).context("registered")?;
        stock.insert(
            c.clone(),
            m.registry()
                .holdings_of(account)
                .into_iter()
                .filter(|(k, _)| !k.is_offset())
                .collect(),
        );
    }
    let mut credits: Vec<(ets_types::ProjectId, UnitClass, u64)> = projects
        .iter()
        .filter(|p| {
            plan.compliance
                .offset_min_vintage
                .is_none_or(|min| p.vintage >= min)
        })
        .filter_map(|p| {
            m.project_number(&p.id).map(|n| {
                (
                    p.id.clone(),
                    UnitClass::Ccer {
                        project: n,
                        vintage: p.vintage,
                    },
                    p.credits_t,
                )
            })
        })
        .collect();
    let days = [
        "2021-10-15",
        "2021-11-01",
        "2021-11-15",
        "2021-12-01",
        "2021-12-10",
    ];
    let buyer_allowances: Vec<(CompanyId, u64)> = buyers
        .iter()
        .filter(|b| b.1 > 0)
        .map(|(c, q, _)| (c.clone(), *q))
        .collect();
    let mut envs = Vec::new();
    for (i, (buyer, _, mut need_offsets)) in buyers.into_iter().enumerate() {
        let date = days[i * days.len() / companies.len().max(1)];
        while need_offsets > 0 {
            let Some((project, class, left)) = credits.iter_mut().find(|(_, _, left)| *left > 0)
            else {
                break;
            };
            let q = need_offsets.min(*left);
            *left -= q;
            need_offsets -= q;
            envs.push(run.env(
                date,
                buyer.as_str(),
                "offset credits bought",
                Command::Transfer {
                    class: *class,
                    quantity: q,
                    from: project.to_string(),
                    to: buyer.to_string(),
                },
            ));
        }
    }
    run.phase("offset credits bought", envs)?;
    let sellers = sellers
        .into_iter()
        .map(|(c, q)| (c.to_string(), q))
        .collect();
    let buyers = buyer_allowances
        .into_iter()
        .map(|(c, q)| (c.to_string(), q))
        .collect();
    exchange::run_year(run, sellers, buyers, seed)
}

fn surrender(run: &mut Run, plan: &ets_policy::Plan, behaviour: &mut BehaviourModel) -> Result<()> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let mut envs = Vec::new();
    for (i, c) in companies
        .iter()
        .enumerate()
        .filter(|(_, c)| !run.store.market().is_exempted(PLAN, c))
    {
        let p = position(run, plan, c)?;
        let limit = ets_compliance::offset_limit_t(p.obligation_t, &plan.compliance);
        let (mut allowances, mut offsets) = behaviour.surrender_plan(&p, limit);
        // Most hand in during December; the 95 % milestone was 15 Dec 2021.
        let date = if i % 20 == 0 {
            "2021-12-31"
        } else {
            "2021-12-15"
        };
        let m = run.store.market();
        let account = m.company_account(c).context("registered")?;
        for (class, held) in m.registry().holdings_of(account) {
            let eligible = match class {
                UnitClass::Cea { vintage } => plan.compliance.eligible_vintages.contains(&vintage),
                UnitClass::Ccer { vintage, .. } => plan
                    .compliance
                    .offset_min_vintage
                    .is_none_or(|min| vintage >= min),
            };
            let want = if class.is_offset() {
                &mut offsets
            } else {
                &mut allowances
            };
            let q = held.min(*want);
            if !eligible || q == 0 {
                continue;
            }
            *want -= q;
            envs.push(run.env(
                date,
                c.as_str(),
                "surrender for the 2019-2020 cycle",
                Command::Surrender {
                    plan: PLAN.into(),
                    company: c.clone(),
                    class,
                    quantity: q,
                },
            ));
        }
    }
    run.phase("surrender", envs)
}
