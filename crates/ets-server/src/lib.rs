//! `ets serve`: the market's HTTP API, its dashboard and its docs, on the embedded or the
//! PostgreSQL store.
//!
//! Map of the crate:
//! - [`access`]: users, roles, tokens, sessions, account requests, four-eyes instructions,
//!   trusted accounts (pure, journaled as events).
//! - [`authz`]: the one function that decides who may do what.
//! - [`core`]: the state behind one lock and the single writer (group commit, idempotency,
//!   audit record per request).
//! - [`store`]: the store is `ets_store` (one record format, the embedded or the PostgreSQL
//!   journal, replay, the single writer's batches); the server adds nothing to it.
//! - [`api`]: the JSON routes and the OpenAPI document made from the same table;
//!   [`web`]: the server-rendered dashboard in Chinese and English.
//! - this file: configuration, authentication, rate limits and the audit of every request (one
//!   middleware), and the listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use parking_lot::RwLock;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State as AxState};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

/// Users, roles and the audit entry: the `ets-access` crate, journaled by the store.
pub use ets_access as access;
pub mod allocation_api;
pub mod api;
pub mod authz;
pub mod clock;
pub mod core;
pub mod error;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod web;

use crate::access::{Role, User};
use crate::clock::Clock;
use crate::core::{Job, Op, Policy, Progress, Reply, RequestCtx, Start, State};
use crate::error::ApiError;
use crate::store::{Location, StoreError};

/// The exit status of `ets serve` when its writer panicked (EX_SOFTWARE): restart it.
pub const WRITER_PANIC_EXIT: i32 = 70;

/// Limits around every request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body of the dashboard's forms and of any route without a limit of its
    /// own (bytes); each API route declares its own (`api::Route::max_body`).
    pub body_bytes: usize,
    /// Requests per second allowed to one token, session or (when not logged in) address.
    pub rate_per_second: u32,
    /// Requests that may arrive at once above the rate.
    pub burst: u32,
    /// How long a request may wait for the writer before it is answered 503 `unavailable`; a
    /// request that takes half as long again in all, its body included, is cut off with 408
    /// `request_timeout` ([`request_timeout`]).
    pub timeout: Duration,
    /// Jobs that may wait for the writer; beyond that requests are refused at once with 503
    /// `queue_full` and `Retry-After` instead of waiting (back-pressure).
    pub queue: usize,
    /// Password hashes and checks (Argon2id) computed at once; more wait their turn.
    pub hash_slots: usize,
    /// Password hashes and checks that may wait for a slot; beyond that 503 `busy`.
    pub hash_waiting: usize,
    /// Account requests (anonymous, journaled with their documents) one address may send per
    /// hour; 429 `rate_limited` beyond, before the body is read.
    pub applications_per_hour: u32,
    /// The period over which refusals and anonymous requests are counted before their
    /// aggregated audit entries are journaled (one per who, route, status and code); zero
    /// journals each of them on its own.
    pub tally_period: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1 << 20,
            rate_per_second: 200,
            burst: 400,
            timeout: Duration::from_secs(10),
            queue: 4096,
            hash_slots: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            hash_waiting: 64,
            applications_per_hour: 20,
            tally_period: Duration::from_secs(60),
        }
    }
}

/// Bounds the work of password hashing (Argon2id takes tens of milliseconds and 19 MiB each, by
/// design): at most `slots` at once, at most `max_waiting` waiting for one; beyond that a
/// request is refused at once (503 `busy`) rather than stalling every login behind it.
pub struct Hashing {
    slots: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
    /// Hashes and checks computed since the start (reported by `/api/health`).
    pub done: std::sync::atomic::AtomicU64,
}

/// Counts a request waiting for a hashing slot while it waits (also when it is dropped).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hashing {
    pub fn new(slots: usize, max_waiting: usize) -> Hashing {
        Hashing {
            slots: tokio::sync::Semaphore::new(slots.max(1)),
            waiting: 0.into(),
            max_waiting,
            done: 0.into(),
        }
    }

    /// A slot to hash in: at once if one is free, after the ones waiting before it otherwise,
    /// or 503 `busy` when too many wait already.
    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::of(
                "busy",
                format!(
                    "{} password checks are waiting already; retry shortly",
                    self.max_waiting
                ),
                None,
            ));
        }
        let _waiting = Waiting(&self.waiting);
        self.slots
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

