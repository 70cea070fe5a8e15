//! The server's state and its single writer.
//!
//! [`State`] is the store's state (`ets_store::State`: the market, the access state, the
//! idempotency answers and the recent audit trail) with the server's rules, behind one
//! `RwLock`. Reads take the read lock; every change goes through the writer thread, which drains the queue of [`Job`]s, performs each one under the write lock (authorising,
//! checking idempotency, executing), journals all their records as one batch (group commit:
//! one fsync or one PostgreSQL transaction for many requests), and only then answers them.
//!
//! **Architecture Invariant:** nothing is acknowledged before it is durable, and every request
//! leaves exactly one journal record (its audit entry, with the events it caused, if any). A
//! failed append takes the server down: memory may then be ahead of the journal, so it answers
//! 503 `store_unavailable` to everything (reads included) while the writer thread reopens the
//! store with back-off and replays the journal, which is the truth ([`run_writer`]). On
//! PostgreSQL a second server is a standby: it follows the journal, serves reads, refuses
//! writes (503 `not_writer`) and takes over when the writer's lock is free or its lease expired.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use parking_lot::{RwLock, RwLockWriteGuard};

use ets_market::{Command, Envelope, Event, ExchangeCommand};
use ets_types::{AccountId, CompanyId, Date, UnitClass};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use crate::access::Audit;
use crate::access::{
    AccessEvent, AccountRequest, Applicant, Digest, Instruction, InstructionStatus,
    PendingInstruction, RequestStatus, Role, SessionInfo, TokenInfo, Trusted, User,
};
use crate::authz::{self, Action, Denied};
use crate::error::ApiError;
use ets_journal::Hash;
use ets_store::{Follower, RECORD_VERSION, Record, Reopen, StoreError, Writer};

/// Jobs performed per journal batch at most.
const BATCH_MAX: usize = 512;

/// Settings of the rules the server adds around the market.
#[derive(Clone, Debug)]
pub struct Policy {
    /// How long after approval a new trusted account takes effect.
    pub trusted_delay_ms: i64,
    /// Browser session lifetime.
    pub session_ttl_ms: i64,
    /// Representatives an account-opening request must name.
    pub min_representatives: usize,
    /// How long an idempotency key is remembered (a retry after that is a new request).
    pub idempotency_ttl_ms: i64,
    /// The writer's lease and the standby's watch (PostgreSQL).
    pub failover: Failover,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            trusted_delay_ms: 24 * 3600 * 1000,
            session_ttl_ms: 8 * 3600 * 1000,
            min_representatives: 2,
            idempotency_ttl_ms: 24 * 3600 * 1000,
            failover: Failover::default(),
        }
    }
}

/// The store's state (market, access, idempotency answers, audit tail: `ets_store::State`,
/// reached through `Deref`) and what only the server adds: its rules and whether the journal
/// failed.
pub struct State {
    pub store: ets_store::State,
    pub policy: Policy,
    /// Set when a journal append failed.
    pub poisoned: bool,
    /// `embedded` or `postgres`.
    pub store_name: String,
}

impl Deref for State {
    type Target = ets_store::State;
    fn deref(&self) -> &ets_store::State {
        &self.store
    }
}

impl DerefMut for State {
    fn deref_mut(&mut self) -> &mut ets_store::State {
        &mut self.store
    }
}

impl State {
    pub fn new(mut store: ets_store::State, policy: Policy, store_name: String) -> State {
        store.set_idempotency_ttl(policy.idempotency_ttl_ms);
        State {
            store,
            policy,
            poisoned: false,
            store_name,
        }
    }

    pub fn user(&self, name: Option<&str>) -> Option<&User> {
        name.and_then(|n| self.access.user(n))
    }

    pub fn check(&self, user: Option<&str>, action: Action<'_>) -> Result<(), ApiError> {
        authz::check(&self.market, &self.access, self.user(user), action).map_err(denied)
    }
}

pub fn denied(d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::unauthenticated(),
        Denied::Forbidden(m) => ApiError::forbidden(m),
    }
}

/// Where a request came from and what it asked, as the HTTP layer saw it.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub at: i64,
    pub date: Date,
    pub minute: u16,
    pub user: Option<String>,
    pub from: String,
    pub method: String,
    pub path: String,
    pub key: Option<String>,
    pub body_sha256: Option<Digest>,
    /// Requests an aggregated audit entry stands for (`None`: this one request).
    pub count: Option<u64>,
}

impl RequestCtx {
    pub fn audit(&self, state: &State, status: u16, code: Option<String>) -> Audit {
        Audit {
            at: self.at,
            who: self.user.clone().unwrap_or_else(|| "public".into()),
            role: state.user(self.user.as_deref()).map(|u| u.role),
            from: self.from.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            key: self.key.clone(),
            body_sha256: self.body_sha256.clone(),
            status,
            code,
            response: None,
            count: self.count,
        }
    }
}

/// What a write request asks of the writer.
#[derive(Debug)]
pub enum Op {
    /// Only record the audit entry of a request answered elsewhere (a read, a refusal).
    Audit {
        status: u16,
        code: Option<String>,
    },
    /// A market command, authorised as the user.
    Command {
        command: Command,
        reason: String,
    },
    CreateUser {
        user: User,
    },
    /// Revoke a user: its tokens and sessions stop working at once.
    DeactivateUser {
        name: String,
    },
    /// A regulator created by `ets admin` on the store directly (no HTTP route leads here).
    Bootstrap {
        user: User,
    },
    AssignVerifier {
        verifier: String,
        company: CompanyId,
    },
    IssueToken {
        token_sha256: Digest,
        label: String,
    },
    /// The password was checked by the HTTP layer (Argon2 is too slow for the writer).
    OpenSession {
        user: String,
        session_sha256: Digest,
    },
    CloseSession {
        session_sha256: Digest,
    },
    RequestAccount {
        request: AccountRequest,
    },
    DecideAccountRequest {
        id: u64,
        approve: bool,
        reason: Option<String>,
    },
    ProposeInstruction {
        company: CompanyId,
        instruction: Instruction,
    },
    DecideInstruction {
        id: u64,
        approve: bool,
    },
    RemoveTrusted {
        company: CompanyId,
        account: AccountId,
    },
    /// Tokens, sessions and passwords of a user (`api::account`).
    Account(crate::api::account::AccountOp),
}

