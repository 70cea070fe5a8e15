//! Trade value and fees, in integer fen.
//!
//! A fee is `value × bps / 10 000`, rounded half up (a remainder of exactly half a fen rounds
//! up), and never less than the schedule's minimum. Products are taken in `i128`, so no
//! intermediate can overflow, and converted back to [`Fen`] with a check.

use serde::{Deserialize, Serialize};

use crate::Fen;
use ets_types::Tonnes;

/// Basis points in one whole: a fee of 10 000 bps would be the entire trade value.
pub const BPS_PER_UNIT: u32 = 10_000;

/// The exchange's fee schedule, as data (the figures belong in the policy file, not in code).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FeeSchedule {
    /// Charged to the buyer on top of the trade value, from the buy order's frozen funds.
    pub buyer_bps: u32,
    /// Charged to the seller, deducted from the proceeds.
    pub seller_bps: u32,
    /// The least fee per side and per trade. It applies even when a side's rate is 0 bps, so a
    /// schedule without fees is `{ 0, 0, 0 }`.
    pub min_fen: Fen,
}

/// Why a value or fee cannot be computed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FeeError {
    #[error("{side} fee rate of {bps} bps exceeds {BPS_PER_UNIT} bps (the whole trade value)")]
    RateTooHigh { side: String, bps: u32 },
    #[error("{what} overflows a 64-bit amount of fen")]
    Overflow { what: String },
}

impl FeeSchedule {
    /// No fees at all.
    pub const FREE: FeeSchedule = FeeSchedule {
        buyer_bps: 0,
        seller_bps: 0,
        min_fen: 0,
    };

    /// Refuses rates above the whole value: such a schedule is a data error, not a policy.
    ///
    /// # Errors
    /// [`FeeError::RateTooHigh`] naming the side.
    pub fn check(&self) -> Result<(), FeeError> {
        for (side, bps) in [("buyer", self.buyer_bps), ("seller", self.seller_bps)] {
            if bps > BPS_PER_UNIT {
                return Err(FeeError::RateTooHigh {
                    side: side.to_string(),
                    bps,
                });
            }
        }
        Ok(())
    }

    /// The buyer's fee on a trade value.
    ///
    /// # Errors
    /// [`FeeError::Overflow`] if the fee does not fit in [`Fen`] (only for absurd minimums).
    pub fn buyer_fee(&self, value_fen: Fen) -> Result<Fen, FeeError> {
        fee(value_fen, self.buyer_bps, self.min_fen)
    }

    /// The seller's fee on a trade value.
    ///
    /// # Errors
    /// [`FeeError::Overflow`] as for [`FeeSchedule::buyer_fee`].
    pub fn seller_fee(&self, value_fen: Fen) -> Result<Fen, FeeError> {
        fee(value_fen, self.seller_bps, self.min_fen)
    }

    /// What a buy order (or one fill of it) must have frozen: `price × quantity` plus the
    /// buyer's fee on that value. The exchange freezes this at order entry; settlement computes
    /// the same figure at the order's limit price to know how much of the freeze a fill owns.
    ///
    /// # Errors
    /// [`FeeError::Overflow`] if the value or the sum does not fit in [`Fen`].
    pub fn buy_freeze_fen(&self, price_fen_per_t: Fen, quantity: Tonnes) -> Result<Fen, FeeError> {
        let value = trade_value_fen(price_fen_per_t, quantity)?;
        let fee = self.buyer_fee(value)?;
        value.checked_add(fee).ok_or_else(|| FeeError::Overflow {
            what: "value plus buyer fee".to_string(),
        })
    }
}

/// `price × quantity` in fen, computed in `i128` and converted back with a check.
///
/// # Errors
/// [`FeeError::Overflow`] if the product does not fit in [`Fen`].
pub fn trade_value_fen(price_fen_per_t: Fen, quantity: Tonnes) -> Result<Fen, FeeError> {
    let value = i128::from(price_fen_per_t) * i128::from(quantity);
    Fen::try_from(value).map_err(|_| FeeError::Overflow {
        what: "trade value".to_string(),
    })
}

/// `max(round_half_up(value × bps / 10 000), min)`.
fn fee(value_fen: Fen, bps: u32, min_fen: Fen) -> Result<Fen, FeeError> {
    let whole = i128::from(BPS_PER_UNIT);
    // Adding half the divisor before the floor division rounds half up; all terms are
    // non-negative, so floor and truncation agree.
    let rounded = (i128::from(value_fen) * i128::from(bps) + whole / 2) / whole;
    let fee = Fen::try_from(rounded).map_err(|_| FeeError::Overflow {
        what: "fee".to_string(),
    })?;
    Ok(fee.max(min_fen))
}
