//! The PostgreSQL journal: the embedded [`ets_journal::Journal`]'s semantics on a PostgreSQL
//! table, so the same records (and the same hash chain) can live in either store.
//!
//! - [`PgJournal::open`] connects, takes the single-writer lock (a session-level
//!   `pg_try_advisory_lock` on a key derived from the schema name, see [`lock_key`]), creates the
//!   schema and its tables if absent, reads every record in seq order and verifies the sequence
//!   and the hash chain and the `head` anchor, and returns the records to replay.
//! - [`PgJournal::append_batch`] inserts a batch as one SQL transaction (all rows or none) and
//!   moves the anchor in the same transaction. When it returns `Ok`, the transaction is committed
//!   with `synchronous_commit = on`: that is the acknowledgement.
//! - [`verify`] and [`read`] check a journal in one read-only snapshot, without the lock.
//!
//! # Schema
//!
//! All in one PostgreSQL schema (namespace) chosen by the caller, so several journals can share
//! a database:
//!
//! ```sql
//! CREATE TABLE journal (
//!     seq         BIGINT PRIMARY KEY CHECK (seq >= 1),
//!     payload     BYTEA NOT NULL,
//!     prev_hash   BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
//!     hash        BYTEA NOT NULL CHECK (octet_length(hash) = 32),
//!     appended_at TIMESTAMPTZ DEFAULT now()
//! );
//! CREATE TABLE head (
//!     one  BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),   -- at most one row
//!     seq  BIGINT NOT NULL CHECK (seq >= 0),
//!     hash BYTEA NOT NULL CHECK (octet_length(hash) = 32)
//! );
//! ```
//!
//! `hash_n = SHA-256(hash_{n-1} || seq_n as u64 LE || payload_n)` with `hash_0` = 32 zero bytes
//! ([`GENESIS_HASH`]), exactly as in `ets-journal`: a journal copied between the two stores
//! verifies identically. `prev_hash` is redundant (it is the previous row's `hash`) and checked.
//! `appended_at` is informative only and not covered by the hash.
//!
//! # What is detected on open
//!
//! | Finding | Outcome |
//! |---|---|
//! | a seq missing or out of place, a `prev_hash` or `hash` that does not chain | [`PgJournalError::Corrupt`] naming the seq |
//! | the journal ends before `head`'s seq | [`PgJournalError::Truncated`] |
//! | the record at `head`'s seq has another hash | [`PgJournalError::Tampered`] |
//! | `head` missing while the journal has rows, more than one row, or behind the journal | [`PgJournalError::Anchor`] |
//!
//! Unlike the embedded journal there is no torn tail: PostgreSQL's transaction makes a batch
//! and its anchor move atomic, so `head` behind the journal means rows were added outside
//! [`PgJournal::append_batch`], and it is refused rather than moved forward.
//!
//! # Durability and its limits
//!
//! - The session sets `synchronous_commit = on`, so `COMMIT` returns only once the commit
//!   record is flushed to the server's WAL. The server's own `fsync = off` (or a disk that lies)
//!   defeats it; that is the operator's to configure.
//! - If [`PgJournal::append_batch`] fails, the journal refuses further appends
//!   ([`PgJournalError::Poisoned`]): a failure at `COMMIT` (e.g. the connection dropped) leaves
//!   the outcome unknown, and only a fresh [`PgJournal::open`] knows the truth. The caller must
//!   not acknowledge that batch.
//! - The single-writer lock lives as long as the connection: if the server ends the session,
//!   the lock is released and the next append fails (and poisons), so a second writer can never
//!   interleave with a first one that still believes it holds the lock.
//!
//! **Architecture Invariant:** this crate knows nothing of the domain; a payload is bytes.
//! **Architecture Invariant:** one writer per schema: an open [`PgJournal`] holds the
//! advisory lock of its schema.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};
use sha2::{Digest, Sha256};

pub use ets_journal::{BATCH_BYTES_MAX, BatchReceipt, GENESIS_HASH, Hash, Record};

/// The longest schema name PostgreSQL keeps (`NAMEDATALEN - 1`).
const SCHEMA_NAME_MAX: usize = 63;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub last_seq: u64,
    pub last_hash_hex: String,
    /// The seq `head` records (equal to `last_seq` in a journal that verifies).
    pub head_seq: u64,
}

