//! The upstream HTTP client: fetches `base + path` from the configured origin (or parent
//! edge), never anything else.
//!
//! The request carries the client's end-to-end headers chosen by [`crate::forward`] (never
//! `Host`: it is the configured upstream's), the validators the edge itself chose
//! (`If-None-Match` / `If-Modified-Since` when revalidating) and the edge's `Via` entry;
//! redirects are not followed and environment proxies are ignored, so a client cannot
//! steer the fetch anywhere (no open proxy, no SSRF). [`Upstream::send`] passes any other
//! method through (see [`crate::proxy`]).

use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Url;

use crate::breaker::{Admit, Breaker, Health};
use crate::config::EdgeConfig;
use crate::error::{BadUrl, EdgeError};

/// Why an upstream fetch failed: before its response head arrived, or while its body was
/// streaming. The message (after the status) is what waiting clients read in the `502`/`504`
/// body.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect (refused, unreachable, connect timeout): answered `502`.
    #[error("upstream unreachable: {0}")]
    Connect(#[source] reqwest::Error),
    /// The client reported a timeout: answered `504`.
    #[error("upstream timed out: {0}")]
    TimedOut(#[source] reqwest::Error),
    /// No response head within the configured time: answered `504`.
    #[error("upstream timed out: no response head within {0:?}")]
    NoHead(Duration),
    /// The body stopped arriving for longer than the idle timeout: answered `504`.
    #[error("upstream timed out: body stalled")]
    BodyStalled,
    /// Any other failure of the request (protocol error, ...): answered `502`.
    #[error("upstream failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The body broke off with an error: answered `502`.
    #[error("upstream failed: body: {0}")]
    Body(#[source] reqwest::Error),
    /// The body ended before its `Content-Length`: answered `502`.
    #[error("upstream failed: truncated body")]
    Truncated,
    /// The circuit breaker marks the upstream down ([`crate::breaker`]): answered `502`
    /// at once.
    #[error("upstream marked down after repeated failures")]
    Down,
}

impl UpstreamError {
    /// The status a client gets when nothing stale can be served instead.
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::TimedOut(_) | UpstreamError::NoHead(_) | UpstreamError::BodyStalled => {
                StatusCode::GATEWAY_TIMEOUT
            }
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// Encodes the error as a fill-abort reason (`"<status> <message>"`).
    pub fn abort_reason(&self) -> String {
        format!("{} {}", self.status().as_u16(), self)
    }

    /// True for the failures the circuit breaker counts: the upstream could not be reached
    /// or did not answer in time.
    pub fn counts_against_upstream(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_) | UpstreamError::TimedOut(_) | UpstreamError::NoHead(_)
        )
    }

    fn from_reqwest(e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            UpstreamError::TimedOut(e)
        } else if e.is_connect() {
            UpstreamError::Connect(e)
        } else {
            UpstreamError::Request(e)
        }
    }
}

/// Parses the status out of a fill-abort reason written by [`UpstreamError::abort_reason`].
pub fn status_of_abort_reason(reason: &str) -> StatusCode {
    reason
        .split(' ')
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

/// Validators to send when revalidating a stored response.
#[derive(Debug, Clone, Default)]
pub struct Conditional {
    /// `If-None-Match` value (the stored `ETag`).
    pub if_none_match: Option<HeaderValue>,
    /// `If-Modified-Since` value (the stored `Last-Modified`).
    pub if_modified_since: Option<HeaderValue>,
}

/// Client for the configured upstreams (parent first, then origin).
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    bases: Vec<Url>,
    via: HeaderValue,
    head_timeout: Duration,
    /// Longest silence between two body chunks.
    pub idle_timeout: Duration,
    breaker: Arc<Breaker>,
}

/// Checks that `url` is an absolute http(s) URL without query, fragment or credentials.
pub(crate) fn parse_base(url: &str) -> Result<Url, EdgeError> {
    let bad = |reason: BadUrl| EdgeError::BadUpstream {
        url: url.to_owned(),
        reason,
    };
    let u = Url::parse(url).map_err(|e| bad(BadUrl::Parse(e)))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad(BadUrl::Scheme));
    }
    if u.host_str().is_none() {
        return Err(bad(BadUrl::NoHost));
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err(bad(BadUrl::Extras));
    }
    Ok(u)
}

