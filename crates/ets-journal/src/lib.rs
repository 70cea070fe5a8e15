//! An embedded, append-only, hash-chained journal of the market's accepted transactions.
//!
//! Every accepted transaction is appended here before it is acknowledged, and state is rebuilt
//! by replaying the journal. The journal stores opaque payload bytes (the caller serializes its
//! commands, as JSON in `ets`) and knows nothing of the domain.
//!
//! - [`Journal::open`] takes the single-writer lock, reads and verifies the whole journal, cuts a
//!   torn tail left by a crash, makes what it read durable, and returns the records to replay
//!   ([`Recovered`]).
//! - [`Journal::append_batch`] appends a batch of records as one atomic frame with one `write`
//!   and one `fdatasync` (group commit), then moves the HEAD anchor. When it returns `Ok`, the
//!   batch is durable: that is the acknowledgement.
//! - [`verify`] checks a journal without modifying it (and without taking the lock).
//! - [`storage`]: every file operation goes through the [`Storage`] trait; production uses
//!   [`OsStorage`] (the same `pread`/`pwrite`/`fdatasync` calls as before the trait), the fault
//!   simulation an in-memory disk that injects faults (`ets-faultfs`, [`Journal::open_in`]).
//!
//! # On-disk format (version 1)
//!
//! A directory holding three files:
//!
//! - `journal.log`, append-only. A 16-byte header: the magic `ETSJRNL1`, the format version as a
//!   `u32` LE (1) and four zero bytes. Then frames, one frame per batch:
//!
//!   ```text
//!   frame   = payload_len: u32 LE | crc32c(payload): u32 LE | payload
//!   payload = first_seq: u64 LE | record_count: u32 LE | record * record_count
//!   record  = len: u32 LE | bytes: [u8; len] | hash: [u8; 32]
//!   hash_n  = SHA-256(hash_{n-1} || seq_n as u64 LE || bytes_n),   hash_0 = 32 zero bytes
//!   ```
//!
//!   Sequence numbers start at 1 and are contiguous across frames. A frame payload holds at
//!   least one record and at most 256 MiB.
//! - `HEAD`, the anchor: the seq and hash of the last record known durable, in a 128-byte file
//!   of two 64-byte slots, `"ETSHEAD1" | seq: u64 LE | hash | 12 zero bytes | crc32c: u32 LE`
//!   (the CRC covers the 60 bytes before it). The anchor is the valid slot with the higher
//!   seq; a move overwrites the other slot in place (`pwrite`) and `fdatasync`s it, so a crash
//!   mid-write leaves the previous anchor in the untouched slot. Created once (both slots alike)
//!   through `HEAD.tmp`, fsync, rename and a directory fsync. An older journal's text HEAD
//!   (`seq <n>\nhash <64 hex>\n`) is read, and replaced by the slotted file when opened.
//! - `LOCK`, empty, holding an exclusive advisory lock while a [`Journal`] is open.
//!
//! # What is detected, and what is done about it
//!
//! | Finding on open | Outcome |
//! |---|---|
//! | last frame incomplete or failing its CRC, no valid frame after it, HEAD not past it | torn tail: cut and reported ([`TornTail`]) |
//! | a log of zeros only (its creation cut short by a power loss), HEAD at seq 0 or absent | torn: cut and written again ([`TornReason::ZeroFilled`]) |
//! | a bad frame followed by a valid frame | [`JournalError::Corrupt`] |
//! | a CRC-valid frame whose seqs are not contiguous or whose hash chain breaks | [`JournalError::Corrupt`] naming the seq |
//! | log ends (at a frame boundary) before HEAD's seq | [`JournalError::Truncated`] |
//! | damaged last frame holding records up to HEAD's seq | [`JournalError::Corrupt`] |
//! | record at HEAD's seq has another hash | [`JournalError::Tampered`] |
//! | log has more records than HEAD (crash between the log fsync and the HEAD update, or during the slot write) | fine: the frames past HEAD are written again and fsynced, then HEAD is moved forward |
//! | HEAD names the last record | fine: HEAD is written and fsynced again all the same (it may be only in the page cache) |
//! | HEAD missing while the log holds records, of another size, or with no valid slot | [`JournalError::Anchor`] |
//!
//! Nothing is ever repaired except a torn tail, which by construction holds only a batch whose
//! `append_batch` never returned: a crash tears only the frame being written, and HEAD is moved
//! only after that frame is durable.
//!
//! The hash chain detects any edit of a record unless every later hash (and HEAD) is rewritten
//! too; to detect that, publish the HEAD hash somewhere the editor cannot reach.
//!
//! # Why an append-only file and not SQLite
//!
//! SQLite stays the right store for queryable state; the journal is the source of truth under it
//! and needs less and stricter things:
//!
//! - **Group commit, measured exactly.** One batch is one `write` plus one `fdatasync`; nothing
//!   else touches the disk (HEAD's in-place update and its `fdatasync` can be made periodic
//!   with [`JournalOptions::anchor_every_batch`]). There is no page cache, B-tree or WAL checkpoint
//!   between the records and the disk, so the cost of durability is visible and tunable.
//! - **Exact torn-tail semantics.** We define and test what a crash leaves (a prefix of whole
//!   batches, never part of one) and report precisely what was cut (offset, bytes, reason)
//!   instead of trusting a recovery we cannot observe.
//! - **The hash chain is the format**, verified on every open, not a column a query may skip.
//! - **No C dependency** (bundled SQLite is a C build on every clean build), and the format fits
//!   in the table above, so any other tool can read it.
//!
//! # Durability and its limits
//!
//! - `fdatasync` also persists the file size when an append extends the file, so the frame is
//!   readable after a crash. The log is not preallocated: that would save a metadata update per
//!   batch but make a torn tail look like a zero-filled valid length region (and on the ext4
//!   guest of `docs/benchmarks.md`, overwriting pre-written zeros measured no faster than
//!   appending).
//! - HEAD's two slots share one 512-byte sector. A crash while a slot is written leaves that
//!   slot invalid and the other one whole, unless the device garbles the whole sector (rather
//!   than writing it whole or not at all); then no slot is valid and open refuses with
//!   [`JournalError::Anchor`] instead of guessing. Damage to one slot alone is indistinguishable
//!   from a torn write and falls back to the other, older anchor, which the log then passes.
//! - If [`Journal::append_batch`] returns an error, the outcome of that batch is unknown (the
//!   frame may or may not be on disk) and the journal refuses further appends
//!   ([`JournalError::Poisoned`]): after a failed `fsync` the kernel may have dropped the dirty
//!   pages, so only a fresh [`Journal::open`], which re-reads the disk, knows the truth. The
//!   caller must not acknowledge that batch, and must be idempotent when it is replayed.
//! - **What [`Journal::open`] returns is durable.** A frame past HEAD may be only in the page
//!   cache (a process killed between its write and its fsync), or read back from pages that a
//!   failed `fsync` marked clean without writing them (Linux), which a later `fsync` does not
//!   write either. Open therefore writes the frames past HEAD again, as read, and `fdatasync`s
//!   them before HEAD moves over them, and `fsync`s the directory (files a killed process
//!   created may not have durable names). It then writes and `fdatasync`s HEAD, always: a
//!   HEAD that already names the last record may be only in the cache too, and one that a
//!   power loss sets back would let a later cut of the served records pass unnoticed. Without this, a reopen served records a power loss
//!   could then take away, leaving a journal that refuses to open (found by the fault
//!   simulation, `docs/reliability.md`).
//! - [`SyncMode::None`] skips every fsync: it measures CPU cost in benchmarks and speeds up tests,
//!   and is **not durable**. Never use it for a real market.
//! - With `anchor_every_batch = false`, HEAD moves only on [`Journal::anchor`] and on open, so a
//!   truncation at a frame boundary after the last anchor is not detected.
//!
//! **Architecture Invariant:** this crate knows nothing of the domain; a payload is bytes.
//! **Architecture Invariant:** one writer: an open [`Journal`] holds the lock on `LOCK`.

