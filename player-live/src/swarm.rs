//! `swarm`: many concurrent real players through the CDN — the CDN throughput study tool.
//!
//! N players ([`play`](super::play()) each, on its own std thread over one shared tokio runtime
//! and one `reqwest::Client`) arrive over time (Poisson or uniform), each picks a title by
//! Zipf popularity and gets its own network trace (player `i` plays trace `i mod k` from a
//! random start offset), shares one bottleneck [`Shaper`] with every other player, or both: its
//! own trace behind the shared bottleneck ([`Shaper::with_parent`], [`player_shaper`]). Everything
//! random (titles, arrival times, trace offsets) is drawn from `seed` before the run starts, so
//! a seed names one workload ([`plan`]).
//!
//! Before and after the run, the edges' and the origin's Prometheus `/metrics` are scraped
//! ([`super::prom`]); their deltas give per-edge hits/misses/bytes from the servers' own
//! counters, reported beside the same counts derived from the players' `X-Cache` and
//! `X-Served-By` headers ([`SwarmReport`]). Definitions:
//!
//! * **requests / hits / misses / stale / revalidated** of an edge (edge side): deltas of
//!   `dashcdn_edge_{hits,misses,stale,revalidated}_total`; *requests* is their sum — every
//!   response the cache handler produced (`/metrics` and `/healthz` are not counted). Player
//!   side: the player responses whose `X-Served-By` names that edge, by `X-Cache`.
//! * **hit ratio** = hits / requests (STALE and REVALIDATED count as requests, not hits).
//! * **bytes delivered** = Σ over edges of the `dashcdn_edge_sent_bytes_total` delta, minus
//!   the body of our own "before" scrape (which that counter counts after encoding it); the
//!   redirector's `/healthz` probes (3 bytes each) remain. Without edge metrics: the bytes the
//!   players received.
//! * **origin bytes** = the `dashcdn_origin_sent_bytes_total` delta minus our own scrape body.
//! * **origin fraction** = origin bytes / bytes delivered; **origin offload** = 1 − origin
//!   fraction (1 = the origin sent nothing, 0 = every delivered byte came from the origin).
//! * **byte hit ratio (players)** = bytes of `X-Cache: HIT` responses / all bytes received.
//! * **QoE**: per-player [`Metrics`] from the same code as the simulator; the distribution
//!   across players as mean, p10, p50, p90 ([`Stats`]).
//!
//! Edge-side and player-side counts cover the same requests — and agree exactly — whether or
//! not every player finished: a failed [`play`](super::play()) is a [`PlayFailed`] carrying
//! the requests it made (the failing one included, with its status), and those count on the
//! players' side like any other. Failed players are reported with their error
//! ([`PlayerOutcome::error`], grouped in [`SwarmReport::failures`]). Only requests that got no
//! response at all (status 0: refused, timed out) are in no edge's counters; they are the
//! `(none)` row.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::prom::Exposition;
use super::{play, CacheStatus, Entry, FetchKind, LivePlayback, PlayFailed, PlayOptions, Shaper};
use player_sim::input::{Period, Trace, TraceData};
use player_sim::metrics::Metrics;
use player_sim::session::SessionConfig;
use player_sim::study::Stats;

/// The placeholder replaced by the title in the entry URL or DNS path.
pub const TITLE_PLACEHOLDER: &str = "{title}";

pub use player_sim::rng::SplitMix64;

/// Zipf popularity over `n` ranked titles: P(rank k) ∝ 1 / k^s (k = 1..n; s = 0 is uniform).
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n ≥ 1` titles with exponent `s ≥ 0`.
    pub fn new(n: usize, s: f64) -> anyhow::Result<Zipf> {
        anyhow::ensure!(n >= 1, "Zipf needs at least one title");
        anyhow::ensure!(
            s.is_finite() && s >= 0.0,
            "Zipf exponent must be a finite number >= 0, got {s}"
        );
        let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cdf = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        Ok(Zipf { cdf })
    }
    /// P(rank index `k`), 0-based.
    pub fn probability(&self, k: usize) -> f64 {
        self.cdf[k] - if k == 0 { 0.0 } else { self.cdf[k - 1] }
    }
    /// Draws a 0-based rank index.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|c| *c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// How players arrive (times in session seconds: divided by the clock scale on the wall).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// A Poisson process: exponential gaps with mean `1 / rate_per_s`, the first after one gap.
    Poisson {
        /// Mean arrivals per second.
        rate_per_s: f64,
    },
    /// Independent uniform times in `[0, window_s)`, sorted.
    Uniform {
        /// Window length, s.
        window_s: f64,
    },
}

impl Arrival {
    /// `n` arrival times in ascending order, drawn from `rng`.
    pub fn schedule(&self, n: usize, rng: &mut SplitMix64) -> Vec<f64> {
        match *self {
            Arrival::Poisson { rate_per_s } => {
                let mut t = 0.0;
                (0..n)
                    .map(|_| {
                        t += -(1.0 - rng.next_f64()).ln() / rate_per_s;
                        t
                    })
                    .collect()
            }
            Arrival::Uniform { window_s } => {
                let mut v: Vec<f64> = (0..n).map(|_| rng.next_f64() * window_s).collect();
                v.sort_by(f64::total_cmp);
                v
            }
        }
    }
    fn validate(&self) -> anyhow::Result<()> {
        match *self {
            Arrival::Poisson { rate_per_s } => anyhow::ensure!(
                rate_per_s.is_finite() && rate_per_s > 0.0,
                "arrival rate must be > 0, got {rate_per_s}"
            ),
            Arrival::Uniform { window_s } => anyhow::ensure!(
                window_s.is_finite() && window_s >= 0.0,
                "arrival window must be >= 0, got {window_s}"
            ),
        }
        Ok(())
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// Where players start, with [`TITLE_PLACEHOLDER`] in the URL (or DNS name and path)
    /// replaced by each player's title, e.g. `http://127.0.0.1:8053/{title}/manifest.mpd`
    /// ([`entry_for`]).
    pub entry: Entry,
    /// Titles, most popular first (Zipf rank 1 = the first).
    pub titles: Vec<String>,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Number of players.
    pub players: usize,
    /// Arrival process.
    pub arrival: Arrival,
    /// Per-player traces (player `i` gets trace `i mod k`); empty: no per-player shaping.
    pub traces: Vec<Trace>,
    /// Start each player's trace at a random offset (seeded) rather than at 0.
    pub random_offset: bool,
    /// One bottleneck shared by every player, kbps. With [`traces`](Self::traces) too, each
    /// player's own trace shaper sits behind it ([`Shaper::with_parent`]): a player gets at
    /// most its trace's rate and at most its share of the bottleneck.
    pub shared_bottleneck_kbps: Option<f64>,
    /// Clock scale (session seconds per wall second; 1 = real time).
    pub clock_scale: f64,
    /// Segments each player plays (`None`: the whole title).
    pub segments: Option<usize>,
    /// Players fetch the audio beside the video ([`PlayOptions::audio`]).
    pub audio: bool,
    /// ABR algorithm of every player.
    pub abr: String,
    /// Player session settings (buffer, startup, estimator, abandonment…).
    pub session: SessionConfig,
    /// Workload seed.
    pub seed: u64,
    /// Edge `/metrics` URLs to scrape before and after (a base URL gets `/metrics` appended).
    pub edge_metrics: Vec<String>,
    /// Origin `/metrics` URL.
    pub origin_metrics: Option<String>,
    /// At most this many players at once (later arrivals wait for a slot; the wait is
    /// reported per player).
    pub max_concurrent: usize,
    /// Progress bar on stderr.
    pub progress: bool,
    /// Log dispatcher of the player threads (e.g. a subscriber filtered at `warn`, so that
    /// each playback's info lines do not drown the report); `None`: the global one.
    pub player_log: Option<tracing::Dispatch>,
}

/// One player of the workload, as drawn from the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedPlayer {
    /// 0-based player id (in arrival order).
    pub id: usize,
    /// Title.
    pub title: String,
    /// 0-based popularity rank of the title.
    pub rank: usize,
    /// Arrival time, session s.
    pub arrival_s: f64,
    /// Index into [`SwarmConfig::traces`].
    pub trace: Option<usize>,
    /// Start offset into the trace, s.
    pub trace_offset_s: f64,
}

