//! Price bands and order size limits (DOMAIN.md §4) as pure helpers. The percentages and
//! thresholds are parameters: they come from the market configuration file, not from code.

use crate::calendar::TradeKind;
use crate::{Price, Qty};

/// Why a band or a size could not be computed or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("tick must be positive, got {0}")]
    BadTick(Price),
    #[error("previous close must be positive, got {0}")]
    BadPrevClose(Price),
    #[error("zero quantity")]
    ZeroQuantity,
    #[error("listed order of {qty} t is not below the limit of {limit} t")]
    ListedTooLarge { qty: Qty, limit: Qty },
    #[error("block order of {qty} t is below the minimum of {min} t")]
    BlockTooSmall { qty: Qty, min: Qty },
}

/// The inclusive price band `(low, high)` of ±`pct_bps` basis points around `prev_close`,
/// rounded inward to the tick: `low` is the smallest tick multiple ≥ close × (1 − p) and
/// `high` the largest ≤ close × (1 + p), both computed exactly in integers (i128).
/// `low` is at least one tick.
///
/// ±10 % (listed) is `pct_bps = 1000`, ±30 % (block) is `3000`.
///
/// # Errors
/// `BadTick` when `tick ≤ 0`, `BadPrevClose` when `prev_close ≤ 0`.
pub fn band(prev_close: Price, pct_bps: u32, tick: Price) -> Result<(Price, Price), LimitError> {
    if tick <= 0 {
        return Err(LimitError::BadTick(tick));
    }
    if prev_close <= 0 {
        return Err(LimitError::BadPrevClose(prev_close));
    }
    let pc = i128::from(prev_close);
    let bps = i128::from(pct_bps);
    let den = 10_000 * i128::from(tick);
    let low_ticks = div_ceil(pc * (10_000 - bps), den);
    let high_ticks = (pc * (10_000 + bps)).div_euclid(den);
    let t = i128::from(tick);
    // Both fit: |low| ≤ high ≤ prev_close × (1 + 4.3e5) for any u32 bps.
    let low = (low_ticks * t).max(t);
    let high = high_ticks * t;
    Ok((clamp_i64(low), clamp_i64(high)))
}

fn div_ceil(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

fn clamp_i64(x: i128) -> Price {
    i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX })
}

/// Order size limits by trade kind: listed agreement orders must be below `listed_below`
/// (100,000 t), block agreement orders at least `block_at_least` (100,000 t).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub listed_below: Qty,
    pub block_at_least: Qty,
}

impl SizeLimits {
    /// Checks one order's quantity.
    ///
    /// # Errors
    /// `ZeroQuantity`, `ListedTooLarge`, `BlockTooSmall`.
    pub fn check(&self, kind: TradeKind, qty: Qty) -> Result<(), LimitError> {
        if qty == 0 {
            return Err(LimitError::ZeroQuantity);
        }
        match kind {
            TradeKind::Listed if qty >= self.listed_below => Err(LimitError::ListedTooLarge {
                qty,
                limit: self.listed_below,
            }),
            TradeKind::Block if qty < self.block_at_least => Err(LimitError::BlockTooSmall {
                qty,
                min: self.block_at_least,
            }),
            _ => Ok(()),
        }
    }

    /// The largest listed order, inclusive, for [`crate::BookConfig::qty_max`].
    pub fn listed_max(&self) -> Qty {
        self.listed_below.saturating_sub(1)
    }
}
