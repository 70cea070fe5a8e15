//! End-to-end tests of the HTTP API, each on the embedded store and on PostgreSQL.

mod common;

use common::*;
use serde_json::json;

async fn setup_runs_the_cycle_through_every_role(h: Harness) {
    let m = setup(&h).await;
    let sx = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await;
    assert!(sx > 1_000_000, "SX0001 was pre-allocated: {sx}");
    let (s, v) = h
        .get(
            &format!("/api/accounts/{}", m.trader_account),
            Some(&m.member),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["funds"]["available_fen"], json!(1_000_000_000u64));
}

both!(
    setup_runs_the_cycle_through_every_role,
    forbidden_matrix,
    four_eyes_transfer_and_surrender,
    idempotency_keys,
    structured_errors,
    account_opening_rules,
    restart_replays_everything,
    every_request_is_audited,
    trading_over_http,
    daily_figures_count_each_kind_of_trade,
);

/// Every role tries what it may not do: 401 for nobody, 403 for the wrong someone.
async fn forbidden_matrix(h: Harness) {
    let m = setup(&h).await;
    let order = |holder: &str| json!({"holder": holder, "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 10});
    let sx = format!("/api/accounts/{}", m.sx_account);
    let hb = format!("/api/accounts/{}", m.hb_account);
    let tr = format!("/api/accounts/{}", m.trader_account);
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        &'a str,
        Option<serde_json::Value>,
        u16,
    );
    let cases: Vec<Case> = vec![
        // Nobody logged in.
        ("public", None, "GET", "/api/accounts", None, 401),
        ("public", None, "GET", &sx, None, 401),
        (
            "public",
            None,
            "GET",
            "/api/compliance/cn-power-2019-2020",
            None,
            401,
        ),
        ("public", None, "GET", "/api/audit", None, 401),
        (
            "public",
            None,
            "POST",
            "/api/orders",
            Some(order("SX0001")),
            401,
        ),
        (
            "public",
            None,
            "POST",
            "/api/plans",
            Some(json!({"builtin": PLAN})),
            401,
        ),
        (
            "public",
            None,
            "POST",
            "/api/instructions",
            Some(json!({"company": "SX0001", "kind": "trust", "account": m.hb_account})),
            401,
        ),
        // A company representative: its own company only.
        ("rep-a", Some(&m.rep_a), "GET", &hb, None, 403),
        ("rep-a", Some(&m.rep_a), "GET", &tr, None, 403),
        (
            "rep-a",
            Some(&m.rep_a),
            "GET",
            "/api/companies/HB0001",
            None,
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "GET",
            "/api/compliance/cn-power-2019-2020",
            None,
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/orders",
            Some(order("HB0001")),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/plans",
            Some(json!({"builtin": "cn-power-2021-2022"})),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/reports/acceptances",
            Some(json!({"company": "SX0001", "year": 2018})),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/reports/verifications",
            Some(json!({"company": "SX0001", "year": 2018, "units": null, "findings": []})),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/reports",
            Some(report_json("HB0001", 2019, "1")),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/instructions",
            Some(json!({"company": "HB0001", "kind": "trust", "account": m.sx_account})),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/commands",
            Some(
                json!({"command": "transfer", "class": "CEA-2019", "quantity": 1, "from": "SX0001", "to": "HB0001"}),
            ),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/funds/deposits",
            Some(json!({"holder": "SX0001", "fen": 1})),
            403,
        ),
        (
            "rep-a",
            Some(&m.rep_a),
            "POST",
            "/api/users",
            Some(
                json!({"name": "x", "display": "x", "password": "a-long-password-1", "role": "auditor"}),
            ),
            403,
        ),
        ("rep-a", Some(&m.rep_a), "GET", "/api/audit", None, 403),
        ("rep-a", Some(&m.rep_a), "GET", "/api/users", None, 403),
        // A provincial bureau: its province only, no trading, no registry movements.
        (
            "bureau",
            Some(&m.bureau),
            "GET",
            "/api/companies/HB0001",
            None,
            403,
        ),
        ("bureau", Some(&m.bureau), "GET", &hb, None, 403),
        (
            "bureau",
            Some(&m.bureau),
            "POST",
            "/api/reports/acceptances",
            Some(json!({"company": "HB0001", "year": 2018})),
            403,
        ),
        (
            "bureau",
            Some(&m.bureau),
            "POST",
            "/api/orders",
            Some(order("SX0001")),
            403,
        ),
        (
            "bureau",
            Some(&m.bureau),
            "POST",
            "/api/allocations",
            Some(json!({"plan": PLAN, "company": "SX0001", "stage": "final"})),
            403,
        ),
        (
            "bureau",
            Some(&m.bureau),
            "POST",
            "/api/instructions",
            Some(json!({"company": "SX0001", "kind": "trust", "account": m.hb_account})),
            403,
        ),
        // A verifier: reports of its assigned companies, nothing else.
        ("verifier", Some(&m.verifier), "GET", &sx, None, 403),
        (
            "verifier",
            Some(&m.verifier),
            "GET",
            "/api/compliance/cn-power-2019-2020",
            None,
            403,
        ),
        (
            "verifier",
            Some(&m.verifier),
            "POST",
            "/api/reports/acceptances",
            Some(json!({"company": "SX0001", "year": 2018})),
            403,
        ),
        (
            "verifier",
            Some(&m.verifier),
            "POST",
            "/api/orders",
            Some(order("SX0001")),
            403,
        ),
        (
            "idle verifier",
            Some(&m.idle_verifier),
            "GET",
            "/api/companies/SX0001",
            None,
            403,
        ),
        (
            "idle verifier",
            Some(&m.idle_verifier),
            "POST",
            "/api/reports/verifications",
            Some(json!({"company": "SX0001", "year": 2018, "units": null, "findings": []})),
            403,
        ),
        // An exchange member: its trading account only.
        ("member", Some(&m.member), "GET", &sx, None, 403),
        (
            "member",
            Some(&m.member),
            "POST",
            "/api/orders",
            Some(order("SX0001")),
            403,
        ),
        (
            "member",
            Some(&m.member),
            "POST",
            "/api/funds/deposits",
            Some(json!({"holder": "trader-1", "fen": 1})),
            403,
        ),
        (
            "member",
            Some(&m.member),
            "POST",
            "/api/instructions",
            Some(json!({"company": "SX0001", "kind": "trust", "account": m.trader_account})),
            403,
        ),
        (
            "member",
            Some(&m.member),
            "POST",
            "/api/exchange/days/close",
            Some(json!({})),
            403,
        ),
        (
            "member",
            Some(&m.member),
            "GET",
            "/api/companies/SX0001",
            None,
            403,
        ),
        // The auditor reads everything and changes nothing.
        (
            "auditor",
            Some(&m.auditor),
            "POST",
            "/api/orders",
            Some(order("SX0001")),
            403,
        ),
        (
            "auditor",
            Some(&m.auditor),
            "POST",
            "/api/plans",
            Some(json!({"builtin": "cn-power-2021-2022"})),
            403,
        ),
        (
            "auditor",
            Some(&m.auditor),
            "POST",
            "/api/account-requests/1/reject",
            Some(json!({"reason": "no"})),
            403,
        ),
        (
            "auditor",
            Some(&m.auditor),
            "POST",
            "/api/users",
            Some(
                json!({"name": "x", "display": "x", "password": "a-long-password-1", "role": "auditor"}),
            ),
            403,
        ),
        (
            "auditor",
            Some(&m.auditor),
            "POST",
            "/api/instructions",
            Some(json!({"company": "SX0001", "kind": "trust", "account": m.hb_account})),
            403,
        ),
    ];
    for (who, token, method, path, body, want) in &cases {
        let (s, v) = h.send(method, path, *token, body.clone(), None).await;
        assert_eq!(s, *want, "{who} {method} {path}: {v}");
        assert!(
            v["code"].is_string() && v["message"].is_string(),
            "structured error: {v}"
        );
    }
    // And what each may do.
    let allowed: Vec<(&str, &str, &str)> = vec![
        ("public", "", "/api/market/book?class=CEA-2019"),
        ("public", "", "/api/public/compliance/cn-power-2019-2020"),
        ("rep-a", &m.rep_a, &sx),
        ("rep-a", &m.rep_a, "/api/companies/SX0001"),
        ("bureau", &m.bureau, "/api/companies/SX0001"),
        ("bureau", &m.bureau, &sx),
        ("bureau", &m.bureau, "/api/compliance/cn-power-2019-2020"),
        ("verifier", &m.verifier, "/api/companies/HB0001"),
        ("member", &m.member, &tr),
        ("auditor", &m.auditor, &hb),
        ("auditor", &m.auditor, "/api/audit"),
        ("auditor", &m.auditor, "/api/users"),
        ("regulator", &m.regulator, "/api/transactions"),
    ];
    for (who, token, path) in allowed {
        let token = (!token.is_empty()).then_some(token);
        let (s, v) = h.get(path, token).await;
        assert_eq!(s, 200, "{who} GET {path}: {v}");
    }
    // Scopes shape what is seen: the bureau sees Shanxi only; the verifier sees reports, not
    // holdings; the public sees no company results before the assessment.
    let (_, v) = h
        .get("/api/compliance/cn-power-2019-2020", Some(&m.bureau))
        .await;
    assert!(
        v["provinces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] == "Shanxi"),
        "{v}"
    );
    let (_, v) = h.get("/api/companies/HB0001", Some(&m.verifier)).await;
    assert!(
        v["reports"].as_array().is_some_and(|r| !r.is_empty()) && v.get("holdings").is_none(),
        "{v}"
    );
    let (_, v) = h
        .get("/api/public/compliance/cn-power-2019-2020", None)
        .await;
    assert!(v.get("companies").is_none(), "{v}");
    let (_, v) = h.get("/api/accounts", Some(&m.rep_a)).await;
    let seen: Vec<_> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, vec![m.sx_account.clone()]);
}

/// A transfer takes two representatives and a trusted account whose delay has passed.
async fn four_eyes_transfer_and_surrender(h: Harness) {
    let m = setup(&h).await;
    let before = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await;
    let transfer = json!({"company": "SX0001", "kind": "transfer", "class": "CEA-2019", "quantity": 1000, "to": m.hb_account});
    // Not trusted yet.
    let (s, v) = h
        .post("/api/instructions", Some(&m.rep_a), transfer.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("untrusted_account")),
        "{v}"
    );
    // Trusting takes four eyes too.
    let v = h
        .ok(
            "/api/instructions",
            &m.rep_a,
            json!({"company": "SX0001", "kind": "trust", "account": m.hb_account}),
        )
        .await;
    let trust = v["instruction"]["id"].as_u64().unwrap();
    let (s, v) = h
        .post(
            &format!("/api/instructions/{trust}/approve"),
            Some(&m.rep_a),
            json!({}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("four_eyes")), "{v}");
    let (s, v) = h
        .post(
            &format!("/api/instructions/{trust}/approve"),
            Some(&m.hb_a),
            json!({}),
        )
        .await;
    assert_eq!(
        s, 403,
        "another company's representative may not approve: {v}"
    );
    h.ok(
        &format!("/api/instructions/{trust}/approve"),
        &m.rep_b,
        json!({}),
    )
    .await;
    // In the list, but not in effect before the delay.
    let (_, v) = h.get("/api/companies/SX0001/trusted", Some(&m.rep_a)).await;
    assert_eq!(v["trusted"][0]["in_effect"], json!(false), "{v}");
    let (s, v) = h
        .post("/api/instructions", Some(&m.rep_a), transfer.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("untrusted_account")),
        "{v}"
    );
    h.clock.advance(DELAY_MS);
    let v = h.ok("/api/instructions", &m.rep_a, transfer.clone()).await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    assert_eq!(v["instruction"]["status"], "pending");
    // Nothing moves until a second representative approves.
    assert_eq!(held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await, before);
    let (_, v) = h
        .get(
            "/api/instructions?company=SX0001&status=pending",
            Some(&m.rep_b),
        )
        .await;
    assert_eq!(v["instructions"].as_array().unwrap().len(), 1, "{v}");
    let (s, _) = h
        .post(
            &format!("/api/instructions/{id}/approve"),
            Some(&m.rep_a),
            json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let v = h
        .ok(
            &format!("/api/instructions/{id}/approve"),
            &m.rep_b,
            json!({}),
        )
        .await;
    assert_eq!(v["status"], "executed", "{v}");
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        before - 1000
    );
    let (s, _) = h
        .post(
            &format!("/api/instructions/{id}/approve"),
            Some(&m.rep_b),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "decided once");
    // A rejected instruction does nothing.
    let v = h.ok("/api/instructions", &m.rep_b, transfer.clone()).await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    h.ok(
        &format!("/api/instructions/{id}/reject"),
        &m.rep_a,
        json!({}),
    )
    .await;
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        before - 1000
    );
    // Surrender needs the final allocation: the 2019 and 2020 reports, verified and accepted,
    // and the true-up.
    for year in [2019, 2020] {
        h.ok(
            "/api/reports",
            &m.rep_b,
            report_json("SX0001", year, "1150000"),
        )
        .await;
        h.ok(
            "/api/reports/verifications",
            &m.verifier,
            json!({"company": "SX0001", "year": year, "units": null, "findings": []}),
        )
        .await;
        h.ok(
            "/api/reports/acceptances",
            &m.bureau,
            json!({"company": "SX0001", "year": year}),
        )
        .await;
    }
    h.ok(
        "/api/allocations",
        &m.regulator,
        json!({"plan": PLAN, "company": "SX0001", "stage": "final"}),
    )
    .await;
    let before = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await + 1000;
    // Surrender: initiated by B, approved by A.
    let v = h.ok("/api/instructions", &m.rep_b, json!({"company": "SX0001", "kind": "surrender", "plan": PLAN, "class": "CEA-2019", "quantity": 500})).await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    h.ok(
        &format!("/api/instructions/{id}/approve"),
        &m.rep_a,
        json!({}),
    )
    .await;
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        before - 1500
    );
    let (_, v) = h.get("/api/companies/SX0001", Some(&m.rep_a)).await;
    assert_eq!(v["plans"][0]["surrendered_t"], json!(500), "{v}");
    // A surrender the plan's state forbids (more than is owed) is refused when it is made.
    let (s, v) = h.post("/api/instructions", Some(&m.rep_a), json!({"company": "SX0001", "kind": "surrender", "plan": PLAN, "class": "CEA-2019", "quantity": 999_999_999u64})).await;
    assert_eq!(
        (s, v["code"].clone()),
        (422, json!("exceeds_obligation")),
        "{v}"
    );
    // An approved instruction the market refuses (more than is held) is recorded as failed,
    // nothing moves.
    let more = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await + 1;
    let v = h.ok("/api/instructions", &m.rep_a, json!({"company": "SX0001", "kind": "surrender", "plan": PLAN, "class": "CEA-2019", "quantity": more})).await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    let (s, v) = h
        .post(
            &format!("/api/instructions/{id}/approve"),
            Some(&m.rep_b),
            json!({}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (_, v) = h
        .get(
            "/api/instructions?company=SX0001&status=failed",
            Some(&m.rep_a),
        )
        .await;
    assert_eq!(v["instructions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        before - 1500
    );
    // Removing trust is immediate.
    h.ok(
        &format!("/api/companies/SX0001/trusted/{}/remove", m.hb_account),
        &m.rep_a,
        json!({}),
    )
    .await;
    let (s, _) = h.post("/api/instructions", Some(&m.rep_a), transfer).await;
    assert_eq!(s, 422);
}

/// A retry with the same key gets the first answer; another body under the same key is 409.
async fn idempotency_keys(h: Harness) {
    let m = setup(&h).await;
    let order =
        json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4900, "qty": 100});
    let (s1, v1) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.rep_a),
            Some(order.clone()),
            Some("order-1"),
        )
        .await;
    assert_eq!(s1, 201, "{v1}");
    let (s2, v2) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.rep_a),
            Some(order.clone()),
            Some("order-1"),
        )
        .await;
    assert_eq!(s2, 201);
    assert_eq!(v2["id"], v1["id"]);
    assert_eq!(v2["replayed"], json!(true));
    let (_, book) = h.get("/api/market/book?class=CEA-2019", None).await;
    assert_eq!(
        book["asks"][0]["qty"],
        json!(100),
        "one order, not two: {book}"
    );
    let mut other = order.clone();
    other["qty"] = json!(200);
    let (s, v) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.rep_a),
            Some(other),
            Some("order-1"),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{v}"
    );
    // Keys belong to their user: another user's same key is another request.
    let buy = json!({"holder": "trader-1", "class": "CEA-2019", "side": "buy", "price": 4700, "qty": 100});
    let (s, _) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.member),
            Some(buy),
            Some("order-1"),
        )
        .await;
    assert_eq!(s, 201);
    // No key: refused before anything happens.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/orders")
        .header("authorization", format!("Bearer {}", m.rep_a))
        .body(axum::body::Body::from(order.to_string()))
        .unwrap();
    let (s, v) = h.raw(req).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (
            400,
            Some("idempotency_key_required"),
            Some("Idempotency-Key")
        ),
        "{v}"
    );
}

