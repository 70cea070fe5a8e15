//! A deterministic in-memory file system for the journal ([`ets_journal::Storage`]) that knows
//! which bytes are durable, and injects faults by seed. For tests only: the fault simulation of
//! the whole market (`crates/ets-store/tests/fault_sim.rs`) and the journal's own tests.
//!
//! # The model
//!
//! Every file (an inode) has two copies of its bytes:
//!
//! - **visible**: what reads return, i.e. the page cache, with every write applied;
//! - **disk**: what survives a power loss, with the file's durable size.
//!
//! A write changes only the visible copy and marks its 4 KiB pages dirty. A successful
//! `sync_data`/`sync_all` copies the dirty pages to the disk, sets the durable size and cleans
//! the pages. Directory entries (a created file, a rename) are durable only after `sync_dir` of
//! their directory. Directories themselves are always durable.
//!
//! # Faults
//!
//! - [`Fault::Crash`]: the process dies at a given I/O operation, before it, during it (a write
//!   leaves a random prefix of its bytes, a sync persists a random part of the dirty pages) or
//!   after it (the operation completes, the next one fails). From then on every operation fails
//!   until [`FaultFs::restart`] (the process restarts: the page cache survives, dirty pages
//!   included) or [`FaultFs::power_loss`].
//! - [`FaultFs::power_loss`]: the machine loses power. Each file's dirty pages are lost, kept,
//!   kept as an in-order prefix torn at any byte (a torn write), or kept as a random subset (a
//!   reordered write); the durable size is the old or the new one; unsynced directory changes
//!   are kept as an in-order prefix. Then the visible copy is what the disk holds.
//! - [`Fault::SyncFails`]: a sync returns `EIO`. As on Linux after a failed writeback, each
//!   dirty page is written, not written or written in part, the pages are marked clean anyway,
//!   and reads keep returning the cached bytes: what reads back may not be on the disk, and a
//!   later successful sync does not write it again. A failed directory sync writes some of the
//!   directory's changes and leaves the others pending (not lost): ext4 and XFS stop writing
//!   altogether when they cannot commit their metadata, so dropping them and carrying on is
//!   not a case a real file system presents.
//! - [`FaultFs::fill_disk`]: writes that grow the files past the free space write what fits and
//!   fail with `StorageFull` (`ENOSPC`), until [`FaultFs::free_disk`].
//! - [`FaultFs::evict`]: the cache forgets its clean pages, so reads show the disk.
//! - At rest (between a power loss and the next open): [`FaultFs::flip_bit`],
//!   [`FaultFs::truncate_at_rest`], undone with [`FaultFs::restore`].
//!
//! Every fault injected is described in [`FaultFs::events`], with the operation number, so a
//! failing seed can print what happened. Nothing depends on anything but the seed and the calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ets_journal::{OpenMode, Storage, StorageFile, StorageLock};

/// The page size of the model: the unit of dirtiness, writeback and reordering.
pub const PAGE_BYTES: u64 = 4096;
/// The sector size: a failed writeback tears a page at a sector boundary.
pub const SECTOR_BYTES: u64 = 512;

/// A small deterministic generator (SplitMix64): the same seed gives the same draws everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// When, relative to the operation it strikes, a crash happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The operation does not happen.
    Before,
    /// A write leaves a random prefix, a sync persists a random part of the dirty pages, a
    /// `set_len` or rename happens or not.
    During,
    /// The operation completes and returns; the process dies right after.
    After,
}

/// A fault armed to fire at an I/O operation (numbered from 1 since the file system was made;
/// see [`FaultFs::ops`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process dies at operation `at_op`.
    Crash { at_op: u64, phase: Phase },
    /// The first sync (`sync_data`, `sync_all`, `sync_dir`) at or after operation `at_op` fails
    /// with `EIO`.
    SyncFails { at_op: u64 },
}

/// The deterministic in-memory file system. Clones share the same files.
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultFs")
    }
}

#[derive(Default)]
struct Inode {
    visible: Vec<u8>,
    disk: Vec<u8>,
    disk_size: u64,
    dirty: BTreeSet<u64>,
}

#[derive(Clone, Debug)]
enum NameOp {
    Link {
        path: PathBuf,
        ino: u64,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: u64,
    },
}

impl NameOp {
    fn dir(&self) -> Option<&Path> {
        match self {
            NameOp::Link { path, .. } => path.parent(),
            NameOp::Rename { to, .. } => to.parent(),
        }
    }
    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            NameOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            NameOp::Rename { from, to, ino } => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
        }
    }
}

