//! [`Cache`]: the sharded memory tier over the optional disk tier.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::disk::DiskTier;
use crate::mem::{MemTier, ENTRY_OVERHEAD};
use crate::{CacheConfig, CacheError, CacheStats, Entry, Policy};

/// Each shard gets at least this much budget (so segments of tens of MB stay admissible).
const MIN_SHARD_BYTES: u64 = 64 << 20;
/// At most this many shards.
const MAX_SHARDS: usize = 16;

struct Shard {
    tier: MemTier<Arc<str>, Entry>,
    /// Bumped by every removal; a disk hit is promoted only if no removal ran meanwhile,
    /// so a PURGE racing a disk read cannot resurrect the object in memory.
    removals: u64,
}

/// The edge's object store: memory tier (S3-FIFO or LRU, byte budget) over an optional
/// disk tier. `Send + Sync`; share it as `Arc<Cache>`.
///
/// * The memory tier is split into up to 16 shards by key hash, each with its own mutex and
///   an equal share of `mem_bytes` (at least 64 MiB per shard, so small budgets use one
///   shard). An object must fit its shard: see [`Cache::max_object_bytes`].
/// * An object weighs `key + meta + body + `[`ENTRY_OVERHEAD`]; the sum over all shards,
///   ghost bookkeeping included, never exceeds `mem_bytes`.
/// * Writes go through to the disk tier; disk hits are promoted to memory.
/// * Methods touching the disk tier do blocking file I/O on the calling thread.
pub struct Cache {
    shards: Box<[Mutex<Shard>]>,
    hasher: BuildHasherDefault<DefaultHasher>,
    disk: Option<DiskTier>,
    mem_budget: u64,
    policy: Policy,
}

/// An object's weight in the memory tier.
pub(crate) fn weight(key: &str, entry: &Entry) -> u64 {
    (key.len() + entry.meta.len() + entry.body.len()) as u64 + ENTRY_OVERHEAD
}

