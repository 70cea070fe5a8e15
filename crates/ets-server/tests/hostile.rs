//! The hostile-client campaign of issue 12 ("Reliability and security"), one regression test per
//! finding at the HTTP edge: each failed before its fix. Every response also passes
//! `common::check_response` (JSON with a documented code for every refusal of the API).

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, header};
use common::*;
use ets_server::Limits;
use ets_server::core::Op;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Sends a request as if from `addr`; the status, the headers and the JSON body.
async fn from(h: &Harness, addr: &str, mut req: Request<Body>) -> (u16, HeaderMap, Value) {
    let addr: SocketAddr = format!("{addr}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    check_response(&method, &path, status, &bytes);
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, v)
}

/// A JSON POST with an idempotency key and no caller.
fn anonymous_post(path: &str, body: &Value, key: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Password hashes and checks the server has computed.
async fn hashes(h: &Harness) -> u64 {
    let (_, v) = h.get("/api/health", None).await;
    v["password_hashes"]
        .as_u64()
        .unwrap_or_else(|| panic!("health reports no password_hashes: {v}"))
}

both!(
    exchange_commands_carry_only_the_servers_minute,
    the_regulator_never_approves_for_a_company,
    account_requests_check_before_hashing,
    failed_logins_back_off_per_user_and_address,
    an_anonymous_flood_leaves_a_bounded_journal,
    values_are_refused_at_the_edge_naming_their_field,
);

/// Exchange commands carry only the server's time. `POST /api/commands` is the regulator's and
/// takes none of them (a member or a company's representative is refused before the body is
/// read, the regulator's body is refused by its `command`); no exchange route takes a `minute`.
/// The campaign had a block trade proposed and accepted at 10:02 with a client's `minute` of the
/// block session.
async fn exchange_commands_carry_only_the_servers_minute(h: Harness) {
    let m = setup(&h).await;
    // 10:00 Beijing time: the listed session, not the block session (13:00-15:00).
    let block = json!({"command": "exchange", "op": "propose_block", "holder": "SX0001",
        "counterparty": "trader-1", "class": "CEA-2019", "side": "sell", "price": 4800,
        "qty": 100_000, "minute": 13 * 60 + 5});
    for token in [
        &m.member,
        &m.rep_a,
        &m.hb_a,
        &m.bureau,
        &m.verifier,
        &m.auditor,
    ] {
        let (s, v) = h.post("/api/commands", Some(token), block.clone()).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    }
    let (s, v) = h
        .post("/api/commands", Some(&m.regulator), block.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_enum"), Some("command")),
        "{v}"
    );
    let order = json!({"command": "exchange", "op": "order", "holder": "SX0001", "class": "CEA-2019",
        "side": "sell", "price": 4800, "qty": 10, "tif": "day", "minute": 600});
    let (s, v) = h.post("/api/commands", Some(&m.regulator), order).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_enum")), "{v}");
    // The exchange's own routes take no minute: the server's clock says when.
    let proposal = json!({"holder": "SX0001", "counterparty": "trader-1", "class": "CEA-2019",
        "side": "sell", "price": 4800, "qty": 100_000});
    let mut with_minute = proposal.clone();
    with_minute["minute"] = json!(13 * 60 + 5);
    let (s, v) = h.post("/api/blocks", Some(&m.rep_a), with_minute).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("unknown_field"), Some("minute")),
        "{v}"
    );
    let (s, v) = h
        .post("/api/blocks", Some(&m.rep_a), proposal.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("outside_block_session")),
        "at 10:00 by the server's clock: {v}"
    );
    for (path, body) in [
        (
            "/api/orders",
            json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 1, "minute": 600}),
        ),
        (
            "/api/orders/1/amend",
            json!({"holder": "SX0001", "price": 4800, "qty": 1, "minute": 600}),
        ),
        (
            "/api/orders/1/take",
            json!({"holder": "SX0001", "qty": 1, "minute": 600}),
        ),
        (
            "/api/blocks/1/accept",
            json!({"holder": "SX0001", "minute": 800}),
        ),
        (
            "/api/auctions/1/bids",
            json!({"holder": "SX0001", "price": 4800, "qty": 1, "minute": 600}),
        ),
    ] {
        let (s, v) = h.post(path, Some(&m.rep_a), body).await;
        assert_eq!(
            (s, v["code"].as_str(), v["field"].as_str()),
            (400, Some("unknown_field"), Some("minute")),
            "{path}: {v}"
        );
    }
    // At 13:05 by the server's clock the same proposal is in the block session.
    h.clock.advance((3 * 60 + 5) * 60_000);
    let (s, v) = h.post("/api/blocks", Some(&m.rep_a), proposal).await;
    assert_ne!(
        v["code"].as_str(),
        Some("outside_block_session"),
        "{s}: {v}"
    );
}

