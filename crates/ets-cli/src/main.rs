//! `ets`: the command line of the emissions trading system.
//!
//! Layout: `main.rs` parses flags and runs one step of the regulator's work on files
//! (`steps.rs`), `demo.rs` runs a whole generated cycle, `output.rs` prints reports. The clock is
//! read here and only here: every command gets its business date from `--date` or today.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ets_types::Date;

/// mimalloc rather than glibc's allocator: the server's request path allocates a lot of small,
/// short-lived objects, where glibc's malloc measured 20-25 % of server CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod allocation_report;
mod demo;
mod output;
mod serve;
mod steps;

#[derive(Parser)]
#[command(
    name = "ets",
    version,
    about = "An open emissions trading system: registry, MRV, allocation and compliance of a national carbon market"
)]
struct Cli {
    /// Data directory (the journal lives here).
    #[arg(long, global = true, env = "ETS_DATA", default_value = "./ets-data")]
    data: PathBuf,
    /// The PostgreSQL store instead of the embedded one in --data:
    /// postgres://user@host:port/database[#schema] (default schema `ets`).
    #[arg(long, global = true, env = "ETS_DB")]
    db: Option<String>,
    /// Business date of the command (YYYY-MM-DD); default: today (UTC). Business dates never go
    /// back: a date before the latest one in the journal is refused (see --correction).
    /// Commands that record nothing (reports, holdings, verify, the book) refuse it.
    #[arg(long, global = true, value_parser = parse_date)]
    date: Option<Date>,
    /// A regulator's correction dated before the latest business date in the journal: allows
    /// that one command's --date, and records this reason with it.
    #[arg(long, global = true, value_name = "REASON")]
    correction: Option<String>,
    /// Who performs the command (recorded in the journal).
    #[arg(long = "as", global = true, default_value = "regulator")]
    initiator: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate China's power sector and run the whole 2019–2020 cycle in a fresh data directory.
    Demo {
        /// Seed of the market generator and the behaviour model.
        #[arg(long, default_value_t = 2021)]
        seed: u64,
        /// Print only the summary (no progress bars).
        #[arg(long)]
        quiet: bool,
        /// Run the cycle under this 2019–2020 plan (a TOML file or a shipped plan's id) instead
        /// of cn-power-2019-2020; the fleet is the same for one seed whatever the plan.
        #[arg(long)]
        plan: Option<String>,
        /// Stop after this day's close (2021-10-08 to 2021-12-14), before the surrenders and the
        /// assessment, leaving a market to serve and trade in.
        #[arg(long, value_parser = parse_date)]
        until: Option<Date>,
        /// A generator configuration of your own (the shipped one: crates/ets-sim/cn-power.toml),
        /// e.g. a smaller market.
        #[arg(long)]
        generator: Option<PathBuf>,
    },
    /// Allocation plans: adopt one (a file or a shipped id), list, show.
    Plan {
        #[command(subcommand)]
        cmd: PlanCmd,
    },
    /// Import companies, generating units or emission reports from files.
    Import {
        #[command(subcommand)]
        what: ImportCmd,
    },
    /// Record verifications (a verifier's file) or accept verified reports (the regulator).
    Reports {
        #[command(subcommand)]
        cmd: ReportsCmd,
    },
    /// Pre-allocate or true up a plan's allowances through the registry.
    Allocate {
        #[arg(long)]
        plan: String,
        #[arg(long, value_enum)]
        stage: StageArg,
        /// Only these companies (default: every registered company).
        #[arg(long)]
        company: Vec<String>,
    },
    /// Register offset projects or issue offset credits.
    Offsets {
        #[command(subcommand)]
        cmd: OffsetsCmd,
    },
    /// Transfer units between accounts: a CSV file of transfers, or one with flags.
    Transfer {
        file: Option<PathBuf>,
        #[command(flatten)]
        one: steps::OneMovement,
    },
    /// Surrender units against a plan's obligation: a CSV file, or one with flags.
    Surrender {
        #[arg(long)]
        plan: String,
        file: Option<PathBuf>,
        #[command(flatten)]
        one: steps::OneMovement,
    },
    /// Take a company out of a cycle (closed, merged or deregistered before the deadline).
    Exempt {
        #[arg(long)]
        plan: String,
        company: String,
        #[arg(long)]
        reason: String,
    },
    /// The regulator's assessment of a cycle at or after its deadline: statuses and penalties.
    Assess {
        #[arg(long)]
        plan: String,
    },
    /// Reports.
    Report {
        #[command(subcommand)]
        what: ReportCmd,
    },
    /// The exchange: open it, trading days, funds, orders, block trades, the book.
    Exchange {
        #[command(subcommand)]
        cmd: ExchangeCmd,
    },
    /// An account's holdings and serial blocks.
    Holdings {
        holder: String,
        /// One row per unit class, for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
    /// Replay the journal, check the hash chain and every invariant, and say what was checked.
    Verify,
    /// Serve the HTTP API, the dashboard and the API docs over the store (embedded by default).
    Serve(serve::ServeArgs),
    /// Administration on the store, without a server: create a regulator.
    Admin {
        #[command(subcommand)]
        cmd: serve::AdminCmd,
    },
}

impl Cmd {
    /// The name of a command that records nothing in the journal (a report or a read), which
    /// has no business date; `None` for commands that record something.
    fn records_nothing(&self) -> Option<&'static str> {
        Some(match self {
            Cmd::Demo { .. } => "demo (dated by its own calendar; see --until)",
            Cmd::Serve(_) => "serve (dated by the server's clock; see --clock)",
            Cmd::Report { .. } => "report",
            Cmd::Holdings { .. } => "holdings",
            Cmd::Verify => "verify",
            Cmd::Plan {
                cmd: PlanCmd::List | PlanCmd::Show { .. },
            } => "plan list/show",
            Cmd::Exchange {
                cmd: ExchangeCmd::Book { .. },
            } => "exchange book",
            _ => return None,
        })
    }
}

