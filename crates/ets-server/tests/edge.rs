//! The typed HTTP edge, route by route from the route table: who is asked before what is read
//! (401 for nobody, 403 for a role that may never call a route, whatever the body), the
//! documented examples against their documented schemas and the server's own types, and the
//! market's refusals with their codes, statuses and Chinese messages.
//!
//! Every response of these tests (and of all the others) also passes `common::check_response`:
//! no `Debug` text, and a 4xx code listed in /openapi.json for its route.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use ets_server::access::Role;
use ets_server::api::{Roles, routes};
use serde_json::{Value, json};

/// A path of the table with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{seq}", "1")
        .replace("{account}", "CN-000001")
        .replace("{plan}", PLAN)
        .replace("{name}", "regulator")
}

/// A POST with a raw body, a token or none, and an idempotency key or none.
fn post(path: &str, token: Option<&str>, body: &[u8], key: Option<&str>) -> Request<Body> {
    let mut r = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

/// Bodies of every kind: empty object, not JSON, nothing, not an object, too large for the
/// limit, the documented example.
fn bodies(example: Option<&Value>, limit: usize) -> Vec<Vec<u8>> {
    let mut b = vec![
        b"{}".to_vec(),
        b"{not json".to_vec(),
        Vec::new(),
        b"[1, 2]".to_vec(),
        vec![b'x'; limit + 1],
    ];
    if let Some(e) = example {
        b.push(serde_json::to_vec(e).unwrap());
    }
    b
}

/// (a) Nobody logged in: every write that takes a role answers 401 `unauthenticated` before
/// anything else, whatever the body and with or without an idempotency key; the two anonymous
/// writes (log in, apply for an account) read their body instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_writes_are_401_whatever_the_body() {
    let h = Harness::new(Kind::Embedded, "edge_unauth").unwrap();
    let _ = h.bootstrap("regulator").await;
    let mut checked = 0;
    for r in routes().iter().filter(|r| r.method == "post") {
        let example = r.body.as_ref().map(|b| &b.example);
        let path = concrete(r.path);
        for body in bodies(example, h.limits.body_bytes) {
            for key in [Some(h.key()), None] {
                let (s, v) = h.raw(post(&path, None, &body, key.as_deref())).await;
                if matches!(r.roles, Roles::Anyone) {
                    assert_ne!(
                        v["code"].as_str(),
                        Some("unauthenticated"),
                        "POST {} is anonymous ({s}): {v}",
                        r.path
                    );
                } else {
                    assert_eq!(
                        (s, v["code"].as_str()),
                        (401, Some("unauthenticated")),
                        "POST {} without a caller, body {:?}: {v}",
                        r.path,
                        String::from_utf8_lossy(&body[..body.len().min(40)])
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 35 * 12, "only {checked} requests checked");
    // The anonymous ones parse: a malformed login or account request is 400, not 401.
    let (s, v) = h.raw(post("/api/login", None, b"{not json", None)).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")), "{v}");
    let (s, v) = h
        .raw(post("/api/account-requests", None, b"{}", Some("anon-1")))
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("missing_field")), "{v}");
}

/// (b) Each role, on every route it may never call, answers 403 `forbidden` before the body is
/// read: with garbage, with an empty object, with a body over the size limit (which would be 413
/// if it were read). A role that may call the route gets its malformed body refused as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_roles_are_403_before_the_body() {
    let h = Harness::new(Kind::Embedded, "edge_forbidden").unwrap();
    let m = setup(&h).await;
    let tokens = [
        (Role::Regulator, &m.regulator),
        (Role::Company, &m.rep_a),
        (Role::Bureau, &m.bureau),
        (Role::Verifier, &m.verifier),
        (Role::Member, &m.member),
        (Role::Auditor, &m.auditor),
    ];
    let (mut refused, mut parsed) = (0, 0);
    for r in routes() {
        let Roles::Only(allowed) = r.roles else {
            continue;
        };
        let path = concrete(r.path);
        for (role, token) in &tokens {
            if r.method == "get" {
                let (s, v) = h.get(&path, Some(token)).await;
                if !allowed.contains(role) {
                    assert_eq!(
                        (s, v["code"].as_str()),
                        (403, Some("forbidden")),
                        "{role:?} GET {}: {v}",
                        r.path
                    );
                    refused += 1;
                }
                continue;
            }
            if allowed.contains(role) {
                let (s, v) = h
                    .raw(post(&path, Some(token), b"{not json", Some(&h.key())))
                    .await;
                assert_eq!(
                    (s, v["code"].as_str()),
                    (400, Some("malformed")),
                    "{role:?} POST {}: {v}",
                    r.path
                );
                parsed += 1;
                continue;
            }
            for body in [
                b"{not json".to_vec(),
                b"{}".to_vec(),
                vec![b'x'; h.limits.body_bytes + 1],
            ] {
                let (s, v) = h.raw(post(&path, Some(token), &body, Some(&h.key()))).await;
                assert_eq!(
                    (s, v["code"].as_str(), v["params"]["role"].as_str()),
                    (403, Some("forbidden"), Some(role.as_str())),
                    "{role:?} POST {}: {v}",
                    r.path
                );
                refused += 1;
            }
        }
    }
    assert!(
        refused > 300 && parsed > 30,
        "{refused} refused, {parsed} parsed"
    );
    // The document says which roles may call each route.
    let doc = openapi();
    assert_eq!(
        doc["paths"]["/api/plans"]["post"]["x-roles"],
        json!(["regulator"])
    );
    assert_eq!(
        doc["paths"]["/api/orders"]["post"]["x-roles"],
        json!(["regulator", "company", "member"])
    );
}

// ---------------------------------------------------------------------------------------------
// (d) The documented examples against the documented schemas

/// A JSON Schema check of the keywords the document uses; `Err` says where and why.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return validate(doc, &doc["components"]["schemas"][name], v, at);
    }
    let fail = |why: String| Err(format!("{at}: {why} ({v})"));
    if let Some(list) = schema.get("allOf").and_then(Value::as_array) {
        for s in list {
            validate(doc, s, v, at)?;
        }
    }
    if let Some(list) = schema.get("anyOf").and_then(Value::as_array)
        && !list.iter().any(|s| validate(doc, s, v, at).is_ok())
    {
        return fail("matches no schema of anyOf".into());
    }
    if let Some(list) = schema.get("oneOf").and_then(Value::as_array) {
        let n = list
            .iter()
            .filter(|s| validate(doc, s, v, at).is_ok())
            .count();
        if n != 1 {
            return fail(format!("matches {n} schemas of oneOf"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        return fail(format!("is not {c}"));
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return fail("is not one of the enum".into());
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return fail(format!("is not of type {t}"));
        }
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as u64;
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            return fail("is too long".into());
        }
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return fail("is too short".into());
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(p).unwrap().is_match(s)
        {
            return fail(format!("does not match {p}"));
        }
    }
    if let Some(n) = v.as_i64() {
        if schema
            .get("minimum")
            .and_then(Value::as_i64)
            .is_some_and(|m| n < m)
        {
            return fail("is below the minimum".into());
        }
        if schema
            .get("maximum")
            .and_then(Value::as_i64)
            .is_some_and(|m| n > m)
        {
            return fail("is above the maximum".into());
        }
    }
    if let Some(items) = v.as_array() {
        if schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| items.len() as u64 > m)
        {
            return fail("has too many items".into());
        }
        if let Some(s) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, s, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !o.contains_key(r.as_str().unwrap()) {
                return fail(format!("lacks the required {r}"));
            }
        }
        for (k, item) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(doc, s, item, &format!("{at}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&json!(false)) => {
                    return fail(format!("has the unknown property {k}"));
                }
                None => {}
            }
        }
    }
    Ok(())
}

