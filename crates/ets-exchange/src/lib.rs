//! The exchange core of `ets`: order books and matching for China's national carbon market
//! (DOMAIN.md §4), as pure functions over state.
//!
//! Principal types:
//!
//! - [`OrderBook`]: one instrument's book, in one of two [`MatchingMode`]s on the same data
//!   structure: `Continuous` price-time matching (GTC-for-the-day, IOC, FOK, amend, cancel,
//!   self-trade prevention) and `ClickToTrade`, the listed agreement (挂牌协议交易) where orders
//!   only rest and a taker picks one listed order within the best five price levels. Every
//!   state change appends [`Event`]s for the caller to journal and settle. Low-level
//!   operations (`add_resting`, `reduce`, `execute`, `delete`) replay external order flow.
//! - [`limits`]: price bands (`band`) and order size limits, parameters not constants.
//! - [`calendar`]: [`TradingCalendar`] and [`Sessions`] built from data.
//! - [`auction`]: one-way bidding (单向竞价) as a pure allocation function.
//! - [`stats`]: [`DailyStats`], the open/high/low/close (VWAP) accumulator, with the volume,
//!   turnover and number of trades of each [`StatsKind`] (listed, block, one-way).
//!
//! **Architecture Invariant:** no I/O, no clock, no randomness, no floats. Prices are integer
//! fen (`i64`, tick 0.01 CNY = 1), quantities whole tonnes (`u64`); times arrive as arguments.
//! Time priority is the order of arrival in the book, so replaying the same calls gives the
//! same events.

pub mod auction;
mod book;
pub mod calendar;
mod ladder;
pub mod limits;
pub mod stats;

pub use auction::{
    Allocation, AuctionResult, Bid, BidRejection, OneWayAuction, Pricing, run_one_way,
};
pub use book::{
    BookConfig, CancelReason, Event, Fill, LevelView, MatchingMode, NewOrder, OrderBook, OrderView,
    RejectReason, SelfTradePrevention, Take, TimeInForce,
};
pub use calendar::{SessionError, SessionKind, Sessions, TradeKind, TradingCalendar, Window};
pub use limits::{LimitError, SizeLimits, band};
pub use stats::{DailyStats, StatsError, StatsKind, Tally};

/// A price in the smallest unit (fen for CEA: 0.01 CNY = 1). Signed so that differences and
/// the LOBSTER sentinel prices fit; the book rejects prices ≤ 0.
pub type Price = i64;
/// A quantity in whole units (tonnes of CO2e for CEA).
pub type Qty = u64;
/// An order identifier assigned by the caller, unique among the live orders of a book.
pub type OrderId = u64;
/// A trading participant (account) as a dense number assigned by the caller; used for
/// self-trade prevention and ownership checks.
pub type Participant = u64;

/// The side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}
