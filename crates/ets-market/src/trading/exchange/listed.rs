//! Listed orders (挂牌协议): entry, cancel, amend and click-to-trade take, with the pre-trade
//! checks that only listed orders have (fill-or-kill, position limits from the open buys the
//! book reports, ownership of a live order).

// Each input's check and apply take its fields by name, as the journaled `ExchangeInput`
// spells them, rather than a struct per input that would be a second copy of the variant.
#![allow(clippy::too_many_arguments)]

use super::*;

impl Exchange {
    /// A listed order: open day, listed session, instrument, lot, size, tick and band, the matching mode's time in force, funds or tradable units, and a buyer's position limit.
    pub(super) fn check_order(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        tif: Tif,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
                self.check_position(
                    registry,
                    account,
                    class,
                    qty,
                    position_limit(account, class),
                )
            }
            OrderSide::Sell => self.check_sell(registry, account, class, qty, 0),
        }
    }

    /// Enters a listed order: freezes what it needs, submits it to the book, settles its fills.
    pub(super) fn apply_order(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        id: u64,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        tif: Tif,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
        self.settle_events(registry, &events, class, date, minute, id, trades)?;
        Ok(())
    }

    /// Cancelling a live order of one's own.
    pub(super) fn check_cancel(&self, id: u64, account: AccountId) -> Result<(), TradeRejection> {
        self.owned(id, account).map(|_| ())
    }

    /// Cancels an order and releases what it holds.
    pub(super) fn apply_cancel(
        &mut self,
        id: u64,
        account: AccountId,
    ) -> Result<(), TradeRejection> {
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
        Ok(())
    }

    /// Amending a live order of one's own that has no trade awaiting settlement, as a new order would be checked.
    pub(super) fn check_amend(
        &self,
        registry: &Registry,
        id: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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

    /// Amends an order: re-freezes for the new price and quantity, then amends it in the book.
    pub(super) fn apply_amend(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        id: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
        self.settle_events(registry, &events, o.class, date, minute, id, trades)?;
        Ok(())
    }

    /// Taking a listed order (click-to-trade): a live order of another participant within the best levels, at most its open quantity, with the taker's funds, units and position limit.
    pub(super) fn check_take(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        account: AccountId,
        target: u64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
                self.check_position(
                    registry,
                    account,
                    o.class,
                    qty,
                    position_limit(account, o.class),
                )
            }
            OrderSide::Buy => self.check_sell(registry, account, o.class, qty, 0),
        }
    }

    /// Takes a listed order at its price and settles the fill.
    pub(super) fn apply_take(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        id: u64,
        account: AccountId,
        target: u64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
        self.settle_events(registry, &events, o.class, date, minute, id, trades)?;
        self.finish_if_gone(id)?;
        Ok(())
    }

    /// Quantity an incoming order could trade at once: the other side's orders at acceptable
    /// prices, less the participant's own (self-trade prevention takes those out).
    pub(super) fn fillable(
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

    pub(super) fn owned(&self, id: u64, account: AccountId) -> Result<&OpenOrder, TradeRejection> {
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

    /// Open buy quantity of an account in a class.
    pub(super) fn open_buys(&self, account: AccountId, class: UnitClass) -> Tonnes {
        self.open_buy.get(&(account, class)).copied().unwrap_or(0)
    }

    /// What an account holds or may come to hold in a class through business it already has on
    /// the exchange: its holding, purchases awaiting end-of-day settlement, open listed buys,
    /// its buying block proposals and buying announcements, and its bids in selling auctions.
    pub(super) fn position(
        &self,
        registry: &Registry,
        account: AccountId,
        class: UnitClass,
    ) -> Tonnes {
        let proposals = self
            .blocks
            .values()
            .filter(|p| p.account == account && p.class == class && p.side == OrderSide::Buy)
            .fold(0u64, |sum, p| sum.saturating_add(p.qty));
        let auctions = self
            .auctions
            .values()
            .filter(|a| a.class == class)
            .fold(0u64, |sum, a| {
                let mine = match a.side {
                    OrderSide::Buy if a.account == account => a.qty,
                    OrderSide::Sell => a
                        .bids
                        .iter()
                        .filter(|b| b.1 == account)
                        .fold(0u64, |s, b| s.saturating_add(b.3)),
                    OrderSide::Buy => 0,
                };
                sum.saturating_add(mine)
            });
        registry
            .holding(account, class)
            .saturating_add(
                self.pending_buy
                    .get(&(account, class))
                    .copied()
                    .unwrap_or(0),
            )
            .saturating_add(self.open_buys(account, class))
            .saturating_add(proposals)
            .saturating_add(auctions)
    }

    /// What a new proposal or announcement commits, checked before it freezes anything: a buyer
    /// stays within its position limit (every way of acquiring units counts) and has the funds
    /// for `qty` at `price`; a seller has the tradable units.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_commitment(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
    ) -> Result<(), TradeRejection> {
        match side {
            OrderSide::Buy => {
                self.check_position(
                    registry,
                    account,
                    class,
                    qty,
                    position_limit(account, class),
                )?;
                self.check_buy(account, price, qty, 0).map(|_| ())
            }
            OrderSide::Sell => self.check_sell(registry, account, class, qty, 0),
        }
    }

    /// A buy may not take the account's position in the class (see [`Exchange::position`])
    /// beyond its limit.
    pub(super) fn check_position(
        &self,
        registry: &Registry,
        account: AccountId,
        class: UnitClass,
        qty: Tonnes,
        limit: Tonnes,
    ) -> Result<(), TradeRejection> {
        let position = self.position(registry, account, class);
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
    pub(super) fn track(
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
}
