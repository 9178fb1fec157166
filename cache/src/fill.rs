//! Miss coalescing ("fill locks"): one upstream fetch per key, streamed to every waiter.
//!
//! Call [`FillLocks::acquire`] on a cache **miss**, before going upstream:
//! * [`Acquire::Leader`] — you own the fetch. Set the head once ([`FillWriter::set_head`]),
//!   [`push`](FillWriter::push) body chunks as they arrive, then [`finish`](FillWriter::finish)
//!   (and insert the returned [`Entry`] into the cache) or [`abort`](FillWriter::abort).
//!   Your own client streams through [`FillWriter::reader`] like everyone else.
//! * [`Acquire::Follower`] — someone else is fetching (or just finished): stream
//!   [`FillReader::head`] then [`FillReader::next_chunk`] until `None`.
//!
//! Chunks are buffered once in the fill, shared by all readers; each reader keeps its own
//! index, so a slow reader never slows the writer or other readers. Wake-ups use a
//! `tokio::sync::watch` version counter (no polling).
//!
//! Every outcome a reader can see: the body ends (`None`), [`FillError::Aborted`] (the
//! leader called `abort`), [`FillError::Abandoned`] (the writer was dropped without
//! `finish`/`abort`, e.g. its task was cancelled), [`FillError::Timeout`] (no head or chunk
//! within `wait_timeout`). After an abort or abandonment the key is unlocked at once, so the
//! next `acquire` gets a fresh leader (the edge may retry once).
//!
//! Both times (the wait timeout and how long a finished fill lingers) are kept on tokio's
//! clock ([`tokio::time::Instant`], the same as `std::time::Instant` unless the runtime's
//! clock is paused), so a test that pauses time and `advance`s past the linger sees the key
//! unlocked, as it would after sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Entry;

/// How long a finished fill stays joinable by default (see [`FillWriter::finish`]).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(2);

/// How a fill can end, as seen by a reader.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FillError {
    /// The leader aborted (upstream error); carries its reason.
    #[error("the fetch failed upstream: {0}")]
    Aborted(String),
    /// The writer was dropped without `finish` or `abort`.
    #[error("the fetch was abandoned by its writer")]
    Abandoned,
    /// No head or chunk arrived within the wait timeout.
    #[error("timed out waiting for the fetch")]
    Timeout,
}

/// Counters of a [`FillLocks`] (cumulative except `in_flight`).
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
    /// Keys currently locked (running fills plus finished ones still lingering).
    pub in_flight: u64,
}

#[derive(Default)]
struct Counters {
    leaders: AtomicU64,
    followers: AtomicU64,
    aborted: AtomicU64,
    abandoned: AtomicU64,
    timeouts: AtomicU64,
}

enum Status {
    Running,
    Finished,
    Aborted(String),
    Abandoned,
}

struct FillState {
    head: Option<Bytes>,
    chunks: Vec<Bytes>,
    status: Status,
}

/// One fetch: the shared chunk buffer, its status and the wake-up channel.
struct Fill {
    state: Mutex<FillState>,
    version: watch::Sender<u64>,
    wait_timeout: Duration,
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
    /// Finished fills still joinable: (finished at, key, slot id), oldest first.
    lingering: VecDeque<(Instant, String, u64)>,
    next_id: u64,
}

impl Slots {
    fn sweep(&mut self, now: Instant, linger: Duration) {
        while let Some((at, _, _)) = self.lingering.front() {
            if now.duration_since(*at) < linger {
                break;
            }
            let (_, key, id) = self.lingering.pop_front().expect("front exists");
            self.remove_if_id(&key, id);
        }
    }

    fn remove_if_id(&mut self, key: &str, id: u64) {
        if self.map.get(key).is_some_and(|s| s.id == id) {
            self.map.remove(key);
        }
    }
}

struct LocksInner {
    wait_timeout: Duration,
    linger: Duration,
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
    /// Someone else is fetching (or just finished); read along.
    Follower(FillReader),
}

