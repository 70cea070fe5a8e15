//! Latency distribution of the matching engine at a fixed offered load: one command every
//! microsecond (1,000,000 commands per second) of the exchange-core-like workload, paced by
//! busy-waiting on `Instant`, for about three seconds.
//!
//! Two figures per command: service time (start to end of the call) and response time
//! (scheduled start to end), which also counts the wait when an earlier command overran its
//! slot, so that stalls are not hidden (coordinated omission).
//!
//! Run: `cargo run --release -p ets-exchange --example latency [-- SECONDS]`.

use std::time::{Duration, Instant};

use ets_exchange::OrderBook;

#[path = "../benches/support/workload.rs"]
mod workload;

/// Latency histogram: 1 ns buckets up to 100 µs, 1 µs buckets up to 100 ms, then overflow.
struct Histogram {
    fine: Vec<u64>,
    coarse: Vec<u64>,
    overflow: u64,
    max: u64,
    n: u64,
}

impl Histogram {
    const FINE_NS: u64 = 100_000;
    const COARSE_US: u64 = 100_000;

    fn new() -> Histogram {
        Histogram {
            fine: vec![0; Self::FINE_NS as usize],
            coarse: vec![0; Self::COARSE_US as usize],
            overflow: 0,
            max: 0,
            n: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        self.n += 1;
        self.max = self.max.max(ns);
        if ns < Self::FINE_NS {
            self.fine[ns as usize] += 1;
        } else if ns / 1000 < Self::COARSE_US {
            self.coarse[(ns / 1000) as usize] += 1;
        } else {
            self.overflow += 1;
        }
    }

    /// The smallest bucket with at least `q` of the samples at or below it.
    fn quantile(&self, q: f64) -> String {
        let want = (q * self.n as f64).ceil() as u64;
        let mut acc = 0;
        for (ns, &c) in self.fine.iter().enumerate() {
            acc += c;
            if acc >= want {
                return format!("{ns} ns");
            }
        }
        for (us, &c) in self.coarse.iter().enumerate() {
            acc += c;
            if acc >= want {
                return format!("{us} µs");
            }
        }
        "> 100 ms".to_string()
    }

    fn report(&self, name: &str) {
        println!(
            "{name:>9}: p50 {:>8}  p99 {:>8}  p99.9 {:>8}  p99.99 {:>8}  max {:>9} ns  ({} samples)",
            self.quantile(0.50),
            self.quantile(0.99),
            self.quantile(0.999),
            self.quantile(0.9999),
            self.max,
            self.n
        );
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .clamp(1, 10);
    let n = (seconds * 1_000_000) as usize;
    let cmds = workload::generate(n, 7);
    let mut book = OrderBook::new(workload::config());
    let mut out = Vec::with_capacity(256);
    // Warm up: fill the book and the caches with the first 100,000 commands, unpaced.
    let warm = 100_000.min(n / 2);
    for c in &cmds[..warm] {
        workload::apply(&mut book, c, &mut out);
        out.clear();
    }
    let (mut service, mut response) = (Histogram::new(), Histogram::new());
    let interval = Duration::from_micros(1);
    let t0 = Instant::now();
    let mut due = t0;
    for c in &cmds[warm..] {
        due += interval;
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        workload::apply(&mut book, c, &mut out);
        out.clear();
        let end = Instant::now();
        service.record((end - start).as_nanos() as u64);
        response.record((end - due).as_nanos() as u64);
    }
    let elapsed = t0.elapsed();
    println!(
        "offered 1,000,000 commands/s for {:.2} s ({} commands after {warm} unpaced warm-up), {} resting at the end",
        elapsed.as_secs_f64(),
        cmds.len() - warm,
        book.len()
    );
    service.report("service");
    response.report("response");
}