mod anchor;
mod format;
pub mod storage;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anchor::Anchor;
use format::{HEADER_BYTES, Scan, ScanError};
pub use storage::{OpenMode, OsStorage, Storage, StorageFile, StorageLock};

/// A SHA-256 hash of the chain.
pub type Hash = [u8; 32];

/// The hash before the first record (`hash_0`).
pub const GENESIS_HASH: Hash = [0u8; 32];

/// The largest frame payload (one batch, with 36 bytes of overhead per record and 12 per batch).
pub const BATCH_BYTES_MAX: usize = format::FRAME_PAYLOAD_BYTES_MAX;

const LOG_FILE: &str = "journal.log";
const LOCK_FILE: &str = "LOCK";

/// How hard [`Journal`] pushes data to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// `fdatasync` the log after every batch and HEAD when it moves (and the directory when a
    /// file is created).
    #[default]
    Full,
    /// No fsync at all. **Not durable**: for tests and for benchmarks of the CPU cost only.
    None,
}

/// Options of [`Journal::open`]. The default is durable and anchored after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    pub sync: SyncMode,
    /// Move HEAD after every batch (one extra `pwrite` + `fdatasync` of HEAD per batch).
    /// When false, HEAD moves only on [`Journal::anchor`] and on open, which is faster but leaves
    /// a truncation at a frame boundary after the last anchor undetected.
    pub anchor_every_batch: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            sync: SyncMode::Full,
            anchor_every_batch: true,
        }
    }
}