/// Why the journal cannot be opened, verified or appended to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgJournalError {
    #[error("cannot connect to postgresql at {url}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error("invalid journal schema name {schema:?}: {why}")]
    InvalidSchema { schema: String, why: &'static str },
    #[error("postgresql error while {action} (journal schema {schema})")]
    Sql {
        schema: String,
        action: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("journal schema {schema} does not exist or has no journal and head tables")]
    NotFound { schema: String },
    #[error(
        "journal schema {schema} is locked by another writer (advisory lock {key}); only one \
         writer may append at a time"
    )]
    Locked { schema: String, key: i64 },
    #[error("journal schema {schema} is corrupt at seq {seq}: {what}")]
    Corrupt {
        schema: String,
        seq: u64,
        what: String,
    },
    #[error(
        "journal schema {schema} ends at seq {last_seq} but its head anchor records seq \
         {head_seq}: acknowledged records were cut off"
    )]
    Truncated {
        schema: String,
        last_seq: u64,
        head_seq: u64,
    },
    #[error(
        "journal schema {schema} has hash {} at seq {seq} but its head anchor records hash {}",
        hex::encode(log_hash),
        hex::encode(head_hash)
    )]
    Tampered {
        schema: String,
        seq: u64,
        log_hash: Hash,
        head_hash: Hash,
    },
    #[error("head anchor of journal schema {schema} is invalid: {what}")]
    Anchor { schema: String, what: String },
    #[error(
        "journal schema {schema}: the writes alongside the batch failed ({what}); batch rolled back"
    )]
    Alongside { schema: String, what: String },
    #[error("batch of {bytes} bytes exceeds the batch limit of {max} bytes")]
    BatchTooLarge { bytes: u64, max: u64 },
    #[error("journal schema {schema} refuses appends after an earlier failed append; reopen it")]
    Poisoned { schema: String },
    #[error(
        "journal schema {schema}: this writer (epoch {epoch}) was fenced off: another writer took \
         over (epoch {}); nothing was appended",
        current.map_or_else(|| "unknown".to_string(), |c| c.to_string())
    )]
    Fenced {
        schema: String,
        epoch: i64,
        /// The epoch in the `writer` row now (`None`: the row is gone).
        current: Option<i64>,
    },
}

/// An open PostgreSQL journal: the single writer of its schema.
pub struct PgJournal {
    client: Client,
    schema: String,
    insert: Statement,
    move_head: Statement,
    /// `UPDATE writer SET renewed_at = now() WHERE epoch = $1`: the fence of every append and
    /// the lease's renewal.
    renew: Statement,
    /// The writer epoch this journal claimed at open (see [`PgJournal::epoch`]).
    epoch: i64,
    last_seq: u64,
    last_hash: Hash,
    /// Set by any failed append: the outcome is then unknown until reopened.
    poisoned: bool,
    /// Reused per batch.
    seqs: Vec<i64>,
    hashes: Vec<Hash>,
}

