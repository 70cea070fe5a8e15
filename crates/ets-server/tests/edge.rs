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
        assert_eq!(
            i18n::message(Lang::En, code, None, params, v["message"].as_str().unwrap()),
            v["message"].as_str().unwrap()
        );
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