/// Malformed input is 400 with the field, unknown things 404, rule violations 422.
async fn structured_errors(h: Harness) {
    let m = setup(&h).await;
    let post_raw = |body: &'static str| {
        axum::http::Request::builder()
            .method("POST")
            .uri("/api/orders")
            .header("authorization", format!("Bearer {}", m.rep_a))
            .header("idempotency-key", format!("raw-{}", body.len()))
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let (s, v) = h.raw(post_raw("{not json")).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")), "{v}");
    let (s, v) = h
        .post(
            "/api/orders",
            Some(&m.rep_a),
            json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800}),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("qty")), "{v}");
    let (s, v) = h
        .post(
            "/api/orders",
            Some(&m.rep_a),
            json!({"holder": "SX0001", "class": "XYZ", "side": "sell", "price": 4800, "qty": 1}),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("class")), "{v}");
    let (s, v) = h.post("/api/orders", Some(&m.rep_a), json!({"holder": "SX0001", "class": "CEA-2019", "side": "sideways", "price": 4800, "qty": 1})).await;
    assert_eq!(s, 400, "{v}");
    // Against the rules: outside the ±10 % band around 48.00, more than held, more than funded.
    let (s, v) = h.post("/api/orders", Some(&m.rep_a), json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 6000, "qty": 1})).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("outside_band")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("band"), "{v}");
    let (s, v) = h.post("/api/orders", Some(&m.rep_a), json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 99_999})).await;
    assert_eq!(s, 201, "within holdings: {v}");
    let (s, v) = h.post("/api/orders", Some(&m.member), json!({"holder": "trader-1", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 10})).await;
    assert_eq!(s, 422, "no short selling: {v}");
    let (s, v) = h.post("/api/orders", Some(&m.member), json!({"holder": "trader-1", "class": "CEA-2019", "side": "buy", "price": 4800, "qty": 99_999})).await;
    assert!(s == 201 || s == 422, "{v}");
    // Unknown things.
    let (s, v) = h.get("/api/companies/ZZ9999", Some(&m.regulator)).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = h.get("/api/transactions/999999", Some(&m.regulator)).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = h
        .post(
            "/api/allocations",
            Some(&m.regulator),
            json!({"plan": "no-such-plan", "company": "SX0001", "stage": "pre"}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = h.get("/api/nowhere", None).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("no_route")));
    // Conflicts: the same allocation twice.
    let (s, v) = h
        .post(
            "/api/allocations",
            Some(&m.regulator),
            json!({"plan": PLAN, "company": "SX0001", "stage": "pre"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    // A body over the limit.
    let big = "x".repeat(h.limits.body_bytes + 1);
    let (s, _) = h
        .post("/api/tokens", Some(&m.rep_a), json!({"label": big}))
        .await;
    assert_eq!(s, 413);
    // Bad tokens.
    let (s, v) = h.get("/api/me", Some("not-a-token")).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthenticated")));
}

async fn account_opening_rules(h: Harness) {
    let reg = h.bootstrap("regulator").await;
    let one = request_json(company_json("SX0002", "Shanxi"), &["solo"]);
    let (s, v) = h.post("/api/account-requests", None, one).await;
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("representatives")),
        "{v}"
    );
    let mut no_docs = request_json(company_json("SX0002", "Shanxi"), &["a1", "a2"]);
    no_docs["documents"] = json!([]);
    let (s, v) = h.post("/api/account-requests", None, no_docs).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("documents")), "{v}");
    let mut bad_doc = request_json(company_json("SX0002", "Shanxi"), &["a1", "a2"]);
    bad_doc["documents"][0]["content_base64"] = json!("%%%");
    let (s, _) = h.post("/api/account-requests", None, bad_doc).await;
    assert_eq!(s, 400);
    let mut weak = request_json(company_json("SX0002", "Shanxi"), &["a1", "a2"]);
    weak["representatives"][0]["password"] = json!("short");
    let (s, v) = h.post("/api/account-requests", None, weak).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (
            422,
            Some("weak_password"),
            Some("representatives[0].password")
        ),
        "{v}"
    );
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0002", "Shanxi"), &["a1", "a2"]),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    // The representatives cannot log in before approval.
    let (s, _) = h
        .post(
            "/api/login",
            None,
            json!({"username": "a1", "password": "a1-long-password"}),
        )
        .await;
    assert_eq!(s, 401);
    let (_, v) = h
        .get(&format!("/api/account-requests/{id}"), Some(&reg))
        .await;
    assert_eq!(
        v["documents"][0]["sha256"].as_str().unwrap().len(),
        64,
        "{v}"
    );
    assert!(
        v["representatives"][0].get("password").is_none(),
        "no hashes shown: {v}"
    );
    h.ok(
        &format!("/api/account-requests/{id}/reject"),
        &reg,
        json!({"reason": "licence expired"}),
    )
    .await;
    let (s, _) = h
        .post(
            &format!("/api/account-requests/{id}/approve"),
            Some(&reg),
            json!({}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = h
        .post(
            "/api/login",
            None,
            json!({"username": "a1", "password": "a1-long-password"}),
        )
        .await;
    assert_eq!(s, 401);
    // Approved: the account opens and both representatives can log in.
    let (_, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0002", "Shanxi"), &["b1", "b2"]),
        )
        .await;
    let id = v["id"].as_u64().unwrap();
    let v = h
        .ok(
            &format!("/api/account-requests/{id}/approve"),
            &reg,
            json!({}),
        )
        .await;
    assert!(v["account"].as_str().unwrap().starts_with("CN-"), "{v}");
    for (user, pw) in [("b1", "b1-long-password"), ("b2", "b2-long-password")] {
        let (s, v) = h
            .post(
                "/api/login",
                None,
                json!({"username": user, "password": pw}),
            )
            .await;
        assert_eq!(s, 201, "{user}: {v}");
    }
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0002", "Shanxi"), &["c1", "c2"]),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("company_exists")),
        "{v}"
    );
    // Deactivating a user stops its tokens and sessions at once; the last regulator stays.
    let b1 = h.token("b1").await;
    assert_eq!(h.get("/api/me", Some(&b1)).await.0, 200);
    let (s, v) = h
        .post("/api/users/b1/deactivate", Some(&b1), json!({}))
        .await;
    assert_eq!(s, 403, "{v}");
    h.ok("/api/users/b1/deactivate", &reg, json!({})).await;
    assert_eq!(h.get("/api/me", Some(&b1)).await.0, 401);
    let (s, _) = h
        .post(
            "/api/login",
            None,
            json!({"username": "b1", "password": "b1-long-password"}),
        )
        .await;
    assert_eq!(s, 401);
    let (s, v) = h
        .post("/api/users/regulator/deactivate", Some(&reg), json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("last_regulator")),
        "{v}"
    );
}

