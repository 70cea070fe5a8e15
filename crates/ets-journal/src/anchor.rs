//! The HEAD anchor: the last seq and hash known durable, kept outside the log.
//!
//! The hash chain proves that what is in the log was not altered, but not that nothing was cut
//! off at a frame boundary: a shorter chain is still a valid chain. HEAD records the last seq and
//! hash known to be durable, outside the log, so a log that ends before it is detected.
//!
//! # Layout: two slots, updated in place
//!
//! `HEAD` is exactly [`HEAD_BYTES`] = 128 bytes: two 64-byte slots, each
//!
//! ```text
//! slot = magic "ETSHEAD1" | seq: u64 LE | hash: [u8; 32] | 12 zero bytes | crc32c(bytes 0..60): u32 LE
//! ```
//!
//! The anchor is the valid slot (magic, zero reserved bytes, CRC) with the higher seq. A move
//! overwrites the *other* slot in place (`pwrite`) and `fdatasync`s the file: no rename, no
//! directory fsync, and since the file never changes size, no metadata to commit. A crash in the
//! middle of that write can only damage the slot being written (its CRC then fails), which still
//! holds an older anchor than the untouched slot, so the untouched one (the previous anchor,
//! never past the log) is used and HEAD is simply behind. A seq only grows from one write to the
//! next, so the higher seq is always the newer slot.
//!
//! The file is created once, with both slots holding the same anchor, through `HEAD.tmp`,
//! fsync, rename and a directory fsync, so a crash during creation leaves no HEAD or a whole one.
//!
//! An older journal's text HEAD (`seq <n>\nhash <64 hex>\n`, replaced by rename on every move) is
//! still read; the writer replaces it by the slotted file on open.

use std::io::{self, Read};
use std::path::Path;

use crate::format::crc32c;
use crate::storage::{OpenMode, ReadFrom, Storage, StorageFile};
use crate::{Hash, JournalError};

pub(crate) const HEAD_FILE: &str = "HEAD";
const HEAD_TMP_FILE: &str = "HEAD.tmp";
pub(crate) const SLOT_BYTES: usize = 64;
pub(crate) const HEAD_BYTES: u64 = 2 * SLOT_BYTES as u64;
const SLOT_MAGIC: [u8; 8] = *b"ETSHEAD1";
/// Where the CRC-32C sits, covering every byte before it.
const SLOT_CRC_AT: usize = SLOT_BYTES - 4;
/// The old text HEAD: "seq " + 20 digits + "\nhash " + 64 + "\n" is 95 bytes at most.
const LEGACY_BYTES_MAX: u64 = 96;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub hash: Hash,
}

/// What `HEAD` holds: the anchor, and which slot it came from (`None`: an old text HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub anchor: Anchor,
    pub slot: Option<usize>,
}

impl Anchor {
    fn encode_slot(&self) -> [u8; SLOT_BYTES] {
        let mut slot = [0u8; SLOT_BYTES];
        slot[0..8].copy_from_slice(&SLOT_MAGIC);
        slot[8..16].copy_from_slice(&self.seq.to_le_bytes());
        slot[16..48].copy_from_slice(&self.hash);
        let crc = crc32c(&slot[..SLOT_CRC_AT]);
        slot[SLOT_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    /// Strict: magic, zero reserved bytes and the CRC must all be right.
    fn decode_slot(slot: &[u8]) -> Result<Anchor, &'static str> {
        assert_eq!(slot.len(), SLOT_BYTES);
        let crc = u32::from_le_bytes(slot[SLOT_CRC_AT..].try_into().expect("4 bytes"));
        if crc32c(&slot[..SLOT_CRC_AT]) != crc {
            return Err("checksum mismatch");
        }
        if slot[0..8] != SLOT_MAGIC {
            return Err("bad magic");
        }
        if slot[48..SLOT_CRC_AT].iter().any(|&b| b != 0) {
            return Err("reserved bytes are not zero");
        }
        Ok(Anchor {
            seq: u64::from_le_bytes(slot[8..16].try_into().expect("8 bytes")),
            hash: slot[16..48].try_into().expect("32 bytes"),
        })
    }

    fn render_legacy(&self) -> String {
        format!("seq {}\nhash {}\n", self.seq, hex::encode(self.hash))
    }

    /// The old text HEAD. Strict: exactly what [`Anchor::render_legacy`] writes.
    fn parse_legacy(text: &str) -> Result<Anchor, String> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or("missing final newline")?
            .split('\n');
        let seq = lines
            .next()
            .and_then(|l| l.strip_prefix("seq "))
            .ok_or("missing seq line")?;
        let seq: u64 = seq.parse().map_err(|_| format!("invalid seq {seq:?}"))?;
        let hash = lines
            .next()
            .and_then(|l| l.strip_prefix("hash "))
            .ok_or("missing hash line")?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hash, &mut bytes).map_err(|_| format!("invalid hash {hash:?}"))?;
        if lines.next().is_some() {
            return Err("unexpected extra lines".to_string());
        }
        let anchor = Anchor { seq, hash: bytes };
        if anchor.render_legacy() != text {
            return Err("not in canonical form".to_string());
        }
        Ok(anchor)
    }
}

