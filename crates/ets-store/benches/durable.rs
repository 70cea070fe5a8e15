//! Durable transfers per second: the journaled store with group commit against one SQLite
//! transaction per transfer, in one criterion group so the ratio comes from one run.
//!
//! Both sides run the same seeded sequence of transfers of 1..=1,000 t between 1,000 holders,
//! each funded with 1,000,000,000 t, on files in temporary directories on the same disk.
//!
//! - `journal/batch_N`: a [`Store`] opened with `JournalOptions::default()` (fdatasync of the
//!   log, then one HEAD slot overwritten in place and fdatasynced, per batch). One iteration is
//!   one `Store::submit_each` of N `Command::Transfer` envelopes naming holders: resolving the
//!   names, checking and applying in the market, JSON encoding, SHA-256 chaining, the write and
//!   the fsyncs. N = 1 is the unbatched case (one fsync round per transfer).
//! - `journal_unanchored/batch_N`: fdatasync of the log per batch but HEAD not rewritten per
//!   batch (`anchor_every_batch = false`), to show what the anchor's fdatasync costs.
//! - `journal_append_only/batch_N`: `Journal::append_batch` alone (durable, anchored) on records
//!   of the measured average entry size: hashing, CRC, write and fsyncs without market or JSON.
//! - `journal_nosync/batch_1000`: the same with `SyncMode::None`, which is **not durable**: it
//!   shows the CPU part of the journaled path, so the fsync part is the difference.
//! - `sqlite/txn_per_transfer`: rusqlite, WAL, `synchronous=FULL`; per transfer one SQL
//!   transaction: SELECT the balance, UPDATE the source (guarded, and a CHECK keeps it ≥ 0),
//!   UPSERT the destination, INSERT the transaction row, COMMIT.
//!
//! Goals: the journal at ≥ 100,000 durable transfers/s with batches of 1,000, and ≥ 10× the
//! SQLite path. Run with `cargo bench -p ets-store --bench durable`; figures in
//! docs/benchmarks.md.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ets_journal::{JournalOptions, SyncMode};
use ets_market::{Command, Envelope};
use ets_store::Store;
use ets_types::{Date, ProjectId, UnitClass};
use rusqlite::{Connection, params};

const HOLDERS: usize = 1_000;
const FUNDING_T: u64 = 1_000_000_000;
const TRANSFERS: usize = 100_000;
const SEED: u64 = 0x5EED_2021_0104_0002;
const PROJECT: &str = "CCER-BENCH-F001";
const VINTAGE: u16 = 2019;
/// The first offset project registered gets number 1.
const CLASS: UnitClass = UnitClass::Ccer {
    project: 1,
    vintage: VINTAGE,
};

/// xorshift64*: a reproducible workload without a dependency.
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

/// One transfer of the workload: holder indexes and tonnes.
#[derive(Clone, Copy)]
struct Move {
    from: usize,
    to: usize,
    quantity: u64,
}

fn workload() -> Vec<Move> {
    let mut rng = XorShift(SEED);
    (0..TRANSFERS)
        .map(|_| {
            let from = rng.below(HOLDERS as u64) as usize;
            let mut to = rng.below(HOLDERS as u64 - 1) as usize;
            if to >= from {
                to += 1;
            }
            Move {
                from,
                to,
                quantity: 1 + rng.below(1_000),
            }
        })
        .collect()
}

fn date() -> Date {
    Date::new(2021, 3, 1).expect("valid date")
}

fn holder(i: usize) -> String {
    format!("trader-{i:04}")
}

fn env(command: Command) -> Envelope {
    Envelope {
        date: date(),
        initiator: "bench".into(),
        key: None,
        reason: "benchmark".into(),
        command,
    }
}

