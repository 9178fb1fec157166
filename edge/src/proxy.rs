//! The reverse proxy: what the edge does not cache goes to the configured upstream only
//! (never to an absolute-form target or a `Host` of the client's choosing) and comes back
//! unchanged but for hop-by-hop fields (RFC 9110 §7.6.1) and the edge's `Via`.
//!
//! Passed through ([`handle`]): every method other than `GET`/`HEAD`/`PURGE` (and `CONNECT`
//! and `TRACE`, refused with `405`), the `GET`/`HEAD` requests whose exchange must not be
//! stored ([`bypass`]), and coalesced waiters that may not share their fill's answer (see
//! [`crate::handler`]). Bodies stream both ways.
//!
//! A `POST` answer that names its own target in `Content-Location` and is explicitly fresh
//! is stored as that URI's `GET` response (RFC 9111 §4), after the invalidation.
//!
//! After an unsafe method with a non-error answer (`2xx`/`3xx`), the stored responses for
//! the target URI and for `Location`/`Content-Location` when they name the same origin are
//! invalidated (RFC 9111 §4.4; [`invalidated_paths`]).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures::TryStreamExt;
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};

use crate::directives::RequestCacheControl;
use crate::forward::{self, Use};
use crate::key::CacheKey;
use crate::response::text;
use crate::state::EdgeState;

/// Why a `GET`/`HEAD` goes around the cache, if it does. (A request with
/// `Authorization` does not: its answer is stored only when `public`, `s-maxage` or
/// `must-revalidate` allow it, RFC 9111 §3.5, see [`crate::freshness::Policy::for_request`],
/// and a waiter never shares a fill whose answer was not storable.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// Request `Cache-Control: no-store` (RFC 9111 §5.2.1.5): nothing of this exchange
    /// is stored.
    NoStore,
}

/// Whether a `GET`/`HEAD` with `headers` is passed through instead of cached.
pub fn bypass(headers: &HeaderMap) -> Option<Bypass> {
    if RequestCacheControl::from_headers(headers).no_store {
        return Some(Bypass::NoStore);
    }
    None
}

/// True for the methods RFC 9110 §9.2.1 defines as safe (no invalidation after them).
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The paths whose stored responses an answer with `status` to an unsafe request for
/// `target_path` invalidates (RFC 9111 §4.4): none unless `2xx`/`3xx`; then the target,
/// and `Location` / `Content-Location` when relative or on `authority` (the request's
/// `Host`). Paths as received (they are sanitized into keys by the caller).
pub fn invalidated_paths(
    status: StatusCode,
    target_path: &str,
    response: &HeaderMap,
    authority: Option<&str>,
) -> Vec<String> {
    if !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let mut out = vec![target_path.to_owned()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(v) = response.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Ok(uri) = v.trim().parse::<Uri>() else {
            continue;
        };
        let same_origin = match uri.authority() {
            None => true,
            Some(a) => authority.is_some_and(|h| a.as_str().eq_ignore_ascii_case(h)),
        };
        let path = uri.path();
        if same_origin && path.starts_with('/') && !out.iter().any(|p| p == path) {
            out.push(path.to_owned());
        }
    }
    out
}

/// Passes `req` through to the upstream and streams the answer back.
pub async fn handle(state: EdgeState, req: Request) -> Response {
    if matches!(*req.method(), Method::CONNECT | Method::TRACE) {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        res.headers_mut().insert(
            header::ALLOW,
            http::HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, PURGE"),
        );
        return res;
    }
    // Same path rules as cached requests: nothing outside the content tree.
    if let Err(status) = CacheKey::from_request(req.uri().path(), None, false) {
        return text(status, "bad request path\n");
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let headers = forward::request_headers(&parts.headers, peer, Use::Proxy);
    // a body whatever announces it (Content-Length, chunked, an HTTP/2 DATA stream)
    let has_body = !http_body::Body::is_end_stream(&body);
    let body = has_body.then(|| reqwest::Body::wrap_stream(body.into_data_stream()));
    let path = parts.uri.path();
    let m = &state.inner.metrics;
    m.upstream_requests.inc();
    let res = match state
        .inner
        .upstream
        .send(parts.method.clone(), path, parts.uri.query(), headers, body)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            m.upstream_errors.inc();
            tracing::warn!(path, method = %parts.method, error = %e, "proxied request failed");
            return text(e.status(), &format!("upstream: {e}\n"));
        }
    };
    let status = res.status();
    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if !is_safe(&parts.method) {
        for p in invalidated_paths(status, path, res.headers(), authority) {
            invalidate(&state, &p).await;
        }
    }
    if let Some(key) = post_answer_key(&state, &parts, status, res.headers(), authority) {
        return store_post_answer(&state, key, &parts.headers, res).await;
    }
    let mut h = forward::end_to_end(res.headers());
    h.remove(header::CONTENT_LENGTH);
    if let Some(len) = res.content_length() {
        h.insert(header::CONTENT_LENGTH, len.into());
    }
    h.append(header::VIA, state.inner.via.clone());
    let body = if parts.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(res.bytes_stream().map_err(std::io::Error::other))
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = h;
    out
}

/// Largest `POST` answer stored for later `GET`s (it is read whole before it is sent).
const POST_STORE_MAX: u64 = 1 << 20;