/// One journal record as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
    pub hash: Hash,
}

/// What [`Journal::open`] recovered: every record in order, and the torn tail it cut, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub records: Vec<Record>,
    pub torn_tail: Option<TornTail>,
}

/// An incomplete or damaged last frame: a batch whose append never returned, so it was never
/// acknowledged. [`Journal::open`] cuts it; [`verify`] only reports it.
///
/// Its `Display` reads e.g. `torn tail of 37 bytes at offset 123456 (incomplete frame: 20 of 57
/// bytes), an incomplete batch that was never acknowledged; last record is seq 4711`, ready to be
/// prefixed with `journal: cut a `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the bad frame starts, which is where the file is (or would be) cut.
    pub offset: u64,
    /// How many bytes are (or would be) cut.
    pub bytes_cut: u64,
    pub reason: TornReason,
    /// The last record kept.
    pub last_seq: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail of {} bytes at offset {} ({}), an incomplete batch that was never \
             acknowledged; last record is seq {}",
            self.bytes_cut, self.offset, self.reason, self.last_seq
        )
    }
}

/// Why the bytes at the end of the log are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TornReason {
    /// The file was being created: its 16-byte header is incomplete.
    IncompleteFileHeader { present: u64 },
    /// The file holds only zeros: its creation was cut short by a power loss that kept the
    /// file's new size but not the page of its header.
    ZeroFilled { len: u64 },
    /// Fewer than the 8 bytes of a frame's length and checksum.
    IncompleteFramePrefix { present: u64 },
    /// A length no frame can have (zero, or above [`BATCH_BYTES_MAX`]): garbage or zeros.
    ImplausibleFrameLength { len: u32 },
    /// The frame's length says more bytes than the file has.
    IncompleteFrame { present: u64, expected: u64 },
    /// All bytes are there but the CRC does not match: a write that did not reach the disk whole.
    ChecksumMismatch,
}

impl fmt::Display for TornReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TornReason::IncompleteFileHeader { present } => {
                write!(
                    f,
                    "incomplete file header: {present} of {HEADER_BYTES} bytes"
                )
            }
            TornReason::ZeroFilled { len } => {
                write!(f, "file header never written: {len} zero bytes")
            }
            TornReason::IncompleteFramePrefix { present } => {
                write!(f, "incomplete frame length prefix: {present} of 8 bytes")
            }
            TornReason::ImplausibleFrameLength { len } => {
                write!(f, "implausible frame length {len}")
            }
            TornReason::IncompleteFrame { present, expected } => {
                write!(f, "incomplete frame: {present} of {expected} bytes")
            }
            TornReason::ChecksumMismatch => f.write_str("frame checksum mismatch"),
        }
    }
}

/// The durable outcome of one [`Journal::append_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchReceipt {
    pub first_seq: u64,
    /// For an empty batch, `first_seq - 1` (an empty range).
    pub last_seq: u64,
    /// The chain hash after the batch (the hash of record `last_seq`).
    pub last_hash: Hash,
}