impl std::fmt::Debug for PgJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJournal")
            .field("schema", &self.schema)
            .field("last_seq", &self.last_seq)
            .field("last_hash", &hex::encode(self.last_hash))
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl PgJournal {
    /// Connects to `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`, no TLS), takes the
    /// writer lock of `schema`, creates the schema and its tables if absent, verifies the whole
    /// journal and returns the records to replay.
    ///
    /// # Errors
    ///
    /// `Connect`, `InvalidSchema`, `Locked` if another writer holds the schema; `Corrupt`,
    /// `Truncated`, `Tampered` or `Anchor` if verification fails (nothing is modified then);
    /// `Sql` on any other database error.
    pub fn open(url: &str, schema: &str) -> Result<(PgJournal, Vec<Record>), PgJournalError> {
        check_schema_name(schema)?;
        let mut client = connect_as(url, &application_name(schema))?;
        let sql = |action: &'static str| sql_error(schema, action);
        client
            .batch_execute("SET synchronous_commit TO on")
            .map_err(sql("setting synchronous_commit"))?;
        let key = lock_key(schema);
        // A writer that just closed its connection (a restart, a reopen after a failure) has
        // its session lock released by the server asynchronously, once its backend has gone:
        // retry briefly before saying another writer holds it.
        let deadline = std::time::Instant::now() + LOCK_RETRY;
        loop {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(sql("taking the writer lock"))?
                .get(0);
            if locked {
                break;
            }
            if std::time::Instant::now() >= deadline {
                return Err(PgJournalError::Locked {
                    schema: schema.to_string(),
                    key,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        create(&mut client, schema)?;

        let mut records = Vec::new();
        let (last_seq, last_hash) = {
            let mut tx = snapshot(&mut client, schema)?;
            let end = scan(&mut tx, schema, |r| records.push(r))?;
            tx.commit().map_err(sql("ending the read transaction"))?;
            end
        };
        let q = quote(schema);
        let insert = client
            .prepare_typed(
                &format!(
                    "INSERT INTO {q}.journal (seq, payload, prev_hash, hash) \
                     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])"
                ),
                &[
                    Type::INT8_ARRAY,
                    Type::BYTEA_ARRAY,
                    Type::BYTEA_ARRAY,
                    Type::BYTEA_ARRAY,
                ],
            )
            .map_err(sql("preparing the insert"))?;
        let move_head = client
            .prepare_typed(
                &format!("UPDATE {q}.head SET seq = $1, hash = $2 WHERE seq = $3 AND hash = $4"),
                &[Type::INT8, Type::BYTEA, Type::INT8, Type::BYTEA],
            )
            .map_err(sql("preparing the head update"))?;
        let renew = client
            .prepare_typed(
                &format!("UPDATE {q}.writer SET renewed_at = now() WHERE epoch = $1"),
                &[Type::INT8],
            )
            .map_err(sql("preparing the lease renewal"))?;
        // Claim the writer lease: from now on a writer of an older epoch cannot append, even
        // if it still believed it held the lock (a paused process whose session survived).
        let epoch: i64 = client
            .query_one(
                &format!(
                    "UPDATE {q}.writer SET epoch = epoch + 1, renewed_at = now(), \
                     holder = $1 || ' (backend ' || pg_backend_pid() || ')' RETURNING epoch"
                ),
                &[&application_name(schema)],
            )
            .map_err(sql("claiming the writer epoch"))?
            .get(0);
        Ok((
            PgJournal {
                client,
                schema: schema.to_string(),
                insert,
                move_head,
                renew,
                epoch,
                last_seq,
                last_hash,
                poisoned: false,
                seqs: Vec::new(),
                hashes: Vec::new(),
            },
            records,
        ))
    }

    /// Appends `payloads` as one batch: one SQL transaction inserting every row and moving
    /// `head`, committed before this returns. An empty batch writes nothing.
    ///
    /// # Errors
    ///
    /// `BatchTooLarge` before anything is sent (the same limit as the embedded journal, so a
    /// batch fits one store iff it fits the other). Any other error poisons the journal: the
    /// batch must not be acknowledged, and only a reopen tells whether it was committed.
    pub fn append_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
    ) -> Result<BatchReceipt, PgJournalError> {
        self.append_batch_with(payloads, |_, _| Ok(()))
    }

    /// [`append_batch`](Self::append_batch), running `also` inside the same SQL transaction
    /// (with the first sequence number of the batch) before it commits: read tables kept in step
    /// with the journal. An `Err` from `also` rolls everything back and poisons the journal.
    pub fn append_batch_with<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
        also: impl FnOnce(&mut postgres::Transaction<'_>, u64) -> Result<(), String>,
    ) -> Result<BatchReceipt, PgJournalError> {
        if self.poisoned {
            return Err(PgJournalError::Poisoned {
                schema: self.schema.clone(),
            });
        }
        let first_seq = self.last_seq + 1;
        if payloads.is_empty() {
            return Ok(BatchReceipt {
                first_seq,
                last_seq: self.last_seq,
                last_hash: self.last_hash,
            });
        }
        let bytes = batch_bytes(payloads);
        if bytes > BATCH_BYTES_MAX as u64 {
            return Err(PgJournalError::BatchTooLarge {
                bytes,
                max: BATCH_BYTES_MAX as u64,
            });
        }

        self.seqs.clear();
        self.hashes.clear();
        let mut previous = self.last_hash;
        for (i, payload) in payloads.iter().enumerate() {
            let seq = first_seq + i as u64;
            self.seqs.push(to_i64(seq));
            previous = record_hash(&previous, seq, payload.as_ref());
            self.hashes.push(previous);
        }
        let last_seq = self.last_seq + payloads.len() as u64;
        let last_hash = previous;

        // Poisoned until committed: an early return below leaves it set.
        self.poisoned = true;
        let schema = self.schema.as_str();
        let sql = |action: &'static str| sql_error(schema, action);
        let payload_refs: Vec<&[u8]> = payloads.iter().map(AsRef::as_ref).collect();
        let prev_refs: Vec<&[u8]> = std::iter::once(&self.last_hash)
            .chain(&self.hashes[..self.hashes.len() - 1])
            .map(|h| &h[..])
            .collect();
        let hash_refs: Vec<&[u8]> = self.hashes.iter().map(|h| &h[..]).collect();

        let mut tx = self
            .client
            .transaction()
            .map_err(sql("beginning the batch"))?;
        // The fence, first: it locks the writer row, so a takeover (which bumps the epoch)
        // either commits before (and this batch is refused) or waits for this one.
        let still_writer = tx
            .execute(&self.renew, &[&self.epoch])
            .map_err(sql("checking the writer epoch"))?;
        if still_writer != 1 {
            drop(tx);
            return Err(self.fenced());
        }
        tx.execute(
            &self.insert,
            &[&self.seqs, &payload_refs, &prev_refs, &hash_refs],
        )
        .map_err(sql("inserting the batch"))?;
        let moved = tx
            .execute(
                &self.move_head,
                &[
                    &to_i64(last_seq),
                    &&last_hash[..],
                    &to_i64(self.last_seq),
                    &&self.last_hash[..],
                ],
            )
            .map_err(sql("moving the head anchor"))?;
        if moved != 1 {
            // Dropping `tx` rolls the batch back.
            return Err(PgJournalError::Anchor {
                schema: self.schema.clone(),
                what: format!(
                    "head no longer records seq {} (changed outside this writer); batch rolled back",
                    self.last_seq
                ),
            });
        }
        also(&mut tx, first_seq).map_err(|what| PgJournalError::Alongside {
            schema: self.schema.clone(),
            what,
        })?;
        tx.commit().map_err(sql("committing the batch"))?;
        self.poisoned = false;

        self.last_seq = last_seq;
        self.last_hash = last_hash;
        Ok(BatchReceipt {
            first_seq,
            last_seq,
            last_hash,
        })
    }

    /// Renews the writer lease (`writer.renewed_at`) while no batch does: a standby takes over
    /// from a writer whose lease is older than its limit (see [`Lease`]).
    ///
    /// # Errors
    ///
    /// `Fenced` if another writer has taken over, `Sql` if the connection failed; both poison.
    pub fn renew(&mut self) -> Result<(), PgJournalError> {
        if self.poisoned {
            return Err(PgJournalError::Poisoned {
                schema: self.schema.clone(),
            });
        }
        match self.client.execute(&self.renew, &[&self.epoch]) {
            Ok(1) => Ok(()),
            Ok(_) => {
                self.poisoned = true;
                Err(self.fenced())
            }
            Err(e) => {
                self.poisoned = true;
                Err(sql_error(&self.schema, "renewing the writer lease")(e))
            }
        }
    }

    /// The `Fenced` error, with the epoch now recorded (best effort).
    fn fenced(&mut self) -> PgJournalError {
        let q = quote(&self.schema);
        let current = self
            .client
            .query_opt(&format!("SELECT epoch FROM {q}.writer"), &[])
            .ok()
            .flatten()
            .map(|r| r.get(0));
        PgJournalError::Fenced {
            schema: self.schema.clone(),
            epoch: self.epoch,
            current,
        }
    }

    /// The writer epoch claimed at open: one more than the previous writer's. Every append
    /// checks, in its own transaction, that the `writer` row still records it.
    #[must_use]
    pub fn epoch(&self) -> i64 {
        self.epoch
    }
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
    #[must_use]
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }
    /// The writer's connection, for the tables that live beside the journal.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.schema
    }
    /// Whether an earlier append failed (then every append fails until reopened).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl Drop for PgJournal {
    /// Releases the writer lock at once rather than when the server notices the closed
    /// connection (asynchronously), so a writer reopened right after this one (a restart)
    /// finds it free. A poisoned journal's connection may be dead or hanging: left alone.
    fn drop(&mut self) {
        if !self.poisoned {
            let _ = self
                .client
                .execute("SELECT pg_advisory_unlock($1)", &[&lock_key(&self.schema)]);
        }
    }
}

/// The `application_name` of a writer's session (`ets writer <schema>`, cut to PostgreSQL's
/// 63 bytes): what `pg_stat_activity` shows, and how an operator (or a test) finds the writer's
/// backend.
#[must_use]
pub fn application_name(schema: &str) -> String {
    let mut name = format!("ets writer {schema}");
    name.truncate(SCHEMA_NAME_MAX);
    name
}

/// How long [`PgJournal::open`] retries a writer lock held by someone else.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(1000);

/// Checks the journal in `schema` in one read-only snapshot, without the writer lock and
/// without creating or modifying anything.
///
/// # Errors
///
/// As [`PgJournal::open`] (but never `Locked`), and `NotFound` if there is no journal there.
pub fn verify(url: &str, schema: &str) -> Result<VerifyReport, PgJournalError> {
    read_with(url, schema, |_| {})
}

/// [`verify`], also returning the records.
///
/// # Errors
///
/// As [`verify`].
pub fn read(url: &str, schema: &str) -> Result<(VerifyReport, Vec<Record>), PgJournalError> {
    let mut records = Vec::new();
    let report = read_with(url, schema, |r| records.push(r))?;
    Ok((report, records))
}

/// The writer lease as a standby sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The epoch of the last writer to open the journal (0: none yet).
    pub epoch: i64,
    /// Its `application_name` and backend pid, as it recorded them.
    pub holder: String,
    /// Milliseconds since the writer last renewed the lease (an append or [`PgJournal::renew`]),
    /// by the database's clock.
    pub age_ms: i64,
    /// The backend holding the writer's advisory lock now, if any.
    pub lock_pid: Option<i32>,
}