/// The key under which the answer to a `POST` may be stored for later `GET`s of its
/// target (RFC 9111 §4: a `2xx` with explicit freshness whose `Content-Location` is the
/// target URI on the same origin), if it qualifies: known length up to
/// [`POST_STORE_MAX`], no `Vary`.
fn post_answer_key(
    state: &EdgeState,
    parts: &http::request::Parts,
    status: StatusCode,
    res: &HeaderMap,
    authority: Option<&str>,
) -> Option<CacheKey> {
    if parts.method != Method::POST || !status.is_success() || res.contains_key(header::VARY) {
        return None;
    }
    let loc = res.get(header::CONTENT_LOCATION)?.to_str().ok()?.trim();
    let uri = loc.parse::<Uri>().ok()?;
    let same_origin = match uri.authority() {
        None => true,
        Some(a) => authority.is_some_and(|h| a.as_str().eq_ignore_ascii_case(h)),
    };
    let target = parts.uri.path();
    if !same_origin || uri.path() != target || uri.query() != parts.uri.query() {
        return None;
    }
    let len = res
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    let cc = crate::freshness::applicable_directives(res, &state.inner.defaults);
    let explicit =
        cc.max_age.is_some() || cc.s_maxage.is_some() || res.contains_key(header::EXPIRES);
    if len > POST_STORE_MAX || !explicit {
        return None;
    }
    CacheKey::from_request(target, parts.uri.query(), state.config().cache_query).ok()
}

/// Reads a qualifying `POST` answer whole, stores it as the `GET` response of `key` when
/// its policy allows, and sends it on.
async fn store_post_answer(
    state: &EdgeState,
    key: CacheKey,
    request: &HeaderMap,
    res: reqwest::Response,
) -> Response {
    let status = res.status();
    let received = state.now();
    let mut headers = HeaderMap::new();
    for (name, value) in &forward::end_to_end(res.headers()) {
        if !crate::head::is_dropped_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let policy = crate::freshness::Policy::for_request(
        request,
        status,
        res.headers(),
        key.path(),
        &state.inner.defaults,
        received,
    );
    let initial_age = crate::freshness::initial_age(res.headers(), received, received);
    let idle = state.inner.upstream.idle_timeout;
    let body = match tokio::time::timeout(idle, res.bytes()).await {
        Ok(Ok(b)) => b,
        _ => return text(StatusCode::BAD_GATEWAY, "upstream: body failed\n"),
    };
    let head = crate::head::StoredHead {
        status,
        response_time_ms: crate::freshness::unix_ms(received),
        initial_age,
        policy: policy.unwrap_or_default(),
        storable: policy.is_some(),
        body_len: Some(body.len() as u64),
        outcome: crate::head::Outcome::Miss,
        headers,
    };
    if head.storable {
        let entry = cache::Entry {
            meta: head.encode(),
            body: body.clone(),
        };
        state.insert(&key, entry).await;
        tracing::debug!(
            key = key.as_str(),
            "POST answer stored for GET (RFC 9111 §4)"
        );
    }
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let mut h = head.headers;
    h.insert(header::CONTENT_LENGTH, head.body_len.unwrap_or(0).into());
    h.append(header::VIA, state.inner.via.clone());
    *out.headers_mut() = h;
    out
}

/// Removes what is stored for `raw_path` (and its query and `Vary` variants), and detaches
/// the fills in flight for it, so requests after the change do not join them. (Unlike a
/// PURGE, the purge generation is not bumped: that would keep every fill in flight, of any
/// key, from storing. A fill of this key already in flight may still store its answer.)
pub(crate) async fn invalidate(state: &EdgeState, raw_path: &str) {
    let Ok(key) = CacheKey::from_request(raw_path, None, false) else {
        return;
    };
    state.detach_fills(key.as_str());
    state.blocking(key.as_str(), |c, k| c.remove(k)).await;
    state
        .blocking(&key.variants_prefix(), |c, k| c.remove_prefix(k))
        .await;
    tracing::debug!(key = key.as_str(), "invalidated (RFC 9111 §4.4)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hm(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rfc9111_4_4_invalidation_targets() {
        let res = hm(&[
            (header::LOCATION, "http://edge.example/new"),
            (header::CONTENT_LOCATION, "/c"),
        ]);
        assert_eq!(
            invalidated_paths(StatusCode::CREATED, "/t", &res, Some("edge.example")),
            ["/t", "/new", "/c"]
        );
        // another origin's Location is not ours to invalidate
        assert_eq!(
            invalidated_paths(StatusCode::OK, "/t", &res, Some("other.example")),
            ["/t", "/c"]
        );
        // errors invalidate nothing
        assert!(invalidated_paths(StatusCode::NOT_FOUND, "/t", &res, None).is_empty());
        assert!(invalidated_paths(StatusCode::BAD_GATEWAY, "/t", &res, None).is_empty());
    }

    #[test]
    fn rfc9111_5_2_1_5_no_store_bypasses() {
        assert_eq!(bypass(&hm(&[(header::AUTHORIZATION, "Basic eDp5")])), None);
        assert_eq!(
            bypass(&hm(&[(header::CACHE_CONTROL, "no-store")])),
            Some(Bypass::NoStore)
        );
        assert_eq!(bypass(&hm(&[(header::CACHE_CONTROL, "max-age=0")])), None);
    }
}
