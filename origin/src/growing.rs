//! Growing objects: a segment still being uploaded (a chunked `PUT` in progress, as
//! ffmpeg's dash muxer sends in `-streaming 1 -ldash 1` mode) served to `GET` readers as
//! it grows — the origin half of low-latency chunked CMAF (issue 14; DASH-IF IOP
//! "Low-latency Modes for DASH" §9.X.4.3: a segment is requestable from its
//! availability start minus `availabilityTimeOffset`, and the server sends it with
//! HTTP/1.1 chunked transfer coding as its CMAF chunks are produced).
//!
//! ## Data flow
//! 1. The ingest handler ([`crate::ingest_http`]) starting the upload of a **new** object
//!    calls [`GrowingRegistry::begin`]: the object's path → a [`Growing`] (the chunks
//!    received so far, whether it ended, and a `watch` channel that ticks at every change).
//!    A replaced object (ffmpeg rewrites the MPD every segment) is not registered: its
//!    readers keep getting the previous complete version from disk.
//! 2. Every body chunk the upload receives is written to the temp file (as before) **and**
//!    pushed with [`GrowingWriter::push`], which wakes the readers.
//! 3. A `GET` for the path finds it with [`GrowingRegistry::get`] before the file handler
//!    looks at the disk, and streams [`Growing::stream`]: every chunk already there, then
//!    each new one as soon as it is pushed; the response has no length, so it goes out
//!    with `Transfer-Encoding: chunked`, one HTTP chunk per pushed chunk.
//! 4. Completion: the handler renames the temp file into place, **then** calls
//!    [`GrowingWriter::complete`], which removes the entry (a `GET` from then on finds the
//!    file) and ends every reader's stream cleanly. An aborted upload (client gone, body
//!    error, too large) drops the writer: the entry is removed and every reader's stream
//!    ends with an **error**, so the response is cut without its last chunk (`0\r\n\r\n`)
//!    and an edge or player sees a truncated body, never a clean end it could cache.
//!
//! ## Bounded memory
//! All registered objects together hold at most `budget` bytes
//! ([`crate::config::IngestConfig::relay_bytes`]); [`admit_chunk`] decides per chunk. An
//! object whose next chunk does not fit is **detached**: removed from the registry, its
//! readers cut with an error (as for an abort), and its upload goes on to disk only (it
//! is served from the file once complete). Readers hold the chunks they have not sent
//! yet through an `Arc`, so after an object leaves the registry its memory is freed when
//! its last reader finishes (each reader is bounded by the server's send timeout).
//!
//! Why hand-written: the "growing file" of nginx/Apache is the disk file plus polling; a
//! registry in memory sends each chunk the moment it exists, without polling latency.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::watch;

/// What to do with the next chunk of a growing object ([`admit_chunk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkAdmission {
    /// Keep it in memory and relay it.
    Relay,
    /// The relay budget is spent: stop relaying this object (detach it).
    Detach,
}

/// Decides whether a chunk of `chunk` bytes may join the registry, which holds `used`
/// bytes of `budget`. Pure: `used + chunk <= budget` relays, anything else detaches
/// (a zero budget detaches everything).
pub fn admit_chunk(used: u64, budget: u64, chunk: u64) -> ChunkAdmission {
    match used.checked_add(chunk) {
        Some(total) if total <= budget => ChunkAdmission::Relay,
        _ => ChunkAdmission::Detach,
    }
}

/// How a growing object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The whole body arrived (and the file is in place).
    Complete,
    /// The upload failed or was detached: readers end with an error.
    Aborted,
}

#[derive(Debug, Default)]
struct Parts {
    chunks: Vec<Bytes>,
    len: u64,
    end: Option<End>,
}

/// One object being uploaded: its chunks so far and a tick for readers.
#[derive(Debug)]
pub struct Growing {
    parts: Mutex<Parts>,
    tick: watch::Sender<u64>,
    content_type: &'static str,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Growing {
    fn new(content_type: &'static str) -> Growing {
        Growing {
            parts: Mutex::new(Parts::default()),
            tick: watch::channel(0).0,
            content_type,
        }
    }

