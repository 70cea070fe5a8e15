//! One regulator step per function: read a file, check all of it, submit it as one atomic
//! journal batch, print what happened. A bad file changes nothing.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ets_journal::JournalOptions;
use ets_market::{Command, Envelope, Market};
use ets_store::{Location, ReadReport, State, Store, StoreError};
use ets_types::{CompanyId, Date, ProjectId, UnitClass, Year};

use crate::output;

pub struct Ctx {
    /// Where the journal is: `--data` or `--db postgres://…`.
    pub location: Location,
    pub date: Date,
    pub initiator: String,
    /// `--correction`: the reason a command may be dated before the journal's latest date.
    pub correction: Option<String>,
}

impl Ctx {
    pub fn envelope(&self, reason: &str, command: Command) -> Envelope {
        let reason = match &self.correction {
            Some(why) => format!("{reason} (correction dated back: {why})"),
            None => reason.to_string(),
        };
        Envelope {
            date: self.date,
            initiator: self.initiator.clone(),
            key: None,
            reason,
            command,
        }
    }
}

/// One movement given with flags instead of a file.
#[derive(clap::Args, Default)]
pub struct OneMovement {
    /// Source holder: company id, project id, holder name or account number (CN-000123).
    #[arg(long)]
    pub from: Option<String>,
    /// Destination holder (transfers).
    #[arg(long)]
    pub to: Option<String>,
    /// Company (surrender).
    #[arg(long)]
    pub company: Option<String>,
    /// "CEA" or an offset project id.
    #[arg(long, default_value = "CEA")]
    pub unit: String,
    #[arg(long)]
    pub vintage: Option<u16>,
    #[arg(long)]
    pub quantity: Option<u64>,
    /// Idempotency key: a retry with the same key moves nothing.
    #[arg(long)]
    pub key: Option<String>,
}

/// Opens the store for writing (its single-writer lock is taken).
pub fn open(ctx: &Ctx) -> Result<Store> {
    let (store, report) = Store::open_at(&ctx.location, ctx.date, JournalOptions::default())
        .with_context(|| format!("opening the {}", ctx.location.describe()))?;
    if let Some(t) = report.torn_tail {
        eprintln!(
            "journal: cut a torn tail of {} bytes at offset {} ({}): an incomplete batch that was never acknowledged; last record is {}",
            t.bytes_cut, t.offset, t.reason, t.last_seq
        );
    }
    // Business dates never go back; a correction dated back is the regulator's documented
    // exception, recorded with its reason.
    let behind = store.state().check_date(ctx.date);
    match (behind, &ctx.correction) {
        (Err(behind), None) => bail!(
            "--date {}: {behind}; a regulator's correction of an earlier day takes --correction REASON",
            ctx.date
        ),
        (Ok(()), Some(_)) => bail!(
            "--correction: --date {} is not before the journal's latest business date{}; drop --correction",
            ctx.date,
            store
                .state()
                .last_date()
                .map_or(" (none yet)".to_string(), |d| format!(" {d}"))
        ),
        _ => {}
    }
    Ok(store)
}

/// What a read-only command sees: the durable prefix of the journal, replayed without the
/// writer's lock, so that reports run beside a server that is writing.
pub struct Snapshot {
    pub state: State,
    pub report: ReadReport,
}

impl Snapshot {
    pub fn market(&self) -> &Market {
        &self.state.market
    }
}

/// Reads the store without taking its lock (see [`Snapshot`]).
pub fn snapshot(ctx: &Ctx) -> Result<Snapshot> {
    let (state, report) = ets_store::read(&ctx.location)
        .with_context(|| format!("reading the {}", ctx.location.describe()))?;
    Ok(Snapshot { state, report })
}

fn read(file: &Path) -> Result<(String, String)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok((file.display().to_string(), text))
}

type Parser<T> = fn(&str, &str) -> Result<Vec<T>, ets_files::FileErrors>;

/// Parses a file as JSON when its name ends in `.json`, as CSV otherwise.
fn parse<T>(
    file: &Path,
    name: &str,
    text: &str,
    csv: Parser<T>,
    json: Parser<T>,
) -> Result<Vec<T>> {
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse_with(name, text, if is_json { json } else { csv })
}

