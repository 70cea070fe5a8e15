//! Load generator for `ets serve`: order entry and reads over HTTP/1.1 keep-alive connections,
//! closed loop (each connection sends its next request when the answer to the previous one has
//! arrived), on loopback only, bounded in time and in requests.
//!
//! ```sh
//! # set up a market through the API as a regulator, then drive orders for 10 s on 64 connections
//! ETS_ADMIN_PASSWORD=... cargo run --release -p ets-server --example load -- \
//!     --url http://127.0.0.1:8080 --setup --regulator loadreg --accounts /tmp/accounts.txt
//! # again on the same accounts, half of the requests reads
//! cargo run --release -p ets-server --example load -- --url http://127.0.0.1:8080 \
//!     --accounts /tmp/accounts.txt --reads 0.5 --connections 64 --seconds 10
//! ```
//!
//! `--setup` (as a regulator, password from `ETS_ADMIN_PASSWORD`): opens the exchange under the
//! shipped SEEE market file with continuous matching (so that crossing orders trade) and the
//! position cap of non-compliance holders raised from 1 Mt (a long run's buyers would reach
//! it), opens the day, registers an offset project and issues its credits (the classes traded),
//! registers
//! `--members` trading accounts, moves credits and funds to them, creates a member user per
//! account and an API token for each (login, then POST /api/tokens with the session's CSRF
//! token), and writes `token holder account` lines to `--accounts`.
//!
//! Orders: buy and sell limit orders around `--mid` inside the price band; a fraction `--ioc`
//! are marketable immediate-or-cancel orders (takers), the rest day orders between `--width`
//! ticks away and `--cross` ticks through the middle (makers, some of which cross and trade).
//! Reads (`--reads` of the requests): GET /api/market/book?class=… and GET
//! /api/accounts/{account} of the connection's own account, half each (`--read-paths`).
//!
//! Output: requests/s, latency quantiles per kind (orders, reads), counts by status class, and
//! one `RESULT {json}` line for scripts.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpStream;

const MAX_SECONDS: f64 = 120.0;
const MAX_WARMUP: f64 = 30.0;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Debug)]
struct Opts {
    url: String,
    connections: usize,
    seconds: f64,
    warmup: f64,
    max_requests: u64,
    reads: f64,
    /// Which reads: the book, the own account, or both (alternately at random).
    read_book: bool,
    read_account: bool,
    ioc: f64,
    classes: Vec<String>,
    mid: i64,
    width: i64,
    cross: i64,
    tick: i64,
    qty_max: u64,
    threads: usize,
    label: String,
    /// `token holder account` triples (from --member or --accounts).
    members: Vec<Member>,
    accounts_file: Option<String>,
    setup: bool,
    setup_only: bool,
    regulator: String,
    n_members: usize,
    units_per_member: u64,
    fen_per_member: u64,
}

#[derive(Clone, Debug)]
struct Member {
    token: String,
    holder: String,
    account: String,
}

const USAGE: &str = "usage: load [--url http://127.0.0.1:8080] [--connections 64] [--seconds 10] [--warmup 1]
            [--max-requests N] [--reads 0.0] [--read-paths book,account] [--ioc 0.5] [--classes CCER-P1-2021,CCER-P1-2022]
            [--mid 3000] [--width 30] [--cross 2] [--tick 1] [--qty-max 100] [--threads 1]
            [--label TEXT] [--member TOKEN,HOLDER,ACCOUNT]... [--accounts FILE]
            [--setup [--setup-only] [--regulator NAME] [--members 16]
                     [--units-per-member 100000000] [--fen-per-member 100000000000]]
