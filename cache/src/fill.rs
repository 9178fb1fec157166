//! Miss coalescing ("fill locks"): one upstream fetch per key, streamed to every waiter,
//! in bounded memory.
//!
//! Call [`FillLocks::acquire`] on a cache **miss**, before going upstream:
//! * [`Acquire::Leader`] — you own the fetch. Set the head once ([`FillWriter::set_head`]),
//!   say how the body will be kept ([`FillWriter::plan_body`]), then per upstream read
//!   `ready().await` and [`push`](FillWriter::push) the chunks; at the end take the
//!   [`entry`](FillWriter::entry) (if the body was kept whole), store it, and only then
//!   [`finish`](FillWriter::finish) — or [`abort`](FillWriter::abort).
//!   Your own client streams through [`FillWriter::reader`] like everyone else.
//! * [`Acquire::Follower`] — someone else is fetching: stream [`FillReader::head`] then
//!   [`FillReader::next_chunk`] until `None`.
//!
//! ## No linger: a finished fill is never replayed (RFC 9111 §4)
//! `finish` unlocks the key at once. A request arriving after the response completed
//! therefore never gets the fill's bytes: it looks in the store, where the object is if it
//! was stored (the edge stores *before* calling `finish`, so there is no window in which the
//! object is in neither place), and otherwise fetches again. That is what RFC 9111 requires
//! of a response that was not fresh (`max-age=0`, `no-cache`, an expired `Expires`): it may
//! satisfy the requests that were waiting for it, not the ones after it. An earlier version
//! kept finished fills joinable for 2 s to cover the gap between `finish` and the insert; it
//! replayed unfresh responses and kept whole bodies alive beyond the cache budget. Requests
//! that arrive while the store insert runs are still *waiting* for the response (it has not
//! completed yet), so they lawfully join it.
//!
//! ## Memory: what a fill holds (the bound)
//! Two ways to keep a body, chosen by [`FillWriter::plan_body`]:
//! * **Kept whole** — the object will be stored and fits the store's limit and the shared
//!   [`FillBudget::memory`] (all fills together). With a known length the bytes are copied
//!   once, as they arrive, into one pre-sized buffer; readers get zero-copy slices of it and
//!   the stored body is a slice of the same buffer ([`FillWriter::entry`] copies nothing).
//!   With an unknown length the chunks are kept and joined once at the end; the fill's own
//!   chunks are then replaced by slices of the joined body, so one copy stays alive.
//!   Late joiners replay from the start.
//! * **Streamed** — everything else (too large to store, not storable, or past the budget):
//!   the fill keeps only the chunks some reader has not read yet, at most
//!   [`FillBudget::window`] bytes; [`FillWriter::ready`] holds the upstream read until the
//!   slowest reader is back under the window, and after [`FillBudget::stall`] without it
//!   reading cuts that reader off (it gets [`FillError::Aborted`]) rather than stall
//!   everyone (a slower reader that keeps reading paces the others: the price of one
//!   upstream fetch for all of them). Once the first chunk is
//!   dropped the fill can no longer be joined: a later request starts its own fetch (each
//!   reader of a too-large object streams on its own); when no reader is left the fetch stops.
//!   Why not follow a disk file instead: a memory-only edge has no disk, and a streamed object
//!   is by definition one the memory tier would not keep; the window gives the same bound
//!   with no file I/O.
//!
//! So the bytes held by all fills together are at most `memory` (kept whole) plus `window`
//! per streamed fill (plus one push batch each); past `memory`, new fills stream (they are
//! not stored and do not wait).
//!
//! Every outcome a reader can see: the body ends (`None`), [`FillError::Aborted`] (the
//! leader called `abort`, or the reader fell behind a streamed fill), [`FillError::Abandoned`]
//! (the writer was dropped without `finish`/`abort`, e.g. its task was cancelled),
//! [`FillError::Timeout`] (no head or chunk within `wait_timeout`). After a fill ends the
//! key is unlocked at once, so the next `acquire` gets a fresh leader.
//!
//! Times are kept on tokio's clock ([`tokio::time::Instant`]), so tests can pause it.

use std::cell::UnsafeCell;
use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{watch, Notify};