/// A reader that follows the journal as a writer elsewhere appends to it (a standby server):
/// every record it hands out is committed, and chained to the ones before.
pub struct Follower {
    client: Client,
    schema: String,
    last_seq: u64,
    last_hash: Hash,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("schema", &self.schema)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Connects and reads the whole journal in one snapshot, verified as [`read`] does.
    ///
    /// # Errors
    ///
    /// As [`read`].
    pub fn open(url: &str, schema: &str) -> Result<(Follower, Vec<Record>), PgJournalError> {
        check_schema_name(schema)?;
        let mut client = connect(url)?;
        let mut records = Vec::new();
        let (last_seq, last_hash) = {
            let mut tx = snapshot(&mut client, schema)?;
            if !tables_exist(&mut tx, schema)? {
                return Err(PgJournalError::NotFound {
                    schema: schema.to_string(),
                });
            }
            let end = scan(&mut tx, schema, |r| records.push(r))?;
            tx.commit()
                .map_err(sql_error(schema, "ending the read transaction"))?;
            end
        };
        Ok((
            Follower {
                client,
                schema: schema.to_string(),
                last_seq,
                last_hash,
            },
            records,
        ))
    }

    /// The records committed since the last call (or since [`open`](Self::open)), each checked
    /// to chain onto the one before.
    ///
    /// # Errors
    ///
    /// `Corrupt` if the new records do not continue the chain this follower has (the journal
    /// was rewritten under it), `Sql` on a database error.
    pub fn poll(&mut self) -> Result<Vec<Record>, PgJournalError> {
        let schema = self.schema.clone();
        let q = quote(&schema);
        let sql = |action: &'static str| sql_error(&schema, action);
        let mut tx = snapshot(&mut self.client, &schema)?;
        let rows = tx
            .query(
                &format!(
                    "SELECT seq, payload, prev_hash, hash FROM {q}.journal WHERE seq > $1 ORDER BY seq"
                ),
                &[&to_i64(self.last_seq)],
            )
            .map_err(sql("following the journal"))?;
        tx.commit().map_err(sql("ending the read transaction"))?;
        let mut out = Vec::with_capacity(rows.len());
        let (mut last_seq, mut last_hash) = (self.last_seq, self.last_hash);
        for row in rows {
            let expected = last_seq + 1;
            let seq: i64 = row.get(0);
            let payload: Vec<u8> = row.get(1);
            let prev: &[u8] = row.get(2);
            let hash: &[u8] = row.get(3);
            let computed = record_hash(&last_hash, expected, &payload);
            if u64::try_from(seq).ok() != Some(expected) || prev != last_hash || hash != computed {
                return Err(PgJournalError::Corrupt {
                    schema,
                    seq: expected,
                    what: format!(
                        "the record at seq {seq} does not continue the chain this follower read up \
                         to seq {last_seq}"
                    ),
                });
            }
            last_seq = expected;
            last_hash = computed;
            out.push(Record {
                seq: expected,
                payload,
                hash: computed,
            });
        }
        self.last_seq = last_seq;
        self.last_hash = last_hash;
        Ok(out)
    }

