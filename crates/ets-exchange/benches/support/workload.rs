//! The benchmark workload, shaped like exchange-core's single-pair test: a seeded stream of
//! about 9 % new GTC (Day) orders, 3 % IOC, 6 % cancels and 82 % moves (price amends) of
//! resting orders, about 1,000 resting orders over about 750 price levels, 1,000 accounts.
//!
//! The stream is generated against an `ets-exchange` book so that cancels and moves always
//! name live orders; the benchmark then replays the recorded commands on a fresh book.
//! Shared by `benches/matching.rs` and `examples/latency.rs` (`#[path]` module).

#![allow(dead_code)]

use std::collections::HashMap;

use ets_exchange::{BookConfig, Event, MatchingMode, NewOrder, OrderBook, Side, TimeInForce};

/// Mid price in fen (100.00 CNY); resting prices spread up to ±700 ticks around it (tuned so that ~750 levels are occupied).
pub const MID: i64 = 10_000;
pub const HALF_SPREAD_TICKS: i64 = 700;
pub const ACCOUNTS: u64 = 1_000;
pub const RESTING_TARGET: usize = 1_000;

#[derive(Clone, Copy, Debug)]
pub enum Cmd {
    Gtc {
        id: u64,
        participant: u64,
        side: Side,
        price: i64,
        qty: u64,
    },
    Ioc {
        id: u64,
        participant: u64,
        side: Side,
        price: i64,
        qty: u64,
    },
    Cancel {
        participant: u64,
        id: u64,
    },
    Move {
        participant: u64,
        id: u64,
        price: i64,
        qty: u64,
    },
}

/// splitmix64: tiny, seeded, good enough for a workload.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub fn config() -> BookConfig {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.capacity = 4096;
    c
}

/// Live orders with O(1) random pick and removal.
#[derive(Default)]
struct Live {
    v: Vec<(u64, u64)>,
    pos: HashMap<u64, usize>,
}

impl Live {
    fn insert(&mut self, id: u64, participant: u64) {
        self.pos.insert(id, self.v.len());
        self.v.push((id, participant));
    }
    fn remove(&mut self, id: u64) {
        if let Some(i) = self.pos.remove(&id) {
            self.v.swap_remove(i);
            if i < self.v.len() {
                self.pos.insert(self.v[i].0, i);
            }
        }
    }
}

/// Applies one command to an `ets-exchange` book, appending events to `out`.
#[inline]
pub fn apply(book: &mut OrderBook, cmd: &Cmd, out: &mut Vec<Event>) {
    match *cmd {
        Cmd::Gtc {
            id,
            participant,
            side,
            price,
            qty,
        } => book.submit(
            NewOrder {
                id,
                participant,
                side,
                price,
                qty,
                tif: TimeInForce::Day,
            },
            out,
        ),
        Cmd::Ioc {
            id,
            participant,
            side,
            price,
            qty,
        } => book.submit(
            NewOrder {
                id,
                participant,
                side,
                price,
                qty,
                tif: TimeInForce::Ioc,
            },
            out,
        ),
        Cmd::Cancel { participant, id } => book.cancel(participant, id, out),
        Cmd::Move {
            participant,
            id,
            price,
            qty,
        } => book.amend(participant, id, price, qty, out),
    }
}

/// `n` commands from `seed`, starting from an empty book (the first ~1,100 commands fill it).
pub fn generate(n: usize, seed: u64) -> Vec<Cmd> {
    let mut rng = Rng::new(seed);
    let mut book = OrderBook::new(config());
    let mut live = Live::default();
    let mut out = Vec::new();
    let mut cmds = Vec::with_capacity(n);
    let mut next_id = 1u64;
    while cmds.len() < n {
        let r = rng.below(100);
        let kind = match r {
            0..9 => 0,
            9..12 => 1,
            12..18 => 2,
            _ => 3,
        };
        // Keep about RESTING_TARGET orders resting: fill the book first, then steer.
        let kind = if live.v.len() < RESTING_TARGET * 95 / 100 && kind != 1 {
            0
        } else if live.v.len() > RESTING_TARGET * 105 / 100 && kind == 0 {
            2
        } else {
            kind
        };
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let sign = if side == Side::Buy { -1 } else { 1 };
        let participant = rng.below(ACCOUNTS);
        let cmd = match kind {
            0 => {
                // Mostly passive; one in ten lands a few ticks through the mid and trades.
                let off = if rng.below(10) == 0 {
                    -(rng.below(5) as i64)
                } else {
                    1 + rng.below(HALF_SPREAD_TICKS as u64) as i64
                };
                let id = next_id;
                next_id += 1;
                Cmd::Gtc {
                    id,
                    participant,
                    side,
                    price: MID + sign * off,
                    qty: 1 + rng.below(100),
                }
            }
            1 => {
                let id = next_id;
                next_id += 1;
                let price = MID - sign * (rng.below(20) as i64);
                Cmd::Ioc {
                    id,
                    participant,
                    side,
                    price,
                    qty: 1 + rng.below(50),
                }
            }
            2 => {
                let (id, participant) = live.v[rng.below(live.v.len() as u64) as usize];
                Cmd::Cancel { participant, id }
            }
            _ => {
                let (id, participant) = live.v[rng.below(live.v.len() as u64) as usize];
                let Some(o) = book.order(id) else {
                    unreachable!("live order missing")
                };
                // Move by up to ±8 ticks, pulled back toward the order's own side of the mid.
                let mut price = o.price + rng.below(17) as i64 - 8;
                let own = if o.side == Side::Buy { -1 } else { 1 };
                if (price - MID) * own > HALF_SPREAD_TICKS {
                    price = MID + own * HALF_SPREAD_TICKS;
                }
                Cmd::Move {
                    participant,
                    id,
                    price: price.max(1),
                    qty: o.qty,
                }
            }
        };
        out.clear();
        apply(&mut book, &cmd, &mut out);
        // Track which orders still rest.
        match cmd {
            Cmd::Gtc {
                id, participant, ..
            } if book.order(id).is_some() => live.insert(id, participant),
            Cmd::Move { id, .. } if book.order(id).is_none() => live.remove(id),
            _ => {}
        }
        for e in &out {
            match *e {
                Event::Fill(f) if f.maker_remaining == 0 => live.remove(f.maker),
                Event::Cancelled {
                    id, remaining: 0, ..
                } => live.remove(id),
                _ => {}
            }
        }
        cmds.push(cmd);
    }
    cmds
}

/// Resting orders and occupied levels after replaying `cmds` (to report the shape).
pub fn shape(cmds: &[Cmd]) -> (usize, usize, usize) {
    let mut book = OrderBook::new(config());
    let mut out = Vec::new();
    let (mut orders, mut levels, mut samples) = (0, 0, 0);
    for (i, c) in cmds.iter().enumerate() {
        out.clear();
        apply(&mut book, c, &mut out);
        if i % 1000 == 999 {
            orders += book.len();
            levels +=
                book.depth(Side::Buy, usize::MAX).len() + book.depth(Side::Sell, usize::MAX).len();
            samples += 1;
        }
    }
    (orders / samples.max(1), levels / samples.max(1), samples)
}
