//! CMSD out (CTA-5006): what the edge tells players about each response and about itself,
//! computed from its real load, added to every response by [`layer`] (around the rate
//! limit, so it measures what the client actually gets).
//!
//! - `CMSD-Dynamic`: one entry named after the edge id ([`dynamic_entry`]), appended to
//!   the upstream's entries on a `MISS` (they were measured just now) and alone otherwise
//!   (a stored upstream entry describes the past). Parameters:
//!   - `etp` (kbit/s): what the edge estimates it can send this client: the recent send
//!     rate of this connection's (else this client IP's) previous responses of at least
//!     [`MIN_SAMPLE_BYTES`] (an EWMA, body bytes over the time from response head to
//!     body end: a loaded or rate-limited edge sends slower, and so does one whose client
//!     link is the bottleneck), capped by the rate limit; the rate limit alone before any
//!     measurement; absent when neither is known.
//!   - `du` (duress), [`duress`]: open client connections at or above
//!     [`DURESS_CONNECTION_SHARE`] of the connection limit (new clients would be refused
//!     soon), or the upstream marked down by the circuit breaker (misses fail fast). Both
//!     say "go elsewhere if you can"; a slow link alone is `etp`'s business, not duress.
//!   - `rd` (ms): time from the request's arrival to the response head at this edge.
//! - `CMSD-Static` on `2xx` answers of the cache ([`static_for`]): `ot` from the path and
//!   content type (manifest, init, audio or video segment) and `sf=d` for DASH; an
//!   upstream's own `CMSD-Static` (stored with the object) is kept as is.
//!
//! Both are exposed to cross-origin pages ([`serve::wire::EDGE_EXPOSE_HEADERS`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use cmcd::{CmsdDynamic, CmsdStatic, DynamicEntry, ObjectType, StreamingFormat};
use http::header::{self, HeaderValue};
use http_body::{Body as _, Frame, SizeHint};

use crate::state::EdgeState;

/// A response body shorter than this says more about latency than throughput: not sampled.
pub const MIN_SAMPLE_BYTES: u64 = 32 * 1024;
/// Share of the connection limit from which the edge reports duress.
pub const DURESS_CONNECTION_SHARE: f64 = 0.9;
/// Clients remembered (connections and IPs each); oldest samples dropped first.
pub const MAX_PEERS: usize = 4096;
/// A rate sample older than this is not used.
pub const RATE_TTL: Duration = Duration::from_secs(60);

/// Why the edge is in duress, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duress {
    /// Not in duress.
    No,
    /// Open connections at or above [`DURESS_CONNECTION_SHARE`] of the limit.
    Connections,
    /// The upstream circuit breaker is open.
    UpstreamDown,
}

/// The load figures [`duress`] decides on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Open client connections.
    pub open_connections: i64,
    /// The connection limit.
    pub max_connections: usize,
    /// The upstream breaker is open.
    pub upstream_down: bool,
}

/// Duress from the load (see the module docs). Pure.
pub fn duress(l: &Load) -> Duress {
    if l.max_connections > 0
        && l.open_connections as f64 >= DURESS_CONNECTION_SHARE * l.max_connections as f64
    {
        Duress::Connections
    } else if l.upstream_down {
        Duress::UpstreamDown
    } else {
        Duress::No
    }
}

/// What one response's `CMSD-Dynamic` entry is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    /// Recent send rate to this client, kbit/s.
    pub measured_kbps: Option<u64>,
    /// The current rate limit, bit/s (0 = none).
    pub limit_rate_bps: u64,
    /// The duress verdict.
    pub duress: Duress,
    /// Request to response head, ms.
    pub response_delay_ms: u64,
}

/// The edge's `CMSD-Dynamic` entry (see the module docs). Pure.
pub fn dynamic_entry(id: &str, i: &Inputs) -> DynamicEntry {
    let limit = (i.limit_rate_bps > 0).then(|| (i.limit_rate_bps / 1000).max(1));
    let etp = match (i.measured_kbps, limit) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    };
    DynamicEntry {
        etp,
        du: i.duress != Duress::No,
        rd: Some(i.response_delay_ms),
        ..DynamicEntry::new(id)
    }
}

/// The `CMSD-Dynamic` value: `upstream`'s entries followed by `own` when the response
/// was just fetched (`fresh`) and `upstream` parses, else `own` alone. Pure.
pub fn dynamic_value(upstream: Option<&str>, fresh: bool, own: &DynamicEntry) -> String {
    let mut d = upstream
        .filter(|_| fresh)
        .and_then(|u| CmsdDynamic::parse(u).ok())
        .unwrap_or_default();
    d.entries.push(own.clone());
    d.to_header_value()
}

/// The object type of `path` served with `content_type`. Pure.
pub fn object_type(path: &str, content_type: Option<&str>) -> Option<ObjectType> {
    match serve::CacheClass::of(path) {
        serve::CacheClass::Manifest => Some(ObjectType::Manifest),
        serve::CacheClass::Segment => {
            let file = path.rsplit('/').next().unwrap_or(path);
            if manifests::layout::kind_of_init_file(file).is_some() {
                Some(ObjectType::Init)
            } else if content_type.is_some_and(|t| t.starts_with("audio/")) {
                Some(ObjectType::Audio)
            } else {
                Some(ObjectType::Video)
            }
        }
        serve::CacheClass::Other => None,
    }
}

