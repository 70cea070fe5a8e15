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
    BookConfig, MatchingMode, NewOrder, OrderBook, SelfTradePrevention, Side, Take, TimeInForce,
};
use ets_registry::Registry;
use ets_types::{AccountId, Date, Tonnes, UnitClass};
use serde::{Deserialize, Serialize};

use super::config::MarketRules;

/// Why the exchange refused an order or an operation. Nothing changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum TradeRejection {
    #[error("the exchange is not open (no market configuration adopted)")]
    NoExchange,
    #[error("{date} is not a trading day")]
    NotTradingDay { date: Date },
    #[error("the trading day {date} is not open")]
    DayNotOpen { date: Date },
    #[error("the trading day {open} is still open; close it first")]
    DayStillOpen { open: Date },
    #[error("{minute} is outside the {kind} sessions")]
    OutsideSession { kind: String, minute: String },
    #[error("{class} does not trade on this market")]
    UnknownInstrument { class: UnitClass },
    #[error("quantity {qty} t is outside the {kind} size limit ({limit})")]
    SizeLimit {
        kind: String,
        qty: Tonnes,
        limit: String,
    },
    #[error("quantity {qty} t is not a multiple of the lot {lot} t")]
    Lot { qty: Tonnes, lot: Tonnes },
    #[error("price {price} fen is not on the tick {tick} fen")]
    Tick { price: i64, tick: i64 },
    #[error("price {price} fen is outside the band {low}..={high} fen")]
    OutsideBand { price: i64, low: i64, high: i64 },
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
    #[error("order book: {detail}")]
    Book { detail: String },
    #[error("unknown block proposal {id}")]
    UnknownProposal { id: u64 },
    #[error("block proposal {id} is addressed to another participant")]
    NotCounterparty { id: u64 },
    #[error("block trades are not allowed on this market")]
    BlockNotAllowed,
    #[error("a participant cannot trade with itself")]
    SelfTrade,
    #[error("funds: {detail}")]
    Funds { detail: String },
    #[error("{kind} of {fen} fen must be positive")]
    ZeroAmount { kind: String, fen: u64 },
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

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn book_err(e: impl std::fmt::Display) -> TradeRejection {
    TradeRejection::Book {
        detail: e.to_string(),
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
    cfg.qty_max = Some(rules.listed_max_t);
    cfg.stp = if rules.stp_cancel_incoming {
        SelfTradePrevention::CancelIncoming
    } else {
        SelfTradePrevention::CancelResting
    };
    cfg.levels_max = 1 << 16;
    cfg
}

impl Exchange {
    pub fn new(rules: MarketRules) -> Exchange {
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
            Clearing::new(mode, fees, 10_000_000).expect("fee schedule checked with the rules");
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
        Exchange {
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
        }
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
                self.books[&o.class]
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

    fn band(&self, class: UnitClass, bps: u32) -> (i64, i64) {
        let tick = self
            .rules
            .instrument(class)
            .map_or(self.rules.tick_fen, |i| i.tick_fen);
        ets_exchange::band(self.previous(class), bps, tick).expect("positive close and tick")
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
            book.set_price_band(Some(self.band(class, inst.listed_band_bps)));
            let stats = ets_exchange::DailyStats::new(inst.reference_fen, inst.tick_fen)
                .expect("positive tick");
            self.today.insert(class, stats);
        }
        self.books.insert(class, BookCell(book));
        Ok(())
    }

    fn in_session(
        &self,
        sessions: &[(u16, u16)],
        kind: &str,
        minute: u16,
    ) -> Result<(), TradeRejection> {
        if sessions.iter().any(|(a, b)| (*a..*b).contains(&minute)) {
            Ok(())
        } else {
            Err(TradeRejection::OutsideSession {
                kind: kind.into(),
                minute: hhmm(minute),
            })
        }
    }

    pub fn is_trading_day(&self, date: Date) -> bool {
        // `weekday` counts from Sunday = 0; the rules from Monday = 0.
        let monday_first = (ets_exchange::calendar::weekday(date) as usize + 6) % 7;
        self.rules.weekdays[monday_first] && self.rules.holidays.binary_search(&date).is_err()
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
            return Err(book_err(format!(
                "{class} does not trade by {} agreement here",
                if block { "block" } else { "listed" }
            )));
        }
        if qty == 0 || !qty.is_multiple_of(inst.lot_t) {
            return Err(TradeRejection::Lot {
                qty,
                lot: inst.lot_t,
            });
        }
        if block {
            if qty < self.rules.block_min_t {
                return Err(TradeRejection::SizeLimit {
                    kind: "block".into(),
                    qty,
                    limit: format!(">= {}", self.rules.block_min_t),
                });
            }
        } else if qty > self.rules.listed_max_t {
            return Err(TradeRejection::SizeLimit {
                kind: "listed".into(),
                qty,
                limit: format!("<= {}", self.rules.listed_max_t),
            });
        }
        if price <= 0 || price % inst.tick_fen != 0 {
            return Err(TradeRejection::Tick {
                price,
                tick: inst.tick_fen,
            });
        }
        let (low, high) = self.band(
            class,
            if block {
                inst.block_band_bps
            } else {
                inst.listed_band_bps
            },
        );
        if price < low || price > high {
            return Err(TradeRejection::OutsideBand { price, low, high });
        }
        Ok(())
    }

    /// Funds to freeze for buying `qty` at `price`.
    fn buy_freeze(&self, price: i64, qty: Tonnes) -> Result<u64, TradeRejection> {
        self.clearing
            .fees()
            .buy_freeze_fen(price as u64, qty)
            .map_err(|e| TradeRejection::Funds {
                detail: e.to_string(),
            })
    }

    fn check_buy(
        &self,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        freed: u64,
    ) -> Result<u64, TradeRejection> {
        let needed = self.buy_freeze(price, qty)?;
        let available = self.funds.available(participant(account)) + freed;
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
        let tradable = self.tradable(registry, account, class) + freed;
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
        let position = registry.holding(account, class) + self.open_buys(account, class);
        if position + qty > limit {
            return Err(TradeRejection::PositionLimit {
                position,
                qty,
                limit,
            });
        }
        Ok(())
    }

    /// Keeps `open_buy` in step with what the book did to buy orders.
    fn track(&mut self, class: UnitClass, events: &[ets_exchange::Event]) {
        use ets_exchange::Event as E;
        let account =
            |p: u64| AccountId(u32::try_from(p).expect("participants are account numbers"));
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
            let open = self.open_buy.entry((account(p), class)).or_insert(0);
            *open = (*open + add)
                .checked_sub(sub)
                .expect("open buy quantity never goes below zero");
            if *open == 0 {
                self.open_buy.remove(&(account(p), class));
            }
        }
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
                Err(TradeRejection::ZeroAmount {
                    kind: "amount".into(),
                    fen,
                })
            }
            ExchangeInput::Deposit { account, fen } => {
                // A sanity bound far above any participant's funds keeps every sum in range.
                const DEPOSIT_FEN_MAX: u64 = 1_000_000_000_000_000;
                if fen > DEPOSIT_FEN_MAX {
                    return Err(TradeRejection::Funds {
                        detail: format!(
                            "a deposit of {fen} fen exceeds the limit of {DEPOSIT_FEN_MAX} fen"
                        ),
                    });
                }
                if self.funds.balance(participant(account)).is_some() {
                    self.funds
                        .check(&FundsOp::Deposit {
                            participant: participant(account),
                            fen,
                        })
                        .map_err(|e| TradeRejection::Funds {
                            detail: e.to_string(),
                        })?;
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
                self.in_session(&self.rules.listed_sessions, "listed", minute)?;
                self.check_price_qty(class, price, qty, false)?;
                if !self.rules.continuous && tif != Tif::Day {
                    return Err(book_err(
                        "IOC and FOK orders need continuous matching; listed orders rest for the day",
                    ));
                }
                if tif == Tif::Fok && self.fillable(account, class, side, price) < qty {
                    return Err(book_err("fill-or-kill order cannot be filled in full"));
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
                self.in_session(&self.rules.listed_sessions, "listed", minute)?;
                let o = self.owned(id, account)?;
                // Its funds or units still back trades awaiting tonight's settlement.
                if self
                    .clearing
                    .pending()
                    .trades()
                    .any(|t| t.buy_order.0 == id || t.sell_order.0 == id)
                {
                    return Err(book_err(format!(
                        "order {id} has trades awaiting end-of-day settlement; cancel it and place a new order"
                    )));
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
                self.in_session(&self.rules.listed_sessions, "listed", minute)?;
                if self.rules.continuous {
                    return Err(book_err(
                        "taking a listed order is click-to-trade; this market matches continuously",
                    ));
                }
                let o = self
                    .orders
                    .get(&target)
                    .ok_or(TradeRejection::UnknownOrder { id: target })?;
                if self
                    .books
                    .get(&o.class)
                    .and_then(|b| b.0.order(target))
                    .is_none()
                {
                    return Err(TradeRejection::UnknownOrder { id: target });
                }
                if o.account == account {
                    return Err(TradeRejection::SelfTrade);
                }
                let book = &self.books[&o.class].0;
                let levels = book.depth(o.side.book(), self.rules.click_levels);
                if !levels.iter().any(|l| l.price == o.price) {
                    return Err(book_err(format!(
                        "order {target} is not within the best {} price levels",
                        self.rules.click_levels
                    )));
                }
                let open = self.books[&o.class].0.order(target).map_or(0, |v| v.qty);
                if qty == 0 || qty > open {
                    return Err(book_err(format!(
                        "{qty} t requested of order {target}, {open} t open"
                    )));
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
                    return Err(TradeRejection::BlockNotAllowed);
                }
                if account == counterparty {
                    return Err(TradeRejection::SelfTrade);
                }
                self.check_day(date)?;
                self.in_session(&self.rules.block_sessions, "block", minute)?;
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
                self.in_session(&self.rules.block_sessions, "block", minute)?;
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
                    return Err(book_err("one-way bidding is not allowed on this market"));
                }
                self.check_day(date)?;
                self.in_session(&self.rules.listed_sessions, "listed", open_minute)?;
                if close_minute <= open_minute {
                    return Err(book_err("the bidding window must close after it opens"));
                }
                // The floor (ceiling) keeps to the block band [R]: one-way bidding moves large lots.
                let inst = self.instrument(class)?;
                let (low, high) = self.band(class, inst.block_band_bps);
                if limit < low || limit > high || limit % inst.tick_fen != 0 {
                    return Err(TradeRejection::OutsideBand {
                        price: limit,
                        low,
                        high,
                    });
                }
                if qty == 0 {
                    return Err(TradeRejection::Lot {
                        qty,
                        lot: self.rules.lot_t,
                    });
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
                    .ok_or(TradeRejection::UnknownProposal { id: auction })?;
                if a.account == account {
                    return Err(TradeRejection::SelfTrade);
                }
                if date != a.date || minute < a.open_minute || minute >= a.close_minute {
                    return Err(TradeRejection::OutsideSession {
                        kind: format!("bidding window of auction {auction}"),
                        minute: hhmm(minute),
                    });
                }
                let beyond = match a.side {
                    OrderSide::Sell => price < a.limit,
                    OrderSide::Buy => price > a.limit,
                };
                if beyond || qty == 0 || price % self.rules.tick_fen != 0 {
                    return Err(TradeRejection::OutsideBand {
                        price,
                        low: if a.side == OrderSide::Sell {
                            a.limit
                        } else {
                            0
                        },
                        high: if a.side == OrderSide::Buy {
                            a.limit
                        } else {
                            i64::MAX
                        },
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
                    .ok_or(TradeRejection::UnknownProposal { id: auction })?;
                if date != a.date || minute < a.close_minute {
                    return Err(TradeRejection::OutsideSession {
                        kind: format!(
                            "close of auction {auction} (window ends {})",
                            hhmm(a.close_minute)
                        ),
                        minute: hhmm(minute),
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
        let funds_err = |e: ets_clearing::FundsRejection| TradeRejection::Funds {
            detail: e.to_string(),
        };
        let mut trades = Vec::new();
        if let Some(id) = input.id() {
            // Ids are handed out in order; a replay sees them again in the same order.
            self.next_id = self.next_id.max(id + 1);
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
                    let band = self.band(v, self.rules.listed_band_bps);
                    self.books
                        .get_mut(&v)
                        .expect("book")
                        .0
                        .set_price_band(Some(band));
                    let stats =
                        ets_exchange::DailyStats::new(self.prev_close[&v], self.rules.tick_fen)
                            .expect("positive tick");
                    self.today.insert(v, stats);
                }
            }
            ExchangeInput::CloseDay { date } => {
                let vintages: Vec<UnitClass> = self.books.keys().copied().collect();
                for v in &vintages {
                    let mut events = Vec::new();
                    self.books
                        .get_mut(v)
                        .expect("book")
                        .0
                        .expire_all(&mut events);
                    self.track(*v, &events);
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
                    return Err(TradeRejection::Funds {
                        detail: format!(
                            "end-of-day settlement of trade {} failed: {}",
                            f.trade.id.0, f.error
                        ),
                    });
                }
                // Orders that traded but waited for tonight's settlement can now let go.
                let ids: Vec<u64> = self.orders.keys().copied().collect();
                for id in ids {
                    self.finish_if_gone(id)?;
                }
                self.release_finished()?;
                for v in vintages {
                    let s = self.today.remove(&v).expect("the day was opened");
                    let close = s.close();
                    self.days.push(DayBar {
                        date,
                        class: v,
                        open: s.open(),
                        high: s.high().unwrap_or(close),
                        low: s.low().unwrap_or(close),
                        close,
                        volume_t: s.listed_volume().map_err(book_err)?,
                        turnover_fen: s.listed_turnover().map_err(book_err)?,
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
                self.books
                    .get_mut(&class)
                    .expect("checked instrument")
                    .0
                    .submit(order, &mut events);
                self.track(class, &events);
                self.settle_events(registry, &events, class, date, minute, id, &mut trades)?;
            }
            ExchangeInput::Cancel { id, account } => {
                let o = self
                    .orders
                    .get(&id)
                    .ok_or(TradeRejection::UnknownOrder { id })?
                    .clone();
                let mut events = Vec::new();
                self.books.get_mut(&o.class).expect("book").0.cancel(
                    u64::from(account.0),
                    id,
                    &mut events,
                );
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events.first() {
                    return Err(book_err(reason));
                }
                self.track(o.class, &events);
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
                self.books.get_mut(&o.class).expect("book").0.amend(
                    u64::from(account.0),
                    id,
                    price,
                    qty,
                    &mut events,
                );
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events.first() {
                    return Err(book_err(reason));
                }
                self.track(o.class, &events);
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
                self.books
                    .get_mut(&o.class)
                    .expect("book")
                    .0
                    .take(take, &mut events);
                if let Some(ets_exchange::Event::Rejected { reason, .. }) = events
                    .iter()
                    .find(|e| matches!(e, ets_exchange::Event::Rejected { .. }))
                {
                    return Err(book_err(reason));
                }
                self.track(o.class, &events);
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
                    .expect("checked")
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
                        .expect("allocations name bids");
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
                .map_err(|e| TradeRejection::Funds {
                    detail: e.to_string(),
                })?;
        }
        match side {
            OrderSide::Buy => {
                let fen = self.buy_freeze(price, qty)?;
                let op = FundsOp::Freeze {
                    participant: participant(account),
                    order: OrderRef(id),
                    fen,
                };
                self.funds.apply(op).map_err(|e| TradeRejection::Funds {
                    detail: e.to_string(),
                })?;
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
                .map_err(|e| TradeRejection::Funds {
                    detail: e.to_string(),
                })?;
        }
        if let Some(f) = self.freezes.order_freeze(OrderRef(id)) {
            self.freezes
                .release(OrderRef(id), f.account, f.quantity)
                .map_err(|e| TradeRejection::Funds {
                    detail: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// An order that left the book (filled, cancelled, expired) gives back what it still holds.
    fn finish_if_gone(&mut self, id: u64) -> Result<(), TradeRejection> {
        let Some(o) = self.orders.get(&id) else {
            return Ok(());
        };
        if self.books[&o.class].0.order(id).is_none() {
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
                ets_exchange::Event::Rejected { reason, .. } => return Err(book_err(reason)),
                ets_exchange::Event::Fill(f) => {
                    let (buy, sell) = if f.aggressor == Side::Buy {
                        (f.taker, f.maker)
                    } else {
                        (f.maker, f.taker)
                    };
                    let buyer = self.orders[&buy].clone();
                    let seller = self.orders[&sell].clone();
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
        let id = self.trades.len() as u64 + 1;
        let trade = Trade {
            id: TradeId(id),
            date,
            class,
            quantity: qty,
            price_fen_per_t: price as u64,
            buyer: participant(buyer),
            buyer_account: buyer,
            buy_order: OrderRef(buy_order),
            buy_limit_fen_per_t: buy_limit as u64,
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
                Err(e) => {
                    return Err(TradeRejection::Funds {
                        detail: format!("settlement of trade {id} failed: {e}"),
                    });
                }
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
    /// Daily figures of the whole market, from its trades, one per closed trading day.
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
            let today: Vec<&TradeRecord> = self.trades[start..t]
                .iter()
                .filter(|x| !x.class.is_offset())
                .collect();
            let listed: Vec<&TradeRecord> = today
                .iter()
                .copied()
                .filter(|x| x.kind == TradeKindTag::Listed)
                .collect();
            let listed_volume: u128 = listed.iter().map(|x| u128::from(x.qty)).sum();
            let listed_value: u128 = listed
                .iter()
                .map(|x| x.price as u128 * u128::from(x.qty))
                .sum();
            let close = if listed_volume == 0 {
                prev_close
            } else {
                let den = listed_volume * self.rules.tick_fen as u128;
                let (q, r) = (listed_value / den, listed_value % den);
                ((if 2 * r >= den { q + 1 } else { q }) * self.rules.tick_fen as u128) as i64
            };
            out.push(MarketDay {
                date,
                open: listed.first().map_or(prev_close, |x| x.price),
                high: listed.iter().map(|x| x.price).max().unwrap_or(close),
                low: listed.iter().map(|x| x.price).min().unwrap_or(close),
                close,
                volume_t: today.iter().map(|x| x.qty).sum(),
                block_volume_t: today
                    .iter()
                    .filter(|x| x.kind == TradeKindTag::Block)
                    .map(|x| x.qty)
                    .sum(),
                turnover_fen: today.iter().map(|x| x.price as u64 * x.qty).sum(),
                trades: today.len() as u64,
            });
            prev_close = close;
        }
        out
    }
}
