//! Continuous matching: price-time priority, partial fills, IOC/FOK, amend priority,
//! self-trade prevention, expiry at the close, rejections, replay operations.

use ets_exchange::{BookConfig, MatchingMode, OrderBook, SelfTradePrevention, Side};

use crate::script::{book, book_stp, check};

#[test]
fn price_time_priority() {
    // Better price first; at one price, earlier first.
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 sell 1 10@1001 day
        p2 sell 2 10@1000 day
        p3 sell 3 10@1000 day
        book
        p4 buy 4 25@1001 day
        book
        ",
        "
        accepted 1 p1 sell 10@1001 Day
        accepted 2 p2 sell 10@1000 Day
        accepted 3 p3 sell 10@1000 Day
        bids [] asks [1000x20(2) 1001x10(1)]
        accepted 4 p4 buy 25@1001 Day
        fill maker 2 (p2) taker 4 (p4) 10@1000 aggressor buy maker left 0
        fill maker 3 (p3) taker 4 (p4) 10@1000 aggressor buy maker left 0
        fill maker 1 (p1) taker 4 (p4) 5@1001 aggressor buy maker left 5
        bids [] asks [1001x5(1)]
        ",
    );
}

#[test]
fn partial_fill_rests_remainder_at_limit() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 buy 1 30@1000 day
        p2 sell 2 50@999 day
        book
        p3 buy 3 5@999 day
        book
        ",
        "
        accepted 1 p1 buy 30@1000 Day
        accepted 2 p2 sell 50@999 Day
        fill maker 1 (p1) taker 2 (p2) 30@1000 aggressor sell maker left 0
        bids [] asks [999x20(1)]
        accepted 3 p3 buy 5@999 Day
        fill maker 2 (p2) taker 3 (p3) 5@999 aggressor buy maker left 15
        bids [] asks [999x15(1)]
        ",
    );
}

#[test]
fn ioc_trades_then_cancels_remainder() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 sell 1 10@1000 day
        p1 sell 2 10@1002 day
        p2 buy 3 15@1001 ioc
        p2 buy 4 15@999 ioc
        book
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        accepted 2 p1 sell 10@1002 Day
        accepted 3 p2 buy 15@1001 Ioc
        fill maker 1 (p1) taker 3 (p2) 10@1000 aggressor buy maker left 0
        cancelled 3 5 left 0 unfilled
        accepted 4 p2 buy 15@999 Ioc
        cancelled 4 15 left 0 unfilled
        bids [] asks [1002x10(1)]
        ",
    );
}

#[test]
fn fok_fills_in_full_or_not_at_all() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 sell 1 10@1000 day
        p1 sell 2 10@1001 day
        p2 buy 3 21@1001 fok
        p2 buy 4 20@1000 fok
        book
        p2 buy 5 20@1001 fok
        book
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        accepted 2 p1 sell 10@1001 Day
        rejected 3 FokNotFillable
        rejected 4 FokNotFillable
        bids [] asks [1000x10(1) 1001x10(1)]
        accepted 5 p2 buy 20@1001 Fok
        fill maker 1 (p1) taker 5 (p2) 10@1000 aggressor buy maker left 0
        fill maker 2 (p1) taker 5 (p2) 10@1001 aggressor buy maker left 0
        bids [] asks []
        ",
    );
}

#[test]
fn amend_keeps_priority_only_when_reducing_at_same_price() {
    // 1 reduces (keeps its place ahead of 2); 2 grows (goes behind 3); 3 reprices away and
    // back (loses its place).
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 buy 1 10@1000 day
        p2 buy 2 10@1000 day
        p3 buy 3 10@1000 day
        p1 amend 1 6@1000
        p2 amend 2 12@1000
        p3 amend 3 10@999
        p3 amend 3 10@1000
        p4 sell 9 40@1000 ioc
        ",
        "
        accepted 1 p1 buy 10@1000 Day
        accepted 2 p2 buy 10@1000 Day
        accepted 3 p3 buy 10@1000 Day
        amended 1 10@1000 -> 6@1000 keeps priority
        amended 2 10@1000 -> 12@1000 loses priority
        amended 3 10@1000 -> 10@999 loses priority
        amended 3 10@999 -> 10@1000 loses priority
        accepted 9 p4 sell 40@1000 Ioc
        fill maker 1 (p1) taker 9 (p4) 6@1000 aggressor sell maker left 0
        fill maker 2 (p2) taker 9 (p4) 12@1000 aggressor sell maker left 0
        fill maker 3 (p3) taker 9 (p4) 10@1000 aggressor sell maker left 0
        cancelled 9 12 left 0 unfilled
        ",
    );
}