impl Upstream {
    /// Builds the client from the configuration.
    pub fn new(config: &EdgeConfig) -> Result<Upstream, EdgeError> {
        let mut bases = Vec::new();
        if let Some(p) = &config.parent {
            bases.push(parse_base(p)?);
        }
        bases.push(parse_base(&config.upstream)?);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("dashcdn-edge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(EdgeError::Client)?;
        let via = HeaderValue::from_str(&serve::wire::via(&config.id))
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 dashcdn-edge"));
        Ok(Upstream {
            client,
            bases,
            via,
            head_timeout: Duration::from_millis(config.upstream_timeout_ms),
            idle_timeout: Duration::from_millis(config.upstream_idle_timeout_ms),
            breaker: Arc::new(Breaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_open_ms),
                Duration::from_millis(config.breaker_max_open_ms),
            )),
        })
    }

    /// The URL of `path_and_query` (which starts with `/` and passed
    /// [`serve::path::sanitize`]) on upstream number `i`. Only the path and query of
    /// the base are replaced, so scheme, host and port are always the configured ones.
    pub fn url(&self, i: usize, path: &str, query: Option<&str>) -> Url {
        let mut u = self.bases[i].clone();
        let base_path = u.path().trim_end_matches('/').to_owned();
        u.set_path(&format!("{base_path}{path}"));
        u.set_query(query);
        u
    }

    /// Sends `GET path` upstream (trying the parent, then the origin, on connect
    /// failures) and returns the response once its head has arrived. No client header.
    pub async fn get(
        &self,
        path: &str,
        query: Option<&str>,
        cond: &Conditional,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.get_with(path, query, cond, &HeaderMap::new()).await
    }

    /// [`Upstream::get`] with the client's request headers `forward` (as chosen by
    /// [`crate::forward::request_headers`] for a fill).
    pub async fn get_with(
        &self,
        path: &str,
        query: Option<&str>,
        cond: &Conditional,
        forward: &HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.guarded(self.get_inner(path, query, cond, forward))
            .await
    }

    async fn get_inner(
        &self,
        path: &str,
        query: Option<&str>,
        cond: &Conditional,
        forward: &HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut last = None;
        for i in 0..self.bases.len() {
            let url = self.url(i, path, query);
            let mut req = self
                .client
                .get(url)
                .headers(forward.clone())
                .header(header::VIA, self.via.clone());
            if let Some(v) = &cond.if_none_match {
                req = req.header(header::IF_NONE_MATCH, v.clone());
            }
            if let Some(v) = &cond.if_modified_since {
                req = req.header(header::IF_MODIFIED_SINCE, v.clone());
            }
            match tokio::time::timeout(self.head_timeout, req.send()).await {
                Ok(Ok(res)) => return Ok(res),
                Ok(Err(e)) => {
                    let err = UpstreamError::from_reqwest(e);
                    tracing::warn!(upstream = %self.bases[i], path, error = %err, "upstream request failed");
                    let retry = matches!(err, UpstreamError::Connect(_));
                    last = Some(err);
                    if !retry {
                        break;
                    }
                }
                Err(_) => {
                    last = Some(UpstreamError::NoHead(self.head_timeout));
                    break;
                }
            }
        }
        // `bases` always holds the origin, so the loop ran at least once
        Err(last.unwrap_or(UpstreamError::NoHead(self.head_timeout)))
    }
}

impl Upstream {
    /// The circuit breaker's current state.
    pub fn health(&self) -> Health {
        self.breaker.health()
    }

    /// Runs `fetch` unless the breaker refuses, and reports its result to the breaker;
    /// state changes are logged.
    async fn guarded(
        &self,
        fetch: impl std::future::Future<Output = Result<reqwest::Response, UpstreamError>>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let log = |h: Option<Health>| match h {
            Some(Health::Open(until)) => tracing::warn!(
                upstream = %self.bases[self.bases.len() - 1],
                down_for = ?until.saturating_duration_since(tokio::time::Instant::now()),
                "upstream marked down (circuit breaker open)"
            ),
            Some(Health::HalfOpen) => tracing::info!("upstream down period over: probing"),
            Some(Health::Closed) => tracing::info!("upstream back up (circuit breaker closed)"),
            None => {}
        };
        let (admit, change) = self.breaker.admit(tokio::time::Instant::now());
        log(change);
        if admit == Admit::Reject {
            return Err(UpstreamError::Down);
        }
        let res = fetch.await;
        let ok = !res
            .as_ref()
            .is_err_and(UpstreamError::counts_against_upstream);
        log(self.breaker.record(ok, tokio::time::Instant::now()));
        res
    }

    /// Passes a request through to the first upstream (the parent if configured): `method`,
    /// `path`/`query` on the configured base, `headers` (from
    /// [`crate::forward::request_headers`] with [`crate::forward::Use::Proxy`]) plus `Via`,
    /// and `body` streamed. Not retried (the body is consumed). Returns once the response
    /// head has arrived.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.guarded(self.send_inner(method, path, query, headers, body))
            .await
    }

    async fn send_inner(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = self.url(0, path, query);
        let mut req = self
            .client
            .request(method, url)
            .headers(headers)
            .header(header::VIA, self.via.clone());
        if let Some(b) = body {
            req = req.body(b);
        }
        match tokio::time::timeout(self.head_timeout, req.send()).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(UpstreamError::from_reqwest(e)),
            Err(_) => Err(UpstreamError::NoHead(self.head_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_on_the_upstream() {
        let mut c = EdgeConfig::new("http://127.0.0.1:9/base/", "127.0.0.1:0".parse().unwrap());
        c.parent = Some("http://127.0.0.2:7".into());
        let u = Upstream::new(&c).unwrap();
        assert_eq!(
            u.url(0, "/a/b.m4s", None).as_str(),
            "http://127.0.0.2:7/a/b.m4s"
        );
        assert_eq!(
            u.url(1, "/a/b.m4s", Some("x=1")).as_str(),
            "http://127.0.0.1:9/base/a/b.m4s?x=1"
        );
        // a path that looks like an authority stays a path
        assert_eq!(
            u.url(0, "/@evil.example/x", None).host_str(),
            Some("127.0.0.2")
        );
        for bad in [
            "ftp://x",
            "not a url",
            "http://u:p@h/",
            "http://h/?q",
            "/rel",
        ] {
            c.parent = Some(bad.into());
            assert!(Upstream::new(&c).is_err(), "{bad}");
        }
    }

    #[test]
    fn abort_reasons() {
        let e = UpstreamError::NoHead(Duration::from_millis(500));
        assert_eq!(
            status_of_abort_reason(&e.abort_reason()),
            StatusCode::GATEWAY_TIMEOUT
        );
        let e = UpstreamError::Truncated;
        assert_eq!(
            status_of_abort_reason(&e.abort_reason()),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(status_of_abort_reason("junk"), StatusCode::BAD_GATEWAY);
        // the messages waiting clients read
        assert_eq!(
            UpstreamError::NoHead(Duration::from_millis(500)).abort_reason(),
            "504 upstream timed out: no response head within 500ms"
        );
        assert_eq!(
            UpstreamError::BodyStalled.abort_reason(),
            "504 upstream timed out: body stalled"
        );
    }
}
