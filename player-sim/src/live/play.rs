//! [`play`]: one real playback through the CDN.
//!
//! Entry ([`Entry`]) → MPD (redirects followed) → video ladder with nominal sizes
//! ([`MpdPlan`]) → the Sabre/generic player loop ([`run_player`]) over an [`HttpNetwork`]: the
//! ABR decides each segment from throughput measured on the real, shaped downloads; init
//! segments are fetched the first time a quality is used. Every HTTP request is recorded as a
//! [`SegmentFetch`] with the server that answered (`X-Served-By`) and its `X-Cache`.

use std::sync::Arc;

use anyhow::Context;
use tokio::runtime::Handle;

use super::http_net::{fetch_mpd, HttpNetwork};
use super::resolve::{Entry, MpdPlan};
use super::shaper::Shaper;
use crate::abr;
use crate::metrics::{self, Metrics, QoeOptions};
use crate::model::sabre::run_player;
use crate::model::ModelKind;
use crate::session::{Playback, SessionConfig};

/// The ABR a live player uses unless told otherwise: BOLA-E (buffer-based with the
/// insufficient-buffer rule and its own abandonment). It steps down through the ladder when
/// the link drops and climbs back as the buffer refills; the throughput-led rules
/// (`throughput`, `dynamic-dashjs`) re-request the top rung after each abandonment under the
/// Sabre player loop, which on a sudden drop wastes the low phase in abandoned attempts.
pub const DEFAULT_ABR: &str = "bola-e";

/// Options of one live playback.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Where to find the MPD.
    pub entry: Entry,
    /// ABR algorithm name, as `simulate --abr` (every one except `optimal`, which needs the
    /// trace in advance).
    pub abr: String,
    /// Session settings (buffer size, abandonment, estimator, startup...). The model must be
    /// `generic` or `sabre` (the Sabre player loop); `segments` is overridden by
    /// [`PlayOptions::segments`] when that is set.
    pub session: SessionConfig,
    /// The shaper every response chunk passes through (shared = one bottleneck).
    pub shaper: Arc<Shaper>,
    /// Trace ms per wall ms (1 = real time). Should equal the shaper's scale.
    pub clock_scale: f64,
    /// The HTTP client (redirects followed by its policy; reqwest's default follows 10).
    pub client: reqwest::Client,
    /// Runtime the HTTP steps run on (`block_on` from the calling thread).
    pub runtime: Handle,
    /// A name for logs and the playback's `trace` field.
    pub label: String,
    /// Play only the first N segments.
    pub segments: Option<usize>,
}

impl PlayOptions {
    /// Defaults: [`DEFAULT_ABR`], the generic model's session defaults (25 s buffer,
    /// abandonment on), no shaping, real-time clock, a fresh client, label `player`.
    pub fn new(entry: Entry, runtime: Handle) -> anyhow::Result<Self> {
        Ok(PlayOptions {
            entry,
            abr: DEFAULT_ABR.to_string(),
            session: SessionConfig::for_model(ModelKind::Generic),
            shaper: Arc::new(Shaper::unlimited()),
            clock_scale: 1.0,
            client: default_client()?,
            runtime,
            label: "player".to_string(),
            segments: None,
        })
    }
}

/// A reqwest client suited to players: no proxy from the environment, redirects followed,
/// connect timeout 5 s, idle connections kept.
pub fn default_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .context("building the HTTP client")
}

/// The `X-Cache` answer of a response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// `HIT`.
    Hit,
    /// `MISS`.
    Miss,
    /// `STALE` (served from cache because upstream failed).
    Stale,
    /// Any other value (e.g. `REVALIDATED`).
    Other(String),
    /// No `X-Cache` header (an origin, or a failed request).
    None,
}

