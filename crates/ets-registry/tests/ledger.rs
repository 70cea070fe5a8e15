//! Ledger behaviour: rules by example, and random operation sequences against a reference model.
//!
//! The reference model is deliberately naive: a map of (account, class) to a quantity. After every
//! step the real registry must agree with it on the outcome (accepted or which rejection kind) and
//! on every holding, and must pass `check_invariants` (conservation, serial tiling, sequencing).

use std::collections::BTreeMap;

use ets_registry::*;
use ets_types::{AccountId, Date, UnitClass};
use proptest::prelude::*;

fn day() -> Date {
    Date::new(2021, 1, 1).unwrap()
}

fn req(op: Op) -> Request {
    Request {
        op,
        date: day(),
        initiator: "test".into(),
        reason: "test".into(),
        key: None,
    }
}

const CEA19: UnitClass = UnitClass::Cea { vintage: 2019 };
const CEA20: UnitClass = UnitClass::Cea { vintage: 2020 };

fn setup() -> (Registry, AccountId, AccountId) {
    let mut r = Registry::new(day());
    let a = r.open_account(AccountKind::CompanyHolding, "A", day());
    let b = r.open_account(AccountKind::CompanyHolding, "B", day());
    (r, a, b)
}

#[test]
fn issue_allocate_transfer_surrender_trace_one_tonne() {
    let (mut r, a, b) = setup();
    r.execute(req(Op::Issue {
        class: CEA19,
        quantity: 1000,
        to: NATIONAL_QUOTA,
    }))
    .unwrap();
    r.execute(req(Op::Allocate {
        class: CEA19,
        quantity: 600,
        from: NATIONAL_QUOTA,
        to: a,
    }))
    .unwrap();
    r.execute(req(Op::Transfer {
        class: CEA19,
        quantity: 250,
        from: a,
        to: b,
    }))
    .unwrap();
    let purpose = SurrenderFor {
        company: "B".into(),
        cycle: "c1".into(),
    };
    r.execute(req(Op::Surrender {
        class: CEA19,
        quantity: 100,
        from: b,
        purpose,
    }))
    .unwrap();
    assert_eq!(r.holding(a, CEA19), 350);
    assert_eq!(r.holding(b, CEA19), 150);
    assert_eq!(r.holding(NATIONAL_SURRENDER, CEA19), 100);
    assert_eq!(r.holding(NATIONAL_QUOTA, CEA19), 400);
    // Serial 1 went 1 -> quota -> A -> B -> surrender.
    let kinds: Vec<_> = r.trace(CEA19, 1).iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [
            TxKind::Issue,
            TxKind::Allocate,
            TxKind::Transfer,
            TxKind::Surrender
        ]
    );
    assert_eq!(
        r.blocks(b, CEA19),
        [Block {
            start: 101,
            end: 250
        }]
    );
    assert_eq!(
        r.blocks(a, CEA19),
        [Block {
            start: 251,
            end: 600
        }]
    );
    let report = r.check_invariants().unwrap();
    assert_eq!((report.issued_t, report.surrendered_t), (1000, 100));
}