    /// The writer lease and who holds the writer lock now (`None` before any writer of this
    /// release opened the journal).
    ///
    /// # Errors
    ///
    /// `Sql` on a database error.
    pub fn lease(&mut self) -> Result<Option<Lease>, PgJournalError> {
        let q = quote(&self.schema);
        let sql = sql_error(&self.schema, "reading the writer lease");
        let exists: bool = self
            .client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{q}.writer")],
            )
            .map_err(&sql)?
            .get(0);
        if !exists {
            return Ok(None);
        }
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT epoch, holder, \
                     (extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::bigint, \
                     (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                        AND classid = (($1::bigint >> 32) & 4294967295)::oid \
                        AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1 LIMIT 1) \
                     FROM {q}.writer"
                ),
                &[&lock_key(&self.schema)],
            )
            .map_err(&sql)?;
        Ok(row.map(|r| Lease {
            epoch: r.get(0),
            holder: r.get(1),
            age_ms: r.get(2),
            lock_pid: r.get(3),
        }))
    }

    /// Ends the backend `pid` (a writer whose lease expired: paused or hung while its session
    /// lives on and holds the lock). Needs the writer's role or `pg_signal_backend`.
    ///
    /// # Errors
    ///
    /// `Sql` on a database error (including a missing privilege).
    pub fn terminate(&mut self, pid: i32) -> Result<bool, PgJournalError> {
        Ok(self
            .client
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .map_err(sql_error(
                &self.schema,
                "ending the expired writer's backend",
            ))?
            .get(0))
    }

    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
    #[must_use]
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }
}

