//! Live sessions: [`play()`](crate::play::play()) on a dynamic MPD (`type="dynamic"`) plays it here
//! in real time, as dash.js does, instead of the VoD loop.
//!
//! Data flow of one live playback (`play_live`):
//!
//! ```text
//! MPD (already fetched) ─▶ LiveTiming (timing.rs: AST, period, template, target latency,
//!   │                      playback-rate bounds, UTCTiming)
//!   ├─▶ clock sync: UTCTiming http-iso / http-xsdate (GET, RTT/2 corrected) or direct
//!   ├─▶ join: live edge − target latency → the segment containing it
//!   └─▶ loop, every 100 ms tick advancing the playhead at the catch-up rate and sampling
//!       the latency (wall clock − presentation time being played):
//!         re-fetch the MPD every minimumUpdatePeriod (SegmentTimeline: new S entries)
//!         next segment ($Number$ + 1, or the next listed S) ─▶ wait until its availability
//!         start (never earlier) ─▶ ABR decision ─▶ GET ─▶ 404/425: counted, retried at
//!         availability; 410 or drift > maxDrift: re-join at the live edge
//! ─▶ Playback (events, startup, stalls) + Metrics + LiveStats (latency mean/p50/p95/max)
//! ```
//!
//! Audio (unless [`PlayOptions::audio`] is off): the first audio AdaptationSet's lowest
//! Representation, each segment fetched once it is available and starts within the video
//! buffered so far, between video requests (playback follows the video buffer). Scope: no
//! client-side shaping or CMCD, wall-clock speed only (live cannot be sped up: `clock_scale`
//! must be 1). The policy is in [`timing`] (pure, tested); this module is the I/O around it.

pub mod timing;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use manifests::segments::expand_template;
use manifests::Mpd;
use reqwest::{StatusCode, Url};

use crate::cmsd_abr::{self, Signals};
use crate::fetch::{CacheStatus, FetchKind, SegmentFetch};
use crate::play::{LivePlayback, PlayError, PlayErrorKind, PlayOptions};
use player_sim::abr::Ctx;
use player_sim::events::{Playback, SegmentEvent};
use player_sim::input::Ladder;
use player_sim::metrics::{self, QoeOptions};
use serve::wire::X_CACHE;
use timing::{catchup_rate, needs_resync, LatencySummary, LiveTiming, SegmentTimes};

/// How often the playhead advances, the catch-up rate is recomputed and latency is sampled.
pub const TICK: Duration = Duration::from_millis(100);
/// Time requests per clock synchronisation; the one with the shortest round trip counts
/// ([`timing::best_offset_ms`]).
pub const SYNC_SAMPLES: usize = 3;
/// Buffer a stalled player waits for before it resumes on a growing segment (dash.js
/// `stallThreshold`), seconds.
pub const STALL_THRESHOLD_S: f64 = 0.3;
/// Retries of one segment answered 404/425 before the playback fails.
pub const MAX_EARLY_RETRIES: u32 = 20;

/// What a live playback measured beside the VoD metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveStats {
    /// `number` (`$Number$`) or `timeline` (SegmentTimeline).
    pub addressing: &'static str,
    /// The target latency, seconds, and where it came from.
    pub target_latency_s: f64,
    /// `ServiceDescription`, `suggestedPresentationDelay` or `4 segments`.
    pub target_source: &'static str,
    /// Server − local clock, ms, as synchronised.
    pub clock_offset_ms: f64,
    /// The `UTCTiming` scheme used (`none`: the local clock).
    pub clock_source: String,
    /// Live latency sampled every [`TICK`] from the start of playback: wall clock − Period
    /// time being played.
    pub latency: Option<LatencySummary>,
    /// Media requests answered 404/425 (not yet available) and retried.
    pub early_responses: u64,
    /// Re-joins at the live edge (drift above dash.js's `maxDrift`, or a segment gone).
    pub resyncs: u64,
    /// MPD re-fetches (every `minimumUpdatePeriod`).
    pub mpd_refreshes: u64,
    /// Time played at a rate other than 1 (catch-up), seconds.
    pub catchup_s: f64,
    /// Mean playback rate while playing.
    pub mean_rate: f64,
    /// `$Number$` of the first segment fetched.
    pub join_number: u64,
    /// The last latency sampled (where catch-up left the player), seconds.
    pub final_latency_s: Option<f64>,
}