#[test]
fn rejections_move_nothing() {
    let (mut r, a, b) = setup();
    r.execute(req(Op::Issue {
        class: CEA19,
        quantity: 10,
        to: NATIONAL_QUOTA,
    }))
    .unwrap();
    r.execute(req(Op::Allocate {
        class: CEA19,
        quantity: 10,
        from: NATIONAL_QUOTA,
        to: a,
    }))
    .unwrap();
    let before = r.clone();
    let cases = [
        (
            Op::Transfer {
                class: CEA19,
                quantity: 11,
                from: a,
                to: b,
            },
            "insufficient",
        ),
        (
            Op::Transfer {
                class: CEA20,
                quantity: 1,
                from: a,
                to: b,
            },
            "insufficient",
        ),
        (
            Op::Transfer {
                class: CEA19,
                quantity: 0,
                from: a,
                to: b,
            },
            "zero",
        ),
        (
            Op::Transfer {
                class: CEA19,
                quantity: 1,
                from: a,
                to: a,
            },
            "same",
        ),
        (
            Op::Transfer {
                class: CEA19,
                quantity: 1,
                from: a,
                to: AccountId(99),
            },
            "unknown",
        ),
        (
            Op::Transfer {
                class: CEA19,
                quantity: 1,
                from: a,
                to: NATIONAL_SURRENDER,
            },
            "kind",
        ),
        (
            Op::Issue {
                class: CEA19,
                quantity: 5,
                to: a,
            },
            "kind",
        ),
        (
            Op::Issue {
                class: UnitClass::Ccer {
                    project: 1,
                    vintage: 2018,
                },
                quantity: 5,
                to: NATIONAL_QUOTA,
            },
            "kind",
        ),
        (
            Op::Allocate {
                class: CEA19,
                quantity: 1,
                from: a,
                to: b,
            },
            "kind",
        ),
        (
            Op::Correct {
                original: 1,
                quantity: 1,
            },
            "not correctable",
        ),
        (
            Op::Correct {
                original: 2,
                quantity: 11,
            },
            "exceeds",
        ),
        (
            Op::Correct {
                original: 42,
                quantity: 1,
            },
            "unknown tx",
        ),
    ];
    for (op, what) in cases {
        let e = r.execute(req(op.clone())).expect_err(what);
        let ok = match what {
            "insufficient" => matches!(e, Rejection::InsufficientHoldings { .. }),
            "zero" => e == Rejection::ZeroQuantity,
            "same" => matches!(e, Rejection::SameAccount { .. }),
            "unknown" => matches!(e, Rejection::UnknownAccount { .. }),
            "kind" => matches!(e, Rejection::WrongAccountKind { .. }),
            "not correctable" => matches!(e, Rejection::NotCorrectable { .. }),
            "exceeds" => matches!(e, Rejection::CorrectionExceedsOriginal { .. }),
            "unknown tx" => matches!(e, Rejection::UnknownTransaction { .. }),
            _ => unreachable!(),
        };
        assert!(ok, "{what}: {op:?} gave {e:?}");
        assert_eq!(r, before, "{what}: a rejection changed the registry");
    }
    r.set_status(b, AccountStatus::Frozen).unwrap();
    let e = r
        .execute(req(Op::Transfer {
            class: CEA19,
            quantity: 1,
            from: a,
            to: b,
        }))
        .unwrap_err();
    assert_eq!(e, Rejection::AccountFrozen { account: b });
    assert_eq!(
        r.set_status(a, AccountStatus::Closed),
        Err(Rejection::NotEmpty { account: a })
    );
}

#[test]
fn correction_is_a_counter_transaction() {
    let (mut r, a, _) = setup();
    r.execute(req(Op::Issue {
        class: CEA19,
        quantity: 100,
        to: NATIONAL_QUOTA,
    }))
    .unwrap();
    let alloc = r
        .execute(req(Op::Allocate {
            class: CEA19,
            quantity: 80,
            from: NATIONAL_QUOTA,
            to: a,
        }))
        .unwrap()
        .seq();
    let fix = r
        .execute(req(Op::Correct {
            original: alloc,
            quantity: 30,
        }))
        .unwrap()
        .seq();
    assert_eq!(r.holding(a, CEA19), 50);
    assert_eq!(r.holding(NATIONAL_QUOTA, CEA19), 50);
    assert_eq!(
        r.transaction(alloc).unwrap().quantity,
        80,
        "the original stays as it was"
    );
    assert_eq!(r.transaction(fix).unwrap().kind, TxKind::Correct);
    let e = r
        .execute(req(Op::Correct {
            original: alloc,
            quantity: 51,
        }))
        .unwrap_err();
    assert_eq!(
        e,
        Rejection::CorrectionExceedsOriginal {
            original: alloc,
            remaining: 50,
            requested: 51
        }
    );
    r.check_invariants().unwrap();
}

