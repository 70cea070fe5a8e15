//! Integration tests of `ets-journal`: each test owns a temporary directory, writes batches
//! through the public API, damages the files the way a crash or an editor would, and checks what
//! `Journal::open` and `verify` make of it.
//!
//! The tests read the frame layout themselves (header 16 bytes, then `[u32 len][u32 crc][len
//! bytes]`) with their own bitwise CRC-32C, so they also cross-check the crate's format.

use std::fs;
use std::path::{Path, PathBuf};

use ets_journal::{
    BatchReceipt, GENESIS_HASH, Hash, Journal, JournalError, JournalOptions, Record, SyncMode,
    TornReason, verify,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const HEADER_BYTES: u64 = 16;

fn log_path(dir: &Path) -> PathBuf {
    dir.join("journal.log")
}

fn head_path(dir: &Path) -> PathBuf {
    dir.join("HEAD")
}

fn open(dir: &Path) -> (Journal, ets_journal::Recovered) {
    Journal::open(dir, JournalOptions::default()).expect("open")
}

/// Deterministic JSON-like payloads, distinct per batch and index.
fn batch_payloads(batch: usize, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            format!(
                "{{\"batch\":{batch},\"i\":{i},\"pad\":\"{}\"}}",
                "x".repeat(i)
            )
            .into_bytes()
        })
        .collect()
}

/// Writes the batches (sizes given) into a fresh journal; returns all payloads in order and the
/// receipts.
fn write_batches(dir: &Path, sizes: &[usize]) -> (Vec<Vec<u8>>, Vec<BatchReceipt>) {
    let (mut journal, recovered) = open(dir);
    assert!(recovered.records.is_empty());
    let mut all = Vec::new();
    let mut receipts = Vec::new();
    for (batch, &size) in sizes.iter().enumerate() {
        let payloads = batch_payloads(batch, size);
        receipts.push(journal.append_batch(&payloads).expect("append"));
        all.extend(payloads);
    }
    (all, receipts)
}

/// The chain recomputed independently of the crate.
fn expected_records(payloads: &[Vec<u8>]) -> Vec<Record> {
    let mut hash = GENESIS_HASH;
    let mut records = Vec::new();
    for (seq, payload) in (1u64..).zip(payloads) {
        let mut hasher = Sha256::new();
        hasher.update(hash);
        hasher.update(seq.to_le_bytes());
        hasher.update(payload);
        hash = hasher.finalize().into();
        records.push(Record {
            seq,
            payload: payload.clone(),
            hash,
        });
    }
    records
}