/// Stop and start: the journal rebuilds the market, the users, tokens, instructions and the
/// idempotency table.
async fn restart_replays_everything(mut h: Harness) {
    let m = setup(&h).await;
    let order =
        json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4850, "qty": 300});
    let (_, first) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.rep_a),
            Some(order.clone()),
            Some("before-restart"),
        )
        .await;
    let v = h
        .ok(
            "/api/instructions",
            &m.rep_a,
            json!({"company": "SX0001", "kind": "trust", "account": m.hb_account}),
        )
        .await;
    let pending = v["instruction"]["id"].as_u64().unwrap();
    let (_, holdings) = h
        .get(&format!("/api/accounts/{}", m.sx_account), Some(&m.rep_a))
        .await;
    let (_, audit_before) = h.get("/api/audit?limit=1", Some(&m.regulator)).await;
    h.restart();
    let (s, after) = h
        .get(&format!("/api/accounts/{}", m.sx_account), Some(&m.rep_a))
        .await;
    assert_eq!(s, 200, "the token still works: {after}");
    assert_eq!(after, holdings);
    let (_, again) = h
        .send(
            "POST",
            "/api/orders",
            Some(&m.rep_a),
            Some(order),
            Some("before-restart"),
        )
        .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["replayed"], json!(true));
    let v = h
        .ok(
            &format!("/api/instructions/{pending}/approve"),
            &m.rep_b,
            json!({}),
        )
        .await;
    assert_eq!(v["status"], "executed");
    let (_, audit_after) = h.get("/api/audit?limit=1", Some(&m.regulator)).await;
    assert!(
        audit_after["total"].as_u64() > audit_before["total"].as_u64(),
        "{audit_after}"
    );
}