#[test]
fn idempotency_key_returns_first_result() {
    let (mut r, a, b) = setup();
    r.execute(req(Op::Issue {
        class: CEA19,
        quantity: 100,
        to: NATIONAL_QUOTA,
    }))
    .unwrap();
    r.execute(req(Op::Allocate {
        class: CEA19,
        quantity: 100,
        from: NATIONAL_QUOTA,
        to: a,
    }))
    .unwrap();
    let mut t = req(Op::Transfer {
        class: CEA19,
        quantity: 10,
        from: a,
        to: b,
    });
    t.key = Some("k1".into());
    let first = r.execute(t.clone()).unwrap();
    assert!(matches!(first, Outcome::Done(_)));
    let again = r.execute(t.clone()).unwrap();
    assert_eq!(again, Outcome::Replayed(first.seq()));
    assert_eq!(r.holding(b, CEA19), 10, "a retry moves nothing");
    t.op = Op::Transfer {
        class: CEA19,
        quantity: 11,
        from: a,
        to: b,
    };
    assert!(matches!(
        r.execute(t).unwrap_err(),
        Rejection::KeyReused { .. }
    ));
}

// ---- Random operation sequences against a reference model ----

#[derive(Clone, Debug)]
enum Step {
    Issue(usize, u64),
    Allocate(usize, usize, u64),
    Transfer(usize, usize, usize, u64),
    Surrender(usize, usize, u64),
    Cancel(usize, usize, u64),
    Correct(usize, u64),
    Freeze(usize, bool),
}

const CLASSES: [UnitClass; 3] = [
    UnitClass::Cea { vintage: 2019 },
    UnitClass::Cea { vintage: 2020 },
    UnitClass::Ccer {
        project: 1,
        vintage: 2017,
    },
];

fn step() -> impl Strategy<Value = Step> {
    let q = 0u64..400;
    prop_oneof![
        (0..3usize, q.clone()).prop_map(|(c, q)| Step::Issue(c, q)),
        (0..3usize, 0..5usize, q.clone()).prop_map(|(c, a, q)| Step::Allocate(c, a, q)),
        (0..3usize, 0..6usize, 0..6usize, q.clone())
            .prop_map(|(c, a, b, q)| Step::Transfer(c, a, b, q)),
        (0..3usize, 0..5usize, q.clone()).prop_map(|(c, a, q)| Step::Surrender(c, a, q)),
        (0..3usize, 0..6usize, q.clone()).prop_map(|(c, a, q)| Step::Cancel(c, a, q)),
        (0..40usize, q).prop_map(|(t, q)| Step::Correct(t, q)),
        (0..6usize, any::<bool>()).prop_map(|(a, f)| Step::Freeze(a, f)),
    ]
}

/// The naive model: quantities only, rules restated plainly.
#[derive(Default)]
struct Model {
    held: BTreeMap<(u32, UnitClass), u64>,
    frozen: BTreeMap<u32, bool>,
    allocations: Vec<(u64, u32, UnitClass, u64)>, // (seq, to, class, remaining)
    next_seq: u64,
}

