//! The `ets` binary end to end: the demo is deterministic, survives `kill -9`, and `ets verify`
//! checks what it says it checks.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ets(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("ets runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// The summary block of a demo run (everything but the timing line).
fn figures(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with("journal:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn demo_twice_with_one_seed_gives_identical_figures_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let first = ok(ets(&a, &["demo", "--quiet", "--seed", "7"]), "first demo");
    let second = ok(ets(&b, &["demo", "--quiet", "--seed", "7"]), "second demo");
    assert_eq!(figures(&first), figures(&second));
    for needle in [
        "completion by volume",
        "completion by count",
        "Shanxi",
        "China",
    ] {
        assert!(
            first.contains(needle),
            "the summary shows {needle}:\n{first}"
        );
    }
    // The same journal bytes, too: the run is a pure function of the seed.
    assert_eq!(
        std::fs::read(a.join("journal.log")).unwrap(),
        std::fs::read(b.join("journal.log")).unwrap()
    );

    let verify = ok(ets(&a, &["verify"]), "verify");
    for needle in [
        "hash chain intact",
        "serial blocks tile",
        "recorded allocations equal",
        "ok",
    ] {
        assert!(verify.contains(needle), "verify says {needle}:\n{verify}");
    }

    // The JSON report has the documented shape.
    let json = ok(ets(&a, &["report", "compliance", "--json"]), "json report");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let shanxi = v["provinces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Shanxi")
        .expect("Shanxi");
    for key in [
        "name",
        "companies",
        "allocated_t",
        "verified_t",
        "obligation_t",
        "surrendered_t",
        "offsets_used_t",
        "shortfall_t",
        "completion_rate_volume",
        "completion_rate_count",
    ] {
        assert!(
            !v["national"][key].is_null() && !shanxi[key].is_null(),
            "{key} present"
        );
    }
    let rate = v["national"]["completion_rate_volume"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));
    let surrendered = v["national"]["surrendered_t"].as_u64().unwrap();
    let obligation = v["national"]["obligation_t"].as_u64().unwrap();
    let shortfall = v["national"]["shortfall_t"].as_u64().unwrap();
    assert_eq!(
        surrendered + shortfall,
        obligation,
        "nobody surrenders more than owed"
    );
    let province = ok(
        ets(&a, &["report", "compliance", "--province", "Shanxi"]),
        "province report",
    );
    assert!(
        province.contains("SX0001"),
        "the province report lists its companies"
    );
}

#[test]
fn kill_9_during_the_demo_leaves_a_consistent_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // Kill at a few points of the run: early (registration), later (reports, allocation), and
    // (in a debug build) during the year on the exchange.
    for wait_ms in [700_u64, 2_500, 20_000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ets"))
            .arg("--data")
            .arg(&data)
            .args(["demo", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(wait_ms)
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SIGKILL: no destructor, no flush, exactly as a crash.
        child.kill().unwrap();
        child.wait().unwrap();
        if !data.join("journal.log").exists() {
            continue;
        }
        let verify = ets(&data, &["verify"]);
        assert!(
            verify.status.success(),
            "verify after kill -9 at {wait_ms} ms:\n{}\n{}",
            stdout(&verify),
            String::from_utf8_lossy(&verify.stderr)
        );
        assert!(stdout(&verify).contains("ok"));
    }
    // A new demo run on the same directory completes.
    let out = ok(ets(&data, &["demo", "--quiet"]), "demo after kill -9");
    assert!(out.contains("completion by volume"));
    ok(ets(&data, &["verify"]), "verify after the new demo");
}

#[test]
fn demo_refuses_a_directory_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "regulator data").unwrap();
    let out = ets(tmp.path(), &["demo", "--quiet"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not made by `ets demo`"));
    assert!(tmp.path().join("precious.txt").exists());
}

fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_worked_example_runs_and_a_bad_file_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("example");
    let out = Command::new("bash")
        .arg(repo_root().join("examples/worked-example.sh"))
        .arg(&data)
        .env("ETS", env!("CARGO_BIN_EXE_ets"))
        .output()
        .unwrap();
    let text = ok(out, "examples/worked-example.sh");
    assert!(text.contains("assessed on 2022-01-04"), "{text}");
    assert!(
        text.ends_with("ok\n"),
        "the example ends with a clean verify:\n{text}"
    );

    // A transfers file whose third row names an unknown holder: refused whole.
    let journal_before = std::fs::read(data.join("journal.log")).unwrap();
    let bad = tmp.path().join("bad-transfers.csv");
    std::fs::write(&bad, "from,to,unit,vintage,quantity\nSX0001,SX0002,CEA,2019,10\nSX0001,SX0002,CEA,2019,10\nSX0001,NOBODY,CEA,2019,10\n")
        .unwrap();
    let out = ets(
        &data,
        &["--date", "2022-02-01", "transfer", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-transfers.csv:4"),
        "the error names the file and line: {err}"
    );
    assert!(
        err.contains("NOBODY") && err.contains("nothing of"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(data.join("journal.log")).unwrap(),
        journal_before,
        "nothing was journaled"
    );

    // A malformed quantity is caught by the parser, with its field.
    std::fs::write(
        &bad,
        "from,to,unit,vintage,quantity\nSX0001,SX0002,CEA,2019,1.5\n",
    )
    .unwrap();
    let out = ets(
        &data,
        &["--date", "2022-02-01", "transfer", bad.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(":2") && err.contains("quantity"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(data.join("journal.log")).unwrap(),
        journal_before
    );
}

/// `ets admin` creates the first regulator; `ets serve` answers over a real socket, logs the
/// regulator in, and stops on request; `ets verify` then reads the server's journal.
#[test]
fn serve_and_admin_over_a_real_socket() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = Command::new(env!("CARGO_BIN_EXE_ets"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "admin",
            "create-regulator",
            "--name",
            "admin",
        ])
        .env("ETS_ADMIN_PASSWORD", "a long enough passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ets"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--clock",
            "2021-07-16T10:00",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
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
    let call = |request: String| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let health = call(format!(
        "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    ));
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"embedded\""),
        "{health}"
    );
    let body = r#"{"username":"admin","password":"a long enough passphrase"}"#;
    let login = call(format!(
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(
        login.starts_with("HTTP/1.1 201") && login.contains("ets_session="),
        "{login}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let verify = ets(&data, &["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
