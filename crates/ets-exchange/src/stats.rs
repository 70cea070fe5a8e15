//! The day's market statistics (DOMAIN §4): open = first listed trade (else the previous
//! close), high and low of listed trades, close = volume-weighted average price of the day's
//! listed trades rounded half up to the tick (else the previous close). Block trades and
//! one-way allocations count in their own volume, turnover and number of trades only, never in
//! the prices. Sums are kept in 128-bit integers, so no trade sequence of a day can overflow
//! them; reporting converts with a checked error.

use crate::calendar::TradeKind;
use crate::{Price, Qty};

/// A figure does not fit its reporting type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("{0} overflows its reporting type")]
    Overflow(&'static str),
    #[error("tick must be positive")]
    BadTick,
}

/// How a trade was made, as the day's statistics count it: listed trades set the prices; block
/// trades and one-way allocations are counted apart and leave the prices alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatsKind {
    /// Listed agreement (挂牌协议).
    Listed,
    /// Block agreement (大宗协议).
    Block,
    /// Allocation in one-way bidding (单向竞价).
    OneWay,
}

impl From<TradeKind> for StatsKind {
    fn from(k: TradeKind) -> StatsKind {
        match k {
            TradeKind::Listed => StatsKind::Listed,
            TradeKind::Block => StatsKind::Block,
        }
    }
}

/// The sums of one kind of trade (or of all) over the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Σ qty, t.
    pub volume: u128,
    /// Σ price × qty, fen.
    pub turnover: i128,
    /// Number of trades.
    pub trades: u64,
}

impl Tally {
    fn add(&mut self, price: Price, qty: Qty) {
        self.volume += u128::from(qty);
        self.turnover += i128::from(price) * i128::from(qty);
        self.trades += 1;
    }

    fn plus(self, other: Tally) -> Tally {
        Tally {
            volume: self.volume + other.volume,
            turnover: self.turnover + other.turnover,
            trades: self.trades + other.trades,
        }
    }
}

/// Accumulates one day's trades of one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyStats {
    prev_close: Price,
    tick: Price,
    open: Option<Price>,
    high: Option<Price>,
    low: Option<Price>,
    listed: Tally,
    block: Tally,
    one_way: Tally,
}

impl DailyStats {
    /// # Errors
    /// `BadTick` when `tick ≤ 0`.
    pub fn new(prev_close: Price, tick: Price) -> Result<DailyStats, StatsError> {
        if tick <= 0 {
            return Err(StatsError::BadTick);
        }
        Ok(DailyStats {
            prev_close,
            tick,
            open: None,
            high: None,
            low: None,
            listed: Tally::default(),
            block: Tally::default(),
            one_way: Tally::default(),
        })
    }

    /// Records one trade: a listed trade in the prices and the listed sums, a block trade or a
    /// one-way allocation in its own sums only.
    pub fn record(&mut self, kind: impl Into<StatsKind>, price: Price, qty: Qty) {
        match kind.into() {
            StatsKind::Listed => {
                self.open.get_or_insert(price);
                self.high = Some(self.high.map_or(price, |h| h.max(price)));
                self.low = Some(self.low.map_or(price, |l| l.min(price)));
                self.listed.add(price, qty);
            }
            StatsKind::Block => self.block.add(price, qty),
            StatsKind::OneWay => self.one_way.add(price, qty),
        }
    }

    /// The day's sums of one kind of trade.
    pub fn tally(&self, kind: StatsKind) -> Tally {
        match kind {
            StatsKind::Listed => self.listed,
            StatsKind::Block => self.block,
            StatsKind::OneWay => self.one_way,
        }
    }

    /// The day's sums of all trades: listed, block and one-way.
    pub fn total(&self) -> Tally {
        self.listed.plus(self.block).plus(self.one_way)
    }

    pub fn prev_close(&self) -> Price {
        self.prev_close
    }

    /// The first listed trade's price, or the previous close.
    pub fn open(&self) -> Price {
        self.open.unwrap_or(self.prev_close)
    }

    pub fn high(&self) -> Option<Price> {
        self.high
    }

    pub fn low(&self) -> Option<Price> {
        self.low
    }

    pub fn listed_trades(&self) -> u64 {
        self.listed.trades
    }

    /// Block agreements (one-way allocations are counted apart).
    pub fn block_trades(&self) -> u64 {
        self.block.trades
    }

    /// VWAP of the listed trades rounded half up to the tick, or the previous close when
    /// there were none (or no volume).
    pub fn close(&self) -> Price {
        if self.listed.volume == 0 {
            return self.prev_close;
        }
        // turnover ≥ 0 for positive prices; the rounding below is half up for that case.
        let den = self.listed.volume as i128 * i128::from(self.tick);
        let q = self.listed.turnover.div_euclid(den);
        let r = self.listed.turnover.rem_euclid(den);
        let ticks = if 2 * r >= den { q + 1 } else { q };
        i64::try_from(ticks * i128::from(self.tick)).unwrap_or(self.prev_close)
    }

    /// Listed volume in tonnes.
    ///
    /// # Errors
    /// `Overflow` beyond `u64`.
    pub fn listed_volume(&self) -> Result<u64, StatsError> {
        u64::try_from(self.listed.volume).map_err(|_| StatsError::Overflow("listed volume"))
    }

    /// Listed turnover in fen.
    ///
    /// # Errors
    /// `Overflow` beyond `i64`.
    pub fn listed_turnover(&self) -> Result<i64, StatsError> {
        i64::try_from(self.listed.turnover).map_err(|_| StatsError::Overflow("listed turnover"))
    }

    /// # Errors
    /// `Overflow` beyond `u64`.
    pub fn block_volume(&self) -> Result<u64, StatsError> {
        u64::try_from(self.block.volume).map_err(|_| StatsError::Overflow("block volume"))
    }

    /// # Errors
    /// `Overflow` beyond `i64`.
    pub fn block_turnover(&self) -> Result<i64, StatsError> {
        i64::try_from(self.block.turnover).map_err(|_| StatsError::Overflow("block turnover"))
    }
}
