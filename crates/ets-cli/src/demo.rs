//! `ets demo`: China's first compliance cycle (2019–2020 emissions) on a generated market, run
//! through the same commands and journal as every other step.
//!
//! Phases, with the business dates of the real timeline (DOMAIN.md §1.2, §3): register the
//! companies and adopt the plan; take in the verified 2018 base-year reports; pre-allocate 70 %;
//! report, verify and accept 2019 and 2020; true up; offset projects issue credits; companies
//! in surplus transfer to companies in deficit; companies surrender by the 31 December 2021
//! deadline; the regulator assesses. Every phase is journaled in atomic batches, so a run
//! killed at any point leaves a consistent journal.
//!
//! `--plan` runs the same cycle under another 2019-2020 plan: the fleet and its emissions are
//! drawn from the generator's own configuration and the seed alone, so two runs with one seed
//! differ only by the policy. `--until` stops on a date between the exemptions and the first
//! surrenders, after that day's close: a market a user serves (`ets serve --clock`) and trades in,
//! with nothing recorded after that date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use ets_journal::JournalOptions;
use ets_market::{Command, Envelope};
use ets_sim::{BehaviourConfig, BehaviourModel, CompanyPosition, GeneratorConfig};
use ets_store::Store;
use ets_types::{CompanyId, Date, Decimal, UnitActivity, UnitClass, VerificationInput, Year};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{Rng, SeedableRng};

use crate::output;

mod exchange;

/// The plan the demo adopts unless `--plan` names another.
const SHIPPED_PLAN: &str = "cn-power-2019-2020";
/// The cycle the demo's timeline is written for.
const CYCLE_YEARS: [Year; 2] = [2019, 2020];
const CYCLE_BASE_YEAR: Year = 2018;
/// The regulator takes closed and deregistered companies out of the cycle.
const EXEMPTIONS: &str = "2021-10-08";
/// The final allocation, once the cycle's reports are accepted and before the exchange's first
/// day: the year's trading decisions are made on it.
const TRUE_UP: &str = "2021-07-15";
/// Companies surrender on the deadline, after the year's last close (the demo's companies
/// decide on the position the whole year's trading left them).
const SURRENDER: &str = "2021-12-31";
/// The earliest and latest `--until`: after the exemptions, and a fortnight before the
/// deadline's surrenders (the year-end rush is left to trade in).
const UNTIL_FIRST: &str = EXEMPTIONS;
const UNTIL_LAST: &str = "2021-12-14";
/// Marks a data directory the demo created, so a later demo may replace it and nothing else.
const MARKER: &str = "DEMO";
/// Commands per journal batch: each batch is atomic and fsynced once.
const BATCH: usize = 500;

fn d(s: &str) -> Date {
    Date::parse(s).expect("demo dates are valid")
}

/// What `ets demo` was asked to do.
pub struct Options {
    pub seed: u64,
    pub quiet: bool,
    /// A plan file or the id of a shipped plan; `None`: the shipped 2019-2020 plan.
    pub plan: Option<String>,
    /// Stop after this day's close, before the surrenders and the assessment.
    pub until: Option<Date>,
    /// A generator configuration in place of the shipped `cn-power.toml`.
    pub generator: Option<PathBuf>,
}

struct Run {
    store: Store,
    quiet: bool,
    started: Instant,
    /// The adopted plan's id.
    plan: String,
    until: Option<Date>,
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

    /// Whether a command of this date falls inside the run (`--until`).
    fn due(&self, date: Date) -> bool {
        self.until.is_none_or(|u| date <= u)
    }

