//! Commands: what participants and the regulator ask the market to do, and the checks that turn
//! an accepted command into events.
//!
//! Planning is read-only: every check runs against the current state before any event is
//! applied, and the events of one command are built so that applying them cannot fail (a failure
//! there is a bug and panics). Callers that need several commands to apply all or nothing use
//! [`Market::execute_all`].

use ets_compliance::{Obligation, UnitFigures};
use ets_registry::{AccountStatus, NATIONAL_QUOTA, Op, Request, SurrenderFor};
use ets_types::{
    Company, CompanyId, Date, GeneratingUnit, ProjectId, Tonnes, UnitActivity, UnitClass, Year,
};
pub use ets_types::{ReportInput, VerificationInput};
use serde::{Deserialize, Serialize};

use crate::trading::exchange::{ExchangeInput, OrderSide, Tif, TradeRejection};
use crate::{Event, Market, MarketError, Stage};

/// A command with who sent it, its business date and an optional idempotency key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Date,
    pub initiator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reason: String,
    pub command: Command,
}

/// A party to a transfer: a company id, a project id, a holder's name or an account number.
pub type TransferParty = String;

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    RegisterCompany {
        company: Company,
        units: Vec<GeneratingUnit>,
    },
    RegisterUnit {
        unit: GeneratingUnit,
    },
    RegisterHolder {
        holder: String,
    },
    AdoptPlan {
        source: String,
        toml: String,
    },
    /// Adopt a plan in place of one adopted earlier whose years it covers, before any
    /// allocation under the earlier one (a plan corrected before it is applied).
    ReplacePlan {
        replaces: String,
        source: String,
        toml: String,
    },
    SubmitReport {
        report: ReportInput,
    },
    CorrectReport {
        report: ReportInput,
        reason: String,
    },
    VerifyReport {
        verification: VerificationInput,
    },
    AcceptReport {
        company: CompanyId,
        year: Year,
    },
    /// Pre-allocation of every year of the plan from the base year's accepted report.
    PreAllocate {
        plan: String,
        company: CompanyId,
    },
    /// Final allocation of every year of the plan from the verified reports, and the true-up
    /// movement (issue the difference, or take back the excess by a correction).
    TrueUp {
        plan: String,
        company: CompanyId,
    },
    RegisterProject {
        project: ProjectId,
        name: String,
        province: String,
        kind: String,
    },
    IssueOffsets {
        project: ProjectId,
        vintage: Year,
        quantity: Tonnes,
    },
    Transfer {
        class: UnitClass,
        quantity: Tonnes,
        from: TransferParty,
        to: TransferParty,
    },
    Surrender {
        plan: String,
        company: CompanyId,
        class: UnitClass,
        quantity: Tonnes,
    },
    Cancel {
        holder: TransferParty,
        class: UnitClass,
        quantity: Tonnes,
    },
    SetAccountStatus {
        holder: TransferParty,
        status: AccountStatus,
    },
    /// Take a company out of a cycle (closed, merged or deregistered before the deadline).
    ExemptCompany {
        plan: String,
        company: CompanyId,
        reason: String,
    },
    /// The regulator's assessment at (or after) the deadline.
    AssessCycle {
        plan: String,
    },
    /// Open the exchange under a market configuration file.
    OpenExchange {
        source: String,
        toml: String,
    },
    /// An operation on the exchange.
    Exchange(ExchangeCommand),
}

/// What participants and the exchange operator ask of the exchange. Prices in fen, quantities in
/// tonnes, `minute` the minute of the day in Beijing time (9:30 = 570); the date is the
/// envelope's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ExchangeCommand {
    Deposit {
        holder: TransferParty,
        fen: u64,
    },
    Withdraw {
        holder: TransferParty,
        fen: u64,
    },
    OpenDay,
    CloseDay,
    Order {
        holder: TransferParty,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        tif: Tif,
        minute: u16,
    },
    Cancel {
        holder: TransferParty,
        order: u64,
    },
    Amend {
        holder: TransferParty,
        order: u64,
        price: i64,
        qty: Tonnes,
        minute: u16,
    },
    /// Click-to-trade: take a listed order, fully or in part, at its price.
    Take {
        holder: TransferParty,
        order: u64,
        qty: Tonnes,
        minute: u16,
    },
    ProposeBlock {
        holder: TransferParty,
        counterparty: TransferParty,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        minute: u16,
    },
    AcceptBlock {
        holder: TransferParty,
        proposal: u64,
        minute: u16,
    },
    /// One-way bidding: announce a quantity to sell (or buy) with a floor (or ceiling) price
    /// and a bidding window of the day; allocation by price, then time.
    Announce {
        holder: TransferParty,
        class: UnitClass,
        side: OrderSide,
        qty: Tonnes,
        limit: i64,
        pay_as_bid: bool,
        open_minute: u16,
        close_minute: u16,
    },
    Bid {
        holder: TransferParty,
        auction: u64,
        price: i64,
        qty: Tonnes,
        minute: u16,
    },
    CloseAuction {
        auction: u64,
        minute: u16,
    },
    /// The proposer takes back a block proposal nobody has accepted.
    WithdrawBlock {
        holder: TransferParty,
        proposal: u64,
    },
}

