//! The one journal record format, shared by every writer (the CLI's steps, the demo, the
//! server) and every store (the embedded journal file, PostgreSQL).
//!
//! A record is one accepted command or one request: the command's name, business date,
//! initiator, reason and key, the market [`Event`]s it caused, the access events it caused
//! (users, tokens, sessions, requests, instructions), and the request's audit entry. Records
//! written by earlier versions decode unchanged: the CLI's entries had no `access` or `audit`
//! field, the server's records had both, and both are version 1 with the same field order.

use ets_access::{AccessEvent, Audit};
use ets_market::{Envelope, Event};
use ets_types::Date;
use serde::{Deserialize, Serialize};

/// Format version of records. A record of another version is refused at replay, naming it.
pub const RECORD_VERSION: u32 = 1;

/// One journal record.
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

/// The name of the first record of every journal.
pub const GENESIS: &str = "genesis";

impl Record {
    /// The first record: the registry opened on `date`.
    pub fn genesis(date: Date) -> Record {
        Record {
            v: RECORD_VERSION,
            command: GENESIS.into(),
            date,
            initiator: "ets".into(),
            key: None,
            reason: "registry opened".into(),
            events: Vec::new(),
            access: Vec::new(),
            audit: None,
        }
    }

    pub(crate) fn encode_into(&self, buf: &mut Vec<u8>) {
        // A record is plain data (strings, integers, decimals as strings): serializing it into
        // memory cannot fail.
        serde_json::to_writer(buf, self).expect("records serialize")
    }
}

/// A record borrowed from an envelope and its events, for encoding a CLI command without
/// copying them: the same fields in the same order, so it encodes to the bytes of the owned
/// [`Record`] (tested below) and replays as one.
#[derive(Serialize)]
pub(crate) struct CommandRecord<'a> {
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

impl<'a> CommandRecord<'a> {
    pub(crate) fn of(env: &'a Envelope, events: &'a [Event]) -> CommandRecord<'a> {
        CommandRecord {
            v: RECORD_VERSION,
            command: env.command.name(),
            date: env.date,
            initiator: &env.initiator,
            key: env.key.as_deref(),
            reason: &env.reason,
            events,
        }
    }
    pub(crate) fn encode_into(&self, buf: &mut Vec<u8>) {
        serde_json::to_writer(buf, self).expect("records serialize")
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

/// Journal payloads encoded back to back into one reused buffer: no allocation per record.
#[derive(Default)]
pub(crate) struct Payloads {
    bytes: Vec<u8>,
    /// End offset of each payload in `bytes`.
    ends: Vec<usize>,
}

impl Payloads {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
    pub(crate) fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
    pub(crate) fn slices(&self) -> Vec<&[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ets_market::{Command, Market};

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

    /// The borrowed record encodes to exactly the bytes of the owned one, so replay reads it.
    #[test]
    fn command_record_encodes_like_record() {
        let mut market = Market::new(Date::new(2021, 1, 1).unwrap());
        for key in [None, Some("k-1")] {
            let env = envelope(key);
            let events = market.execute(&env).unwrap_or_default();
            let owned = Record {
                v: RECORD_VERSION,
                command: env.command.name().to_string(),
                date: env.date,
                initiator: env.initiator.clone(),
                key: env.key.clone(),
                reason: env.reason.clone(),
                events: events.clone(),
                access: Vec::new(),
                audit: None,
            };
            let mut payloads = Payloads::default();
            payloads.push_with(|b| CommandRecord::of(&env, &events).encode_into(b));
            payloads.push_with(|b| CommandRecord::of(&env, &[]).encode_into(b));
            let slices = payloads.slices();
            assert_eq!(slices.len(), 2);
            let mut bytes = Vec::new();
            owned.encode_into(&mut bytes);
            assert_eq!(slices[0], bytes);
            let decoded: Record = serde_json::from_slice(slices[0]).unwrap();
            assert_eq!(decoded, owned);
            let empty: Record = serde_json::from_slice(slices[1]).unwrap();
            assert!(empty.events.is_empty());
        }
    }

    /// Records of the previous versions decode: the CLI's entries (no access, no audit) and the
    /// server's records (both), byte for byte as those versions wrote them.
    #[test]
    fn previous_formats_decode() {
        let cli = br#"{"v":1,"command":"genesis","date":"2021-01-04","initiator":"ets","reason":"registry opened","events":[]}"#;
        let r: Record = serde_json::from_slice(cli).unwrap();
        assert_eq!(r, Record::genesis(Date::new(2021, 1, 4).unwrap()));
        let server = br#"{"v":1,"command":"audit","date":"2021-12-31","initiator":"public","reason":"","events":[],"audit":{"at":1640916000000,"who":"public","from":"127.0.0.1","method":"GET","path":"/api/health","status":200}}"#;
        let r: Record = serde_json::from_slice(server).unwrap();
        assert_eq!(r.audit.unwrap().path, "/api/health");
    }
}
