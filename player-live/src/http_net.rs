//! [`HttpNetwork`]: the [`Network`] of a real player — HTTP GETs with reqwest, every response
//! chunk passed through a [`Shaper`], times measured on the wall clock × the clock scale.
//!
//! The player loop ([`player_sim::model::sabre::run_player`]) is synchronous; each HTTP step runs
//! with `Handle::block_on` on the given tokio runtime, so this must be used from a plain
//! thread, not from inside the runtime.
//!
//! With audio in the plan, each video download runs concurrently with the audio segments
//! covering the video segment's time span (and the audio init before the first), through the
//! same shaper, so they contend for the link as in a browser. The ABR sees the video download
//! only: its time and bytes are the throughput sample, and the step returns once both are
//! done (an audio tail outlasting the video is real wall time, not charged to the sample).
//! Every request is recorded as it completes and handed to the fetch hook, if any.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};
use serve::wire::{X_CACHE, X_SERVED_BY};
use tokio::runtime::Handle;

use super::resolve::{MpdPlan, ResolveError};
use super::shaper::Shaper;
use crate::cmcd_out::{self, CmcdMode, CmcdSession, RequestFacts};
use crate::cmsd_abr::{ServerCmsd, Signals};
use crate::error_chain;
use crate::fetch::{CacheStatus, FetchHook, FetchKind, SegmentFetch};
use player_sim::abr::{Download, Progress};
use player_sim::model::sabre::{MIN_PROGRESS_BITS, MIN_PROGRESS_MS};
use player_sim::model::{AbandonFn, Network, Request};

/// Why a request of a live player failed (messages name the URL and the status or the
/// transport error).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request got no (complete) response: refused, timed out, reset.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// A segment URL could not be resolved from the MPD.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An init segment asked of a quality without one.
    #[error("quality {0} has no init segment")]
    NoInit(usize),
    /// The audio init segment asked of an audio Representation without one.
    #[error("the audio has no init segment")]
    NoAudioInit,
    /// A segment failed at the current BaseURL and at the next.
    #[error("GET {url}: {reason} (after a retry at the next BaseURL)")]
    Retried {
        /// The last URL tried.
        url: String,
        /// Its status (`HTTP 404`) or transport error.
        reason: String,
    },
    /// A download after an earlier failure of the same playback (not attempted).
    #[error("earlier failure")]
    EarlierFailure,
    /// The audio beside a video segment failed.
    #[error("fetching audio")]
    Audio(#[source] Box<FetchError>),
    /// The MPD's body is not UTF-8.
    #[error("MPD {0} is not UTF-8")]
    MpdNotUtf8(String),
    /// The MPD request was answered with a non-2xx status.
    #[error("GET {url} (final URL {final_url}): HTTP {status}")]
    MpdStatus {
        /// The URL requested.
        url: String,
        /// The URL that answered (after redirects).
        final_url: String,
        /// The status.
        status: u16,
    },
    /// The MPD's body is longer than [`MAX_MPD_BYTES`] (declared or as received): a hostile
    /// or broken answer, not read further.
    #[error("MPD {url} is larger than {limit} bytes, the most a player reads")]
    MpdTooLarge {
        /// The URL that answered.
        url: String,
        /// [`MAX_MPD_BYTES`].
        limit: u64,
    },
    /// The MPD did not arrive completely within its deadline (wall time; [`MPD_DEADLINE`]
    /// unless the playback's options say otherwise).
    #[error("GET {url}: no complete MPD within {:.1} s", .deadline.as_secs_f64())]
    MpdDeadline {
        /// The URL requested.
        url: String,
        /// The deadline.
        deadline: Duration,
    },
    /// The MPD request got no (complete) response.
    #[error("GET {url}")]
    MpdGet {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
}

/// Most bytes of an MPD a player reads (16 MiB; our MPDs are a few kB, a day of 2 s
/// segments in a SegmentTimeline without `@r` is about 1 MB). A longer body is refused as it
/// arrives, so a hostile origin cannot make the player buffer gigabytes.
pub const MAX_MPD_BYTES: u64 = 16 << 20;

/// Wall time the whole MPD fetch (head and body, through the shaper) may take before the
/// playback fails: an origin that drips an MPD forever must not hang the player.
pub const MPD_DEADLINE: Duration = Duration::from_secs(60);

/// One finished (or abandoned) GET, before it is turned into a [`SegmentFetch`].
struct Outcome {
    status: u16,
    url: Url,
    edge: Option<String>,
    cache: CacheStatus,
    bytes: u64,
    content_length: Option<u64>,
    ms: f64,
    ttfb_ms: f64,
    abandoned: Option<usize>,
    body: Vec<u8>,
    /// A kept body was cut at [`MAX_MPD_BYTES`].
    too_large: bool,
    /// The response's `CMSD-Dynamic` (closest hop), if valid.
    cmsd: Option<ServerCmsd>,
}

impl Outcome {
    fn ok(&self) -> bool {
        StatusCode::from_u16(self.status).is_ok_and(|s| s.is_success())
    }
}

/// Answer of the `X-Served-By` header, or `host:port` of `url`.
pub(crate) fn edge_of(headers: &reqwest::header::HeaderMap, url: &Url) -> Option<String> {
    headers
        .get(X_SERVED_BY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            url.host_str()
                .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(0)))
        })
}