#[test]
fn amend_that_crosses_trades_as_incoming() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 sell 1 10@1005 day
        p2 buy 2 15@1000 day
        p2 amend 2 15@1005
        book
        ",
        "
        accepted 1 p1 sell 10@1005 Day
        accepted 2 p2 buy 15@1000 Day
        amended 2 15@1000 -> 15@1005 loses priority
        fill maker 1 (p1) taker 2 (p2) 10@1005 aggressor buy maker left 0
        bids [1005x5(1)] asks []
        ",
    );
}

#[test]
fn self_trade_cancel_resting() {
    check(
        &mut book_stp(SelfTradePrevention::CancelResting),
        "
        p1 sell 1 10@1000 day
        p2 sell 2 10@1000 day
        p1 buy 3 15@1000 day
        book
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        accepted 2 p2 sell 10@1000 Day
        accepted 3 p1 buy 15@1000 Day
        cancelled 1 10 left 0 self-trade
        fill maker 2 (p2) taker 3 (p1) 10@1000 aggressor buy maker left 0
        bids [1000x5(1)] asks []
        ",
    );
}

#[test]
fn self_trade_cancel_incoming() {
    check(
        &mut book_stp(SelfTradePrevention::CancelIncoming),
        "
        p2 sell 1 5@999 day
        p1 sell 2 10@1000 day
        p2 sell 3 10@1000 day
        p1 buy 4 15@1000 day
        book
        ",
        "
        accepted 1 p2 sell 5@999 Day
        accepted 2 p1 sell 10@1000 Day
        accepted 3 p2 sell 10@1000 Day
        accepted 4 p1 buy 15@1000 Day
        fill maker 1 (p2) taker 4 (p1) 5@999 aggressor buy maker left 0
        cancelled 4 10 left 0 self-trade
        bids [] asks [1000x20(2)]
        ",
    );
}

#[test]
fn self_trade_cancel_both() {
    check(
        &mut book_stp(SelfTradePrevention::CancelBoth),
        "
        p1 sell 1 10@1000 day
        p2 sell 2 10@1000 day
        p1 buy 3 15@1000 day
        book
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        accepted 2 p2 sell 10@1000 Day
        accepted 3 p1 buy 15@1000 Day
        cancelled 1 10 left 0 self-trade
        cancelled 3 15 left 0 self-trade
        bids [] asks [1000x10(1)]
        ",
    );
}

#[test]
fn fok_counts_self_trade_prevention() {
    // With CancelIncoming the own order at the front stops the FOK: not fillable, no effect.
    check(
        &mut book_stp(SelfTradePrevention::CancelIncoming),
        "
        p1 sell 1 10@1000 day
        p2 sell 2 10@1000 day
        p1 buy 3 10@1000 fok
        book
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        accepted 2 p2 sell 10@1000 Day
        rejected 3 FokNotFillable
        bids [] asks [1000x20(2)]
        ",
    );
}

#[test]
fn cancel_and_expiry_at_close() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 buy 1 10@998 day
        p1 buy 2 10@999 day
        p2 sell 3 7@1003 day
        p2 sell 4 7@1002 day
        p1 cancel 1
        p2 cancel 1
        p1 cancel 3
        expire
        book
        ",
        "
        accepted 1 p1 buy 10@998 Day
        accepted 2 p1 buy 10@999 Day
        accepted 3 p2 sell 7@1003 Day
        accepted 4 p2 sell 7@1002 Day
        cancelled 1 10 left 0 requested
        rejected 1 UnknownOrder
        rejected 3 NotOwner
        expired 2 10@999
        expired 4 7@1002
        expired 3 7@1003
        bids [] asks []
        ",
    );
}

