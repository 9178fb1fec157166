//! Looped live from any VoD asset (as DASH-IF livesim2): every asset in the content root
//! is also a live stream synchronised to the wall clock modulo its duration.
//!
//! ## URL space (under `/<prefix>/`, `live` by default)
//! ```text
//! /live/<asset>/manifest.mpd            dynamic MPD, SegmentTemplate @duration + $Number$
//! /live/segtimeline_1/<asset>/manifest.mpd   the same with SegmentTimeline + $Time$
//! /live/[...]/<asset>/<rep>/init.mp4    the VoD init segment of <rep> (any VoD name)
//! /live/[...]/<asset>/<rep>/<n>.m4s     live segment $Number$ = n
//! /live/[...]/<asset>/<rep>/t<t>.m4s    live segment $Time$ = t
//! /live/[...]/time                      the UTCTiming endpoint: ISO 8601 UTC with ms
//! /live/nowMS_<ms>/...                  any of the above at a fixed clock (tests; only
//!                                       with `clock_override`, also `?nowMS=<ms>`)
//! ```
//! URL parameters come before the asset name as path segments, as livesim2's do, so the
//! relative segment URLs of an MPD carry them.
//!
//! ## Data flow of a request ([`handle`])
//! [`parse_path`] → the clock (`nowMS` or the system clock) → the asset's loop
//! ([`asset::LoopAssets`], the VoD `manifest.mpd` parsed once per change) → either
//! [`mpd::live_mpd`] (the dynamic MPD), or the live segment's place in the loop and its
//! availability ([`timing`]) → the VoD segment file read and rewritten
//! ([`boxes::rewrite_segment`]: `tfdt` + loop × duration, `mfhd` = live index + 1).
//!
//! ## Statuses and caching (what an edge may keep)
//! - MPD: `200`, `max-age` = min(minimumUpdatePeriod / 2, 1 s), whole seconds (0 below
//!   2 s of update period).
//! - Segment not yet available: `425 Too Early` (livesim2's answer; DASH-IF IOP clients
//!   treat any 4xx for a future segment as "not yet"), `Cache-Control: max-age` = the whole
//!   seconds until it becomes available, `must-revalidate` (so a shared cache can never
//!   serve it past availability, not even stale), `no-store` when under one second.
//! - Segment left the time-shift window: `410 Gone` (livesim2), `max-age=60` (it never
//!   comes back: live numbers and times only grow).
//! - Available segment and init: `200`, the origin's segment `Cache-Control` (long,
//!   `immutable`).
//! - Unknown asset, Representation or segment, or an asset that cannot loop: `404` (the
//!   reason in the body and the log).
//!
//! Live responses carry no validators and ignore `Range` (players fetch whole live
//! segments); HEAD is answered like GET without the body.

pub mod asset;
pub mod boxes;
pub mod mpd;
pub mod timing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{self, HeaderValue};
use http::StatusCode;
use serde::Deserialize;

use self::asset::LoopAssets;
use self::timing::{Addressing, Availability};

/// The `[live]` section of the origin configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Serve the looped-live URL space (default on).
    pub enabled: bool,
    /// First path segment of live URLs (`live`).
    pub prefix: String,
    /// `MPD@timeShiftBufferDepth` and how long a segment stays available after its end, ms.
    pub time_shift_buffer_depth_ms: u64,
    /// `MPD@minimumUpdatePeriod`, ms.
    pub minimum_update_period_ms: u64,
    /// `MPD@suggestedPresentationDelay`, ms (dash.js's default live delay target).
    pub suggested_presentation_delay_ms: u64,
    /// Honour `nowMS` (path `nowMS_<ms>` or query `?nowMS=`) to fix the clock (tests).
    pub clock_override: bool,
    /// `UTCTiming` URL to announce; unset: `http://<Host of the request>/<prefix>/time`.
    pub utc_timing_url: Option<String>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            enabled: true,
            prefix: "live".into(),
            time_shift_buffer_depth_ms: 30_000,
            minimum_update_period_ms: 2_000,
            suggested_presentation_delay_ms: 6_000,
            clock_override: false,
            utc_timing_url: None,
        }
    }
}