/// Progress callback of [`get`]: `(downloaded_bits, elapsed_ms, ttfb_ms, size_bits)`.
type Check<'c> = dyn FnMut(f64, f64, f64, Option<f64>) -> Option<usize> + 'c;

/// The CMCD of a request and where its response's CMSD goes: the playback's session and
/// signals, and what the player knows at this request.
struct Cmcd<'c> {
    session: &'c CmcdSession,
    signals: &'c Signals,
    facts: RequestFacts,
}

/// One GET through the shaper, with the CMCD of `cmcd` (query or headers) and its response's
/// CMSD recorded in the signals. `check` is polled as chunks arrive (at most every
/// [`MIN_PROGRESS_MS`] and [`MIN_PROGRESS_BITS`]); `Some(q)` drops the response. `keep` keeps
/// the body (the MPD). Times are wall ms × `scale`. The outcome's URL is the final one without
/// the CMCD argument.
async fn get(
    client: &reqwest::Client,
    shaper: &Shaper,
    scale: f64,
    url: Url,
    keep: bool,
    check: &mut Check<'_>,
    cmcd: Cmcd<'_>,
) -> Result<Outcome, reqwest::Error> {
    let ms = move |d: Duration| d.as_secs_f64() * 1000.0 * scale;
    let data = cmcd_out::cmcd_for(cmcd.session, &cmcd.facts);
    let (url, headers) = cmcd_out::attach(cmcd.session.mode, url, &data);
    let t0 = Instant::now();
    let mut resp = client.get(url).headers(headers).send().await?;
    let ttfb_ms = ms(t0.elapsed());
    let status = resp.status().as_u16();
    let final_url = cmcd_out::without_cmcd(resp.url());
    let edge = edge_of(resp.headers(), &final_url);
    let cmsd = ServerCmsd::from_dynamic(
        resp.headers()
            .get(cmcd::CMSD_DYNAMIC)
            .and_then(|v| v.to_str().ok()),
    );
    if let Some(c) = &cmsd {
        let server = edge.clone().unwrap_or_default();
        cmcd.signals.record_cmsd(&server, c.clone());
    }
    let cache = CacheStatus::from_header(resp.headers().get(X_CACHE).and_then(|v| v.to_str().ok()));
    let content_length = resp.content_length();
    let mut out = Outcome {
        status,
        url: final_url,
        edge,
        cache,
        bytes: 0,
        content_length,
        ms: ttfb_ms,
        ttfb_ms,
        abandoned: None,
        body: Vec::new(),
        too_large: false,
        cmsd,
    };
    if !resp.status().is_success() {
        return Ok(out);
    }
    if keep && content_length.is_some_and(|n| n > MAX_MPD_BYTES) {
        out.too_large = true;
        return Ok(out);
    }
    let size_bits = content_length.map(|n| n as f64 * 8.0);
    let (mut last_ms, mut last_bits) = (0.0, 0.0);
    while let Some(chunk) = resp.chunk().await? {
        shaper.take(chunk.len()).await;
        out.bytes += chunk.len() as u64;
        if keep {
            if out.bytes > MAX_MPD_BYTES {
                out.too_large = true;
                break;
            }
            out.body.extend_from_slice(&chunk);
        }
        let bits = out.bytes as f64 * 8.0;
        let now = ms(t0.elapsed());
        let done = size_bits.is_some_and(|s| bits >= s);
        if !done && now - last_ms >= MIN_PROGRESS_MS && bits - last_bits >= MIN_PROGRESS_BITS {
            last_ms = now;
            last_bits = bits;
            if let Some(q) = check(bits, now, ttfb_ms, size_bits) {
                out.abandoned = Some(q);
                break;
            }
        }
    }
    out.ms = ms(t0.elapsed());
    Ok(out)
}

