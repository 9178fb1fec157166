//! [`play`]: one real playback through the CDN.
//!
//! Entry ([`Entry`]) → MPD (redirects followed) → video ladder with nominal sizes
//! ([`MpdPlan`]) → the Sabre/generic player loop ([`run_player`]) over an [`HttpNetwork`]: the
//! ABR decides each segment from throughput measured on the real, shaped video downloads;
//! init segments are fetched the first time a quality is used. Unless
//! [`PlayOptions::audio`] is off, the audio segments covering each video segment's span are
//! fetched concurrently with it through the same shaper (lowest audio Representation, its
//! init once). Every HTTP request is recorded as a [`SegmentFetch`] with the server that
//! answered (`X-Served-By`) and its `X-Cache`, and handed as it completes to
//! [`PlayOptions::on_fetch`].

pub mod live;

use std::sync::Arc;

use tokio::runtime::Handle;

use super::http_net::{fetch_mpd, FetchError, HttpNetwork};
use super::resolve::{Entry, MpdPlan, ResolveError};
use super::shaper::Shaper;
use crate::cmcd_out::{self, CmcdMode, CmcdSession};
use crate::cmsd_abr::{self, Signals};
use crate::error_chain;
pub use crate::fetch::{CacheStatus, FetchHook, FetchKind, SegmentFetch};
use player_sim::metrics::{self, Metrics, QoeOptions};
use player_sim::model::sabre::run_player;
use player_sim::model::ModelKind;
use player_sim::session::{Playback, SessionConfig};

/// The ABR a live player uses unless told otherwise: BOLA-E (buffer-based with the
/// insufficient-buffer rule and its own abandonment). It steps down through the ladder when
/// the link drops and climbs back as the buffer refills; the throughput-led rules
/// (`throughput`, `dynamic-dashjs`) re-request the top rung after each abandonment under the
/// Sabre player loop, which on a sudden drop wastes the low phase in abandoned attempts.
pub const DEFAULT_ABR: &str = "bola-e";

/// Options of one live playback.
#[derive(Clone)]
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
    /// Fetch the audio (the first audio AdaptationSet's lowest Representation) beside the
    /// video, as a browser does. Default on; no effect when the MPD has no audio.
    pub audio: bool,
    /// Called with every request (MPD, init, media, audio) as it completes.
    pub on_fetch: Option<FetchHook>,
    /// Wall time the MPD fetch may take before the playback fails
    /// ([`MPD_DEADLINE`](crate::http_net::MPD_DEADLINE) by default).
    pub mpd_deadline: std::time::Duration,
    /// How CMCD is sent with every request ([`CmcdMode::Query`] by default, as dash.js;
    /// see [`crate::cmcd_out`]).
    pub cmcd: CmcdMode,
    /// How long a live stream (a dynamic MPD, [`live`]) is played, wall time from the
    /// clock sync on ([`DEFAULT_LIVE_DURATION`] by default).
    pub live_duration: std::time::Duration,
}

/// Default [`PlayOptions::live_duration`]: 30 s.
pub const DEFAULT_LIVE_DURATION: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for PlayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayOptions")
            .field("entry", &self.entry)
            .field("abr", &self.abr)
            .field("session", &self.session)
            .field("shaper", &self.shaper)
            .field("clock_scale", &self.clock_scale)
            .field("label", &self.label)
            .field("segments", &self.segments)
            .field("audio", &self.audio)
            .field("on_fetch", &self.on_fetch.as_ref().map(|_| "Fn"))
            .field("mpd_deadline", &self.mpd_deadline)
            .field("cmcd", &self.cmcd)
            .field("live_duration", &self.live_duration)
            .finish_non_exhaustive()
    }
}

impl PlayOptions {
    /// Defaults: [`DEFAULT_ABR`], the generic model's session defaults (25 s buffer,
    /// abandonment on), no shaping, real-time clock, a fresh client, label `player`, audio
    /// on, no fetch hook, the default MPD deadline, CMCD in the query.
    pub fn new(entry: Entry, runtime: Handle) -> Result<Self, ClientError> {
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
            audio: true,
            on_fetch: None,
            mpd_deadline: crate::http_net::MPD_DEADLINE,
            cmcd: CmcdMode::default(),
            live_duration: DEFAULT_LIVE_DURATION,
        })
    }
}

