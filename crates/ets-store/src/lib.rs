//! The store: the one way every part of `ets` reaches a market's journal.
//!
//! - [`record`]: the one record format (market events, access events, the request's audit
//!   entry), shared by the CLI, the demo and the server, and readable back to the first version.
//! - [`journal`]: the [`Journal`] trait and its two implementations, the embedded journal file
//!   and PostgreSQL (whose read tables are a projection written in each batch's transaction).
//! - [`state`]: what replay rebuilds ([`State`]: market, access, idempotency answers, audit
//!   tail) and [`replay`] itself, which checks the market's invariants at the end.
//! - [`writer`]: the single writer ([`Writer`]): batches, group commit, poisoning.
//! - this file: [`open`] for the writer, [`read`] for readers beside it, and [`Store`], a
//!   writer and its state together for the CLI's one-command-at-a-time steps.
//!
//! **Architecture Invariant:** nothing is acknowledged before it is durable: [`Store::submit`]
//! and friends, and [`Writer::commit`], return only after the batch holding the records is
//! fsynced (or committed). If a write fails the writer is poisoned (memory is ahead of the
//! disk) and refuses further work; reopening replays the journal, which is the truth.
//!
//! **Architecture Invariant:** one writer per journal (the file lock or PostgreSQL's advisory
//! lock), any number of readers beside it: [`read`] takes no lock and replays the durable
//! prefix, so reports, `holdings` and `verify` run while a server writes.

use std::path::Path;
use std::sync::Arc;

use ets_journal::{JournalError, JournalOptions, Storage, TornTail};
use ets_market::{Envelope, Event, Market, MarketError};
use ets_types::Date;

mod idempotency;
pub mod journal;
pub mod pg_tables;
pub mod record;
pub mod state;
pub mod writer;

pub use journal::{Batch, Journal, Location, ReadReport};
pub use pg_tables::Marks;
pub use record::{RECORD_VERSION, Record};
pub use state::{DateBehind, IDEMPOTENCY_TTL_MS, Remembered, State, idempotency_scope, replay};
pub use writer::Writer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("embedded journal: {0}")]
    Journal(#[from] JournalError),
    #[error("PostgreSQL journal: {0}")]
    Pg(#[from] ets_pg::PgJournalError),
    #[error("PostgreSQL read tables: {0}")]
    Tables(#[from] postgres::Error),
    #[error("rejected: {0}")]
    Rejected(#[from] MarketError),
    #[error("item {index}: {error}")]
    RejectedAt { index: usize, error: MarketError },
    #[error("journal record {seq} cannot be replayed: {detail}")]
    Replay { seq: u64, detail: String },
    #[error("the replayed market breaks an invariant: {0}")]
    Invariant(String),
    #[error(
        "the store is poisoned after a failed journal write; reopen it to recover from the journal"
    )]
    Poisoned,
    #[error("{0}")]
    Location(String),
    #[error(
        "the journal no longer holds record {seq} as this writer acknowledged it ({what}): \
         acknowledged data was lost or rewritten; refusing to continue"
    )]
    Lost { seq: u64, what: String },
}

impl StoreError {
    /// Another writer holds the journal (PostgreSQL's advisory lock): the caller may follow it
    /// as a standby.
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Pg(ets_pg::PgJournalError::Locked { .. }))
    }
}

/// What opening found.
#[derive(Debug)]
pub struct OpenReport {
    pub records: u64,
    pub events: u64,
    pub torn_tail: Option<TornTail>,
    pub created: bool,
}

/// Opens the journal at `location` for writing (creating it with a genesis record on `genesis`
/// if it is new), replays it, checks the market's invariants, rebuilds any projection, and
/// returns the state and its writer. A torn tail of the embedded journal is cut and reported.
pub fn open(
    location: &Location,
    genesis: Date,
    options: JournalOptions,
) -> Result<(State, Writer, OpenReport), StoreError> {
    open_journal(journal::open(location, options)?, genesis)
}

/// [`open`] of the embedded journal in `dir` on another [`Storage`] than the real file system
/// (the fault simulation's in-memory disk).
pub fn open_in(
    storage: Arc<dyn Storage>,
    dir: &Path,
    genesis: Date,
    options: JournalOptions,
) -> Result<(State, Writer, OpenReport), StoreError> {
    open_journal(journal::open_in(storage, dir, options)?, genesis)
}

/// How to open a store again, after its writer failed (a lost database connection, a failed
/// fsync): the same location (or storage), genesis date and options as the first open.
#[derive(Clone)]
pub struct Reopen {
    source: Source,
    genesis: Date,
    options: JournalOptions,
}

#[derive(Clone)]
enum Source {
    Location(Location),
    Storage(Arc<dyn Storage>, std::path::PathBuf),
}

impl Reopen {
    /// The store at `location` (see [`open`]).
    pub fn at(location: &Location, genesis: Date, options: JournalOptions) -> Reopen {
        Reopen {
            source: Source::Location(location.clone()),
            genesis,
            options,
        }
    }