/// The record of one GET (`at_ms`: clock at the request).
fn to_fetch(
    kind: FetchKind,
    index: usize,
    quality: usize,
    url: &Url,
    r: &Result<Outcome, reqwest::Error>,
    at_ms: f64,
) -> SegmentFetch {
    match r {
        Ok(o) => SegmentFetch {
            index,
            quality,
            url: o.url.to_string(),
            requested: url.to_string(),
            edge: o.edge.clone(),
            cache: o.cache.clone(),
            status: o.status,
            bytes: o.bytes,
            ms: o.ms,
            ttfb_ms: o.ttfb_ms,
            abandoned: o.abandoned.is_some(),
            kind,
            at_ms,
            cmsd: o.cmsd.clone(),
            error: if o.too_large {
                Some(format!("MPD larger than {MAX_MPD_BYTES} bytes"))
            } else {
                (!o.ok()).then(|| format!("HTTP {}", o.status))
            },
        },
        Err(e) => SegmentFetch {
            index,
            quality,
            url: url.to_string(),
            requested: url.to_string(),
            edge: url
                .host_str()
                .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(0))),
            cache: CacheStatus::None,
            status: 0,
            bytes: 0,
            ms: 0.0,
            ttfb_ms: 0.0,
            abandoned: false,
            kind,
            at_ms,
            cmsd: None,
            error: Some(error_chain(e)),
        },
    }
}

/// Records every request as it completes (with the player clock at the request) and hands it
/// to the hook.
struct Recorder {
    start: Instant,
    scale: f64,
    label: String,
    hook: Option<FetchHook>,
    fetches: Mutex<Vec<SegmentFetch>>,
}

impl Recorder {
    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0 * self.scale
    }

    fn record(
        &self,
        kind: FetchKind,
        index: usize,
        quality: usize,
        url: &Url,
        r: &Result<Outcome, reqwest::Error>,
    ) {
        let at = self.now_ms() - r.as_ref().map_or(0.0, |o| o.ms);
        let f = to_fetch(kind, index, quality, url, r, at);
        tracing::debug!(
            player = %self.label, kind = ?f.kind, index, quality, url = %f.url, status = f.status,
            bytes = f.bytes, ms = f.ms, edge = ?f.edge, cache = %f.cache, "fetch"
        );
        if let Some(h) = &self.hook {
            h(&f);
        }
        self.fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }
}

/// What one request fetches: its kind, index and quality.
#[derive(Debug, Clone, Copy)]
struct Item {
    kind: FetchKind,
    index: usize,
    quality: usize,
}

/// The borrowed parts of an [`HttpNetwork`] its concurrent fetches share.
struct Fetcher<'n> {
    client: &'n reqwest::Client,
    shaper: &'n Shaper,
    scale: f64,
    plan: &'n MpdPlan,
    rec: &'n Recorder,
    session: &'n CmcdSession,
    signals: &'n Signals,
}

