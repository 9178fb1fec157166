//! The live section of a swarm report: the players' live latency distributions, over all
//! players and per edge (each player counted under the edge that sent most of its video,
//! [`super::report::main_edge`]), and the time to first byte of their media requests per
//! edge — the figure that, against a run straight to the origin, shows what the edge adds.
//!
//! Per group: the mean of the players' mean latencies, the median of their medians, the
//! 95th percentile (nearest rank) of their 95th percentiles and the largest latency any of
//! them saw; the early ("not yet") answers and re-joins summed; media TTFB over every
//! successful media request of the group.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::PlayerOutcome;
use crate::fetch::FetchKind;
use crate::play::live::timing::summarize;

/// Live latency of one group of players.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveGroup {
    /// `all` or an edge id.
    pub group: String,
    /// Players with a live session in the group.
    pub players: usize,
    /// Mean of the players' mean latencies, s.
    pub mean_s: f64,
    /// Median of the players' median latencies, s.
    pub p50_s: f64,
    /// 95th percentile of the players' 95th percentiles, s.
    pub p95_s: f64,
    /// Largest latency sampled, s.
    pub max_s: f64,
    /// Mean target latency, s.
    pub target_s: f64,
    /// Media requests answered "not yet" (404/425) and retried.
    pub early_responses: u64,
    /// Re-joins at the live edge.
    pub resyncs: u64,
    /// Successful media requests.
    pub media_requests: usize,
    /// Their time to first byte: mean, median and 95th percentile, ms.
    pub ttfb_mean_ms: f64,
    /// Median TTFB, ms.
    pub ttfb_p50_ms: f64,
    /// 95th-percentile TTFB, ms.
    pub ttfb_p95_ms: f64,
}

/// The groups (`all` first, then edges by id); empty when no player played live.
pub fn groups(players: &[PlayerOutcome]) -> Vec<LiveGroup> {
    let live: Vec<&PlayerOutcome> = players.iter().filter(|p| p.live.is_some()).collect();
    if live.is_empty() {
        return Vec::new();
    }
    let mut by_edge: BTreeMap<String, Vec<&PlayerOutcome>> = BTreeMap::new();
    for p in &live {
        by_edge
            .entry(p.main_edge.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push(p);
    }
    let mut out = vec![group("all", &live)];
    out.extend(by_edge.iter().map(|(e, ps)| group(e, ps)));
    out
}

fn group(name: &str, ps: &[&PlayerOutcome]) -> LiveGroup {
    let stats: Vec<_> = ps.iter().filter_map(|p| p.live.as_ref()).collect();
    let lat: Vec<_> = stats.iter().filter_map(|s| s.latency).collect();
    let pick = |f: &dyn Fn(&crate::play::live::timing::LatencySummary) -> f64| {
        lat.iter().map(f).collect::<Vec<_>>()
    };
    let means = summarize(&pick(&|l| l.mean_s));
    let p50s = summarize(&pick(&|l| l.p50_s));
    let p95s = summarize(&pick(&|l| l.p95_s));
    let maxs = summarize(&pick(&|l| l.max_s));
    let ttfb: Vec<f64> = ps
        .iter()
        .flat_map(|p| p.fetches.iter())
        .filter(|f| f.kind == FetchKind::Media && f.error.is_none())
        .map(|f| f.ttfb_ms)
        .collect();
    let t = summarize(&ttfb);
    LiveGroup {
        group: name.to_string(),
        players: stats.len(),
        mean_s: means.map_or(0.0, |s| s.mean_s),
        p50_s: p50s.map_or(0.0, |s| s.p50_s),
        p95_s: p95s.map_or(0.0, |s| s.p95_s),
        max_s: maxs.map_or(0.0, |s| s.max_s),
        target_s: stats.iter().map(|s| s.target_latency_s).sum::<f64>() / stats.len().max(1) as f64,
        early_responses: stats.iter().map(|s| s.early_responses).sum(),
        resyncs: stats.iter().map(|s| s.resyncs).sum(),
        media_requests: ttfb.len(),
        ttfb_mean_ms: t.map_or(0.0, |s| s.mean_s),
        ttfb_p50_ms: t.map_or(0.0, |s| s.p50_s),
        ttfb_p95_ms: t.map_or(0.0, |s| s.p95_s),
    }
}

/// The live table of the text report (empty without live players).
pub fn table(groups: &[LiveGroup]) -> String {
    use std::fmt::Write;
    if groups.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\nlive latency (s; players' mean / median of p50 / p95 of p95 / max) and media TTFB (ms)\n",
    );
    let _ = writeln!(
        s,
        "{:<16} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>8} {:>8} {:>8}",
        "group",
        "players",
        "target",
        "mean",
        "p50",
        "p95",
        "max",
        "early",
        "rejoin",
        "ttfb_avg",
        "ttfb_p50",
        "ttfb_p95"
    );
    for g in groups {
        let _ = writeln!(
            s,
            "{:<16} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>6} {:>7} {:>8.1} {:>8.1} {:>8.1}",
            g.group, g.players, g.target_s, g.mean_s, g.p50_s, g.p95_s, g.max_s, g.early_responses,
            g.resyncs, g.ttfb_mean_ms, g.ttfb_p50_ms, g.ttfb_p95_ms
        );
    }
    s
}

/// `live.csv`: one row per group.
pub fn groups_csv(groups: &[LiveGroup]) -> String {
    use std::fmt::Write;
    let mut s = String::from("group,players,target_s,mean_s,p50_s,p95_s,max_s,early_responses,resyncs,media_requests,ttfb_mean_ms,ttfb_p50_ms,ttfb_p95_ms\n");
    for g in groups {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            g.group.replace(',', ";"),
            g.players,
            g.target_s,
            g.mean_s,
            g.p50_s,
            g.p95_s,
            g.max_s,
            g.early_responses,
            g.resyncs,
            g.media_requests,
            g.ttfb_mean_ms,
            g.ttfb_p50_ms,
            g.ttfb_p95_ms
        );
    }
    s
}

/// `live_players.csv`: one row per live player (its latency distribution).
pub fn players_csv(players: &[PlayerOutcome]) -> String {
    use std::fmt::Write;
    let mut s = String::from("player,main_edge,addressing,target_s,samples,mean_s,p50_s,p95_s,max_s,early_responses,resyncs,mpd_refreshes,catchup_s,mean_rate,clock_offset_ms,final_latency_s\n");
    for p in players {
        let Some(l) = &p.live else { continue };
        let lat = l.latency;
        let f = |g: &dyn Fn(&crate::play::live::timing::LatencySummary) -> f64| {
            lat.map_or(String::new(), |x| g(&x).to_string())
        };
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.planned.id,
            p.main_edge.as_deref().unwrap_or("").replace(',', ";"),
            l.addressing,
            l.target_latency_s,
            lat.map_or(0, |x| x.samples),
            f(&|x| x.mean_s),
            f(&|x| x.p50_s),
            f(&|x| x.p95_s),
            f(&|x| x.max_s),
            l.early_responses,
            l.resyncs,
            l.mpd_refreshes,
            l.catchup_s,
            l.mean_rate,
            l.clock_offset_ms,
            l.final_latency_s.map_or(String::new(), |x| x.to_string())
        );
    }
    s
}
