//! Stable rejection codes: every reason the market can refuse a command for, as a snake_case
//! code, its figures by name, and its kind (not found, conflict with the current state, broken
//! rule), so that an API client can act on a refusal and a dashboard can word it in any
//! language. [`rejection_codes`] is the one list (the OpenAPI document and the translation
//! tables are made from it); a test walks every variant and checks it against the list.
//!
//! Codes are unique across the nested enums (registry, surrender, MRV, allocation, exchange):
//! a nested error reports its innermost reason's code and figures, with the context figures of
//! the wrapper (company, year) added.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::trading::exchange::{Band, SizeRule, TradeMode, TradeRejection, TradingWindow};
use crate::{MarketError, Registered, ReplayMismatch, Stage};

/// What kind of refusal a code is; the HTTP edge maps it to a status (404, 409, 422).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Something named does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the current state: it exists already, it is too early or too
    /// late, or the market's own state is inconsistent (HTTP 409).
    Conflict,
    /// A rule of the market refuses it (HTTP 422).
    Rule,
}

use ErrorKind::{Conflict, NotFound, Rule};

/// Every code [`MarketError::code`] can return, with its kind and an English one-line
/// description (for the OpenAPI document and for translation tables).
pub fn rejection_codes() -> &'static [(&'static str, ErrorKind, &'static str)] {
    CODES
}

