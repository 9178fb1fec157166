//! The fill task: one upstream fetch per key, pushed into a [`FillWriter`] that every
//! waiting client (and the cache) reads from.
//!
//! The task runs on its own (`tokio::spawn`), independent of any client connection, so
//! a slow or vanished client never slows or cancels the fetch for the others. It decides
//! the answer for all waiters at once:
//! - a `304` to a revalidation → the stored body with a refreshed head
//!   ([`Outcome::Revalidated`]; the cache entry's meta is updated in place);
//! - a connection failure, timeout or `5xx` while a stored copy is within its
//!   stale-if-error window → the stored copy ([`Outcome::Stale`]);
//! - any other response → streamed as it arrives ([`Outcome::Miss`]) and stored at the
//!   end if cacheable (a stored copy that is no longer cacheable is removed);
//! - the body is kept whole only when it will be stored and fits (the store's limit for
//!   this key and the fills' shared memory budget, [`cache::FillBudget`]); otherwise it
//!   streams through a small window and is not stored (see [`cache::fill`]);
//! - the object is stored **before** the fill is finished: a request arriving after the
//!   response completed finds it in the store or fetches again, never a replay of the fill
//!   (RFC 9111 §4; a `max-age=0`/`no-cache` answer serves only the requests that waited
//!   for it). A PURGE during the fill (or during the insert) leaves nothing stored;
//! - a failure with nothing to fall back on → [`FillWriter::abort`] with the status the
//!   waiters should answer (`502`/`504`).

use bytes::Bytes;
use cache::FillWriter;
use futures::{FutureExt, StreamExt};
use http::{header, HeaderMap, StatusCode};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::freshness::{self, Policy};
use crate::head::{is_dropped_header, Outcome, StoredHead};
use crate::key::CacheKey;
use crate::state::EdgeState;
use crate::upstream::{Conditional, UpstreamError};

/// Largest batch of already-received upstream chunks pushed to the waiters at once.
pub const PUSH_BATCH: usize = 256 << 10;

/// Joins chunks into one (no copy for a single chunk).
pub fn concat(mut chunks: Vec<Bytes>, size: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut buf = bytes::BytesMut::with_capacity(size);
    for c in chunks {
        buf.extend_from_slice(&c);
    }
    buf.freeze()
}

/// What a fill is for (only changes logging and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A client request missed or found a stale copy.
    Client,
    /// A stale-while-revalidate background refresh.
    Background,
    /// A DASH prefetch.
    Prefetch,
}

/// What to fetch and what is already stored.
#[derive(Debug, Clone)]
pub struct FillJob {
    /// What to fetch (its path and query) and store it under.
    pub key: CacheKey,
    /// The stored copy, if any (to revalidate, or to fall back on).
    pub cached: Option<(StoredHead, Bytes)>,
    /// Why the fill runs.
    pub purpose: Purpose,
    /// End-to-end request headers of the leader's request, as chosen by
    /// `crate::forward::request_headers(.., Use::Fill)`; empty for prefetches.
    pub request_headers: HeaderMap,
}