/// (offset, total length) of each frame in the log.
fn frames(dir: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(log_path(dir)).expect("read log");
    assert_eq!(&bytes[..8], b"ETSJRNL1");
    let mut at = HEADER_BYTES as usize;
    let mut frames = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        assert_eq!(crc32c(&bytes[at + 8..at + 8 + len]), crc, "frame at {at}");
        frames.push((at as u64, 8 + len as u64));
        at += 8 + len;
    }
    assert_eq!(at, bytes.len());
    frames
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Recomputes the CRC of the frame at `offset` after an edit, as a deliberate editor would.
fn fix_crc(bytes: &mut [u8], offset: usize) {
    let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
    let crc = crc32c(&bytes[offset + 8..offset + 8 + len]);
    bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A tiny deterministic generator for garbage bytes.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// One 64-byte HEAD slot as the crate writes it: magic, seq, hash, 12 zero bytes, CRC-32C.
fn head_slot(seq: u64, hash: &Hash) -> [u8; 64] {
    let mut slot = [0u8; 64];
    slot[..8].copy_from_slice(b"ETSHEAD1");
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    slot[16..48].copy_from_slice(hash);
    let crc = crc32c(&slot[..60]);
    slot[60..].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// Writes HEAD as an editor would: both slots holding `(seq, hash)`.
fn write_head(dir: &Path, seq: u64, hash: &Hash) {
    fs::write(
        head_path(dir),
        [head_slot(seq, hash), head_slot(seq, hash)].concat(),
    )
    .unwrap();
}

/// The `(seq, hash)` of each HEAD slot, `None` for an invalid one, read independently.
fn head_slots(dir: &Path) -> [Option<(u64, Hash)>; 2] {
    let bytes = fs::read(head_path(dir)).unwrap();
    assert_eq!(bytes.len(), 128, "HEAD is two 64-byte slots");
    [0, 1].map(|i| {
        let slot = &bytes[i * 64..(i + 1) * 64];
        let seq = u64::from_le_bytes(slot[8..16].try_into().unwrap());
        let hash: Hash = slot[16..48].try_into().unwrap();
        (slot == head_slot(seq, &hash)).then_some((seq, hash))
    })
}

/// The anchor HEAD holds: the valid slot with the higher seq.
fn read_head(dir: &Path) -> (u64, Hash) {
    head_slots(dir)
        .into_iter()
        .flatten()
        .max_by_key(|(seq, _)| *seq)
        .expect("a valid HEAD slot")
}

fn hex_of(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn round_trip_reopen_and_continue_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (payloads, receipts) = write_batches(dir.path(), &[3, 1, 5, 2]);
    let expected = expected_records(&payloads);
    assert_eq!(
        receipts
            .iter()
            .map(|r| (r.first_seq, r.last_seq, r.record_count()))
            .collect::<Vec<_>>(),
        [(1, 3, 3), (4, 4, 1), (5, 9, 5), (10, 11, 2)]
    );
    for receipt in &receipts {
        assert_eq!(
            receipt.last_hash,
            expected[receipt.last_seq as usize - 1].hash
        );
    }

    let (mut journal, recovered) = open(dir.path());
    assert_eq!(recovered.records, expected);
    assert_eq!(recovered.torn_tail, None);
    assert_eq!(journal.last_seq(), 11);
    assert_eq!(journal.last_hash(), expected[10].hash);

    let more = batch_payloads(99, 4);
    let receipt = journal.append_batch(&more).unwrap();
    assert_eq!((receipt.first_seq, receipt.last_seq), (12, 15));
    drop(journal);

    let all: Vec<Vec<u8>> = payloads.into_iter().chain(more).collect();
    let expected = expected_records(&all);
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.records, expected);
    assert!(
        recovered
            .records
            .iter()
            .zip(1u64..)
            .all(|(r, seq)| r.seq == seq)
    );
    assert_eq!(journal.last_hash(), receipt.last_hash);
    drop(journal);

    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (
            report.records,
            report.frames,
            report.last_seq,
            report.head_seq
        ),
        (15, 5, 15, 15)
    );
    assert_eq!(report.last_hash_hex, hex_of(&receipt.last_hash));
    assert_eq!(
        report.bytes,
        fs::metadata(log_path(dir.path())).unwrap().len()
    );
    assert_eq!(read_head(dir.path()), (15, receipt.last_hash));
}

#[test]
fn fresh_directory_and_empty_batch() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/journal");
    let (mut journal, recovered) = open(&dir);
    assert!(recovered.records.is_empty() && recovered.torn_tail.is_none());
    let empty: [&[u8]; 0] = [];
    let receipt = journal.append_batch(&empty).unwrap();
    assert_eq!(
        (receipt.first_seq, receipt.last_seq, receipt.record_count()),
        (1, 0, 0)
    );
    assert_eq!(receipt.last_hash, GENESIS_HASH);
    assert_eq!(fs::metadata(log_path(&dir)).unwrap().len(), HEADER_BYTES);
    // Records may be empty byte strings.
    let receipt = journal.append_batch(&[b"".as_slice()]).unwrap();
    assert_eq!((receipt.first_seq, receipt.last_seq), (1, 1));
    drop(journal);
    let report = verify(&dir).unwrap();
    assert_eq!((report.records, report.frames, report.head_seq), (1, 1, 1));
}