use crate::Entry;

/// Default of [`FillBudget::memory`]: 64 MiB for the bodies of all fills kept whole.
pub const DEFAULT_FILL_MEMORY: u64 = 64 << 20;
/// Default of [`FillBudget::window`]: 1 MiB buffered per streamed fill.
pub const DEFAULT_WINDOW: u64 = 1 << 20;
/// Default of [`FillBudget::stall`]: a streamed fill waits 2 s for its slowest reader.
pub const DEFAULT_STALL: Duration = Duration::from_secs(2);

/// The reason given to a reader cut off a streamed fill.
pub const FELL_BEHIND: &str = "the client fell behind a streamed fill";
/// The reason a streamed fill stops when no reader is left.
pub const NO_READERS: &str = "no reader left for a streamed fill";

/// How much memory fills may use (see the module docs for the bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillBudget {
    /// Bytes all fills together may keep whole (bodies to be stored, replayable to late
    /// joiners). A fill that would exceed it streams instead.
    pub memory: u64,
    /// Bytes a streamed fill buffers for its slowest reader before it holds the upstream.
    pub window: u64,
    /// How long a streamed fill holds the upstream, with its window full, for a reader
    /// that does not read before cutting that reader off (so one stalled client cannot
    /// stall the others; a slower one paces them only while it keeps reading).
    pub stall: Duration,
}

impl Default for FillBudget {
    fn default() -> Self {
        FillBudget {
            memory: DEFAULT_FILL_MEMORY,
            window: DEFAULT_WINDOW,
            stall: DEFAULT_STALL,
        }
    }
}

/// How a fill can end, as seen by a reader.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FillError {
    /// The leader aborted (upstream error), or this reader fell behind a streamed fill;
    /// carries the reason.
    #[error("the fetch failed upstream: {0}")]
    Aborted(String),
    /// The writer was dropped without `finish` or `abort`.
    #[error("the fetch was abandoned by its writer")]
    Abandoned,
    /// No head or chunk arrived within the wait timeout.
    #[error("timed out waiting for the fetch")]
    Timeout,
}

/// Counters of a [`FillLocks`] (cumulative except `in_flight` and `kept_bytes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FillStats {
    /// Fills started (acquires that became leader).
    pub leaders: u64,
    /// Acquires that joined an existing fill (coalesced waiters).
    pub followers: u64,
    /// Fills aborted by their leader.
    pub aborted: u64,
    /// Fills whose writer was dropped without finish/abort.
    pub abandoned: u64,
    /// Reader waits that timed out.
    pub timeouts: u64,
    /// Keys currently locked (running fills).
    pub in_flight: u64,
    /// Fills that streamed (not kept whole).
    pub streamed: u64,
    /// Readers cut off for falling behind a streamed fill.
    pub cut_off: u64,
    /// Bytes currently reserved by fills kept whole (at most [`FillBudget::memory`]).
    pub kept_bytes: u64,
}

#[derive(Default)]
struct Counters {
    leaders: AtomicU64,
    followers: AtomicU64,
    aborted: AtomicU64,
    abandoned: AtomicU64,
    timeouts: AtomicU64,
    streamed: AtomicU64,
    cut_off: AtomicU64,
    /// Bytes reserved against [`FillBudget::memory`].
    kept: AtomicU64,
}