impl Fetcher<'_> {
    /// What the player knows when it requests `it` at `url` (base `base`), for its CMCD.
    /// Consumes the starvation flag on a video request.
    fn facts(&self, base: usize, it: Item, url: &Url) -> RequestFacts {
        let (p, q, i) = (self.plan, it.quality, it.index);
        let audio = p.audio.as_ref();
        let (bitrate, duration_ms, next) = match it.kind {
            FetchKind::Mpd | FetchKind::Time => (None, None, None),
            FetchKind::Init => (p.ladder.bitrates_kbps.get(q).copied(), None, None),
            FetchKind::AudioInit => (audio.map(|a| a.bitrate_kbps), None, None),
            FetchKind::Media => (
                p.ladder.bitrates_kbps.get(q).copied(),
                p.video_spans.get(i).map(|s| (s.1 - s.0) * 1000.0),
                p.media_url(base, q, i + 1).ok(),
            ),
            FetchKind::Audio => (
                audio.map(|a| a.bitrate_kbps),
                audio.and_then(|a| a.span(i)).map(|s| (s.1 - s.0) * 1000.0),
                p.audio_url(base, i + 1).ok(),
            ),
        };
        let mut s = self.signals.lock();
        let starved = it.kind == FetchKind::Media && std::mem::take(&mut s.starved);
        RequestFacts {
            kind: Some(it.kind),
            bitrate_kbps: bitrate,
            duration_ms,
            buffer_ms: s.buffer_ms,
            throughput_kbps: s.throughput_kbps,
            next: next.and_then(|n| cmcd_out::relative(url, &n)),
            startup: !s.started,
            starved,
        }
    }

    fn url(&self, base: usize, it: Item) -> Result<Url, FetchError> {
        let (p, q, i) = (self.plan, it.quality, it.index);
        Ok(match it.kind {
            FetchKind::Init => p.init_url(base, q)?.ok_or(FetchError::NoInit(q))?,
            FetchKind::AudioInit => p.audio_init_url(base)?.ok_or(FetchError::NoAudioInit)?,
            FetchKind::Audio => p.audio_url(base, i)?,
            FetchKind::Media | FetchKind::Mpd | FetchKind::Time => p.media_url(base, q, i)?,
        })
    }

    /// Fetches `it` at base `base`; on a connection error or non-2xx answer, once more at the
    /// next base. Returns the outcome and the base that answered.
    async fn fetch(
        &self,
        base: usize,
        it: Item,
        check: &mut Check<'_>,
    ) -> Result<(Outcome, usize), FetchError> {
        let mut last_err = String::new();
        let mut last_url = String::new();
        let n = self.plan.bases.len();
        for attempt in 0..2 {
            let b = base + attempt;
            let url = self.url(b, it)?;
            let cmcd = Cmcd {
                session: self.session,
                signals: self.signals,
                facts: self.facts(b, it, &url),
            };
            let r = get(
                self.client,
                self.shaper,
                self.scale,
                url.clone(),
                false,
                check,
                cmcd,
            )
            .await;
            self.rec.record(it.kind, it.index, it.quality, &url, &r);
            match r {
                Ok(o) if o.ok() => {
                    if attempt > 0 {
                        tracing::warn!(player = %self.rec.label, from = base % n, to = b % n,
                            "switched BaseURL");
                    }
                    return Ok((o, b % n));
                }
                Ok(o) => last_err = format!("HTTP {}", o.status),
                Err(e) => last_err = error_chain(&e),
            }
            tracing::warn!(player = %self.rec.label, url = %url, error = %last_err, attempt,
                "fetch failed");
            last_url = url.to_string();
        }
        Err(FetchError::Retried {
            url: last_url,
            reason: last_err,
        })
    }

    /// Fetches `items` one after the other (stopping at the first failure); the base in use
    /// afterwards.
    async fn fetch_all(&self, base: usize, items: &[Item]) -> Result<usize, FetchError> {
        let mut base = base;
        for &it in items {
            base = self.fetch(base, it, &mut |_, _, _, _| None).await?.1;
        }
        Ok(base)
    }
}

