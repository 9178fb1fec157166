//! The publisher: a local HTTP server ffmpeg's dash muxer writes to (`-method PUT` to
//! `http://127.0.0.1:<port>/manifest.mpd` and the segments beside it), which forwards
//! every `PUT`/`POST`/`DELETE` to the origin's push ingest
//! (`<origin>/<prefix>/<stream>/<path>`) with the bearer token.
//!
//! Why a relay instead of ffmpeg writing to the origin directly: the token would be on
//! ffmpeg's command line (`-headers`), readable by every user in `ps`; and the MPD gets the
//! `ServiceDescription` fields ffmpeg 5.1 does not write ([`patch_mpd`]). Segment bodies
//! are forwarded chunk by chunk as they arrive (a streaming request body), so the relay
//! adds no chunk latency beyond a loopback hop; MPDs (a few KB) are read whole and patched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures::TryStreamExt;
use http::{Method, StatusCode};

/// `ServiceDescription/Latency` bounds added to the MPD when ffmpeg left them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBounds {
    /// `Latency@min`, ms.
    pub min_ms: u64,
    /// `Latency@max`, ms.
    pub max_ms: u64,
}

/// Adds `min` and `max` to the MPD's `<Latency …/>` (ISO/IEC 23009-1 5th ed. Annex K,
/// `LatencyType`) when it has none; an MPD without a `Latency` element is returned as it
/// is. A string edit, not an XML rewrite: ffmpeg writes the element on one line in a
/// fixed form, and everything else must pass through byte for byte.
pub fn patch_mpd(mpd: &str, bounds: LatencyBounds) -> String {
    let Some(start) = mpd.find("<Latency ") else {
        return mpd.to_string();
    };
    let Some(len) = mpd[start..].find("/>") else {
        return mpd.to_string();
    };
    let element = &mpd[start..start + len];
    if element.contains(" min=") || element.contains(" max=") {
        return mpd.to_string();
    }
    let at = start + "<Latency".len();
    format!(
        "{} min=\"{}\" max=\"{}\"{}",
        &mpd[..at],
        bounds.min_ms,
        bounds.max_ms,
        &mpd[at..]
    )
}

/// Counters of what the publisher forwarded.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Objects stored at the origin (2xx to a `PUT`/`POST`).
    pub stored: AtomicU64,
    /// Bytes of those objects.
    pub bytes: AtomicU64,
    /// Requests the origin refused or that failed.
    pub failed: AtomicU64,
}

/// Where the publisher forwards to.
#[derive(Debug, Clone)]
pub struct Target {
    /// `<origin>/<prefix>/<stream>` (no trailing `/`).
    pub base: String,
    /// The bearer token.
    pub token: String,
    /// Added to the MPD's `Latency`.
    pub bounds: LatencyBounds,
}

#[derive(Debug, Clone)]
struct Relay {
    target: Arc<Target>,
    client: reqwest::Client,
    stats: Arc<PublishStats>,
}

/// The relay's router (every path, `PUT`/`POST`/`DELETE`).
pub fn router(target: Target, stats: Arc<PublishStats>) -> axum::Router {
    let relay = Relay {
        target: Arc::new(target),
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a reqwest client"),
        stats,
    };
    axum::Router::new().fallback(forward).with_state(relay)
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

async fn forward(State(relay): State<Relay>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path.split('/').any(|s| s == ".." || s == ".") || !path.starts_with('/') {
        return status(StatusCode::BAD_REQUEST);
    }
    let url = format!("{}{}", relay.target.base, path);
    let auth = format!("Bearer {}", relay.target.token);
    let method = req.method().clone();
    let builder = match method {
        Method::PUT | Method::POST => {
            let body = req.into_body();
            if path.ends_with(".mpd") {
                let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
                    return status(StatusCode::BAD_REQUEST);
                };
                let text = String::from_utf8_lossy(&bytes);
                let patched = patch_mpd(&text, relay.target.bounds);
                relay.client.put(&url).body(patched)
            } else {
                let stats = relay.stats.clone();
                let stream = body.into_data_stream().inspect_ok(move |c| {
                    stats.bytes.fetch_add(c.len() as u64, Ordering::Relaxed);
                });
                relay
                    .client
                    .put(&url)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        }
        Method::DELETE => relay.client.delete(&url),
        _ => return status(StatusCode::METHOD_NOT_ALLOWED),
    };
    match builder.header("authorization", auth).send().await {
        Ok(res) if res.status().is_success() => {
            if method != Method::DELETE {
                relay.stats.stored.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(%method, path, status = %res.status(), "published");
            status(res.status())
        }
        Ok(res) => {
            relay.stats.failed.fetch_add(1, Ordering::Relaxed);
            // ffmpeg's DELETEs of segments the origin already dropped are harmless.
            if method != Method::DELETE {
                tracing::warn!(%method, path, status = %res.status(), "origin refused");
            }
            status(res.status())
        }
        Err(e) => {
            relay.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%method, path, error = %e, "cannot reach the origin");
            status(StatusCode::BAD_GATEWAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: LatencyBounds = LatencyBounds {
        min_ms: 1000,
        max_ms: 3000,
    };

    #[test]
    fn latency_bounds_added_once() {
        let mpd = "<MPD>\n\t<ServiceDescription id=\"0\">\n\t\t<Latency target=\"1500\" referenceId=\"2\"/>\n";
        let p = patch_mpd(mpd, B);
        assert!(
            p.contains("<Latency min=\"1000\" max=\"3000\" target=\"1500\" referenceId=\"2\"/>"),
            "{p}"
        );
        assert_eq!(patch_mpd(&p, B), p, "already bounded: unchanged");
        assert_eq!(patch_mpd("<MPD/>", B), "<MPD/>");
    }
}