pub struct App {
    pub state: Arc<RwLock<State>>,
    /// Batches applied and durable: reads wait for what they may have seen to be durable.
    pub progress: Arc<Progress>,
    jobs: Mutex<Option<std::sync::mpsc::SyncSender<Job>>>,
    /// Requests refused because the writer's queue was full (not journaled: their record would
    /// need the very queue that is full); reported by `/api/health`.
    pub shed: std::sync::atomic::AtomicU64,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// The password hashing's slots (logins, account requests, new users).
    pub hashing: Hashing,
    /// Failed logins per user and per address, and their back-off.
    pub logins: Mutex<throttle::LoginBackoff>,
    /// Refusals and anonymous requests counted until their period ends.
    tally: Mutex<throttle::Tally>,
    buckets: Mutex<HashMap<String, Bucket>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Served over TLS: session cookies are marked `Secure` (set by `ets serve --tls-cert`).
    pub secure_cookies: std::sync::atomic::AtomicBool,
}

/// A token bucket of one caller.
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// Who is calling, as the gate found out; handlers take it from the request's extensions.
/// Its `Debug` leaves out the session token.
#[derive(Clone)]
pub struct Caller {
    pub user: Option<String>,
    pub role: Option<Role>,
    /// The session token when authenticated by the browser cookie (CSRF applies).
    pub session: Option<String>,
    pub from: String,
    pub at: i64,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("session", &self.session.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .field("at", &self.at)
            .finish()
    }
}

impl Caller {
    /// The request context the writer records.
    pub fn ctx(
        &self,
        method: &str,
        path: &str,
        key: Option<String>,
        body: Option<&[u8]>,
    ) -> RequestCtx {
        let (date, minute) = clock::beijing(self.at);
        RequestCtx {
            at: self.at,
            date,
            minute,
            user: self.user.clone(),
            from: self.from.clone(),
            method: method.to_string(),
            path: path.to_string(),
            key,
            // Without the passwords it may hold: an unsalted digest of a body with a password
            // would let anyone with the journal test guesses at the password.
            body_sha256: body.map(|b| sha256_hex(&api::account::without_secrets(b))),
            count: None,
        }
    }
}

/// A caller's user name and role.
type Who = (String, Role);

/// Marks a response whose request the writer already recorded.
#[derive(Clone, Copy)]
pub struct Audited;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The CSRF token of a browser session: derived from the session token, so the server keeps
/// nothing more, and useless to anyone who cannot read the session cookie.
pub fn csrf_of(session: &str) -> String {
    sha256_hex(format!("csrf:{session}").as_bytes())[..32].to_string()
}

pub const SESSION_COOKIE: &str = "ets_session";