/// Draws the workload: titles (Zipf), arrival times, trace assignment and offsets. A pure
/// function of the config; each kind of draw has its own stream, so e.g. changing the number
/// of traces does not change titles or arrivals.
pub fn plan(cfg: &SwarmConfig) -> anyhow::Result<Vec<PlannedPlayer>> {
    anyhow::ensure!(!cfg.titles.is_empty(), "no titles");
    cfg.arrival.validate()?;
    let zipf = Zipf::new(cfg.titles.len(), cfg.zipf_s)?;
    let mut titles = SplitMix64::new(cfg.seed ^ 0x7469_746c_6573);
    let mut arrivals = SplitMix64::new(cfg.seed ^ 0x6172_7269_7665);
    let mut offsets = SplitMix64::new(cfg.seed ^ 0x6f66_6673_6574);
    let times = cfg.arrival.schedule(cfg.players, &mut arrivals);
    Ok(times
        .into_iter()
        .enumerate()
        .map(|(id, arrival_s)| {
            let rank = zipf.sample(&mut titles);
            let trace = (!cfg.traces.is_empty()).then(|| id % cfg.traces.len());
            let u = offsets.next_f64();
            let trace_offset_s = match trace {
                Some(t) if cfg.random_offset => u * trace_duration_s(&cfg.traces[t]),
                _ => 0.0,
            };
            PlannedPlayer {
                id,
                title: cfg.titles[rank].clone(),
                rank,
                arrival_s,
                trace,
                trace_offset_s,
            }
        })
        .collect())
}

fn trace_duration_s(t: &Trace) -> f64 {
    t.to_periods(0.0).iter().map(|p| p.duration_ms).sum::<f64>() / 1000.0
}

/// `trace` started `offset_s` in (it loops, so the part before the offset moves to the end).
pub fn rotate_trace(trace: &Trace, offset_s: f64) -> Trace {
    if offset_s <= 0.0 {
        return trace.clone();
    }
    let periods = trace.to_periods(0.0);
    let total: f64 = periods.iter().map(|p| p.duration_ms).sum();
    if total <= 0.0 {
        return trace.clone();
    }
    let mut off = (offset_s * 1000.0) % total;
    let mut head = Vec::new();
    let mut tail = Vec::new();
    for p in periods {
        if off <= 0.0 {
            head.push(p);
        } else if p.duration_ms <= off {
            off -= p.duration_ms;
            tail.push(p);
        } else {
            tail.push(Period {
                duration_ms: off,
                ..p
            });
            head.push(Period {
                duration_ms: p.duration_ms - off,
                ..p
            });
            off = 0.0;
        }
    }
    head.extend(tail);
    // Latency of cooked/Mahimahi traces is 0 here, as in `to_periods(0.0)`.
    Trace {
        name: format!("{}@{:.1}s", trace.name, offset_s),
        data: TraceData::Periods(head),
    }
}

/// A constant-rate trace (the shared bottleneck).
pub fn constant_trace(kbps: f64) -> Trace {
    Trace {
        name: format!("shared-{kbps}kbps"),
        data: TraceData::Periods(vec![Period {
            duration_ms: 3_600_000.0,
            bandwidth_kbps: kbps,
            latency_ms: 0.0,
        }]),
    }
}

/// The entry of one title: [`TITLE_PLACEHOLDER`] replaced in the URL, or in the DNS name and
/// path.
///
/// DNS: the redirector answers by *name* (the service whose `dns_name` is, or is the closest
/// zone of, the query) and hashes by the client's subnet, not by content — so one name sends
/// every title of a client to one edge. A per-title name (`{title}.titles.example.test`) is
/// answered only if the topology has a `[[services]]` entry with that `dns_name` for every
/// title (its `edges` decide where the title goes; a name inside another service's zone that
/// is listed earlier is answered — NXDOMAIN — by that one).
pub fn entry_for(template: &Entry, title: &str) -> Entry {
    match template {
        Entry::Url(u) => Entry::Url(u.replace(TITLE_PLACEHOLDER, title)),
        Entry::Dns {
            server,
            name,
            port,
            path,
        } => Entry::Dns {
            server: *server,
            name: name.replace(TITLE_PLACEHOLDER, title),
            port: *port,
            path: path.replace(TITLE_PLACEHOLDER, title),
        },
    }
}

/// A scraped `/metrics`.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The URL scraped.
    pub url: String,
    /// `X-Served-By` of the response (the edge's id).
    pub served_by: Option<String>,
    /// Body length (our scrape's own bytes, counted by the server's sent-bytes counter).
    pub body_bytes: u64,
    /// Parsed samples.
    pub exposition: Exposition,
}

/// `url` with `/metrics` appended when it has no path.
pub fn metrics_url(url: &str) -> String {
    let u = url.trim_end_matches('/');
    let after_scheme = u.split_once("://").map_or(u, |(_, r)| r);
    if after_scheme.contains('/') {
        u.to_string()
    } else {
        format!("{u}/metrics")
    }
}

/// GETs and parses one `/metrics`.
pub async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let res = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("scraping {url}"))?;
    anyhow::ensure!(
        res.status().is_success(),
        "scraping {url}: HTTP {}",
        res.status()
    );
    let served_by = res
        .headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = res
        .text()
        .await
        .with_context(|| format!("scraping {url}"))?;
    let exposition = Exposition::parse(&text).with_context(|| format!("parsing {url}"))?;
    Ok(Scrape {
        url: url.to_string(),
        served_by,
        body_bytes: text.len() as u64,
        exposition,
    })
}

/// Cache outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CacheCounts {
    /// HIT + MISS + STALE + REVALIDATED (+ other values on the player side).
    pub requests: u64,
    /// `HIT`.
    pub hits: u64,
    /// `MISS`.
    pub misses: u64,
    /// `STALE`.
    pub stale: u64,
    /// `REVALIDATED`.
    pub revalidated: u64,
    /// Any other `X-Cache` value, or none (player side only).
    pub other: u64,
    /// hits / requests (0 without requests).
    pub hit_ratio: f64,
}

impl CacheCounts {
    fn add(&mut self, s: &CacheStatus) {
        match s {
            CacheStatus::Hit => self.hits += 1,
            CacheStatus::Miss => self.misses += 1,
            CacheStatus::Stale => self.stale += 1,
            CacheStatus::Other(v) if v.eq_ignore_ascii_case("REVALIDATED") => self.revalidated += 1,
            _ => self.other += 1,
        }
        self.finish();
    }
    fn finish(&mut self) {
        self.requests = self.hits + self.misses + self.stale + self.revalidated + self.other;
        self.hit_ratio = if self.requests > 0 {
            self.hits as f64 / self.requests as f64
        } else {
            0.0
        };
    }
}

/// One edge's row: its own counters beside the players' view of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeRow {
    /// Edge id (`X-Served-By`).
    pub edge: String,
    /// The `/metrics` URL scraped, if any.
    pub metrics_url: Option<String>,
    /// From the edge's `/metrics` deltas (absent without a scrape of this edge).
    pub edge_counts: Option<CacheCounts>,
    /// From the players' `X-Cache` headers on responses with this `X-Served-By`.
    pub player_counts: CacheCounts,
    /// Bytes the players received from this edge.
    pub player_bytes: u64,
    /// Edge sent-bytes delta (less our scrape), if scraped.
    pub edge_sent_bytes: Option<u64>,
    /// Edge upstream body bytes delta, if scraped.
    pub edge_upstream_bytes: Option<u64>,
    /// Edge upstream requests delta, if scraped.
    pub edge_upstream_requests: Option<u64>,
    /// Edge coalesced waiters delta, if scraped.
    pub edge_coalesced: Option<u64>,
}

impl EdgeRow {
    /// A row for `edge` with no counts yet (filled in from the scrapes and the players).
    fn empty(edge: String, metrics_url: Option<String>) -> EdgeRow {
        EdgeRow {
            edge,
            metrics_url,
            edge_counts: None,
            player_counts: CacheCounts::default(),
            player_bytes: 0,
            edge_sent_bytes: None,
            edge_upstream_bytes: None,
            edge_upstream_requests: None,
            edge_coalesced: None,
        }
    }
}

