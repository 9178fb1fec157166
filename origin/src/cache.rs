//! The in-memory hot cache: small files kept whole as [`Bytes`], keyed by request path.
//!
//! Serving from it costs one read-lock acquisition and an `Arc` clone; the body is a
//! refcounted `Bytes` clone (or a zero-copy slice for ranges), never a copy.
//!
//! Design: a `std::sync::RwLock<HashMap>` plus a byte budget. Reads (the hot path) only
//! take the read lock briefly; writes happen on misses. Eviction scans for the least
//! recently used entries, which is O(entries) but only runs on an insert that
//! overflows the budget (entries are ≥ a few KiB and the budget is tens of MiB, so a
//! few thousand entries at most). This keeps the crate free of a cache dependency;
//! `quick_cache` would be the upgrade path if eviction ever shows up in profiles.
//!
//! Staleness: each entry remembers when it was last validated against the file's
//! (len, mtime, inode); the server re-validates after `hot_cache_revalidate_ms`.
//!
//! Descriptors: an entry may keep its open file for `sendfile(2)`; at most `max_files`
//! entries do ([`HotCache::with_max_files`], [`max_open_files_for`]). Past that an entry
//! keeps only its bytes and is written from memory, so the cache can never take the
//! descriptors that connections and their requests are budgeted (`serve::limits`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::info::FileInfo;

/// One cached file.
#[derive(Debug)]
pub struct CachedFile {
    /// Validators and precomputed header values.
    pub info: FileInfo,
    /// The whole file.
    pub data: Bytes,
    /// The open file the data was read from, kept for files large enough to be sent
    /// with `sendfile(2)` (see [`crate::files::SENDFILE_MIN_BYTES`]); its inode is the one
    /// in `info`'s identity, so it stays valid exactly as long as `data` does.
    pub file: Option<Arc<std::fs::File>>,
    checked_at_ms: AtomicU64,
    last_used: AtomicU64,
}

/// Bytes charged to an entry beyond its data (key, header values, bookkeeping).
const ENTRY_OVERHEAD: u64 = 256;

impl CachedFile {
    fn weight(&self) -> u64 {
        self.data.len() as u64 + ENTRY_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Box<str>, Arc<CachedFile>>,
    used: u64,
    /// Entries holding an open file.
    files: usize,
}

impl Inner {
    fn take(&mut self, key: &str) -> Option<Arc<CachedFile>> {
        let old = self.map.remove(key)?;
        self.used -= old.weight();
        self.files -= usize::from(old.file.is_some());
        Some(old)
    }
}

/// How many open files the hot cache may keep for a soft `RLIMIT_NOFILE` of `soft`: one
/// sixteenth (64 at the common 1,024, 4,096 at 65,536). The origin takes them out of the
/// descriptors it budgets for connections (`serve::limits::max_connections_for(soft − n)`).
pub fn max_open_files_for(soft: u64) -> usize {
    usize::try_from(soft / 16).unwrap_or(usize::MAX)
}

/// Byte-budgeted map of request path → [`CachedFile`].
#[derive(Debug)]
pub struct HotCache {
    inner: RwLock<Inner>,
    budget: u64,
    max_file: u64,
    max_files: usize,
    revalidate: Duration,
    epoch: Instant,
    tick: AtomicU64,
}

impl HotCache {
    /// A cache holding at most `budget` bytes of files each at most `max_file` bytes,
    /// whose entries need revalidation `revalidate` after their last check.
    pub fn new(budget: u64, max_file: u64, revalidate: Duration) -> Self {
        HotCache {
            inner: RwLock::default(),
            budget,
            max_file: max_file.min(budget),
            max_files: usize::MAX,
            revalidate,
            epoch: Instant::now(),
            tick: AtomicU64::new(0),
        }
    }

    /// The same cache keeping at most `max_files` open files (entries past that keep
    /// their bytes only).
    pub fn with_max_files(mut self, max_files: usize) -> Self {
        self.max_files = max_files;
        self
    }