impl App {
    /// Opens the store at `location`, replays it and starts the writer.
    pub fn open(
        location: &Location,
        genesis: ets_types::Date,
        policy: Policy,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Result<Arc<App>, StoreError> {
        let reopen =
            ets_store::Reopen::at(location, genesis, ets_journal::JournalOptions::default());
        App::open_with(reopen, policy, clock, limits)
    }

    /// [`App::open`] of the store `reopen` opens (and reopens after a failure). On PostgreSQL,
    /// when another server is the writer already, this one starts as its standby: it serves
    /// reads, refuses writes (503 `not_writer`) and takes over if the writer fails.
    pub fn open_with(
        reopen: ets_store::Reopen,
        policy: Policy,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Result<Arc<App>, StoreError> {
        let (store, start) = match reopen.open() {
            Ok((store, writer, _)) => (store, Start::Writer(writer)),
            Err(e) if e.is_locked() && reopen.location().is_some() => {
                let location = reopen.location().expect("checked");
                let (store, follower) = ets_store::Follower::open(location, None)?;
                eprintln!(
                    "ets serve: another server is the writer of the {}; starting as its standby (reads only, takes over if it fails)",
                    location.describe()
                );
                (store, Start::Standby(Box::new(follower)))
            }
            Err(e) => return Err(e),
        };
        let name = match &start {
            Start::Writer(w) => w.kind().to_string(),
            Start::Standby(_) => "postgres".to_string(),
        };
        Ok(App::start(
            start,
            reopen,
            State::new(store, policy, name),
            clock,
            limits,
        ))
    }

    fn start(
        start: Start,
        reopen: ets_store::Reopen,
        state: State,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Arc<App> {
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = std::sync::mpsc::sync_channel(limits.queue.max(1));
        let writer_state = state.clone();
        let progress = Arc::new(Progress::default());
        if matches!(start, Start::Standby(_)) {
            // Before the first request: a standby never accepts a write.
            progress.set_role(core::StoreRole::Standby);
        }
        let writer_progress = progress.clone();
        let handle = std::thread::Builder::new()
            .name("ets-writer".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| {
                    core::run_writer(writer_state, writer_progress, start, reopen, rx)
                });
                if let Err(panic) = std::panic::catch_unwind(run) {
                    // A bug, and the state in memory may be half-changed: nothing of the batch
                    // being performed was journaled or answered, so the journal is the truth.
                    // Exit non-zero so that a supervisor restarts the server, which replays it,
                    // rather than serving 503 forever.
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    eprintln!(
                        "ets serve: the writer panicked ({what}); exiting with status {WRITER_PANIC_EXIT} so that a supervisor restarts it (the journal holds everything acknowledged)"
                    );
                    std::process::exit(WRITER_PANIC_EXIT);
                }
            })
            .expect("spawn the writer");
        let now = clock.now_ms();
        Arc::new(App {
            state,
            progress,
            jobs: Mutex::new(Some(tx)),
            shed: std::sync::atomic::AtomicU64::new(0),
            clock,
            hashing: Hashing::new(limits.hash_slots, limits.hash_waiting),
            logins: Mutex::new(throttle::LoginBackoff::default()),
            tally: Mutex::new(throttle::Tally::new(
                i64::try_from(limits.tally_period.as_millis()).unwrap_or(i64::MAX),
                now,
            )),
            limits,
            buckets: Mutex::new(HashMap::new()),
            writer: Mutex::new(Some(handle)),
            secure_cookies: false.into(),
        })
    }

    /// Stops taking jobs and waits for the writer to journal what it has (the tally of the
    /// period under way included).
    pub fn shutdown(&self) {
        self.flush_tally(self.clock.now_ms(), true);
        self.jobs.lock().expect("jobs lock").take();
        if let Some(h) = self.writer.lock().expect("writer lock").take() {
            let _ = h.join();
        }
    }

    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, State> {
        self.state.read()
    }

    fn sender(&self) -> Option<std::sync::mpsc::SyncSender<Job>> {
        self.jobs.lock().expect("jobs lock").clone()
    }

    /// The refusal of a request because the writer's queue is full, counted as shed.
    fn shed(&self) -> ApiError {
        self.shed.fetch_add(1, Ordering::Relaxed);
        ApiError::queue_full(self.limits.queue)
    }

    /// Hands a job to the writer and waits for its answer.
    pub async fn submit(&self, ctx: RequestCtx, op: Op) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let Some(jobs) = self.sender() else {
            return Reply::from_error(&ApiError::unavailable("the server is shutting down"));
        };
        match jobs.try_send(Job {
            ctx,
            op,
            reply: Some(tx),
        }) {
            Ok(()) => {
                self.progress.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                return Reply::from_error(&self.shed());
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Reply::from_error(&ApiError::unavailable("the writer has stopped"));
            }
        }
        match tokio::time::timeout(self.limits.timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Reply::from_error(&ApiError::unavailable("the writer has stopped")),
            Err(_) => Reply::from_error(&ApiError::unavailable(format!(
                "not answered within {:?}; the request may still take effect: retry with the same Idempotency-Key",
                self.limits.timeout
            ))),
        }
    }