/// One title's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TitleRow {
    /// Title.
    pub title: String,
    /// 1-based popularity rank.
    pub rank: usize,
    /// Zipf probability.
    pub zipf_p: f64,
    /// Players that chose it.
    pub players: usize,
    /// Their responses by `X-Cache`.
    pub counts: CacheCounts,
    /// Bytes they received.
    pub bytes: u64,
}

/// Totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Players' responses by `X-Cache` (all edges).
    pub player_counts: CacheCounts,
    /// Edges' counters summed over scraped edges.
    pub edge_counts: Option<CacheCounts>,
    /// Bytes the players received.
    pub player_bytes: u64,
    /// Bytes of `X-Cache: HIT` responses / all bytes the players received.
    pub byte_hit_ratio_players: f64,
    /// Bytes delivered: Σ edge sent-bytes deltas (less scrapes) when every edge was scraped,
    /// else the players' bytes.
    pub bytes_delivered: u64,
    /// Where `bytes_delivered` comes from: `edges` or `players`.
    pub bytes_delivered_source: String,
    /// Origin sent-bytes delta (less our scrape), if scraped.
    pub origin_bytes: Option<u64>,
    /// Origin GET requests delta, if scraped.
    pub origin_requests: Option<u64>,
    /// origin bytes / bytes delivered.
    pub origin_fraction: Option<f64>,
    /// 1 − origin fraction.
    pub origin_offload: Option<f64>,
    /// The players' requests by kind (`mpd`, `init`, `media`, `audio_init`, `audio`).
    pub requests_by_kind: BTreeMap<String, u64>,
}

/// QoE distribution across the players that finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QoeSummary {
    /// Players summarised.
    pub players: usize,
    /// QoE_lin.
    pub qoe_lin: Stats,
    /// Startup delay, s.
    pub startup_s: Stats,
    /// Rebuffer ratio.
    pub rebuffer_ratio: Stats,
    /// Rebuffer time, s.
    pub rebuffer_s: Stats,
    /// Mean segment bitrate, kbps.
    pub bitrate_kbps: Stats,
    /// Switches.
    pub switches: Stats,
}

/// One player's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerOutcome {
    /// The plan.
    #[serde(flatten)]
    pub planned: PlannedPlayer,
    /// Trace name (after rotation), if shaped by a per-player trace.
    pub trace_name: Option<String>,
    /// Wall seconds from the swarm start to this player's start.
    pub started_wall_s: f64,
    /// Wall seconds spent waiting for a concurrency slot.
    pub slot_wait_s: f64,
    /// Wall seconds the playback took.
    pub wall_s: f64,
    /// The error, if the player failed.
    pub error: Option<String>,
    /// Metrics, if it finished.
    pub metrics: Option<Metrics>,
    /// Its MPD URL after redirects.
    pub mpd_url: Option<String>,
    /// Every request it made (a failed player's too, up to and including the failing one).
    #[serde(skip)]
    pub fetches: Vec<super::SegmentFetch>,
}

/// Player-side hit ratio of one edge (or `all`) in one time bucket: the cache warming up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Edge id, or `all`.
    pub edge: String,
    /// Bucket start, session s from the swarm start.
    pub t_s: f64,
    /// Responses in the bucket.
    pub requests: u64,
    /// `X-Cache: HIT` among them.
    pub hits: u64,
    /// hits / requests.
    pub hit_ratio: f64,
}

/// Run description (echoed in the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Entry (template).
    pub entry: String,
    /// Titles, by rank.
    pub titles: Vec<String>,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Players.
    pub players: usize,
    /// Arrival process.
    pub arrival: Arrival,
    /// Trace names (empty: none).
    pub traces: Vec<String>,
    /// Shared bottleneck, kbps.
    pub shared_bottleneck_kbps: Option<f64>,
    /// Clock scale.
    pub clock_scale: f64,
    /// Segments per player.
    pub segments: Option<usize>,
    /// Audio fetched beside the video.
    pub audio: bool,
    /// ABR.
    pub abr: String,
    /// Seed.
    pub seed: u64,
    /// Concurrency cap.
    pub max_concurrent: usize,
    /// Wall-clock duration of the run, s.
    pub wall_s: f64,
    /// Most players playing at once.
    pub peak_concurrent: usize,
}

/// The swarm report (`swarm.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SwarmReport {
    /// What ran.
    pub run: RunInfo,
    /// Players that finished.
    pub players_ok: usize,
    /// Players that failed (their errors are in `players`).
    pub players_failed: usize,
    /// Why players failed: distinct errors (the player's label removed) with how many players
    /// hit each, most frequent first.
    pub failures: Vec<FailureRow>,
    /// Per edge, by id.
    pub edges: Vec<EdgeRow>,
    /// Per title, by rank.
    pub titles: Vec<TitleRow>,
    /// Totals and origin offload.
    pub totals: Totals,
    /// QoE distribution.
    pub qoe: QoeSummary,
    /// Bucket width of `timeline`, session s.
    pub timeline_bucket_s: f64,
    /// Hit ratio over time (players' view; each response placed at its request time).
    pub timeline: Vec<TimelinePoint>,
    /// Per player.
    pub players: Vec<PlayerOutcome>,
}

/// Players that failed with one error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureRow {
    /// The error (without the `player <label>: ` prefix).
    pub error: String,
    /// Players that failed with it.
    pub players: usize,
}

/// Groups the failed players by error, most frequent first (ties by error text).
fn failures(players: &[PlayerOutcome]) -> Vec<FailureRow> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for p in players {
        if let Some(e) = &p.error {
            let label = format!("player p{}-{}: ", p.planned.id, p.planned.title);
            *m.entry(e.strip_prefix(&label).unwrap_or(e).to_string())
                .or_default() += 1;
        }
    }
    let mut v: Vec<FailureRow> = m
        .into_iter()
        .map(|(error, players)| FailureRow { error, players })
        .collect();
    v.sort_by(|a, b| {
        b.players
            .cmp(&a.players)
            .then_with(|| a.error.cmp(&b.error))
    });
    v
}

/// The shaper of one player: its own trace (rotated to its offset) behind the shared
/// bottleneck when there are both ([`Shaper::with_parent`]), either one alone, or unlimited;
/// with the trace's name. The own trace's clock starts now.
pub fn player_shaper(
    cfg: &SwarmConfig,
    p: &PlannedPlayer,
    shared: Option<&Arc<Shaper>>,
) -> anyhow::Result<(Arc<Shaper>, Option<String>)> {
    Ok(match (shared, p.trace) {
        (_, Some(t)) => {
            let tr = rotate_trace(&cfg.traces[t], p.trace_offset_s);
            let name = tr.name.clone();
            let mut shaper = Shaper::try_from_trace(&tr, cfg.clock_scale)?;
            if let Some(s) = shared {
                shaper = shaper.with_parent(s.clone());
            }
            (Arc::new(shaper), Some(name))
        }
        (Some(s), None) => (s.clone(), None),
        (None, None) => (Arc::new(Shaper::unlimited()), None),
    })
}

/// Counting semaphore for the concurrency cap (std threads, no runtime needed).
struct Slots {
    state: Mutex<(usize, usize)>, // (in use, peak)
    cv: Condvar,
    max: usize,
}