impl Command {
    /// A short name for logs and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Command::RegisterCompany { .. } => "register_company",
            Command::RegisterUnit { .. } => "register_unit",
            Command::RegisterHolder { .. } => "register_holder",
            Command::AdoptPlan { .. } => "adopt_plan",
            Command::ReplacePlan { .. } => "replace_plan",
            Command::SubmitReport { .. } => "submit_report",
            Command::CorrectReport { .. } => "correct_report",
            Command::VerifyReport { .. } => "verify_report",
            Command::AcceptReport { .. } => "accept_report",
            Command::PreAllocate { .. } => "pre_allocate",
            Command::TrueUp { .. } => "true_up",
            Command::RegisterProject { .. } => "register_project",
            Command::IssueOffsets { .. } => "issue_offsets",
            Command::Transfer { .. } => "transfer",
            Command::Surrender { .. } => "surrender",
            Command::Cancel { .. } => "cancel",
            Command::SetAccountStatus { .. } => "set_account_status",
            Command::ExemptCompany { .. } => "exempt_company",
            Command::AssessCycle { .. } => "assess_cycle",
            Command::OpenExchange { .. } => "open_exchange",
            Command::Exchange(c) => match c {
                ExchangeCommand::Deposit { .. } => "deposit",
                ExchangeCommand::Withdraw { .. } => "withdraw",
                ExchangeCommand::OpenDay => "open_day",
                ExchangeCommand::CloseDay => "close_day",
                ExchangeCommand::Order { .. } => "order",
                ExchangeCommand::Cancel { .. } => "cancel_order",
                ExchangeCommand::Amend { .. } => "amend_order",
                ExchangeCommand::Take { .. } => "take_order",
                ExchangeCommand::ProposeBlock { .. } => "propose_block",
                ExchangeCommand::AcceptBlock { .. } => "accept_block",
                ExchangeCommand::Announce { .. } => "announce_auction",
                ExchangeCommand::Bid { .. } => "bid",
                ExchangeCommand::CloseAuction { .. } => "close_auction",
                ExchangeCommand::WithdrawBlock { .. } => "withdraw_block",
            },
        }
    }
}

/// Builds registry events with consecutive sequence numbers.
struct Moves<'a> {
    env: &'a Envelope,
    next_seq: u64,
    events: Vec<Event>,
}

impl Moves<'_> {
    fn push(&mut self, op: Op, key: Option<String>) -> u64 {
        let seq = self.next_seq;
        let request = Request {
            op,
            date: self.env.date,
            initiator: self.env.initiator.clone(),
            reason: self.env.reason.clone(),
            key,
        };
        self.events.push(Event::Registry { seq, request });
        self.next_seq += 1;
        seq
    }
}

impl Market {
    /// Checks a command and, if accepted, applies its events and returns them. On `Err` nothing
    /// changed. An empty list means an idempotent retry: the key was used before, nothing moved.
    ///
    /// # Panics
    /// Only on a bug: when an event of a command that passed every check fails to apply. The
    /// market is then partly changed, so returning an error (which callers take for "nothing
    /// changed") would let it drift from its journal; staging every command on a clone to avoid
    /// that would cost a copy of the registry per command. The writer instead lets the process
    /// exit, and a restart replays the journal, which holds nothing of this command. Inputs
    /// cannot get here: every refusal is found by the checks, which the random-command property
    /// tests (`tests/random_commands.rs`, `ets-store/tests/random_commands.rs`) exercise.
    pub fn execute(&mut self, env: &Envelope) -> Result<Vec<Event>, MarketError> {
        if let Command::Exchange(c) = &env.command {
            return self.execute_exchange(env, c);
        }
        let events = self.plan_events(env)?;
        for e in &events {
            if let Err(err) = self.apply(e) {
                panic!(
                    "bug: a checked {} command failed to apply its events: {err} (code {})",
                    env.command.name(),
                    err.code()
                );
            }
        }
        Ok(events)
    }

    /// Executes several commands all or nothing: on the first rejection, returns its index and
    /// the error, and the market is as it was.
    pub fn execute_all(
        &mut self,
        envs: &[Envelope],
    ) -> Result<Vec<Vec<Event>>, (usize, MarketError)> {
        let mut staged = self.clone();
        let mut out = Vec::with_capacity(envs.len());
        for (i, env) in envs.iter().enumerate() {
            out.push(staged.execute(env).map_err(|e| (i, e))?);
        }
        *self = staged;
        Ok(out)
    }

