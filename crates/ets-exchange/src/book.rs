//! The order book of one instrument: continuous matching and click-to-trade on one structure.
//!
//! Layout: orders live in a slab (`Vec<Slot>` plus a free list) found through a hash map from
//! the caller's order id; each side is a [`Ladder`] of price levels holding an intrusive FIFO
//! of slots. Nothing on the hot path allocates once the slab, the map and the ladders have
//! grown to the working size; events go into a caller-owned `Vec` that it reuses.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::ladder::{Ladder, Level, NIL, NONE};
use crate::{OrderId, Participant, Price, Qty, Side};

/// How orders meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchingMode {
    /// Automatic continuous matching by price-time priority.
    Continuous,
    /// China's listed agreement (挂牌协议交易): orders only rest; a taker picks one listed
    /// order within the best price levels of the other side ([`OrderBook::take`]).
    ClickToTrade,
}

/// What happens when an incoming order would trade with a resting order of the same
/// participant (the rules forbid self-trades).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTradePrevention {
    /// Cancel the resting order and keep matching.
    CancelResting,
    /// Cancel the remainder of the incoming order (fills already made stand).
    CancelIncoming,
    /// Cancel both the resting order and the incoming remainder.
    CancelBoth,
}

/// Time in force of a limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good for the trading day: rests until filled, cancelled or expired at the close.
    Day,
    /// Immediate or cancel: trades what it can, the remainder is cancelled.
    Ioc,
    /// Fill or kill: trades in full at once or is rejected with no effect.
    Fok,
}

/// The parameters of a book. Limits come from the market configuration, not from code.
#[derive(Clone, Debug)]
pub struct BookConfig {
    pub mode: MatchingMode,
    /// Price step in price units (1 = 0.01 CNY for fen prices). Prices must be multiples.
    pub tick: Price,
    pub stp: SelfTradePrevention,
    /// Inclusive price band of the day (see [`crate::band`]); `None` = no band.
    pub price_band: Option<(Price, Price)>,
    /// Largest quantity of one order, inclusive (listed: 99,999 t); `None` = no limit.
    pub qty_max: Option<Qty>,
    /// How many best price levels of a side a click-to-trade taker may choose from (5).
    pub click_levels: usize,
    /// Widest span of prices a side may hold, in ticks; bounds the level array's memory.
    pub levels_max: usize,
    /// Orders to pre-allocate room for, so that the first day does not reallocate.
    pub capacity: usize,
}

impl BookConfig {
    /// A book with no band and no size limit: tick 1, self-trades cancel the resting order,
    /// five levels for click-to-trade, up to 2^20 ticks of prices per side.
    pub fn new(mode: MatchingMode) -> BookConfig {
        BookConfig {
            mode,
            tick: 1,
            stp: SelfTradePrevention::CancelResting,
            price_band: None,
            qty_max: None,
            click_levels: 5,
            levels_max: 1 << 20,
            capacity: 1024,
        }
    }
}

/// A new limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub id: OrderId,
    pub participant: Participant,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub tif: TimeInForce,
}

/// A click-to-trade take: the taker's own order id, and the listed order it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    /// The taker's order id (must not be a live order of the book).
    pub id: OrderId,
    pub participant: Participant,
    /// The taker's side (opposite to the listed order's side).
    pub side: Side,
    /// The listed order chosen.
    pub target: OrderId,
    /// The quantity taken, at most the listed order's open quantity.
    pub qty: Qty,
}

/// A trade between a resting (maker) and an incoming (taker) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub maker: OrderId,
    pub taker: OrderId,
    /// Always the maker's price.
    pub price: Price,
    pub qty: Qty,
    pub maker_participant: Participant,
    pub taker_participant: Participant,
    /// The taker's side: `Buy` means a buyer-initiated trade.
    pub aggressor: Side,
    /// What is left of the maker after this fill (0 = the maker left the book).
    pub maker_remaining: Qty,
}

/// Why an order (or part of it) left the book without trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// The owner cancelled (or reduced) it.
    Requested,
    /// Self-trade prevention.
    SelfTrade,
    /// The unfilled remainder of an IOC order.
    Unfilled,
}

