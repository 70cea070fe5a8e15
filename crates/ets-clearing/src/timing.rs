//! When trades settle: at once, or all together after the close.
//!
//! The national market settles after the close (DOMAIN §4: "registry runs clearing and
//! settlement after close; DvP, gross per trade"), but a market may also settle each trade as it
//! happens. [`SettlementMode`] makes the choice data. In [`SettlementMode::EndOfDay`] the trades
//! wait in [`PendingSettlements`], in trade order, and [`Clearing::end_of_day`] settles them one
//! by one, each atomic on its own: a failing trade is reported and moves nothing, the others
//! proceed.

use std::collections::VecDeque;

use ets_registry::Registry;
use serde::{Deserialize, Serialize};

use crate::TradeId;
use crate::dvp::{Settlement, SettlementError, Trade, settle};
use crate::fees::{FeeError, FeeSchedule};
use crate::funds::Funds;
use crate::units::{UnitEntry, UnitFreezes};

/// When a trade settles.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementMode {
    /// As soon as it is submitted.
    Immediate,
    /// At the end of the trading day, in trade order.
    EndOfDay,
}

/// Why a trade could not be queued.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum QueueRejection {
    #[error("the settlement queue is full ({trades_max} trades)")]
    Full { trades_max: usize },
    #[error(
        "trade {trade} arrives after trade {last}: trades must be queued in increasing id order"
    )]
    OutOfOrder { trade: TradeId, last: TradeId },
    #[error("trade {trade} cannot be queued")]
    Invalid {
        trade: TradeId,
        #[source]
        source: SettlementError,
    },
}

/// Trades waiting for the end-of-day settlement, in trade order, at most `trades_max`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PendingSettlements {
    trades: VecDeque<Trade>,
    trades_max: usize,
    /// The highest trade id ever queued, so that the queue stays in trade order across days.
    last: Option<TradeId>,
}

/// A trade that did not settle at the end of the day, and why. Neither leg moved.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FailedSettlement {
    pub trade: Trade,
    pub error: SettlementError,
}

/// What the end-of-day run did, in trade order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EndOfDayReport {
    pub settled: Vec<Settlement>,
    pub failed: Vec<FailedSettlement>,
    /// The roll-off of today's purchases, recorded after every settlement of the day.
    pub roll_off: UnitEntry,
}

impl PendingSettlements {
    pub fn new(trades_max: usize) -> PendingSettlements {
        assert!(
            trades_max > 0,
            "a settlement queue holds at least one trade"
        );
        PendingSettlements {
            trades: VecDeque::new(),
            trades_max,
            last: None,
        }
    }

    /// Queues a trade; ids must increase, so the queue is in trade order.
    ///
    /// # Errors
    /// A full queue, an id not above the last one, or a trade that fails
    /// [`Trade::check_shape`] (it could never settle).
    pub fn push(&mut self, trade: Trade) -> Result<(), QueueRejection> {
        if self.trades.len() >= self.trades_max {
            return Err(QueueRejection::Full {
                trades_max: self.trades_max,
            });
        }
        if let Some(last) = self.last
            && trade.id <= last
        {
            return Err(QueueRejection::OutOfOrder {
                trade: trade.id,
                last,
            });
        }
        trade
            .check_shape()
            .map_err(|source| QueueRejection::Invalid {
                trade: trade.id,
                source,
            })?;
        self.trades.push_back(trade);
        self.last = Some(trade.id);
        Ok(())
    }

    pub fn trades(&self) -> impl Iterator<Item = &Trade> {
        self.trades.iter()
    }
    pub fn len(&self) -> usize {
        self.trades.len()
    }
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
    }

    /// Settles every queued trade in order and empties the queue. Each trade is atomic; a failed
    /// one is reported and the next one proceeds.
    pub fn settle_all(
        &mut self,
        registry: &mut Registry,
        funds: &mut Funds,
        units: &mut UnitFreezes,
        fees: &FeeSchedule,
    ) -> (Vec<Settlement>, Vec<FailedSettlement>) {
        let mut settled = Vec::new();
        let mut failed = Vec::new();
        let mut previous: Option<TradeId> = None;
        while let Some(trade) = self.trades.pop_front() {
            assert!(
                previous.is_none_or(|p| p < trade.id),
                "the queue is in trade order"
            );
            previous = Some(trade.id);
            match settle(trade, registry, funds, units, fees) {
                Ok(s) => settled.push(s),
                Err(error) => failed.push(FailedSettlement { trade, error }),
            }
        }
        (settled, failed)
    }
}

/// The result of submitting a trade.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Submitted {
    /// Settled now ([`SettlementMode::Immediate`]).
    Settled(Settlement),
    /// Queued for the end of the day ([`SettlementMode::EndOfDay`]).
    Queued,
}

/// Why a submitted trade was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Settlement(#[from] SettlementError),
    #[error(transparent)]
    Queue(#[from] QueueRejection),
}

/// The settlement policy of the exchange: the mode, the fees, and the end-of-day queue.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Clearing {
    mode: SettlementMode,
    fees: FeeSchedule,
    pending: PendingSettlements,
}

impl Clearing {
    /// # Errors
    /// A fee schedule with a rate above 100 %.
    pub fn new(
        mode: SettlementMode,
        fees: FeeSchedule,
        pending_trades_max: usize,
    ) -> Result<Clearing, FeeError> {
        fees.check()?;
        Ok(Clearing {
            mode,
            fees,
            pending: PendingSettlements::new(pending_trades_max),
        })
    }

    pub fn mode(&self) -> SettlementMode {
        self.mode
    }
    pub fn fees(&self) -> &FeeSchedule {
        &self.fees
    }
    pub fn pending(&self) -> &PendingSettlements {
        &self.pending
    }

    /// Settles the trade now or queues it, by mode.
    ///
    /// # Errors
    /// In immediate mode, the [`SettlementError`] (nothing moved); in end-of-day mode, a
    /// [`QueueRejection`] (nothing queued).
    pub fn submit(
        &mut self,
        trade: Trade,
        registry: &mut Registry,
        funds: &mut Funds,
        units: &mut UnitFreezes,
    ) -> Result<Submitted, SubmitError> {
        match self.mode {
            SettlementMode::Immediate => Ok(Submitted::Settled(settle(
                trade, registry, funds, units, &self.fees,
            )?)),
            SettlementMode::EndOfDay => {
                self.pending.push(trade)?;
                Ok(Submitted::Queued)
            }
        }
    }

    /// Closes the day: settles the queued trades in trade order (each atomic, failures
    /// reported), then rolls off today's purchases. The order matters: trades settled tonight
    /// were bought today, and become tradable tomorrow like any other purchase of today.
    pub fn end_of_day(
        &mut self,
        registry: &mut Registry,
        funds: &mut Funds,
        units: &mut UnitFreezes,
    ) -> EndOfDayReport {
        let (settled, failed) = self.pending.settle_all(registry, funds, units, &self.fees);
        assert!(
            self.pending.is_empty(),
            "the end of the day empties the queue"
        );
        let roll_off = units.end_of_day();
        EndOfDayReport {
            settled,
            failed,
            roll_off,
        }
    }
}