/// A real network: HTTP through a shaper, on an (optionally accelerated) wall clock.
pub struct HttpNetwork<'a> {
    client: reqwest::Client,
    runtime: Handle,
    shaper: Arc<Shaper>,
    scale: f64,
    plan: &'a MpdPlan,
    base: usize,
    init_done: Vec<bool>,
    audio_init_done: bool,
    audio_next: usize,
    rec: Recorder,
    session: CmcdSession,
    signals: Arc<Signals>,
    /// Network-clock ms the player loop has been told about (downloads, idles, and what
    /// [`Network::take_unaccounted_ms`] handed over).
    accounted_ms: f64,
    /// Content steering ([`crate::resolve::steer`]): when the MPD has `<ContentSteering>`.
    pub steering: Option<crate::resolve::steer::Steering>,
    /// The last video download's rate, bits/s (`_DASH_throughput` of steering requests).
    last_tput_bps: Option<f64>,
    /// The first fatal error (the player loop cannot return one; [`super::play()`] checks it).
    pub error: Option<FetchError>,
}

impl<'a> HttpNetwork<'a> {
    /// A network fetching `plan`'s segments (video, and audio when the plan has it) with
    /// `client` on `runtime`, through `shaper`, with times scaled by `scale` (trace ms per
    /// wall ms). The clock starts now.
    pub fn new(
        client: reqwest::Client,
        runtime: Handle,
        shaper: Arc<Shaper>,
        scale: f64,
        plan: &'a MpdPlan,
        label: impl Into<String>,
    ) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        HttpNetwork {
            client,
            runtime,
            shaper,
            scale,
            plan,
            base: plan.initial_base(),
            steering: plan
                .steering
                .as_ref()
                .map(crate::resolve::steer::Steering::new),
            last_tput_bps: None,
            init_done: vec![false; plan.ladder.levels()],
            audio_init_done: false,
            audio_next: 0,
            rec: Recorder {
                start: Instant::now(),
                scale,
                label: label.into(),
                hook: None,
                fetches: Mutex::new(Vec::new()),
            },
            session: CmcdSession {
                mode: CmcdMode::Off,
                sid: String::new(),
                cid: None,
            },
            signals: Arc::new(Signals::default()),
            accounted_ms: 0.0,
            error: None,
        }
    }

    /// Sends CMCD of `session` with every request and records the responses' CMSD in
    /// `signals` (shared with the ABR, which writes the buffer level and throughput the CMCD
    /// reports). Without this the network sends no CMCD and keeps the CMSD to itself.
    pub fn with_cmcd(mut self, session: CmcdSession, signals: Arc<Signals>) -> Self {
        self.session = session;
        self.signals = signals;
        self
    }

    /// Hands every request, as it completes, to `hook`.
    pub fn with_hook(mut self, hook: Option<FetchHook>) -> Self {
        self.rec.hook = hook;
        self
    }

    /// Index of the BaseURL alternative currently used.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Audio segments fetched so far (they are fetched in order: `0..audio_fetched()`).
    pub fn audio_fetched(&self) -> usize {
        self.audio_next
    }

    /// Every HTTP request made so far, in the order they completed (drained).
    pub fn take_fetches(&mut self) -> Vec<SegmentFetch> {
        std::mem::take(
            self.rec
                .fetches
                .get_mut()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn fetcher(&self) -> Fetcher<'_> {
        Fetcher {
            client: &self.client,
            shaper: &self.shaper,
            scale: self.scale,
            plan: self.plan,
            rec: &self.rec,
            session: &self.session,
            signals: &self.signals,
        }
    }

    fn ensure_init(&mut self, quality: usize) -> Result<(), FetchError> {
        if self.init_done[quality] || self.plan.init_url(0, quality)?.is_none() {
            return Ok(());
        }
        let it = Item {
            kind: FetchKind::Init,
            index: 0,
            quality,
        };
        let f = self.fetcher();
        let base = self.runtime.block_on(f.fetch_all(self.base, &[it]))?;
        self.base = base;
        self.init_done[quality] = true;
        Ok(())
    }

    /// The audio requests to make beside video segment `index`: the audio init the first
    /// time, then the audio segments covering the segment's span not fetched yet.
    fn audio_items(&self, index: usize) -> Result<(Vec<Item>, usize), FetchError> {
        let mut items = Vec::new();
        if self.plan.audio.is_none() {
            return Ok((items, self.audio_next));
        }
        if !self.audio_init_done && self.plan.audio_init_url(0)?.is_some() {
            items.push(Item {
                kind: FetchKind::AudioInit,
                index: 0,
                quality: 0,
            });
        }
        let range = self.plan.audio_until(index, self.audio_next);
        let end = range.end;
        items.extend(range.map(|i| Item {
            kind: FetchKind::Audio,
            index: i,
            quality: 0,
        }));
        Ok((items, end))
    }

    fn failed(&mut self, req: &Request, e: FetchError) -> Download {
        tracing::error!(player = %self.rec.label, error = %error_chain(&e), "playback failed");
        if self.error.is_none() {
            self.error = Some(e);
        }
        Download {
            index: req.index,
            quality: req.quality,
            size_bits: req.size_bits,
            downloaded_bits: req.size_bits,
            time_ms: 1.0,
            ttfb_ms: 0.0,
            abandon_to: None,
        }
    }
}

