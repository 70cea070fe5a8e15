//! Fees: basis points, half-up rounding in integers, the minimum, and overflow.

use ets_clearing::*;

#[track_caller]
fn check(value_fen: Fen, bps: u32, min_fen: Fen, expected: Fen) {
    let fees = FeeSchedule {
        buyer_bps: bps,
        seller_bps: bps,
        min_fen,
    };
    assert_eq!(
        fees.buyer_fee(value_fen).unwrap(),
        expected,
        "buyer fee on {value_fen} fen at {bps} bps, min {min_fen}"
    );
    assert_eq!(
        fees.seller_fee(value_fen).unwrap(),
        expected,
        "seller fee on {value_fen} fen at {bps} bps, min {min_fen}"
    );
}

#[test]
fn fee_rounds_half_up_and_respects_the_minimum() {
    check(10_000, 5, 0, 5); // exact
    check(1_000, 5, 0, 1); // 0.5 fen rounds up
    check(999, 5, 0, 0); // 0.4995 fen rounds down
    check(3_000, 5, 0, 2); // 1.5 fen rounds up
    check(2_999, 5, 0, 1); // 1.4995 fen rounds down
    check(425_000, 25, 0, 1_063); // 1062.5 fen rounds up
    check(425_000, 30, 0, 1_275);
    check(100, 30, 500, 500); // 0.3 fen, the minimum applies
    check(100, 0, 500, 500); // the minimum applies even at 0 bps
    check(1, 10_000, 0, 1); // the whole value
    check(u64::MAX, 10_000, 0, u64::MAX); // no intermediate overflow
}

#[test]
fn buy_freeze_is_value_plus_buyer_fee() {
    let fees = FeeSchedule {
        buyer_bps: 30,
        seller_bps: 25,
        min_fen: 100,
    };
    // 100 t at 43.00 CNY: 430 000 fen + 1 290 fen.
    assert_eq!(fees.buy_freeze_fen(4_300, 100).unwrap(), 431_290);
    // 1 t at 0.10 CNY: 10 fen + the 100 fen minimum.
    assert_eq!(fees.buy_freeze_fen(10, 1).unwrap(), 110);
}

#[test]
fn overflow_and_bad_rates_are_errors() {
    assert!(matches!(
        trade_value_fen(u64::MAX, 2),
        Err(FeeError::Overflow { .. })
    ));
    assert_eq!(trade_value_fen(u64::MAX, 1), Ok(u64::MAX));
    let fees = FeeSchedule {
        buyer_bps: 0,
        seller_bps: 0,
        min_fen: 1,
    };
    assert!(matches!(
        fees.buy_freeze_fen(u64::MAX, 1),
        Err(FeeError::Overflow { .. })
    ));
    let too_high = FeeSchedule {
        buyer_bps: 10_001,
        seller_bps: 0,
        min_fen: 0,
    };
    assert_eq!(
        too_high.check(),
        Err(FeeError::RateTooHigh {
            side: "buyer".into(),
            bps: 10_001
        })
    );
    assert!(Clearing::new(SettlementMode::Immediate, too_high, 10).is_err());
    assert_eq!(FeeSchedule::FREE.check(), Ok(()));
}