/// (d) Every documented example validates against its documented schema and is accepted by
/// the server's request type; and the schema and the type agree on what they refuse: an
/// unknown property, each required property left out, a string id with a space.
#[test]
fn documented_examples_match_their_schemas_and_types() {
    let doc = openapi();
    let mut checked = 0;
    for r in routes() {
        let Some(body) = &r.body else { continue };
        let schema =
            &doc["paths"][r.path][r.method]["requestBody"]["content"]["application/json"]["schema"];
        let documented = &doc["paths"][r.path][r.method]["requestBody"]["content"]["application/json"]
            ["example"];
        assert_eq!(documented, &body.example, "{}", r.path);
        validate(doc, schema, &body.example, r.path).unwrap();
        (body.kind.check)(&serde_json::to_vec(&body.example).unwrap())
            .unwrap_or_else(|e| panic!("the example of {} is refused: {e}", r.path));
        let Some(object) = body.example.as_object() else {
            continue;
        };
        let mut extra = object.clone();
        extra.insert("unexpected".into(), json!(1));
        let extra = Value::Object(extra);
        assert!(validate(doc, schema, &extra, r.path).is_err(), "{}", r.path);
        let e = (body.kind.check)(&serde_json::to_vec(&extra).unwrap()).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("unknown_field", Some("unexpected")),
            "{}",
            r.path
        );
        for key in object.keys() {
            let mut less = object.clone();
            less.remove(key);
            let less = Value::Object(less);
            let by_schema = validate(doc, schema, &less, r.path).is_ok();
            let by_type = (body.kind.check)(&serde_json::to_vec(&less).unwrap()).is_ok();
            assert_eq!(
                by_schema, by_type,
                "{} without {key}: schema and type disagree",
                r.path
            );
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked}");
    // The ids: a space is refused by the pattern and by the type alike.
    let order = &routes()
        .into_iter()
        .find(|r| r.path == "/api/orders" && r.method == "post")
        .unwrap();
    let mut bad = order.body.as_ref().unwrap().example.clone();
    bad["holder"] = json!("trader 1");
    let schema = &doc["paths"]["/api/orders"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert!(validate(doc, schema, &bad, "order").is_err());
    let e =
        (order.body.as_ref().unwrap().kind.check)(&serde_json::to_vec(&bad).unwrap()).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.field.as_deref()),
        ("invalid_id", Some("holder"))
    );
    // Query parameters are documented with their bounds.
    let book = doc["paths"]["/api/market/book"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let class = book.iter().find(|p| p["name"] == "class").unwrap();
    assert_eq!(class["required"], json!(true));
    let levels = book.iter().find(|p| p["name"] == "levels").unwrap();
    assert_eq!(levels["schema"]["maximum"], json!(50));
}

