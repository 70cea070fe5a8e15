//! Durable appends per second to the PostgreSQL journal: `pg_append/batch_1000` is one
//! `PgJournal::append_batch` of 1,000 records of 400 bytes (about a journal entry of a
//! transfer): hashing, one multi-row INSERT (unnest of arrays), the head update and a
//! `synchronous_commit = on` COMMIT. `pg_append/batch_1` is the unbatched case.
//!
//! Runs against `ETS_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) in a schema of
//! its own, dropped at the end; skipped (with a message) if the server is unreachable. Run with
//! `cargo bench -p ets-pg --bench pg`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ets_pg::PgJournal;
use postgres::{Client, NoTls};

const RECORD_BYTES: usize = 400;

fn url() -> String {
    std::env::var("ETS_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn bench(c: &mut Criterion) {
    let url = url();
    let mut admin = match Client::connect(&url, NoTls) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("skipped: PostgreSQL is unreachable at {url}: {e}");
            return;
        }
    };
    let schema = format!("ets_bench_{:x}", std::process::id());
    let (mut journal, _) = PgJournal::open(&url, &schema).expect("open the journal");
    let mut group = c.benchmark_group("pg_append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for batch in [1usize, 1_000] {
        let payloads: Vec<Vec<u8>> = (0..batch)
            .map(|i| {
                let mut p = format!("{{\"record\":{i},\"pad\":\"").into_bytes();
                p.resize(RECORD_BYTES - 2, b'x');
                p.extend_from_slice(b"\"}");
                p
            })
            .collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("batch", batch), |b| {
            b.iter(|| journal.append_batch(&payloads).expect("appended"));
        });
    }
    group.finish();
    drop(journal);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .expect("drop the bench schema");
}

criterion_group!(benches, bench);
criterion_main!(benches);