    /// Records the audit entry of a request answered without the writer (reads, refusals).
    pub fn audit(&self, ctx: RequestCtx, status: u16, code: Option<String>) {
        if let Some(jobs) = self.sender() {
            let job = Job {
                ctx,
                op: Op::Audit { status, code },
                reply: None,
            };
            // The request was answered already; its record waits for room in the queue on a
            // blocking thread rather than being dropped (the gate refuses new requests while
            // the queue is full, so these are few).
            match jobs.try_send(job) {
                Ok(()) => {
                    self.progress.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(std::sync::mpsc::TrySendError::Full(job)) => {
                    let progress = self.progress.clone();
                    tokio::task::spawn_blocking(move || {
                        if jobs.send(job).is_ok() {
                            progress.queued.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Counts a refusal or an anonymous request in the tally of the period, instead of
    /// journaling a record of its own.
    pub fn count(
        &self,
        caller: &Caller,
        method: &Method,
        (path, route): (&str, &str),
        status: u16,
        code: Option<String>,
    ) {
        if self.limits.tally_period.is_zero() {
            // No tally: one record per request, as for everything else.
            self.audit(caller.ctx(method.as_str(), path, None, None), status, code);
            return;
        }
        let method = match *method {
            Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::PATCH
            | Method::OPTIONS => method.as_str(),
            _ => "OTHER",
        };
        let key = throttle::TallyKey {
            who: caller.user.clone().unwrap_or_else(|| "public".into()),
            method: method.to_string(),
            route: route.to_string(),
            status,
            code,
        };
        self.tally
            .lock()
            .expect("tally lock")
            .count(key, &caller.from);
    }

    /// Journals the tally of the period that ended by `now` (every count when `all`): one
    /// aggregated audit entry per who, method, route, status and code.
    pub fn flush_tally(&self, now: i64, all: bool) {
        let Some((start, counts)) = self.tally.lock().expect("tally lock").take(now, all) else {
            return;
        };
        let Some(jobs) = self.sender() else { return };
        let (date, minute) = clock::beijing(start);
        for (key, count) in counts {
            let ctx = RequestCtx {
                at: start,
                date,
                minute,
                user: (key.who != "public").then(|| key.who.clone()),
                from: count.from(),
                method: key.method,
                path: key.route,
                key: None,
                body_sha256: None,
                count: Some(count.count),
            };
            let job = Job {
                ctx,
                op: Op::Audit {
                    status: key.status,
                    code: key.code,
                },
                reply: None,
            };
            // A few jobs per period: when the queue is full they wait for room, off the async
            // runtime when there is one.
            match jobs.try_send(job) {
                Ok(()) => {
                    self.progress.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(std::sync::mpsc::TrySendError::Full(job)) => {
                    let (jobs, progress) = (jobs.clone(), self.progress.clone());
                    let send = move || {
                        if jobs.send(job).is_ok() {
                            progress.queued.fetch_add(1, Ordering::Relaxed);
                        }
                    };
                    if tokio::runtime::Handle::try_current().is_ok() {
                        tokio::task::spawn_blocking(send);
                    } else {
                        send();
                    }
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// Whether the writer's queue has room for one more job now.
    pub fn has_room(&self) -> bool {
        // A SyncSender cannot report its length, so the senders and the writer count.
        self.progress.queued.load(Ordering::Relaxed) < self.limits.queue as i64
    }

    /// Finds who is calling: an API token, a browser session, or nobody.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<(Option<Who>, Option<String>), ApiError> {
        // Only the name and role leave the lock (not a copy of the whole user with its hash),
        // and the digests are computed before it is taken.
        let who = |u: &User| (u.name.clone(), u.role);
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::new(
                        401,
                        "unauthenticated",
                        "Authorization must be `Bearer <token>`",
                        Some("Authorization"),
                    )
                })?;
            let digest = sha256_hex(token.trim().as_bytes());
            let user = self.read().access.token_user(&digest).map(who);
            let user = user.ok_or_else(|| {
                ApiError::new(
                    401,
                    "unauthenticated",
                    "unknown or revoked API token",
                    Some("Authorization"),
                )
            })?;
            return Ok((Some(user), None));
        }
        if let Some(session) = cookie(headers, SESSION_COOKIE) {
            // An expired or unknown session is simply no session: the page offers to log in.
            let digest = sha256_hex(session.as_bytes());
            if let Some(user) = self.read().access.session_user(&digest, now).map(who) {
                return Ok((Some(user), Some(session)));
            }
        }
        Ok((None, None))
    }

    /// Takes one request from the caller's bucket; false when it is empty.
    fn admit(&self, who: &str, now: i64) -> bool {
        let rate = f64::from(self.limits.rate_per_second);
        let burst = f64::from(self.limits.burst.max(1));
        self.take(who, now, rate, burst).is_ok()
    }

    /// Takes one token from the bucket `key` (refilled at `rate` a second up to `burst`); when
    /// it is empty, the seconds until it holds one again.
    fn take(&self, key: &str, now: i64, rate: f64, burst: f64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("rate lock");
        if buckets.len() > 100_000 {
            // Forget the buckets that would be full again by now.
            buckets.retain(|_, b| now - b.at_ms < 3_600_000);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at_ms: now,
        });
        let elapsed = (now - b.at_ms).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate.max(1e-9)).ceil().max(1.0) as u64)
        }
    }

    /// Computes a password hash or check in a hashing slot, off the async runtime.
    pub async fn hash<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self.hashing.slot().await?;
        let out = tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.hashing.done.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }
}

/// A 429 `rate_limited` that says when to come back.
fn rate_limited(message: String, retry_after_s: u64) -> Response {
    let mut resp = ApiError::new(429, "rate_limited", message, None).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after_s),
    );
    resp
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The gate every request passes: authentication, CSRF for browser sessions, the rate limit,
/// and the audit entry of whatever the writer did not record itself.
///
/// Refusals of the gate (401, 429) and whatever an anonymous caller is answered without the
/// writer are counted (`App::count`) and journaled once per period in aggregated form, so that a
/// flood of them cannot fill the disk; a logged-in user's reads and refusals are journaled one
/// record each.
async fn gate(AxState(app): AxState<Arc<App>>, mut req: Request, next: Next) -> Response {
    let now = app.clock.now_ms();
    app.flush_tally(now, false);
    let from = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "in-process".to_string(), |c| c.0.ip().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "*".to_string(), |m| m.as_str().to_string());
    // A store that cannot write shows nothing, and a standby takes no write (core::Role).
    let epoch = app.progress.epoch.load(Ordering::Acquire);
    if let Some(e) = app.progress.refusal(&method, &path) {
        return e.into_response();
    }
    let mut caller = Caller {
        user: None,
        role: None,
        session: None,
        from,
        at: now,
    };
    // A refusal counted in the tally, not journaled on its own.
    let counted = |caller: &Caller, resp: Response| {
        let code = resp.extensions().get::<ErrorCode>().map(|c| c.0.clone());
        app.count(
            caller,
            &method,
            (&path, &route),
            resp.status().as_u16(),
            code,
        );
        with_retry_after(resp)
    };
    let address = format!("address {}", caller.from);
    match app.authenticate(req.headers(), now) {
        Ok((user, session)) => {
            caller.role = user.as_ref().map(|(_, role)| *role);
            caller.user = user.map(|(name, _)| name);
            caller.session = session;
        }
        Err(e) => {
            // An unknown token costs its address as any anonymous request does.
            if !app.admit(&address, now) {
                return counted(&caller, too_fast(&app, &address));
            }
            return counted(&caller, e.into_response());
        }
    }
    let bucket = caller.user.clone().unwrap_or(address);
    if !app.admit(&bucket, now) {
        return counted(&caller, too_fast(&app, &bucket));
    }
    // Account requests are anonymous and journaled with their documents: a few an hour per
    // address, refused before the body is read.
    if method == Method::POST && path == api::APPLY_PATH {
        let per_hour = app.limits.applications_per_hour.max(1);
        let key = format!("applications {}", caller.from);
        if let Err(wait) = app.take(&key, now, f64::from(per_hour) / 3600.0, f64::from(per_hour)) {
            let resp = rate_limited(
                format!(
                    "more than {per_hour} account requests an hour from {}; retry in {wait} s",
                    caller.from
                ),
                wait,
            );
            return counted(&caller, resp);
        }
    }
    // A temporary password set by the regulator allows nothing but changing it (the pages
    // lead to the form that does).
    if let Some(user) = &caller.user
        && !api::account::allowed_before_change(method.as_str(), &path)
        && app.read().access.must_change_password(user)
    {
        let e = ApiError::forbidden_code(
            "password_change_required",
            "this user's password was reset: change it first (POST /api/password)",
        );
        app.audit(
            caller.ctx(method.as_str(), &path, None, None),
            e.status.as_u16(),
            Some(e.code.clone()),
        );
        if !path.starts_with("/api/") && method == Method::GET {
            return web::see_other("/password");
        }
        return e.into_response();
    }
    // Back-pressure: with the writer's queue full, refuse at once (cheaply, before any body is
    // read) rather than queue more; the refusal is counted, not journaled.
    if !app.has_room() {
        return app.shed().into_response();
    }
    // Browser sessions must prove the request comes from our own pages: JSON calls carry the
    // token in a header; the dashboard's forms carry it in a field, checked by their handlers.
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method
        && path.starts_with("/api/")
        && path != "/api/login"
        && let Some(session) = &caller.session
    {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if sent != Some(csrf_of(session).as_str()) {
            let e = ApiError::forbidden_code(
                "csrf",
                "a browser session must send its CSRF token in the X-CSRF-Token header",
            );
            app.audit(
                caller.ctx(method.as_str(), &path, None, None),
                e.status.as_u16(),
                Some(e.code.clone()),
            );
            return e.into_response();
        }
    }
    req.extensions_mut().insert(caller.clone());
    let resp = next.run(req).await;
    if resp.extensions().get::<Audited>().is_none() {
        // The handler may have read a batch that is still being journaled: answer only once it
        // is durable (writes were answered by the writer after their batch was durable).
        // A read that began before the store failed (or was replaced) may have seen what
        // will never be durable.
        let refused = resp.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE;
        if !refused
            && (!app.progress.settle().await || app.progress.epoch.load(Ordering::Acquire) != epoch)
        {
            app.progress.unrecorded.fetch_add(1, Ordering::Relaxed);
            return app.progress.unavailable().into_response();
        }
        let status = resp.status().as_u16();
        if caller.user.is_none() || status == 429 {
            return counted(&caller, resp);
        }
        let code = resp.extensions().get::<ErrorCode>().map(|c| c.0.clone());
        app.audit(caller.ctx(method.as_str(), &path, None, None), status, code);
    }
    with_retry_after(resp)
}

/// The 429 of an empty rate-limit bucket.
fn too_fast(app: &App, bucket: &str) -> Response {
    rate_limited(
        format!(
            "more than {} requests per second from {bucket}; slow down",
            app.limits.rate_per_second
        ),
        1,
    )
}

/// Every 503 says when to come back (the writer's queue drains in milliseconds; a poisoned or
/// stopping server will not recover by itself, but a restarted one will soon answer).
fn with_retry_after(mut resp: Response) -> Response {
    if resp.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    resp
}

/// Refusals made outside our handlers (axum's extractors, the router's 405, the timeout) as our
/// JSON errors with a code; our own refusals and the dashboard's pages pass unchanged.
async fn json_errors(AxState(app): AxState<Arc<App>>, resp: Response) -> Response {
    let timeout = request_timeout(&app.limits);
    let status = resp.status().as_u16();
    // Pages and JSON bodies are ours (the writer's replies carry their code in the body).
    let ours = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"text/html") || v.as_bytes().starts_with(b"application/json")
    });
    if status < 400 || ours || resp.extensions().get::<ErrorCode>().is_some() {
        return resp;
    }
    let code = match status {
        404 => "no_route",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        s if s >= 500 => "internal",
        _ => "malformed",
    };
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty());
    let message = text.unwrap_or_else(|| match code {
        "method_not_allowed" => "the route does not take this method; see /openapi.json".into(),
        "request_timeout" => format!(
            "not received and answered within {} s; a write may still take effect: retry with the same Idempotency-Key",
            timeout.as_secs()
        ),
        _ => format!("refused with status {status}"),
    });
    ApiError::of(code, message, None).into_response()
}