// ---------------------------------------------------------------------------------------------
// (e) The market's refusals

/// Every code the market lists is in the document with the status of its kind and has a
/// Chinese message; a refusal of each kind triggered through the API carries the market's code,
/// its figures as params, the status of its kind, and reads in Chinese with those figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_refusals_keep_their_codes() {
    use ets_server::web::i18n::{self, Lang};
    let doc = openapi();
    for (code, kind, _) in ets_market::rejection_codes() {
        let listed = doc["x-codes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == *code);
        let status =
            listed.unwrap_or_else(|| panic!("{code} is not in the document"))["status"].as_u64();
        assert_eq!(
            status,
            Some(u64::from(ets_server::error::market_status(*kind))),
            "{code}"
        );
        assert!(
            i18n::MESSAGES
                .iter()
                .any(|(c, zh, _)| c == code && !zh.is_empty()),
            "{code} has no Chinese message"
        );
    }
    let h = Harness::new(Kind::Embedded, "edge_market").unwrap();
    let m = setup(&h).await;
    let order = |holder: &str, side: &str, price: i64, qty: u64| json!({"holder": holder, "class": "CEA-2019", "side": side, "price": price, "qty": qty});
    // (token, path, body, expected status, expected code, a param the message must show)
    let cases: Vec<(&str, String, Value, u16, &str, &str)> = vec![
        (
            &m.rep_a,
            "/api/orders".into(),
            order("SX0001", "sell", 6000, 1),
            422,
            "outside_band",
            "price",
        ),
        (
            &m.member,
            "/api/orders".into(),
            order("trader-1", "sell", 4800, 10),
            422,
            "insufficient_units",
            "requested",
        ),
        (
            &m.regulator,
            "/api/funds/withdrawals".into(),
            json!({"holder": "trader-1", "fen": 2_000_000_000u64}),
            422,
            "insufficient_funds",
            "needed",
        ),
        (
            &m.regulator,
            "/api/allocations".into(),
            json!({"plan": PLAN, "company": "ZZ9999", "stage": "pre"}),
            404,
            "unknown_company",
            "company",
        ),
        (
            &m.regulator,
            "/api/allocations".into(),
            json!({"plan": "no-such-plan", "company": "SX0001", "stage": "pre"}),
            404,
            "unknown_plan",
            "plan",
        ),
        (
            &m.regulator,
            "/api/allocations".into(),
            json!({"plan": PLAN, "company": "SX0001", "stage": "pre"}),
            409,
            "already_pre_allocated",
            "company",
        ),
        (
            &m.regulator,
            "/api/plans".into(),
            json!({"builtin": PLAN}),
            409,
            "plan_exists",
            "plan",
        ),
        (
            &m.regulator,
            "/api/exchange".into(),
            json!({"builtin": "cn-seee"}),
            409,
            "exchange_exists",
            "",
        ),
        (
            &m.regulator,
            "/api/funds/deposits".into(),
            json!({"holder": "nobody-9", "fen": 1}),
            404,
            "unknown_holder",
            "holder",
        ),
        (
            &m.member,
            "/api/orders/999999/cancel".into(),
            json!({"holder": "trader-1"}),
            404,
            "unknown_order",
            "id",
        ),
        (
            &m.member,
            "/api/blocks/999999/accept".into(),
            json!({"holder": "trader-1"}),
            404,
            "unknown_proposal",
            "id",
        ),
        (
            &m.member,
            "/api/auctions/999999/bids".into(),
            json!({"holder": "trader-1", "price": 4800, "qty": 10}),
            404,
            "unknown_auction",
            "id",
        ),
        (
            &m.regulator,
            format!("/api/compliance/{PLAN}/assessment"),
            json!({}),
            422,
            "before_deadline",
            "deadline",
        ),
        (
            &m.bureau,
            "/api/reports/acceptances".into(),
            json!({"company": "SX0001", "year": 2030}),
            404,
            "no_report",
            "year",
        ),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (token, path, body, status, code, param) in &cases {
        let (s, v) = h.post(path, Some(token), body.clone()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (*status, Some(*code)),
            "POST {path}: {v}"
        );
        kinds.insert(s);
        let params = v["params"].as_object().unwrap();
        if !param.is_empty() {
            assert!(params.contains_key(*param), "{code}: params {v}");
        }
        let zh = i18n::message(Lang::Zh, code, None, params, v["message"].as_str().unwrap());
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{code}: {zh}"
        );
        assert!(!zh.contains('{') && !zh.contains('—'), "{code}: {zh} ({v})");
        if !param.is_empty() {
            // Tonnes with thousands separators; money (fen) as yuan.
            let shown: Vec<String> = match &params[*param] {
                Value::Number(n) => vec![
                    ets_types::thousands(n.as_u64().unwrap()),
                    ets_server::web::yuan(n.as_i64().unwrap()),
                ],
                Value::String(t) => vec![t.clone()],
                other => vec![other.to_string()],
            };
            assert!(
                shown.iter().any(|x| zh.contains(x.as_str())),
                "{code}: {zh} does not show {param} = {shown:?}"
            );
        }
        // In English the pages show the server's message, except where it speaks fen: there
        // the English template speaks yuan, with the same figures.
        let en = i18n::message(Lang::En, code, None, params, v["message"].as_str().unwrap());
        if v["message"].as_str().unwrap().contains(" fen") {
            assert!(en.contains("CNY") && !en.contains('{'), "{code}: {en}");
            if let Some(n) = params.get(*param).and_then(Value::as_i64) {
                assert!(en.contains(&ets_server::web::yuan(n)), "{code}: {en}");
            }
        } else {
            assert_eq!(en, v["message"].as_str().unwrap());
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![404, 409, 422],
        "one of each kind"
    );
}

/// (c) The check every test response passes can fail: it finds the shapes of Rust `Debug`
/// output, and lets the market's and the server's own words through.
#[test]
fn debug_text_is_recognised() {
    for dump in [
        "exchange: Trade(Book { detail: \"no such order\" })",
        "Some(4800)",
        "UnknownCompany(CompanyId(\"SX0001\"))",
        "registry: InsufficientHoldings { account: 7 }",
        "Funds { detail: \"x\" }",
        "value None",
    ] {
        assert!(debug_artefact(dump).is_some(), "{dump}");
    }
    for fine in [
        "exchange: price 9900 fen is outside the listed band 4869..=5951 fen",
        "unit class \"CEA-21\": expected CEA-<vintage> or CCER-P<project>-<vintage>",
        "价格 99.00 元超出涨跌幅限制（48.69–59.51 元）",
        "{\"code\":\"outside_band\",\"params\":{\"price\":9900}}",
        "font-family:\"PingFang SC\",\"Microsoft YaHei\",system-ui",
    ] {
        assert_eq!(debug_artefact(fine), None, "{fine}");
    }
    // And the codes: one the document does not list is caught.
    let caught = std::panic::catch_unwind(|| {
        check_response(
            "POST",
            "/api/orders",
            422,
            br#"{"status":422,"code":"rule_violation","message":"m","field":null,"params":{}}"#,
        )
    });
    assert!(caught.is_err(), "an unlisted code passes");
    let caught = std::panic::catch_unwind(|| {
        check_response(
            "POST",
            "/api/orders",
            409,
            br#"{"status":409,"code":"outside_band","message":"m","field":null,"params":{}}"#,
        )
    });
    assert!(caught.is_err(), "a code with another status passes");
    check_response(
        "POST",
        "/api/orders",
        422,
        br#"{"status":422,"code":"outside_band","message":"m","field":null,"params":{}}"#,
    );
}

// ---------------------------------------------------------------------------------------------
// (f) Issue 12: refusals made before a handler, idempotency of anonymous clients, existence,
// the document's strictness, each route's body limit

/// Sends a request in process: the status, the headers and the JSON body (every response also
/// passes `check_response`).
async fn exchange(h: &Harness, req: Request<Body>) -> (u16, axum::http::HeaderMap, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    check_response(&method, &path, status, &bytes);
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, v)
}

