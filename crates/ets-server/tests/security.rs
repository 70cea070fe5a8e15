//! The hardening of a public service: TLS (a self-signed CA made here, a client trusting only
//! it), the dashboard's security headers and the absence of inline script and style, revoking
//! one API token or session and logging out everywhere, changing one's password and the
//! regulator's reset, and no secret in the journal.

mod common;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_rustls::rustls;
use tower::ServiceExt;

const PASSWORD: &str = "a-long-password-1";

fn harness(name: &str) -> Harness {
    Harness::new(Kind::Embedded, name).unwrap()
}

/// A regulator (its token) and an auditor `aud` with [`PASSWORD`] (its token).
async fn users(h: &Harness) -> (String, String) {
    let reg = h.bootstrap("regulator").await;
    h.ok(
        "/api/users",
        &reg,
        json!({"name": "aud", "display": "Auditor", "password": PASSWORD, "role": "auditor"}),
    )
    .await;
    let aud = issue_token(h, &login(h, "aud", PASSWORD).await, "first").await;
    (reg, aud)
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A request with an optional bearer token or session cookie (with its CSRF header).
async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(s) = session {
        req = req
            .header(
                header::COOKIE,
                format!("{}={s}", ets_server::SESSION_COOKIE),
            )
            .header("x-csrf-token", ets_server::csrf_of(s));
    }
    if method == "POST" {
        req = req
            .header("idempotency-key", h.key())
            .header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
    let resp = h
        .router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    check_response(method, path, status, &bytes);
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Logs in through the API: the session token.
async fn login(h: &Harness, user: &str, password: &str) -> String {
    let a = call(
        h,
        "POST",
        "/api/login",
        None,
        None,
        Some(json!({"username": user, "password": password})),
    )
    .await;
    assert_eq!(a.status, 201, "login of {user}: {}", a.text);
    let cookie = a.header("set-cookie");
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("ets_session="))
        .unwrap_or_else(|| panic!("no session cookie: {cookie}"))
        .to_string()
}

async fn issue_token(h: &Harness, session: &str, label: &str) -> String {
    let a = call(
        h,
        "POST",
        "/api/tokens",
        None,
        Some(session),
        Some(json!({ "label": label })),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.json()["token"].as_str().unwrap().to_string()
}

async fn me(h: &Harness, token: Option<&str>, session: Option<&str>) -> u16 {
    call(h, "GET", "/api/me", token, session, None).await.status
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A CA and a certificate for `localhost` signed by it: (CA certificate, leaf PEM, key PEM).
fn certificates() -> (rustls_pki_types::CertificateDer<'static>, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ets test authority");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.der().clone(), leaf.pem(), key.serialize_pem())
}

/// One HTTP/1.1 exchange over TLS with a client that trusts only `ca`: the raw answer.
fn https(
    addr: SocketAddr,
    ca: &rustls_pki_types::CertificateDer<'static>,
    request: &str,
) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    // What was read before the connection ended is kept even if it ended without close_notify.
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_the_api_and_marks_the_session_cookie_secure() {
    let h = harness("sec_tls");
    users(&h).await;
    let (ca, cert, key) = certificates();
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let config = ets_server::tls::load(&cert_file, &key_file).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = ets_server::tls::TlsListener::new(tcp, config).unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    h.app
        .secure_cookies
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::spawn(ets_server::serve(h.app.clone(), listener));

    let health = off_runtime({
        let ca = ca.clone();
        move || {
            https(
                addr,
                &ca,
                "GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
        }
    });
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#""status":"ok""#), "{health}");
    assert!(
        health
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{health}"
    );

    let body = json!({"username": "aud", "password": PASSWORD}).to_string();
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let login = off_runtime(move || https(addr, &ca, &request));
    assert!(login.starts_with("HTTP/1.1 201"), "{login}");
    let cookie = login
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: ets_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie: {login}"));
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // A client that does not trust the certificate gets nothing.
    let (other_ca, _, _) = certificates();
    let refused = off_runtime(move || {
        std::panic::catch_unwind(|| {
            https(
                addr,
                &other_ca,
                "GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
        })
    });
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(String::is_empty),
        "{refused:?}"
    );
}

#[test]
fn a_wrong_certificate_or_key_is_refused_with_its_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (_, cert, key) = certificates();
    let (_, other_cert, _) = certificates();
    std::fs::write(path("cert.pem"), &cert).unwrap();
    std::fs::write(path("key.pem"), &key).unwrap();
    std::fs::write(path("other.pem"), &other_cert).unwrap();
    std::fs::write(path("empty.pem"), "").unwrap();
    let err = |cert: &str, key: &str| {
        ets_server::tls::load(&path(cert), &path(key))
            .err()
            .unwrap_or_else(|| panic!("{cert} with {key} was accepted"))
            .to_string()
    };
    assert!(ets_server::tls::load(&path("cert.pem"), &path("key.pem")).is_ok());
    let e = err("missing.pem", "key.pem");
    assert!(
        e.contains("cannot read the TLS certificate") && e.contains("missing.pem"),
        "{e}"
    );
    let e = err("cert.pem", "missing.pem");
    assert!(
        e.contains("cannot read the TLS key") && e.contains("missing.pem"),
        "{e}"
    );
    let e = err("empty.pem", "key.pem");
    assert!(
        e.contains("holds no PEM certificate") && e.contains("empty.pem"),
        "{e}"
    );
    let e = err("cert.pem", "cert.pem");
    assert!(
        e.contains("holds no PEM private key") && e.contains("cert.pem"),
        "{e}"
    );
    let e = err("other.pem", "key.pem");
    assert!(
        e.contains("does not belong to the certificate") && e.contains("other.pem"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Headers, no inline script

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_no_inline_script_or_style() {
    let h = harness("sec_headers");
    users(&h).await;
    let session = login(&h, "regulator", "correct horse battery").await;
    let inline =
        regex::Regex::new(r#"(?i)<script|<style|\son[a-z]+\s*=|\sstyle\s*=|javascript:"#).unwrap();
    for (path, session) in [
        ("/", None),
        ("/compliance", None),
        ("/login", None),
        ("/regulator", Some(session.as_str())),
        ("/password", Some(session.as_str())),
    ] {
        let a = call(&h, "GET", path, None, session, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert!(
            a.text
                .contains(r#"<link rel="stylesheet" href="/static/ets.css">"#),
            "{path}"
        );
        if let Some(m) = inline.find(&a.text) {
            panic!(
                "{path} has inline script or style: …{}…",
                &a.text[m.start()..m.end() + 40]
            );
        }
        let csp = a.header("content-security-policy");
        for part in [
            "default-src 'none'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(a.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(a.header("referrer-policy"), "no-referrer", "{path}");
    }
    let css = call(&h, "GET", "/static/ets.css", None, None, None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.text.contains("header.top"), "the stylesheet");
    // The API's answers, refusals included.
    for (path, token) in [("/api/health", None), ("/api/users", None)] {
        let a = call(&h, "GET", path, token, None, None).await;
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            a.header("content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_or_session_is_revoked_alone_and_everywhere_ends_every_session() {
    let mut h = harness("sec_revoke");
    let (reg, aud) = users(&h).await;
    let s1 = login(&h, "aud", PASSWORD).await;
    let s2 = login(&h, "aud", PASSWORD).await;
    let second = issue_token(&h, &s1, "second").await;
    let list = call(&h, "GET", "/api/me/credentials", None, Some(&s1), None).await;
    let v = list.json();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 2, "{v}");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{v}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        !list.text.contains(&aud) && !list.text.contains(&s1),
        "no secret is listed"
    );
    let id_of = |token: &str| ets_server::sha256_hex(token.as_bytes())[..16].to_string();
    // A token is shown once, with its id; a retry with the same key shows no other token.
    let label = json!({"label": "l"});
    let (status, v) = h
        .send(
            "POST",
            "/api/tokens",
            Some(&reg),
            Some(label.clone()),
            Some("tok-1"),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        v["id"].as_str().unwrap(),
        id_of(v["token"].as_str().unwrap())
    );
    let (status, v) = h
        .send(
            "POST",
            "/api/tokens",
            Some(&reg),
            Some(label),
            Some("tok-1"),
        )
        .await;
    assert_eq!((status, v["replayed"].clone()), (201, json!(true)), "{v}");
    assert!(v.get("token").is_none(), "{v}");

    // Another user cannot revoke it (nor learn that it exists); its owner can.
    let (s, _) = h
        .post(
            "/api/users",
            Some(&reg),
            json!({"name": "aud2", "display": "A2", "password": PASSWORD, "role": "auditor"}),
        )
        .await;
    assert_eq!(s, 201);
    let aud2 = issue_token(&h, &login(&h, "aud2", PASSWORD).await, "x").await;
    let path = format!("/api/tokens/{}/revoke", id_of(&aud));
    let a = call(&h, "POST", &path, Some(&aud2), None, Some(json!({}))).await;
    assert_eq!(
        (a.status, a.json()["code"].clone()),
        (404, json!("not_found")),
        "{}",
        a.text
    );
    let a = call(&h, "POST", &path, Some(&second), None, Some(json!({}))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(me(&h, Some(&aud), None).await, 401, "the revoked token");
    assert_eq!(me(&h, Some(&second), None).await, 200, "the other token");
    let a = call(&h, "POST", &path, Some(&second), None, Some(json!({}))).await;
    assert_eq!(a.status, 404, "revoked once: {}", a.text);

    // The regulator revokes anyone's, by the id its list shows.
    let v = call(
        &h,
        "GET",
        "/api/users/aud/credentials",
        Some(&reg),
        None,
        None,
    )
    .await
    .json();
    assert_eq!(v["tokens"][0]["label"], "second", "{v}");
    let id = v["tokens"][0]["id"].as_str().unwrap().to_string();
    let a = call(
        &h,
        "POST",
        &format!("/api/tokens/{id}/revoke"),
        Some(&reg),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(me(&h, Some(&second), None).await, 401);

    // One session.
    let path = format!("/api/sessions/{}/revoke", id_of(&s2));
    let a = call(&h, "POST", &path, None, Some(&s1), Some(json!({}))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(me(&h, None, Some(&s2)).await, 401);
    assert_eq!(me(&h, None, Some(&s1)).await, 200);

    // Everywhere: every session of the caller, and only the caller's; tokens stay.
    let s3 = login(&h, "aud", PASSWORD).await;
    let third = issue_token(&h, &s3, "third").await;
    let other = login(&h, "aud2", PASSWORD).await;
    let a = call(
        &h,
        "POST",
        "/api/sessions/revoke-all",
        None,
        Some(&s3),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["closed"].clone()),
        (201, json!(3)),
        "{}",
        a.text
    );
    assert_eq!(me(&h, None, Some(&s1)).await, 401);
    assert_eq!(me(&h, None, Some(&s3)).await, 401);
    assert_eq!(me(&h, None, Some(&other)).await, 200);
    assert_eq!(me(&h, Some(&third), None).await, 200);

    // Journaled: a restart replays the revocations.
    h.restart();
    assert_eq!(me(&h, Some(&aud), None).await, 401);
    assert_eq!(me(&h, None, Some(&s2)).await, 401);
    assert_eq!(me(&h, Some(&third), None).await, 200);
    let audit = call(&h, "GET", "/api/audit?limit=100", Some(&reg), None, None)
        .await
        .json();
    assert!(
        audit.to_string().contains("/api/sessions/revoke-all"),
        "{audit}"
    );
}

// ---------------------------------------------------------------------------------------------
// Passwords

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_changed_by_its_user_and_reset_by_the_regulator() {
    let mut h = harness("sec_password");
    let (reg, aud) = users(&h).await;
    let here = login(&h, "aud", PASSWORD).await;
    let elsewhere = login(&h, "aud", PASSWORD).await;
    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new});
    let new = "a-new-long-password-2";
    for (body, status, code) in [
        (change("wrong-password-9", new), 422, "wrong_password"),
        (change(PASSWORD, "short"), 422, "weak_password"),
        (change(PASSWORD, PASSWORD), 422, "same_password"),
    ] {
        let a = call(&h, "POST", "/api/password", None, Some(&here), Some(body)).await;
        assert_eq!(
            (a.status, a.json()["code"].clone()),
            (status, json!(code)),
            "{}",
            a.text
        );
    }
    // A wrong old password counts as a failed login: past the free failures, tries wait.
    let mut throttled = false;
    for _ in 0..=ets_server::throttle::USER_FREE_FAILURES {
        let wrong = change("wrong-password-9", new);
        let a = call(&h, "POST", "/api/password", None, Some(&here), Some(wrong)).await;
        throttled = a.json()["code"] == "login_throttled";
        if throttled {
            break;
        }
        assert_eq!(a.json()["code"], "wrong_password", "{}", a.text);
    }
    assert!(throttled, "wrong old passwords are throttled like logins");
    h.clock.advance(60_000);
    let a = call(
        &h,
        "POST",
        "/api/password",
        None,
        Some(&here),
        Some(change(PASSWORD, new)),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        me(&h, None, Some(&here)).await,
        200,
        "the session that changed it"
    );
    assert_eq!(
        me(&h, None, Some(&elsewhere)).await,
        401,
        "other sessions end"
    );
    assert_eq!(me(&h, Some(&aud), None).await, 401, "tokens are revoked");
    let (s, v) = h
        .post(
            "/api/login",
            None,
            json!({"username": "aud", "password": PASSWORD}),
        )
        .await;
    assert_eq!((s, v["code"].clone()), (401, json!("bad_credentials")));
    h.clock.advance(60_000);
    let s = login(&h, "aud", new).await;
    let token = issue_token(&h, &s, "after").await;

    // The regulator's reset: a temporary password, once; the user's credentials end.
    let reset = "/api/users/aud/reset-password";
    let (status, v) = h
        .send("POST", reset, Some(&reg), Some(json!({})), Some("reset-1"))
        .await;
    assert_eq!(status, 201, "{v}");
    let temporary = v["temporary_password"].as_str().unwrap().to_string();
    // A retry with the same key is the first answer, without a password that was never set.
    let (status, v) = h
        .send("POST", reset, Some(&reg), Some(json!({})), Some("reset-1"))
        .await;
    assert_eq!((status, v["replayed"].clone()), (201, json!(true)), "{v}");
    assert!(v.get("temporary_password").is_none(), "{v}");
    assert!(temporary.len() >= 12);
    assert_eq!(me(&h, Some(&token), None).await, 401);
    assert_eq!(me(&h, None, Some(&s)).await, 401);
    let a = call(
        &h,
        "POST",
        "/api/users/nobody/reset-password",
        Some(&reg),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(a.status, 404);
    let a = call(
        &h,
        "POST",
        "/api/users/regulator/reset-password",
        Some(&token),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(a.status, 401, "a revoked token");

    // With the temporary password: log in, and nothing but change it.
    let a = call(
        &h,
        "POST",
        "/api/login",
        None,
        None,
        Some(json!({"username": "aud", "password": temporary})),
    )
    .await;
    assert_eq!(a.json()["password_change_required"], true, "{}", a.text);
    let t = login(&h, "aud", &temporary).await;
    assert_eq!(me(&h, None, Some(&t)).await, 200);
    for (method, path, body) in [
        ("GET", "/api/users", None),
        ("POST", "/api/tokens", Some(json!({"label": "x"}))),
    ] {
        let a = call(&h, method, path, None, Some(&t), body).await;
        assert_eq!(
            (a.status, a.json()["code"].clone()),
            (403, json!("password_change_required")),
            "{path}: {}",
            a.text
        );
    }
    let page = call(&h, "GET", "/regulator", None, Some(&t), None).await;
    assert_eq!((page.status, page.header("location")), (303, "/password"));
    let newest = "the-newest-password-3";
    let a = call(
        &h,
        "POST",
        "/api/password",
        None,
        Some(&t),
        Some(change(&temporary, newest)),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = call(&h, "GET", "/api/users", None, Some(&t), None).await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Replayed after a restart; the journal holds no password, token or session.
    h.restart();
    login(&h, "aud", newest).await;
    let mut journal = Vec::new();
    for entry in walk(match &h.location {
        ets_server::store::Location::Dir(d) => d,
        _ => unreachable!(),
    }) {
        journal.extend(std::fs::read(entry).unwrap());
    }
    let journal = String::from_utf8_lossy(&journal);
    assert!(journal.contains("password_set"), "the change is journaled");
    for secret in [PASSWORD, new, newest, &temporary, &aud, &token, &here, &t] {
        assert!(!journal.contains(secret), "the journal holds a secret");
    }
    // Nor a digest of a body with a password in it.
    for body in [change(PASSWORD, new), change(&temporary, newest)] {
        let digest = ets_server::sha256_hex(body.to_string().as_bytes());
        assert!(
            !journal.contains(&digest),
            "the journal holds a body's digest"
        );
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_changes_and_resets_passwords() {
    let h = harness("sec_password_page");
    users(&h).await;
    let reg = login(&h, "regulator", "correct horse battery").await;
    let form = |session: &str, fields: &str| {
        format!(
            "csrf={}&idem={}&{fields}",
            ets_server::csrf_of(session),
            ets_server::api::random_token()
        )
    };
    let post = |path: &'static str, session: String, body: String| {
        let router = h.router.clone();
        async move {
            let req = Request::builder()
                .method("POST")
                .uri(path)
                .header(header::COOKIE, format!("ets_session={session}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_string());
            let text = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                location,
                String::from_utf8_lossy(&text).into_owned(),
            )
        }
    };
    let (status, _, page) = post("/password/reset", reg.clone(), form(&reg, "user=aud")).await;
    assert_eq!(status, 200, "{page}");
    let re = regex::Regex::new(r#"<code id="temporary-password">([0-9a-f]+)</code>"#).unwrap();
    let temporary = re.captures(&page).unwrap_or_else(|| panic!("{page}"))[1].to_string();
    let t = login(&h, "aud", &temporary).await;
    let page = call(&h, "GET", "/password", None, Some(&t), None).await;
    assert!(page.text.contains(r#"id="must-change""#), "{}", page.text);
    let new = "a-new-long-password-2";
    let (status, _, page) = post(
        "/password",
        t.clone(),
        form(
            &t,
            &format!(
                "old_password={temporary}&new_password={new}&new_password_again=typo-typo-typo"
            ),
        ),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    let (status, location, page) = post(
        "/password",
        t.clone(),
        form(
            &t,
            &format!("old_password={temporary}&new_password={new}&new_password_again={new}"),
        ),
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/home")),
        "{page}"
    );
    assert_eq!(me(&h, None, Some(&t)).await, 200);
    let (status, location, _) = post("/sessions/revoke-all", t.clone(), form(&t, "")).await;
    assert_eq!((status, location.as_deref()), (303, Some("/")));
    assert_eq!(me(&h, None, Some(&t)).await, 401);
}