/// Why an operation was refused. A refused operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("unknown order")]
    UnknownOrder,
    #[error("order id already live in the book")]
    DuplicateOrderId,
    #[error("zero quantity")]
    ZeroQuantity,
    #[error("price not positive")]
    PriceNotPositive,
    #[error("price not on the tick")]
    PriceNotOnTick,
    #[error("price outside the day's price band")]
    OutsidePriceBand,
    #[error("quantity above the order size limit")]
    QuantityOutOfRange,
    #[error("price too far from the other prices of the book")]
    PriceOutOfRange,
    #[error("fill-or-kill order cannot be filled in full")]
    FokNotFillable,
    #[error("listed order not within the best price levels of its side")]
    NotWithinBestLevels,
    #[error("the counterparty is the same participant")]
    SelfTrade,
    #[error("the chosen order is on the taker's own side")]
    WrongSide,
    #[error("quantity exceeds the order's open quantity")]
    ExceedsOpenQuantity,
    #[error("the order belongs to another participant")]
    NotOwner,
    #[error("operation not available in this matching mode")]
    UnsupportedInMode,
}

impl RejectReason {
    /// The reason's stable snake_case code (the market reports it when the book refuses).
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::UnknownOrder => "book_unknown_order",
            RejectReason::DuplicateOrderId => "book_duplicate_order_id",
            RejectReason::ZeroQuantity => "book_zero_quantity",
            RejectReason::PriceNotPositive => "book_price_not_positive",
            RejectReason::PriceNotOnTick => "book_price_not_on_tick",
            RejectReason::OutsidePriceBand => "book_outside_price_band",
            RejectReason::QuantityOutOfRange => "book_quantity_out_of_range",
            RejectReason::PriceOutOfRange => "book_price_out_of_range",
            RejectReason::FokNotFillable => "book_fok_not_fillable",
            RejectReason::NotWithinBestLevels => "book_not_within_best_levels",
            RejectReason::SelfTrade => "book_self_trade",
            RejectReason::WrongSide => "book_wrong_side",
            RejectReason::ExceedsOpenQuantity => "book_exceeds_open_quantity",
            RejectReason::NotOwner => "book_not_owner",
            RejectReason::UnsupportedInMode => "book_unsupported_in_mode",
        }
    }

    /// Every reason, for code tables.
    pub const ALL: [RejectReason; 15] = [
        RejectReason::UnknownOrder,
        RejectReason::DuplicateOrderId,
        RejectReason::ZeroQuantity,
        RejectReason::PriceNotPositive,
        RejectReason::PriceNotOnTick,
        RejectReason::OutsidePriceBand,
        RejectReason::QuantityOutOfRange,
        RejectReason::PriceOutOfRange,
        RejectReason::FokNotFillable,
        RejectReason::NotWithinBestLevels,
        RejectReason::SelfTrade,
        RejectReason::WrongSide,
        RejectReason::ExceedsOpenQuantity,
        RejectReason::NotOwner,
        RejectReason::UnsupportedInMode,
    ];
}

/// A state change of the book, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new order passed validation (it may trade and rest after this event).
    Accepted {
        id: OrderId,
        participant: Participant,
        side: Side,
        price: Price,
        qty: Qty,
        tif: TimeInForce,
    },
    Fill(Fill),
    /// A resting order executed from outside the book (replay of external order flow).
    Executed {
        id: OrderId,
        participant: Participant,
        side: Side,
        price: Price,
        qty: Qty,
        remaining: Qty,
    },
    /// `qty` left the book; `remaining` is what still rests (a partial cancel when > 0).
    Cancelled {
        id: OrderId,
        participant: Participant,
        side: Side,
        price: Price,
        qty: Qty,
        remaining: Qty,
        reason: CancelReason,
    },
    /// A resting order changed price and/or open quantity. When the price changed the order
    /// is then matched like an incoming one, so fills may follow.
    Amended {
        id: OrderId,
        participant: Participant,
        side: Side,
        old_price: Price,
        old_qty: Qty,
        price: Price,
        qty: Qty,
        priority_kept: bool,
    },
    /// A resting order expired at the close.
    Expired {
        id: OrderId,
        participant: Participant,
        side: Side,
        price: Price,
        qty: Qty,
    },
    Rejected {
        id: OrderId,
        reason: RejectReason,
    },
}