impl Counters {
    /// Reserves `n` bytes of the shared budget; false if that would exceed `limit`.
    fn reserve(&self, n: u64, limit: u64) -> bool {
        self.kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                k.checked_add(n).filter(|t| *t <= limit)
            })
            .is_ok()
    }

    fn release(&self, n: u64) {
        if n > 0 {
            self.kept.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// One pre-sized, write-once body buffer: the writer appends, readers and the stored entry
/// hold zero-copy [`Bytes`] views ([`Piece`]) of the part already written.
///
/// Invariant (what makes the `unsafe` sound): only the fill's single writer writes, only at
/// offsets it has never handed out, and a range is handed out (as a `Piece`) only after it
/// was written; the hand-off goes through the fill's mutex, which orders the write before
/// any read. Written bytes are never written again.
struct SharedBuf {
    cells: Box<[UnsafeCell<u8>]>,
}

// SAFETY: see the invariant above: no byte is ever read and written concurrently.
unsafe impl Sync for SharedBuf {}

impl SharedBuf {
    fn new(len: usize) -> Arc<SharedBuf> {
        // zeroed allocation (calloc: pages are mapped only when written)
        let bytes: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        // SAFETY: UnsafeCell<u8> has the same layout as u8 (repr(transparent)).
        let cells = unsafe { Box::from_raw(Box::into_raw(bytes) as *mut [UnsafeCell<u8>]) };
        Arc::new(SharedBuf { cells })
    }

    fn len(&self) -> usize {
        self.cells.len()
    }

    fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.cells.as_ptr())
    }

    /// Copies `src` to `at`.
    ///
    /// # Safety
    /// The caller is the only writer, `at + src.len() <= len`, and no part of the range
    /// was handed out yet.
    unsafe fn write(&self, at: usize, src: &[u8]) {
        debug_assert!(at + src.len() <= self.len());
        // SAFETY: in bounds (caller), nobody reads this range yet (caller).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base().add(at), src.len()) }
    }

    /// A zero-copy view of `start..end` (already written).
    fn piece(self: &Arc<Self>, start: usize, end: usize) -> Bytes {
        Bytes::from_owner(Piece {
            buf: Arc::clone(self),
            start,
            end,
        })
    }
}

/// A written range of a [`SharedBuf`] (the owner behind a zero-copy `Bytes`).
struct Piece {
    buf: Arc<SharedBuf>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the range is in bounds and was written before this piece was created;
        // it is never written again (SharedBuf's invariant).
        unsafe {
            std::slice::from_raw_parts(self.buf.base().add(self.start), self.end - self.start)
        }
    }
}

enum Status {
    Running,
    Finished,
    Aborted(String),
    Abandoned,
}

struct FillState {
    head: Option<Bytes>,
    /// Chunks not dropped yet; `chunks[0]` has absolute index `base`.
    chunks: VecDeque<Bytes>,
    base: usize,
    /// Bytes in `chunks`.
    buffered: u64,
    /// Chunks every reader has read are dropped (a streamed fill).
    streaming: bool,
    /// Each live reader's next absolute chunk index.
    readers: HashMap<u64, usize>,
    next_reader: u64,
    status: Status,
}

impl FillState {
    /// Drops the chunks every reader has read (streamed fills only). True if it dropped any.
    fn trim(&mut self) -> bool {
        if !self.streaming {
            return false;
        }
        let end = self.base + self.chunks.len();
        let keep_from = self.readers.values().copied().min().unwrap_or(end);
        let mut dropped = false;
        while self.base < keep_from {
            let Some(c) = self.chunks.pop_front() else {
                break;
            };
            self.buffered -= c.len() as u64;
            self.base += 1;
            dropped = true;
        }
        dropped
    }

    /// A fill whose start was dropped cannot be joined.
    fn joinable(&self) -> bool {
        self.base == 0 && matches!(self.status, Status::Running)
    }
}

/// One fetch: the shared chunk buffer, its status and the wake-up channels.
struct Fill {
    state: Mutex<FillState>,
    /// Writer → readers: bumped on every change.
    version: watch::Sender<u64>,
    /// Readers → writer: a streamed fill's reader advanced.
    progress: Notify,
    wait_timeout: Duration,
    window: u64,
    stall: Duration,
    counters: Arc<Counters>,
}

impl Fill {
    fn lock(&self) -> MutexGuard<'_, FillState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.version.send_modify(|v| *v += 1);
    }
}

struct Slot {
    id: u64,
    fill: Arc<Fill>,
}

#[derive(Default)]
struct Slots {
    map: HashMap<String, Slot>,
    next_id: u64,
}

impl Slots {
    fn remove_if_id(&mut self, key: &str, id: u64) {
        if self.map.get(key).is_some_and(|s| s.id == id) {
            self.map.remove(key);
        }
    }
}

struct LocksInner {
    wait_timeout: Duration,
    budget: FillBudget,
    slots: Mutex<Slots>,
    counters: Arc<Counters>,
}

