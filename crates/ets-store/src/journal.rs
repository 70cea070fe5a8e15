//! Where records are kept: the [`Journal`] trait and its two implementations, the embedded
//! journal file ([`ets_journal`]) and PostgreSQL ([`ets_pg`], with the read tables of
//! [`crate::pg_tables`] written in the same SQL transaction as each batch).
//!
//! Both keep the same records in the same hash chain; a market moves from one to the other by
//! replaying its records (`docs/postgres.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ets_access::Audit;
use ets_journal::{Hash, JournalOptions, Storage, TornTail};
use ets_market::Market;
use ets_pg::PgJournal;

use crate::StoreError;
use crate::pg_tables::{self, Marks};

/// Where a market's journal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The embedded journal in a directory.
    Dir(PathBuf),
    /// `postgres://…` and the schema that holds this market.
    Postgres { url: String, schema: String },
}

impl Location {
    /// `--db` (a `postgres://` URL, optionally with `#schema`, default schema `ets`) or else the
    /// `--data` directory.
    pub fn parse(db: Option<&str>, data: &Path) -> Result<Location, StoreError> {
        match db {
            None => Ok(Location::Dir(data.to_path_buf())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let (url, schema) = match url.split_once('#') {
                    Some((u, s)) => (u.to_string(), s.to_string()),
                    None => (url.to_string(), "ets".to_string()),
                };
                Ok(Location::Postgres { url, schema })
            }
            Some(other) => Err(StoreError::Location(format!(
                "--db {other:?}: expected postgres://user@host:port/database[#schema]"
            ))),
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Location::Dir(d) => format!("embedded journal in {}", d.display()),
            Location::Postgres { url, schema } => format!("PostgreSQL {url} schema {schema}"),
        }
    }
}

/// One batch of encoded records, with what a projection needs: where the market stood before
/// it, and the audit entries it holds (each with its record's index in the batch).
pub struct Batch<'a> {
    pub payloads: &'a [&'a [u8]],
    pub from: Marks,
    pub audits: &'a [(u64, Audit)],
}

/// A journal that appends batches of records atomically and durably.
///
/// **Architecture Invariant:** when `append` returns `Ok`, every record of the batch is durable
/// (fsynced, or committed with `synchronous_commit = on`) and, for PostgreSQL, the read tables
/// show exactly the state after it. When it returns `Err`, the outcome is unknown and the
/// journal refuses further appends until reopened.
pub trait Journal: Send {
    /// `embedded` or `postgres`.
    fn kind(&self) -> &'static str;
    fn last_seq(&self) -> u64;
    /// The hash of the last record appended (or found at open): with [`last_seq`](Self::last_seq),
    /// what a reopen must find again.
    fn last_hash(&self) -> Hash;
    /// Keeps the writer's claim alive while no batch does (PostgreSQL's writer lease, renewed
    /// by every append too); nothing for the embedded journal, whose lock is a file lock.
    ///
    /// # Errors
    ///
    /// The journal can no longer write: fenced off by another writer, or its connection failed.
    fn renew(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether [`append`](Self::append) uses the batch's audit entries (the PostgreSQL audit
    /// table); the embedded journal has them in its records only.
    fn keeps_audits(&self) -> bool;
    /// Appends `batch`; `market` is the state after it.
    fn append(&mut self, batch: &Batch<'_>, market: &Market) -> Result<(), StoreError>;
    /// Rebuilds whatever the journal projects (PostgreSQL's read tables) from a replayed
    /// market: done at every start, so a projection can never drift from the journal.
    fn rebuild_projection(&mut self, market: &Market) -> Result<(), StoreError>;
}

struct FileJournal(ets_journal::Journal);

impl Journal for FileJournal {
    fn kind(&self) -> &'static str {
        "embedded"
    }
    fn last_seq(&self) -> u64 {
        self.0.last_seq()
    }
    fn last_hash(&self) -> Hash {
        self.0.last_hash()
    }
    fn keeps_audits(&self) -> bool {
        false
    }
    fn append(&mut self, batch: &Batch<'_>, _: &Market) -> Result<(), StoreError> {
        self.0.append_batch(batch.payloads)?;
        Ok(())
    }
    fn rebuild_projection(&mut self, _: &Market) -> Result<(), StoreError> {
        Ok(())
    }
}

struct PostgresJournal(PgJournal);

impl Journal for PostgresJournal {
    fn kind(&self) -> &'static str {
        "postgres"
    }
    fn last_seq(&self) -> u64 {
        self.0.last_seq()
    }
    fn last_hash(&self) -> Hash {
        self.0.last_hash()
    }
    fn renew(&mut self) -> Result<(), StoreError> {
        Ok(self.0.renew()?)
    }
    fn keeps_audits(&self) -> bool {
        true
    }
    fn append(&mut self, batch: &Batch<'_>, market: &Market) -> Result<(), StoreError> {
        let schema = self.0.schema().to_string();
        let mut table_error = None;
        let r = self.0.append_batch_with(batch.payloads, |tx, first_seq| {
            pg_tables::project(tx, &schema, market, batch.from, batch.audits, first_seq).map_err(
                |e| {
                    let text = e.to_string();
                    table_error = Some(e);
                    text
                },
            )
        });
        if let Some(e) = table_error {
            return Err(StoreError::Tables(e));
        }
        r?;
        Ok(())
    }
    fn rebuild_projection(&mut self, market: &Market) -> Result<(), StoreError> {
        let schema = self.0.schema().to_string();
        pg_tables::rebuild(self.0.client_mut(), &schema, market)?;
        Ok(())
    }
}