/// A body that arrives in chunks, one per poll.
struct Chunks(Vec<Vec<u8>>);

impl http_body::Body for Chunks {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let next = (!self.0.is_empty()).then(|| self.0.remove(0));
        std::task::Poll::Ready(next.map(|c| Ok(http_body::Frame::data(c.into()))))
    }
}

fn closes(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// Refusals made by a layer, not a handler (405 of the router, 413 of the body limit, 401 and 403
/// before the body, 404 of the fallback), are the documented JSON error; when the body was not
/// read the answer says `Connection: close`. The campaign got text/plain and empty bodies, and
/// kept-alive connections closed without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_are_json_and_close_the_connection() {
    let h = Harness::new(Kind::Embedded, "edge_early").unwrap();
    let reg = h.bootstrap("regulator").await;
    let body = || Body::from(vec![b'x'; 100]);
    // 405 with a body: the router's refusal, as JSON; the body is unread.
    let (s, headers, v) = exchange(&h, Request::delete("/api/orders").body(body()).unwrap()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    assert!(closes(&headers), "405 keeps the connection: {headers:?}");
    // 401 before the body is read.
    let (s, headers, v) = exchange(&h, post("/api/plans", None, b"{}", Some("k1"))).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("unauthenticated")),
        "{v}"
    );
    assert!(closes(&headers), "{headers:?}");
    // 413 from the Content-Length, before the body is read: the route's own limit.
    let big = vec![b' '; ets_server::api::SMALL_BODY + 1];
    let mut req = post("/api/login", None, &big, None);
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, big.len().into());
    let (s, headers, v) = exchange(&h, req).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
    assert_eq!(
        v["params"]["max"],
        json!(ets_server::api::SMALL_BODY),
        "{v}"
    );
    assert!(closes(&headers), "{headers:?}");
    // 413 of a body without a length, cut off as it is read (in chunks, as from a socket).
    let mut req = post("/api/tokens", Some(&reg), b"", Some("k2"));
    *req.body_mut() = Body::new(Chunks(vec![vec![b' '; 4096]; 8]));
    let (s, headers, v) = exchange(&h, req).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
    assert!(closes(&headers), "{headers:?}");
    // A body read to its end keeps the connection, refused or not; so does a GET.
    let (s, headers, v) = exchange(&h, post("/api/login", None, b"{not json", None)).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")), "{v}");
    assert!(!closes(&headers), "{headers:?}");
    let (s, headers, _) =
        exchange(&h, Request::get("/api/health").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 200);
    assert!(!closes(&headers), "{headers:?}");
    let (s, headers, v) = exchange(
        &h,
        Request::get("/api/nowhere").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("no_route")), "{v}");
    assert!(!closes(&headers), "{headers:?}");
    // Every such code is documented.
    for code in ["method_not_allowed", "payload_too_large", "request_timeout"] {
        assert!(
            openapi()["x-codes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["code"] == code),
            "{code}"
        );
    }
}

