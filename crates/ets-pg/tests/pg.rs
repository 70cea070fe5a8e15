//! The PostgreSQL journal against a real server: `ETS_PG_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. Each test works in its own schema, dropped at the
//! end. If the server is unreachable the tests are skipped, except under `CI=true`, where they
//! fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ets_journal::{Journal, JournalOptions, SyncMode};
use ets_market::{Command, Envelope};
use ets_pg::{
    GENESIS_HASH, PgJournal, PgJournalError, Record, lock_key, read, record_hash, verify,
};
use ets_store::Store;
use ets_types::{Date, ProjectId, UnitClass};
use postgres::{Client, NoTls};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn url() -> String {
    std::env::var("ETS_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema of its own for one test, dropped (with everything in it) on drop.
struct TestSchema {
    url: String,
    name: String,
    admin: Client,
}

impl TestSchema {
    /// `None` (after saying so) if the server is unreachable outside CI.
    fn new() -> Option<TestSchema> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let url = url();
        let admin = match Client::connect(&url, NoTls) {
            Ok(client) => client,
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "PostgreSQL is unreachable at {url} (set ETS_PG_URL to point elsewhere), \
                         and under CI=true the PostgreSQL tests must run: {e}"
                    );
                }
                eprintln!("skipped: PostgreSQL is unreachable at {url}: {e}");
                return None;
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ets_test_{n:x}_{:x}_{nanos:x}", std::process::id());
        Some(TestSchema { url, name, admin })
    }

    fn open(&self) -> Result<(PgJournal, Vec<Record>), PgJournalError> {
        PgJournal::open(&self.url, &self.name)
    }

    fn sql(&mut self, statement: &str) -> u64 {
        let statement = statement.replace("$S", &format!("\"{}\"", self.name));
        self.admin.execute(&statement, &[]).unwrap()
    }

    fn count(&mut self) -> i64 {
        let q = format!("SELECT count(*) FROM \"{}\".journal", self.name);
        self.admin.query_one(&q, &[]).unwrap().get(0)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let q = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        if let Err(e) = self.admin.batch_execute(&q) {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}

macro_rules! schema_or_skip {
    () => {
        match TestSchema::new() {
            Some(s) => s,
            None => return,
        }
    };
}

fn batches() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![b"first".to_vec()],
        (0..10)
            .map(|i| format!("record {i}").into_bytes())
            .collect(),
        vec![Vec::new(), vec![0u8, 255, 0, 1], vec![7u8; 10_000]],
        vec![b"last".to_vec()],
    ]
}

fn nosync() -> JournalOptions {
    JournalOptions {
        sync: SyncMode::None,
        ..JournalOptions::default()
    }
}

#[test]
fn round_trip_and_hashes_equal_the_embedded_journal() {
    let s = schema_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let (mut embedded, _) = Journal::open(dir.path(), nosync()).unwrap();

    let (mut pg, records) = s.open().unwrap();
    assert!(records.is_empty());
    assert_eq!(pg.last_seq(), 0);
    assert_eq!(pg.last_hash(), GENESIS_HASH);
    let empty = pg.append_batch::<&[u8]>(&[]).unwrap();
    assert_eq!((empty.first_seq, empty.last_seq), (1, 0));

    for batch in batches() {
        let a = pg.append_batch(&batch).unwrap();
        let b = embedded.append_batch(&batch).unwrap();
        assert_eq!(
            a, b,
            "same receipt (seqs and chain hash) as the embedded journal"
        );
    }
    let last = (pg.last_seq(), pg.last_hash());
    drop(pg);

    let (pg, records) = s.open().unwrap();
    assert_eq!((pg.last_seq(), pg.last_hash()), last);
    let expected = ets_journal::read(dir.path()).unwrap().1;
    assert_eq!(records, expected, "same records and hashes after reopening");
    let payloads: Vec<Vec<u8>> = batches().into_iter().flatten().collect();
    assert_eq!(
        records
            .iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>(),
        payloads
    );

    // verify and read work without the lock, beside the open writer.
    let report = verify(&s.url, &s.name).unwrap();
    assert_eq!(report.records, 15);
    assert_eq!(report.last_seq, 15);
    assert_eq!(report.head_seq, 15);
    assert_eq!(report.last_hash_hex, hex::encode(last.1));
    assert_eq!(read(&s.url, &s.name).unwrap().1, records);
}

