//! Kill -9 under load (issue 12, item 5): `ets serve` is killed with SIGKILL at random moments
//! while clients enter orders, move units with four eyes and allocate, and every answer a client
//! was given is checked against the store after the restart.
//!
//! ```sh
//! scripts/kill9.sh                      # both stores, 5 rounds each
//! ROUNDS=10 STORES=postgres scripts/kill9.sh
//! ```
//!
//! The driver runs the server itself (`--ets`, with `--data DIR` or `--db URL`), so that it
//! knows when it killed it:
//!
//! 1. **Set-up** through the API, as the regulator (password from `ETS_ADMIN_PASSWORD`): the
//!    2019–2020 plan; the exchange open under the shipped market file with continuous matching;
//!    an offset project whose credits are the traded and transferred class; `--members` funded
//!    exchange members; `--companies` covered companies opened by account requests with two
//!    representatives each, their 2018 reports submitted, verified and accepted (so that they
//!    can be pre-allocated), credits moved to them, and each company trusting the next one's
//!    account (a four-eyes instruction itself; the server runs with `--trusted-delay-hours 0`).
//! 2. **Rounds.** Each round starts the clients: one per member entering limit orders (day and
//!    immediate-or-cancel, some crossing); one per company proposing a transfer to the next
//!    company with its first representative and approving it with its second; one regulator
//!    pre-allocating the companies one after the other. After a random 1–`--max-seconds` s the
//!    server is killed (SIGKILL), and started again with its clock moved on. A client whose
//!    request got no answer (connection refused or reset, 503) sends it again with the **same
//!    Idempotency-Key** until it has one; the clients then stop.
//! 3. **Checks after every restart.** `ets verify` (replay, hash chain, every invariant) passes;
//!    every 2xx answer of the round is sent again with its key and must come back as the same
//!    answer marked `"replayed": true` (a request whose record was lost would be executed anew:
//!    **lost**); no two answers name the same order id or registry transaction (a lost request
//!    frees its numbers for the next: **lost**); every company's outgoing transfers in the
//!    registry are exactly its approvals answered 2xx (more: **duplicates**, fewer: **lost**), its
//!    holding of the credits is what those transfers leave, and a company holds allowances if and
//!    only if its pre-allocation was answered 2xx.
//!
//! Prints the rounds, the acknowledged requests checked, retries, lost and duplicates, and a
//! `RESULT {json}` line; exits 1 if anything was lost or duplicated or a check failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PLAN: &str = "cn-power-2019-2020";
/// Credits each company starts with, and a transfer's largest quantity.
const COMPANY_CREDITS: u64 = 10_000_000;
const TRANSFER_MAX: u64 = 100;

