//! What replaying a journal rebuilds: the market, the access state (users, tokens, sessions,
//! requests, instructions), the remembered answers to requests with an idempotency key, and
//! the recent audit trail. The same [`State`] is held by the CLI's [`crate::Store`], by the
//! server behind its lock, and by read-only readers beside a writer.

use std::collections::VecDeque;

use ets_access::{Access, Audit, Digest};
use ets_market::Market;

use ets_types::Date;

use crate::StoreError;
use crate::idempotency::Remembers;
use crate::record::{GENESIS, RECORD_VERSION, Record};

/// How many audit entries are kept in memory (all are in the journal).
const AUDIT_TAIL: usize = 10_000;

/// How long an idempotency key is remembered by default (a retry after that is a new request).
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// A business date before the latest one in the journal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "business date {date} is before {last}, the latest date already in the journal: business dates never go back"
)]
pub struct DateBehind {
    pub date: Date,
    pub last: Date,
}

/// A remembered answer to a request with an idempotency key.
#[derive(Clone, Debug)]
pub struct Remembered {
    pub body_sha256: Option<Digest>,
    pub path: String,
    pub status: u16,
    /// As JSON text: a quarter of the memory of the parsed tree.
    pub response: Box<str>,
    pub at: i64,
}

/// The namespace an idempotency key is remembered in. A user's keys are the user's own. Every
/// anonymous client is `public`: its keys are scoped by the request itself (method, path and
/// the body's digest), so that one anonymous client cannot learn another's answer or path by
/// sending the same key; only the very same request gets the remembered answer. Computed from
/// the audit entry's fields, so replay rebuilds the same table.
pub fn idempotency_scope(who: &str, method: &str, path: &str, body_sha256: Option<&str>) -> String {
    if who == "public" {
        format!("public {method} {path} {}", body_sha256.unwrap_or("-"))
    } else {
        who.to_string()
    }
}

pub struct State {
    pub market: Market,
    pub access: Access,
    /// (scope, key) → the answer given ([`idempotency_scope`]).
    idempotency: Remembers,
    idempotency_ttl_ms: i64,
    audit_tail: VecDeque<Audit>,
    /// Audit entries taken in since the journal began.
    pub audit_count: u64,
    /// The latest business date recorded: the latest date of a record with market events (the
    /// genesis record is not one: `ets admin` may open a store today for a simulation clock set
    /// in the past). Business dates never go back, so the edges (the CLI's
    /// `--date`, the server's clock) refuse a date before it. Records of access changes and
    /// audit entries alone (a user created, a read) are dated too, but are not business events.
    last_date: Option<Date>,
    /// Replayed records with market events dated before an earlier one: a regulator's
    /// correction dated back, or a journal written before dates were held to go forward. The
    /// first of them: (seq, its date, the latest date before it).
    pub dated_back: u64,
    pub first_dated_back: Option<(u64, Date, Date)>,
}

impl State {
    pub fn new(market: Market) -> State {
        State {
            last_date: None,
            dated_back: 0,
            first_dated_back: None,
            market,
            access: Access::default(),
            idempotency: Remembers::default(),
            idempotency_ttl_ms: IDEMPOTENCY_TTL_MS,
            audit_tail: VecDeque::new(),
            audit_count: 0,
        }
    }

    /// The latest business date in the journal (see [`State::check_date`]).
    pub fn last_date(&self) -> Option<Date> {
        self.last_date
    }

    /// Takes in the business date of a record with market events, written now or replayed.
    pub fn note_date(&mut self, date: Date) {
        self.last_date = self.last_date.max(Some(date));
    }

    /// Refuses a business date before the latest one recorded: history is written forward.
    pub fn check_date(&self, date: Date) -> Result<(), DateBehind> {
        if let Some(last) = self.last_date
            && date < last
        {
            return Err(DateBehind { date, last });
        }
        Ok(())
    }

    /// Sets how long idempotency keys are remembered.
    pub fn set_idempotency_ttl(&mut self, ttl_ms: i64) {
        self.idempotency_ttl_ms = ttl_ms;
    }
    pub fn idempotency_ttl_ms(&self) -> i64 {
        self.idempotency_ttl_ms
    }

