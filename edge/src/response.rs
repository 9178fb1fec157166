//! Building responses: from a stored object or from an in-flight fill, and the small
//! `text/plain` answers (errors, `/healthz`, `PURGE`).
//!
//! Every cache answer carries the stored end-to-end headers plus `Age` (the current age by
//! the edge's [`Clock`](crate::clock::Clock), RFC 9111 §5.1), `X-Cache` (how it was
//! produced) and the edge's `Via` entry (RFC 9110 §7.6.3). Then the client's request is
//! applied to the representation:
//! 1. preconditions ([`serve::http::conditional`]): `304 Not Modified` / `412`;
//! 2. `Range` ([`serve::http::range`], honoured only if `If-Range` matches):
//!    `206 Partial Content` / `416`;
//! 3. `HEAD` drops the body.
//!
//! A fill answer streams the body as it arrives (`RangeStream`); if the length is
//! unknown and a range was asked for, it waits for the whole body and answers as from a
//! stored one.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use cache::FillReader;
use futures::{FutureExt, Stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use serve::http::conditional::{self, Precondition, Validators};
use serve::http::range::{self, ByteRange};
use serve::wire::{CacheStatus, X_CACHE};

use crate::fill;
use crate::freshness;
use crate::head::StoredHead;
use crate::state::EdgeState;

/// A small `text/plain`, `no-store` response.
pub fn text(status: StatusCode, body: &str) -> Response {
    let mut res = Response::new(Body::from(body.to_owned()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What of a client's request shapes the answer: its method (`HEAD`, and for the
/// preconditions) and its headers (conditionals, `Range`, `If-Range`).
#[derive(Debug, Clone)]
pub(crate) struct ClientRequest {
    pub method: Method,
    pub headers: HeaderMap,
}

/// Response headers common to every answer built from a stored head. The
/// [`crate::vary::VARIANT`] pseudo-header never leaves; `Cache-Control` goes out unchanged.
/// The edge's own targeted field (RFC 9213) is consumed: it goes only to requests that came
/// through another proxy (`Via`: a child edge, whose own storage it governs too), never to
/// end clients. `CDN-Cache-Control` is forwarded: it addresses every CDN cache on the
/// path (RFC 9213 §3), and tiers below this one need it.
fn base_headers(
    state: &EdgeState,
    req: &ClientRequest,
    head: &StoredHead,
    x_cache: CacheStatus,
) -> HeaderMap {
    let mut h = head.headers.clone();
    h.remove(crate::vary::VARIANT);
    if h.contains_key(header::CONNECTION) {
        // the stored `Connection` and the fields it lists are hop-by-hop (see
        // `head::is_dropped_header`)
        h = crate::forward::end_to_end(&h);
    }
    if let Some(own) = &state.inner.defaults.targeted {
        if !req.headers.contains_key(header::VIA) {
            h.remove(own);
        }
    }
    let age = freshness::current_age(head.initial_age, head.response_time_ms, state.now());
    h.insert(header::AGE, HeaderValue::from(age));
    h.insert(X_CACHE, HeaderValue::from_static(x_cache.as_str()));
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

fn plan(req: &ClientRequest, head: &StoredHead, len: Option<u64>) -> Plan {
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
    // Without Last-Modified, If-Modified-Since is evaluated against Date (RFC 9110
    // §13.1.3: the time the representation was generated bounds its last change); If-Range
    // keeps needing a real validator.
    let date = head
        .headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(freshness::parse_date);
    let for_ims = Validators {
        etag: head.etag(),
        last_modified: lm.or(date),
    };
    match conditional::evaluate(&req.method, &req.headers, &for_ims) {
        Precondition::NotModified => return Plan::Status(StatusCode::NOT_MODIFIED),
        Precondition::Failed => return Plan::Status(StatusCode::PRECONDITION_FAILED),
        Precondition::Proceed => {}
    }
    let Some(len) = len else { return Plan::Full };
    if !conditional::if_range_allows(&req.headers, &v) {
        return Plan::Full;
    }
    match range::parse(req.headers.get(header::RANGE).map(|v| v.as_bytes()), len) {
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
pub(crate) fn from_stored(
    state: &EdgeState,
    req: &ClientRequest,
    head: StoredHead,
    body: Bytes,
    x_cache: CacheStatus,
) -> Response {
    let len = body.len() as u64;
    let mut h = base_headers(state, req, &head, x_cache);
    let (status, body) = match plan(req, &head, Some(len)) {
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
    let body = if req.method == Method::HEAD {
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
pub(crate) async fn from_fill(
    state: &EdgeState,
    req: &ClientRequest,
    head: StoredHead,
    mut reader: FillReader,
) -> Response {
    let x_cache = head.outcome.cache_status();
    let len = match head.body_len {
        Some(l) => Some(l),
        // Unknown length and a Range: wait for the whole body, then answer from it.
        None if req.headers.contains_key(header::RANGE) && head.status == StatusCode::OK => {
            let mut buf = bytes::BytesMut::new();
            while let Some(chunk) = reader.next_chunk().await {
                match chunk {
                    Ok(c) => buf.extend_from_slice(&c),
                    Err(e) => return text(StatusCode::BAD_GATEWAY, &format!("upstream: {e:?}\n")),
                }
            }
            return from_stored(state, req, head, buf.freeze(), x_cache);
        }
        None => None,
    };
    let mut h = base_headers(state, req, &head, x_cache);
    let (status, start, end) = match plan(req, &head, len) {
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
    let body = if req.method == Method::HEAD || len == Some(0) {
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