#[derive(Subcommand)]
enum PlanCmd {
    /// Adopt a plan: a TOML file, or the id of a shipped plan (cn-power-2019-2020, cn-power-2021-2022).
    Adopt {
        plan: String,
        /// Adopt it in place of this plan, whose years it covers (before any allocation under
        /// it); without it, a plan covering an adopted plan's year is refused.
        #[arg(long)]
        replaces: Option<String>,
    },
    /// Plans shipped and adopted.
    List,
    /// Print a shipped plan's file.
    Show { id: String },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// companies.csv: company_id,name,province
    Companies { file: PathBuf },
    /// units.csv: unit_id,company_id,category,capacity_mw,cooling
    Units { file: PathBuf },
    /// Emission reports (CSV or JSON), submitted for verification.
    Reports { file: PathBuf },
}

#[derive(Subcommand)]
enum ReportsCmd {
    /// A verifier's results (CSV or JSON).
    Verify { file: PathBuf },
    /// Accept verified reports of a year (all, or the companies named).
    Accept {
        #[arg(long)]
        year: u16,
        #[arg(long)]
        company: Vec<String>,
    },
}

#[derive(Subcommand)]
enum OffsetsCmd {
    /// Register an offset project (opens its account).
    Register {
        project: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        province: String,
        #[arg(long, default_value = "forestry")]
        kind: String,
    },
    /// Issue credits of a vintage into a project's account.
    Issue {
        project: String,
        #[arg(long)]
        vintage: u16,
        #[arg(long)]
        quantity: u64,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Compliance by nation, province and company.
    Compliance {
        /// Plan (default: the only or the latest adopted).
        #[arg(long)]
        plan: Option<String>,
        /// Only this province, in English or Chinese (Shanxi, 山西, 山西省): its totals, status
        /// line and fines, and its companies listed.
        #[arg(long)]
        province: Option<String>,
        /// Only companies of this status (listed, nationwide or in --province).
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[command(flatten)]
        format: Format,
        /// With --csv: the totals (the nation and each province) instead of the companies.
        #[arg(long, requires = "csv")]
        totals: bool,
    },
    /// The exchange's daily figures: open, high, low, close (VWAP of listed trades), volume, turnover.
    Market {
        #[command(flatten)]
        format: Format,
    },
    /// Each generating unit's pre-allocation and final allocation, with its inputs and factors.
    Allocation {
        /// Plan (default: every adopted plan).
        #[arg(long)]
        plan: Option<String>,
        /// Only this company.
        #[arg(long)]
        company: Option<String>,
        #[command(flatten)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ExchangeCmd {
    /// Open the exchange under a market file (default: the shipped national market, markets/cn-seee.toml).
    Open { file: Option<PathBuf> },
    /// Open the trading day given by --date.
    OpenDay,
    /// Close the trading day: open orders expire, proposals and auctions end as the market file says, settlement runs if end-of-day; prints what it released.
    CloseDay,
    /// Pay money into a holder's funds account (CNY, up to 2 decimals).
    Deposit { holder: String, cny: String },
    /// Pay money out of a holder's available funds.
    Withdraw { holder: String, cny: String },
    /// Place a listed order (rests for the day; matches at once on a continuous market).
    Order {
        holder: String,
        #[arg(value_enum)]
        side: SideArg,
        /// "CEA" or an offset project id.
        #[arg(long, default_value = "CEA")]
        unit: String,
        #[arg(long)]
        vintage: u16,
        /// Price in CNY per tonne, e.g. 48.50.
        #[arg(long)]
        price: String,
        #[arg(long)]
        qty: u64,
        #[arg(long, value_enum, default_value = "day")]
        tif: TifArg,
        /// Time of day, Beijing time, HH:MM.
        #[arg(long, default_value = "10:00")]
        time: String,
    },
    /// Click-to-trade: take a listed order, fully or in part, at its price.
    Take {
        holder: String,
        order: u64,
        #[arg(long)]
        qty: u64,
        #[arg(long, default_value = "10:00")]
        time: String,
    },
    /// Cancel an open order.
    Cancel { holder: String, order: u64 },
    /// Propose a block trade (at least 100,000 t, afternoon session) to a named counterparty.
    Block {
        holder: String,
        counterparty: String,
        #[arg(value_enum)]
        side: SideArg,
        #[arg(long, default_value = "CEA")]
        unit: String,
        #[arg(long)]
        vintage: u16,
        #[arg(long)]
        price: String,
        #[arg(long)]
        qty: u64,
        #[arg(long, default_value = "13:30")]
        time: String,
    },
    /// The counterparty accepts a block proposal.
    Accept {
        holder: String,
        proposal: u64,
        #[arg(long, default_value = "13:30")]
        time: String,
    },
    /// Withdraw a block proposal nobody has accepted (its proposer), releasing what it froze.
    WithdrawBlock { holder: String, proposal: u64 },
    /// One-way bidding: announce a quantity to sell (floor) or buy (ceiling) with a bidding window.
    Announce {
        holder: String,
        #[arg(value_enum)]
        side: SideArg,
        #[arg(long, default_value = "CEA")]
        unit: String,
        #[arg(long)]
        vintage: u16,
        #[arg(long)]
        qty: u64,
        /// Floor (selling) or ceiling (buying) price, CNY.
        #[arg(long)]
        limit: String,
        /// Each bid pays its own price instead of the uniform clearing price.
        #[arg(long)]
        pay_as_bid: bool,
        /// Window, Beijing time, HH:MM-HH:MM.
        #[arg(long, default_value = "10:00-10:30")]
        window: String,
    },
    /// Bid in an announced one-way auction.
    Bid {
        holder: String,
        auction: u64,
        #[arg(long)]
        price: String,
        #[arg(long)]
        qty: u64,
        #[arg(long, default_value = "10:05")]
        time: String,
    },
    /// Close a one-way auction after its window: allocation by price, then time, and settlement.
    CloseAuction {
        auction: u64,
        #[arg(long, default_value = "10:30")]
        time: String,
    },
    /// The five best price levels of each side, and the open orders.
    Book {
        #[arg(long, default_value = "CEA")]
        unit: String,
        #[arg(long)]
        vintage: u16,
    },
}

/// How a report is printed: a table for people (default), JSON, or CSV for a spreadsheet.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Format {
    /// JSON (fields described in docs/reports.md).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header line (RFC 4180, UTF-8; columns described in docs/reports.md).
    #[arg(long)]
    pub csv: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Complied,
    Partly,
    NotAtAll,
}

#[derive(Clone, Copy, ValueEnum)]
enum SideArg {
    Buy,
    Sell,
}

#[derive(Clone, Copy, ValueEnum)]
enum TifArg {
    Day,
    Ioc,
    Fok,
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    Pre,
    Final,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s).map_err(|e| e.to_string())
}

