//! The shared harness of the server tests: one suite, two stores. `both!` turns each test into
//! one that runs on the embedded journal and one that runs on the real PostgreSQL server
//! (`ETS_PG_URL`, default postgres://postgres@127.0.0.1:5432/test, a schema of its own per test;
//! under CI=true an unreachable server fails the test, elsewhere it is skipped with a message).
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use ets_server::access::{Role, User};
use ets_server::clock::{self, ManualClock};
use ets_server::core::{Op, Policy};
use ets_server::store::Location;
use ets_server::{App, Caller, Limits};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PLAN: &str = "cn-power-2019-2020";
/// The first trading day of the national market, 10:00 Beijing time.
pub const START: &str = "2021-07-16T10:00";
pub const DELAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Embedded,
    Postgres,
}

pub struct Harness {
    pub kind: Kind,
    pub app: Arc<App>,
    pub router: Router,
    pub clock: ManualClock,
    pub location: Location,
    pub limits: Limits,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
    counter: std::sync::atomic::AtomicU64,
}

pub fn pg_url() -> String {
    std::env::var("ETS_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs blocking work off the async runtime (the synchronous PostgreSQL client starts a runtime
/// of its own, which tokio forbids inside another).
pub fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .expect("blocking work panicked")
}

fn pg_reachable(url: &str) -> Result<(), String> {
    let url = url.to_string();
    off_runtime(move || {
        postgres::Client::connect(&url, postgres::NoTls)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

fn open(location: &Location, clock: &ManualClock, limits: &Limits) -> Arc<App> {
    let (location, clock, limits) = (location.clone(), clock.clone(), limits.clone());
    off_runtime(move || {
        let policy = Policy {
            trusted_delay_ms: DELAY_MS,
            ..Policy::default()
        };
        let start = clock::beijing(clock::parse_beijing(START).unwrap()).0;
        App::open(&location, start, policy, Arc::new(clock), limits).unwrap()
    })
}

impl Harness {
    /// A fresh store of `kind`; `None` when PostgreSQL is unreachable outside CI.
    pub fn new(kind: Kind, name: &str) -> Option<Harness> {
        Harness::with_limits(
            kind,
            name,
            Limits {
                rate_per_second: 100_000,
                burst: 100_000,
                applications_per_hour: 10_000,
                ..Limits::default()
            },
        )
    }

    pub fn with_limits(kind: Kind, name: &str, limits: Limits) -> Option<Harness> {
        let clock = ManualClock::at(clock::parse_beijing(START).unwrap());
        let (location, dir, schema) = match kind {
            Kind::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                (Location::Dir(dir.path().join("store")), Some(dir), None)
            }
            Kind::Postgres => {
                let url = pg_url();
                if let Err(e) = pg_reachable(&url) {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("PostgreSQL at {url} is unreachable under CI=true: {e}");
                    }
                    eprintln!(
                        "SKIPPED: PostgreSQL at {url} is unreachable ({e}); set ETS_PG_URL or start the server (.ci/run starts it)"
                    );
                    return None;
                }
                let schema = format!("srv_{}_{}", name, std::process::id());
                drop_schema(&url, &schema);
                (
                    Location::Postgres {
                        url: url.clone(),
                        schema: schema.clone(),
                    },
                    None,
                    Some((url, schema)),
                )
            }
        };
        let app = open(&location, &clock, &limits);
        let router = ets_server::router(app.clone());
        Some(Harness {
            kind,
            app,
            router,
            clock,
            location,
            limits,
            _dir: dir,
            schema,
            counter: 0.into(),
        })
    }

    /// Stops the server and opens the same store again (a restart).
    pub fn restart(&mut self) {
        let app = self.app.clone();
        off_runtime(move || app.shutdown());
        self.app = open(&self.location, &self.clock, &self.limits);
        self.router = ets_server::router(self.app.clone());
    }

    pub fn key(&self) -> String {
        format!(
            "k-{}",
            self.counter
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }

    /// Sends a request; POSTs get a fresh idempotency key unless `key` says otherwise.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if method == "POST" {
            let k = key.map(str::to_string).unwrap_or_else(|| self.key());
            req = req.header("idempotency-key", k);
        }
        let body = match body {
            Some(v) => Body::from(serde_json::to_vec(&v).unwrap()),
            None => Body::empty(),
        };
        self.raw(
            req.header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .unwrap(),
        )
        .await
    }

    pub async fn raw(&self, req: Request<Body>) -> (u16, Value) {
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        check_response(&method, &path, status, &bytes);
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}));
        (status, v)
    }

    /// Status and body text (for pages).
    pub async fn raw_response(&self, req: Request<Body>) -> (u16, String) {
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        check_response(&method, &path, status, &bytes);
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send("GET", path, token, None, None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send("POST", path, token, Some(body), None).await
    }

    /// Posts and insists on success.
    pub async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self.post(path, Some(token), body).await;
        assert!(s < 300, "POST {path} answered {s}: {v}");
        v
    }

    /// Runs an op as `user` straight through the writer (set-up that has no HTTP route).
    pub async fn as_user(&self, user: Option<&str>, op: Op) -> ets_server::core::Reply {
        let caller = Caller {
            user: user.map(str::to_string),
            role: None,
            session: None,
            from: "test".into(),
            at: self.app.clock.now_ms(),
        };
        self.app
            .submit(caller.ctx("POST", "/test", None, None), op)
            .await
    }

    /// An API token for `user`.
    pub async fn token(&self, user: &str) -> String {
        let token = ets_server::api::random_token();
        let reply = self
            .as_user(
                Some(user),
                Op::IssueToken {
                    token_sha256: ets_server::sha256_hex(token.as_bytes()),
                    label: "test".into(),
                },
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        token
    }

    pub async fn bootstrap(&self, name: &str) -> String {
        let user = User {
            name: name.into(),
            display: name.into(),
            role: Role::Regulator,
            province: None,
            company: None,
            holder: None,
            password: ets_server::api::hash_password("correct horse battery").unwrap(),
            active: true,
        };
        let reply = self.as_user(None, Op::Bootstrap { user }).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        self.token(name).await
    }

    pub fn pg(&self) -> Option<(String, String)> {
        self.schema.clone()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let app = self.app.clone();
        off_runtime(move || app.shutdown());
        if let Some((url, schema)) = &self.schema {
            drop_schema(url, schema);
        }
    }
}

fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_string(), schema.to_string());
    off_runtime(move || {
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        }
    });
}

/// The OpenAPI document, once per test binary.
pub fn openapi() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(ets_server::api::openapi)
}

/// Rust `Debug` output in a response: `Some(`, a struct dump `Book { detail: `, a variant with
/// fields `UnknownCompany(` or `Trade(Book…`, an id's Debug `CompanyId("…")`.
pub fn debug_artefact(text: &str) -> Option<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r#"Some\(|\bNone\b|"#,
            r#"\b[A-Z][A-Za-z0-9]* \{ [a-z_]+: |"#,
            r#"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+ ?[({]|"#,
            r#"\b[A-Z][a-z]+\((?:\\?"|[A-Z])"#
        ))
        .unwrap()
    });
    re.find(text).map(|m| {
        let start = text[..m.start()]
            .char_indices()
            .rev()
            .nth(40)
            .map_or(0, |(i, _)| i);
        let end = (m.end() + 40).min(text.len());
        let end = (end..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..end].to_string()
    })
}

/// The codes a documented operation lists, and its template path (None: no route matches).
pub fn documented_codes(method: &str, path: &str) -> Option<(String, Vec<String>)> {
    let doc = openapi();
    let method = method.to_lowercase();
    let segments: Vec<&str> = path.split('/').collect();
    let (template, item) = doc["paths"].as_object().unwrap().iter().find(|(t, item)| {
        let ts: Vec<&str> = t.split('/').collect();
        item.get(&method).is_some()
            && ts.len() == segments.len()
            && ts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
    })?;
    let mut codes = Vec::new();
    for (_, response) in item[&method]["responses"].as_object().unwrap() {
        if let Some(list) =
            response.pointer("/content/application~1json/schema/allOf/1/properties/code/enum")
        {
            codes.extend(
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string()),
            );
        }
    }
    Some((template.clone(), codes))
}