fn main() {
    match real_main() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("kill9: {e}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Debug)]
struct Opts {
    ets: String,
    /// `--data DIR` or `--db URL`, as given to every `ets` command.
    store_args: Vec<String>,
    log: String,
    regulator: String,
    day: String,
    rounds: u32,
    max_seconds: f64,
    members: usize,
    companies: usize,
    seed: u64,
}

const USAGE: &str = "usage: kill9 --ets PATH (--data DIR | --db URL) --day YYYY-MM-DD [--log FILE]
             [--regulator NAME] [--rounds 5] [--max-seconds 4] [--members 6] [--companies 4] [--seed N]
The regulator (created beforehand with `ets admin create-regulator`) logs in with ETS_ADMIN_PASSWORD.";

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        ets: String::new(),
        store_args: Vec::new(),
        log: "kill9-server.log".into(),
        regulator: "k9reg".into(),
        day: String::new(),
        rounds: 5,
        max_seconds: 4.0,
        members: 6,
        companies: 4,
        seed: rand::random(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        fn num<T: std::str::FromStr>(flag: &str, s: String) -> Result<T, String> {
            s.parse().map_err(|_| format!("{flag} {s:?}: not a number"))
        }
        match a.as_str() {
            "--ets" => o.ets = val()?,
            "--data" | "--db" => {
                let v = val()?;
                o.store_args = vec![a.clone(), v];
            }
            "--log" => o.log = val()?,
            "--regulator" => o.regulator = val()?,
            "--day" => o.day = val()?,
            "--rounds" => o.rounds = num(&a, val()?)?,
            "--max-seconds" => o.max_seconds = num(&a, val()?)?,
            "--members" => o.members = num(&a, val()?)?,
            "--companies" => o.companies = num(&a, val()?)?,
            "--seed" => o.seed = num(&a, val()?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if o.ets.is_empty() || o.store_args.is_empty() || o.day.len() != 10 {
        return Err(format!(
            "--ets, --data or --db, and --day are required\n{USAGE}"
        ));
    }
    if !(1..=9).contains(&o.companies) || !(1..=200).contains(&o.members) {
        return Err("--companies: 1 to 9; --members: 1 to 200".into());
    }
    if !(o.max_seconds >= 1.0 && o.max_seconds <= 60.0) || o.rounds == 0 || o.rounds > 60 {
        return Err("--max-seconds: 1 to 60; --rounds: 1 to 60".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// A small blocking HTTP/1.1 client

/// What became of a request.
enum Sent {
    /// An answer: status and JSON body (`Null` if not JSON), and the session cookie if set.
    Answer(u16, Value, Option<String>),
    /// No answer: the connection failed, was reset or closed, or timed out.
    NoAnswer(String),
}

struct Http {
    addr: SocketAddr,
    conn: Option<TcpStream>,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http { addr, conn: None }
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Sent {
        let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            out.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        let result = self.exchange(&bytes);
        if result.is_err() {
            self.conn = None;
        }
        match result {
            Ok((status, value, cookie, close)) => {
                if close {
                    self.conn = None;
                }
                Sent::Answer(status, value, cookie)
            }
            Err(e) => Sent::NoAnswer(e.to_string()),
        }
    }

    fn exchange(&mut self, request: &[u8]) -> std::io::Result<(u16, Value, Option<String>, bool)> {
        if self.conn.is_none() {
            let c = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            c.set_nodelay(true)?;
            // Longer than the server's own 10 s timeout, which answers 503.
            c.set_read_timeout(Some(Duration::from_secs(20)))?;
            self.conn = Some(c);
        }
        let conn = self.conn.as_mut().expect("connected");
        conn.write_all(request)?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = [0u8; 16384];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
        let mut length = 0usize;
        let mut close = false;
        let mut cookie = None;
        for line in head.split("\r\n").skip(1) {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = v
                    .parse()
                    .map_err(|_| std::io::Error::other("bad content-length"))?;
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                return Err(std::io::Error::other("chunked answers are not expected"));
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            } else if k.eq_ignore_ascii_case("set-cookie")
                && let Some(c) = v.strip_prefix("ets_session=")
            {
                cookie = Some(c.split(';').next().unwrap_or_default().to_string());
            }
        }
        let body_start = head_end + 4;
        while buf.len() < body_start + length {
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection mid-answer",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let value =
            serde_json::from_slice(&buf[body_start..body_start + length]).unwrap_or(Value::Null);
        Ok((status, value, cookie, close))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request as a client sends it, so that it can be sent again with the same key.
#[derive(Clone, Debug)]
struct Req {
    token: String,
    path: String,
    body: Value,
    key: String,
}

/// A request and the 2xx answer it was given.
#[derive(Clone, Debug)]
struct Ack {
    what: Kind,
    req: Req,
    status: u16,
    answer: Value,
    /// Whether the answer came only after a retry (the first attempt had no answer).
    retried: bool,
    /// When the answer arrived: one that came after the kill is checked after the next one.
    at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Order,
    Propose,
    Approve,
    Allocate,
}

/// Sends `req` until it has an answer: after no answer or a 503 (server killed, starting, or
/// its writer gone), the same request with the same key again. Gives up after `deadline`.
fn send_until_answered(
    http: &mut Http,
    req: &Req,
    deadline: Duration,
) -> Result<(u16, Value, bool), String> {
    let body = serde_json::to_vec(&req.body).expect("JSON");
    let auth = format!("Bearer {}", req.token);
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let sent = http.send(
            "POST",
            &req.path,
            &[("Authorization", &auth), ("Idempotency-Key", &req.key)],
            Some(&body),
        );
        match sent {
            Sent::Answer(status, v, _) if status != 503 && status != 408 => {
                return Ok((status, v, attempts > 1));
            }
            Sent::Answer(status, v, _) => {
                if started.elapsed() > deadline {
                    return Err(format!(
                        "POST {}: still {status} after {:?}: {v}",
                        req.path, deadline
                    ));
                }
            }
            Sent::NoAnswer(e) => {
                if started.elapsed() > deadline {
                    return Err(format!(
                        "POST {}: no answer for {:?}: {e}",
                        req.path, deadline
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Server {
    o: Opts,
    port: u16,
    child: Option<Child>,
    /// Simulated Beijing time at which the running server started, and when (real time).
    started: Option<(i64, Instant)>,
    /// Minutes since midnight of the next start (moved on at every start, never back).
    next_minute: i64,
}

impl Server {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn ets(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.o.ets);
        c.args(&self.o.store_args);
        c.args(args);
        c
    }

    fn start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none());
        // The clock starts where the last run left off (the store's dates never go back), in
        // the morning session.
        if let Some((minute, at)) = self.started {
            let ran = at.elapsed().as_secs() as i64 / 60 + 1;
            self.next_minute = self.next_minute.max(minute + ran);
        }
        let minute = self.next_minute;
        if minute >= 11 * 60 + 30 {
            return Err("the morning session is over: fewer rounds, or shorter ones".into());
        }
        let clock = format!("{}T{:02}:{:02}", self.o.day, minute / 60, minute % 60);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.o.log)
            .map_err(|e| format!("{}: {e}", self.o.log))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let listen = format!("127.0.0.1:{}", self.port);
        let child = self
            .ets(&[
                "serve",
                "--listen",
                &listen,
                "--clock",
                &clock,
                "--trusted-delay-hours",
                "0",
                "--rate-limit",
                "10000000",
                "--burst",
                "10000000",
                "--applications-per-hour",
                "100000",
            ])
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.o.ets))?;
        self.child = Some(child);
        self.started = Some((minute, Instant::now()));
        self.next_minute = minute + 1;
        let t0 = Instant::now();
        let mut http = Http::new(self.addr());
        loop {
            if let Sent::Answer(200, _, _) = http.send("GET", "/api/health", &[], None) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "ets serve exited with {status} (log: {})",
                    self.o.log
                ));
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(format!(
                    "ets serve not healthy after 120 s (log: {})",
                    self.o.log
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A clean stop (SIGINT), at the end.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// `ets verify` beside the running server: replay of the durable prefix, every invariant.
    fn verify(&self) -> Result<String, String> {
        let out = self
            .ets(&["verify"])
            .output()
            .map_err(|e| format!("ets verify: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(format!("ets verify failed ({}): {text}", out.status));
        }
        Ok(text.lines().last().unwrap_or_default().to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up through the API

/// A client of one user for the set-up and the checks: every POST must succeed.
struct Api {
    http: Http,
    token: String,
    keys: u64,
    run: String,
}

impl Api {
    fn login(addr: SocketAddr, run: &str, user: &str, password: &str) -> Result<Api, String> {
        let mut http = Http::new(addr);
        let body = serde_json::to_vec(&json!({"username": user, "password": password})).unwrap();
        let (cookie, csrf) = match http.send("POST", "/api/login", &[], Some(&body)) {
            Sent::Answer(200..=299, v, Some(cookie)) => {
                (cookie, v["csrf"].as_str().unwrap_or_default().to_string())
            }
            Sent::Answer(s, v, _) => return Err(format!("login as {user}: {s} {v}")),
            Sent::NoAnswer(e) => return Err(format!("login as {user}: {e}")),
        };
        let key = format!("k9-{run}-token-{user}");
        let body = serde_json::to_vec(&json!({"label": format!("kill9 {run}")})).unwrap();
        let v = match http.send(
            "POST",
            "/api/tokens",
            &[
                ("Cookie", &format!("ets_session={cookie}")),
                ("X-CSRF-Token", &csrf),
                ("Idempotency-Key", &key),
            ],
            Some(&body),
        ) {
            Sent::Answer(s, v, _) if (200..300).contains(&s) => v,
            Sent::Answer(s, v, _) => return Err(format!("token for {user}: {s} {v}")),
            Sent::NoAnswer(e) => return Err(format!("token for {user}: {e}")),
        };
        let token = v["token"]
            .as_str()
            .ok_or_else(|| format!("no token in {v}"))?
            .to_string();
        Ok(Api {
            http,
            token,
            keys: 0,
            run: run.to_string(),
        })
    }

    fn anonymous(addr: SocketAddr, run: &str) -> Api {
        Api {
            http: Http::new(addr),
            token: String::new(),
            keys: 0,
            run: run.to_string(),
        }
    }

    fn post(&mut self, path: &str, body: Value) -> Result<Value, String> {
        self.keys += 1;
        let req = Req {
            token: self.token.clone(),
            path: path.to_string(),
            body,
            // Anonymous callers share one key namespace: a random part keeps them apart.
            key: format!(
                "k9-{}-setup-{}-{}-{}",
                self.run,
                short(&self.token),
                self.keys,
                random_hex(4)
            ),
        };
        let (status, v, _) = if self.token.is_empty() {
            let body = serde_json::to_vec(&req.body).unwrap();
            match self
                .http
                .send("POST", path, &[("Idempotency-Key", &req.key)], Some(&body))
            {
                Sent::Answer(s, v, _) => (s, v, false),
                Sent::NoAnswer(e) => return Err(format!("POST {path}: {e}")),
            }
        } else {
            send_until_answered(&mut self.http, &req, Duration::from_secs(60))?
        };
        if !(200..300).contains(&status) {
            return Err(format!("POST {path} {}: {status} {v}", req.body));
        }
        Ok(v)
    }

    fn get(&mut self, path: &str) -> Result<Value, String> {
        let auth = format!("Bearer {}", self.token);
        let t0 = Instant::now();
        loop {
            match self
                .http
                .send("GET", path, &[("Authorization", &auth)], None)
            {
                Sent::Answer(200, v, _) => return Ok(v),
                Sent::Answer(s, v, _) if s != 503 => return Err(format!("GET {path}: {s} {v}")),
                _ if t0.elapsed() > Duration::from_secs(60) => {
                    return Err(format!("GET {path}: no answer in 60 s"));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

fn short(token: &str) -> String {
    token.chars().rev().take(8).collect()
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[derive(Clone, Debug)]
struct Member {
    token: String,
    holder: String,
}

#[derive(Clone, Debug)]
struct Company {
    id: String,
    account: String,
    rep_a: String,
    rep_b: String,
}

struct World {
    run: String,
    class: String,
    regulator: String,
    members: Vec<Member>,
    companies: Vec<Company>,
}

fn report(company: &str, coal_t: &str) -> Value {
    json!({
        "company": company, "year": 2018,
        "units": [{
            "unit": format!("{company}-G1"), "year": 2018,
            "fuels": [{"fuel": "bituminous_coal", "consumption": coal_t, "ncv_gj": "21.5",
                       "carbon_content_tc_per_gj": "0.0262", "elemental_carbon": null, "oxidation_rate": "0.99"}],
            "purchased_electricity_mwh": "0", "power_supplied_mwh": "3000000", "heat_supplied_gj": "0", "load_factor": "0.82"
        }]
    })
}

fn setup(o: &Opts, addr: SocketAddr) -> Result<World, String> {
    let t0 = Instant::now();
    let password = std::env::var("ETS_ADMIN_PASSWORD")
        .map_err(|_| "the regulator's password must be in ETS_ADMIN_PASSWORD")?;
    let run = random_hex(3);
    let mut reg = Api::login(addr, &run, &o.regulator, &password)?;
    reg.post("/api/plans", json!({"builtin": PLAN}))?;

    // The shipped market file, continuous (crossing orders trade at once), members admitted
    // and their position cap raised (a member may keep buying for the whole run).
    let rules = ets_market::trading::config::MarketRules::builtin_text()
        .replace("matching = \"click_to_trade\"", "matching = \"continuous\"")
        .replace("others_cap_t = 1000000 ", "others_cap_t = 1000000000000 ")
        .replace("admit_non_covered = false", "admit_non_covered = true");
    if !rules.contains("matching = \"continuous\"") {
        return Err("the shipped market file changed: cannot set continuous matching".into());
    }
    reg.post(
        "/api/exchange",
        json!({"source": "cn-seee.toml, continuous (kill9)", "toml": rules}),
    )?;
    reg.post("/api/exchange/days/open", json!({}))?;

    let project = format!("K9-{run}");
    let v = reg.post(
        "/api/projects",
        json!({"project": project, "name": "kill9 project", "province": "Shanxi", "kind": "forestry"}),
    )?;
    let number = v["project_number"]
        .as_u64()
        .ok_or_else(|| format!("no project number in {v}"))?;
    let class = format!("CCER-P{number}-2021");
    let per_member = 10_000_000u64;
    let total = per_member * o.members as u64 + COMPANY_CREDITS * o.companies as u64;
    reg.post(
        "/api/offsets",
        json!({"project": project, "vintage": 2021, "quantity": total}),
    )?;

    // Covered companies with two representatives each, reports verified and accepted.
    let verifier = format!("k9-verifier-{run}");
    let verifier_pw = random_hex(12);
    reg.post(
        "/api/users",
        json!({"name": verifier, "display": "kill9 verifier", "password": verifier_pw, "role": "verifier"}),
    )?;
    let mut ver = Api::login(addr, &run, &verifier, &verifier_pw)?;
    let mut companies = Vec::new();
    // Company ids: province prefix and four digits, a fresh range per run.
    let base = 1000 + (rand::random::<u32>() % 800) * 10;
    for i in 0..o.companies {
        let id = format!("SX{:04}", base + i as u32);
        let reps = [format!("k9-{run}-{i}-a"), format!("k9-{run}-{i}-b")];
        let pw = random_hex(12);
        let mut anon = Api::anonymous(addr, &run);
        let v = anon.post(
            "/api/account-requests",
            json!({
                "applicant": {"kind": "company", "company": {"id": id, "name": format!("{id} Power"), "province": "Shanxi"},
                    "units": [{"id": format!("{id}-G1"), "company": id, "category": "coal_above_300", "capacity_mw": 600, "cooling": "water"}]},
                "documents": [{"name": "licence.pdf", "media_type": "application/pdf", "content_base64": "JVBERi0xLjQKJcfsj6IK"}],
                "representatives": reps.iter().map(|r| json!({"name": r, "display": r, "password": pw})).collect::<Vec<_>>(),
            }),
        )?;
        let request = v["id"]
            .as_u64()
            .ok_or_else(|| format!("no request id in {v}"))?;
        let v = reg.post(
            &format!("/api/account-requests/{request}/approve"),
            json!({}),
        )?;
        let account = v["account"]
            .as_str()
            .ok_or_else(|| format!("no account in {v}"))?
            .to_string();
        reg.post(
            &format!("/api/verifiers/{verifier}/companies"),
            json!({"company": id}),
        )?;
        let mut a = Api::login(addr, &run, &reps[0], &pw)?;
        let b = Api::login(addr, &run, &reps[1], &pw)?;
        a.post("/api/reports", report(&id, "1150000"))?;
        ver.post(
            "/api/reports/verifications",
            json!({"company": id, "year": 2018, "units": null, "findings": []}),
        )?;
        reg.post(
            "/api/reports/acceptances",
            json!({"company": id, "year": 2018}),
        )?;
        reg.post(
            "/api/commands",
            json!({"command": "transfer", "class": class, "quantity": COMPANY_CREDITS, "from": project, "to": id, "reason": "kill9 credits"}),
        )?;
        companies.push(Company {
            id,
            account,
            rep_a: a.token,
            rep_b: b.token,
        });
    }
    // Each company trusts the next one's account: four eyes too.
    for i in 0..companies.len() {
        let next = companies[(i + 1) % companies.len()].account.clone();
        let c = companies[i].clone();
        let mut a = Api {
            http: Http::new(addr),
            token: c.rep_a.clone(),
            keys: 0,
            run: run.clone(),
        };
        let mut b = Api {
            http: Http::new(addr),
            token: c.rep_b.clone(),
            keys: 0,
            run: run.clone(),
        };
        let v = a.post(
            "/api/instructions",
            json!({"company": c.id, "kind": "trust", "account": next}),
        )?;
        let id = v["instruction"]["id"]
            .as_u64()
            .ok_or_else(|| format!("no instruction id in {v}"))?;
        b.post(&format!("/api/instructions/{id}/approve"), json!({}))?;
    }

    let mut members = Vec::new();
    for i in 0..o.members {
        let holder = format!("K9-{run}-{i:03}");
        let user = format!("k9-{run}-m{i:03}");
        let pw = random_hex(12);
        reg.post(
            "/api/commands",
            json!({"command": "register_holder", "holder": holder, "reason": "kill9 member"}),
        )?;
        reg.post(
            "/api/commands",
            json!({"command": "transfer", "class": class, "quantity": per_member, "from": project, "to": holder, "reason": "kill9 credits"}),
        )?;
        reg.post(
            "/api/funds/deposits",
            json!({"holder": holder, "fen": 100_000_000_000u64}),
        )?;
        reg.post(
            "/api/users",
            json!({"name": user, "display": user, "password": pw, "role": "member", "holder": holder}),
        )?;
        let m = Api::login(addr, &run, &user, &pw)?;
        members.push(Member {
            token: m.token,
            holder,
        });
    }
    eprintln!(
        "kill9: set up {} members and {} companies trading {class} in {:.1} s",
        members.len(),
        companies.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(World {
        run,
        class,
        regulator: reg.token,
        members,
        companies,
    })
}

// ---------------------------------------------------------------------------------------------
// The load

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the clients of a round bring back.
#[derive(Default)]
struct Harvest {
    acks: Vec<Ack>,
    /// Refusals (4xx): fine (e.g. an order outside the band), counted.
    refused: BTreeMap<String, u64>,
    /// Requests that had no answer at first and were sent again with their key.
    retried: u64,
    /// Of those, the ones answered from the idempotency table (they had executed before).
    retried_replayed: u64,
    errors: Vec<String>,
}

struct Shared {
    addr: SocketAddr,
    stop: AtomicBool,
    harvest: Mutex<Harvest>,
}

impl Shared {
    /// Sends a client's request until answered; records a 2xx answer as an acknowledgement.
    fn request(&self, http: &mut Http, what: Kind, req: Req) -> Option<(u16, Value)> {
        match send_until_answered(http, &req, Duration::from_secs(180)) {
            Ok((status, answer, retried)) => {
                let mut h = self.harvest.lock().unwrap();
                if retried {
                    h.retried += 1;
                }
                if (200..300).contains(&status) {
                    // A retry answered from the idempotency table: the first attempt executed.
                    let mut answer = answer.clone();
                    if let Value::Object(m) = &mut answer
                        && m.remove("replayed").is_some()
                    {
                        h.retried_replayed += 1;
                    }
                    h.acks.push(Ack {
                        what,
                        req,
                        status,
                        answer,
                        retried,
                        at: Instant::now(),
                    });
                } else {
                    let code = answer["code"].as_str().unwrap_or("?");
                    *h.refused
                        .entry(format!("{what:?} {status} {code}"))
                        .or_default() += 1;
                }
                Some((status, answer))
            }
            Err(e) => {
                self.harvest.lock().unwrap().errors.push(e);
                self.stop.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

fn order_client(shared: &Shared, w: &World, m: &Member, index: usize, round: u32, seed: u64) {
    let mut http = Http::new(shared.addr);
    let mut rng = Rng(seed | 1);
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        let buy = rng.below(2) == 0;
        let taker = rng.below(3) == 0;
        let ticks = if taker { 30 } else { rng.below(33) as i64 - 30 };
        let price = if buy { 3000 + ticks } else { 3000 - ticks };
        let req = Req {
            token: m.token.clone(),
            path: "/api/orders".into(),
            body: json!({"holder": m.holder, "class": w.class, "side": if buy {"buy"} else {"sell"},
                         "price": price, "qty": 1 + rng.below(100), "tif": if taker {"ioc"} else {"day"}}),
            key: format!("k9-{}-r{round}-o{index}-{n}", w.run),
        };
        if shared.request(&mut http, Kind::Order, req).is_none() {
            return;
        }
    }
}

fn transfer_client(shared: &Shared, w: &World, i: usize, round: u32, seed: u64) {
    let mut http = Http::new(shared.addr);
    let mut rng = Rng(seed | 1);
    let c = &w.companies[i];
    let to = &w.companies[(i + 1) % w.companies.len()].account;
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        let propose = Req {
            token: c.rep_a.clone(),
            path: "/api/instructions".into(),
            body: json!({"company": c.id, "kind": "transfer", "class": w.class, "quantity": 1 + rng.below(TRANSFER_MAX), "to": to}),
            key: format!("k9-{}-r{round}-t{i}-{n}-p", w.run),
        };
        let Some((status, v)) = shared.request(&mut http, Kind::Propose, propose) else {
            return;
        };
        let Some(id) = v["instruction"]["id"]
            .as_u64()
            .filter(|_| (200..300).contains(&status))
        else {
            continue;
        };
        // The second representative approves, even if the round is ending: a proposal left
        // pending is no harm, but an approval is what moves units.
        let approve = Req {
            token: c.rep_b.clone(),
            path: format!("/api/instructions/{id}/approve"),
            body: json!({}),
            key: format!("k9-{}-r{round}-t{i}-{n}-a", w.run),
        };
        if shared.request(&mut http, Kind::Approve, approve).is_none() {
            return;
        }
    }
}

fn allocation_client(shared: &Shared, w: &World, pending: &Mutex<Vec<usize>>, round: u32) {
    let mut http = Http::new(shared.addr);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(i) = pending.lock().unwrap().first().copied() else {
            return;
        };
        let c = &w.companies[i];
        let req = Req {
            token: w.regulator.clone(),
            path: "/api/allocations".into(),
            body: json!({"plan": PLAN, "company": c.id, "stage": "pre"}),
            key: format!("k9-{}-r{round}-alloc-{}", w.run, c.id),
        };
        match shared.request(&mut http, Kind::Allocate, req) {
            None => return,
            Some((status, v)) => {
                if !(200..300).contains(&status) {
                    shared
                        .harvest
                        .lock()
                        .unwrap()
                        .errors
                        .push(format!("pre-allocation of {} refused: {status} {v}", c.id));
                }
                pending.lock().unwrap().remove(0);
            }
        }
        // Spread the allocations over the rounds.
        std::thread::sleep(Duration::from_millis(700));
    }
}

// ---------------------------------------------------------------------------------------------
// The checks

#[derive(Default, Debug)]
struct Tally {
    rounds: u32,
    checked: u64,
    by_kind: BTreeMap<String, u64>,
    retried: u64,
    retried_replayed: u64,
    lost: u64,
    duplicates: u64,
    refused: BTreeMap<String, u64>,
    failures: Vec<String>,
}

/// Every answer of `acks` again, with its key: the same answer, marked replayed.
fn replay_acks(addr: SocketAddr, acks: &[Ack], t: &mut Tally) {
    let mut http = Http::new(addr);
    for a in acks {
        t.checked += 1;
        *t.by_kind.entry(format!("{:?}", a.what)).or_default() += 1;
        match send_until_answered(&mut http, &a.req, Duration::from_secs(60)) {
            Ok((status, mut v, _)) => {
                let replayed = v.get("replayed") == Some(&Value::Bool(true));
                if let Value::Object(m) = &mut v {
                    m.remove("replayed");
                }
                if !replayed || status != a.status || v != a.answer {
                    t.lost += 1;
                    t.failures.push(format!(
                        "LOST: {:?} POST {} key {} was answered {} {} before the kill, and {status} {v} (replayed: {replayed}) after",
                        a.what, a.req.path, a.req.key, a.status, a.answer
                    ));
                }
            }
            Err(e) => t.failures.push(format!("replaying {}: {e}", a.req.key)),
        }
    }
}

/// No two answers name the same order or registry transaction.
fn check_unique_ids(all: &[Ack], t: &mut Tally) {
    let mut orders = BTreeSet::new();
    let mut transactions = BTreeSet::new();
    for a in all {
        if a.what == Kind::Order
            && let Some(id) = a.answer["id"].as_u64()
            && !orders.insert(id)
        {
            t.lost += 1;
            t.failures.push(format!(
                "LOST: order id {id} answered twice (key {})",
                a.req.key
            ));
        }
        for seq in a.answer["transactions"].as_array().into_iter().flatten() {
            if let Some(seq) = seq.as_u64()
                && !transactions.insert(seq)
            {
                t.lost += 1;
                t.failures.push(format!(
                    "LOST: registry transaction {seq} answered twice (key {})",
                    a.req.key
                ));
            }
        }
    }
}

/// The registry against the acknowledged approvals and allocations.
fn check_registry(addr: SocketAddr, w: &World, all: &[Ack], t: &mut Tally) -> Result<(), String> {
    let mut reg = Api {
        http: Http::new(addr),
        token: w.regulator.clone(),
        keys: 0,
        run: w.run.clone(),
    };
    let account_of: BTreeMap<&str, usize> = w
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| (c.account.as_str(), i))
        .collect();
    let company_of: BTreeMap<&str, usize> = w
        .companies
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    // Approvals answered 2xx, per company, with the quantity its proposal named.
    let mut proposals: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    for a in all.iter().filter(|a| a.what == Kind::Propose) {
        if let Some(id) = a.answer["instruction"]["id"].as_u64() {
            let i = company_of[a.req.body["company"].as_str().unwrap_or_default()];
            proposals.insert(id, (i, a.req.body["quantity"].as_u64().unwrap_or(0)));
        }
    }
    let n = w.companies.len();
    let mut approved = vec![0u64; n];
    let mut delta = vec![0i64; n];
    for a in all.iter().filter(|a| a.what == Kind::Approve) {
        let id: u64 = a
            .req
            .path
            .split('/')
            .nth(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let Some(&(i, q)) = proposals.get(&id) else {
            return Err(format!("approval of an unknown proposal {id}"));
        };
        approved[i] += 1;
        delta[i] -= q as i64;
        delta[(i + 1) % n] += q as i64;
    }
    let allocated: BTreeSet<usize> = all
        .iter()
        .filter(|a| a.what == Kind::Allocate)
        .map(|a| company_of[a.req.body["company"].as_str().unwrap_or_default()])
        .collect();
    for (i, c) in w.companies.iter().enumerate() {
        let v = reg.get(&format!(
            "/api/accounts/{}/transactions?limit=10000",
            c.account
        ))?;
        let list = v["transactions"].as_array().cloned().unwrap_or_default();
        if list.len() >= 10_000 {
            return Err("more than 10,000 transactions on one account: a shorter run".into());
        }
        let out = list
            .iter()
            .filter(|x| {
                x["from"].as_str() == Some(&c.account) && x["class"].as_str() == Some(&w.class)
            })
            .filter(|x| {
                x["to"]
                    .as_str()
                    .is_some_and(|to| account_of.contains_key(to))
            })
            .count() as u64;
        if out > approved[i] {
            t.duplicates += out - approved[i];
            t.failures.push(format!(
                "DUPLICATES: {} has {out} transfers to companies in the registry, {} approvals were answered 2xx",
                c.id, approved[i]
            ));
        } else if out < approved[i] {
            t.lost += approved[i] - out;
            t.failures.push(format!(
                "LOST: {} has {out} transfers to companies in the registry, {} approvals were answered 2xx",
                c.id, approved[i]
            ));
        }
        let v = reg.get(&format!("/api/accounts/{}", c.account))?;
        let held = |class: &str| -> i64 {
            v["holdings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|h| h["class"].as_str() == Some(class))
                .map(|h| {
                    h["quantity"]
                        .as_i64()
                        .or_else(|| h["quantity_t"].as_i64())
                        .unwrap_or(0)
                })
                .sum()
        };
        let credits = held(&w.class);
        let expected = COMPANY_CREDITS as i64 + delta[i];
        if credits != expected {
            t.failures.push(format!(
                "{} holds {credits} t of {}; the acknowledged transfers leave {expected}",
                c.id, w.class
            ));
        }
        let allowances = held("CEA-2019");
        if (allowances > 0) != allocated.contains(&i) {
            t.failures.push(format!(
                "{} holds {allowances} t of CEA-2019; its pre-allocation was {}answered 2xx",
                c.id,
                if allocated.contains(&i) { "" } else { "not " }
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn real_main() -> Result<bool, String> {
    let o = parse_opts()?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        l.local_addr().map_err(|e| e.to_string())?.port()
    };
    let mut server = Server {
        o: o.clone(),
        port,
        child: None,
        started: None,
        next_minute: 10 * 60,
    };
    let addr = server.addr();
    eprintln!(
        "kill9: seed {}, {} rounds, store {}",
        o.seed,
        o.rounds,
        o.store_args.join(" ")
    );
    server.start()?;
    let world = Arc::new(setup(&o, addr)?);
    let pending = Arc::new(Mutex::new((0..world.companies.len()).collect::<Vec<_>>()));
    let mut rng = Rng(o.seed | 1);
    let mut tally = Tally::default();
    let mut all: Vec<Ack> = Vec::new();
    let t0 = Instant::now();
    // Answers that arrived after a round's kill (retries, last requests): checked after the next.
    let mut deferred: Vec<Ack> = Vec::new();
    for round in 1..=o.rounds + 1 {
        // The last "round" is one more kill with no load, so that the answers of the last
        // round's retries are checked after a kill too.
        let load = round <= o.rounds;
        let shared = Arc::new(Shared {
            addr,
            stop: AtomicBool::new(!load),
            harvest: Mutex::new(Harvest::default()),
        });
        let mut threads = Vec::new();
        if load {
            for (i, m) in world.members.iter().enumerate() {
                let (s, w, m, seed) = (shared.clone(), world.clone(), m.clone(), rng.next());
                threads.push(std::thread::spawn(move || {
                    order_client(&s, &w, &m, i, round, seed)
                }));
            }
            for i in 0..world.companies.len() {
                let (s, w, seed) = (shared.clone(), world.clone(), rng.next());
                threads.push(std::thread::spawn(move || {
                    transfer_client(&s, &w, i, round, seed)
                }));
            }
            let (s, w, p) = (shared.clone(), world.clone(), pending.clone());
            threads.push(std::thread::spawn(move || {
                allocation_client(&s, &w, &p, round)
            }));
        }
        // A random moment, to the millisecond.
        let ms = if load {
            1000 + rng.below((o.max_seconds * 1000.0) as u64 - 999)
        } else {
            0
        };
        std::thread::sleep(Duration::from_millis(ms));
        let killed_at = Instant::now();
        server.kill9();
        // The clients finish the request they are in (sending it again until answered), then
        // stop; the server comes back while they retry.
        shared.stop.store(true, Ordering::Relaxed);
        server.start()?;
        let down = killed_at.elapsed();
        for th in threads {
            th.join().map_err(|_| "a client panicked")?;
        }
        let harvest = std::mem::take(&mut *shared.harvest.lock().unwrap());
        if load {
            tally.rounds += 1;
        }
        tally.retried += harvest.retried;
        tally.retried_replayed += harvest.retried_replayed;
        for (k, v) in harvest.refused {
            *tally.refused.entry(k).or_default() += v;
        }
        tally.failures.extend(harvest.errors);
        let verify = server.verify();
        if let Err(e) = &verify {
            tally.failures.push(e.clone());
        }
        let (now, later): (Vec<Ack>, Vec<Ack>) =
            harvest.acks.into_iter().partition(|a| a.at < killed_at);
        let to_check: Vec<Ack> = std::mem::replace(&mut deferred, later)
            .into_iter()
            .chain(now)
            .collect();
        let before = (tally.lost, tally.duplicates);
        replay_acks(addr, &to_check, &mut tally);
        all.extend(to_check.iter().cloned());
        // The registry is checked against every acknowledgement so far (cumulative: its
        // findings are counted once, at the end).
        let mut registry = Tally::default();
        let mut every: Vec<Ack> = all.clone();
        every.extend(deferred.iter().cloned());
        check_unique_ids(&every, &mut registry);
        check_registry(addr, &world, &every, &mut registry)?;
        if !load {
            tally.lost += registry.lost;
            tally.duplicates += registry.duplicates;
        }
        tally.failures.extend(
            registry
                .failures
                .iter()
                .map(|f| format!("round {round}: {f}")),
        );
        eprintln!(
            "kill9: {}: killed {}, up again in {:.2} s; {} acknowledged requests checked ({} answered only after a retry), {} more answered after the kill; lost {}, duplicates {}; ets verify: {}",
            if load {
                format!("round {round}")
            } else {
                "final kill".into()
            },
            if load {
                format!("after {ms} ms of load")
            } else {
                "idle".into()
            },
            down.as_secs_f64(),
            to_check.len(),
            to_check.iter().filter(|a| a.retried).count(),
            deferred.len(),
            tally.lost - before.0 + registry.lost,
            tally.duplicates - before.1 + registry.duplicates,
            verify.as_deref().unwrap_or("FAILED"),
        );
        if !tally.failures.is_empty() {
            break;
        }
    }
    server.stop();
    let ok = tally.failures.is_empty() && tally.lost == 0 && tally.duplicates == 0;
    for f in tally.failures.iter().take(20) {
        eprintln!("kill9: {f}");
    }
    let store = if o.store_args[0] == "--db" {
        "postgres"
    } else {
        "embedded"
    };
    println!(
        "kill9 {store}: {} rounds, {} acknowledged requests checked ({}), {} requests sent again after no answer ({} of them had executed: answered from the idempotency table); lost {}, duplicates {}; {:.0} s",
        tally.rounds,
        tally.checked,
        tally
            .by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        tally.retried,
        tally.retried_replayed,
        tally.lost,
        tally.duplicates,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "RESULT {}",
        json!({"store": store, "rounds": tally.rounds, "checked": tally.checked, "by_kind": tally.by_kind,
               "retried": tally.retried, "retried_replayed": tally.retried_replayed, "lost": tally.lost, "duplicates": tally.duplicates,
               "refused": tally.refused, "failures": tally.failures.len(), "ok": ok})
    );
    Ok(ok)
}
