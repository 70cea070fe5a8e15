//! Delivery versus payment: one trade's units and money move together or not at all.
//!
//! [`settle`] first checks everything either leg needs: the trade itself, the fees, that the
//! trade was not settled before, the seller's unit freeze, the registry transfer
//! ([`Registry::check`]) and the payment ([`Funds::check`]). Only then does it apply, in this
//! order: the registry transfer, the payment, the price-improvement release, the unit freeze
//! consumption and the buyer's "bought today". Each of those applications re-validates against
//! a state the checks already covered, so a failure there is a bug and panics rather than
//! leaving one leg applied.

use ets_registry::{Op, Outcome, Registry, Rejection, Request};
use ets_types::{AccountId, Date, Tonnes, UnitClass};
use serde::{Deserialize, Serialize};

use crate::fees::{FeeError, FeeSchedule, trade_value_fen};
use crate::funds::{Funds, FundsEntry, FundsOp, FundsRejection};
use crate::units::{UnitEntry, UnitFreezes, UnitOp, UnitRejection};
use crate::{Fen, OrderRef, ParticipantId, TradeId};

/// A trade as the exchange reports it for settlement: one fill between a buy and a sell order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Trade {
    pub id: TradeId,
    /// The business date of the trade; the registry transfer carries it.
    pub date: Date,
    pub class: UnitClass,
    pub quantity: Tonnes,
    pub price_fen_per_t: Fen,
    pub buyer: ParticipantId,
    /// The buyer's registry account, which receives the units.
    pub buyer_account: AccountId,
    /// The buy order whose frozen funds pay.
    pub buy_order: OrderRef,
    /// The buy order's limit price, at which its funds were frozen. A trade below it releases
    /// the difference (with the fee on it) back to the buyer.
    pub buy_limit_fen_per_t: Fen,
    pub seller: ParticipantId,
    /// The seller's registry account, which delivers the units.
    pub seller_account: AccountId,
    /// The sell order whose frozen units are delivered.
    pub sell_order: OrderRef,
}

/// The idempotency key of a trade's registry transfer: `trade-<id>`.
pub fn trade_key(id: TradeId) -> String {
    format!("trade-{id}")
}

/// What a settlement did: the figures, and every entry it recorded, for the journal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Settlement {
    pub trade: TradeId,
    /// Sequence number of the registry transfer.
    pub registry_seq: u64,
    /// `price × quantity`.
    pub value_fen: Fen,
    pub buyer_fee_fen: Fen,
    pub seller_fee_fen: Fen,
    /// Returned from the buy order's freeze to the buyer's available funds (price improvement).
    pub released_fen: Fen,
    /// The payment, then the release if any.
    pub funds_entries: Vec<FundsEntry>,
    /// The consumption of the seller's freeze, then the buyer's purchase today.
    pub unit_entries: Vec<UnitEntry>,
}

/// Why a trade was not settled. Neither leg moved.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("trade {trade}: quantity must be at least 1 t")]
    ZeroQuantity { trade: TradeId },
    #[error("trade {trade}: price must be at least 1 fen per tonne")]
    ZeroPrice { trade: TradeId },
    #[error(
        "trade {trade}: price {price_fen_per_t} fen/t is above the buy order's limit of {limit_fen_per_t} fen/t"
    )]
    PriceAboveLimit {
        trade: TradeId,
        price_fen_per_t: Fen,
        limit_fen_per_t: Fen,
    },
    #[error("trade {trade}: {participant} is on both sides")]
    SelfTrade {
        trade: TradeId,
        participant: ParticipantId,
    },
    #[error("trade {trade} was already settled (registry transaction {seq})")]
    AlreadySettled { trade: TradeId, seq: u64 },
    #[error("trade {trade}: fees cannot be computed")]
    Fees {
        trade: TradeId,
        #[source]
        source: FeeError,
    },
    #[error("trade {trade}: the seller's unit freeze refuses the delivery")]
    Units {
        trade: TradeId,
        #[source]
        source: UnitRejection,
    },
    #[error("trade {trade}: the registry refuses the transfer")]
    Registry {
        trade: TradeId,
        #[source]
        source: Rejection,
    },
    #[error("trade {trade}: the funds ledger refuses the payment")]
    Funds {
        trade: TradeId,
        #[source]
        source: FundsRejection,
    },
}