impl LocksInner {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The per-key lock table for miss coalescing. `Send + Sync`; share it as `Arc<FillLocks>`.
pub struct FillLocks {
    inner: Arc<LocksInner>,
}

/// What [`FillLocks::acquire`] hands out.
pub enum Acquire {
    /// You fetch upstream and feed the fill.
    Leader(FillWriter),
    /// Someone else is fetching; read along.
    Follower(FillReader),
}

impl FillLocks {
    /// A lock table whose readers give up with [`FillError::Timeout`] after `wait_timeout`
    /// without progress, with the default [`FillBudget`].
    pub fn new(wait_timeout: Duration) -> FillLocks {
        FillLocks::with_budget(wait_timeout, FillBudget::default())
    }

    /// Like [`FillLocks::new`] with an explicit memory budget for the fills.
    pub fn with_budget(wait_timeout: Duration, budget: FillBudget) -> FillLocks {
        FillLocks {
            inner: Arc::new(LocksInner {
                wait_timeout,
                budget,
                slots: Mutex::new(Slots::default()),
                counters: Arc::new(Counters::default()),
            }),
        }
    }

    /// The budget the fills share.
    pub fn budget(&self) -> FillBudget {
        self.inner.budget
    }

    /// Call on a cache miss, before going upstream: the first caller for `key` becomes the
    /// [`Acquire::Leader`]; callers while its fill runs (and can still be joined from its
    /// first byte) get an [`Acquire::Follower`]. Never blocks beyond a short mutex.
    pub fn acquire(&self, key: &str) -> Acquire {
        let inner = &self.inner;
        let mut slots = inner.slots();
        if let Some(slot) = slots.map.get(key) {
            if slot.fill.lock().joinable() {
                inner.counters.followers.fetch_add(1, Ordering::Relaxed);
                return Acquire::Follower(FillReader::new(Arc::clone(&slot.fill)));
            }
        }
        slots.next_id += 1;
        let id = slots.next_id;
        let fill = Arc::new(Fill {
            state: Mutex::new(FillState {
                head: None,
                chunks: VecDeque::new(),
                base: 0,
                buffered: 0,
                streaming: false,
                readers: HashMap::new(),
                next_reader: 0,
                status: Status::Running,
            }),
            version: watch::Sender::new(0),
            progress: Notify::new(),
            wait_timeout: inner.wait_timeout,
            window: inner.budget.window,
            stall: inner.budget.stall,
            counters: Arc::clone(&inner.counters),
        });
        // replaces a fill that can no longer be joined (its writer only removes its own id)
        slots.map.insert(
            key.to_owned(),
            Slot {
                id,
                fill: Arc::clone(&fill),
            },
        );
        drop(slots);
        inner.counters.leaders.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(key, "fill: leader");
        Acquire::Leader(FillWriter {
            key: key.to_owned(),
            id,
            fill,
            locks: Arc::clone(inner),
            done: false,
            store: Store::Chunks {
                limit: u64::MAX,
                budgeted: false,
                total: 0,
            },
            reserved: 0,
        })
    }