#[test]
fn verify_of_a_missing_journal_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    match verify(dir.path().join("absent")) {
        Err(JournalError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A crash while the last batch was being written: its frame is partly on disk and HEAD was not
/// moved. Checked at cut points across the whole last frame, inside its length prefix too.
#[test]
fn torn_tail_is_reported_by_verify_then_cut_by_open() {
    let sizes = [2, 3, 4];
    let probe = tempfile::tempdir().unwrap();
    write_batches(probe.path(), &sizes);
    let (last_offset, last_len) = *frames(probe.path()).last().unwrap();

    for cut in [1, 3, 4, 7, 8, 9, 20, last_len / 2, last_len - 1] {
        let dir = tempfile::tempdir().unwrap();
        let (payloads, _) = write_batches(dir.path(), &sizes[..2]);
        let head_before_last = fs::read(head_path(dir.path())).unwrap();
        let (mut journal, _) = open(dir.path());
        journal.append_batch(&batch_payloads(2, sizes[2])).unwrap();
        drop(journal);
        fs::write(head_path(dir.path()), &head_before_last).unwrap();
        truncate(&log_path(dir.path()), last_offset + cut);

        let before = fs::read(log_path(dir.path())).unwrap();
        let report = verify(dir.path()).unwrap();
        let tail = report.torn_tail.expect("torn tail");
        assert_eq!(
            (tail.offset, tail.bytes_cut, tail.last_seq),
            (last_offset, cut, 5),
            "cut {cut}"
        );
        if cut < 8 {
            assert_eq!(
                tail.reason,
                TornReason::IncompleteFramePrefix { present: cut }
            );
        } else {
            assert_eq!(
                tail.reason,
                TornReason::IncompleteFrame {
                    present: cut,
                    expected: last_len
                }
            );
        }
        assert_eq!(
            fs::read(log_path(dir.path())).unwrap(),
            before,
            "verify must not modify"
        );

        let (mut journal, recovered) = open(dir.path());
        assert_eq!(recovered.torn_tail, Some(tail.clone()));
        assert_eq!(recovered.records, expected_records(&payloads));
        assert_eq!(
            fs::metadata(log_path(dir.path())).unwrap().len(),
            last_offset
        );
        let message = format!("journal: cut a {tail}");
        assert!(
            message.contains(&format!("torn tail of {cut} bytes at offset {last_offset}")),
            "{message}"
        );
        assert!(
            message.ends_with("never acknowledged; last record is seq 5"),
            "{message}"
        );

        let receipt = journal.append_batch(&[b"after".as_slice()]).unwrap();
        assert_eq!(receipt.first_seq, 6);
        drop(journal);
        let (_, recovered) = open(dir.path());
        assert_eq!(recovered.records.len(), 6);
        assert_eq!(recovered.torn_tail, None);
    }
}

/// A last frame whose bytes are all there but do not match its CRC (a write that reached the
/// disk only in part) is a torn tail too.
#[test]
fn checksum_failing_last_frame_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (payloads, _) = write_batches(dir.path(), &[2, 2]);
    write_head(dir.path(), 2, &expected_records(&payloads)[1].hash);
    let (last_offset, last_len) = *frames(dir.path()).last().unwrap();
    let mut bytes = fs::read(log_path(dir.path())).unwrap();
    let end = bytes.len();
    bytes[end - 5] ^= 0x40;
    fs::write(log_path(dir.path()), &bytes).unwrap();

    let (_, recovered) = open(dir.path());
    let tail = recovered.torn_tail.unwrap();
    assert_eq!(
        (tail.offset, tail.bytes_cut, &tail.reason),
        (last_offset, last_len, &TornReason::ChecksumMismatch)
    );
    assert_eq!(recovered.records.len(), 2);
}

/// Random bytes (or zeros, as some file systems leave after a crash) after the last frame.
#[test]
fn garbage_after_the_last_frame_is_cut_as_a_torn_tail() {
    for (len, seed) in [
        (1, 1),
        (5, 2),
        (8, 3),
        (13, 4),
        (100, 5),
        (5000, 6),
        (4096, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (payloads, _) = write_batches(dir.path(), &[3, 2]);
        let good_len = fs::metadata(log_path(dir.path())).unwrap().len();
        let junk = if seed == 0 {
            vec![0u8; len]
        } else {
            garbage(len, seed)
        };
        let mut bytes = fs::read(log_path(dir.path())).unwrap();
        bytes.extend_from_slice(&junk);
        fs::write(log_path(dir.path()), &bytes).unwrap();

        let report = verify(dir.path()).unwrap();
        assert_eq!(
            report.torn_tail.as_ref().map(|t| (t.offset, t.bytes_cut)),
            Some((good_len, len as u64))
        );
        let (_, recovered) = open(dir.path());
        assert_eq!(
            recovered.torn_tail.map(|t| t.bytes_cut),
            Some(len as u64),
            "len {len}"
        );
        assert_eq!(recovered.records, expected_records(&payloads));
        assert_eq!(fs::metadata(log_path(dir.path())).unwrap().len(), good_len);
    }
}

/// An editor changes a payload in an earlier frame and recomputes the CRC: the hash chain
/// catches it at that record.
#[test]
fn edited_payload_with_fixed_crc_breaks_the_hash_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2, 2, 2]);
    let (second, _) = frames(dir.path())[1];
    let mut bytes = fs::read(log_path(dir.path())).unwrap();
    // Frame prefix 8, first_seq 8, count 4, record len 4: the first payload byte of seq 3.
    let at = second as usize + 8 + 12 + 4;
    assert_eq!(bytes[at], b'{');
    bytes[at] = b'[';
    fix_crc(&mut bytes, second as usize);
    fs::write(log_path(dir.path()), &bytes).unwrap();

    for error in [
        Journal::open(dir.path(), JournalOptions::default())
            .map(|_| ())
            .unwrap_err(),
        verify(dir.path()).map(|_| ()).unwrap_err(),
    ] {
        let message = error.to_string();
        match error {
            JournalError::Corrupt { seq, offset, .. } => {
                assert_eq!(seq, 3);
                assert_eq!(offset, second + 8 + 12);
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(
            message.contains("hash chain mismatch at seq 3"),
            "{message}"
        );
    }
    assert_eq!(
        fs::read(log_path(dir.path())).unwrap(),
        bytes,
        "nothing is repaired"
    );
}

/// An edited first_seq with a fixed CRC: seqs must be contiguous.
#[test]
fn non_contiguous_seq_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2, 2, 2]);
    let (second, _) = frames(dir.path())[1];
    let mut bytes = fs::read(log_path(dir.path())).unwrap();
    let at = second as usize + 8;
    bytes[at..at + 8].copy_from_slice(&4u64.to_le_bytes());
    fix_crc(&mut bytes, second as usize);
    fs::write(log_path(dir.path()), &bytes).unwrap();

    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(error, JournalError::Corrupt { seq: 3, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("frame starts at seq 4 but seq 3 is next"),
        "{error}"
    );
}