impl SettlementError {
    /// The trade that was not settled.
    pub fn trade(&self) -> TradeId {
        match self {
            SettlementError::ZeroQuantity { trade }
            | SettlementError::ZeroPrice { trade }
            | SettlementError::PriceAboveLimit { trade, .. }
            | SettlementError::SelfTrade { trade, .. }
            | SettlementError::AlreadySettled { trade, .. }
            | SettlementError::Fees { trade, .. }
            | SettlementError::Units { trade, .. }
            | SettlementError::Registry { trade, .. }
            | SettlementError::Funds { trade, .. } => *trade,
        }
    }
}

impl Trade {
    /// The checks that need no ledger: quantity, price, limit, distinct parties.
    ///
    /// # Errors
    /// The first defect found.
    pub fn check_shape(&self) -> Result<(), SettlementError> {
        let trade = self.id;
        if self.quantity == 0 {
            return Err(SettlementError::ZeroQuantity { trade });
        }
        if self.price_fen_per_t == 0 {
            return Err(SettlementError::ZeroPrice { trade });
        }
        if self.price_fen_per_t > self.buy_limit_fen_per_t {
            return Err(SettlementError::PriceAboveLimit {
                trade,
                price_fen_per_t: self.price_fen_per_t,
                limit_fen_per_t: self.buy_limit_fen_per_t,
            });
        }
        if self.buyer == self.seller {
            return Err(SettlementError::SelfTrade {
                trade,
                participant: self.buyer,
            });
        }
        Ok(())
    }

    /// The registry transfer that delivers the units.
    pub fn transfer_request(&self) -> Request {
        Request {
            op: Op::Transfer {
                class: self.class,
                quantity: self.quantity,
                from: self.seller_account,
                to: self.buyer_account,
            },
            date: self.date,
            initiator: "exchange".to_string(),
            reason: format!("settlement of exchange trade {}", self.id),
            key: Some(trade_key(self.id)),
        }
    }
}

/// Everything settlement will write, computed and checked before anything is written.
struct Plan {
    transfer: Request,
    payment: FundsOp,
    release: Option<FundsOp>,
    consume: UnitOp,
    bought: UnitOp,
    value_fen: Fen,
    buyer_fee_fen: Fen,
    seller_fee_fen: Fen,
    released_fen: Fen,
}

/// Settles one trade, delivery versus payment: the units seller → buyer in the registry, the
/// money buyer → seller (fees to the fee account) in the funds ledger, both or neither.
///
/// The payment takes `value + buyer fee` from the buy order's freeze. The fill owned
/// `buy_freeze_fen(limit, quantity)` of that freeze; what it owned beyond its cost is released
/// to the buyer (price improvement), capped at what is left of the freeze. The seller's unit
/// freeze shrinks by the quantity, and the quantity is booked as bought today for the buyer.
///
/// # Errors
/// A [`SettlementError`]; then the registry, the funds ledger and the unit freezes are exactly
/// as they were.
pub fn settle(
    trade: Trade,
    registry: &mut Registry,
    funds: &mut Funds,
    units: &mut UnitFreezes,
    fees: &FeeSchedule,
) -> Result<Settlement, SettlementError> {
    let plan = plan(&trade, registry, funds, units, fees)?;

    let outcome = registry
        .execute(plan.transfer)
        .expect("registry leg was checked");
    let Outcome::Done(registry_seq) = outcome else {
        panic!(
            "trade {}: a checked, unused key replayed a transfer",
            trade.id
        );
    };
    let mut funds_entries = vec![funds.apply(plan.payment).expect("payment was checked")];
    if let Some(release) = plan.release {
        funds_entries.push(
            funds
                .apply(release)
                .expect("the release fits in what the payment left"),
        );
    }
    let unit_entries = vec![
        units
            .apply(registry, plan.consume)
            .expect("delivery was checked"),
        units
            .apply(registry, plan.bought)
            .expect("purchase was checked"),
    ];
    Ok(Settlement {
        trade: trade.id,
        registry_seq,
        value_fen: plan.value_fen,
        buyer_fee_fen: plan.buyer_fee_fen,
        seller_fee_fen: plan.seller_fee_fen,
        released_fen: plan.released_fen,
        funds_entries,
        unit_entries,
    })
}