    fn plan_events(&self, env: &Envelope) -> Result<Vec<Event>, MarketError> {
        let mut m = Moves {
            env,
            next_seq: self.registry.next_seq(),
            events: Vec::new(),
        };
        match &env.command {
            Command::RegisterCompany { company, units } => {
                if self.companies.contains_key(&company.id) {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Company,
                        id: company.id.to_string(),
                    });
                }
                let account = ets_types::AccountId(self.registry.accounts().len() as u32 + 1);
                m.events.push(Event::CompanyRegistered {
                    company: company.clone(),
                    account,
                    on: env.date,
                });
                let mut seen = std::collections::BTreeSet::new();
                for u in units {
                    self.check_new_unit(u, Some(&company.id))?;
                    if !seen.insert(&u.id) {
                        return Err(MarketError::Duplicate {
                            what: crate::Registered::Unit,
                            id: u.id.to_string(),
                        });
                    }
                    m.events.push(Event::UnitRegistered { unit: u.clone() });
                }
            }
            Command::RegisterUnit { unit } => {
                self.check_new_unit(unit, None)?;
                m.events.push(Event::UnitRegistered { unit: unit.clone() });
            }
            Command::RegisterHolder { holder } => {
                if self.holders.contains_key(holder) || self.resolve_account(holder).is_some() {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Holder,
                        id: holder.clone(),
                    });
                }
                let account = ets_types::AccountId(self.registry.accounts().len() as u32 + 1);
                m.events.push(Event::HolderRegistered {
                    holder: holder.clone(),
                    account,
                    on: env.date,
                });
            }
            Command::AdoptPlan { source, toml } | Command::ReplacePlan { source, toml, .. } => {
                let plan = ets_policy::Plan::from_toml_str(toml, source)
                    .map_err(crate::plan_file_error)?;
                if self.plans.contains_key(&plan.id) {
                    return Err(MarketError::PlanExists(plan.id));
                }
                let replaces = match &env.command {
                    Command::ReplacePlan { replaces, .. } => Some(replaces),
                    _ => None,
                };
                if let Some(old) = replaces {
                    if !self.plans.contains_key(old) {
                        return Err(MarketError::UnknownPlan(old.clone()));
                    }
                    if self.allocations.keys().any(|(p, ..)| p == old) {
                        return Err(MarketError::PlanInUse { plan: old.clone() });
                    }
                }
                // Two plans in force for one vintage would allocate it twice.
                for (id, other) in &self.plans {
                    if Some(id) == replaces {
                        continue;
                    }
                    let years: Vec<Year> = plan
                        .years
                        .iter()
                        .copied()
                        .filter(|y| other.plan.years.contains(y))
                        .collect();
                    if !years.is_empty() {
                        return Err(MarketError::PlanVintagesOverlap {
                            plan: plan.id.clone(),
                            other: id.clone(),
                            years,
                        });
                    }
                }
                if let Some(old) = replaces {
                    m.events.push(Event::PlanWithdrawn {
                        id: old.clone(),
                        replaced_by: plan.id.clone(),
                    });
                }
                m.events.push(Event::PlanAdopted {
                    id: plan.id,
                    source: source.clone(),
                    toml: toml.clone(),
                });
            }
            Command::SubmitReport { report } | Command::CorrectReport { report, .. } => {
                let correction = match &env.command {
                    Command::CorrectReport { reason, .. } => Some(reason.clone()),
                    _ => None,
                };
                self.check_report_units(report)?;
                let drafted = Event::ReportDrafted {
                    company: report.company.clone(),
                    year: report.year,
                    units: report.units.clone(),
                    correction,
                };
                let submitted = Event::ReportSubmitted {
                    company: report.company.clone(),
                    year: report.year,
                    on: env.date,
                };
                // The MRV state machine decides whether the transitions are allowed: try them on
                // a copy of its state (small) rather than restating its rules here.
                let mut mrv = self.mrv_of(&report.company, report.year);
                let err = |source| MarketError::Mrv {
                    company: report.company.clone(),
                    year: report.year,
                    source,
                };
                match &env.command {
                    Command::CorrectReport { reason, .. } => mrv.correct(
                        &report.company,
                        report.year,
                        report.units.clone(),
                        reason.clone(),
                    ),
                    _ => mrv.save_draft(&report.company, report.year, report.units.clone()),
                }
                .map_err(err)?;
                mrv.submit(&report.company, report.year, env.date)
                    .map_err(err)?;
                m.events.push(drafted);
                m.events.push(submitted);
            }
            Command::VerifyReport { verification: v } => {
                self.company_entry(&v.company)?;
                let current = self.report(&v.company, v.year).ok_or_else(|| {
                    MarketError::NoAcceptedReport {
                        company: v.company.clone(),
                        year: v.year,
                    }
                })?;
                let units = v.units.clone().unwrap_or_else(|| current.units.clone());
                self.check_report_units(&ReportInput {
                    company: v.company.clone(),
                    year: v.year,
                    units: units.clone(),
                })?;
                let verification = ets_mrv::Verification {
                    verifier: v.verifier.clone(),
                    units,
                    findings: v.findings.clone(),
                    verified_on: env.date,
                };
                let mut mrv = self.mrv_of(&v.company, v.year);
                mrv.record_verification(&v.company, v.year, verification.clone())
                    .map_err(|source| MarketError::Mrv {
                        company: v.company.clone(),
                        year: v.year,
                        source,
                    })?;
                m.events.push(Event::ReportVerified {
                    company: v.company.clone(),
                    year: v.year,
                    verification,
                });
            }
            Command::AcceptReport { company, year } => {
                let mut mrv = self.mrv_of(company, *year);
                mrv.accept(company, *year, env.date)
                    .map_err(|source| MarketError::Mrv {
                        company: company.clone(),
                        year: *year,
                        source,
                    })?;
                m.events.push(Event::ReportAccepted {
                    company: company.clone(),
                    year: *year,
                    on: env.date,
                });
            }
            Command::PreAllocate { plan, company } => {
                self.plan_pre_allocation(plan, company, &mut m)?
            }
            Command::TrueUp { plan, company } => self.plan_true_up(plan, company, &mut m)?,
            Command::RegisterProject {
                project,
                name,
                province,
                kind,
            } => {
                if self.projects.contains_key(project) {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Project,
                        id: project.to_string(),
                    });
                }
                let account = ets_types::AccountId(self.registry.accounts().len() as u32 + 1);
                let number = self.projects.len() as u32 + 1;
                m.events.push(Event::ProjectRegistered {
                    project: project.clone(),
                    number,
                    name: name.clone(),
                    province: province.clone(),
                    kind: kind.clone(),
                    account,
                    on: env.date,
                });
            }
            Command::IssueOffsets {
                project,
                vintage,
                quantity,
            } => {
                let p = self
                    .projects
                    .get(project)
                    .ok_or_else(|| MarketError::UnknownProject(project.clone()))?;
                let op = Op::Issue {
                    class: UnitClass::Ccer {
                        project: p.number,
                        vintage: *vintage,
                    },
                    quantity: *quantity,
                    to: p.account,
                };
                self.single(op, &mut m)?;
            }
            Command::Transfer {
                class,
                quantity,
                from,
                to,
            } => {
                let from = self.account_of(from)?;
                self.check_not_frozen(from, *class, *quantity, false)?;
                let op = Op::Transfer {
                    class: *class,
                    quantity: *quantity,
                    from,
                    to: self.account_of(to)?,
                };
                self.single(op, &mut m)?;
            }
            Command::Cancel {
                holder,
                class,
                quantity,
            } => {
                let from = self.account_of(holder)?;
                self.check_not_frozen(from, *class, *quantity, false)?;
                let op = Op::Cancel {
                    class: *class,
                    quantity: *quantity,
                    from,
                };
                self.single(op, &mut m)?;
            }
            Command::Surrender {
                plan,
                company,
                class,
                quantity,
            } => {
                if let Some((on, _)) = self.assessed.get(plan) {
                    return Err(MarketError::CycleClosed {
                        plan: plan.clone(),
                        assessed_on: *on,
                    });
                }
                let policy = &self.plan_entry(plan)?.plan.compliance;
                let account = self.company_entry(company)?.account;
                if self.is_exempted(plan, company) {
                    return Err(MarketError::Exempted {
                        plan: plan.clone(),
                        company: company.clone(),
                    });
                }
                let op = Op::Surrender {
                    class: *class,
                    quantity: *quantity,
                    from: account,
                    purpose: SurrenderFor {
                        company: company.to_string(),
                        cycle: plan.clone(),
                    },
                };
                if let Some(key) = &env.key
                    && self.registry.key_seq(key).is_some()
                {
                    self.registry
                        .check(&self.request(env, op, env.key.clone()))?;
                    return Ok(Vec::new());
                }
                self.check_not_frozen(account, *class, *quantity, true)?;
                let obligation = self.obligation(plan, company)?;
                ets_compliance::check_surrender(
                    *class,
                    *quantity,
                    obligation.obligation_t,
                    self.surrendered(plan, company),
                    policy,
                )?;
                self.single(op, &mut m)?;
            }
            Command::SetAccountStatus { holder, status } => {
                let account = self.account_of(holder)?;
                // An account with live exchange orders or unsettled trades would break their
                // settlement: they are cancelled (or settled) first.
                if *status != AccountStatus::Open
                    && let Some(ex) = &self.exchange
                    && ex.has_live_business(account)
                {
                    return Err(TradeRejection::LiveBusiness { account }.into());
                }
                let mut r = self.registry.clone();
                r.set_status(account, *status)?;
                m.events.push(Event::AccountStatusChanged {
                    account,
                    status: *status,
                });
            }
            Command::ExemptCompany {
                plan,
                company,
                reason,
            } => {
                self.plan_entry(plan)?;
                self.company_entry(company)?;
                if let Some((on, _)) = self.assessed.get(plan) {
                    return Err(MarketError::CycleClosed {
                        plan: plan.clone(),
                        assessed_on: *on,
                    });
                }
                if self.is_exempted(plan, company) {
                    return Err(MarketError::Exempted {
                        plan: plan.clone(),
                        company: company.clone(),
                    });
                }
                if self.surrendered(plan, company).total_t() > 0 {
                    return Err(MarketError::SurrenderedBeforeExemption {
                        plan: plan.clone(),
                        company: company.clone(),
                    });
                }
                m.events.push(Event::CompanyExempted {
                    plan: plan.clone(),
                    company: company.clone(),
                    reason: reason.clone(),
                });
            }
            Command::OpenExchange { source, toml } => {
                if self.exchange.is_some() {
                    return Err(MarketError::ExchangeExists);
                }
                crate::trading::config::MarketRules::from_toml_str(toml, source)
                    .map_err(crate::market_file_error)?;
                m.events.push(Event::ExchangeOpened {
                    source: source.clone(),
                    toml: toml.clone(),
                });
            }
            Command::Exchange(_) => {
                return Err(MarketError::Internal {
                    step: "plan events",
                    cause: "exchange commands run through execute_exchange".into(),
                });
            }
            Command::AssessCycle { plan } => {
                let entry = self.plan_entry(plan)?;
                if self.assessed.contains_key(plan) {
                    return Err(MarketError::AlreadyAssessed(plan.clone()));
                }
                let deadline = entry.plan.compliance.deadline;
                if env.date < deadline {
                    return Err(MarketError::BeforeDeadline {
                        plan: plan.clone(),
                        deadline,
                        on: env.date,
                    });
                }
                let results = self.company_results(plan, true)?;
                m.events.push(Event::CycleAssessed {
                    plan: plan.clone(),
                    on: env.date,
                    results,
                });
            }
        }
        Ok(m.events)
    }

    fn request(&self, env: &Envelope, op: Op, key: Option<String>) -> Request {
        Request {
            op,
            date: env.date,
            initiator: env.initiator.clone(),
            reason: env.reason.clone(),
            key,
        }
    }

    /// A command that is exactly one registry movement: checked by the registry itself, and an
    /// idempotent retry when its key was used before.
    fn single(&self, op: Op, m: &mut Moves<'_>) -> Result<(), MarketError> {
        // Keys `trade-<id>` belong to the exchange's settlements.
        if let Some(key) = &m.env.key
            && key.starts_with("trade-")
        {
            return Err(MarketError::ReservedKey(key.clone()));
        }
        let request = self.request(m.env, op, m.env.key.clone());
        self.registry.check(&request)?;
        if m.env
            .key
            .as_deref()
            .and_then(|k| self.registry.key_seq(k))
            .is_some()
        {
            return Ok(());
        }
        let Request { op, key, .. } = request;
        m.push(op, key);
        Ok(())
    }

    fn account_of(&self, holder: &str) -> Result<ets_types::AccountId, MarketError> {
        self.resolve_account(holder)
            .ok_or_else(|| MarketError::UnknownHolder(holder.to_string()))
    }

    fn check_new_unit(
        &self,
        unit: &GeneratingUnit,
        registering: Option<&CompanyId>,
    ) -> Result<(), MarketError> {
        if registering.is_none() {
            self.company_entry(&unit.company)?;
        }
        if let Some(c) = registering
            && *c != unit.company
        {
            return Err(MarketError::UnitOwner {
                unit: unit.id.clone(),
                owner: unit.company.clone(),
                company: c.clone(),
            });
        }
        if self.units.contains_key(&unit.id) {
            return Err(MarketError::Duplicate {
                what: crate::Registered::Unit,
                id: unit.id.to_string(),
            });
        }
        Ok(())
    }

    /// A report names only the company's own registered units.
    fn check_report_units(&self, report: &ReportInput) -> Result<(), MarketError> {
        self.company_entry(&report.company)?;
        for u in &report.units {
            let unit = self
                .units
                .get(&u.unit)
                .ok_or_else(|| MarketError::UnknownUnit(u.unit.clone()))?;
            if unit.company != report.company {
                return Err(MarketError::UnitOwner {
                    unit: u.unit.clone(),
                    owner: unit.company.clone(),
                    company: report.company.clone(),
                });
            }
        }
        Ok(())
    }

    /// The verified activity of a company's accepted report for a year, by unit.
    fn accepted_activity(
        &self,
        company: &CompanyId,
        year: Year,
    ) -> Result<&[UnitActivity], MarketError> {
        let report =
            self.accepted_report(company, year)
                .ok_or_else(|| MarketError::NoAcceptedReport {
                    company: company.clone(),
                    year,
                })?;
        Ok(report
            .verification
            .as_ref()
            .map_or(&report.units[..], |v| &v.units[..]))
    }

    fn plan_pre_allocation(
        &self,
        plan_id: &str,
        company: &CompanyId,
        m: &mut Moves<'_>,
    ) -> Result<(), MarketError> {
        let plan = &self.plan_entry(plan_id)?.plan;
        let entry = self.company_entry(company)?;
        let base = self.accepted_activity(company, plan.base_year)?;
        let units = self.units_of(company);
        if units.is_empty() {
            return Err(MarketError::NoUnits {
                company: company.clone(),
            });
        }
        for &year in &plan.years {
            let key = (plan_id.to_string(), company.clone(), year, Stage::Pre);
            if self.allocations.contains_key(&key) {
                return Err(MarketError::AlreadyAllocated {
                    plan: plan_id.to_string(),
                    company: company.clone(),
                    year,
                    stage: Stage::Pre,
                });
            }
            // A unit without base-year data (commissioned later) gets no pre-allocation; the
            // true-up gives it its full allocation.
            let per_unit = per_unit_tonnes(company, &units, base, |u, a| {
                ets_allocation::unit_pre_allocation(u, a, year, &plan.allocation)
            })?;
            let total_t = tonnes_sum(per_unit.iter().map(|(_, t)| *t))?;
            m.events.push(Event::AllocationRecorded {
                plan: plan_id.to_string(),
                company: company.clone(),
                year,
                stage: Stage::Pre,
                units: per_unit,
                deduction_t: 0,
                total_t,
            });
            self.issue_and_allocate(year, total_t, entry.account, m)?;
        }
        Ok(())
    }

    fn issue_and_allocate(
        &self,
        year: Year,
        quantity: Tonnes,
        to: ets_types::AccountId,
        m: &mut Moves<'_>,
    ) -> Result<(), MarketError> {
        if quantity == 0 {
            return Ok(());
        }
        let class = UnitClass::Cea { vintage: year };
        // Both movements are checked here so that applying them cannot fail: the issuance into
        // the quota account, and the company account being open to receive.
        self.registry.check(&self.request(
            m.env,
            Op::Issue {
                class,
                quantity,
                to: NATIONAL_QUOTA,
            },
            None,
        ))?;
        let account = self
            .registry
            .account(to)
            .ok_or(ets_registry::Rejection::UnknownAccount { account: to })?;
        match account.status {
            AccountStatus::Open => {}
            AccountStatus::Frozen => {
                return Err(ets_registry::Rejection::AccountFrozen { account: to }.into());
            }
            AccountStatus::Closed => {
                return Err(ets_registry::Rejection::AccountClosed { account: to }.into());
            }
        }
        m.push(
            Op::Issue {
                class,
                quantity,
                to: NATIONAL_QUOTA,
            },
            None,
        );
        m.push(
            Op::Allocate {
                class,
                quantity,
                from: NATIONAL_QUOTA,
                to,
            },
            None,
        );
        Ok(())
    }

    fn plan_true_up(
        &self,
        plan_id: &str,
        company: &CompanyId,
        m: &mut Moves<'_>,
    ) -> Result<(), MarketError> {
        let plan = &self.plan_entry(plan_id)?.plan;
        let entry = self.company_entry(company)?;
        let units = self.units_of(company);
        let mut deduction_left = self.pending_deduction(company);
        for &year in &plan.years {
            let pre_key = (plan_id.to_string(), company.clone(), year, Stage::Pre);
            let Some(pre) = self.allocations.get(&pre_key) else {
                return Err(MarketError::NotPreAllocated {
                    plan: plan_id.to_string(),
                    company: company.clone(),
                    year,
                });
            };
            if self.allocations.contains_key(&(
                plan_id.to_string(),
                company.clone(),
                year,
                Stage::Final,
            )) {
                return Err(MarketError::AlreadyAllocated {
                    plan: plan_id.to_string(),
                    company: company.clone(),
                    year,
                    stage: Stage::Final,
                });
            }
            let activity = self.accepted_activity(company, year)?;
            let per_unit = per_unit_tonnes(company, &units, activity, |u, a| {
                ets_allocation::unit_allocation(u, a, year, &plan.allocation)
            })?;
            let gross_t = tonnes_sum(per_unit.iter().map(|(_, t)| *t))?;
            // A shortfall of an earlier cycle is deducted from the next allocation(s).
            let deduction_t = deduction_left.min(gross_t);
            deduction_left -= deduction_t;
            let total_t = gross_t - deduction_t;
            m.events.push(Event::AllocationRecorded {
                plan: plan_id.to_string(),
                company: company.clone(),
                year,
                stage: Stage::Final,
                units: per_unit,
                deduction_t,
                total_t,
            });
            let class = UnitClass::Cea { vintage: year };
            if total_t > pre.total_t {
                self.issue_and_allocate(year, total_t - pre.total_t, entry.account, m)?;
            } else if total_t < pre.total_t {
                let to_return_t = pre.total_t - total_t;
                // Units promised to open sell orders on the exchange cannot be taken back.
                let held_t = match &self.exchange {
                    Some(ex) => ex.unfrozen(&self.registry, entry.account, class),
                    None => self.registry.holding(entry.account, class),
                };
                if held_t < to_return_t {
                    return Err(MarketError::TrueUpShort {
                        company: company.clone(),
                        year,
                        to_return_t,
                        held_t,
                    });
                }
                let original = self
                    .pre_allocation_seq(entry.account, class)
                    .ok_or_else(|| MarketError::NotPreAllocated {
                        plan: plan_id.to_string(),
                        company: company.clone(),
                        year,
                    })?;
                m.push(
                    Op::Correct {
                        original,
                        quantity: to_return_t,
                    },
                    None,
                );
            }
        }
        Ok(())
    }

    /// The registry allocation transaction of a company's pre-allocation of a vintage.
    fn pre_allocation_seq(&self, account: ets_types::AccountId, class: UnitClass) -> Option<u64> {
        self.registry
            .transactions()
            .iter()
            .find(|t| {
                t.kind == ets_registry::TxKind::Allocate && t.to == account && t.class == class
            })
            .map(|t| t.seq)
    }

    /// Penalty deductions decided at earlier assessments and not yet taken from an allocation.
    pub fn pending_deduction(&self, company: &CompanyId) -> Tonnes {
        let decided: Tonnes = self
            .assessed
            .values()
            .flat_map(|(_, rs)| rs.iter())
            .filter(|r| r.company == *company)
            .filter_map(|r| r.penalty.map(|p| p.deduction_t))
            .fold(0, Tonnes::saturating_add);
        let applied: Tonnes = self
            .allocations
            .iter()
            .filter(|((_, c, _, _), _)| c == company)
            .map(|(_, a)| a.deduction_t)
            .fold(0, Tonnes::saturating_add);
        decided.saturating_sub(applied)
    }

    /// Whether a surrender could be made now under the plan's state: the cycle not assessed,
    /// the plan and company known, the company not exempted, its obligation known and the
    /// class and quantity within the plan's surrender rules. Holdings are not checked (a
    /// representative may buy before the second one approves). The writer asks this when a
    /// four-eyes surrender instruction is made, so that an impossible one is refused at once
    /// rather than at its approval; execution checks all of it again.
    pub fn check_surrender(
        &self,
        plan: &str,
        company: &CompanyId,
        class: ets_types::UnitClass,
        quantity: Tonnes,
    ) -> Result<(), MarketError> {
        if let Some((on, _)) = self.assessed.get(plan) {
            return Err(MarketError::CycleClosed {
                plan: plan.to_string(),
                assessed_on: *on,
            });
        }
        let policy = &self.plan_entry(plan)?.plan.compliance;
        self.company_entry(company)?;
        if self.is_exempted(plan, company) {
            return Err(MarketError::Exempted {
                plan: plan.to_string(),
                company: company.clone(),
            });
        }
        let obligation = self.obligation(plan, company)?;
        ets_compliance::check_surrender(
            class,
            quantity,
            obligation.obligation_t,
            self.surrendered(plan, company),
            policy,
        )?;
        Ok(())
    }

    /// A company's obligation for a plan, from its final allocation and verified emissions.
    pub fn obligation(
        &self,
        plan_id: &str,
        company: &CompanyId,
    ) -> Result<Obligation, MarketError> {
        let adopted = self.plan_entry(plan_id)?;
        let plan = &adopted.plan;
        let units = self.units_of(company);
        self.company_entry(company)?;
        let blank = || -> Vec<UnitFigures> {
            units
                .iter()
                .map(|u| UnitFigures {
                    unit: u.id.clone(),
                    category: u.category,
                    allocation_t: 0,
                    verified_t: 0,
                })
                .collect()
        };
        // A pooled cycle (2019-2020) applies the gas and large-gap rules to the cycle's sums; an
        // annual one (from 2021) to each year, and the obligations add up.
        let mut per_year = Vec::with_capacity(plan.years.len());
        let mut figures = blank();
        for &year in &plan.years {
            if plan.compliance.per_year_obligation {
                figures = blank();
            }
            let fin = self
                .allocations
                .get(&(plan_id.to_string(), company.clone(), year, Stage::Final))
                .ok_or_else(|| MarketError::NotFinallyAllocated {
                    plan: plan_id.to_string(),
                    company: company.clone(),
                    year,
                })?;
            let report = self.accepted_report(company, year).ok_or_else(|| {
                MarketError::NoAcceptedReport {
                    company: company.clone(),
                    year,
                }
            })?;
            let emissions = ets_mrv::verified_emissions(report, &plan.mrv).map_err(|source| {
                MarketError::Mrv {
                    company: company.clone(),
                    year,
                    source,
                }
            })?;
            // Sums saturate (see `ets_compliance::obligation`): a saturated obligation stays
            // above any holding, so surrender checks remain on the safe side.
            for f in &mut figures {
                f.allocation_t = fin
                    .units
                    .iter()
                    .filter(|(u, _)| *u == f.unit)
                    .fold(f.allocation_t, |a, (_, t)| a.saturating_add(*t));
                f.verified_t = emissions
                    .iter()
                    .filter(|(u, _)| *u == f.unit)
                    .fold(f.verified_t, |a, (_, e)| a.saturating_add(e.total_t));
            }
            if plan.compliance.per_year_obligation {
                per_year.push(ets_compliance::obligation(&figures, &plan.compliance));
            }
        }
        if !plan.compliance.per_year_obligation {
            return Ok(ets_compliance::obligation(&figures, &plan.compliance));
        }
        Ok(per_year
            .into_iter()
            .fold(Obligation::default(), |a, o| Obligation {
                verified_t: a.verified_t.saturating_add(o.verified_t),
                allocation_t: a.allocation_t.saturating_add(o.allocation_t),
                gas_relief_t: a.gas_relief_t.saturating_add(o.gas_relief_t),
                large_gap_relief_t: a.large_gap_relief_t.saturating_add(o.large_gap_relief_t),
                obligation_t: a.obligation_t.saturating_add(o.obligation_t),
            }))
    }

    /// Every company's compliance result for a plan as of now. With `strict`, a company whose
    /// obligation cannot be computed is an error; otherwise it is left out.
    pub(crate) fn company_results(
        &self,
        plan_id: &str,
        strict: bool,
    ) -> Result<Vec<ets_compliance::CompanyResult>, MarketError> {
        let policy = &self.plan_entry(plan_id)?.plan.compliance;
        let mut out = Vec::with_capacity(self.companies.len());
        for (id, entry) in &self.companies {
            if self.is_exempted(plan_id, id) {
                continue;
            }
            let obligation = match self.obligation(plan_id, id) {
                Ok(o) => o,
                Err(e) if strict => return Err(e),
                Err(_) => continue,
            };
            out.push(ets_compliance::assess(
                id.clone(),
                entry.company.province.clone(),
                obligation,
                self.surrendered(plan_id, id),
                self.eligible_holdings(plan_id, id),
                policy,
            ));
        }
        Ok(out)
    }
}