/// Four eyes are two distinct people of the account holder. The regulator may not initiate,
/// approve or reject a company's instruction, nor change its trusted list, by route or by the
/// writer; it freezes and corrects by its own commands, each journaled with its reason. The
/// campaign had one regulator user move a company's units without a second person of it.
async fn the_regulator_never_approves_for_a_company(h: Harness) {
    let m = setup(&h).await;
    let v = h
        .ok(
            "/api/instructions",
            &m.rep_a,
            json!({"company": "SX0001", "kind": "trust", "account": m.hb_account}),
        )
        .await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    for decision in ["approve", "reject"] {
        let (s, v) = h
            .post(
                &format!("/api/instructions/{id}/{decision}"),
                Some(&m.regulator),
                json!({}),
            )
            .await;
        assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    }
    let (s, v) = h
        .post(
            "/api/instructions",
            Some(&m.regulator),
            json!({"company": "SX0001", "kind": "trust", "account": m.trader_account}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    // The writer decides the same whatever the way in.
    for approve in [true, false] {
        let reply = h
            .as_user(Some("regulator"), Op::DecideInstruction { id, approve })
            .await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    let (s, v) = h
        .get(
            "/api/instructions?company=SX0001&status=pending",
            Some(&m.regulator),
        )
        .await;
    assert_eq!(s, 200, "the regulator still sees them: {v}");
    assert_eq!(v["instructions"][0]["id"], json!(id), "still pending: {v}");
    // The second person is the company's.
    let v = h
        .ok(
            &format!("/api/instructions/{id}/approve"),
            &m.rep_b,
            json!({}),
        )
        .await;
    assert_eq!(v["status"], "executed", "{v}");
    let (s, v) = h
        .post(
            &format!("/api/companies/SX0001/trusted/{}/remove", m.hb_account),
            Some(&m.regulator),
            json!({}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    // The regulator's own procedure: a freeze, with its reason, which the journal keeps.
    let freeze = json!({"command": "set_account_status", "holder": "SX0001", "status": "frozen"});
    let (s, v) = h
        .post("/api/commands", Some(&m.regulator), freeze.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("missing_field"), Some("reason")),
        "{v}"
    );
    let mut with_reason = freeze;
    with_reason["reason"] = json!("court order 2021-17 (asset freeze)");
    h.ok("/api/commands", &m.regulator, with_reason).await;
    let (_, v) = h
        .get(
            &format!("/api/accounts/{}", m.sx_account),
            Some(&m.regulator),
        )
        .await;
    assert_eq!(v["status"], "frozen", "{v}");
    assert!(
        journal_contains(&h, "court order 2021-17 (asset freeze)"),
        "the reason is journaled"
    );
}

/// Whether the journal's records hold `text` (the embedded journal's files, or PostgreSQL's
/// journal table).
fn journal_contains(h: &Harness, text: &str) -> bool {
    match &h.location {
        ets_server::store::Location::Dir(dir) => std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
            bytes.windows(text.len()).any(|w| w == text.as_bytes())
        }),
        ets_server::store::Location::Postgres { url, schema } => {
            let (url, schema, text) = (url.clone(), schema.clone(), text.to_string());
            off_runtime(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let row = c
                    .query_one(
                        &format!(
                            "SELECT count(*) FROM \"{schema}\".journal WHERE position($1::bytea in payload) > 0"
                        ),
                        &[&text.as_bytes()],
                    )
                    .unwrap();
                row.get::<_, i64>(0) > 0
            })
        }
    }
}

/// An anonymous account request does cheap, bounded work before any expensive work: at most
/// five representatives and four documents of 256 KiB, every password's length, every name and
/// the state's rules checked before the first password is hashed. The campaign stalled the
/// server for 15 s with six parallel requests naming many representatives.
async fn account_requests_check_before_hashing(h: Harness) {
    let _ = h.bootstrap("regulator").await;
    let start = hashes(&h).await;
    let reps = ["r1", "r2", "r3", "r4", "r5", "r6"];
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0002", "Shanxi"), &reps),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("too_long"), Some("representatives")),
        "{v}"
    );
    assert_eq!(v["params"]["max"], json!(5), "{v}");
    let mut big = request_json(company_json("SX0002", "Shanxi"), &["r1", "r2"]);
    big["documents"][0]["content_base64"] = json!(base64_of(256 * 1024 + 1));
    let (s, v) = h.post("/api/account-requests", None, big.clone()).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("too_long"), Some("documents[0].content_base64")),
        "{v}"
    );
    big["documents"][0]["content_base64"] = json!(base64_of(1000));
    let docs = big["documents"][0].clone();
    big["documents"] = json!([docs.clone(), docs.clone(), docs.clone(), docs.clone(), docs]);
    let (s, v) = h.post("/api/account-requests", None, big).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("too_long"), Some("documents")),
        "{v}"
    );
    let mut bad_name = request_json(company_json("SX0002", "Shanxi"), &["r1", "r2"]);
    bad_name["representatives"][1]["name"] = json!("r 2");
    let (s, v) = h.post("/api/account-requests", None, bad_name).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_name"), Some("representatives[1].name")),
        "{v}"
    );
    let mut weak = request_json(company_json("SX0002", "Shanxi"), &["r1", "r2", "r3"]);
    weak["representatives"][2]["password"] = json!("too short");
    let (s, v) = h.post("/api/account-requests", None, weak).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (
            422,
            Some("weak_password"),
            Some("representatives[2].password")
        ),
        "{v}"
    );
    assert_eq!(
        hashes(&h).await,
        start,
        "nothing hashed for a refused request"
    );
    // Five representatives: five hashes.
    let five = request_json(
        company_json("SX0002", "Shanxi"),
        &["r1", "r2", "r3", "r4", "r5"],
    );
    let (s, first) = h
        .send(
            "POST",
            "/api/account-requests",
            None,
            Some(five.clone()),
            Some("apply-1"),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(hashes(&h).await, start + 5);
    // A retry gets its answer again (the names are pending now, and that is no refusal).
    let (s, again) = h
        .send(
            "POST",
            "/api/account-requests",
            None,
            Some(five),
            Some("apply-1"),
        )
        .await;
    assert_eq!(
        (s, &again["id"], &again["replayed"]),
        (201, &first["id"], &json!(true)),
        "{again}"
    );
    // A name that is taken (pending) or a company already requested: refused, nothing hashed.
    let before = hashes(&h).await;
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0003", "Shanxi"), &["q1", "r3"]),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("user_exists")), "{v}");
    assert_eq!(hashes(&h).await, before, "{v}");
}