/// Runs one fill to completion. Returns the upstream status (`None` if the upstream
/// could not be reached or the body broke).
pub async fn run(state: EdgeState, job: FillJob, mut writer: FillWriter) -> Option<StatusCode> {
    let inner = &state.inner;
    let m = &inner.metrics;
    let cond = job
        .cached
        .as_ref()
        .map(|(h, _)| Conditional {
            if_none_match: h.headers.get(header::ETAG).cloned(),
            if_modified_since: h.last_modified().cloned(),
        })
        .unwrap_or_default();
    if cond.if_none_match.is_some() || cond.if_modified_since.is_some() {
        m.revalidations.inc();
    }
    m.upstream_requests.inc();
    let generation = inner.purge_generation.load(Ordering::Acquire);
    let request_time = state.now();
    let res = inner
        .upstream
        .get_with(job.key.path(), job.key.query(), &cond, &job.request_headers)
        .await;
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            m.upstream_errors.inc();
            if let Some((h, b)) = usable_on_error(&job, state.now()) {
                tracing::warn!(key = %job.key, error = %e, "upstream failed, serving stale");
                serve_stored(writer, h, b, Outcome::Stale);
            } else {
                writer.abort(e.abort_reason());
            }
            return None;
        }
    };
    let status = res.status();
    let response_time = state.now();

    if status == StatusCode::NOT_MODIFIED {
        if let Some((mut h, body)) = job.cached.clone() {
            refresh(
                &mut h,
                res.headers(),
                request_time,
                response_time,
                &state,
                &job.key,
            );
            let meta = h.encode();
            state
                .blocking(job.key.as_str(), move |c, k| c.update_meta(k, meta))
                .await;
            serve_stored(writer, h, body, Outcome::Revalidated);
            return Some(status);
        }
    }
    if status.is_server_error() {
        if let Some((h, b)) = usable_on_error(&job, state.now()) {
            m.upstream_errors.inc();
            tracing::warn!(key = %job.key, %status, "upstream error status, serving stale");
            serve_stored(writer, h, b, Outcome::Stale);
            return Some(status);
        }
    }

    // RFC 9111 §3.5: an answer to a request with Authorization is stored only when allowed
    let policy = Policy::for_request(
        &job.request_headers,
        status,
        res.headers(),
        job.key.path(),
        &inner.defaults,
        response_time,
    );
    let mut headers = HeaderMap::with_capacity(res.headers().len());
    for (name, value) in res.headers() {
        if !is_dropped_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    crate::vary::record(&mut headers, &job.request_headers);
    let head = StoredHead {
        status,
        response_time_ms: freshness::unix_ms(response_time),
        initial_age: freshness::initial_age(res.headers(), request_time, response_time),
        policy: policy.unwrap_or_default(),
        storable: policy.is_some(),
        body_len: res.content_length(),
        outcome: Outcome::Miss,
        headers,
    };
    let meta = head.encode();
    let meta_len = meta.len() as u64;
    writer.set_head(meta);
    let store_limit = head.storable.then(|| state.body_limit(&job.key, meta_len));
    writer.plan_body(head.body_len, store_limit);

    let mut stream = res.bytes_stream();
    let mut received: u64 = 0;
    // An item read ahead while batching, handled on the next turn.
    let mut peeked = None;
    loop {
        if !writer.ready().await {
            tracing::debug!(key = %job.key, "no client left for a streamed fill: stopped");
            writer.abort(cache::fill::NO_READERS.to_owned());
            return None;
        }
        let next = match peeked.take() {
            Some(item) => Ok(item),
            None => tokio::time::timeout(inner.upstream.idle_timeout, stream.next()).await,
        };
        match next {
            Ok(Some(Ok(first))) => {
                // Batch whatever else is already buffered (up to PUSH_BATCH bytes) into one
                // push: fewer wake-ups for the waiters and larger writes to their sockets,
                // without ever waiting for more data.
                let mut batch = vec![first];
                let mut size = batch[0].len();
                while size < PUSH_BATCH {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(c))) => {
                            size += c.len();
                            batch.push(c);
                        }
                        Some(other) => {
                            peeked = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                received += size as u64;
                m.upstream_bytes.inc_by(size as u64);
                // copied once into the fill's buffer when the body is kept whole
                writer.push_all(batch);
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                m.upstream_errors.inc();
                let e = UpstreamError::Body(e);
                tracing::warn!(key = %job.key, error = %e, "upstream body failed");
                writer.abort(e.abort_reason());
                return None;
            }
            Err(_) => {
                m.upstream_errors.inc();
                let e = UpstreamError::BodyStalled;
                tracing::warn!(key = %job.key, error = %e, "upstream body stalled");
                writer.abort(e.abort_reason());
                return None;
            }
        }
    }
    if head.body_len.is_some_and(|l| l != received) {
        m.upstream_errors.inc();
        writer.abort(UpstreamError::Truncated.abort_reason());
        return None;
    }
    if !head.storable || !writer.keeps_body() {
        if job.cached.is_some() {
            // the stored copy is outdated (no longer cacheable, or replaced by an object
            // too large to keep)
            state.blocking(job.key.as_str(), |c, k| c.remove(k)).await;
        }
    } else if let Some(entry) = writer.entry() {
        // stored before finish(): see the module docs
        if inner.purge_generation.load(Ordering::Acquire) != generation {
            tracing::debug!(key = %job.key, "purge during fill: not stored");
        } else if !state.insert(&job.key, entry).await {
            tracing::debug!(
                key = %job.key,
                "object not stored (too large for the budget?)"
            );
        } else if inner.purge_generation.load(Ordering::Acquire) != generation {
            // a PURGE ran during the insert (after its own removal, maybe before it)
            tracing::debug!(key = %job.key, "purge during insert: removed again");
            state.blocking(job.key.as_str(), |c, k| c.remove(k)).await;
        }
    }
    writer.finish();
    tracing::debug!(key = %job.key, %status, bytes = received, purpose = ?job.purpose, "fill done");
    Some(status)
}

/// The stored copy if it may be served at `now` because the upstream failed.
fn usable_on_error(job: &FillJob, now: SystemTime) -> Option<(StoredHead, Bytes)> {
    let (h, b) = job.cached.as_ref()?;
    let age = freshness::current_age(h.initial_age, h.response_time_ms, now);
    h.policy
        .usable_on_error(age)
        .then(|| (h.clone(), b.clone()))
}

/// Hands a stored response to every waiter of a fill.
fn serve_stored(mut writer: FillWriter, mut head: StoredHead, body: Bytes, outcome: Outcome) {
    head.outcome = outcome;
    writer.set_head(head.encode());
    if !body.is_empty() {
        writer.push(body);
    }
    // unlocks at once: the next request finds the refreshed copy in the store (or, after a
    // stale answer, tries the upstream again rather than replaying it)
    writer.finish();
}

/// Applies a `304`'s headers to a stored head (RFC 9111 §4.3.4) and restarts its age.
fn refresh(
    h: &mut StoredHead,
    not_modified: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
    state: &EdgeState,
    key: &CacheKey,
) {
    for name in not_modified.keys() {
        if is_dropped_header(name) || *name == header::CONTENT_TYPE {
            continue;
        }
        h.headers.remove(name);
        for v in not_modified.get_all(name) {
            h.headers.append(name.clone(), v.clone());
        }
    }
    h.response_time_ms = freshness::unix_ms(response_time);
    h.initial_age = freshness::initial_age(not_modified, request_time, response_time);
    if let Some(p) = Policy::from_response(
        StatusCode::OK,
        &h.headers,
        key.path(),
        &state.inner.defaults,
        response_time,
    ) {
        h.policy = p;
    }
}