impl BatchReceipt {
    #[must_use]
    pub fn record_count(&self) -> u64 {
        self.last_seq + 1 - self.first_seq
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub frames: u64,
    /// Size of `journal.log`, torn tail included.
    pub bytes: u64,
    pub last_seq: u64,
    pub last_hash_hex: String,
    /// The seq HEAD records (at most `last_seq`; less after a crash before HEAD moved).
    pub head_seq: u64,
    /// A torn tail that [`Journal::open`] would cut.
    pub torn_tail: Option<TornTail>,
}

/// Why the journal cannot be opened, verified or appended to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("i/o error on {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "journal {} is locked by another writer (another process, or another open Journal in \
         this one); only one writer may append at a time",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("journal {} is corrupt at offset {offset} (seq {seq}): {what}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        seq: u64,
        what: String,
    },
    #[error(
        "journal {} ends at seq {last_seq} but its HEAD anchor records seq {head_seq}: \
         acknowledged records were cut off",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        last_seq: u64,
        head_seq: u64,
    },
    #[error(
        "journal {} has hash {} at seq {seq} but its HEAD anchor records hash {}",
        path.display(), hex::encode(log_hash), hex::encode(head_hash)
    )]
    Tampered {
        path: PathBuf,
        seq: u64,
        log_hash: Hash,
        head_hash: Hash,
    },
    #[error("HEAD anchor {} is invalid: {what}", path.display())]
    Anchor { path: PathBuf, what: String },
    #[error("batch of {bytes} bytes exceeds the frame limit of {max} bytes")]
    BatchTooLarge { bytes: u64, max: u64 },
    #[error(
        "journal {} refuses appends after an earlier write or sync failure; reopen it",
        path.display()
    )]
    Poisoned { path: PathBuf },
}

/// An open journal: the single writer of its directory.
#[derive(Debug)]
pub struct Journal {
    /// The file system: [`OsStorage`] except in tests.
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    log_path: PathBuf,
    /// Open for writing; the next frame goes at `end_offset`.
    log: Box<dyn StorageFile>,
    /// Holds the exclusive lock for as long as the journal is open; released on drop.
    _lock: Box<dyn StorageLock>,
    options: JournalOptions,
    last_seq: u64,
    last_hash: Hash,
    end_offset: u64,
    anchored_seq: u64,
    /// `HEAD`, open for in-place slot updates; `None` until it exists in the slotted layout.
    head: Option<Box<dyn StorageFile>>,
    /// The slot holding the current anchor; the next move writes the other one.
    head_slot: usize,
    /// Reused frame buffer, so a steady stream of batches does not allocate.
    frame: Vec<u8>,
    /// Set by any failed write or sync: the on-disk state is then unknown until reopened.
    poisoned: bool,
}

impl Journal {
    /// Opens (creating if absent) the journal in `dir`, verifies all of it and returns the
    /// records to replay. A torn tail is cut (and fsynced) and reported in [`Recovered`].
    ///
    /// # Errors
    ///
    /// `Locked` if another writer has it open; `Corrupt`, `Truncated`, `Tampered` or `Anchor`
    /// if verification fails (then nothing is modified); `Io` on any i/o failure.
    pub fn open(
        dir: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<(Journal, Recovered), JournalError> {
        Journal::open_in(Arc::new(OsStorage), dir, options)
    }

    /// [`Journal::open`] on another [`Storage`] than the real file system (tests).
    ///
    /// # Errors
    ///
    /// As [`Journal::open`].
    pub fn open_in(
        storage: Arc<dyn Storage>,
        dir: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<(Journal, Recovered), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let sync = options.sync == SyncMode::Full;
        let fs = &*storage;
        create_dir(fs, &dir, sync)?;
        let lock = lock_dir(fs, &dir)?;

        let log_path = dir.join(LOG_FILE);
        let head_read = anchor::read(fs, &dir)?;
        let head = head_read.map(|h| h.anchor);
        let head_seq = head.map_or(0, |h| h.seq);
        // With HEAD past seq 0 a missing log is a truncation, not a new journal.
        let mode = if head_seq == 0 {
            OpenMode::Create
        } else {
            OpenMode::Write
        };
        let mut log = fs
            .open(&log_path, mode)
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => JournalError::Truncated {
                    path: log_path.clone(),
                    last_seq: 0,
                    head_seq,
                },
                _ => JournalError::Io {
                    path: log_path.clone(),
                    source,
                },
            })?;
        let file_len = log.len().map_err(io_error(&log_path))?;
        let scan = scan(&log_path, &*log, file_len, true, head.as_ref())?;
        check_anchor(&dir, &log_path, &scan, head.as_ref())?;