/// Checks every response a test receives: no Rust `Debug` text anywhere; every refusal of the
/// API is JSON with a `code` listed in /openapi.json with that status, and listed for the route
/// that answered.
pub fn check_response(method: &str, path: &str, status: u16, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Some(found) = debug_artefact(&text) {
        panic!("{method} {path} answered {status} with Debug text: …{found}…");
    }
    if status < 400 || !path.starts_with("/api/") {
        return;
    }
    let v: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("{method} {path} answered {status} without JSON: {text}"));
    let code = v["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path} answered {status} without a code: {v}"));
    let listed = openapi()["x-codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("{method} {path}: code {code} is not in /openapi.json: {v}"));
    assert_eq!(
        listed["status"].as_u64(),
        Some(u64::from(status)),
        "{method} {path}: code {code} is documented with another status: {v}"
    );
    assert_eq!(v["status"].as_u64(), Some(u64::from(status)), "{v}");
    for key in ["message", "field", "params"] {
        assert!(v.get(key).is_some(), "{method} {path}: no {key}: {v}");
    }
    if let Some((template, codes)) = documented_codes(method, path) {
        assert!(
            codes.iter().any(|c| c == code),
            "{method} {template} answered {code}, which its document does not list ({codes:?}): {v}"
        );
    }
}

/// Runs each of the named `async fn(Harness)` on both stores.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::common::Harness::new(super::common::Kind::Embedded, stringify!($name)).unwrap();
                    super::$name(h).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(h) = super::common::Harness::new(super::common::Kind::Postgres, stringify!($name)) else { return };
                    super::$name(h).await;
                }
            )*
        }
    };
}

pub fn company_json(id: &str, province: &str) -> Value {
    json!({
        "kind": "company",
        "company": {"id": id, "name": format!("{id} Power"), "province": province},
        "units": [{"id": format!("{id}-G1"), "company": id, "category": "coal_above_300", "capacity_mw": 600, "cooling": "water"}],
    })
}

pub fn request_json(applicant: Value, reps: &[&str]) -> Value {
    json!({
        "applicant": applicant,
        "documents": [{"name": "licence.pdf", "media_type": "application/pdf", "content_base64": "JVBERi0xLjQKJcfsj6IK"}],
        "representatives": reps.iter().map(|r| json!({"name": r, "display": r.to_uppercase(), "password": format!("{r}-long-password")})).collect::<Vec<_>>(),
    })
}

pub fn report_json(company: &str, year: u16, coal_t: &str) -> Value {
    json!({
        "company": company, "year": year,
        "units": [{
            "unit": format!("{company}-G1"), "year": year,
            "fuels": [{"fuel": "bituminous_coal", "consumption": coal_t, "ncv_gj": "21.5",
                       "carbon_content_tc_per_gj": "0.0262", "elemental_carbon": null, "oxidation_rate": "0.99"}],
            "purchased_electricity_mwh": "0", "power_supplied_mwh": "3000000", "heat_supplied_gj": "0", "load_factor": "0.82"
        }]
    })
}

/// Tokens of every role after [`setup`].
pub struct Market {
    pub regulator: String,
    pub rep_a: String,
    pub rep_b: String,
    pub hb_a: String,
    pub bureau: String,
    pub verifier: String,
    pub idle_verifier: String,
    pub auditor: String,
    pub member: String,
    pub sx_account: String,
    pub hb_account: String,
    pub trader_account: String,
}

/// A market through the API: plan adopted; companies SX0001 (Shanxi) and HB0001 (Hubei) opened
/// by account requests with two representatives each, a trader's account likewise; a Shanxi
/// bureau, two verifiers (one assigned to both companies), an auditor; 2018 reports submitted,
/// verified and accepted; pre-allocation made; the exchange open for the day with the trader
/// funded.
pub async fn setup(h: &Harness) -> Market {
    setup_market(h, &admitting_market()).await
}

/// The shipped market file with holders other than covered companies admitted to trading
/// (these tests trade as trader-1; the shipped file's first phase admits only covered
/// companies, which the rulebook suite checks on the file as shipped).
pub fn admitting_market() -> String {
    let shipped = ets_market::trading::config::MarketRules::builtin_text();
    let from = "admit_non_covered = false";
    assert!(
        shipped.contains(from),
        "the shipped market file says {from}"
    );
    shipped.replace(from, "admit_non_covered = true")
}

