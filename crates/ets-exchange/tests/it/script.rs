//! A tiny order-script language so that book tests read as data:
//!
//! ```text
//! p1 buy 1 100@1000 day      new order: participant, side, id, qty@price, tif (day|ioc|fok)
//! p1 cancel 1                cancel
//! p1 amend 1 50@1000         amend to open qty 50 at price 1000
//! p2 take buy 9 1 30         click-to-trade: taker side, taker id, listed order id, qty
//! expire                     expire_all at the close
//! book                       print the five best levels of each side
//! ```
//!
//! `run` returns one line per event (and per `book`), compared with an expected text.

use ets_exchange::{
    BookConfig, CancelReason, Event, MatchingMode, NewOrder, OrderBook, SelfTradePrevention, Side,
    Take, TimeInForce,
};

pub fn book(mode: MatchingMode) -> OrderBook {
    OrderBook::new(BookConfig::new(mode))
}

pub fn book_stp(stp: SelfTradePrevention) -> OrderBook {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.stp = stp;
    OrderBook::new(c)
}

fn side(s: &str) -> Side {
    match s {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => panic!("bad side {s}"),
    }
}

fn qty_price(s: &str) -> (u64, i64) {
    let (q, p) = s.split_once('@').expect("qty@price");
    (q.parse().expect("qty"), p.parse().expect("price"))
}

fn participant(s: &str) -> u64 {
    s.trim_start_matches('p').parse().expect("participant pN")
}

fn sd(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub fn fmt_event(e: &Event) -> String {
    match *e {
        Event::Accepted {
            id,
            participant,
            side,
            price,
            qty,
            tif,
        } => {
            format!(
                "accepted {id} p{participant} {} {qty}@{price} {tif:?}",
                sd(side)
            )
        }
        Event::Fill(f) => format!(
            "fill maker {} (p{}) taker {} (p{}) {}@{} aggressor {} maker left {}",
            f.maker,
            f.maker_participant,
            f.taker,
            f.taker_participant,
            f.qty,
            f.price,
            sd(f.aggressor),
            f.maker_remaining
        ),
        Event::Executed {
            id,
            qty,
            price,
            remaining,
            ..
        } => format!("executed {id} {qty}@{price} left {remaining}"),
        Event::Cancelled {
            id,
            qty,
            remaining,
            reason,
            ..
        } => {
            let r = match reason {
                CancelReason::Requested => "requested",
                CancelReason::SelfTrade => "self-trade",
                CancelReason::Unfilled => "unfilled",
            };
            format!("cancelled {id} {qty} left {remaining} {r}")
        }
        Event::Amended {
            id,
            old_price,
            old_qty,
            price,
            qty,
            priority_kept,
            ..
        } => format!(
            "amended {id} {old_qty}@{old_price} -> {qty}@{price} {}",
            if priority_kept {
                "keeps priority"
            } else {
                "loses priority"
            }
        ),
        Event::Expired { id, price, qty, .. } => format!("expired {id} {qty}@{price}"),
        Event::Rejected { id, reason } => format!("rejected {id} {reason:?}"),
    }
}

pub fn run(book: &mut OrderBook, script: &str) -> String {
    let mut out = String::new();
    let mut ev = Vec::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let w: Vec<&str> = line.split_whitespace().collect();
        ev.clear();
        match w.as_slice() {
            ["expire"] => {
                let ids = book.expire_all(&mut ev);
                assert_eq!(ids.len(), ev.len());
            }
            ["book"] => {
                let lv = |s| {
                    book.depth(s, 5)
                        .iter()
                        .map(|l| format!("{}x{}({})", l.price, l.qty, l.orders))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                out += &format!("bids [{}] asks [{}]\n", lv(Side::Buy), lv(Side::Sell));
            }
            [p, "cancel", id] => book.cancel(participant(p), id.parse().unwrap(), &mut ev),
            [p, "amend", id, qp] => {
                let (q, pr) = qty_price(qp);
                book.amend(participant(p), id.parse().unwrap(), pr, q, &mut ev)
            }
            [p, "take", s, id, target, q] => book.take(
                Take {
                    id: id.parse().unwrap(),
                    participant: participant(p),
                    side: side(s),
                    target: target.parse().unwrap(),
                    qty: q.parse().unwrap(),
                },
                &mut ev,
            ),
            [p, s, id, qp, tif] => {
                let (qty, price) = qty_price(qp);
                let tif = match *tif {
                    "day" => TimeInForce::Day,
                    "ioc" => TimeInForce::Ioc,
                    "fok" => TimeInForce::Fok,
                    _ => panic!("bad tif {tif}"),
                };
                book.submit(
                    NewOrder {
                        id: id.parse().unwrap(),
                        participant: participant(p),
                        side: side(s),
                        price,
                        qty,
                        tif,
                    },
                    &mut ev,
                )
            }
            _ => panic!("bad script line {line:?}"),
        }
        for e in &ev {
            out += &fmt_event(e);
            out.push('\n');
        }
        book.check_invariants().unwrap();
        if book.config().mode == ets_exchange::MatchingMode::Continuous {
            assert!(!book.is_crossed(), "crossed after {line}");
        }
    }
    out
}

/// Runs `script` on `book` and compares with `expect` (both trimmed line by line).
#[track_caller]
pub fn check(book: &mut OrderBook, script: &str, expect: &str) {
    let got = run(book, script);
    let norm = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (g, e) = (norm(&got), norm(expect));
    if g != e {
        panic!("\n--- expected\n{e}\n--- got\n{g}\n");
    }
}
