//! The exchange's state inside the market: one order book per unit class, the funds ledger,
//! unit freezes, clearing, and the day's market data.
//!
//! Every operation is an [`ExchangeInput`]: checked first ([`Exchange::check`], read-only),
//! then applied ([`Exchange::apply`]), which matches, settles every fill delivery versus payment
//! and returns the trades. Replay applies the same inputs and must get the same trades.
//!
//! Layout: this module holds the state, the inputs and the rules every family shares (bands,
//! sessions, lot, tick and size, funds and tradable units); `check` and `apply` dispatch each
//! input to its family, whose check and apply sit side by side in one file, so that a new kind
//! of order touches one family:
//!
//! - `funds`: deposits and withdrawals;
//! - `day`: opening and closing the trading day, the daily bars and [`MarketDay`];
//! - `listed`: listed orders, cancel, amend, click-to-trade take, position limits;
//! - `block`: block proposals and their acceptance;
//! - `one_way`: one-way bidding (announce, bid, close);
//! - `settlement`: freezes, delivery versus payment of every fill, releases;
//! - `rejection`: [`TradeRejection`], every reason with its figures.

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

mod block;
mod day;
mod funds;
mod listed;
mod one_way;
mod rejection;
mod settlement;

pub use day::{DAY_FIELDS, DailyFigures, DayBar, DayFigures, MarketDay};
pub use rejection::{Band, SizeRule, TradeMode, TradeRejection, TradingWindow};

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
    /// The proposer takes back a block proposal not yet accepted, and what it froze.
    WithdrawBlock {
        proposal: u64,
        account: AccountId,
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
            ExchangeInput::WithdrawBlock { .. } => "withdraw_block",
        }
    }

    /// The participant whose account the input trades from, if any.
    pub fn account(&self) -> Option<AccountId> {
        match *self {
            ExchangeInput::Deposit { account, .. }
            | ExchangeInput::Withdraw { account, .. }
            | ExchangeInput::Order { account, .. }
            | ExchangeInput::Cancel { account, .. }
            | ExchangeInput::Amend { account, .. }
            | ExchangeInput::Take { account, .. }
            | ExchangeInput::ProposeBlock { account, .. }
            | ExchangeInput::AcceptBlock { account, .. }
            | ExchangeInput::WithdrawBlock { account, .. }
            | ExchangeInput::Announce { account, .. }
            | ExchangeInput::Bid { account, .. } => Some(account),
            ExchangeInput::OpenDay { .. }
            | ExchangeInput::CloseDay { .. }
            | ExchangeInput::CloseAuction { .. } => None,
        }
    }

    /// Whether the input takes on new business (money in, an order, a proposal, a bid), which
    /// only admitted participants may; taking business back (withdrawing funds, cancelling,
    /// withdrawing a proposal) is always allowed.
    fn opens_business(&self) -> bool {
        matches!(
            self,
            ExchangeInput::Deposit { .. }
                | ExchangeInput::Order { .. }
                | ExchangeInput::Amend { .. }
                | ExchangeInput::Take { .. }
                | ExchangeInput::ProposeBlock { .. }
                | ExchangeInput::AcceptBlock { .. }
                | ExchangeInput::Announce { .. }
                | ExchangeInput::Bid { .. }
        )
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

/// What held money or units at the close.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// A listed order that expired with the day.
    ListedOrder,
    /// A block proposal that lapsed with the day.
    BlockProposal,
    /// A one-way auction allocated at the close (what its announcer did not trade).
    OneWayAuction,
    /// A bid of such an auction (what it did not win).
    OneWayBid,
    /// An order that traded today, whose remainder waited for end-of-day settlement.
    Settled,
}

/// What the day's close let go of one order, proposal, auction or bid: funds (a buyer's) or
/// units (a seller's) frozen for it and no longer needed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
    pub held: Held,
    pub account: AccountId,
    /// Funds released, fen.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fen: u64,
    /// Units released, with their class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<(UnitClass, Tonnes)>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
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