struct Inner {
    rng: Rng,
    dirs: BTreeSet<PathBuf>,
    names: BTreeMap<PathBuf, u64>,
    disk_names: BTreeMap<PathBuf, u64>,
    pending_names: Vec<NameOp>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    /// Locked path → the generation of its holder.
    locks: BTreeMap<PathBuf, u64>,
    next_lock: u64,
    /// Bumped at every restart: handles of a dead process stop working.
    epoch: u64,
    ops: u64,
    paused: bool,
    dead: bool,
    armed: Vec<Fault>,
    /// Bytes the visible files may grow to in total, when the disk is "full".
    capacity: Option<u64>,
    events: Vec<String>,
}

fn crash_error() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

fn eio() -> io::Error {
    io::Error::other("simulated EIO: writeback failed")
}

fn enospc() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "simulated ENOSPC: no space left",
    )
}

/// What an operation must do, decided when it starts.
enum Fire {
    Normal,
    Crash(Phase),
    SyncFails,
}

impl Inner {
    fn name_of(&self, ino: u64) -> String {
        self.names.iter().find(|(_, i)| **i == ino).map_or_else(
            || format!("inode {ino}"),
            |(p, _)| {
                p.file_name()
                    .map_or(p.display().to_string(), |n| n.to_string_lossy().into())
            },
        )
    }

    /// Counts an operation and says which armed fault, if any, strikes it.
    fn tick(&mut self, is_sync: bool) -> io::Result<Fire> {
        if self.dead {
            return Err(crash_error());
        }
        if self.paused {
            return Ok(Fire::Normal);
        }
        self.ops += 1;
        let ops = self.ops;
        if let Some(i) = self.armed.iter().position(|f| match f {
            Fault::Crash { at_op, .. } => ops >= *at_op,
            Fault::SyncFails { at_op } => is_sync && ops >= *at_op,
        }) {
            return Ok(match self.armed.remove(i) {
                Fault::Crash { phase, .. } => Fire::Crash(phase),
                Fault::SyncFails { .. } => Fire::SyncFails,
            });
        }
        Ok(Fire::Normal)
    }

    fn die(&mut self, what: String) {
        self.events.push(format!("op {}: crash {what}", self.ops));
        self.dead = true;
    }

    fn used(&self) -> u64 {
        self.names
            .values()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|ino| self.inodes[ino].visible.len() as u64)
            .sum()
    }

    /// Writes `buf` at `offset` into the visible copy, as far as the free space allows.
    fn write(&mut self, ino: u64, buf: &[u8], offset: u64) -> io::Result<()> {
        let len = self.inodes[&ino].visible.len() as u64;
        let mut n = buf.len() as u64;
        let mut full = false;
        if let Some(capacity) = self.capacity {
            let room = capacity.saturating_sub(self.used());
            let end_max = len + room;
            if offset + n > end_max {
                n = end_max.saturating_sub(offset);
                full = true;
            }
        }
        if n > 0 {
            let inode = self.inodes.get_mut(&ino).expect("open inode");
            let end = (offset + n) as usize;
            if inode.visible.len() < end {
                inode.visible.resize(end, 0);
            }
            inode.visible[offset as usize..end].copy_from_slice(&buf[..n as usize]);
            for page in offset / PAGE_BYTES..=(offset + n - 1) / PAGE_BYTES {
                inode.dirty.insert(page);
            }
        }
        if full {
            let name = self.name_of(ino);
            self.events.push(format!(
                "op {}: disk full: wrote {n} of {} bytes of {name} at {offset}",
                self.ops,
                buf.len()
            ));
            return Err(enospc());
        }
        Ok(())
    }

    fn set_len(&mut self, ino: u64, new_len: u64) -> io::Result<()> {
        let len = self.inodes[&ino].visible.len() as u64;
        if new_len > len
            && let Some(capacity) = self.capacity
            && self.used() + (new_len - len) > capacity
        {
            self.events
                .push(format!("op {}: disk full: set_len refused", self.ops));
            return Err(enospc());
        }
        let inode = self.inodes.get_mut(&ino).expect("open inode");
        inode.visible.resize(new_len as usize, 0);
        let pages_end = new_len.div_ceil(PAGE_BYTES);
        inode.dirty.retain(|p| *p < pages_end);
        if !new_len.is_multiple_of(PAGE_BYTES) || new_len > len {
            // The last page changed (cut or zero-filled).
            for page in new_len.min(len) / PAGE_BYTES..pages_end {
                inode.dirty.insert(page);
            }
        }
        Ok(())
    }
}