    /// The `Content-Type` decided when the upload started.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        lock(&self.parts).len
    }

    /// Whether no byte arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How it ended, `None` while growing.
    pub fn end(&self) -> Option<End> {
        lock(&self.parts).end
    }

    fn update(&self, f: impl FnOnce(&mut Parts)) {
        f(&mut lock(&self.parts));
        self.tick.send_modify(|n| *n += 1);
    }

    /// The body from its first byte: each chunk as soon as it exists; ends when the
    /// upload completes, or with an error when it is aborted or detached.
    pub fn stream(self: Arc<Self>) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        // Subscribed before the first look, so no push between a look and the wait is lost.
        let rx = self.tick.subscribe();
        futures::stream::unfold(
            (self, rx, 0usize, false),
            |(g, mut rx, next, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let step = {
                        let p = lock(&g.parts);
                        if let Some(c) = p.chunks.get(next) {
                            Some(Ok(c.clone()))
                        } else {
                            match p.end {
                                Some(End::Complete) => return None,
                                Some(End::Aborted) => Some(Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "upload aborted before the object was complete",
                                ))),
                                None => None,
                            }
                        }
                    };
                    match step {
                        Some(Ok(c)) => return Some((Ok(c), (g, rx, next + 1, false))),
                        Some(Err(e)) => return Some((Err(e), (g, rx, next, true))),
                        None => {
                            // The sender lives in `g`, which we hold: this cannot fail.
                            let _ = rx.changed().await;
                        }
                    }
                }
            },
        )
    }
}

#[derive(Debug, Default)]
struct Registry {
    objects: HashMap<String, Arc<Growing>>,
    used: u64,
}

/// Path → growing object, within a memory budget (see the module docs).
#[derive(Debug)]
pub struct GrowingRegistry {
    inner: Arc<Mutex<Registry>>,
    budget: u64,
}

impl GrowingRegistry {
    /// A registry holding at most `budget` bytes of growing objects (0: relay nothing).
    pub fn new(budget: u64) -> GrowingRegistry {
        GrowingRegistry {
            inner: Arc::new(Mutex::new(Registry::default())),
            budget,
        }
    }

    /// Registers `key` (a sanitized request path, as [`serve::path::SafePath::as_str`])
    /// as growing; `None` when relaying is off or the path is already growing (a second
    /// concurrent upload of one new name is stored, not relayed).
    pub fn begin(&self, key: &str, content_type: &'static str) -> Option<GrowingWriter> {
        if self.budget == 0 {
            return None;
        }
        let mut reg = lock(&self.inner);
        if reg.objects.contains_key(key) {
            return None;
        }
        let object = Arc::new(Growing::new(content_type));
        reg.objects.insert(key.to_string(), object.clone());
        Some(GrowingWriter {
            registry: self.inner.clone(),
            budget: self.budget,
            key: key.to_string(),
            object,
            attached: true,
        })
    }

    /// The growing object at `key`, if an upload of it is in progress.
    pub fn get(&self, key: &str) -> Option<Arc<Growing>> {
        lock(&self.inner).objects.get(key).cloned()
    }

    /// Bytes held by registered objects.
    pub fn used(&self) -> u64 {
        lock(&self.inner).used
    }

    /// Objects registered.
    pub fn len(&self) -> usize {
        lock(&self.inner).objects.len()
    }

    /// Whether nothing is growing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The upload's handle on its growing object; dropping it without
/// [`GrowingWriter::complete`] aborts the object.
#[derive(Debug)]
pub struct GrowingWriter {
    registry: Arc<Mutex<Registry>>,
    budget: u64,
    key: String,
    object: Arc<Growing>,
    attached: bool,
}

impl GrowingWriter {
    /// Appends a chunk and wakes the readers; returns `false` (and detaches the object,
    /// cutting its readers) when it does not fit the budget ([`admit_chunk`]).
    pub fn push(&mut self, chunk: Bytes) -> bool {
        if !self.attached {
            return false;
        }
        let len = chunk.len() as u64;
        {
            let mut reg = lock(&self.registry);
            if admit_chunk(reg.used, self.budget, len) == ChunkAdmission::Detach {
                drop(reg);
                tracing::info!(key = %self.key, "growing object over the relay budget: detached");
                self.detach(End::Aborted);
                return false;
            }
            reg.used += len;
        }
        self.object.update(|p| {
            p.len += len;
            p.chunks.push(chunk);
        });
        true
    }

    /// The upload completed and its file is in place: readers end cleanly, new `GET`s
    /// read the file.
    pub fn complete(mut self) {
        self.detach(End::Complete);
    }