/// Today's date in UTC from the system clock: the one place `ets` reads the clock.
fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as u16;
    Date::new(y, m, d).expect("the algorithm yields valid dates")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(what) = cli.command.records_nothing()
        && (cli.date.is_some() || cli.correction.is_some())
    {
        anyhow::bail!(
            "{what} records nothing and shows the journal as it stands: --date and --correction apply to commands that record something"
        );
    }
    if let Some(reason) = &cli.correction {
        anyhow::ensure!(
            !reason.trim().is_empty(),
            "--correction needs a reason (it is recorded with the command)"
        );
        anyhow::ensure!(
            cli.date.is_some(),
            "--correction is for a command dated before the journal's latest date: give that --date"
        );
    }
    let date = cli.date.unwrap_or_else(today);
    let location = ets_store::Location::parse(cli.db.as_deref(), &cli.data)?;
    let ctx = steps::Ctx {
        location: location.clone(),
        date,
        initiator: cli.initiator.clone(),
        correction: cli.correction.clone(),
    };
    match cli.command {
        Cmd::Demo {
            seed,
            quiet,
            plan,
            until,
            generator,
        } => demo::run(
            &cli.data,
            demo::Options {
                seed,
                quiet,
                plan,
                until,
                generator,
            },
        ),
        Cmd::Serve(args) => serve::serve(&location, args),
        Cmd::Admin { cmd } => serve::admin(&location, cmd),
        Cmd::Plan {
            cmd: PlanCmd::Adopt { plan, replaces },
        } => steps::adopt_plan(&ctx, &plan, replaces),
        Cmd::Plan { cmd: PlanCmd::List } => steps::list_plans(&ctx),
        Cmd::Plan {
            cmd: PlanCmd::Show { id },
        } => {
            let text = ets_policy::Plan::builtin_text(&id)
                .with_context(|| format!("no shipped plan {id:?}"))?;
            print!("{text}");
            Ok(())
        }
        Cmd::Import {
            what: ImportCmd::Companies { file },
        } => steps::import_companies(&ctx, &file),
        Cmd::Import {
            what: ImportCmd::Units { file },
        } => steps::import_units(&ctx, &file),
        Cmd::Import {
            what: ImportCmd::Reports { file },
        } => steps::import_reports(&ctx, &file),
        Cmd::Reports {
            cmd: ReportsCmd::Verify { file },
        } => steps::verify_reports(&ctx, &file),
        Cmd::Reports {
            cmd: ReportsCmd::Accept { year, company },
        } => steps::accept_reports(&ctx, year, &company),
        Cmd::Allocate {
            plan,
            stage,
            company,
        } => steps::allocate(&ctx, &plan, matches!(stage, StageArg::Final), &company),
        Cmd::Offsets {
            cmd:
                OffsetsCmd::Register {
                    project,
                    name,
                    province,
                    kind,
                },
        } => steps::register_project(&ctx, &project, &name, &province, &kind),
        Cmd::Offsets {
            cmd:
                OffsetsCmd::Issue {
                    project,
                    vintage,
                    quantity,
                },
        } => steps::issue_offsets(&ctx, &project, vintage, quantity),
        Cmd::Transfer { file, one } => steps::transfer(&ctx, file.as_deref(), &one),
        Cmd::Surrender { plan, file, one } => steps::surrender(&ctx, &plan, file.as_deref(), &one),
        Cmd::Exempt {
            plan,
            company,
            reason,
        } => steps::exempt(&ctx, &plan, &company, &reason),
        Cmd::Assess { plan } => steps::assess(&ctx, &plan),
        Cmd::Report {
            what:
                ReportCmd::Compliance {
                    plan,
                    province,
                    status,
                    format,
                    totals,
                },
        } => steps::report_compliance(
            &ctx,
            steps::ComplianceQuery {
                plan: plan.as_deref(),
                province: province.as_deref(),
                status,
                totals,
            },
            format,
        ),
        Cmd::Report {
            what: ReportCmd::Market { format },
        } => steps::report_market(&ctx, format),
        Cmd::Report {
            what:
                ReportCmd::Allocation {
                    plan,
                    company,
                    format,
                },
        } => {
            allocation_report::report_allocation(&ctx, plan.as_deref(), company.as_deref(), format)
        }
        Cmd::Exchange { cmd } => exchange_cmd(&ctx, cmd),
        Cmd::Holdings { holder, csv } => steps::holdings(&ctx, &holder, csv),
        Cmd::Verify => steps::verify(&ctx),
    }
}

