//! The single writer's side of a store: the open journal, the batch being assembled, and the
//! poisoning that follows a failed write.

use ets_access::Audit;
use ets_market::{Envelope, Event, Market};

use crate::StoreError;
use crate::journal::{Batch, Journal};
use crate::pg_tables::Marks;
use crate::record::{CommandRecord, Payloads, Record};
use crate::state::State;

/// Assembles batches of records and appends them to the journal (group commit: one fsync or
/// one SQL transaction per batch).
///
/// A batch is `begin`, any number of `push`es (each applied to the [`State`] by the caller
/// before it is pushed), then `commit`. If the commit fails the writer is poisoned: memory is
/// then ahead of the journal, nothing of the batch may be acknowledged, and every later commit
/// is refused; reopening replays the journal, which is the truth.
pub struct Writer {
    journal: Box<dyn Journal>,
    poisoned: bool,
    payloads: Payloads,
    /// The batch's audit entries (without their remembered responses) with their record's
    /// index, for a journal that keeps them in a table of their own.
    audits: Vec<(u64, Audit)>,
    from: Marks,
}

impl Writer {
    pub(crate) fn new(journal: Box<dyn Journal>) -> Writer {
        Writer {
            journal,
            poisoned: false,
            payloads: Payloads::default(),
            audits: Vec::new(),
            from: Marks::START,
        }
    }

    /// `embedded` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.journal.kind()
    }
    pub fn last_seq(&self) -> u64 {
        self.journal.last_seq()
    }
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
    /// The last record known durable, `(seq, hash)`: after a failed commit, what a reopen must
    /// still find ([`crate::Reopen::reopen`]).
    pub fn durable(&self) -> (u64, ets_journal::Hash) {
        (self.journal.last_seq(), self.journal.last_hash())
    }

    /// Renews the writer's claim on the journal while idle (PostgreSQL's lease); a failure
    /// poisons the writer, as a failed commit does.
    pub fn renew(&mut self) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let r = self.journal.renew();
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Starts a batch on `market` as it stands before the batch.
    pub fn begin(&mut self, market: &Market) {
        self.payloads.clear();
        self.audits.clear();
        self.from = Marks::of(market);
    }

    /// Adds a record to the batch. Its audit entry, if any, moves into `state` (where an
    /// idempotent answer is remembered for retries) once the record is encoded.
    pub fn push(&mut self, state: &mut State, record: Record) {
        if !record.events.is_empty() {
            state.note_date(record.date);
        }
        self.payloads.push_with(|b| record.encode_into(b));
        if let Some(audit) = record.audit {
            if self.journal.keeps_audits() {
                self.audits
                    .push(((self.payloads.len() - 1) as u64, audit.clone_head()));
            }
            state.remember(audit);
        }
    }

    /// Adds the record of an accepted market command, encoded from the borrowed envelope and
    /// events (the CLI's path: no copy).
    pub(crate) fn push_command(&mut self, env: &Envelope, events: &[Event]) {
        self.payloads
            .push_with(|b| CommandRecord::of(env, events).encode_into(b));
    }

    /// Records in the batch so far.
    pub fn pending(&self) -> usize {
        self.payloads.len()
    }

    /// Appends the batch (nothing if it is empty); `market` is the state after it. Returns once
    /// it is durable.
    pub fn commit(&mut self, market: &Market) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        if self.payloads.len() == 0 {
            return Ok(());
        }
        let slices = self.payloads.slices();
        let batch = Batch {
            payloads: &slices,
            from: self.from,
            audits: &self.audits,
        };
        let result = self.journal.append(&batch, market);
        drop(slices);
        self.payloads.clear();
        self.audits.clear();
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    pub(crate) fn ensure_healthy(&self) -> Result<(), StoreError> {
        if self.poisoned {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    pub(crate) fn rebuild_projection(&mut self, market: &Market) -> Result<(), StoreError> {
        self.journal.rebuild_projection(market)
    }
}
