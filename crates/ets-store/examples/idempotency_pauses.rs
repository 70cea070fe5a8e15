//! How long one request's idempotency answer takes to remember, as the table grows: the
//! distribution of single `State::remember` calls (each under the server's write lock) over
//! N keyed requests, beside the same inserts into one `HashMap`, the table's shape before
//! the generations (docs/benchmarks.md, "Idempotency pauses"). Same keys, same answers, one
//! run, alternating rounds, so the two are compared as ratios on a shared machine.
//!
//!     cargo run --release -p ets-store --example idempotency_pauses            # 2,000,000 keys
//!     cargo run --release -p ets-store --example idempotency_pauses -- 500000

use std::collections::HashMap;
use std::time::Instant;

use ets_access::Audit;
use ets_market::Market;
use ets_store::{Remembered, State};
use ets_types::Date;

fn audit(i: usize) -> Audit {
    Audit {
        at: 1_700_000_000_000 + i as i64 / 20, // 20,000 requests a second
        who: format!("member{}", i % 64),
        role: None,
        from: "10.0.0.1".into(),
        method: "POST".into(),
        path: "/api/orders".into(),
        key: Some(format!("order-{i:012}")),
        body_sha256: Some(format!("{i:064x}")),
        status: 201,
        code: None,
        response: Some(serde_json::json!({"order": i, "status": "resting"})),
        count: None,
    }
}

/// p50, p99, p99.9 and max of the samples, in microseconds.
fn summary(mut ns: Vec<u64>) -> [f64; 4] {
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    [q(0.5), q(0.99), q(0.999), q(1.0)]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(2_000_000, |s| s.parse().expect("a number of keys"));
    let audits: Vec<Audit> = (0..n).map(audit).collect();
    for round in 0..2 {
        // Generations: the store as it is.
        let mut state = State::new(Market::new(Date::new(2021, 7, 16).unwrap()));
        let mut gen_ns = Vec::with_capacity(n);
        for a in audits.iter().cloned() {
            let t = Instant::now();
            state.remember(a);
            gen_ns.push(t.elapsed().as_nanos() as u64);
        }
        drop(state);
        // One HashMap of every key, as before.
        let mut one: HashMap<(String, String), Remembered> = HashMap::new();
        let mut one_ns = Vec::with_capacity(n);
        for mut a in audits.iter().cloned() {
            let t = Instant::now();
            let response = a.response.take().expect("keyed").to_string();
            one.insert(
                (a.who.clone(), a.key.clone().expect("keyed")),
                Remembered {
                    body_sha256: a.body_sha256.clone(),
                    path: a.path.clone(),
                    status: a.status,
                    response: response.into_boxed_str(),
                    at: a.at,
                },
            );
            one_ns.push(t.elapsed().as_nanos() as u64);
        }
        drop(one);
        let (g, o) = (summary(gen_ns), summary(one_ns));
        println!(
            "round {round}, {n} keys, µs p50/p99/p99.9/max: generations {:.2}/{:.2}/{:.2}/{:.0}; one HashMap {:.2}/{:.2}/{:.2}/{:.0}; max one ÷ generations {:.1}",
            g[0],
            g[1],
            g[2],
            g[3],
            o[0],
            o[1],
            o[2],
            o[3],
            o[3] / g[3]
        );
    }
}