/// Journal records as `(seq, payload)`.
pub(crate) type Records = Vec<(u64, Vec<u8>)>;

/// A journal opened for writing, with the records it holds.
pub(crate) struct Opened {
    pub journal: Box<dyn Journal>,
    pub records: Records,
    /// The hash of each record, in the same order.
    pub hashes: Vec<Hash>,
    pub torn_tail: Option<TornTail>,
}

/// Opens the journal at `location` for writing (taking its single-writer lock).
pub(crate) fn open(location: &Location, options: JournalOptions) -> Result<Opened, StoreError> {
    match location {
        Location::Dir(dir) => open_in(Arc::new(ets_journal::OsStorage), dir, options),
        Location::Postgres { url, schema } => {
            let (mut journal, records) = PgJournal::open(url, schema)?;
            pg_tables::create(journal.client_mut(), schema)?;
            Ok(Opened {
                journal: Box::new(PostgresJournal(journal)),
                hashes: records.iter().map(|r| r.hash).collect(),
                records: records.into_iter().map(|r| (r.seq, r.payload)).collect(),
                torn_tail: None,
            })
        }
    }
}

/// Opens the embedded journal in `dir` on `storage` for writing.
pub(crate) fn open_in(
    storage: Arc<dyn Storage>,
    dir: &Path,
    options: JournalOptions,
) -> Result<Opened, StoreError> {
    let (journal, recovered) = ets_journal::Journal::open_in(storage, dir, options)?;
    Ok(Opened {
        journal: Box::new(FileJournal(journal)),
        hashes: recovered.records.iter().map(|r| r.hash).collect(),
        records: recovered
            .records
            .into_iter()
            .map(|r| (r.seq, r.payload))
            .collect(),
        torn_tail: recovered.torn_tail,
    })
}

/// What a read-only reader found: the durable prefix it replayed.
#[derive(Debug, Clone)]
pub struct ReadReport {
    /// `embedded` or `postgres`.
    pub kind: &'static str,
    /// Records in the journal when read, and the last of them.
    pub records: u64,
    pub last_seq: u64,
    pub last_hash_hex: String,
    /// The last record known durable (the HEAD anchor, or PostgreSQL's committed head): the
    /// reader replays records up to here and no further.
    pub durable_seq: u64,
    /// Market events replayed.
    pub events: u64,
    /// Embedded journal only: batches, bytes, and a frame being written (or torn by a crash).
    pub frames: Option<u64>,
    pub bytes: Option<u64>,
    pub torn_tail: Option<TornTail>,
}

/// Reads the journal at `location` without its writer lock, verifying the hash chain, and
/// returns the durable records: those up to the HEAD anchor (embedded; a running writer moves
/// it only after the batch is fsynced and before acknowledging it) or those committed
/// (PostgreSQL, one read-only snapshot).
pub(crate) fn read_durable(location: &Location) -> Result<(ReadReport, Records), StoreError> {
    match location {
        Location::Dir(dir) => read_durable_in(&ets_journal::OsStorage, dir),
        Location::Postgres { url, schema } => {
            let (report, records) = ets_pg::read(url, schema)?;
            Ok((
                ReadReport {
                    kind: "postgres",
                    records: report.records,
                    last_seq: report.last_seq,
                    last_hash_hex: report.last_hash_hex,
                    durable_seq: report.head_seq,
                    events: 0,
                    frames: None,
                    bytes: None,
                    torn_tail: None,
                },
                records.into_iter().map(|r| (r.seq, r.payload)).collect(),
            ))
        }
    }
}

/// [`read_durable`] of the embedded journal in `dir` on `storage`.
pub(crate) fn read_durable_in(
    storage: &dyn Storage,
    dir: &Path,
) -> Result<(ReadReport, Records), StoreError> {
    let (report, records) = ets_journal::read_in(storage, dir)?;
    let durable = report.head_seq;
    let records: Records = records
        .into_iter()
        .filter(|r| r.seq <= durable)
        .map(|r| (r.seq, r.payload))
        .collect();
    Ok((
        ReadReport {
            kind: "embedded",
            records: report.records,
            last_seq: report.last_seq,
            last_hash_hex: report.last_hash_hex,
            durable_seq: durable,
            events: 0,
            frames: Some(report.frames),
            bytes: Some(report.bytes),
            torn_tail: report.torn_tail,
        },
        records,
    ))
}