fn base64_of(bytes: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![b'%'; bytes])
}

/// Account requests are limited per address and hour (before the body is read), and password
/// hashing runs in bounded slots: beyond the waiting room a login is refused at once with 503
/// `busy` and `Retry-After`, instead of stalling every login behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_and_hashing_are_bounded() {
    let limits = Limits {
        rate_per_second: 100_000,
        burst: 100_000,
        applications_per_hour: 3,
        hash_slots: 1,
        hash_waiting: 1,
        ..Limits::default()
    };
    let h = Harness::with_limits(Kind::Embedded, "bounded", limits).unwrap();
    let _ = h.bootstrap("regulator").await;
    for i in 0..3 {
        let (s, _, v) = from(
            &h,
            "192.0.2.1",
            anonymous_post("/api/account-requests", &json!({}), &format!("a{i}")),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (400, Some("missing_field")), "{v}");
    }
    let huge = json!({"documents": "x".repeat(2 << 20)});
    let (s, headers, v) = from(
        &h,
        "192.0.2.1",
        anonymous_post("/api/account-requests", &huge, "a3"),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (429, Some("rate_limited")),
        "before the body: {v}"
    );
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    let (s, _, v) = from(
        &h,
        "192.0.2.2",
        anonymous_post("/api/account-requests", &json!({}), "b0"),
    )
    .await;
    assert_eq!(s, 400, "another address has its own allowance: {v}");
    h.clock.advance(3600 * 1000 / 3 + 1000);
    let (s, _, v) = from(
        &h,
        "192.0.2.1",
        anonymous_post("/api/account-requests", &json!({}), "a4"),
    )
    .await;
    assert_eq!(s, 400, "one more after a third of an hour: {v}");

    // One slot, taken; one request waiting for it; the next is refused at once.
    let slot = h.app.hashing.slot().await.unwrap();
    let waiter = tokio::spawn({
        let app = h.app.clone();
        async move { app.hashing.slot().await.is_ok() }
    });
    while h.app.hashing.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let login = json!({"username": "regulator", "password": "correct horse battery"});
    let (s, headers, v) = from(&h, "192.0.2.3", anonymous_post("/api/login", &login, "l0")).await;
    assert_eq!((s, v["code"].as_str()), (503, Some("busy")), "{v}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    drop(slot);
    assert!(waiter.await.unwrap());
    let (s, _, v) = from(&h, "192.0.2.3", anonymous_post("/api/login", &login, "l1")).await;
    assert_eq!(s, 201, "{v}");
}

