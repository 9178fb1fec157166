//! # cache — storage and miss coalescing for a CDN edge (no HTTP here)
//!
//! Two independent pieces, both `Send + Sync` and shared as `Arc`:
//!
//! * [`Cache`]: a byte-budgeted **memory tier** (sharded; S3-FIFO or LRU eviction, see
//!   [`mem`]) over an optional checksummed **disk tier** (one file per object, see [`disk`]).
//!   Data flow: [`Cache::get`] looks in memory, then on disk (a disk hit is verified and
//!   promoted to memory); [`Cache::insert`] writes through to both tiers. Objects are opaque
//!   [`Entry`] values: `meta` (the edge's serialized response head) + `body`.
//! * [`FillLocks`]: miss coalescing. On a cache miss the edge calls [`FillLocks::acquire`];
//!   exactly one caller per key becomes the [`FillWriter`] (leader) that fetches upstream and
//!   pushes the body chunk by chunk; every concurrent caller gets a [`FillReader`] (follower)
//!   that streams the same bytes as they arrive, and sees every way the fetch can end
//!   ([`FillError`]: aborted upstream, abandoned writer, timeout). Fills live in bounded
//!   memory ([`FillBudget`]): a body is kept whole only if it will be stored and fits the
//!   shared budget (zero-copy into the stored [`Entry`]); anything else streams through a
//!   small window (see [`fill`]).
//!
//! Typical edge flow for a request:
//! ```text
//! cache.get(key) ── hit ──▶ serve
//!      │ miss
//!      ▼
//! locks.acquire(key) ── Follower(reader) ──▶ stream reader.head() / reader.next_chunk()
//!      │ Leader(writer)
//!      ▼
//! client streams writer.reader(); upstream: writer.set_head(..); writer.plan_body(..);
//!                                 (writer.ready().await; writer.push(..))*
//!      ▼
//! if let Some(entry) = writer.entry() { cache.insert(key, entry) }   // store first,
//! writer.finish();                    // then end the body and unlock the key: no linger
//! ```
//! A request that arrives after `finish` looks in the store (or fetches again); it never gets
//! a replay of the finished fill (RFC 9111 §4: a response that was not fresh serves only the
//! requests that were waiting for it).
//!
//! Disk I/O happens on the calling thread: from async code call [`Cache`] methods inside
//! `tokio::task::spawn_blocking` (or use [`Cache::get_async`] / [`Cache::insert_async`]),
//! or accept the short block when no disk tier is configured (memory-only calls never do I/O).

pub mod disk;
pub mod fill;
pub mod mem;
mod store;

pub use fill::{Acquire, FillBudget, FillError, FillLocks, FillReader, FillStats, FillWriter};
pub use mem::ENTRY_OVERHEAD;
pub use store::Cache;

use std::path::PathBuf;

/// A stored object. `meta` is opaque to the cache (the edge stores its serialized response
/// head and timing there); `body` is the payload. Cloning is cheap (refcounted `Bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Opaque metadata, replaced on revalidation by [`Cache::update_meta`].
    pub meta: bytes::Bytes,
    /// The payload.
    pub body: bytes::Bytes,
}

/// How to build a [`Cache`].
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Memory-tier budget in bytes, including the per-object overhead
    /// ([`ENTRY_OVERHEAD`] + key + meta + body). `0` disables the memory tier.
    pub mem_bytes: u64,
    /// Optional disk tier.
    pub disk: Option<DiskConfig>,
    /// Memory-tier eviction policy.
    pub policy: Policy,
}

/// The disk tier: a directory the cache owns and a byte budget for the files in it.
#[derive(Clone, Debug)]
pub struct DiskConfig {
    /// Directory the cache owns (created if missing); objects live in 256 hashed subdirectories.
    pub dir: PathBuf,
    /// Budget for the total size of the object files (headers included).
    pub max_bytes: u64,
}

/// Memory-tier eviction policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// S3-FIFO (Yang et al., SOSP'23): small FIFO + main FIFO with 2-bit frequency + ghost
    /// queue. Scan resistant; the default choice.
    S3Fifo,
    /// Least recently used; the baseline.
    Lru,
}

/// A snapshot of the cache's occupancy and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Accounted bytes in the memory tier (objects with overhead, plus the ghost queue).
    pub mem_bytes: u64,
    /// Objects resident in memory.
    pub mem_objects: u64,
    /// Bytes of object files on disk.
    pub disk_bytes: u64,
    /// Object files on disk.
    pub disk_objects: u64,
    /// Objects evicted from memory to make room (not counting removals).
    pub evictions_mem: u64,
    /// Object files evicted from disk to make room.
    pub evictions_disk: u64,
    /// Disk files found corrupt or truncated (on read or at open) and deleted.
    pub corrupt_disk_objects: u64,
    /// The memory budget ([`CacheConfig::mem_bytes`]).
    pub mem_budget: u64,
    /// The disk budget ([`DiskConfig::max_bytes`]), 0 without a disk tier.
    pub disk_budget: u64,
}

/// Errors from [`Cache::open`].
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The configuration is unusable.
    #[error("invalid cache configuration: {0}")]
    Config(String),
    /// A file-system operation on the disk tier failed.
    #[error("cache disk tier: {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "read directory", ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