fn exchange_cmd(ctx: &steps::Ctx, cmd: ExchangeCmd) -> Result<()> {
    use ets_market::ExchangeCommand as X;
    use ets_market::trading::exchange::{OrderSide, Tif};
    let side = |s: SideArg| match s {
        SideArg::Buy => OrderSide::Buy,
        SideArg::Sell => OrderSide::Sell,
    };
    let price = |p: &str| -> Result<i64> {
        ets_market::trading::config::fen(p)
            .with_context(|| format!("--price {p:?}: a CNY amount with at most 2 decimals"))
    };
    let money = |p: &str| -> Result<u64> {
        ets_market::trading::config::fen(p)
            .map(|f| f as u64)
            .with_context(|| format!("{p:?}: a CNY amount with at most 2 decimals"))
    };
    let time = |t: &str| -> Result<u16> {
        let (h, m) = t
            .split_once(':')
            .with_context(|| format!("--time {t:?}: expected HH:MM"))?;
        let (h, m): (u16, u16) = (h.parse()?, m.parse()?);
        anyhow::ensure!(h < 24 && m < 60, "--time {t:?}: expected HH:MM");
        Ok(h * 60 + m)
    };
    let c = match cmd {
        ExchangeCmd::Open { file } => return steps::open_exchange(ctx, file.as_deref()),
        ExchangeCmd::Book { unit, vintage } => return steps::book(ctx, &unit, vintage),
        ExchangeCmd::OpenDay => X::OpenDay,
        ExchangeCmd::CloseDay => X::CloseDay,
        ExchangeCmd::Deposit { holder, cny } => X::Deposit {
            fen: money(&cny)?,
            holder,
        },
        ExchangeCmd::Withdraw { holder, cny } => X::Withdraw {
            fen: money(&cny)?,
            holder,
        },
        ExchangeCmd::Order {
            holder,
            side: s,
            unit,
            vintage,
            price: p,
            qty,
            tif,
            time: t,
        } => X::Order {
            holder,
            class: steps::class_for(ctx, &unit, vintage)?,
            side: side(s),
            price: price(&p)?,
            qty,
            tif: match tif {
                TifArg::Day => Tif::Day,
                TifArg::Ioc => Tif::Ioc,
                TifArg::Fok => Tif::Fok,
            },
            minute: time(&t)?,
        },
        ExchangeCmd::Take {
            holder,
            order,
            qty,
            time: t,
        } => X::Take {
            holder,
            order,
            qty,
            minute: time(&t)?,
        },
        ExchangeCmd::Cancel { holder, order } => X::Cancel { holder, order },
        ExchangeCmd::Block {
            holder,
            counterparty,
            side: s,
            unit,
            vintage,
            price: p,
            qty,
            time: t,
        } => X::ProposeBlock {
            holder,
            counterparty,
            class: steps::class_for(ctx, &unit, vintage)?,
            side: side(s),
            price: price(&p)?,
            qty,
            minute: time(&t)?,
        },
        ExchangeCmd::Announce {
            holder,
            side: s,
            unit,
            vintage,
            qty,
            limit,
            pay_as_bid,
            window,
        } => {
            let (a, b) = window
                .split_once('-')
                .with_context(|| format!("--window {window:?}: expected HH:MM-HH:MM"))?;
            X::Announce {
                holder,
                class: steps::class_for(ctx, &unit, vintage)?,
                side: side(s),
                qty,
                limit: price(&limit)?,
                pay_as_bid,
                open_minute: time(a)?,
                close_minute: time(b)?,
            }
        }
        ExchangeCmd::Bid {
            holder,
            auction,
            price: p,
            qty,
            time: t,
        } => X::Bid {
            holder,
            auction,
            price: price(&p)?,
            qty,
            minute: time(&t)?,
        },
        ExchangeCmd::CloseAuction { auction, time: t } => X::CloseAuction {
            auction,
            minute: time(&t)?,
        },
        ExchangeCmd::Accept {
            holder,
            proposal,
            time: t,
        } => X::AcceptBlock {
            holder,
            proposal,
            minute: time(&t)?,
        },
        ExchangeCmd::WithdrawBlock { holder, proposal } => X::WithdrawBlock { holder, proposal },
    };
    steps::exchange(ctx, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0).to_string(), "1970-01-01");
        assert_eq!(civil_from_days(18_628).to_string(), "2021-01-01");
        assert_eq!(civil_from_days(19_417).to_string(), "2023-03-01");
    }
}
