//! In-memory ledger throughput: `Registry::execute` on transfers between company accounts.
//!
//! Setup (not timed): a registry with 1,000 company holding accounts, each allocated
//! 1,000,000,000 t of CEA-2019, and a seeded sequence of 100,000 transfers of 1..=1,000 t
//! between random distinct accounts (xorshift64*, no global RNG). One iteration executes the
//! whole sequence on a fresh clone of the funded registry; the clone and the requests are made
//! outside the timing, and the registry is dropped outside it too.
//!
//! Goal: at least 1,000,000 transfers per second. Run with
//! `cargo bench -p ets-registry --bench ledger`; figures are in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ets_registry::{AccountKind, NATIONAL_QUOTA, Op, Registry, Request};
use ets_types::{AccountId, Date, UnitClass};

const ACCOUNTS: usize = 1_000;
const FUNDING_T: u64 = 1_000_000_000;
const TRANSFERS: usize = 100_000;
const SEED: u64 = 0x5EED_2021_0104_0001;
const CLASS: UnitClass = UnitClass::Cea { vintage: 2019 };

/// xorshift64*: enough for a reproducible workload, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn date() -> Date {
    Date::new(2021, 1, 4).expect("valid date")
}

fn request(op: Op) -> Request {
    Request {
        op,
        date: date(),
        initiator: "bench".into(),
        reason: "benchmark transfer".into(),
        key: None,
    }
}

/// The funded registry and its company accounts.
fn funded() -> (Registry, Vec<AccountId>) {
    let mut r = Registry::new(date());
    let ids: Vec<AccountId> = (0..ACCOUNTS)
        .map(|i| r.open_account(AccountKind::CompanyHolding, &format!("C{i:04}"), date()))
        .collect();
    r.execute(request(Op::Issue {
        class: CLASS,
        quantity: FUNDING_T * ACCOUNTS as u64,
        to: NATIONAL_QUOTA,
    }))
    .expect("issue");
    for &to in &ids {
        r.execute(request(Op::Allocate {
            class: CLASS,
            quantity: FUNDING_T,
            from: NATIONAL_QUOTA,
            to,
        }))
        .expect("allocate");
    }
    (r, ids)
}

/// The seeded transfer sequence: 1..=1,000 t between two distinct random accounts.
fn transfers(ids: &[AccountId]) -> Vec<Request> {
    let mut rng = XorShift(SEED);
    (0..TRANSFERS)
        .map(|_| {
            let from = rng.below(ids.len() as u64) as usize;
            let mut to = rng.below(ids.len() as u64 - 1) as usize;
            if to >= from {
                to += 1;
            }
            let quantity = 1 + rng.below(1_000);
            request(Op::Transfer {
                class: CLASS,
                quantity,
                from: ids[from],
                to: ids[to],
            })
        })
        .collect()
}

fn ledger(c: &mut Criterion) {
    let (registry, ids) = funded();
    let requests = transfers(&ids);

    // Sanity check outside the measurement: every transfer of the sequence is accepted.
    let mut check = registry.clone();
    for r in requests.iter().cloned() {
        check
            .execute(r)
            .expect("every benchmark transfer is accepted");
    }
    check
        .check_invariants()
        .expect("invariants hold after the sequence");
    drop(check);

    let mut g = c.benchmark_group("ledger");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(TRANSFERS as u64));
    g.bench_function("transfers_100k_1000_accounts", |b| {
        b.iter_batched(
            || (registry.clone(), requests.clone()),
            |(mut r, reqs)| {
                for req in reqs {
                    black_box(r.execute(req).expect("accepted"));
                }
                r // dropped by criterion outside the timing
            },
            BatchSize::PerIteration,
        )
    });
    // The same sequence validated only (`Registry::check`), to separate checking from moving.
    g.bench_function("check_only_100k", |b| {
        b.iter(|| {
            for req in &requests {
                black_box(registry.check(req)).expect("accepted");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, ledger);
criterion_main!(benches);