        // Verified: from here on, only repairs that lose nothing acknowledged.
        let torn_tail = torn_tail(&scan, file_len);
        if torn_tail.is_some() {
            log.set_len(scan.good_end).map_err(io_error(&log_path))?;
            if sync {
                log.sync_all().map_err(io_error(&log_path))?;
            }
        }
        if scan.good_end < HEADER_BYTES {
            // A new file, or one whose creation was interrupted: it holds no record.
            assert_eq!(scan.last_seq, 0);
            log.set_len(0).map_err(io_error(&log_path))?;
            log.write_all_at(&format::header(), 0)
                .map_err(io_error(&log_path))?;
            if sync {
                log.sync_all().map_err(io_error(&log_path))?;
                anchor::sync_dir(fs, &dir)?;
            }
        }
        let end_offset = scan.good_end.max(HEADER_BYTES);
        if sync {
            // Everything returned below must be durable, whatever an earlier process left: a
            // frame past HEAD may be only in the page cache (a process killed before its
            // fsync), or read back from pages that a failed fsync marked clean without writing
            // them, which a plain fsync would not write either. So the frames past HEAD are
            // written again as read, and fsynced, before HEAD moves over them; and the
            // directory is fsynced, for files a killed process created without doing so.
            if head_seq < scan.last_seq || head.is_none() {
                let from = match scan.probe_end {
                    Some(end) => end,
                    None => {
                        assert_eq!(head_seq, 0, "the scan reached HEAD's seq");
                        0
                    }
                };
                rewrite(&mut *log, from, end_offset).map_err(io_error(&log_path))?;
                log.sync_data().map_err(io_error(&log_path))?;
            }
            anchor::sync_dir(fs, &dir)?;
        }
        // A slotted HEAD is updated in place; a missing or old text HEAD is (re)created below.
        let (head_file, head_slot) = match head_read.and_then(|h| h.slot) {
            Some(slot) => (Some(anchor::open_for_update(fs, &dir)?), slot),
            None => (None, 0),
        };

        let mut journal = Journal {
            storage,
            dir,
            log_path,
            log,
            _lock: lock,
            options,
            last_seq: scan.last_seq,
            last_hash: scan.last_hash,
            end_offset,
            anchored_seq: head_seq,
            head: head_file,
            head_slot,
            frame: Vec::new(),
            poisoned: false,
        };
        // HEAD is written and fsynced on every open, even when it already names the last
        // record: what it reads may be only in the page cache (a slot written by a process
        // killed before its fsync, or one a failed fsync marked clean without writing it), and
        // a HEAD that a power loss takes back to an older seq no longer detects a cut of the
        // records this open serves (found by the fault simulation, `docs/reliability.md`).
        journal.write_anchor()?;
        let records = scan.records;
        assert_eq!(records.len() as u64, journal.last_seq);
        assert!(
            records
                .last()
                .is_none_or(|r| r.seq == journal.last_seq && r.hash == journal.last_hash)
        );
        Ok((journal, Recovered { records, torn_tail }))
    }

    /// Appends `payloads` as one batch: one frame, one write, one `fdatasync`, then HEAD (if
    /// anchored every batch). Returns only once the batch is durable: that is the
    /// acknowledgement. The batch is atomic: after a crash it is replayed whole or not at all.
    /// An empty batch writes nothing.
    ///
    /// # Errors
    ///
    /// `BatchTooLarge` before anything is written. Any other error leaves the outcome of this
    /// batch unknown and poisons the journal (see the crate doc): do not acknowledge, reopen.
    pub fn append_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
    ) -> Result<BatchReceipt, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                path: self.log_path.clone(),
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
        let payload_bytes = format::frame_payload_bytes(payloads);
        if payload_bytes > BATCH_BYTES_MAX as u64 {
            let max = BATCH_BYTES_MAX as u64;
            return Err(JournalError::BatchTooLarge {
                bytes: payload_bytes,
                max,
            });
        }
        let payload_bytes = payload_bytes as usize;

        let last_hash = format::encode_frame(
            &mut self.frame,
            first_seq,
            &self.last_hash,
            payloads,
            payload_bytes,
        );
        let last_seq = self.last_seq + payloads.len() as u64;

        // Poisoned until proven durable: an early return below leaves it set.
        self.poisoned = true;
        // One write for the whole frame, so a crash can only leave a prefix of it.
        self.log
            .write_all_at(&self.frame, self.end_offset)
            .map_err(io_error(&self.log_path))?;
        if self.options.sync == SyncMode::Full {
            self.log.sync_data().map_err(io_error(&self.log_path))?;
        }
        self.poisoned = false;

        self.end_offset += self.frame.len() as u64;
        self.last_seq = last_seq;
        self.last_hash = last_hash;
        if self.options.anchor_every_batch {
            self.write_anchor()?;
        }
        Ok(BatchReceipt {
            first_seq,
            last_seq,
            last_hash,
        })
    }

    /// Moves HEAD to the last record now, if it is behind. Needed only with
    /// `anchor_every_batch = false`, e.g. once per second or at a clean shutdown.
    ///
    /// # Errors
    ///
    /// `Io` (which poisons the journal) or `Poisoned`.
    pub fn anchor(&mut self) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                path: self.log_path.clone(),
            });
        }
        if self.anchored_seq < self.last_seq {
            self.write_anchor()?;
        }
        Ok(())
    }

    /// The seq of the last record (0 when empty).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The chain hash after the last record ([`GENESIS_HASH`] when empty).
    #[must_use]
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// The journal's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_anchor(&mut self) -> Result<(), JournalError> {
        assert!(
            self.anchored_seq <= self.last_seq,
            "HEAD never moves backwards"
        );
        let anchor = Anchor {
            seq: self.last_seq,
            hash: self.last_hash,
        };
        let sync = self.options.sync == SyncMode::Full;
        self.poisoned = true;
        match &mut self.head {
            Some(file) => {
                let slot = 1 - self.head_slot;
                anchor::write_slot(&mut **file, &self.dir, slot, &anchor, sync)?;
                self.head_slot = slot;
            }
            None => {
                self.head = Some(anchor::create(&*self.storage, &self.dir, &anchor, sync)?);
                self.head_slot = 0;
            }
        }
        self.poisoned = false;
        self.anchored_seq = self.last_seq;
        Ok(())
    }
}