/// Over a real connection: a body announced larger than the route's limit is refused at once
/// with JSON 413 and `Connection: close`, and the server closes the connection; a body that
/// does not arrive in time gets JSON 408 `request_timeout`, likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bodies_close_kept_alive_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = ets_server::Limits {
        rate_per_second: 100_000,
        burst: 100_000,
        timeout: std::time::Duration::from_millis(400),
        ..ets_server::Limits::default()
    };
    let h = Harness::with_limits(Kind::Embedded, "edge_wire", limits).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = h
        .router
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });
    // Sends `head` (and `body`), reads until the server closes; the answer's text.
    async fn call(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(body).await.unwrap();
        let mut out = Vec::new();
        // Ends only when the server closes the connection (the test's own timeout otherwise).
        c.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    let text = call(addr, &head, b"{\"username\":").await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.to_lowercase().contains("connection: close"), "{text}");
    assert!(text.contains("\"code\":\"payload_too_large\""), "{text}");
    let head = "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let text = call(addr, head, b"{\"username\":").await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.to_lowercase().contains("connection: close"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    server.abort();
}

/// Anonymous clients do not share one namespace of idempotency keys: a key is scoped by the
/// request (method, path, body), so another anonymous client sending the same key with its own
/// request gets its own answer, not the first client's (nor a 409 naming its path); the same
/// request again is answered from memory, also after a restart. The campaign had one anonymous
/// client learn another's answer by reusing its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_idempotency_keys_are_scoped_by_request() {
    let mut h = Harness::new(Kind::Embedded, "edge_anon_keys").unwrap();
    let _ = h.bootstrap("regulator").await;
    let a = request_json(company_json("SX0002", "Shanxi"), &["a1", "a2"]);
    let b = request_json(company_json("SX0003", "Shanxi"), &["b1", "b2"]);
    async fn send(h: &Harness, body: &Value) -> (u16, Value) {
        h.send(
            "POST",
            "/api/account-requests",
            None,
            Some(body.clone()),
            Some("shared-key"),
        )
        .await
    }
    let (s, first) = send(&h, &a).await;
    assert_eq!(s, 201, "{first}");
    let (s, other) = send(&h, &b).await;
    assert_eq!(
        s, 201,
        "another client's request with the same key: {other}"
    );
    assert_ne!(other["id"], first["id"], "{other}");
    assert_eq!(other.get("replayed"), None, "{other}");
    let (s, again) = send(&h, &a).await;
    assert_eq!(
        (s, &again["id"], &again["replayed"]),
        (201, &first["id"], &json!(true)),
        "{again}"
    );
    h.restart();
    let (s, again) = send(&h, &b).await;
    assert_eq!(
        (s, &again["id"], &again["replayed"]),
        (201, &other["id"], &json!(true)),
        "{again}"
    );
    // A logged-in user's keys stay the user's: another body with the same key is a conflict.
    let reg = h.token("regulator").await;
    let (s, _) = h
        .send(
            "POST",
            "/api/tokens",
            Some(&reg),
            Some(json!({"label": "one"})),
            Some("mine"),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = h
        .send(
            "POST",
            "/api/tokens",
            Some(&reg),
            Some(json!({"label": "two"})),
            Some("mine"),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{v}"
    );
}