/// The HTTP client could not be built (e.g. no TLS backend).
#[derive(Debug, thiserror::Error)]
#[error("building the HTTP client")]
pub struct ClientError(#[source] pub reqwest::Error);

/// A reqwest client suited to players: no proxy from the environment, redirects followed,
/// connect timeout 5 s, idle connections kept.
pub fn default_client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(ClientError)
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
    /// The audio Representation fetched beside the video (`None`: no audio in the MPD, or
    /// audio off).
    pub audio_representation_id: Option<String>,
    /// Its `@bandwidth`, kbps.
    pub audio_kbps: Option<f64>,
    /// End of the played video, seconds on the period timeline (end of the last segment).
    pub video_until_s: f64,
    /// End of the audio fetched, seconds on the period timeline (end of the last audio
    /// segment fetched; `None` without audio). Audio covers the playback when this is at
    /// least [`video_until_s`](Self::video_until_s) (up to the content's own audio length).
    pub audio_until_s: Option<f64>,
    /// Per-segment events (real sizes and measured times) and session totals.
    pub playback: Playback,
    /// QoE metrics of the playback.
    pub metrics: Metrics,
    /// Every HTTP request, in order.
    pub fetches: Vec<SegmentFetch>,
    /// How CMCD was sent, and the session id (`sid`) it carried (`None` with CMCD off).
    pub cmcd: CmcdMode,
    /// The CMCD `sid`.
    pub cmcd_sid: Option<String>,
    /// Responses that carried a valid `CMSD-Dynamic`.
    pub cmsd_responses: u64,
    /// Decisions a `cmsd-` ABR's rules touched, by rule (`etp_estimate`, `etp`, `mb`,
    /// `duress`; see [`crate::cmsd_abr::SignalState::cmsd_changes`]).
    pub cmsd_changes: std::collections::BTreeMap<String, u64>,
    /// What a live session measured (latency distribution, early answers, re-joins);
    /// `None` for a static (VoD) MPD.
    pub live: Option<live::LiveStats>,
}

impl LivePlayback {
    /// The video media fetches (failed and abandoned ones included).
    pub fn media(&self) -> impl Iterator<Item = &SegmentFetch> {
        self.fetches.iter().filter(|f| f.kind == FetchKind::Media)
    }

    /// The audio fetches (init and media, failed ones included).
    pub fn audio(&self) -> impl Iterator<Item = &SegmentFetch> {
        self.fetches.iter().filter(|f| f.kind.is_audio())
    }
}

/// Why a playback failed, with the requests it made before failing ([`PlayError::fetches`]:
/// failed ones included, with their status or transport error), so that request counts can
/// still be compared with the servers' own (swarm mode counts a failed player's requests like
/// any other).
///
/// Its message is the whole story on one line, as a log or a failure table wants it: for a
/// failure after the first request, `player <label>: ` and the [`PlayErrorKind`] with its
/// causes (e.g. `player p3-t2: GET http://e1/t2/manifest.mpd (final URL …): HTTP 404`);
/// for a check before any request (clock scale, model, ABR, entry), the kind and its causes
/// alone.
#[derive(Debug)]
pub struct PlayError {
    /// The player's label.
    pub label: String,
    /// What went wrong (boxed: the error stays small on the success path's stack).
    pub kind: Box<PlayErrorKind>,
    /// Every HTTP request made before the failure (the failing one included), in order; empty
    /// when the playback failed before its first request.
    pub fetches: Vec<SegmentFetch>,
}

impl std::fmt::Display for PlayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_before_requests() {
            f.write_str(&error_chain(&*self.kind))
        } else {
            write!(f, "player {}: {}", self.label, error_chain(&*self.kind))
        }
    }
}

// The message already carries the causes (`error_chain`), so no `source` is exposed: a
// reporter walking the chain would print them twice.
impl std::error::Error for PlayError {}

