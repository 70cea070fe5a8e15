//! The embedded store: a [`Market`] in memory in front of an [`ets_journal::Journal`] on disk.
//!
//! **Architecture Invariant:** nothing is acknowledged before it is durable. [`Store::submit`]
//! and friends return only after the journal batch holding the command's events is fsynced; if
//! the write fails the store is poisoned (its memory is ahead of its disk) and refuses further
//! work: reopening replays the journal, which is the truth.
//!
//! One journal record is one accepted command: an [`Entry`] with the envelope's date, initiator,
//! reason and key and the events it caused, as JSON. The first record is the genesis entry that
//! opens the registry. Replay applies every entry's events in order; the result is compared to
//! nothing but the invariants, because events (not commands) are what is replayed.

use std::path::{Path, PathBuf};

use ets_journal::{Journal, JournalError, JournalOptions, TornTail};
use ets_market::{Envelope, Event, Market, MarketError};
use ets_types::Date;
use serde::{Deserialize, Serialize};

/// Format version of journal entries.
const ENTRY_VERSION: u32 = 1;

/// One journal record: an accepted command and the events it caused.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub v: u32,
    pub command: String,
    pub date: Date,
    pub initiator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reason: String,
    pub events: Vec<Event>,
}

/// An [`Entry`] borrowed from the envelope and its events, for encoding without copying them:
/// the same fields in the same order, so it serializes to the same JSON and replays as an
/// [`Entry`].
#[derive(Serialize)]
struct EntryRef<'a> {
    v: u32,
    command: &'a str,
    #[serde(serialize_with = "date_str")]
    date: Date,
    initiator: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    reason: &'a str,
    events: &'a [Event],
}

impl<'a> EntryRef<'a> {
    fn of(env: &'a Envelope, events: &'a [Event]) -> EntryRef<'a> {
        EntryRef {
            v: ENTRY_VERSION,
            command: env.command.name(),
            date: env.date,
            initiator: &env.initiator,
            key: env.key.as_deref(),
            reason: &env.reason,
            events,
        }
    }
    /// Appends the JSON to `buf`.
    fn encode_into(&self, buf: &mut Vec<u8>) {
        serde_json::to_writer(buf, self).expect("entries serialize");
    }
}

/// A date as `Date` serializes it (`YYYY-MM-DD`), without allocating a `String` for it.
fn date_str<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = *b"0000-00-00";
    let mut put = |at: usize, width: usize, mut n: u16| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    // Dates are years 1900..=9999 by construction.
    put(0, 4, date.year());
    put(5, 2, date.month().into());
    put(8, 2, date.day().into());
    serializer.serialize_str(std::str::from_utf8(&text).expect("ascii digits"))
}

/// Journal payloads encoded back to back into one reused buffer: no allocation per entry.
#[derive(Default)]
struct Payloads {
    bytes: Vec<u8>,
    /// End offset of each payload in `bytes`.
    ends: Vec<usize>,
}

impl Payloads {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
    fn push(&mut self, entry: &EntryRef<'_>) {
        entry.encode_into(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }
    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    fn slices(&self) -> Vec<&[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
            .collect()
    }
}

impl Entry {
    fn genesis(date: Date) -> Entry {
        Entry {
            v: ENTRY_VERSION,
            command: "genesis".into(),
            date,
            initiator: "ets".into(),
            key: None,
            reason: "registry opened".into(),
            events: Vec::new(),
        }
    }
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("entries serialize")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("rejected: {0}")]
    Rejected(#[from] MarketError),
    #[error("item {index}: {error}")]
    RejectedAt { index: usize, error: MarketError },
    #[error("journal record {seq} cannot be replayed: {detail}")]
    Replay { seq: u64, detail: String },
    #[error(
        "the store is poisoned after a failed journal write; reopen it to recover from the journal"
    )]
    Poisoned,
}

/// What opening found.
#[derive(Debug)]
pub struct OpenReport {
    pub records: u64,
    pub events: u64,
    pub torn_tail: Option<TornTail>,
    pub created: bool,
}

pub struct Store {
    market: Market,
    journal: Journal,
    dir: PathBuf,
    poisoned: bool,
    /// Reused encoding buffer for the batch being journaled.
    payloads: Payloads,
}

impl Store {
    /// Opens the store in `dir`, creating it with a registry opened on `genesis` if it is new, and
    /// replays the journal. A torn tail is cut and reported in the [`OpenReport`].
    pub fn open(
        dir: impl AsRef<Path>,
        genesis: Date,
        options: JournalOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let (mut journal, recovered) = Journal::open(&dir, options)?;
        let mut report = OpenReport {
            records: recovered.records.len() as u64,
            events: 0,
            torn_tail: recovered.torn_tail,
            created: false,
        };
        let market = if recovered.records.is_empty() {
            journal.append_batch(&[Entry::genesis(genesis).encode()])?;
            report.created = true;
            report.records = 1;
            Market::new(genesis)
        } else {
            let (market, events) =
                replay(recovered.records.iter().map(|r| (r.seq, &r.payload[..])))?;
            report.events = events;
            market
        };
        Ok((
            Store {
                market,
                journal,
                dir,
                poisoned: false,
                payloads: Payloads::default(),
            },
            report,
        ))
    }