#[rustfmt::skip]
static CODES: &[(&str, ErrorKind, &str)] = &[
    // Registry (ets_registry::Rejection).
    ("zero_quantity", Rule, "a registry movement of zero tonnes"),
    ("unknown_account", NotFound, "no registry account has this number"),
    ("account_frozen", Rule, "the account is frozen: nothing moves in or out"),
    ("account_closed", Rule, "the account is closed"),
    ("insufficient_holdings", Rule, "the account holds fewer units of the class than requested"),
    ("wrong_account_kind", Rule, "the operation is not allowed from or into this kind of account"),
    ("wrong_unit_class", Rule, "the operation is not allowed for this unit class"),
    ("same_account", Rule, "source and destination are the same account"),
    ("unknown_transaction", NotFound, "no registry transaction has this number"),
    ("not_correctable", Rule, "only allocation transactions can be corrected"),
    ("correction_exceeds_original", Rule, "the correction exceeds what is left of the allocation"),
    ("idempotency_key_reused", Conflict, "the idempotency key was used for a different request"),
    ("account_not_empty", Conflict, "an account that holds units cannot be closed"),
    ("registry_overflow", Rule, "the quantity overflows the registry's counters"),
    // Surrender rules (ets_compliance::SurrenderRejection).
    ("ineligible_vintage", Rule, "allowances of this vintage do not count for the cycle"),
    ("ineligible_offset_vintage", Rule, "offset credits of this vintage are too old for the cycle"),
    ("offset_limit_exceeded", Rule, "the surrender would exceed the offset limit of the cycle"),
    ("exceeds_obligation", Rule, "the surrender exceeds what is still owed"),
    ("obligation_unknown", Rule, "the obligation is not known yet (no accepted report)"),
    // MRV (ets_mrv::MrvError).
    ("unknown_fuel", Rule, "the report names a fuel the plan does not list"),
    ("negative_activity_value", Rule, "an activity figure of the report is negative"),
    ("oxidation_above_one", Rule, "a fuel's oxidation rate is above 1"),
    ("emissions_overflow", Rule, "the emissions of a unit overflow the decimal range"),
    ("report_without_units", Rule, "the report names no generating unit"),
    ("report_duplicate_unit", Rule, "the report names a unit twice"),
    ("report_wrong_year", Rule, "a unit's data are of another year than the report"),
    ("no_report", NotFound, "the company has no report for the year"),
    ("invalid_report_transition", Conflict, "the report's status does not allow this step"),
    ("verification_units_differ", Rule, "the verification covers other units than the report"),
    ("report_date_order", Rule, "a report step is dated before the step it follows"),
    ("report_field_blank", Rule, "a required text of the report is empty"),
    ("report_not_verified", Conflict, "the report version is not verified"),
    // Allocation (ets_allocation::AllocationError).
    ("activity_unit_mismatch", Rule, "the activity data belong to another unit"),
    ("activity_year_mismatch", Rule, "the activity data are of another year"),
    ("no_benchmark", Rule, "the plan has no benchmark for the unit's category and year"),
    ("no_cooling_factor", Rule, "the plan has no cooling factors for the unit's category"),
    ("no_heat_coefficient", Rule, "the plan has no heat-supply coefficient for the category"),
    ("negative_allocation_input", Rule, "an input of the allocation is negative"),
    ("load_factor_out_of_range", Rule, "a load factor is outside 0 to 1"),
    ("unit_load_factor_out_of_range", Rule, "a unit's load factor is outside 0 to 1"),
    ("no_load_factor_band", Rule, "no load-factor band of the plan holds the value"),
    ("load_factor_overflow", Rule, "the load-factor correction overflows the decimal range"),
    ("allocation_overflow", Rule, "the allocation overflows the decimal range"),
    ("unit_of_other_company", Rule, "a unit of the allocation belongs to another company"),
    ("missing_activity", Rule, "a unit has no activity data"),
    ("activity_for_unknown_unit", Rule, "activity data name a unit that is not the company's"),
    ("allocation_duplicate_unit", Rule, "a unit is listed twice in the allocation"),
    ("allocation_without_units", Rule, "the company has no units to allocate to"),
    ("true_up_mismatch", Rule, "the pre-allocation is for another company or year"),
    // The market (MarketError).
    ("plan_file_invalid", Rule, "the plan file does not parse or validate"),
    ("unknown_company", NotFound, "no company has this id"),
    ("unknown_unit", NotFound, "no generating unit has this id"),
    ("unknown_project", NotFound, "no offset project has this id"),
    ("unknown_plan", NotFound, "no adopted plan has this id"),
    ("unknown_holder", NotFound, "no company, project, holder or account has this name"),
    ("company_exists", Conflict, "the company is already registered"),
    ("unit_exists", Conflict, "the generating unit is already registered"),
    ("holder_exists", Conflict, "the account holder is already registered"),
    ("project_exists", Conflict, "the offset project is already registered"),
    ("plan_exists", Conflict, "the plan is already adopted"),
    (
        "plan_vintages_overlap",
        Conflict,
        "another adopted plan covers some of the plan's years (replace it instead)",
    ),
    ("plan_in_use", Conflict, "allocations were recorded under the plan; it cannot be replaced"),
    ("unit_owner_mismatch", Rule, "the unit belongs to another company"),
    ("no_accepted_report", Conflict, "the company has no accepted report for the year"),
    ("company_without_units", Rule, "the company has no generating units"),
    ("already_pre_allocated", Conflict, "the pre-allocation was already made"),
    ("already_finally_allocated", Conflict, "the final allocation was already made"),
    ("not_pre_allocated", Conflict, "there is no pre-allocation to true up"),
    ("not_finally_allocated", Conflict, "the final allocation is not made yet"),
    ("true_up_short", Rule, "the account holds too few units for the true-up to take back"),
    ("surrendered_before_exemption", Conflict, "a company that surrendered cannot be exempted"),
    ("company_exempted", Conflict, "the company is exempted from the cycle"),
    ("already_assessed", Conflict, "the cycle was already assessed"),
    ("before_deadline", Rule, "the cycle cannot be assessed before its deadline"),
    ("cycle_closed", Conflict, "the cycle is assessed: no more surrenders or exemptions"),
    ("market_file_invalid", Rule, "the market file does not parse or validate"),
    ("exchange_exists", Conflict, "the exchange is already open"),
    ("reserved_key", Rule, "idempotency keys starting with trade- are reserved"),
    ("account_cannot_trade", Rule, "this kind of account does not trade on the exchange"),
    ("replay_account_mismatch", Conflict, "replay: an account number differs from the journal's"),
    ("replay_plan_id_mismatch", Conflict, "replay: a plan file's id differs from the journal's"),
    ("replay_allocation_sum", Conflict, "replay: a recorded allocation does not add up"),
    ("replay_registry_seq", Conflict, "replay: a registry sequence number differs"),
    ("replay_surrender_company", Conflict, "replay: a surrender names no valid company id"),
    ("replay_trades_differ", Conflict, "replay: an exchange input gave other trades"),
    ("replay_releases_differ", Conflict, "replay: a close of day released other holds"),
    ("internal_error", Conflict, "a bug: a checked command failed; the operator must look"),
    // The exchange (TradeRejection).
    ("exchange_not_open", Conflict, "no market configuration is adopted yet"),
    ("not_trading_day", Rule, "the date is a weekend day or a holiday of the market"),
    (
        "beyond_calendar",
        Rule,
        "the date's year is after the last year whose public holidays the market file lists",
    ),
    ("day_not_open", Conflict, "the trading day of the date is not open"),
    ("day_still_open", Conflict, "the previous trading day is still open"),
    ("outside_listed_session", Rule, "the time is outside the listed trading sessions"),
    ("outside_block_session", Rule, "the time is outside the block trading sessions"),
    ("outside_bidding_window", Rule, "the bid is outside the auction's bidding window"),
    ("auction_still_open", Rule, "the auction's bidding window has not ended"),
    ("unknown_instrument", NotFound, "the unit class does not trade on this market"),
    ("listed_not_allowed", Rule, "the instrument does not trade by listed agreement"),
    ("block_not_allowed", Rule, "the instrument does not trade by block agreement"),
    ("one_way_not_allowed", Rule, "the instrument does not trade by one-way bidding"),
    ("listed_size_limit", Rule, "the quantity is not below the listed order limit"),
    ("block_size_limit", Rule, "the quantity is below the block order minimum"),
    ("order_quantity_zero", Rule, "an order quantity of zero tonnes"),
    ("lot_size", Rule, "the quantity is not a multiple of the lot"),
    ("tick_size", Rule, "the price is not a positive multiple of the tick"),
    ("outside_band", Rule, "the price is outside the day's price band"),
    ("below_auction_floor", Rule, "the bid is below the auction's floor price"),
    ("above_auction_ceiling", Rule, "the offer is above the auction's ceiling price"),
    ("insufficient_funds", Rule, "the available funds do not cover the order"),
    ("insufficient_units", Rule, "too few tradable units (bought today, or promised to orders)"),
    ("position_limit", Rule, "the buy would take the position beyond its limit"),
    ("unknown_order", NotFound, "no live order has this id"),
    ("not_order_owner", Rule, "the order belongs to another participant"),
    ("unknown_proposal", NotFound, "no open block proposal has this id"),
    ("not_counterparty", Rule, "the block proposal is addressed to another participant"),
    ("unknown_auction", NotFound, "no open auction has this id"),
    ("not_proposer", Rule, "only the proposer of a block proposal may withdraw it"),
    (
        "participant_not_admitted",
        Rule,
        "the market admits only covered companies (key emitting units) to trading in this phase",
    ),
    ("self_trade", Rule, "a participant cannot trade with itself"),
    ("zero_amount", Rule, "an amount of zero fen"),
    ("deposit_too_large", Rule, "the deposit exceeds the exchange's limit per deposit"),
    ("balance_overflow", Rule, "the deposit would overflow the participant's balance"),
    ("order_value_overflow", Rule, "price times quantity overflows a 64-bit amount of fen"),
    ("tif_needs_continuous", Rule, "IOC and FOK orders need continuous matching"),
    ("fok_not_fillable", Rule, "the fill-or-kill order cannot be filled in full"),
    ("order_pending_settlement", Conflict, "the order has trades awaiting end-of-day settlement"),
    ("take_needs_click_to_trade", Rule, "taking a listed order needs click-to-trade matching"),
    ("not_in_best_levels", Rule, "the order is not within the best price levels of its side"),
    ("take_exceeds_open", Rule, "the quantity taken exceeds the order's open quantity"),
    ("bidding_window_empty", Rule, "the bidding window must close after it opens"),
    (
        "bidding_window_after_close",
        Rule,
        "the bidding window must close by the end of the day's last listed session",
    ),
    ("account_has_live_business", Conflict, "the account has open orders or unsettled trades"),
    ("exchange_internal_error", Conflict, "a bug in the exchange; the operator must look"),
    // The order book (ets_exchange::RejectReason), if a check ever lets one through.
    ("book_unknown_order", NotFound, "the order book has no such order"),
    ("book_duplicate_order_id", Conflict, "the order id is already live in the book"),
    ("book_zero_quantity", Rule, "the order book refuses a zero quantity"),
    ("book_price_not_positive", Rule, "the order book refuses a price that is not positive"),
    ("book_price_not_on_tick", Rule, "the order book refuses a price off the tick"),
    ("book_outside_price_band", Rule, "the order book refuses a price outside the band"),
    ("book_quantity_out_of_range", Rule, "the order book refuses the order size"),
    ("book_price_out_of_range", Rule, "the price is too far from the book's other prices"),
    ("book_fok_not_fillable", Rule, "the book cannot fill the fill-or-kill order in full"),
    ("book_not_within_best_levels", Rule, "the order is not within the best levels of the book"),
    ("book_self_trade", Rule, "the book refuses a trade with oneself"),
    ("book_wrong_side", Rule, "the chosen order is on the taker's own side"),
    ("book_exceeds_open_quantity", Rule, "the quantity exceeds the order's open quantity"),
    ("book_not_owner", Rule, "the order belongs to another participant"),
    ("book_unsupported_in_mode", Rule, "the operation is not available in this matching mode"),
];

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A minute of the day as `HH:MM` (how every message shows it).
pub(crate) fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl MarketError {
    /// The most specific reason's stable code, e.g. `outside_band`, `insufficient_units`,
    /// `unknown_company`.
    pub fn code(&self) -> &'static str {
        match self {
            MarketError::Registry(r) => r.code(),
            MarketError::Surrender(r) => r.code(),
            MarketError::Mrv { source, .. } => source.code(),
            MarketError::Allocation { source, .. } => source.code(),
            MarketError::PlanFile { .. } => "plan_file_invalid",
            MarketError::UnknownCompany(_) => "unknown_company",
            MarketError::UnknownUnit(_) => "unknown_unit",
            MarketError::UnknownProject(_) => "unknown_project",
            MarketError::UnknownPlan(_) => "unknown_plan",
            MarketError::UnknownHolder(_) => "unknown_holder",
            MarketError::Duplicate { what, .. } => match what {
                Registered::Company => "company_exists",
                Registered::Unit => "unit_exists",
                Registered::Holder => "holder_exists",
                Registered::Project => "project_exists",
            },
            MarketError::PlanExists(_) => "plan_exists",
            MarketError::PlanVintagesOverlap { .. } => "plan_vintages_overlap",
            MarketError::PlanInUse { .. } => "plan_in_use",
            MarketError::UnitOwner { .. } => "unit_owner_mismatch",
            MarketError::NoAcceptedReport { .. } => "no_accepted_report",
            MarketError::NoUnits { .. } => "company_without_units",
            MarketError::AlreadyAllocated { stage, .. } => match stage {
                Stage::Pre => "already_pre_allocated",
                Stage::Final => "already_finally_allocated",
            },
            MarketError::NotPreAllocated { .. } => "not_pre_allocated",
            MarketError::NotFinallyAllocated { .. } => "not_finally_allocated",
            MarketError::TrueUpShort { .. } => "true_up_short",
            MarketError::SurrenderedBeforeExemption { .. } => "surrendered_before_exemption",
            MarketError::Exempted { .. } => "company_exempted",
            MarketError::AlreadyAssessed(_) => "already_assessed",
            MarketError::BeforeDeadline { .. } => "before_deadline",
            MarketError::CycleClosed { .. } => "cycle_closed",
            MarketError::Trade(t) => t.code(),
            MarketError::MarketFile { .. } => "market_file_invalid",
            MarketError::ExchangeExists => "exchange_exists",
            MarketError::ReservedKey(_) => "reserved_key",
            MarketError::NotTradingAccount { .. } => "account_cannot_trade",
            MarketError::Replay(r) => match r {
                ReplayMismatch::Account { .. } => "replay_account_mismatch",
                ReplayMismatch::PlanId { .. } => "replay_plan_id_mismatch",
                ReplayMismatch::AllocationSum { .. } => "replay_allocation_sum",
                ReplayMismatch::RegistrySeq { .. } => "replay_registry_seq",
                ReplayMismatch::SurrenderCompany { .. } => "replay_surrender_company",
                ReplayMismatch::Trades { .. } => "replay_trades_differ",
                ReplayMismatch::Releases { .. } => "replay_releases_differ",
            },
            MarketError::Internal { .. } => "internal_error",
        }
    }

    /// The reason's figures by name (numbers as JSON numbers, ids and dates as their text,
    /// decimals as exact text, enumerated words as snake_case tokens); enough to write the
    /// message in another language.
    pub fn params(&self) -> Map<String, Value> {
        match self {
            MarketError::Registry(r) => r.params(),
            MarketError::Surrender(r) => r.params(),
            MarketError::Mrv {
                company,
                year,
                source,
            } => {
                let mut m = object(json!({ "company": company.to_string(), "year": year }));
                m.extend(source.params());
                m
            }
            MarketError::Allocation { company, source } => {
                let mut m = object(json!({ "company": company.to_string() }));
                m.extend(source.params());
                m
            }
            MarketError::Trade(t) => t.params(),
            other => object(other.own_params()),
        }
    }

    fn own_params(&self) -> Value {
        match self {
            MarketError::PlanFile {
                file,
                path,
                message,
            } => json!({ "file": file, "path": path, "message": message }),
            MarketError::UnknownCompany(id) => json!({ "company": id.to_string() }),
            MarketError::UnknownUnit(id) => json!({ "unit": id.to_string() }),
            MarketError::UnknownProject(id) => json!({ "project": id.to_string() }),
            MarketError::UnknownPlan(id)
            | MarketError::PlanExists(id)
            | MarketError::AlreadyAssessed(id) => json!({ "plan": id }),
            MarketError::PlanInUse { plan } => json!({ "plan": plan }),
            MarketError::PlanVintagesOverlap { plan, other, years } => {
                let years: Vec<String> = years.iter().map(|y| y.to_string()).collect();
                json!({ "plan": plan, "other": other, "years": years.join(", ") })
            }
            MarketError::UnknownHolder(h) => json!({ "holder": h }),
            MarketError::Duplicate { id, .. } => json!({ "id": id }),
            MarketError::UnitOwner {
                unit,
                owner,
                company,
            } => json!({
                "unit": unit.to_string(),
                "owner": owner.to_string(),
                "company": company.to_string(),
            }),
            MarketError::NoAcceptedReport { company, year } => {
                json!({ "company": company.to_string(), "year": year })
            }
            MarketError::NoUnits { company } => json!({ "company": company.to_string() }),
            MarketError::AlreadyAllocated {
                plan,
                company,
                year,
                ..
            }
            | MarketError::NotPreAllocated {
                plan,
                company,
                year,
            }
            | MarketError::NotFinallyAllocated {
                plan,
                company,
                year,
            } => json!({ "plan": plan, "company": company.to_string(), "year": year }),
            MarketError::TrueUpShort {
                company,
                year,
                to_return_t,
                held_t,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "to_return_t": to_return_t,
                "held_t": held_t,
            }),
            MarketError::SurrenderedBeforeExemption { plan, company }
            | MarketError::Exempted { plan, company } => {
                json!({ "plan": plan, "company": company.to_string() })
            }
            MarketError::BeforeDeadline { plan, deadline, on } => json!({
                "plan": plan,
                "deadline": deadline.to_string(),
                "on": on.to_string(),
            }),
            MarketError::CycleClosed { plan, assessed_on } => {
                json!({ "plan": plan, "assessed_on": assessed_on.to_string() })
            }
            MarketError::MarketFile { file, key, message } => {
                json!({ "file": file, "key": key, "message": message })
            }
            MarketError::ReservedKey(key) => json!({ "key": key }),
            MarketError::NotTradingAccount { account, kind } => {
                json!({ "account": account.to_string(), "kind": kind.name() })
            }
            MarketError::Replay(r) => match r {
                ReplayMismatch::Account {
                    holder,
                    got,
                    journal,
                } => json!({
                    "holder": holder,
                    "got": got.to_string(),
                    "journal": journal.to_string(),
                }),
                ReplayMismatch::PlanId {
                    file,
                    found,
                    journal,
                } => json!({ "file": file, "found": found, "journal": journal }),
                ReplayMismatch::AllocationSum {
                    company,
                    year,
                    sum_t,
                    deduction_t,
                    total_t,
                } => json!({
                    "company": company.to_string(),
                    "year": year,
                    "sum_t": sum_t,
                    "deduction_t": deduction_t,
                    "total_t": total_t,
                }),
                ReplayMismatch::RegistrySeq { seq, got } => json!({ "seq": seq, "got": got }),
                ReplayMismatch::SurrenderCompany { company } => json!({ "company": company }),
                ReplayMismatch::Trades { op, got, journal } => {
                    json!({ "op": op, "got": got, "journal": journal })
                }
                ReplayMismatch::Releases { got, journal } => {
                    json!({ "got": got, "journal": journal })
                }
            },
            MarketError::Internal { step, .. } => json!({ "step": step }),
            MarketError::ExchangeExists
            | MarketError::Registry(_)
            | MarketError::Surrender(_)
            | MarketError::Mrv { .. }
            | MarketError::Allocation { .. }
            | MarketError::Trade(_) => json!({}),
        }
    }

    /// The kind of the reason (not found, conflict, rule), from [`rejection_codes`].
    pub fn kind(&self) -> ErrorKind {
        let code = self.code();
        CODES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(ErrorKind::Rule, |(_, k, _)| *k)
    }
}