impl FillLocks {
    /// A lock table whose readers give up with [`FillError::Timeout`] after `wait_timeout`
    /// without progress. Finished fills stay joinable for [`DEFAULT_LINGER`].
    pub fn new(wait_timeout: Duration) -> FillLocks {
        FillLocks::with_linger(wait_timeout, DEFAULT_LINGER)
    }

    /// Like [`FillLocks::new`] with an explicit linger time for finished fills.
    pub fn with_linger(wait_timeout: Duration, linger: Duration) -> FillLocks {
        FillLocks {
            inner: Arc::new(LocksInner {
                wait_timeout,
                linger,
                slots: Mutex::new(Slots::default()),
                counters: Arc::new(Counters::default()),
            }),
        }
    }

    /// Call on a cache miss, before going upstream: the first caller for `key` becomes the
    /// [`Acquire::Leader`]; callers while its fill runs (or lingers after finishing) get an
    /// [`Acquire::Follower`]. Never blocks beyond a short mutex.
    pub fn acquire(&self, key: &str) -> Acquire {
        let inner = &self.inner;
        let mut slots = inner.slots();
        slots.sweep(Instant::now(), inner.linger);
        if let Some(slot) = slots.map.get(key) {
            inner.counters.followers.fetch_add(1, Ordering::Relaxed);
            return Acquire::Follower(FillReader::new(Arc::clone(&slot.fill)));
        }
        slots.next_id += 1;
        let id = slots.next_id;
        let fill = Arc::new(Fill {
            state: Mutex::new(FillState {
                head: None,
                chunks: Vec::new(),
                status: Status::Running,
            }),
            version: watch::Sender::new(0),
            wait_timeout: inner.wait_timeout,
            counters: Arc::clone(&inner.counters),
        });
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
        })
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
        }
    }
}

/// The one fetch in flight for a key (the leader's handle).
///
/// Set the head once, push body chunks as they arrive from upstream, then
/// [`finish`](FillWriter::finish) or [`abort`](FillWriter::abort). Dropping it without
/// either marks the fill abandoned (readers get [`FillError::Abandoned`]) and unlocks the key.
pub struct FillWriter {
    key: String,
    id: u64,
    fill: Arc<Fill>,
    locks: Arc<LocksInner>,
    done: bool,
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

