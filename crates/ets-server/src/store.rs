//! The two stores the server runs on: the embedded journal in a directory (the default) and the
//! PostgreSQL journal with its read tables. Both keep the same records in the same hash chain;
//! the server replays them at start.
//!
//! A record is the embedded store's journal entry (`ets_store::Entry`: command, date, initiator,
//! reason, market events) with two more fields, the access events and the audit entry of the
//! request. `ets verify` and `ets_store::replay` read server journals as they read any other,
//! ignoring the extra fields.

use std::path::Path;

use ets_journal::{Journal, JournalOptions};
use ets_market::{Event, Market};
use ets_pg::PgJournal;
use ets_types::Date;
use serde::{Deserialize, Serialize};

use crate::access::{Access, AccessEvent};
use crate::core::{Audit, Policy, State};
use crate::pg_tables::{self, Marks};

pub const RECORD_VERSION: u32 = 1;

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub command: String,
    pub date: Date,
    pub initiator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reason: String,
    pub events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<AccessEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Audit>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("embedded journal: {0}")]
    Journal(#[from] ets_journal::JournalError),
    #[error("PostgreSQL journal: {0}")]
    Pg(#[from] ets_pg::PgJournalError),
    #[error("PostgreSQL read tables: {0}")]
    Tables(#[from] postgres::Error),
    #[error("journal record {seq} cannot be replayed: {detail}")]
    Replay { seq: u64, detail: String },
    #[error("{0}")]
    Url(String),
}

/// Where the journal is.
#[derive(Clone, Debug)]
pub enum Location {
    Dir(std::path::PathBuf),
    /// `postgres://…` and the schema that holds this market.
    Postgres {
        url: String,
        schema: String,
    },
}

impl Location {
    /// `--db` (a `postgres://` URL, optionally with `#schema`) or else the `--data` directory.
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
            Some(other) => Err(StoreError::Url(format!(
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

// One per server, so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    File(Journal),
    Pg(PgJournal),
}

impl Backend {
    /// Opens the journal at `location` (creating it with a genesis record on `genesis` when new)
    /// and rebuilds the state by replaying it.
    pub fn open(
        location: &Location,
        genesis: Date,
        policy: Policy,
    ) -> Result<(Backend, State), StoreError> {
        let (mut backend, records): (Backend, Vec<(u64, Vec<u8>)>) = match location {
            Location::Dir(dir) => {
                let (journal, recovered) = Journal::open(dir, JournalOptions::default())?;
                let records = recovered
                    .records
                    .into_iter()
                    .map(|r| (r.seq, r.payload))
                    .collect();
                (Backend::File(journal), records)
            }
            Location::Postgres { url, schema } => {
                let (mut journal, records) = PgJournal::open(url, schema)?;
                pg_tables::create(journal.client_mut(), schema)?;
                let records = records.into_iter().map(|r| (r.seq, r.payload)).collect();
                (Backend::Pg(journal), records)
            }
        };
        let name = match location {
            Location::Dir(_) => "embedded",
            Location::Postgres { .. } => "postgres",
        };
        if records.is_empty() {
            let genesis_record = Record {
                v: RECORD_VERSION,
                command: "genesis".into(),
                date: genesis,
                initiator: "ets".into(),
                key: None,
                reason: "registry opened".into(),
                events: Vec::new(),
                access: Vec::new(),
                audit: None,
            };
            let market = Market::new(genesis);
            let payload = serde_json::to_vec(&genesis_record).expect("records serialize");
            backend.append(&[payload], &market, Marks::START, &[])?;
            return Ok((
                backend,
                State::new(market, Access::default(), policy, name.into()),
            ));
        }
        let state = replay(&records, policy, name)?;
        if let Backend::Pg(j) = &mut backend {
            // The read tables are a projection: rebuilt from the replayed state at every start,
            // so they can never drift from the journal.
            let schema = j.schema().to_string();
            pg_tables::rebuild(j.client_mut(), &schema, &state)?;
        }
        Ok((backend, state))
    }

    /// Whether [`append`](Self::append) uses the batch's audit entries (the PostgreSQL audit
    /// table); the embedded journal has them in its records only.
    pub fn keeps_audits(&self) -> bool {
        matches!(self, Backend::Pg(_))
    }

    /// Appends one batch of records. For PostgreSQL the read tables are brought up to date in
    /// the same transaction with what changed since `from` and the batch's audit entries.
    pub fn append(
        &mut self,
        payloads: &[Vec<u8>],
        market: &Market,
        from: Marks,
        audits: &[Audit],
    ) -> Result<(), StoreError> {
        match self {
            Backend::File(j) => {
                j.append_batch(payloads)?;
            }
            Backend::Pg(j) => {
                let schema = j.schema().to_string();
                let mut table_error = None;
                let r = j.append_batch_with(payloads, |tx, first_seq| {
                    pg_tables::project(tx, &schema, market, from, audits, first_seq).map_err(|e| {
                        let text = e.to_string();
                        table_error = Some(e);
                        text
                    })
                });
                if let Some(e) = table_error {
                    return Err(StoreError::Tables(e));
                }
                r?;
            }
        }
        Ok(())
    }
}

/// Rebuilds the server's state from journal records.
pub fn replay(records: &[(u64, Vec<u8>)], policy: Policy, name: &str) -> Result<State, StoreError> {
    let mut state: Option<State> = None;
    for (seq, payload) in records {
        let seq = *seq;
        let err = |detail: String| StoreError::Replay { seq, detail };
        let record: Record = serde_json::from_slice(payload)
            .map_err(|e| err(format!("not a journal record: {e}")))?;
        if record.v != RECORD_VERSION {
            return Err(err(format!("record version {}", record.v)));
        }
        let st = match (&mut state, record.command.as_str()) {
            (None, "genesis") => {
                state = Some(State::new(
                    Market::new(record.date),
                    Access::default(),
                    policy.clone(),
                    name.into(),
                ));
                continue;
            }
            (None, other) => {
                return Err(err(format!("first record is {other:?}, expected genesis")));
            }
            (Some(_), "genesis") => return Err(err("a second genesis record".into())),
            (Some(s), _) => s,
        };
        for event in &record.events {
            st.market.apply(event).map_err(|e| err(e.to_string()))?;
        }
        for event in &record.access {
            st.access.apply(event).map_err(|e| err(e.0))?;
        }
        if let Some(audit) = record.audit {
            st.remember(audit);
        }
    }
    state.ok_or(StoreError::Replay {
        seq: 0,
        detail: "the journal is empty".into(),
    })
}