/// Failed logins back off per user name and per address: after five failures of a user (twenty
/// of an address) each further attempt within the wait is refused with 429 `login_throttled` and
/// `Retry-After`, before its password is checked, right or wrong; the wait doubles with each
/// failure. The campaign sent 700 wrong passwords and never saw a 429.
async fn failed_logins_back_off_per_user_and_address(h: Harness) {
    let _ = h.bootstrap("regulator").await;
    let login = |password: &str| json!({"username": "regulator", "password": password});
    for _ in 0..5 {
        let (s, v) = h.post("/api/login", None, login("wrong password!")).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("bad_credentials")),
            "{v}"
        );
    }
    let checked = hashes(&h).await;
    for password in ["wrong password!", "correct horse battery"] {
        let (s, headers, v) = from(
            &h,
            "203.0.113.9",
            anonymous_post("/api/login", &login(password), "x"),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str(), v["params"]["retry_after_s"].as_u64()),
            (429, Some("login_throttled"), Some(1)),
            "{v}"
        );
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }
    assert_eq!(
        hashes(&h).await,
        checked,
        "no password checked while backing off"
    );
    h.clock.advance(1000);
    let (s, v) = h.post("/api/login", None, login("wrong password!")).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = h
        .post("/api/login", None, login("correct horse battery"))
        .await;
    assert_eq!(
        (s, v["params"]["retry_after_s"].as_u64()),
        (429, Some(2)),
        "the wait doubled: {v}"
    );
    h.clock.advance(2000);
    let (s, v) = h
        .post("/api/login", None, login("correct horse battery"))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = h.post("/api/login", None, login("wrong password!")).await;
    assert_eq!(s, 401, "a success forgets the user's failures: {v}");
    // An address guessing many names backs off too; another address does not.
    for i in 0..20 {
        let body = json!({"username": format!("guess-{i}"), "password": "a guessed password"});
        let (s, _, v) = from(&h, "198.51.100.7", anonymous_post("/api/login", &body, "x")).await;
        assert_eq!(s, 401, "{v}");
    }
    let body = json!({"username": "guess-99", "password": "a guessed password"});
    let (s, _, v) = from(&h, "198.51.100.7", anonymous_post("/api/login", &body, "x")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (429, Some("login_throttled")),
        "{v}"
    );
    let (s, _, v) = from(&h, "198.51.100.8", anonymous_post("/api/login", &body, "x")).await;
    assert_eq!(s, 401, "{v}");
}

/// A request with an unknown token costs its address's rate limit like any anonymous request
/// (the campaign's invalid tokens skipped it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tokens_count_against_the_address() {
    let limits = Limits {
        rate_per_second: 5,
        burst: 5,
        ..Limits::default()
    };
    let h = Harness::with_limits(Kind::Embedded, "forged", limits).unwrap();
    let token = h.bootstrap("regulator").await;
    let forged = || {
        Request::get("/api/me")
            .header(header::AUTHORIZATION, "Bearer forged")
            .body(Body::empty())
            .unwrap()
    };
    let mut seen = Vec::new();
    for _ in 0..7 {
        let (s, headers, v) = from(&h, "192.0.2.50", forged()).await;
        seen.push(s);
        if s == 429 {
            assert_eq!(v["code"], "rate_limited", "{v}");
            assert!(headers.contains_key(header::RETRY_AFTER));
        }
    }
    assert_eq!(seen, [401, 401, 401, 401, 401, 429, 429]);
    // A valid token from the same address has the user's own bucket.
    let me = Request::get("/api/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, v) = from(&h, "192.0.2.50", me).await;
    assert_eq!(s, 200, "{v}");
}