The regulator's password comes from ETS_ADMIN_PASSWORD. Loopback addresses only.";

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        url: "http://127.0.0.1:8080".into(),
        connections: 64,
        seconds: 10.0,
        warmup: 1.0,
        max_requests: 10_000_000,
        reads: 0.0,
        read_book: true,
        read_account: true,
        ioc: 0.5,
        classes: vec!["CCER-P1-2021".into(), "CCER-P1-2022".into()],
        mid: 3000,
        width: 30,
        cross: 2,
        tick: 1,
        qty_max: 100,
        threads: 1,
        label: String::new(),
        members: Vec::new(),
        accounts_file: None,
        setup: false,
        setup_only: false,
        regulator: "loadreg".into(),
        n_members: 16,
        units_per_member: 100_000_000,
        fen_per_member: 100_000_000_000,
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
            "--url" => o.url = val()?,
            "--connections" => o.connections = num(&a, val()?)?,
            "--seconds" => o.seconds = num(&a, val()?)?,
            "--warmup" => o.warmup = num(&a, val()?)?,
            "--max-requests" => o.max_requests = num(&a, val()?)?,
            "--reads" => o.reads = num(&a, val()?)?,
            "--ioc" => o.ioc = num(&a, val()?)?,
            "--read-paths" => {
                let v = val()?;
                o.read_book = v.split(',').any(|p| p == "book");
                o.read_account = v.split(',').any(|p| p == "account");
                if !(o.read_book || o.read_account)
                    || v.split(',').any(|p| p != "book" && p != "account")
                {
                    return Err(format!("--read-paths {v:?}: book, account or book,account"));
                }
            }
            "--classes" => o.classes = val()?.split(',').map(|s| s.trim().to_string()).collect(),
            "--mid" => o.mid = num(&a, val()?)?,
            "--width" => o.width = num(&a, val()?)?,
            "--cross" => o.cross = num(&a, val()?)?,
            "--tick" => o.tick = num(&a, val()?)?,
            "--qty-max" => o.qty_max = num(&a, val()?)?,
            "--threads" => o.threads = num(&a, val()?)?,
            "--label" => o.label = val()?,
            "--member" => {
                let v = val()?;
                let parts: Vec<&str> = v.split(',').collect();
                if parts.len() != 3 {
                    return Err(format!("--member {v:?}: expected TOKEN,HOLDER,ACCOUNT"));
                }
                o.members.push(Member {
                    token: parts[0].into(),
                    holder: parts[1].into(),
                    account: parts[2].into(),
                });
            }
            "--accounts" => o.accounts_file = Some(val()?),
            "--setup" => o.setup = true,
            "--setup-only" => {
                o.setup = true;
                o.setup_only = true;
            }
            "--regulator" => o.regulator = val()?,
            "--members" => o.n_members = num(&a, val()?)?,
            "--units-per-member" => o.units_per_member = num(&a, val()?)?,
            "--fen-per-member" => o.fen_per_member = num(&a, val()?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if !(o.seconds > 0.0 && o.seconds <= MAX_SECONDS) {
        return Err(format!("--seconds must be in (0, {MAX_SECONDS}]"));
    }
    if !(0.0..=MAX_WARMUP).contains(&o.warmup) {
        return Err(format!("--warmup must be in [0, {MAX_WARMUP}]"));
    }
    if !(0.0..=1.0).contains(&o.reads) || !(0.0..=1.0).contains(&o.ioc) {
        return Err("--reads and --ioc are fractions in [0, 1]".into());
    }
    if o.connections == 0 || o.connections > 4096 {
        return Err("--connections: 1 to 4096".into());
    }
    if o.max_requests == 0 {
        return Err("--max-requests must be positive".into());
    }
    if o.threads == 0 || o.threads > 64 {
        return Err("--threads: 1 to 64".into());
    }
    if o.classes.is_empty() || o.qty_max == 0 || o.tick <= 0 || o.width < 0 || o.cross < 0 {
        return Err("--classes, --qty-max, --tick, --width, --cross: check the values".into());
    }
    if o.n_members == 0 || o.n_members > 1000 {
        return Err("--members: 1 to 1000".into());
    }
    Ok(o)
}