/// Parses a whole file; an error lists its problems and says nothing of it was applied.
fn parse_with<T>(name: &str, text: &str, parser: Parser<T>) -> Result<Vec<T>> {
    parser(name, text).map_err(|e| anyhow!("{e}\nnothing of {name} was applied"))
}

/// The rows of a movement file, or the one row given with flags.
fn movement_rows<T>(
    file: Option<&Path>,
    csv: Parser<T>,
    from_flags: impl FnOnce() -> Result<T>,
) -> Result<(String, Vec<T>)> {
    match file {
        Some(f) => {
            let (name, text) = read(f)?;
            let rows = parse_with(&name, &text, csv)?;
            Ok((name, rows))
        }
        None => Ok(("the command line".to_string(), vec![from_flags()?])),
    }
}

/// Submits a file's commands all or nothing; `origin(i)` names where command `i` came from.
fn submit_file(
    store: &mut Store,
    file: &str,
    envs: &[Envelope],
    origin: impl Fn(usize) -> String,
) -> Result<()> {
    match store.submit_all(envs) {
        Ok(_) => Ok(()),
        Err(StoreError::RejectedAt { index, error }) => {
            bail!("{}: {error}\nnothing of {file} was applied", origin(index))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn adopt_plan(ctx: &Ctx, plan: &str, replaces: Option<String>) -> Result<()> {
    let (source, toml) = match ets_policy::Plan::builtin_text(plan) {
        Some(text) => (format!("{plan}.toml (shipped)"), text.to_string()),
        None => read(Path::new(plan))?,
    };
    let mut store = open(ctx)?;
    match replaces {
        None => {
            store.submit(&ctx.envelope("plan adopted", Command::AdoptPlan { source, toml }))?;
            println!("adopted plan {plan}");
        }
        Some(old) => {
            let command = Command::ReplacePlan {
                replaces: old.clone(),
                source,
                toml,
            };
            store.submit(&ctx.envelope("plan adopted in place of another", command))?;
            println!("adopted plan {plan} in place of {old}");
        }
    }
    Ok(())
}

pub fn list_plans(ctx: &Ctx) -> Result<()> {
    println!("shipped: {}", ets_policy::Plan::builtin_ids().join(", "));
    let exists = match &ctx.location {
        Location::Dir(dir) => dir.join("journal.log").exists(),
        Location::Postgres { .. } => true,
    };
    if exists {
        let store = snapshot(ctx)?;
        let adopted: Vec<&str> = store.market().plan_ids().collect();
        println!(
            "adopted: {}",
            if adopted.is_empty() {
                "none".to_string()
            } else {
                adopted.join(", ")
            }
        );
    }
    Ok(())
}

pub fn import_companies(ctx: &Ctx, file: &Path) -> Result<()> {
    let (name, text) = read(file)?;
    let companies = parse_with(&name, &text, ets_files::parse_companies_csv)?;
    let envs: Vec<Envelope> = companies
        .iter()
        .map(|c| {
            ctx.envelope(
                "company registered",
                Command::RegisterCompany {
                    company: c.clone(),
                    units: Vec::new(),
                },
            )
        })
        .collect();
    let mut store = open(ctx)?;
    submit_file(&mut store, &name, &envs, |i| {
        format!("{name}: company {}", companies[i].id)
    })?;
    println!("registered {} companies from {name}", companies.len());
    Ok(())
}

pub fn import_units(ctx: &Ctx, file: &Path) -> Result<()> {
    let (name, text) = read(file)?;
    let units = parse_with(&name, &text, ets_files::parse_units_csv)?;
    let envs: Vec<Envelope> = units
        .iter()
        .map(|u| ctx.envelope("unit registered", Command::RegisterUnit { unit: u.clone() }))
        .collect();
    let mut store = open(ctx)?;
    submit_file(&mut store, &name, &envs, |i| {
        format!("{name}: unit {}", units[i].id)
    })?;
    println!("registered {} generating units from {name}", units.len());
    Ok(())
}

pub fn import_reports(ctx: &Ctx, file: &Path) -> Result<()> {
    let (name, text) = read(file)?;
    let reports = parse(
        file,
        &name,
        &text,
        ets_files::parse_reports_csv,
        ets_files::parse_reports_json,
    )?;
    let mut store = open(ctx)?;
    let envs: Vec<Envelope> = reports
        .iter()
        .map(|r| {
            // A report that was already accepted can only change by a correction.
            let command = match store.market().report(&r.company, r.year) {
                Some(existing) if existing.status == ets_mrv::ReportStatus::Accepted => {
                    Command::CorrectReport {
                        report: r.clone(),
                        reason: format!("corrected by {name}"),
                    }
                }
                _ => Command::SubmitReport { report: r.clone() },
            };
            ctx.envelope("emission report submitted", command)
        })
        .collect();
    submit_file(&mut store, &name, &envs, |i| {
        format!(
            "{name}: report of {} for {}",
            reports[i].company, reports[i].year
        )
    })?;
    println!("submitted {} emission reports from {name}", reports.len());
    Ok(())
}

pub fn verify_reports(ctx: &Ctx, file: &Path) -> Result<()> {
    let (name, text) = read(file)?;
    let items = parse(
        file,
        &name,
        &text,
        ets_files::parse_verifications_csv,
        ets_files::parse_verifications_json,
    )?;
    let envs: Vec<Envelope> = items
        .iter()
        .map(|v| Envelope {
            initiator: v.verifier.clone(),
            ..ctx.envelope(
                "verification recorded",
                Command::VerifyReport {
                    verification: v.clone(),
                },
            )
        })
        .collect();
    let mut store = open(ctx)?;
    submit_file(&mut store, &name, &envs, |i| {
        format!(
            "{name}: verification of {} for {}",
            items[i].company, items[i].year
        )
    })?;
    println!("recorded {} verifications from {name}", items.len());
    Ok(())
}

fn company_ids(market: &Market, named: &[String]) -> Result<Vec<CompanyId>> {
    if named.is_empty() {
        return Ok(market.company_ids().cloned().collect());
    }
    named
        .iter()
        .map(|c| CompanyId::parse(c).map_err(|e| anyhow!("--company: {e}")))
        .collect()
}

pub fn accept_reports(ctx: &Ctx, year: Year, named: &[String]) -> Result<()> {
    let mut store = open(ctx)?;
    let companies = company_ids(store.market(), named)?;
    let envs: Vec<Envelope> = companies
        .iter()
        .filter(|c| {
            // Without names: every report of the year awaiting acceptance.
            !named.is_empty()
                || store
                    .market()
                    .report(c, year)
                    .is_some_and(|r| r.status == ets_mrv::ReportStatus::Verified)
        })
        .map(|c| {
            ctx.envelope(
                "verified report accepted",
                Command::AcceptReport {
                    company: c.clone(),
                    year,
                },
            )
        })
        .collect();
    if envs.is_empty() {
        bail!("no verified reports for {year} await acceptance");
    }
    submit_file(&mut store, "the acceptance", &envs, |i| {
        format!("report of {}", company_of(&envs[i]))
    })?;
    println!("accepted {} reports for {year}", envs.len());
    Ok(())
}

fn company_of(env: &Envelope) -> String {
    match &env.command {
        Command::AcceptReport { company, .. }
        | Command::PreAllocate { company, .. }
        | Command::TrueUp { company, .. } => company.to_string(),
        Command::Surrender { company, .. } => company.to_string(),
        _ => String::new(),
    }
}

pub fn allocate(ctx: &Ctx, plan: &str, final_stage: bool, named: &[String]) -> Result<()> {
    let mut store = open(ctx)?;
    let companies = company_ids(store.market(), named)?;
    let (reason, make): (&str, fn(String, CompanyId) -> Command) = if final_stage {
        ("true-up after verification", |plan, company| {
            Command::TrueUp { plan, company }
        })
    } else {
        ("pre-allocation", |plan, company| Command::PreAllocate {
            plan,
            company,
        })
    };
    let envs: Vec<Envelope> = companies
        .iter()
        .map(|c| ctx.envelope(reason, make(plan.to_string(), c.clone())))
        .collect();
    submit_file(&mut store, "the allocation", &envs, |i| {
        format!("allocation to {}", company_of(&envs[i]))
    })?;
    let m = store.market();
    let total: u64 = companies
        .iter()
        .flat_map(|c| {
            let years = m.plan(plan).map(|p| p.years.clone()).unwrap_or_default();
            let stage = if final_stage {
                ets_market::Stage::Final
            } else {
                ets_market::Stage::Pre
            };
            years
                .into_iter()
                .filter_map(move |y| m.allocation(plan, c, y, stage))
        })
        .sum();
    println!(
        "{} allocation of plan {plan}: {} companies, {} t",
        if final_stage { "final" } else { "pre" },
        companies.len(),
        output::t(total)
    );
    Ok(())
}

pub fn register_project(
    ctx: &Ctx,
    project: &str,
    name: &str,
    province: &str,
    kind: &str,
) -> Result<()> {
    let project = ProjectId::parse(project)?;
    let mut store = open(ctx)?;
    let cmd = Command::RegisterProject {
        project: project.clone(),
        name: name.into(),
        province: province.into(),
        kind: kind.into(),
    };
    store.submit(&ctx.envelope("offset project registered", cmd))?;
    println!(
        "registered offset project {project}, account {}",
        store
            .market()
            .project_account(&project)
            .expect("registered")
    );
    Ok(())
}

pub fn issue_offsets(ctx: &Ctx, project: &str, vintage: Year, quantity: u64) -> Result<()> {
    let project = ProjectId::parse(project)?;
    let mut store = open(ctx)?;
    store.submit(&ctx.envelope(
        "offset credits issued",
        Command::IssueOffsets {
            project: project.clone(),
            vintage,
            quantity,
        },
    ))?;
    println!(
        "issued {} t of {project} vintage {vintage}",
        output::t(quantity)
    );
    Ok(())
}

fn class_of(market: &Market, unit: &str, vintage: Year) -> Result<UnitClass> {
    if unit.eq_ignore_ascii_case("CEA") {
        return Ok(UnitClass::Cea { vintage });
    }
    let project = ProjectId::parse(unit)?;
    let number = market
        .project_number(&project)
        .with_context(|| format!("unknown offset project {project}"))?;
    Ok(UnitClass::Ccer {
        project: number,
        vintage,
    })
}

fn need<T: Clone>(v: &Option<T>, flag: &str) -> Result<T> {
    v.clone()
        .with_context(|| format!("{flag} is required without a file"))
}

pub fn transfer(ctx: &Ctx, file: Option<&Path>, one: &OneMovement) -> Result<()> {
    let mut store = open(ctx)?;
    let (name, rows) = movement_rows(file, ets_files::parse_transfers_csv, || {
        Ok(ets_files::TransferRow {
            line: 0,
            from: need(&one.from, "--from")?,
            to: need(&one.to, "--to")?,
            unit: one.unit.clone(),
            vintage: need(&one.vintage, "--vintage")?,
            quantity: need(&one.quantity, "--quantity")?,
            key: one.key.clone(),
        })
    })?;
    let mut envs = Vec::with_capacity(rows.len());
    for r in &rows {
        let class = class_of(store.market(), &r.unit, r.vintage)
            .with_context(|| format!("{name}:{}: field `unit`", r.line))?;
        let cmd = Command::Transfer {
            class,
            quantity: r.quantity,
            from: r.from.clone(),
            to: r.to.clone(),
        };
        envs.push(Envelope {
            key: r.key.clone(),
            ..ctx.envelope("transfer", cmd)
        });
    }
    submit_file(&mut store, &name, &envs, |i| {
        format!("{name}:{}", rows[i].line)
    })?;
    println!(
        "{} transfers applied ({} t)",
        rows.len(),
        output::t(rows.iter().map(|r| r.quantity).sum())
    );
    Ok(())
}

pub fn surrender(ctx: &Ctx, plan: &str, file: Option<&Path>, one: &OneMovement) -> Result<()> {
    let mut store = open(ctx)?;
    let (name, rows) = movement_rows(file, ets_files::parse_surrenders_csv, || {
        Ok(ets_files::SurrenderRow {
            line: 0,
            company: CompanyId::parse(&need(&one.company, "--company")?)?,
            unit: one.unit.clone(),
            vintage: need(&one.vintage, "--vintage")?,
            quantity: need(&one.quantity, "--quantity")?,
            key: one.key.clone(),
        })
    })?;
    let mut envs = Vec::with_capacity(rows.len());
    for r in &rows {
        let class = class_of(store.market(), &r.unit, r.vintage)
            .with_context(|| format!("{name}:{}: field `unit`", r.line))?;
        let cmd = Command::Surrender {
            plan: plan.to_string(),
            company: r.company.clone(),
            class,
            quantity: r.quantity,
        };
        envs.push(Envelope {
            key: r.key.clone(),
            initiator: r.company.to_string(),
            ..ctx.envelope("surrender", cmd)
        });
    }
    submit_file(&mut store, &name, &envs, |i| {
        format!("{name}:{}", rows[i].line)
    })?;
    println!(
        "{} surrenders applied ({} t)",
        rows.len(),
        output::t(rows.iter().map(|r| r.quantity).sum())
    );
    Ok(())
}

pub fn exempt(ctx: &Ctx, plan: &str, company: &str, reason: &str) -> Result<()> {
    let company = CompanyId::parse(company)?;
    let mut store = open(ctx)?;
    let cmd = Command::ExemptCompany {
        plan: plan.to_string(),
        company: company.clone(),
        reason: reason.to_string(),
    };
    store.submit(&ctx.envelope(reason, cmd))?;
    println!("{company} is exempted from plan {plan}: {reason}");
    Ok(())
}

pub fn assess(ctx: &Ctx, plan: &str) -> Result<()> {
    let mut store = open(ctx)?;
    store.submit(&ctx.envelope(
        "compliance assessed at the deadline",
        Command::AssessCycle {
            plan: plan.to_string(),
        },
    ))?;
    let report = store.market().compliance_report(plan)?;
    output::print_compliance(
        store.market(),
        &report,
        &output::CompanyFilter::default(),
        &mut std::io::stdout(),
    )?;
    Ok(())
}

/// What `ets report compliance` shows.
pub struct ComplianceQuery<'a> {
    pub plan: Option<&'a str>,
    pub province: Option<&'a str>,
    pub status: Option<crate::StatusArg>,
    /// With CSV: the totals table instead of the companies.
    pub totals: bool,
}

pub fn report_compliance(
    ctx: &Ctx,
    query: ComplianceQuery<'_>,
    format: crate::Format,
) -> Result<()> {
    // A misspelt province is refused with the valid spellings before anything is read.
    let province = query
        .province
        .map(|p| {
            ets_types::province_named(p).with_context(|| {
                format!(
                    "--province {p:?} is not a province; write one of: {}",
                    ets_types::province_spellings()
                )
            })
        })
        .transpose()?;
    let store = snapshot(ctx)?;
    let m = store.market();
    let plan = match query.plan {
        Some(p) => p.to_string(),
        None => m
            .plan_ids()
            .last()
            .context("no plan adopted yet: run `ets plan adopt`")?
            .to_string(),
    };
    let report = m.compliance_report(&plan)?;
    let filter = output::CompanyFilter {
        province,
        status: query.status.map(|s| match s {
            crate::StatusArg::Complied => ets_compliance::Status::Complied,
            crate::StatusArg::Partly => ets_compliance::Status::Partly,
            crate::StatusArg::NotAtAll => ets_compliance::Status::NotAtAll,
        }),
    };
    let mut out = std::io::stdout().lock();
    if format.csv {
        let table = if query.totals {
            ets_market::exports::compliance_totals(&report, |t| filter.keeps_province(&t.name))
        } else {
            ets_market::exports::compliance_companies(m, &report, |c| filter.keeps(c))
        };
        out.write_all(table.to_csv().as_bytes())?;
    } else if format.json {
        output::write_compliance_json(m, &report, &filter, &mut out)?;
    } else {
        output::print_compliance(m, &report, &filter, &mut out)?;
    }
    Ok(())
}

pub fn holdings(ctx: &Ctx, holder: &str, csv: bool) -> Result<()> {
    let store = snapshot(ctx)?;
    let m = store.market();
    let account = m
        .resolve_account(holder)
        .with_context(|| format!("unknown holder {holder:?}"))?;
    if csv {
        let table = ets_market::exports::holdings(m, account);
        std::io::stdout().write_all(table.to_csv().as_bytes())?;
        return Ok(());
    }
    let a = m.registry().account(account).expect("resolved");
    println!(
        "account {} ({:?}, {:?}) of {}",
        a.id, a.kind, a.status, a.holder
    );
    // A company's position in each cycle: what it was allocated, what it owes, what it
    // surrendered, and what it must still buy or may sell.
    if let Ok(company) = CompanyId::parse(holder)
        && let Some(c) = m.company(&company)
    {
        println!(
            "{} ({}, {})",
            c.name,
            c.province,
            ets_types::province_zh(&c.province).unwrap_or("")
        );
        for plan in m.plan_ids() {
            let report = m.compliance_report(plan)?;
            let Some(r) = report.companies.iter().find(|r| r.company == company) else {
                if report.pending.contains(&company) {
                    println!("  plan {plan}: no accepted report or final allocation yet");
                }
                continue;
            };
            let eligible = m.eligible_holdings(plan, &company);
            println!(
                "  plan {plan}: allocated {} t, verified emissions {} t, obligation {} t, surrendered {} t (offsets {} t){}",
                output::t(r.allocated_t),
                output::t(r.verified_t),
                output::t(r.obligation_t),
                output::t(r.surrendered_t),
                output::t(r.offsets_used_t),
                report
                    .assessed_on
                    .map_or(String::new(), |d| format!(", assessed on {d}"))
            );
            let owed = r.obligation_t.saturating_sub(r.surrendered_t);
            if report.assessed_on.is_some() {
                println!(
                    "    status {:?}, shortfall {} t, fine {} CNY",
                    r.status,
                    output::t(r.shortfall_t),
                    output::t(r.penalty.map_or(0, |p| p.fine_cny))
                );
            } else if owed == 0 {
                println!(
                    "    nothing left to surrender; {} t of eligible allowances held beyond it",
                    output::t(eligible)
                );
            } else if eligible >= owed {
                println!(
                    "    still to surrender {} t; holds {} t eligible: nothing to buy, {} t may be sold",
                    output::t(owed),
                    output::t(eligible),
                    output::t(eligible - owed)
                );
            } else {
                println!(
                    "    still to surrender {} t; holds {} t eligible: {} t still to buy",
                    output::t(owed),
                    output::t(eligible),
                    output::t(owed - eligible)
                );
            }
        }
    }
    if m.registry().holdings_of(account).is_empty() {
        println!("  holds no units");
    }
    for (class, q) in m.registry().holdings_of(account) {
        let blocks = m.registry().blocks(account, class);
        let shown: Vec<String> = blocks.iter().take(5).map(|b| b.to_string()).collect();
        let more = if blocks.len() > 5 {
            format!(" and {} more blocks", blocks.len() - 5)
        } else {
            String::new()
        };
        println!(
            "  {class}: {} t, serials {}{more}",
            output::t(q),
            shown.join(", ")
        );
    }
    Ok(())
}

pub fn verify(ctx: &Ctx) -> Result<()> {
    // Replay checks the hash chain, applies every market and access event, and checks the
    // market's invariants; it reads beside a running writer and takes no lock.
    let Snapshot { state, report } = snapshot(ctx)?;
    let journal = &report;
    match (journal.frames, journal.bytes) {
        (Some(frames), Some(bytes)) => println!(
            "journal: {} records in {} batches ({} bytes); hash chain intact from genesis to record {} ({}); HEAD anchor at record {}",
            journal.records,
            frames,
            bytes,
            journal.last_seq,
            &journal.last_hash_hex[..16],
            journal.durable_seq
        ),
        _ => println!(
            "journal ({}): {} records; hash chain intact from genesis to record {} ({}); head at record {}",
            ctx.location.describe(),
            journal.records,
            journal.last_seq,
            &journal.last_hash_hex[..16],
            journal.durable_seq
        ),
    }
    if let Some(t) = &journal.torn_tail {
        println!(
            "journal: torn tail of {} bytes at offset {} ({}): a batch being written or never acknowledged; it will be cut when the store is next opened for writing if it is still incomplete",
            t.bytes_cut, t.offset, t.reason
        );
    }
    if journal.last_seq > journal.durable_seq {
        println!(
            "journal: records {}..={} are written but not yet anchored as durable (a writer is at work); checked up to {}",
            journal.durable_seq + 1,
            journal.last_seq,
            journal.durable_seq
        );
    }
    let events = journal.events;
    let market = &state.market;
    let twice = market.vintages_allocated_twice();
    if !twice.is_empty() {
        let list: Vec<String> = twice
            .iter()
            .map(|(y, plans)| format!("{y} by {}", plans.join(" and ")))
            .collect();
        bail!(
            "vintages allocated by two plans (each issued twice): {}",
            list.join("; ")
        );
    }
    let access = state
        .access
        .check_invariants(market)
        .map_err(|e| anyhow!("access invariant violated: {e}"))?;
    println!(
        "access: {} users ({} active), {} tokens and {} sessions of existing users, {} account requests, {} instructions of existing companies; {} audit entries replayed",
        access.users,
        access.active,
        access.tokens,
        access.sessions,
        access.requests,
        access.instructions,
        state.audit_count
    );
    let s = market
        .check_invariants()
        .map_err(|e| anyhow!("invariant violated: {e}"))?;
    println!("replay: {events} events applied without error");
    match state.first_dated_back {
        None => println!(
            "business dates: never go back, from the registry's opening on {} to {}",
            market.opened_on(),
            state.last_date().unwrap_or(market.opened_on())
        ),
        Some((seq, date, last)) => println!(
            "business dates: {} records dated before an earlier one (corrections dated back, or written before dates were held to go forward), the first record {seq} dated {date} after {last}; latest {}",
            state.dated_back,
            last.max(state.last_date().unwrap_or(last))
        ),
    }
    println!(
        "registry: {} accounts, {} transactions numbered 1..{} without gaps, {} unit classes, {} serial blocks",
        s.registry.accounts,
        s.registry.transactions,
        s.registry.transactions,
        s.registry.classes,
        s.registry.blocks
    );
    println!(
        "registry: {} t issued = {} t held + surrendered + cancelled (surrendered {} t, cancelled {} t); serial blocks tile each class without overlap or gap; no negative holding",
        output::t(s.registry.issued_t),
        output::t(s.registry.issued_t),
        output::t(s.registry.surrendered_t),
        output::t(s.registry.cancelled_t)
    );
    println!(
        "market: {} companies with their own accounts, {} units, {} reports naming only their company's units; {} recorded allocations equal the registry's allocations; surrenders of {} company-cycles equal the registry's",
        s.companies, s.units, s.reports, s.allocations, s.surrenders
    );
    if let Some(ex) = market.exchange() {
        println!(
            "exchange: {} trades settled delivery versus payment; money conserved ({} fen deposited - {} fen withdrawn = {} fen held); unit freezes within holdings; order books uncrossed",
            ex.trades().len(),
            ex.funds.deposited_fen(),
            ex.funds.withdrawn_fen(),
            ex.funds.total_fen()
        );
        println!(
            "exchange: {} funds freezes ({} fen) and {} unit freezes ({} t) each held for a live order, proposal, auction or bid, or a trade awaiting settlement; none orphaned",
            ex.funds.freezes().count(),
            ex.funds.freezes().map(|(_, f)| f.fen).sum::<u64>(),
            ex.freezes.freezes().count(),
            output::t(ex.freezes.freezes().map(|(_, f)| f.quantity).sum::<u64>())
        );
    }
    println!("ok");
    Ok(())
}

pub fn open_exchange(ctx: &Ctx, file: Option<&Path>) -> Result<()> {
    let (source, toml) = match file {
        Some(f) => read(f)?,
        None => (
            "cn-seee.toml (shipped)".to_string(),
            ets_market::trading::config::MarketRules::builtin_text().to_string(),
        ),
    };
    let mut store = open(ctx)?;
    store.submit(&ctx.envelope(
        "exchange opened",
        Command::OpenExchange {
            source: source.clone(),
            toml,
        },
    ))?;
    println!("exchange open under {source}");
    Ok(())
}

/// One exchange command; prints what it did (the order id, the trades).
pub fn exchange(ctx: &Ctx, c: ets_market::ExchangeCommand) -> Result<()> {
    let mut store = open(ctx)?;
    let events = store.submit(&ctx.envelope("exchange", Command::Exchange(c)))?;
    for e in &events {
        if let ets_market::Event::Exchange {
            input,
            trades,
            released,
        } = e
        {
            if let Some(id) = input.id() {
                println!("accepted as order {id}");
            } else {
                println!("done");
            }
            for r in released.iter().flatten() {
                println!("{}", output::release(r));
            }
            for t in trades {
                println!(
                    "trade {}: {} t of {} at {} CNY/t, {} -> {} ({:?}){}",
                    t.id,
                    output::t(t.qty),
                    t.class,
                    output::cny(t.price),
                    t.seller,
                    t.buyer,
                    t.kind,
                    t.registry_seq
                        .map_or(" awaiting end-of-day settlement".to_string(), |s| format!(
                            ", registry transaction {s}"
                        ))
                );
            }
        }
    }
    Ok(())
}

/// The unit class named by `--unit` (CEA or an offset project id) and `--vintage`.
pub fn class_for(ctx: &Ctx, unit: &str, vintage: Year) -> Result<UnitClass> {
    if unit.eq_ignore_ascii_case("CEA") {
        return Ok(UnitClass::Cea { vintage });
    }
    let store = snapshot(ctx)?;
    class_of(store.market(), unit, vintage)
}

pub fn book(ctx: &Ctx, unit: &str, vintage: Year) -> Result<()> {
    let store = snapshot(ctx)?;
    let class = class_of(store.market(), unit, vintage)?;
    let ex = store
        .market()
        .exchange()
        .context("the exchange is not open: run `ets exchange open`")?;
    let (bids, asks) = ex.depth(class, 5);
    println!(
        "{class}: previous close {} CNY/t",
        ex.prev_close(class).map_or("-".into(), output::cny)
    );
    println!(
        "{:>12} {:>10} | {:<10} {:<12}",
        "bid qty", "bid", "ask", "ask qty"
    );
    for i in 0..bids.len().max(asks.len()) {
        let b = bids.get(i).map_or((String::new(), String::new()), |l| {
            (output::t(l.qty), output::cny(l.price))
        });
        let a = asks.get(i).map_or((String::new(), String::new()), |l| {
            (output::cny(l.price), output::t(l.qty))
        });
        println!("{:>12} {:>10} | {:<10} {:<12}", b.0, b.1, a.0, a.1);
    }
    for side in [
        ets_market::trading::exchange::OrderSide::Sell,
        ets_market::trading::exchange::OrderSide::Buy,
    ] {
        for (id, account, price, qty) in ex.best_orders(class, side, 5) {
            println!(
                "order {id}: {side:?} {} t at {} CNY/t by {account}",
                output::t(qty),
                output::cny(price)
            );
        }
    }
    Ok(())
}

pub fn report_market(ctx: &Ctx, format: crate::Format) -> Result<()> {
    let store = snapshot(ctx)?;
    let ex = store
        .market()
        .exchange()
        .context("the exchange is not open: run `ets exchange open`")?;
    if format.csv {
        let table = ets_market::exports::market_days(ex);
        std::io::stdout().write_all(table.to_csv().as_bytes())?;
        Ok(())
    } else if format.json {
        output::write_market_json(ex, &mut std::io::stdout())
    } else {
        output::print_market(ex, &mut std::io::stdout())
    }
}
