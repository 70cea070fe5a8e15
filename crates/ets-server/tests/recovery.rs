//! A store that can no longer write (issue 12, item 1): the PostgreSQL writer's backend
//! terminated in the middle of a burst, or a failed fsync under the embedded journal. The server
//! must then show nothing it did not make durable (every request, reads and `/api/health`
//! included, is refused with 503 `store_unavailable`), reopen the store on its own once it can,
//! rebuild its state from the journal, and take writes again, with every acknowledged write
//! present and nothing else.

mod common;

use std::sync::Arc;

use common::*;
use ets_faultfs::{Fault, FaultFs};
use ets_server::clock;
use ets_server::core::Policy;
use serde_json::{Value, json};

/// Orders that trade with each other: sells of SX0001, buys of the trader.
fn order(i: usize) -> (bool, Value) {
    let sell = i.is_multiple_of(2);
    let body = if sell {
        json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 10})
    } else {
        json!({"holder": "trader-1", "class": "CEA-2019", "side": "buy", "price": 4800, "qty": 10})
    };
    (sell, body)
}

/// Sends `n` orders at once (keys `{tag}-{i}`); returns `(user, key, status, body)` of each.
async fn burst(
    h: &Arc<Harness>,
    m: &Market,
    tag: &str,
    n: usize,
) -> Vec<(String, String, u16, Value)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (sell, body) = order(i);
        let (token, user) = if sell {
            (m.rep_a.clone(), "rep-a")
        } else {
            (m.member.clone(), "tr-a")
        };
        let key = format!("{tag}-{i}");
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let (s, v) = h
                .send("POST", "/api/orders", Some(&token), Some(body), Some(&key))
                .await;
            (user.to_string(), key, s, v)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Waits (up to a minute: a bound on progress, not a timing assertion) until `/api/health`
/// answers `status`.
async fn health_becomes(h: &Harness, status: u16) -> Value {
    for _ in 0..600 {
        let (s, v) = h.get("/api/health", None).await;
        if s == status {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("/api/health never answered {status}");
}

/// While down: health, a public read, a logged-in read and a write are all 503
/// `store_unavailable` (nothing of the state is shown).
async fn everything_is_refused(h: &Harness, m: &Market) {
    let v = health_becomes(h, 503).await;
    assert_eq!(v["code"], "store_unavailable", "{v}");
    assert_eq!(v["params"]["status"], "down", "{v}");
    for (path, token) in [
        ("/api/market/trades?class=CEA-2019", None),
        (&*format!("/api/accounts/{}", m.sx_account), Some(&*m.rep_a)),
    ] {
        let (s, v) = h.get(path, token).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (503, Some("store_unavailable")),
            "GET {path}: {v}"
        );
    }
    let (s, v) = h.post("/api/orders", Some(&m.rep_a), order(0).1).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (503, Some("store_unavailable")),
        "{v}"
    );
}

/// After recovery: the server's state is the journal's (replayed by a reader), every
/// acknowledged write is there (its idempotency answer remembered), and a write is accepted.
async fn recovered(
    h: &Harness,
    m: &Market,
    acknowledged: &[(String, String)],
    read: impl FnOnce() -> ets_store::State,
) {
    let v = health_becomes(h, 200).await;
    assert_eq!(v["status"], "ok", "{v}");
    let (s, v) = h.post("/api/orders", Some(&m.rep_a), order(0).1).await;
    assert_eq!(s, 201, "writes are accepted again: {v}");
    let journal = read();
    let now = h.app.clock.now_ms();
    {
        let st = h.app.read();
        assert!(
            st.market == journal.market,
            "the server's market is the journal's"
        );
        for (user, key) in acknowledged {
            assert!(
                journal.remembered(user, key, now).is_some(),
                "acknowledged {user} {key} is in the journal"
            );
        }
        assert_eq!(st.audit_count, journal.audit_count);
    }
    assert!(!acknowledged.is_empty());
}

fn acked(results: &[(String, String, u16, Value)]) -> Vec<(String, String)> {
    results
        .iter()
        .filter(|(_, _, s, _)| *s < 300)
        .map(|(u, k, _, _)| (u.clone(), k.clone()))
        .collect()
}

