//! The exchange's state inside the market: one order book per CEA class, the funds ledger,
//! unit freezes, clearing, and the day's market data.
//!
//! Every operation is an [`ExchangeInput`]: checked first ([`Exchange::check`], read-only),
//! then applied ([`Exchange::apply`]), which matches, settles every fill delivery versus payment
//! and returns the trades. Replay applies the same inputs and must get the same trades.

use std::collections::BTreeMap;

use ets_clearing::{
    Clearing, FeeSchedule, Funds, FundsOp, OrderRef, ParticipantId, SettlementMode, Submitted,
    Trade, TradeId, UnitFreezes, UnitOp,
};
use ets_exchange::{
    BookConfig, LimitError, MatchingMode, NewOrder, OrderBook, SelfTradePrevention, Side, Take,
    TimeInForce, TradeKind,
};
use ets_registry::Registry;
use ets_types::{AccountId, Date, Tonnes, UnitClass};
use serde::{Deserialize, Serialize};

use super::config::MarketRules;

/// Why the exchange refused an order or an operation. Nothing changed.
///
/// Every variant has a stable code and its figures (`MarketError::code`, `MarketError::params`);
/// times are minutes of the day shown as `HH:MM`, prices fen, quantities tonnes.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TradeRejection {
    #[error("the exchange is not open (no market configuration adopted)")]
    NoExchange,
    #[error("{date} is not a trading day")]
    NotTradingDay { date: Date },
    #[error("the trading day {date} is not open")]
    DayNotOpen { date: Date },
    #[error("the trading day {open} is still open; close it first")]
    DayStillOpen { open: Date },
    #[error("{} is outside {window}", hhmm(*minute))]
    OutsideSession { window: TradingWindow, minute: u16 },
    #[error("{class} does not trade on this market")]
    UnknownInstrument { class: UnitClass },
    #[error("{class} does not trade by {mode} here")]
    ModeNotAllowed { class: UnitClass, mode: TradeMode },
    #[error("quantity {qty} t is {rule} of {limit} t")]
    SizeLimit {
        rule: SizeRule,
        qty: Tonnes,
        limit: Tonnes,
    },
    #[error("quantity must be at least 1 t")]
    ZeroQuantity,
    #[error("quantity {qty} t is not a multiple of the lot {lot} t")]
    Lot { qty: Tonnes, lot: Tonnes },
    #[error("price {price} fen is not a positive multiple of the tick {tick} fen")]
    Tick { price: i64, tick: i64 },
    #[error("price {price} fen is {}", band.describe(*low, *high))]
    OutsideBand {
        price: i64,
        low: i64,
        high: i64,
        band: Band,
    },
    #[error("insufficient funds: {needed} fen needed, {available} fen available")]
    InsufficientFunds { needed: u64, available: u64 },
    #[error(
        "insufficient tradable units: {requested} t requested, {tradable} t tradable (units bought today cannot be sold today)"
    )]
    InsufficientUnits { requested: Tonnes, tradable: Tonnes },
    #[error("position limit: {position} t held or bid plus {qty} t would exceed {limit} t")]
    PositionLimit {
        position: Tonnes,
        qty: Tonnes,
        limit: Tonnes,
    },
    #[error("unknown order {id}")]
    UnknownOrder { id: u64 },
    #[error("order {id} belongs to another participant")]
    NotOwner { id: u64 },
    #[error("unknown block proposal {id}")]
    UnknownProposal { id: u64 },
    #[error("block proposal {id} is addressed to another participant")]
    NotCounterparty { id: u64 },
    #[error("unknown auction {id}")]
    UnknownAuction { id: u64 },
    #[error("a participant cannot trade with itself")]
    SelfTrade,
    #[error("the amount must be at least 1 fen")]
    ZeroAmount,
    #[error("a deposit of {fen} fen exceeds the limit of {max_fen} fen")]
    DepositTooLarge { fen: u64, max_fen: u64 },
    #[error("a deposit of {fen} fen would overflow the participant's balance")]
    BalanceOverflow { fen: u64 },
    #[error("price {price} fen times {qty} t overflows a 64-bit amount of fen")]
    ValueOverflow { price: i64, qty: Tonnes },
    #[error("{tif} orders need continuous matching; listed orders rest for the day")]
    TifNeedsContinuous { tif: Tif },
    #[error("fill-or-kill order of {qty} t cannot be filled in full ({fillable} t available)")]
    FokNotFillable { qty: Tonnes, fillable: Tonnes },
    #[error(
        "order {id} has trades awaiting end-of-day settlement; cancel it and place a new order"
    )]
    PendingSettlement { id: u64 },
    #[error("taking a listed order is click-to-trade; this market matches continuously")]
    TakeNeedsClickToTrade,
    #[error("order {id} is not within the best {levels} price levels")]
    NotInBestLevels { id: u64, levels: usize },
    #[error("{qty} t requested of order {id}, {open} t open")]
    ExceedsOpen { id: u64, qty: Tonnes, open: Tonnes },
    #[error(
        "the bidding window must close after it opens ({} to {})",
        hhmm(*open),
        hhmm(*close)
    )]
    EmptyWindow { open: u16, close: u16 },
    #[error(
        "account {account} has open exchange orders or unsettled trades; cancel them (or wait for the close) first"
    )]
    LiveBusiness { account: AccountId },
    #[error("order book: {reason}")]
    Book { reason: ets_exchange::RejectReason },
    /// A checked input failed to apply, or a journal does not fit the state: a bug or a
    /// corrupted journal, never a participant's mistake. `cause` is for the operator's log.
    #[error("exchange internal error in {step}: {cause}")]
    Internal { step: &'static str, cause: String },
}

/// A window of the trading day an operation must fall in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TradingWindow {
    /// The listed (click-to-trade or continuous) sessions of the market file.
    Listed,
    /// The block sessions of the market file.
    Block,
    /// The bidding window of a one-way auction, `[open, close)` on its date.
    Bidding {
        auction: u64,
        date: Date,
        open: u16,
        close: u16,
    },
    /// An auction closes at or after the end of its window, on its date.
    AuctionClose {
        auction: u64,
        date: Date,
        close: u16,
    },
}

impl std::fmt::Display for TradingWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            TradingWindow::Listed => f.write_str("the listed sessions"),
            TradingWindow::Block => f.write_str("the block sessions"),
            TradingWindow::Bidding {
                auction,
                date,
                open,
                close,
            } => write!(
                f,
                "the bidding window of auction {auction} ({date} {} to {})",
                hhmm(open),
                hhmm(close)
            ),
            TradingWindow::AuctionClose {
                auction,
                date,
                close,
            } => write!(
                f,
                "the close of auction {auction} (on {date} from {})",
                hhmm(close)
            ),
        }
    }
}

/// A way of trading that an instrument may or may not allow (market file, `modes`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TradeMode {
    Listed,
    Block,
    OneWay,
}

impl std::fmt::Display for TradeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TradeMode::Listed => "listed agreement",
            TradeMode::Block => "block agreement",
            TradeMode::OneWay => "one-way bidding",
        })
    }
}

/// Which order size limit a quantity broke ([`ets_exchange::SizeLimits`]' convention).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SizeRule {
    /// A listed order must be below the limit (`listed_below`).
    ListedBelow,
    /// A block order must be at least the minimum (`block_at_least`).
    BlockAtLeast,
}

impl std::fmt::Display for SizeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeRule::ListedBelow => "not below the listed order limit",
            SizeRule::BlockAtLeast => "below the block order minimum",
        })
    }
}

/// The price range a price broke.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Band {
    /// The listed band around the previous close, `low..=high`.
    Listed,
    /// The block band around the previous close, `low..=high` (also the one-way limit's).
    Block,
    /// A bid in a selling auction: at least the floor `low` (`high` is unbounded).
    AuctionFloor,
    /// An offer in a buying auction: at most the ceiling `high` (`low` is 0).
    AuctionCeiling,
}

