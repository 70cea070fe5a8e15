//! Stores written by the previous release open unchanged (`tests/fixtures/previous-release`):
//! its embedded data directory, with the CLI's records and the server's (access events and
//! audit entries), and its PostgreSQL schema (restored from `pg_dump` into a fresh schema, from
//! `ETS_PG_URL`; under CI=true an unreachable server fails the test). Both are read beside a
//! writer, opened for writing, written to, and replayed again.

use std::path::{Path, PathBuf};

use ets_journal::JournalOptions;
use ets_market::{Command, Envelope};
use ets_store::{Location, Store};
use ets_types::{CompanyId, Date};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/previous-release")
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn register(holder: &str) -> Envelope {
    Envelope {
        date: date("2022-01-06"),
        initiator: "test".into(),
        key: None,
        reason: "written by this release".into(),
        command: Command::RegisterHolder {
            holder: holder.into(),
        },
    }
}

/// What the previous release wrote to its embedded store, as this release reads it.
#[test]
fn an_embedded_store_of_the_previous_release_opens_and_takes_writes() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["journal.log", "HEAD"] {
        std::fs::copy(fixtures().join(f), dir.path().join(f)).unwrap();
    }
    let location = Location::Dir(dir.path().to_path_buf());

    let (state, report) = ets_store::read(&location).unwrap();
    // That server was stopped by a signal between a record's write and HEAD's move: a reader
    // takes what HEAD vouches for, the writer's open takes the whole log (see below).
    assert_eq!((report.durable_seq, report.last_seq), (68, 69));
    // The CLI's records: the worked example's three companies, allocated, assessed, traded.
    let m = &state.market;
    for c in ["SX0001", "SX0002", "GD0001"] {
        assert!(m.company(&CompanyId::parse(c).unwrap()).is_some(), "{c}");
    }
    assert_eq!(m.plan_ids().collect::<Vec<_>>(), ["cn-power-2019-2020"]);
    let exchange = m
        .exchange()
        .expect("the worked example opened the exchange");
    assert!(!exchange.trades().is_empty());
    // The server's records: users, a token, every request's audit entry, the deposit.
    assert!(state.access.user("admin").is_some());
    assert!(state.access.user("bureau-shanxi").is_some());
    assert!(state.audit_count >= 5, "{}", state.audit_count);
    let sx2 = m.resolve_account("SX0002").unwrap();
    assert!(
        exchange.funds.total_fen() >= 5_000_000,
        "the deposit to {sx2} is there"
    );

    // Opened for writing by this release, written to, and read again.
    let (mut store, opened) =
        Store::open_at(&location, date("2022-01-06"), JournalOptions::default()).unwrap();
    assert_eq!(opened.records, 69);
    assert!(
        store.market() == m,
        "the 69th record is an audit entry only"
    );
    store.submit(&register("trader-new")).unwrap();
    let live = store.market().clone();
    drop(store);
    let (again, _) = ets_store::read(&location).unwrap();
    assert!(again.market == live);
    assert!(again.market.resolve_account("trader-new").is_some());
}

/// The previous release's PostgreSQL store, restored from its dump, opens, and its read tables
/// are rebuilt from the journal.
#[test]
fn a_postgres_store_of_the_previous_release_opens_and_takes_writes() {
    let url = std::env::var("ETS_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut client = match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is unreachable at {url} (ETS_PG_URL) and CI=true: {e}"
            );
            eprintln!("skipped: PostgreSQL is unreachable at {url}: {e}");
            return;
        }
    };
    let schema = format!("previous_release_{}", std::process::id());
    let dump = std::fs::read_to_string(fixtures().join("postgres.sql"))
        .unwrap()
        .replace("previous_release", &schema);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    client.batch_execute(&dump).unwrap();
    let location = Location::Postgres {
        url: url.clone(),
        schema: schema.clone(),
    };
    let outcome = std::panic::catch_unwind(|| {
        let (state, _) = ets_store::read(&location).unwrap();
        assert!(state.access.user("admin").is_some());
        assert!(state.access.user("bureau-shanxi").is_some());
        assert!(state.audit_count >= 4, "{}", state.audit_count);
        let (mut store, report) =
            Store::open_at(&location, date("2022-01-06"), JournalOptions::default()).unwrap();
        assert!(!report.created);
        store.submit(&register("trader-new")).unwrap();
        let live = store.market().clone();
        drop(store);
        let (again, _) = ets_store::read(&location).unwrap();
        assert!(again.market == live);
        // The read tables were rebuilt from the journal at open and follow the new write.
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let holders: Vec<String> = c
            .query(&format!("SELECT holder FROM {schema}.accounts"), &[])
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        assert!(holders.iter().any(|h| h == "trader-new"), "{holders:?}");
    });
    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