    /// The embedded store in `dir` on `storage` (see [`open_in`]).
    pub fn in_storage(
        storage: Arc<dyn Storage>,
        dir: &Path,
        genesis: Date,
        options: JournalOptions,
    ) -> Reopen {
        Reopen {
            source: Source::Storage(storage, dir.to_path_buf()),
            genesis,
            options,
        }
    }

    /// The PostgreSQL location, if the store is there (only it can have a standby).
    pub fn location(&self) -> Option<&Location> {
        match &self.source {
            Source::Location(l) => Some(l),
            Source::Storage(..) => None,
        }
    }

    /// Opens the store for writing (see [`open`]).
    pub fn open(&self) -> Result<(State, Writer, OpenReport), StoreError> {
        self.open_checked(None)
    }

    /// Opens the store again for writing and checks that the journal still holds `durable`
    /// (`(seq, hash)`, the last record acknowledged before: [`Writer::durable`]). The journal
    /// may hold more (the batch whose commit failed may have been committed after all: it is
    /// durable now and part of the state); it must not hold less, or another record there.
    /// The state is replayed from the journal, so nothing that was not durable survives.
    ///
    /// # Errors
    ///
    /// As [`open`], and `Lost` when the journal no longer holds `durable`.
    pub fn reopen(
        &self,
        durable: (u64, ets_journal::Hash),
    ) -> Result<(State, Writer, OpenReport), StoreError> {
        self.open_checked(Some(durable))
    }

    fn open_checked(
        &self,
        durable: Option<(u64, ets_journal::Hash)>,
    ) -> Result<(State, Writer, OpenReport), StoreError> {
        let opened = match &self.source {
            Source::Location(l) => journal::open(l, self.options)?,
            Source::Storage(storage, dir) => journal::open_in(storage.clone(), dir, self.options)?,
        };
        if let Some((seq, hash)) = durable {
            check_durable(&opened, seq, &hash)?;
        }
        open_journal(opened, self.genesis)
    }
}

/// The record `seq` of `opened` has `hash` (seq 0: nothing to check).
fn check_durable(
    opened: &journal::Opened,
    seq: u64,
    hash: &ets_journal::Hash,
) -> Result<(), StoreError> {
    if seq == 0 {
        return Ok(());
    }
    let found = opened
        .records
        .iter()
        .position(|(s, _)| *s == seq)
        .map(|i| opened.hashes[i]);
    match found {
        Some(h) if h == *hash => Ok(()),
        Some(_) => Err(StoreError::Lost {
            seq,
            what: "the record there has another hash".into(),
        }),
        None => Err(StoreError::Lost {
            seq,
            what: format!(
                "the journal ends at seq {}",
                opened.records.last().map_or(0, |(s, _)| *s)
            ),
        }),
    }
}

/// A standby's view of a PostgreSQL journal another server writes: the durable (committed)
/// records replayed, and more applied as they are committed.
pub struct Follower {
    inner: ets_pg::Follower,
}

impl Follower {
    /// Reads and replays the journal at `location` (PostgreSQL only), checking that it holds
    /// `durable` (`(seq, hash)`) when given: what this server acknowledged or served before.
    pub fn open(
        location: &Location,
        durable: Option<(u64, ets_journal::Hash)>,
    ) -> Result<(State, Follower), StoreError> {
        let Location::Postgres { url, schema } = location else {
            return Err(StoreError::Location(
                "only a PostgreSQL store can be followed by a standby".into(),
            ));
        };
        let (inner, records) = ets_pg::Follower::open(url, schema)?;
        if let Some((seq, hash)) = durable
            && seq > 0
        {
            match records.get((seq - 1) as usize) {
                Some(r) if r.seq == seq && r.hash == hash => {}
                Some(_) => {
                    return Err(StoreError::Lost {
                        seq,
                        what: "the record there has another hash".into(),
                    });
                }
                None => {
                    return Err(StoreError::Lost {
                        seq,
                        what: format!("the journal ends at seq {}", records.len()),
                    });
                }
            }
        }
        let (state, _) = replay(records.iter().map(|r| (r.seq, &r.payload[..])))?;
        Ok((state, Follower { inner }))
    }

    /// The records committed since the last call, to apply with [`State::follow`] (fetched
    /// here, without the state's lock).
    pub fn poll(&mut self) -> Result<Vec<ets_journal::Record>, StoreError> {
        Ok(self.inner.poll()?)
    }

    /// The writer lease and the lock's holder (see [`ets_pg::Lease`]).
    pub fn lease(&mut self) -> Result<Option<ets_pg::Lease>, StoreError> {
        Ok(self.inner.lease()?)
    }

    /// Ends a backend (a writer whose lease expired).
    pub fn terminate(&mut self, pid: i32) -> Result<bool, StoreError> {
        Ok(self.inner.terminate(pid)?)
    }

    /// The last record applied, `(seq, hash)`: what the journal must hold when this standby
    /// takes over.
    pub fn durable(&self) -> (u64, ets_journal::Hash) {
        (self.inner.last_seq(), self.inner.last_hash())
    }
}

