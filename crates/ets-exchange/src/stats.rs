//! The day's market statistics (DOMAIN §4): open = first listed trade (else the previous
//! close), high and low of listed trades, close = volume-weighted average price of the day's
//! listed trades rounded half up to the tick (else the previous close). Block trades count
//! in their own volume and turnover only. Sums are kept in 128-bit integers, so no trade
//! sequence of a day can overflow them; reporting converts with a checked error.

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

/// Accumulates one day's trades of one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyStats {
    prev_close: Price,
    tick: Price,
    open: Option<Price>,
    high: Option<Price>,
    low: Option<Price>,
    listed_volume: u128,
    /// Σ price × qty of listed trades, fen·t.
    listed_turnover: i128,
    listed_trades: u64,
    block_volume: u128,
    block_turnover: i128,
    block_trades: u64,
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
            listed_volume: 0,
            listed_turnover: 0,
            listed_trades: 0,
            block_volume: 0,
            block_turnover: 0,
            block_trades: 0,
        })
    }

    /// Records one trade.
    pub fn record(&mut self, kind: TradeKind, price: Price, qty: Qty) {
        let value = i128::from(price) * i128::from(qty);
        match kind {
            TradeKind::Listed => {
                self.open.get_or_insert(price);
                self.high = Some(self.high.map_or(price, |h| h.max(price)));
                self.low = Some(self.low.map_or(price, |l| l.min(price)));
                self.listed_volume += u128::from(qty);
                self.listed_turnover += value;
                self.listed_trades += 1;
            }
            TradeKind::Block => {
                self.block_volume += u128::from(qty);
                self.block_turnover += value;
                self.block_trades += 1;
            }
        }
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
        self.listed_trades
    }

    /// Trades recorded as block trades (block agreements, and whatever else the caller counts
    /// outside the listed close, e.g. one-way bidding).
    pub fn block_trades(&self) -> u64 {
        self.block_trades
    }

    /// VWAP of the listed trades rounded half up to the tick, or the previous close when
    /// there were none (or no volume).
    pub fn close(&self) -> Price {
        if self.listed_volume == 0 {
            return self.prev_close;
        }
        // turnover ≥ 0 for positive prices; the rounding below is half up for that case.
        let den = self.listed_volume as i128 * i128::from(self.tick);
        let q = self.listed_turnover.div_euclid(den);
        let r = self.listed_turnover.rem_euclid(den);
        let ticks = if 2 * r >= den { q + 1 } else { q };
        i64::try_from(ticks * i128::from(self.tick)).unwrap_or(self.prev_close)
    }

    /// Listed volume in tonnes.
    ///
    /// # Errors
    /// `Overflow` beyond `u64`.
    pub fn listed_volume(&self) -> Result<u64, StatsError> {
        u64::try_from(self.listed_volume).map_err(|_| StatsError::Overflow("listed volume"))
    }

    /// Listed turnover in fen.
    ///
    /// # Errors
    /// `Overflow` beyond `i64`.
    pub fn listed_turnover(&self) -> Result<i64, StatsError> {
        i64::try_from(self.listed_turnover).map_err(|_| StatsError::Overflow("listed turnover"))
    }

    /// # Errors
    /// `Overflow` beyond `u64`.
    pub fn block_volume(&self) -> Result<u64, StatsError> {
        u64::try_from(self.block_volume).map_err(|_| StatsError::Overflow("block volume"))
    }

    /// # Errors
    /// `Overflow` beyond `i64`.
    pub fn block_turnover(&self) -> Result<i64, StatsError> {
        i64::try_from(self.block_turnover).map_err(|_| StatsError::Overflow("block turnover"))
    }
}