    fn detach(&mut self, end: End) {
        if !self.attached {
            return;
        }
        self.attached = false;
        {
            let mut reg = lock(&self.registry);
            if reg
                .objects
                .get(&self.key)
                .is_some_and(|o| Arc::ptr_eq(o, &self.object))
            {
                reg.objects.remove(&self.key);
            }
            reg.used -= self.object.len();
        }
        self.object.update(|p| p.end = Some(end));
    }
}

impl Drop for GrowingWriter {
    fn drop(&mut self) {
        self.detach(End::Aborted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    #[test]
    fn admission() {
        assert_eq!(admit_chunk(0, 10, 10), ChunkAdmission::Relay);
        assert_eq!(admit_chunk(1, 10, 10), ChunkAdmission::Detach);
        assert_eq!(admit_chunk(0, 0, 1), ChunkAdmission::Detach);
        assert_eq!(admit_chunk(u64::MAX, u64::MAX, 1), ChunkAdmission::Detach);
    }

    #[tokio::test]
    async fn reader_gets_every_chunk_in_order_as_pushed_then_a_clean_end() {
        let reg = GrowingRegistry::new(1 << 20);
        let mut w = reg.begin("a/b.m4s", "video/mp4").unwrap();
        w.push(Bytes::from_static(b"one"));
        let g = reg.get("a/b.m4s").unwrap();
        let mut s = Box::pin(g.clone().stream());
        assert_eq!(s.next().await.unwrap().unwrap(), "one");
        // Nothing more yet: the reader waits.
        let waited = tokio::time::timeout(Duration::from_millis(50), s.next()).await;
        assert!(waited.is_err(), "a reader must wait for the next chunk");
        let pusher = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            w.push(Bytes::from_static(b"two"));
            w.push(Bytes::from_static(b"three"));
            w
        });
        assert_eq!(s.next().await.unwrap().unwrap(), "two");
        assert_eq!(s.next().await.unwrap().unwrap(), "three");
        let w = pusher.await.unwrap();
        assert_eq!(reg.used(), 11);
        w.complete();
        assert!(s.next().await.is_none(), "complete ends the stream cleanly");
        assert!(reg.get("a/b.m4s").is_none());
        assert_eq!(reg.used(), 0);
        // A reader that held the object from before completion still reads it all.
        let late: Vec<_> = g.stream().map(|c| c.unwrap()).collect().await;
        assert_eq!(late.concat(), b"onetwothree");
    }

    #[tokio::test]
    async fn abort_ends_readers_with_an_error() {
        let reg = GrowingRegistry::new(1 << 20);
        let mut w = reg.begin("x", "video/mp4").unwrap();
        w.push(Bytes::from_static(b"part"));
        let mut s = Box::pin(reg.get("x").unwrap().stream());
        assert_eq!(s.next().await.unwrap().unwrap(), "part");
        drop(w);
        assert!(s.next().await.unwrap().is_err(), "an abort is an error");
        assert!(s.next().await.is_none());
        assert!(reg.is_empty());
        assert_eq!(reg.used(), 0);
    }

    #[tokio::test]
    async fn over_budget_detaches_and_frees() {
        let reg = GrowingRegistry::new(8);
        let mut a = reg.begin("a", "video/mp4").unwrap();
        let mut b = reg.begin("b", "video/mp4").unwrap();
        assert!(a.push(Bytes::from_static(b"12345")));
        let mut s = Box::pin(reg.get("b").unwrap().stream());
        assert!(!b.push(Bytes::from_static(b"6789")), "5 + 4 > 8");
        assert!(s.next().await.unwrap().is_err());
        assert!(reg.get("b").is_none());
        assert!(!b.push(Bytes::from_static(b"x")), "stays detached");
        assert_eq!(reg.used(), 5);
        a.complete();
        assert_eq!(reg.used(), 0);
        assert!(
            reg.begin("a", "video/mp4").is_some(),
            "the name is free again"
        );
    }

    #[test]
    fn one_upload_per_name_and_zero_budget() {
        let reg = GrowingRegistry::new(100);
        let _w = reg.begin("k", "video/mp4").unwrap();
        assert!(reg.begin("k", "video/mp4").is_none());
        assert!(GrowingRegistry::new(0).begin("k", "video/mp4").is_none());
    }
}