impl CacheStatus {
    /// Parses an `X-Cache` header value (case-insensitive; the first word counts, so
    /// `HIT from x` is a hit).
    pub fn from_header(v: Option<&str>) -> CacheStatus {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return CacheStatus::None;
        };
        let word = v.split([' ', ',', ';']).next().unwrap_or(v);
        match word.to_ascii_uppercase().as_str() {
            "HIT" => CacheStatus::Hit,
            "MISS" => CacheStatus::Miss,
            "STALE" => CacheStatus::Stale,
            _ => CacheStatus::Other(v.to_string()),
        }
    }

    /// As written in reports: `HIT`, `MISS`, `STALE`, the other value, or `` (none).
    pub fn as_str(&self) -> &str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Other(s) => s,
            CacheStatus::None => "",
        }
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CacheStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What an HTTP request fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchKind {
    /// The MPD.
    Mpd,
    /// An init segment.
    Init,
    /// A media segment.
    Media,
}

/// One HTTP request of a player (MPD, init or media), failed ones included.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentFetch {
    /// Segment index, 0-based (0 for the MPD and init segments).
    pub index: usize,
    /// Quality (0 for the MPD).
    pub quality: usize,
    /// Final URL (after redirects).
    pub url: String,
    /// URL requested (differs from `url` when redirected, e.g. by the redirector).
    pub requested: String,
    /// Server that answered: its `X-Served-By`, else `host:port` of the final URL.
    pub edge: Option<String>,
    /// Its `X-Cache`.
    pub cache: CacheStatus,
    /// HTTP status (0 when no response arrived).
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// Request to last byte (or to abandonment), scaled ms.
    pub ms: f64,
    /// Request to response headers, scaled ms.
    pub ttfb_ms: f64,
    /// The ABR abandoned it (response dropped).
    pub abandoned: bool,
    /// MPD, init or media.
    pub kind: FetchKind,
    /// Player clock at the request, scaled ms (the MPD fetch is at 0; the player clock
    /// starts after it).
    pub at_ms: f64,
    /// What went wrong (non-2xx status or transport error), if anything.
    pub error: Option<String>,
}

/// Result of [`play`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LivePlayback {
    /// The player's label.
    pub label: String,
    /// Final MPD URL (after redirects).
    pub mpd_url: String,
    /// The video ladder played, kbps by quality.
    pub ladder_kbps: Vec<f64>,
    /// Representation ids by quality.
    pub representation_ids: Vec<String>,
    /// Per-segment events (real sizes and measured times) and session totals.
    pub playback: Playback,
    /// QoE metrics of the playback.
    pub metrics: Metrics,
    /// Every HTTP request, in order.
    pub fetches: Vec<SegmentFetch>,
}

impl LivePlayback {
    /// The media fetches (failed and abandoned ones included).
    pub fn media(&self) -> impl Iterator<Item = &SegmentFetch> {
        self.fetches.iter().filter(|f| f.kind == FetchKind::Media)
    }
}

/// The error of a playback that failed after its first HTTP request: the requests it made
/// (failed ones included, with their status or transport error), so that request counts can
/// still be compared with the servers' own. Reach it with
/// `err.downcast_ref::<PlayFailed>()`; its message names the failing URL and status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("player {label}: {message}")]
pub struct PlayFailed {
    /// The player's label.
    pub label: String,
    /// Every HTTP request made before the failure, in order.
    pub fetches: Vec<SegmentFetch>,
    /// What went wrong (the whole error chain).
    pub message: String,
}