impl Slots {
    fn acquire(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while s.0 >= self.max {
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.0 += 1;
        s.1 = s.1.max(s.0);
    }
    fn release(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 -= 1;
        self.cv.notify_one();
    }
}

/// Runs the swarm: scrapes, plays every player at its arrival time, scrapes again, reports.
/// Individual player failures are reported, not fatal; a failing "before" scrape is fatal
/// (deltas would be meaningless), a failing "after" scrape drops that server's columns.
pub fn run(
    cfg: &SwarmConfig,
    runtime: &tokio::runtime::Handle,
    client: &reqwest::Client,
) -> anyhow::Result<SwarmReport> {
    anyhow::ensure!(cfg.players > 0, "no players");
    anyhow::ensure!(
        cfg.clock_scale.is_finite() && cfg.clock_scale > 0.0,
        "clock scale must be > 0"
    );
    anyhow::ensure!(cfg.max_concurrent > 0, "max concurrent must be > 0");
    let planned = plan(cfg)?;
    let edge_urls: Vec<String> = cfg.edge_metrics.iter().map(|u| metrics_url(u)).collect();
    let origin_url = cfg.origin_metrics.as_deref().map(metrics_url);

    let scrape_all = |urls: &[String]| -> Vec<anyhow::Result<Scrape>> {
        runtime.block_on(async {
            let mut out = Vec::new();
            for u in urls {
                out.push(scrape(client, u).await);
            }
            out
        })
    };
    let before_edges: Vec<Scrape> = scrape_all(&edge_urls)
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let before_origin = match &origin_url {
        Some(u) => Some(scrape_all(std::slice::from_ref(u)).remove(0)?),
        None => None,
    };

    let shared = cfg
        .shared_bottleneck_kbps
        .map(|k| Shaper::try_from_trace(&constant_trace(k), cfg.clock_scale).map(Arc::new))
        .transpose()?;
    for t in &cfg.traces {
        Shaper::try_from_trace(t, cfg.clock_scale)?;
    }
    let bar = if cfg.progress {
        let b = indicatif::ProgressBar::new(cfg.players as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} players done {elapsed_precise} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let slots = Arc::new(Slots {
        state: Mutex::new((0, 0)),
        cv: Condvar::new(),
        max: cfg.max_concurrent,
    });
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    tracing::info!(
        players = cfg.players,
        titles = cfg.titles.len(),
        arrival = ?cfg.arrival,
        speed = cfg.clock_scale,
        "swarm starting"
    );
    let mut handles = Vec::with_capacity(planned.len());
    for p in &planned {
        let due = Duration::from_secs_f64(p.arrival_s / cfg.clock_scale);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let t_slot = Instant::now();
        slots.acquire();
        let slot_wait_s = t_slot.elapsed().as_secs_f64();
        // Created at the player's start: its own trace clock starts with it.
        let (shaper, trace_name) = player_shaper(cfg, p, shared.as_ref())?;
        let opts = PlayOptions {
            entry: entry_for(&cfg.entry, &p.title),
            abr: cfg.abr.clone(),
            session: SessionConfig {
                segments: cfg.segments.or(cfg.session.segments),
                ..cfg.session.clone()
            },
            shaper,
            clock_scale: cfg.clock_scale,
            client: client.clone(),
            runtime: runtime.clone(),
            label: format!("p{}-{}", p.id, p.title),
            segments: cfg.segments,
            audio: cfg.audio,
            on_fetch: None,
        };
        let planned = p.clone();
        let slots2 = slots.clone();
        let bar2 = bar.clone();
        let failed2 = failed.clone();
        let player_log = cfg.player_log.clone();
        let started_wall_s = start.elapsed().as_secs_f64();
        let h = std::thread::Builder::new()
            .name(format!("player-{}", p.id))
            .spawn(move || {
                let _log = player_log.map(|d| tracing::dispatcher::set_default(&d));
                let t0 = Instant::now();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| play(&opts)));
                let wall_s = t0.elapsed().as_secs_f64();
                slots2.release();
                // A failed playback still carries the requests it made (PlayFailed).
                let r: Result<LivePlayback, (String, Vec<super::SegmentFetch>)> = match r {
                    Ok(Ok(lp)) => Ok(lp),
                    Ok(Err(e)) => {
                        let fetches = e
                            .downcast_ref::<PlayFailed>()
                            .map(|f| f.fetches.clone())
                            .unwrap_or_default();
                        Err((format!("{e:#}"), fetches))
                    }
                    Err(_) => Err(("player panicked".to_string(), Vec::new())),
                };
                if let Err((e, _)) = &r {
                    failed2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(player = planned.id, title = %planned.title, error = %e, "player failed");
                }
                bar2.inc(1);
                bar2.set_message(format!(
                    "{} failed",
                    failed2.load(std::sync::atomic::Ordering::Relaxed)
                ));
                let (error, metrics, mpd_url, fetches) = match r {
                    Ok(lp) => (None, Some(lp.metrics), Some(lp.mpd_url), lp.fetches),
                    Err((e, fetches)) => (Some(e), None, None, fetches),
                };
                PlayerOutcome {
                    planned,
                    trace_name,
                    started_wall_s,
                    slot_wait_s,
                    wall_s,
                    error,
                    metrics,
                    mpd_url,
                    fetches,
                }
            })
            .context("spawning a player thread")?;
        handles.push(h);
    }
    let mut players = Vec::with_capacity(handles.len());
    for (h, p) in handles.into_iter().zip(&planned) {
        players.push(h.join().unwrap_or_else(|_| PlayerOutcome {
            planned: p.clone(),
            trace_name: None,
            started_wall_s: 0.0,
            slot_wait_s: 0.0,
            wall_s: 0.0,
            error: Some("player thread panicked".into()),
            metrics: None,
            mpd_url: None,
            fetches: Vec::new(),
        }));
    }
    bar.finish_and_clear();
    let wall_s = start.elapsed().as_secs_f64();
    let peak = slots.state.lock().unwrap_or_else(|e| e.into_inner()).1;

    let after_edges = scrape_all(&edge_urls);
    let after_origin = origin_url
        .as_ref()
        .map(|u| scrape_all(std::slice::from_ref(u)).remove(0));
    let edge_deltas: Vec<(Scrape, Option<Scrape>)> = before_edges
        .into_iter()
        .zip(after_edges)
        .map(|(b, a)| {
            let a = a
                .map_err(|e| tracing::warn!(error = %format!("{e:#}"), "after-run scrape failed"))
                .ok();
            (b, a)
        })
        .collect();
    let origin_delta = before_origin.map(|b| {
        let a = after_origin.and_then(|r| {
            r.map_err(
                |e| tracing::warn!(error = %format!("{e:#}"), "after-run origin scrape failed"),
            )
            .ok()
        });
        (b, a)
    });
    let info = RunInfo {
        entry: cfg.entry.to_string(),
        titles: cfg.titles.clone(),
        zipf_s: cfg.zipf_s,
        players: cfg.players,
        arrival: cfg.arrival,
        traces: cfg.traces.iter().map(|t| t.name.clone()).collect(),
        shared_bottleneck_kbps: cfg.shared_bottleneck_kbps,
        clock_scale: cfg.clock_scale,
        segments: cfg.segments,
        audio: cfg.audio,
        abr: cfg.abr.clone(),
        seed: cfg.seed,
        max_concurrent: cfg.max_concurrent,
        wall_s,
        peak_concurrent: peak,
    };
    Ok(report(
        info,
        cfg,
        players,
        &edge_deltas,
        origin_delta.as_ref(),
    ))
}

fn delta(b: &Scrape, a: &Scrape, name: &str) -> u64 {
    let v = a.exposition.sum(name, &[]) - b.exposition.sum(name, &[]);
    v.max(0.0).round() as u64
}