/// Each request of a logged-in user leaves one audit entry with who, what, when, from where and
/// how it ended. Anonymous requests and the gate's refusals (an unknown token, 429) are counted
/// instead, and leave one aggregated entry per who, route, status and code when their period
/// ends (so that a flood of them cannot fill the journal).
async fn every_request_is_audited(h: Harness) {
    let m = setup(&h).await;
    let total = |v: &serde_json::Value| v["total"].as_u64().unwrap();
    let (_, v) = h.get("/api/audit?limit=1", Some(&m.auditor)).await;
    let before = total(&v);
    h.get("/api/market/book?class=CEA-2019", None).await;
    h.get(&format!("/api/accounts/{}", m.hb_account), Some(&m.rep_a))
        .await; // 403
    h.post(
        "/api/orders",
        Some(&m.rep_a),
        json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 5}),
    )
    .await;
    h.get("/api/me", Some("forged")).await; // 401
    h.get("/api/me", Some("forged")).await; // 401
    // The period ends: the next request journals its tally.
    h.clock.advance(h.limits.tally_period.as_millis() as i64);
    h.get("/api/health", None).await;
    // The writer records reads asynchronously: wait until they are in (the 403, the order, the
    // auditor's own reads, two aggregated entries).
    let mut v = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, got) = h.get("/api/audit?limit=10", Some(&m.auditor)).await;
        v = got;
        if total(&v) >= before + 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let entries = v["entries"].as_array().unwrap();
    let find = |path: &str, status: u16| {
        entries
            .iter()
            .find(|e| e["path"] == path && e["status"] == status)
            .unwrap_or_else(|| panic!("no audit entry {path} {status} in {v}"))
    };
    let denied = find(&format!("/api/accounts/{}", m.hb_account), 403);
    assert_eq!(
        (
            denied["who"].as_str(),
            denied["role"].as_str(),
            denied["code"].as_str()
        ),
        (Some("rep-a"), Some("company"), Some("forbidden"))
    );
    assert_eq!(denied["from"], "in-process");
    assert!(denied["at"].as_i64().unwrap() > 0);
    assert_eq!(denied.get("count"), None, "one request, one entry");
    let placed = find("/api/orders", 201);
    assert_eq!(placed["method"], "POST");
    assert!(placed["key"].is_string() && placed["body_sha256"].is_string());
    let read = find("/api/market/book", 200);
    assert_eq!(
        (read["who"].as_str(), read["count"].as_u64()),
        (Some("public"), Some(1)),
        "{read}"
    );
    let forged = find("/api/me", 401);
    assert_eq!(
        (
            forged["who"].as_str(),
            forged["code"].as_str(),
            forged["count"].as_u64(),
            forged["from"].as_str()
        ),
        (
            Some("public"),
            Some("unauthenticated"),
            Some(2),
            Some("in-process")
        ),
        "{forged}"
    );
}

