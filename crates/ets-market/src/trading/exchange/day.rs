//! The trading day: opening it (price bands and daily statistics from the previous close)
//! and closing it (expiry of the day's orders, end-of-day settlement, the day's bars), and
//! the market's daily figures.

use super::super::config::Lifetime;
use super::*;

impl Exchange {
    /// Opening a day: the previous day is closed and the date is a trading day.
    pub(super) fn check_open_day(&self, date: Date) -> Result<(), TradeRejection> {
        if let Some(open) = self.day {
            return Err(TradeRejection::DayStillOpen { open });
        }
        // A year whose holidays the market file does not list is refused, never opened blindly:
        // its weekdays are not all trading days.
        if let Some(last_year) = self.rules.calendar_through
            && date.year() > last_year
        {
            return Err(TradeRejection::BeyondCalendar { date, last_year });
        }
        if !self.is_trading_day(date) {
            return Err(TradeRejection::NotTradingDay { date });
        }
        Ok(())
    }

    /// Opens the day: every book gets its band around the previous close, every class fresh daily statistics.
    pub(super) fn apply_open_day(&mut self, date: Date) -> Result<(), TradeRejection> {
        self.day = Some(date);
        let vintages: Vec<UnitClass> = self.books.keys().copied().collect();
        for v in vintages {
            let band = self.band(v, self.rules.listed_band_bps)?;
            self.book_mut(v)?.set_price_band(Some(band));
            let stats = ets_exchange::DailyStats::new(self.previous(v), self.rules.tick_fen)
                .map_err(|e| internal("daily statistics", e))?;
            self.today.insert(v, stats);
        }
        Ok(())
    }

    /// Closing the day that is open.
    pub(super) fn check_close_day(&self, date: Date) -> Result<(), TradeRejection> {
        self.check_day(date)
    }

    /// Closes the day: expires the day's orders; allocates the one-way auctions and lapses the
    /// block proposals whose lifetime is the day; settles what waits for the end of the day;
    /// releases what finished orders hold (recording each release in `last_close`); and records
    /// each class's bar and close.
    pub(super) fn apply_close_day(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        date: Date,
    ) -> Result<(), TradeRejection> {
        self.closing = Some((self.held_now(), Vec::new()));
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
        // What the rules end with the day: an auction's window is over at the close, so it is
        // allocated from the bids it has; a proposal nobody accepted lapses.
        if self.rules.lifetimes.one_way_auction == Lifetime::Day {
            let day_end = self.day_end().unwrap_or(u16::MAX);
            let open: Vec<(u64, u16)> = self
                .auctions
                .iter()
                .map(|(id, a)| (*id, a.close_minute.min(day_end)))
                .collect();
            for (id, minute) in open {
                self.apply_close_auction(registry, trades, id, date, minute)?;
            }
        }
        if self.rules.lifetimes.block_proposal == Lifetime::Day {
            let open: Vec<u64> = self.blocks.keys().copied().collect();
            for id in open {
                self.apply_withdraw_block(id)?;
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
        // Delivered: what was bought today is now in the holdings.
        self.pending_buy.clear();
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
                    .filter(|t| t.date == date && t.class == v && t.kind == TradeKindTag::Block)
                    .map(|t| t.qty)
                    .sum(),
                trades: s.listed_trades(),
            });
            self.prev_close.insert(v, close);
        }
        self.day = None;
        self.last_close = self.closing.take().map(|(_, log)| log).unwrap_or_default();
        Ok(())
    }

    /// What every id holding money or units is now, for the close's account of its releases.
    fn held_now(&self) -> BTreeMap<u64, Held> {
        let mut held = BTreeMap::new();
        for (id, o) in &self.orders {
            let resting = self
                .books
                .get(&o.class)
                .is_some_and(|b| b.0.order(*id).is_some());
            held.insert(
                *id,
                if resting {
                    Held::ListedOrder
                } else {
                    Held::Settled
                },
            );
        }
        for id in self.blocks.keys() {
            held.insert(*id, Held::BlockProposal);
        }
        for (id, a) in &self.auctions {
            held.insert(*id, Held::OneWayAuction);
            for b in &a.bids {
                held.insert(b.0, Held::OneWayBid);
            }
        }
        held
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