/// The anchor in the bytes of a whole `HEAD` file.
fn decode(bytes: &[u8]) -> Result<Head, String> {
    if bytes.len() as u64 != HEAD_BYTES {
        if bytes.len() as u64 <= LEGACY_BYTES_MAX && bytes.starts_with(b"seq ") {
            let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8".to_string())?;
            let anchor = Anchor::parse_legacy(text)?;
            return Ok(Head { anchor, slot: None });
        }
        return Err(format!("{} bytes, expected {HEAD_BYTES}", bytes.len()));
    }
    let slots = [0, 1].map(|i| Anchor::decode_slot(&bytes[i * SLOT_BYTES..(i + 1) * SLOT_BYTES]));
    match slots {
        [Ok(a), Ok(b)] if a.seq == b.seq && a.hash != b.hash => Err(format!(
            "both slots record seq {} but with different hashes",
            a.seq
        )),
        [Ok(a), Ok(b)] => Ok(if b.seq > a.seq {
            Head {
                anchor: b,
                slot: Some(1),
            }
        } else {
            Head {
                anchor: a,
                slot: Some(0),
            }
        }),
        [Ok(anchor), Err(_)] => Ok(Head {
            anchor,
            slot: Some(0),
        }),
        [Err(_), Ok(anchor)] => Ok(Head {
            anchor,
            slot: Some(1),
        }),
        [Err(a), Err(b)] => Err(format!("no valid slot (slot 0: {a}; slot 1: {b})")),
    }
}

/// Reads `dir/HEAD`; `None` if it does not exist.
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Head>, JournalError> {
    let path = dir.join(HEAD_FILE);
    let io_error = |source| JournalError::Io {
        path: path.clone(),
        source,
    };
    let file = match storage.open(&path, OpenMode::Read) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(error)),
        Ok(file) => file,
    };
    // One byte more than a HEAD can have, to tell "too long" without reading a huge file.
    let mut bytes = Vec::with_capacity(HEAD_BYTES as usize + 1);
    ReadFrom {
        file: &*file,
        offset: 0,
    }
    .take(HEAD_BYTES + 1)
    .read_to_end(&mut bytes)
    .map_err(io_error)?;
    decode(&bytes)
        .map(Some)
        .map_err(|what| JournalError::Anchor { path, what })
}

/// Opens the existing slotted `dir/HEAD` for in-place updates.
pub(crate) fn open_for_update(
    storage: &dyn Storage,
    dir: &Path,
) -> Result<Box<dyn StorageFile>, JournalError> {
    let path = dir.join(HEAD_FILE);
    storage
        .open(&path, OpenMode::Write)
        .map_err(|source| JournalError::Io { path, source })
}

/// Creates (or replaces, e.g. an old text HEAD) `dir/HEAD` atomically with both slots holding
/// `anchor`: write `HEAD.tmp`, fsync it, rename it over `HEAD`, fsync the directory. A crash
/// leaves either the old HEAD (or none) or the new one. Returns the file, open for updates.
pub(crate) fn create(
    storage: &dyn Storage,
    dir: &Path,
    anchor: &Anchor,
    sync: bool,
) -> Result<Box<dyn StorageFile>, JournalError> {
    let tmp = dir.join(HEAD_TMP_FILE);
    let head = dir.join(HEAD_FILE);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JournalError::Io { path, source }
    };
    let mut file = storage
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(io_error(&tmp))?;
    let slot = anchor.encode_slot();
    let mut bytes = [0u8; HEAD_BYTES as usize];
    bytes[..SLOT_BYTES].copy_from_slice(&slot);
    bytes[SLOT_BYTES..].copy_from_slice(&slot);
    file.write_all_at(&bytes, 0).map_err(io_error(&tmp))?;
    if sync {
        file.sync_all().map_err(io_error(&tmp))?;
    }
    storage.rename(&tmp, &head).map_err(io_error(&head))?;
    if sync {
        sync_dir(storage, dir)?;
    }
    // The handle now names HEAD: same inode.
    Ok(file)
}

/// Overwrites one slot of an existing HEAD in place and, with `sync`, `fdatasync`s it. The file
/// keeps its size, so this commits no metadata. The caller alternates slots.
pub(crate) fn write_slot(
    file: &mut dyn StorageFile,
    dir: &Path,
    slot: usize,
    anchor: &Anchor,
    sync: bool,
) -> Result<(), JournalError> {
    assert!(slot < 2);
    let io_error = |source| JournalError::Io {
        path: dir.join(HEAD_FILE),
        source,
    };
    file.write_all_at(&anchor.encode_slot(), (slot * SLOT_BYTES) as u64)
        .map_err(io_error)?;
    if sync {
        file.sync_data().map_err(io_error)?;
    }
    Ok(())
}