impl Inode {
    /// Copies page `page` (its first `upto` bytes, or all of it) from the cache to the disk.
    fn persist_page(&mut self, page: u64, upto: Option<u64>) {
        let start = page * PAGE_BYTES;
        let visible_len = self.visible.len() as u64;
        if start >= visible_len {
            return;
        }
        let end = (start + upto.unwrap_or(PAGE_BYTES).min(PAGE_BYTES)).min(visible_len);
        if (self.disk.len() as u64) < end {
            self.disk.resize(end as usize, 0);
        }
        self.disk[start as usize..end as usize]
            .copy_from_slice(&self.visible[start as usize..end as usize]);
    }

    fn persist_size(&mut self) {
        self.disk_size = self.visible.len() as u64;
        self.disk.resize(self.disk_size as usize, 0);
    }

    /// A successful sync.
    fn sync(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for page in dirty {
            self.persist_page(page, None);
        }
        self.persist_size();
    }

    /// What the disk shows: its blocks up to the durable size, zeros where none were written.
    fn disk_view(&self) -> Vec<u8> {
        let mut bytes = self.disk.clone();
        bytes.resize(self.disk_size as usize, 0);
        bytes
    }
}

/// How a power loss treats one file's dirty pages.
#[derive(Clone, Copy, Debug)]
enum Loss {
    All,
    Nothing,
    TornPrefix,
    Reordered,
}

impl FaultFs {
    /// An empty file system whose random choices (how much of a write a crash keeps, which
    /// pages reach the disk) are drawn from `seed`.
    pub fn new(seed: u64) -> FaultFs {
        FaultFs {
            inner: Arc::new(Mutex::new(Inner {
                rng: Rng::new(seed ^ 0x5EED_F5F5_0000_0001),
                dirs: BTreeSet::new(),
                names: BTreeMap::new(),
                disk_names: BTreeMap::new(),
                pending_names: Vec::new(),
                inodes: BTreeMap::new(),
                next_ino: 1,
                locks: BTreeMap::new(),
                next_lock: 1,
                epoch: 0,
                ops: 0,
                paused: false,
                dead: false,
                armed: Vec::new(),
                capacity: None,
                events: Vec::new(),
            })),
        }
    }