/// A price level as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelView {
    pub price: Price,
    pub qty: Qty,
    pub orders: u32,
}

/// A resting order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub id: OrderId,
    pub participant: Participant,
    pub side: Side,
    pub price: Price,
    /// Open (unfilled) quantity.
    pub qty: Qty,
    /// Quantity traded so far.
    pub filled: Qty,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: OrderId,
    participant: Participant,
    price: Price,
    qty: Qty,
    filled: Qty,
    prev: u32,
    next: u32,
    side: Side,
}

/// A multiplicative hasher for order ids: SipHash costs more than the rest of a cancel, and
/// ids come from the exchange, not from an adversary choosing hash collisions.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        // Fold the 128-bit product so that both the low bits (bucket) and the high bits
        // (hashbrown's tag) depend on every input bit.
        let m = u128::from(x ^ self.0) * 0x9E37_79B9_7F4A_7C15_u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

type IdMap = HashMap<OrderId, u32, BuildHasherDefault<IdHasher>>;

/// The order book of one instrument. See the module docs for the layout.
#[derive(Clone)]
pub struct OrderBook {
    config: BookConfig,
    bids: Ladder,
    asks: Ladder,
    slots: Vec<Slot>,
    free: Vec<u32>,
    ids: IdMap,
}

impl std::fmt::Debug for OrderBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderBook")
            .field("mode", &self.config.mode)
            .field("orders", &self.ids.len())
            .field("best_bid", &self.best_bid())
            .field("best_ask", &self.best_ask())
            .finish()
    }
}

impl OrderBook {
    /// An empty book. A `tick` ≤ 0 is taken as 1.
    pub fn new(mut config: BookConfig) -> OrderBook {
        config.tick = config.tick.max(1);
        let cap = config.capacity;
        OrderBook {
            bids: Ladder::new(true, config.levels_max),
            asks: Ladder::new(false, config.levels_max),
            slots: Vec::with_capacity(cap),
            free: Vec::with_capacity(cap),
            ids: IdMap::with_capacity_and_hasher(cap, Default::default()),
            config,
        }
    }

    pub fn config(&self) -> &BookConfig {
        &self.config
    }

