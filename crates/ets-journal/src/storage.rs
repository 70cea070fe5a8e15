//! Where the journal's bytes live: [`Storage`], the few file operations the journal needs, and
//! [`OsStorage`], the real file system, which every production path uses.
//!
//! The journal reaches the disk only through this trait, so a test can give it another storage
//! ([`Journal::open_in`](crate::Journal::open_in)): `ets-faultfs` keeps the files in memory,
//! tells bytes merely written from bytes made durable, and injects crashes, torn and reordered
//! writes, failed fsyncs, a full disk, bit flips and truncation, all by seed.
//!
//! The operations are positional (`pread`/`pwrite`), so a file handle has no cursor, and each
//! maps to one system call on [`OsStorage`]: the production path makes the same calls as when
//! the journal used `std::fs::File` directly.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The file operations of the journal. Implementations must be usable from any thread.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents if absent; says whether it created it.
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool>;
    /// Opens `path` as `mode` says.
    ///
    /// # Errors
    ///
    /// `NotFound` when the file does not exist and `mode` does not create it; any i/o error.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Renames `from` to `to` atomically, replacing `to`.
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (files created in it, renames into it) durable.
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if absent), held until the returned value is
    /// dropped; `None` if someone else holds it.
    ///
    /// # Errors
    ///
    /// Any i/o error other than the lock being held.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn StorageLock>>>;
}

/// A held lock: released when dropped.
pub trait StorageLock: Send + fmt::Debug {}

/// How [`Storage::open`] opens a file. Every mode but `Read` opens for reading and writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// The file must exist.
    Write,
    /// Created empty if absent, kept as it is if present.
    Create,
    /// Created if absent, emptied if present.
    CreateTruncate,
}

/// An open file, read and written at explicit offsets.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile: Send + fmt::Debug {
    /// The file's length in bytes.
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn len(&self) -> io::Result<u64>;
    /// Reads at most `buf.len()` bytes at `offset`; fewer only at the end of the file (0 past
    /// it).
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file if needed. Not durable until synced:
    /// a crash may keep any part of it.
    ///
    /// # Errors
    ///
    /// Any i/o error; part of `buf` may then have been written.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cuts or extends (with zeros) the file to `len` bytes.
    ///
    /// # Errors
    ///
    /// Any i/o error.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// `fdatasync`: makes the file's data and its size durable.
    ///
    /// # Errors
    ///
    /// Any i/o error; then nothing written since the last successful sync may be assumed
    /// durable, even if it reads back.
    fn sync_data(&mut self) -> io::Result<()>;
    /// `fsync`: like [`sync_data`](Self::sync_data), and all of the file's metadata.
    ///
    /// # Errors
    ///
    /// As [`sync_data`](Self::sync_data).
    fn sync_all(&mut self) -> io::Result<()>;
}

impl dyn StorageFile + '_ {
    /// Reads exactly `buf.len()` bytes at `offset`.
    pub(crate) fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A sequential reader over a [`StorageFile`] from an offset (for a `BufReader`).
pub(crate) struct ReadFrom<'a> {
    pub file: &'a dyn StorageFile,
    pub offset: u64,
}

impl Read for ReadFrom<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsStorage;

#[derive(Debug)]
struct OsFile(File);

#[derive(Debug)]
struct OsLock(#[allow(dead_code)] File);

impl StorageLock for OsLock {}

impl Storage for OsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        if dir.is_dir() {
            return Ok(false);
        }
        fs::create_dir_all(dir)?;
        Ok(true)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut options = OpenOptions::new();
        options.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::Write => {
                options.write(true);
            }
            OpenMode::Create => {
                options.write(true).create(true).truncate(false);
            }
            OpenMode::CreateTruncate => {
                options.write(true).create(true).truncate(true);
            }
        }
        Ok(Box::new(OsFile(options.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Unix a directory opened read-only can be fsynced.
        File::open(dir)?.sync_all()
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn StorageLock>>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(OsLock(file)))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl StorageFile for OsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match FileExt::read_at(&self.0, buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}