    pub fn market(&self) -> &Market {
        &self.market
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn last_seq(&self) -> u64 {
        self.journal.last_seq()
    }

    /// Executes one command and journals it; returns its events once durable.
    pub fn submit(&mut self, env: &Envelope) -> Result<Vec<Event>, StoreError> {
        self.ensure_healthy()?;
        let events = self.market.execute(env)?;
        self.payloads.clear();
        if !events.is_empty() {
            self.payloads.push(&EntryRef::of(env, &events));
        }
        self.append()?;
        Ok(events)
    }

    /// Executes commands all or nothing (a file of them), journaled as one atomic batch.
    pub fn submit_all(&mut self, envs: &[Envelope]) -> Result<Vec<Vec<Event>>, StoreError> {
        self.ensure_healthy()?;
        let results = self
            .market
            .execute_all(envs)
            .map_err(|(index, error)| StoreError::RejectedAt { index, error })?;
        self.payloads.clear();
        for (env, events) in envs.iter().zip(&results) {
            if !events.is_empty() {
                self.payloads.push(&EntryRef::of(env, events));
            }
        }
        self.append()?;
        Ok(results)
    }

    /// Executes independent commands, each accepted or rejected on its own, and journals the
    /// accepted ones as one batch (group commit): one fsync for all of them.
    pub fn submit_each(
        &mut self,
        envs: &[Envelope],
    ) -> Result<Vec<Result<Vec<Event>, MarketError>>, StoreError> {
        self.ensure_healthy()?;
        self.payloads.clear();
        let mut results = Vec::with_capacity(envs.len());
        for env in envs {
            let r = self.market.execute(env);
            if let Ok(events) = &r
                && !events.is_empty()
            {
                self.payloads.push(&EntryRef::of(env, events));
            }
            results.push(r);
        }
        self.append()?;
        Ok(results)
    }

    fn ensure_healthy(&self) -> Result<(), StoreError> {
        if self.poisoned {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Journals `self.payloads` as one batch (nothing if empty).
    fn append(&mut self) -> Result<(), StoreError> {
        if self.payloads.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.journal.append_batch(&self.payloads.slices()) {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }
}

/// Rebuilds a market from journal records `(seq, payload)`; returns it and the number of events.
pub fn replay<'a>(
    records: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<(Market, u64), StoreError> {
    let mut market: Option<Market> = None;
    let mut events = 0;
    for (seq, payload) in records {
        let entry: Entry = serde_json::from_slice(payload).map_err(|e| StoreError::Replay {
            seq,
            detail: format!("not a journal entry: {e}"),
        })?;
        if entry.v != ENTRY_VERSION {
            return Err(StoreError::Replay {
                seq,
                detail: format!(
                    "entry version {} (this build reads {ENTRY_VERSION})",
                    entry.v
                ),
            });
        }
        let m = match (&mut market, entry.command.as_str()) {
            (None, "genesis") => {
                market = Some(Market::new(entry.date));
                continue;
            }
            (None, other) => {
                return Err(StoreError::Replay {
                    seq,
                    detail: format!("first record is {other:?}, expected genesis"),
                });
            }
            (Some(_), "genesis") => {
                return Err(StoreError::Replay {
                    seq,
                    detail: "a second genesis record".into(),
                });
            }
            (Some(m), _) => m,
        };
        for event in &entry.events {
            m.apply(event).map_err(|e| StoreError::Replay {
                seq,
                detail: e.to_string(),
            })?;
            events += 1;
        }
    }
    let market = market.ok_or(StoreError::Replay {
        seq: 0,
        detail: "the journal is empty".into(),
    })?;
    Ok((market, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ets_market::Command;

    fn envelope(key: Option<&str>) -> Envelope {
        Envelope {
            date: Date::new(2021, 3, 1).unwrap(),
            initiator: "tester \"quoted\"".into(),
            key: key.map(str::to_string),
            reason: "why\nnot".into(),
            command: Command::RegisterHolder {
                holder: "trader-0001".into(),
            },
        }
    }

    #[test]
    fn dates_encode_as_date_does() {
        for (y, m, d) in [(1900, 1, 1), (2021, 3, 1), (2024, 2, 29), (9999, 12, 31)] {
            let date = Date::new(y, m, d).unwrap();
            let mut ours = Vec::new();
            date_str(&date, &mut serde_json::Serializer::new(&mut ours)).unwrap();
            assert_eq!(ours, serde_json::to_vec(&date).unwrap());
        }
    }

    /// The borrowed entry encodes to exactly the bytes of the owned one, so replay reads it.
    #[test]
    fn entry_ref_encodes_like_entry() {
        let mut market = Market::new(Date::new(2021, 1, 1).unwrap());
        for key in [None, Some("k-1")] {
            let env = envelope(key);
            let events = market.execute(&env).unwrap_or_default();
            let owned = Entry {
                v: ENTRY_VERSION,
                command: env.command.name().to_string(),
                date: env.date,
                initiator: env.initiator.clone(),
                key: env.key.clone(),
                reason: env.reason.clone(),
                events: events.clone(),
            };
            let mut payloads = Payloads::default();
            payloads.push(&EntryRef::of(&env, &events));
            payloads.push(&EntryRef::of(&env, &[]));
            let slices = payloads.slices();
            assert_eq!(slices.len(), 2);
            assert_eq!(slices[0], owned.encode());
            let decoded: Entry = serde_json::from_slice(slices[0]).unwrap();
            assert_eq!(decoded, owned);
            let empty: Entry = serde_json::from_slice(slices[1]).unwrap();
            assert!(empty.events.is_empty());
        }
    }
}
