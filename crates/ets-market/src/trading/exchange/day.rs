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
            let figures = DayFigures::of(&s);
            self.days.push(DayBar {
                date,
                class: v,
                figures,
            });
            let close = figures.close;
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

impl From<TradeKindTag> for ets_exchange::StatsKind {
    fn from(k: TradeKindTag) -> ets_exchange::StatsKind {
        match k {
            TradeKindTag::Listed => ets_exchange::StatsKind::Listed,
            TradeKindTag::Block => ets_exchange::StatsKind::Block,
            TradeKindTag::OneWay => ets_exchange::StatsKind::OneWay,
        }
    }
}

/// The meaning of every field of a [`DayBar`] and a [`MarketDay`] as they are serialized (the
/// API's `GET /api/market/days`, `ets report market --json`): the one definition, which the
/// OpenAPI schemas print and docs/exchange.md repeats word for word (a test compares them).
pub const DAY_FIELDS: &[(&str, &str)] = &[
    ("date", "The trading day."),
    (
        "class",
        "The instrument, as `?class=` names it (`CEA-2021`); instrument days only.",
    ),
    (
        "open",
        "Price of the day's first listed trade, fen/t; the previous close when there was none.",
    ),
    (
        "high",
        "Highest price of the day's listed trades, fen/t; the close when there were none.",
    ),
    (
        "low",
        "Lowest price of the day's listed trades, fen/t; the close when there were none.",
    ),
    (
        "close",
        "Volume-weighted average price of the day's listed trades, rounded half up to the tick, fen/t; the previous close when there were none. Block trades and one-way allocations never set a price.",
    ),
    (
        "listed_volume_t",
        "Tonnes traded by listed agreement (挂牌协议).",
    ),
    (
        "listed_turnover_fen",
        "Σ price × quantity of the listed trades, fen.",
    ),
    ("listed_trades", "Number of listed trades."),
    (
        "block_volume_t",
        "Tonnes traded by block agreement (大宗协议).",
    ),
    (
        "block_turnover_fen",
        "Σ price × quantity of the block trades, fen.",
    ),
    ("block_trades", "Number of block trades."),
    (
        "one_way_volume_t",
        "Tonnes allocated in one-way bidding (单向竞价).",
    ),
    (
        "one_way_turnover_fen",
        "Σ price × quantity of the one-way allocations, fen.",
    ),
    (
        "one_way_trades",
        "Number of one-way allocations (one per winning bid).",
    ),
    ("volume_t", "All tonnes traded: listed + block + one-way."),
    (
        "turnover_fen",
        "All turnover: listed + block + one-way, fen.",
    ),
    ("trades", "All trades: listed + block + one-way."),
];

/// A day's prices and, for each kind of trade and in total, its volume, turnover and number of
/// trades: the same fields with the same meaning for an instrument ([`DayBar`]) and for the
/// market ([`MarketDay`]), described once in [`DAY_FIELDS`]. Made from one
/// [`ets_exchange::DailyStats`], which alone computes the prices. A sum beyond `u64`
/// saturates (no day comes near: that is 1.8 × 10^19 t or fen).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct DayFigures {
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub listed_volume_t: u64,
    pub listed_turnover_fen: u64,
    pub listed_trades: u64,
    pub block_volume_t: u64,
    pub block_turnover_fen: u64,
    pub block_trades: u64,
    pub one_way_volume_t: u64,
    pub one_way_turnover_fen: u64,
    pub one_way_trades: u64,
    pub volume_t: u64,
    pub turnover_fen: u64,
    pub trades: u64,
}

impl DayFigures {
    /// The figures of a day's statistics.
    pub fn of(stats: &ets_exchange::DailyStats) -> DayFigures {
        use ets_exchange::{StatsKind, Tally};
        let volume = |t: Tally| u64::try_from(t.volume).unwrap_or(u64::MAX);
        // Prices are positive, so turnover is never below zero.
        let turnover = |t: Tally| u64::try_from(t.turnover.max(0)).unwrap_or(u64::MAX);
        let (listed, block, one_way, total) = (
            stats.tally(StatsKind::Listed),
            stats.tally(StatsKind::Block),
            stats.tally(StatsKind::OneWay),
            stats.total(),
        );
        let close = stats.close();
        DayFigures {
            open: stats.open(),
            high: stats.high().unwrap_or(close),
            low: stats.low().unwrap_or(close),
            close,
            listed_volume_t: volume(listed),
            listed_turnover_fen: turnover(listed),
            listed_trades: listed.trades,
            block_volume_t: volume(block),
            block_turnover_fen: turnover(block),
            block_trades: block.trades,
            one_way_volume_t: volume(one_way),
            one_way_turnover_fen: turnover(one_way),
            one_way_trades: one_way.trades,
            volume_t: volume(total),
            turnover_fen: turnover(total),
            trades: total.trades,
        }
    }
}

