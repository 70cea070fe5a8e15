//! Delivery versus payment by example: hand-computed figures, price improvement, partial fills,
//! and every way a leg can fail leaving all three ledgers exactly as they were.

use ets_clearing::*;
use ets_registry::{AccountStatus, Rejection, TxKind};

use crate::{BUYER, CEA, SELLER, World};

#[test]
fn settle_moves_units_and_money_with_fees() {
    let mut w = World::new();
    // Buy 100 t at up to 43.00 CNY: 430 000 fen + 1 290 fen buyer fee frozen.
    w.orders(100, 4_300);
    assert_eq!(
        (w.funds.available(BUYER), w.funds.frozen(BUYER)),
        (568_710, 431_290)
    );

    // Filled at 42.50 CNY: value 425 000 fen; buyer fee 0.30 % = 1 275 fen; seller fee
    // 0.25 % = 1 062.5, rounded half up to 1 063 fen; the fill reserved 431 290 fen and cost
    // 426 275 fen, so 5 015 fen of price improvement go back to the buyer.
    let s = w.settle(w.trade(1, 100, 4_250, 4_300)).unwrap();
    assert_eq!(
        (
            s.value_fen,
            s.buyer_fee_fen,
            s.seller_fee_fen,
            s.released_fen
        ),
        (425_000, 1_275, 1_063, 5_015)
    );
    assert_eq!(
        (w.funds.available(BUYER), w.funds.frozen(BUYER)),
        (573_725, 0)
    );
    assert_eq!(
        (w.funds.available(SELLER), w.funds.frozen(SELLER)),
        (423_937, 0)
    );
    assert_eq!(w.funds.available(FEE_ACCOUNT), 2_338);
    assert_eq!(w.funds.order_freeze(OrderRef(1)), None);

    assert_eq!(
        (
            w.registry.holding(w.seller_account, CEA),
            w.registry.holding(w.buyer_account, CEA)
        ),
        (500, 100)
    );
    assert_eq!(w.units.order_freeze(OrderRef(2)), None);
    assert_eq!(w.units.bought_today(w.buyer_account, CEA), 100);

    // The registry transaction names the trade and carries its date and idempotency key.
    let tx = w.registry.transaction(s.registry_seq).unwrap();
    assert_eq!(
        (tx.kind, tx.quantity, tx.from, tx.to),
        (
            TxKind::Transfer,
            100,
            Some(w.seller_account),
            w.buyer_account
        )
    );
    assert_eq!(tx.request.initiator, "exchange");
    assert_eq!(tx.request.key.as_deref(), Some("trade-1"));
    assert_eq!(tx.request.reason, "settlement of exchange trade 1");
    assert_eq!(tx.request.date, crate::day());

    // The settlement's entries are exactly what the ledgers recorded last.
    let funds_tail = &w.funds.entries()[w.funds.entries().len() - 2..];
    assert_eq!(s.funds_entries, funds_tail);
    assert_eq!(s.unit_entries, &w.units.entries()[1..]);
    w.check();
}

#[test]
fn partial_fills_consume_the_freeze_exactly() {
    let mut w = World::new();
    w.orders(100, 4_300); // 431 290 fen frozen
    // 60 t at the limit: costs 258 000 + 774 = what it reserved; nothing released.
    let s1 = w.settle(w.trade(1, 60, 4_300, 4_300)).unwrap();
    assert_eq!(s1.released_fen, 0);
    assert_eq!(
        w.funds.order_freeze(OrderRef(1)).map(|f| f.fen),
        Some(172_516)
    );
    assert_eq!(
        w.units.order_freeze(OrderRef(2)).map(|f| f.quantity),
        Some(40)
    );
    // 40 t at 42.50: costs 170 000 + 510; reserved 172 000 + 516; releases 2 006.
    let s2 = w.settle(w.trade(2, 40, 4_250, 4_300)).unwrap();
    assert_eq!(s2.released_fen, 2_006);
    assert_eq!(w.funds.order_freeze(OrderRef(1)), None);
    assert_eq!(w.funds.frozen(BUYER), 0);
    assert_eq!(w.funds.available(BUYER), 1_000_000 - 258_774 - 170_510);
    w.check();
}