/// Damage in a middle frame (CRC not fixed, or a garbled length) is not a torn tail: valid frames
/// follow it, and cutting there would drop acknowledged records.
#[test]
fn damaged_middle_frame_is_corrupt_not_a_torn_tail() {
    for (what, edit) in [("payload byte", 20usize), ("length prefix", 2)] {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), &[2, 2, 2]);
        let (second, _) = frames(dir.path())[1];
        let mut bytes = fs::read(log_path(dir.path())).unwrap();
        bytes[second as usize + edit] ^= 0x10;
        fs::write(log_path(dir.path()), &bytes).unwrap();
        // HEAD must not be what catches it: pretend it is behind.
        write_head(dir.path(), 0, &GENESIS_HASH);

        for error in [
            Journal::open(dir.path(), JournalOptions::default())
                .map(|_| ())
                .unwrap_err(),
            verify(dir.path()).map(|_| ()).unwrap_err(),
        ] {
            match &error {
                JournalError::Corrupt {
                    offset,
                    seq,
                    what: detail,
                    ..
                } => {
                    assert_eq!((*offset, *seq), (second, 3), "{what}");
                    assert!(detail.contains("not a torn tail"), "{what}: {detail}");
                }
                other => panic!("{what}: expected Corrupt, got {other:?}"),
            }
        }
        assert_eq!(
            fs::read(log_path(dir.path())).unwrap(),
            bytes,
            "{what}: nothing is cut"
        );
    }
}