/// The edge's `CMSD-Static` for a cached `path` with `content_type`, if it is media.
pub fn static_for(path: &str, content_type: Option<&str>) -> Option<CmsdStatic> {
    let ot = object_type(path, content_type)?;
    let dash = path.ends_with(".mpd")
        || path.ends_with(".m4s")
        || path.ends_with(".mp4")
        || path.ends_with(".m4a");
    Some(CmsdStatic {
        ot: Some(ot),
        sf: dash.then_some(StreamingFormat::Dash),
        ..Default::default()
    })
}

/// Exponentially weighted mean, half weight to the new sample.
pub fn ewma(prev: Option<f64>, sample: f64) -> f64 {
    prev.map_or(sample, |p| 0.5 * p + 0.5 * sample)
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    kbps: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct RateTable {
    by_conn: HashMap<SocketAddr, Rate>,
    by_ip: HashMap<IpAddr, Rate>,
}

fn update<K: std::hash::Hash + Eq + Copy>(
    m: &mut HashMap<K, Rate>,
    k: K,
    sample: f64,
    now: Instant,
) {
    if m.len() >= MAX_PEERS && !m.contains_key(&k) {
        m.retain(|_, r| now.saturating_duration_since(r.at) < RATE_TTL);
        if m.len() >= MAX_PEERS {
            if let Some(oldest) = m.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
    }
    let prev = m
        .get(&k)
        .filter(|r| now.saturating_duration_since(r.at) < RATE_TTL)
        .map(|r| r.kbps);
    m.insert(
        k,
        Rate {
            kbps: ewma(prev, sample),
            at: now,
        },
    );
}

/// Recent send rates per client connection and per client IP, and the connection limit.
#[derive(Debug)]
pub struct Rates {
    table: Mutex<RateTable>,
    max_connections: usize,
}

impl Rates {
    /// With the edge's connection limit (`None`: serve's default from the descriptor limit).
    pub fn new(max_connections: Option<usize>) -> Rates {
        Rates {
            table: Mutex::default(),
            max_connections: max_connections.unwrap_or_else(serve::limits::default_max_connections),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `bytes` of a body went to `peer` in `elapsed` (ignored below
    /// [`MIN_SAMPLE_BYTES`]).
    pub fn observe(&self, peer: SocketAddr, bytes: u64, elapsed: Duration, now: Instant) {
        if bytes < MIN_SAMPLE_BYTES {
            return;
        }
        let kbps = bytes as f64 * 8.0 / 1000.0 / elapsed.as_secs_f64().max(1e-4);
        let mut t = self.lock();
        update(&mut t.by_conn, peer, kbps, now);
        update(&mut t.by_ip, peer.ip(), kbps, now);
    }

    /// The recent rate to `peer`'s connection, else to its IP, kbit/s.
    pub fn estimate(&self, peer: SocketAddr, now: Instant) -> Option<u64> {
        let t = self.lock();
        let fresh = |r: &Rate| now.saturating_duration_since(r.at) < RATE_TTL;
        t.by_conn
            .get(&peer)
            .filter(|r| fresh(r))
            .or_else(|| t.by_ip.get(&peer.ip()).filter(|r| fresh(r)))
            .map(|r| r.kbps.round() as u64)
    }

    /// The connection limit duress is measured against.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
}

/// A body that reports its size and send time to [`Rates`] when it ends.
struct Measured {
    inner: Body,
    bytes: u64,
    start: Instant,
    peer: SocketAddr,
    state: EdgeState,
}

impl http_body::Body for Measured {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) => {
                let now = Instant::now();
                this.state.inner.cmsd.observe(
                    this.peer,
                    this.bytes,
                    now.duration_since(this.start),
                    now,
                );
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware adding `CMSD-Dynamic` to every response and `CMSD-Static` to the cache's
/// media answers (see the module docs).
pub async fn layer(State(state): State<EdgeState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let now = Instant::now();
    let m = &state.inner.metrics;
    let load = Load {
        open_connections: m.open_connections.get(),
        max_connections: state.inner.cmsd.max_connections(),
        upstream_down: state.inner.upstream.health().code() == 2,
    };
    let inputs = Inputs {
        measured_kbps: peer.and_then(|p| state.inner.cmsd.estimate(p, now)),
        limit_rate_bps: state
            .inner
            .limit_rate
            .load(std::sync::atomic::Ordering::Relaxed),
        duress: duress(&load),
        response_delay_ms: now.duration_since(start).as_millis() as u64,
    };
    let own = dynamic_entry(&state.config().id, &inputs);
    let h = res.headers_mut();
    let x_cache = h.get(serve::wire::X_CACHE).and_then(|v| v.to_str().ok());
    let fresh = x_cache == Some(serve::wire::CacheStatus::Miss.as_str());
    let cached = x_cache.is_some();
    let upstream = h.get(cmcd::CMSD_DYNAMIC).and_then(|v| v.to_str().ok());
    if let Ok(v) = HeaderValue::from_str(&dynamic_value(upstream, fresh, &own)) {
        h.insert(cmcd::CMSD_DYNAMIC, v);
    }
    if cached && res.status().is_success() && !res.headers().contains_key(cmcd::CMSD_STATIC) {
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if let Some(s) = static_for(&path, ct) {
            if let Ok(v) = HeaderValue::from_str(&s.to_header_value()) {
                res.headers_mut().insert(cmcd::CMSD_STATIC, v);
            }
        }
    }
    let Some(peer) = peer else { return res };
    let (parts, body) = res.into_parts();
    if body.is_end_stream() {
        return Response::from_parts(parts, body);
    }
    Response::from_parts(
        parts,
        Body::new(Measured {
            inner: body,
            bytes: 0,
            start: now,
            peer,
            state,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(open: i64, max: usize, down: bool) -> Load {
        Load {
            open_connections: open,
            max_connections: max,
            upstream_down: down,
        }
    }

    #[test]
    fn duress_from_connections_or_a_down_upstream() {
        assert_eq!(duress(&load(89, 100, false)), Duress::No);
        assert_eq!(duress(&load(90, 100, false)), Duress::Connections);
        assert_eq!(duress(&load(5, 100, true)), Duress::UpstreamDown);
        assert_eq!(duress(&load(5, 0, false)), Duress::No);
    }

    #[test]
    fn etp_is_the_measured_rate_capped_by_the_limit() {
        let i = |m: Option<u64>, l: u64| Inputs {
            measured_kbps: m,
            limit_rate_bps: l,
            duress: Duress::No,
            response_delay_ms: 7,
        };
        let e = dynamic_entry("edge-a", &i(Some(50_000), 2_000_000));
        assert_eq!(
            (e.etp, e.du, e.rd, e.server.as_str()),
            (Some(2000), false, Some(7), "edge-a")
        );
        assert_eq!(dynamic_entry("e", &i(Some(900), 2_000_000)).etp, Some(900));
        assert_eq!(dynamic_entry("e", &i(None, 2_000_000)).etp, Some(2000));
        assert_eq!(dynamic_entry("e", &i(Some(900), 0)).etp, Some(900));
        assert_eq!(dynamic_entry("e", &i(None, 0)).etp, None);
        let d = Inputs {
            duress: Duress::Connections,
            ..i(None, 0)
        };
        assert!(dynamic_entry("e", &d).du);
    }

    #[test]
    fn upstream_entries_kept_only_when_just_fetched() {
        let own = DynamicEntry {
            etp: Some(10),
            rd: Some(1),
            ..DynamicEntry::new("edge-a")
        };
        let up = Some(r#""origin";rd=3"#);
        assert_eq!(
            dynamic_value(up, true, &own),
            r#""origin";rd=3, "edge-a";etp=10;rd=1"#
        );
        assert_eq!(dynamic_value(up, false, &own), r#""edge-a";etp=10;rd=1"#);
        assert_eq!(
            dynamic_value(Some("(((bad"), true, &own),
            r#""edge-a";etp=10;rd=1"#
        );
    }

    #[test]
    fn object_types_from_the_layout() {
        assert_eq!(
            object_type("/default/manifest.mpd", None),
            Some(ObjectType::Manifest)
        );
        assert_eq!(
            object_type("/default/v1/init.mp4", None),
            Some(ObjectType::Init)
        );
        assert_eq!(
            object_type("/default/a1/init.m4a", None),
            Some(ObjectType::Init)
        );
        assert_eq!(
            object_type("/default/a1/3.m4s", Some("audio/mp4")),
            Some(ObjectType::Audio)
        );
        assert_eq!(
            object_type("/default/v1/3.m4s", Some("video/mp4")),
            Some(ObjectType::Video)
        );
        assert_eq!(object_type("/index.html", None), None);
        assert_eq!(
            static_for("/d/v1/3.m4s", Some("video/mp4"))
                .unwrap()
                .to_header_value(),
            "ot=v,sf=d"
        );
    }

    #[test]
    fn rates_are_per_connection_then_per_ip_and_small_bodies_do_not_count() {
        let r = Rates::new(Some(10));
        let now = Instant::now();
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        r.observe(a, 1000, Duration::from_millis(1), now);
        assert_eq!(r.estimate(a, now), None);
        // 125 kB in 1 s = 1000 kbit/s
        r.observe(a, 125_000, Duration::from_secs(1), now);
        assert_eq!(r.estimate(a, now), Some(1000));
        assert_eq!(r.estimate(b, now), Some(1000), "same IP");
        r.observe(a, 125_000, Duration::from_secs(2), now);
        assert_eq!(r.estimate(a, now), Some(750), "EWMA of 1000 and 500");
        assert_eq!(r.estimate(a, now + RATE_TTL), None, "too old");
        assert_eq!(r.max_connections(), 10);
    }
}