impl Band {
    fn describe(self, low: i64, high: i64) -> String {
        match self {
            Band::Listed => format!("outside the listed band {low}..={high} fen"),
            Band::Block => format!("outside the block band {low}..={high} fen"),
            Band::AuctionFloor => format!("below the auction's floor of {low} fen"),
            Band::AuctionCeiling => format!("above the auction's ceiling of {high} fen"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    fn book(self) -> Side {
        match self {
            OrderSide::Buy => Side::Buy,
            OrderSide::Sell => Side::Sell,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tif {
    Day,
    Ioc,
    Fok,
}

impl std::fmt::Display for Tif {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tif::Day => "DAY",
            Tif::Ioc => "IOC",
            Tif::Fok => "FOK",
        })
    }
}

/// An operation on the exchange with every id resolved: what the journal records.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ExchangeInput {
    Deposit {
        account: AccountId,
        fen: u64,
    },
    Withdraw {
        account: AccountId,
        fen: u64,
    },
    OpenDay {
        date: Date,
    },
    CloseDay {
        date: Date,
    },
    Order {
        id: u64,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        tif: Tif,
        date: Date,
        minute: u16,
    },
    Cancel {
        id: u64,
        account: AccountId,
    },
    Amend {
        id: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    },
    /// Click-to-trade: `id` is the taker's order, `target` the listed order it picks.
    Take {
        id: u64,
        account: AccountId,
        target: u64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    },
    ProposeBlock {
        id: u64,
        account: AccountId,
        counterparty: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    },
    /// One-way bidding: a participant announces a quantity to sell (or buy) with a floor (or
    /// ceiling) and a window of the day; `id` is the auction's order reference.
    Announce {
        id: u64,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        qty: Tonnes,
        limit: i64,
        pay_as_bid: bool,
        date: Date,
        open_minute: u16,
        close_minute: u16,
    },
    /// A bid in an announced auction; `id` is the bid's order reference.
    Bid {
        id: u64,
        auction: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    },
    /// The window is over: allocate by price, then time, and settle.
    CloseAuction {
        auction: u64,
        date: Date,
        minute: u16,
    },
    /// The counterparty accepts; `id` is its order reference.
    AcceptBlock {
        id: u64,
        proposal: u64,
        account: AccountId,
        date: Date,
        minute: u16,
    },
}

impl ExchangeInput {
    /// A short name of the input's kind, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ExchangeInput::Deposit { .. } => "deposit",
            ExchangeInput::Withdraw { .. } => "withdraw",
            ExchangeInput::OpenDay { .. } => "open_day",
            ExchangeInput::CloseDay { .. } => "close_day",
            ExchangeInput::Order { .. } => "order",
            ExchangeInput::Cancel { .. } => "cancel_order",
            ExchangeInput::Amend { .. } => "amend_order",
            ExchangeInput::Take { .. } => "take_order",
            ExchangeInput::ProposeBlock { .. } => "propose_block",
            ExchangeInput::AcceptBlock { .. } => "accept_block",
            ExchangeInput::Announce { .. } => "announce_auction",
            ExchangeInput::Bid { .. } => "bid",
            ExchangeInput::CloseAuction { .. } => "close_auction",
        }
    }