/// Routes with ids answer an unknown id and another's alike: who may not read it gets 403
/// (401 when nobody is logged in) whether it exists or not; 404 only to one who may read it.
/// The campaign told existing companies from unknown ones by 404 against 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_forbidden_ids_answer_alike() {
    let h = Harness::new(Kind::Embedded, "edge_oracle").unwrap();
    let m = setup(&h).await;
    let sx = &m.sx_account;
    // (caller, a path of something that exists but is not the caller's, the same unknown)
    let cases: Vec<(Option<&str>, String, String)> = vec![
        (
            Some(&m.hb_a),
            "/api/companies/SX0001".into(),
            "/api/companies/ZZ9999".into(),
        ),
        (
            Some(&m.idle_verifier),
            "/api/companies/SX0001".into(),
            "/api/companies/ZZ9999".into(),
        ),
        (
            Some(&m.bureau),
            "/api/companies/HB0001".into(),
            "/api/companies/ZZ9999".into(),
        ),
        (
            Some(&m.member),
            "/api/companies/SX0001".into(),
            "/api/companies/ZZ9999".into(),
        ),
        (
            Some(&m.hb_a),
            "/api/companies/SX0001/trusted".into(),
            "/api/companies/ZZ9999/trusted".into(),
        ),
        (
            Some(&m.hb_a),
            format!("/api/accounts/{sx}"),
            "/api/accounts/CN-999999".into(),
        ),
        (
            Some(&m.member),
            format!("/api/accounts/{sx}/transactions"),
            "/api/accounts/CN-999999/transactions".into(),
        ),
        (
            Some(&m.member),
            "/api/orders?holder=SX0001".into(),
            "/api/orders?holder=nobody-9".into(),
        ),
        (
            Some(&m.member),
            "/api/transactions/1".into(),
            "/api/transactions/999999".into(),
        ),
        (
            Some(&m.hb_a),
            "/api/allocations?company=SX0001".into(),
            "/api/allocations?company=ZZ9999".into(),
        ),
        (
            None,
            "/api/companies/SX0001".into(),
            "/api/companies/ZZ9999".into(),
        ),
        (
            None,
            format!("/api/accounts/{sx}"),
            "/api/accounts/CN-999999".into(),
        ),
        (
            None,
            "/api/transactions/1".into(),
            "/api/transactions/999999".into(),
        ),
        (
            None,
            "/api/account-requests/1".into(),
            "/api/account-requests/999".into(),
        ),
    ];
    for (token, known, unknown) in &cases {
        let (s1, v1) = h.get(known, *token).await;
        let (s2, v2) = h.get(unknown, *token).await;
        let expected = if token.is_some() { 403 } else { 401 };
        assert_eq!(
            (s1, v1["code"].as_str()),
            (expected, v2["code"].as_str()),
            "{known}: {v1}"
        );
        assert_eq!(
            s2, expected,
            "{unknown} answers otherwise than {known}: {v2}"
        );
    }
    // Those who may read everything are told what does not exist.
    for path in [
        "/api/companies/ZZ9999",
        "/api/transactions/999999",
        "/api/orders?holder=nobody-9",
        "/api/accounts/CN-999999",
    ] {
        let (s, v) = h.get(path, Some(&m.auditor)).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
}

