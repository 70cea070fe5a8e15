//! Clearing for the exchange: the funds ledger, unit freezes for sell orders, and
//! delivery-versus-payment (DvP) settlement of trades against the registry.
//!
//! Principal types:
//! - [`Funds`]: one funds account per exchange participant ([`ParticipantId`]) plus the
//!   exchange's [`FEE_ACCOUNT`], each with `available` and `frozen` fen; buy orders freeze money
//!   per [`OrderRef`]. Every accepted operation is a sequenced [`FundsEntry`] for the journal.
//! - [`UnitFreezes`]: the registry has no notion of "frozen", so the units promised to open sell
//!   orders, and the units bought today (not resaleable before the next trading day, T+1), are
//!   booked here, per registry account and unit class. Sequenced as [`UnitEntry`]s.
//! - [`settle`]: moves a [`Trade`]'s units seller → buyer in the registry and its money
//!   buyer → seller (fees to the fee account) in the funds ledger, both legs or neither.
//! - [`FeeSchedule`]: fees in basis points with a minimum, rounded half up in integers.
//! - [`Clearing`], [`SettlementMode`], [`PendingSettlements`]: settle each trade at once, or
//!   queue the day's trades and settle them in trade order at the end of the day.
//!
//! **Architecture Invariant:** money is created only by deposit and leaves only by withdrawal:
//! the sum of every account's `available + frozen` equals deposits − withdrawals, and an
//! account's `frozen` equals the sum of its open order freezes. [`Funds::check_invariants`]
//! asserts it; balances are unsigned, so none can go negative.
//!
//! **Architecture Invariant:** a settlement never half-happens. Every check of both legs runs
//! before either is applied; a rejected settlement leaves the registry, the funds ledger and the
//! unit freezes exactly as they were.
//!
//! No I/O, no clock, no floating point: money is integer fen (1 CNY = 100 fen), products are
//! computed in `i128` and converted back with a check.

use std::fmt;

use serde::{Deserialize, Serialize};

mod dvp;
mod fees;
mod funds;
mod timing;
mod units;

pub use dvp::{Settlement, SettlementError, Trade, settle, trade_key};
pub use fees::{BPS_PER_UNIT, FeeError, FeeSchedule, trade_value_fen};
pub use funds::{
    Balance, Funds, FundsEntry, FundsOp, FundsRejection, FundsReplayError, FundsReport,
    FundsViolation, MoneyFreeze,
};
pub use timing::{
    Clearing, EndOfDayReport, FailedSettlement, PendingSettlements, QueueRejection, SettlementMode,
    SubmitError, Submitted,
};
pub use units::{
    UnitEntry, UnitFreeze, UnitFreezes, UnitOp, UnitRejection, UnitsReport, UnitsViolation,
};

/// Money in fen (分), the smallest unit of the renminbi: 1 CNY = 100 fen.
pub type Fen = u64;

/// An exchange participant (a member or client with a funds account at the exchange).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct ParticipantId(pub u32);

/// The exchange's own funds account, which receives every fee. It is opened by [`Funds::new`];
/// it may withdraw (the exchange takes its revenue out) but never buys or sells.
pub const FEE_ACCOUNT: ParticipantId = ParticipantId(0);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FEE_ACCOUNT {
            f.write_str("fee account")
        } else {
            write!(f, "participant {}", self.0)
        }
    }
}

/// The exchange's reference of an order: the key under which its money or units are frozen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct OrderRef(pub u64);

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order {}", self.0)
    }
}

/// The exchange's number of a trade (one fill between a buy order and a sell order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct TradeId(pub u64);

impl fmt::Display for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
