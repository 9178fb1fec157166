//! CMSD out (CTA-5006) from the origin, as pure functions plus one middleware ([`layer`],
//! headers only, so the body keeps its `sendfile(2)` marking):
//!
//! - `CMSD-Static` on `2xx` media answers: `ot` (manifest, init, audio or video segment:
//!   the segment's kind is its `Content-Type`, from [`crate::kinds`]), `sf=d` for DASH
//!   files. Edges store it with the object and pass it on.
//! - `CMSD-Dynamic` on every response: one entry named [`SERVER_NAME`] with `rd` (request
//!   to response head, ms) and `du` when open connections reach
//!   [`DURESS_CONNECTION_SHARE`] of the connection limit. No `etp`: the origin does not
//!   pace its bodies and sees its clients (edges) only through their fills; the edge in
//!   front appends its own entry, with `etp`, on a miss.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use cmcd::{CmsdStatic, DynamicEntry, ObjectType, StreamingFormat};
use http::header::{self, HeaderValue};
use serve::CacheClass;

use crate::state::OriginState;

/// The origin's entry name in `CMSD-Dynamic`.
pub const SERVER_NAME: &str = "origin";
/// Share of the connection limit from which the origin reports duress.
pub const DURESS_CONNECTION_SHARE: f64 = 0.9;

/// `CMSD-Static` for `path` served with `content_type`, if it is DASH/HLS media. Pure.
pub fn static_for(path: &str, content_type: Option<&str>) -> Option<CmsdStatic> {
    let ot = match CacheClass::of(path) {
        CacheClass::Manifest => ObjectType::Manifest,
        CacheClass::Segment => {
            let file = path.rsplit('/').next().unwrap_or(path);
            if manifests::layout::kind_of_init_file(file).is_some() {
                ObjectType::Init
            } else if content_type.is_some_and(|t| t.starts_with("audio/")) {
                ObjectType::Audio
            } else {
                ObjectType::Video
            }
        }
        CacheClass::Other => return None,
    };
    let hls = path.ends_with(".m3u8");
    Some(CmsdStatic {
        ot: Some(ot),
        sf: Some(if hls {
            StreamingFormat::Hls
        } else {
            StreamingFormat::Dash
        }),
        ..Default::default()
    })
}

/// The origin's `CMSD-Dynamic` entry. Pure.
pub fn dynamic_entry(
    response_delay_ms: u64,
    open: i64,
    max_connections: Option<usize>,
) -> DynamicEntry {
    let du =
        max_connections.is_some_and(|m| m > 0 && open as f64 >= DURESS_CONNECTION_SHARE * m as f64);
    DynamicEntry {
        rd: Some(response_delay_ms),
        du,
        ..DynamicEntry::new(SERVER_NAME)
    }
}

/// The connection limit [`crate::server::bind`] gives the server: the configured one, else
/// the descriptor budget left after the hot cache's open files (computed once).
fn max_connections(state: &OriginState) -> usize {
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    state.config().max_connections.unwrap_or_else(|| {
        *DEFAULT.get_or_init(|| {
            let soft = crate::state::nofile_soft_limit();
            serve::limits::max_connections_for(
                soft.saturating_sub(crate::cache::max_open_files_for(soft) as u64),
            )
        })
    })
}

/// Middleware adding the CMSD headers (see the module docs).
pub async fn layer(State(state): State<OriginState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let own = dynamic_entry(
        start.elapsed().as_millis() as u64,
        state.metrics().open_connections.get(),
        Some(max_connections(&state)),
    );
    let ok = res.status().is_success();
    let h = res.headers_mut();
    if let Ok(v) =
        HeaderValue::from_str(&cmcd::CmsdDynamic { entries: vec![own] }.to_header_value())
    {
        h.insert(cmcd::CMSD_DYNAMIC, v);
    }
    if ok {
        let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Some(s) = static_for(&path, ct) {
            if let Ok(v) = HeaderValue::from_str(&s.to_header_value()) {
                h.insert(cmcd::CMSD_STATIC, v);
            }
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_by_path_and_type() {
        let v = |p, t| static_for(p, t).map(|s| s.to_header_value());
        assert_eq!(
            v("/default/manifest.mpd", None).as_deref(),
            Some("ot=m,sf=d")
        );
        assert_eq!(
            v("/default/v1/init.mp4", None).as_deref(),
            Some("ot=i,sf=d")
        );
        assert_eq!(
            v("/default/a1/4.m4s", Some("audio/mp4")).as_deref(),
            Some("ot=a,sf=d")
        );
        assert_eq!(
            v("/default/v1/4.m4s", Some("video/mp4")).as_deref(),
            Some("ot=v,sf=d")
        );
        assert_eq!(
            v("/default/v1/playlist.m3u8", None).as_deref(),
            Some("ot=m,sf=h")
        );
        assert_eq!(v("/web/index.html", None), None);
    }

    #[test]
    fn duress_near_the_connection_limit() {
        assert!(!dynamic_entry(1, 8, Some(10)).du);
        assert!(dynamic_entry(1, 9, Some(10)).du);
        assert!(!dynamic_entry(1, 1000, None).du);
        assert_eq!(
            cmcd::CmsdDynamic {
                entries: vec![dynamic_entry(3, 0, None)]
            }
            .to_header_value(),
            "\"origin\";rd=3"
        );
    }
}