fn real_main() -> Result<(), String> {
    let mut o = parse_opts()?;
    let rt = if o.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        let target = Target::parse(&o.url).await?;
        if o.setup {
            let (members, classes) = setup(&target, &o).await?;
            o.members = members;
            o.classes = classes;
            if let Some(path) = &o.accounts_file {
                write_accounts(path, &o.members, &o.classes)?;
            }
        } else if o.members.is_empty() {
            let path = o
                .accounts_file
                .clone()
                .ok_or("give --setup, --accounts FILE or --member TOKEN,HOLDER,ACCOUNT")?;
            let (members, classes) = read_accounts(&path)?;
            o.members = members;
            if let Some(c) = classes {
                o.classes = c;
            }
        }
        if o.setup_only {
            return Ok(());
        }
        if o.members.is_empty() {
            return Err("no members to trade for".into());
        }
        run_load(&target, Arc::new(o)).await
    })
}

/// The accounts file: a `classes …` line, then `token holder account` per member.
fn write_accounts(path: &str, members: &[Member], classes: &[String]) -> Result<(), String> {
    let mut text = format!("classes {}\n", classes.join(","));
    for m in members {
        let _ = writeln!(text, "{} {} {}", m.token, m.holder, m.account);
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| format!("{path}: {e}"))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| format!("{path}: {e}"))
}

fn read_accounts(path: &str) -> Result<(Vec<Member>, Option<Vec<String>>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut members = Vec::new();
    let mut classes = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["classes", c] => classes = Some(c.split(',').map(str::to_string).collect()),
            [t, h, a] => members.push(Member {
                token: (*t).into(),
                holder: (*h).into(),
                account: (*a).into(),
            }),
            _ => return Err(format!("{path}: cannot read line {line:?}")),
        }
    }
    Ok((members, classes))
}

// ---------------------------------------------------------------------------------------------
// The HTTP/1.1 client

/// Where the server is: a loopback address (anything else is refused).
#[derive(Clone, Debug)]
struct Target {
    addr: SocketAddr,
    host: String,
}

impl Target {
    async fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url {url:?}: only http:// on loopback"))?;
        let host = rest.split('/').next().unwrap_or_default().to_string();
        if host.is_empty() || host.contains('@') {
            return Err(format!("--url {url:?}: expected http://host:port"));
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.clone()
        } else {
            format!("{host}:80")
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "{host} resolves to {addrs:?}: this load generator only targets loopback addresses"
            ));
        }
        Ok(Target {
            addr: addrs[0],
            host,
        })
    }
}

/// One keep-alive connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A parsed response: status, and where its head and body are in the connection's buffer.
struct Resp {
    status: u16,
    head: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
    /// Bytes of the buffer the response occupies (chunked bodies are decoded into `chunked`).
    len: usize,
    chunked: Option<Vec<u8>>,
    close: bool,
}

impl Conn {
    async fn connect(t: &Target) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(t.addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    async fn send(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads one whole response (the previous one must have been consumed).
    async fn recv(&mut self) -> std::io::Result<Resp> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(r) = parse_response(&self.buf)? {
                return Ok(r);
            }
            self.stream.readable().await?;
            match self.stream.try_read(&mut chunk) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn body<'a>(&'a self, r: &'a Resp) -> &'a [u8] {
        match &r.chunked {
            Some(b) => b,
            None => &self.buf[r.body.clone()],
        }
    }

    fn head<'a>(&'a self, r: &Resp) -> &'a str {
        std::str::from_utf8(&self.buf[r.head.clone()]).unwrap_or("")
    }