impl Model {
    fn get(&self, a: u32, c: UnitClass) -> u64 {
        self.held.get(&(a, c)).copied().unwrap_or(0)
    }
    fn mv(&mut self, from: u32, to: u32, c: UnitClass, q: u64) -> bool {
        if q == 0
            || from == to
            || self.frozen.get(&from) == Some(&true)
            || self.frozen.get(&to) == Some(&true)
        {
            return false;
        }
        if self.get(from, c) < q {
            return false;
        }
        *self.held.entry((from, c)).or_default() -= q;
        *self.held.entry((to, c)).or_default() += q;
        self.next_seq += 1;
        true
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    #[test]
    fn registry_agrees_with_reference_model(steps in proptest::collection::vec(step(), 1..120)) {
        let mut r = Registry::new(day());
        let companies: Vec<AccountId> = (0..4).map(|i| r.open_account(AccountKind::CompanyHolding, &format!("C{i}"), day())).collect();
        let project = r.open_account(AccountKind::OffsetProject, "P1", day());
        let trader = r.open_account(AccountKind::GeneralHolding, "T", day());
        // holders: 4 companies, the project, a trader
        let holders: Vec<AccountId> = companies.iter().copied().chain([project, trader]).collect();
        let mut m = Model { next_seq: 1, ..Model::default() };
        for s in steps {
            let (op, expect_ok) = match s {
                Step::Issue(c, q) => {
                    let class = CLASSES[c];
                    let to = if class.is_offset() { project } else { NATIONAL_QUOTA };
                    let ok = q > 0 && m.frozen.get(&to.0) != Some(&true);
                    if ok { *m.held.entry((to.0, class)).or_default() += q; m.next_seq += 1; }
                    (Op::Issue { class, quantity: q, to }, ok)
                }
                Step::Allocate(c, a, q) => {
                    let class = CLASSES[c];
                    let to = holders[a];
                    let ok = !class.is_offset() && a < 4 && {
                        let seq = m.next_seq;
                        let ok = m.mv(NATIONAL_QUOTA.0, to.0, class, q);
                        if ok { m.allocations.push((seq, to.0, class, q)); }
                        ok
                    };
                    (Op::Allocate { class, quantity: q, from: NATIONAL_QUOTA, to }, ok)
                }
                Step::Transfer(c, a, b, q) => {
                    let class = CLASSES[c];
                    let ok = m.mv(holders[a].0, holders[b].0, class, q);
                    (Op::Transfer { class, quantity: q, from: holders[a], to: holders[b] }, ok)
                }
                Step::Surrender(c, a, q) => {
                    let class = CLASSES[c];
                    // Only covered companies surrender.
                    let ok = a < 4 && m.mv(holders[a].0, NATIONAL_SURRENDER.0, class, q);
                    let purpose = SurrenderFor { company: format!("C{a}"), cycle: "c".into() };
                    (Op::Surrender { class, quantity: q, from: holders[a], purpose }, ok)
                }
                Step::Cancel(c, a, q) => {
                    let class = CLASSES[c];
                    let ok = m.mv(holders[a].0, NATIONAL_CANCELLATION.0, class, q);
                    (Op::Cancel { class, quantity: q, from: holders[a] }, ok)
                }
                Step::Correct(t, q) => {
                    let pick = if m.allocations.is_empty() { None } else { Some(t % m.allocations.len()) };
                    match pick {
                        Some(i) => {
                            let (seq, to, class, remaining) = m.allocations[i];
                            let ok = q <= remaining && m.mv(to, NATIONAL_QUOTA.0, class, q);
                            if ok { m.allocations[i].3 -= q; }
                            (Op::Correct { original: seq, quantity: q }, ok)
                        }
                        None => (Op::Correct { original: 10_000, quantity: q }, false),
                    }
                }
                Step::Freeze(a, f) => {
                    let status = if f { AccountStatus::Frozen } else { AccountStatus::Open };
                    r.set_status(holders[a], status).unwrap();
                    m.frozen.insert(holders[a].0, f);
                    continue;
                }
            };
            let before = r.clone();
            let result = r.execute(req(op.clone()));
            prop_assert_eq!(result.is_ok(), expect_ok, "{:?} -> {:?}", op, result);
            if result.is_err() {
                prop_assert_eq!(&r, &before);
            }
            for ((a, c), q) in &m.held {
                prop_assert_eq!(r.holding(AccountId(*a), *c), *q, "account {} {}", a, c);
            }
            prop_assert_eq!(r.next_seq(), m.next_seq);
            r.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