    /// Sets the price band for the new trading day (orders outside it are rejected).
    pub fn set_price_band(&mut self, band: Option<(Price, Price)>) {
        self.config.price_band = band;
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    // ---------------------------------------------------------------- views

    fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn level_view(&self, side: Side, i: usize) -> LevelView {
        let l = self.ladder(side);
        let lv = &l.levels[i];
        LevelView {
            price: l.tick_at(i) * self.config.tick,
            qty: lv.qty,
            orders: lv.count,
        }
    }

    /// The best level of a side.
    pub fn best(&self, side: Side) -> Option<LevelView> {
        let b = self.ladder(side).best;
        (b != NONE).then(|| self.level_view(side, b))
    }

    pub fn best_bid(&self) -> Option<LevelView> {
        self.best(Side::Buy)
    }

    pub fn best_ask(&self) -> Option<LevelView> {
        self.best(Side::Sell)
    }

    /// The best `n` occupied levels of a side, best first, appended to `out`.
    pub fn depth_into(&self, side: Side, n: usize, out: &mut Vec<LevelView>) {
        let l = self.ladder(side);
        let mut i = l.best;
        let mut k = 0;
        while i != NONE && k < n {
            out.push(self.level_view(side, i));
            i = l.next_worse(i);
            k += 1;
        }
    }

    /// The best `n` occupied levels of a side, best first (the click-to-trade view uses 5).
    pub fn depth(&self, side: Side, n: usize) -> Vec<LevelView> {
        let mut v = Vec::with_capacity(n.min(64));
        self.depth_into(side, n, &mut v);
        v
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        self.ids.get(&id).map(|&s| self.view(s))
    }

    fn view(&self, s: u32) -> OrderView {
        let o = &self.slots[s as usize];
        OrderView {
            id: o.id,
            participant: o.participant,
            side: o.side,
            price: o.price,
            qty: o.qty,
            filled: o.filled,
        }
    }

    /// The orders resting at one price of one side, in time priority (what a click-to-trade
    /// taker chooses from).
    pub fn level_orders(&self, side: Side, price: Price) -> Vec<OrderView> {
        let mut v = Vec::new();
        if price % self.config.tick != 0 {
            return v;
        }
        let l = self.ladder(side);
        if let Some(i) = l.index(price / self.config.tick) {
            let mut s = l.levels[i].head;
            while s != NIL {
                v.push(self.view(s));
                s = self.slots[s as usize].next;
            }
        }
        v
    }

    // ---------------------------------------------------------------- validation

    fn check_price_qty(&self, price: Price, qty: Qty) -> Result<(), RejectReason> {
        if qty == 0 {
            return Err(RejectReason::ZeroQuantity);
        }
        if price <= 0 {
            return Err(RejectReason::PriceNotPositive);
        }
        if price % self.config.tick != 0 {
            return Err(RejectReason::PriceNotOnTick);
        }
        if let Some((lo, hi)) = self.config.price_band
            && !(lo..=hi).contains(&price)
        {
            return Err(RejectReason::OutsidePriceBand);
        }
        if let Some(max) = self.config.qty_max
            && qty > max
        {
            return Err(RejectReason::QuantityOutOfRange);
        }
        Ok(())
    }

    /// Makes sure the side's level array covers `price` (so that resting cannot fail later).
    fn ensure_level(&mut self, side: Side, price: Price) -> Result<usize, RejectReason> {
        let t = price / self.config.tick;
        let l = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        l.ensure(t).ok_or(RejectReason::PriceOutOfRange)
    }

    // ---------------------------------------------------------------- slab and levels

    fn alloc(&mut self, slot: Slot) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Links slot `s` at the tail of its price level (it must be covered: `ensure_level`).
    fn link(&mut self, s: u32) {
        let (side, price, qty) = {
            let o = &self.slots[s as usize];
            (o.side, o.price, o.qty)
        };
        let t = price / self.config.tick;
        let l = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let Some(i) = l.index(t) else {
            unreachable!("link: level not ensured");
        };
        let lv = &mut l.levels[i];
        let tail = lv.tail;
        {
            let o = &mut self.slots[s as usize];
            o.prev = tail;
            o.next = NIL;
        }
        if tail == NIL {
            lv.head = s;
        } else {
            self.slots[tail as usize].next = s;
        }
        lv.tail = s;
        lv.qty += qty;
        lv.count += 1;
        if lv.count == 1 {
            l.mark_occupied(i);
        }
    }

    /// Unlinks slot `s` from its level (its open quantity leaves the level's total).
    fn unlink(&mut self, s: u32) {
        let (side, price) = {
            let o = &self.slots[s as usize];
            (o.side, o.price)
        };
        let t = price / self.config.tick;
        let l = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let Some(i) = l.index(t) else {
            unreachable!("unlink: order outside its ladder");
        };
        unlink_in(&mut l.levels[i], &mut self.slots, s);
        if l.levels[i].count == 0 {
            l.mark_empty(i);
        }
    }

    /// Unlinks and frees slot `s`, forgetting its id.
    fn remove(&mut self, s: u32) {
        self.unlink(s);
        let id = self.slots[s as usize].id;
        self.ids.remove(&id);
        self.free.push(s);
    }

    // ---------------------------------------------------------------- matching

    /// Whether a FOK order can be filled in full, given self-trade prevention.
    fn fillable(&self, participant: Participant, side: Side, limit: Price, qty: Qty) -> bool {
        let opp = self.ladder(side.opposite());
        let tick = self.config.tick;
        let mut acc: Qty = 0;
        let mut i = opp.best;
        while i != NONE {
            let price = opp.tick_at(i) * tick;
            if !crosses(side, limit, price) {
                return false;
            }
            let mut s = opp.levels[i].head;
            while s != NIL {
                let o = &self.slots[s as usize];
                if o.participant == participant {
                    if self.config.stp != SelfTradePrevention::CancelResting {
                        return false;
                    }
                } else {
                    acc += o.qty;
                    if acc >= qty {
                        return true;
                    }
                }
                s = o.next;
            }
            i = opp.next_worse(i);
        }
        false
    }

    /// Matches an incoming order against the other side up to its limit price. Returns the
    /// unfilled quantity and whether self-trade prevention cancelled the remainder.
    fn match_incoming(
        &mut self,
        id: OrderId,
        participant: Participant,
        side: Side,
        limit: Price,
        mut qty: Qty,
        out: &mut Vec<Event>,
    ) -> (Qty, bool) {
        let tick = self.config.tick;
        let stp = self.config.stp;
        let Self {
            bids,
            asks,
            slots,
            free,
            ids,
            ..
        } = self;
        let opp = match side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        let mut stopped = false;
        while qty > 0 {
            let i = opp.best;
            if i == NONE {
                break;
            }
            let price = opp.tick_at(i) * tick;
            if !crosses(side, limit, price) {
                break;
            }
            let lv = &mut opp.levels[i];
            let mut s = lv.head;
            while s != NIL && qty > 0 {
                let o = &mut slots[s as usize];
                let next = o.next;
                if o.participant == participant {
                    if stp == SelfTradePrevention::CancelIncoming {
                        stopped = true;
                        break;
                    }
                    out.push(Event::Cancelled {
                        id: o.id,
                        participant: o.participant,
                        side: o.side,
                        price: o.price,
                        qty: o.qty,
                        remaining: 0,
                        reason: CancelReason::SelfTrade,
                    });
                    ids.remove(&o.id);
                    unlink_in(lv, slots, s);
                    free.push(s);
                    if stp == SelfTradePrevention::CancelBoth {
                        stopped = true;
                        break;
                    }
                } else {
                    let q = qty.min(o.qty);
                    o.qty -= q;
                    o.filled += q;
                    qty -= q;
                    out.push(Event::Fill(Fill {
                        maker: o.id,
                        taker: id,
                        price,
                        qty: q,
                        maker_participant: o.participant,
                        taker_participant: participant,
                        aggressor: side,
                        maker_remaining: o.qty,
                    }));
                    lv.qty -= q;
                    if o.qty == 0 {
                        ids.remove(&o.id);
                        unlink_in(lv, slots, s);
                        free.push(s);
                    }
                }
                s = next;
            }
            if lv.count == 0 {
                opp.mark_empty(i);
            }
            if stopped {
                break;
            }
        }
        (qty, stopped)
    }

    // ---------------------------------------------------------------- operations

    /// Submits a new limit order. In `Continuous` mode it matches first and rests (Day) or is
    /// cancelled (IOC) for what is left; FOK trades in full or is rejected. In `ClickToTrade`
    /// mode a Day order is listed without matching; IOC and FOK are refused.
    pub fn submit(&mut self, o: NewOrder, out: &mut Vec<Event>) {
        if let Err(reason) = self.try_submit(o, out) {
            out.push(Event::Rejected { id: o.id, reason });
        }
    }

    fn try_submit(&mut self, o: NewOrder, out: &mut Vec<Event>) -> Result<(), RejectReason> {
        self.check_price_qty(o.price, o.qty)?;
        if self.ids.contains_key(&o.id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        let accepted = Event::Accepted {
            id: o.id,
            participant: o.participant,
            side: o.side,
            price: o.price,
            qty: o.qty,
            tif: o.tif,
        };
        if self.config.mode == MatchingMode::ClickToTrade {
            if o.tif != TimeInForce::Day {
                return Err(RejectReason::UnsupportedInMode);
            }
            self.ensure_level(o.side, o.price)?;
            out.push(accepted);
            self.rest(o, o.qty, 0);
            return Ok(());
        }
        match o.tif {
            TimeInForce::Day => {
                self.ensure_level(o.side, o.price)?;
            }
            TimeInForce::Fok => {
                if !self.fillable(o.participant, o.side, o.price, o.qty) {
                    return Err(RejectReason::FokNotFillable);
                }
            }
            TimeInForce::Ioc => {}
        }
        out.push(accepted);
        let (rem, stopped) = self.match_incoming(o.id, o.participant, o.side, o.price, o.qty, out);
        if rem == 0 {
            return Ok(());
        }
        if !stopped && o.tif == TimeInForce::Day {
            self.rest(o, rem, o.qty - rem);
        } else {
            out.push(Event::Cancelled {
                id: o.id,
                participant: o.participant,
                side: o.side,
                price: o.price,
                qty: rem,
                remaining: 0,
                reason: if stopped {
                    CancelReason::SelfTrade
                } else {
                    CancelReason::Unfilled
                },
            });
        }
        Ok(())
    }

    fn rest(&mut self, o: NewOrder, qty: Qty, filled: Qty) {
        let s = self.alloc(Slot {
            id: o.id,
            participant: o.participant,
            price: o.price,
            qty,
            filled,
            prev: NIL,
            next: NIL,
            side: o.side,
        });
        self.ids.insert(o.id, s);
        self.link(s);
    }

    fn owned(&self, participant: Participant, id: OrderId) -> Result<u32, RejectReason> {
        let &s = self.ids.get(&id).ok_or(RejectReason::UnknownOrder)?;
        if self.slots[s as usize].participant != participant {
            return Err(RejectReason::NotOwner);
        }
        Ok(s)
    }

    /// Cancels a resting order of `participant`.
    pub fn cancel(&mut self, participant: Participant, id: OrderId, out: &mut Vec<Event>) {
        match self.owned(participant, id) {
            Ok(s) => out.push(self.cancel_slot(s)),
            Err(reason) => out.push(Event::Rejected { id, reason }),
        }
    }

    fn cancel_slot(&mut self, s: u32) -> Event {
        let o = self.slots[s as usize];
        self.remove(s);
        Event::Cancelled {
            id: o.id,
            participant: o.participant,
            side: o.side,
            price: o.price,
            qty: o.qty,
            remaining: 0,
            reason: CancelReason::Requested,
        }
    }

    /// Changes the price and/or open quantity of a resting order of `participant`.
    ///
    /// Time priority is kept only when the price is unchanged and the quantity does not grow;
    /// otherwise the order goes to the back of its (new) level and, in `Continuous` mode, is
    /// first matched like an incoming Day order (an amend that crosses trades).
    pub fn amend(
        &mut self,
        participant: Participant,
        id: OrderId,
        price: Price,
        qty: Qty,
        out: &mut Vec<Event>,
    ) {
        if let Err(reason) = self.try_amend(participant, id, price, qty, out) {
            out.push(Event::Rejected { id, reason });
        }
    }

    fn try_amend(
        &mut self,
        participant: Participant,
        id: OrderId,
        price: Price,
        qty: Qty,
        out: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        let s = self.owned(participant, id)?;
        self.check_price_qty(price, qty)?;
        let o = self.slots[s as usize];
        self.ensure_level(o.side, price)?;
        let mut amended = Event::Amended {
            id,
            participant,
            side: o.side,
            old_price: o.price,
            old_qty: o.qty,
            price,
            qty,
            priority_kept: true,
        };
        if price == o.price && qty <= o.qty {
            let t = price / self.config.tick;
            let l = match o.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            if let Some(i) = l.index(t) {
                l.levels[i].qty -= o.qty - qty;
            }
            self.slots[s as usize].qty = qty;
            out.push(amended);
            return Ok(());
        }
        if let Event::Amended { priority_kept, .. } = &mut amended {
            *priority_kept = false;
        }
        self.unlink(s);
        out.push(amended);
        let (rem, stopped) = if self.config.mode == MatchingMode::Continuous {
            self.match_incoming(id, participant, o.side, price, qty, out)
        } else {
            (qty, false)
        };
        {
            let slot = &mut self.slots[s as usize];
            slot.price = price;
            slot.qty = rem;
            slot.filled += qty - rem;
        }
        if stopped && rem > 0 {
            out.push(Event::Cancelled {
                id,
                participant,
                side: o.side,
                price,
                qty: rem,
                remaining: 0,
                reason: CancelReason::SelfTrade,
            });
        }
        if rem > 0 && !stopped {
            self.link(s);
        } else {
            self.ids.remove(&id);
            self.free.push(s);
        }
        Ok(())
    }

    /// Click-to-trade: the taker takes `qty` of one listed order of its choice at that order's
    /// price. The order must be on the other side, within the best `click_levels` price levels
    /// of its side, of another participant, and hold at least `qty`. Any order at an equal
    /// price may be chosen: the rules enforce no time priority among them (DOMAIN §4).
    pub fn take(&mut self, t: Take, out: &mut Vec<Event>) {
        match self.try_take(t) {
            Ok(f) => out.push(Event::Fill(f)),
            Err(reason) => out.push(Event::Rejected { id: t.id, reason }),
        }
    }

    fn try_take(&mut self, t: Take) -> Result<Fill, RejectReason> {
        if self.config.mode != MatchingMode::ClickToTrade {
            return Err(RejectReason::UnsupportedInMode);
        }
        if t.qty == 0 {
            return Err(RejectReason::ZeroQuantity);
        }
        if let Some(max) = self.config.qty_max
            && t.qty > max
        {
            return Err(RejectReason::QuantityOutOfRange);
        }
        if self.ids.contains_key(&t.id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        let &s = self.ids.get(&t.target).ok_or(RejectReason::UnknownOrder)?;
        let o = self.slots[s as usize];
        if o.side == t.side {
            return Err(RejectReason::WrongSide);
        }
        if o.participant == t.participant {
            return Err(RejectReason::SelfTrade);
        }
        if t.qty > o.qty {
            return Err(RejectReason::ExceedsOpenQuantity);
        }
        if !self.within_best_levels(o.side, o.price) {
            return Err(RejectReason::NotWithinBestLevels);
        }
        let remaining = o.qty - t.qty;
        if remaining == 0 {
            self.remove(s);
        } else {
            self.adjust(s, remaining);
            self.slots[s as usize].filled += t.qty;
        }
        Ok(Fill {
            maker: o.id,
            taker: t.id,
            price: o.price,
            qty: t.qty,
            maker_participant: o.participant,
            taker_participant: t.participant,
            aggressor: t.side,
            maker_remaining: remaining,
        })
    }

    /// Whether `price` is among the best `click_levels` occupied levels of `side`.
    fn within_best_levels(&self, side: Side, price: Price) -> bool {
        let l = self.ladder(side);
        let mut i = l.best;
        for _ in 0..self.config.click_levels {
            if i == NONE {
                return false;
            }
            if l.tick_at(i) * self.config.tick == price {
                return true;
            }
            i = l.next_worse(i);
        }
        false
    }

    /// Sets the open quantity of a resting order in place (keeps its priority).
    fn adjust(&mut self, s: u32, qty: Qty) {
        let o = self.slots[s as usize];
        let t = o.price / self.config.tick;
        let l = match o.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if let Some(i) = l.index(t) {
            l.levels[i].qty = l.levels[i].qty - o.qty + qty;
        }
        self.slots[s as usize].qty = qty;
    }

    /// Expires every resting order at the close, best levels first and in time priority
    /// within a level (bids, then asks). Appends one `Expired` event per order and returns
    /// their ids, so that the caller releases the frozen quantities and funds.
    pub fn expire_all(&mut self, out: &mut Vec<Event>) -> Vec<OrderId> {
        let mut ids = Vec::with_capacity(self.ids.len());
        for side in [Side::Buy, Side::Sell] {
            let l = self.ladder(side);
            let mut i = l.best;
            while i != NONE {
                let mut s = l.levels[i].head;
                while s != NIL {
                    let o = &self.slots[s as usize];
                    out.push(Event::Expired {
                        id: o.id,
                        participant: o.participant,
                        side,
                        price: o.price,
                        qty: o.qty,
                    });
                    ids.push(o.id);
                    s = o.next;
                }
                i = l.next_worse(i);
            }
        }
        self.bids.clear();
        self.asks.clear();
        self.slots.clear();
        self.free.clear();
        self.ids.clear();
        ids
    }

    // ---------------------------------------------------------------- replay of external flow

    /// Adds a resting order without matching (replay of an external book's "add").
    pub fn add_resting(
        &mut self,
        id: OrderId,
        participant: Participant,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<Event, RejectReason> {
        self.check_price_qty(price, qty)?;
        if self.ids.contains_key(&id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        self.ensure_level(side, price)?;
        let o = NewOrder {
            id,
            participant,
            side,
            price,
            qty,
            tif: TimeInForce::Day,
        };
        self.rest(o, qty, 0);
        Ok(Event::Accepted {
            id,
            participant,
            side,
            price,
            qty,
            tif: TimeInForce::Day,
        })
    }

    /// Reduces a resting order by `qty` keeping its priority (a partial cancel); reducing by
    /// its whole open quantity or more removes it.
    pub fn reduce(&mut self, id: OrderId, qty: Qty) -> Result<Event, RejectReason> {
        if qty == 0 {
            return Err(RejectReason::ZeroQuantity);
        }
        let &s = self.ids.get(&id).ok_or(RejectReason::UnknownOrder)?;
        let o = self.slots[s as usize];
        let cut = qty.min(o.qty);
        let remaining = o.qty - cut;
        if remaining == 0 {
            self.remove(s);
        } else {
            self.adjust(s, remaining);
        }
        Ok(Event::Cancelled {
            id,
            participant: o.participant,
            side: o.side,
            price: o.price,
            qty: cut,
            remaining,
            reason: CancelReason::Requested,
        })
    }

    /// Executes `qty` of a resting order against a counterparty outside the book.
    pub fn execute(&mut self, id: OrderId, qty: Qty) -> Result<Event, RejectReason> {
        if qty == 0 {
            return Err(RejectReason::ZeroQuantity);
        }
        let &s = self.ids.get(&id).ok_or(RejectReason::UnknownOrder)?;
        let o = self.slots[s as usize];
        if qty > o.qty {
            return Err(RejectReason::ExceedsOpenQuantity);
        }
        let remaining = o.qty - qty;
        if remaining == 0 {
            self.remove(s);
        } else {
            self.adjust(s, remaining);
            self.slots[s as usize].filled += qty;
        }
        Ok(Event::Executed {
            id,
            participant: o.participant,
            side: o.side,
            price: o.price,
            qty,
            remaining,
        })
    }

    /// Deletes a resting order whoever owns it (replay; participants use [`Self::cancel`]).
    pub fn delete(&mut self, id: OrderId) -> Result<Event, RejectReason> {
        let &s = self.ids.get(&id).ok_or(RejectReason::UnknownOrder)?;
        Ok(self.cancel_slot(s))
    }

    /// Checks the book's internal consistency (level totals and counts, links, best levels,
    /// the id map). For tests; O(orders + levels).
    ///
    /// # Errors
    /// A description of the first inconsistency found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = 0usize;
        for (side, l) in [(Side::Buy, &self.bids), (Side::Sell, &self.asks)] {
            let mut best = NONE;
            let mut occupied = 0;
            for (i, lv) in l.levels.iter().enumerate() {
                let (mut q, mut c, mut s, mut prev) = (0, 0, lv.head, NIL);
                while s != NIL {
                    let o = &self.slots[s as usize];
                    if o.prev != prev
                        || o.side != side
                        || o.price != l.tick_at(i) * self.config.tick
                        || o.qty == 0
                    {
                        return Err(format!("bad slot {s} at level {i}"));
                    }
                    if self.ids.get(&o.id) != Some(&s) {
                        return Err(format!("id map misses order {}", o.id));
                    }
                    q += o.qty;
                    c += 1;
                    prev = s;
                    s = o.next;
                }
                if prev != lv.tail || q != lv.qty || c != lv.count {
                    return Err(format!(
                        "level {i} totals {q}/{c} vs {}/{}",
                        lv.qty, lv.count
                    ));
                }
                if c > 0 {
                    occupied += 1;
                    if best == NONE || l.better(i, best) {
                        best = i;
                    }
                }
                seen += c as usize;
            }
            if best != l.best || occupied != l.occupied() {
                return Err(format!("{side:?} best {} vs {best}", l.best));
            }
        }
        if seen != self.ids.len() {
            return Err(format!("{seen} linked orders vs {} ids", self.ids.len()));
        }
        Ok(())
    }

    /// Whether the best bid is at or above the best ask. Continuous matching never leaves the
    /// book crossed; click-to-trade listing and replayed external flow may.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }
}

/// Whether an incoming order on `side` with limit `limit` trades at resting price `price`.
#[inline]
fn crosses(side: Side, limit: Price, price: Price) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// Unlinks slot `s` from level `lv`, taking its open quantity off the level's total.
#[inline]
fn unlink_in(lv: &mut Level, slots: &mut [Slot], s: u32) {
    let (prev, next, qty) = {
        let o = &slots[s as usize];
        (o.prev, o.next, o.qty)
    };
    if prev == NIL {
        lv.head = next;
    } else {
        slots[prev as usize].next = next;
    }
    if next == NIL {
        lv.tail = prev;
    } else {
        slots[next as usize].prev = prev;
    }
    lv.qty -= qty;
    lv.count -= 1;
}