/// The advisory lock key of the journal in `schema`: the first 8 bytes (LE) of
/// `SHA-256("ets-pg journal lock\0" || schema)`. Advisory locks are per database, so two
/// databases may hold journals of the same schema name. To see who holds it:
/// `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = ((key >> 32) &
/// 4294967295)::oid AND objid = (key & 4294967295)::oid AND objsubid = 1`.
#[must_use]
pub fn lock_key(schema: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"ets-pg journal lock\0")
        .chain_update(schema.as_bytes())
        .finalize();
    i64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// `hash_n = SHA-256(hash_{n-1} || seq_n as u64 LE || payload_n)`, as in `ets-journal`.
#[must_use]
pub fn record_hash(previous: &Hash, seq: u64, payload: &[u8]) -> Hash {
    Sha256::new()
        .chain_update(previous)
        .chain_update(seq.to_le_bytes())
        .chain_update(payload)
        .finalize()
        .into()
}

// ---- internals ---------------------------------------------------------------------------

fn read_with(
    url: &str,
    schema: &str,
    on_record: impl FnMut(Record),
) -> Result<VerifyReport, PgJournalError> {
    check_schema_name(schema)?;
    let mut client = connect(url)?;
    let mut tx = snapshot(&mut client, schema)?;
    if !tables_exist(&mut tx, schema)? {
        return Err(PgJournalError::NotFound {
            schema: schema.to_string(),
        });
    }
    let mut records = 0u64;
    let mut on_record = on_record;
    let (last_seq, last_hash) = scan(&mut tx, schema, |r| {
        records += 1;
        on_record(r);
    })?;
    tx.commit()
        .map_err(sql_error(schema, "ending the read transaction"))?;
    Ok(VerifyReport {
        records,
        last_seq,
        last_hash_hex: hex::encode(last_hash),
        // `scan` has checked that head is at the last record.
        head_seq: last_seq,
    })
}

fn connect(url: &str) -> Result<Client, PgJournalError> {
    connect_with(url, None)
}

/// [`connect`] with an `application_name` (unless the URL sets one).
fn connect_as(url: &str, name: &str) -> Result<Client, PgJournalError> {
    connect_with(url, Some(name))
}

/// How long a connection attempt may take unless the URL says (`connect_timeout`): a server
/// that reconnects after a failure, or a standby, must not hang on an unreachable host.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn connect_with(url: &str, name: Option<&str>) -> Result<Client, PgJournalError> {
    let error = |source| PgJournalError::Connect {
        url: redact(url),
        source,
    };
    let mut config: postgres::Config = url.parse().map_err(error)?;
    if let Some(name) = name
        && config.get_application_name().is_none()
    {
        config.application_name(name);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.connect(NoTls).map_err(error)
}

/// A read-only REPEATABLE READ transaction: the journal and `head` from one snapshot.
fn snapshot<'a>(client: &'a mut Client, schema: &str) -> Result<Transaction<'a>, PgJournalError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(sql_error(schema, "beginning the read transaction"))
}

/// Whether both tables of the journal exist in `schema`.
fn tables_exist(tx: &mut Transaction<'_>, schema: &str) -> Result<bool, PgJournalError> {
    let q = quote(schema);
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
            &[&format!("{q}.journal"), &format!("{q}.head")],
        )
        .map_err(sql_error(schema, "looking for the journal tables"))?;
    Ok(row.get(0))
}

