//! Unit freezes by example: tradable = holding − frozen − bought today; T+1 roll-off.

use ets_clearing::*;
use ets_registry::Registry;

use crate::{CEA, World};

#[test]
fn tradable_excludes_frozen_and_bought_today() {
    let mut w = World::new();
    let (s, r) = (w.seller_account, &w.registry);
    assert_eq!(w.units.tradable_in(r, s, CEA), 600);
    w.units.freeze(r, OrderRef(1), s, CEA, 250).unwrap();
    w.units.freeze(r, OrderRef(2), s, CEA, 50).unwrap();
    assert_eq!(
        (w.units.frozen(s, CEA), w.units.tradable_in(r, s, CEA)),
        (300, 300)
    );

    let err = w.units.freeze(r, OrderRef(3), s, CEA, 301).unwrap_err();
    assert_eq!(
        err,
        UnitRejection::ExceedsTradable {
            account: s,
            class: CEA,
            tradable: 300,
            requested: 301
        }
    );
    w.units.freeze(r, OrderRef(3), s, CEA, 300).unwrap();
    assert_eq!(w.units.tradable_in(r, s, CEA), 0);

    w.units.release(OrderRef(1), s, 100).unwrap();
    assert_eq!(
        w.units.order_freeze(OrderRef(1)),
        Some(UnitFreeze {
            account: s,
            class: CEA,
            quantity: 150
        })
    );
    w.units.release(OrderRef(1), s, 150).unwrap();
    assert_eq!(w.units.order_freeze(OrderRef(1)), None);
    assert_eq!(w.units.tradable_in(r, s, CEA), 250);
    w.units.check_invariants(r).unwrap();
}

#[test]
fn rejections_change_nothing() {
    let mut w = World::new();
    let (s, b) = (w.seller_account, w.buyer_account);
    w.units
        .freeze(&w.registry, OrderRef(1), s, CEA, 10)
        .unwrap();
    let before = w.units.clone();
    let other = ets_types::UnitClass::Cea { vintage: 2019 };
    let cases: Vec<(UnitOp, UnitRejection)> = vec![
        (
            UnitOp::Freeze {
                order: OrderRef(2),
                account: s,
                class: CEA,
                quantity: 0,
            },
            UnitRejection::ZeroQuantity {
                op: "unit freeze".into(),
            },
        ),
        (
            UnitOp::Freeze {
                order: OrderRef(1),
                account: s,
                class: CEA,
                quantity: 1,
            },
            UnitRejection::OrderExists { order: OrderRef(1) },
        ),
        (
            UnitOp::Freeze {
                order: OrderRef(2),
                account: b,
                class: CEA,
                quantity: 1,
            },
            UnitRejection::ExceedsTradable {
                account: b,
                class: CEA,
                tradable: 0,
                requested: 1,
            },
        ),
        (
            UnitOp::Release {
                order: OrderRef(9),
                account: s,
                quantity: 1,
            },
            UnitRejection::UnknownOrder { order: OrderRef(9) },
        ),
        (
            UnitOp::Release {
                order: OrderRef(1),
                account: b,
                quantity: 1,
            },
            UnitRejection::OrderMismatch {
                order: OrderRef(1),
                owner: s,
                class: CEA,
                account: b,
                requested_class: CEA,
            },
        ),
        (
            UnitOp::Release {
                order: OrderRef(1),
                account: s,
                quantity: 11,
            },
            UnitRejection::ExceedsFreeze {
                order: OrderRef(1),
                frozen: 10,
                requested: 11,
            },
        ),
        (
            UnitOp::Consume {
                order: OrderRef(1),
                account: s,
                class: other,
                quantity: 1,
            },
            UnitRejection::OrderMismatch {
                order: OrderRef(1),
                owner: s,
                class: CEA,
                account: s,
                requested_class: other,
            },
        ),
        (
            UnitOp::Bought {
                account: b,
                class: CEA,
                quantity: 0,
            },
            UnitRejection::ZeroQuantity {
                op: "purchase".into(),
            },
        ),
    ];
    for (op, expected) in cases {
        assert_eq!(
            w.units.check(&w.registry, &op),
            Err(expected.clone()),
            "check {op:?}"
        );
        assert_eq!(
            w.units.apply(&w.registry, op.clone()),
            Err(expected),
            "apply {op:?}"
        );
        assert!(w.units == before, "{op:?} changed the freezes");
    }
}

#[test]
fn units_bought_today_are_tradable_tomorrow() {
    let mut w = World::new();
    w.orders(100, 4_300);
    w.settle(w.trade(1, 100, 4_300, 4_300)).unwrap();
    let (b, r) = (w.buyer_account, &w.registry);
    assert_eq!(
        (
            r.holding(b, CEA),
            w.units.bought_today(b, CEA),
            w.units.tradable_in(r, b, CEA)
        ),
        (100, 100, 0)
    );
    let err = w.units.freeze(r, OrderRef(5), b, CEA, 1).unwrap_err();
    assert_eq!(
        err,
        UnitRejection::ExceedsTradable {
            account: b,
            class: CEA,
            tradable: 0,
            requested: 1
        }
    );

    let entry = w.units.end_of_day();
    assert_eq!(entry.op, UnitOp::EndOfDay);
    assert_eq!(w.units.tradable_in(&w.registry, b, CEA), 100);
    w.units
        .freeze(&w.registry, OrderRef(5), b, CEA, 100)
        .unwrap();
    w.check();
}

#[test]
fn saturates_when_units_bought_today_leave_by_another_route() {
    // A surrender may use units bought today; what remains tradable is then 0, not negative.
    let mut w = World::new();
    w.orders(100, 4_300);
    w.settle(w.trade(1, 100, 4_300, 4_300)).unwrap();
    let b = w.buyer_account;
    let purpose = ets_registry::SurrenderFor {
        company: "buyer".into(),
        cycle: "2021".into(),
    };
    w.registry
        .execute(crate::admin(ets_registry::Op::Surrender {
            class: CEA,
            quantity: 60,
            from: b,
            purpose,
        }))
        .unwrap();
    assert_eq!(w.units.tradable(b, CEA, w.registry.holding(b, CEA)), 0);
    w.check();
    // A freeze beyond the registry holding is a broken state that the invariants catch.
    w.units
        .freeze(&w.registry, OrderRef(9), w.seller_account, CEA, 10)
        .unwrap();
    let empty = Registry::new(crate::day());
    assert!(matches!(
        w.units.check_invariants(&empty),
        Err(UnitsViolation::FrozenBeyondHolding { .. })
    ));
}