fn plan(
    trade: &Trade,
    registry: &Registry,
    funds: &Funds,
    units: &UnitFreezes,
    fees: &FeeSchedule,
) -> Result<Plan, SettlementError> {
    let id = trade.id;
    trade.check_shape()?;
    let fee_error = |source| SettlementError::Fees { trade: id, source };
    fees.check().map_err(fee_error)?;
    let value_fen = trade_value_fen(trade.price_fen_per_t, trade.quantity).map_err(fee_error)?;
    let buyer_fee_fen = fees.buyer_fee(value_fen).map_err(fee_error)?;
    let seller_fee_fen = fees.seller_fee(value_fen).map_err(fee_error)?;
    let owned_fen = fees
        .buy_freeze_fen(trade.buy_limit_fen_per_t, trade.quantity)
        .map_err(fee_error)?;

    // A retry of a settled trade must not pay twice: the registry would only replay its leg.
    if let Some(seq) = registry.key_seq(&trade_key(id)) {
        return Err(SettlementError::AlreadySettled { trade: id, seq });
    }

    let consume = UnitOp::Consume {
        order: trade.sell_order,
        account: trade.seller_account,
        class: trade.class,
        quantity: trade.quantity,
    };
    units
        .check(registry, &consume)
        .map_err(|source| SettlementError::Units { trade: id, source })?;
    let bought = UnitOp::Bought {
        account: trade.buyer_account,
        class: trade.class,
        quantity: trade.quantity,
    };
    units
        .check(registry, &bought)
        .map_err(|source| SettlementError::Units { trade: id, source })?;

    let transfer = trade.transfer_request();
    registry
        .check(&transfer)
        .map_err(|source| SettlementError::Registry { trade: id, source })?;

    let payment = FundsOp::SettlePayment {
        buyer: trade.buyer,
        seller: trade.seller,
        order: trade.buy_order,
        amount_fen: value_fen,
        buyer_fee_fen,
        seller_fee_fen,
    };
    funds
        .check(&payment)
        .map_err(|source| SettlementError::Funds { trade: id, source })?;

    // The payment check passed, so the freeze exists and covers the cost.
    let frozen_fen = funds
        .order_freeze(trade.buy_order)
        .expect("payment was checked")
        .fen;
    let cost_fen = value_fen + buyer_fee_fen;
    // Fees grow with the value and price ≤ limit, so the fill owned at least its cost.
    assert!(
        owned_fen >= cost_fen,
        "trade {id}: a fill at or below the limit costs at most what it reserved"
    );
    assert!(
        frozen_fen >= cost_fen,
        "trade {id}: the payment check covers the cost"
    );
    let released_fen = owned_fen.min(frozen_fen) - cost_fen;
    let release = (released_fen > 0).then_some(FundsOp::Release {
        participant: trade.buyer,
        order: trade.buy_order,
        fen: released_fen,
    });

    Ok(Plan {
        transfer,
        payment,
        release,
        consume,
        bought,
        value_fen,
        buyer_fee_fen,
        seller_fee_fen,
        released_fen,
    })
}