/// The error code of a refusal, for the audit entry.
#[derive(Clone)]
pub struct ErrorCode(pub String);

/// How long a request may take, its body included, before it is answered 408
/// `request_timeout` (15 s by default): half as long again as the writer's own wait, which
/// answers 503 with advice to retry first.
pub fn request_timeout(limits: &Limits) -> Duration {
    limits.timeout + limits.timeout / 2
}

/// A request body that notes whether it was read to its end.
struct Tracked {
    inner: axum::body::Body,
    read: Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Every answer to a request whose body was not read to its end (refused before it was read:
/// 401, 403, 405, 413, 429, 503…, or cut off: 408, 413) says `Connection: close`, and the
/// connection is closed after it: the unread rest of the body would otherwise be taken for the
/// next request on a kept-alive connection.
async fn close_unread(req: Request, next: Next) -> Response {
    use http_body::Body as _;
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    if req.body().is_end_stream() || !http1 {
        return next.run(req).await;
    }
    let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = req.map(|inner| {
        axum::body::Body::new(Tracked {
            inner,
            read: read.clone(),
        })
    });
    let mut resp = next.run(req).await;
    if !read.load(Ordering::Relaxed) {
        resp.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// The whole HTTP surface: API, OpenAPI and docs, dashboard, behind the gate.
pub fn router(app: Arc<App>) -> Router {
    let limits = app.limits.clone();
    Router::new()
        .merge(api::router())
        .merge(web::router())
        .merge(api::docs())
        .fallback(|| async {
            ApiError::new(404, "no_route", "no such route; see /openapi.json", None)
        })
        // Inside the gate, so that a request cut off by the timeout is still audited. It covers
        // reading the body: a body that trickles in is cut off too.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout(&limits),
        ))
        // Inside the gate, so that the audit records the code it gives.
        .layer(axum::middleware::map_response_with_state(
            app.clone(),
            json_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), gate))
        // Outside the gate, so that its own refusals carry them too.
        .layer(axum::middleware::map_response(web::security_headers))
        // The dashboard's forms and any route without a limit of its own (the API's routes
        // declare theirs: `api::Route::max_body`).
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_bytes))
        // Outermost: whatever refused the request, an unread body closes the connection.
        .layer(axum::middleware::from_fn(close_unread))
        .with_state(app)
}