/// Builds the report from the players' outcomes and the scrapes (before, after).
pub fn report(
    run: RunInfo,
    cfg: &SwarmConfig,
    players: Vec<PlayerOutcome>,
    edges: &[(Scrape, Option<Scrape>)],
    origin: Option<&(Scrape, Option<Scrape>)>,
) -> SwarmReport {
    use manifests::metric_names::{edge, origin};
    let zipf = Zipf::new(cfg.titles.len(), cfg.zipf_s).ok();
    // Player side, by edge and by title.
    let mut by_edge: BTreeMap<String, (CacheCounts, u64)> = BTreeMap::new();
    let mut by_title: BTreeMap<usize, TitleRow> = BTreeMap::new();
    for (rank, t) in cfg.titles.iter().enumerate() {
        by_title.insert(
            rank,
            TitleRow {
                title: t.clone(),
                rank: rank + 1,
                zipf_p: zipf.as_ref().map_or(0.0, |z| z.probability(rank)),
                players: 0,
                counts: CacheCounts::default(),
                bytes: 0,
            },
        );
    }
    let mut totals_players = CacheCounts::default();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let (mut player_bytes, mut hit_bytes) = (0u64, 0u64);
    for p in &players {
        let row = by_title.get_mut(&p.planned.rank);
        if let Some(row) = row {
            row.players += 1;
            for f in &p.fetches {
                row.counts.add(&f.cache);
                row.bytes += f.bytes;
            }
        }
        for f in &p.fetches {
            let e = by_edge
                .entry(f.edge.clone().unwrap_or_else(|| "(none)".into()))
                .or_default();
            e.0.add(&f.cache);
            e.1 += f.bytes;
            totals_players.add(&f.cache);
            *by_kind.entry(f.kind.as_str().to_string()).or_default() += 1;
            player_bytes += f.bytes;
            if matches!(f.cache, CacheStatus::Hit) {
                hit_bytes += f.bytes;
            }
        }
    }
    // Edge side.
    let mut rows: BTreeMap<String, EdgeRow> = BTreeMap::new();
    let mut edge_total = CacheCounts::default();
    let mut edge_sent_total = 0u64;
    let mut all_scraped = !edges.is_empty();
    for (b, a) in edges {
        let id = b
            .served_by
            .clone()
            .unwrap_or_else(|| b.url.trim_end_matches("/metrics").to_string());
        let mut row = EdgeRow::empty(id.clone(), Some(b.url.clone()));
        if let Some(a) = a {
            let mut c = CacheCounts {
                hits: delta(b, a, edge::HITS_TOTAL_NAME),
                misses: delta(b, a, edge::MISSES_TOTAL_NAME),
                stale: delta(b, a, edge::STALE_TOTAL_NAME),
                revalidated: delta(b, a, edge::REVALIDATED_TOTAL_NAME),
                ..CacheCounts::default()
            };
            c.finish();
            edge_total.hits += c.hits;
            edge_total.misses += c.misses;
            edge_total.stale += c.stale;
            edge_total.revalidated += c.revalidated;
            row.edge_counts = Some(c);
            let sent = delta(b, a, edge::SENT_BYTES_TOTAL_NAME).saturating_sub(b.body_bytes);
            edge_sent_total += sent;
            row.edge_sent_bytes = Some(sent);
            row.edge_upstream_bytes = Some(delta(b, a, edge::UPSTREAM_BYTES_TOTAL_NAME));
            row.edge_upstream_requests = Some(delta(b, a, edge::UPSTREAM_REQUESTS_TOTAL_NAME));
            row.edge_coalesced = Some(delta(b, a, edge::COALESCED_TOTAL_NAME));
        } else {
            all_scraped = false;
        }
        rows.insert(id, row);
    }
    edge_total.finish();
    for (id, (c, bytes)) in by_edge {
        let row = rows
            .entry(id.clone())
            .or_insert_with(|| EdgeRow::empty(id, None));
        row.player_counts = c;
        row.player_bytes = bytes;
    }
    // Bytes delivered cover every edge the players used only if each of those was scraped.
    let covered = all_scraped && rows.values().all(|r| r.edge_sent_bytes.is_some());
    let (bytes_delivered, source) = if covered {
        (edge_sent_total, "edges")
    } else {
        (player_bytes, "players")
    };
    let (origin_bytes, origin_requests) = match origin {
        Some((b, Some(a))) => {
            let gets = (a
                .exposition
                .sum(origin::REQUESTS_TOTAL_NAME, &[("method", "GET")])
                - b.exposition
                    .sum(origin::REQUESTS_TOTAL_NAME, &[("method", "GET")]))
            .max(0.0) as u64;
            (
                Some(delta(b, a, origin::SENT_BYTES_TOTAL_NAME).saturating_sub(b.body_bytes)),
                // Our own before-scrape GET is counted in the delta.
                Some(gets.saturating_sub(1)),
            )
        }
        _ => (None, None),
    };
    let origin_fraction = origin_bytes
        .filter(|_| bytes_delivered > 0)
        .map(|o| o as f64 / bytes_delivered as f64);
    let totals = Totals {
        player_counts: totals_players,
        edge_counts: (!edges.is_empty()).then_some(edge_total),
        player_bytes,
        byte_hit_ratio_players: if player_bytes > 0 {
            hit_bytes as f64 / player_bytes as f64
        } else {
            0.0
        },
        bytes_delivered,
        bytes_delivered_source: source.to_string(),
        origin_bytes,
        origin_requests,
        origin_fraction,
        origin_offload: origin_fraction.map(|f| 1.0 - f),
        requests_by_kind: by_kind,
    };
    let ms: Vec<&Metrics> = players.iter().filter_map(|p| p.metrics.as_ref()).collect();
    let col = |f: &dyn Fn(&Metrics) -> f64| Stats::of(&ms.iter().map(|m| f(m)).collect::<Vec<_>>());
    let qoe = QoeSummary {
        players: ms.len(),
        qoe_lin: col(&|m| m.qoe_lin),
        startup_s: col(&|m| m.startup_s),
        rebuffer_ratio: col(&|m| m.rebuffer_ratio),
        rebuffer_s: col(&|m| m.rebuffer_s),
        bitrate_kbps: col(&|m| m.mean_bitrate_kbps),
        switches: col(&|m| m.switches as f64),
    };
    let (timeline_bucket_s, timeline) = timeline(&players, run.clock_scale);
    let players_failed = players.iter().filter(|p| p.error.is_some()).count();
    SwarmReport {
        run,
        players_ok: players.len() - players_failed,
        players_failed,
        failures: failures(&players),
        edges: rows.into_values().collect(),
        titles: by_title.into_values().collect(),
        totals,
        qoe,
        timeline_bucket_s,
        timeline,
        players,
    }
}