impl LiveConfig {
    /// Checks the values a start would need: a one-segment prefix, a positive update
    /// period and time-shift depth.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.prefix.is_empty()
            || self.prefix.contains('/')
            || serve::path::sanitize(&format!("/{}", self.prefix)).is_err()
        {
            return Err(format!(
                "live prefix {:?} must be one plain path segment",
                self.prefix
            ));
        }
        if self.minimum_update_period_ms == 0 || self.time_shift_buffer_depth_ms == 0 {
            return Err(
                "live minimum_update_period_ms and time_shift_buffer_depth_ms must be > 0".into(),
            );
        }
        Ok(())
    }
}

/// A live segment named in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentId {
    /// `<n>.m4s`: `$Number$`.
    Number(u64),
    /// `t<t>.m4s`: `$Time$`.
    Time(u64),
}

/// What a live URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The time endpoint.
    Time,
    /// An asset's dynamic MPD.
    Mpd {
        /// Asset directory name.
        asset: String,
    },
    /// A Representation's init segment.
    Init {
        /// Asset directory name.
        asset: String,
        /// Representation id.
        rep: String,
    },
    /// A live media segment.
    Media {
        /// Asset directory name.
        asset: String,
        /// Representation id.
        rep: String,
        /// Which segment.
        segment: SegmentId,
    },
}

/// A parsed live URL: its parameters and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePath {
    /// `segtimeline_1` was given.
    pub addressing: Addressing,
    /// `nowMS_<ms>` was given.
    pub now_ms: Option<u64>,
    /// The parameters as written (to repeat them in the UTCTiming URL).
    pub params: Vec<String>,
    /// What is asked for.
    pub target: Target,
}

