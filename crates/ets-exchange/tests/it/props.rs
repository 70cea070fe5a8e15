//! Property tests over random order streams in continuous mode: quantities are conserved per
//! order, no trade happens outside a limit price, the book never stays crossed, FOK is all or
//! nothing, and replaying a stream gives the same events.

use std::collections::HashMap;

use ets_exchange::{
    BookConfig, Event, MatchingMode, NewOrder, OrderBook, SelfTradePrevention, Side, TimeInForce,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Submit {
        participant: u64,
        buy: bool,
        price: i64,
        qty: u64,
        tif: u8,
    },
    Cancel {
        pick: usize,
    },
    Amend {
        pick: usize,
        price: i64,
        qty: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..4u64, any::<bool>(), 990..1010i64, 1..30u64, 0..3u8)
            .prop_map(|(participant, buy, price, qty, tif)| Op::Submit { participant, buy, price, qty, tif }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (any::<usize>(), 990..1010i64, 1..30u64).prop_map(|(pick, price, qty)| Op::Amend { pick, price, qty }),
    ]
}

fn stp() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::CancelResting),
        Just(SelfTradePrevention::CancelIncoming),
        Just(SelfTradePrevention::CancelBoth),
    ]
}

/// Runs the stream, checking the book after every operation; returns all events, the close's
/// expiries included.
fn replay(stp: SelfTradePrevention, ops: &[Op]) -> Vec<Event> {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.stp = stp;
    let mut book = OrderBook::new(c);
    let mut owners: Vec<(u64, u64)> = Vec::new();
    let mut events = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let before = events.len();
        match *op {
            Op::Submit {
                participant,
                buy,
                price,
                qty,
                tif,
            } => {
                let id = n as u64 + 1;
                owners.push((id, participant));
                let tif = [TimeInForce::Day, TimeInForce::Ioc, TimeInForce::Fok][tif as usize];
                let side = if buy { Side::Buy } else { Side::Sell };
                book.submit(
                    NewOrder {
                        id,
                        participant,
                        side,
                        price,
                        qty,
                        tif,
                    },
                    &mut events,
                );
                if tif == TimeInForce::Fok {
                    let filled: u64 = events[before..]
                        .iter()
                        .filter_map(|e| match e {
                            Event::Fill(f) if f.taker == id => Some(f.qty),
                            _ => None,
                        })
                        .sum();
                    assert!(
                        filled == 0 || filled == qty,
                        "FOK {id} filled {filled} of {qty}"
                    );
                }
            }
            Op::Cancel { pick } if !owners.is_empty() => {
                let (id, p) = owners[pick % owners.len()];
                book.cancel(p, id, &mut events);
            }
            Op::Amend { pick, price, qty } if !owners.is_empty() => {
                let (id, p) = owners[pick % owners.len()];
                book.amend(p, id, price, qty, &mut events);
            }
            _ => {}
        }
        book.check_invariants().unwrap();
        assert!(!book.is_crossed(), "crossed after {op:?}");
    }
    book.expire_all(&mut events);
    assert!(book.is_empty());
    book.check_invariants().unwrap();
    events
}

fn check_accounts(events: &[Event]) {
    #[derive(Default, Debug)]
    struct Acct {
        submitted: i128,
        filled: i128,
        cancelled: i128,
        expired: i128,
        side: Option<Side>,
        limit: i64,
    }
    let mut a: HashMap<u64, Acct> = HashMap::new();
    for e in events {
        match *e {
            Event::Accepted {
                id,
                side,
                price,
                qty,
                ..
            } => {
                let x = a.entry(id).or_default();
                x.submitted += qty as i128;
                x.side = Some(side);
                x.limit = price;
            }
            Event::Amended {
                id,
                old_qty,
                qty,
                price,
                ..
            } => {
                let x = a.get_mut(&id).expect("amend of an accepted order");
                x.submitted += qty as i128 - old_qty as i128;
                x.limit = price;
            }
            Event::Fill(f) => {
                assert!(f.qty > 0);
                let m = &a[&f.maker];
                assert_eq!(f.price, m.limit, "fill at the maker's price");
                let t = &a[&f.taker];
                match t.side {
                    Some(Side::Buy) => {
                        assert!(f.price <= t.limit, "buy {} filled above limit", f.taker)
                    }
                    Some(Side::Sell) => {
                        assert!(f.price >= t.limit, "sell {} filled below limit", f.taker)
                    }
                    None => unreachable!(),
                }
                assert_ne!(f.maker_participant, f.taker_participant, "self-trade");
                a.get_mut(&f.maker).unwrap().filled += f.qty as i128;
                a.get_mut(&f.taker).unwrap().filled += f.qty as i128;
            }
            Event::Cancelled { id, qty, .. } => a.get_mut(&id).unwrap().cancelled += qty as i128,
            Event::Expired { id, qty, .. } => a.get_mut(&id).unwrap().expired += qty as i128,
            Event::Executed { .. } => unreachable!(),
            Event::Rejected { .. } => {}
        }
    }
    for (id, x) in &a {
        assert_eq!(
            x.submitted,
            x.filled + x.cancelled + x.expired,
            "order {id}: {x:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_conserve_quantity_and_respect_limits(stp in stp(), ops in prop::collection::vec(op(), 1..200)) {
        let events = replay(stp, &ops);
        check_accounts(&events);
        // Determinism: the same stream gives the same events.
        prop_assert_eq!(events, replay(stp, &ops));
    }
}