/// A company's tonnes over its units; beyond 2^64 t the registry could not issue them anyway.
fn tonnes_sum(mut tonnes: impl Iterator<Item = Tonnes>) -> Result<Tonnes, MarketError> {
    tonnes
        .try_fold(0, Tonnes::checked_add)
        .ok_or(ets_registry::Rejection::Overflow.into())
}

/// Allocation per unit that has activity data, computed by `allocate`.
fn per_unit_tonnes(
    company: &CompanyId,
    units: &[&GeneratingUnit],
    activity: &[UnitActivity],
    allocate: impl Fn(
        &GeneratingUnit,
        &UnitActivity,
    ) -> Result<ets_allocation::UnitAllocation, ets_allocation::AllocationError>,
) -> Result<Vec<(ets_types::UnitId, Tonnes)>, MarketError> {
    let mut out = Vec::with_capacity(units.len());
    for unit in units {
        let Some(a) = activity.iter().find(|a| a.unit == unit.id) else {
            continue;
        };
        let allocation = allocate(unit, a).map_err(|source| MarketError::Allocation {
            company: company.clone(),
            source,
        })?;
        out.push((unit.id.clone(), allocation.total_t));
    }
    Ok(out)
}

impl Market {
    /// Registry movements outside the exchange may not take units promised to open sell
    /// orders, nor (except a surrender) units bought on the exchange today.
    fn check_not_frozen(
        &self,
        account: ets_types::AccountId,
        class: UnitClass,
        quantity: Tonnes,
        surrender: bool,
    ) -> Result<(), MarketError> {
        let Some(ex) = &self.exchange else {
            return Ok(());
        };
        let free = if surrender {
            ex.unfrozen(&self.registry, account, class)
        } else {
            ex.tradable(&self.registry, account, class)
        };
        if quantity > free && quantity <= self.registry.holding(account, class) {
            return Err(TradeRejection::InsufficientUnits {
                requested: quantity,
                tradable: free,
            }
            .into());
        }
        Ok(())
    }