/// A damaged last frame that HEAD says was acknowledged is not a torn tail either.
#[test]
fn damaged_last_frame_covered_by_head_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2, 2]);
    let len = fs::metadata(log_path(dir.path())).unwrap().len();
    truncate(&log_path(dir.path()), len - 3);

    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(error, JournalError::Corrupt { seq: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("HEAD records seq 4"), "{error}");
    assert_eq!(fs::metadata(log_path(dir.path())).unwrap().len(), len - 3);
}

/// Removing the last whole frame leaves a valid, shorter chain: only HEAD can tell.
#[test]
fn truncation_at_a_frame_boundary_is_detected_by_head() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2, 3, 1]);
    let (last_offset, _) = *frames(dir.path()).last().unwrap();
    truncate(&log_path(dir.path()), last_offset);

    for error in [
        Journal::open(dir.path(), JournalOptions::default())
            .map(|_| ())
            .unwrap_err(),
        verify(dir.path()).map(|_| ()).unwrap_err(),
    ] {
        let message = error.to_string();
        assert!(
            matches!(
                error,
                JournalError::Truncated {
                    last_seq: 5,
                    head_seq: 6,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            message.contains("ends at seq 5") && message.contains("records seq 6"),
            "{message}"
        );
    }
    assert_eq!(
        fs::metadata(log_path(dir.path())).unwrap().len(),
        last_offset
    );
}

#[test]
fn missing_log_with_head_past_zero_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2]);
    fs::remove_file(log_path(dir.path())).unwrap();
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::Truncated {
                last_seq: 0,
                head_seq: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        !log_path(dir.path()).exists(),
        "an empty log must not be created"
    );
}

/// A crash after the log's fsync but before HEAD moved: the log is ahead, which is fine.
#[test]
fn head_behind_the_log_is_brought_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (payloads, _) = write_batches(dir.path(), &[2]);
    let old_head = fs::read(head_path(dir.path())).unwrap();
    let (mut journal, _) = open(dir.path());
    let receipt = journal.append_batch(&batch_payloads(1, 3)).unwrap();
    drop(journal);
    fs::write(head_path(dir.path()), &old_head).unwrap();

    assert_eq!(verify(dir.path()).unwrap().head_seq, 2);
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.records.len(), payloads.len() + 3);
    assert_eq!(read_head(dir.path()), (5, receipt.last_hash));
}

#[test]
fn head_with_another_hash_is_tampered() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2, 2]);
    write_head(dir.path(), 3, &[0xAB; 32]);
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(error, JournalError::Tampered { seq: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&"ab".repeat(32)), "{error}");
}

#[test]
fn missing_or_garbled_head_is_refused_when_records_exist() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[2]);
    let head = fs::read(head_path(dir.path())).unwrap();
    fs::write(head_path(dir.path()), b"seq two\n").unwrap();
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(matches!(error, JournalError::Anchor { .. }), "{error:?}");
    // Both slots damaged (zeroed): no anchor to trust, so no guess either.
    fs::write(head_path(dir.path()), [0u8; 128]).unwrap();
    for error in [
        Journal::open(dir.path(), JournalOptions::default())
            .map(|_| ())
            .unwrap_err(),
        verify(dir.path()).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(error, JournalError::Anchor { .. }), "{error:?}");
        assert!(error.to_string().contains("no valid slot"), "{error}");
    }
    // A HEAD of another size is not a HEAD.
    fs::write(head_path(dir.path()), [&head[..], &[0u8]].concat()).unwrap();
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("129 bytes, expected 128"),
        "{error}"
    );
    fs::remove_file(head_path(dir.path())).unwrap();
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("missing, but the journal holds 2 records"),
        "{error}"
    );
    fs::write(head_path(dir.path()), head).unwrap();
    open(dir.path());
}