/// The answer to a job: an HTTP status and a JSON body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(status: u16, body: Value) -> Reply {
        Reply { status, body }
    }
    pub fn from_error(e: &ApiError) -> Reply {
        Reply {
            status: e.status.as_u16(),
            body: e.body(),
        }
    }
}

pub struct Job {
    pub ctx: RequestCtx,
    pub op: Op,
    /// `None` for fire-and-forget audit entries of reads.
    pub reply: Option<oneshot::Sender<Reply>>,
}

/// What performing one job produced.
struct Done {
    reply: Reply,
    envelope: Option<(String, String)>,
    events: Vec<Event>,
    access: Vec<AccessEvent>,
}

impl Done {
    fn reply(reply: Reply) -> Done {
        Done {
            reply,
            envelope: None,
            events: Vec::new(),
            access: Vec::new(),
        }
    }
    fn error(e: ApiError) -> Done {
        Done::reply(Reply::from_error(&e))
    }
}

/// What the server is to its store: the single writer, a standby following another server's
/// writes (PostgreSQL), or down (the journal failed; being reopened, or refused for good).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StoreRole {
    Writer = 0,
    Standby = 1,
    Down = 2,
}

/// How far the writer has got: batches applied to the state, and batches durable in the journal.
/// A read that may have seen batch `n` is answered only once `durable >= n` (see `lib.rs`, `gate`).
#[derive(Default)]
pub struct Progress {
    /// Jobs handed to the writer and not yet taken by it (may dip below zero for a moment:
    /// the writer can take a job before its sender counts it).
    pub queued: std::sync::atomic::AtomicI64,
    pub applied: AtomicU64,
    pub durable: AtomicU64,
    /// Set when a journal write failed: what was applied will never be durable.
    pub failed: std::sync::atomic::AtomicBool,
    /// Woken whenever `durable` moves or the journal fails.
    pub notify: tokio::sync::Notify,
    /// [`StoreRole`] as a number.
    role: AtomicU8,
    /// Moves whenever the state is found undurable (a failed write) or replaced (a reopen, a
    /// takeover): a read that began in another epoch is not answered (`lib.rs`, `gate`).
    pub epoch: AtomicU64,
    /// Requests refused because the store was down or this server a standby, and audit entries
    /// that could not be journaled for the same reason (none of them is in the journal).
    pub unrecorded: AtomicU64,
    /// Why the store is down (for `/api/health`), empty otherwise.
    pub down_reason: parking_lot::Mutex<String>,
}

impl Progress {
    /// Waits until everything applied before this call is durable; false if it never will be.
    pub async fn settle(&self) -> bool {
        let seen = self.applied.load(Ordering::Acquire);
        loop {
            let notified = self.notify.notified();
            if self.durable.load(Ordering::Acquire) >= seen {
                return true;
            }
            if self.failed.load(Ordering::Acquire) {
                return false;
            }
            notified.await;
        }
    }

    pub fn role(&self) -> StoreRole {
        match self.role.load(Ordering::Acquire) {
            0 => StoreRole::Writer,
            1 => StoreRole::Standby,
            _ => StoreRole::Down,
        }
    }
    pub(crate) fn set_role(&self, role: StoreRole) {
        self.role.store(role as u8, Ordering::Release);
    }

    /// The refusal of a request at the gate, before anything is read: every request but
    /// `/api/health` while the store is down (503 `store_unavailable`), and every write to a
    /// standby (503 `not_writer`). Counted in `unrecorded`.
    pub fn refusal(&self, method: &axum::http::Method, path: &str) -> Option<ApiError> {
        let e = match self.role() {
            StoreRole::Writer => return None,
            StoreRole::Down if path == "/api/health" => return None,
            StoreRole::Down => self.unavailable(),
            StoreRole::Standby
                if matches!(
                    *method,
                    axum::http::Method::GET
                        | axum::http::Method::HEAD
                        | axum::http::Method::OPTIONS
                ) =>
            {
                return None;
            }
            StoreRole::Standby => not_writer(),
        };
        self.unrecorded.fetch_add(1, Ordering::Relaxed);
        Some(e)
    }

    /// 503 `store_unavailable`, saying why.
    pub fn unavailable(&self) -> ApiError {
        let why = self.down_reason.lock().clone();
        ApiError::of(
            "store_unavailable",
            format!(
                "the store cannot write ({why}); nothing is served until it is reopened from the journal: retry later (writes with the same Idempotency-Key)"
            ),
            None,
        )
        .with("retry_after_s", 1)
    }
}

/// 503 `not_writer`: this server is a standby; the writer is the other one.
pub fn not_writer() -> ApiError {
    ApiError::of(
        "not_writer",
        "this server is a standby (it serves reads and takes over writing if the writer fails): send writes to the writer, or retry here after Retry-After",
        None,
    )
    .with("retry_after_s", 1)
}