#[test]
fn a_failed_batch_leaves_no_rows_and_poisons() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a", b"b"]).unwrap();
    let before = (pg.last_seq(), pg.last_hash());
    // The second row of the next batch violates a constraint added for the test.
    s.sql("ALTER TABLE $S.journal ADD CONSTRAINT no_poison CHECK (payload <> 'poison'::bytea)");
    let err = pg
        .append_batch(&[b"ok".as_slice(), b"poison", b"ok too"])
        .unwrap_err();
    assert!(matches!(err, PgJournalError::Sql { .. }), "{err}");
    assert_eq!(s.count(), 2, "no row of the failed batch is there");
    assert!(pg.is_poisoned());
    assert!(matches!(
        pg.append_batch(&[b"c"]),
        Err(PgJournalError::Poisoned { .. })
    ));
    drop(pg);

    let (mut pg, records) = s.open().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!((pg.last_seq(), pg.last_hash()), before);
    pg.append_batch(&[b"c"]).unwrap();
    assert_eq!(verify(&s.url, &s.name).unwrap().last_seq, 3);
}

#[test]
fn a_dropped_connection_fails_the_batch_and_releases_the_lock() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a"]).unwrap();
    // Find the writer's backend by the advisory lock it holds, and end it (waiting up to 5 s
    // for it to exit).
    let key = lock_key(&s.name);
    let pid: i32 = s
        .admin
        .query_one(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = (($1::bigint >> 32) & 4294967295)::oid \
             AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1",
            &[&key],
        )
        .unwrap()
        .get(0);
    s.admin
        .execute("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .unwrap();
    let err = pg.append_batch(&[b"b", b"c"]).unwrap_err();
    assert!(matches!(err, PgJournalError::Sql { .. }), "{err}");
    assert!(pg.is_poisoned());
    assert_eq!(s.count(), 1);
    // The lock went with the session: a new writer opens while the old value still exists.
    let (pg2, records) = s.open().unwrap();
    assert_eq!(records.len(), 1);
    drop((pg, pg2));
}

#[test]
fn an_edited_payload_is_corrupt_at_its_seq() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    for batch in batches() {
        pg.append_batch(&batch).unwrap();
    }
    drop(pg);
    assert_eq!(
        s.sql("UPDATE $S.journal SET payload = 'record X'::bytea WHERE seq = 5"),
        1
    );
    match s.open() {
        Err(PgJournalError::Corrupt { seq, what, .. }) => {
            assert_eq!(seq, 5);
            assert!(what.contains("edited"), "{what}");
        }
        other => panic!("expected Corrupt at seq 5, got {other:?}"),
    }
    assert!(matches!(
        verify(&s.url, &s.name),
        Err(PgJournalError::Corrupt { seq: 5, .. })
    ));
}

