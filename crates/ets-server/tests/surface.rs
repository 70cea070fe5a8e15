//! The HTTP surface itself: the OpenAPI document against the routes, browser sessions with CSRF,
//! rate limits. These do not depend on the store, so they run on the embedded one.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use ets_server::Limits;
use serde_json::json;

/// Every documented operation is routed (never the fallback's `no_route` or 405), every route is
/// documented (the router is built from the same table), and nothing undocumented answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_routes() {
    let h = Harness::new(Kind::Embedded, "openapi").unwrap();
    let (s, doc) = h.get("/openapi.json", None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let table: Vec<(String, String)> = ets_server::api::routes()
        .iter()
        .map(|r| (r.method.to_uppercase(), r.path.to_string()))
        .collect();
    let mut a = documented.clone();
    let mut b = table.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the document lists exactly the routes");
    assert!(documented.len() >= 60, "{} operations", documented.len());
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "1")
            .replace("{seq}", "1")
            .replace("{account}", "CN-000001")
            .replace("{plan}", "p")
            .replace("{name}", "n");
        let (s, v) = h.send(method, &concrete, None, Some(json!({})), None).await;
        assert_ne!(
            v["code"], "no_route",
            "{method} {path} is documented but not routed"
        );
        assert_ne!(s, 405, "{method} {path}: method not routed");
        // Every POST documents its body and the idempotency key.
        if method == "POST" && path != "/api/login" && path != "/api/logout" {
            let op = &paths[path]["post"];
            assert!(op["requestBody"].is_object(), "{path} documents its body");
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key"),
                "{path}"
            );
        }
    }
    for (method, path) in [
        ("GET", "/api/orderz"),
        ("DELETE", "/api/orders"),
        ("PUT", "/api/users"),
    ] {
        let (s, _) = h.send(method, path, None, None, None).await;
        assert!(s == 404 || s == 405, "{method} {path} answered {s}");
    }
    // The interactive docs are served by the binary itself.
    let resp = h
        .raw_response(Request::get("/docs/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.0, 200);
    assert!(resp.1.contains("swagger"), "docs page");
    assert!(
        !resp.1.contains("://cdn") && !resp.1.contains("unpkg.com"),
        "nothing from a CDN"
    );
}

/// Log in, use the cookie with and without the CSRF token, log out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sessions_need_csrf() {
    let h = Harness::new(Kind::Embedded, "csrf").unwrap();
    let _ = h.bootstrap("regulator").await;
    let login = |pw: &str| {
        Request::post("/api/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"username": "regulator", "password": pw}).to_string(),
            ))
            .unwrap()
    };
    let (s, v) = h.raw(login("wrong password here")).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("bad_credentials")));
    let resp = h
        .router
        .clone()
        .oneshot(login("correct horse battery"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let csrf = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let with = |csrf: Option<&str>, key: &str| {
        let mut r = Request::post("/api/tokens")
            .header(header::COOKIE, &session)
            .header("idempotency-key", key)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from(r#"{"label":"robot"}"#)).unwrap()
    };
    let (s, v) = h.raw(with(None, "a")).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("csrf")));
    let (s, v) = h.raw(with(Some("0000"), "b")).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("csrf")));
    let (s, v) = h.raw(with(Some(&csrf), "c")).await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    // The API token works without cookie or CSRF.
    let (s, v) = h.get("/api/me", Some(&token)).await;
    assert_eq!((s, v["role"].as_str()), (200, Some("regulator")));
    // Reads need no CSRF; log out ends the session.
    let me = || {
        Request::get("/api/me")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(h.raw(me()).await.0, 200);
    let out = Request::post("/api/logout")
        .header(header::COOKIE, &session)
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.raw(out).await.0, 200);
    assert_eq!(h.raw(me()).await.0, 401);
    // Sessions expire.
    let resp = h
        .router
        .clone()
        .oneshot(login("correct horse battery"))
        .await
        .unwrap();
    let session2 = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    h.clock.advance(9 * 3600 * 1000);
    let (s, _) = h
        .raw(
            Request::get("/api/me")
                .header(header::COOKIE, &session2)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, 401);
}

/// Each token has its own bucket; an empty bucket answers 429 until it refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_token() {
    let limits = Limits {
        rate_per_second: 5,
        burst: 5,
        ..Limits::default()
    };
    let h = Harness::with_limits(Kind::Embedded, "rate", limits).unwrap();
    let a = h.bootstrap("regulator").await;
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(h.get("/api/me", Some(&a)).await.0);
    }
    assert_eq!(codes, [200, 200, 200, 200, 200, 429, 429]);
    let (_, v) = h.get("/api/me", Some(&a)).await;
    assert_eq!(v["code"], "rate_limited");
    // Another caller is not affected; time refills the bucket.
    assert_eq!(h.get("/api/market/days", None).await.0, 200);
    h.clock.advance(1000);
    assert_eq!(h.get("/api/me", Some(&a)).await.0, 200);
}

use tower::ServiceExt;

/// The documented example bodies are well-formed: posted by the regulator, none is refused as
/// malformed (400); they may name things that do not exist (404) or break a rule (422).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_examples_are_well_formed() {
    let h = Harness::new(Kind::Embedded, "examples").unwrap();
    let reg = h.bootstrap("regulator").await;
    for r in ets_server::api::routes() {
        let Some(example) = r.body.as_ref().map(|b| b.example.clone()) else {
            continue;
        };
        let path = r
            .path
            .replace("{id}", "1")
            .replace("{account}", "CN-000001")
            .replace("{plan}", "cn-power-2019-2020")
            .replace("{name}", "regulator");
        let (s, v) = h.post(&path, Some(&reg), example).await;
        assert_ne!(s, 400, "the example of POST {} is malformed: {v}", r.path);
    }
}