#[test]
fn a_failing_leg_leaves_every_ledger_unchanged() {
    // Each case breaks one thing after the orders are in place, then settles 100 t at 42.50.
    type Setup = fn(&mut World) -> Trade;
    type Expected = fn(&SettlementError) -> bool;
    let cases: Vec<(&str, Setup, Expected)> = vec![
        (
            "buyer's freeze short (funds leg fails after the registry leg checked fine)",
            |w| {
                w.funds.release(BUYER, OrderRef(1), 10_000).unwrap();
                w.trade(1, 100, 4_250, 4_300)
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Funds {
                        source: FundsRejection::ExceedsFreeze { .. },
                        ..
                    }
                )
            },
        ),
        (
            "seller's registry account frozen",
            |w| {
                w.registry
                    .set_status(w.seller_account, AccountStatus::Frozen)
                    .unwrap();
                w.trade(1, 100, 4_250, 4_300)
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Registry {
                        source: Rejection::AccountFrozen { .. },
                        ..
                    }
                )
            },
        ),
        (
            "buyer's registry account frozen",
            |w| {
                w.registry
                    .set_status(w.buyer_account, AccountStatus::Frozen)
                    .unwrap();
                w.trade(1, 100, 4_250, 4_300)
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Registry {
                        source: Rejection::AccountFrozen { .. },
                        ..
                    }
                )
            },
        ),
        (
            "more than the seller's unit freeze",
            |w| {
                w.units.release(OrderRef(2), w.seller_account, 1).unwrap();
                w.trade(1, 100, 4_250, 4_300)
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Units {
                        source: UnitRejection::ExceedsFreeze { .. },
                        ..
                    }
                )
            },
        ),
        (
            "the sell order belongs to another account",
            |w| {
                let mut t = w.trade(1, 100, 4_250, 4_300);
                t.seller_account = w.buyer_account;
                t
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Units {
                        source: UnitRejection::OrderMismatch { .. },
                        ..
                    }
                )
            },
        ),
        (
            "the buy order belongs to another participant",
            |w| {
                let mut t = w.trade(1, 100, 4_250, 4_300);
                t.buyer = ParticipantId(3);
                w.funds.open(t.buyer).unwrap();
                t
            },
            |e| {
                matches!(
                    e,
                    SettlementError::Funds {
                        source: FundsRejection::NotOrderOwner { .. },
                        ..
                    }
                )
            },
        ),
        (
            "price above the buy order's limit",
            |w| w.trade(1, 100, 4_301, 4_300),
            |e| matches!(e, SettlementError::PriceAboveLimit { .. }),
        ),
        (
            "seller and buyer the same participant",
            |w| {
                let mut t = w.trade(1, 100, 4_250, 4_300);
                t.seller = BUYER;
                t
            },
            |e| matches!(e, SettlementError::SelfTrade { .. }),
        ),
        (
            "zero quantity",
            |w| w.trade(1, 0, 4_250, 4_300),
            |e| matches!(e, SettlementError::ZeroQuantity { .. }),
        ),
        (
            "zero price",
            |w| w.trade(1, 100, 0, 4_300),
            |e| matches!(e, SettlementError::ZeroPrice { .. }),
        ),
    ];
    for (what, setup, expected) in cases {
        let mut w = World::new();
        w.orders(100, 4_300);
        let trade = setup(&mut w);
        let before = w.snapshot();
        let err = w.settle(trade).expect_err(what);
        assert!(expected(&err), "{what}: got {err:?}");
        assert_eq!(err.trade(), TradeId(1));
        assert!(w.snapshot() == before, "{what}: a ledger changed");
        w.check();
    }
}

#[test]
fn a_settled_trade_does_not_settle_twice() {
    let mut w = World::new();
    w.orders(100, 4_300);
    let s = w.settle(w.trade(1, 50, 4_300, 4_300)).unwrap();
    let before = w.snapshot();
    let err = w.settle(w.trade(1, 50, 4_300, 4_300)).unwrap_err();
    assert_eq!(
        err,
        SettlementError::AlreadySettled {
            trade: TradeId(1),
            seq: s.registry_seq
        }
    );
    assert!(w.snapshot() == before);
}

#[test]
fn bought_units_cannot_be_resold_the_same_day() {
    // The buyer receives 100 t and tries to sell them on at once: the freeze is refused, so no
    // sell order (and no trade) can exist; the next day it goes through.
    let mut w = World::new();
    w.orders(100, 4_300);
    w.settle(w.trade(1, 100, 4_300, 4_300)).unwrap();
    let b = w.buyer_account;
    assert!(matches!(
        w.units.freeze(&w.registry, OrderRef(3), b, CEA, 100),
        Err(UnitRejection::ExceedsTradable { tradable: 0, .. })
    ));
    w.units.end_of_day();
    w.units
        .freeze(&w.registry, OrderRef(3), b, CEA, 100)
        .unwrap();
    w.check();
}