#[test]
fn a_missing_middle_record_is_corrupt() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a", b"b", b"c"]).unwrap();
    drop(pg);
    s.sql("DELETE FROM $S.journal WHERE seq = 2");
    let err = s.open().unwrap_err();
    assert!(
        matches!(err, PgJournalError::Corrupt { seq: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn a_rewritten_last_record_is_tampered() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a", b"b"]).unwrap();
    let head_hash = pg.last_hash();
    drop(pg);
    // A consistent rewrite of the last record (payload and hash) passes the chain; head catches it.
    let (_, records) = read(&s.url, &s.name).unwrap();
    let forged = record_hash(&records[0].hash, 2, b"B");
    s.admin
        .execute(
            &format!(
                "UPDATE \"{}\".journal SET payload = 'B'::bytea, hash = $1 WHERE seq = 2",
                s.name
            ),
            &[&&forged[..]],
        )
        .unwrap();
    match s.open() {
        Err(PgJournalError::Tampered {
            seq,
            log_hash,
            head_hash: h,
            ..
        }) => {
            assert_eq!(seq, 2);
            assert_eq!(log_hash, forged);
            assert_eq!(h, head_hash);
        }
        other => panic!("expected Tampered, got {other:?}"),
    }
}

#[test]
fn a_deleted_last_batch_is_truncated() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a", b"b"]).unwrap();
    pg.append_batch(&[b"c", b"d", b"e"]).unwrap();
    drop(pg);
    assert_eq!(s.sql("DELETE FROM $S.journal WHERE seq >= 3"), 3);
    match s.open() {
        Err(PgJournalError::Truncated {
            last_seq, head_seq, ..
        }) => assert_eq!((last_seq, head_seq), (2, 5)),
        other => panic!("expected Truncated, got {other:?}"),
    }
    // Everything deleted is a truncation too, not a new journal.
    s.sql("DELETE FROM $S.journal");
    assert!(matches!(
        s.open(),
        Err(PgJournalError::Truncated {
            last_seq: 0,
            head_seq: 5,
            ..
        })
    ));
    // And so is a missing head with records left.
    s.sql("DELETE FROM $S.head");
    assert!(matches!(
        verify(&s.url, &s.name),
        Err(PgJournalError::Anchor { .. })
    ));
}

#[test]
fn rows_added_behind_the_writers_back_are_refused() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    let r = pg.append_batch(&[b"a"]).unwrap();
    drop(pg);
    let h2 = record_hash(&r.last_hash, 2, b"b");
    s.admin
        .execute(
            &format!(
                "INSERT INTO \"{}\".journal (seq, payload, prev_hash, hash) VALUES (2, 'b', $1, $2)",
                s.name
            ),
            &[&&r.last_hash[..], &&h2[..]],
        )
        .unwrap();
    let err = s.open().unwrap_err();
    assert!(matches!(err, PgJournalError::Anchor { .. }), "{err}");
}

#[test]
fn a_second_writer_is_locked_out() {
    let s = schema_or_skip!();
    let (mut first, _) = s.open().unwrap();
    let err = s.open().unwrap_err();
    assert!(matches!(err, PgJournalError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("locked by another writer"),
        "{err}"
    );
    first.append_batch(&[b"a"]).unwrap();
    drop(first);
    let (_, records) = s.open().unwrap();
    assert_eq!(records.len(), 1);
}

#[test]
fn verify_of_a_missing_schema_is_not_found_and_creates_nothing() {
    let mut s = schema_or_skip!();
    let err = verify(&s.url, &s.name).unwrap_err();
    assert!(matches!(err, PgJournalError::NotFound { .. }), "{err}");
    let exists: bool = s
        .admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&s.name],
        )
        .unwrap()
        .get(0);
    assert!(!exists);
    assert!(matches!(
        PgJournal::open(&s.url, "Bad-Name"),
        Err(PgJournalError::InvalidSchema { .. })
    ));
}