/// A video Representation of the live MPD: id, kbps, init and media templates resolved
/// against the bases.
struct Rep {
    id: String,
    bandwidth: u64,
    base: Url,
    init: Option<String>,
    media: String,
}

/// The Representations of the first AdaptationSet of `kind`, ascending `@bandwidth`.
fn reps_of(mpd: &Mpd, mpd_url: &Url, kind: &str) -> Vec<Rep> {
    let Some(period) = mpd.periods.first() else {
        return vec![];
    };
    let Some(set) = period
        .adaptation_sets
        .iter()
        .find(|s| crate::resolve::plan::is_kind(s, kind))
    else {
        return vec![];
    };
    let join = |u: &Url, b: &[manifests::BaseUrl]| match b.first() {
        Some(b) if !b.url.trim().is_empty() => u.join(b.url.trim()).unwrap_or_else(|_| u.clone()),
        _ => u.clone(),
    };
    let base = join(
        &join(&join(mpd_url, &mpd.base_urls), &period.base_urls),
        &set.base_urls,
    );
    let mut v: Vec<Rep> = set
        .representations
        .iter()
        .filter_map(|r| {
            let t = r.effective_segment_template(period, set)?;
            Some(Rep {
                id: r.id.clone(),
                bandwidth: u64::from(r.bandwidth),
                base: join(&base, &r.base_urls),
                init: t
                    .initialization
                    .as_deref()
                    .map(|i| expand_template(i, &r.id, 0, 0, u64::from(r.bandwidth))),
                media: t.media.clone()?,
            })
        })
        .collect();
    v.sort_by_key(|r| r.bandwidth);
    v
}

fn local_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One GET, read to the end, recorded.
async fn get(
    client: &reqwest::Client,
    url: Url,
    kind: FetchKind,
    index: usize,
    quality: usize,
    t0: Instant,
    progress: Option<&std::cell::Cell<f64>>,
) -> (SegmentFetch, Option<String>) {
    let start = Instant::now();
    let mut f = SegmentFetch {
        index,
        quality,
        url: url.to_string(),
        requested: url.to_string(),
        edge: None,
        cache: CacheStatus::None,
        status: 0,
        bytes: 0,
        ms: 0.0,
        ttfb_ms: 0.0,
        abandoned: false,
        kind,
        at_ms: start.duration_since(t0).as_secs_f64() * 1000.0,
        cmsd: None,
        error: None,
    };
    let mut body = None;
    match client.get(url.clone()).send().await {
        Err(e) => f.error = Some(crate::error_chain(&e)),
        Ok(r) => {
            f.ttfb_ms = start.elapsed().as_secs_f64() * 1000.0;
            f.status = r.status().as_u16();
            f.url = r.url().to_string();
            f.edge = crate::http_net::edge_of(r.headers(), r.url());
            f.cache =
                CacheStatus::from_header(r.headers().get(X_CACHE).and_then(|v| v.to_str().ok()));
            let ok = r.status().is_success();
            let keep = ok && matches!(kind, FetchKind::Mpd | FetchKind::Time);
            let mut text = Vec::new();
            let mut r = r;
            loop {
                match r.chunk().await {
                    Ok(Some(c)) => {
                        f.bytes += c.len() as u64;
                        if keep {
                            text.extend_from_slice(&c);
                        }
                        if let (true, Some(p)) = (ok, progress) {
                            p.set(local_ms());
                        }
                    }
                    Ok(None) => {
                        if keep {
                            body = Some(String::from_utf8_lossy(&text).into_owned());
                        } else if !ok {
                            f.error = Some(format!("HTTP {}", f.status));
                        }
                        break;
                    }
                    Err(e) => {
                        f.error = Some(crate::error_chain(&e));
                        break;
                    }
                }
            }
        }
    }
    f.ms = start.elapsed().as_secs_f64() * 1000.0;
    (f, body)
}