/// Makes directory entries (a created file, a rename) durable.
pub(crate) fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<(), JournalError> {
    storage.sync_dir(dir).map_err(|source| JournalError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(seq: u64, byte: u8) -> Anchor {
        Anchor {
            seq,
            hash: [byte; 32],
        }
    }

    fn file(slot0: [u8; SLOT_BYTES], slot1: [u8; SLOT_BYTES]) -> Vec<u8> {
        [slot0, slot1].concat()
    }

    #[test]
    fn slot_round_trips() {
        let a = anchor(4711, 0xAB);
        let slot = a.encode_slot();
        assert_eq!(&slot[0..8], b"ETSHEAD1");
        assert_eq!(&slot[8..16], &4711u64.to_le_bytes());
        assert_eq!(Anchor::decode_slot(&slot), Ok(a));
    }

    #[test]
    fn slot_decoding_is_strict() {
        let good = anchor(7, 1).encode_slot();
        for at in 0..SLOT_BYTES {
            let mut bad = good;
            bad[at] ^= 0x01;
            assert!(Anchor::decode_slot(&bad).is_err(), "flip at {at}");
        }
        // A CRC-valid slot with a wrong magic or non-zero reserved bytes is not an anchor either.
        for (at, what) in [(0, "bad magic"), (50, "reserved bytes are not zero")] {
            let mut bad = good;
            bad[at] ^= 0x01;
            let crc = crc32c(&bad[..SLOT_CRC_AT]);
            bad[SLOT_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
            assert_eq!(Anchor::decode_slot(&bad), Err(what));
        }
        assert_eq!(
            Anchor::decode_slot(&[0u8; SLOT_BYTES]),
            Err("checksum mismatch")
        );
    }

    #[test]
    fn the_valid_slot_with_the_higher_seq_wins() {
        let (old, new) = (anchor(3, 3), anchor(5, 5));
        let head = |bytes: Vec<u8>| decode(&bytes);
        assert_eq!(
            head(file(old.encode_slot(), new.encode_slot())),
            Ok(Head {
                anchor: new,
                slot: Some(1)
            })
        );
        assert_eq!(
            head(file(new.encode_slot(), old.encode_slot())),
            Ok(Head {
                anchor: new,
                slot: Some(0)
            })
        );
        // A torn write of the newer slot: the older one is used.
        let mut torn = new.encode_slot();
        torn[20..].fill(0);
        assert_eq!(
            head(file(old.encode_slot(), torn)),
            Ok(Head {
                anchor: old,
                slot: Some(0)
            })
        );
        assert_eq!(
            head(file(torn, old.encode_slot())),
            Ok(Head {
                anchor: old,
                slot: Some(1)
            })
        );
        // Just created: both slots alike.
        assert_eq!(
            head(file(old.encode_slot(), old.encode_slot())),
            Ok(Head {
                anchor: old,
                slot: Some(0)
            })
        );
        let error = head(file(torn, torn)).unwrap_err();
        assert!(error.starts_with("no valid slot"), "{error}");
        let error = head(file(anchor(3, 3).encode_slot(), anchor(3, 4).encode_slot())).unwrap_err();
        assert!(error.contains("different hashes"), "{error}");
        for len in [0, 1, 64, 127, 129, 256] {
            let error = decode(&vec![0u8; len]).unwrap_err();
            assert_eq!(error, format!("{len} bytes, expected 128"));
        }
    }

    #[test]
    fn legacy_text_head_is_read() {
        let a = anchor(4711, 0xAB);
        let text = a.render_legacy();
        assert_eq!(text, format!("seq 4711\nhash {}\n", "ab".repeat(32)));
        assert_eq!(
            decode(text.as_bytes()),
            Ok(Head {
                anchor: a,
                slot: None
            })
        );
        let longest = anchor(u64::MAX, 0).render_legacy();
        assert!(longest.len() as u64 <= LEGACY_BYTES_MAX);
    }

    #[test]
    fn legacy_parse_is_strict() {
        let hash = "00".repeat(32);
        for bad in [
            String::new(),
            format!("seq 1\nhash {hash}"),
            format!("seq 01\nhash {hash}\n"),
            format!("seq -1\nhash {hash}\n"),
            format!("seq 1\nhash {}\n", "0".repeat(63)),
            format!("seq 1\nhash {}\n", "AB".repeat(32)),
            format!("seq 1\nhash {hash}\nextra\n"),
            format!("hash {hash}\nseq 1\n"),
        ] {
            assert!(Anchor::parse_legacy(&bad).is_err(), "accepted {bad:?}");
            assert!(decode(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
    }
}