impl Network for HttpNetwork<'_> {
    fn idle(&mut self, ms: f64) {
        if self.error.is_none() && ms > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ms / self.scale / 1000.0));
        }
        self.accounted_ms += ms.max(0.0);
    }

    fn download(&mut self, req: &Request, abandon: Option<&mut AbandonFn<'_>>) -> Download {
        let d = self.download_segment(req, abandon);
        self.accounted_ms += d.time_ms;
        d
    }

    fn take_unaccounted_ms(&mut self) -> f64 {
        let extra = self.rec.now_ms() - self.accounted_ms;
        if extra > 0.0 {
            self.accounted_ms += extra;
            extra
        } else {
            0.0
        }
    }

    fn now_ms(&self) -> f64 {
        self.rec.now_ms()
    }
}

impl HttpNetwork<'_> {
    /// [`Network::download`]: the init segment if this rung is new, then the video segment
    /// and the audio covering its span, concurrently.
    fn download_segment(&mut self, req: &Request, abandon: Option<&mut AbandonFn<'_>>) -> Download {
        if self.error.is_some() {
            return self.failed(req, FetchError::EarlierFailure);
        }
        self.follow_steering();
        if let Err(e) = self.ensure_init(req.quality) {
            return self.failed(req, e);
        }
        let (audio, audio_end) = match self.audio_items(req.index) {
            Ok(a) => a,
            Err(e) => return self.failed(req, e),
        };
        let mut abandon = abandon;
        let (index, quality, nominal) = (req.index, req.quality, req.size_bits);
        let mut check = |bits: f64, ms: f64, ttfb: f64, size: Option<f64>| -> Option<usize> {
            let cb = abandon.as_mut()?;
            cb(&Progress {
                index,
                quality,
                size_bits: size.unwrap_or(nominal),
                downloaded_bits: bits,
                time_ms: ms,
                ttfb_ms: ttfb,
            })
        };
        let video = Item {
            kind: FetchKind::Media,
            index,
            quality,
        };
        let f = self.fetcher();
        let base = self.base;
        let (v, a) = self.runtime.block_on(async {
            tokio::join!(f.fetch(base, video, &mut check), f.fetch_all(base, &audio))
        });
        match a {
            Ok(b) => {
                if !audio.is_empty() {
                    self.audio_init_done = true;
                    self.audio_next = audio_end;
                    self.base = b;
                }
            }
            Err(e) => return self.failed(req, FetchError::Audio(Box::new(e))),
        }
        match v {
            Ok((o, b)) => {
                self.base = b;
                let got = o.bytes as f64 * 8.0;
                if o.ms > 0.0 && o.abandoned.is_none() {
                    // Trace ms: the rate the player measures on its own clock.
                    self.last_tput_bps = Some(got / (o.ms / 1000.0));
                }
                let size = match (o.abandoned, o.content_length) {
                    (None, _) => got,
                    (Some(_), Some(n)) => n as f64 * 8.0,
                    (Some(_), None) => nominal.max(got),
                };
                Download {
                    index,
                    quality,
                    size_bits: size,
                    downloaded_bits: got,
                    time_ms: o.ms.max(o.ttfb_ms),
                    ttfb_ms: o.ttfb_ms,
                    abandon_to: o.abandoned,
                }
            }
            Err(e) => self.failed(req, e),
        }
    }
}