/// Click-to-trade over HTTP: list, take, cancel, amend; the book, the trades and the holdings.
async fn trading_over_http(h: Harness) {
    let m = setup(&h).await;
    let sx_before = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await;
    let v = h.ok("/api/orders", &m.rep_a, json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 1000})).await;
    let ask = v["id"].as_u64().unwrap();
    let (_, book) = h
        .get("/api/market/book?class=CEA-2019&levels=5", None)
        .await;
    assert_eq!(
        book["asks"][0],
        json!({"price": 4800, "qty": 1000, "orders": 1, "order_ids": [{"id": ask, "qty": 1000}]})
    );
    let v = h
        .ok(
            &format!("/api/orders/{ask}/take"),
            &m.member,
            json!({"holder": "trader-1", "qty": 400}),
        )
        .await;
    assert_eq!(v["trades"][0]["qty"], json!(400), "{v}");
    // The shipped market settles after the close (DOMAIN.md §4): nothing has moved yet.
    assert_eq!(v["trades"][0]["registry_seq"], json!(null), "{v}");
    assert_eq!(held(&h, &m.member, &m.trader_account, "CEA-2019").await, 0);
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        sx_before
    );
    let (_, trades) = h.get("/api/market/trades?class=CEA-2019", None).await;
    assert_eq!(trades["trades"][0]["price"], json!(4800));
    // An order with a trade awaiting settlement cannot be amended (cancel it and place anew).
    let (s, v) = h
        .post(
            &format!("/api/orders/{ask}/amend"),
            Some(&m.rep_a),
            json!({"holder": "SX0001", "price": 4810, "qty": 500}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("order_pending_settlement")),
        "{v}"
    );
    let v = h.ok("/api/orders", &m.rep_a, json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 300})).await;
    let second = v["id"].as_u64().unwrap();
    h.ok(
        &format!("/api/orders/{second}/amend"),
        &m.rep_a,
        json!({"holder": "SX0001", "price": 4810, "qty": 500}),
    )
    .await;
    let (_, orders) = h.get("/api/orders?holder=SX0001", Some(&m.rep_a)).await;
    assert!(
        orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == json!(second) && o["price"] == json!(4810)),
        "{orders}"
    );
    h.ok(
        &format!("/api/orders/{second}/cancel"),
        &m.rep_a,
        json!({"holder": "SX0001"}),
    )
    .await;
    let (s, _) = h
        .post(
            &format!("/api/orders/{ask}/cancel"),
            Some(&m.member),
            json!({"holder": "trader-1"}),
        )
        .await;
    assert_eq!(s, 422, "not the member's order");
    h.ok(
        &format!("/api/orders/{ask}/cancel"),
        &m.rep_a,
        json!({"holder": "SX0001"}),
    )
    .await;
    let (_, book) = h.get("/api/market/book?class=CEA-2019", None).await;
    assert_eq!(book["asks"], json!([]));
    h.ok("/api/exchange/days/close", &m.regulator, json!({}))
        .await;
    assert_eq!(
        held(&h, &m.member, &m.trader_account, "CEA-2019").await,
        400,
        "delivered at the close"
    );
    assert_eq!(
        held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await,
        sx_before - 400
    );
    let (_, days) = h.get("/api/market/days?class=CEA-2019", None).await;
    assert_eq!(days["days"][0]["volume_t"], json!(400), "{days}");
    if let Some((url, schema)) = h.pg() {
        // The read tables agree with the API.
        let rows: Vec<(String, i64)> = off_runtime(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query(&format!("SELECT a.number, h.quantity_t FROM \"{schema}\".holdings h JOIN \"{schema}\".accounts a ON a.id = h.account WHERE h.class = 'CEA-2019' ORDER BY 1"), &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        });
        assert!(rows.contains(&(m.trader_account.clone(), 400)), "{rows:?}");
        assert!(
            rows.contains(&(m.sx_account.clone(), (sx_before - 400) as i64)),
            "{rows:?}"
        );
    }
}