    /// The file system as the journal's [`Storage`].
    pub fn storage(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// I/O operations so far (paused ones not counted).
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Arms a fault.
    pub fn arm(&self, fault: Fault) {
        self.lock().armed.push(fault);
    }

    /// Disarms every fault not yet fired.
    pub fn disarm(&self) {
        self.lock().armed.clear();
    }

    /// Whether the process is dead (a crash fired and nobody restarted it).
    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// Stops counting operations and firing faults (for the checker's own reads), or resumes.
    pub fn pause(&self, paused: bool) {
        self.lock().paused = paused;
    }

    /// Leaves `free` bytes of space: writes beyond it fail with `StorageFull`.
    pub fn fill_disk(&self, free: u64) {
        let mut g = self.lock();
        let used = g.used();
        g.capacity = Some(used + free);
        let ops = g.ops;
        g.events
            .push(format!("op {ops}: disk filled up, {free} bytes left"));
    }

    /// Removes the space limit.
    pub fn free_disk(&self) {
        let mut g = self.lock();
        if g.capacity.take().is_some() {
            let ops = g.ops;
            g.events.push(format!("op {ops}: disk space freed"));
        }
    }

    /// What was injected so far, in order.
    pub fn events(&self) -> Vec<String> {
        self.lock().events.clone()
    }

    /// Adds a line to [`FaultFs::events`] (the simulator's own steps, for context).
    pub fn note(&self, what: impl Into<String>) {
        let mut g = self.lock();
        let line = format!("op {}: {}", g.ops, what.into());
        g.events.push(line);
    }

    /// The process restarts (after a crash, or a clean exit): locks are released and old
    /// handles stop working. The page cache survives, dirty pages included; the kernel may have
    /// written some of them back meanwhile.
    pub fn restart(&self) {
        let mut g = self.lock();
        let g = &mut *g;
        g.dead = false;
        g.locks.clear();
        g.epoch += 1;
        let mut written = 0;
        for inode in g.inodes.values_mut() {
            let dirty: Vec<u64> = inode.dirty.iter().copied().collect();
            for page in dirty {
                if g.rng.chance(1, 3) {
                    inode.persist_page(page, None);
                    inode.dirty.remove(&page);
                    written += 1;
                }
            }
        }
        let ops = g.ops;
        g.events.push(format!(
            "op {ops}: process restart (background writeback of {written} dirty pages)"
        ));
    }

    /// The machine loses power and comes back: see the crate doc. Also restarts the process.
    pub fn power_loss(&self) {
        let mut g = self.lock();
        let g = &mut *g;
        let mut report = Vec::new();
        let pending = std::mem::take(&mut g.pending_names);
        let kept = g.rng.below(pending.len() as u64 + 1) as usize;
        for op in &pending[..kept] {
            op.apply(&mut g.disk_names);
        }
        if !pending.is_empty() {
            report.push(format!(
                "kept {kept} of {} directory changes",
                pending.len()
            ));
        }
        let live: BTreeSet<u64> = g.disk_names.values().copied().collect();
        g.inodes.retain(|ino, _| live.contains(ino));
        for (ino, inode) in &mut g.inodes {
            let name = g
                .disk_names
                .iter()
                .find(|(_, i)| *i == ino)
                .and_then(|(p, _)| p.file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let dirty: Vec<u64> = std::mem::take(&mut inode.dirty).into_iter().collect();
            let size_changes = inode.visible.len() as u64 != inode.disk_size;
            if dirty.is_empty() && !size_changes {
                continue;
            }
            let loss = *g
                .rng
                .pick(&[Loss::All, Loss::Nothing, Loss::TornPrefix, Loss::Reordered]);
            let mut kept_pages = 0;
            let mut torn_at = None;
            match loss {
                Loss::All => {
                    for &p in &dirty {
                        inode.persist_page(p, None);
                    }
                    kept_pages = dirty.len();
                }
                Loss::Nothing => {}
                Loss::TornPrefix => {
                    let whole = g.rng.below(dirty.len() as u64 + 1) as usize;
                    for &p in &dirty[..whole] {
                        inode.persist_page(p, None);
                    }
                    kept_pages = whole;
                    if let Some(&p) = dirty.get(whole) {
                        let at = g.rng.below(PAGE_BYTES);
                        inode.persist_page(p, Some(at));
                        torn_at = Some(p * PAGE_BYTES + at);
                    }
                }
                Loss::Reordered => {
                    for &p in &dirty {
                        if g.rng.chance(1, 2) {
                            inode.persist_page(p, None);
                            kept_pages += 1;
                        }
                    }
                }
            }
            let new_size = matches!(loss, Loss::All) || g.rng.chance(1, 2);
            if new_size {
                inode.persist_size();
            }
            report.push(format!(
                "{name}: {loss:?}, {kept_pages} of {} dirty pages{}, {} size {}",
                dirty.len(),
                torn_at.map_or_else(String::new, |at| format!(", torn at byte {at}")),
                if new_size { "new" } else { "old" },
                inode.disk_size
            ));
        }
        for inode in g.inodes.values_mut() {
            inode.visible = inode.disk_view();
            inode.disk = inode.visible.clone();
            inode.dirty.clear();
        }
        g.names = g.disk_names.clone();
        g.dead = false;
        g.locks.clear();
        g.epoch += 1;
        let ops = g.ops;
        g.events
            .push(format!("op {ops}: power loss: {}", report.join("; ")));
    }

    /// The page cache forgets its clean pages: reads of them show the disk again.
    pub fn evict(&self) {
        let mut g = self.lock();
        let mut changed = 0;
        for inode in g.inodes.values_mut() {
            let view = inode.disk_view();
            let len = inode.visible.len() as u64;
            for page in 0..len.div_ceil(PAGE_BYTES) {
                if inode.dirty.contains(&page) {
                    continue;
                }
                let start = (page * PAGE_BYTES) as usize;
                let end = ((page + 1) * PAGE_BYTES).min(len) as usize;
                for at in start..end {
                    let byte = view.get(at).copied().unwrap_or(0);
                    if inode.visible[at] != byte {
                        inode.visible[at] = byte;
                        changed += 1;
                    }
                }
            }
        }
        let ops = g.ops;
        g.events.push(format!(
            "op {ops}: page cache evicted ({changed} bytes differed from the disk)"
        ));
    }

    fn ino_at_rest(g: &Inner, path: &Path) -> Option<u64> {
        g.names.get(path).copied()
    }

    /// Whether every file's cache equals its disk (nothing dirty, nothing lost in a writeback).
    pub fn at_rest(&self) -> bool {
        let g = self.lock();
        g.pending_names.is_empty()
            && g.inodes
                .values()
                .all(|i| i.dirty.is_empty() && i.visible == i.disk_view())
    }

    /// The durable bytes of `path`, if it exists.
    pub fn durable(&self, path: &Path) -> Option<Vec<u8>> {
        let g = self.lock();
        let ino = g.disk_names.get(path)?;
        Some(g.inodes[ino].disk_view())
    }

    /// Flips one bit of `path` on the disk and in the cache, at a random offset; returns the
    /// offset and the bit, or `None` if the file is absent or empty. Use at rest.
    pub fn flip_bit(&self, path: &Path) -> Option<(u64, u8)> {
        let mut g = self.lock();
        let g = &mut *g;
        let ino = Self::ino_at_rest(g, path)?;
        let len = g.inodes[&ino].disk_size;
        if len == 0 {
            return None;
        }
        let at = g.rng.below(len);
        let bit = g.rng.below(8) as u8;
        let inode = g.inodes.get_mut(&ino).expect("named inode");
        let mut view = inode.disk_view();
        view[at as usize] ^= 1 << bit;
        inode.disk = view.clone();
        if (at as usize) < inode.visible.len() && !inode.dirty.contains(&(at / PAGE_BYTES)) {
            inode.visible[at as usize] ^= 1 << bit;
        }
        g.events.push(format!(
            "op {}: at rest: flipped bit {bit} of byte {at} of {}",
            g.ops,
            path.display()
        ));
        Some((at, bit))
    }

    /// Cuts `path` to `len` bytes on the disk and in the cache. Use at rest.
    pub fn truncate_at_rest(&self, path: &Path, len: u64) -> bool {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(ino) = Self::ino_at_rest(g, path) else {
            return false;
        };
        let inode = g.inodes.get_mut(&ino).expect("named inode");
        let old = inode.disk_size;
        let mut view = inode.disk_view();
        view.truncate(len as usize);
        inode.disk_size = view.len() as u64;
        inode.disk = view.clone();
        inode.visible = view;
        inode.dirty.clear();
        g.events.push(format!(
            "op {}: at rest: truncated {} from {old} to {len} bytes",
            g.ops,
            path.display()
        ));
        true
    }

    /// Sets `path`'s bytes, on the disk and in the cache (to undo damage done at rest).
    pub fn restore(&self, path: &Path, bytes: &[u8]) {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(ino) = Self::ino_at_rest(g, path) else {
            return;
        };
        let inode = g.inodes.get_mut(&ino).expect("named inode");
        inode.visible = bytes.to_vec();
        inode.disk = bytes.to_vec();
        inode.disk_size = bytes.len() as u64;
        inode.dirty.clear();
        g.events.push(format!(
            "op {}: at rest: restored {} ({} bytes)",
            g.ops,
            path.display(),
            bytes.len()
        ));
    }
}

#[derive(Debug)]
struct SimLock {
    fs: FaultFs,
    path: PathBuf,
    generation: u64,
}

impl StorageLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut g = self.fs.lock();
        if g.locks.get(&self.path) == Some(&self.generation) {
            g.locks.remove(&self.path);
        }
    }
}