/// Creates the schema, the tables and the genesis anchor, each only if absent (so a role
/// without CREATE can open an existing journal). Called with the writer lock held.
fn create(client: &mut Client, schema: &str) -> Result<(), PgJournalError> {
    let sql = |action: &'static str| sql_error(schema, action);
    let q = quote(schema);
    let mut tx = client.transaction().map_err(sql("beginning setup"))?;
    let schema_exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .map_err(sql("looking for the schema"))?
        .get(0);
    if !schema_exists {
        tx.batch_execute(&format!("CREATE SCHEMA {q}"))
            .map_err(sql("creating the schema"))?;
    }
    if !tables_exist(&mut tx, schema)? {
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {q}.journal (
                 seq BIGINT PRIMARY KEY CHECK (seq >= 1),
                 payload BYTEA NOT NULL,
                 prev_hash BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),
                 hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
                 appended_at TIMESTAMPTZ DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {q}.head (
                 one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
                 seq BIGINT NOT NULL CHECK (seq >= 0),
                 hash BYTEA NOT NULL CHECK (octet_length(hash) = 32)
             );"
        ))
        .map_err(sql("creating the tables"))?;
    }
    // The writer lease (added after the first release: created in existing journals too).
    let has_writer: bool = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{q}.writer")],
        )
        .map_err(sql("looking for the writer table"))?
        .get(0);
    if !has_writer {
        tx.batch_execute(&format!(
            "CREATE TABLE {q}.writer (
                 one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
                 epoch BIGINT NOT NULL CHECK (epoch >= 0),
                 holder TEXT NOT NULL,
                 renewed_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             INSERT INTO {q}.writer (epoch, holder) VALUES (0, '');"
        ))
        .map_err(sql("creating the writer table"))?;
    }
    let head_rows: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {q}.head"), &[])
        .map_err(sql("reading the head anchor"))?
        .get(0);
    if head_rows == 0 {
        let has_records: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {q}.journal)"), &[])
            .map_err(sql("reading the journal"))?
            .get(0);
        if has_records {
            return Err(PgJournalError::Anchor {
                schema: schema.to_string(),
                what: "head is missing while the journal holds records".into(),
            });
        }
        tx.execute(
            &format!("INSERT INTO {q}.head (seq, hash) VALUES (0, $1)"),
            &[&&GENESIS_HASH[..]],
        )
        .map_err(sql("writing the genesis anchor"))?;
    }
    tx.commit().map_err(sql("committing setup"))
}

/// Reads every record in seq order, verifying contiguity from 1 and the hash chain, hands each
/// to `on_record`, then checks `head`. Returns the last seq and hash.
fn scan(
    tx: &mut Transaction<'_>,
    schema: &str,
    mut on_record: impl FnMut(Record),
) -> Result<(u64, Hash), PgJournalError> {
    let sql = |action: &'static str| sql_error(schema, action);
    let q = quote(schema);
    let corrupt = |seq: u64, what: String| PgJournalError::Corrupt {
        schema: schema.to_string(),
        seq,
        what,
    };
    let mut last_seq = 0u64;
    let mut last_hash = GENESIS_HASH;
    {
        let mut rows = tx
            .query_raw(
                &format!("SELECT seq, payload, prev_hash, hash FROM {q}.journal ORDER BY seq"),
                std::iter::empty::<&dyn ToSql>(),
            )
            .map_err(sql("reading the journal"))?;
        while let Some(row) = rows.next().map_err(sql("reading the journal"))? {
            let expected = last_seq + 1;
            let seq: i64 = row.get(0);
            if u64::try_from(seq).ok() != Some(expected) {
                return Err(corrupt(
                    expected,
                    if seq > 0 && (seq as u64) > expected {
                        format!("record {expected} is missing (the next record is seq {seq})")
                    } else {
                        format!("expected seq {expected}, found seq {seq}")
                    },
                ));
            }
            let payload: Vec<u8> = row.get(1);
            let prev: &[u8] = row.get(2);
            let hash: &[u8] = row.get(3);
            if prev != last_hash {
                return Err(corrupt(
                    expected,
                    format!(
                        "prev_hash {} is not the hash of record {last_seq} ({})",
                        hex::encode(prev),
                        hex::encode(last_hash)
                    ),
                ));
            }
            let computed = record_hash(&last_hash, expected, &payload);
            if hash != computed {
                return Err(corrupt(
                    expected,
                    format!(
                        "stored hash {} is not SHA-256(prev_hash || seq || payload) = {}: the \
                         payload or the hash was edited",
                        hex::encode(hash),
                        hex::encode(computed)
                    ),
                ));
            }
            last_seq = expected;
            last_hash = computed;
            on_record(Record {
                seq: expected,
                payload,
                hash: computed,
            });
        }
    }

    let anchor = |what: String| PgJournalError::Anchor {
        schema: schema.to_string(),
        what,
    };
    let heads = tx
        .query(&format!("SELECT seq, hash FROM {q}.head"), &[])
        .map_err(sql("reading the head anchor"))?;
    let [head] = &heads[..] else {
        return Err(anchor(format!(
            "head has {} rows instead of one",
            heads.len()
        )));
    };
    let head_seq: i64 = head.get(0);
    let head_hash: &[u8] = head.get(1);
    let head_seq =
        u64::try_from(head_seq).map_err(|_| anchor(format!("negative seq {head_seq}")))?;
    let head_hash: Hash = head_hash
        .try_into()
        .map_err(|_| anchor(format!("hash of {} bytes", head_hash.len())))?;
    if head_seq > last_seq {
        return Err(PgJournalError::Truncated {
            schema: schema.to_string(),
            last_seq,
            head_seq,
        });
    }
    if head_seq < last_seq {
        return Err(anchor(format!(
            "head records seq {head_seq} but the journal ends at seq {last_seq}; head moves in \
             the same transaction as each batch, so the records after it were not appended by \
             this journal"
        )));
    }
    if head_hash != last_hash {
        if head_seq == 0 {
            return Err(anchor("the genesis anchor's hash is not zero".into()));
        }
        return Err(PgJournalError::Tampered {
            schema: schema.to_string(),
            seq: head_seq,
            log_hash: last_hash,
            head_hash,
        });
    }
    Ok((last_seq, last_hash))
}