/// Parses the segments of a live path after the prefix (`None`: not a live URL → `404`).
pub fn parse_path<'a>(segments: impl IntoIterator<Item = &'a str>) -> Option<LivePath> {
    let mut addressing = Addressing::Number;
    let mut now_ms = None;
    let mut params = Vec::new();
    let mut rest = Vec::new();
    for seg in segments {
        if rest.is_empty() {
            if let Some(v) = seg.strip_prefix("segtimeline_") {
                addressing = match v {
                    "1" => Addressing::Time,
                    "0" => Addressing::Number,
                    _ => return None,
                };
                params.push(seg.to_string());
                continue;
            }
            if let Some(v) = seg.strip_prefix("nowMS_") {
                now_ms = Some(v.parse().ok()?);
                params.push(seg.to_string());
                continue;
            }
        }
        rest.push(seg);
    }
    let target = match rest.as_slice() {
        ["time"] => Target::Time,
        [asset, file] if *file == manifests::layout::MANIFEST_FILE => Target::Mpd {
            asset: asset.to_string(),
        },
        [asset, rep, "init.mp4"] => Target::Init {
            asset: asset.to_string(),
            rep: rep.to_string(),
        },
        [asset, rep, file] => {
            let stem = file.strip_suffix(".m4s")?;
            let segment = match stem.strip_prefix('t') {
                Some(t) => SegmentId::Time(digits(t)?),
                None => SegmentId::Number(digits(stem)?),
            };
            Target::Media {
                asset: asset.to_string(),
                rep: rep.to_string(),
                segment,
            }
        }
        _ => return None,
    };
    Some(LivePath {
        addressing,
        now_ms,
        params,
        target,
    })
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The live service of one origin (shared by its requests).
#[derive(Debug)]
pub struct Live {
    config: LiveConfig,
    content_root: PathBuf,
    assets: LoopAssets,
    segment_cache_control: String,
}

impl Live {
    /// The live service over a (canonical) content root; `segment_cache_control` is what
    /// available segments and init segments carry.
    pub fn new(config: LiveConfig, content_root: PathBuf, segment_cache_control: String) -> Self {
        Live {
            config,
            content_root,
            assets: LoopAssets::default(),
            segment_cache_control,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    fn mpd_cache_control(&self) -> String {
        let secs = (self.config.minimum_update_period_ms / 2).min(1000) / 1000;
        format!("public, max-age={secs}")
    }
}

fn text(status: StatusCode, body: impl Into<String>, cache_control: &str) -> Response {
    let mut res = Response::new(Body::from(body.into()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

fn not_found(why: impl Into<String>) -> Response {
    text(StatusCode::NOT_FOUND, why, "public, max-age=5")
}

fn query_now_ms(query: Option<&str>) -> Option<Result<u64, ()>> {
    let q = query?;
    q.split('&').find_map(|kv| {
        let v = kv.strip_prefix("nowMS=")?;
        Some(v.parse::<u64>().map_err(|_| ()))
    })
}

/// The `Cache-Control` of a "not yet available" answer that becomes available in `in_ms`.
pub fn too_early_cache_control(in_ms: u64) -> String {
    if in_ms < 1000 {
        "no-store".into()
    } else {
        format!("public, max-age={}, must-revalidate", in_ms / 1000)
    }
}

/// The handler of every live URL (GET and HEAD).
pub async fn handle(State(live): State<Arc<Live>>, req: Request) -> Response {
    let Ok(safe) = serve::path::sanitize(req.uri().path()) else {
        return not_found("bad path");
    };
    let Some(rest) = safe.strip_first_segment(&live.config.prefix) else {
        return not_found("not a live path");
    };
    let Some(path) = parse_path(rest.segments()) else {
        return not_found("not a live URL: see `dashcdn origin --help` for the live URL space");
    };
    let override_ms = match (path.now_ms, query_now_ms(req.uri().query())) {
        (_, Some(Err(()))) => return text(StatusCode::BAD_REQUEST, "bad nowMS", "no-store"),
        (Some(ms), _) | (None, Some(Ok(ms))) => Some(ms),
        (None, None) => None,
    };
    if override_ms.is_some() && !live.config.clock_override {
        return text(
            StatusCode::FORBIDDEN,
            "nowMS is honoured only with the live clock override (--live-clock-override)",
            "no-store",
        );
    }
    let now_ms = override_ms.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    let asset_name = match &path.target {
        Target::Time => {
            return text(StatusCode::OK, mpd::iso_millis(now_ms), "no-store");
        }
        Target::Mpd { asset } | Target::Init { asset, .. } | Target::Media { asset, .. } => {
            asset.clone()
        }
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let live2 = live.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let dir = live2.content_root.join(&asset_name);
        // the asset directory must stay under the root (a symlink must not lead out)
        match std::fs::canonicalize(&dir) {
            Ok(c) if c.starts_with(&live2.content_root) => live2.assets.get(&c),
            _ => Ok(None),
        }
    })
    .await;
    let asset = match loaded {
        Ok(Ok(Some(a))) => a,
        Ok(Ok(None)) => return not_found("no such asset"),
        Ok(Err(why)) => {
            tracing::warn!(%why, "live: asset cannot loop");
            return not_found(format!("asset cannot loop: {why}"));
        }
        Err(e) => {
            return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), "no-store");
        }
    };
    match path.target {
        Target::Time => unreachable!("answered above"),
        Target::Mpd { .. } => {
            let utc_timing_url = live.config.utc_timing_url.clone().unwrap_or_else(|| {
                let mut p = vec![live.config.prefix.clone()];
                p.extend(
                    path.params
                        .iter()
                        .filter(|s| s.starts_with("nowMS_"))
                        .cloned(),
                );
                format!(
                    "http://{}/{}/time",
                    host.as_deref().unwrap_or("localhost"),
                    p.join("/")
                )
            });
            let params = mpd::LiveMpdParams {
                now_ms,
                addressing: path.addressing,
                time_shift_buffer_depth_ms: live.config.time_shift_buffer_depth_ms,
                minimum_update_period_ms: live.config.minimum_update_period_ms,
                suggested_presentation_delay_ms: live.config.suggested_presentation_delay_ms,
                utc_timing_url,
            };
            match mpd::live_mpd(&asset, &params) {
                Ok(xml) => {
                    let mut res = text(StatusCode::OK, xml, &live.mpd_cache_control());
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/dash+xml"),
                    );
                    res
                }
                Err(e) => not_found(format!("no live MPD in this addressing: {e}")),
            }
        }
        Target::Init { rep, .. } => {
            let Some(track) = asset.track(&rep) else {
                return not_found("no such Representation");
            };
            let Some(rel) = track.vod_init_path() else {
                return not_found("the Representation has no init segment");
            };
            match tokio::fs::read(asset.dir.join(rel)).await {
                Ok(bytes) => media_response(bytes, track.kind, &live.segment_cache_control),
                Err(_) => not_found("init segment missing"),
            }
        }
        Target::Media { rep, segment, .. } => {
            let Some(track) = asset.track(&rep) else {
                return not_found("no such Representation");
            };
            let tl = &track.timeline;
            let seg = match segment {
                SegmentId::Number(n) => tl.segment(n, Addressing::Number),
                SegmentId::Time(t) => tl.by_time(t),
            };
            let Some(seg) = seg else {
                return not_found("no such live segment");
            };
            match tl.availability(&seg, now_ms, live.config.time_shift_buffer_depth_ms) {
                Availability::TooEarly { in_ms } => {
                    return text(
                        StatusCode::TOO_EARLY,
                        format!("available in {in_ms} ms"),
                        &too_early_cache_control(in_ms),
                    )
                }
                Availability::Gone => {
                    return text(
                        StatusCode::GONE,
                        "left the time-shift window",
                        "public, max-age=60",
                    )
                }
                Availability::Available => {}
            }
            let file = asset.dir.join(track.vod_media_path(seg.k));
            let bytes = match tokio::fs::read(&file).await {
                Ok(b) => b,
                Err(_) => return not_found("VoD segment missing"),
            };
            let sequence = (seg.index % u64::from(u32::MAX)) as u32 + 1;
            match boxes::rewrite_segment(&bytes, sequence, track.tfdt_offset(seg.loop_index)) {
                Ok(out) => media_response(out, track.kind, &live.segment_cache_control),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "live: cannot rewrite");
                    text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot rewrite the VoD segment: {e}"),
                        "no-store",
                    )
                }
            }
        }
    }
}

