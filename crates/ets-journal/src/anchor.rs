//! The HEAD anchor: `seq <n>\nhash <64 hex digits>\n`, replaced atomically.
//!
//! The hash chain proves that what is in the log was not altered, but not that nothing was cut
//! off at a frame boundary: a shorter chain is still a valid chain. HEAD records the last seq and
//! hash known to be durable, outside the log, so a log that ends before it is detected.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::{Hash, JournalError};

pub(crate) const HEAD_FILE: &str = "HEAD";
const HEAD_TMP_FILE: &str = "HEAD.tmp";
/// "seq " + 20 digits + "\nhash " + 64 + "\n" is 96; anything much longer is not a HEAD.
const HEAD_BYTES_MAX: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub hash: Hash,
}

impl Anchor {
    fn render(&self) -> String {
        format!("seq {}\nhash {}\n", self.seq, hex::encode(self.hash))
    }

    /// Strict: the text must be exactly what [`Anchor::render`] writes.
    fn parse(text: &str) -> Result<Anchor, String> {
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
        if anchor.render() != text {
            return Err("not in canonical form".to_string());
        }
        Ok(anchor)
    }
}

/// Reads `dir/HEAD`; `None` if it does not exist.
pub(crate) fn read(dir: &Path) -> Result<Option<Anchor>, JournalError> {
    let path = dir.join(HEAD_FILE);
    let io_error = |source| JournalError::Io {
        path: path.clone(),
        source,
    };
    let text = match fs::metadata(&path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(error)),
        Ok(meta) if meta.len() > HEAD_BYTES_MAX => {
            let what = format!("{} bytes, expected at most {HEAD_BYTES_MAX}", meta.len());
            return Err(JournalError::Anchor { path, what });
        }
        Ok(_) => fs::read(&path).map_err(io_error)?,
    };
    let text = String::from_utf8(text).map_err(|_| JournalError::Anchor {
        path: path.clone(),
        what: "not utf-8".to_string(),
    })?;
    Anchor::parse(&text)
        .map(Some)
        .map_err(|what| JournalError::Anchor { path, what })
}

/// Replaces `dir/HEAD` atomically: write `HEAD.tmp`, fsync it, rename it over `HEAD`, fsync the
/// directory (so the rename itself is durable). A crash leaves either the old or the new HEAD.
pub(crate) fn write(dir: &Path, anchor: &Anchor, sync: bool) -> Result<(), JournalError> {
    let tmp = dir.join(HEAD_TMP_FILE);
    let head = dir.join(HEAD_FILE);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JournalError::Io { path, source }
    };
    let mut file = File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(anchor.render().as_bytes())
        .map_err(io_error(&tmp))?;
    if sync {
        file.sync_data().map_err(io_error(&tmp))?;
    }
    drop(file);
    fs::rename(&tmp, &head).map_err(io_error(&head))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes directory entries (a created file, a rename) durable. On Unix a directory opened
/// read-only can be fsynced; elsewhere there is no portable equivalent, so this does nothing.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    if cfg!(unix) {
        let io_error = |source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        };
        File::open(dir)
            .map_err(io_error)?
            .sync_all()
            .map_err(io_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let anchor = Anchor {
            seq: 4711,
            hash: [0xAB; 32],
        };
        let text = anchor.render();
        assert_eq!(text, format!("seq 4711\nhash {}\n", "ab".repeat(32)));
        assert_eq!(Anchor::parse(&text), Ok(anchor));
    }

    #[test]
    fn parse_is_strict() {
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
            assert!(Anchor::parse(&bad).is_err(), "accepted {bad:?}");
        }
    }
}
