//! One-way bidding (单向竞价): an announcement with a floor (or ceiling) and a window, bids
//! inside the window, and the close that allocates by price, then time, and settles.
//!
//! Lifetime: under `lifetimes.one_way_auction = "day"` the window must end by the end of the
//! day's last listed session, and an auction nobody closed is allocated by the day's close
//! (`day.rs`), which releases what it and its bids still hold. Under `"carry"` (files adopted
//! before the key) it waits for a `close_auction`, which is allowed on any later day.

// Each input's check and apply take its fields by name, as the journaled `ExchangeInput`
// spells them, rather than a struct per input that would be a second copy of the variant.
#![allow(clippy::too_many_arguments)]

use super::*;

impl Exchange {
    /// An announcement of one-way bidding: the instrument allows it, open day, a window opening in a listed session and closing after it opens, a limit in the block band and on the tick, funds or units.
    pub(super) fn check_announce(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        account: AccountId,
        class: UnitClass,
        side: OrderSide,
        qty: Tonnes,
        limit: i64,
        date: Date,
        open_minute: u16,
        close_minute: u16,
    ) -> Result<(), TradeRejection> {
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
        if self.rules.lifetimes.one_way_auction == super::super::config::Lifetime::Day
            && let Some(day_end) = self.day_end()
            && close_minute > day_end
        {
            return Err(TradeRejection::WindowAfterClose {
                close: close_minute,
                day_end,
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
        // A buying announcement may acquire all of `qty`, at most at its ceiling.
        self.check_commitment(registry, position_limit, account, class, side, limit, qty)
    }

    /// Records the auction and freezes what the announcer offers.
    pub(super) fn apply_announce(
        &mut self,
        registry: &mut Registry,
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
    ) -> Result<(), TradeRejection> {
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
        Ok(())
    }

    /// A bid in an auction: not the announcer, inside the window, not beyond the floor (ceiling), positive and on the tick, with funds or units.
    pub(super) fn check_bid(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        auction: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
            OrderSide::Sell => {
                // Every way of acquiring units counts against the position limit: the bidder's
                // position (its bids in every auction included), plus this bid.
                self.check_position(
                    registry,
                    account,
                    a.class,
                    qty,
                    position_limit(account, a.class),
                )?;
                self.check_buy(account, price, qty, 0).map(|_| ())
            }
            OrderSide::Buy => self.check_sell(registry, account, a.class, qty, 0),
        }
    }

    /// Records a bid and freezes what it needs.
    pub(super) fn apply_bid(
        &mut self,
        registry: &mut Registry,
        id: u64,
        auction: u64,
        account: AccountId,
        price: i64,
        qty: Tonnes,
    ) -> Result<(), TradeRejection> {
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
        Ok(())
    }

    /// Closing an auction at or after the end of its window: on its date from its close, or on
    /// any later day (an auction carried past its day's close).
    pub(super) fn check_close_auction(
        &self,
        auction: u64,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
        let a = self
            .auctions
            .get(&auction)
            .ok_or(TradeRejection::UnknownAuction { id: auction })?;
        if date < a.date || (date == a.date && minute < a.close_minute) {
            return Err(TradeRejection::OutsideSession {
                window: TradingWindow::AuctionClose {
                    auction,
                    date: a.date,
                    close: a.close_minute,
                },
                minute,
            });
        }
        // A carried auction trades on a later trading day, which must be open.
        if date > a.date {
            self.check_day(date)?;
        }
        Ok(())
    }

    /// Closes an auction: allocates by price, then time, settles every allocation and releases the rest.
    pub(super) fn apply_close_auction(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        auction: u64,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
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
        Ok(())
    }
}
