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

/// The `xs:dateTime` of `ms` since the Unix epoch, UTC (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`).
pub fn iso_ms(ms: u64) -> String {
    manifests::DateTime::from_unix_millis(ms as i64)
        .as_str()
        .to_string()
}

/// Sets `MPD@availabilityStartTime` and every `ProducerReferenceTime@wallClockTime` of
/// `presentationTime="0"` to `capture_ms`, the capture time of presentation time 0 (see
/// [`crate::ffmpeg`]: ffmpeg stamps both when its first packet is muxed, a few tens of ms
/// later). Other attributes pass through byte for byte.
pub fn patch_start(mpd: &str, capture_ms: u64) -> String {
    let when = iso_ms(capture_ms);
    let mut out = String::with_capacity(mpd.len());
    let mut rest = mpd;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('>').map_or(rest.len(), |e| i + e + 1);
        let tag = &rest[i..end];
        let tag = if tag.starts_with("<MPD") {
            set_attr(tag, "availabilityStartTime", &when)
        } else if tag.starts_with("<ProducerReferenceTime")
            && tag.contains("presentationTime=\"0\"")
        {
            set_attr(tag, "wallClockTime", &when)
        } else {
            tag.to_string()
        };
        out.push_str(&tag);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn set_attr(tag: &str, name: &str, value: &str) -> String {
    let key = format!("{name}=\"");
    // The attribute, after whitespace (ffmpeg puts the MPD's on lines of their own).
    let at = tag.match_indices(&key).find(|&(i, _)| {
        tag[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace)
    });
    let Some((at, _)) = at else {
        return tag.to_string();
    };
    let start = at + key.len();
    let Some(len) = tag[start..].find('"') else {
        return tag.to_string();
    };
    format!("{}{value}{}", &tag[..start], &tag[start + len..])
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
    /// Signalled each time the origin stores an MPD (one permit is kept until a waiter
    /// takes it): the first signal means the stream can be played.
    pub mpd_stored: tokio::sync::Notify,
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
    /// The capture time of the first frame (ms since the epoch), once ffmpeg logged it.
    pub capture0: tokio::sync::watch::Receiver<Option<u64>>,
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
                let mut patched = patch_mpd(&text, relay.target.bounds);
                // The first frame's capture time is logged long before the first MPD; wait
                // a moment in case its line is still in the pipe.
                let mut capture0 = relay.target.capture0.clone();
                let known = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    capture0.wait_for(Option::is_some),
                )
                .await;
                match known {
                    Ok(Ok(t)) => patched = patch_start(&patched, t.expect("is_some")),
                    _ => tracing::warn!(
                        "first frame's capture time unknown: MPD start as ffmpeg wrote it"
                    ),
                }
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
                if path.ends_with(".mpd") {
                    relay.stats.mpd_stored.notify_one();
                }
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
    fn start_is_the_first_frames_capture_time() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_ms(1_765_008_435_906), "2025-12-06T08:07:15.906Z");
        assert_eq!(iso_ms(951_782_400_001), "2000-02-29T00:00:00.001Z");
        let mpd = "<MPD type=\"dynamic\"\n\tavailabilityStartTime=\"2026-12-06T08:07:15.906Z\"\n\tpublishTime=\"2026-12-06T08:07:21.926Z\">\n\
                   <ProducerReferenceTime id=\"0\" wallClockTime=\"2026-12-06T08:07:15.908Z\" presentationTime=\"0\">\n\
                   <ProducerReferenceTime id=\"1\" wallClockTime=\"2026-12-06T08:07:15.908Z\" presentationTime=\"5\">";
        let p = patch_start(mpd, 1_796_544_435_870);
        assert_eq!(
            p,
            mpd.replace(
                "availabilityStartTime=\"2026-12-06T08:07:15.906Z",
                "availabilityStartTime=\"2026-12-06T08:07:15.870Z"
            )
            .replacen(
                "wallClockTime=\"2026-12-06T08:07:15.908Z",
                "wallClockTime=\"2026-12-06T08:07:15.870Z",
                1
            )
        );
    }

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