    /// Whether a file of `len` bytes may be cached.
    pub fn admits(&self, len: u64) -> bool {
        len <= self.max_file && self.budget > 0
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Looks up `key`. Returns the entry and whether it is still fresh (validated within
    /// the revalidation interval). Stale entries must be re-checked against the file by the
    /// caller, then [`HotCache::touch`]ed or replaced.
    pub fn get(&self, key: &str) -> Option<(Arc<CachedFile>, bool)> {
        let entry = self.inner.read().ok()?.map.get(key).cloned()?;
        entry
            .last_used
            .store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        let age = self
            .now_ms()
            .saturating_sub(entry.checked_at_ms.load(Ordering::Relaxed));
        let fresh = (age as u128) < self.revalidate.as_millis();
        Some((entry, fresh))
    }

    /// Marks an entry as validated now.
    pub fn touch(&self, entry: &CachedFile) {
        entry.checked_at_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Inserts (or replaces) `key`, evicting least recently used entries to stay within
    /// the budget. Returns the new entry and the cache's byte usage afterwards.
    pub fn insert(&self, key: &str, info: FileInfo, data: Bytes) -> (Arc<CachedFile>, u64) {
        self.insert_with_file(key, info, data, None)
    }

    /// [`HotCache::insert`], keeping the open `file` too (one descriptor per entry) while
    /// fewer than `max_files` entries hold one; otherwise the entry keeps its bytes only.
    pub fn insert_with_file(
        &self,
        key: &str,
        info: FileInfo,
        data: Bytes,
        file: Option<Arc<std::fs::File>>,
    ) -> (Arc<CachedFile>, u64) {
        let len = data.len() as u64;
        let make = |file| {
            Arc::new(CachedFile {
                info,
                data,
                file,
                checked_at_ms: AtomicU64::new(self.now_ms()),
                last_used: AtomicU64::new(self.tick.fetch_add(1, Ordering::Relaxed)),
            })
        };
        if !self.admits(len) {
            return (make(file), self.used());
        }
        let mut inner = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        inner.take(key);
        let w = len + ENTRY_OVERHEAD;
        while inner.used + w > self.budget && !inner.map.is_empty() {
            let victim = inner
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                inner.take(&k);
            }
        }
        let file = file.filter(|_| inner.files < self.max_files);
        let entry = make(file);
        inner.files += usize::from(entry.file.is_some());
        inner.used += w;
        inner.map.insert(key.into(), entry.clone());
        (entry, inner.used)
    }

    /// Removes `key` (e.g. the file disappeared). Returns the byte usage afterwards.
    pub fn remove(&self, key: &str) -> u64 {
        let mut inner = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        inner.take(key);
        inner.used
    }

    /// Number of cached entries holding an open file.
    pub fn open_files(&self) -> usize {
        self.inner.read().map(|i| i.files).unwrap_or(0)
    }

    /// Bytes currently accounted to cached entries.
    pub fn used(&self) -> u64 {
        self.inner.read().map(|i| i.used).unwrap_or(0)
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.map.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::FileInfo;
    use std::time::UNIX_EPOCH;

    fn info(len: u64) -> FileInfo {
        FileInfo::new(
            len,
            UNIX_EPOCH + Duration::from_secs(1),
            1,
            "a.m4s",
            "public",
        )
    }

    #[test]
    fn open_files_are_capped_and_counted_back() {
        let c = HotCache::new(4 * 1256, 2000, Duration::from_secs(60)).with_max_files(2);
        let file = || Some(Arc::new(std::fs::File::open("/dev/null").unwrap()));
        let body = || Bytes::from(vec![0u8; 1000]);
        for k in ["a", "b", "c"] {
            c.insert_with_file(k, info(1000), body(), file());
        }
        assert_eq!(c.open_files(), 2);
        assert!(c.get("a").unwrap().0.file.is_some());
        assert!(
            c.get("c").unwrap().0.file.is_none(),
            "past the cap: bytes only"
        );
        c.remove("a");
        assert_eq!(c.open_files(), 1);
        // replacing an entry and evicting one give their descriptors back too
        c.insert_with_file("b", info(1000), body(), file());
        assert_eq!(c.open_files(), 1);
        for k in ["d", "e", "f", "g"] {
            c.insert_with_file(k, info(1000), body(), file());
        }
        assert_eq!(c.len(), 4);
        let holding = ["d", "e", "f", "g"]
            .iter()
            .filter(|k| c.get(k).is_some_and(|(e, _)| e.file.is_some()))
            .count();
        assert_eq!(c.open_files(), holding);
        assert!(c.open_files() <= 2);
        assert_eq!(max_open_files_for(1024), 64);
    }

    #[test]
    fn budget_and_lru() {
        let c = HotCache::new(3 * (1000 + 256), 2000, Duration::from_secs(60));
        for k in ["a", "b", "c"] {
            c.insert(k, info(1000), Bytes::from(vec![0u8; 1000]));
        }
        assert_eq!(c.len(), 3);
        c.get("a"); // a is now more recent than b
        c.insert("d", info(1000), Bytes::from(vec![0u8; 1000]));
        assert_eq!(c.len(), 3);
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some());
        assert!(c.used() <= 3 * 1256);
        // too large: not admitted
        c.insert("big", info(3000), Bytes::from(vec![0u8; 3000]));
        assert!(c.get("big").is_none());
        // replace keeps accounting right
        c.insert("a", info(10), Bytes::from_static(b"0123456789"));
        assert_eq!(c.get("a").unwrap().0.data.len(), 10);
        assert_eq!(c.used(), 2 * 1256 + 266);
        assert_eq!(c.remove("a"), 2 * 1256);
    }

    #[test]
    fn freshness() {
        let c = HotCache::new(1 << 20, 1 << 20, Duration::ZERO);
        c.insert("a", info(1), Bytes::from_static(b"x"));
        assert!(!c.get("a").unwrap().1);
        let c = HotCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        c.insert("a", info(1), Bytes::from_static(b"x"));
        assert!(c.get("a").unwrap().1);
    }
}