fn open_journal(
    opened: journal::Opened,
    genesis: Date,
) -> Result<(State, Writer, OpenReport), StoreError> {
    let mut report = OpenReport {
        records: opened.records.len() as u64,
        events: 0,
        torn_tail: opened.torn_tail,
        created: false,
    };
    let mut writer = Writer::new(opened.journal);
    if opened.records.is_empty() {
        let mut state = State::new(Market::new(genesis));
        // Marks from the start: the genesis batch projects the (empty) market whole.
        writer.begin(&state.market);
        writer.push(&mut state, Record::genesis(genesis));
        writer.commit(&state.market)?;
        report.created = true;
        report.records = 1;
        return Ok((state, writer, report));
    }
    let (state, events) = replay(opened.records.iter().map(|(s, p)| (*s, &p[..])))?;
    report.events = events;
    writer.rebuild_projection(&state.market)?;
    Ok((state, writer, report))
}

/// Reads the journal at `location` beside a running writer (no lock taken, nothing modified):
/// verifies its hash chain, replays its durable prefix and checks the invariants.
pub fn read(location: &Location) -> Result<(State, ReadReport), StoreError> {
    replay_durable(journal::read_durable(location)?)
}

/// [`read`] of the embedded journal in `dir` on another [`Storage`] than the real file system.
pub fn read_in(storage: &dyn Storage, dir: &Path) -> Result<(State, ReadReport), StoreError> {
    replay_durable(journal::read_durable_in(storage, dir)?)
}

fn replay_durable(
    (mut report, records): (ReadReport, journal::Records),
) -> Result<(State, ReadReport), StoreError> {
    let (state, events) = replay(records.iter().map(|(s, p)| (*s, &p[..])))?;
    report.events = events;
    Ok((state, report))
}

/// A writer and its state, for one command (or one file of them) at a time: the CLI's steps,
/// the demo, tests and benchmarks.
pub struct Store {
    state: State,
    writer: Writer,
}

impl Store {
    /// Opens the embedded store in `dir` (see [`open`]).
    pub fn open(
        dir: impl AsRef<Path>,
        genesis: Date,
        options: JournalOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        Store::open_at(&Location::Dir(dir.as_ref().to_path_buf()), genesis, options)
    }

    /// Opens the embedded store in `dir` on `storage` (see [`open_in`]).
    pub fn open_in(
        storage: Arc<dyn Storage>,
        dir: &Path,
        genesis: Date,
        options: JournalOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        let (state, writer, report) = open_in(storage, dir, genesis, options)?;
        Ok((Store { state, writer }, report))
    }

    /// Opens the store at `location` (see [`open`]).
    pub fn open_at(
        location: &Location,
        genesis: Date,
        options: JournalOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        let (state, writer, report) = open(location, genesis, options)?;
        Ok((Store { state, writer }, report))
    }

    pub fn market(&self) -> &Market {
        &self.state.market
    }
    pub fn state(&self) -> &State {
        &self.state
    }
    pub fn last_seq(&self) -> u64 {
        self.writer.last_seq()
    }
    /// The state and the writer apart, for a server that keeps the state behind a lock.
    pub fn into_parts(self) -> (State, Writer) {
        (self.state, self.writer)
    }

    /// Executes one command and journals it; returns its events once durable.
    pub fn submit(&mut self, env: &Envelope) -> Result<Vec<Event>, StoreError> {
        self.writer.ensure_healthy()?;
        // The batch starts where the market stands before the command (the projection takes
        // in what changed since).
        self.writer.begin(&self.state.market);
        let events = self.state.market.execute(env)?;
        if !events.is_empty() {
            self.writer.push_command(env, &events);
            self.state.note_date(env.date);
        }
        self.writer.commit(&self.state.market)?;
        Ok(events)
    }

    /// Executes commands all or nothing (a file of them), journaled as one atomic batch.
    pub fn submit_all(&mut self, envs: &[Envelope]) -> Result<Vec<Vec<Event>>, StoreError> {
        self.writer.ensure_healthy()?;
        self.writer.begin(&self.state.market);
        let results = self
            .state
            .market
            .execute_all(envs)
            .map_err(|(index, error)| StoreError::RejectedAt { index, error })?;
        for (env, events) in envs.iter().zip(&results) {
            if !events.is_empty() {
                self.writer.push_command(env, events);
                self.state.note_date(env.date);
            }
        }
        self.writer.commit(&self.state.market)?;
        Ok(results)
    }

    /// Executes independent commands, each accepted or rejected on its own, and journals the
    /// accepted ones as one batch (group commit): one fsync for all of them.
    pub fn submit_each(
        &mut self,
        envs: &[Envelope],
    ) -> Result<Vec<Result<Vec<Event>, MarketError>>, StoreError> {
        self.writer.ensure_healthy()?;
        self.writer.begin(&self.state.market);
        let mut results = Vec::with_capacity(envs.len());
        for env in envs {
            let r = self.state.market.execute(env);
            if let Ok(events) = &r
                && !events.is_empty()
            {
                self.writer.push_command(env, events);
                self.state.note_date(env.date);
            }
            results.push(r);
        }
        self.writer.commit(&self.state.market)?;
        Ok(results)
    }
}