    /// Submits a phase's commands in atomic batches, with a progress bar.
    fn phase(&mut self, name: &str, envs: Vec<Envelope>) -> Result<()> {
        debug_assert!(
            envs.iter().all(|e| self.due(e.date)),
            "{name} after --until"
        );
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

/// The plan to adopt: its parsed form, where it came from (as the journal records it) and its
/// text. Refuses a plan for other years than the demo's cycle.
fn load_plan(
    arg: Option<&str>,
    cfg: &GeneratorConfig,
) -> Result<(ets_policy::Plan, String, String)> {
    let arg = arg.unwrap_or(SHIPPED_PLAN);
    let (source, text) = match ets_policy::Plan::builtin_text(arg) {
        Some(text) => (format!("{arg}.toml (shipped)"), text.to_string()),
        None => {
            let text = std::fs::read_to_string(arg).with_context(|| {
                format!(
                    "reading the plan {arg} (neither a file nor a shipped plan: {})",
                    ets_policy::Plan::builtin_ids().join(", ")
                )
            })?;
            (arg.to_string(), text)
        }
    };
    let plan = ets_policy::Plan::from_toml_str(&text, &source).map_err(|e| anyhow!("{e}"))?;
    let years = |ys: &[Year]| {
        ys.iter()
            .map(Year::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if plan.years != CYCLE_YEARS || plan.base_year != CYCLE_BASE_YEAR {
        bail!(
            "plan {} covers {} (base year {}); the demo runs the {}-{} cycle (base year {CYCLE_BASE_YEAR}): give it a plan for those years",
            plan.id,
            years(&plan.years),
            plan.base_year,
            CYCLE_YEARS[0],
            CYCLE_YEARS[1],
        );
    }
    if cfg.market.compliance_years != CYCLE_YEARS || cfg.market.base_year != CYCLE_BASE_YEAR {
        bail!(
            "the generator configuration draws {} (base year {}); the demo runs the {}-{} cycle (base year {CYCLE_BASE_YEAR})",
            years(&cfg.market.compliance_years),
            cfg.market.base_year,
            CYCLE_YEARS[0],
            CYCLE_YEARS[1],
        );
    }
    Ok((plan, source, text))
}

fn check_until(until: Option<Date>) -> Result<()> {
    if let Some(u) = until
        && !(d(UNTIL_FIRST)..=d(UNTIL_LAST)).contains(&u)
    {
        bail!(
            "--until {u}: the demo stops between {UNTIL_FIRST} (after the exemptions) and {UNTIL_LAST} (before the year-end rush and the surrenders on {SURRENDER})"
        );
    }
    Ok(())
}

pub fn run(data: &Path, opts: Options) -> Result<()> {
    let Options {
        seed,
        quiet,
        plan: plan_arg,
        until,
        generator,
    } = opts;
    let started = Instant::now();
    let cfg = match &generator {
        None => GeneratorConfig::default_cn_power(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            GeneratorConfig::from_toml_str(&text, &path.display().to_string())?
        }
    };
    let (plan, plan_source, plan_text) = load_plan(plan_arg.as_deref(), &cfg)?;
    check_until(until)?;
    // The fleet and its activity come from the seed and the generator's configuration only: no
    // figure of the plan goes in, so another plan meets the same fleet.
    let national = ets_sim::generate(seed, &cfg);
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
        plan: plan.id.clone(),
        until,
    };

    // Register the companies with their units, and adopt the plan.
    let mut envs = vec![run.env(
        "2021-01-04",
        "MEE",
        "2019-2020 allocation plan",
        Command::AdoptPlan {
            source: plan_source,
            toml: plan_text,
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
    report_years(
        &mut run,
        &activity,
        &[plan.base_year],
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
                    plan: run.plan.clone(),
                    company: c.id.clone(),
                },
            )
        })
        .collect();
    run.phase("pre-allocate 70 %", envs)?;

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
    // Every registration before the first issuance (stable: each in the generator's order).
    envs.sort_by_key(|e| e.date);
    run.phase("offset projects", envs)?;
    report_years(
        &mut run,
        &activity,
        &plan.years,
        ("2021-04-30", "2021-06-30", "2021-07-15"),
        &mut rng,
    )?;
    let envs = national
        .companies
        .iter()
        .map(|c| {
            run.env(
                TRUE_UP,
                "MEE",
                "final allocation from verified output",
                Command::TrueUp {
                    plan: run.plan.clone(),
                    company: c.id.clone(),
                },
            )
        })
        .collect();
    run.phase("true-up", envs)?;

    let mut behaviour = BehaviourModel::new(seed, &BehaviourConfig::default_cn_power());
    let exemptions = exempt(&run, &plan, &mut behaviour)?;
    trade(
        &mut run,
        &plan,
        &national.offset_projects,
        &mut behaviour,
        seed,
        exemptions,
    )?;
    if let Some(until) = until {
        return stopped(&run, &plan, data, seed, until, national.companies.len());
    }
    surrender(&mut run, &plan, &mut behaviour)?;
    let assess = run.env(
        "2022-01-04",
        "MEE",
        "assessment after the 31 Dec 2021 deadline",
        Command::AssessCycle {
            plan: run.plan.clone(),
        },
    );
    run.phase("assess", vec![assess])?;

    let report = run.store.market().compliance_report(&run.plan)?;
    let n = &report.national;
    println!();
    println!(
        "ets demo: China's national carbon market, first cycle (2019-2020 emissions), seed {seed}, plan {}",
        run.plan
    );
    print_totals(&report, national.companies.len());
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
    output::print_compliance(
        run.store.market(),
        &report,
        &output::CompanyFilter::default(),
        &mut std::io::stdout(),
    )?;
    println!(
        "\njournal: {} records in {}; {:.1} s. Try `ets --data {} report compliance --province Shanxi` or `ets --data {} verify`.",
        run.store.last_seq(),
        data.display(),
        run.started.elapsed().as_secs_f32(),
        data.display(),
        data.display()
    );
    Ok(())
}

/// The lines every summary starts with: companies, allocation, emissions, obligation.
fn print_totals(report: &ets_market::ComplianceReport, registered: usize) {
    let n = &report.national;
    println!(
        "  companies                {:>16}  ({} registered, {} exempted)",
        output::t(n.companies),
        output::t(registered as u64),
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
}

/// The summary of a run stopped by `--until`: where the market stands, how to serve it, and
/// a company short of allowances with one that can sell to it (the README's walk-through).
fn stopped(
    run: &Run,
    plan: &ets_policy::Plan,
    data: &Path,
    seed: u64,
    until: Date,
    registered: usize,
) -> Result<()> {
    let m = run.store.market();
    let report = m.compliance_report(&run.plan)?;
    println!();
    println!(
        "ets demo: China's national carbon market, first cycle (2019-2020 emissions), seed {seed}, plan {}, stopped after {until}",
        run.plan
    );
    print_totals(&report, registered);
    let mut held = 0;
    let mut short = (0, 0);
    let ids: Vec<CompanyId> = m
        .company_ids()
        .filter(|c| !m.is_exempted(&run.plan, c))
        .cloned()
        .collect();
    for c in &ids {
        let p = position(run, plan, c)?;
        held += p.holdings_t;
        if p.obligation_t > p.holdings_t {
            short.0 += p.obligation_t - p.holdings_t;
            short.1 += 1;
        }
    }
    println!("  eligible allowances held {:>16} t", output::t(held));
    println!(
        "  still to buy             {:>16} t  ({} companies hold less than they owe)",
        output::t(short.0),
        short.1
    );
    println!(
        "  surrendered              {:>16} t  (surrenders from {SURRENDER}, deadline {})",
        output::t(report.national.surrendered_t),
        plan.compliance.deadline
    );
    println!();
    let ex = m.exchange().context("the exchange is open")?;
    output::print_market(ex, &mut std::io::stdout())?;
    let mut next = ets_exchange::calendar::next_day(until).context("a date before 9999")?;
    while !ex.is_trading_day(next) {
        next = ets_exchange::calendar::next_day(next).context("a date before 9999")?;
    }
    println!();
    println!(
        "Stopped after the close of {until}: no day is open, nothing is surrendered or assessed. Serve it on the next trading day ({next}; sessions 09:30-11:30 and 13:00-15:00, Beijing time):"
    );
    println!(
        "  ets --data {} admin create-regulator --name admin      # password from ETS_ADMIN_PASSWORD",
        data.display()
    );
    println!("  ets --data {} serve --clock {next}T10:00", data.display());
    if let Some(w) = walk_through(run, plan, &ids)? {
        println!(
            "For the walk-through (README.md), a company short of allowances and one that can sell to it:"
        );
        println!(
            "  buyer   {}  owes {} t, holds {} t of eligible allowances: short {} t; funds {}.{:02} CNY",
            w.buyer,
            output::t(w.obligation_t),
            output::t(w.obligation_t - w.short_t),
            output::t(w.short_t),
            output::t(w.funds_fen / 100),
            w.funds_fen % 100
        );
        println!(
            "  seller  {}  {} tradable {} t; last close {} CNY/t",
            w.seller,
            w.class,
            output::t(w.tradable_t),
            output::cny(w.close_fen)
        );
    }
    println!(
        "\njournal: {} records in {}; {:.1} s.",
        run.store.last_seq(),
        data.display(),
        run.started.elapsed().as_secs_f32(),
    );
    Ok(())
}

/// Two companies for the README's walk-through.
struct WalkThrough {
    buyer: CompanyId,
    obligation_t: u64,
    short_t: u64,
    funds_fen: u64,
    seller: CompanyId,
    class: UnitClass,
    tradable_t: u64,
    close_fen: i64,
}

/// A company (Shanxi's first, else any province's) that is short of allowances by less than a
/// listed order may buy, holds no offsets and has the funds to buy the rest at the top of the
/// band; and the company with the most of one vintage to sell beyond what it owes itself.
fn walk_through(
    run: &Run,
    plan: &ets_policy::Plan,
    ids: &[CompanyId],
) -> Result<Option<WalkThrough>> {
    let m = run.store.market();
    let ex = m.exchange().context("the exchange is open")?;
    let band_high = |class: UnitClass| {
        ex.prev_close(class).map(|c| {
            let bps = ex
                .rules
                .instrument(class)
                .map_or(ex.rules.listed_band_bps, |i| i.listed_band_bps);
            c + c * i64::from(bps) / 10_000
        })
    };
    let province = |c: &CompanyId| m.company(c).map(|x| x.province.clone()).unwrap_or_default();
    let mut buyers = Vec::new();
    let mut sellers = Vec::new();
    for c in ids {
        let p = position(run, plan, c)?;
        let account = m.company_account(c).context("registered company")?;
        let shanxi = province(c) == "Shanxi";
        if p.obligation_t > p.holdings_t {
            let short = p.obligation_t - p.holdings_t;
            let class = UnitClass::Cea {
                vintage: CYCLE_YEARS[1],
            };
            let funds = ex.funds.available(ets_clearing::ParticipantId(account.0));
            // The price at the top of the band, and 1 % for the fee.
            let cost = band_high(class).map_or(u64::MAX, |h| {
                short.saturating_mul(u64::try_from(h).unwrap_or(u64::MAX)) / 100 * 101
                    + ex.rules.min_fee_fen
            });
            let fits = short < ex.rules.limits.listed_below
                && p.offsets_held_t == 0
                && funds >= cost
                && m.registry().holding(account, class) + short <= m.position_limit(account, class);
            if fits {
                buyers.push((!shanxi, std::cmp::Reverse(short), c.clone(), p, funds));
            }
        } else {
            let spare = p.holdings_t - p.obligation_t;
            for vintage in CYCLE_YEARS {
                let class = UnitClass::Cea { vintage };
                let tradable = ex.tradable(m.registry(), account, class).min(spare);
                sellers.push((!shanxi, std::cmp::Reverse(tradable), c.clone(), class));
            }
        }
    }
    buyers.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    sellers.sort();
    let Some((_, _, buyer, p, funds_fen)) = buyers.into_iter().next() else {
        return Ok(None);
    };
    let short = p.obligation_t - p.holdings_t;
    let Some((_, std::cmp::Reverse(tradable_t), seller, class)) = sellers
        .into_iter()
        .find(|s| s.1.0 >= short && ex.prev_close(s.3).is_some())
    else {
        return Ok(None);
    };
    Ok(Some(WalkThrough {
        buyer,
        obligation_t: p.obligation_t,
        short_t: short,
        funds_fen,
        seller,
        class,
        tradable_t,
        close_fen: ex.prev_close(class).unwrap_or_default(),
    }))
}

/// Submit, verify and accept every company's reports of the years given, each step for all the
/// years before the next (history is written forward). A few verifications correct a fuel
/// consumption, as real verifiers do.
fn report_years(
    run: &mut Run,
    activity: &BTreeMap<(CompanyId, Year), Vec<UnitActivity>>,
    years: &[Year],
    (submitted, verified, accepted): (&str, &str, &str),
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<()> {
    // Year by year within each step (the verifier's draws come in that order).
    let of_year: Vec<_> = years
        .iter()
        .flat_map(|&year| activity.iter().filter(move |((_, y), _)| *y == year))
        .collect();
    let year = years
        .iter()
        .map(|y| y.to_string())
        .collect::<Vec<_>>()
        .join("-");
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
    let obligation = m.obligation(&run.plan, company)?;
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
        holdings_t: m.eligible_holdings(&run.plan, company),
        offsets_held_t,
    })
}

/// Companies that closed or were deregistered during the cycle are taken out of it (on
/// [`EXEMPTIONS`], in the exchange's year: see [`trade`]).
fn exempt(
    run: &Run,
    plan: &ets_policy::Plan,
    behaviour: &mut BehaviourModel,
) -> Result<Vec<Envelope>> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let mut envs = Vec::new();
    for c in &companies {
        if behaviour.exempt(&position(run, plan, c)?) {
            envs.push(run.env(
                EXEMPTIONS,
                "MEE",
                "closed or deregistered during the cycle",
                Command::ExemptCompany {
                    plan: run.plan.clone(),
                    company: c.clone(),
                    reason: "closed or deregistered during the cycle".into(),
                },
            ));
        }
    }
    Ok(envs)
}

/// A year on the exchange: companies in surplus sell, companies in deficit buy; during it, on
/// their own dates, the exemptions are recorded and offset users buy credits from projects
/// (bilaterally: CCERs trade elsewhere). Every command is recorded on or after the one before:
/// business dates in the journal never go back.
fn trade(
    run: &mut Run,
    plan: &ets_policy::Plan,
    projects: &[ets_sim::OffsetProject],
    behaviour: &mut BehaviourModel,
    seed: u64,
    exemptions: Vec<Envelope>,
) -> Result<()> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let exempted: std::collections::BTreeSet<&CompanyId> = exemptions
        .iter()
        .filter_map(|e| match &e.command {
            Command::ExemptCompany { company, .. } => Some(company),
            _ => None,
        })
        .collect();
    let mut sellers: Vec<(CompanyId, u64)> = Vec::new();
    let mut buyers: Vec<(CompanyId, u64, u64)> = Vec::new();
    for c in companies.iter().filter(|c| !exempted.contains(c)) {
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
    let mut envs = exemptions.clone();
    for (i, (buyer, _, mut need_offsets)) in buyers.into_iter().enumerate() {
        let date = days[i * days.len() / companies.len().max(1)];
        if !run.due(d(date)) {
            continue;
        }
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
    let sellers = sellers
        .into_iter()
        .map(|(c, q)| (c.to_string(), q))
        .collect();
    let buyers = buyer_allowances
        .into_iter()
        .map(|(c, q)| (c.to_string(), q))
        .collect();
    // Stable: the exemptions first, then the purchases in buyer order.
    envs.sort_by_key(|e| e.date);
    exchange::run_year(run, sellers, buyers, seed, envs)
}

fn surrender(run: &mut Run, plan: &ets_policy::Plan, behaviour: &mut BehaviourModel) -> Result<()> {
    let companies: Vec<CompanyId> = run.store.market().company_ids().cloned().collect();
    let mut envs = Vec::new();
    for c in companies
        .iter()
        .filter(|c| !run.store.market().is_exempted(&run.plan, c))
    {
        let p = position(run, plan, c)?;
        let limit = ets_compliance::offset_limit_t(p.obligation_t, &plan.compliance);
        let (mut allowances, mut offsets) = behaviour.surrender_plan(&p, limit);
        // On the deadline, after the year's last close: the behaviour model decides from the
        // position the whole year's trading left, and history is written forward.
        let date = SURRENDER;
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
                    plan: run.plan.clone(),
                    company: c.clone(),
                    class,
                    quantity: q,
                },
            ));
        }
    }
    run.phase("surrender", envs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ets_types::UnitCategory;
    use rust_decimal::prelude::ToPrimitive;

    /// cn-power.toml says its reference intensities equal the shipped 2019-2020 benchmarks (so
    /// the default demo is the market it always was, and a plan with those benchmarks meets a
    /// fleet centred on them); this keeps the two files saying the same.
    #[test]
    fn the_generator_centres_on_the_2019_2020_benchmarks() {
        let cfg = GeneratorConfig::default_cn_power();
        let plan = ets_policy::Plan::builtin(SHIPPED_PLAN).unwrap();
        for cat in UnitCategory::ALL {
            let r = &cfg.intensity.categories[cat.key()];
            for &year in &plan.years {
                let b = plan.allocation.benchmark(cat, year).unwrap();
                assert_eq!(
                    (
                        b.supply_t_per_mwh.to_f64().unwrap(),
                        b.heat_t_per_gj.to_f64().unwrap()
                    ),
                    (r.supply_t_per_mwh, r.heat_t_per_gj),
                    "{} {year}",
                    cat.key()
                );
            }
        }
    }

    #[test]
    fn the_stop_window_is_between_the_exemptions_and_the_first_surrenders() {
        assert!(check_until(Some(d(EXEMPTIONS))).is_ok());
        assert!(check_until(Some(d(UNTIL_LAST))).is_ok());
        assert!(check_until(Some(d("2021-10-07"))).is_err());
        assert!(check_until(Some(d("2021-12-15"))).is_err());
        assert!(check_until(Some(d(SURRENDER))).is_err());
        // Everything the demo records before the exchange's year is dated before its first day.
        assert!(d(TRUE_UP) < d("2021-07-16") && d(EXEMPTIONS) > d(TRUE_UP));
    }
}
