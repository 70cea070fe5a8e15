//! What an order holds and how it lets go: freezes of money (buys) and units (sells), the
//! settlement of every fill delivery versus payment, and the release of what finished orders
//! still hold.

use super::*;

impl Exchange {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn freeze(
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

    pub(super) fn insert_order(&mut self, id: u64, order: OpenOrder) {
        self.by_account.entry(order.account).or_default().insert(id);
        self.orders.insert(id, order);
    }

    pub(super) fn remove_order(&mut self, id: u64) {
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
    pub(super) fn release_unless_pending(&mut self, id: u64) -> Result<(), TradeRejection> {
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
    pub(super) fn release_finished(&mut self) -> Result<(), TradeRejection> {
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

    /// Releases whatever an order still holds frozen (money or units); during the close, notes
    /// the release for the close's account of what it let go.
    pub(super) fn release_all(&mut self, id: u64) -> Result<(), TradeRejection> {
        let mut release = Release {
            id,
            held: Held::Settled,
            account: AccountId(0),
            fen: 0,
            units: None,
        };
        if let Some(f) = self.funds.order_freeze(OrderRef(id)) {
            self.funds
                .release(f.participant, OrderRef(id), f.fen)
                .map_err(|e| internal("release funds", e))?;
            release.account = AccountId(f.participant.0);
            release.fen = f.fen;
        }
        if let Some(f) = self.freezes.order_freeze(OrderRef(id)) {
            self.freezes
                .release(OrderRef(id), f.account, f.quantity)
                .map_err(|e| internal("release units", e))?;
            release.account = f.account;
            release.units = Some((f.class, f.quantity));
        }
        if let Some((held, log)) = &mut self.closing
            && (release.fen > 0 || release.units.is_some())
        {
            release.held = held.get(&id).copied().unwrap_or(Held::Settled);
            log.push(release);
        }
        Ok(())
    }

    /// An order that left the book (filled, cancelled, expired) gives back what it still holds.
    pub(super) fn finish_if_gone(&mut self, id: u64) -> Result<(), TradeRejection> {
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
    pub(super) fn settle_events(
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
    pub(super) fn settle_one(
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
                Ok(Submitted::Queued) => {
                    let bought = self.pending_buy.entry((buyer, class)).or_default();
                    *bought = bought.saturating_add(qty);
                    None
                }
                Err(e) => return Err(internal("settlement", e)),
            };
        if let Some(s) = self.today.get_mut(&class) {
            s.record(kind, price, qty);
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
}
