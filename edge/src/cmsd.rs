//! CMSD out (CTA-5006): what the edge tells players about each response and about itself,
//! computed from its real load, added to every response by [`layer`] (around the rate
//! limit, so it measures what the client actually gets).
//!
//! - `CMSD-Dynamic`: one entry named after the edge id ([`dynamic_entry`]), appended to
//!   the upstream's entries on a `MISS` or a pass-through (they were measured just now) and
//!   alone otherwise (a stored upstream entry describes the past). Parameters:
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

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use cmcd::{CmsdDynamic, CmsdStatic, DynamicEntry, ObjectType, StreamingFormat};
use http::header::{self, HeaderValue};
use http_body::{Body as _, Frame, SizeHint};

pub use crate::cmsd_rates::{Rates, MIN_SAMPLE_BYTES};
use crate::state::EdgeState;

/// Share of the connection limit from which the edge reports duress.
pub const DURESS_CONNECTION_SHARE: f64 = 0.9;

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
    // Upstream entries are current on a miss and on a pass-through (no X-Cache); a stored
    // copy's describe the upstream as it was when the object was fetched.
    let fresh = x_cache.is_none_or(|x| x == serve::wire::CacheStatus::Miss.as_str());
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
}