/// PostgreSQL: the writer's backend is terminated while a batch waits on a lock the test
/// holds (so the batch is in memory and certainly not committed). Down until the lock goes;
/// then reopened, replayed, writing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writer_connection_terminated_during_a_burst() {
    let Some(h) = Harness::new(Kind::Postgres, "recovery") else {
        return;
    };
    let m = setup(&h).await;
    let (url, schema) = h.pg().unwrap();
    let h = Arc::new(h);
    let before = burst(&h, &m, "before", 40).await;
    let mut acknowledged = acked(&before);
    assert_eq!(acknowledged.len(), 40, "{before:?}");

    // Hold the journal: the next batch is applied in memory and then waits in its INSERT.
    let (blocker_tx, blocker_rx) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let (url, schema) = (url.clone(), schema.clone());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = c.transaction().unwrap();
            tx.batch_execute(&format!(
                "LOCK TABLE \"{schema}\".journal IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
            locked_tx.send(()).unwrap();
            blocker_rx.recv().unwrap();
            tx.commit().unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let during = {
        let (h, m) = (h.clone(), clone_market(&m));
        tokio::spawn(async move { burst(&h, &m, "during", 40).await })
    };
    // Wait for the writer to block on the lock, then end its session.
    let app_name = ets_pg::application_name(&schema);
    let terminated = {
        let url = url.clone();
        off_runtime(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            for _ in 0..600 {
                let row = c
                    .query_opt(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                        &[&app_name],
                    )
                    .unwrap();
                if let Some(row) = row {
                    let pid: i32 = row.get(0);
                    return c
                        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                        .unwrap()
                        .get::<_, bool>(0);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            false
        })
    };
    assert!(
        terminated,
        "the writer's backend was found waiting and ended"
    );
    let during = during.await.unwrap();
    for (_, key, s, v) in &during {
        assert!(
            *s >= 500,
            "{key}: nothing of the failed batch is acknowledged: {s} {v}"
        );
    }
    // Down while the journal cannot be read: nothing shown.
    everything_is_refused(&h, &m).await;
    blocker_tx.send(()).unwrap();
    blocker.join().unwrap();

    let location = h.location.clone();
    acknowledged.extend(acked(&during));
    recovered(&h, &m, &acknowledged, move || {
        off_runtime(move || ets_store::read(&location).unwrap().0)
    })
    .await;
}

fn clone_market(m: &Market) -> Market {
    Market {
        regulator: m.regulator.clone(),
        rep_a: m.rep_a.clone(),
        rep_b: m.rep_b.clone(),
        hb_a: m.hb_a.clone(),
        bureau: m.bureau.clone(),
        verifier: m.verifier.clone(),
        idle_verifier: m.idle_verifier.clone(),
        auditor: m.auditor.clone(),
        member: m.member.clone(),
        sx_account: m.sx_account.clone(),
        hb_account: m.hb_account.clone(),
        trader_account: m.trader_account.clone(),
    }
}

/// The embedded journal on a disk whose fsyncs start failing in the middle of a burst: down
/// (and reopening fails) until the disk works again; then the journal file is reopened, the
/// state replayed, writes taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_fsync_fails_during_a_burst() {
    let mut h = Harness::new(Kind::Embedded, "recovery").unwrap();
    // The same server on an in-memory disk that can fail (ets-faultfs).
    let fs = FaultFs::new(12);
    let dir = std::path::PathBuf::from("/store");
    let reopen = ets_store::Reopen::in_storage(
        fs.storage(),
        &dir,
        clock::beijing(clock::parse_beijing(START).unwrap()).0,
        ets_journal::JournalOptions::default(),
    );
    let app = {
        let (clock, limits) = (h.clock.clone(), h.limits.clone());
        off_runtime(move || {
            let policy = Policy {
                trusted_delay_ms: DELAY_MS,
                ..Policy::default()
            };
            ets_server::App::open_with(reopen, policy, Arc::new(clock), limits).unwrap()
        })
    };
    let first = std::mem::replace(&mut h.app, app);
    off_runtime(move || first.shutdown());
    h.router = ets_server::router(h.app.clone());

    let m = setup(&h).await;
    let h = Arc::new(h);
    let before = burst(&h, &m, "before", 40).await;
    let mut acknowledged = acked(&before);
    assert_eq!(acknowledged.len(), 40);

    // Every fsync from now on fails (each armed fault fires once), reopening included.
    let at = fs.ops() + 1;
    for _ in 0..10_000 {
        fs.arm(Fault::SyncFails { at_op: at });
    }
    let during = burst(&h, &m, "during", 40).await;
    assert!(
        during.iter().any(|(_, _, s, _)| *s >= 500),
        "the failed fsync refused the batch"
    );
    everything_is_refused(&h, &m).await;
    fs.disarm();

    // What was acknowledged during the burst (before the failure) must be there; the failed
    // batch may be there too (written again by the reopen) but was not acknowledged.
    acknowledged.extend(acked(&during));
    let storage = fs.storage();
    recovered(&h, &m, &acknowledged, move || {
        fs.pause(true);
        let state = ets_store::read_in(&*storage, &dir).unwrap().0;
        fs.pause(false);
        state
    })
    .await;
}
