//! Settlement timing: immediate, or queued in trade order and settled at the end of the day,
//! each trade atomic on its own.

use ets_clearing::*;

use crate::{FEES, World};

#[test]
fn immediate_mode_settles_on_submit() {
    let mut w = World::new();
    w.orders(100, 4_300);
    let mut c = Clearing::new(SettlementMode::Immediate, FEES, 10).unwrap();
    let t = w.trade(1, 100, 4_250, 4_300);
    let done = c
        .submit(t, &mut w.registry, &mut w.funds, &mut w.units)
        .unwrap();
    assert!(matches!(
        done,
        Submitted::Settled(Settlement {
            released_fen: 5_015,
            ..
        })
    ));
    assert!(c.pending().is_empty());
    // A failure comes back at once and moves nothing.
    let before = w.snapshot();
    let err = c
        .submit(
            w.trade(2, 1, 4_250, 4_300),
            &mut w.registry,
            &mut w.funds,
            &mut w.units,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        SubmitError::Settlement(SettlementError::Units { .. })
    ));
    assert!(w.snapshot() == before);
}

#[test]
fn end_of_day_settles_in_trade_order_and_reports_failures() {
    // Orders for 100 t on each side; trades of 30 t, 80 t and 70 t. The second exceeds what is
    // left of the sell order's freeze after the first, so it fails; the third settles.
    let mut w = World::new();
    w.orders(100, 4_300);
    let trades = [
        w.trade(1, 30, 4_300, 4_300),
        w.trade(2, 80, 4_250, 4_300),
        w.trade(3, 70, 4_250, 4_300),
    ];

    // The expected end state: trades 1 and 3 settled directly, then the day rolled off.
    let mut expected = World::new();
    expected.orders(100, 4_300);
    expected.settle(trades[0]).unwrap();
    expected.settle(trades[2]).unwrap();
    expected.units.end_of_day();

    let mut c = Clearing::new(SettlementMode::EndOfDay, FEES, 10).unwrap();
    let before = w.snapshot();
    for t in trades {
        assert_eq!(
            c.submit(t, &mut w.registry, &mut w.funds, &mut w.units)
                .unwrap(),
            Submitted::Queued
        );
    }
    assert!(
        w.snapshot() == before,
        "nothing settles before the end of the day"
    );
    assert_eq!(c.pending().len(), 3);

    let report = c.end_of_day(&mut w.registry, &mut w.funds, &mut w.units);
    let settled: Vec<TradeId> = report.settled.iter().map(|s| s.trade).collect();
    assert_eq!(settled, [TradeId(1), TradeId(3)]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].trade, trades[1]);
    assert!(matches!(
        report.failed[0].error,
        SettlementError::Units {
            source: UnitRejection::ExceedsFreeze {
                frozen: 70,
                requested: 80,
                ..
            },
            ..
        }
    ));
    assert_eq!(report.roll_off.op, UnitOp::EndOfDay);
    assert!(c.pending().is_empty());

    assert!(
        w.snapshot() == expected.snapshot(),
        "the failed trade moved nothing, the others settled"
    );
    w.check();
    // Purchases settled tonight are tradable tomorrow.
    assert_eq!(
        w.units
            .tradable_in(&w.registry, w.buyer_account, crate::CEA),
        100
    );
}

#[test]
fn the_queue_keeps_trade_order_and_its_limit() {
    let w = World::new();
    let mut q = PendingSettlements::new(2);
    q.push(w.trade(5, 1, 1, 1)).unwrap();
    assert_eq!(
        q.push(w.trade(5, 1, 1, 1)),
        Err(QueueRejection::OutOfOrder {
            trade: TradeId(5),
            last: TradeId(5)
        })
    );
    assert_eq!(
        q.push(w.trade(4, 1, 1, 1)),
        Err(QueueRejection::OutOfOrder {
            trade: TradeId(4),
            last: TradeId(5)
        })
    );
    assert!(matches!(
        q.push(w.trade(6, 1, 2, 1)),
        Err(QueueRejection::Invalid {
            source: SettlementError::PriceAboveLimit { .. },
            ..
        })
    ));
    q.push(w.trade(6, 1, 1, 1)).unwrap();
    assert_eq!(
        q.push(w.trade(7, 1, 1, 1)),
        Err(QueueRejection::Full { trades_max: 2 })
    );
    let ids: Vec<TradeId> = q.trades().map(|t| t.id).collect();
    assert_eq!(ids, [TradeId(5), TradeId(6)]);
}