impl Cache {
    /// Builds the cache; with a disk tier, opens (creating if needed) its directory and
    /// scans it so the cache is warm after a restart.
    pub fn open(config: CacheConfig) -> Result<Cache, CacheError> {
        let mut n = 1;
        while n < MAX_SHARDS && config.mem_bytes / (n as u64 * 2) >= MIN_SHARD_BYTES {
            n *= 2;
        }
        let per_shard = config.mem_bytes / n as u64;
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    tier: MemTier::new(config.policy, per_shard),
                    removals: 0,
                })
            })
            .collect();
        let disk = config.disk.as_ref().map(DiskTier::open).transpose()?;
        tracing::info!(
            mem_bytes = config.mem_bytes,
            shards = n,
            policy = ?config.policy,
            disk = ?config.disk.as_ref().map(|d| &d.dir),
            "cache: opened"
        );
        Ok(Cache {
            shards,
            hasher: BuildHasherDefault::default(),
            disk,
            mem_budget: config.mem_bytes,
            policy: config.policy,
        })
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let i = self.hasher.hash_one(key) as usize & (self.shards.len() - 1);
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The memory policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The heaviest object (key + meta + body + [`ENTRY_OVERHEAD`]) the memory tier admits.
    pub fn max_object_bytes(&self) -> u64 {
        self.shards[0]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tier
            .max_weight()
    }

    /// Looks `key` up in memory, then on disk. A disk hit has its length and checksum
    /// verified (a corrupt or truncated file is deleted, counted, and reported as a miss)
    /// and is promoted to memory.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let removals = {
            let mut shard = self.shard(key);
            if let Some(e) = shard.tier.get(key) {
                return Some(e.clone());
            }
            shard.removals
        };
        let entry = self.disk.as_ref()?.get(key)?;
        let w = weight(key, &entry);
        let mut shard = self.shard(key);
        if shard.removals == removals && !shard.tier.contains(key) {
            shard.tier.insert(Arc::from(key), entry.clone(), w);
        }
        Some(entry)
    }

    /// Stores `entry` under `key` in memory and, when configured, on disk (write-through).
    /// Returns false if neither tier admitted it (heavier than the memory tier's
    /// [`Cache::max_object_bytes`] and than the disk budget). A refused object also removes
    /// any older version under the same key.
    pub fn insert(&self, key: &str, entry: Entry) -> bool {
        let w = weight(key, &entry);
        let mem = self
            .shard(key)
            .tier
            .insert(Arc::from(key), entry.clone(), w)
            .admitted;
        let disk = self.disk.as_ref().is_some_and(|d| d.insert(key, &entry));
        if !mem && !disk {
            tracing::debug!(key, weight = w, "cache: object not admitted");
        }
        mem || disk
    }

    /// Replaces the meta of `key` and keeps its body, in both tiers (after a `304`
    /// revalidation). Returns false if `key` is in neither tier.
    pub fn update_meta(&self, key: &str, meta: Bytes) -> bool {
        let body = {
            let mut shard = self.shard(key);
            let body = shard.tier.peek(key).map(|e| e.body.clone());
            if let Some(body) = &body {
                let entry = Entry {
                    meta: meta.clone(),
                    body: body.clone(),
                };
                let w = weight(key, &entry);
                shard.tier.insert(Arc::from(key), entry, w);
            }
            body
        };
        let in_mem = body.is_some();
        let on_disk = self
            .disk
            .as_ref()
            .is_some_and(|d| d.update_meta(key, meta, body));
        in_mem || on_disk
    }

    /// Removes `key` from both tiers (PURGE). Returns whether it was in either.
    pub fn remove(&self, key: &str) -> bool {
        let in_mem = {
            let mut shard = self.shard(key);
            shard.removals += 1;
            shard.tier.remove(key).is_some()
        };
        let on_disk = self.disk.as_ref().is_some_and(|d| d.remove(key));
        in_mem || on_disk
    }

    /// Removes every object whose key starts with `prefix` from both tiers; returns how
    /// many distinct keys were removed.
    pub fn remove_prefix(&self, prefix: &str) -> usize {
        let mut removed: HashSet<Arc<str>> = HashSet::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.removals += 1;
            removed.extend(shard.tier.remove_if(|k| k.starts_with(prefix)));
        }
        if let Some(d) = &self.disk {
            removed.extend(d.remove_prefix(prefix));
        }
        removed.len()
    }

    /// A snapshot of occupancy and counters.
    pub fn stats(&self) -> CacheStats {
        let mut s = CacheStats {
            mem_budget: self.mem_budget,
            ..CacheStats::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            s.mem_bytes += shard.tier.used_bytes();
            s.mem_objects += shard.tier.len() as u64;
            s.evictions_mem += shard.tier.evictions();
        }
        if let Some(d) = &self.disk {
            let ds = d.stats();
            s.disk_bytes = ds.bytes;
            s.disk_objects = ds.objects;
            s.evictions_disk = ds.evictions;
            s.corrupt_disk_objects = ds.corrupt;
            s.disk_budget = ds.budget;
        }
        s
    }

    /// Whether a disk tier is configured (then `get`/`insert`/`update_meta` may block on I/O).
    pub fn has_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// [`Cache::get`] from async code: runs on the blocking pool when a disk tier is
    /// configured, inline otherwise. Needs a tokio runtime.
    pub async fn get_async(self: &Arc<Self>, key: &str) -> Option<Entry> {
        if self.disk.is_none() {
            return self.get(key);
        }
        let this = Arc::clone(self);
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || this.get(&key))
            .await
            .unwrap_or(None)
    }

    /// [`Cache::insert`] from async code: runs on the blocking pool when a disk tier is
    /// configured, inline otherwise. Needs a tokio runtime.
    pub async fn insert_async(self: &Arc<Self>, key: &str, entry: Entry) -> bool {
        if self.disk.is_none() {
            return self.insert(key, entry);
        }
        let this = Arc::clone(self);
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || this.insert(&key, entry))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem_cache(bytes: u64) -> Cache {
        Cache::open(CacheConfig {
            mem_bytes: bytes,
            disk: None,
            policy: Policy::S3Fifo,
        })
        .unwrap()
    }

    fn e(body: usize) -> Entry {
        Entry {
            meta: Bytes::from_static(b"head"),
            body: Bytes::from(vec![1u8; body]),
        }
    }

    #[test]
    fn shared_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Cache>();
        send_sync::<crate::FillLocks>();
        send::<crate::FillWriter>();
        send::<crate::FillReader>();
    }

    #[test]
    fn shard_count_scales_with_budget() {
        assert_eq!(mem_cache(1 << 20).shards.len(), 1);
        assert_eq!(mem_cache(256 << 20).shards.len(), 4);
        assert_eq!(mem_cache(64 << 30).shards.len(), 16);
    }

    #[test]
    fn insert_get_update_remove() {
        let c = mem_cache(1 << 20);
        assert!(c.insert("a/1", e(10)));
        assert_eq!(c.get("a/1").unwrap().body.len(), 10);
        assert!(c.update_meta("a/1", Bytes::from_static(b"new")));
        assert_eq!(c.get("a/1").unwrap().meta, Bytes::from_static(b"new"));
        assert!(!c.update_meta("nope", Bytes::new()));
        assert!(c.remove("a/1"));
        assert!(c.get("a/1").is_none());
        assert!(!c.remove("a/1"));
        let s = c.stats();
        assert_eq!((s.mem_objects, s.mem_bytes), (0, 0));
    }

    #[test]
    fn weight_includes_overhead() {
        let c = mem_cache(1 << 20);
        c.insert("abc", e(100));
        assert_eq!(c.stats().mem_bytes, 3 + 4 + 100 + ENTRY_OVERHEAD);
    }
}