#[derive(Debug)]
struct SimFile {
    fs: FaultFs,
    ino: u64,
    epoch: u64,
    writable: bool,
}

impl FaultFs {
    /// Opens or creates `path` (the directory must exist).
    fn open_file(g: &mut Inner, path: &Path, mode: OpenMode) -> io::Result<u64> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if !parent.as_os_str().is_empty() && !g.dirs.contains(parent) {
            return Err(io::ErrorKind::NotFound.into());
        }
        match (g.names.get(path).copied(), mode) {
            (Some(ino), OpenMode::CreateTruncate) => {
                let inode = g.inodes.get_mut(&ino).expect("named inode");
                inode.visible.clear();
                inode.dirty.clear();
                Ok(ino)
            }
            (Some(ino), _) => Ok(ino),
            (None, OpenMode::Read | OpenMode::Write) => Err(io::ErrorKind::NotFound.into()),
            (None, OpenMode::Create | OpenMode::CreateTruncate) => {
                let ino = g.next_ino;
                g.next_ino += 1;
                g.inodes.insert(ino, Inode::default());
                g.names.insert(path.to_path_buf(), ino);
                g.pending_names.push(NameOp::Link {
                    path: path.to_path_buf(),
                    ino,
                });
                Ok(ino)
            }
        }
    }
}