#[test]
fn rejections_are_enumerated_and_change_nothing() {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.tick = 5;
    c.price_band = Some((900, 1100));
    c.qty_max = Some(99_999);
    check(
        &mut OrderBook::new(c),
        "
        p1 buy 1 10@1000 day
        p1 buy 1 10@1000 day
        p1 buy 2 0@1000 day
        p1 buy 3 10@1001 day
        p1 buy 4 10@895 day
        p1 buy 5 10@1105 day
        p1 buy 6 10@1100 day
        p1 buy 7 99999@900 day
        p1 buy 8 100000@900 day
        p1 buy 9 10@0 day
        p1 amend 1 10@1003
        p1 amend 1 0@1000
        p1 amend 42 1@1000
        book
        ",
        "
        accepted 1 p1 buy 10@1000 Day
        rejected 1 DuplicateOrderId
        rejected 2 ZeroQuantity
        rejected 3 PriceNotOnTick
        rejected 4 OutsidePriceBand
        rejected 5 OutsidePriceBand
        accepted 6 p1 buy 10@1100 Day
        accepted 7 p1 buy 99999@900 Day
        rejected 8 QuantityOutOfRange
        rejected 9 PriceNotPositive
        rejected 1 PriceNotOnTick
        rejected 1 ZeroQuantity
        rejected 42 UnknownOrder
        bids [1100x10(1) 1000x10(1) 900x99999(1)] asks []
        ",
    );
}

#[test]
fn click_operations_refused_in_continuous_mode() {
    check(
        &mut book(MatchingMode::Continuous),
        "
        p1 sell 1 10@1000 day
        p2 take buy 2 1 5
        ",
        "
        accepted 1 p1 sell 10@1000 Day
        rejected 2 UnsupportedInMode
        ",
    );
}

#[test]
fn replay_operations_by_id() {
    let mut b = book(MatchingMode::Continuous);
    b.add_resting(1, 0, Side::Buy, 1000, 100).unwrap();
    b.add_resting(2, 0, Side::Buy, 1000, 50).unwrap();
    b.add_resting(3, 0, Side::Sell, 1010, 70).unwrap();
    assert!(b.add_resting(3, 0, Side::Sell, 1010, 70).is_err());
    b.reduce(1, 30).unwrap();
    assert_eq!(
        b.best_bid().map(|l| (l.price, l.qty, l.orders)),
        Some((1000, 120, 2))
    );
    b.execute(1, 70).unwrap();
    assert_eq!(b.order(1), None);
    assert_eq!(
        b.execute(2, 51),
        Err(ets_exchange::RejectReason::ExceedsOpenQuantity)
    );
    b.execute(2, 20).unwrap();
    assert_eq!(b.order(2).map(|o| (o.qty, o.filled)), Some((30, 20)));
    b.delete(3).unwrap();
    assert_eq!(b.best_ask(), None);
    assert_eq!(b.delete(3), Err(ets_exchange::RejectReason::UnknownOrder));
    b.check_invariants().unwrap();
}

#[test]
fn far_prices_grow_the_ladder_and_cap_applies() {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.levels_max = 4096;
    let mut b = OrderBook::new(c);
    let mut ev = Vec::new();
    b.add_resting(1, 0, Side::Sell, 10_000, 1).unwrap();
    b.add_resting(2, 0, Side::Sell, 12_000, 1).unwrap();
    b.add_resting(3, 0, Side::Sell, 8_500, 1).unwrap();
    assert_eq!(
        b.add_resting(4, 0, Side::Sell, 20_000, 1),
        Err(ets_exchange::RejectReason::PriceOutOfRange)
    );
    assert_eq!(b.best_ask().map(|l| l.price), Some(8_500));
    b.check_invariants().unwrap();
    // An empty side re-centres anywhere.
    b.expire_all(&mut ev);
    b.add_resting(5, 0, Side::Sell, 900_000, 1).unwrap();
    assert_eq!(b.best_ask().map(|l| l.price), Some(900_000));
    b.check_invariants().unwrap();
}
