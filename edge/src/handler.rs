//! Request handling: limits and method dispatch, cache lookup, fill coalescing, and
//! building the response (conditional `304`/`412`, `206`/`416` ranges, HEAD, cache
//! headers) from a stored object or from an in-flight fill.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use cache::{Acquire, FillError, FillReader};
use futures::{FutureExt, Stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use origin::http::conditional::{self, Precondition, Validators};
use origin::http::range::{self, ByteRange};

use crate::admin;
use crate::fill::{self, FillJob, Purpose};
use crate::freshness::{self, State as Freshness};
use crate::head::StoredHead;
use crate::prefetch;
use crate::server::EdgeState;
use crate::upstream::status_of_abort_reason;

/// The `X-Cache` header name.
pub const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

/// Entry point for every request that is not `/healthz` or `/metrics`.
pub async fn handle(State(state): State<EdgeState>, req: Request) -> Response {
    let cfg = state.config();
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > cfg.max_uri_bytes {
        return admin::text(StatusCode::URI_TOO_LONG, "URI too long\n");
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > cfg.max_header_bytes {
        return admin::text(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large\n",
        );
    }
    // A request that already went through this edge: a forwarding loop.
    let via_self = req
        .headers()
        .get_all(header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|hop| hop.trim() == state.inner.via.to_str().unwrap_or(""));
    if via_self {
        return admin::text(StatusCode::LOOP_DETECTED, "forwarding loop detected\n");
    }
    match *req.method() {
        Method::GET | Method::HEAD => serve(state, req).await,
        _ if req.method().as_str() == "PURGE" => admin::purge(state, req).await,
        _ => {
            let mut res = admin::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            res.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS, PURGE"),
            );
            res
        }
    }
}

/// One client request after validation.
struct Ctx {
    method: Method,
    headers: HeaderMap,
    key: String,
    path: String,
    query: Option<String>,
}

/// Cache key and upstream path of a raw request path: the [`origin::path::sanitize`]d
/// path, plus `?query` when `cache_query` is on.
pub fn cache_key(
    raw_path: &str,
    query: Option<&str>,
    cache_query: bool,
) -> Result<(String, String, Option<String>), StatusCode> {
    let safe = origin::path::sanitize(raw_path).map_err(|e| e.status())?;
    let path = safe.to_string();
    let query = if cache_query {
        query.filter(|q| !q.is_empty()).map(str::to_owned)
    } else {
        None
    };
    let key = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    Ok((key, path, query))
}

async fn serve(state: EdgeState, req: Request) -> Response {
    let (key, path, query) = match cache_key(
        req.uri().path(),
        req.uri().query(),
        state.config().cache_query,
    ) {
        Ok(k) => k,
        Err(status) => return admin::text(status, "bad request path\n"),
    };
    let (parts, _body) = req.into_parts();
    let ctx = Ctx {
        method: parts.method,
        headers: parts.headers,
        key,
        path,
        query,
    };
    prefetch::maybe_start(&state, &ctx.path);
    let m = &state.inner.metrics;
    let mut cached = None;
    if let Some((head, body)) = state.lookup(&ctx.key).await {
        let age =
            freshness::current_age(head.initial_age, head.response_time_ms, SystemTime::now());
        match head.policy.state(age) {
            Freshness::Fresh => {
                m.hits.inc();
                return respond_stored(&state, &ctx, head, body, "HIT");
            }
            Freshness::StaleWhileRevalidate => {
                m.stale.inc();
                background_refresh(&state, &ctx, (head.clone(), body.clone()));
                return respond_stored(&state, &ctx, head, body, "STALE");
            }
            Freshness::Stale => cached = Some((head, body)),
        }
    }
    fill_and_respond(&state, &ctx, cached).await
}

/// Starts a stale-while-revalidate refresh unless one is already running.
fn background_refresh(state: &EdgeState, ctx: &Ctx, cached: (StoredHead, Bytes)) {
    if let Acquire::Leader(writer) = state.inner.locks.acquire(&ctx.key) {
        let job = FillJob {
            key: ctx.key.clone(),
            path: ctx.path.clone(),
            query: ctx.query.clone(),
            cached: Some(cached),
            purpose: Purpose::Background,
        };
        tokio::spawn(fill::run(state.clone(), job, writer));
    }
}

/// Joins (or starts) the fill of `ctx.key` and answers from it as it streams.
async fn fill_and_respond(
    state: &EdgeState,
    ctx: &Ctx,
    cached: Option<(StoredHead, Bytes)>,
) -> Response {
    let m = &state.inner.metrics;
    let mut last_error = StatusCode::BAD_GATEWAY;
    for attempt in 0..2 {
        let mut reader = match state.inner.locks.acquire(&ctx.key) {
            Acquire::Leader(writer) => {
                // Another fill may have completed between our lookup and acquire.
                if cached.is_none() || attempt > 0 {
                    if let Some((head, body)) = state.lookup(&ctx.key).await {
                        let age = freshness::current_age(
                            head.initial_age,
                            head.response_time_ms,
                            SystemTime::now(),
                        );
                        if head.policy.state(age) == Freshness::Fresh {
                            drop(writer);
                            m.hits.inc();
                            return respond_stored(state, ctx, head, body, "HIT");
                        }
                    }
                }
                let reader = writer.reader();
                let job = FillJob {
                    key: ctx.key.clone(),
                    path: ctx.path.clone(),
                    query: ctx.query.clone(),
                    cached: cached.clone(),
                    purpose: Purpose::Client,
                };
                tokio::spawn(fill::run(state.clone(), job, writer));
                reader
            }
            Acquire::Follower(reader) => {
                m.coalesced.inc();
                reader
            }
        };
        match reader.head().await {
            Ok(meta) => {
                let Some(head) = StoredHead::decode(&meta) else {
                    return admin::text(StatusCode::BAD_GATEWAY, "bad fill head\n");
                };
                match head.outcome {
                    crate::head::Outcome::Miss => m.misses.inc(),
                    crate::head::Outcome::Revalidated => m.revalidated.inc(),
                    crate::head::Outcome::Stale => m.stale.inc(),
                };
                return respond_fill(state, ctx, head, reader).await;
            }
            Err(FillError::Aborted(reason)) => {
                let status = status_of_abort_reason(&reason);
                return admin::text(status, &format!("upstream: {reason}\n"));
            }
            Err(FillError::Abandoned) => {
                tracing::debug!(key = ctx.key, attempt, "fill abandoned, retrying");
            }
            Err(FillError::Timeout) => {
                tracing::warn!(key = ctx.key, attempt, "timed out waiting for a fill");
                last_error = StatusCode::GATEWAY_TIMEOUT;
            }
        }
    }
    admin::text(last_error, "upstream fetch did not complete\n")
}

/// Response headers common to every answer built from a stored head.
fn base_headers(state: &EdgeState, head: &StoredHead, x_cache: &'static str) -> HeaderMap {
    let mut h = head.headers.clone();
    let age = freshness::current_age(head.initial_age, head.response_time_ms, SystemTime::now());
    h.insert(header::AGE, HeaderValue::from(age));
    h.insert(X_CACHE, HeaderValue::from_static(x_cache));
    h.append(header::VIA, state.inner.via.clone());
    h
}

/// Client preconditions and `Range` against a representation of `len` bytes.
enum Plan {
    Status(StatusCode),
    Full,
    Part(u64, u64),
    Unsatisfiable,
}

fn plan(ctx: &Ctx, head: &StoredHead, len: Option<u64>) -> Plan {
    if head.status != StatusCode::OK {
        return Plan::Full;
    }
    let lm = head
        .last_modified()
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s).ok());
    let v = Validators {
        etag: head.etag(),
        last_modified: lm,
    };
    match conditional::evaluate(&ctx.method, &ctx.headers, &v) {
        Precondition::NotModified => return Plan::Status(StatusCode::NOT_MODIFIED),
        Precondition::Failed => return Plan::Status(StatusCode::PRECONDITION_FAILED),
        Precondition::Proceed => {}
    }
    let Some(len) = len else { return Plan::Full };
    if !conditional::if_range_allows(&ctx.headers, &v) {
        return Plan::Full;
    }
    match range::parse(ctx.headers.get(header::RANGE).map(|v| v.as_bytes()), len) {
        ByteRange::Satisfiable(s, e) => Plan::Part(s, e),
        ByteRange::Unsatisfiable => Plan::Unsatisfiable,
        ByteRange::Ignore => Plan::Full,
    }
}