    /// The order (or proposal) id the input introduces, if any.
    pub fn id(&self) -> Option<u64> {
        match *self {
            ExchangeInput::Order { id, .. }
            | ExchangeInput::Take { id, .. }
            | ExchangeInput::ProposeBlock { id, .. }
            | ExchangeInput::AcceptBlock { id, .. }
            | ExchangeInput::Announce { id, .. }
            | ExchangeInput::Bid { id, .. } => Some(id),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKindTag {
    Listed,
    Block,
    /// Allocated in one-way bidding.
    OneWay,
}

/// A trade, as published and settled.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TradeRecord {
    pub id: u64,
    pub date: Date,
    pub minute: u16,
    pub class: UnitClass,
    pub price: i64,
    pub qty: Tonnes,
    pub buyer: AccountId,
    pub seller: AccountId,
    pub kind: TradeKindTag,
    /// The registry transaction of the delivery (`None` while awaiting end-of-day settlement).
    pub registry_seq: Option<u64>,
}

/// One instrument's day.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DayBar {
    pub date: Date,
    pub class: UnitClass,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume_t: u64,
    pub turnover_fen: i64,
    pub block_volume_t: u64,
    pub trades: u64,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct OpenOrder {
    account: AccountId,
    class: UnitClass,
    side: OrderSide,
    price: i64,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct Auction {
    account: AccountId,
    class: UnitClass,
    side: OrderSide,
    qty: Tonnes,
    limit: i64,
    pay_as_bid: bool,
    date: Date,
    open_minute: u16,
    close_minute: u16,
    /// (bid id, account, price, qty), in arrival order.
    bids: Vec<(u64, AccountId, i64, Tonnes)>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct BlockProposal {
    account: AccountId,
    counterparty: AccountId,
    class: UnitClass,
    side: OrderSide,
    price: i64,
    qty: Tonnes,
}

/// The order book is an index of `orders`, which is what equality compares.
#[derive(Clone)]
struct BookCell(OrderBook);

impl PartialEq for BookCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for BookCell {}
impl std::fmt::Debug for BookCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrderBook({} orders)", self.0.len())
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Exchange {
    pub rules: MarketRules,
    books: BTreeMap<UnitClass, BookCell>,
    orders: BTreeMap<u64, OpenOrder>,
    /// Account → its live order ids.
    by_account: BTreeMap<AccountId, std::collections::BTreeSet<u64>>,
    /// (account, class) → open buy quantity, kept from the book's events, for position limits.
    open_buy: BTreeMap<(AccountId, UnitClass), Tonnes>,
    pub funds: Funds,
    pub freezes: UnitFreezes,
    clearing: Clearing,
    day: Option<Date>,
    prev_close: BTreeMap<UnitClass, i64>,
    today: BTreeMap<UnitClass, ets_exchange::DailyStats>,
    days: Vec<DayBar>,
    trades: Vec<TradeRecord>,
    blocks: BTreeMap<u64, BlockProposal>,
    auctions: BTreeMap<u64, Auction>,
    next_id: u64,
}

fn participant(a: AccountId) -> ParticipantId {
    ParticipantId(a.0)
}

use crate::codes::hhmm;

/// A failure of a step that the checks should have made impossible (see
/// [`TradeRejection::Internal`]).
fn internal(step: &'static str, cause: impl std::fmt::Display) -> TradeRejection {
    TradeRejection::Internal {
        step,
        cause: cause.to_string(),
    }
}

fn book_config(rules: &MarketRules, inst: &super::config::InstrumentRules) -> BookConfig {
    let mut cfg = BookConfig::new(if rules.continuous {
        MatchingMode::Continuous
    } else {
        MatchingMode::ClickToTrade
    });
    cfg.tick = inst.tick_fen;
    cfg.click_levels = rules.click_levels;
    cfg.qty_max = Some(rules.limits.listed_max());
    cfg.stp = if rules.stp_cancel_incoming {
        SelfTradePrevention::CancelIncoming
    } else {
        SelfTradePrevention::CancelResting
    };
    cfg.levels_max = 1 << 16;
    cfg
}

impl Exchange {
    /// The exchange under a checked market configuration.
    ///
    /// # Errors
    /// `Internal` when the fee schedule is refused by clearing (the configuration's parser
    /// refuses such a file first).
    pub fn new(rules: MarketRules) -> Result<Exchange, TradeRejection> {
        let mode = if rules.settle_end_of_day {
            SettlementMode::EndOfDay
        } else {
            SettlementMode::Immediate
        };
        let fees = FeeSchedule {
            buyer_bps: rules.buyer_fee_bps,
            seller_bps: rules.seller_fee_bps,
            min_fen: rules.min_fee_fen,
        };
        let clearing =
            Clearing::new(mode, fees, 10_000_000).map_err(|e| internal("fee schedule", e))?;
        // Allowance books exist from the start; an offset class gets its book on first use.
        let mut books = BTreeMap::new();
        let mut prev_close = BTreeMap::new();
        for inst in rules.instruments.iter().filter(|i| !i.offset) {
            for &v in &inst.vintages {
                let class = UnitClass::Cea { vintage: v };
                books.insert(class, BookCell(OrderBook::new(book_config(&rules, inst))));
                prev_close.insert(class, inst.reference_fen);
            }
        }
        Ok(Exchange {
            rules,
            books,
            orders: BTreeMap::new(),
            by_account: BTreeMap::new(),
            open_buy: BTreeMap::new(),
            funds: Funds::new(),
            freezes: UnitFreezes::new(),
            clearing,
            day: None,
            prev_close,
            today: BTreeMap::new(),
            days: Vec::new(),
            trades: Vec::new(),
            blocks: BTreeMap::new(),
            auctions: BTreeMap::new(),
            next_id: 1,
        })
    }

    /// The id the next order, take or proposal gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }
    pub fn open_day(&self) -> Option<Date> {
        self.day
    }
    pub fn days(&self) -> &[DayBar] {
        &self.days
    }
    pub fn trades(&self) -> &[TradeRecord] {
        &self.trades
    }
    pub fn prev_close(&self, class: UnitClass) -> Option<i64> {
        self.prev_close.get(&class).copied()
    }
    /// The best `n` levels of each side: (bids, asks) as (price, qty, orders).
    pub fn depth(
        &self,
        class: UnitClass,
        n: usize,
    ) -> (Vec<ets_exchange::LevelView>, Vec<ets_exchange::LevelView>) {
        match self.books.get(&class) {
            Some(b) => (b.0.depth(Side::Buy, n), b.0.depth(Side::Sell, n)),
            None => (Vec::new(), Vec::new()),
        }
    }
    /// Open orders of an account: (id, class, side, price, open qty).
    pub fn open_orders(&self, account: AccountId) -> Vec<(u64, UnitClass, OrderSide, i64, Tonnes)> {
        self.by_account
            .get(&account)
            .into_iter()
            .flatten()
            .filter_map(|id| self.orders.get(id).map(|o| (id, o)))
            .filter_map(|(id, o)| {
                self.books
                    .get(&o.class)?
                    .0
                    .order(*id)
                    .map(|v| (*id, o.class, o.side, o.price, v.qty))
            })
            .collect()
    }
    /// Live orders at the best `levels` price levels of a side, best first, in time priority
    /// within a level: (id, account, price, open qty).
    pub fn best_orders(
        &self,
        class: UnitClass,
        side: OrderSide,
        levels: usize,
    ) -> Vec<(u64, AccountId, i64, Tonnes)> {
        let Some(book) = self.books.get(&class) else {
            return Vec::new();
        };
        let side = side.book();
        book.0
            .depth(side, levels)
            .iter()
            .flat_map(|l| book.0.level_orders(side, l.price))
            .filter_map(|o| {
                self.orders
                    .get(&o.id)
                    .map(|x| (o.id, x.account, o.price, o.qty))
            })
            .collect()
    }

    /// Whether an account has live orders, open proposals or auctions, open bids, or trades
    /// awaiting settlement.
    pub fn has_live_business(&self, account: AccountId) -> bool {
        self.by_account.contains_key(&account)
            || self
                .blocks
                .values()
                .any(|b| b.account == account || b.counterparty == account)
            || self
                .auctions
                .values()
                .any(|a| a.account == account || a.bids.iter().any(|b| b.1 == account))
            || self
                .clearing
                .pending()
                .trades()
                .any(|t| t.buyer_account == account || t.seller_account == account)
    }

    /// The class of a live order.
    pub fn order_class(&self, id: u64) -> Option<UnitClass> {
        self.orders.get(&id).map(|o| o.class)
    }
    /// Units an account may sell or transfer now: holding − frozen − bought today.
    pub fn tradable(&self, registry: &Registry, account: AccountId, class: UnitClass) -> Tonnes {
        self.freezes.tradable_in(registry, account, class)
    }
    /// Units an account may surrender now: holding − frozen (units bought today count).
    pub fn unfrozen(&self, registry: &Registry, account: AccountId, class: UnitClass) -> Tonnes {
        registry
            .holding(account, class)
            .saturating_sub(self.freezes.frozen(account, class))
    }

    fn instrument(
        &self,
        class: UnitClass,
    ) -> Result<&super::config::InstrumentRules, TradeRejection> {
        self.rules
            .instrument(class)
            .ok_or(TradeRejection::UnknownInstrument { class })
    }

    /// The previous close of a class, or its instrument's reference price before its first day.
    fn previous(&self, class: UnitClass) -> i64 {
        self.prev_close
            .get(&class)
            .copied()
            .or_else(|| self.rules.instrument(class).map(|i| i.reference_fen))
            .unwrap_or(1)
    }

    /// The price band of a class; closes and ticks are positive by construction (the market
    /// file checks them, a close is a VWAP of positive prices), so an error here is internal.
    fn band(&self, class: UnitClass, bps: u32) -> Result<(i64, i64), TradeRejection> {
        let tick = self
            .rules
            .instrument(class)
            .map_or(self.rules.tick_fen, |i| i.tick_fen);
        ets_exchange::band(self.previous(class), bps, tick).map_err(|e| internal("price band", e))
    }

    /// The book of a class that has one (every class with live orders does).
    fn book_mut(&mut self, class: UnitClass) -> Result<&mut OrderBook, TradeRejection> {
        self.books
            .get_mut(&class)
            .map(|b| &mut b.0)
            .ok_or(TradeRejection::UnknownInstrument { class })
    }

    /// Creates the book of an offset class on its first order, banded for the open day.
    fn ensure_book(&mut self, class: UnitClass) -> Result<(), TradeRejection> {
        if self.books.contains_key(&class) {
            return Ok(());
        }
        let inst = self.instrument(class)?.clone();
        let mut book = OrderBook::new(book_config(&self.rules, &inst));
        self.prev_close.insert(class, inst.reference_fen);
        if self.day.is_some() {
            book.set_price_band(Some(self.band(class, inst.listed_band_bps)?));
            let stats = ets_exchange::DailyStats::new(inst.reference_fen, inst.tick_fen)
                .map_err(|e| internal("daily statistics", e))?;
            self.today.insert(class, stats);
        }
        self.books.insert(class, BookCell(book));
        Ok(())
    }

    fn in_session(&self, window: TradingWindow, minute: u16) -> Result<(), TradeRejection> {
        let kind = match window {
            TradingWindow::Listed => TradeKind::Listed,
            TradingWindow::Block => TradeKind::Block,
            // Auction windows are checked against the auction.
            TradingWindow::Bidding { .. } | TradingWindow::AuctionClose { .. } => return Ok(()),
        };
        if self.rules.calendar.sessions().is_open(kind, minute) {
            Ok(())
        } else {
            Err(TradeRejection::OutsideSession { window, minute })
        }
    }

    /// Whether the market's calendar trades on `date` (open weekday, not a holiday).
    pub fn is_trading_day(&self, date: Date) -> bool {
        self.rules.calendar.is_trading_day(date)
    }

    fn check_day(&self, date: Date) -> Result<(), TradeRejection> {
        match self.day {
            Some(d) if d == date => Ok(()),
            _ => Err(TradeRejection::DayNotOpen { date }),
        }
    }

    fn check_price_qty(
        &self,
        class: UnitClass,
        price: i64,
        qty: Tonnes,
        block: bool,
    ) -> Result<(), TradeRejection> {
        let inst = self.instrument(class)?;
        if !(if block { inst.block } else { inst.listed }) {
            return Err(TradeRejection::ModeNotAllowed {
                class,
                mode: if block {
                    TradeMode::Block
                } else {
                    TradeMode::Listed
                },
            });
        }
        if qty == 0 {
            return Err(TradeRejection::ZeroQuantity);
        }
        if !qty.is_multiple_of(inst.lot_t) {
            return Err(TradeRejection::Lot {
                qty,
                lot: inst.lot_t,
            });
        }
        let kind = if block {
            TradeKind::Block
        } else {
            TradeKind::Listed
        };
        self.rules.limits.check(kind, qty).map_err(|e| match e {
            LimitError::ListedTooLarge { qty, limit } => TradeRejection::SizeLimit {
                rule: SizeRule::ListedBelow,
                qty,
                limit,
            },
            LimitError::BlockTooSmall { qty, min } => TradeRejection::SizeLimit {
                rule: SizeRule::BlockAtLeast,
                qty,
                limit: min,
            },
            LimitError::ZeroQuantity => TradeRejection::ZeroQuantity,
            other => internal("size limits", other),
        })?;
        if price <= 0 || price % inst.tick_fen != 0 {
            return Err(TradeRejection::Tick {
                price,
                tick: inst.tick_fen,
            });
        }
        let (bps, band) = if block {
            (inst.block_band_bps, Band::Block)
        } else {
            (inst.listed_band_bps, Band::Listed)
        };
        let (low, high) = self.band(class, bps)?;
        if price < low || price > high {
            return Err(TradeRejection::OutsideBand {
                price,
                low,
                high,
                band,
            });
        }
        Ok(())
    }

    /// Funds to freeze for buying `qty` at `price`.
    fn buy_freeze(&self, price: i64, qty: Tonnes) -> Result<u64, TradeRejection> {
        let fen_per_t = u64::try_from(price).map_err(|_| TradeRejection::Tick {
            price,
            tick: self.rules.tick_fen,
        })?;
        self.clearing
            .fees()
            .buy_freeze_fen(fen_per_t, qty)
            .map_err(|_| TradeRejection::ValueOverflow { price, qty })
    }

    fn check_buy(
        &self,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        freed: u64,
    ) -> Result<u64, TradeRejection> {
        let needed = self.buy_freeze(price, qty)?;
        let available = self
            .funds
            .available(participant(account))
            .saturating_add(freed);
        if needed > available {
            return Err(TradeRejection::InsufficientFunds { needed, available });
        }
        Ok(needed)
    }

    fn check_sell(
        &self,
        registry: &Registry,
        account: AccountId,
        class: UnitClass,
        qty: Tonnes,
        freed: Tonnes,
    ) -> Result<(), TradeRejection> {
        let tradable = self
            .tradable(registry, account, class)
            .saturating_add(freed);
        if qty > tradable {
            return Err(TradeRejection::InsufficientUnits {
                requested: qty,
                tradable,
            });
        }
        Ok(())
    }

    /// Open buy quantity of an account in a class.
    fn open_buys(&self, account: AccountId, class: UnitClass) -> Tonnes {
        self.open_buy.get(&(account, class)).copied().unwrap_or(0)
    }

    /// A buy may not take the account's holding plus open bids in the class beyond its limit.
    fn check_position(
        &self,
        registry: &Registry,
        account: AccountId,
        class: UnitClass,
        qty: Tonnes,
        limit: Tonnes,
    ) -> Result<(), TradeRejection> {
        let position = registry
            .holding(account, class)
            .saturating_add(self.open_buys(account, class));
        if position.checked_add(qty).is_none_or(|p| p > limit) {
            return Err(TradeRejection::PositionLimit {
                position,
                qty,
                limit,
            });
        }
        Ok(())
    }

    /// Keeps `open_buy` in step with what the book did to buy orders.
    fn track(
        &mut self,
        class: UnitClass,
        events: &[ets_exchange::Event],
    ) -> Result<(), TradeRejection> {
        use ets_exchange::Event as E;
        for e in events {
            let (p, add, sub) = match *e {
                E::Accepted {
                    participant,
                    side: Side::Buy,
                    qty,
                    ..
                } => (participant, qty, 0),
                E::Fill(f) => {
                    let buyer = if f.aggressor == Side::Buy {
                        f.taker_participant
                    } else {
                        f.maker_participant
                    };
                    (buyer, 0, f.qty)
                }
                E::Cancelled {
                    participant,
                    side: Side::Buy,
                    qty,
                    ..
                }
                | E::Expired {
                    participant,
                    side: Side::Buy,
                    qty,
                    ..
                } => (participant, 0, qty),
                E::Amended {
                    participant,
                    side: Side::Buy,
                    old_qty,
                    qty,
                    ..
                } => (participant, qty, old_qty),
                _ => continue,
            };
            // Participants are account numbers (the book is fed `account.0`).
            let account = AccountId(
                u32::try_from(p).map_err(|_| internal("open buy tracking", "participant id"))?,
            );
            let open = self.open_buy.entry((account, class)).or_insert(0);
            *open = open
                .checked_add(add)
                .and_then(|o| o.checked_sub(sub))
                .ok_or_else(|| internal("open buy tracking", "open buy quantity below zero"))?;
            if *open == 0 {
                self.open_buy.remove(&(account, class));
            }
        }
        Ok(())
    }

    /// Checks an input against the current state without changing anything. `limit` is the
    /// buyer's position limit in that class.
    pub fn check(
        &self,
        registry: &Registry,
        input: &ExchangeInput,
        limit: impl Fn(AccountId) -> Tonnes,
    ) -> Result<(), TradeRejection> {
        match *input {
            ExchangeInput::Deposit { fen, .. } | ExchangeInput::Withdraw { fen, .. }
                if fen == 0 =>
            {
                Err(TradeRejection::ZeroAmount)
            }
            ExchangeInput::Deposit { account, fen } => {
                // A sanity bound far above any participant's funds keeps every sum in range.
                const DEPOSIT_FEN_MAX: u64 = 1_000_000_000_000_000;
                if fen > DEPOSIT_FEN_MAX {
                    return Err(TradeRejection::DepositTooLarge {
                        fen,
                        max_fen: DEPOSIT_FEN_MAX,
                    });
                }
                if self.funds.balance(participant(account)).is_some() {
                    self.funds
                        .check(&FundsOp::Deposit {
                            participant: participant(account),
                            fen,
                        })
                        .map_err(|_| TradeRejection::BalanceOverflow { fen })?;
                }
                Ok(())
            }
            ExchangeInput::Withdraw { account, fen } => {
                let available = self.funds.available(participant(account));
                if fen > available {
                    Err(TradeRejection::InsufficientFunds {
                        needed: fen,
                        available,
                    })
                } else {
                    Ok(())
                }
            }
            ExchangeInput::OpenDay { date } => {
                if let Some(open) = self.day {
                    return Err(TradeRejection::DayStillOpen { open });
                }
                if !self.is_trading_day(date) {
                    return Err(TradeRejection::NotTradingDay { date });
                }
                Ok(())
            }
            ExchangeInput::CloseDay { date } => self.check_day(date),
            ExchangeInput::Order {
                account,
                class,
                side,
                price,
                qty,
                tif,
                date,
                minute,
                ..
            } => {
                self.check_day(date)?;
                self.in_session(TradingWindow::Listed, minute)?;
                self.check_price_qty(class, price, qty, false)?;
                if !self.rules.continuous && tif != Tif::Day {
                    return Err(TradeRejection::TifNeedsContinuous { tif });
                }
                if tif == Tif::Fok {
                    let fillable = self.fillable(account, class, side, price);
                    if fillable < qty {
                        return Err(TradeRejection::FokNotFillable { qty, fillable });
                    }
                }
                match side {
                    OrderSide::Buy => {
                        self.check_buy(account, price, qty, 0)?;
                        self.check_position(registry, account, class, qty, limit(account))
                    }
                    OrderSide::Sell => self.check_sell(registry, account, class, qty, 0),
                }
            }
            ExchangeInput::Cancel { id, account } => self.owned(id, account).map(|_| ()),
            ExchangeInput::Amend {
                id,
                account,
                price,
                qty,
                date,
                minute,
            } => {
                self.check_day(date)?;
                self.in_session(TradingWindow::Listed, minute)?;
                let o = self.owned(id, account)?;
                // Its funds or units still back trades awaiting tonight's settlement.
                if self
                    .clearing
                    .pending()
                    .trades()
                    .any(|t| t.buy_order.0 == id || t.sell_order.0 == id)
                {
                    return Err(TradeRejection::PendingSettlement { id });
                }
                self.check_price_qty(o.class, price, qty, false)?;
                match o.side {
                    OrderSide::Buy => {
                        let freed = self.funds.order_freeze(OrderRef(id)).map_or(0, |f| f.fen);
                        self.check_buy(account, price, qty, freed).map(|_| ())
                    }
                    OrderSide::Sell => {
                        let freed = self
                            .freezes
                            .order_freeze(OrderRef(id))
                            .map_or(0, |f| f.quantity);
                        self.check_sell(registry, account, o.class, qty, freed)
                    }
                }
            }
            ExchangeInput::Take {
                account,
                target,
                qty,
                date,
                minute,
                ..
            } => {
                self.check_day(date)?;
                self.in_session(TradingWindow::Listed, minute)?;
                if self.rules.continuous {
                    return Err(TradeRejection::TakeNeedsClickToTrade);
                }
                let o = self
                    .orders
                    .get(&target)
                    .ok_or(TradeRejection::UnknownOrder { id: target })?;
                let book = &self
                    .books
                    .get(&o.class)
                    .ok_or(TradeRejection::UnknownOrder { id: target })?
                    .0;
                let open = book
                    .order(target)
                    .ok_or(TradeRejection::UnknownOrder { id: target })?
                    .qty;
                if o.account == account {
                    return Err(TradeRejection::SelfTrade);
                }
                let levels = book.depth(o.side.book(), self.rules.click_levels);
                if !levels.iter().any(|l| l.price == o.price) {
                    return Err(TradeRejection::NotInBestLevels {
                        id: target,
                        levels: self.rules.click_levels,
                    });
                }
                if qty == 0 {
                    return Err(TradeRejection::ZeroQuantity);
                }
                if qty > open {
                    return Err(TradeRejection::ExceedsOpen {
                        id: target,
                        qty,
                        open,
                    });
                }
                match o.side {
                    // The taker buys from a listed sell order.
                    OrderSide::Sell => {
                        self.check_buy(account, o.price, qty, 0)?;
                        self.check_position(registry, account, o.class, qty, limit(account))
                    }
                    OrderSide::Buy => self.check_sell(registry, account, o.class, qty, 0),
                }
            }
            ExchangeInput::ProposeBlock {
                account,
                counterparty,
                class,
                side,
                price,
                qty,
                date,
                minute,
                ..
            } => {
                if !self.instrument(class)?.block {
                    return Err(TradeRejection::ModeNotAllowed {
                        class,
                        mode: TradeMode::Block,
                    });
                }
                if account == counterparty {
                    return Err(TradeRejection::SelfTrade);
                }
                self.check_day(date)?;
                self.in_session(TradingWindow::Block, minute)?;
                self.check_price_qty(class, price, qty, true)?;
                match side {
                    OrderSide::Buy => self.check_buy(account, price, qty, 0).map(|_| ()),
                    OrderSide::Sell => self.check_sell(registry, account, class, qty, 0),
                }
            }
            ExchangeInput::AcceptBlock {
                proposal,
                account,
                date,
                minute,
                ..
            } => {
                let p = self
                    .blocks
                    .get(&proposal)
                    .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
                if p.counterparty != account {
                    return Err(TradeRejection::NotCounterparty { id: proposal });
                }
                self.check_day(date)?;
                self.in_session(TradingWindow::Block, minute)?;
                match p.side {
                    OrderSide::Sell => self.check_buy(account, p.price, p.qty, 0).map(|_| ()),
                    OrderSide::Buy => self.check_sell(registry, account, p.class, p.qty, 0),
                }
            }
            ExchangeInput::Announce {
                account,
                class,
                side,
                qty,
                limit,
                date,
                open_minute,
                close_minute,
                ..
            } => {
                if !self.instrument(class)?.one_way {
                    return Err(TradeRejection::ModeNotAllowed {
                        class,
                        mode: TradeMode::OneWay,
                    });
                }
                self.check_day(date)?;
                self.in_session(TradingWindow::Listed, open_minute)?;
                if close_minute <= open_minute {
                    return Err(TradeRejection::EmptyWindow {
                        open: open_minute,
                        close: close_minute,
                    });
                }
                // The floor (ceiling) keeps to the block band [R]: one-way bidding moves large lots.
                let inst = self.instrument(class)?;
                let (low, high) = self.band(class, inst.block_band_bps)?;
                if limit < low || limit > high {
                    return Err(TradeRejection::OutsideBand {
                        price: limit,
                        low,
                        high,
                        band: Band::Block,
                    });
                }
                if limit % inst.tick_fen != 0 {
                    return Err(TradeRejection::Tick {
                        price: limit,
                        tick: inst.tick_fen,
                    });
                }
                if qty == 0 {
                    return Err(TradeRejection::ZeroQuantity);
                }
                match side {
                    OrderSide::Buy => self.check_buy(account, limit, qty, 0).map(|_| ()),
                    OrderSide::Sell => self.check_sell(registry, account, class, qty, 0),
                }
            }
            ExchangeInput::Bid {
                auction,
                account,
                price,
                qty,
                date,
                minute,
                ..
            } => {
                let a = self
                    .auctions
                    .get(&auction)
                    .ok_or(TradeRejection::UnknownAuction { id: auction })?;
                if a.account == account {
                    return Err(TradeRejection::SelfTrade);
                }
                if date != a.date || minute < a.open_minute || minute >= a.close_minute {
                    return Err(TradeRejection::OutsideSession {
                        window: TradingWindow::Bidding {
                            auction,
                            date: a.date,
                            open: a.open_minute,
                            close: a.close_minute,
                        },
                        minute,
                    });
                }
                match a.side {
                    OrderSide::Sell if price < a.limit => {
                        return Err(TradeRejection::OutsideBand {
                            price,
                            low: a.limit,
                            high: i64::MAX,
                            band: Band::AuctionFloor,
                        });
                    }
                    OrderSide::Buy if price > a.limit => {
                        return Err(TradeRejection::OutsideBand {
                            price,
                            low: 0,
                            high: a.limit,
                            band: Band::AuctionCeiling,
                        });
                    }
                    _ => {}
                }
                if qty == 0 {
                    return Err(TradeRejection::ZeroQuantity);
                }
                if price <= 0 || price % self.rules.tick_fen != 0 {
                    return Err(TradeRejection::Tick {
                        price,
                        tick: self.rules.tick_fen,
                    });
                }
                match a.side {
                    // Bidders buy what the announcer sells, and sell what it buys.
                    OrderSide::Sell => self.check_buy(account, price, qty, 0).map(|_| ()),
                    OrderSide::Buy => self.check_sell(registry, account, a.class, qty, 0),
                }
            }
            ExchangeInput::CloseAuction {
                auction,
                date,
                minute,
            } => {
                let a = self
                    .auctions
                    .get(&auction)
                    .ok_or(TradeRejection::UnknownAuction { id: auction })?;
                if date != a.date || minute < a.close_minute {
                    return Err(TradeRejection::OutsideSession {
                        window: TradingWindow::AuctionClose {
                            auction,
                            date: a.date,
                            close: a.close_minute,
                        },
                        minute,
                    });
                }
                Ok(())
            }
        }
    }

    /// Quantity an incoming order could trade at once: the other side's orders at acceptable
    /// prices, less the participant's own (self-trade prevention takes those out).
    fn fillable(
        &self,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        limit: i64,
    ) -> Tonnes {
        let Some(book) = self.books.get(&class) else {
            return 0;
        };
        let other = side.book().opposite();
        let mut total = 0;
        for level in book.0.depth(other, usize::MAX >> 1) {
            let acceptable = match side {
                OrderSide::Buy => level.price <= limit,
                OrderSide::Sell => level.price >= limit,
            };
            if !acceptable {
                break;
            }
            total += book
                .0
                .level_orders(other, level.price)
                .iter()
                .filter(|o| o.participant != u64::from(account.0))
                .map(|o| o.qty)
                .sum::<Tonnes>();
        }
        total
    }

    fn owned(&self, id: u64, account: AccountId) -> Result<&OpenOrder, TradeRejection> {
        let o = self
            .orders
            .get(&id)
            .ok_or(TradeRejection::UnknownOrder { id })?;
        // An order that left the book (filled, awaiting end-of-day settlement) is not live.
        if self
            .books
            .get(&o.class)
            .and_then(|b| b.0.order(id))
            .is_none()
        {
            return Err(TradeRejection::UnknownOrder { id });
        }
        if o.account != account {
            return Err(TradeRejection::NotOwner { id });
        }
        Ok(o)
    }

    /// Applies a checked input: freezes, matching, settlement, market data. Returns the trades.
    /// Fails only on a state the checks should have excluded (a replay that does not fit).
    pub fn apply(
        &mut self,
        registry: &mut Registry,
        input: &ExchangeInput,
    ) -> Result<Vec<TradeRecord>, TradeRejection> {
        let funds_err = |e: ets_clearing::FundsRejection| internal("funds", e);
        let mut trades = Vec::new();
        if let Some(id) = input.id() {
            // Ids are handed out in order; a replay sees them again in the same order.
            let next = id
                .checked_add(1)
                .ok_or_else(|| internal("order ids", "id space exhausted"))?;
            self.next_id = self.next_id.max(next);
        }
        if let ExchangeInput::Order { class, .. }
        | ExchangeInput::ProposeBlock { class, .. }
        | ExchangeInput::Announce { class, .. } = *input
        {
            self.ensure_book(class)?;
        }
        match *input {
            ExchangeInput::Deposit { account, fen } => {
                let p = participant(account);
                if self.funds.balance(p).is_none() {
                    self.funds.open(p).map_err(funds_err)?;
                }
                self.funds.deposit(p, fen).map_err(funds_err)?;
            }
            ExchangeInput::Withdraw { account, fen } => {
                self.funds
                    .withdraw(participant(account), fen)
                    .map_err(funds_err)?;
            }
            ExchangeInput::OpenDay { date } => {
                self.day = Some(date);
                let vintages: Vec<UnitClass> = self.books.keys().copied().collect();
                for v in vintages {
                    let band = self.band(v, self.rules.listed_band_bps)?;
                    self.book_mut(v)?.set_price_band(Some(band));
                    let stats =
                        ets_exchange::DailyStats::new(self.previous(v), self.rules.tick_fen)
                            .map_err(|e| internal("daily statistics", e))?;
                    self.today.insert(v, stats);
                }
            }
            ExchangeInput::CloseDay { date } => {
                let vintages: Vec<UnitClass> = self.books.keys().copied().collect();
                for v in &vintages {
                    let mut events = Vec::new();
                    self.book_mut(*v)?.expire_all(&mut events);
                    self.track(*v, &events)?;
                    let ids: Vec<u64> = events
                        .iter()
                        .filter_map(|e| {
                            if let ets_exchange::Event::Expired { id, .. } = e {
                                Some(*id)
                            } else {
                                None
                            }
                        })
                        .collect();
                    for id in ids {
                        self.finish_if_gone(id)?;
                    }
                }
                let report = self
                    .clearing
                    .end_of_day(registry, &mut self.funds, &mut self.freezes);
                for s in &report.settled {
                    if let Some(t) = self.trades.iter_mut().find(|t| t.id == s.trade.0) {
                        t.registry_seq = Some(s.registry_seq);
                    }
                }
                if let Some(f) = report.failed.first() {
                    return Err(internal("end-of-day settlement", &f.error));
                }
                // Orders that traded but waited for tonight's settlement can now let go.
                let ids: Vec<u64> = self.orders.keys().copied().collect();
                for id in ids {
                    self.finish_if_gone(id)?;
                }
                self.release_finished()?;
                for v in vintages {
                    let s = self
                        .today
                        .remove(&v)
                        .ok_or_else(|| internal("close of day", "the day was not opened"))?;
                    let close = s.close();
                    self.days.push(DayBar {
                        date,
                        class: v,
                        open: s.open(),
                        high: s.high().unwrap_or(close),
                        low: s.low().unwrap_or(close),
                        close,
                        volume_t: s
                            .listed_volume()
                            .map_err(|e| internal("daily statistics", e))?,
                        turnover_fen: s
                            .listed_turnover()
                            .map_err(|e| internal("daily statistics", e))?,
                        block_volume_t: self
                            .trades
                            .iter()
                            .filter(|t| {
                                t.date == date && t.class == v && t.kind == TradeKindTag::Block
                            })
                            .map(|t| t.qty)
                            .sum(),
                        trades: s.listed_trades(),
                    });
                    self.prev_close.insert(v, close);
                }
                self.day = None;
            }
            ExchangeInput::Order {
                id,
                account,
                class,
                side,
                price,
                qty,
                tif,
                date,
                minute,
            } => {
                self.freeze(registry, id, account, class, side, price, qty)?;
                self.insert_order(
                    id,
                    OpenOrder {
                        account,
                        class,
                        side,
                        price,
                    },
                );
                let order = NewOrder {
                    id,
                    participant: u64::from(account.0),
                    side: side.book(),
                    price,
                    qty,
                    tif: match tif {
                        Tif::Day => TimeInForce::Day,
                        Tif::Ioc => TimeInForce::Ioc,
                        Tif::Fok => TimeInForce::Fok,
                    },
                };
                let mut events = Vec::new();
                self.book_mut(class)?.submit(order, &mut events);
                self.track(class, &events)?;
                self.settle_events(registry, &events, class, date, minute, id, &mut trades)?;
            }
            ExchangeInput::Cancel { id, account } => {
                let o = self
                    .orders
                    .get(&id)
                    .ok_or(TradeRejection::UnknownOrder { id })?
                    .clone();
                let mut events = Vec::new();
                self.book_mut(o.class)?
                    .cancel(u64::from(account.0), id, &mut events);
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events.first() {
                    return Err(TradeRejection::Book { reason: *reason });
                }
                self.track(o.class, &events)?;
                self.finish_if_gone(id)?;
            }
            ExchangeInput::Amend {
                id,
                account,
                price,
                qty,
                date,
                minute,
            } => {
                let o = self
                    .orders
                    .get(&id)
                    .ok_or(TradeRejection::UnknownOrder { id })?
                    .clone();
                // Re-freeze for the amended order: release what it holds, freeze the new amount.
                self.release_all(id)?;
                self.freeze(registry, id, account, o.class, o.side, price, qty)?;
                self.insert_order(id, OpenOrder { price, ..o.clone() });
                let mut events = Vec::new();
                self.book_mut(o.class)?
                    .amend(u64::from(account.0), id, price, qty, &mut events);
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events.first() {
                    return Err(TradeRejection::Book { reason: *reason });
                }
                self.track(o.class, &events)?;
                self.settle_events(registry, &events, o.class, date, minute, id, &mut trades)?;
            }
            ExchangeInput::Take {
                id,
                account,
                target,
                qty,
                date,
                minute,
            } => {
                let o = self
                    .orders
                    .get(&target)
                    .ok_or(TradeRejection::UnknownOrder { id: target })?
                    .clone();
                let side = match o.side {
                    OrderSide::Buy => OrderSide::Sell,
                    OrderSide::Sell => OrderSide::Buy,
                };
                self.freeze(registry, id, account, o.class, side, o.price, qty)?;
                self.insert_order(
                    id,
                    OpenOrder {
                        account,
                        class: o.class,
                        side,
                        price: o.price,
                    },
                );
                let take = Take {
                    id,
                    participant: u64::from(account.0),
                    side: side.book(),
                    target,
                    qty,
                };
                // The taker's order never rests, so the book announces no `Accepted` for it: count
                // it as an open buy for the moment its fill takes it off again.
                let mut events = vec![];
                if side == OrderSide::Buy {
                    events.push(ets_exchange::Event::Accepted {
                        id,
                        participant: u64::from(account.0),
                        side: Side::Buy,
                        price: o.price,
                        qty,
                        tif: TimeInForce::Day,
                    });
                }
                self.book_mut(o.class)?.take(take, &mut events);
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events
                    .iter()
                    .find(|e| matches!(e, ets_exchange::Event::Rejected { .. }))
                {
                    return Err(TradeRejection::Book { reason: *reason });
                }
                self.track(o.class, &events)?;
                self.settle_events(registry, &events, o.class, date, minute, id, &mut trades)?;
                self.finish_if_gone(id)?;
            }
            ExchangeInput::ProposeBlock {
                id,
                account,
                counterparty,
                class,
                side,
                price,
                qty,
                ..
            } => {
                self.freeze(registry, id, account, class, side, price, qty)?;
                self.blocks.insert(
                    id,
                    BlockProposal {
                        account,
                        counterparty,
                        class,
                        side,
                        price,
                        qty,
                    },
                );
            }
            ExchangeInput::AcceptBlock {
                id,
                proposal,
                account,
                date,
                minute,
            } => {
                let p = self
                    .blocks
                    .remove(&proposal)
                    .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
                let side = match p.side {
                    OrderSide::Buy => OrderSide::Sell,
                    OrderSide::Sell => OrderSide::Buy,
                };
                self.freeze(registry, id, account, p.class, side, p.price, p.qty)?;
                let (buyer, buy_order, seller, sell_order) = if p.side == OrderSide::Buy {
                    (p.account, proposal, account, id)
                } else {
                    (account, id, p.account, proposal)
                };
                let record = self.settle_one(
                    registry,
                    (buyer, buy_order, p.price),
                    (seller, sell_order),
                    p.class,
                    p.price,
                    p.qty,
                    date,
                    minute,
                    TradeKindTag::Block,
                )?;
                trades.push(record);
                self.release_unless_pending(proposal)?;
                self.release_unless_pending(id)?;
            }
            ExchangeInput::Announce {
                id,
                account,
                class,
                side,
                qty,
                limit,
                pay_as_bid,
                date,
                open_minute,
                close_minute,
            } => {
                self.freeze(registry, id, account, class, side, limit, qty)?;
                let auction = Auction {
                    account,
                    class,
                    side,
                    qty,
                    limit,
                    pay_as_bid,
                    date,
                    open_minute,
                    close_minute,
                    bids: Vec::new(),
                };
                self.auctions.insert(id, auction);
            }
            ExchangeInput::Bid {
                id,
                auction,
                account,
                price,
                qty,
                ..
            } => {
                let a = self
                    .auctions
                    .get(&auction)
                    .ok_or(TradeRejection::UnknownProposal { id: auction })?;
                let (class, side) = (
                    a.class,
                    if a.side == OrderSide::Sell {
                        OrderSide::Buy
                    } else {
                        OrderSide::Sell
                    },
                );
                self.freeze(registry, id, account, class, side, price, qty)?;
                self.auctions
                    .get_mut(&auction)
                    .ok_or(TradeRejection::UnknownAuction { id: auction })?
                    .bids
                    .push((id, account, price, qty));
            }
            ExchangeInput::CloseAuction {
                auction,
                date,
                minute,
            } => {
                let a = self
                    .auctions
                    .remove(&auction)
                    .ok_or(TradeRejection::UnknownProposal { id: auction })?;
                let spec = ets_exchange::OneWayAuction {
                    side: a.side.book(),
                    qty: a.qty,
                    limit: a.limit,
                    pricing: if a.pay_as_bid {
                        ets_exchange::Pricing::PayAsBid
                    } else {
                        ets_exchange::Pricing::Uniform
                    },
                };
                let bids: Vec<ets_exchange::Bid> = a
                    .bids
                    .iter()
                    .enumerate()
                    .map(|(n, &(id, account, price, qty))| ets_exchange::Bid {
                        id,
                        participant: u64::from(account.0),
                        price,
                        qty,
                        time: n as u64,
                    })
                    .collect();
                let result = ets_exchange::run_one_way(&spec, &bids);
                for al in &result.allocations {
                    let &(bid, bidder, bid_price, _) = a
                        .bids
                        .iter()
                        .find(|b| b.0 == al.bid)
                        .ok_or_else(|| internal("one-way allocation", "an unknown bid"))?;
                    let ((buyer, buy_order, limit), (seller, sell_order)) = match a.side {
                        OrderSide::Sell => ((bidder, bid, bid_price), (a.account, auction)),
                        OrderSide::Buy => ((a.account, auction, a.limit), (bidder, bid)),
                    };
                    let record = self.settle_one(
                        registry,
                        (buyer, buy_order, limit),
                        (seller, sell_order),
                        a.class,
                        al.price,
                        al.qty,
                        date,
                        minute,
                        TradeKindTag::OneWay,
                    )?;
                    trades.push(record);
                }
                self.release_unless_pending(auction)?;
                for &(bid, ..) in &a.bids {
                    self.release_unless_pending(bid)?;
                }
            }
        }
        Ok(trades)
    }

    #[allow(clippy::too_many_arguments)]
    fn freeze(
        &mut self,
        registry: &Registry,
        id: u64,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
    ) -> Result<(), TradeRejection> {
        // A seller is paid into its funds account: every trading participant has one.
        if self.funds.balance(participant(account)).is_none() {
            self.funds
                .open(participant(account))
                .map_err(|e| internal("open funds account", e))?;
        }
        match side {
            OrderSide::Buy => {
                let fen = self.buy_freeze(price, qty)?;
                let op = FundsOp::Freeze {
                    participant: participant(account),
                    order: OrderRef(id),
                    fen,
                };
                self.funds
                    .apply(op)
                    .map_err(|e| internal("freeze funds", e))?;
            }
            OrderSide::Sell => {
                let op = UnitOp::Freeze {
                    order: OrderRef(id),
                    account,
                    class,
                    quantity: qty,
                };
                let tradable = self.freezes.tradable_in(registry, account, class);
                self.freezes.apply(registry, op).map_err(|_| {
                    TradeRejection::InsufficientUnits {
                        requested: qty,
                        tradable,
                    }
                })?;
            }
        }
        Ok(())
    }

    fn insert_order(&mut self, id: u64, order: OpenOrder) {
        self.by_account.entry(order.account).or_default().insert(id);
        self.orders.insert(id, order);
    }

    fn remove_order(&mut self, id: u64) {
        if let Some(o) = self.orders.remove(&id)
            && let Some(ids) = self.by_account.get_mut(&o.account)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_account.remove(&o.account);
            }
        }
    }

    /// Releases what an order still holds, unless a trade of it awaits end-of-day settlement
    /// (then the close releases the rest, after settling).
    fn release_unless_pending(&mut self, id: u64) -> Result<(), TradeRejection> {
        if self
            .clearing
            .pending()
            .trades()
            .any(|t| t.buy_order.0 == id || t.sell_order.0 == id)
        {
            return Ok(());
        }
        self.release_all(id)
    }

    /// After end-of-day settlement: every freeze whose order is no longer live is released.
    fn release_finished(&mut self) -> Result<(), TradeRejection> {
        let mut live: std::collections::BTreeSet<u64> = self.orders.keys().copied().collect();
        live.extend(self.blocks.keys().copied());
        for (id, a) in &self.auctions {
            live.insert(*id);
            live.extend(a.bids.iter().map(|b| b.0));
        }
        let frozen: std::collections::BTreeSet<u64> = self
            .funds
            .freezes()
            .map(|(o, _)| o.0)
            .chain(self.freezes.freezes().map(|(o, _)| o.0))
            .collect();
        for id in frozen.difference(&live) {
            self.release_all(*id)?;
        }
        Ok(())
    }

    /// Releases whatever an order still holds frozen (money or units).
    fn release_all(&mut self, id: u64) -> Result<(), TradeRejection> {
        if let Some(f) = self.funds.order_freeze(OrderRef(id)) {
            self.funds
                .release(f.participant, OrderRef(id), f.fen)
                .map_err(|e| internal("release funds", e))?;
        }
        if let Some(f) = self.freezes.order_freeze(OrderRef(id)) {
            self.freezes
                .release(OrderRef(id), f.account, f.quantity)
                .map_err(|e| internal("release units", e))?;
        }
        Ok(())
    }

    /// An order that left the book (filled, cancelled, expired) gives back what it still holds.
    fn finish_if_gone(&mut self, id: u64) -> Result<(), TradeRejection> {
        let Some(o) = self.orders.get(&id) else {
            return Ok(());
        };
        let live = self
            .books
            .get(&o.class)
            .is_some_and(|b| b.0.order(id).is_some());
        if !live {
            // Trades awaiting end-of-day settlement still need their freezes.
            if self
                .clearing
                .pending()
                .trades()
                .any(|t| t.buy_order.0 == id || t.sell_order.0 == id)
            {
                return Ok(());
            }
            self.remove_order(id);
            self.release_all(id)?;
        }
        Ok(())
    }

    /// Settles the fills among book events and releases the freezes of orders that left.
    #[allow(clippy::too_many_arguments)]
    fn settle_events(
        &mut self,
        registry: &mut Registry,
        events: &[ets_exchange::Event],
        class: UnitClass,
        date: Date,
        minute: u16,
        incoming: u64,
        trades: &mut Vec<TradeRecord>,
    ) -> Result<(), TradeRejection> {
        let mut touched = vec![incoming];
        for e in events {
            match e {
                ets_exchange::Event::Rejected { reason, .. } => {
                    return Err(TradeRejection::Book { reason: *reason });
                }
                ets_exchange::Event::Fill(f) => {
                    let (buy, sell) = if f.aggressor == Side::Buy {
                        (f.taker, f.maker)
                    } else {
                        (f.maker, f.taker)
                    };
                    let order = |id: u64| {
                        self.orders
                            .get(&id)
                            .cloned()
                            .ok_or_else(|| internal("fill", "a fill of an unknown order"))
                    };
                    let (buyer, seller) = (order(buy)?, order(sell)?);
                    let record = self.settle_one(
                        registry,
                        (buyer.account, buy, buyer.price),
                        (seller.account, sell),
                        class,
                        f.price,
                        f.qty,
                        date,
                        minute,
                        TradeKindTag::Listed,
                    )?;
                    trades.push(record);
                    touched.push(f.maker);
                }
                ets_exchange::Event::Cancelled { id, .. }
                | ets_exchange::Event::Expired { id, .. } => touched.push(*id),
                _ => {}
            }
        }
        for id in touched {
            self.finish_if_gone(id)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn settle_one(
        &mut self,
        registry: &mut Registry,
        (buyer, buy_order, buy_limit): (AccountId, u64, i64),
        (seller, sell_order): (AccountId, u64),
        class: UnitClass,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
        kind: TradeKindTag,
    ) -> Result<TradeRecord, TradeRejection> {
        let id = u64::try_from(self.trades.len()).map_or(u64::MAX, |n| n.saturating_add(1));
        // Prices reaching settlement passed the tick check (positive); limits likewise.
        let fen =
            |p: i64| u64::try_from(p).map_err(|_| internal("settlement", "a price below zero"));
        let trade = Trade {
            id: TradeId(id),
            date,
            class,
            quantity: qty,
            price_fen_per_t: fen(price)?,
            buyer: participant(buyer),
            buyer_account: buyer,
            buy_order: OrderRef(buy_order),
            buy_limit_fen_per_t: fen(buy_limit)?,
            seller: participant(seller),
            seller_account: seller,
            sell_order: OrderRef(sell_order),
        };
        let registry_seq =
            match self
                .clearing
                .submit(trade, registry, &mut self.funds, &mut self.freezes)
            {
                Ok(Submitted::Settled(s)) => Some(s.registry_seq),
                Ok(Submitted::Queued) => None,
                Err(e) => return Err(internal("settlement", e)),
            };
        let ets_kind = match kind {
            TradeKindTag::Listed => ets_exchange::TradeKind::Listed,
            TradeKindTag::Block | TradeKindTag::OneWay => ets_exchange::TradeKind::Block,
        };
        if let Some(s) = self.today.get_mut(&class) {
            s.record(ets_kind, price, qty);
        }
        let record = TradeRecord {
            id,
            date,
            minute,
            class,
            price,
            qty,
            buyer,
            seller,
            kind,
            registry_seq,
        };
        self.trades.push(record.clone());
        Ok(record)
    }

    /// Invariants of the exchange: funds conserved, freezes consistent with the registry.
    pub fn check_invariants(&self, registry: &Registry) -> Result<(), String> {
        self.funds.check_invariants().map_err(|e| e.to_string())?;
        self.freezes
            .check_invariants(registry)
            .map_err(|e| e.to_string())?;
        for b in self.books.values() {
            b.0.check_invariants()?;
        }
        Ok(())
    }
}

/// The market's day across all traded vintages.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MarketDay {
    pub date: Date,
    /// First listed trade of the day, or the previous close.
    pub open: i64,
    pub high: i64,
    pub low: i64,
    /// Volume-weighted average of the day's listed trades (block trades excluded), rounded half
    /// up to the tick; the previous close when there were none.
    pub close: i64,
    /// Listed and block volume, t.
    pub volume_t: u64,
    pub block_volume_t: u64,
    /// Listed and block turnover, fen.
    pub turnover_fen: u64,
    pub trades: u64,
}

impl Exchange {
    /// Daily figures of the whole market, from its trades, one per closed trading day: the
    /// allowances' trades of the day through one [`ets_exchange::DailyStats`] at the market's
    /// tick (listed trades set open, high, low and the VWAP close; block and one-way trades
    /// count in volume and turnover only), so the close is computed as the exchange core
    /// computes it and nowhere else.
    pub fn market_days(&self) -> Vec<MarketDay> {
        let mut dates: Vec<Date> = self.days.iter().map(|b| b.date).collect();
        dates.dedup();
        let mut prev_close = self.rules.opening_reference_fen;
        let mut out = Vec::with_capacity(dates.len());
        let mut t = 0;
        for date in dates {
            while t < self.trades.len() && self.trades[t].date < date {
                t += 1;
            }
            let start = t;
            while t < self.trades.len() && self.trades[t].date == date {
                t += 1;
            }
            // The market's price is the allowances'; offset credits have their own bars.
            let today = self.trades[start..t]
                .iter()
                .filter(|x| !x.class.is_offset());
            // The rules' tick is positive (the market file checks it).
            let Ok(mut stats) = ets_exchange::DailyStats::new(prev_close, self.rules.tick_fen)
            else {
                break;
            };
            let mut block_volume_t: u64 = 0;
            for x in today {
                let kind = match x.kind {
                    TradeKindTag::Listed => TradeKind::Listed,
                    TradeKindTag::Block | TradeKindTag::OneWay => TradeKind::Block,
                };
                stats.record(kind, x.price, x.qty);
                if x.kind == TradeKindTag::Block {
                    block_volume_t = block_volume_t.saturating_add(x.qty);
                }
            }
            let close = stats.close();
            let volume = |r: Result<u64, ets_exchange::StatsError>| r.unwrap_or(u64::MAX);
            let turnover = |r: Result<i64, ets_exchange::StatsError>| {
                r.ok()
                    .and_then(|v| u64::try_from(v).ok())
                    .unwrap_or(u64::MAX)
            };
            out.push(MarketDay {
                date,
                open: stats.open(),
                high: stats.high().unwrap_or(close),
                low: stats.low().unwrap_or(close),
                close,
                volume_t: volume(stats.listed_volume())
                    .saturating_add(volume(stats.block_volume())),
                block_volume_t,
                turnover_fen: turnover(stats.listed_turnover())
                    .saturating_add(turnover(stats.block_turnover())),
                trades: stats.listed_trades() + stats.block_trades(),
            });
            prev_close = close;
        }
        out
    }
}