    /// Detaches the running fills of every key starting with `prefix` (a PURGE): requests
    /// from now on start new fetches instead of joining them; readers already attached
    /// finish normally. Returns how many fills were detached.
    pub fn detach(&self, prefix: &str) -> usize {
        let mut slots = self.inner.slots();
        let before = slots.map.len();
        slots.map.retain(|k, _| !k.starts_with(prefix));
        before - slots.map.len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FillStats {
        let c = &self.inner.counters;
        FillStats {
            leaders: c.leaders.load(Ordering::Relaxed),
            followers: c.followers.load(Ordering::Relaxed),
            aborted: c.aborted.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            in_flight: self.inner.slots().map.len() as u64,
            streamed: c.streamed.load(Ordering::Relaxed),
            cut_off: c.cut_off.load(Ordering::Relaxed),
            kept_bytes: c.kept.load(Ordering::Relaxed),
        }
    }
}

/// How the writer keeps the body.
enum Store {
    /// Kept whole as the pushed chunks (unknown length, or never planned). `budgeted`:
    /// the bytes are reserved against the shared budget as they arrive.
    Chunks {
        limit: u64,
        budgeted: bool,
        total: u64,
    },
    /// Kept whole in one pre-sized buffer (known length); `overflow` if the upstream sent
    /// more than announced (the entry is then unusable).
    Buf {
        buf: Arc<SharedBuf>,
        filled: usize,
        overflow: bool,
    },
    /// Not kept: streamed through the window.
    Stream,
}

/// The one fetch in flight for a key (the leader's handle).
///
/// Set the head once, plan the body, push body chunks as they arrive from upstream, then
/// [`finish`](FillWriter::finish) or [`abort`](FillWriter::abort). Dropping it without
/// either marks the fill abandoned (readers get [`FillError::Abandoned`]) and unlocks the key.
pub struct FillWriter {
    key: String,
    id: u64,
    fill: Arc<Fill>,
    locks: Arc<LocksInner>,
    done: bool,
    store: Store,
    /// Bytes reserved against the shared budget.
    reserved: u64,
}

impl FillWriter {
    /// The key being filled.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Publishes the response head (the entry's meta). Call once, before the body; a second
    /// call replaces the head for readers that haven't read it yet.
    pub fn set_head(&mut self, meta: Bytes) {
        self.fill.lock().head = Some(meta);
        self.fill.wake();
    }

    /// Decides how the body is kept; call after [`set_head`](FillWriter::set_head), before
    /// the first push. `len`: the announced length, if any. `store_limit`: `Some(max)` if
    /// the object will be stored when it is at most `max` bytes, `None` if it will not be
    /// stored. The body is kept whole (returns true) when it may be stored, fits `max` and
    /// the shared budget; otherwise it streams (see the module docs). Without this call the
    /// body is kept whole outside the budget (for bodies already in memory).
    pub fn plan_body(&mut self, len: Option<u64>, store_limit: Option<u64>) -> bool {
        let budget = self.locks.budget.memory;
        let keep = match (store_limit, len) {
            (None, _) => false,
            (Some(max), Some(n)) => {
                n <= max && usize::try_from(n).is_ok() && self.reserve(n, budget)
            }
            (Some(_), None) => true,
        };
        self.locks
            .counters
            .release(std::mem::take(&mut self.reserved));
        self.store = match (keep, store_limit, len) {
            (true, _, Some(n)) => {
                self.reserved = n;
                Store::Buf {
                    buf: SharedBuf::new(n as usize),
                    filled: 0,
                    overflow: false,
                }
            }
            (true, Some(limit), None) => Store::Chunks {
                limit,
                budgeted: true,
                total: 0,
            },
            _ => {
                self.start_streaming();
                Store::Stream
            }
        };
        keep
    }

    fn reserve(&mut self, n: u64, budget: u64) -> bool {
        let ok = self.locks.counters.reserve(n, budget);
        if !ok {
            tracing::debug!(key = %self.key, bytes = n, "fill: past the fill memory budget, streaming");
        }
        ok
    }

    fn start_streaming(&mut self) {
        self.locks
            .counters
            .release(std::mem::take(&mut self.reserved));
        self.locks.counters.streamed.fetch_add(1, Ordering::Relaxed);
        let mut st = self.fill.lock();
        st.streaming = true;
        st.trim();
    }

    /// True while the body is kept whole (it can still become the stored [`Entry`]).
    pub fn keeps_body(&self) -> bool {
        !matches!(self.store, Store::Stream)
    }

    /// Appends a body chunk (empty chunks are ignored). Never waits; call
    /// [`ready`](FillWriter::ready) before reading more from upstream.
    pub fn push(&mut self, chunk: Bytes) {
        self.push_all(vec![chunk]);
    }