/// Buckets every response by its request time (session s since the swarm start: the player's
/// start plus its MPD fetch plus the player clock) into about 30 buckets of a whole number of
/// seconds, per edge and for all edges.
fn timeline(players: &[PlayerOutcome], clock_scale: f64) -> (f64, Vec<TimelinePoint>) {
    let mut at: Vec<(f64, &str, bool)> = Vec::new();
    for p in players {
        let start = p.started_wall_s * clock_scale;
        let mpd_s = p
            .fetches
            .iter()
            .find(|f| f.kind == FetchKind::Mpd)
            .map_or(0.0, |f| f.ms / 1000.0);
        for f in &p.fetches {
            let t = match f.kind {
                FetchKind::Mpd => start,
                _ => start + mpd_s + f.at_ms / 1000.0,
            };
            at.push((
                t,
                f.edge.as_deref().unwrap_or("(none)"),
                f.cache == CacheStatus::Hit,
            ));
        }
    }
    let end = at.iter().map(|x| x.0).fold(0.0, f64::max);
    let bucket = (end / 30.0).ceil().max(1.0);
    let mut m: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    for (t, edge, hit) in at {
        let b = (t / bucket).floor() as i64;
        for key in [edge, "all"] {
            let e = m.entry((key.to_string(), b)).or_default();
            e.0 += 1;
            e.1 += u64::from(hit);
        }
    }
    let points = m
        .into_iter()
        .map(|((edge, b), (requests, hits))| TimelinePoint {
            edge,
            t_s: b as f64 * bucket,
            requests,
            hits,
            hit_ratio: hits as f64 / requests as f64,
        })
        .collect();
    (bucket, points)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The report as text tables (edges, totals, titles, QoE).
pub fn table(r: &SwarmReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} players ({} ok, {} failed), {} titles, zipf {}, speed {}x, {:.1} s wall, peak {} concurrent",
        r.run.players,
        r.players_ok,
        r.players_failed,
        r.run.titles.len(),
        r.run.zipf_s,
        r.run.clock_scale,
        r.run.wall_s,
        r.run.peak_concurrent
    );
    let _ = writeln!(
        s,
        "\n{:<14} | {:>23} {:>7} | {:>23} {:>7} | {:>10} {:>10}",
        "edge",
        "edge /metrics: req/hit/miss",
        "hit%",
        "players X-Cache: req/hit/miss",
        "hit%",
        "MB sent",
        "MB upstr."
    );
    for e in &r.edges {
        let ec = e.edge_counts.map_or("-".to_string(), |c| {
            format!("{}/{}/{}", c.requests, c.hits, c.misses)
        });
        let eh = e
            .edge_counts
            .map_or("-".to_string(), |c| format!("{:.1}", 100.0 * c.hit_ratio));
        let pc = &e.player_counts;
        let _ = writeln!(
            s,
            "{:<14} | {:>23} {:>7} | {:>23} {:>7.1} | {:>10} {:>10}",
            e.edge,
            ec,
            eh,
            format!("{}/{}/{}", pc.requests, pc.hits, pc.misses),
            100.0 * pc.hit_ratio,
            opt(e.edge_sent_bytes.map(|b| format!("{:.1}", b as f64 / 1e6))),
            opt(e
                .edge_upstream_bytes
                .map(|b| format!("{:.1}", b as f64 / 1e6))),
        );
    }
    if r.players_failed > 0 {
        let _ = writeln!(
            s,
            "\n{} players failed (their requests, the failing one included, are counted above):",
            r.players_failed
        );
        for f in r.failures.iter().take(10) {
            let _ = writeln!(s, "  {:>4} x {}", f.players, f.error);
        }
        if r.failures.len() > 10 {
            let _ = writeln!(s, "  ... {} more distinct errors", r.failures.len() - 10);
        }
    }
    let t = &r.totals;
    let _ = writeln!(
        s,
        "\nbytes delivered {:.1} MB ({}, {:.1} Mbit/s over the run's wall time); players \
         received {:.1} MB, byte hit ratio {:.1}%",
        t.bytes_delivered as f64 / 1e6,
        t.bytes_delivered_source,
        t.bytes_delivered as f64 * 8.0 / 1e6 / r.run.wall_s.max(1e-9),
        t.player_bytes as f64 / 1e6,
        100.0 * t.byte_hit_ratio_players
    );
    let _ = writeln!(
        s,
        "origin bytes {} MB, origin GETs {}, origin fraction {}, origin offload {}",
        opt(t.origin_bytes.map(|b| format!("{:.1}", b as f64 / 1e6))),
        opt(t.origin_requests),
        opt(t.origin_fraction.map(|f| format!("{:.3}", f))),
        opt(t.origin_offload.map(|f| format!("{:.1}%", 100.0 * f)))
    );
    let kinds: Vec<String> = t
        .requests_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "player requests by kind (all counted per edge above): {}",
        kinds.join(", ")
    );
    let _ = writeln!(
        s,
        "\n{:<12} {:>4} {:>7} {:>7} {:>8} {:>7} {:>9}",
        "title", "rank", "zipf p", "players", "requests", "hit%", "MB"
    );
    for ti in &r.titles {
        let _ = writeln!(
            s,
            "{:<12} {:>4} {:>7.3} {:>7} {:>8} {:>7.1} {:>9.1}",
            ti.title,
            ti.rank,
            ti.zipf_p,
            ti.players,
            ti.counts.requests,
            100.0 * ti.counts.hit_ratio,
            ti.bytes as f64 / 1e6
        );
    }
    let q = &r.qoe;
    let _ = writeln!(
        s,
        "\nQoE over {} players  {:>9} {:>9} {:>9} {:>9}",
        q.players, "mean", "p10", "p50", "p90"
    );
    for (name, st) in [
        ("QoE_lin", &q.qoe_lin),
        ("startup s", &q.startup_s),
        ("rebuffer %", &q.rebuffer_ratio),
        ("rebuffer s", &q.rebuffer_s),
        ("bitrate kbps", &q.bitrate_kbps),
        ("switches", &q.switches),
    ] {
        let k = if name == "rebuffer %" { 100.0 } else { 1.0 };
        let _ = writeln!(
            s,
            "{:<20} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            name,
            k * st.mean,
            k * st.p10,
            k * st.median,
            k * st.p90
        );
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `swarm.json` (the report), `players.csv`, `fetches.csv`, `cdf_qoe.{svg,png}` and
/// `hit_ratio_over_time.{csv,svg,png}` into `dir`.
pub fn write(dir: &Path, r: &SwarmReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("swarm.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    let mut csv = String::from("player,title,rank,arrival_s,trace,started_wall_s,slot_wait_s,wall_s,ok,error,segments,mean_bitrate_kbps,startup_s,rebuffer_s,rebuffer_ratio,switches,qoe_lin,bytes_downloaded\n");
    for p in &r.players {
        let m = p.metrics.as_ref();
        let f = |g: &dyn Fn(&Metrics) -> String| m.map_or(String::new(), g);
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.planned.id,
            csv_field(&p.planned.title),
            p.planned.rank + 1,
            p.planned.arrival_s,
            csv_field(p.trace_name.as_deref().unwrap_or("")),
            p.started_wall_s,
            p.slot_wait_s,
            p.wall_s,
            p.error.is_none(),
            csv_field(p.error.as_deref().unwrap_or("")),
            f(&|m| m.segments.to_string()),
            f(&|m| m.mean_bitrate_kbps.to_string()),
            f(&|m| m.startup_s.to_string()),
            f(&|m| m.rebuffer_s.to_string()),
            f(&|m| m.rebuffer_ratio.to_string()),
            f(&|m| m.switches.to_string()),
            f(&|m| m.qoe_lin.to_string()),
            f(&|m| m.bytes_downloaded.to_string()),
        );
    }
    std::fs::write(dir.join("players.csv"), csv)?;
    let mut csv = String::from(
        "player,title,kind,index,quality,url,edge,x_cache,status,bytes,ms,ttfb_ms,abandoned\n",
    );
    for p in &r.players {
        for x in &p.fetches {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                p.planned.id,
                csv_field(&p.planned.title),
                x.kind.as_str(),
                x.index,
                x.quality,
                csv_field(&x.url),
                csv_field(x.edge.as_deref().unwrap_or("")),
                csv_field(x.cache.as_str()),
                x.status,
                x.bytes,
                x.ms,
                x.ttfb_ms,
                x.abandoned
            );
        }
    }
    std::fs::write(dir.join("fetches.csv"), csv)?;
    let mut series = vec![(
        "all players".to_string(),
        r.players
            .iter()
            .filter_map(|p| p.metrics.as_ref().map(|m| m.qoe_lin))
            .collect::<Vec<f64>>(),
    )];
    if r.titles.len() > 1 && r.titles.len() <= 8 {
        for t in &r.titles {
            series.push((
                t.title.clone(),
                r.players
                    .iter()
                    .filter(|p| p.planned.title == t.title)
                    .filter_map(|p| p.metrics.as_ref().map(|m| m.qoe_lin))
                    .collect(),
            ));
        }
    }
    let what = swarm_caption(r);
    for ext in ["svg", "png"] {
        player_sim::plot::plot_cdf(
            &dir.join(format!("cdf_qoe.{ext}")),
            &player_sim::plot::Cdf {
                title: &format!("QoE CDF per player — {what}"),
                x_desc: "QoE_lin per session: Σ bitrate (Mbps) − 4.3 × rebuffer (s) − \
                         |Δbitrate| (Mbps)",
                series: &series,
                x_from_quantile: None,
            },
        )?;
    }
    let mut csv = String::from("edge,t_s,requests,hits,hit_ratio\n");
    for p in &r.timeline {
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            csv_field(&p.edge),
            p.t_s,
            p.requests,
            p.hits,
            p.hit_ratio
        );
    }
    std::fs::write(dir.join("hit_ratio_over_time.csv"), csv)?;
    if !r.timeline.is_empty() {
        let mut edges: Vec<&str> = r.timeline.iter().map(|p| p.edge.as_str()).collect();
        edges.sort_unstable_by_key(|e| (*e != "all", *e));
        edges.dedup();
        let series: Vec<(String, Vec<(f64, f64)>)> = edges
            .iter()
            .map(|e| {
                let pts = r
                    .timeline
                    .iter()
                    .filter(|p| p.edge == *e)
                    .map(|p| (p.t_s + r.timeline_bucket_s / 2.0, p.hit_ratio))
                    .collect();
                (e.to_string(), pts)
            })
            .collect();
        for ext in ["svg", "png"] {
            player_sim::plot::plot_lines(
                &dir.join(format!("hit_ratio_over_time.{ext}")),
                &player_sim::plot::Lines {
                    title: &format!("Cache hit ratio over time (players' X-Cache) — {what}"),
                    x_desc: "session time (s)",
                    y_desc: "hit ratio (hits / requests)",
                    y_range: 0.0..1.0,
                    series: &series,
                },
            )?;
        }
    }
    Ok(())
}