/// Serves until Ctrl-C, then lets the writer journal what it holds; over plain TCP (a
/// `tokio::net::TcpListener`) or TLS ([`tls::TlsListener`]).
pub async fn serve<L>(app: Arc<App>, listener: L) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use axum::serve::ListenerExt as _;
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // The tally of refusals is journaled at the end of each period even when no request comes.
    let ticker = tokio::spawn({
        let app = app.clone();
        async move {
            let mut every = tokio::time::interval(app.limits.tally_period);
            loop {
                every.tick().await;
                let app = app.clone();
                let _ =
                    tokio::task::spawn_blocking(move || app.flush_tally(app.clock.now_ms(), false))
                        .await;
            }
        }
    });
    // `tap_io` (doing nothing) gives any listener the client's address as `ConnectInfo`.
    axum::serve(listener.tap_io(|_: &mut L::Io| {}), service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    ticker.abort();
    app.shutdown();
    Ok(())
}

/// `ets admin`: creates a regulator (the first one, or another) directly in the store, without a
/// server. The store's lock keeps this from running beside a server on the same store.
pub fn create_regulator(
    location: &Location,
    genesis: ets_types::Date,
    name: &str,
    display: &str,
    password: &str,
    now_ms: i64,
) -> Result<(), String> {
    let app = App::open(
        location,
        genesis,
        Policy::default(),
        Arc::new(clock::ManualClock::at(now_ms)),
        Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    let user = User {
        name: name.to_string(),
        display: display.to_string(),
        role: Role::Regulator,
        province: None,
        company: None,
        holder: None,
        password: api::hash_password(password).map_err(|e| e.message)?,
        active: true,
    };
    let caller = Caller {
        user: None,
        role: None,
        session: None,
        from: "ets admin".into(),
        at: now_ms,
    };
    let ctx = caller.ctx("ADMIN", "ets admin create-regulator", None, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let reply = rt.block_on(app.submit(ctx, Op::Bootstrap { user }));
    app.shutdown();
    if reply.status >= 300 {
        return Err(reply.body["message"]
            .as_str()
            .unwrap_or("refused")
            .to_string());
    }
    Ok(())
}