/// Every schema in `schema` (followed through `$ref`, `allOf`, `oneOf`, `items`, properties):
/// objects close their properties and say which are required, strings have a length, a pattern
/// or a choice, integers both bounds. `Err` says where not.
fn strict(doc: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return strict(doc, &doc["components"]["schemas"][name], at, out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            strict(doc, s, at, out);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let closed = schema.get("enum").is_some() || schema.get("const").is_some();
    if types.contains(&"object") {
        if schema.get("additionalProperties") != Some(&json!(false)) {
            out.push(format!("{at}: additionalProperties is not false"));
        }
        if !schema["required"].is_array() {
            out.push(format!("{at}: no required list"));
        }
        for (k, s) in schema["properties"].as_object().into_iter().flatten() {
            strict(doc, s, &format!("{at}.{k}"), out);
        }
    }
    if types.contains(&"array") {
        if !schema["maxItems"].is_u64() {
            out.push(format!("{at}: no maxItems"));
        }
        strict(doc, &schema["items"], &format!("{at}[]"), out);
    }
    if types.contains(&"string")
        && !closed
        && !schema["maxLength"].is_u64()
        && !schema["pattern"]
            .as_str()
            .is_some_and(|p| p.ends_with("}$"))
    {
        out.push(format!("{at}: a string without maxLength"));
    }
    if types.contains(&"integer")
        && !closed
        && (!schema["minimum"].is_number() || !schema["maximum"].is_number())
    {
        out.push(format!("{at}: an integer without both bounds"));
    }
}

/// The document is as strict as the server, route by route from the route table: every path
/// parameter has a pattern or integer bounds, every write documents the Idempotency-Key's
/// pattern and length and its body limit, every body schema is closed with its required fields,
/// bounded strings, lists and integers; the required query parameters are required by the
/// server too. The campaign's generated client sent requests the server refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_as_strict_as_the_server() {
    let doc = openapi();
    let mut loose = Vec::new();
    let h = Harness::new(Kind::Embedded, "edge_strict").unwrap();
    let reg = h.bootstrap("regulator").await;
    for r in routes() {
        let op = &doc["paths"][r.path][r.method];
        let at = format!("{} {}", r.method, r.path);
        for p in op["parameters"].as_array().into_iter().flatten() {
            let s = &p["schema"];
            let bounded = s["pattern"].is_string()
                || s["enum"].is_array()
                || (s["minimum"].is_number() && s["maximum"].is_number());
            if !bounded {
                loose.push(format!("{at}: parameter {} is unbounded", p["name"]));
            }
            if p["in"] == "path" && p["required"] != json!(true) {
                loose.push(format!(
                    "{at}: path parameter {} is not required",
                    p["name"]
                ));
            }
        }
        if r.method == "post" {
            if op["x-max-body-bytes"] != json!(r.max_body) || r.max_body == 0 {
                loose.push(format!("{at}: x-max-body-bytes is not the route's limit"));
            }
            if r.path != "/api/login" && r.path != "/api/logout" {
                let key = op["parameters"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"));
                match key {
                    Some(k) => assert_eq!(
                        (
                            &k["required"],
                            &k["in"],
                            &k["schema"]["pattern"],
                            &k["schema"]["minLength"],
                            &k["schema"]["maxLength"]
                        ),
                        (
                            &json!(true),
                            &json!("header"),
                            &json!("^[!-~]+$"),
                            &json!(1),
                            &json!(128)
                        ),
                        "{at}"
                    ),
                    None => loose.push(format!("{at}: no Idempotency-Key")),
                }
            }
        }
        if let Some(body) = &r.body {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            strict(doc, schema, &format!("{at} body"), &mut loose);
            assert_eq!(op["requestBody"]["required"], json!(true), "{at}");
            let _ = body;
        }
        // A required query parameter left out is refused by the server, with a code the route
        // documents (check_response).
        if r.method == "get" && !r.path.contains('{') {
            for (name, required, _) in r.query {
                if *required {
                    let (s, v) = h.get(r.path, Some(&reg)).await;
                    assert_eq!(s, 400, "{at} without {name}: {v}");
                    assert_eq!(v["field"].as_str(), Some(*name), "{at}: {v}");
                }
            }
        }
    }
    assert!(
        loose.is_empty(),
        "the document is looser than the server:\n{}",
        loose.join("\n")
    );
    // The bounds are the server's: a vintage, a quantity and a price one past them are refused.
    let order =
        json!({"holder": "trader-1", "class": "CEA-2019", "side": "buy", "price": 4500, "qty": 1});
    let schema = &doc["paths"]["/api/orders"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let props = &doc["components"]["schemas"]["NewOrder"]["properties"];
    for (field, past) in [
        (
            "price",
            json!(props["price"]["maximum"].as_i64().unwrap() + 1),
        ),
        ("qty", json!(props["qty"]["maximum"].as_i64().unwrap() + 1)),
        ("qty", json!(props["qty"]["minimum"].as_i64().unwrap() - 1)),
        ("class", json!("CEA-2101")),
        ("class", json!("CEA-65535")),
    ] {
        let mut bad = order.clone();
        bad[field] = past.clone();
        assert!(
            validate(doc, schema, &bad, "order").is_err(),
            "{field} {past}"
        );
        let e = (routes()
            .into_iter()
            .find(|r| r.path == "/api/orders" && r.method == "post")
            .unwrap()
            .body
            .unwrap()
            .kind
            .check)(&serde_json::to_vec(&bad).unwrap())
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{field} {past}: {e}");
    }
}

/// Each route refuses a body over its own limit (413 `payload_too_large` with `params.max` the
/// route's `x-max-body-bytes`) and takes one under it: small for logins and orders, larger for
/// reports, plan files and account requests with their documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_has_its_own_body_limit() {
    let h = Harness::new(Kind::Embedded, "edge_limits").unwrap();
    let m = setup(&h).await;
    let doc = openapi();
    let limit = |path: &str| {
        doc["paths"][path]["post"]["x-max-body-bytes"]
            .as_u64()
            .unwrap() as usize
    };
    assert!(limit("/api/login") <= 16 * 1024 && limit("/api/orders") <= 16 * 1024);
    assert!(limit("/api/reports") >= 1 << 20 && limit("/api/plans") >= 1 << 20);
    assert!(
        limit("/api/account-requests")
            > ets_server::api::requests::MAX_DOCUMENTS
                * ets_server::api::requests::MAX_DOCUMENT_BYTES
    );
    let mut checked = 0;
    for r in routes().into_iter().filter(|r| r.method == "post") {
        let token = match r.roles {
            Roles::Anyone => None,
            Roles::Only(roles) if !roles.contains(&Role::Regulator) => Some(m.rep_a.as_str()),
            _ => Some(m.regulator.as_str()),
        };
        let path = concrete(r.path);
        // JSON white space: under the limit it is read (and refused for what it says); one
        // byte over, refused for its size.
        let over = vec![b' '; r.max_body + 1];
        let mut req = post(&path, token, &over, Some(&h.key()));
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, over.len().into());
        let (s, v) = h.raw(req).await;
        assert_eq!(
            (s, v["code"].as_str(), v["params"]["max"].as_u64()),
            (413, Some("payload_too_large"), Some(r.max_body as u64)),
            "POST {}: {v}",
            r.path
        );
        let mut under = vec![b' '; r.max_body - 2];
        under.splice(0..0, b"{}".iter().copied());
        let (s, v) = h.raw(post(&path, token, &under, Some(&h.key()))).await;
        assert_ne!(s, 413, "POST {} at its limit: {v}", r.path);
        checked += 1;
    }
    assert!(checked >= 35, "{checked}");
    // A full account request, four documents of 256 KiB, fits.
    let mut full = request_json(company_json("SX0009", "Shanxi"), &["f1", "f2"]);
    let doc64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(vec![7u8; ets_server::api::requests::MAX_DOCUMENT_BYTES])
    };
    let d =
        json!({"name": "licence.pdf", "media_type": "application/pdf", "content_base64": doc64});
    full["documents"] = json!([d.clone(), d.clone(), d.clone(), d]);
    let (s, v) = h.post("/api/account-requests", None, full).await;
    assert_eq!(s, 201, "{v}");
}