/// Reads and checks the journal in `dir` without modifying anything, and without taking the
/// lock (so it also works beside a running writer, though it may then see a frame being
/// written as a torn tail).
///
/// # Errors
///
/// As [`Journal::open`], except `Locked`; `Io` with `NotFound` if there is no journal.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    read_checked(&OsStorage, dir.as_ref(), false).map(|(report, _)| report)
}

/// [`verify`] on another [`Storage`] than the real file system (tests).
///
/// # Errors
///
/// As [`verify`].
pub fn verify_in(
    storage: &dyn Storage,
    dir: impl AsRef<Path>,
) -> Result<VerifyReport, JournalError> {
    read_checked(storage, dir.as_ref(), false).map(|(report, _)| report)
}

/// Like [`verify`], and also returns the records of the good prefix, for a read-only replay
/// (`ets verify`): nothing is cut, nothing is locked.
///
/// # Errors
///
/// As [`verify`].
pub fn read(dir: impl AsRef<Path>) -> Result<(VerifyReport, Vec<Record>), JournalError> {
    read_checked(&OsStorage, dir.as_ref(), true)
}

/// [`read`] on another [`Storage`] than the real file system (tests).
///
/// # Errors
///
/// As [`read`].
pub fn read_in(
    storage: &dyn Storage,
    dir: impl AsRef<Path>,
) -> Result<(VerifyReport, Vec<Record>), JournalError> {
    read_checked(storage, dir.as_ref(), true)
}

fn read_checked(
    storage: &dyn Storage,
    dir: &Path,
    keep_records: bool,
) -> Result<(VerifyReport, Vec<Record>), JournalError> {
    let log_path = dir.join(LOG_FILE);
    // HEAD first: a running writer moves HEAD only after the log is durable, so the log length
    // read afterwards covers HEAD's seq, and a concurrent append is not mistaken for truncation.
    let head = anchor::read(storage, dir)?.map(|h| h.anchor);
    let log = storage
        .open(&log_path, OpenMode::Read)
        .map_err(io_error(&log_path))?;
    let file_len = log.len().map_err(io_error(&log_path))?;
    let mut scan = scan(&log_path, &*log, file_len, keep_records, head.as_ref())?;
    check_anchor(dir, &log_path, &scan, head.as_ref())?;
    let records = std::mem::take(&mut scan.records);
    let report = VerifyReport {
        records: scan.record_count,
        frames: scan.frame_count,
        bytes: file_len,
        last_seq: scan.last_seq,
        last_hash_hex: hex::encode(scan.last_hash),
        head_seq: head.map_or(0, |h| h.seq),
        torn_tail: torn_tail(&scan, file_len),
    };
    Ok((report, records))
}

