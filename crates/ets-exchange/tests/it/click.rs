//! Listed agreement click-to-trade: orders only rest; a taker picks one listed order within
//! the other side's best five price levels, fully or in part, at that order's price.

use ets_exchange::{MatchingMode, Side};

use crate::script::{book, check};

const SIX_ASK_LEVELS: &str = "
    p1 sell 1 10@1001 day
    p1 sell 2 10@1002 day
    p2 sell 3 20@1002 day
    p1 sell 4 10@1003 day
    p1 sell 5 10@1004 day
    p1 sell 6 10@1005 day
    p1 sell 7 10@1006 day
";

#[test]
fn five_level_view_and_crossing_orders_do_not_match() {
    let mut b = book(MatchingMode::ClickToTrade);
    crate::script::run(&mut b, SIX_ASK_LEVELS);
    // A bid above the best ask is listed, not matched.
    check(
        &mut b,
        "
        p3 buy 8 5@1010 day
        book
        ",
        "
        accepted 8 p3 buy 5@1010 Day
        bids [1010x5(1)] asks [1001x10(1) 1002x30(2) 1003x10(1) 1004x10(1) 1005x10(1)]
        ",
    );
    let five = b.depth(Side::Sell, 5);
    assert_eq!(five.len(), 5);
    assert_eq!(five[1].orders, 2);
    let at_1002: Vec<u64> = b
        .level_orders(Side::Sell, 1002)
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(at_1002, vec![2, 3]);
}

#[test]
fn taker_picks_any_order_within_five_levels_at_its_price() {
    let mut b = book(MatchingMode::ClickToTrade);
    crate::script::run(&mut b, SIX_ASK_LEVELS);
    check(
        &mut b,
        "
        p3 take buy 100 3 15
        p3 take buy 101 5 10
        p3 take buy 102 7 10
        p3 take buy 103 2 11
        p3 take sell 104 1 1
        p1 take buy 105 1 1
        p3 take buy 106 1 0
        p3 take buy 107 99 1
        book
        ",
        "
        fill maker 3 (p2) taker 100 (p3) 15@1002 aggressor buy maker left 5
        fill maker 5 (p1) taker 101 (p3) 10@1004 aggressor buy maker left 0
        fill maker 7 (p1) taker 102 (p3) 10@1006 aggressor buy maker left 0
        rejected 103 ExceedsOpenQuantity
        rejected 104 WrongSide
        rejected 105 SelfTrade
        rejected 106 ZeroQuantity
        rejected 107 UnknownOrder
        bids [] asks [1001x10(1) 1002x15(2) 1003x10(1) 1005x10(1)]
        ",
    );
}

#[test]
fn sixth_level_cannot_be_taken() {
    let mut b = book(MatchingMode::ClickToTrade);
    crate::script::run(&mut b, SIX_ASK_LEVELS);
    check(
        &mut b,
        "
        p3 take buy 100 7 1
        p3 take buy 101 1 10
        p3 take buy 102 7 1
        ",
        "
        rejected 100 NotWithinBestLevels
        fill maker 1 (p1) taker 101 (p3) 10@1001 aggressor buy maker left 0
        fill maker 7 (p1) taker 102 (p3) 1@1006 aggressor buy maker left 9
        ",
    );
}

#[test]
fn ioc_and_fok_are_refused_and_amend_relists() {
    check(
        &mut book(MatchingMode::ClickToTrade),
        "
        p1 buy 1 10@1000 ioc
        p1 buy 2 10@1000 fok
        p1 buy 3 10@1000 day
        p2 sell 4 10@990 day
        p1 amend 3 10@995
        book
        expire
        ",
        "
        rejected 1 UnsupportedInMode
        rejected 2 UnsupportedInMode
        accepted 3 p1 buy 10@1000 Day
        accepted 4 p2 sell 10@990 Day
        amended 3 10@1000 -> 10@995 loses priority
        bids [995x10(1)] asks [990x10(1)]
        expired 3 10@995
        expired 4 10@990
        ",
    );
}
