//! The swarm report: per-edge counts from the edges' `/metrics` deltas beside the players'
//! `X-Cache` view, per-title counts, totals with origin offload, the QoE distribution and the
//! hit ratio over time ([`report`]; definitions in the [module docs](super)).

use std::collections::BTreeMap;

use serde::Serialize;

use player_sim::metrics::Metrics;
use player_sim::study::Stats;

use super::fairness::{fairness, Fairness, PlayerShare};
use super::{Arrival, PlannedPlayer, Scrape, SwarmConfig, Zipf};
use crate::{CacheStatus, FetchKind, SegmentFetch};

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
            CacheStatus::Revalidated => self.revalidated += 1,
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
    /// Requests with valid CMCD the edge counted (delta of
    /// `dashcdn_edge_cmcd_requests_total`, both modes), if scraped.
    pub edge_cmcd_requests: Option<u64>,
    /// Requests with malformed CMCD it counted, if scraped.
    pub edge_cmcd_invalid: Option<u64>,
    /// Requests whose CMCD reported buffer starvation (`bs`) it counted, if scraped.
    pub edge_cmcd_starvation: Option<u64>,
    /// CMCD sessions (`sid`) it saw in its last 30 s, at the after-run scrape.
    pub edge_cmcd_sessions: Option<f64>,
    /// Player responses from this edge that carried a valid `CMSD-Dynamic`.
    pub player_cmsd_responses: u64,
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
            edge_cmcd_requests: None,
            edge_cmcd_invalid: None,
            edge_cmcd_starvation: None,
            edge_cmcd_sessions: None,
            player_cmsd_responses: 0,
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
    /// The edge that sent most of its video bytes (`X-Served-By`), if any video arrived.
    pub main_edge: Option<String>,
    /// Decisions its `cmsd-` ABR's rules touched, by rule (`etp_estimate`, `etp`, `mb`,
    /// `duress`).
    pub cmsd_changes: BTreeMap<String, u64>,
    /// Every request it made (a failed player's too, up to and including the failing one).
    #[serde(skip)]
    pub fetches: Vec<SegmentFetch>,
    /// What its live session measured (latency, early answers, re-joins); `None` on VoD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::play::live::LiveStats>,
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
    /// ABR (or the list alternated across players).
    pub abr: String,
    /// How the players sent CMCD.
    pub cmcd: crate::cmcd_out::CmcdMode,
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
    /// Jain's fairness index of the players' mean bitrates: overall, per edge, per ABR.
    pub fairness: Fairness,
    /// Bucket width of `timeline`, session s.
    pub timeline_bucket_s: f64,
    /// Hit ratio over time (players' view; each response placed at its request time).
    pub timeline: Vec<TimelinePoint>,
    /// Live latency per player group (all, per edge), when players played live streams.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<super::live::LiveGroup>,
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
    use serve::wire::metric_names::{edge, origin};
    let zipf = Zipf::new(cfg.titles.len(), cfg.zipf_s).ok();
    // Player side, by edge and by title.
    let mut by_edge: BTreeMap<String, (CacheCounts, u64, u64)> = BTreeMap::new();
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
            e.2 += u64::from(f.cmsd.is_some());
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
            row.edge_cmcd_requests = Some(delta(b, a, edge::CMCD_REQUESTS_TOTAL_NAME));
            row.edge_cmcd_invalid = Some(delta(b, a, edge::CMCD_INVALID_TOTAL_NAME));
            row.edge_cmcd_starvation = Some(delta(b, a, edge::CMCD_BUFFER_STARVATION_TOTAL_NAME));
            row.edge_cmcd_sessions = a.exposition.value(edge::CMCD_SESSIONS_NAME, &[]);
        } else {
            all_scraped = false;
        }
        rows.insert(id, row);
    }
    edge_total.finish();
    for (id, (c, bytes, cmsd)) in by_edge {
        let row = rows
            .entry(id.clone())
            .or_insert_with(|| EdgeRow::empty(id, None));
        row.player_counts = c;
        row.player_bytes = bytes;
        row.player_cmsd_responses = cmsd;
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
    let shares: Vec<PlayerShare<'_>> = players
        .iter()
        .filter_map(|p| {
            p.metrics.as_ref().map(|m| PlayerShare {
                edge: p.main_edge.as_deref(),
                abr: &p.planned.abr,
                kbps: m.mean_bitrate_kbps,
            })
        })
        .collect();
    let fairness = fairness(&shares, run.shared_bottleneck_kbps);
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
        fairness,
        timeline_bucket_s,
        timeline,
        live: super::live::groups(&players),
        players,
    }
}

/// The edge that sent most of these video bytes (ties: the first by id).
pub fn main_edge(fetches: &[SegmentFetch]) -> Option<String> {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for f in fetches
        .iter()
        .filter(|f| f.kind == FetchKind::Media && f.bytes > 0)
    {
        *by.entry(f.edge.as_deref().unwrap_or("(none)")).or_default() += f.bytes;
    }
    let most = by.values().copied().max()?;
    by.into_iter()
        .find(|(_, b)| *b == most)
        .map(|(e, _)| e.to_string())
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