fn media_response(
    bytes: Vec<u8>,
    kind: Option<manifests::layout::MediaKind>,
    cache_control: &str,
) -> Response {
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(manifests::layout::mime_for_segment(kind)),
    );
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

/// The live routes (`/<prefix>/*`), or `None` when live is disabled.
pub fn routes<S: Clone + Send + Sync + 'static>(
    config: &LiveConfig,
    content_root: PathBuf,
    segment_cache_control: String,
) -> Option<axum::Router<S>> {
    if !config.enabled {
        return None;
    }
    let live = Arc::new(Live::new(
        config.clone(),
        content_root,
        segment_cache_control,
    ));
    Some(axum::Router::new().route(
        &format!("/{}/{{*rest}}", config.prefix),
        axum::routing::get(handle).with_state(live),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<LivePath> {
        parse_path(s.split('/'))
    }

    #[test]
    fn urls() {
        let l = p("default/manifest.mpd").unwrap();
        assert_eq!(l.addressing, Addressing::Number);
        assert_eq!(
            l.target,
            Target::Mpd {
                asset: "default".into()
            }
        );
        let l = p("segtimeline_1/nowMS_123000/default/v360/t900.m4s").unwrap();
        assert_eq!((l.addressing, l.now_ms), (Addressing::Time, Some(123_000)));
        assert_eq!(
            l.target,
            Target::Media {
                asset: "default".into(),
                rep: "v360".into(),
                segment: SegmentId::Time(900)
            }
        );
        assert_eq!(
            p("default/a128/17.m4s").unwrap().target,
            Target::Media {
                asset: "default".into(),
                rep: "a128".into(),
                segment: SegmentId::Number(17)
            }
        );
        assert_eq!(
            p("default/a128/init.mp4").unwrap().target,
            Target::Init {
                asset: "default".into(),
                rep: "a128".into()
            }
        );
        assert_eq!(p("nowMS_5/time").unwrap().target, Target::Time);
        for bad in [
            "default/v360/x.m4s",
            "default/v360/-1.m4s",
            "default/v360/1.mp4",
            "default/other.mpd",
            "nowMS_x/default/manifest.mpd",
            "segtimeline_2/default/manifest.mpd",
            "default",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn not_yet_is_never_cached_past_availability() {
        assert_eq!(too_early_cache_control(999), "no-store");
        assert_eq!(
            too_early_cache_control(1000),
            "public, max-age=1, must-revalidate"
        );
        assert_eq!(
            too_early_cache_control(2999),
            "public, max-age=2, must-revalidate"
        );
    }

    #[test]
    fn config_validation() {
        assert!(LiveConfig::default().validate().is_ok());
        let bad = LiveConfig {
            prefix: "a/b".into(),
            ..LiveConfig::default()
        };
        assert!(bad.validate().is_err());
        let off = LiveConfig {
            enabled: false,
            prefix: String::new(),
            ..LiveConfig::default()
        };
        assert!(off.validate().is_ok());
    }
}
