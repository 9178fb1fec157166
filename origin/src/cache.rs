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

impl CachedFile {
    fn weight(&self) -> u64 {
        self.data.len() as u64 + 256
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Box<str>, Arc<CachedFile>>,
    used: u64,
}

/// Byte-budgeted map of request path → [`CachedFile`].
#[derive(Debug)]
pub struct HotCache {
    inner: RwLock<Inner>,
    budget: u64,
    max_file: u64,
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
            revalidate,
            epoch: Instant::now(),
            tick: AtomicU64::new(0),
        }
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

    /// [`HotCache::insert`], keeping the open `file` too (one descriptor per entry).
    pub fn insert_with_file(
        &self,
        key: &str,
        info: FileInfo,
        data: Bytes,
        file: Option<Arc<std::fs::File>>,
    ) -> (Arc<CachedFile>, u64) {
        let entry = Arc::new(CachedFile {
            info,
            data,
            file,
            checked_at_ms: AtomicU64::new(self.now_ms()),
            last_used: AtomicU64::new(self.tick.fetch_add(1, Ordering::Relaxed)),
        });
        if !self.admits(entry.data.len() as u64) {
            return (entry, self.used());
        }
        let mut inner = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(old) = inner.map.remove(key) {
            inner.used -= old.weight();
        }
        let w = entry.weight();
        while inner.used + w > self.budget && !inner.map.is_empty() {
            let victim = inner
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                if let Some(old) = inner.map.remove(&k) {
                    inner.used -= old.weight();
                }
            }
        }
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
        if let Some(old) = inner.map.remove(key) {
            inner.used -= old.weight();
        }
        inner.used
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