fn status_only(mut h: HeaderMap, status: StatusCode, len: Option<u64>) -> Response {
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        if let Ok(v) = HeaderValue::from_str(&range::unsatisfied_content_range(len.unwrap_or(0))) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if status == StatusCode::NOT_MODIFIED {
        h.remove(header::CONTENT_TYPE);
    }
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    *res.headers_mut() = h;
    res
}

/// Answers from a complete stored body.
fn respond_stored(
    state: &EdgeState,
    ctx: &Ctx,
    head: StoredHead,
    body: Bytes,
    x_cache: &'static str,
) -> Response {
    let len = body.len() as u64;
    let mut h = base_headers(state, &head, x_cache);
    let (status, body) = match plan(ctx, &head, Some(len)) {
        Plan::Status(s) => return status_only(h, s, Some(len)),
        Plan::Unsatisfiable => return status_only(h, StatusCode::RANGE_NOT_SATISFIABLE, Some(len)),
        Plan::Full => (head.status, body),
        Plan::Part(s, e) => {
            if let Ok(v) = HeaderValue::from_str(&range::content_range(s, e, len)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (
                StatusCode::PARTIAL_CONTENT,
                body.slice(s as usize..=e as usize),
            )
        }
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if head.status == StatusCode::OK {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let body = if ctx.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = h;
    res
}

/// Answers from an in-flight fill, streaming the body as it arrives.
async fn respond_fill(
    state: &EdgeState,
    ctx: &Ctx,
    head: StoredHead,
    mut reader: FillReader,
) -> Response {
    let x_cache = head.outcome.as_str();
    let len = match head.body_len {
        Some(l) => Some(l),
        // Unknown length and a Range: wait for the whole body, then answer from it.
        None if ctx.headers.contains_key(header::RANGE) && head.status == StatusCode::OK => {
            let mut buf = bytes::BytesMut::new();
            while let Some(chunk) = reader.next_chunk().await {
                match chunk {
                    Ok(c) => buf.extend_from_slice(&c),
                    Err(e) => {
                        return admin::text(StatusCode::BAD_GATEWAY, &format!("upstream: {e:?}\n"))
                    }
                }
            }
            return respond_stored(state, ctx, head, buf.freeze(), x_cache);
        }
        None => None,
    };
    let mut h = base_headers(state, &head, x_cache);
    let (status, start, end) = match plan(ctx, &head, len) {
        Plan::Status(s) => return status_only(h, s, len),
        Plan::Unsatisfiable => return status_only(h, StatusCode::RANGE_NOT_SATISFIABLE, len),
        Plan::Full => (head.status, 0, len.map(|l| l.saturating_sub(1))),
        Plan::Part(s, e) => {
            if let Ok(v) = HeaderValue::from_str(&range::content_range(s, e, len.unwrap_or(0))) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, s, Some(e))
        }
    };
    match (len, end) {
        (Some(0), _) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        (Some(_), Some(e)) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(e - start + 1));
        }
        _ => {}
    }
    if head.status == StatusCode::OK && len.is_some() {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let body = if ctx.method == Method::HEAD || len == Some(0) {
        Body::empty()
    } else {
        Body::from_stream(RangeStream::new(reader, start, end))
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = h;
    res
}

/// Streams bytes `start..=end` (or to the end) of a fill as chunks arrive.
struct RangeStream {
    inner: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
}

impl RangeStream {
    fn new(reader: FillReader, start: u64, end: Option<u64>) -> RangeStream {
        let s =
            futures::stream::unfold((Some(reader), 0u64), move |(reader, mut pos)| async move {
                let mut reader = reader?;
                loop {
                    if end.is_some_and(|e| pos > e) {
                        return None;
                    }
                    let chunk = match reader.next_chunk().await {
                        None => return None,
                        Some(Err(e)) => {
                            return Some((
                                Err(std::io::Error::other(format!(
                                    "upstream fill failed: {e:?}"
                                ))),
                                (None, pos),
                            ))
                        }
                        Some(Ok(c)) => c,
                    };
                    // A reader behind the fill (late joiner, slow client) takes what is
                    // already there in one larger piece.
                    let mut batch = vec![chunk];
                    let mut size = batch[0].len();
                    while size < fill::PUSH_BATCH {
                        match reader.next_chunk().now_or_never() {
                            Some(Some(Ok(c))) => {
                                size += c.len();
                                batch.push(c);
                            }
                            // the end and errors are sticky: they surface on the next call
                            Some(Some(Err(_)) | None) | None => break,
                        }
                    }
                    let chunk = fill::concat(batch, size);
                    let (c_start, c_end) = (pos, pos + chunk.len() as u64); // [c_start, c_end)
                    pos = c_end;
                    let from = start.max(c_start);
                    let to = end.map_or(c_end, |e| (e + 1).min(c_end));
                    if from < to {
                        let piece = chunk.slice((from - c_start) as usize..(to - c_start) as usize);
                        return Some((Ok(piece), (Some(reader), pos)));
                    }
                }
            });
        RangeStream { inner: Box::pin(s) }
    }
}

impl Stream for RangeStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            cache_key("/default/v720/1.m4s", Some("a=1"), false).unwrap(),
            (
                "/default/v720/1.m4s".into(),
                "/default/v720/1.m4s".into(),
                None
            )
        );
        assert_eq!(
            cache_key("/default/v720/1.m4s", Some("a=1"), true).unwrap(),
            (
                "/default/v720/1.m4s?a=1".into(),
                "/default/v720/1.m4s".into(),
                Some("a=1".into())
            )
        );
        assert_eq!(
            cache_key("/default/v%37/1.m4s", None, false).unwrap().0,
            "/default/v7/1.m4s"
        );
        assert_eq!(
            cache_key("/../etc/passwd", None, false),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            cache_key("/a/%2e%2e/b", None, false),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            cache_key("/.git/x", None, false),
            Err(StatusCode::NOT_FOUND)
        );
    }
}
