//! Readers beside the writer: with `ets serve` writing (a client thread keeps placing and
//! cancelling orders and asking for API tokens), `ets report compliance --json`, `ets holdings` and
//! `ets verify` run at the same time and succeed, on the embedded store and on PostgreSQL.
//!
//! The PostgreSQL run talks to the real server at `ETS_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own; under `CI=true` it fails
//! when the server is unreachable, elsewhere it says it was skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const PASSWORD: &str = "a long enough passphrase";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `ets` on the store: `--data DIR`, plus `ETS_DB` when the store is PostgreSQL.
fn ets(data: &Path, db: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ets"));
    c.arg("--data").arg(data);
    match db {
        Some(url) => c.env("ETS_DB", url),
        None => c.env_remove("ETS_DB"),
    };
    c
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn post(addr: &str, path: &str, headers: &str, body: &str) -> String {
    call(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// Runs the worked example into the store, creates a regulator, and serves it.
fn worked_example_served(data: &Path, db: Option<&str>) -> Server {
    let mut script = Command::new("bash");
    script
        .arg(repo_root().join("examples/worked-example.sh"))
        .arg(data)
        .env("ETS", env!("CARGO_BIN_EXE_ets"));
    match db {
        Some(url) => script.env("ETS_DB", url),
        None => script.env_remove("ETS_DB"),
    };
    ok(script.output().unwrap(), "examples/worked-example.sh");
    ok(
        ets(data, db)
            .args(["admin", "create-regulator", "--name", "admin"])
            .env("ETS_ADMIN_PASSWORD", PASSWORD)
            .output()
            .unwrap(),
        "ets admin create-regulator",
    );
    let mut child = ets(data, db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--clock",
            "2022-01-06T10:00",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, addr }
}

/// A client that keeps writing until told to stop: orders and their cancellations (market
/// events) and API tokens (access events), each with its own idempotency key; counts what was
/// acknowledged.
fn writer(
    addr: String,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let login = post(
            &addr,
            "/api/login",
            "",
            &format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#),
        );
        assert!(login.starts_with("HTTP/1.1 201"), "{login}");
        let csrf = json_body(&login)["csrf"].as_str().unwrap().to_string();
        let cookie = login
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string();
        let auth = format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n");
        let token = post(
            &addr,
            "/api/tokens",
            &format!("{auth}Idempotency-Key: token-0\r\n"),
            r#"{"label":"load"}"#,
        );
        let token = json_body(&token)["token"].as_str().unwrap().to_string();
        let bearer = format!("Authorization: Bearer {token}\r\n");
        // The worked example closed 2022-01-05 at 48.00 CNY/t; the server's clock is 10:00 on
        // the next trading day, which the regulator opens.
        let r = post(
            &addr,
            "/api/exchange/days/open",
            &format!("{bearer}Idempotency-Key: open-day\r\n"),
            "{}",
        );
        assert!(r.starts_with("HTTP/1.1 201"), "open the day: {r}");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            // An order of GD0001 (funded in the example), then its cancellation: each a market
            // command with events (freezes and their release).
            let r = post(
                &addr,
                "/api/orders",
                &format!("{bearer}Idempotency-Key: order-{n}\r\n"),
                r#"{"holder":"GD0001","class":"CEA-2020","side":"buy","price":4700,"qty":100,"tif":"day"}"#,
            );
            assert!(r.starts_with("HTTP/1.1 201"), "order {n}: {r}");
            let id = json_body(&r)["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("no order id: {r}"));
            let r = post(
                &addr,
                &format!("/api/orders/{id}/cancel"),
                &format!("{bearer}Idempotency-Key: cancel-{n}\r\n"),
                r#"{"holder":"GD0001"}"#,
            );
            assert!(r.starts_with("HTTP/1.1 201"), "cancel {n}: {r}");
            let r = post(
                &addr,
                "/api/tokens",
                &format!("{bearer}Idempotency-Key: token-{n}\r\n"),
                &format!(r#"{{"label":"robot {n}"}}"#),
            );
            assert!(r.starts_with("HTTP/1.1 201"), "token {n}: {r}");
            written.fetch_add(3, Ordering::Relaxed);
        }
    })
}

fn readers_beside_the_writer(data: &Path, db: Option<&str>) {
    let server = worked_example_served(data, db);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let client = writer(server.addr.clone(), stop.clone(), written.clone());
    let mut holders_seen = Vec::new();
    for round in 0..3 {
        // Let some writes through before each round, so each reader meets a moving journal.
        while written.load(Ordering::Relaxed) < 20 * (round + 1) {
            assert!(!client.is_finished(), "the writing client stopped early");
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = ok(
            ets(data, db)
                .args(["report", "compliance", "--json"])
                .output()
                .unwrap(),
            "ets report compliance --json beside the server",
        );
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert!(report["national"].is_object(), "{report}");
        let holdings = ok(
            ets(data, db).args(["holdings", "SX0001"]).output().unwrap(),
            "ets holdings SX0001 beside the server",
        );
        assert!(holdings.contains("SX0001"), "{holdings}");
        let verify = ok(
            ets(data, db).arg("verify").output().unwrap(),
            "ets verify beside the server",
        );
        assert!(verify.ends_with("ok\n"), "{verify}");
        let users = verify
            .lines()
            .find(|l| l.starts_with("access:"))
            .unwrap_or_else(|| panic!("verify says nothing of access: {verify}"))
            .to_string();
        holders_seen.push(users);
    }
    stop.store(true, Ordering::Relaxed);
    client
        .join()
        .expect("the writing client saw only successes");
    // Each later reader saw more of the journal: the tokens kept coming.
    assert_ne!(holders_seen[0], holders_seen[2], "{holders_seen:?}");
    drop(server);
    // After the server stops, a writer opens it again (the lock was only the server's).
    ok(
        ets(data, db)
            .args([
                "--date",
                "2022-01-06",
                "exchange",
                "deposit",
                "GD0001",
                "1.00",
            ])
            .output()
            .unwrap(),
        "a write after the server stopped",
    );
}

#[test]
fn reports_holdings_and_verify_run_beside_a_writing_server_embedded() {
    let dir = tempfile::tempdir().unwrap();
    readers_beside_the_writer(&dir.path().join("d"), None);
}

#[test]
fn reports_holdings_and_verify_run_beside_a_writing_server_postgres() {
    let base = std::env::var("ETS_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let host = base
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_string();
    if std::net::TcpStream::connect(&host).is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is unreachable at {host} (ETS_PG_URL) and CI=true"
        );
        eprintln!("skipped: PostgreSQL is unreachable at {host}; set ETS_PG_URL to run it");
        return;
    }
    let schema = format!(
        "readers_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let url = format!("{base}#{schema}");
    let dir = tempfile::tempdir().unwrap();
    readers_beside_the_writer(&dir.path().join("d"), Some(&url));
}
