//! Request handling, in the order a request meets it: limits and method dispatch
//! ([`handle`]), the [`CacheKey`], the lookup and its freshness, then the fill a miss or a
//! stale copy joins (or starts). The answer itself is built by [`crate::response`].

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use cache::{Acquire, FillError};
use http::header;
use http::{Method, StatusCode};
use serve::wire::CacheStatus;

use crate::admin;
use crate::directives::RequestCacheControl;
use crate::fill::{self, FillJob, Purpose};
use crate::forward::{self, Use};
use crate::freshness::{self, State as Freshness};
use crate::head::{Outcome, StoredHead};
use crate::key::CacheKey;
use crate::prefetch;
use crate::proxy;
use crate::response::{self, text, ClientRequest};
use crate::state::EdgeState;
use crate::upstream::status_of_abort_reason;
use crate::vary;

/// Entry point for every request that is not `/healthz` or `/metrics`.
pub async fn handle(State(state): State<EdgeState>, mut req: Request) -> Response {
    let cfg = state.config();
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > cfg.max_uri_bytes {
        return text(StatusCode::URI_TOO_LONG, "URI too long\n");
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > cfg.max_header_bytes {
        return text(
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
        return text(StatusCode::LOOP_DETECTED, "forwarding loop detected\n");
    }
    // CMCD: read, counted, and gone from the request before the key or anything upstream
    // is built from it (crate::cmcd).
    let incoming = crate::cmcd::read(req.uri().query(), req.headers());
    let mut cmcd = None;
    if incoming != crate::cmcd::Incoming::None {
        state
            .inner
            .metrics
            .observe_cmcd(&incoming, &state.inner.cmcd_sessions);
        let uri = req.uri().clone();
        if let Some(uri) = crate::cmcd::strip(&uri, req.headers_mut(), &incoming, cfg.cmcd_forward)
        {
            *req.uri_mut() = uri;
        }
        if let crate::cmcd::Incoming::Valid(c, _) = incoming {
            cmcd = Some(c);
        }
    }
    match *req.method() {
        Method::GET | Method::HEAD if proxy::bypass(req.headers()).is_none() => {
            serve(state, req, cmcd).await
        }
        _ if req.method().as_str() == "PURGE" => admin::purge(state, req).await,
        _ => proxy::handle(state, req).await,
    }
}

/// One client request after validation.
struct Ctx {
    req: ClientRequest,
    /// The key: the request's, or its `Vary` variant's.
    key: CacheKey,
    /// The request's `Cache-Control` (RFC 9111 §5.2.1).
    cc: RequestCacheControl,
    /// The request target (for a pass-through when a shared fill's `Vary` does not fit).
    uri: http::Uri,
    /// The client's address (`X-Forwarded-For`).
    peer: Option<IpAddr>,
}

impl Ctx {
    /// The fill of `self.key` on behalf of this request.
    fn job(&self, cached: Option<(StoredHead, Bytes)>, purpose: Purpose) -> FillJob {
        FillJob {
            key: self.key.clone(),
            cached,
            purpose,
            request_headers: self.fill_headers(),
        }
    }

    /// The headers of this request that go upstream on its fill.
    fn fill_headers(&self) -> http::HeaderMap {
        forward::request_headers(&self.req.headers, self.peer, Use::Fill)
    }

    /// Passes this request through uncached (a coalesced waiter whose `Vary` headers differ
    /// from the leader's).
    async fn pass_through(&self, state: &EdgeState) -> Response {
        let mut req = Request::new(axum::body::Body::empty());
        *req.method_mut() = self.req.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.req.headers.clone();
        if let Some(ip) = self.peer {
            req.extensions_mut()
                .insert(ConnectInfo(std::net::SocketAddr::new(ip, 0)));
        }
        proxy::handle(state.clone(), req).await
    }
}

/// The freshness of a stored head now, by the edge's clock, for this request.
fn freshness_now(state: &EdgeState, head: &StoredHead, cc: &RequestCacheControl) -> Freshness {
    let age = freshness::current_age(head.initial_age, head.response_time_ms, state.now());
    head.policy.state_for(age, cc)
}

/// The stored response for `key` that may answer a request with `headers` (RFC 9111
/// §4.1): the one under `key` if its `Vary` matches, else the matching variant's; with the
/// key the request's fill uses.
async fn lookup_variant(
    state: &EdgeState,
    key: CacheKey,
    headers: &http::HeaderMap,
) -> (CacheKey, Option<(StoredHead, Bytes)>) {
    let Some((head, body)) = state.lookup(&key).await else {
        return (key, None);
    };
    match vary::check(&head.headers, headers) {
        vary::Match::Yes => (key, Some((head, body))),
        vary::Match::Never => (key, None),
        vary::Match::No(digest) => {
            let vkey = key.variant(digest);
            match state.lookup(&vkey).await {
                Some((h, b)) if vary::check(&h.headers, headers) == vary::Match::Yes => {
                    (vkey, Some((h, b)))
                }
                _ => (vkey, None),
            }
        }
    }
}

async fn serve(state: EdgeState, req: Request, cmcd: Option<Box<cmcd::Cmcd>>) -> Response {
    let key = match CacheKey::from_request(
        req.uri().path(),
        req.uri().query(),
        state.config().cache_query,
    ) {
        Ok(k) => k,
        Err(status) => return text(status, "bad request path\n"),
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, _body) = req.into_parts();
    prefetch::maybe_start(&state, key.path(), cmcd.as_deref());
    let (key, stored) = lookup_variant(&state, key, &parts.headers).await;
    prefetch::client_request(&state, key.as_str(), stored.is_some());
    let ctx = Ctx {
        cc: RequestCacheControl::from_headers(&parts.headers),
        req: ClientRequest {
            method: parts.method,
            headers: parts.headers,
        },
        key,
        uri: parts.uri,
        peer,
    };
    let m = &state.inner.metrics;
    let mut cached = None;
    if let Some((head, body)) = stored {
        match freshness_now(&state, &head, &ctx.cc) {
            Freshness::Fresh => {
                m.hits.inc();
                return response::from_stored(&state, &ctx.req, head, body, CacheStatus::Hit);
            }
            Freshness::StaleWhileRevalidate => {
                m.stale.inc();
                background_refresh(&state, &ctx, (head.clone(), body.clone()));
                return response::from_stored(&state, &ctx.req, head, body, CacheStatus::Stale);
            }
            Freshness::Stale => cached = Some((head, body)),
        }
    }
    if ctx.cc.only_if_cached {
        // RFC 9111 §5.2.1.7: nothing usable stored, and the upstream may not be asked
        return text(StatusCode::GATEWAY_TIMEOUT, "not cached (only-if-cached)\n");
    }
    fill_and_respond(&state, &ctx, cached).await
}

/// Starts a stale-while-revalidate refresh unless one is already running.
fn background_refresh(state: &EdgeState, ctx: &Ctx, cached: (StoredHead, Bytes)) {
    if let Acquire::Leader(writer) = state.inner.locks.acquire(ctx.key.as_str()) {
        let job = ctx.job(Some(cached), Purpose::Background);
        tokio::spawn(fill::run(state.clone(), job, writer));
    }
}

/// How long a request with a stale copy at hand waits for the upstream before it is
/// served the copy: [`crate::config::EdgeConfig::stale_wait_ms`] when stale-if-error
/// allows serving it (not beyond `must-revalidate`/`no-cache`), else `None` (wait for
/// the fill).
fn stale_deadline(
    state: &EdgeState,
    cached: Option<&(StoredHead, Bytes)>,
) -> Option<std::time::Duration> {
    let (head, _) = cached?;
    let age = freshness::current_age(head.initial_age, head.response_time_ms, state.now());
    head.policy
        .usable_on_error(age)
        .then(|| std::time::Duration::from_millis(state.config().stale_wait_ms))
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
        let mut leader = false;
        let mut reader = match state.inner.locks.acquire(ctx.key.as_str()) {
            Acquire::Leader(writer) => {
                leader = true;
                // Another fill may have completed between our lookup and acquire.
                if cached.is_none() || attempt > 0 {
                    if let Some((head, body)) = state.lookup(&ctx.key).await {
                        if freshness_now(state, &head, &ctx.cc) == Freshness::Fresh
                            && vary::check(&head.headers, &ctx.req.headers) == vary::Match::Yes
                        {
                            drop(writer);
                            m.hits.inc();
                            return response::from_stored(
                                state,
                                &ctx.req,
                                head,
                                body,
                                CacheStatus::Hit,
                            );
                        }
                    }
                }
                let reader = writer.reader();
                let job = ctx.job(cached.clone(), Purpose::Client);
                tokio::spawn(fill::run(state.clone(), job, writer));
                reader
            }
            Acquire::Follower(reader) => {
                m.coalesced.inc();
                reader
            }
        };
        let head = match stale_deadline(state, cached.as_ref()) {
            Some(wait) => match tokio::time::timeout(wait, reader.head()).await {
                Ok(h) => h,
                Err(_) => {
                    // The upstream is slow and a stale copy may be served: serve it now;
                    // the fill goes on and stores its answer when it comes.
                    if let Some((head, body)) = cached.clone() {
                        m.stale.inc();
                        tracing::info!(
                            key = ctx.key.as_str(),
                            ?wait,
                            "upstream slow, serving stale"
                        );
                        return response::from_stored(
                            state,
                            &ctx.req,
                            head,
                            body,
                            CacheStatus::Stale,
                        );
                    }
                    reader.head().await
                }
            },
            None => reader.head().await,
        };
        match head {
            Ok(meta) => {
                let Some(head) = StoredHead::decode(&meta) else {
                    return text(StatusCode::BAD_GATEWAY, "bad fill head\n");
                };
                let own_answer_needed = !head.storable
                    && (!(head.status.is_client_error() || head.status.is_server_error())
                        || ctx.req.headers.contains_key(header::AUTHORIZATION));
                if !leader
                    && (own_answer_needed
                        || vary::check(&head.headers, &ctx.req.headers) != vary::Match::Yes)
                {
                    // a response that may not be stored may not be reused for another
                    // request either (RFC 9111 §3, §4: it may be personal, e.g. set a
                    // cookie; errors are still shared to shield the origin, except with a
                    // request that carries its own credentials), nor one that varies on
                    // headers this request does not share
                    return ctx.pass_through(state).await;
                }
                match head.outcome {
                    Outcome::Miss => m.misses.inc(),
                    Outcome::Revalidated => m.revalidated.inc(),
                    Outcome::Stale => m.stale.inc(),
                };
                return response::from_fill(state, &ctx.req, head, reader).await;
            }
            Err(FillError::Aborted(reason)) => {
                let status = status_of_abort_reason(&reason);
                return text(status, &format!("upstream: {reason}\n"));
            }
            Err(FillError::Abandoned) => {
                tracing::debug!(key = ctx.key.as_str(), attempt, "fill abandoned, retrying");
            }
            Err(FillError::Timeout) => {
                tracing::warn!(
                    key = ctx.key.as_str(),
                    attempt,
                    "timed out waiting for a fill"
                );
                last_error = StatusCode::GATEWAY_TIMEOUT;
            }
        }
    }
    text(last_error, "upstream fetch did not complete\n")
}

#[cfg(test)]
mod tests {
    //! Freshness decisions through the whole handler, on [`Clock::following_tokio`] under a
    //! paused tokio clock: time moves only with `advance`, no test sleeps.

    use std::time::Duration;

    use axum::body::Body;
    use cache::Entry;
    use http::HeaderMap;

    use super::*;
    use crate::clock::Clock;
    use crate::config::EdgeConfig;
    use crate::freshness::{unix_ms, Policy};

    const PATH: &str = "/default/v720/3.m4s";

    /// An edge whose upstream refuses connections (a port bound, then released), holding
    /// `PATH` stored now with `max-age=10, stale-while-revalidate=5, stale-if-error=100`.
    async fn edge_with_one_object() -> EdgeState {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let config = EdgeConfig::new(upstream, "127.0.0.1:0".parse().unwrap());
        let state = EdgeState::with_clock(config, Clock::following_tokio()).unwrap();
        let head = StoredHead {
            status: StatusCode::OK,
            response_time_ms: unix_ms(state.now()),
            initial_age: 0,
            policy: Policy {
                lifetime: 10,
                stale_while_revalidate: 5,
                stale_if_error: 100,
                no_cache: false,
                must_revalidate: false,
            },
            storable: true,
            body_len: Some(3),
            outcome: Outcome::Miss,
            headers: HeaderMap::new(),
        };
        let key = CacheKey::from_request(PATH, None, false).unwrap();
        let entry = Entry {
            meta: head.encode(),
            body: Bytes::from_static(b"abc"),
        };
        assert!(state.insert(&key, entry).await);
        state
    }

    /// GET `PATH` → (status, X-Cache, Age).
    async fn get(state: &EdgeState) -> (u16, String, String) {
        let req = Request::get(PATH).body(Body::empty()).unwrap();
        let res = handle(State(state.clone()), req).await;
        let h = |name: &str| {
            res.headers()
                .get(name)
                .map_or_else(String::new, |v| v.to_str().unwrap().to_owned())
        };
        (res.status().as_u16(), h("x-cache"), h("age"))
    }

    fn row(status: u16, x_cache: &str, age: &str) -> (u16, String, String) {
        (status, x_cache.to_owned(), age.to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn age_and_staleness_follow_the_edge_clock() {
        let state = edge_with_one_object().await;
        assert_eq!(get(&state).await, row(200, "HIT", "0"));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(get(&state).await, row(200, "HIT", "9"));
        // past max-age, within stale-while-revalidate: served, refreshed in the background
        // (the refresh fails: the upstream is down, the stored copy stays)
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(get(&state).await, row(200, "STALE", "11"));
        // past stale-while-revalidate: revalidated first; the upstream is down and the copy
        // is within stale-if-error, so it is served stale
        tokio::time::advance(Duration::from_secs(5)).await;
        let (status, x_cache, _) = get(&state).await;
        assert_eq!((status, x_cache.as_str()), (200, "STALE"));
        // past stale-if-error too: nothing to serve
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(get(&state).await.0, 502);
        let m = state.metrics();
        assert_eq!((m.hits.get(), m.stale.get()), (2, 2));
    }
}
