//! `ets demo --plan` and `ets demo --until` end to end, on a small generated market (42
//! companies: the shipped configuration with one company per province and twelve in Shanxi) so
//! that the suite stays fast: the fleet does not depend on the plan, and a stopped demo is a
//! market that the README's walk-through serves, trades in and surrenders in.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const PASSWORD: &str = "a long enough passphrase";
const STRICT5: &str = "examples/plans/cn-power-2019-2020-strict5.toml";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ets(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ETS_DB")
        .env("ETS_ADMIN_PASSWORD", PASSWORD)
        .output()
        .expect("ets runs")
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

fn refused(o: Output, what: &str) -> String {
    assert!(!o.status.success(), "{what} was accepted");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The shipped generator configuration with 12 companies in Shanxi, one in every other province
/// and 5 offset projects, written into `dir`.
fn small_generator(dir: &Path) -> PathBuf {
    let mut total = 0;
    let mut lines = Vec::new();
    for line in ets_sim::CN_POWER_TOML.lines() {
        let province = line.trim_start().starts_with("{ name = ");
        match line.find("companies = ").filter(|_| province) {
            Some(at) => {
                let n = if line.contains("\"Shanxi\"") { 12 } else { 1 };
                total += n;
                let rest = &line[at + "companies = ".len()..];
                let after = &rest[rest.find(',').expect("companies = N,")..];
                lines.push(format!("{}companies = {n}{after}", &line[..at]));
            }
            None => lines.push(line.to_string()),
        }
    }
    let text = lines
        .join("\n")
        .replacen(
            "companies_total = 2162",
            &format!("companies_total = {total}"),
            1,
        )
        .replacen("projects = 40", "projects = 5", 1);
    assert_eq!(total, 42);
    let path = dir.join("small.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Per generating unit: what the fleet is (capacity, category, cooling, activity of the year the
/// allocation used), without what the plan made of it.
fn fleet(allocation: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for company in allocation["allocations"].as_array().unwrap() {
        for unit in company["units"].as_array().unwrap() {
            let mut u = json!({"company": company["company"]});
            for key in ["unit", "capacity_mw", "category", "cooling"] {
                u[key] = unit[key].clone();
            }
            for stage in ["pre", "final"] {
                for key in [
                    "activity_year",
                    "power_supplied_mwh",
                    "heat_supplied_gj",
                    "load_factor",
                ] {
                    u[format!("{stage}.{key}")] = unit[stage][key].clone();
                }
            }
            out.push(u);
        }
    }
    out
}

#[test]
fn another_plan_meets_the_same_fleet_and_changes_only_the_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let generator = small_generator(tmp.path());
    let generator = generator.to_str().unwrap();
    let shipped = tmp.path().join("shipped");
    let strict = tmp.path().join("strict");
    let strict_plan = repo_root().join(STRICT5);
    let out = ok(
        ets(&shipped, &["demo", "--quiet", "--generator", generator]),
        "demo under the shipped plan",
    );
    assert!(out.contains("plan cn-power-2019-2020\n"), "{out}");
    let out = ok(
        ets(
            &strict,
            &[
                "demo",
                "--quiet",
                "--generator",
                generator,
                "--plan",
                strict_plan.to_str().unwrap(),
            ],
        ),
        "demo under the strict plan",
    );
    assert!(out.contains("plan cn-power-2019-2020-strict5\n"), "{out}");
    ok(ets(&strict, &["verify"]), "verify the strict run");

    // The same fleet: every unit with the same activity, so the same verified emissions.
    let allocation = |dir: &Path| {
        json_of(&ok(
            ets(dir, &["report", "allocation", "--json"]),
            "allocation",
        ))
    };
    let (a, b) = (allocation(&shipped), allocation(&strict));
    let (fa, fb) = (fleet(&a), fleet(&b));
    assert!(fa.len() >= 42, "{} units", fa.len());
    assert_eq!(fa, fb, "the fleet depends on the plan");
    let compliance = |dir: &Path| {
        json_of(&ok(
            ets(dir, &["report", "compliance", "--json"]),
            "compliance",
        ))
    };
    let (ca, cb) = (compliance(&shipped), compliance(&strict));
    assert_eq!(cb["plan"], "cn-power-2019-2020-strict5");
    assert_eq!(ca["national"]["verified_t"], cb["national"]["verified_t"]);
    for (pa, pb) in ca["provinces"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cb["provinces"].as_array().unwrap())
    {
        assert_eq!(
            (&pa["name"], &pa["verified_t"]),
            (&pb["name"], &pb["verified_t"])
        );
    }

    // The policy did what it says: 5 % less allocated (rounding per unit aside), benchmarks
    // 0.95 times the shipped ones, and a larger shortfall.
    let allocated = |c: &Value| c["national"]["allocated_t"].as_u64().unwrap();
    let ratio = allocated(&cb) as f64 / allocated(&ca) as f64;
    assert!(
        (0.949..=0.951).contains(&ratio),
        "allocated {ratio} as much"
    );
    let unit = |v: &Value| v["allocations"][0]["units"][0]["final"].clone();
    assert_eq!(
        (
            unit(&a)["supply_benchmark_t_per_mwh"].as_str(),
            unit(&b)["supply_benchmark_t_per_mwh"].as_str()
        ),
        (Some("0.979"), Some("0.93005")),
        "{}",
        unit(&a)
    );
    let shortfall = |c: &Value| c["national"]["shortfall_t"].as_u64().unwrap();
    assert!(shortfall(&cb) > shortfall(&ca));
}

#[test]
fn demo_refuses_a_plan_for_other_years_and_a_stop_outside_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let err = refused(
        ets(&data, &["demo", "--quiet", "--plan", "cn-power-2021-2022"]),
        "a 2021-2022 plan",
    );
    assert!(
        err.contains("plan cn-power-2021-2022 covers 2021, 2022")
            && err.contains("the demo runs the 2019-2020 cycle"),
        "{err}"
    );
    let err = refused(
        ets(&data, &["demo", "--quiet", "--plan", "no-such-plan.toml"]),
        "a missing plan file",
    );
    assert!(err.contains("neither a file nor a shipped plan"), "{err}");
    for (until, what) in [
        ("2021-09-30", "before the exemptions"),
        ("2021-12-15", "inside the year-end rush"),
    ] {
        let err = refused(ets(&data, &["demo", "--quiet", "--until", until]), what);
        assert!(
            err.contains(&format!(
                "--until {until}: the demo stops between 2021-10-08"
            )) && err.contains("2021-12-14"),
            "{err}"
        );
    }
    assert!(!data.exists(), "a refused demo touched its directory");
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

/// A client of one user: a session cookie and its CSRF token.
struct Session {
    addr: String,
    headers: String,
}

fn raw(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn http(addr: &str, request: &str) -> (u16, Value) {
    let text = raw(addr, request);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get(addr: &str, path: &str, headers: &str) -> Value {
    let (status, body) = http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"),
    );
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn login(addr: &str, user: &str) -> Session {
    let body = format!(r#"{{"username":"{user}","password":"{PASSWORD}"}}"#);
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 201"), "login {user}: {text}");
    let csrf = json_of(text.split("\r\n\r\n").nth(1).unwrap())["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = text
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    Session {
        addr: addr.to_string(),
        headers: format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"),
    }
}

impl Session {
    fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        http(
            &self.addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{}Idempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.addr,
                self.headers,
                body.len()
            ),
        )
    }

    #[track_caller]
    fn ok(&self, key: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(key, path, body);
        assert_eq!(status, 201, "{path}: {answer}");
        answer
    }

    fn get(&self, path: &str) -> Value {
        get(&self.addr, path, &self.headers)
    }
}

fn serve(data: &Path, clock: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ets"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", clock])
        .env_remove("ETS_DB")
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

/// The value after `label` on the line of the demo's output that starts with `start`.
fn field<'a>(out: &'a str, start: &str, label: &str) -> &'a str {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?} in\n{out}"));
    line.split(label)
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        .trim_end_matches([';', ','])
}

fn tonnes(s: &str) -> u64 {
    s.replace(',', "").parse().unwrap_or_else(|_| panic!("{s}"))
}

/// The README's walk-through on a demo stopped with `--until`: the regulator creates two
/// representatives of a company short of allowances and one of a company that can sell, opens
/// the day; the seller lists, the buyer takes; after the close the buyer's representative
/// instructs the surrender, the same representative cannot approve it, the second one does; the
/// company complies and the compliance page's figures move.
#[test]
fn a_stopped_demo_is_a_market_to_serve_trade_and_surrender_in() {
    let tmp = tempfile::tempdir().unwrap();
    let generator = small_generator(tmp.path());
    let data = tmp.path().join("d");
    let out = ok(
        ets(
            &data,
            &[
                "demo",
                "--quiet",
                "--generator",
                generator.to_str().unwrap(),
                "--until",
                "2021-12-10",
            ],
        ),
        "demo --until",
    );
    assert!(out.contains("stopped after 2021-12-10"), "{out}");
    assert!(out.contains("serve --clock 2021-12-13T10:00"), "{out}");
    let verified = ok(ets(&data, &["verify"]), "verify the stopped demo");
    assert!(
        verified.contains(
            "business dates: never go back, from the registry's opening on 2021-01-04 to 2021-12-10"
        ),
        "the demo writes its history forward: {verified}"
    );
    // Time moves forward: neither a command nor the server's clock may go back before the
    // stopped day.
    let err = refused(
        ets(
            &data,
            &[
                "--date",
                "2021-12-01",
                "exchange",
                "deposit",
                "SX0001",
                "1.00",
            ],
        ),
        "a deposit dated before the stop",
    );
    assert!(
        err.contains("2021-12-01") && err.contains("2021-12-10") && err.contains("--correction"),
        "{err}"
    );
    let err = refused(
        ets(
            &data,
            &[
                "serve",
                "--clock",
                "2021-12-09T10:00",
                "--listen",
                "127.0.0.1:0",
            ],
        ),
        "a server clock before the stop",
    );
    assert!(
        err.contains("2021-12-09") && err.contains("2021-12-10"),
        "{err}"
    );

    // Nothing after the stop: the last trading day is the 10th, nothing surrendered or assessed.
    let market = json_of(&ok(ets(&data, &["report", "market", "--json"]), "market"));
    let last = market["market_days"].as_array().unwrap().last().unwrap()["date"].clone();
    assert_eq!(last, "2021-12-10");
    let before = json_of(&ok(
        ets(&data, &["report", "compliance", "--json"]),
        "compliance",
    ));
    assert_eq!(before["assessed_on"], Value::Null);
    assert_eq!(before["national"]["surrendered_t"], 0);

    let buyer = field(&out, "buyer", "buyer").to_string();
    let short = tonnes(field(&out, "buyer", "short"));
    let owes = tonnes(field(&out, "buyer", "owes"));
    let seller = field(&out, "seller", "seller").to_string();
    let class = field(&out, "seller", &seller).to_string();
    let close = field(&out, "seller", "last close");
    let price: u64 = close.replace('.', "").parse().unwrap();
    assert!(short > 0 && short < 100_000, "{out}");
    assert!(buyer.starts_with("SX"), "a Shanxi company first: {out}");

    ok(
        ets(&data, &["admin", "create-regulator", "--name", "admin"]),
        "admin create-regulator",
    );
    let server = serve(&data, "2021-12-13T10:00");
    let admin = login(&server.addr, "admin");
    let (a, b, s) = (
        format!("{}-a", buyer.to_lowercase()),
        format!("{}-b", buyer.to_lowercase()),
        format!("{}-a", seller.to_lowercase()),
    );
    for (user, company) in [(&a, &buyer), (&b, &buyer), (&s, &seller)] {
        admin.ok(
            &format!("user-{user}"),
            "/api/users",
            json!({"name": user, "display": user, "password": PASSWORD, "role": "company", "company": company}),
        );
    }
    admin.ok("open-day", "/api/exchange/days/open", json!({}));
    let (a, b, s) = (
        login(&server.addr, &a),
        login(&server.addr, &b),
        login(&server.addr, &s),
    );
    let order = s.ok(
        "sell",
        "/api/orders",
        json!({"holder": seller, "class": class, "side": "sell", "price": price, "qty": short}),
    )["id"]
        .as_u64()
        .unwrap();
    let take = a.ok(
        "take",
        &format!("/api/orders/{order}/take"),
        json!({"holder": buyer, "qty": short}),
    );
    assert_eq!(take["trades"][0]["qty"], short, "{take}");
    admin.ok("close-day", "/api/exchange/days/close", json!({}));

    let company = a.get(&format!("/api/companies/{buyer}"));
    assert_eq!(
        company["plans"][0]["eligible_holdings_t"], owes,
        "{company}"
    );
    let mut ids = Vec::new();
    for h in company["holdings"].as_array().unwrap() {
        let answer = a.ok(
            &format!("surrender-{}", h["class"].as_str().unwrap()),
            "/api/instructions",
            json!({"kind": "surrender", "company": buyer, "plan": "cn-power-2019-2020",
                   "class": h["class"], "quantity": h["quantity_t"]}),
        );
        assert_eq!(answer["instruction"]["status"], "pending");
        ids.push(answer["instruction"]["id"].as_u64().unwrap());
    }
    let (status, refusal) = a.post(
        "self",
        &format!("/api/instructions/{}/approve", ids[0]),
        json!({}),
    );
    assert_eq!((status, refusal["code"].as_str()), (403, Some("four_eyes")));
    for id in &ids {
        let (status, answer) = b.post(
            &format!("approve-{id}"),
            &format!("/api/instructions/{id}/approve"),
            json!({}),
        );
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("executed")),
            "{answer}"
        );
    }

    let company = a.get(&format!("/api/companies/{buyer}"));
    let position = &company["plans"][0]["position"];
    assert_eq!(
        (
            position["status"].as_str(),
            position["surrendered_t"].as_u64()
        ),
        (Some("complied"), Some(owes)),
        "{company}"
    );
    let public = get(
        &server.addr,
        "/api/public/compliance/cn-power-2019-2020",
        "",
    );
    let shanxi = public["provinces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Shanxi")
        .unwrap();
    assert_eq!(
        (
            shanxi["surrendered_t"].as_u64(),
            shanxi["complied"].as_u64()
        ),
        (Some(owes), Some(1))
    );
    // The dashboard's compliance page shows Shanxi's surrendered tonnes (0 before).
    let page = raw(
        &server.addr,
        &format!(
            "GET /compliance HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let owes_text = out
        .lines()
        .find(|l| l.trim_start().starts_with("buyer"))
        .and_then(|l| l.split("owes ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    assert!(
        page.contains(owes_text),
        "the page does not show {owes_text} surrendered"
    );
}