    /// Appends chunks as one (one wake-up, one larger piece for the readers). With a
    /// pre-sized buffer they are copied into it; otherwise several chunks are joined (one
    /// copy of at most this batch).
    pub fn push_all(&mut self, chunks: Vec<Bytes>) {
        let size: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        if size == 0 {
            return;
        }
        if let Store::Chunks {
            limit,
            budgeted,
            total,
        } = &mut self.store
        {
            *total += size;
            let over = *total > *limit;
            let fits = !over
                && (!*budgeted || self.locks.counters.reserve(size, self.locks.budget.memory));
            if fits {
                if *budgeted {
                    self.reserved += size;
                }
            } else {
                tracing::debug!(key = %self.key, "fill: too large to keep whole, streaming");
                self.store = Store::Stream;
                self.start_streaming();
            }
        }
        let piece = match &mut self.store {
            Store::Buf {
                buf,
                filled,
                overflow,
            } if !*overflow && *filled + size as usize <= buf.len() => {
                let start = *filled;
                for c in &chunks {
                    // SAFETY: the writer is the only writer; `filled..filled+len` is in
                    // bounds (checked above) and was never handed out.
                    unsafe { buf.write(*filled, c) };
                    *filled += c.len();
                }
                buf.piece(start, *filled)
            }
            store => {
                if let Store::Buf { overflow, .. } = store {
                    *overflow = true;
                }
                join(chunks, size as usize)
            }
        };
        let mut st = self.fill.lock();
        st.buffered += piece.len() as u64;
        st.chunks.push_back(piece);
        st.trim();
        drop(st);
        self.fill.wake();
    }

