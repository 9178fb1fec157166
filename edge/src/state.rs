//! [`EdgeState`]: everything one edge shares between its requests and fill tasks — the
//! configuration, the storage, the fill locks, the upstream client, the metrics, the
//! [`Clock`] of every freshness decision and the purge generation — and the cache
//! operations on it (memory first, the disk tier on the blocking pool).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cache::{Cache, CacheConfig, DiskConfig, Entry, FillBudget, FillLocks};
use http::header::HeaderValue;

use crate::clock::Clock;
use crate::config::{EdgeConfig, EvictionPolicy};
use crate::error::EdgeError;
use crate::freshness::Defaults;
use crate::head::StoredHead;
use crate::key::CacheKey;
use crate::metrics::Metrics;
use crate::upstream::Upstream;

/// Shared, cheaply clonable state of one edge.
#[derive(Clone)]
pub struct EdgeState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: EdgeConfig,
    pub upstream: Upstream,
    pub cache: Arc<Cache>,
    pub locks: FillLocks,
    pub metrics: Arc<Metrics>,
    pub defaults: Defaults,
    pub clock: Clock,
    pub served_by: HeaderValue,
    pub via: HeaderValue,
    pub disk: bool,
    /// Bumped by every PURGE; a fill that started before a purge does not store its object.
    pub purge_generation: AtomicU64,
    /// The current response rate limit, bits/s (0 = off; see [`crate::ratelimit`]).
    pub limit_rate: Arc<AtomicU64>,
    /// The players' CMCD sessions ([`crate::cmcd`]).
    pub cmcd_sessions: crate::cmcd::Sessions,
    /// Objects prefetched and not yet asked for ([`crate::prefetch`]).
    pub prefetched: crate::prefetch_pending::Pending,
    /// Recent send rates to clients and the duress inputs of CMSD ([`crate::cmsd`]).
    pub cmsd: crate::cmsd_rates::Rates,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState")
            .field("id", &self.inner.config.id)
            .finish_non_exhaustive()
    }
}

impl EdgeState {
    /// Validates the configuration, opens the cache (memory and optional disk tier) and
    /// builds the upstream client. No socket is opened. Freshness follows the wall clock.
    pub fn new(config: EdgeConfig) -> Result<EdgeState, EdgeError> {
        EdgeState::with_clock(config, Clock::system())
    }

    /// [`EdgeState::new`] with the clock freshness and ages are computed with (tests pass
    /// [`Clock::following_tokio`] to move time with `tokio::time::advance`).
    pub fn with_clock(config: EdgeConfig, clock: Clock) -> Result<EdgeState, EdgeError> {
        let upstream = Upstream::new(&config)?;
        let cache = Cache::open(CacheConfig {
            mem_bytes: config.mem.0,
            disk: config.disk.as_ref().map(|dir| DiskConfig {
                dir: dir.clone(),
                max_bytes: config.disk_size.0,
            }),
            policy: match config.policy {
                EvictionPolicy::S3fifo => cache::Policy::S3Fifo,
                EvictionPolicy::Lru => cache::Policy::Lru,
            },
        })?;
        let bad_id = |source| EdgeError::BadId {
            id: config.id.clone(),
            source,
        };
        let served_by = HeaderValue::from_str(&config.id).map_err(bad_id)?;
        let via = HeaderValue::from_str(&serve::wire::via(&config.id)).map_err(bad_id)?;
        Ok(EdgeState {
            inner: Arc::new(Inner {
                locks: FillLocks::with_budget(
                    Duration::from_millis(config.fill_wait_timeout_ms),
                    FillBudget {
                        memory: config.fill_memory.0,
                        window: cache::fill::DEFAULT_WINDOW,
                        stall: cache::fill::DEFAULT_STALL,
                    },
                ),
                defaults: config.freshness_defaults(),
                disk: config.disk.is_some(),
                purge_generation: AtomicU64::new(0),
                limit_rate: Arc::new(AtomicU64::new(config.limit_rate)),
                cmcd_sessions: crate::cmcd::Sessions::default(),
                prefetched: crate::prefetch_pending::Pending::default(),
                cmsd: crate::cmsd_rates::Rates::new(config.max_connections),
                cache: Arc::new(cache),
                metrics: Arc::new(Metrics::new()),
                clock,
                upstream,
                served_by,
                via,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EdgeConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The storage (both tiers).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.inner.cache
    }

    /// The clock of every freshness and age decision.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The current time by [`EdgeState::clock`].
    pub(crate) fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Looks `key` up in memory, then on disk (on the blocking pool when a disk tier is
    /// configured). An entry whose head cannot be decoded is removed and reported missing.
    pub async fn lookup(&self, key: &CacheKey) -> Option<(StoredHead, Bytes)> {
        let entry = self.blocking(key.as_str(), |c, k| c.get(k)).await?;
        match StoredHead::decode(&entry.meta) {
            Some(h) => Some((h, entry.body)),
            None => {
                tracing::warn!(key = key.as_str(), "undecodable cache entry removed");
                self.blocking(key.as_str(), |c, k| c.remove(k)).await;
                None
            }
        }
    }

    /// The largest body the store would keep under `key` with a head of `meta_len` bytes:
    /// the memory tier's largest object (less key, head and per-object overhead), or the
    /// disk budget when a disk tier is configured, whichever is larger.
    pub(crate) fn body_limit(&self, key: &CacheKey, meta_len: u64) -> u64 {
        let cache = &self.inner.cache;
        let mem = cache
            .max_object_bytes()
            .saturating_sub(key.as_str().len() as u64 + meta_len + cache::ENTRY_OVERHEAD);
        let disk = if self.inner.disk {
            self.inner.config.disk_size.0
        } else {
            0
        };
        mem.max(disk)
    }

    /// Detaches the running fills of `prefix` (an exact key, or a key prefix) when a PURGE
    /// starts: requests after it start new fetches instead of joining a fill that began
    /// before it (that fill does not store its result: see `purge_generation`).
    pub fn detach_fills(&self, prefix: &str) -> usize {
        self.inner.locks.detach(prefix)
    }

    /// A snapshot of the fill locks' counters (coalescing, streamed fills, kept bytes).
    pub fn fill_stats(&self) -> cache::FillStats {
        self.inner.locks.stats()
    }

    /// Stores an entry (on the blocking pool with a disk tier).
    pub(crate) async fn insert(&self, key: &CacheKey, entry: Entry) -> bool {
        self.blocking(key.as_str(), move |c, k| c.insert(k, entry))
            .await
    }

    /// Runs a cache operation on a key or key prefix, on the blocking pool when it may
    /// touch the disk.
    pub(crate) async fn blocking<T: Send + Default + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Cache, &str) -> T + Send + 'static,
    ) -> T {
        if self.inner.disk {
            let cache = self.inner.cache.clone();
            let key = key.to_owned();
            tokio::task::spawn_blocking(move || f(&cache, &key))
                .await
                .unwrap_or_default()
        } else {
            f(&self.inner.cache, key)
        }
    }
}
