//! DASH-IF Content Steering: the steering manifest (`/steer`) and steered MPDs.
//!
//! A steered MPD carries one `<BaseURL serviceLocation="<edge id>">` per edge and a
//! `<ContentSteering>` element pointing at `/steer?asset=...`; dash.js asks that URL
//! (adding `_DASH_pathway` and `_DASH_throughput`) every `TTL` seconds and moves to the
//! first pathway of `PATHWAY-PRIORITY` — here, the edges ranked for the client with
//! dead edges left out, so killing the serving edge moves playback elsewhere.

use manifests::{BaseUrl, ContentSteering, Mpd};
use serde::Serialize;

use crate::choice::Decision;

/// The steering manifest (DASH-IF Content Steering, `application/json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SteeringManifest {
    /// Always 1.
    #[serde(rename = "VERSION")]
    pub version: u32,
    /// Seconds until the client asks again.
    #[serde(rename = "TTL")]
    pub ttl: u32,
    /// Pathways (edge ids), best first.
    #[serde(rename = "PATHWAY-PRIORITY")]
    pub pathway_priority: Vec<String>,
}

/// Builds the steering answer from a decision: the chosen edge first, then the other
/// candidates in preference order (only healthy ones unless none is).
pub fn manifest(decision: &Decision, ttl: u32) -> SteeringManifest {
    let mut pathways: Vec<String> = Vec::new();
    if let Some(c) = &decision.chosen_edge {
        pathways.push(c.clone());
    }
    for c in &decision.candidates {
        if !pathways.contains(&c.edge) {
            pathways.push(c.edge.clone());
        }
    }
    SteeringManifest {
        version: 1,
        ttl,
        pathway_priority: pathways,
    }
}

/// Rewrites an MPD for steering: MPD-level `BaseURL`s become one per edge
/// (`<edge url>/<dir>/`, `serviceLocation` = edge id), `Location`s are dropped, and a
/// `ContentSteering` element points at `steer_url` with `default` as the starting
/// pathway.
pub fn steered_mpd(
    original: &str,
    dir: &str,
    edges: &[(String, String)],
    steer_url: &str,
    default: &str,
) -> Result<String, manifests::ManifestError> {
    let mut mpd = Mpd::parse(original)?;
    let dir = dir.trim_matches('/');
    mpd.base_urls = edges
        .iter()
        .map(|(id, url)| {
            let base = if dir.is_empty() {
                format!("{url}/")
            } else {
                format!("{url}/{dir}/")
            };
            BaseUrl::with_service_location(base, id.clone())
        })
        .collect();
    mpd.locations.clear();
    mpd.content_steering = Some(ContentSteering {
        url: steer_url.to_string(),
        default_service_location: Some(default.to_string()),
        query_before_start: Some(true),
        ..Default::default()
    });
    mpd.to_xml()
}