    /// A buyer's position limit in a vintage: a covered company's allocation of that year plus
    /// the margin, anyone else the fixed cap (market file, `position_limits`).
    pub fn position_limit(&self, account: ets_types::AccountId, class: UnitClass) -> Tonnes {
        let Some(ex) = &self.exchange else { return 0 };
        match (self.account_company.get(&account), class) {
            (Some(c), UnitClass::Cea { vintage }) => {
                let allocation = self
                    .annual_allocation
                    .get(&(c.clone(), vintage))
                    .copied()
                    .unwrap_or(0);
                allocation.saturating_add(ex.rules.compliance_margin_t)
            }
            // Offset credits count against a company like any other holder's cap.
            _ => ex.rules.others_cap_t,
        }
    }

    fn resolve_exchange(
        &self,
        env: &Envelope,
        c: &ExchangeCommand,
    ) -> Result<ExchangeInput, MarketError> {
        let ex = self.exchange.as_ref().ok_or(TradeRejection::NoExchange)?;
        let id = ex.next_id();
        let date = env.date;
        Ok(match c {
            ExchangeCommand::Deposit { holder, fen } => ExchangeInput::Deposit {
                account: self.account_of(holder)?,
                fen: *fen,
            },
            ExchangeCommand::Withdraw { holder, fen } => ExchangeInput::Withdraw {
                account: self.account_of(holder)?,
                fen: *fen,
            },
            ExchangeCommand::OpenDay => ExchangeInput::OpenDay { date },
            ExchangeCommand::CloseDay => ExchangeInput::CloseDay { date },
            ExchangeCommand::Order {
                holder,
                class,
                side,
                price,
                qty,
                tif,
                minute,
            } => ExchangeInput::Order {
                id,
                account: self.account_of(holder)?,
                class: *class,
                side: *side,
                price: *price,
                qty: *qty,
                tif: *tif,
                date,
                minute: *minute,
            },
            ExchangeCommand::Cancel { holder, order } => ExchangeInput::Cancel {
                id: *order,
                account: self.account_of(holder)?,
            },
            ExchangeCommand::Amend {
                holder,
                order,
                price,
                qty,
                minute,
            } => ExchangeInput::Amend {
                id: *order,
                account: self.account_of(holder)?,
                price: *price,
                qty: *qty,
                date,
                minute: *minute,
            },
            ExchangeCommand::Take {
                holder,
                order,
                qty,
                minute,
            } => ExchangeInput::Take {
                id,
                account: self.account_of(holder)?,
                target: *order,
                qty: *qty,
                date,
                minute: *minute,
            },
            ExchangeCommand::ProposeBlock {
                holder,
                counterparty,
                class,
                side,
                price,
                qty,
                minute,
            } => ExchangeInput::ProposeBlock {
                id,
                account: self.account_of(holder)?,
                counterparty: self.account_of(counterparty)?,
                class: *class,
                side: *side,
                price: *price,
                qty: *qty,
                date,
                minute: *minute,
            },
            ExchangeCommand::AcceptBlock {
                holder,
                proposal,
                minute,
            } => ExchangeInput::AcceptBlock {
                id,
                proposal: *proposal,
                account: self.account_of(holder)?,
                date,
                minute: *minute,
            },
            ExchangeCommand::Announce {
                holder,
                class,
                side,
                qty,
                limit,
                pay_as_bid,
                open_minute,
                close_minute,
            } => ExchangeInput::Announce {
                id,
                account: self.account_of(holder)?,
                class: *class,
                side: *side,
                qty: *qty,
                limit: *limit,
                pay_as_bid: *pay_as_bid,
                date,
                open_minute: *open_minute,
                close_minute: *close_minute,
            },
            ExchangeCommand::Bid {
                holder,
                auction,
                price,
                qty,
                minute,
            } => ExchangeInput::Bid {
                id,
                auction: *auction,
                account: self.account_of(holder)?,
                price: *price,
                qty: *qty,
                date,
                minute: *minute,
            },
            ExchangeCommand::WithdrawBlock { holder, proposal } => ExchangeInput::WithdrawBlock {
                proposal: *proposal,
                account: self.account_of(holder)?,
            },
            ExchangeCommand::CloseAuction { auction, minute } => ExchangeInput::CloseAuction {
                auction: *auction,
                date,
                minute: *minute,
            },
        })
    }