impl HttpNetwork<'_> {
    /// Asks the steering server when its TTL has run out (player clock) and moves to the
    /// first pathway of its answer that names a BaseURL. Failures keep the current base.
    fn follow_steering(&mut self) {
        let now = self.rec.now_ms();
        let Some(st) = self.steering.as_mut().filter(|s| s.due(now)) else {
            return;
        };
        let current = self.plan.pathways[self.base % self.plan.pathways.len()].clone();
        let answer = self.runtime.block_on(st.ask(
            &self.client,
            now,
            current.as_deref(),
            self.last_tput_bps,
            Duration::from_secs(2),
        ));
        match answer {
            Ok(a) => {
                if let Some(b) =
                    crate::resolve::steer::pick(&a.pathway_priority, &self.plan.pathways)
                {
                    if b != self.base % self.plan.bases.len() {
                        st.switches += 1;
                        tracing::info!(player = %self.rec.label, from = ?current,
                            to = ?self.plan.pathways[b], "content steering: pathway changed");
                        self.base = b;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(player = %self.rec.label, error = %e, "content steering request failed")
            }
        }
    }
}

/// Fetches the MPD at `url` (redirects followed by `client`; the body goes through the
/// shaper; CMCD of `session`, the response's CMSD into `signals`); returns its record and the
/// final URL with the text. Errors name the URL and status.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch_mpd(
    client: &reqwest::Client,
    runtime: &Handle,
    shaper: &Shaper,
    scale: f64,
    url: Url,
    deadline: Duration,
    session: &CmcdSession,
    signals: &Signals,
) -> (SegmentFetch, Result<(Url, String), FetchError>) {
    let cmcd = Cmcd {
        session,
        signals,
        facts: RequestFacts {
            kind: Some(FetchKind::Mpd),
            startup: true,
            ..RequestFacts::default()
        },
    };
    let r = runtime.block_on(async {
        tokio::time::timeout(
            deadline,
            get(
                client,
                shaper,
                scale,
                url.clone(),
                true,
                &mut |_, _, _, _| None,
                cmcd,
            ),
        )
        .await
    });
    let Ok(r) = r else {
        let rec = SegmentFetch {
            index: 0,
            quality: 0,
            url: url.to_string(),
            requested: url.to_string(),
            edge: url
                .host_str()
                .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(0))),
            cache: CacheStatus::None,
            status: 0,
            bytes: 0,
            ms: deadline.as_secs_f64() * 1000.0 * scale,
            ttfb_ms: 0.0,
            abandoned: false,
            kind: FetchKind::Mpd,
            at_ms: 0.0,
            cmsd: None,
            error: Some(format!(
                "no complete MPD within {:.1} s",
                deadline.as_secs_f64()
            )),
        };
        let e = FetchError::MpdDeadline {
            url: url.to_string(),
            deadline,
        };
        return (rec, Err(e));
    };
    let rec = to_fetch(FetchKind::Mpd, 0, 0, &url, &r, 0.0);
    let res = match r {
        Ok(o) if o.too_large => Err(FetchError::MpdTooLarge {
            url: o.url.to_string(),
            limit: MAX_MPD_BYTES,
        }),
        Ok(o) if o.ok() => String::from_utf8(o.body)
            .map(|t| (o.url.clone(), t))
            .map_err(|_| FetchError::MpdNotUtf8(o.url.to_string())),
        Ok(o) => Err(FetchError::MpdStatus {
            url: url.to_string(),
            final_url: o.url.to_string(),
            status: o.status,
        }),
        Err(source) => Err(FetchError::MpdGet {
            url: url.to_string(),
            source,
        }),
    };
    (rec, res)
}