/// An open block proposal as [`Exchange::block_proposals`] shows it; `side` is the proposer's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockProposalView {
    pub id: u64,
    pub proposer: AccountId,
    pub counterparty: AccountId,
    pub class: UnitClass,
    pub side: OrderSide,
    /// Fen per tonne.
    pub price: i64,
    pub qty: Tonnes,
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
    /// (account, class) → bought today, awaiting end-of-day settlement (position limits).
    pending_buy: BTreeMap<(AccountId, UnitClass), Tonnes>,
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
    /// While the day closes: what each live id was, and every release so far.
    closing: Option<(BTreeMap<u64, Held>, Vec<Release>)>,
    /// What the last close released (rebuilt by replay, compared with the journal's record).
    last_close: Vec<Release>,
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
            pending_buy: BTreeMap::new(),
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
            closing: None,
            last_close: Vec::new(),
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
    /// What the last close of a trading day released, in the order it let go.
    pub fn last_close(&self) -> &[Release] {
        &self.last_close
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

    /// Open block proposals that `account` made or that name it as counterparty, by id:
    /// (id, proposer, counterparty, class, the proposer's side, price, qty).
    pub fn block_proposals(&self, account: AccountId) -> Vec<BlockProposalView> {
        self.blocks
            .iter()
            .filter(|(_, b)| b.account == account || b.counterparty == account)
            .map(|(id, b)| BlockProposalView {
                id: *id,
                proposer: b.account,
                counterparty: b.counterparty,
                class: b.class,
                side: b.side,
                price: b.price,
                qty: b.qty,
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

    /// The end of the day's last listed session (the day's trading ends there).
    fn day_end(&self) -> Option<u16> {
        self.rules
            .calendar
            .sessions()
            .listed
            .iter()
            .map(|w| w.end)
            .max()
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

    /// Checks an input against the current state without changing anything. `limit` is the
    /// buyer's position limit in that class.
    pub fn check(
        &self,
        registry: &Registry,
        input: &ExchangeInput,
        limit: impl Fn(AccountId, UnitClass) -> Tonnes,
    ) -> Result<(), TradeRejection> {
        // Named apart: the announcement's price `limit` shadows it in one arm below.
        let position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes = &limit;
        // DOMAIN.md §1.3: in the first phase only key emitting units (covered companies) trade.
        if !self.rules.admit_non_covered
            && input.opens_business()
            && let Some(account) = input.account()
            && registry.account(account).map(|a| a.kind)
                != Some(ets_registry::AccountKind::CompanyHolding)
        {
            return Err(TradeRejection::NotAdmitted { account });
        }
        match *input {
            ExchangeInput::Deposit { account, fen } => self.check_deposit(account, fen),
            ExchangeInput::Withdraw { account, fen } => self.check_withdraw(account, fen),
            ExchangeInput::OpenDay { date } => self.check_open_day(date),
            ExchangeInput::CloseDay { date } => self.check_close_day(date),
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
            } => self.check_order(
                registry, &limit, account, class, side, price, qty, tif, date, minute,
            ),
            ExchangeInput::Cancel { id, account } => self.check_cancel(id, account),
            ExchangeInput::Amend {
                id,
                account,
                price,
                qty,
                date,
                minute,
            } => self.check_amend(registry, id, account, price, qty, date, minute),
            ExchangeInput::Take {
                account,
                target,
                qty,
                date,
                minute,
                ..
            } => self.check_take(registry, &limit, account, target, qty, date, minute),
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
            } => self.check_propose_block(
                registry,
                &limit,
                account,
                counterparty,
                class,
                side,
                price,
                qty,
                date,
                minute,
            ),
            ExchangeInput::AcceptBlock {
                proposal,
                account,
                date,
                minute,
                ..
            } => self.check_accept_block(registry, &limit, proposal, account, date, minute),
            ExchangeInput::WithdrawBlock { proposal, account } => {
                self.check_withdraw_block(proposal, account)
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
            } => self.check_announce(
                registry,
                position_limit,
                account,
                class,
                side,
                qty,
                limit,
                date,
                open_minute,
                close_minute,
            ),
            ExchangeInput::Bid {
                auction,
                account,
                price,
                qty,
                date,
                minute,
                ..
            } => self.check_bid(registry, &limit, auction, account, price, qty, date, minute),
            ExchangeInput::CloseAuction {
                auction,
                date,
                minute,
            } => self.check_close_auction(auction, date, minute),
        }
    }

    /// Applies a checked input: freezes, matching, settlement, market data. Returns the trades.
    /// Fails only on a state the checks should have excluded (a replay that does not fit).
    pub fn apply(
        &mut self,
        registry: &mut Registry,
        input: &ExchangeInput,
    ) -> Result<Vec<TradeRecord>, TradeRejection> {
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
            ExchangeInput::Deposit { account, fen } => self.apply_deposit(account, fen)?,
            ExchangeInput::Withdraw { account, fen } => self.apply_withdraw(account, fen)?,
            ExchangeInput::OpenDay { date } => self.apply_open_day(date)?,
            ExchangeInput::CloseDay { date } => {
                self.apply_close_day(registry, &mut trades, date)?
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
            } => self.apply_order(
                registry,
                &mut trades,
                id,
                account,
                class,
                side,
                price,
                qty,
                tif,
                date,
                minute,
            )?,
            ExchangeInput::Cancel { id, account } => self.apply_cancel(id, account)?,
            ExchangeInput::Amend {
                id,
                account,
                price,
                qty,
                date,
                minute,
            } => self.apply_amend(registry, &mut trades, id, account, price, qty, date, minute)?,
            ExchangeInput::Take {
                id,
                account,
                target,
                qty,
                date,
                minute,
            } => self.apply_take(
                registry,
                &mut trades,
                id,
                account,
                target,
                qty,
                date,
                minute,
            )?,
            ExchangeInput::ProposeBlock {
                id,
                account,
                counterparty,
                class,
                side,
                price,
                qty,
                ..
            } => self.apply_propose_block(
                registry,
                id,
                account,
                counterparty,
                class,
                side,
                price,
                qty,
            )?,
            ExchangeInput::AcceptBlock {
                id,
                proposal,
                account,
                date,
                minute,
            } => {
                self.apply_accept_block(registry, &mut trades, id, proposal, account, date, minute)?
            }
            ExchangeInput::WithdrawBlock { proposal, .. } => self.apply_withdraw_block(proposal)?,
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
            } => self.apply_announce(
                registry,
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
            )?,
            ExchangeInput::Bid {
                id,
                auction,
                account,
                price,
                qty,
                ..
            } => self.apply_bid(registry, id, auction, account, price, qty)?,
            ExchangeInput::CloseAuction {
                auction,
                date,
                minute,
            } => self.apply_close_auction(registry, &mut trades, auction, date, minute)?,
        }
        Ok(trades)
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
        // Nothing stays frozen without a reason: every freeze of money or units belongs to a
        // live order, proposal, auction or bid, or to a trade awaiting end-of-day settlement.
        let mut live: std::collections::BTreeSet<u64> = self.orders.keys().copied().collect();
        live.extend(self.blocks.keys().copied());
        for (id, a) in &self.auctions {
            live.insert(*id);
            live.extend(a.bids.iter().map(|b| b.0));
        }
        for t in self.clearing.pending().trades() {
            live.insert(t.buy_order.0);
            live.insert(t.sell_order.0);
        }
        for (order, f) in self.funds.freezes() {
            if !live.contains(&order.0) {
                return Err(format!(
                    "{} fen of participant {} frozen for order {}, which is neither live nor awaiting settlement",
                    f.fen, f.participant.0, order.0
                ));
            }
        }
        for (order, f) in self.freezes.freezes() {
            if !live.contains(&order.0) {
                return Err(format!(
                    "{} t of {} in account {} frozen for order {}, which is neither live nor awaiting settlement",
                    f.quantity, f.class, f.account, order.0
                ));
            }
        }
        Ok(())
    }
}