/// HEAD moves by overwriting its two slots in turn, in place: the file keeps its size and inode
/// (no rename, no `HEAD.tmp`), one slot holds the newest anchor and the other the one before.
#[test]
fn head_slots_are_written_alternately_in_place() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = open(dir.path());
    // Created with both slots holding the genesis anchor.
    assert_eq!(
        head_slots(dir.path()),
        [Some((0, GENESIS_HASH)), Some((0, GENESIS_HASH))]
    );
    let inode = fs::metadata(head_path(dir.path())).unwrap().ino();
    let mut previous = (0, GENESIS_HASH);
    for (i, size) in [2, 1, 3, 1].into_iter().enumerate() {
        let receipt = journal.append_batch(&batch_payloads(i, size)).unwrap();
        let newest = (receipt.last_seq, receipt.last_hash);
        let slots = head_slots(dir.path());
        // Slot 1 first (slot 0 holds the anchor after creation), then 0, 1, 0.
        let written = 1 - i % 2;
        assert_eq!(slots[written], Some(newest), "batch {i}");
        assert_eq!(slots[1 - written], Some(previous), "batch {i}");
        assert_eq!(read_head(dir.path()), newest);
        assert_eq!(fs::metadata(head_path(dir.path())).unwrap().ino(), inode);
        assert!(!dir.path().join("HEAD.tmp").exists());
        previous = newest;
    }
}

/// A crash while a slot was being written leaves that slot invalid: the other slot, which holds
/// the previous anchor, is used, HEAD is behind the log and is brought forward; the next move
/// overwrites the torn slot.
#[test]
fn torn_head_slot_falls_back_to_the_other_slot() {
    for garbage_seed in [0u64, 7, 99] {
        let dir = tempfile::tempdir().unwrap();
        let (payloads, receipts) = write_batches(dir.path(), &[2, 3]);
        let slots = head_slots(dir.path());
        let newest = slots
            .iter()
            .position(|s| s.map(|(seq, _)| seq) == Some(5))
            .expect("a slot holds seq 5");
        assert_eq!(slots[1 - newest].unwrap().0, 2);
        let mut bytes = fs::read(head_path(dir.path())).unwrap();
        let torn = if garbage_seed == 0 {
            vec![0u8; 40] // A write that reached the disk only in part, zeros after it.
        } else {
            garbage(40, garbage_seed)
        };
        bytes[newest * 64 + 24..newest * 64 + 64].copy_from_slice(&torn);
        fs::write(head_path(dir.path()), &bytes).unwrap();

        assert_eq!(verify(dir.path()).unwrap().head_seq, 2);
        let (mut journal, recovered) = open(dir.path());
        assert_eq!(recovered.records, expected_records(&payloads));
        // Brought forward, into the torn slot.
        let slots = head_slots(dir.path());
        assert_eq!(slots[newest], Some((5, receipts[1].last_hash)));
        assert_eq!(slots[1 - newest].unwrap().0, 2);
        let receipt = journal.append_batch(&batch_payloads(2, 1)).unwrap();
        assert_eq!(
            head_slots(dir.path())[1 - newest],
            Some((6, receipt.last_hash))
        );
        drop(journal);
        assert_eq!(verify(dir.path()).unwrap().head_seq, 6);
    }
}

/// A journal written before the slotted HEAD has a text HEAD (`seq N\nhash H\n`): it is read
/// (and checked) as before, and the writer replaces it by the slotted file on open.
#[test]
fn legacy_text_head_is_read_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (_, receipts) = write_batches(dir.path(), &[2, 2]);
    let last = receipts[1].last_hash;
    let text = |seq: u64, hash: &Hash| format!("seq {seq}\nhash {}\n", hex_of(hash));

    fs::write(head_path(dir.path()), text(4, &[0xAB; 32])).unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(
        matches!(error, JournalError::Tampered { seq: 4, .. }),
        "{error:?}"
    );

    fs::write(head_path(dir.path()), text(4, &last)).unwrap();
    assert_eq!(verify(dir.path()).unwrap().head_seq, 4);
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.records.len(), 4);
    assert_eq!(head_slots(dir.path()), [Some((4, last)), Some((4, last))]);
    drop(journal);

    // A text HEAD behind the log is brought forward, in the new layout too.
    fs::write(head_path(dir.path()), text(2, &receipts[0].last_hash)).unwrap();
    open(dir.path());
    assert_eq!(read_head(dir.path()), (4, last));

    // And one past the log is a truncation, as before.
    fs::write(head_path(dir.path()), text(5, &last)).unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::Truncated {
                last_seq: 4,
                head_seq: 5,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn bad_header_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[1]);
    let mut bytes = fs::read(log_path(dir.path())).unwrap();
    bytes[0] = b'X';
    fs::write(log_path(dir.path()), &bytes).unwrap();
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(error, JournalError::Corrupt { offset: 0, .. }),
        "{error:?}"
    );
    bytes[0] = b'E';
    bytes[8] = 2;
    fs::write(log_path(dir.path()), &bytes).unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("unsupported format version 2"),
        "{error}"
    );
}