    /// Takes in an audit entry (performed now, or replayed from the journal); an entry with an
    /// idempotency key and a response is remembered for retries.
    pub fn remember(&mut self, mut audit: Audit) {
        if let (Some(key), Some(response)) = (&audit.key, audit.response.take()) {
            let scope = idempotency_scope(
                &audit.who,
                &audit.method,
                &audit.path,
                audit.body_sha256.as_deref(),
            );
            self.idempotency.insert(
                scope,
                key.clone(),
                Remembered {
                    body_sha256: audit.body_sha256.clone(),
                    path: audit.path.clone(),
                    status: audit.status,
                    response: response.to_string().into_boxed_str(),
                    at: audit.at,
                },
                self.idempotency_ttl_ms,
            );
        }
        if self.audit_tail.len() == AUDIT_TAIL {
            self.audit_tail.pop_front();
        }
        self.audit_tail.push_back(audit);
        self.audit_count += 1;
    }

    /// The answer given to a request with `key` in `scope` (see [`idempotency_scope`]), if it
    /// is still remembered at `now`.
    pub fn remembered(&self, scope: &str, key: &str, now: i64) -> Option<&Remembered> {
        self.idempotency
            .get(scope, key)
            .filter(|r| r.at >= now - self.idempotency_ttl_ms)
    }

    /// The latest audit entries, newest first.
    pub fn recent_audit(&self, limit: usize) -> impl Iterator<Item = &Audit> {
        self.audit_tail.iter().rev().take(limit)
    }

    /// Applies one replayed record: its market events, its access events, its audit entry.
    fn apply(&mut self, seq: u64, record: Record) -> Result<u64, StoreError> {
        let err = |detail: String| StoreError::Replay { seq, detail };
        if record.command == GENESIS {
            return Err(err("a second genesis record".into()));
        }
        if !record.events.is_empty() {
            if let Some(last) = self.last_date
                && record.date < last
            {
                self.dated_back += 1;
                self.first_dated_back
                    .get_or_insert((seq, record.date, last));
            }
            self.note_date(record.date);
        }
        for event in &record.events {
            self.market.apply(event).map_err(|e| err(e.to_string()))?;
        }
        for event in &record.access {
            self.access.apply(event).map_err(|e| err(e.0))?;
        }
        if let Some(audit) = record.audit {
            self.remember(audit);
        }
        Ok(record.events.len() as u64)
    }
}

impl State {
    /// Applies one more record of the journal `(seq, payload)` (a standby following a writer):
    /// as replay does, without the final invariant checks (a takeover replays in full).
    ///
    /// # Errors
    ///
    /// `Replay` naming `seq` if it does not decode or apply.
    pub fn follow(&mut self, seq: u64, payload: &[u8]) -> Result<u64, StoreError> {
        self.apply(seq, decode(seq, payload)?)
    }
}

/// Decodes one record, naming its sequence number when it is not one this build reads.
fn decode(seq: u64, payload: &[u8]) -> Result<Record, StoreError> {
    let record: Record = serde_json::from_slice(payload).map_err(|e| StoreError::Replay {
        seq,
        detail: format!("not a journal record: {e}"),
    })?;
    if record.v != RECORD_VERSION {
        return Err(StoreError::Replay {
            seq,
            detail: format!(
                "record version {} (this build reads {RECORD_VERSION})",
                record.v
            ),
        });
    }
    Ok(record)
}

/// Rebuilds the state from journal records `(seq, payload)`, the first of which must be the
/// genesis record; returns it and the number of market events applied. The market's and the
/// access state's invariants are checked at the end: a journal whose replay breaks one is
/// refused, naming the invariant.
pub fn replay<'a>(
    records: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<(State, u64), StoreError> {
    let mut records = records.into_iter();
    let Some((seq, payload)) = records.next() else {
        return Err(StoreError::Replay {
            seq: 0,
            detail: "the journal is empty".into(),
        });
    };
    let first = decode(seq, payload)?;
    if first.command != GENESIS {
        return Err(StoreError::Replay {
            seq,
            detail: format!("first record is {:?}, expected genesis", first.command),
        });
    }
    let mut state = State::new(Market::new(first.date));
    let mut events = 0;
    for (seq, payload) in records {
        events += state.apply(seq, decode(seq, payload)?)?;
    }
    state
        .market
        .check_invariants()
        .map_err(StoreError::Invariant)?;
    state
        .access
        .check_invariants(&state.market)
        .map_err(StoreError::Invariant)?;
    Ok((state, events))
}