/// How the writer keeps its claim on a PostgreSQL journal and how a standby watches it.
#[derive(Clone, Debug)]
pub struct Failover {
    /// A writer that has not renewed its lease for this long is taken over by a standby, which
    /// ends the writer's database session first (a paused or hung writer).
    pub lease: Duration,
    /// How often the writer renews its lease while no batch does.
    pub renew: Duration,
    /// How often a standby reads new records and looks at the lease.
    pub poll: Duration,
    /// The longest wait between two attempts to reopen a store that failed.
    pub retry_max: Duration,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            lease: Duration::from_secs(3),
            renew: Duration::from_millis(500),
            poll: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// How the store thread starts.
pub enum Start {
    Writer(Writer),
    Standby(Box<Follower>),
}

/// The store thread's state.
enum Mode {
    Writing(Writer),
    /// The journal failed; `durable` (seq, hash) is what it must still hold when reopened.
    Down {
        durable: (u64, Hash),
    },
    Standby(Box<Follower>),
    /// The journal lost what it had acknowledged: everything is refused until an operator acts.
    Stopped,
}

/// Runs the store thread until every sender is gone: the writer, and what happens when it
/// fails (down, reopening with back-off) or when another server writes (standby).
pub fn run_writer(
    state: Arc<RwLock<State>>,
    progress: Arc<Progress>,
    start: Start,
    reopen: Reopen,
    rx: std::sync::mpsc::Receiver<Job>,
) {
    let failover = state.read().policy.failover.clone();
    let mut mode = match start {
        Start::Writer(w) => {
            progress.set_role(StoreRole::Writer);
            Mode::Writing(w)
        }
        Start::Standby(f) => {
            progress.set_role(StoreRole::Standby);
            Mode::Standby(f)
        }
    };
    loop {
        mode = match mode {
            Mode::Writing(writer) => match write(&state, &progress, writer, &rx, &failover) {
                Some(durable) => Mode::Down { durable },
                None => return,
            },
            Mode::Down { durable } => {
                match recover(&state, &progress, durable, &reopen, &rx, &failover) {
                    Some(next) => next,
                    None => return,
                }
            }
            Mode::Standby(follower) => {
                match stand_by(&state, &progress, follower, &reopen, &rx, &failover) {
                    Some(next) => next,
                    None => return,
                }
            }
            Mode::Stopped => {
                // Answer (refuse) whatever comes until the server stops.
                while let Ok(job) = rx.recv() {
                    progress.queued.fetch_sub(1, Ordering::Relaxed);
                    refuse(&progress, job, &progress.unavailable());
                }
                return;
            }
        };
    }
}

/// Refuses a job the store cannot perform (down, or a standby); an audit entry of a request
/// answered elsewhere cannot be journaled and is counted.
fn refuse(progress: &Progress, job: Job, e: &ApiError) {
    match job.reply {
        Some(tx) => {
            let _ = tx.send(Reply::from_error(e));
        }
        None => {
            progress.unrecorded.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Answers the jobs that arrive within `wait` with `e` (a store that cannot perform them);
/// false when every sender is gone.
fn refuse_for(
    progress: &Progress,
    rx: &std::sync::mpsc::Receiver<Job>,
    wait: Duration,
    e: impl Fn() -> ApiError,
) -> bool {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(job) => {
                progress.queued.fetch_sub(1, Ordering::Relaxed);
                refuse(progress, job, &e());
            }
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// Replaces the state with one rebuilt from the journal (a reopen, a takeover): every read that
/// began before is refused (new epoch), and everything now in memory is durable.
fn install(
    state: &RwLock<State>,
    progress: &Progress,
    store: ets_store::State,
    store_name: &str,
    role: StoreRole,
) {
    let mut st = state.write();
    let policy = st.policy.clone();
    *st = State::new(store, policy, store_name.to_string());
    progress.epoch.fetch_add(1, Ordering::AcqRel);
    let applied = progress.applied.fetch_add(1, Ordering::AcqRel) + 1;
    progress.durable.store(applied, Ordering::Release);
    progress.failed.store(false, Ordering::Release);
    progress.down_reason.lock().clear();
    progress.set_role(role);
    drop(st);
    progress.notify.notify_waiters();
}

/// The state is ahead of the journal (or may be): refuse everything from now on, let the
/// waiting reads go (to be refused), and say so in the log.
fn go_down(state: &RwLock<State>, progress: &Progress, why: String) {
    eprintln!(
        "ets serve: ERROR the store cannot write: {why}; refusing every request (503 store_unavailable) until it is reopened and replayed from the journal"
    );
    *progress.down_reason.lock() = why;
    progress.set_role(StoreRole::Down);
    progress.epoch.fetch_add(1, Ordering::AcqRel);
    state.write().poisoned = true;
    progress.failed.store(true, Ordering::Release);
    progress.notify.notify_waiters();
}

/// The writer: performs jobs in batches until a write fails (returns what the journal must
/// still hold) or every sender is gone (`None`).
///
/// The state is changed under the write lock, which is then downgraded to a read lock while the
/// batch is journaled (early lock release): requests keep arriving, authenticating and queueing
/// during the flush, so the next batch groups them, and reads are not blocked. A read that saw the
/// batch is held back until the batch is durable (`Progress::settle`), and every write is answered
/// only after its batch is durable, so nobody is told of anything that is not on disk.
fn write(
    state: &RwLock<State>,
    progress: &Progress,
    mut writer: Writer,
    rx: &std::sync::mpsc::Receiver<Job>,
    failover: &Failover,
) -> Option<(u64, Hash)> {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH_MAX);
    let mut replies: Vec<(Option<oneshot::Sender<Reply>>, Reply)> = Vec::with_capacity(BATCH_MAX);
    let mut renewed = Instant::now();
    loop {
        // Idle, the writer renews its lease (PostgreSQL), so that a standby knows it lives.
        let first = match rx.recv_timeout(failover.renew.saturating_sub(renewed.elapsed())) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                renewed = Instant::now();
                if let Err(e) = writer.renew() {
                    let durable = writer.durable();
                    drop(writer);
                    go_down(
                        state,
                        progress,
                        format!("renewing the writer lease failed: {}", chain(&e)),
                    );
                    return Some(durable);
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        };
        jobs.push(first);
        while jobs.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        progress
            .queued
            .fetch_sub(jobs.len() as i64, Ordering::Relaxed);
        let mut st = state.write();
        writer.begin(&st.market);
        for job in jobs.drain(..) {
            let done = perform(&mut st, &job.ctx, job.op);
            let mut audit = job.ctx.audit(
                &st,
                done.reply.status,
                done.reply
                    .body
                    .get("code")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            );
            if job.ctx.key.is_some() && !matches!(done.reply.status, 401 | 429 | 500..) {
                audit.response = Some(done.reply.body.clone());
            }
            let (command, reason) = done
                .envelope
                .unwrap_or_else(|| ("audit".into(), String::new()));
            let record = Record {
                v: RECORD_VERSION,
                command,
                date: job.ctx.date,
                initiator: audit.who.clone(),
                key: None,
                reason,
                events: done.events,
                access: done.access,
                audit: Some(audit),
            };
            // The audit entry moves into the state once the record is encoded, so that its
            // response (a JSON tree, the largest part) is not copied again.
            writer.push(&mut st.store, record);
            replies.push((job.reply, done.reply));
        }
        let batch = progress.applied.load(Ordering::Relaxed) + 1;
        progress.applied.store(batch, Ordering::Release);
        let st = RwLockWriteGuard::downgrade(st);
        let failed = writer.commit(&st.market).err();
        drop(st);
        renewed = Instant::now();
        if let Some(e) = failed {
            // Memory is now ahead of the journal (or may be): nothing of it is shown again.
            // The batch's outcome is unknown: the reopen finds out.
            let durable = writer.durable();
            drop(writer);
            go_down(
                state,
                progress,
                format!("journal write failed: {}", chain(&e)),
            );
            let err = progress.unavailable();
            for (tx, _) in replies.drain(..) {
                if let Some(tx) = tx {
                    let _ = tx.send(Reply::from_error(&err));
                }
            }
            return Some(durable);
        }
        progress.durable.store(batch, Ordering::Release);
        progress.notify.notify_waiters();
        for (tx, reply) in replies.drain(..) {
            if let Some(tx) = tx {
                let _ = tx.send(reply);
            }
        }
    }
}

/// Down: reopens the store with back-off until it works, refusing every job meanwhile. The
/// reopened journal must still hold `durable`, or the server stops for good. If another server
/// has become the writer (PostgreSQL), this one follows it as a standby.
fn recover(
    state: &RwLock<State>,
    progress: &Progress,
    durable: (u64, Hash),
    reopen: &Reopen,
    rx: &std::sync::mpsc::Receiver<Job>,
    failover: &Failover,
) -> Option<Mode> {
    let mut wait = Duration::from_millis(100);
    let mut attempts = 0u64;
    loop {
        if !refuse_for(progress, rx, wait, || progress.unavailable()) {
            return None;
        }
        attempts += 1;
        match reopen.reopen(durable) {
            Ok((store, writer, report)) => {
                eprintln!(
                    "ets serve: the store is open again after {attempts} attempt(s): {} records replayed, last seq {}; serving",
                    report.records,
                    writer.last_seq()
                );
                let name = writer.kind().to_string();
                install(state, progress, store, &name, StoreRole::Writer);
                return Some(Mode::Writing(writer));
            }
            Err(e) if e.is_locked() => {
                // Another server took over while this one was down: follow it.
                if let Some(location) = reopen.location() {
                    match Follower::open(location, Some(durable)) {
                        Ok((store, follower)) => {
                            eprintln!(
                                "ets serve: another server is the writer now; following it as a standby from seq {}",
                                follower.durable().0
                            );
                            install(state, progress, store, "postgres", StoreRole::Standby);
                            return Some(Mode::Standby(Box::new(follower)));
                        }
                        Err(e @ StoreError::Lost { .. }) => return Some(stopped(progress, &e)),
                        Err(e) => log_attempt(attempts, &e),
                    }
                }
            }
            Err(e @ StoreError::Lost { .. }) => return Some(stopped(progress, &e)),
            Err(e) => log_attempt(attempts, &e),
        }
        wait = (wait * 2).min(failover.retry_max);
    }
}

/// A failed attempt to reopen, in the log: the first ones, then one in ten.
fn log_attempt(attempts: u64, e: &StoreError) {
    if attempts <= 3 || attempts.is_multiple_of(10) {
        eprintln!(
            "ets serve: ERROR reopening the store failed (attempt {attempts}): {}",
            chain(e)
        );
    }
}

/// An error with its causes (`a: b: c`), for the log: the store's errors name what failed and
/// their sources say why (a URL in them has its password removed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn stopped(progress: &Progress, e: &StoreError) -> Mode {
    eprintln!(
        "ets serve: ERROR {e}. The server refuses every request until an operator restores the journal"
    );
    *progress.down_reason.lock() = e.to_string();
    Mode::Stopped
}

/// A standby: follows the journal another server writes, serves reads of what is committed,
/// refuses writes (the gate does; jobs already queued are refused here), and takes over when
/// the writer's lock is free or its lease has expired.
fn stand_by(
    state: &RwLock<State>,
    progress: &Progress,
    mut follower: Box<Follower>,
    reopen: &Reopen,
    rx: &std::sync::mpsc::Receiver<Job>,
    failover: &Failover,
) -> Option<Mode> {
    let location = reopen.location()?.clone();
    let mut failures = 0u64;
    loop {
        if !refuse_for(progress, rx, failover.poll, not_writer) {
            return None;
        }
        // Records committed since: applied under the write lock, fetched without it.
        match follower.poll() {
            Ok(records) if !records.is_empty() => {
                let mut st = state.write();
                let mut applied = Ok(());
                for r in &records {
                    if let Err(e) = st.store.follow(r.seq, &r.payload) {
                        applied = Err(e);
                        break;
                    }
                }
                drop(st);
                if let Err(e) = applied {
                    eprintln!(
                        "ets serve: ERROR the standby cannot apply the writer's records: {e}; replaying the journal again"
                    );
                    go_down(state, progress, format!("following the writer failed: {e}"));
                    return Some(Mode::Down {
                        durable: follower.durable(),
                    });
                }
                let batch = progress.applied.fetch_add(1, Ordering::AcqRel) + 1;
                progress.durable.store(batch, Ordering::Release);
                progress.notify.notify_waiters();
            }
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                if failures <= 3 || failures.is_multiple_of(50) {
                    eprintln!("ets serve: ERROR the standby cannot read the journal: {e}");
                }
                // The connection may be gone: a new follower, from scratch.
                if let Ok((store, f)) = Follower::open(&location, Some(follower.durable())) {
                    install(state, progress, store, "postgres", StoreRole::Standby);
                    *follower = f;
                }
                continue;
            }
        }
        let lease = match follower.lease() {
            Ok(l) => l,
            Err(e) => {
                failures += 1;
                if failures <= 3 || failures.is_multiple_of(50) {
                    eprintln!("ets serve: ERROR the standby cannot read the writer lease: {e}");
                }
                continue;
            }
        };
        let take_over = match &lease {
            // No writer holds the lock: it died or lost its connection.
            Some(l) if l.lock_pid.is_none() => true,
            Some(l) if l.age_ms > failover.lease.as_millis() as i64 => {
                // Paused or hung with its session alive: end the session (and with it the lock),
                // so that it can never append again even if it resumes (each append also checks
                // the epoch, which the takeover moves).
                let pid = l.lock_pid.unwrap_or_default();
                eprintln!(
                    "ets serve: ERROR the writer ({}) has not renewed its lease for {} ms; ending its session (backend {pid}) and taking over",
                    l.holder, l.age_ms
                );
                if let Err(e) = follower.terminate(pid) {
                    eprintln!("ets serve: ERROR cannot end the writer's session: {e}");
                }
                true
            }
            Some(_) => false,
            // A writer of a release without the lease: only a free lock says it has gone.
            None => true,
        };
        if !take_over {
            continue;
        }
        let started = Instant::now();
        match reopen.reopen(follower.durable()) {
            Ok((store, writer, report)) => {
                eprintln!(
                    "ets serve: took over as the writer: {} records replayed, last seq {}, in {} ms",
                    report.records,
                    writer.last_seq(),
                    started.elapsed().as_millis()
                );
                let name = writer.kind().to_string();
                install(state, progress, store, &name, StoreRole::Writer);
                return Some(Mode::Writing(writer));
            }
            Err(e) if e.is_locked() => {}
            Err(e @ StoreError::Lost { .. }) => return Some(stopped(progress, &e)),
            Err(e) => eprintln!("ets serve: ERROR taking over as the writer failed: {e}"),
        }
    }
}

/// Performs one job on the state: idempotency, authorisation, execution.
fn perform(st: &mut State, ctx: &RequestCtx, op: Op) -> Done {
    if let Op::Audit { status, code } = op {
        let mut body = json!({});
        if let Some(code) = code {
            body = json!({ "code": code });
        }
        return Done::reply(Reply::ok(status, body));
    }
    if let Some(key) = &ctx.key
        && let Some(r) = st.remembered(&idempotency_scope(ctx), key, ctx.at)
    {
        if r.body_sha256 != ctx.body_sha256 || r.path != ctx.path {
            return Done::error(ApiError::conflict(
                "idempotency_key_reused",
                format!(
                    "idempotency key {key:?} was used for a different request ({})",
                    r.path
                ),
                Some("Idempotency-Key"),
            ));
        }
        let mut body: Value = serde_json::from_str(&r.response).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut body {
            m.insert("replayed".into(), Value::Bool(true));
        }
        return Done::reply(Reply::ok(r.status, body));
    }
    match perform_op(st, ctx, op) {
        Ok(done) => done,
        Err(e) => Done::error(e),
    }
}

/// The class of an order, a block proposal or a one-way announcement must be an instrument of
/// the market file, and an offset class a registered project's: refused here, naming the field,
/// before the exchange creates a book for it.
fn check_instrument(st: &State, command: &Command) -> Result<(), ApiError> {
    let class = match command {
        Command::Exchange(
            ExchangeCommand::Order { class, .. }
            | ExchangeCommand::ProposeBlock { class, .. }
            | ExchangeCommand::Announce { class, .. },
        ) => *class,
        _ => return Ok(()),
    };
    // Without an exchange the market refuses the command itself.
    let Some(exchange) = st.market.exchange() else {
        return Ok(());
    };
    let project = match class {
        UnitClass::Ccer { project, .. } => Some(project),
        UnitClass::Cea { .. } => None,
    };
    let why = if exchange.rules.instrument(class).is_none() {
        "no instrument of the market file covers it"
    } else if project.is_some_and(|p| st.market.project_by_number(p).is_none()) {
        "no offset project of that number is registered"
    } else {
        return Ok(());
    };
    Err(ApiError::of(
        "unknown_instrument",
        format!("class {class} does not trade on this market: {why}"),
        Some("class"),
    )
    .with("class", class.to_string()))
}

/// The namespace a request's idempotency key is remembered in: the user's own; an anonymous
/// request's own method, path and body (`ets_store::idempotency_scope`).
pub fn idempotency_scope(ctx: &RequestCtx) -> String {
    ets_store::idempotency_scope(
        ctx.user.as_deref().unwrap_or("public"),
        &ctx.method,
        &ctx.path,
        ctx.body_sha256.as_deref(),
    )
}

fn envelope(ctx: &RequestCtx, command: Command, reason: String) -> Envelope {
    Envelope {
        date: ctx.date,
        initiator: ctx.user.clone().unwrap_or_else(|| "public".into()),
        key: None,
        reason,
        command,
    }
}

fn execute(st: &mut State, env: &Envelope) -> Result<Vec<Event>, ApiError> {
    st.market
        .execute(env)
        .map_err(|e| ApiError::from_market(&e))
}

/// An event's tag, as it appears in the journal.
fn event_kind(e: &Event) -> &'static str {
    match e {
        Event::CompanyRegistered { .. } => "company_registered",
        Event::UnitRegistered { .. } => "unit_registered",
        Event::PlanAdopted { .. } => "plan_adopted",
        Event::PlanWithdrawn { .. } => "plan_withdrawn",
        Event::ReportDrafted { .. } => "report_drafted",
        Event::ReportSubmitted { .. } => "report_submitted",
        Event::ReportVerified { .. } => "report_verified",
        Event::ReportAccepted { .. } => "report_accepted",
        Event::AllocationRecorded { .. } => "allocation_recorded",
        Event::Registry { .. } => "registry",
        Event::AccountStatusChanged { .. } => "account_status_changed",
        Event::ProjectRegistered { .. } => "project_registered",
        Event::HolderRegistered { .. } => "holder_registered",
        Event::CompanyExempted { .. } => "company_exempted",
        Event::ExchangeOpened { .. } => "exchange_opened",
        Event::Exchange { .. } => "exchange",
        Event::CycleAssessed { .. } => "cycle_assessed",
    }
}

/// The body answering an accepted market command.
pub fn command_body(command: &Command, events: &[Event]) -> Value {
    // The events themselves are in the journal and behind the GET routes; the answer names
    // them, so that it (and its copy kept for idempotent retries) stays small.
    let kinds: Vec<&str> = events.iter().map(event_kind).collect();
    let mut body = json!({ "command": command.name(), "events": kinds });
    // The ids a client needs next: the registry transaction, the order, the trades.
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Registry { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    if !seqs.is_empty() {
        body["transactions"] = json!(seqs);
    }
    for e in events {
        match e {
            Event::Exchange {
                input,
                trades,
                released,
            } => {
                if let Some(id) = input.id() {
                    body["id"] = json!(id);
                }
                body["trades"] = json!(trades);
                if let Some(released) = released {
                    body["released"] = json!(released);
                }
            }
            Event::ProjectRegistered {
                number, account, ..
            } => {
                body["project_number"] = json!(number);
                body["account"] = json!(account.to_string());
            }
            Event::CompanyRegistered { account, .. } | Event::HolderRegistered { account, .. } => {
                body["account"] = json!(account.to_string());
            }
            _ => {}
        }
    }
    body
}

fn perform_op(st: &mut State, ctx: &RequestCtx, op: Op) -> Result<Done, ApiError> {
    let name = ctx.user.as_deref();
    let now = ctx.at;
    match op {
        Op::Audit { .. } => unreachable!("handled in perform"),
        Op::Command { command, reason } => {
            st.check(name, Action::Command(&command))?;
            check_instrument(st, &command)?;
            let env = envelope(ctx, command, reason);
            let events = execute(st, &env)?;
            let body = command_body(&env.command, &events);
            Ok(Done {
                reply: Reply::ok(201, body),
                envelope: Some((env.command.name().into(), env.reason)),
                events,
                access: Vec::new(),
            })
        }
        Op::CreateUser { user } => {
            // The first regulator is created by `ets admin`, which runs without a server.
            st.check(name, Action::Administer)?;
            validate_user(st, &user)?;
            let body = json!({ "user": public_user(&user) });
            let event = AccessEvent::UserCreated { user };
            access_done(st, 201, body, vec![event])
        }
        Op::DeactivateUser { name: target } => {
            st.check(name, Action::Administer)?;
            let user = st
                .access
                .user(&target)
                .ok_or_else(|| ApiError::not_found(format!("no user {target}")))?;
            if !user.active {
                return Err(ApiError::conflict(
                    "already_inactive",
                    format!("user {target} is already deactivated"),
                    None,
                ));
            }
            let regulators = st
                .access
                .users()
                .filter(|u| u.active && u.role == Role::Regulator)
                .count();
            if user.role == Role::Regulator && regulators == 1 {
                return Err(ApiError::conflict(
                    "last_regulator",
                    "the last active regulator cannot be deactivated (create another first)",
                    None,
                ));
            }
            let body = json!({ "deactivated": target });
            access_done(
                st,
                200,
                body,
                vec![AccessEvent::UserDeactivated { name: target }],
            )
        }
        Op::Bootstrap { user } => {
            if user.role != Role::Regulator {
                return Err(ApiError::bad_request(
                    "not_a_regulator",
                    "ets admin creates regulators",
                    Some("role"),
                ));
            }
            validate_user(st, &user)?;
            let body = json!({ "user": public_user(&user) });
            access_done(st, 201, body, vec![AccessEvent::UserCreated { user }])
        }
        Op::AssignVerifier { verifier, company } => {
            st.check(name, Action::Administer)?;
            match st.access.user(&verifier) {
                Some(u) if u.role == Role::Verifier => {}
                Some(_) => {
                    return Err(ApiError::unprocessable(
                        "not_a_verifier",
                        format!("user {verifier} is not a verifier"),
                        Some("verifier"),
                    ));
                }
                None => return Err(ApiError::not_found(format!("no user {verifier}"))),
            }
            if st.market.company(&company).is_none() {
                return Err(ApiError::not_found(format!("no company {company}")));
            }
            let body = json!({ "verifier": verifier, "company": company });
            access_done(
                st,
                201,
                body,
                vec![AccessEvent::VerifierAssigned { verifier, company }],
            )
        }
        Op::IssueToken {
            token_sha256,
            label,
        } => {
            st.check(name, Action::Own)?;
            let info = TokenInfo {
                user: name.unwrap_or_default().to_string(),
                label: label.clone(),
                issued_at: now,
            };
            // The token itself is in the reply only; the journal keeps its digest.
            access_done(
                st,
                201,
                json!({ "label": label }),
                vec![AccessEvent::TokenIssued { token_sha256, info }],
            )
        }
        Op::OpenSession {
            user,
            session_sha256,
        } => {
            if !st.access.user(&user).is_some_and(|u| u.active) {
                return Err(ApiError::unauthenticated());
            }
            st.access.sweep_sessions(now);
            let info = SessionInfo {
                user: user.clone(),
                expires_at: now + st.policy.session_ttl_ms,
            };
            access_done(
                st,
                201,
                json!({ "user": user, "expires_at": info.expires_at }),
                vec![AccessEvent::SessionOpened {
                    session_sha256,
                    info,
                }],
            )
        }
        Op::Account(op) => {
            let (status, body, events) = crate::api::account::perform(st, ctx, op)?;
            access_done(st, status, body, events)
        }
        Op::CloseSession { session_sha256 } => {
            st.check(name, Action::Own)?;
            access_done(
                st,
                200,
                json!({ "closed": true }),
                vec![AccessEvent::SessionClosed { session_sha256 }],
            )
        }
        Op::RequestAccount { mut request } => {
            st.check(name, Action::ApplyForAccount)?;
            validate_account_request(st, &request)?;
            request.id = st.access.next_request_id();
            request.submitted_at = now;
            request.status = RequestStatus::Pending;
            let body = json!({ "id": request.id, "status": "pending" });
            access_done(
                st,
                201,
                body,
                vec![AccessEvent::AccountRequested { request }],
            )
        }
        Op::DecideAccountRequest {
            id,
            approve,
            reason,
        } => {
            st.check(name, Action::Administer)?;
            let request = st
                .access
                .request(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no account request {id}")))?;
            if request.status != RequestStatus::Pending {
                return Err(ApiError::conflict(
                    "already_decided",
                    format!("account request {id} was already decided"),
                    None,
                ));
            }
            let by = name.unwrap_or_default().to_string();
            let mut access = vec![AccessEvent::AccountRequestDecided {
                id,
                approved: approve,
                by,
                reason: reason.clone(),
            }];
            if !approve {
                return access_done(st, 200, json!({ "id": id, "status": "rejected" }), access);
            }
            // Users first (checked again: names may have been taken since the request).
            let (command, company, holder) = match &request.applicant {
                Applicant::Company { company, units } => (
                    Command::RegisterCompany {
                        company: company.clone(),
                        units: units.clone(),
                    },
                    Some(company.id.clone()),
                    None,
                ),
                Applicant::Holder { holder } => (
                    Command::RegisterHolder {
                        holder: holder.clone(),
                    },
                    None,
                    Some(holder.clone()),
                ),
            };
            let mut users = Vec::new();
            for rep in &request.representatives {
                let user = User {
                    name: rep.name.clone(),
                    display: rep.display.clone(),
                    role: if company.is_some() {
                        Role::Company
                    } else {
                        Role::Member
                    },
                    province: None,
                    company: company.clone(),
                    holder: holder.clone(),
                    password: rep.password.clone(),
                    active: true,
                };
                validate_name(st, &user)?;
                users.push(user);
            }
            let env = envelope(ctx, command, format!("account request {id} approved"));
            let events = execute(st, &env)?;
            let account = events.iter().find_map(|e| match e {
                Event::CompanyRegistered { account, .. }
                | Event::HolderRegistered { account, .. } => Some(*account),
                _ => None,
            });
            access.extend(
                users
                    .into_iter()
                    .map(|user| AccessEvent::UserCreated { user }),
            );
            for e in &access {
                st.access.apply(e).map_err(|e| ApiError::internal(e.0))?;
            }
            Ok(Done {
                reply: Reply::ok(
                    200,
                    json!({ "id": id, "status": "approved", "account": account.map(|a| a.to_string()) }),
                ),
                envelope: Some((env.command.name().into(), env.reason)),
                events,
                access,
            })
        }
        Op::ProposeInstruction {
            company,
            instruction,
        } => {
            st.check(name, Action::Instruct(&company))?;
            validate_instruction(st, &company, &instruction, now)?;
            let pending = PendingInstruction {
                id: st.access.next_instruction_id(),
                company,
                instruction,
                initiated_by: name.unwrap_or_default().to_string(),
                initiated_at: now,
                status: InstructionStatus::Pending,
                decided_by: None,
                outcome: None,
            };
            let body = json!({ "instruction": pending });
            access_done(
                st,
                201,
                body,
                vec![AccessEvent::InstructionProposed {
                    instruction: pending,
                }],
            )
        }
        Op::DecideInstruction { id, approve } => {
            let pending = st
                .access
                .instruction(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no instruction {id}")))?;
            st.check(name, Action::Instruct(&pending.company))?;
            if pending.status != InstructionStatus::Pending {
                return Err(ApiError::conflict(
                    "already_decided",
                    format!("instruction {id} was already decided"),
                    None,
                ));
            }
            let by = name.unwrap_or_default().to_string();
            if approve && by == pending.initiated_by {
                return Err(ApiError::forbidden_code(
                    "four_eyes",
                    format!(
                        "instruction {id} was initiated by {by}; a second representative of {} must approve it",
                        pending.company
                    ),
                ));
            }
            if !approve {
                let ev = AccessEvent::InstructionDecided {
                    id,
                    status: InstructionStatus::Rejected,
                    by,
                    outcome: None,
                };
                return access_done(st, 200, json!({ "id": id, "status": "rejected" }), vec![ev]);
            }
            match &pending.instruction {
                Instruction::Trust { account } => {
                    let entry = Trusted {
                        account: *account,
                        added_at: now,
                        effective_at: now + st.policy.trusted_delay_ms,
                    };
                    let events = vec![
                        AccessEvent::InstructionDecided {
                            id,
                            status: InstructionStatus::Executed,
                            by,
                            outcome: Some(format!("trusted from {}", entry.effective_at)),
                        },
                        AccessEvent::TrustedAdded {
                            company: pending.company.clone(),
                            entry: entry.clone(),
                        },
                    ];
                    access_done(
                        st,
                        200,
                        json!({ "id": id, "status": "executed", "trusted": entry }),
                        events,
                    )
                }
                Instruction::Command { command } => {
                    // The rules may have changed since it was proposed: check them again.
                    if let Err(e) =
                        validate_instruction(st, &pending.company, &pending.instruction, now)
                    {
                        return fail_instruction(st, id, by, e);
                    }
                    let reason = format!(
                        "instruction {id}: initiated by {}, approved by {by}",
                        pending.initiated_by
                    );
                    let env = envelope(ctx, command.clone(), reason);
                    match st.market.execute(&env) {
                        Err(e) => fail_instruction(st, id, by, ApiError::from_market(&e)),
                        Ok(events) => {
                            let mut body = command_body(command, &events);
                            body["id"] = json!(id);
                            body["status"] = json!("executed");
                            let ev = AccessEvent::InstructionDecided {
                                id,
                                status: InstructionStatus::Executed,
                                by,
                                outcome: Some(format!("{} event(s)", events.len())),
                            };
                            st.access.apply(&ev).map_err(|e| ApiError::internal(e.0))?;
                            Ok(Done {
                                reply: Reply::ok(200, body),
                                envelope: Some((env.command.name().into(), env.reason)),
                                events,
                                access: vec![ev],
                            })
                        }
                    }
                }
            }
        }
        Op::RemoveTrusted { company, account } => {
            st.check(name, Action::Instruct(&company))?;
            if !st
                .access
                .trusted(&company)
                .iter()
                .any(|t| t.account == account)
            {
                return Err(ApiError::not_found(format!(
                    "{account} is not on the trusted list of {company}"
                )));
            }
            access_done(
                st,
                200,
                json!({ "removed": account.to_string() }),
                vec![AccessEvent::TrustedRemoved { company, account }],
            )
        }
    }
}

/// An approved instruction the market (or the trusted list) refused: recorded as failed, and the
/// refusal is the answer.
fn fail_instruction(st: &mut State, id: u64, by: String, e: ApiError) -> Result<Done, ApiError> {
    let ev = AccessEvent::InstructionDecided {
        id,
        status: InstructionStatus::Failed,
        by,
        outcome: Some(e.message.clone()),
    };
    st.access.apply(&ev).map_err(|e| ApiError::internal(e.0))?;
    let mut done = Done::error(e);
    done.access.push(ev);
    Ok(done)
}

fn access_done(
    st: &mut State,
    status: u16,
    body: Value,
    events: Vec<AccessEvent>,
) -> Result<Done, ApiError> {
    for e in &events {
        st.access.apply(e).map_err(|e| ApiError::internal(e.0))?;
    }
    Ok(Done {
        reply: Reply::ok(status, body),
        envelope: Some(("access".into(), String::new())),
        events: Vec::new(),
        access: events,
    })
}

/// A user as others may see it (no password hash).
pub fn public_user(u: &User) -> Value {
    let mut v = serde_json::to_value(u).expect("users serialize");
    if let Value::Object(m) = &mut v {
        m.remove("password");
    }
    v
}

fn validate_user(st: &State, user: &User) -> Result<(), ApiError> {
    validate_name(st, user)?;
    validate_scope(st, user)
}

/// 1 to 64 letters, digits, '-', '_', '.' or '@'.
pub const USER_NAME_PATTERN: &str = "^[A-Za-z0-9._@-]{1,64}$";

/// Whether a user name is well formed ([`USER_NAME_PATTERN`]).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// A well-formed user name nobody has.
fn validate_name(st: &State, user: &User) -> Result<(), ApiError> {
    if !valid_user_name(&user.name) {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!(
                "user name {:?} must be 1-64 letters, digits, '-', '_', '.' or '@'",
                user.name
            ),
            Some("name"),
        ));
    }
    if st.access.user(&user.name).is_some() {
        return Err(ApiError::conflict(
            "user_exists",
            format!("user {} already exists", user.name),
            Some("name"),
        ));
    }
    Ok(())
}

/// The user's scope names something that exists.
fn validate_scope(st: &State, user: &User) -> Result<(), ApiError> {
    let missing = |field: &'static str| {
        // 422, not 400: the body is well formed; the role's scope is a rule between fields that
        // the schema does not express.
        ApiError::unprocessable(
            "missing_scope",
            format!("a {} user needs a {field}", user.role.as_str()),
            Some(field),
        )
    };
    match user.role {
        Role::Bureau if user.province.is_none() => return Err(missing("province")),
        Role::Company => match &user.company {
            None => return Err(missing("company")),
            Some(c) if st.market.company(c).is_none() => {
                return Err(ApiError::not_found(format!("no company {c}")));
            }
            _ => {}
        },
        Role::Member => match &user.holder {
            None => return Err(missing("holder")),
            Some(h) if st.market.resolve_account(h).is_none() => {
                return Err(ApiError::not_found(format!("no account holder {h}")));
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}

/// The rules of an account request against the state: checked by the HTTP layer before any
/// password is hashed, and by the writer again.
pub fn validate_account_request(st: &State, r: &AccountRequest) -> Result<(), ApiError> {
    let min = st.policy.min_representatives;
    if r.representatives.len() < min {
        return Err(ApiError::unprocessable(
            "too_few_representatives",
            format!(
                "an account needs at least {min} representatives, the request names {}",
                r.representatives.len()
            ),
            Some("representatives"),
        ));
    }
    if r.documents.is_empty() {
        return Err(ApiError::unprocessable(
            "documents_required",
            "attach the applicant's documents (business licence, representatives' identity)",
            Some("documents"),
        ));
    }
    for (i, rep) in r.representatives.iter().enumerate() {
        if !valid_user_name(&rep.name) {
            let field = format!("representatives[{i}].name");
            return Err(ApiError::bad_request(
                "invalid_name",
                format!(
                    "{field}: user name {:?} must be 1-64 letters, digits, '-', '_', '.' or '@'",
                    rep.name
                ),
                Some(&field),
            ));
        }
    }
    let mut names: Vec<&str> = r.representatives.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::bad_request(
            "duplicate_representative",
            "each representative needs a user name of their own",
            Some("representatives"),
        ));
    }
    for rep in &r.representatives {
        if st.access.user(&rep.name).is_some()
            || st.access.requests().any(|q| {
                q.status == RequestStatus::Pending
                    && q.representatives.iter().any(|p| p.name == rep.name)
            })
        {
            return Err(ApiError::conflict(
                "user_exists",
                format!("user name {} is taken", rep.name),
                Some("representatives"),
            ));
        }
    }
    match &r.applicant {
        Applicant::Company { company, .. } if st.market.company(&company.id).is_some() => {
            Err(ApiError::conflict(
                "company_exists",
                format!("company {} already has an account", company.id),
                Some("company.id"),
            ))
        }
        Applicant::Holder { holder } if st.market.resolve_account(holder).is_some() => {
            Err(ApiError::conflict(
                "holder_exists",
                format!("holder {holder} already has an account"),
                Some("holder"),
            ))
        }
        _ => Ok(()),
    }
}

/// Checks that an instruction belongs to the company and that a transfer goes to an account the
/// company trusts (in effect at `now`).
fn validate_instruction(
    st: &State,
    company: &CompanyId,
    instruction: &Instruction,
    now: i64,
) -> Result<(), ApiError> {
    let own = st
        .market
        .company_account(company)
        .ok_or_else(|| ApiError::not_found(format!("no company {company}")))?;
    let resolve = |party: &str, field: &'static str| {
        st.market.resolve_account(party).ok_or_else(|| {
            ApiError::of(
                "unknown_account",
                format!("no account {party}"),
                Some(field),
            )
        })
    };
    match instruction {
        Instruction::Trust { account } => {
            if st.market.registry().account(*account).is_none() {
                return Err(ApiError::of(
                    "unknown_account",
                    format!("no account {account}"),
                    Some("account"),
                ));
            }
            if *account == own {
                return Err(ApiError::unprocessable(
                    "own_account",
                    "a company's own account needs no trust",
                    Some("account"),
                ));
            }
            Ok(())
        }
        Instruction::Command { command } => match command {
            Command::Transfer { from, to, .. } => {
                if resolve(from, "from")? != own {
                    return Err(ApiError::forbidden_code(
                        "not_own_account",
                        format!("{from} is not the account of {company}"),
                    ));
                }
                let to = resolve(to, "to")?;
                if !st.access.is_trusted(company, to, now) {
                    return Err(ApiError::unprocessable(
                        "untrusted_account",
                        format!(
                            "{to} is not on the trusted-account list of {company} (or its entry is not in effect yet)"
                        ),
                        Some("to"),
                    ));
                }
                Ok(())
            }
            // Refused when made, not at approval, if the plan's state forbids it (the cycle
            // assessed, the company exempted, a class or quantity against the plan's rules).
            Command::Surrender {
                company: c,
                plan,
                class,
                quantity,
            } if c == company => st
                .market
                .check_surrender(plan, c, *class, *quantity)
                .map_err(|e| ApiError::from_market(&e)),
            Command::Surrender { .. } => Err(ApiError::forbidden_code(
                "not_own_account",
                format!("a representative of {company} may surrender only for {company}"),
            )),
            other => Err(ApiError::bad_request(
                "not_an_instruction",
                format!("{} is not a four-eyes instruction", other.name()),
                Some("kind"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that may have seen an applied batch is held until the batch is durable, and let
    /// go (to answer 503) if the journal fails instead.
    #[tokio::test]
    async fn reads_wait_for_what_they_saw_to_be_durable() {
        let p = Arc::new(Progress::default());
        assert!(p.settle().await, "nothing applied, nothing to wait for");
        p.applied.store(1, Ordering::Release);
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.settle().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "batch 1 is not durable yet");
        p.durable.store(1, Ordering::Release);
        p.notify.notify_waiters();
        assert!(waiting.await.unwrap());

        p.applied.store(2, Ordering::Release);
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.settle().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        p.failed.store(true, Ordering::Release);
        p.notify.notify_waiters();
        assert!(!waiting.await.unwrap(), "batch 2 will never be durable");
    }

    #[test]
    fn event_kinds_are_the_journal_tags() {
        let e = Event::AccountStatusChanged {
            account: AccountId(7),
            status: ets_registry::AccountStatus::Frozen,
        };
        assert_eq!(serde_json::to_value(&e).unwrap()["event"], event_kind(&e));
        let e = Event::CompanyExempted {
            plan: "p".into(),
            company: CompanyId::parse("SX0001").unwrap(),
            reason: "closed".into(),
        };
        assert_eq!(serde_json::to_value(&e).unwrap()["event"], event_kind(&e));
    }
}