/// Plays one title for real. Blocking: call it from a plain thread (not inside `runtime`);
/// each HTTP step runs with `opts.runtime.block_on`.
///
/// Errors: the DNS lookup or the MPD GET failing (naming the URL and status), a bad MPD
/// (naming the URL), an unknown ABR, or a segment failing twice (at the current BaseURL and
/// the next) — naming the URL and status. Failures after the first request are a
/// [`PlayFailed`] carrying the requests made.
pub fn play(opts: &PlayOptions) -> anyhow::Result<LivePlayback> {
    let scale = opts.clock_scale;
    anyhow::ensure!(
        scale.is_finite() && scale > 0.0,
        "clock scale {scale} is not a positive number"
    );
    anyhow::ensure!(
        opts.session.model != ModelKind::Pensieve,
        "live playback runs the Sabre player loop: model generic or sabre, not pensieve"
    );
    anyhow::ensure!(
        opts.abr != "optimal",
        "`optimal` needs the whole trace in advance; it cannot play live"
    );
    let first = opts.runtime.block_on(opts.entry.initial_url())?;
    tracing::info!(player = %opts.label, entry = %opts.entry, url = %first, "fetching MPD");
    let (rec, res) = fetch_mpd(&opts.client, &opts.runtime, &opts.shaper, scale, first);
    let mut fetches = vec![rec];
    let fail = |fetches: Vec<SegmentFetch>, e: anyhow::Error| -> anyhow::Error {
        PlayFailed {
            label: opts.label.clone(),
            fetches,
            message: format!("{e:#}"),
        }
        .into()
    };
    let (mpd_url, text) = match res {
        Ok(r) => r,
        Err(e) => return Err(fail(fetches, e)),
    };
    let plan = match MpdPlan::from_mpd(&text, &mpd_url) {
        Ok(p) => p,
        Err(e) => return Err(fail(fetches, e)),
    };
    let mut cfg = opts.session.clone();
    if opts.segments.is_some() {
        cfg.segments = opts.segments;
    }
    let mut a = match abr::build(&opts.abr, &plan.ladder, cfg.buffer_max_ms, &cfg.abr) {
        Ok(a) => a,
        Err(e) => return Err(fail(fetches, e)),
    };
    tracing::info!(
        player = %opts.label, mpd = %mpd_url, levels = plan.ladder.levels(),
        segments = cfg.segment_count(&plan.ladder), abr = %opts.abr, "playing"
    );
    let mut net = HttpNetwork::new(
        opts.client.clone(),
        opts.runtime.clone(),
        opts.shaper.clone(),
        scale,
        &plan,
        opts.label.clone(),
    );
    let mut playback = run_player(&plan.ladder, &opts.label, &mut net, a.as_mut(), &cfg);
    fetches.append(&mut net.fetches);
    if let Some(e) = net.error.take() {
        return Err(fail(fetches, e.context(format!("playing {mpd_url}"))));
    }
    playback.abr = opts.abr.clone();
    let metrics = metrics::compute(
        &playback,
        &plan.ladder.bitrates_kbps,
        &QoeOptions::default(),
    );
    Ok(LivePlayback {
        label: opts.label.clone(),
        mpd_url: mpd_url.to_string(),
        ladder_kbps: plan.ladder.bitrates_kbps.clone(),
        representation_ids: plan.representation_ids.clone(),
        playback,
        metrics,
        fetches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_playback_carries_its_requests() {
        // Port 9 on loopback refuses: the MPD request fails with no response.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = "http://127.0.0.1:9/default/manifest.mpd";
        let mut o = PlayOptions::new(Entry::Url(url.into()), rt.handle().clone()).unwrap();
        o.label = "p1".into();
        let e = play(&o).unwrap_err();
        let f = e.downcast_ref::<PlayFailed>().expect("a PlayFailed");
        assert_eq!(f.label, "p1");
        assert_eq!(f.fetches.len(), 1);
        assert_eq!(f.fetches[0].kind, FetchKind::Mpd);
        assert_eq!(f.fetches[0].status, 0);
        assert!(f.fetches[0].error.is_some());
        assert!(e.to_string().contains(url), "{e}");
        // A bad clock scale is a plain error, before any request.
        o.clock_scale = 0.0;
        assert!(play(&o).unwrap_err().downcast_ref::<PlayFailed>().is_none());
    }

    #[test]
    fn x_cache_values() {
        assert_eq!(CacheStatus::from_header(Some("HIT")), CacheStatus::Hit);
        assert_eq!(CacheStatus::from_header(Some("miss")), CacheStatus::Miss);
        assert_eq!(CacheStatus::from_header(Some("STALE")), CacheStatus::Stale);
        assert_eq!(
            CacheStatus::from_header(Some("HIT from edge-a")),
            CacheStatus::Hit
        );
        assert_eq!(
            CacheStatus::from_header(Some("REVALIDATED")),
            CacheStatus::Other("REVALIDATED".into())
        );
        assert_eq!(CacheStatus::from_header(None), CacheStatus::None);
        assert_eq!(CacheStatus::from_header(Some(" ")), CacheStatus::None);
        assert_eq!(
            serde_json::to_string(&CacheStatus::Miss).unwrap(),
            "\"MISS\""
        );
    }
}