/// What a swarm's plot titles say about the run: players, titles, traces and ABR.
fn swarm_caption(r: &SwarmReport) -> String {
    let traces = match r.run.traces.len() {
        0 => "no traces".to_string(),
        n => format!("{n} traces"),
    };
    format!(
        "swarm of {} players, {} titles, {traces}, {}",
        r.run.players,
        r.run.titles.len(),
        r.run.abr
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentFetch;

    #[test]
    fn zipf_frequencies_follow_the_law() {
        let z = Zipf::new(5, 1.0).unwrap();
        let h: f64 = (1..=5).map(|k| 1.0 / k as f64).sum();
        for k in 0..5 {
            assert!((z.probability(k) - 1.0 / ((k + 1) as f64 * h)).abs() < 1e-12);
        }
        let mut rng = SplitMix64::new(7);
        let n = 200_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[z.sample(&mut rng)] += 1;
        }
        for k in 0..5 {
            let f = counts[k] as f64 / n as f64;
            let p = z.probability(k);
            // 5 standard deviations of a binomial proportion.
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * sd, "rank {k}: {f} vs {p}");
        }
        // s = 0 is uniform; one title always wins.
        let u = Zipf::new(4, 0.0).unwrap();
        assert!((0..4).all(|k| (u.probability(k) - 0.25).abs() < 1e-12));
        let one = Zipf::new(1, 0.8).unwrap();
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
        assert!(Zipf::new(0, 1.0).is_err());
        assert!(Zipf::new(3, -1.0).is_err());
    }

    #[test]
    fn arrivals_are_sorted_and_seeded() {
        let uni = Arrival::Uniform { window_s: 10.0 };
        let a = uni.schedule(1000, &mut SplitMix64::new(1));
        assert_eq!(a, uni.schedule(1000, &mut SplitMix64::new(1)));
        assert_ne!(a, uni.schedule(1000, &mut SplitMix64::new(2)));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|t| (0.0..10.0).contains(t)));
        let poi = Arrival::Poisson { rate_per_s: 4.0 };
        let p = poi.schedule(20_000, &mut SplitMix64::new(3));
        assert_eq!(p, poi.schedule(20_000, &mut SplitMix64::new(3)));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        // Mean gap 1/rate (20 000 gaps: within 3 %).
        let mean_gap = p.last().unwrap() / p.len() as f64;
        assert!((mean_gap - 0.25).abs() < 0.0075, "{mean_gap}");
    }

    fn trace(name: &str, kbps: &[f64]) -> Trace {
        Trace {
            name: name.into(),
            data: TraceData::Periods(
                kbps.iter()
                    .map(|&b| Period {
                        duration_ms: 1000.0,
                        bandwidth_kbps: b,
                        latency_ms: 0.0,
                    })
                    .collect(),
            ),
        }
    }

    fn cfg(seed: u64, traces: Vec<Trace>) -> SwarmConfig {
        SwarmConfig {
            entry: Entry::Url("http://r/{title}/manifest.mpd".into()),
            titles: vec!["a".into(), "b".into(), "c".into()],
            zipf_s: 0.8,
            players: 50,
            arrival: Arrival::Poisson { rate_per_s: 2.0 },
            traces,
            random_offset: true,
            shared_bottleneck_kbps: None,
            clock_scale: 1.0,
            segments: Some(4),
            audio: true,
            abr: "bba".into(),
            session: SessionConfig::for_model(player_sim::ModelKind::Generic),
            seed,
            edge_metrics: vec![],
            origin_metrics: None,
            max_concurrent: 10,
            progress: false,
            player_log: None,
        }
    }

    #[test]
    fn plan_is_a_function_of_the_seed() {
        let ts = vec![trace("x", &[1000.0, 2000.0, 3000.0]), trace("y", &[500.0])];
        let a = plan(&cfg(9, ts.clone())).unwrap();
        assert_eq!(a, plan(&cfg(9, ts.clone())).unwrap());
        assert_ne!(a, plan(&cfg(10, ts.clone())).unwrap());
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(|p| p.trace == Some(p.id % 2)));
        assert!(a
            .iter()
            .all(|p| p.trace_offset_s < if p.trace == Some(0) { 3.0 } else { 1.0 }));
        // Titles and arrivals do not depend on the traces.
        let b = plan(&cfg(9, vec![])).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.arrival_s, &x.title), (y.arrival_s, &y.title));
            assert_eq!((y.trace, y.trace_offset_s), (None, 0.0));
        }
    }

    #[test]
    fn rotation_starts_the_trace_at_the_offset() {
        let t = trace("x", &[1000.0, 2000.0, 3000.0]);
        let r = rotate_trace(&t, 1.5);
        let p = r.to_periods(0.0);
        let got: Vec<(f64, f64)> = p
            .iter()
            .map(|p| (p.duration_ms, p.bandwidth_kbps))
            .collect();
        assert_eq!(
            got,
            vec![
                (500.0, 2000.0),
                (1000.0, 3000.0),
                (1000.0, 1000.0),
                (500.0, 2000.0)
            ]
        );
        assert_eq!(rotate_trace(&t, 0.0), t);
        // Offsets wrap around.
        assert_eq!(
            rotate_trace(&t, 4.5).to_periods(0.0),
            rotate_trace(&t, 1.5).to_periods(0.0)
        );
    }

    fn fetch(
        edge: &str,
        cache: CacheStatus,
        bytes: u64,
        kind: FetchKind,
        at_ms: f64,
    ) -> SegmentFetch {
        SegmentFetch {
            index: 0,
            quality: 0,
            url: format!("http://{edge}/a/v144/1.m4s"),
            requested: String::new(),
            edge: Some(edge.to_string()),
            cache,
            status: 200,
            bytes,
            ms: 1000.0,
            ttfb_ms: 1.0,
            abandoned: false,
            kind,
            at_ms,
            error: None,
        }
    }

    /// The run of a report test: `players` players of `c`'s titles, all at once.
    fn run_info(c: &SwarmConfig, players: usize) -> RunInfo {
        RunInfo {
            entry: c.entry.to_string(),
            titles: c.titles.clone(),
            zipf_s: c.zipf_s,
            players,
            arrival: c.arrival,
            traces: vec![],
            shared_bottleneck_kbps: None,
            clock_scale: 1.0,
            segments: None,
            audio: true,
            abr: "bba".into(),
            seed: 1,
            max_concurrent: 10,
            wall_s: 1.0,
            peak_concurrent: players,
        }
    }

    fn scrape_of(served_by: &str, text: &str) -> Scrape {
        Scrape {
            url: format!("http://{served_by}/metrics"),
            served_by: Some(served_by.to_string()),
            body_bytes: 100,
            exposition: Exposition::parse(text).unwrap(),
        }
    }

    #[test]
    fn report_compares_edge_deltas_with_player_counts() {
        let c = cfg(1, vec![]);
        let planned = plan(&c).unwrap();
        let mut players: Vec<PlayerOutcome> = planned
            .iter()
            .take(2)
            .map(|p| PlayerOutcome {
                planned: p.clone(),
                trace_name: None,
                started_wall_s: 10.0 * p.id as f64,
                slot_wait_s: 0.0,
                wall_s: 1.0,
                error: None,
                metrics: None,
                mpd_url: None,
                fetches: vec![],
            })
            .collect();
        use CacheStatus::{Hit, Miss, Other, Stale};
        players[0].fetches = vec![
            fetch("e1", Miss, 1000, FetchKind::Mpd, 0.0),
            fetch("e1", Miss, 5000, FetchKind::Media, 0.0),
            fetch("e1", Hit, 5000, FetchKind::Media, 2000.0),
        ];
        players[1].fetches = vec![
            fetch("e1", Hit, 1000, FetchKind::Mpd, 0.0),
            fetch(
                "e1",
                Other("REVALIDATED".into()),
                5000,
                FetchKind::Media,
                0.0,
            ),
            fetch("e2", Stale, 3000, FetchKind::Audio, 500.0),
        ];
        let e1 = (
            scrape_of("e1", "dashcdn_edge_hits_total 10\ndashcdn_edge_misses_total 5\ndashcdn_edge_sent_bytes_total 1000\n"),
            Some(scrape_of("e1", "dashcdn_edge_hits_total 12\ndashcdn_edge_misses_total 7\ndashcdn_edge_revalidated_total 1\ndashcdn_edge_sent_bytes_total 18100\n")),
        );
        let e2 = (
            scrape_of(
                "e2",
                "dashcdn_edge_stale_total 0\ndashcdn_edge_sent_bytes_total 0\n",
            ),
            Some(scrape_of(
                "e2",
                "dashcdn_edge_stale_total 1\ndashcdn_edge_sent_bytes_total 3100\n",
            )),
        );
        let origin = (
            scrape_of("o", "dashcdn_origin_sent_bytes_total 50\ndashcdn_origin_requests_total{method=\"GET\",code=\"200\"} 4\n"),
            Some(scrape_of("o", "dashcdn_origin_sent_bytes_total 6150\ndashcdn_origin_requests_total{method=\"GET\",code=\"200\"} 7\ndashcdn_origin_requests_total{method=\"GET\",code=\"304\"} 1\n")),
        );
        let info = run_info(&c, 2);
        let r = report(info, &c, players, &[e1, e2], Some(&origin));
        assert_eq!(r.edges.len(), 2);
        let (a, b) = (&r.edges[0], &r.edges[1]);
        assert_eq!(a.edge, "e1");
        let ea = a.edge_counts.unwrap();
        assert_eq!(
            (ea.requests, ea.hits, ea.misses, ea.revalidated),
            (5, 2, 2, 1)
        );
        let pa = a.player_counts;
        assert_eq!(
            (pa.requests, pa.hits, pa.misses, pa.revalidated),
            (5, 2, 2, 1)
        );
        assert_eq!(ea.hit_ratio, 0.4);
        assert_eq!(a.player_bytes, 17000);
        // Sent-bytes delta less the 100-byte before-scrape body.
        assert_eq!(a.edge_sent_bytes, Some(17000));
        assert_eq!(
            (b.player_counts.stale, b.edge_counts.unwrap().stale),
            (1, 1)
        );
        assert_eq!(b.edge_sent_bytes, Some(3000));
        let t = &r.totals;
        assert_eq!(
            (t.bytes_delivered, t.bytes_delivered_source.as_str()),
            (20000, "edges")
        );
        assert_eq!(t.origin_bytes, Some(6000));
        // 4 new GETs, less our own before-scrape.
        assert_eq!(t.origin_requests, Some(3));
        assert_eq!(t.origin_fraction, Some(0.3));
        assert!((t.origin_offload.unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(t.byte_hit_ratio_players, 6000.0 / 20000.0);
        // Timeline: player 1 started 10 s in; its MPD took 1 s, so its e2 fetch is at 11.5 s.
        assert_eq!(r.timeline_bucket_s, 1.0);
        let at = |e: &str, t: f64| {
            r.timeline
                .iter()
                .find(|p| p.edge == e && p.t_s == t)
                .cloned()
        };
        assert_eq!(at("e2", 11.0).map(|p| (p.requests, p.hits)), Some((1, 0)));
        assert_eq!(at("e1", 3.0).map(|p| (p.requests, p.hits)), Some((1, 1)));
        assert_eq!(at("all", 0.0).map(|p| p.requests), Some(1));
        assert_eq!(at("all", 10.0).map(|p| (p.requests, p.hits)), Some((1, 1)));
        assert_eq!(
            t.requests_by_kind,
            BTreeMap::from([
                ("audio".to_string(), 1),
                ("media".to_string(), 3),
                ("mpd".to_string(), 2)
            ])
        );
        let text = table(&r);
        assert!(text.contains("origin offload 70.0%"), "{text}");
        assert!(text.contains("audio 1, media 3, mpd 2"), "{text}");
    }

    #[test]
    fn failed_players_requests_count_and_errors_are_grouped() {
        let c = cfg(1, vec![]);
        let planned = plan(&c).unwrap();
        let outcome = |p: &PlannedPlayer, error: Option<String>, fetches| PlayerOutcome {
            planned: p.clone(),
            trace_name: None,
            started_wall_s: 0.0,
            slot_wait_s: 0.0,
            wall_s: 1.0,
            error,
            metrics: None,
            mpd_url: None,
            fetches,
        };
        let mut f404 = fetch("e1", CacheStatus::Miss, 0, FetchKind::Mpd, 0.0);
        f404.status = 404;
        let msg = |p: &PlannedPlayer| {
            format!(
                "player p{}-{}: fetching http://e1/bad/manifest.mpd: HTTP 404",
                p.id, p.title
            )
        };
        let players = vec![
            outcome(
                &planned[0],
                None,
                vec![fetch("e1", CacheStatus::Hit, 10, FetchKind::Mpd, 0.0)],
            ),
            outcome(&planned[1], Some(msg(&planned[1])), vec![f404.clone()]),
            outcome(&planned[2], Some(msg(&planned[2])), vec![f404]),
            outcome(&planned[3], Some("player panicked".into()), vec![]),
        ];
        let e1 = (
            scrape_of(
                "e1",
                "dashcdn_edge_hits_total 0\ndashcdn_edge_misses_total 0\n",
            ),
            Some(scrape_of(
                "e1",
                "dashcdn_edge_hits_total 1\ndashcdn_edge_misses_total 2\n",
            )),
        );
        let info = run_info(&c, 4);
        let r = report(info, &c, players, &[e1], None);
        assert_eq!((r.players_ok, r.players_failed), (1, 3));
        // The failed players' 404 MPD requests are on the players' side too: exact agreement.
        let row = &r.edges[0];
        assert_eq!(row.edge_counts.unwrap(), row.player_counts);
        assert_eq!(
            (row.player_counts.requests, row.player_counts.misses),
            (3, 2)
        );
        assert_eq!(
            r.failures,
            vec![
                FailureRow {
                    error: "fetching http://e1/bad/manifest.mpd: HTTP 404".into(),
                    players: 2
                },
                FailureRow {
                    error: "player panicked".into(),
                    players: 1
                },
            ]
        );
        let text = table(&r);
        assert!(text.contains("3 players failed"), "{text}");
        assert!(
            text.contains("2 x fetching http://e1/bad/manifest.mpd: HTTP 404"),
            "{text}"
        );
    }

    #[test]
    fn traces_and_a_shared_bottleneck_chain() {
        let mut c = cfg(4, vec![trace("x", &[1000.0, 2000.0]), trace("y", &[500.0])]);
        c.random_offset = false;
        let planned = plan(&c).unwrap();
        let shared = Arc::new(Shaper::try_from_trace(&constant_trace(3000.0), 1.0).unwrap());
        // Both: each player's own trace, behind the one shared bucket.
        for p in &planned[..4] {
            let (s, name) = player_shaper(&c, p, Some(&shared)).unwrap();
            let parent = s.parent().expect("chained to the shared bottleneck");
            assert!(Arc::ptr_eq(parent, &shared));
            let own = if p.id % 2 == 0 { 1000.0 } else { 500.0 };
            assert_eq!(s.rate_kbps_at(0.0), Some(own));
            assert_eq!(name.as_deref(), Some(if p.id % 2 == 0 { "x" } else { "y" }));
        }
        // Traces only: no parent.
        let (s, _) = player_shaper(&c, &planned[0], None).unwrap();
        assert!(s.parent().is_none() && s.is_limited());
        // Shared only: the shared shaper itself.
        let c2 = cfg(4, vec![]);
        let p2 = plan(&c2).unwrap();
        let (s, name) = player_shaper(&c2, &p2[0], Some(&shared)).unwrap();
        assert!(Arc::ptr_eq(&s, &shared) && name.is_none());
        // Neither: unlimited.
        let (s, _) = player_shaper(&c2, &p2[0], None).unwrap();
        assert!(!s.is_limited());
    }

    #[test]
    fn entries_and_metrics_urls() {
        let dns = Entry::Dns {
            server: "127.0.0.1:53".parse().unwrap(),
            name: "{title}.titles.example.test".into(),
            port: 8080,
            path: "/{title}/manifest.mpd".into(),
        };
        match entry_for(&dns, "t2") {
            Entry::Dns { name, path, .. } => {
                assert_eq!(name, "t2.titles.example.test");
                assert_eq!(path, "/t2/manifest.mpd");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            entry_for(&Entry::Url("http://r:1/{title}/manifest.mpd".into()), "t2"),
            Entry::Url("http://r:1/t2/manifest.mpd".into())
        );
        assert_eq!(metrics_url("http://a:1"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/metrics"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/x/metrics"), "http://a:1/x/metrics");
    }
}
