//! The market: one state machine over every institution (registry, MRV, allocation, compliance).
//!
//! Callers send an [`Envelope`] (a [`Command`] with its business date, initiator and optional
//! idempotency key) to [`Market::execute`]. The market checks it against every rule and, when it
//! is accepted, returns the [`Event`]s it caused and has already applied them. Events are facts
//! with every figure spelled out (tonnes allocated per unit, the exact registry request), so that
//! replaying them with [`Market::apply`] rebuilds the same state even after the formulas change:
//! history is what happened, not what today's code would compute.
//!
//! **Architecture Invariant:** no I/O, no clock, no randomness. The journal and the CLI live
//! outside; they persist the events before acknowledging a command.
//!
//! **Architecture Invariant:** a rejected command changes nothing. Commands that cause many
//! events are staged on a clone and swapped in only when all of them succeeded.

use std::collections::BTreeMap;

use ets_policy::Plan;
use ets_registry::{AccountKind, AccountStatus, Registry, Rejection};
use ets_types::{
    AccountId, Company, CompanyId, Date, GeneratingUnit, ProjectId, Tonnes, UnitClass, UnitId, Year,
};
use serde::{Deserialize, Serialize};

mod allocation_report;
mod apply;
mod codes;
mod execute;
pub mod exports;
mod queries;
pub mod trading;

pub use allocation_report::{CompanyYearAllocation, StageFigures, UnitAllocationFigures};
pub use codes::{ErrorKind, rejection_codes};
pub use execute::{
    Command, Envelope, ExchangeCommand, ReportInput, TransferParty, VerificationInput,
};
pub use queries::{CompanyView, ComplianceReport, InvariantSummary};

/// A fact the market recorded. The journal stores these; replay applies them in order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    CompanyRegistered {
        company: Company,
        account: AccountId,
        on: Date,
    },
    UnitRegistered {
        unit: GeneratingUnit,
    },
    /// The plan in force, with its file's exact text so the journal shows the rules applied.
    PlanAdopted {
        id: String,
        source: String,
        toml: String,
    },
    ReportDrafted {
        company: CompanyId,
        year: Year,
        units: Vec<ets_types::UnitActivity>,
        correction: Option<String>,
    },
    ReportSubmitted {
        company: CompanyId,
        year: Year,
        on: Date,
    },
    ReportVerified {
        company: CompanyId,
        year: Year,
        verification: ets_mrv::Verification,
    },
    ReportAccepted {
        company: CompanyId,
        year: Year,
        on: Date,
    },
    /// An allocation decided for one company and year, unit by unit, before it moves in the registry.
    AllocationRecorded {
        plan: String,
        company: CompanyId,
        year: Year,
        stage: Stage,
        units: Vec<(UnitId, Tonnes)>,
        /// Penalty deduction subtracted from this allocation (shortfall of an earlier cycle).
        deduction_t: Tonnes,
        total_t: Tonnes,
    },
    /// A registry movement with the sequence number it got.
    Registry {
        seq: u64,
        request: ets_registry::Request,
    },
    AccountStatusChanged {
        account: AccountId,
        status: AccountStatus,
    },
    ProjectRegistered {
        project: ProjectId,
        number: u32,
        name: String,
        province: String,
        kind: String,
        account: AccountId,
        on: Date,
    },
    /// A named holding account for someone who is not a covered company (a trader, an institution).
    HolderRegistered {
        holder: String,
        account: AccountId,
        on: Date,
    },
    /// The regulator takes a company out of a cycle (closed, merged, deregistered before the
    /// deadline): it owes nothing for that cycle and is counted neither complied nor failed.
    CompanyExempted {
        plan: String,
        company: CompanyId,
        reason: String,
    },
    /// A plan taken out of force before any allocation under it, to be replaced by the plan
    /// adopted next (`Command::ReplacePlan`).
    PlanWithdrawn {
        id: String,
        replaced_by: String,
    },
    /// The exchange opened under a market configuration, with its file's exact text.
    ExchangeOpened {
        source: String,
        toml: String,
    },
    /// An exchange operation with its resolved ids, and the trades it caused (replay must
    /// reproduce exactly these).
    Exchange {
        input: trading::exchange::ExchangeInput,
        trades: Vec<trading::exchange::TradeRecord>,
        /// For the close of a day: what it released (expired orders, lapsed proposals,
        /// allocated auctions, remainders after settlement). Absent in journals written before
        /// the close reported it, whose replay then does not compare it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        released: Option<Vec<trading::exchange::Release>>,
    },
    /// The regulator's assessment at the deadline: statuses, penalties and deductions are fixed.
    CycleAssessed {
        plan: String,
        on: Date,
        results: Vec<ets_compliance::CompanyResult>,
    },
}