impl TradeRejection {
    /// The reason's stable code (see [`MarketError::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            TradeRejection::NoExchange => "exchange_not_open",
            TradeRejection::NotTradingDay { .. } => "not_trading_day",
            TradeRejection::BeyondCalendar { .. } => "beyond_calendar",
            TradeRejection::DayNotOpen { .. } => "day_not_open",
            TradeRejection::DayStillOpen { .. } => "day_still_open",
            TradeRejection::OutsideSession { window, .. } => match window {
                TradingWindow::Listed => "outside_listed_session",
                TradingWindow::Block => "outside_block_session",
                TradingWindow::Bidding { .. } => "outside_bidding_window",
                TradingWindow::AuctionClose { .. } => "auction_still_open",
            },
            TradeRejection::UnknownInstrument { .. } => "unknown_instrument",
            TradeRejection::ModeNotAllowed { mode, .. } => match mode {
                TradeMode::Listed => "listed_not_allowed",
                TradeMode::Block => "block_not_allowed",
                TradeMode::OneWay => "one_way_not_allowed",
            },
            TradeRejection::SizeLimit { rule, .. } => match rule {
                SizeRule::ListedBelow => "listed_size_limit",
                SizeRule::BlockAtLeast => "block_size_limit",
            },
            TradeRejection::ZeroQuantity => "order_quantity_zero",
            TradeRejection::Lot { .. } => "lot_size",
            TradeRejection::Tick { .. } => "tick_size",
            TradeRejection::OutsideBand { band, .. } => match band {
                Band::Listed | Band::Block => "outside_band",
                Band::AuctionFloor => "below_auction_floor",
                Band::AuctionCeiling => "above_auction_ceiling",
            },
            TradeRejection::InsufficientFunds { .. } => "insufficient_funds",
            TradeRejection::InsufficientUnits { .. } => "insufficient_units",
            TradeRejection::PositionLimit { .. } => "position_limit",
            TradeRejection::UnknownOrder { .. } => "unknown_order",
            TradeRejection::NotOwner { .. } => "not_order_owner",
            TradeRejection::UnknownProposal { .. } => "unknown_proposal",
            TradeRejection::NotCounterparty { .. } => "not_counterparty",
            TradeRejection::UnknownAuction { .. } => "unknown_auction",
            TradeRejection::NotProposer { .. } => "not_proposer",
            TradeRejection::NotAdmitted { .. } => "participant_not_admitted",
            TradeRejection::WindowAfterClose { .. } => "bidding_window_after_close",
            TradeRejection::SelfTrade => "self_trade",
            TradeRejection::ZeroAmount => "zero_amount",
            TradeRejection::DepositTooLarge { .. } => "deposit_too_large",
            TradeRejection::BalanceOverflow { .. } => "balance_overflow",
            TradeRejection::ValueOverflow { .. } => "order_value_overflow",
            TradeRejection::TifNeedsContinuous { .. } => "tif_needs_continuous",
            TradeRejection::FokNotFillable { .. } => "fok_not_fillable",
            TradeRejection::PendingSettlement { .. } => "order_pending_settlement",
            TradeRejection::TakeNeedsClickToTrade => "take_needs_click_to_trade",
            TradeRejection::NotInBestLevels { .. } => "not_in_best_levels",
            TradeRejection::ExceedsOpen { .. } => "take_exceeds_open",
            TradeRejection::EmptyWindow { .. } => "bidding_window_empty",
            TradeRejection::LiveBusiness { .. } => "account_has_live_business",
            TradeRejection::Book { reason } => reason.code(),
            TradeRejection::Internal { .. } => "exchange_internal_error",
        }
    }

    /// The reason's figures by name (see [`MarketError::params`]).
    pub fn params(&self) -> Map<String, Value> {
        object(match self {
            TradeRejection::NoExchange
            | TradeRejection::ZeroQuantity
            | TradeRejection::SelfTrade
            | TradeRejection::ZeroAmount
            | TradeRejection::TakeNeedsClickToTrade
            | TradeRejection::Book { .. } => json!({}),
            TradeRejection::NotTradingDay { date } | TradeRejection::DayNotOpen { date } => {
                json!({ "date": date.to_string() })
            }
            TradeRejection::DayStillOpen { open } => json!({ "open": open.to_string() }),
            TradeRejection::BeyondCalendar { date, last_year } => {
                json!({ "date": date.to_string(), "year": date.year(), "last_year": last_year })
            }
            TradeRejection::OutsideSession { window, minute } => {
                let mut v = json!({ "minute": hhmm(*minute) });
                match *window {
                    TradingWindow::Listed | TradingWindow::Block => {}
                    TradingWindow::Bidding {
                        auction,
                        date,
                        open,
                        close,
                    } => {
                        v["auction"] = json!(auction);
                        v["date"] = json!(date.to_string());
                        v["open"] = json!(hhmm(open));
                        v["close"] = json!(hhmm(close));
                    }
                    TradingWindow::AuctionClose {
                        auction,
                        date,
                        close,
                    } => {
                        v["auction"] = json!(auction);
                        v["date"] = json!(date.to_string());
                        v["close"] = json!(hhmm(close));
                    }
                }
                v
            }
            TradeRejection::UnknownInstrument { class }
            | TradeRejection::ModeNotAllowed { class, .. } => {
                json!({ "class": class.to_string() })
            }
            TradeRejection::SizeLimit { qty, limit, .. } => json!({ "qty": qty, "limit": limit }),
            TradeRejection::Lot { qty, lot } => json!({ "qty": qty, "lot": lot }),
            TradeRejection::Tick { price, tick } => json!({ "price": price, "tick": tick }),
            TradeRejection::OutsideBand {
                price,
                low,
                high,
                band,
            } => match band {
                Band::Listed | Band::Block => json!({ "price": price, "low": low, "high": high }),
                Band::AuctionFloor => json!({ "price": price, "floor": low }),
                Band::AuctionCeiling => json!({ "price": price, "ceiling": high }),
            },
            TradeRejection::InsufficientFunds { needed, available } => {
                json!({ "needed": needed, "available": available })
            }
            TradeRejection::InsufficientUnits {
                requested,
                tradable,
            } => json!({ "requested": requested, "tradable": tradable }),
            TradeRejection::PositionLimit {
                position,
                qty,
                limit,
            } => json!({ "position": position, "qty": qty, "limit": limit }),
            TradeRejection::UnknownOrder { id }
            | TradeRejection::NotOwner { id }
            | TradeRejection::UnknownProposal { id }
            | TradeRejection::NotCounterparty { id }
            | TradeRejection::UnknownAuction { id }
            | TradeRejection::NotProposer { id }
            | TradeRejection::PendingSettlement { id } => json!({ "id": id }),
            TradeRejection::NotAdmitted { account } => json!({ "account": account.to_string() }),
            TradeRejection::WindowAfterClose { close, day_end } => {
                json!({ "close": hhmm(*close), "day_end": hhmm(*day_end) })
            }
            TradeRejection::DepositTooLarge { fen, max_fen } => {
                json!({ "fen": fen, "max_fen": max_fen })
            }
            TradeRejection::BalanceOverflow { fen } => json!({ "fen": fen }),
            TradeRejection::ValueOverflow { price, qty } => json!({ "price": price, "qty": qty }),
            TradeRejection::TifNeedsContinuous { tif } => json!({ "tif": tif.to_string() }),
            TradeRejection::FokNotFillable { qty, fillable } => {
                json!({ "qty": qty, "fillable": fillable })
            }
            TradeRejection::NotInBestLevels { id, levels } => {
                json!({ "id": id, "levels": levels })
            }
            TradeRejection::ExceedsOpen { id, qty, open } => {
                json!({ "id": id, "qty": qty, "open": open })
            }
            TradeRejection::EmptyWindow { open, close } => {
                json!({ "open": hhmm(*open), "close": hhmm(*close) })
            }
            TradeRejection::LiveBusiness { account } => json!({ "account": account.to_string() }),
            TradeRejection::Internal { step, .. } => json!({ "step": step }),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Walks one instance of every reason (the `guard_*` functions match each enum without a
    //! wildcard, so a new variant does not compile until it has a sample here) and checks its
    //! code, kind, figures and message against the list.

    use std::collections::BTreeSet;

    use ets_allocation::AllocationError;
    use ets_compliance::SurrenderRejection;
    use ets_mrv::{MrvError, ReportStatus};
    use ets_registry::{AccountKind, Rejection, TxKind};
    use ets_types::{AccountId, CompanyId, Date, Decimal, ProjectId, UnitClass, UnitId};

    use super::*;
    use crate::trading::exchange::Tif;

    fn c() -> CompanyId {
        CompanyId::parse("SX0001").unwrap()
    }
    fn u() -> UnitId {
        UnitId::parse("SX0001-1").unwrap()
    }
    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }
    const CEA: UnitClass = UnitClass::Cea { vintage: 2019 };
    const A: AccountId = AccountId(7);

    fn guard_registry(r: &Rejection) {
        match r {
            Rejection::ZeroQuantity
            | Rejection::UnknownAccount { .. }
            | Rejection::AccountFrozen { .. }
            | Rejection::AccountClosed { .. }
            | Rejection::InsufficientHoldings { .. }
            | Rejection::WrongAccountKind { .. }
            | Rejection::WrongUnitClass { .. }
            | Rejection::SameAccount { .. }
            | Rejection::UnknownTransaction { .. }
            | Rejection::NotCorrectable { .. }
            | Rejection::CorrectionExceedsOriginal { .. }
            | Rejection::KeyReused { .. }
            | Rejection::NotEmpty { .. }
            | Rejection::Overflow => {}
        }
    }
    fn registry() -> Vec<Rejection> {
        vec![
            Rejection::ZeroQuantity,
            Rejection::UnknownAccount { account: A },
            Rejection::AccountFrozen { account: A },
            Rejection::AccountClosed { account: A },
            Rejection::InsufficientHoldings {
                account: A,
                class: CEA,
                available: 5,
                requested: 9,
            },
            Rejection::WrongAccountKind {
                op: "transfer",
                direction: "from",
                account: A,
                kind: AccountKind::NationalSurrender,
            },
            Rejection::WrongUnitClass {
                op: "allocation",
                class: CEA,
            },
            Rejection::SameAccount { account: A },
            Rejection::UnknownTransaction { original: 42 },
            Rejection::NotCorrectable {
                original: 42,
                kind: TxKind::Transfer,
            },
            Rejection::CorrectionExceedsOriginal {
                original: 42,
                remaining: 3,
                requested: 8,
            },
            Rejection::KeyReused {
                key: "k-1".into(),
                seq: 12,
            },
            Rejection::NotEmpty { account: A },
            Rejection::Overflow,
        ]
    }

    fn guard_surrender(r: &SurrenderRejection) {
        match r {
            SurrenderRejection::IneligibleVintage { .. }
            | SurrenderRejection::IneligibleOffsetVintage { .. }
            | SurrenderRejection::OffsetLimitExceeded { .. }
            | SurrenderRejection::ExceedsObligation { .. }
            | SurrenderRejection::NoObligation => {}
        }
    }
    fn surrender() -> Vec<SurrenderRejection> {
        vec![
            SurrenderRejection::IneligibleVintage {
                class: UnitClass::Cea { vintage: 2023 },
                eligible: vec![2019, 2020],
            },
            SurrenderRejection::IneligibleOffsetVintage {
                vintage: 2010,
                min: 2013,
            },
            SurrenderRejection::OffsetLimitExceeded {
                limit_t: 500,
                used_t: 400,
                requested_t: 300,
            },
            SurrenderRejection::ExceedsObligation {
                remaining_t: 100,
                requested_t: 200,
            },
            SurrenderRejection::NoObligation,
        ]
    }

    fn guard_mrv(e: &MrvError) {
        match e {
            MrvError::UnknownFuel { .. }
            | MrvError::Negative { .. }
            | MrvError::OxidationAboveOne { .. }
            | MrvError::Overflow { .. }
            | MrvError::NoUnits { .. }
            | MrvError::DuplicateUnit { .. }
            | MrvError::WrongYear { .. }
            | MrvError::NoReport { .. }
            | MrvError::InvalidTransition { .. }
            | MrvError::VerificationUnits { .. }
            | MrvError::DateOrder { .. }
            | MrvError::Blank { .. }
            | MrvError::NotVerified { .. } => {}
        }
    }
    fn mrv() -> Vec<MrvError> {
        let dec = |s: &str| s.parse::<Decimal>().unwrap();
        vec![
            MrvError::UnknownFuel {
                unit: u(),
                fuel: "peat".into(),
            },
            MrvError::Negative {
                unit: u(),
                field: "fuel_t".into(),
                value: dec("-1.5"),
            },
            MrvError::OxidationAboveOne {
                unit: u(),
                fuel: "coal".into(),
                value: dec("1.02"),
            },
            MrvError::Overflow { unit: u() },
            MrvError::NoUnits {
                company: c(),
                year: 2019,
            },
            MrvError::DuplicateUnit {
                company: c(),
                year: 2019,
                unit: u(),
            },
            MrvError::WrongYear {
                company: c(),
                year: 2019,
                unit: u(),
                unit_year: 2018,
            },
            MrvError::NoReport {
                company: c(),
                year: 2019,
            },
            MrvError::InvalidTransition {
                company: c(),
                year: 2019,
                from: ReportStatus::Accepted,
                action: "submit",
            },
            MrvError::VerificationUnits {
                company: c(),
                year: 2019,
                not_verified: vec![u()],
                not_reported: vec![],
            },
            MrvError::DateOrder {
                company: c(),
                year: 2019,
                action: "acceptance",
                date: d("2020-03-01"),
                previous: d("2020-04-01"),
            },
            MrvError::Blank {
                company: c(),
                year: 2019,
                what: "verifier",
            },
            MrvError::NotVerified {
                company: c(),
                year: 2019,
                version: 2,
            },
        ]
    }

    fn guard_allocation(e: &AllocationError) {
        match e {
            AllocationError::UnitMismatch { .. }
            | AllocationError::YearMismatch { .. }
            | AllocationError::NoBenchmark { .. }
            | AllocationError::NoCoolingFactor { .. }
            | AllocationError::NoHeatCoefficient { .. }
            | AllocationError::Negative { .. }
            | AllocationError::LoadFactorOutOfRange { .. }
            | AllocationError::UnitLoadFactorOutOfRange { .. }
            | AllocationError::NoBand { .. }
            | AllocationError::LoadFactorOverflow { .. }
            | AllocationError::Overflow { .. }
            | AllocationError::WrongCompany { .. }
            | AllocationError::MissingActivity { .. }
            | AllocationError::UnknownUnit { .. }
            | AllocationError::DuplicateUnit { .. }
            | AllocationError::NoUnits { .. }
            | AllocationError::TrueUpMismatch { .. } => {}
        }
    }
    fn allocation() -> Vec<AllocationError> {
        let dec = |s: &str| s.parse::<Decimal>().unwrap();
        let other = UnitId::parse("SX0002-1").unwrap();
        let company2 = CompanyId::parse("SX0002").unwrap();
        vec![
            AllocationError::UnitMismatch {
                unit: u(),
                activity_unit: other.clone(),
            },
            AllocationError::YearMismatch {
                unit: u(),
                expected: 2019,
                activity_year: 2018,
            },
            AllocationError::NoBenchmark {
                unit: u(),
                category: "gas",
                year: 2019,
            },
            AllocationError::NoCoolingFactor {
                unit: u(),
                category: "gas",
            },
            AllocationError::NoHeatCoefficient {
                unit: u(),
                category: "gas",
            },
            AllocationError::Negative {
                unit: u(),
                field: "supply_mwh",
                value: dec("-3"),
            },
            AllocationError::LoadFactorOutOfRange { value: dec("1.3") },
            AllocationError::UnitLoadFactorOutOfRange {
                unit: u(),
                value: dec("1.3"),
            },
            AllocationError::NoBand { value: dec("0.1") },
            AllocationError::LoadFactorOverflow { value: dec("0.9") },
            AllocationError::Overflow { unit: u() },
            AllocationError::WrongCompany {
                company: c(),
                unit: other.clone(),
                unit_company: company2.clone(),
            },
            AllocationError::MissingActivity {
                company: c(),
                unit: u(),
            },
            AllocationError::UnknownUnit {
                company: c(),
                unit: other,
            },
            AllocationError::DuplicateUnit {
                company: c(),
                unit: u(),
            },
            AllocationError::NoUnits { company: c() },
            AllocationError::TrueUpMismatch {
                company: c(),
                year: 2019,
                other_company: company2,
                other_year: 2020,
            },
        ]
    }

    fn guard_trade(t: &TradeRejection) {
        match t {
            TradeRejection::NoExchange
            | TradeRejection::NotTradingDay { .. }
            | TradeRejection::BeyondCalendar { .. }
            | TradeRejection::DayNotOpen { .. }
            | TradeRejection::DayStillOpen { .. }
            | TradeRejection::OutsideSession { .. }
            | TradeRejection::UnknownInstrument { .. }
            | TradeRejection::ModeNotAllowed { .. }
            | TradeRejection::SizeLimit { .. }
            | TradeRejection::ZeroQuantity
            | TradeRejection::Lot { .. }
            | TradeRejection::Tick { .. }
            | TradeRejection::OutsideBand { .. }
            | TradeRejection::InsufficientFunds { .. }
            | TradeRejection::InsufficientUnits { .. }
            | TradeRejection::PositionLimit { .. }
            | TradeRejection::UnknownOrder { .. }
            | TradeRejection::NotOwner { .. }
            | TradeRejection::UnknownProposal { .. }
            | TradeRejection::NotCounterparty { .. }
            | TradeRejection::UnknownAuction { .. }
            | TradeRejection::NotProposer { .. }
            | TradeRejection::NotAdmitted { .. }
            | TradeRejection::WindowAfterClose { .. }
            | TradeRejection::SelfTrade
            | TradeRejection::ZeroAmount
            | TradeRejection::DepositTooLarge { .. }
            | TradeRejection::BalanceOverflow { .. }
            | TradeRejection::ValueOverflow { .. }
            | TradeRejection::TifNeedsContinuous { .. }
            | TradeRejection::FokNotFillable { .. }
            | TradeRejection::PendingSettlement { .. }
            | TradeRejection::TakeNeedsClickToTrade
            | TradeRejection::NotInBestLevels { .. }
            | TradeRejection::ExceedsOpen { .. }
            | TradeRejection::EmptyWindow { .. }
            | TradeRejection::LiveBusiness { .. }
            | TradeRejection::Book { .. }
            | TradeRejection::Internal { .. } => {}
        }
    }
    fn trade() -> Vec<TradeRejection> {
        let day = d("2021-07-16");
        let mut out = vec![
            TradeRejection::NoExchange,
            TradeRejection::NotTradingDay {
                date: d("2021-07-17"),
            },
            TradeRejection::BeyondCalendar {
                date: d("2027-01-04"),
                last_year: 2026,
            },
            TradeRejection::DayNotOpen { date: day },
            TradeRejection::DayStillOpen { open: day },
            TradeRejection::UnknownInstrument {
                class: UnitClass::Cea { vintage: 2030 },
            },
            TradeRejection::ZeroQuantity,
            TradeRejection::Lot { qty: 7, lot: 5 },
            TradeRejection::Tick {
                price: 4801,
                tick: 5,
            },
            TradeRejection::InsufficientFunds {
                needed: 480_000,
                available: 1_000,
            },
            TradeRejection::InsufficientUnits {
                requested: 100,
                tradable: 40,
            },
            TradeRejection::PositionLimit {
                position: 900,
                qty: 200,
                limit: 1_000,
            },
            TradeRejection::UnknownOrder { id: 31 },
            TradeRejection::NotOwner { id: 31 },
            TradeRejection::UnknownProposal { id: 32 },
            TradeRejection::NotCounterparty { id: 32 },
            TradeRejection::NotProposer { id: 32 },
            TradeRejection::NotAdmitted {
                account: AccountId(7),
            },
            TradeRejection::WindowAfterClose {
                close: 960,
                day_end: 900,
            },
            TradeRejection::UnknownAuction { id: 33 },
            TradeRejection::SelfTrade,
            TradeRejection::ZeroAmount,
            TradeRejection::DepositTooLarge {
                fen: 2_000_000_000_000_000,
                max_fen: 1_000_000_000_000_000,
            },
            TradeRejection::BalanceOverflow { fen: 77 },
            TradeRejection::ValueOverflow {
                price: 4800,
                qty: u64::MAX,
            },
            TradeRejection::TifNeedsContinuous { tif: Tif::Ioc },
            TradeRejection::FokNotFillable {
                qty: 500,
                fillable: 300,
            },
            TradeRejection::PendingSettlement { id: 31 },
            TradeRejection::TakeNeedsClickToTrade,
            TradeRejection::NotInBestLevels { id: 31, levels: 5 },
            TradeRejection::ExceedsOpen {
                id: 31,
                qty: 600,
                open: 400,
            },
            TradeRejection::EmptyWindow {
                open: 630,
                close: 600,
            },
            TradeRejection::LiveBusiness { account: A },
            TradeRejection::Internal {
                step: "settlement",
                cause: "the registry refuses the transfer".into(),
            },
        ];
        for window in [
            TradingWindow::Listed,
            TradingWindow::Block,
            TradingWindow::Bidding {
                auction: 33,
                date: day,
                open: 600,
                close: 630,
            },
            TradingWindow::AuctionClose {
                auction: 33,
                date: day,
                close: 630,
            },
        ] {
            out.push(TradeRejection::OutsideSession {
                window,
                minute: 691,
            });
        }
        for mode in [TradeMode::Listed, TradeMode::Block, TradeMode::OneWay] {
            out.push(TradeRejection::ModeNotAllowed { class: CEA, mode });
        }
        for (rule, qty, limit) in [
            (SizeRule::ListedBelow, 100_000, 100_000),
            (SizeRule::BlockAtLeast, 99_999, 100_000),
        ] {
            out.push(TradeRejection::SizeLimit { rule, qty, limit });
        }
        for (band, low, high) in [
            (Band::Listed, 4320, 5280),
            (Band::Block, 3360, 6240),
            (Band::AuctionFloor, 4500, i64::MAX),
            (Band::AuctionCeiling, 0, 4500),
        ] {
            out.push(TradeRejection::OutsideBand {
                price: 6300,
                low,
                high,
                band,
            });
        }
        for reason in ets_exchange::RejectReason::ALL {
            out.push(TradeRejection::Book { reason });
        }
        out
    }

    fn guard_market(e: &MarketError) {
        match e {
            MarketError::Registry(r) => guard_registry(r),
            MarketError::Surrender(r) => guard_surrender(r),
            MarketError::Mrv { source, .. } => guard_mrv(source),
            MarketError::Allocation { source, .. } => guard_allocation(source),
            MarketError::Trade(t) => guard_trade(t),
            MarketError::Replay(r) => match r {
                ReplayMismatch::Account { .. }
                | ReplayMismatch::PlanId { .. }
                | ReplayMismatch::AllocationSum { .. }
                | ReplayMismatch::RegistrySeq { .. }
                | ReplayMismatch::SurrenderCompany { .. }
                | ReplayMismatch::Trades { .. }
                | ReplayMismatch::Releases { .. } => {}
            },
            MarketError::PlanFile { .. }
            | MarketError::UnknownCompany(_)
            | MarketError::UnknownUnit(_)
            | MarketError::UnknownProject(_)
            | MarketError::UnknownPlan(_)
            | MarketError::UnknownHolder(_)
            | MarketError::Duplicate { .. }
            | MarketError::PlanExists(_)
            | MarketError::PlanVintagesOverlap { .. }
            | MarketError::PlanInUse { .. }
            | MarketError::UnitOwner { .. }
            | MarketError::NoAcceptedReport { .. }
            | MarketError::NoUnits { .. }
            | MarketError::AlreadyAllocated { .. }
            | MarketError::NotPreAllocated { .. }
            | MarketError::NotFinallyAllocated { .. }
            | MarketError::TrueUpShort { .. }
            | MarketError::SurrenderedBeforeExemption { .. }
            | MarketError::Exempted { .. }
            | MarketError::AlreadyAssessed(_)
            | MarketError::BeforeDeadline { .. }
            | MarketError::CycleClosed { .. }
            | MarketError::MarketFile { .. }
            | MarketError::ExchangeExists
            | MarketError::ReservedKey(_)
            | MarketError::NotTradingAccount { .. }
            | MarketError::Internal { .. } => {}
        }
    }

    /// One instance of every reason, nested ones wrapped as the market wraps them.
    fn every_reason() -> Vec<MarketError> {
        let plan = || "cn-power-2019-2020".to_string();
        let mut out: Vec<MarketError> = Vec::new();
        out.extend(registry().into_iter().map(MarketError::Registry));
        out.extend(surrender().into_iter().map(MarketError::Surrender));
        out.extend(mrv().into_iter().map(|source| MarketError::Mrv {
            company: c(),
            year: 2019,
            source,
        }));
        out.extend(
            allocation()
                .into_iter()
                .map(|source| MarketError::Allocation {
                    company: c(),
                    source,
                }),
        );
        out.extend(trade().into_iter().map(MarketError::Trade));
        for what in [
            Registered::Company,
            Registered::Unit,
            Registered::Holder,
            Registered::Project,
        ] {
            out.push(MarketError::Duplicate {
                what,
                id: "SX0009".into(),
            });
        }
        for stage in [Stage::Pre, Stage::Final] {
            out.push(MarketError::AlreadyAllocated {
                plan: plan(),
                company: c(),
                year: 2019,
                stage,
            });
        }
        out.extend([
            MarketError::PlanFile {
                file: "plan.toml".into(),
                path: "allocation.rounding".into(),
                message: "nearest is not one of half_up, down, up".into(),
            },
            MarketError::UnknownCompany(c()),
            MarketError::UnknownUnit(u()),
            MarketError::UnknownProject(ProjectId::parse("P001").unwrap()),
            MarketError::UnknownPlan(plan()),
            MarketError::UnknownHolder("Trader-9".into()),
            MarketError::PlanExists(plan()),
            MarketError::PlanVintagesOverlap {
                plan: "cn-power-2019-2020-strict".into(),
                other: plan(),
                years: vec![2019, 2020],
            },
            MarketError::PlanInUse { plan: plan() },
            MarketError::UnitOwner {
                unit: u(),
                owner: CompanyId::parse("HB0001").unwrap(),
                company: c(),
            },
            MarketError::NoAcceptedReport {
                company: c(),
                year: 2020,
            },
            MarketError::NoUnits { company: c() },
            MarketError::NotPreAllocated {
                plan: plan(),
                company: c(),
                year: 2020,
            },
            MarketError::NotFinallyAllocated {
                plan: plan(),
                company: c(),
                year: 2020,
            },
            MarketError::TrueUpShort {
                company: c(),
                year: 2019,
                to_return_t: 700,
                held_t: 300,
            },
            MarketError::SurrenderedBeforeExemption {
                plan: plan(),
                company: c(),
            },
            MarketError::Exempted {
                plan: plan(),
                company: c(),
            },
            MarketError::AlreadyAssessed(plan()),
            MarketError::BeforeDeadline {
                plan: plan(),
                deadline: d("2021-12-31"),
                on: d("2021-12-01"),
            },
            MarketError::CycleClosed {
                plan: plan(),
                assessed_on: d("2022-01-04"),
            },
            MarketError::MarketFile {
                file: "m.toml".into(),
                key: "market.matching".into(),
                message: "auction: expected click_to_trade or continuous".into(),
            },
            MarketError::ExchangeExists,
            MarketError::ReservedKey("trade-4".into()),
            MarketError::NotTradingAccount {
                account: AccountId(2),
                kind: AccountKind::NationalSurrender,
            },
            MarketError::Replay(ReplayMismatch::Account {
                holder: "SX0001".into(),
                got: AccountId(5),
                journal: AccountId(6),
            }),
            MarketError::Replay(ReplayMismatch::PlanId {
                file: "plan.toml".into(),
                found: "a".into(),
                journal: "b".into(),
            }),
            MarketError::Replay(ReplayMismatch::AllocationSum {
                company: c(),
                year: 2019,
                sum_t: 100,
                deduction_t: 10,
                total_t: 80,
            }),
            MarketError::Replay(ReplayMismatch::RegistrySeq { seq: 9, got: 3 }),
            MarketError::Replay(ReplayMismatch::SurrenderCompany {
                company: "bad id".into(),
            }),
            MarketError::Replay(ReplayMismatch::Trades {
                op: "order",
                got: 2,
                journal: 1,
            }),
            MarketError::Replay(ReplayMismatch::Releases { got: 2, journal: 1 }),
            MarketError::Internal {
                step: "plan events",
                cause: "an event failed".into(),
            },
        ]);
        out
    }

    /// Tokens that name an enumerated value (not a figure of the message): the message may
    /// word them (`save a draft of`) rather than print them.
    const TOKEN_KEYS: &[&str] = &[
        "op",
        "direction",
        "kind",
        "action",
        "status",
        "what",
        "field",
    ];

    fn text_of(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Number(n) => vec![n.to_string()],
            Value::Array(a) => a.iter().flat_map(text_of).collect(),
            other => vec![other.to_string()],
        }
    }

    #[test]
    fn every_reason_has_a_listed_code_its_figures_and_no_debug_text() {
        let listed: BTreeSet<&str> = CODES.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(listed.len(), CODES.len(), "codes are unique");
        for (code, _, description) in CODES {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is snake_case"
            );
            assert!(!description.is_empty());
        }
        let mut seen = BTreeSet::new();
        for e in every_reason() {
            guard_market(&e);
            let (code, message, params) = (e.code(), e.to_string(), e.params());
            assert!(listed.contains(code), "{code} ({message}) is not listed");
            seen.insert(code);
            assert_eq!(
                CODES.iter().find(|(c, ..)| *c == code).map(|x| x.1),
                Some(e.kind())
            );
            for (key, value) in &params {
                if TOKEN_KEYS.contains(&key.as_str()) {
                    continue;
                }
                for text in text_of(value) {
                    assert!(
                        message.contains(&text),
                        "{code}: figure {key} = {text} is not in the message {message:?}"
                    );
                }
            }
            let debug_like = ["{ ", "Some(", "None", "\"", "::"];
            for artefact in debug_like {
                assert!(!message.contains(artefact), "{code}: {message}");
                assert!(
                    !serde_json::to_string(&params).unwrap()[1..].contains("Some("),
                    "{code}: params {params:?}"
                );
            }
            // No CamelCase variant name leaks into a message.
            for word in message.split(|c: char| !c.is_ascii_alphanumeric()) {
                let camel = word.len() > 1
                    && word.starts_with(|c: char| c.is_ascii_uppercase())
                    && word[1..].contains(|c: char| c.is_ascii_lowercase())
                    && word[1..].contains(|c: char| c.is_ascii_uppercase());
                assert!(!camel, "{code}: {word} in {message}");
            }
        }
        let unused: Vec<&&str> = listed.difference(&seen).collect();
        assert!(
            unused.is_empty(),
            "listed codes no reason gives: {unused:?}"
        );
    }

    #[test]
    fn a_refusal_reports_its_figures_by_name() {
        let e = MarketError::Trade(TradeRejection::OutsideBand {
            price: 3360,
            low: 3374,
            high: 6264,
            band: Band::Block,
        });
        assert_eq!(e.code(), "outside_band");
        assert_eq!(e.kind(), ErrorKind::Rule);
        assert_eq!(
            Value::Object(e.params()),
            json!({ "price": 3360, "low": 3374, "high": 6264 })
        );
        let e = MarketError::UnknownCompany(c());
        assert_eq!(
            (e.code(), e.kind()),
            ("unknown_company", ErrorKind::NotFound)
        );
        assert_eq!(Value::Object(e.params()), json!({ "company": "SX0001" }));
    }
}