    /// Waits until the fill may take more upstream data: at once when the body is kept
    /// whole; for a streamed fill, until its slowest reader is within the window — after
    /// [`FillBudget::stall`] the readers still behind are cut off ([`FELL_BEHIND`]). Returns false
    /// when a streamed fill has no reader left and can no longer be joined: stop fetching
    /// and [`abort`](FillWriter::abort) with [`NO_READERS`].
    pub async fn ready(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + self.fill.stall;
        loop {
            let mut notified = pin!(self.fill.progress.notified());
            notified.as_mut().enable();
            {
                let mut st = self.fill.lock();
                if !st.streaming {
                    return true;
                }
                if st.readers.is_empty() && st.base > 0 {
                    return false;
                }
                if st.buffered < self.fill.window {
                    return true;
                }
                if tokio::time::Instant::now() >= deadline {
                    // cut off: drop down to the window; readers behind get FELL_BEHIND
                    let mut cut = 0;
                    while st.buffered >= self.fill.window {
                        let Some(c) = st.chunks.pop_front() else {
                            break;
                        };
                        st.buffered -= c.len() as u64;
                        st.base += 1;
                        cut += 1;
                    }
                    let base = st.base;
                    let behind = st.readers.values().filter(|p| **p < base).count();
                    self.locks
                        .counters
                        .cut_off
                        .fetch_add(behind as u64, Ordering::Relaxed);
                    tracing::debug!(key = %self.key, chunks = cut, readers = behind, "fill: slow readers cut off");
                    drop(st);
                    self.fill.wake();
                    return true;
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// The complete object when the body was kept whole (meta = the head), to be stored
    /// **before** [`finish`](FillWriter::finish). Zero-copy with a known length; with an
    /// unknown length the chunks are joined once and the fill's own chunks become slices of
    /// the result (one copy stays alive). `None` for a streamed fill or an overlong body.
    /// Push nothing after this call.
    pub fn entry(&mut self) -> Option<Entry> {
        let mut st = self.fill.lock();
        let body = match &self.store {
            Store::Stream => return None,
            Store::Buf {
                buf,
                filled,
                overflow,
            } => {
                if *overflow || *filled != buf.len() {
                    return None;
                }
                buf.piece(0, *filled)
            }
            Store::Chunks { .. } => {
                let size = st.buffered as usize;
                let body = join(st.chunks.iter().cloned().collect(), size);
                let mut at = 0;
                for c in st.chunks.iter_mut() {
                    let n = c.len();
                    *c = body.slice(at..at + n);
                    at += n;
                }
                body
            }
        };
        Some(Entry {
            meta: st.head.clone().unwrap_or_default(),
            body,
        })
    }

    /// Ends the body: readers see its end, and the key is unlocked at once (a request from
    /// now on looks in the store or fetches again; see the module docs).
    pub fn finish(mut self) {
        self.done = true;
        self.end(Status::Finished);
    }

    /// Fails the fill: every reader gets [`FillError::Aborted`] with `reason` at once, and
    /// the key is unlocked (the next `acquire` is a new leader).
    pub fn abort(mut self, reason: String) {
        self.done = true;
        tracing::debug!(key = %self.key, %reason, "fill: aborted");
        self.end(Status::Aborted(reason));
        self.locks.counters.aborted.fetch_add(1, Ordering::Relaxed);
    }

    fn end(&mut self, status: Status) {
        self.fill.lock().status = status;
        self.locks.slots().remove_if_id(&self.key, self.id);
        self.locks
            .counters
            .release(std::mem::take(&mut self.reserved));
        self.fill.wake();
    }

    /// A reader over this fill, for the leader's own client.
    pub fn reader(&self) -> FillReader {
        FillReader::new(Arc::clone(&self.fill))
    }
}

impl Drop for FillWriter {
    fn drop(&mut self) {
        if !self.done {
            tracing::debug!(key = %self.key, "fill: abandoned");
            self.end(Status::Abandoned);
            self.locks
                .counters
                .abandoned
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Joins chunks into one (no copy for a single chunk).
fn join(mut chunks: Vec<Bytes>, size: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut buf = BytesMut::with_capacity(size);
    for c in chunks {
        buf.extend_from_slice(&c);
    }
    buf.freeze()
}

/// A view of a fill: replays what arrived so far (from the first byte), then waits for
/// live chunks.
pub struct FillReader {
    fill: Arc<Fill>,
    rx: watch::Receiver<u64>,
    id: u64,
}

impl FillReader {
    fn new(fill: Arc<Fill>) -> FillReader {
        let rx = fill.version.subscribe();
        let id = {
            let mut st = fill.lock();
            st.next_reader += 1;
            let id = st.next_reader;
            st.readers.insert(id, 0);
            id
        };
        FillReader { fill, rx, id }
    }

    async fn wait(&mut self) -> Result<(), FillError> {
        match tokio::time::timeout(self.fill.wait_timeout, self.rx.changed()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.fill.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(FillError::Timeout)
            }
        }
    }

    /// The head, waiting for [`FillWriter::set_head`]. A fill finished without a head
    /// yields an empty head.
    pub async fn head(&mut self) -> Result<Bytes, FillError> {
        loop {
            self.rx.borrow_and_update();
            {
                let st = self.fill.lock();
                if let Some(h) = &st.head {
                    return Ok(h.clone());
                }
                match &st.status {
                    Status::Running => {}
                    Status::Finished => return Ok(Bytes::new()),
                    Status::Aborted(r) => return Err(FillError::Aborted(r.clone())),
                    Status::Abandoned => return Err(FillError::Abandoned),
                }
            }
            self.wait().await?;
        }
    }

    /// The next body chunk; `None` at the end of a finished body.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, FillError>> {
        loop {
            self.rx.borrow_and_update();
            {
                let mut st = self.fill.lock();
                let pos = st.readers.get(&self.id).copied().unwrap_or(0);
                if pos < st.base {
                    return Some(Err(FillError::Aborted(FELL_BEHIND.to_owned())));
                }
                if let Some(c) = st.chunks.get(pos - st.base).cloned() {
                    st.readers.insert(self.id, pos + 1);
                    if st.trim() {
                        drop(st);
                        self.fill.progress.notify_waiters();
                    }
                    return Some(Ok(c));
                }
                match &st.status {
                    Status::Running => {}
                    Status::Finished => return None,
                    Status::Aborted(r) => return Some(Err(FillError::Aborted(r.clone()))),
                    Status::Abandoned => return Some(Err(FillError::Abandoned)),
                }
            }
            if let Err(e) = self.wait().await {
                return Some(Err(e));
            }
        }
    }

    /// Reads the head and the rest of the body into one [`Entry`].
    pub async fn collect(mut self) -> Result<Entry, FillError> {
        let meta = self.head().await?;
        let mut body = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(Entry {
            meta,
            body: body.freeze(),
        })
    }
}

impl Drop for FillReader {
    fn drop(&mut self) {
        let mut st = self.fill.lock();
        st.readers.remove(&self.id);
        if st.trim() || st.streaming {
            drop(st);
            self.fill.progress.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests;