/// Why a live playback failed (beyond the MPD and ABR failures of any playback).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Live plays at wall-clock speed only.
    #[error("a live stream plays in real time: speed {0} is not 1")]
    Speed(f64),
    /// The MPD does not parse.
    #[error("live MPD")]
    Mpd(#[source] manifests::ManifestError),
    /// The MPD's timing cannot be played.
    #[error(transparent)]
    Timing(#[from] timing::LiveMpdError),
    /// No video Representation with a usable SegmentTemplate.
    #[error("live MPD: no video Representation with a SegmentTemplate@media")]
    NoVideo,
    /// A segment failed (transport error or an unexpected status).
    #[error("GET {url}: {error}")]
    Segment {
        /// The URL.
        url: String,
        /// Status or transport error.
        error: String,
    },
    /// A segment stayed "not yet available" past [`MAX_EARLY_RETRIES`] retries.
    #[error("GET {url}: still not available after {MAX_EARLY_RETRIES} retries")]
    NeverAvailable {
        /// The URL.
        url: String,
    },
}

/// The playhead of a live player: what it shows, what it has buffered, how fast it plays.
#[derive(Debug, Clone)]
struct Head {
    pos_s: f64,
    buffer_end_s: f64,
    started: bool,
    stalled: bool,
    rate: f64,
    startup_ms: f64,
    rebuffer_ms: f64,
    rebuffer_events: usize,
    playing_s: f64,
    rate_sum: f64,
    catchup_s: f64,
    samples: Vec<f64>,
}

impl Head {
    fn new(pos_s: f64) -> Head {
        Head {
            pos_s,
            buffer_end_s: pos_s,
            started: false,
            stalled: false,
            rate: 1.0,
            startup_ms: 0.0,
            rebuffer_ms: 0.0,
            rebuffer_events: 0,
            playing_s: 0.0,
            rate_sum: 0.0,
            catchup_s: 0.0,
            samples: Vec::new(),
        }
    }

    fn level_s(&self) -> f64 {
        (self.buffer_end_s - self.pos_s).max(0.0)
    }

    /// `dt_s` of wall time passed; `now_ms` is the server clock now.
    fn advance(&mut self, dt_s: f64, now_ms: f64, t: &LiveTiming) {
        if !self.started {
            self.startup_ms += dt_s * 1000.0;
            return;
        }
        if self.stalled {
            self.rebuffer_ms += dt_s * 1000.0;
        } else {
            let adv = dt_s * self.rate;
            let played_s = if self.pos_s + adv >= self.buffer_end_s {
                let p = (self.buffer_end_s - self.pos_s).max(0.0) / self.rate;
                self.pos_s = self.buffer_end_s;
                self.stalled = true;
                self.rebuffer_events += 1;
                self.rebuffer_ms += (dt_s - p).max(0.0) * 1000.0;
                p
            } else {
                self.pos_s += adv;
                dt_s
            };
            self.playing_s += played_s;
            self.rate_sum += self.rate * played_s;
            if (self.rate - 1.0).abs() > 1e-3 {
                self.catchup_s += played_s;
            }
        }
        let lat = t.latency_s(now_ms, self.pos_s);
        self.samples.push(lat);
        let r = catchup_rate(
            lat,
            t.target_latency_s,
            t.rate_max_delta,
            t.rate_min_delta,
            self.stalled,
        );
        // dash.js skips changes under 0.02 (for a ±0.5 range) unless back to 1.
        let min_change = 0.02 / (0.5 / t.rate_max_delta.max(1e-3));
        if (r - self.rate).abs() >= min_change || r == 1.0 {
            self.rate = r;
        }
    }

    fn append(&mut self, seg: &SegmentTimes) {
        self.buffer_end_s = seg.end_s;
        if !self.started {
            self.started = true;
            self.pos_s = self.pos_s.max(seg.start_s);
        }
        self.stalled = false;
    }

    /// Part of a segment starting at `seg_start_s` arrived, up to `end_s`: the buffer grows
    /// (playback starts, or resumes once [`STALL_THRESHOLD_S`] is buffered).
    fn grow(&mut self, end_s: f64, seg_start_s: f64) {
        if end_s <= self.buffer_end_s.max(seg_start_s) {
            return;
        }
        if !self.started {
            self.started = true;
            self.pos_s = self.pos_s.max(seg_start_s);
        }
        self.buffer_end_s = end_s;
        if self.stalled && self.level_s() >= STALL_THRESHOLD_S {
            self.stalled = false;
        }
    }

    /// Seek to `pos_s` (the live edge − target): the buffer is dropped; playback resumes
    /// when the segment there arrives (the wait counts as a stall).
    fn seek(&mut self, pos_s: f64) {
        self.pos_s = pos_s;
        self.buffer_end_s = pos_s;
        if self.started {
            self.stalled = true;
        }
    }
}

/// Synchronises with the first usable `UTCTiming` (http-iso / http-xsdate: [`SYNC_SAMPLES`]
/// GETs whose body is an ISO 8601 time, the shortest round trip kept; direct: the value itself, read when the MPD arrived). Returns the
/// offset (server − local, ms), the scheme, and the time requests made.
async fn sync_clock(
    client: &reqwest::Client,
    t: &LiveTiming,
    mpd_url: &Url,
    mpd_received_local_ms: f64,
    t0: Instant,
) -> (f64, String, Vec<SegmentFetch>) {
    let mut fetches = Vec::new();
    for (scheme, value) in &t.utc_timings {
        let s = scheme.as_str();
        if s.starts_with("urn:mpeg:dash:utc:http-iso:")
            || s.starts_with("urn:mpeg:dash:utc:http-xsdate:")
        {
            for u in value.split_whitespace() {
                let Ok(url) = mpd_url.join(u) else { continue };
                let mut samples = Vec::new();
                for _ in 0..SYNC_SAMPLES {
                    let sent = local_ms();
                    let (f, body) = get(client, url.clone(), FetchKind::Time, 0, 0, t0, None).await;
                    let received = local_ms();
                    fetches.push(f);
                    match body.and_then(|b| b.trim().parse::<manifests::DateTime>().ok()) {
                        Some(ms) => samples.push((sent, ms.unix_millis() as f64, received)),
                        None => break,
                    }
                }
                if let Some(off) = timing::best_offset_ms(&samples) {
                    return (off, s.to_string(), fetches);
                }
            }
        } else if s.starts_with("urn:mpeg:dash:utc:direct:") {
            if let Ok(d) = value.trim().parse::<manifests::DateTime>() {
                return (
                    d.unix_millis() as f64 - mpd_received_local_ms,
                    s.to_string(),
                    fetches,
                );
            }
        }
    }
    (0.0, "none".into(), fetches)
}

/// Plays the dynamic MPD `text` (fetched from `mpd_url`; `fetches` holds that request) live
/// for [`PlayOptions::live_duration`] (or [`PlayOptions::segments`] segments). See the
/// module docs.
pub(crate) fn play_live(
    opts: &PlayOptions,
    mpd_url: Url,
    text: String,
    mut fetches: Vec<SegmentFetch>,
) -> Result<LivePlayback, PlayError> {
    let received_local = local_ms();
    let fail = |fetches: Vec<SegmentFetch>, e: LiveError| PlayError {
        label: opts.label.clone(),
        kind: Box::new(PlayErrorKind::Live(e)),
        fetches,
    };
    if opts.clock_scale != 1.0 {
        return Err(fail(fetches, LiveError::Speed(opts.clock_scale)));
    }
    let mpd = match Mpd::parse(&text) {
        Ok(m) => m,
        Err(e) => return Err(fail(fetches, LiveError::Mpd(e))),
    };
    let mut timing = match LiveTiming::from_mpd(&mpd) {
        Ok(t) => t,
        Err(e) => return Err(fail(fetches, e.into())),
    };
    let reps = reps_of(&mpd, &mpd_url, "video");
    // The audio fetched beside the video: the first audio AdaptationSet's lowest
    // Representation (none when audio is off or the MPD has none).
    let mut audio_timing = LiveTiming::for_kind(&mpd, "audio")
        .ok()
        .filter(|_| opts.audio);
    let audio_rep = audio_timing
        .as_ref()
        .and_then(|_| reps_of(&mpd, &mpd_url, "audio").into_iter().next());
    if audio_rep.is_none() {
        audio_timing = None;
    }
    if reps.is_empty() {
        return Err(fail(fetches, LiveError::NoVideo));
    }
    let seg_ms = timing.segment_s() * 1000.0;
    let n_max = opts.segments.unwrap_or_else(|| {
        (opts.live_duration.as_secs_f64() * 1000.0 / seg_ms.max(1.0)).ceil() as usize + 8
    });
    let bitrates_kbps: Vec<f64> = reps.iter().map(|r| r.bandwidth as f64 / 1000.0).collect();
    let ladder = Ladder {
        name: mpd_url
            .path_segments()
            .and_then(|s| s.rev().nth(1).map(str::to_string))
            .unwrap_or_default(),
        bitrates_kbps: bitrates_kbps.clone(),
        segment_duration_ms: seg_ms,
        sizes_bits: vec![
            bitrates_kbps.iter().map(|b| b * seg_ms).collect::<Vec<_>>();
            n_max.max(1)
        ],
    };
    let mut cfg = opts.session.clone();
    cfg.abr.nominal_sizes = true;
    let mut abr = match cmsd_abr::build(
        &opts.abr,
        &ladder,
        cfg.buffer_max_ms,
        &cfg.abr,
        std::sync::Arc::new(Signals::default()),
    ) {
        Ok(a) => a,
        Err(e) => {
            return Err(PlayError {
                label: opts.label.clone(),
                kind: Box::new(e.into()),
                fetches,
            })
        }
    };
    let mut est = cfg.estimator.build(seg_ms);
    let quirks = cfg.model.quirks();
    let top = ladder.levels() - 1;
    let hook = |f: &SegmentFetch| {
        if let Some(h) = &opts.on_fetch {
            h(f);
        }
    };
    tracing::info!(player = %opts.label, mpd = %mpd_url, addressing = ?timing.addressing_name(),
        target_s = timing.target_latency_s, "playing live");

    let client = &opts.client;
    let run = async {
        let t0 = Instant::now();
        let (offset, clock_source, tf) =
            sync_clock(client, &timing, &mpd_url, received_local, t0).await;
        for f in &tf {
            hook(f);
        }
        fetches.extend(tf);
        let server_now = || local_ms() + offset;
        let deadline = t0 + opts.live_duration;
        let join = timing.join_position_s(server_now());
        let mut head = Head::new(join);
        let mut next = timing.segment_at(join);
        let join_number = next.map_or(0, |s| s.number);
        let mut stats = LiveStats {
            addressing: timing.addressing_name(),
            target_latency_s: timing.target_latency_s,
            target_source: timing.target_source,
            clock_offset_ms: offset,
            clock_source,
            latency: None,
            early_responses: 0,
            resyncs: 0,
            mpd_refreshes: 0,
            catchup_s: 0.0,
            mean_rate: 1.0,
            join_number,
            final_latency_s: None,
        };
        let mup = timing
            .minimum_update_period_s
            .map(|s| Duration::from_secs_f64(s.max(0.1)));
        let mut next_refresh = mup.map(|d| t0 + d);
        let mut audio_next = audio_timing.as_ref().and_then(|t| t.segment_at(join));
        let mut audio_init_done = false;
        let mut audio_fetched = 0usize;
        let mut audio_end_s: Option<f64> = None;
        let mut last_tick = Instant::now();
        let mut events: Vec<SegmentEvent> = Vec::new();
        let mut inits_done = vec![false; reps.len()];
        let mut last_q = 0usize;
        let mut retries = 0u32;
        let mut idle_ms = 0.0;
        let mut error: Option<LiveError> = None;
        macro_rules! tick {
            () => {{
                let now = Instant::now();
                let dt = now.duration_since(last_tick).as_secs_f64();
                last_tick = now;
                head.advance(dt, server_now(), &timing);
            }};
        }
        while Instant::now() < deadline && events.len() < n_max {
            tick!();
            let now_ms = server_now();
            let behind = timing.latency_s(now_ms, head.pos_s);
            let gone = next.is_some_and(|s| timing.is_gone(&s, now_ms));
            if head.started
                && (gone
                    || needs_resync(behind, timing.target_latency_s, timing::DEFAULT_MAX_DRIFT_S))
            {
                let pos = timing.join_position_s(now_ms);
                head.seek(pos);
                next = timing.segment_at(pos);
                audio_next = audio_timing.as_ref().and_then(|t| t.segment_at(pos));
                stats.resyncs += 1;
                tracing::info!(player = %opts.label, latency_s = behind, "re-joining the live edge");
                continue;
            }
            if let (Some(at), Some(d)) = (next_refresh, mup) {
                if Instant::now() >= at {
                    next_refresh = Some(Instant::now() + d);
                    let (f, body) =
                        get(client, mpd_url.clone(), FetchKind::Mpd, 0, 0, t0, None).await;
                    hook(&f);
                    fetches.push(f);
                    stats.mpd_refreshes += 1;
                    if let Some(m) = body.and_then(|b| Mpd::parse(&b).ok()) {
                        if let Ok(t) = LiveTiming::from_mpd(&m) {
                            timing = t;
                        }
                        if audio_timing.is_some() {
                            if let Ok(t) = LiveTiming::for_kind(&m, "audio") {
                                audio_timing = Some(t);
                            }
                        }
                    }
                    if next.is_none() {
                        next = timing.segment_at(head.buffer_end_s);
                    }
                    if audio_next.is_none() {
                        if let (Some(t), Some(end)) = (&audio_timing, audio_end_s) {
                            audio_next = t.segment_at(end);
                        }
                    }
                    continue;
                }
            }
            // Audio: the next audio segment once it is available and starts within the
            // video buffered so far (fetched between video segments; playback follows the
            // video buffer).
            if let (Some(at), Some(ar), Some(aseg)) = (&audio_timing, &audio_rep, audio_next) {
                if aseg.start_s < head.buffer_end_s && now_ms >= aseg.available_at_ms {
                    if !audio_init_done {
                        if let Some(u) = ar.init.as_deref().and_then(|i| ar.base.join(i).ok()) {
                            let (f, _) = get(client, u, FetchKind::AudioInit, 0, 0, t0, None).await;
                            hook(&f);
                            let bad = f.error.clone().map(|e| (f.url.clone(), e));
                            fetches.push(f);
                            if let Some((url, error)) = bad {
                                return Err(LiveError::Segment { url, error });
                            }
                        }
                        audio_init_done = true;
                    }
                    let rel =
                        expand_template(&ar.media, &ar.id, aseg.number, aseg.time, ar.bandwidth);
                    let Ok(url) = ar.base.join(&rel) else {
                        return Err(LiveError::Segment {
                            url: rel,
                            error: "bad URL".into(),
                        });
                    };
                    let fut = get(client, url, FetchKind::Audio, audio_fetched, 0, t0, None);
                    tokio::pin!(fut);
                    let (f, _) = loop {
                        tokio::select! {
                            r = &mut fut => break r,
                            _ = tokio::time::sleep(TICK) => tick!(),
                        }
                    };
                    hook(&f);
                    let (status, url_s, err) = (f.status, f.url.clone(), f.error.clone());
                    fetches.push(f);
                    if status == StatusCode::NOT_FOUND.as_u16() || status == 425 {
                        stats.early_responses += 1;
                        retries += 1;
                        if retries > MAX_EARLY_RETRIES {
                            error = Some(LiveError::NeverAvailable { url: url_s });
                            break;
                        }
                        tokio::time::sleep(TICK).await;
                        continue;
                    }
                    if status != StatusCode::GONE.as_u16() {
                        if let Some(error) = err {
                            return Err(LiveError::Segment { url: url_s, error });
                        }
                        audio_fetched += 1;
                        audio_end_s = Some(aseg.end_s);
                    }
                    retries = 0;
                    audio_next = at.next_after(&aseg);
                    continue;
                }
            }
            let Some(seg) = next else {
                // SegmentTimeline: the next segment is not listed yet.
                tokio::time::sleep(TICK).await;
                idle_ms += TICK.as_secs_f64() * 1000.0;
                continue;
            };
            let wait_ms = seg.available_at_ms - now_ms;
            if wait_ms > 0.0 || head.level_s() * 1000.0 >= cfg.buffer_max_ms {
                let w = if wait_ms > 0.0 {
                    wait_ms.min(TICK.as_secs_f64() * 1000.0)
                } else {
                    TICK.as_secs_f64() * 1000.0
                };
                tokio::time::sleep(Duration::from_secs_f64(w.max(1.0) / 1000.0)).await;
                idle_ms += w;
                continue;
            }
            let index = events.len();
            let ctx = Ctx {
                ladder: &ladder,
                quirks,
                index,
                segments: n_max,
                buffer_ms: head.level_s() * 1000.0,
                buffer_max_ms: cfg.buffer_max_ms,
                last_quality: last_q,
                throughput_kbps: est.throughput(),
                latency_ms: est.latency(),
            };
            let q = if index == 0 {
                abr.first_quality(&ctx)
            } else {
                abr.decide(&ctx).quality
            }
            .min(top);
            let rep = &reps[q];
            if !inits_done[q] {
                if let Some(u) = rep.init.as_deref().and_then(|i| rep.base.join(i).ok()) {
                    let (f, _) = get(client, u, FetchKind::Init, index, q, t0, None).await;
                    hook(&f);
                    let bad = f.error.clone().map(|e| (f.url.clone(), e));
                    fetches.push(f);
                    if let Some((url, error)) = bad {
                        return Err(LiveError::Segment { url, error });
                    }
                }
                inits_done[q] = true;
            }
            let rel = expand_template(&rep.media, &rep.id, seg.number, seg.time, rep.bandwidth);
            let Ok(url) = rep.base.join(&rel) else {
                return Err(LiveError::Segment {
                    url: rel,
                    error: "bad URL".into(),
                });
            };
            let level_before = head.level_s() * 1000.0;
            let request_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let stall_before = head.rebuffer_ms;
            // A segment still being produced (availabilityTimeOffset, chunked CMAF) is played
            // as it arrives: at each chunk, media up to the live edge − (duration − ATO) (the
            // offset at which the template says data exists) is taken as buffered.
            let progress = std::cell::Cell::new(0.0);
            let fut = get(client, url, FetchKind::Media, index, q, t0, Some(&progress));
            tokio::pin!(fut);
            let (f, _) = loop {
                tokio::select! {
                    r = &mut fut => break r,
                    _ = tokio::time::sleep(TICK) => {
                        tick!();
                        if timing.ato_s > 0.0 && progress.get() > 0.0 {
                            let lag = (timing.segment_s() - timing.ato_s).max(0.0);
                            let e = timing.live_edge_s(progress.get() + offset) - lag;
                            head.grow(e.min(seg.end_s), seg.start_s);
                        }
                    }
                }
            };
            tick!();
            hook(&f);
            let status = f.status;
            let (url_s, err) = (f.url.clone(), f.error.clone());
            let (bytes, ttfb, ms) = (f.bytes, f.ttfb_ms, f.ms);
            fetches.push(f);
            if status == StatusCode::NOT_FOUND.as_u16() || status == 425 {
                stats.early_responses += 1;
                retries += 1;
                if retries > MAX_EARLY_RETRIES {
                    error = Some(LiveError::NeverAvailable { url: url_s });
                    break;
                }
                tokio::time::sleep(TICK).await;
                continue;
            }
            if status == StatusCode::GONE.as_u16() {
                let pos = timing.join_position_s(server_now());
                head.seek(pos);
                next = timing.segment_at(pos);
                audio_next = audio_timing.as_ref().and_then(|t| t.segment_at(pos));
                stats.resyncs += 1;
                continue;
            }
            if let Some(error) = err {
                return Err(LiveError::Segment { url: url_s, error });
            }
            retries = 0;
            head.append(&seg);
            let bits = bytes as f64 * 8.0;
            let dl = ms - ttfb;
            let sample = if dl > 0.0 { bits / dl } else { 0.0 };
            if dl > 0.0 {
                est.push(dl, sample, ttfb);
            }
            let d = player_sim::net::Download {
                index,
                quality: q,
                size_bits: bits,
                downloaded_bits: bits,
                time_ms: ms,
                ttfb_ms: ttfb,
                abandon_to: None,
            };
            let after = Ctx {
                index: index + 1,
                buffer_ms: head.level_s() * 1000.0,
                last_quality: q,
                throughput_kbps: est.throughput(),
                latency_ms: est.latency(),
                ..ctx
            };
            abr.report_download(&after, &d);
            events.push(SegmentEvent {
                index,
                quality: q,
                bitrate_kbps: bitrates_kbps[q],
                size_bits: bits,
                downloaded_bits: bits,
                request_ms,
                idle_ms: std::mem::take(&mut idle_ms),
                ttfb_ms: ttfb,
                time_ms: ms,
                buffer_before_ms: level_before,
                buffer_after_ms: head.level_s() * 1000.0,
                rebuffer_ms: head.rebuffer_ms - stall_before,
                throughput_kbps: sample,
                estimate_kbps: est.throughput().unwrap_or(0.0),
                abandoned: false,
                abandon_to: None,
            });
            last_q = q;
            next = timing.next_after(&seg);
        }
        if let Some(e) = error {
            return Err(e);
        }
        stats.latency = timing::summarize(&head.samples);
        stats.catchup_s = head.catchup_s;
        stats.final_latency_s = head.samples.last().copied();
        stats.mean_rate = if head.playing_s > 0.0 {
            head.rate_sum / head.playing_s
        } else {
            1.0
        };
        let playback = Playback {
            trace: opts.label.clone(),
            abr: opts.abr.clone(),
            model: cfg.model,
            segment_ms: seg_ms,
            events,
            startup_ms: head.startup_ms,
            rebuffer_ms: head.rebuffer_ms,
            rebuffer_events: head.rebuffer_events,
            total_play_ms: t0.elapsed().as_secs_f64() * 1000.0,
        };
        Ok((playback, stats, head.pos_s, audio_end_s))
    };
    let (playback, stats, until, audio_until) = match opts.runtime.block_on(run) {
        Ok(r) => r,
        Err(e) => return Err(fail(fetches, e)),
    };
    let metrics = metrics::compute(&playback, &bitrates_kbps, &QoeOptions::default());
    Ok(LivePlayback {
        label: opts.label.clone(),
        mpd_url: mpd_url.to_string(),
        ladder_kbps: bitrates_kbps,
        representation_ids: reps.iter().map(|r| r.id.clone()).collect(),
        audio_representation_id: audio_rep.as_ref().map(|r| r.id.clone()),
        audio_kbps: audio_rep.as_ref().map(|r| r.bandwidth as f64 / 1000.0),
        video_until_s: until,
        audio_until_s: audio_rep.as_ref().map(|_| audio_until.unwrap_or(0.0)),
        playback,
        metrics,
        fetches,
        cmcd: crate::cmcd_out::CmcdMode::Off,
        cmcd_sid: None,
        cmsd_responses: 0,
        cmsd_changes: Default::default(),
        live: Some(stats),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> LiveTiming {
        let m = Mpd::parse(
            r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
 availabilityStartTime="1970-01-01T00:00:00Z" minBufferTime="PT2S" suggestedPresentationDelay="PT6S">
 <Period id="p0" start="PT0S"><AdaptationSet contentType="video">
  <SegmentTemplate timescale="1000" duration="2000" startNumber="0" media="$Number$.m4s"/>
  <Representation id="v" bandwidth="100000"/></AdaptationSet></Period></MPD>"#,
        )
        .unwrap();
        LiveTiming::from_mpd(&m).unwrap()
    }

    #[test]
    fn the_playhead_catches_up_to_the_target_and_stalls_when_the_buffer_runs_out() {
        let t = timing();
        // Joined 2 s late: at wall 1000 s showing 992 s (latency 8 s); every segment is
        // appended the moment it is available (its end has passed).
        let mut h = Head::new(992.0);
        h.append(&t.segment_at(992.0).unwrap());
        let mut now = 1_000_000.0;
        for _ in 0..100 {
            now += 100.0;
            h.buffer_end_s = (t.live_edge_s(now) / 2.0).floor() * 2.0;
            h.advance(0.1, now, &t);
        }
        // 10 s of wall time later: faster than real time all along, back near the target.
        let lat = t.latency_s(now, h.pos_s);
        assert!((lat - 6.0).abs() < 0.3, "latency {lat}");
        assert!(h.catchup_s > 5.0 && h.rate_sum / h.playing_s > 1.1);
        assert_eq!((h.rebuffer_events, h.rebuffer_ms), (0, 0.0));
        // No more data: the playhead stops at the buffer end and the stall is counted;
        // while stalled the rate is 1 and the latency grows with the wall clock.
        for _ in 0..100 {
            now += 100.0;
            h.advance(0.1, now, &t);
        }
        assert!(h.stalled && h.rebuffer_events == 1 && h.pos_s == h.buffer_end_s);
        assert!(h.rebuffer_ms > 0.0 && h.rate == 1.0);
        assert!(*h.samples.last().unwrap() > lat + 3.0);
        // A seek drops the buffer; the next segment resumes playback.
        h.seek(t.join_position_s(now));
        assert_eq!(h.level_s(), 0.0);
        let s = t.segment_at(h.pos_s).unwrap();
        h.append(&s);
        assert!(!h.stalled && h.level_s() > 0.0);
    }

    #[test]
    fn a_growing_segment_starts_playback_and_resumes_past_the_stall_threshold() {
        let t = timing();
        let mut h = Head::new(101.0);
        // Nothing of segment [100, 102) yet, then data up to 100.5: not past the playhead.
        h.grow(100.5, 100.0);
        assert!(!h.started);
        h.grow(101.5, 100.0);
        assert!(h.started && h.pos_s == 101.0 && h.buffer_end_s == 101.5);
        // Play into a stall, then 0.2 s more is not enough to resume, 0.35 s is.
        h.advance(1.0, 108_000.0, &t);
        assert!(h.stalled);
        h.grow(101.7, 100.0);
        assert!(h.stalled);
        h.grow(101.85, 100.0);
        assert!(!h.stalled);
    }
}