    /// Exchange commands are checked, then applied at once: matching decides the trades, which
    /// the event records so that a replay can be compared with them.
    fn execute_exchange(
        &mut self,
        env: &Envelope,
        c: &ExchangeCommand,
    ) -> Result<Vec<Event>, MarketError> {
        let input = self.resolve_exchange(env, c)?;
        let ex = self.exchange.as_ref().ok_or(TradeRejection::NoExchange)?;
        // Participants trade from their own registry account.
        if let Some(a) = input.account() {
            let kind = self
                .registry
                .account(a)
                .map(|x| x.kind)
                .ok_or(ets_registry::Rejection::UnknownAccount { account: a })?;
            if !matches!(
                kind,
                ets_registry::AccountKind::CompanyHolding
                    | ets_registry::AccountKind::GeneralHolding
                    | ets_registry::AccountKind::OffsetProject
            ) {
                return Err(MarketError::NotTradingAccount { account: a, kind });
            }
            // A frozen or closed account cannot deliver or receive, so it cannot trade.
            match self.registry.account(a).map(|x| x.status) {
                Some(AccountStatus::Frozen) => {
                    return Err(ets_registry::Rejection::AccountFrozen { account: a }.into());
                }
                Some(AccountStatus::Closed) => {
                    return Err(ets_registry::Rejection::AccountClosed { account: a }.into());
                }
                _ => {}
            }
        }
        // Every way of acquiring units (orders, takes, block trades, one-way bids) asks the
        // buyer's limit in the class it acquires.
        ex.check(&self.registry, &input, |a, c| self.position_limit(a, c))?;
        let trades = match self.apply_exchange(&input) {
            Ok(t) => t,
            // See `execute`: a half-applied input leaves nothing consistent to return to.
            Err(e) => panic!(
                "bug: a checked exchange {} failed to apply: {e} (code {})",
                input.name(),
                e.code()
            ),
        };
        let released = match input {
            ExchangeInput::CloseDay { .. } => {
                self.exchange.as_ref().map(|e| e.last_close().to_vec())
            }
            _ => None,
        };
        Ok(vec![Event::Exchange {
            input,
            trades,
            released,
        }])
    }
}
