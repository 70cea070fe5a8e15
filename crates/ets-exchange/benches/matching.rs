//! Throughput of the matching engine on one thread.
//!
//! - `exchange-core-mix/ets-exchange`: the seeded exchange-core-like stream (see
//!   `support/workload.rs`), 1,000,000 commands per iteration on a fresh book.
//! - `lobster-replay/ets-exchange`: the 57,515 real AMZN messages by order id (when the data
//!   folder is present).
//! - `exchange-core-mix/orderbook-rs`: the same stream through `orderbook-rs` 0.15.3, with
//!   `--features compare` (kept out of the default build because its dependency tree,
//!   tokio, dashmap, crossbeam, uuid, sha2, is large).
//!
//! Run: `cargo bench -p ets-exchange --bench matching [--features compare]`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ets_exchange::{BookConfig, MatchingMode, OrderBook, Side};

#[path = "support/workload.rs"]
mod workload;

const COMMANDS: usize = 1_000_000;
const SEED: u64 = 42;

fn exchange_core_mix(c: &mut Criterion) {
    let cmds = workload::generate(COMMANDS, SEED);
    let (orders, levels, _) = workload::shape(&cmds);
    eprintln!(
        "workload: {} commands, on average {orders} resting orders over {levels} levels",
        cmds.len()
    );
    let mut g = c.benchmark_group("exchange-core-mix");
    g.throughput(Throughput::Elements(cmds.len() as u64));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("ets-exchange", |b| {
        b.iter_batched_ref(
            || (OrderBook::new(workload::config()), Vec::with_capacity(256)),
            |(book, out)| {
                for cmd in &cmds {
                    workload::apply(book, cmd, out);
                    out.clear();
                }
                black_box(book.len())
            },
            BatchSize::LargeInput,
        )
    });
    #[cfg(feature = "compare")]
    {
        let mut book = compare::new_book();
        let t = std::time::Instant::now();
        let errors = compare::run(&mut book, &cmds);
        eprintln!(
            "orderbook-rs: one pass {:?}, {errors} commands refused",
            t.elapsed()
        );
    }
    #[cfg(feature = "compare")]
    g.bench_function("orderbook-rs", |b| {
        b.iter_batched_ref(
            compare::new_book,
            |book| compare::run(book, &cmds),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

#[cfg(feature = "compare")]
mod compare {
    //! The same commands through orderbook-rs: GTC/IOC limit orders with a user id for its
    //! self-trade prevention (cancel maker, like ours), `cancel_order`, and
    //! `update_order(UpdatePrice)` for moves. Errors (an order already gone) are ignored.
    use orderbook_rs::{OrderBook, STPMode};
    use pricelevel::{Hash32, Id, OrderUpdate, Price, Side, TimeInForce};

    use super::workload::Cmd;

    pub fn new_book() -> OrderBook<()> {
        OrderBook::with_stp_mode("CEA", STPMode::CancelMaker)
    }

    fn user(p: u64) -> Hash32 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(p + 1).to_le_bytes());
        Hash32(b)
    }

    fn side(s: ets_exchange::Side) -> Side {
        match s {
            ets_exchange::Side::Buy => Side::Buy,
            ets_exchange::Side::Sell => Side::Sell,
        }
    }

    pub fn run(book: &mut OrderBook<()>, cmds: &[Cmd]) -> usize {
        let mut errors = 0;
        for c in cmds {
            let ok = match *c {
                Cmd::Gtc {
                    id,
                    participant,
                    side: s,
                    price,
                    qty,
                } => book
                    .add_limit_order_with_user(
                        Id::sequential(id),
                        price as u128,
                        qty,
                        side(s),
                        TimeInForce::Gtc,
                        user(participant),
                        None,
                    )
                    .is_ok(),
                Cmd::Ioc {
                    id,
                    participant,
                    side: s,
                    price,
                    qty,
                } => book
                    .add_limit_order_with_user(
                        Id::sequential(id),
                        price as u128,
                        qty,
                        side(s),
                        TimeInForce::Ioc,
                        user(participant),
                        None,
                    )
                    .is_ok(),
                Cmd::Cancel { id, .. } => book.cancel_order(Id::sequential(id)).is_ok(),
                Cmd::Move { id, price, .. } => book
                    .update_order(OrderUpdate::UpdatePrice {
                        order_id: Id::sequential(id),
                        new_price: Price::new(price as u128),
                    })
                    .is_ok(),
            };
            errors += usize::from(!ok);
        }
        errors
    }
}

fn lobster_replay(c: &mut Criterion) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(std::env::var("ETS_SHARED").unwrap_or_else(|_| "../shared".into()))
        .join("data/lobster-amzn-2012-06-21/AMZN_2012-06-21_34200000_57600000_message_1.csv");
    let Ok(text) = std::fs::read_to_string(&dir) else {
        eprintln!("lobster-replay skipped: {} not found", dir.display());
        return;
    };
    let msgs: Vec<(u8, u64, u64, i64, Side)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            let side = if f.get(5)? == &"1" {
                Side::Buy
            } else {
                Side::Sell
            };
            Some((
                f[1].parse().ok()?,
                f[2].parse().ok()?,
                f[3].parse().ok()?,
                f[4].parse().ok()?,
                side,
            ))
        })
        .collect();
    let mut g = c.benchmark_group("lobster-replay");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("ets-exchange", |b| {
        b.iter_batched_ref(
            || {
                let mut cfg = BookConfig::new(MatchingMode::Continuous);
                cfg.tick = 100;
                cfg.capacity = 4096;
                OrderBook::new(cfg)
            },
            |book| {
                for &(kind, id, size, price, side) in &msgs {
                    let _ = black_box(match kind {
                        1 => book.add_resting(id, 0, side, price, size),
                        2 => book.reduce(id, size),
                        3 => book.delete(id),
                        4 => book.execute(id, size),
                        _ => continue,
                    });
                }
                book.len()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, exchange_core_mix, lobster_replay);
criterion_main!(benches);
