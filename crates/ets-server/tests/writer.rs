//! The writer under pressure: its queue is bounded, and a full queue is refused at once with
//! 503 `queue_full` and `Retry-After` instead of growing without limit; once it drains, the
//! server answers again and nothing acknowledged was lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ets_server::clock::{self, Clock, ManualClock};
use ets_server::core::Policy;
use ets_server::store::Location;
use ets_server::{App, Limits};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn send(
    router: &axum::Router,
    path: &str,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry,
        serde_json::from_slice(&body).unwrap_or_default(),
    )
}

// The write guard is held across awaits on purpose: it stalls the writer thread (not this
// task's runtime, whose requests take no lock) so that the queue fills.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_with_retry_after_and_drains() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Dir(dir.path().join("d"));
    let clock = ManualClock::at(clock::parse_beijing("2021-07-16T10:00").unwrap());
    let limits = Limits {
        queue: 2,
        // Every request journaled on its own (anonymous refusals are not tallied per period).
        tally_period: Duration::ZERO,
        ..Limits::default()
    };
    let start = clock::beijing(clock.now_ms()).0;
    let app = {
        let (location, clock, limits) = (location.clone(), clock.clone(), limits.clone());
        std::thread::spawn(move || {
            App::open(&location, start, Policy::default(), Arc::new(clock), limits).unwrap()
        })
        .join()
        .unwrap()
    };
    let router = ets_server::router(app.clone());

    // Hold the state's write lock: the writer takes the next job off the queue and then waits
    // for the lock, so later jobs pile up in the queue.
    let guard = app.state.write();
    // Requests for no route take no lock and are answered 404; each leaves an audit job for
    // the writer.
    let (status, _, _) = send(&router, "/api/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.progress.queued.load(Ordering::Relaxed) > 0 {
        assert!(
            Instant::now() < deadline,
            "the writer never took the first job"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..2 {
        let (status, _, _) = send(&router, "/api/no-such-route").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        app.progress.queued.load(Ordering::Relaxed),
        2,
        "two jobs wait"
    );

    // Full: refused at once, before anything else is looked at, with when to come back.
    let (status, retry, body) = send(&router, "/api/no-such-route").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "queue_full", "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(app.shed.load(Ordering::Relaxed), 1);

    // Let the writer go: the queue drains and the server answers as before.
    drop(guard);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.progress.queued.load(Ordering::Relaxed) > 0 {
        assert!(Instant::now() < deadline, "the queue never drained");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, retry, _) = send(&router, "/api/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(retry, None);
    app.shutdown();

    // Every request that was answered (four 404s) left its record; the shed one did not.
    let (state, _) = ets_store::read(&location).unwrap();
    assert_eq!(state.audit_count, 4);
}