/// One instrument's day, recorded at the close.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DayBar {
    pub date: Date,
    #[serde(serialize_with = "class_name")]
    pub class: UnitClass,
    #[serde(flatten)]
    pub figures: DayFigures,
}

/// The market's day across all allowance vintages (offset credits have their own bars).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MarketDay {
    pub date: Date,
    #[serde(flatten)]
    pub figures: DayFigures,
}

/// The daily figures as `GET /api/market/days` serves them and `ets report market --json`
/// prints them: one document, so that the two cannot disagree.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DailyFigures {
    /// The market file's id.
    pub market: String,
    /// The instruments' days, by date then class (of one class when asked).
    pub days: Vec<DayBar>,
    /// The market's days: all allowance vintages together.
    pub market_days: Vec<MarketDay>,
}

/// A class as the API's `?class=` and its trades name it (`CEA-2021`).
fn class_name<S: serde::Serializer>(class: &UnitClass, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(class)
}

impl Exchange {
    /// The open day's figures of one instrument so far (`None` when no day is open or the
    /// instrument has no book): what its [`DayBar`] would be if the day closed now.
    pub fn day_so_far(&self, class: UnitClass) -> Option<DayBar> {
        let date = self.day?;
        let stats = self.today.get(&class)?;
        Some(DayBar {
            date,
            class,
            figures: DayFigures::of(stats),
        })
    }

    /// The instruments' days (only `class`'s when given) and the market's days.
    pub fn daily_figures(&self, class: Option<UnitClass>) -> DailyFigures {
        DailyFigures {
            market: self.rules.id.clone(),
            days: self
                .days
                .iter()
                .filter(|d| class.is_none_or(|c| d.class == c))
                .cloned()
                .collect(),
            market_days: self.market_days(),
        }
    }

    /// Daily figures of the whole market, from its trades, one per closed trading day: the
    /// allowances' trades of the day through one [`ets_exchange::DailyStats`] at the market's
    /// tick, so the prices are computed as the exchange core computes them and nowhere else,
    /// and each kind of trade is counted as in the instruments' bars.
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
            // The rules' tick is positive (the market file checks it).
            let Ok(mut stats) = ets_exchange::DailyStats::new(prev_close, self.rules.tick_fen)
            else {
                break;
            };
            // The market's price is the allowances'; offset credits have their own bars.
            for x in self.trades[start..t]
                .iter()
                .filter(|x| !x.class.is_offset())
            {
                stats.record(x.kind, x.price, x.qty);
            }
            let figures = DayFigures::of(&stats);
            out.push(MarketDay { date, figures });
            prev_close = figures.close;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    }

    fn documented(except: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = DAY_FIELDS
            .iter()
            .map(|(name, _)| name.to_string())
            .filter(|n| !except.contains(&n.as_str()))
            .collect();
        k.sort();
        k
    }

    /// Every serialized field of an instrument's day and of the market's day has its one
    /// description, and nothing else is described.
    #[test]
    fn every_field_of_the_daily_figures_is_described_once() {
        let stats = ets_exchange::DailyStats::new(4800, 1).unwrap();
        let figures = DayFigures::of(&stats);
        let date = Date::new(2021, 7, 16).unwrap();
        let bar = DayBar {
            date,
            class: UnitClass::Cea { vintage: 2021 },
            figures,
        };
        let bar = serde_json::to_value(&bar).unwrap();
        assert_eq!(bar["class"], "CEA-2021");
        assert_eq!(keys(bar), documented(&[]));
        let day = serde_json::to_value(MarketDay { date, figures }).unwrap();
        assert_eq!(keys(day), documented(&["class"]));
        let mut names: Vec<&str> = DAY_FIELDS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DAY_FIELDS.len(), "a field described twice");
    }

    /// docs/exchange.md repeats the descriptions word for word, as a table.
    #[test]
    fn the_documentation_of_the_daily_figures_is_the_code_s() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/exchange.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let table: String = DAY_FIELDS
            .iter()
            .map(|(name, meaning)| format!("| `{name}` | {meaning} |\n"))
            .collect();
        assert!(
            doc.contains(&format!("| field | meaning |\n|---|---|\n{table}")),
            "docs/exchange.md, section Daily figures, should have this table:\n{table}"
        );
    }
}