/// Issue 13 item 3: a day with listed, block and one-way trades in one class. The instrument's
/// day and the market's day show each kind's volume, turnover and trades and the totals, with
/// the fields the OpenAPI document describes, one description each.
async fn daily_figures_count_each_kind_of_trade(h: Harness) {
    let m = setup(&h).await;
    trade_every_kind(&h, &m).await;
    let expected = every_kind_figures();
    let (s, v) = h.get("/api/market/days", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["market"], "cn-seee");
    let mut bar = expected.clone();
    bar["class"] = json!("CEA-2019");
    let days = v["days"].as_array().unwrap();
    assert_eq!(
        days.iter().find(|d| d["class"] == "CEA-2019"),
        Some(&bar),
        "the instrument's day: {v}"
    );
    // The other vintages had no trade: their days count nothing.
    for d in days.iter().filter(|d| d["class"] != "CEA-2019") {
        assert_eq!(
            (&d["volume_t"], &d["trades"]),
            (&json!(0), &json!(0)),
            "{d}"
        );
    }
    assert_eq!(v["market_days"], json!([expected]), "the market's day");
    // ?class= picks the instrument's days; the market's days stay.
    let (_, one) = h.get("/api/market/days?class=CEA-2019", None).await;
    assert_eq!(one["days"], json!([bar]));
    assert_eq!(one["market_days"], v["market_days"]);
    // An instrument that never traded (no book) has no days.
    let (_, none) = h.get("/api/market/days?class=CCER-P7-2019", None).await;
    assert_eq!(none["days"], json!([]), "{none}");
    // The document describes every field served, with the one description of each.
    let doc = openapi();
    let op = &doc["paths"]["/api/market/days"]["get"];
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/DailyFigures"
    );
    let schemas = &doc["components"]["schemas"];
    for (name, served) in [("DayBar", &bar), ("MarketDay", &expected)] {
        let props = schemas[name]["properties"].as_object().unwrap();
        let mut documented: Vec<&String> = props.keys().collect();
        let mut keys: Vec<&String> = served.as_object().unwrap().keys().collect();
        documented.sort();
        keys.sort();
        assert_eq!(documented, keys, "{name}");
        for (field, meaning) in ets_market::trading::exchange::DAY_FIELDS {
            if let Some(p) = props.get(*field) {
                assert_eq!(p["description"], *meaning, "{name}.{field}");
            }
        }
    }
    let top: Vec<&String> = v.as_object().unwrap().keys().collect();
    let mut documented: Vec<&String> = schemas["DailyFigures"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    documented.sort();
    assert_eq!(top, documented);
}