/// Opens a store in `dir` with 1,000 funded holders (setup, batched so it is quick).
fn funded_store(dir: &Path, options: JournalOptions) -> Store {
    let (mut store, _) = Store::open(dir, date(), options).expect("open store");
    let project = ProjectId::parse(PROJECT).expect("project id");
    let mut envs = vec![
        env(Command::RegisterProject {
            project: project.clone(),
            name: "benchmark project".into(),
            province: "Shanxi".into(),
            kind: "forestry".into(),
        }),
        env(Command::IssueOffsets {
            project,
            vintage: VINTAGE,
            quantity: FUNDING_T * HOLDERS as u64,
        }),
    ];
    envs.extend((0..HOLDERS).map(|i| env(Command::RegisterHolder { holder: holder(i) })));
    envs.extend((0..HOLDERS).map(|i| {
        env(Command::Transfer {
            class: CLASS,
            quantity: FUNDING_T,
            from: PROJECT.into(),
            to: holder(i),
        })
    }));
    for chunk in envs.chunks(1_000) {
        store.submit_all(chunk).expect("setup accepted");
    }
    store
}

fn transfer_envelopes(moves: &[Move]) -> Vec<Envelope> {
    moves
        .iter()
        .map(|m| {
            env(Command::Transfer {
                class: CLASS,
                quantity: m.quantity,
                from: holder(m.from),
                to: holder(m.to),
            })
        })
        .collect()
}

/// Times `iters` batches of `batch` transfers through `Store::submit_each`, cycling through the
/// pre-built envelopes.
fn run_batches(
    store: &mut Store,
    envs: &[Envelope],
    cursor: &mut usize,
    batch: usize,
    iters: u64,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        if *cursor + batch > envs.len() {
            *cursor = 0;
        }
        let chunk = &envs[*cursor..*cursor + batch];
        *cursor += batch;
        let start = Instant::now();
        let results = store.submit_each(chunk).expect("journaled");
        elapsed += start.elapsed();
        assert!(
            results.iter().all(Result::is_ok),
            "every benchmark transfer is accepted"
        );
    }
    elapsed
}

// ---- SQLite: one SQL transaction per transfer --------------------------------------------

fn sqlite_open(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("WAL");
    assert_eq!(mode, "wal");
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE holdings(
             account INTEGER NOT NULL,
             class TEXT NOT NULL,
             quantity INTEGER NOT NULL CHECK (quantity >= 0),
             PRIMARY KEY (account, class));
         CREATE TABLE transactions(
             seq INTEGER PRIMARY KEY,
             from_account INTEGER,
             to_account INTEGER NOT NULL,
             class TEXT NOT NULL,
             quantity INTEGER NOT NULL,
             date TEXT NOT NULL);",
    )
    .expect("schema");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("synchronous");
    assert_eq!(sync, 2, "synchronous=FULL");
    let class = CLASS.to_string();
    let tx = conn.unchecked_transaction().expect("begin");
    for i in 0..HOLDERS {
        tx.execute(
            "INSERT INTO holdings(account, class, quantity) VALUES (?1, ?2, ?3)",
            params![i as i64 + 1, class, FUNDING_T as i64],
        )
        .expect("fund");
    }
    tx.commit().expect("commit funding");
    conn
}