    fn consume(&mut self, r: &Resp) {
        self.buf.drain(..r.len);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad_data(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

/// Parses a response at the start of `buf`; `None` while incomplete.
fn parse_response(buf: &[u8]) -> std::io::Result<Option<Resp>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(bad_data("response head over 64 KiB"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad_data("response head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_data("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| bad_data("bad content-length"))?,
            );
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    let body_start = end + 4;
    if chunked {
        // Decode the chunks; incomplete until the terminating zero-length chunk.
        let mut out = Vec::new();
        let mut at = body_start;
        loop {
            let Some(nl) = find(&buf[at..], b"\r\n") else {
                return Ok(None);
            };
            let size_text =
                std::str::from_utf8(&buf[at..at + nl]).map_err(|_| bad_data("chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad_data("chunk size"))?;
            at += nl + 2;
            if size == 0 {
                // Trailers (none expected), then the blank line.
                let Some(t) = find(&buf[at..], b"\r\n") else {
                    return Ok(None);
                };
                let len = at + t + 2;
                return Ok(Some(Resp {
                    status,
                    head: 0..end,
                    body: body_start..body_start,
                    len,
                    chunked: Some(out),
                    close,
                }));
            }
            if buf.len() < at + size + 2 {
                return Ok(None);
            }
            out.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    let length = match length {
        Some(n) => n,
        None if status == 204 || status == 304 || (100..200).contains(&status) => 0,
        None => return Err(bad_data("response without Content-Length (unsupported)")),
    };
    if buf.len() < body_start + length {
        return Ok(None);
    }
    Ok(Some(Resp {
        status,
        head: 0..end,
        body: body_start..body_start + length,
        len: body_start + length,
        chunked: None,
        close,
    }))
}

/// Appends a request to `out`.
fn request(
    out: &mut Vec<u8>,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) {
    let _ = write!(Bytes(out), "{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        let _ = write!(Bytes(out), "{k}: {v}\r\n");
    }
    match body {
        Some(b) => {
            let _ = write!(
                Bytes(out),
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                b.len()
            );
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(b"\r\n"),
    }
}

/// `fmt::Write` into a byte vector.
struct Bytes<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up through the API

/// A small JSON client for the set-up: one connection, answers parsed.
struct Api {
    target: Target,
    conn: Conn,
    /// Bearer token, or a session cookie with its CSRF token.
    auth: Auth,
    keys: u64,
    run: String,
}

enum Auth {
    None,
    Bearer(String),
    Session { cookie: String, csrf: String },
}

impl Api {
    async fn new(target: &Target, run: &str) -> Result<Api, String> {
        Ok(Api {
            target: target.clone(),
            conn: Conn::connect(target)
                .await
                .map_err(|e| format!("connecting to {}: {e}", target.addr))?,
            auth: Auth::None,
            keys: 0,
            run: run.to_string(),
        })
    }

    /// Sends a request; returns status, the Set-Cookie value (if any) and the JSON body.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Option<String>, Value), String> {
        let body_bytes = body.map(|b| serde_json::to_vec(&b).expect("JSON"));
        let key = format!("setup-{}-{}", self.run, self.keys);
        self.keys += 1;
        let mut headers: Vec<(&str, String)> = Vec::new();
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(t) => headers.push(("Authorization", format!("Bearer {t}"))),
            Auth::Session { cookie, csrf } => {
                headers.push(("Cookie", format!("ets_session={cookie}")));
                headers.push(("X-CSRF-Token", csrf.clone()));
            }
        }
        if method == "POST" && path != "/api/login" {
            headers.push(("Idempotency-Key", key));
        }
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut out = Vec::new();
        request(
            &mut out,
            method,
            path,
            &self.target.host,
            &hs,
            body_bytes.as_deref(),
        );
        let io = |e: std::io::Error| format!("{method} {path}: {e}");
        self.conn.send(&out).await.map_err(io)?;
        let r = self.conn.recv().await.map_err(io)?;
        let head = self.conn.head(&r).to_string();
        let value: Value = serde_json::from_slice(self.conn.body(&r)).unwrap_or(Value::Null);
        self.conn.consume(&r);
        if r.close {
            self.conn = Conn::connect(&self.target).await.map_err(io)?;
        }
        let cookie = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.trim().strip_prefix("ets_session="))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .next();
        Ok((r.status, cookie, value))
    }

    /// A call that must succeed (2xx).
    async fn ok(&mut self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (status, _, v) = self.call(method, path, body).await?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path}: {status} {v}"));
        }
        Ok(v)
    }

    /// Logs in and issues an API token; the connection then uses the token.
    async fn token_for(&mut self, user: &str, password: &str) -> Result<String, String> {
        self.auth = Auth::None;
        let (status, cookie, v) = self
            .call(
                "POST",
                "/api/login",
                Some(json!({"username": user, "password": password})),
            )
            .await?;
        let (Some(cookie), Some(csrf)) = (cookie, v["csrf"].as_str().map(str::to_string)) else {
            return Err(format!("login as {user}: {status} {v}"));
        };
        self.auth = Auth::Session { cookie, csrf };
        let v = self
            .ok(
                "POST",
                "/api/tokens",
                Some(json!({"label": format!("load generator {}", self.run)})),
            )
            .await?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| format!("no token in {v}"))?
            .to_string();
        self.auth = Auth::Bearer(token.clone());
        Ok(token)
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Sets up a continuous market with `--members` funded trading accounts, each with a member
/// user and an API token. Returns the members and the classes they hold.
async fn setup(target: &Target, o: &Opts) -> Result<(Vec<Member>, Vec<String>), String> {
    let t0 = Instant::now();
    let password = std::env::var("ETS_ADMIN_PASSWORD")
        .map_err(|_| "--setup needs the regulator's password in ETS_ADMIN_PASSWORD")?;
    let run = random_hex(4);
    let mut api = Api::new(target, &run).await?;
    api.token_for(&o.regulator, &password).await?;

    // The shipped market file with continuous matching: crossing orders trade at once.
    let rules = ets_market::trading::config::MarketRules::builtin_text();
    // The position cap of non-compliance holders (1 Mt) would stop a long run's buyers: a
    // member holds `--units-per-member` and may bid for as much again.
    // The members are trading accounts, not covered companies: the shipped file (the first
    // phase) admits only covered companies, so the load test admits others.
    let continuous = rules
        .replace("matching = \"click_to_trade\"", "matching = \"continuous\"")
        .replace("others_cap_t = 1000000 ", "others_cap_t = 1000000000000 ")
        .replace("admit_non_covered = false", "admit_non_covered = true");
    if !continuous.contains("matching = \"continuous\"")
        || !continuous.contains("others_cap_t = 1000000000000 ")
        || !continuous.contains("admit_non_covered = true")
    {
        return Err(
            "the shipped market file changed: cannot set continuous matching and the position cap"
                .into(),
        );
    }
    let (status, _, v) = api
        .call("POST", "/api/exchange", Some(json!({"source": "cn-seee.toml with continuous matching (load test)", "toml": continuous})))
        .await?;
    match status {
        200..=299 => {}
        409 => eprintln!("setup: the exchange was already open ({})", v["message"]),
        _ => return Err(format!("POST /api/exchange: {status} {v}")),
    }
    let (status, _, v) = api
        .call("POST", "/api/exchange/days/open", Some(json!({})))
        .await?;
    if !(200..300).contains(&status) {
        eprintln!(
            "setup: opening the day: {status} {} (continuing)",
            v["message"]
        );
    }

    // The traded classes: credits of one offset project, by vintage.
    let project = format!("LOAD-{run}");
    let v = api
        .ok("POST", "/api/projects", Some(json!({"project": project, "name": "load test project", "province": "Shanghai", "kind": "forestry"})))
        .await?;
    let number = v["project_number"]
        .as_u64()
        .ok_or_else(|| format!("no project number in {v}"))?;
    let mut vintages = Vec::new();
    for c in &o.classes {
        let vintage: u16 = c
            .rsplit('-')
            .next()
            .and_then(|y| y.parse().ok())
            .filter(|_| c.starts_with("CCER-"))
            .ok_or_else(|| {
                format!("class {c:?}: --setup trades offset credits, CCER-P<n>-<vintage>")
            })?;
        if !vintages.contains(&vintage) {
            vintages.push(vintage);
        }
    }
    let classes: Vec<String> = vintages
        .iter()
        .map(|v| format!("CCER-P{number}-{v}"))
        .collect();
    let per_class = o.units_per_member * o.n_members as u64;
    for &vintage in &vintages {
        api.ok(
            "POST",
            "/api/offsets",
            Some(json!({"project": project, "vintage": vintage, "quantity": per_class})),
        )
        .await?;
    }

    let mut members = Vec::new();
    for i in 1..=o.n_members {
        let holder = format!("LOAD-{run}-{i:03}");
        let user = format!("load-{run}-{i:03}");
        let member_password = random_hex(16);
        api.ok(
            "POST",
            "/api/commands",
            Some(json!({"command": "register_holder", "holder": holder, "reason": "load test member"})),
        )
        .await?;
        for class in &classes {
            api.ok("POST", "/api/commands", Some(json!({"command": "transfer", "class": class, "quantity": o.units_per_member, "from": project, "to": holder, "reason": "load test credits"})))
                .await?;
        }
        api.ok(
            "POST",
            "/api/funds/deposits",
            Some(json!({"holder": holder, "fen": o.fen_per_member})),
        )
        .await?;
        api.ok("POST", "/api/users", Some(json!({"name": user, "display": format!("load member {i}"), "password": member_password, "role": "member", "holder": holder})))
            .await?;
        members.push((holder, user, member_password));
    }
    // Each member logs in and issues its own token, on its own connection.
    let mut out = Vec::new();
    for (holder, user, pw) in members {
        let mut m = Api::new(target, &run).await?;
        let token = m.token_for(&user, &pw).await?;
        let me = m.ok("GET", "/api/me", None).await?;
        let account = me["account"]
            .as_str()
            .ok_or_else(|| format!("no account for {user}: {me}"))?
            .to_string();
        out.push(Member {
            token,
            holder,
            account,
        });
    }
    eprintln!(
        "setup: continuous market (position cap raised), {} members with {} t of each of {} and {} fen each ({:.1} s)",
        out.len(),
        o.units_per_member,
        classes.join(", "),
        o.fen_per_member,
        t0.elapsed().as_secs_f64()
    );
    Ok((out, classes))
}

// ---------------------------------------------------------------------------------------------
// The load

/// xorshift64*: cheap, seeded per connection.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

#[derive(Default)]
struct Stats {
    order_us: Vec<u32>,
    read_us: Vec<u32>,
    /// Counts by status class: index 2 = 2xx, 4 = 4xx, 5 = 5xx, 0 = other.
    by_class: [u64; 6],
    by_status: std::collections::BTreeMap<u16, u64>,
    /// Accepted orders whose answer lists at least one trade.
    traded: u64,
    io_errors: u64,
    samples: Vec<String>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.order_us.extend(o.order_us);
        self.read_us.extend(o.read_us);
        for i in 0..6 {
            self.by_class[i] += o.by_class[i];
        }
        for (k, v) in o.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        self.traded += o.traded;
        self.io_errors += o.io_errors;
        for s in o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }
}

struct Shared {
    opts: Arc<Opts>,
    target: Target,
    issued: AtomicU64,
    stop: AtomicBool,
    /// Requests answered before this instant are warm-up, not recorded.
    record_from: Instant,
    run: String,
}

async fn connection(shared: Arc<Shared>, index: usize) -> Stats {
    let o = &shared.opts;
    let mut stats = Stats::default();
    let member = &o.members[index % o.members.len()];
    let auth = format!("Bearer {}", member.token);
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) << 20) ^ rand::random::<u64>() | 1);
    let mut conn = match Conn::connect(&shared.target).await {
        Ok(c) => c,
        Err(e) => {
            stats.io_errors += 1;
            stats.samples.push(format!("connect: {e}"));
            return stats;
        }
    };
    let book_paths: Vec<String> = o
        .classes
        .iter()
        .map(|c| format!("/api/market/book?class={c}"))
        .collect();
    let account_path = format!("/api/accounts/{}", member.account);
    let mut out = Vec::with_capacity(1024);
    let mut body = String::with_capacity(256);
    let mut seq = 0u64;
    let mut failures = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.issued.fetch_add(1, Ordering::Relaxed) >= o.max_requests {
            break;
        }
        out.clear();
        let is_read = o.reads > 0.0 && rng.unit() < o.reads;
        if is_read {
            let book = match (o.read_book, o.read_account) {
                (true, true) => rng.below(2) == 0,
                (book, _) => book,
            };
            let path = if book {
                &book_paths[rng.below(book_paths.len() as u64) as usize]
            } else {
                &account_path
            };
            request(
                &mut out,
                "GET",
                path,
                &shared.target.host,
                &[("Authorization", &auth)],
                None,
            );
        } else {
            let class = &o.classes[rng.below(o.classes.len() as u64) as usize];
            let buy = rng.below(2) == 0;
            let taker = rng.unit() < o.ioc;
            let ticks = if taker {
                // Marketable: through the whole range, takes what rests there.
                if buy { o.width } else { -o.width }
            } else if buy {
                rng.range(-o.width, o.cross)
            } else {
                rng.range(-o.cross, o.width)
            };
            let price = o.mid + ticks * o.tick;
            let qty = 1 + rng.below(o.qty_max);
            body.clear();
            let _ = write!(
                body,
                r#"{{"holder":"{}","class":"{}","side":"{}","price":{},"qty":{},"tif":"{}"}}"#,
                member.holder,
                class,
                if buy { "buy" } else { "sell" },
                price,
                qty,
                if taker { "ioc" } else { "day" }
            );
            seq += 1;
            let key = format!("load-{}-{index}-{seq}", shared.run);
            request(
                &mut out,
                "POST",
                "/api/orders",
                &shared.target.host,
                &[("Authorization", &auth), ("Idempotency-Key", &key)],
                Some(body.as_bytes()),
            );
        }
        let t0 = Instant::now();
        let result = match conn.send(&out).await {
            Ok(()) => conn.recv().await,
            Err(e) => Err(e),
        };
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                stats.io_errors += 1;
                if stats.samples.len() < 3 {
                    stats.samples.push(format!("connection {index}: {e}"));
                }
                failures += 1;
                if failures > 10 || shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                match Conn::connect(&shared.target).await {
                    Ok(c) => conn = c,
                    Err(_) => break,
                }
                continue;
            }
        };
        let end = Instant::now();
        let us = u32::try_from(end.duration_since(t0).as_micros()).unwrap_or(u32::MAX);
        if end >= shared.record_from {
            if is_read {
                stats.read_us.push(us);
            } else {
                stats.order_us.push(us);
            }
            let class = (r.status / 100) as usize;
            stats.by_class[if class < 6 { class } else { 0 }] += 1;
            *stats.by_status.entry(r.status).or_default() += 1;
            let b = conn.body(&r);
            if !is_read && r.status == 201 && find(b, br#""trades":[{"#).is_some() {
                stats.traded += 1;
            }
            if r.status >= 400 && stats.samples.len() < 3 {
                stats.samples.push(format!(
                    "{} {}",
                    r.status,
                    String::from_utf8_lossy(&b[..b.len().min(300)])
                ));
            }
        }
        conn.consume(&r);
        if r.close {
            match Conn::connect(&shared.target).await {
                Ok(c) => conn = c,
                Err(_) => break,
            }
        }
    }
    stats
}

