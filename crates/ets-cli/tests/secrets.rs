//! No secret in any log line: `ets serve` runs with its standard output and error captured
//! while a regulator logs in (right and wrong), issues an API token, uses it, creates a user,
//! resets that user's password, changes its own password and logs out; `ets admin` sets a
//! password. Neither the log nor the journal may hold a password, a token, a session cookie or
//! an Authorization header. Also: `ets serve --tls-cert` with a missing file says which.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "first-secret-passphrase";

fn ets(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ets"));
    c.arg("--data").arg(data).env_remove("ETS_DB");
    c
}

fn call(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// A POST with `headers` (each ending in CRLF) and a fresh idempotency key.
fn post(addr: &str, path: &str, headers: &str, body: &str) -> String {
    let key: u64 = rand::random();
    call(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nIdempotency-Key: k{key}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn get(addr: &str, path: &str, headers: &str) -> String {
    call(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"),
    )
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn session_of(response: &str) -> String {
    response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ets_session="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {response}"))
        .to_string()
}

#[test]
fn no_secret_reaches_the_log_or_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let created = ets(&data)
        .args(["admin", "create-regulator", "--name", "reg"])
        .env("ETS_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let mut log = String::from_utf8_lossy(&created.stdout).into_owned();
    log += &String::from_utf8_lossy(&created.stderr);

    let mut child = ets(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    log += &line;
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });

    let mut secrets = vec![PASSWORD.to_string()];
    let wrong = "a-wrong-passphrase-guess";
    secrets.push(wrong.into());
    let r = post(
        &addr,
        "/api/login",
        "",
        &format!(r#"{{"username":"reg","password":"{wrong}"}}"#),
    );
    assert_eq!(status(&r), 401, "{r}");
    let r = post(
        &addr,
        "/api/login",
        "",
        &format!(r#"{{"username":"reg","password":"{PASSWORD}"}}"#),
    );
    assert_eq!(status(&r), 201, "{r}");
    let session = session_of(&r);
    let csrf = json_body(&r)["csrf"].as_str().unwrap().to_string();
    let browser = format!("Cookie: ets_session={session}\r\nX-CSRF-Token: {csrf}\r\n");
    secrets.extend([session.clone(), csrf.clone()]);
    let r = post(&addr, "/api/tokens", &browser, r#"{"label":"robot"}"#);
    assert_eq!(status(&r), 201, "{r}");
    let token = json_body(&r)["token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let r = get(&addr, "/api/me", &bearer);
    assert_eq!(status(&r), 200, "{r}");
    let user_password = "second-secret-passphrase";
    secrets.push(user_password.into());
    let r = post(
        &addr,
        "/api/users",
        &bearer,
        &format!(
            r#"{{"name":"aud","display":"Aud","password":"{user_password}","role":"auditor"}}"#
        ),
    );
    assert_eq!(status(&r), 201, "{r}");
    let r = post(&addr, "/api/users/aud/reset-password", &bearer, "{}");
    assert_eq!(status(&r), 201, "{r}");
    secrets.push(
        json_body(&r)["temporary_password"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let new = "third-secret-passphrase";
    secrets.push(new.into());
    let r = post(
        &addr,
        "/api/password",
        &browser,
        &format!(r#"{{"old_password":"{PASSWORD}","new_password":"{new}"}}"#),
    );
    assert_eq!(status(&r), 201, "{r}");
    let r = get(&addr, "/api/me", &bearer);
    assert_eq!(status(&r), 401, "the token was revoked by the change: {r}");
    let r = post(&addr, "/api/logout", &browser, "");
    assert!(status(&r) < 300, "{r}");

    // Ctrl-C: the server journals what it holds and says whatever it says on the way out.
    let stopped = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let _ = stdout.read_to_string(&mut log);
    assert!(child.wait().unwrap().success());
    log += &errors.join().unwrap();

    let set = "fourth-secret-passphrase";
    secrets.push(set.into());
    let out = ets(&data)
        .args(["admin", "set-password", "--name", "aud"])
        .env("ETS_ADMIN_PASSWORD", set)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    log += &String::from_utf8_lossy(&out.stdout);
    log += &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("password of aud set"), "{log}");

    let mut journal = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            journal.extend(std::fs::read(path).unwrap());
        }
    }
    let journal = String::from_utf8_lossy(&journal);
    assert!(
        journal.contains("password_set"),
        "the changes are journaled"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds a secret: {log}"
        );
        assert!(
            !journal.contains(secret.as_str()),
            "the journal holds a secret"
        );
    }
    assert!(!log.to_ascii_lowercase().contains("authorization"), "{log}");
}

#[test]
fn a_missing_certificate_is_named_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/cert.pem");
    let out = ets(&dir.path().join("store"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the TLS certificate") && err.contains("nowhere/cert.pem"),
        "{err}"
    );
    assert!(
        !dir.path().join("store").exists(),
        "refused before the store was opened"
    );
    let out = ets(&dir.path().join("store"))
        .args(["serve", "--tls-cert", "cert.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--tls-cert needs --tls-key");
}