/// Pre-allocation (before verification) or the final allocation that trues it up.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Pre,
    Final,
}

/// Why a command was refused. Nothing changed.
///
/// Every reason has a stable snake_case code and its figures by name ([`MarketError::code`],
/// [`MarketError::params`], [`MarketError::kind`]); [`rejection_codes`] lists them all. Nested
/// reasons (registry, surrender, MRV, allocation, exchange) report the innermost reason's code.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum MarketError {
    #[error("registry: {0}")]
    Registry(#[from] Rejection),
    #[error("surrender: {0}")]
    Surrender(#[from] ets_compliance::SurrenderRejection),
    #[error("report of {company} for {year}: {source}")]
    Mrv {
        company: CompanyId,
        year: Year,
        source: ets_mrv::MrvError,
    },
    #[error("allocation for {company}: {source}")]
    Allocation {
        company: CompanyId,
        source: ets_allocation::AllocationError,
    },
    /// A plan file that does not parse or validate: the message is the file's own problem
    /// (key path and line), the code says which kind of thing failed.
    #[error("plan file {file}: {path}: {message}")]
    PlanFile {
        file: String,
        path: String,
        message: String,
    },
    #[error("unknown company {0}")]
    UnknownCompany(CompanyId),
    #[error("unknown generating unit {0}")]
    UnknownUnit(UnitId),
    #[error("unknown offset project {0}")]
    UnknownProject(ProjectId),
    #[error("unknown plan {0} (adopt it first)")]
    UnknownPlan(String),
    #[error("unknown account holder {0}")]
    UnknownHolder(String),
    #[error("{what} {id} is already registered")]
    Duplicate { what: Registered, id: String },
    #[error("plan {0} is already adopted")]
    PlanExists(String),
    #[error(
        "plan {plan} covers {} which plan {other} already covers: adopt it as a replacement of {other} (before any allocation under it), or give it other years",
        years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
    )]
    PlanVintagesOverlap {
        plan: String,
        other: String,
        years: Vec<Year>,
    },
    #[error("plan {plan} cannot be replaced: allocations were recorded under it")]
    PlanInUse { plan: String },
    #[error("unit {unit} belongs to {owner}, not {company}")]
    UnitOwner {
        unit: UnitId,
        owner: CompanyId,
        company: CompanyId,
    },
    #[error("{company} has no accepted emission report for {year}")]
    NoAcceptedReport { company: CompanyId, year: Year },
    #[error("{company} has no generating units")]
    NoUnits { company: CompanyId },
    #[error("{stage} of plan {plan} for {company} {year} was already made")]
    AlreadyAllocated {
        plan: String,
        company: CompanyId,
        year: Year,
        stage: Stage,
    },
    #[error("plan {plan}: {company} {year} has no pre-allocation to true up")]
    NotPreAllocated {
        plan: String,
        company: CompanyId,
        year: Year,
    },
    #[error("plan {plan}: {company} {year} is not finally allocated yet")]
    NotFinallyAllocated {
        plan: String,
        company: CompanyId,
        year: Year,
    },
    #[error(
        "true-up of {company} {year} must take back {to_return_t} t but the account holds only {held_t} t of that vintage"
    )]
    TrueUpShort {
        company: CompanyId,
        year: Year,
        to_return_t: Tonnes,
        held_t: Tonnes,
    },
    #[error("{company} has already surrendered for plan {plan} and cannot be exempted from it")]
    SurrenderedBeforeExemption { plan: String, company: CompanyId },
    #[error("{company} is exempted from plan {plan}")]
    Exempted { plan: String, company: CompanyId },
    #[error("plan {0} was already assessed; its results are final")]
    AlreadyAssessed(String),
    #[error(
        "plan {plan}: the cycle cannot be assessed before its deadline {deadline} (date given: {on})"
    )]
    BeforeDeadline {
        plan: String,
        deadline: Date,
        on: Date,
    },
    #[error("plan {plan}: surrender after the assessment on {assessed_on} is not possible")]
    CycleClosed { plan: String, assessed_on: Date },
    #[error("exchange: {0}")]
    Trade(#[from] trading::exchange::TradeRejection),
    /// A market file that does not parse or validate, naming the key.
    #[error("market file {file}: {key}: {message}")]
    MarketFile {
        file: String,
        key: String,
        message: String,
    },
    #[error("the exchange is already open")]
    ExchangeExists,
    #[error("idempotency key {0} is reserved: keys starting with trade- name exchange settlements")]
    ReservedKey(String),
    #[error(
        "account {account} is a {} account; only company, general holding and offset project accounts trade",
        kind.name().replace('_', " ")
    )]
    NotTradingAccount {
        account: AccountId,
        kind: AccountKind,
    },
    #[error("replay: {0}")]
    Replay(ReplayMismatch),
    /// A bug: a checked command failed where the checks should have made failure impossible.
    /// `cause` is for the operator's log; clients see only the code.
    #[error("internal error in {step}: {cause}")]
    Internal { step: &'static str, cause: String },
}