    /// Appends a body chunk (empty chunks are ignored). Never waits for readers.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.fill.lock().chunks.push(chunk);
        self.fill.wake();
    }

    /// Ends the body and returns the whole object: meta = the head (empty if never set),
    /// body = the chunks (zero-copy if there was one chunk, one copy otherwise).
    ///
    /// **Ordering guarantee with the cache.** `finish` does not unlock the key at once: the
    /// finished fill stays in the table for the linger time ([`DEFAULT_LINGER`]), and any
    /// `acquire` in that window becomes a follower that replays the complete body. So the
    /// edge does `let entry = writer.finish(); cache.insert(key, entry.clone());` and a
    /// request that misses the cache just before the insert lands joins this fill instead
    /// of starting a second upstream fetch. For responses that must not be shared
    /// afterwards (uncacheable), use [`FillWriter::finish_and_release`].
    pub fn finish(mut self) -> Entry {
        let entry = self.complete();
        let mut slots = self.locks.slots();
        slots
            .lingering
            .push_back((Instant::now(), self.key.clone(), self.id));
        entry
    }

    /// Like [`FillWriter::finish`] but unlocks the key immediately (readers already attached
    /// still get the whole body; the next `acquire` gets a new leader).
    pub fn finish_and_release(mut self) -> Entry {
        let entry = self.complete();
        self.locks.slots().remove_if_id(&self.key, self.id);
        entry
    }

    fn complete(&mut self) -> Entry {
        self.done = true;
        let entry = {
            let mut st = self.fill.lock();
            st.status = Status::Finished;
            let body = match st.chunks.as_slice() {
                [] => Bytes::new(),
                [one] => one.clone(),
                many => {
                    let mut buf = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
                    for c in many {
                        buf.extend_from_slice(c);
                    }
                    buf.freeze()
                }
            };
            Entry {
                meta: st.head.clone().unwrap_or_default(),
                body,
            }
        };
        self.fill.wake();
        entry
    }

    /// Fails the fill: every reader gets [`FillError::Aborted`] with `reason` at once, and
    /// the key is unlocked (the next `acquire` is a new leader).
    pub fn abort(mut self, reason: String) {
        self.done = true;
        tracing::debug!(key = %self.key, %reason, "fill: aborted");
        self.end(Status::Aborted(reason));
        self.locks.counters.aborted.fetch_add(1, Ordering::Relaxed);
    }

    fn end(&self, status: Status) {
        self.fill.lock().status = status;
        self.locks.slots().remove_if_id(&self.key, self.id);
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

/// A view of a fill: replays what arrived so far, then waits for live chunks.
pub struct FillReader {
    fill: Arc<Fill>,
    rx: watch::Receiver<u64>,
    next: usize,
}

impl FillReader {
    fn new(fill: Arc<Fill>) -> FillReader {
        let rx = fill.version.subscribe();
        FillReader { fill, rx, next: 0 }
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
                let st = self.fill.lock();
                if let Some(c) = st.chunks.get(self.next) {
                    self.next += 1;
                    return Some(Ok(c.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(a: Acquire) -> FillWriter {
        match a {
            Acquire::Leader(w) => w,
            Acquire::Follower(_) => panic!("expected leader"),
        }
    }

    fn follower(a: Acquire) -> FillReader {
        match a {
            Acquire::Follower(r) => r,
            Acquire::Leader(_) => panic!("expected follower"),
        }
    }

    #[tokio::test]
    async fn leader_then_follower_streams() {
        let locks = FillLocks::new(Duration::from_secs(5));
        let mut w = leader(locks.acquire("k"));
        let mut r = follower(locks.acquire("k"));
        w.set_head(Bytes::from_static(b"h"));
        w.push(Bytes::from_static(b"ab"));
        assert_eq!(r.head().await.unwrap(), Bytes::from_static(b"h"));
        assert_eq!(
            r.next_chunk().await.unwrap().unwrap(),
            Bytes::from_static(b"ab")
        );
        w.push(Bytes::from_static(b"cd"));
        let e = w.finish();
        assert_eq!(e.body, Bytes::from_static(b"abcd"));
        assert_eq!(
            r.next_chunk().await.unwrap().unwrap(),
            Bytes::from_static(b"cd")
        );
        assert!(r.next_chunk().await.is_none());
        let s = locks.stats();
        assert_eq!((s.leaders, s.followers), (1, 1));
    }

    #[tokio::test]
    async fn finished_fill_lingers_then_unlocks() {
        let locks = FillLocks::with_linger(Duration::from_secs(5), Duration::from_millis(50));
        let mut w = leader(locks.acquire("k"));
        w.push(Bytes::from_static(b"x"));
        let e = w.finish();
        let late = follower(locks.acquire("k")).collect().await.unwrap();
        assert_eq!(late, e);
        tokio::time::sleep(Duration::from_millis(80)).await;
        let _w2 = leader(locks.acquire("k"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_linger_is_kept_on_the_tokio_clock() {
        let locks = FillLocks::new(Duration::from_secs(5));
        leader(locks.acquire("k")).finish();
        tokio::time::advance(DEFAULT_LINGER - Duration::from_millis(1)).await;
        let _still = follower(locks.acquire("k"));
        tokio::time::advance(Duration::from_millis(1)).await;
        let _w2 = leader(locks.acquire("k"));
    }

    #[tokio::test]
    async fn finish_and_release_unlocks_now() {
        let locks = FillLocks::new(Duration::from_secs(5));
        let w = leader(locks.acquire("k"));
        let r = w.reader();
        w.finish_and_release();
        assert_eq!(r.collect().await.unwrap().body.len(), 0);
        let _w2 = leader(locks.acquire("k"));
    }

    #[tokio::test]
    async fn single_chunk_finish_is_zero_copy() {
        let locks = FillLocks::new(Duration::from_secs(5));
        let mut w = leader(locks.acquire("k"));
        let chunk = Bytes::from(vec![9u8; 1000]);
        w.push(chunk.clone());
        let e = w.finish();
        assert_eq!(e.body.as_ptr(), chunk.as_ptr());
    }
}
