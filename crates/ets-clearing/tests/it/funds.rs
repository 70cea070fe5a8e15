//! The funds ledger by example: balances, freezes per order, payments, rejections, replay.

use ets_clearing::*;

const A: ParticipantId = ParticipantId(1);
const B: ParticipantId = ParticipantId(2);

fn ledger() -> Funds {
    let mut f = Funds::new();
    f.open(A).unwrap();
    f.open(B).unwrap();
    f.deposit(A, 10_000).unwrap();
    f
}

fn balance(f: &Funds, p: ParticipantId) -> (Fen, Fen) {
    (f.available(p), f.frozen(p))
}

#[test]
fn deposit_freeze_release_pay_withdraw() {
    let mut f = ledger();
    f.freeze(A, 3_000, OrderRef(7)).unwrap();
    f.freeze(A, 2_000, OrderRef(8)).unwrap();
    assert_eq!(balance(&f, A), (5_000, 5_000));
    f.release(A, OrderRef(8), 500).unwrap();
    assert_eq!(balance(&f, A), (5_500, 4_500));
    assert_eq!(
        f.order_freeze(OrderRef(8)),
        Some(MoneyFreeze {
            participant: A,
            fen: 1_500
        })
    );

    // Order 7 pays 2 000 fen to B, with fees of 10 fen (buyer) and 20 fen (seller).
    f.settle_payment(A, B, OrderRef(7), 2_000, 10, 20).unwrap();
    assert_eq!(balance(&f, A), (5_500, 2_490));
    assert_eq!(balance(&f, B), (1_980, 0));
    assert_eq!(balance(&f, FEE_ACCOUNT), (30, 0));
    assert_eq!(
        f.order_freeze(OrderRef(7)),
        Some(MoneyFreeze {
            participant: A,
            fen: 990
        })
    );

    // Releasing the rest of a freeze removes it.
    f.release(A, OrderRef(7), 990).unwrap();
    assert_eq!(f.order_freeze(OrderRef(7)), None);
    f.withdraw(B, 1_980).unwrap();
    f.withdraw(FEE_ACCOUNT, 30).unwrap();

    let report = f.check_invariants().unwrap();
    assert_eq!(
        (report.deposited_fen, report.withdrawn_fen, report.total_fen),
        (10_000, 2_010, 7_990)
    );
    assert_eq!(report.open_freezes, 1);
    let seqs: Vec<u64> = f.entries().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
}

