//! Schemathesis (issue 12, item 4): the server on a temporary embedded store with a market and
//! users of every role, tested from its own `/openapi.json` as every role (an API token each)
//! and unauthenticated, with every check Schemathesis has that applies to a stateless run: no
//! 5xx, status codes, content types, headers and bodies as documented, schema-valid requests
//! accepted (or refused for a documented rule of the market's state: 401, 403, 404, 409, 422,
//! 429), schema-invalid ones refused.
//!
//! Needs the `schemathesis` command (`.ci/run` installs the pinned version with pip:
//! `pip install schemathesis==4.32.5`). Under CI=true its absence fails the test; elsewhere the
//! test says it skipped. `ETS_SCHEMATHESIS_EXAMPLES` sets the examples per operation (default 8;
//! more for a longer run), `ETS_SCHEMATHESIS` the command.

mod common;

use std::process::Command;

use common::*;

/// The pinned version, as `.ci/run` installs it.
const VERSION: &str = "4.32.5";

fn command() -> String {
    std::env::var("ETS_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into())
}

/// Whether the command runs; `Err` says how to install it.
fn available() -> Result<String, String> {
    let cmd = command();
    match Command::new(&cmd).arg("--version").output() {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(out) => Err(format!(
            "`{cmd} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!(
            "`{cmd}` not found ({e}); install it with `pip install schemathesis=={VERSION}` (.ci/run does)"
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_as_any_role() {
    let version = match available() {
        Ok(v) => v,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("schemathesis is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    eprintln!("{version}");
    let h = Harness::new(Kind::Embedded, "schemathesis").unwrap();
    let m = setup(&h).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = h
        .router
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });
    let examples = std::env::var("ETS_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "8".into());
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemathesis/schemathesis.toml"
    );
    let reports = tempfile::tempdir().unwrap();
    // The readers first, the regulator last: what a role's run changes (orders entered, users
    // created, the day closed) stays for the next.
    // The coverage phase (every boundary and every kind of invalid value of every parameter,
    // thousands of requests) runs unauthenticated and as the regulator, who reach every
    // handler's parsing; the other roles run the examples and random requests, within the
    // suite's budget.
    let roles: Vec<(&str, Option<String>, &str)> = vec![
        ("unauthenticated", None, "examples,coverage,fuzzing"),
        ("auditor", Some(m.auditor.clone()), "examples,fuzzing"),
        ("verifier", Some(m.verifier.clone()), "examples,fuzzing"),
        ("bureau", Some(m.bureau.clone()), "examples,fuzzing"),
        ("member", Some(m.member.clone()), "examples,fuzzing"),
        ("company", Some(m.rep_a.clone()), "examples,fuzzing"),
        (
            "regulator",
            Some(m.regulator.clone()),
            "examples,coverage,fuzzing",
        ),
    ];
    let mut failed = Vec::new();
    for (role, token, phases) in roles {
        let mut cmd = Command::new(command());
        // Its caches and reports go to the temporary directory, not the work tree.
        cmd.current_dir(reports.path())
            .arg("--config-file")
            .arg(config)
            .arg("--no-color")
            .arg("run")
            .arg(format!("http://{addr}/openapi.json"))
            // Every check of a stateless run: each operation on its own (links between
            // operations are not documented), without the checks that need a second user's
            // resources (use_after_free, ensure_resource_availability, ignored_auth,
            // object_level_authorization) and without a response-time limit (no timing
            // assertions in tests: the cores are shared).
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance,missing_required_header,unsupported_method,allow_header_conformance"])
            .args(["--phases", phases])
            .args(["--max-examples", &examples])
            .args(["--seed", "12"])
            .args(["--workers", "2"])
            .args(["--request-timeout", "30"])
            .args(["--generation-database", "none"])
            .arg("--report-dir")
            .arg(reports.path().join(role))
            .args(["--report", "junit"]);
        if let Some(t) = &token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = off_runtime(move || cmd.output().expect("run schemathesis"));
        let text = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = text.lines().rev().take(6).collect();
        eprintln!(
            "as {role}: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
        if !out.status.success() {
            failed.push(format!(
                "as {role} ({}):\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    server.abort();
    assert!(
        failed.is_empty(),
        "schemathesis found failures:\n{}",
        failed.join("\n\n")
    );
}