/// What was registered twice.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Registered {
    Company,
    Unit,
    Holder,
    Project,
}

impl std::fmt::Display for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Registered::Company => "company",
            Registered::Unit => "generating unit",
            Registered::Holder => "account holder",
            Registered::Project => "offset project",
        })
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Pre => "pre-allocation",
            Stage::Final => "final allocation",
        })
    }
}

/// A journal that does not fit the state it is replayed onto.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReplayMismatch {
    #[error("{holder} got account {got}, the journal says {journal}")]
    Account {
        holder: String,
        got: AccountId,
        journal: AccountId,
    },
    #[error("plan file {file} has id {found}, the journal says {journal}")]
    PlanId {
        file: String,
        found: String,
        journal: String,
    },
    #[error(
        "allocation of {company} {year}: units add up to {sum_t} t less {deduction_t} t, the total says {total_t} t"
    )]
    AllocationSum {
        company: CompanyId,
        year: Year,
        sum_t: Tonnes,
        deduction_t: Tonnes,
        total_t: Tonnes,
    },
    #[error("registry transaction {seq} replayed as transaction {got}")]
    RegistrySeq { seq: u64, got: u64 },
    #[error("a surrender names {company}, which is not a company id")]
    SurrenderCompany { company: String },
    #[error("an exchange {op} gave {got} trades, the journal records {journal} (or they differ)")]
    Trades {
        op: &'static str,
        got: usize,
        journal: usize,
    },
    #[error("a close of day released {got} holds, the journal records {journal} (or they differ)")]
    Releases { got: usize, journal: usize },
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct CompanyEntry {
    pub company: Company,
    pub account: AccountId,
    pub units: Vec<UnitId>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct AllocationEntry {
    pub units: Vec<(UnitId, Tonnes)>,
    pub deduction_t: Tonnes,
    pub total_t: Tonnes,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct ProjectEntry {
    pub number: u32,
    pub name: String,
    pub province: String,
    pub kind: String,
    pub account: AccountId,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct AdoptedPlan {
    pub plan: Plan,
    pub source: String,
    pub toml: String,
}

/// The whole market's state. Compare two with `==` (replay equals live state).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Market {
    pub(crate) registry: Registry,
    /// One MRV state machine per (company, year): checking a transition clones only that one.
    pub(crate) mrv: BTreeMap<(CompanyId, Year), ets_mrv::Mrv>,
    pub(crate) companies: BTreeMap<CompanyId, CompanyEntry>,
    pub(crate) units: BTreeMap<UnitId, GeneratingUnit>,
    pub(crate) plans: BTreeMap<String, AdoptedPlan>,
    /// (plan, company, year, stage) → the allocation recorded.
    pub(crate) allocations: BTreeMap<(String, CompanyId, Year, Stage), AllocationEntry>,
    pub(crate) projects: BTreeMap<ProjectId, ProjectEntry>,
    /// Account id → project, for resolving offset classes back to projects.
    pub(crate) project_numbers: BTreeMap<u32, ProjectId>,
    /// (plan, company) → what was surrendered toward that plan's obligation.
    pub(crate) surrendered: BTreeMap<(String, CompanyId), ets_compliance::Surrendered>,
    /// plan → (date, results) once assessed.
    pub(crate) assessed: BTreeMap<String, (Date, Vec<ets_compliance::CompanyResult>)>,
    /// (plan, company) → why the company was taken out of that cycle.
    pub(crate) exempted: BTreeMap<(String, CompanyId), String>,
    /// The exchange, once a market configuration is adopted.
    pub(crate) exchange: Option<trading::exchange::Exchange>,
    /// Company holding account → company.
    pub(crate) account_company: BTreeMap<AccountId, CompanyId>,
    /// (company, year) → the latest allocation of that year (final once trued up, else pre).
    pub(crate) annual_allocation: BTreeMap<(CompanyId, Year), Tonnes>,
    /// Holder name → account, for accounts that are not companies' (projects, traders).
    pub(crate) holders: BTreeMap<String, AccountId>,
}

impl Market {
    /// The date the registry opened (its national accounts' opening date, set by [`Market::new`]).
    pub fn opened_on(&self) -> Date {
        self.registry.accounts()[0].opened_on
    }

    /// An empty market whose registry (with its national accounts) opened on `genesis`.
    pub fn new(genesis: Date) -> Market {
        Market {
            registry: Registry::new(genesis),
            mrv: BTreeMap::new(),
            companies: BTreeMap::new(),
            units: BTreeMap::new(),
            plans: BTreeMap::new(),
            allocations: BTreeMap::new(),
            projects: BTreeMap::new(),
            project_numbers: BTreeMap::new(),
            surrendered: BTreeMap::new(),
            assessed: BTreeMap::new(),
            holders: BTreeMap::new(),
            exempted: BTreeMap::new(),
            exchange: None,
            account_company: BTreeMap::new(),
            annual_allocation: BTreeMap::new(),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// The current version of a company's report for a year.
    pub fn report(&self, company: &CompanyId, year: Year) -> Option<&ets_mrv::Report> {
        self.mrv
            .get(&(company.clone(), year))
            .and_then(|m| m.current(company, year))
    }
    /// The latest accepted version of a company's report for a year.
    pub fn accepted_report(&self, company: &CompanyId, year: Year) -> Option<&ets_mrv::Report> {
        self.mrv
            .get(&(company.clone(), year))
            .and_then(|m| m.accepted(company, year))
    }
    /// Every report's current version, by company and year.
    pub fn reports(&self) -> impl Iterator<Item = &ets_mrv::Report> {
        self.mrv.values().flat_map(|m| m.reports())
    }
    pub(crate) fn mrv_of(&self, company: &CompanyId, year: Year) -> ets_mrv::Mrv {
        self.mrv
            .get(&(company.clone(), year))
            .cloned()
            .unwrap_or_default()
    }
    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id).map(|p| &p.plan)
    }
    pub fn plan_ids(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }
    pub fn company_ids(&self) -> impl Iterator<Item = &CompanyId> {
        self.companies.keys()
    }
    pub fn company(&self, id: &CompanyId) -> Option<&Company> {
        self.companies.get(id).map(|c| &c.company)
    }
    pub fn company_account(&self, id: &CompanyId) -> Option<AccountId> {
        self.companies.get(id).map(|c| c.account)
    }
    pub fn units_of(&self, id: &CompanyId) -> Vec<&GeneratingUnit> {
        self.companies.get(id).map_or_else(Vec::new, |c| {
            c.units.iter().filter_map(|u| self.units.get(u)).collect()
        })
    }
    pub fn unit(&self, id: &UnitId) -> Option<&GeneratingUnit> {
        self.units.get(id)
    }
    pub fn project_account(&self, id: &ProjectId) -> Option<AccountId> {
        self.projects.get(id).map(|p| p.account)
    }
    pub fn project_number(&self, id: &ProjectId) -> Option<u32> {
        self.projects.get(id).map(|p| p.number)
    }
    pub fn project_by_number(&self, number: u32) -> Option<&ProjectId> {
        self.project_numbers.get(&number)
    }
    /// The account of a company, a project or another named holder; or an account number
    /// written `CN-000123`.
    pub fn resolve_account(&self, holder: &str) -> Option<AccountId> {
        if let Some(c) = self.companies.get(holder) {
            return Some(c.account);
        }
        if let Some(p) = self.projects.get(holder) {
            return Some(p.account);
        }
        if let Some(a) = self.holders.get(holder) {
            return Some(*a);
        }
        let n = holder.strip_prefix("CN-")?.parse::<u32>().ok()?;
        self.registry.account(AccountId(n)).map(|a| a.id)
    }
    /// The allocation recorded for a company and year at a stage.
    pub fn allocation(
        &self,
        plan: &str,
        company: &CompanyId,
        year: Year,
        stage: Stage,
    ) -> Option<Tonnes> {
        self.allocations
            .get(&(plan.to_string(), company.clone(), year, stage))
            .map(|a| a.total_t)
    }
    pub fn surrendered(&self, plan: &str, company: &CompanyId) -> ets_compliance::Surrendered {
        self.surrendered
            .get(&(plan.to_string(), company.clone()))
            .copied()
            .unwrap_or_default()
    }
    pub fn exchange(&self) -> Option<&trading::exchange::Exchange> {
        self.exchange.as_ref()
    }
    /// The company that holds an account, if it is a company holding account.
    pub fn company_of_account(&self, account: AccountId) -> Option<&CompanyId> {
        self.account_company.get(&account)
    }
    pub fn is_exempted(&self, plan: &str, company: &CompanyId) -> bool {
        self.exempted
            .contains_key(&(plan.to_string(), company.clone()))
    }
    pub fn is_assessed(&self, plan: &str) -> bool {
        self.assessed.contains_key(plan)
    }

    pub(crate) fn plan_entry(&self, id: &str) -> Result<&AdoptedPlan, MarketError> {
        self.plans
            .get(id)
            .ok_or_else(|| MarketError::UnknownPlan(id.to_string()))
    }
    pub(crate) fn company_entry(&self, id: &CompanyId) -> Result<&CompanyEntry, MarketError> {
        self.companies
            .get(id)
            .ok_or_else(|| MarketError::UnknownCompany(id.clone()))
    }

    /// Eligible allowances (by the plan's vintage rules) a company holds now.
    pub fn eligible_holdings(&self, plan: &str, company: &CompanyId) -> Tonnes {
        let (Some(p), Some(c)) = (self.plan(plan), self.companies.get(company)) else {
            return 0;
        };
        self.registry
            .holdings_of(c.account)
            .into_iter()
            .filter(|(class, _)| matches!(class, UnitClass::Cea { vintage } if p.compliance.eligible_vintages.contains(vintage)))
            .map(|(_, q)| q)
            .sum()
    }

    /// Accounts of a kind, for reports.
    pub fn accounts_of_kind(
        &self,
        kind: AccountKind,
    ) -> impl Iterator<Item = &ets_registry::Account> {
        self.registry
            .accounts()
            .iter()
            .filter(move |a| a.kind == kind)
    }
}

/// A plan file's parse or validation error as a market refusal.
pub(crate) fn plan_file_error(e: ets_policy::PolicyError) -> MarketError {
    MarketError::PlanFile {
        file: e.file,
        path: e.path,
        message: e.problem.to_string(),
    }
}

/// A market file's parse or validation error as a market refusal.
pub(crate) fn market_file_error(e: trading::config::ConfigError) -> MarketError {
    MarketError::MarketFile {
        file: e.source_name,
        key: e.key,
        message: e.message,
    }
}