/// What made a playback fail.
#[derive(Debug, thiserror::Error)]
pub enum PlayErrorKind {
    /// A live session failed ([`live`]).
    #[error(transparent)]
    Live(live::LiveError),
    /// [`PlayOptions::clock_scale`] is zero, negative, infinite or NaN.
    #[error("clock scale {0} is not a positive number")]
    ClockScale(f64),
    /// The session's model is `pensieve` (live playback runs the Sabre player loop).
    #[error("live playback runs the Sabre player loop: model generic or sabre, not pensieve")]
    PensieveModel,
    /// The ABR is `optimal`, which needs the whole trace in advance.
    #[error("`optimal` needs the whole trace in advance; it cannot play live")]
    Optimal,
    /// The entry could not be resolved to an MPD URL (bad URL, DNS lookup failed).
    #[error(transparent)]
    Entry(ResolveError),
    /// The MPD request failed (transport error or non-2xx status).
    #[error(transparent)]
    Mpd(FetchError),
    /// The MPD cannot be played (no video, no segments, bad BaseURL…).
    #[error(transparent)]
    Plan(ResolveError),
    /// The ABR could not be built (unknown name, plug-in or policy refused).
    #[error(transparent)]
    Abr(#[from] player_sim::abr::AbrError),
    /// A request failed during the playback (a segment failed twice, audio failed…).
    #[error("playing {mpd_url}")]
    Playing {
        /// The MPD's URL (after redirects).
        mpd_url: String,
        /// The failure.
        #[source]
        source: FetchError,
    },
    /// The ABR failed during the playback (e.g. a plug-in crashed or answered out of range).
    #[error("{0}")]
    AbrFailed(String),
}

impl PlayErrorKind {
    /// A check made before any request: the options and the entry. Their messages do not
    /// name the player.
    pub fn is_before_requests(&self) -> bool {
        matches!(
            self,
            PlayErrorKind::ClockScale(_)
                | PlayErrorKind::PensieveModel
                | PlayErrorKind::Optimal
                | PlayErrorKind::Entry(_)
        )
    }
}

/// Plays one title for real. Blocking: call it from a plain thread (not inside `runtime`);
/// each HTTP step runs with `opts.runtime.block_on`.
///
/// Errors: the DNS lookup or the MPD GET failing (naming the URL and status), a bad MPD
/// (naming the URL), an unknown ABR, or a segment failing twice (at the current BaseURL and
/// the next) — naming the URL and status. Every failure is a [`PlayError`] carrying the
/// requests made.
pub fn play(opts: &PlayOptions) -> Result<LivePlayback, PlayError> {
    let fail = |fetches: Vec<SegmentFetch>, kind: PlayErrorKind| PlayError {
        label: opts.label.clone(),
        kind: Box::new(kind),
        fetches,
    };
    let scale = opts.clock_scale;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(fail(vec![], PlayErrorKind::ClockScale(scale)));
    }
    if opts.session.model == ModelKind::Pensieve {
        return Err(fail(vec![], PlayErrorKind::PensieveModel));
    }
    if cmsd_abr::split_name(&opts.abr).0 == "optimal" {
        return Err(fail(vec![], PlayErrorKind::Optimal));
    }
    let first = opts
        .runtime
        .block_on(opts.entry.initial_url())
        .map_err(|e| fail(vec![], PlayErrorKind::Entry(e)))?;
    tracing::info!(player = %opts.label, entry = %opts.entry, url = %first, "fetching MPD");
    let session = CmcdSession::new(opts.cmcd, cmcd_out::content_id(&first));
    let signals = Arc::new(Signals::default());
    let (rec, res) = fetch_mpd(
        &opts.client,
        &opts.runtime,
        &opts.shaper,
        scale,
        first,
        opts.mpd_deadline,
        &session,
        &signals,
    );
    if let Some(h) = &opts.on_fetch {
        h(&rec);
    }
    let mut fetches = vec![rec];
    let (mpd_url, text) = match res {
        Ok(r) => r,
        Err(e) => return Err(fail(fetches, PlayErrorKind::Mpd(e))),
    };
    if manifests::Mpd::parse(&text)
        .is_ok_and(|m| m.presentation_type() == manifests::PresentationType::Dynamic)
    {
        return live::play_live(opts, mpd_url, text, fetches);
    }
    let mut plan = match MpdPlan::from_mpd(&text, &mpd_url) {
        Ok(p) => p,
        Err(e) => return Err(fail(fetches, PlayErrorKind::Plan(e))),
    };
    if !opts.audio {
        plan.audio = None;
    }
    let mut cfg = opts.session.clone();
    if opts.segments.is_some() {
        cfg.segments = opts.segments;
    }
    // A plug-in ABR is told that these sizes are nominal (`@bandwidth` × duration).
    cfg.abr.nominal_sizes = true;
    let built = cmsd_abr::build(
        &opts.abr,
        &plan.ladder,
        cfg.buffer_max_ms,
        &cfg.abr,
        signals.clone(),
    );
    let mut a = match built {
        Ok(a) => a,
        Err(e) => return Err(fail(fetches, e.into())),
    };
    tracing::info!(
        player = %opts.label, mpd = %mpd_url, levels = plan.ladder.levels(),
        segments = cfg.segment_count(&plan.ladder), abr = %opts.abr,
        audio = ?plan.audio.as_ref().map(|a| &a.representation_id), "playing"
    );
    let mut net = HttpNetwork::new(
        opts.client.clone(),
        opts.runtime.clone(),
        opts.shaper.clone(),
        scale,
        &plan,
        opts.label.clone(),
    )
    .with_hook(opts.on_fetch.clone())
    .with_cmcd(session.clone(), signals.clone());
    let mut playback = run_player(&plan.ladder, &opts.label, &mut net, a.as_mut(), &cfg);
    fetches.append(&mut net.take_fetches());
    let audio_fetched = net.audio_fetched();
    if let Some(source) = net.error.take() {
        return Err(fail(
            fetches,
            PlayErrorKind::Playing {
                mpd_url: mpd_url.to_string(),
                source,
            },
        ));
    }
    if let Some(f) = a.failure() {
        return Err(fail(fetches, PlayErrorKind::AbrFailed(f)));
    }
    playback.abr = opts.abr.clone();
    let metrics = metrics::compute(
        &playback,
        &plan.ladder.bitrates_kbps,
        &QoeOptions::default(),
    );
    let (cmsd_responses, cmsd_changes) = {
        let s = signals.lock();
        let changes = s.cmsd_changes.iter().map(|(k, v)| (k.to_string(), *v));
        (s.cmsd_responses, changes.collect())
    };
    let played = cfg.segment_count(&plan.ladder).min(plan.video_spans.len());
    let video_until_s = played.checked_sub(1).map_or(0.0, |i| plan.video_spans[i].1);
    let audio = plan.audio.as_ref();
    Ok(LivePlayback {
        label: opts.label.clone(),
        mpd_url: mpd_url.to_string(),
        ladder_kbps: plan.ladder.bitrates_kbps.clone(),
        representation_ids: plan.representation_ids.clone(),
        audio_representation_id: audio.map(|a| a.representation_id.clone()),
        audio_kbps: audio.map(|a| a.bitrate_kbps),
        video_until_s,
        audio_until_s: audio.map(|a| {
            audio_fetched
                .checked_sub(1)
                .and_then(|i| a.span(i))
                .map_or(0.0, |s| s.1)
        }),
        playback,
        metrics,
        fetches,
        cmcd: opts.cmcd,
        cmcd_sid: (opts.cmcd != CmcdMode::Off).then_some(session.sid),
        cmsd_responses,
        cmsd_changes,
        live: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serve::wire;

    #[test]
    fn a_failed_playback_carries_its_requests() {
        // Port 9 on loopback refuses: the MPD request fails with no response.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = "http://127.0.0.1:9/default/manifest.mpd";
        let mut o = PlayOptions::new(Entry::Url(url.into()), rt.handle().clone()).unwrap();
        o.label = "p1".into();
        // The fetch hook sees the request as it completes.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        o.on_fetch = Some(Arc::new(move |f: &SegmentFetch| {
            seen2.lock().unwrap().push(f.kind)
        }));
        assert!(format!("{o:?}").contains("on_fetch: Some"));
        let e = play(&o).unwrap_err();
        assert_eq!(*seen.lock().unwrap(), vec![FetchKind::Mpd]);
        assert!(matches!(
            *e.kind,
            PlayErrorKind::Mpd(FetchError::MpdGet { .. })
        ));
        assert_eq!(e.label, "p1");
        assert_eq!(e.fetches.len(), 1);
        assert_eq!(e.fetches[0].kind, FetchKind::Mpd);
        assert_eq!(e.fetches[0].status, 0);
        assert!(e.fetches[0].error.is_some());
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("player p1: GET {url}: ")), "{msg}");
        // A bad clock scale fails before any request; its message does not name the player.
        o.clock_scale = 0.0;
        let e = play(&o).unwrap_err();
        assert!(matches!(*e.kind, PlayErrorKind::ClockScale(_)) && e.fetches.is_empty());
        assert_eq!(e.to_string(), "clock scale 0 is not a positive number");
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
            CacheStatus::Revalidated
        );
        assert_eq!(
            CacheStatus::from_header(Some(" EXPIRED ")),
            CacheStatus::Other("EXPIRED".into())
        );
        for c in wire::CacheStatus::ALL {
            assert_eq!(
                CacheStatus::from_header(Some(c.as_str())).as_str(),
                c.as_str()
            );
        }
        assert_eq!(CacheStatus::from_header(None), CacheStatus::None);
        assert_eq!(CacheStatus::from_header(Some(" ")), CacheStatus::None);
        assert_eq!(
            serde_json::to_string(&CacheStatus::Miss).unwrap(),
            "\"MISS\""
        );
        for k in [
            FetchKind::Mpd,
            FetchKind::Init,
            FetchKind::Media,
            FetchKind::AudioInit,
            FetchKind::Audio,
        ] {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert!(FetchKind::AudioInit.is_audio() && !FetchKind::Media.is_audio());
    }
}