/// As [`setup`], with the exchange under the market file `toml`; the trader is funded only
/// where that file admits it.
pub async fn setup_market(h: &Harness, toml: &str) -> Market {
    let reg = h.bootstrap("regulator").await;
    h.ok("/api/plans", &reg, json!({"builtin": PLAN})).await;
    let mut accounts = Vec::new();
    for (applicant, reps) in [
        (company_json("SX0001", "Shanxi"), ["rep-a", "rep-b"]),
        (company_json("HB0001", "Hubei"), ["hb-a", "hb-b"]),
        (
            json!({"kind": "holder", "holder": "trader-1"}),
            ["tr-a", "tr-b"],
        ),
    ] {
        let (s, v) = h
            .post(
                "/api/account-requests",
                None,
                request_json(applicant, &reps),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_u64().unwrap();
        let v = h
            .ok(
                &format!("/api/account-requests/{id}/approve"),
                &reg,
                json!({}),
            )
            .await;
        accounts.push(v["account"].as_str().unwrap().to_string());
    }
    for (name, role, extra) in [
        ("bureau-sx", "bureau", json!({"province": "Shanxi"})),
        ("verifier-1", "verifier", json!({})),
        ("verifier-2", "verifier", json!({})),
        ("auditor-1", "auditor", json!({})),
    ] {
        let mut body =
            json!({"name": name, "display": name, "password": "a-long-password-1", "role": role});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        h.ok("/api/users", &reg, body).await;
    }
    for c in ["SX0001", "HB0001"] {
        h.ok(
            "/api/verifiers/verifier-1/companies",
            &reg,
            json!({"company": c}),
        )
        .await;
    }
    let m = Market {
        rep_a: h.token("rep-a").await,
        rep_b: h.token("rep-b").await,
        hb_a: h.token("hb-a").await,
        bureau: h.token("bureau-sx").await,
        verifier: h.token("verifier-1").await,
        idle_verifier: h.token("verifier-2").await,
        auditor: h.token("auditor-1").await,
        member: h.token("tr-a").await,
        regulator: reg,
        sx_account: accounts[0].clone(),
        hb_account: accounts[1].clone(),
        trader_account: accounts[2].clone(),
    };
    for (company, rep, coal) in [
        ("SX0001", &m.rep_a, "1150000"),
        ("HB0001", &m.hb_a, "1400000"),
    ] {
        h.ok("/api/reports", rep, report_json(company, 2018, coal))
            .await;
        h.ok(
            "/api/reports/verifications",
            &m.verifier,
            json!({"company": company, "year": 2018, "units": null, "findings": []}),
        )
        .await;
    }
    h.ok(
        "/api/reports/acceptances",
        &m.bureau,
        json!({"company": "SX0001", "year": 2018}),
    )
    .await;
    h.ok(
        "/api/reports/acceptances",
        &m.regulator,
        json!({"company": "HB0001", "year": 2018}),
    )
    .await;
    for c in ["SX0001", "HB0001"] {
        h.ok(
            "/api/allocations",
            &m.regulator,
            json!({"plan": PLAN, "company": c, "stage": "pre"}),
        )
        .await;
    }
    let body = if toml == ets_market::trading::config::MarketRules::builtin_text() {
        json!({"builtin": "cn-seee"})
    } else {
        json!({"toml": toml, "source": "cn-seee.toml (tests: traders admitted)"})
    };
    h.ok("/api/exchange", &m.regulator, body).await;
    h.ok("/api/exchange/days/open", &m.regulator, json!({}))
        .await;
    let admits = ets_market::trading::config::MarketRules::from_toml_str(toml, "market")
        .expect("the tests' market file parses")
        .admit_non_covered;
    if admits {
        h.ok(
            "/api/funds/deposits",
            &m.regulator,
            json!({"holder": "trader-1", "fen": 1_000_000_000u64}),
        )
        .await;
    }
    m
}

/// The quantity of a class an account holds (0 when none).
pub async fn held(h: &Harness, token: &str, account: &str, class: &str) -> u64 {
    let (s, v) = h
        .get(&format!("/api/accounts/{account}"), Some(token))
        .await;
    assert_eq!(s, 200, "{v}");
    v["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["class"] == class)
        .map_or(0, |x| x["quantity_t"].as_u64().unwrap())
}

/// Many fresh servers from one set-up: [`Harness::freeze`] stops a server on the embedded
/// store, and each [`Harness::fork`] opens a new server on a copy of that store, which replays
/// it to the same market (a market reset to the snapshot), with a clock of its own.
impl Harness {
    /// Stops the server (the writer drains and exits), so that its store can be copied.
    pub fn freeze(&self) {
        let app = self.app.clone();
        off_runtime(move || app.shutdown());
    }

    /// A new server on a copy of this frozen harness's embedded store, its clock at `at_ms`.
    pub fn fork(&self, at_ms: i64) -> Harness {
        let Location::Dir(from) = &self.location else {
            panic!("fork copies an embedded store; this harness runs on PostgreSQL")
        };
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        copy_dir(from, &store);
        let clock = ManualClock::at(at_ms);
        let location = Location::Dir(store);
        let app = open(&location, &clock, &self.limits);
        let router = ets_server::router(app.clone());
        Harness {
            kind: Kind::Embedded,
            app,
            router,
            clock,
            location,
            limits: self.limits.clone(),
            _dir: Some(dir),
            schema: None,
            counter: 0.into(),
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The figures of the day [`trade_every_kind`] makes, as `GET /api/market/days` serves them
/// (an instrument's day adds its `class`).
pub fn every_kind_figures() -> Value {
    json!({
        "date": "2021-07-16",
        "open": 4800, "high": 4900, "low": 4800,
        // (600 × 48.00 + 400 × 49.00) / 1,000: block and one-way prices are left out.
        "close": 4840,
        "listed_volume_t": 1_000, "listed_turnover_fen": 4_840_000, "listed_trades": 2,
        "block_volume_t": 100_000, "block_turnover_fen": 500_000_000, "block_trades": 1,
        "one_way_volume_t": 3_000, "one_way_turnover_fen": 14_000_000, "one_way_trades": 2,
        "volume_t": 104_000, "turnover_fen": 518_840_000, "trades": 5,
    })
}

/// On the open day of [`setup`] (16 July 2021), trades of each kind in CEA-2019, then the close:
/// listed, 600 t at 48.00 and 400 t at 49.00 (SX0001 to trader-1); block, 100,000 t at 50.00
/// (SX0001 to trader-1); one-way bidding, pay-as-bid, 2,000 t at 47.00 (trader-1) and 1,000 t
/// at 46.00 (HB0001). [`every_kind_figures`] is the day it makes.
pub async fn trade_every_kind(h: &Harness, m: &Market) {
    let at = |t: &str| ets_server::clock::parse_beijing(&format!("2021-07-16T{t}")).unwrap();
    h.ok(
        "/api/funds/deposits",
        &m.regulator,
        json!({"holder": "HB0001", "fen": 100_000_000u64}),
    )
    .await;
    for (price, qty) in [(4800, 600), (4900, 400)] {
        let v = h
            .ok(
                "/api/orders",
                &m.rep_a,
                json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": price, "qty": 1000}),
            )
            .await;
        let id = v["id"].as_u64().unwrap();
        h.ok(
            &format!("/api/orders/{id}/take"),
            &m.member,
            json!({"holder": "trader-1", "qty": qty}),
        )
        .await;
    }
    h.clock.set(at("13:20"));
    let v = h
        .ok(
            "/api/blocks",
            &m.rep_a,
            json!({"holder": "SX0001", "counterparty": "trader-1", "class": "CEA-2019", "side": "sell", "price": 5000, "qty": 100_000}),
        )
        .await;
    let id = v["id"].as_u64().unwrap();
    h.ok(
        &format!("/api/blocks/{id}/accept"),
        &m.member,
        json!({"holder": "trader-1"}),
    )
    .await;
    let v = h
        .ok(
            "/api/auctions",
            &m.rep_a,
            json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "qty": 3_000, "limit": 4500,
                   "pay_as_bid": true, "open_minute": 840, "close_minute": 870}),
        )
        .await;
    let auction = v["id"].as_u64().unwrap();
    h.clock.set(at("14:05"));
    for (token, holder, price) in [(&m.member, "trader-1", 4700), (&m.hb_a, "HB0001", 4600)] {
        h.ok(
            &format!("/api/auctions/{auction}/bids"),
            token,
            json!({"holder": holder, "price": price, "qty": 2_000}),
        )
        .await;
    }
    h.clock.set(at("14:30"));
    h.ok(
        &format!("/api/auctions/{auction}/close"),
        &m.regulator,
        json!({}),
    )
    .await;
    h.clock.set(at("15:30"));
    h.ok("/api/exchange/days/close", &m.regulator, json!({}))
        .await;
}
