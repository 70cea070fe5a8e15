//! The one place where access is decided: every request names an [`Action`], and [`check`]
//! says yes or why not, from the user's role and scope and the market's state (which company an
//! account belongs to, which province a company is in).
//!
//! Reads and writes go through the same function; the HTTP layer calls it for reads and the
//! writer for writes, and both record the outcome in the audit trail.

use ets_market::{Command, ExchangeCommand, Market};
use ets_types::{AccountId, CompanyId};

use crate::access::{Access, Role, User};

/// What a request wants to do.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    /// Market data: book, trades, day bars (public).
    MarketData,
    /// Published compliance tables: province and national totals (public); the company table once
    /// the cycle is assessed.
    PublishedCompliance,
    /// Submit an account-opening request (anyone, documents attached).
    ApplyForAccount,
    /// Anything about oneself: who am I, my tokens, log out.
    Own,
    /// The full compliance table and everything across companies (regulator, auditor; a bureau
    /// sees its province, filtered by the handler).
    Oversight,
    /// A company's data: its accounts, reports, allocation, obligation.
    ReadCompany(&'a CompanyId),
    /// A company's emission reports (verifiers assigned to it see these, not its holdings).
    ReadReports(&'a CompanyId),
    /// An account's holdings, serial blocks, transactions, orders and funds.
    ReadAccount(AccountId),
    /// The audit trail and the user list.
    ReadAudit,
    /// Users, verifier assignments, account-opening decisions.
    Administer,
    /// Initiate, approve or reject a four-eyes instruction of a company, or change its trusted
    /// list: its own representatives only (never the regulator).
    Instruct(&'a CompanyId),
    /// A market command (registry, MRV, allocation, compliance, exchange).
    Command(&'a Command),
}

/// A refusal: 401 when nobody is logged in and it takes someone, 403 when this someone may not.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Denied {
    Unauthenticated,
    Forbidden(String),
}

fn forbid(user: &User, what: impl std::fmt::Display) -> Denied {
    Denied::Forbidden(format!(
        "{} ({}) may not {what}",
        user.name,
        user.role.as_str()
    ))
}

/// Decides whether `user` (None: not logged in) may do `action`.
pub fn check(
    market: &Market,
    access: &Access,
    user: Option<&User>,
    action: Action<'_>,
) -> Result<(), Denied> {
    match action {
        Action::MarketData | Action::PublishedCompliance | Action::ApplyForAccount => {
            return Ok(());
        }
        _ => {}
    }
    let user = user.ok_or(Denied::Unauthenticated)?;
    let in_province = |company: &CompanyId| {
        user.province.is_some()
            && market.company(company).map(|c| &c.province) == user.province.as_ref()
    };
    let own_company = |company: &CompanyId| user.company.as_ref() == Some(company);
    let assigned = |company: &CompanyId| access.assigned(&user.name).contains(company);
    let account_company = |account: AccountId| market.company_of_account(account).cloned();
    let own_account = |account: AccountId| -> bool {
        match user.role {
            Role::Company => account_company(account).is_some_and(|c| own_company(&c)),
            Role::Member => user
                .holder
                .as_deref()
                .and_then(|h| market.resolve_account(h))
                .is_some_and(|a| a == account),
            _ => false,
        }
    };
    let ok = match (user.role, action) {
        // Four eyes are two people of the account holder: the regulator never initiates,
        // approves or rejects a company's instruction (it freezes and corrects by its own
        // commands, each journaled with its reason).
        (Role::Regulator, Action::Instruct(_)) => false,
        (Role::Regulator, _) => true,
        (_, Action::Own) => true,
        (Role::Auditor, a) => !is_write(a),
        (_, Action::ReadAudit | Action::Administer) => false,
        (Role::Bureau, Action::Oversight) => true,
        (Role::Bureau, Action::ReadCompany(c) | Action::ReadReports(c)) => in_province(c),
        (Role::Bureau, Action::ReadAccount(a)) => {
            account_company(a).is_some_and(|c| in_province(&c))
        }
        (Role::Company, Action::ReadCompany(c) | Action::ReadReports(c) | Action::Instruct(c)) => {
            own_company(c)
        }
        (Role::Verifier, Action::ReadReports(c)) => assigned(c),
        (Role::Company | Role::Member, Action::ReadAccount(a)) => own_account(a),
        (_, Action::Command(command)) => {
            return command_allowed(market, user, command, &own_account, &in_province, &assigned);
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(forbid(user, describe(action)))
    }
}

fn is_write(action: Action<'_>) -> bool {
    matches!(
        action,
        Action::Administer | Action::Instruct(_) | Action::Command(_) | Action::ApplyForAccount
    )
}

fn describe(action: Action<'_>) -> String {
    match action {
        Action::MarketData => "read market data".into(),
        Action::PublishedCompliance => "read published compliance".into(),
        Action::ApplyForAccount => "apply for an account".into(),
        Action::Own => "act on their own session".into(),
        Action::Oversight => "read market-wide oversight data".into(),
        Action::ReadCompany(c) => format!("read company {c}"),
        Action::ReadReports(c) => format!("read the reports of {c}"),
        Action::ReadAccount(a) => format!("read account {a}"),
        Action::ReadAudit => "read the audit trail or the user list".into(),
        Action::Administer => "administer users and account requests".into(),
        Action::Instruct(c) => format!("instruct for company {c}"),
        Action::Command(c) => format!("execute {}", c.name()),
    }
}

/// Market commands: who may send each one directly (transfers and surrenders by companies go
/// through four-eyes instructions, which the writer executes on the approver's behalf).
fn command_allowed(
    market: &Market,
    user: &User,
    command: &Command,
    own_account: &dyn Fn(AccountId) -> bool,
    in_province: &dyn Fn(&CompanyId) -> bool,
    assigned: &dyn Fn(&CompanyId) -> bool,
) -> Result<(), Denied> {
    let own_company = |c: &CompanyId| user.company.as_ref() == Some(c);
    let holder_is_own = |holder: &str| market.resolve_account(holder).is_some_and(own_account);
    let ok = match (user.role, command) {
        (
            Role::Company,
            Command::SubmitReport { report } | Command::CorrectReport { report, .. },
        ) => own_company(&report.company),
        (Role::Verifier, Command::VerifyReport { verification }) => assigned(&verification.company),
        (Role::Bureau, Command::AcceptReport { company, .. }) => in_province(company),
        (Role::Company | Role::Member, Command::Exchange(e)) => match e {
            ExchangeCommand::Order { holder, .. }
            | ExchangeCommand::Cancel { holder, .. }
            | ExchangeCommand::Amend { holder, .. }
            | ExchangeCommand::Take { holder, .. }
            | ExchangeCommand::ProposeBlock { holder, .. }
            | ExchangeCommand::AcceptBlock { holder, .. }
            | ExchangeCommand::WithdrawBlock { holder, .. }
            | ExchangeCommand::Announce { holder, .. }
            | ExchangeCommand::Bid { holder, .. } => holder_is_own(holder),
            ExchangeCommand::Deposit { .. }
            | ExchangeCommand::Withdraw { .. }
            | ExchangeCommand::OpenDay
            | ExchangeCommand::CloseDay
            | ExchangeCommand::CloseAuction { .. } => false,
        },
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(forbid(user, format!("execute {}", command.name())))
    }
}