fn scan(
    log_path: &Path,
    log: &dyn StorageFile,
    file_len: u64,
    keep_records: bool,
    head: Option<&Anchor>,
) -> Result<Scan, JournalError> {
    let probe_seq = head.map_or(0, |h| h.seq);
    format::scan(log, file_len, keep_records, probe_seq).map_err(|error| match error {
        ScanError::Io(source) => JournalError::Io {
            path: log_path.to_path_buf(),
            source,
        },
        ScanError::Corrupt { offset, seq, what } => JournalError::Corrupt {
            path: log_path.to_path_buf(),
            offset,
            seq,
            what,
        },
    })
}

/// HEAD records the last durable record; the log must reach it with the same hash. This runs
/// before any torn tail is cut, so a "tail" that holds acknowledged records is never cut.
fn check_anchor(
    dir: &Path,
    log_path: &Path,
    scan: &Scan,
    head: Option<&Anchor>,
) -> Result<(), JournalError> {
    let Some(head) = head else {
        if scan.last_seq > 0 {
            let what = format!("missing, but the journal holds {} records", scan.last_seq);
            return Err(JournalError::Anchor {
                path: dir.join(anchor::HEAD_FILE),
                what,
            });
        }
        return Ok(());
    };
    if head.seq > scan.last_seq {
        let path = log_path.to_path_buf();
        return Err(match &scan.bad_tail {
            Some(reason) => JournalError::Corrupt {
                path,
                offset: scan.good_end,
                seq: scan.last_seq + 1,
                what: format!(
                    "{reason}, but HEAD records seq {}: the damaged last frame holds \
                     acknowledged records",
                    head.seq
                ),
            },
            None => JournalError::Truncated {
                path,
                last_seq: scan.last_seq,
                head_seq: head.seq,
            },
        });
    }
    let log_hash = if head.seq == 0 {
        GENESIS_HASH
    } else {
        scan.probe_hash
            .expect("the scan probed the record at HEAD's seq, which it reached")
    };
    if log_hash != head.hash {
        return Err(JournalError::Tampered {
            path: log_path.to_path_buf(),
            seq: head.seq,
            log_hash,
            head_hash: head.hash,
        });
    }
    Ok(())
}

fn torn_tail(scan: &Scan, file_len: u64) -> Option<TornTail> {
    let reason = scan.bad_tail.clone()?;
    assert!(scan.good_end < file_len);
    Some(TornTail {
        offset: scan.good_end,
        bytes_cut: file_len - scan.good_end,
        reason,
        last_seq: scan.last_seq,
    })
}

/// Writes the bytes `[from, to)` of the log again, as they read, so that the next sync writes
/// them to the disk even if the cache held them in pages a failed writeback marked clean.
fn rewrite(log: &mut dyn StorageFile, from: u64, to: u64) -> io::Result<()> {
    const CHUNK_BYTES: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK_BYTES.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = CHUNK_BYTES.min(to - at) as usize;
        log.read_exact_at(&mut buf[..n], at)?;
        log.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Creates the journal directory if absent and makes its entry durable in the parent.
fn create_dir(storage: &dyn Storage, dir: &Path, sync: bool) -> Result<(), JournalError> {
    let created = storage.create_dir_all(dir).map_err(io_error(dir))?;
    if created && sync {
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        anchor::sync_dir(storage, parent)?;
    }
    Ok(())
}

fn lock_dir(storage: &dyn Storage, dir: &Path) -> Result<Box<dyn StorageLock>, JournalError> {
    let path = dir.join(LOCK_FILE);
    match storage.try_lock(&path) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(JournalError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(source) => Err(JournalError::Io { path, source }),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> JournalError + use<> {
    let path = path.to_path_buf();
    move |source| JournalError::Io { path, source }
}
