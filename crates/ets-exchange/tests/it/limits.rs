//! Price bands (inclusive, rounded inward to the tick) and order size limits.

use ets_exchange::{LimitError, SizeLimits, TradeKind, band};

#[track_caller]
fn check_band(prev_close: i64, bps: u32, tick: i64, expect: (i64, i64)) {
    assert_eq!(
        band(prev_close, bps, tick),
        Ok(expect),
        "band({prev_close}, {bps}, {tick})"
    );
}

#[test]
fn band_exact_at_ten_and_thirty_percent() {
    // 60.00 CNY: ±10 % = 54.00 .. 66.00 exactly; ±30 % = 42.00 .. 78.00.
    check_band(6000, 1000, 1, (5400, 6600));
    check_band(6000, 3000, 1, (4200, 7800));
}

#[test]
fn band_rounds_inward_to_the_tick() {
    // 58.37: 52.533 -> 52.54 (up), 64.207 -> 64.20 (down).
    check_band(5837, 1000, 1, (5254, 6420));
    // ±30 %: 40.859 -> 40.86, 75.881 -> 75.88.
    check_band(5837, 3000, 1, (4086, 7588));
    // Tick of 5 fen: 52.533 -> 52.55, 64.207 -> 64.20.
    check_band(5837, 1000, 5, (5255, 6420));
    // A bound exactly on a tick stays (not pushed a tick inward).
    check_band(5000, 1000, 5, (4500, 5500));
}

#[test]
fn band_bounds_are_inclusive_prices() {
    // A fill is valid only if price ∈ [low, high]: the computed bounds themselves are valid
    // prices and one tick beyond is not within prevClose × (1 ± 10 %).
    let (lo, hi) = band(5837, 1000, 1).unwrap();
    assert!(lo as i128 * 10_000 >= 5837 * 9_000 && (lo - 1) as i128 * 10_000 < 5837 * 9_000);
    assert!(hi as i128 * 10_000 <= 5837 * 11_000 && (hi + 1) as i128 * 10_000 > 5837 * 11_000);
}

#[test]
fn band_rejects_bad_inputs() {
    assert_eq!(band(6000, 1000, 0), Err(LimitError::BadTick(0)));
    assert_eq!(band(0, 1000, 1), Err(LimitError::BadPrevClose(0)));
    // A band wider than 100 % keeps the low bound at one tick.
    assert_eq!(band(100, 15_000, 1), Ok((1, 250)));
}

#[test]
fn size_limits_listed_below_block_at_least() {
    let l = SizeLimits {
        listed_below: 100_000,
        block_at_least: 100_000,
    };
    assert_eq!(l.check(TradeKind::Listed, 99_999), Ok(()));
    assert_eq!(
        l.check(TradeKind::Listed, 100_000),
        Err(LimitError::ListedTooLarge {
            qty: 100_000,
            limit: 100_000
        })
    );
    assert_eq!(l.check(TradeKind::Block, 100_000), Ok(()));
    assert_eq!(
        l.check(TradeKind::Block, 99_999),
        Err(LimitError::BlockTooSmall {
            qty: 99_999,
            min: 100_000
        })
    );
    assert_eq!(l.check(TradeKind::Listed, 0), Err(LimitError::ZeroQuantity));
    assert_eq!(l.listed_max(), 99_999);
    // Parameters, not constants: another market file, another threshold.
    let pilot = SizeLimits {
        listed_below: 10_000,
        block_at_least: 10_000,
    };
    assert!(pilot.check(TradeKind::Listed, 10_000).is_err());
}