#[test]
fn rejections_change_nothing() {
    let mut f = ledger();
    f.freeze(A, 1_000, OrderRef(1)).unwrap();
    let before = f.clone();
    let cases: Vec<(FundsOp, FundsRejection)> = vec![
        (
            FundsOp::Open { participant: A },
            FundsRejection::AccountExists { participant: A },
        ),
        (
            FundsOp::Open {
                participant: FEE_ACCOUNT,
            },
            FundsRejection::AccountExists {
                participant: FEE_ACCOUNT,
            },
        ),
        (
            FundsOp::Deposit {
                participant: A,
                fen: 0,
            },
            FundsRejection::ZeroAmount {
                op: "deposit".into(),
            },
        ),
        (
            FundsOp::Deposit {
                participant: ParticipantId(9),
                fen: 1,
            },
            FundsRejection::UnknownParticipant {
                participant: ParticipantId(9),
            },
        ),
        (
            FundsOp::Deposit {
                participant: A,
                fen: u64::MAX,
            },
            FundsRejection::Overflow {
                op: "deposit".into(),
            },
        ),
        (
            FundsOp::Withdraw {
                participant: A,
                fen: 9_001,
            },
            FundsRejection::InsufficientAvailable {
                participant: A,
                available: 9_000,
                requested: 9_001,
            },
        ),
        (
            FundsOp::Freeze {
                participant: A,
                order: OrderRef(2),
                fen: 9_001,
            },
            FundsRejection::InsufficientAvailable {
                participant: A,
                available: 9_000,
                requested: 9_001,
            },
        ),
        (
            FundsOp::Freeze {
                participant: A,
                order: OrderRef(1),
                fen: 1,
            },
            FundsRejection::OrderExists { order: OrderRef(1) },
        ),
        (
            FundsOp::Freeze {
                participant: FEE_ACCOUNT,
                order: OrderRef(2),
                fen: 1,
            },
            FundsRejection::FeeAccountNotTrading {
                op: "freeze funds for an order".into(),
            },
        ),
        (
            FundsOp::Release {
                participant: A,
                order: OrderRef(2),
                fen: 1,
            },
            FundsRejection::UnknownOrder { order: OrderRef(2) },
        ),
        (
            FundsOp::Release {
                participant: B,
                order: OrderRef(1),
                fen: 1,
            },
            FundsRejection::NotOrderOwner {
                order: OrderRef(1),
                owner: A,
                participant: B,
            },
        ),
        (
            FundsOp::Release {
                participant: A,
                order: OrderRef(1),
                fen: 1_001,
            },
            FundsRejection::ExceedsFreeze {
                order: OrderRef(1),
                frozen: 1_000,
                requested: 1_001,
            },
        ),
        (
            FundsOp::SettlePayment {
                buyer: A,
                seller: B,
                order: OrderRef(1),
                amount_fen: 990,
                buyer_fee_fen: 11,
                seller_fee_fen: 0,
            },
            FundsRejection::ExceedsFreeze {
                order: OrderRef(1),
                frozen: 1_000,
                requested: 1_001,
            },
        ),
        (
            FundsOp::SettlePayment {
                buyer: A,
                seller: B,
                order: OrderRef(1),
                amount_fen: 10,
                buyer_fee_fen: 0,
                seller_fee_fen: 11,
            },
            FundsRejection::FeeExceedsProceeds {
                amount: 10,
                seller_fee: 11,
            },
        ),
        (
            FundsOp::SettlePayment {
                buyer: A,
                seller: A,
                order: OrderRef(1),
                amount_fen: 10,
                buyer_fee_fen: 0,
                seller_fee_fen: 0,
            },
            FundsRejection::SelfTrade { participant: A },
        ),
        (
            FundsOp::SettlePayment {
                buyer: A,
                seller: FEE_ACCOUNT,
                order: OrderRef(1),
                amount_fen: 10,
                buyer_fee_fen: 0,
                seller_fee_fen: 0,
            },
            FundsRejection::FeeAccountNotTrading {
                op: "buy or sell".into(),
            },
        ),
        (
            FundsOp::SettlePayment {
                buyer: B,
                seller: A,
                order: OrderRef(1),
                amount_fen: 10,
                buyer_fee_fen: 0,
                seller_fee_fen: 0,
            },
            FundsRejection::NotOrderOwner {
                order: OrderRef(1),
                owner: A,
                participant: B,
            },
        ),
        (
            FundsOp::SettlePayment {
                buyer: A,
                seller: B,
                order: OrderRef(1),
                amount_fen: 0,
                buyer_fee_fen: 0,
                seller_fee_fen: 0,
            },
            FundsRejection::ZeroAmount {
                op: "payment".into(),
            },
        ),
    ];
    for (op, expected) in cases {
        assert_eq!(f.check(&op), Err(expected.clone()), "check {op:?}");
        assert_eq!(f.apply(op.clone()), Err(expected), "apply {op:?}");
        assert!(f == before, "{op:?} changed the ledger");
    }
}

#[test]
fn entries_replay_to_the_same_ledger() {
    let mut f = ledger();
    f.freeze(A, 4_000, OrderRef(1)).unwrap();
    f.settle_payment(A, B, OrderRef(1), 3_000, 9, 8).unwrap();
    f.release(A, OrderRef(1), 991).unwrap();
    f.withdraw(B, 100).unwrap();
    assert_eq!(Funds::replay(f.entries()), Ok(f.clone()));

    let mut gap = f.entries().to_vec();
    gap.remove(2);
    assert_eq!(
        Funds::replay(&gap),
        Err(FundsReplayError::OutOfSequence {
            expected: 3,
            found: 4
        })
    );
}