/// Quantile of sorted microseconds, in milliseconds.
fn q(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

fn summary(name: &str, v: &[u32], secs: f64) -> (String, Value) {
    let rate = v.len() as f64 / secs;
    let line = format!(
        "{name:>7}: {:>9} in {secs:.2} s = {rate:>9.0}/s   p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        q(v, 0.50),
        q(v, 0.90),
        q(v, 0.99),
        q(v, 0.999),
        q(v, 1.0),
    );
    let j = json!({
        "count": v.len(), "per_s": rate.round(),
        "p50_ms": q(v, 0.50), "p90_ms": q(v, 0.90), "p99_ms": q(v, 0.99),
        "p999_ms": q(v, 0.999), "max_ms": q(v, 1.0),
    });
    (line, j)
}

async fn run_load(target: &Target, o: Arc<Opts>) -> Result<(), String> {
    let start = Instant::now();
    let record_from = start + Duration::from_secs_f64(o.warmup);
    let shared = Arc::new(Shared {
        opts: o.clone(),
        target: target.clone(),
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        record_from,
        run: random_hex(4),
    });
    let tasks: Vec<_> = (0..o.connections)
        .map(|i| tokio::spawn(connection(shared.clone(), i)))
        .collect();
    let stopper = {
        let shared = shared.clone();
        let until = record_from + Duration::from_secs_f64(o.seconds);
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            shared.stop.store(true, Ordering::Relaxed);
        })
    };
    let mut stats = Stats::default();
    for t in tasks {
        stats.merge(
            t.await
                .map_err(|e| format!("a connection task failed: {e}"))?,
        );
    }
    stopper.abort();
    let measured = Instant::now()
        .saturating_duration_since(record_from)
        .as_secs_f64()
        .max(1e-9);
    stats.order_us.sort_unstable();
    stats.read_us.sort_unstable();
    let mut all: Vec<u32> = stats
        .order_us
        .iter()
        .chain(&stats.read_us)
        .copied()
        .collect();
    all.sort_unstable();

    let label = if o.label.is_empty() {
        String::new()
    } else {
        format!("{}: ", o.label)
    };
    println!(
        "== {label}{} connections, {} member tokens, reads {:.0} % ({}), IOC {:.0} % of orders, {:.1} s measured after {:.1} s warm-up",
        o.connections,
        o.members.len(),
        o.reads * 100.0,
        match (o.read_book, o.read_account) {
            (true, true) => "book and account",
            (true, false) => "book",
            _ => "account",
        },
        o.ioc * 100.0,
        measured,
        o.warmup,
    );
    let (l_orders, j_orders) = summary("orders", &stats.order_us, measured);
    let (l_reads, j_reads) = summary("reads", &stats.read_us, measured);
    let (l_all, j_all) = summary("all", &all, measured);
    if !stats.order_us.is_empty() {
        println!("{l_orders}");
    }
    if !stats.read_us.is_empty() {
        println!("{l_reads}");
    }
    println!("{l_all}");
    let statuses: Vec<String> = stats
        .by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!(
        "  status: 2xx {}  4xx {}  5xx {}  (by code {})  connection errors {}; orders that traded: {}",
        stats.by_class[2],
        stats.by_class[4],
        stats.by_class[5],
        statuses.join(", "),
        stats.io_errors,
        stats.traded
    );
    for s in &stats.samples {
        println!("  sample: {s}");
    }
    let result = json!({
        "label": o.label, "connections": o.connections, "reads_fraction": o.reads, "ioc_fraction": o.ioc,
        "seconds": measured, "orders": j_orders, "reads": j_reads, "all": j_all,
        "status_2xx": stats.by_class[2], "status_4xx": stats.by_class[4], "status_5xx": stats.by_class[5],
        "io_errors": stats.io_errors, "orders_traded": stats.traded,
    });
    println!("RESULT {result}");
    Ok(())
}