/// An anonymous flood (unknown tokens, wrong passwords, reads, unknown routes, malformed
/// requests) leaves no record per request: each is counted, and the period's counts are
/// journaled as one aggregated entry per who, route, status and code. The campaign measured
/// about 265 journal bytes per refused request.
async fn an_anonymous_flood_leaves_a_bounded_journal(h: Harness) {
    let _ = h.bootstrap("regulator").await;
    let entries = |v: &Value| v["audit_entries"].as_u64().unwrap();
    let (_, v) = h.get("/api/health", None).await;
    let before = entries(&v);
    let mut sent = 1; // that health read
    for i in 0..100 {
        h.get("/api/me", Some("forged")).await;
        h.get("/api/market/book?class=CEA-2021", None).await;
        h.get(&format!("/api/nowhere/{i}"), None).await;
        sent += 3;
    }
    for i in 0..40 {
        let body = json!({"username": format!("user-{i}"), "password": "a guessed password"});
        h.post("/api/login", None, body).await;
        h.post("/api/account-requests", None, json!({"applicant": 1}))
            .await;
        sent += 2;
    }
    let (_, v) = h.get("/api/health", None).await;
    assert_eq!(entries(&v), before, "nothing journaled per request");
    sent += 1;
    // The period ends: its counts are journaled at the next request.
    h.clock.advance(h.limits.tally_period.as_millis() as i64);
    h.get("/api/health", None).await;
    let reg = h.token("regulator").await;
    let mut v = Value::Null;
    for _ in 0..200 {
        let (_, got) = h.get("/api/audit?limit=50", Some(&reg)).await;
        v = got;
        let counted: u64 = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["count"].as_u64())
            .sum();
        if counted == sent {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let aggregated: Vec<&Value> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("count").is_some())
        .collect();
    let counted: u64 = aggregated.iter().filter_map(|e| e["count"].as_u64()).sum();
    assert_eq!(counted, sent, "every request counted: {v}");
    assert!(
        aggregated.len() <= 8,
        "{} aggregated entries for {sent} requests: {v}",
        aggregated.len()
    );
    let find = |route: &str, code: Option<&str>| {
        aggregated
            .iter()
            .find(|e| e["path"] == route && e["code"].as_str() == code)
            .unwrap_or_else(|| panic!("no entry {route} {code:?}: {v}"))["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(find("/api/me", Some("unauthenticated")), 100);
    assert_eq!(find("/api/market/book", None), 100);
    assert_eq!(find("*", Some("no_route")), 100);
    assert_eq!(find("/api/account-requests", Some("malformed")), 40);
    assert_eq!(
        find("/api/login", Some("bad_credentials")) + find("/api/login", Some("login_throttled")),
        40
    );
}

/// Values the campaign had accepted are refused at the edge, naming their field, and the
/// document states the same bounds: an order in a class no instrument covers (`CCER-P99-2021`:
/// no such project; `CEA-2030`: no such vintage on the market), a vintage outside 2005-2100,
/// names and ids of many kilobytes in paths and query strings, names with a right-to-left
/// override. Unit categories have one spelling, the files' (`coal_above_300`).
async fn values_are_refused_at_the_edge_naming_their_field(h: Harness) {
    let m = setup(&h).await;
    let order = |class: &str| json!({"holder": "trader-1", "class": class, "side": "buy", "price": 3000, "qty": 10});
    for class in ["CCER-P99-2021", "CEA-2030"] {
        let (s, v) = h.post("/api/orders", Some(&m.member), order(class)).await;
        assert_eq!(
            (
                s,
                v["code"].as_str(),
                v["field"].as_str(),
                v["params"]["class"].as_str()
            ),
            (404, Some("unknown_instrument"), Some("class"), Some(class)),
            "{v}"
        );
    }
    let block = json!({"holder": "trader-1", "counterparty": "SX0001", "class": "CCER-P99-2021",
        "side": "buy", "price": 3000, "qty": 100_000});
    let (s, v) = h.post("/api/blocks", Some(&m.member), block).await;
    assert_eq!((s, v["field"].as_str()), (404, Some("class")), "{v}");
    for class in ["CEA-9999", "CEA-65535", "CEA-1999", "CCER-P1-2101"] {
        let (s, v) = h.post("/api/orders", Some(&m.member), order(class)).await;
        assert_eq!(
            (
                s,
                v["code"].as_str(),
                v["field"].as_str(),
                v["params"]["max"].as_i64()
            ),
            (400, Some("invalid_class"), Some("class"), Some(2100)),
            "{class}: {v}"
        );
    }
    let (s, v) = h.get("/api/reports?year=65535", Some(&m.regulator)).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("out_of_range"), Some("year")),
        "{v}"
    );
    let (s, v) = h.get("/api/reports?status=lost", Some(&m.regulator)).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_enum")), "{v}");
    // Kilobytes of name in a path or a query string: refused by their format, not echoed.
    let long = "n".repeat(20_000);
    let (s, v) = h
        .post(
            &format!("/api/users/{long}/deactivate"),
            Some(&m.regulator),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_name"), Some("name")),
        "{}",
        &v.to_string()[..200]
    );
    assert!(v.to_string().len() < 1000, "the name is not echoed whole");
    let (s, v) = h
        .get(&format!("/api/orders?holder={long}"), Some(&m.member))
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_id"), Some("holder"))
    );
    assert!(v.to_string().len() < 1000, "the holder is not echoed whole");
    let (s, v) = h
        .get(&format!("/api/instructions?company={long}"), Some(&m.rep_a))
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_id")));
    // Control and bidirectional characters in names.
    for display in [
        "evil\u{202e}fdp.exe",
        "a\u{0}b",
        "\u{2066}x\u{2069}",
        "c1\u{85}x",
        "   ",
    ] {
        let body = json!({"name": "bureau-x", "display": display, "password": "a-long-password-1", "role": "auditor"});
        let (s, v) = h.post("/api/users", Some(&m.regulator), body).await;
        assert_eq!(
            (s, v["code"].as_str(), v["field"].as_str()),
            (400, Some("invalid_text"), Some("display")),
            "{display:?}: {v}"
        );
    }
    let body = json!({"name": "bureau x", "display": "x", "password": "a-long-password-1", "role": "auditor"});
    let (s, v) = h.post("/api/users", Some(&m.regulator), body).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_name"), Some("name")),
        "{v}"
    );
    let mut rlo = request_json(company_json("SX0009", "Shanxi"), &["s1", "s2"]);
    rlo["applicant"]["company"]["name"] = json!("Power\u{202e}rewoP");
    let (s, v) = h.post("/api/account-requests", None, rlo).await;
    assert_eq!(
        (s, v["field"].as_str()),
        (400, Some("applicant.company.name")),
        "{v}"
    );
    // One spelling of unit categories, the files'; the earlier JSON one is still read.
    for (company, category, rep) in [
        ("SX0009", "coal_up_to_300", "s"),
        ("SX0010", "coal_up_to300", "t"),
    ] {
        let mut body = request_json(
            company_json(company, "Shanxi"),
            &[&format!("{rep}1"), &format!("{rep}2")],
        );
        body["applicant"]["units"][0]["category"] = json!(category);
        let (s, v) = h.post("/api/account-requests", None, body).await;
        assert_eq!(s, 201, "{category}: {v}");
        h.ok(
            &format!("/api/account-requests/{}/approve", v["id"]),
            &m.regulator,
            json!({}),
        )
        .await;
        let (_, v) = h
            .get(&format!("/api/companies/{company}"), Some(&m.regulator))
            .await;
        assert_eq!(v["units"][0]["category"], "coal_up_to_300", "{v}");
    }
    // The document states the same bounds.
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let pattern = |s: &Value| regex::Regex::new(s["pattern"].as_str().unwrap()).unwrap();
    let display = pattern(&schemas["NewUser"]["properties"]["display"]);
    assert!(display.is_match("Li Wei 李伟"));
    for bad in ["evil\u{202e}fdp", "a\u{0}b", "\u{85}", "  "] {
        assert!(!display.is_match(bad), "{bad:?}");
    }
    let class = pattern(&schemas["NewOrder"]["properties"]["class"]);
    assert!(class.is_match("CEA-2021") && class.is_match("CCER-P12-2100"));
    assert!(!class.is_match("CEA-9999") && !class.is_match("CEA-2004"));
    assert_eq!(
        schemas["NewAccountRequest"]["properties"]["applicant"]["oneOf"][0]["properties"]["units"]
            ["items"]["properties"]["category"]["enum"],
        json!([
            "coal_above_300",
            "coal_up_to_300",
            "coal_unconventional",
            "gas"
        ])
    );
    let name = pattern(&schemas["NewUser"]["properties"]["name"]);
    assert!(name.is_match("rep-a") && !name.is_match("rep a"));
    let year = doc["paths"]["/api/reports"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "year")
        .unwrap();
    assert_eq!(
        (&year["schema"]["minimum"], &year["schema"]["maximum"]),
        (&json!(2005), &json!(2100))
    );
    let deactivate = &doc["paths"]["/api/users/{name}/deactivate"]["post"]["parameters"][0];
    assert_eq!(deactivate["schema"]["maxLength"], json!(64));
    assert!(deactivate["schema"]["pattern"].is_string());
}