#[test]
fn an_unreachable_server_is_a_connect_error_without_the_password() {
    let err = PgJournal::open(
        "postgres://u:secret@127.0.0.1:1/test?connect_timeout=2",
        "x",
    )
    .unwrap_err();
    assert!(matches!(err, PgJournalError::Connect { .. }), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

// ---- end to end: the market replayed from PostgreSQL -------------------------------------

fn env(command: Command) -> Envelope {
    Envelope {
        date: Date::new(2021, 3, 1).unwrap(),
        initiator: "test".into(),
        key: None,
        reason: "test".into(),
        command,
    }
}

#[test]
fn a_market_replayed_from_postgres_equals_the_embedded_store() {
    let s = schema_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(dir.path(), Date::new(2021, 3, 1).unwrap(), nosync()).unwrap();
    let project = ProjectId::parse("CCER-TEST-F001").unwrap();
    let class = UnitClass::Ccer {
        project: 1,
        vintage: 2019,
    };
    store
        .submit(&env(Command::RegisterProject {
            project: project.clone(),
            name: "test project".into(),
            province: "Shanxi".into(),
            kind: "forestry".into(),
        }))
        .unwrap();
    store
        .submit(&env(Command::IssueOffsets {
            project,
            vintage: 2019,
            quantity: 1_000_000,
        }))
        .unwrap();
    let holders: Vec<String> = (0..5).map(|i| format!("holder-{i}")).collect();
    store
        .submit_all(
            &holders
                .iter()
                .map(|h| env(Command::RegisterHolder { holder: h.clone() }))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let transfers: Vec<Envelope> = holders
        .iter()
        .enumerate()
        .map(|(i, h)| {
            env(Command::Transfer {
                class,
                quantity: 1_000 * (i as u64 + 1),
                from: "CCER-TEST-F001".into(),
                to: h.clone(),
            })
        })
        .collect();
    let results = store.submit_each(&transfers).unwrap();
    assert!(results.iter().all(Result::is_ok));
    store
        .submit(&env(Command::Transfer {
            class,
            quantity: 500,
            from: holders[4].clone(),
            to: holders[0].clone(),
        }))
        .unwrap();

    // Copy every record's payload into PostgreSQL, in two batches.
    let embedded = ets_journal::read(dir.path()).unwrap().1;
    assert!(embedded.len() >= 5);
    let (mut pg, _) = s.open().unwrap();
    let payloads: Vec<&[u8]> = embedded.iter().map(|r| &r.payload[..]).collect();
    let (a, b) = payloads.split_at(2);
    pg.append_batch(a).unwrap();
    let receipt = pg.append_batch(b).unwrap();
    assert_eq!(receipt.last_hash, embedded.last().unwrap().hash);
    drop(pg);

    let (_, records) = s.open().unwrap();
    assert_eq!(records, embedded);
    let (state, events) =
        ets_store::replay(records.iter().map(|r| (r.seq, &r.payload[..]))).unwrap();
    assert!(events > 0);
    assert!(
        state.market == *store.market(),
        "the market replayed from PostgreSQL differs"
    );
}

/// Fencing: a writer whose epoch was taken over (the `writer` row bumped by a newer writer,
/// while this one's session, and so its lock, lived on: a paused process) appends nothing and
/// cannot renew its lease; the journal is unchanged.
#[test]
fn a_writer_fenced_off_by_a_newer_epoch_appends_nothing() {
    let mut s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a"]).unwrap();
    pg.renew().unwrap();
    let epoch = pg.epoch();
    assert!(epoch >= 1);
    s.sql("UPDATE $S.writer SET epoch = epoch + 1");
    let err = pg.append_batch(&[b"b", b"c"]).unwrap_err();
    assert!(
        matches!(err, PgJournalError::Fenced { epoch: e, current: Some(c), .. } if e == epoch && c == epoch + 1),
        "{err}"
    );
    assert!(pg.is_poisoned());
    assert_eq!(s.count(), 1);
    drop(pg);
    // A new writer claims the next epoch and appends.
    let (mut pg2, records) = s.open().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(pg2.epoch(), epoch + 2);
    pg2.append_batch(&[b"b"]).unwrap();
    // Renewing is fenced the same way.
    s.sql("UPDATE $S.writer SET epoch = epoch + 1");
    assert!(matches!(
        pg2.renew().unwrap_err(),
        PgJournalError::Fenced { .. }
    ));
}

/// A standby's follower sees what the writer commits, in order and chained, and the lease.
#[test]
fn a_follower_reads_what_the_writer_commits() {
    let s = schema_or_skip!();
    let (mut pg, _) = s.open().unwrap();
    pg.append_batch(&[b"a"]).unwrap();
    let (mut f, records) = ets_pg::Follower::open(&s.url, &s.name).unwrap();
    assert_eq!(records.len(), 1);
    assert!(f.poll().unwrap().is_empty());
    pg.append_batch(&[b"b", b"c"]).unwrap();
    let new = f.poll().unwrap();
    assert_eq!(
        new.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(f.last_hash(), pg.last_hash());
    let lease = f.lease().unwrap().unwrap();
    assert_eq!(lease.epoch, pg.epoch());
    assert!(lease.lock_pid.is_some(), "{lease:?}");
    drop(pg);
    // The writer's lock is released when it is dropped (not only when the server notices).
    assert_eq!(f.lease().unwrap().unwrap().lock_pid, None);
}