impl Storage for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        let mut g = self.lock();
        if let Fire::Crash(phase) = g.tick(false)? {
            g.die(format!("{phase:?} creating directory {}", dir.display()).to_lowercase());
            return Err(crash_error());
        }
        if g.dirs.contains(dir) {
            return Ok(false);
        }
        for ancestor in dir.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                g.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(true)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut g = self.lock();
        let fire = g.tick(false)?;
        let create = matches!(mode, OpenMode::Create | OpenMode::CreateTruncate);
        match fire {
            Fire::Crash(Phase::Before) => {
                g.die(format!("before opening {}", path.display()));
                return Err(crash_error());
            }
            Fire::Crash(Phase::During) if create && g.rng.chance(1, 2) => {
                g.die(format!("before creating {}", path.display()));
                return Err(crash_error());
            }
            _ => {}
        }
        let ino = Self::open_file(&mut g, path, mode)?;
        if let Fire::Crash(phase) = fire {
            g.die(format!("{phase:?} opening {}", path.display()).to_lowercase());
            return Err(crash_error());
        }
        Ok(Box::new(SimFile {
            fs: self.clone(),
            ino,
            epoch: g.epoch,
            writable: mode != OpenMode::Read,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let fire = g.tick(false)?;
        let happens = match fire {
            Fire::Crash(Phase::Before) => false,
            Fire::Crash(Phase::During) => g.rng.chance(1, 2),
            _ => true,
        };
        if happens {
            let ino = g.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
            g.names.insert(to.to_path_buf(), ino);
            g.pending_names.push(NameOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                ino,
            });
        }
        if let Fire::Crash(_) = fire {
            let done = if happens { "after" } else { "before" };
            g.die(format!(
                "{done} renaming {} to {}",
                from.display(),
                to.display()
            ));
            return Err(crash_error());
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let g = &mut *g;
        let fire = g.tick(true)?;
        if let Fire::Crash(Phase::Before) = fire {
            g.die(format!("before syncing directory {}", dir.display()));
            return Err(crash_error());
        }
        let (mine, others): (Vec<NameOp>, Vec<NameOp>) = std::mem::take(&mut g.pending_names)
            .into_iter()
            .partition(|op| op.dir() == Some(dir));
        g.pending_names = others;
        let keep = match fire {
            Fire::Normal | Fire::Crash(Phase::After) => mine.len(),
            Fire::Crash(_) | Fire::SyncFails => g.rng.below(mine.len() as u64 + 1) as usize,
        };
        for op in &mine[..keep] {
            op.apply(&mut g.disk_names);
        }
        match fire {
            Fire::Normal => Ok(()),
            Fire::SyncFails => {
                // Unlike file data, directory changes are not dropped: they stay pending, and a
                // later sync writes them (a file system that cannot commit its metadata journal
                // stops writing altogether, which no later acknowledgement survives either).
                let rest: Vec<NameOp> = mine[keep..].to_vec();
                g.pending_names.extend(rest);
                g.events.push(format!(
                    "op {}: EIO syncing directory {} ({keep} of {} changes reached the disk, the \
                     rest still pending)",
                    g.ops,
                    dir.display(),
                    mine.len()
                ));
                Err(eio())
            }
            Fire::Crash(phase) => {
                if phase == Phase::During {
                    // The rest is still pending: a power loss may or may not keep it.
                    let rest: Vec<NameOp> = mine[keep..].to_vec();
                    g.pending_names.extend(rest);
                }
                g.die(format!("{phase:?} syncing directory {}", dir.display()).to_lowercase());
                if phase == Phase::After {
                    Ok(())
                } else {
                    Err(crash_error())
                }
            }
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn StorageLock>>> {
        let mut g = self.lock();
        if let Fire::Crash(phase) = g.tick(false)? {
            g.die(format!("{phase:?} locking {}", path.display()).to_lowercase());
            return Err(crash_error());
        }
        Self::open_file(&mut g, path, OpenMode::Create)?;
        if g.locks.contains_key(path) {
            return Ok(None);
        }
        let generation = g.next_lock;
        g.next_lock += 1;
        g.locks.insert(path.to_path_buf(), generation);
        Ok(Some(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
            generation,
        })))
    }
}

impl SimFile {
    fn check(&self, g: &Inner) -> io::Result<()> {
        if g.dead || g.epoch != self.epoch {
            return Err(crash_error());
        }
        Ok(())
    }

    fn sync(&mut self, what: &str) -> io::Result<()> {
        let mut g = self.fs.lock();
        let g = &mut *g;
        self.check(g)?;
        let fire = g.tick(true)?;
        let name = g.name_of(self.ino);
        let inode = g.inodes.get_mut(&self.ino).expect("open inode");
        match fire {
            Fire::Normal => {
                inode.sync();
                Ok(())
            }
            Fire::Crash(Phase::Before) => {
                g.die(format!("before {what} of {name}"));
                Err(crash_error())
            }
            Fire::Crash(Phase::After) => {
                inode.sync();
                g.die(format!("after {what} of {name}"));
                Ok(())
            }
            Fire::Crash(Phase::During) => {
                // Writeback under way: some pages reached the disk, the rest is still dirty.
                let dirty: Vec<u64> = inode.dirty.iter().copied().collect();
                let mut written = 0;
                for page in dirty {
                    if g.rng.chance(1, 2) {
                        inode.persist_page(page, None);
                        inode.dirty.remove(&page);
                        written += 1;
                    }
                }
                g.die(format!("during {what} of {name} ({written} pages written)"));
                Err(crash_error())
            }
            Fire::SyncFails => {
                let dirty: Vec<u64> = std::mem::take(&mut inode.dirty).into_iter().collect();
                let mut outcome = Vec::new();
                for page in &dirty {
                    match g.rng.below(3) {
                        0 => {
                            inode.persist_page(*page, None);
                            outcome.push("written");
                        }
                        1 => outcome.push("lost"),
                        _ => {
                            let sectors = g.rng.below(PAGE_BYTES / SECTOR_BYTES);
                            inode.persist_page(*page, Some(sectors * SECTOR_BYTES));
                            outcome.push("torn");
                        }
                    }
                }
                let size = g.rng.chance(1, 2);
                if size {
                    inode.persist_size();
                }
                g.events.push(format!(
                    "op {}: EIO on {what} of {name}: pages {dirty:?} {outcome:?}, size {}",
                    g.ops,
                    if size { "written" } else { "not written" }
                ));
                Err(eio())
            }
        }
    }
}

impl StorageFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        let mut g = self.fs.lock();
        self.check(&g)?;
        if let Fire::Crash(phase) = g.tick(false)? {
            g.die(format!("{phase:?} reading a length").to_lowercase());
            return Err(crash_error());
        }
        Ok(g.inodes[&self.ino].visible.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut g = self.fs.lock();
        self.check(&g)?;
        if let Fire::Crash(phase) = g.tick(false)? {
            g.die(format!("{phase:?} a read").to_lowercase());
            return Err(crash_error());
        }
        let visible = &g.inodes[&self.ino].visible;
        if offset >= visible.len() as u64 {
            return Ok(0);
        }
        let n = buf.len().min(visible.len() - offset as usize);
        buf[..n].copy_from_slice(&visible[offset as usize..offset as usize + n]);
        Ok(n)
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut g = self.fs.lock();
        let g = &mut *g;
        self.check(g)?;
        if !self.writable {
            return Err(io::ErrorKind::PermissionDenied.into());
        }
        let fire = g.tick(false)?;
        let name = g.name_of(self.ino);
        match fire {
            Fire::Normal | Fire::SyncFails => g.write(self.ino, buf, offset),
            Fire::Crash(Phase::Before) => {
                g.die(format!(
                    "before writing {} bytes of {name} at {offset}",
                    buf.len()
                ));
                Err(crash_error())
            }
            Fire::Crash(Phase::During) => {
                let n = g.rng.below(buf.len() as u64) as usize;
                let _ = g.write(self.ino, &buf[..n], offset);
                g.die(format!(
                    "during a write of {name} at {offset}: {n} of {} bytes written",
                    buf.len()
                ));
                Err(crash_error())
            }
            Fire::Crash(Phase::After) => {
                let r = g.write(self.ino, buf, offset);
                g.die(format!(
                    "after writing {} bytes of {name} at {offset}",
                    buf.len()
                ));
                r
            }
        }
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut g = self.fs.lock();
        let g = &mut *g;
        self.check(g)?;
        let fire = g.tick(false)?;
        let happens = match fire {
            Fire::Crash(Phase::Before) => false,
            Fire::Crash(Phase::During) => g.rng.chance(1, 2),
            _ => true,
        };
        let r = if happens {
            g.set_len(self.ino, len)
        } else {
            Ok(())
        };
        if let Fire::Crash(_) = fire {
            let name = g.name_of(self.ino);
            let done = if happens { "after" } else { "before" };
            g.die(format!("{done} cutting {name} to {len} bytes"));
            return if happens { r } else { Err(crash_error()) };
        }
        r
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync("fdatasync")
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync("fsync")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/j")
    }

    fn new_file(fs: &FaultFs, name: &str) -> Box<dyn StorageFile> {
        fs.create_dir_all(&dir()).unwrap();
        let f = fs.open(&dir().join(name), OpenMode::Create).unwrap();
        fs.sync_dir(&dir()).unwrap();
        f
    }

    fn read_all(fs: &FaultFs, name: &str) -> Vec<u8> {
        let f = fs.open(&dir().join(name), OpenMode::Read).unwrap();
        let mut buf = vec![0u8; f.len().unwrap() as usize];
        let n = f.read_at(&mut buf, 0).unwrap();
        assert_eq!(n, buf.len());
        buf
    }

    #[test]
    fn synced_bytes_survive_a_power_loss_and_unsynced_ones_may_not() {
        for seed in 0..200 {
            let fs = FaultFs::new(seed);
            let mut f = new_file(&fs, "log");
            f.write_all_at(&[1; 5000], 0).unwrap();
            f.sync_data().unwrap();
            f.write_all_at(&[2; 3000], 5000).unwrap();
            fs.power_loss();
            let after = read_all(&fs, "log");
            assert!(after.len() >= 5000 && after.len() <= 8000, "seed {seed}");
            assert_eq!(&after[..5000], &[1; 5000][..], "seed {seed}");
            assert!(
                after[5000..].iter().all(|b| *b == 2 || *b == 0),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn a_file_whose_directory_was_not_synced_may_vanish() {
        let mut vanished = 0;
        for seed in 0..50 {
            let fs = FaultFs::new(seed);
            fs.create_dir_all(&dir()).unwrap();
            let mut f = fs.open(&dir().join("new"), OpenMode::Create).unwrap();
            f.write_all_at(b"x", 0).unwrap();
            f.sync_all().unwrap();
            fs.power_loss();
            match fs.open(&dir().join("new"), OpenMode::Read) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => vanished += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(vanished > 0 && vanished < 50);
    }

    #[test]
    fn after_a_failed_sync_reads_show_the_cache_but_the_disk_may_differ() {
        let mut differed = 0;
        for seed in 0..50 {
            let fs = FaultFs::new(seed);
            let mut f = new_file(&fs, "log");
            f.write_all_at(&[7; 100], 0).unwrap();
            fs.arm(Fault::SyncFails { at_op: 0 });
            assert!(f.sync_data().is_err());
            assert_eq!(read_all(&fs, "log"), vec![7; 100]);
            // A later successful sync does not write the cleaned pages again.
            f.sync_data().unwrap();
            if fs.durable(&dir().join("log")).unwrap() != vec![7; 100] {
                differed += 1;
            }
        }
        assert!(differed > 0);
    }

    #[test]
    fn a_crash_kills_every_later_operation_until_restart() {
        let fs = FaultFs::new(1);
        let mut f = new_file(&fs, "log");
        let at = fs.ops() + 1;
        fs.arm(Fault::Crash {
            at_op: at,
            phase: Phase::During,
        });
        assert!(f.write_all_at(&[1; 100], 0).is_err());
        assert!(fs.is_dead());
        assert!(f.sync_data().is_err());
        fs.restart();
        assert!(f.sync_data().is_err(), "a handle of the dead process");
        let len = read_all(&fs, "log").len();
        assert!(len < 100);
    }

    #[test]
    fn a_full_disk_writes_what_fits() {
        let fs = FaultFs::new(1);
        let mut f = new_file(&fs, "log");
        fs.fill_disk(10);
        let e = f.write_all_at(&[1; 100], 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(read_all(&fs, "log").len(), 10);
        // Overwriting in place needs no space.
        f.write_all_at(&[2; 10], 0).unwrap();
        fs.free_disk();
        f.write_all_at(&[1; 100], 0).unwrap();
    }

    #[test]
    fn locks_are_exclusive_and_released_on_drop_or_restart() {
        let fs = FaultFs::new(1);
        fs.create_dir_all(&dir()).unwrap();
        let lock = fs.try_lock(&dir().join("LOCK")).unwrap().unwrap();
        assert!(fs.try_lock(&dir().join("LOCK")).unwrap().is_none());
        drop(lock);
        let old = fs.try_lock(&dir().join("LOCK")).unwrap().unwrap();
        fs.restart();
        let new = fs.try_lock(&dir().join("LOCK")).unwrap().unwrap();
        drop(old);
        assert!(
            fs.try_lock(&dir().join("LOCK")).unwrap().is_none(),
            "{new:?}"
        );
    }
}