/// One transfer as one SQL transaction. Returns the new transaction's seq.
fn sqlite_transfer(
    conn: &mut Connection,
    m: Move,
    class: &str,
    date: &str,
) -> rusqlite::Result<i64> {
    let (from, to, q) = (m.from as i64 + 1, m.to as i64 + 1, m.quantity as i64);
    let tx = conn.transaction()?;
    let held: i64 = tx
        .prepare_cached("SELECT quantity FROM holdings WHERE account = ?1 AND class = ?2")?
        .query_row(params![from, class], |r| r.get(0))?;
    if held < q {
        return Err(rusqlite::Error::QueryReturnedNoRows); // insufficient: rolled back on drop
    }
    let changed = tx
        .prepare_cached("UPDATE holdings SET quantity = quantity - ?1 WHERE account = ?2 AND class = ?3 AND quantity >= ?1")?
        .execute(params![q, from, class])?;
    assert_eq!(changed, 1);
    tx.prepare_cached(
        "INSERT INTO holdings(account, class, quantity) VALUES (?1, ?2, ?3)
         ON CONFLICT(account, class) DO UPDATE SET quantity = quantity + excluded.quantity",
    )?
    .execute(params![to, class, q])?;
    tx.prepare_cached("INSERT INTO transactions(from_account, to_account, class, quantity, date) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![from, to, class, q, date])?;
    let seq = tx.last_insert_rowid();
    tx.commit()?;
    Ok(seq)
}

// ---- the group ---------------------------------------------------------------------------

fn durable(c: &mut Criterion) {
    let moves = workload();
    let envs = transfer_envelopes(&moves);
    let root = tempfile::tempdir().expect("tempdir");
    eprintln!("benchmark files under {}", root.path().display());

    let mut g = c.benchmark_group("durable_transfers");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let mut record_bytes = 0;
    for (name, batch, options) in [
        ("journal", 1, JournalOptions::default()),
        ("journal", 100, JournalOptions::default()),
        ("journal", 1_000, JournalOptions::default()),
        ("journal", 10_000, JournalOptions::default()),
        (
            "journal_unanchored",
            1,
            JournalOptions {
                sync: SyncMode::Full,
                anchor_every_batch: false,
            },
        ),
        (
            "journal_unanchored",
            1_000,
            JournalOptions {
                sync: SyncMode::Full,
                anchor_every_batch: false,
            },
        ),
        (
            "journal_nosync",
            1_000,
            JournalOptions {
                sync: SyncMode::None,
                anchor_every_batch: false,
            },
        ),
    ] {
        let dir = root.path().join(format!("{name}-{batch}"));
        let mut store = funded_store(&dir, options);
        let mut cursor = 0;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new(name, format!("batch_{batch}")), |b| {
            b.iter_custom(|iters| run_batches(&mut store, &envs, &mut cursor, batch, iters))
        });
        let records = store.last_seq();
        drop(store);
        let log_bytes = std::fs::metadata(dir.join("journal.log"))
            .map(|m| m.len())
            .unwrap_or(0);
        record_bytes = log_bytes / records.max(1);
        eprintln!(
            "{name}/batch_{batch}: {records} journal records, {log_bytes} bytes of log, {record_bytes} bytes per record"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    // The journal alone (no market, no JSON): batches of records of the measured average size,
    // appended durably as the store does (hash chain, CRC, one write, fdatasync, HEAD anchored).
    for batch in [1_000usize, 10_000] {
        let dir = root.path().join(format!("append-{batch}"));
        let (mut journal, _) =
            ets_journal::Journal::open(&dir, JournalOptions::default()).expect("open journal");
        let payload = vec![b'x'; record_bytes.saturating_sub(36) as usize];
        let payloads = vec![payload; batch];
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(
            BenchmarkId::new("journal_append_only", format!("batch_{batch}")),
            |b| b.iter(|| journal.append_batch(&payloads).expect("appended")),
        );
        drop(journal);
        std::fs::remove_dir_all(&dir).ok();
    }

    let path = root.path().join("sqlite.db");
    let mut conn = sqlite_open(&path);
    let class = CLASS.to_string();
    let day = date().to_string();
    let mut cursor = 0;
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("sqlite", "txn_per_transfer"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let m = moves[cursor % moves.len()];
                cursor += 1;
                sqlite_transfer(&mut conn, m, &class, &day).expect("sql transfer");
            }
            start.elapsed()
        })
    });
    g.finish();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .expect("count");
    let total: i64 = conn
        .query_row("SELECT sum(quantity) FROM holdings", [], |r| r.get(0))
        .expect("sum");
    assert_eq!(
        total as u64,
        FUNDING_T * HOLDERS as u64,
        "SQL transfers conserve units"
    );
    eprintln!("sqlite: {rows} transfer rows committed; holdings conserved");
}

criterion_group!(benches, durable);
criterion_main!(benches);