/// The size the embedded journal gives a batch (`12 + Σ (36 + len)`), to apply its limit.
fn batch_bytes<P: AsRef<[u8]>>(payloads: &[P]) -> u64 {
    12 + payloads
        .iter()
        .map(|p| 36 + p.as_ref().len() as u64)
        .sum::<u64>()
}

fn to_i64(seq: u64) -> i64 {
    i64::try_from(seq).expect("seq fits a BIGINT")
}

fn sql_error(schema: &str, action: &'static str) -> impl Fn(postgres::Error) -> PgJournalError {
    let schema = schema.to_string();
    move |source| PgJournalError::Sql {
        schema: schema.clone(),
        action,
        source,
    }
}

/// Schema names are plain lower-case identifiers, so they need no case folding and quoting
/// them is only belt and braces.
fn check_schema_name(schema: &str) -> Result<(), PgJournalError> {
    let invalid = |why| {
        Err(PgJournalError::InvalidSchema {
            schema: schema.to_string(),
            why,
        })
    };
    let Some(first) = schema.bytes().next() else {
        return invalid("empty");
    };
    if schema.len() > SCHEMA_NAME_MAX {
        return invalid("longer than 63 bytes");
    }
    if !(first.is_ascii_lowercase() || first == b'_') {
        return invalid("must start with a lower-case ascii letter or '_'");
    }
    if !schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return invalid("only lower-case ascii letters, digits and '_' are allowed");
    }
    if schema.starts_with("pg_") {
        return invalid("names starting with pg_ are reserved by postgresql");
    }
    Ok(())
}

pub fn quote(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The URL without its password (`postgres://user:secret@host/db` → `postgres://user:***@host/db`).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // A key=value connection string: drop any password setting.
        return url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = if tail.contains("password=") {
        // Query parameters may carry the password too.
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let query: Vec<String> = query
            .split('&')
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***".to_string()
                } else {
                    kv.to_string()
                }
            })
            .collect();
        format!("{path}?{}", query.join("&"))
    } else {
        tail.to_string()
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => format!("{scheme}://{authority}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(check_schema_name("ets_test_1").is_ok());
        assert!(check_schema_name("_x").is_ok());
        for bad in ["", "1x", "Ets", "a-b", "a\"b", "pg_x", &"a".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=secret"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(
            redact("host=h user=u password=secret"),
            "host=h user=u password=***"
        );
    }

    #[test]
    fn the_hash_is_the_embedded_journals() {
        let dir = tempfile::tempdir().unwrap();
        let options = ets_journal::JournalOptions {
            sync: ets_journal::SyncMode::None,
            ..Default::default()
        };
        let (mut j, _) = ets_journal::Journal::open(dir.path(), options).unwrap();
        let r = j.append_batch(&[b"a".as_slice(), b"bc"]).unwrap();
        let h1 = record_hash(&GENESIS_HASH, 1, b"a");
        assert_eq!(record_hash(&h1, 2, b"bc"), r.last_hash);
    }
}
