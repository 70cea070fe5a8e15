//! Issue 13 item 3: the daily figures have one meaning everywhere. On one store, a day with
//! listed trades, a block trade and one-way allocations in one class: `ets report market
//! --json` and `GET /api/market/days` of `ets serve` give the same document, field by field,
//! and it counts each kind of trade apart and in total; the text report says the same.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ets(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ets"));
    c.arg("--data").arg(data).env_remove("ETS_DB");
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

/// `ets --date 2022-01-05 exchange ARGS…`; its standard output.
fn exchange(data: &Path, date: &str, args: &[&str]) -> String {
    ok(
        ets(data)
            .args(["--date", date, "exchange"])
            .args(args)
            .output()
            .unwrap(),
        &format!("exchange {}", args.join(" ")),
    )
}

/// The id of "accepted as order N".
fn accepted(out: &str) -> String {
    out.split("accepted as order ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id in {out:?}"))
        .to_string()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(addr: &str, path: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_report_and_the_api_give_the_same_daily_figures_of_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The worked example's compliance cycle, without its exchange part.
    let script = repo_root().join("examples/worked-example.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    let cycle = text
        .split("# The exchange:")
        .next()
        .filter(|c| c.len() < text.len())
        .expect("the worked example has an exchange part");
    ok(
        Command::new("bash")
            .arg("-c")
            .arg(cycle)
            .arg(&script)
            .arg(&data)
            .env("ETS", env!("CARGO_BIN_EXE_ets"))
            .env_remove("ETS_DB")
            .output()
            .unwrap(),
        "the worked example's cycle",
    );
    // The national market with a block threshold of 10,000 t, which the example's companies
    // can reach.
    let rules = std::fs::read_to_string(repo_root().join("markets/cn-seee.toml")).unwrap();
    let small = rules
        .replace("max_order_t = 99999 ", "max_order_t = 9999  ")
        .replace("min_order_t = 100000 ", "min_order_t = 10000  ");
    assert_ne!(small, rules);
    let market = dir.path().join("market.toml");
    std::fs::write(&market, small).unwrap();
    let day = "2022-01-05";
    exchange(&data, "2022-01-04", &["open", market.to_str().unwrap()]);
    for holder in ["GD0001", "SX0002"] {
        exchange(&data, "2022-01-04", &["deposit", holder, "1000000.00"]);
    }
    exchange(&data, day, &["open-day"]);
    // Listed: 600 t at 48.00 and 400 t at 49.00.
    for (price, qty, time) in [("48.00", "600", "10:05"), ("49.00", "400", "10:06")] {
        let out = exchange(
            &data,
            day,
            &[
                "order",
                "SX0001",
                "sell",
                "--vintage",
                "2020",
                "--price",
                price,
                "--qty",
                "1000",
                "--time",
                "09:45",
            ],
        );
        let id = accepted(&out);
        exchange(
            &data,
            day,
            &["take", "GD0001", &id, "--qty", qty, "--time", time],
        );
    }
    // Block: 10,000 t at 50.00.
    let out = exchange(
        &data,
        day,
        &[
            "block",
            "SX0001",
            "GD0001",
            "sell",
            "--vintage",
            "2020",
            "--price",
            "50.00",
            "--qty",
            "10000",
            "--time",
            "13:20",
        ],
    );
    let proposal = accepted(&out);
    exchange(
        &data,
        day,
        &["accept", "GD0001", &proposal, "--time", "13:21"],
    );
    // One-way, pay-as-bid: 2,000 t at 47.00 and 1,000 t at 46.00.
    let out = exchange(
        &data,
        day,
        &[
            "announce",
            "SX0001",
            "sell",
            "--vintage",
            "2020",
            "--qty",
            "3000",
            "--limit",
            "45.00",
            "--pay-as-bid",
            "--window",
            "14:00-14:30",
        ],
    );
    let auction = accepted(&out);
    for (holder, price, time) in [("GD0001", "47.00", "14:05"), ("SX0002", "46.00", "14:06")] {
        exchange(
            &data,
            day,
            &[
                "bid", holder, &auction, "--price", price, "--qty", "2000", "--time", time,
            ],
        );
    }
    exchange(&data, day, &["close-auction", &auction, "--time", "14:30"]);
    exchange(&data, day, &["close-day"]);

    let report = ok(
        ets(&data)
            .args(["report", "market", "--json"])
            .output()
            .unwrap(),
        "ets report market --json",
    );
    let report: Value = serde_json::from_str(&report).unwrap();
    let figures = json!({
        "date": day,
        "open": 4800, "high": 4900, "low": 4800,
        // (600 × 48.00 + 400 × 49.00) / 1,000: block and one-way prices are left out.
        "close": 4840,
        "listed_volume_t": 1_000, "listed_turnover_fen": 4_840_000, "listed_trades": 2,
        "block_volume_t": 10_000, "block_turnover_fen": 50_000_000, "block_trades": 1,
        "one_way_volume_t": 3_000, "one_way_turnover_fen": 14_000_000, "one_way_trades": 2,
        "volume_t": 14_000, "turnover_fen": 68_840_000, "trades": 5,
    });
    let mut bar = figures.clone();
    bar["class"] = json!("CEA-2020");
    assert_eq!(report["market_days"], json!([figures]), "{report}");
    assert_eq!(
        report["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["class"] == "CEA-2020"),
        Some(&bar),
        "{report}"
    );
    let text = ok(
        ets(&data).args(["report", "market"]).output().unwrap(),
        "ets report market",
    );
    assert!(
        text.contains(
            "volume 14,000 t (listed 1,000 t, block 10,000 t, one-way 3,000 t), turnover 688,400 CNY"
        ) && text.contains("turnover: listed 48,400 CNY, block 500,000 CNY, one-way 140,000 CNY"),
        "{text}"
    );

    // The server on the same store answers with the same document.
    let mut child = ets(&data)
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
    let server = Server(child);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let api = get_json(&addr, "/api/market/days");
    assert_eq!(api, report, "the API and the report differ");
    drop(server);
}