#[test]
fn second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path());
    let error = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(matches!(error, JournalError::Locked { .. }), "{error:?}");
    assert!(
        error.to_string().contains("locked by another writer"),
        "{error}"
    );
    // Readers are not locked out.
    verify(dir.path()).unwrap();
    drop(journal);
    open(dir.path());
}

#[test]
fn anchoring_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        sync: SyncMode::Full,
        anchor_every_batch: false,
    };
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    journal.append_batch(&batch_payloads(0, 3)).unwrap();
    let receipt = journal.append_batch(&batch_payloads(1, 1)).unwrap();
    assert_eq!(verify(dir.path()).unwrap().head_seq, 0);
    journal.anchor().unwrap();
    assert_eq!(verify(dir.path()).unwrap().head_seq, 4);
    assert_eq!(
        verify(dir.path()).unwrap().last_hash_hex,
        hex_of(&receipt.last_hash)
    );
}

#[test]
fn oversized_batch_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(
        dir.path(),
        JournalOptions {
            sync: SyncMode::None,
            anchor_every_batch: true,
        },
    )
    .unwrap();
    let big = vec![0u8; ets_journal::BATCH_BYTES_MAX];
    let error = journal.append_batch(&[big]).unwrap_err();
    assert!(
        matches!(error, JournalError::BatchTooLarge { .. }),
        "{error:?}"
    );
    // Not poisoned: nothing was written.
    journal.append_batch(&[b"ok".as_slice()]).unwrap();
    assert_eq!(
        fs::metadata(log_path(dir.path())).unwrap().len(),
        HEADER_BYTES + 8 + 12 + 4 + 2 + 32
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Batches are atomic: whatever the truncation point, reopening yields exactly the batches
    /// written whole before it, never part of a batch, and appending then continues the chain.
    #[test]
    fn truncation_keeps_exactly_the_whole_batches(
        batches in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
            1..7,
        ),
        cut_fraction in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Anchoring off: HEAD stays at seq 0 so it does not object to the truncation, and the
        // frame parser alone must keep batches whole.
        let options = JournalOptions { sync: SyncMode::None, anchor_every_batch: false };
        let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
        let mut batch_ends = Vec::new();
        for batch in &batches {
            journal.append_batch(batch).unwrap();
            batch_ends.push(fs::metadata(log_path(dir.path())).unwrap().len());
        }
        drop(journal);
        let file_len = *batch_ends.last().unwrap();
        let cut = (file_len as f64 * cut_fraction) as u64;
        truncate(&log_path(dir.path()), cut);

        let whole = batch_ends.iter().filter(|&&end| end <= cut).count();
        let kept_payloads: Vec<Vec<u8>> = batches[..whole].iter().flatten().cloned().collect();
        let kept_end = if whole == 0 { HEADER_BYTES } else { batch_ends[whole - 1] };

        let (mut journal, recovered) = Journal::open(dir.path(), options).unwrap();
        prop_assert_eq!(&recovered.records, &expected_records(&kept_payloads));
        prop_assert_eq!(recovered.torn_tail.is_some(), cut != kept_end && cut != 0);
        prop_assert_eq!(fs::metadata(log_path(dir.path())).unwrap().len(), kept_end);

        journal.append_batch(&[b"next".as_slice()]).unwrap();
        drop(journal);
        let (_, recovered) = Journal::open(dir.path(), options).unwrap();
        let mut all = kept_payloads;
        all.push(b"next".to_vec());
        prop_assert_eq!(recovered.records, expected_records(&all));
    }
}
