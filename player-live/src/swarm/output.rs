//! Writing a [`SwarmReport`]: the text [`table`] printed after a run, and [`write()`]'s files
//! (`swarm.json`, `players.csv`, `fetches.csv`, `fairness.csv`, `cdf_qoe.{svg,png}`,
//! `hit_ratio_over_time.{csv,svg,png}`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use player_sim::metrics::Metrics;
use player_sim::plot::PlotError;

use super::fairness::{Fairness, FairnessGroup};
use super::report::SwarmReport;

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
    if r.edges.iter().any(|e| e.edge_cmcd_requests.is_some()) || r.run.cmcd.as_str() != "off" {
        let _ = writeln!(
            s,
            "\nCMCD ({} mode) and CMSD per edge: edge-counted CMCD requests / invalid / \
             starvation (bs) / sessions (last 30 s) | players' stalls (players whose main edge \
             it is), player responses with CMSD-Dynamic",
            r.run.cmcd
        );
        for e in &r.edges {
            let stalls: usize = r
                .players
                .iter()
                .filter(|p| p.main_edge.as_deref() == Some(e.edge.as_str()))
                .filter_map(|p| p.metrics.as_ref())
                .map(|m| m.rebuffer_count)
                .sum();
            let _ = writeln!(
                s,
                "{:<14} | {:>8} {:>7} {:>7} {:>8} | {:>7} {:>8}",
                e.edge,
                opt(e.edge_cmcd_requests),
                opt(e.edge_cmcd_invalid),
                opt(e.edge_cmcd_starvation),
                opt(e.edge_cmcd_sessions),
                stalls,
                e.player_cmsd_responses
            );
        }
        let mut by: std::collections::BTreeMap<&str, u64> = Default::default();
        for p in &r.players {
            for (k, v) in &p.cmsd_changes {
                *by.entry(k).or_default() += v;
            }
        }
        if !by.is_empty() {
            let by: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "CMSD rules applied (decisions, by rule): {}",
                by.join(", ")
            );
        }
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
    fairness_table(&mut s, &r.fairness);
    s.push_str(&super::live::table(&r.live));
    s
}

/// Jain's index lines of the text table: overall, then per edge and per ABR when there is
/// more than one group.
fn fairness_table(s: &mut String, f: &Fairness) {
    let j = |g: &FairnessGroup| g.jain.map_or("-".to_string(), |x| format!("{x:.3}"));
    let _ = writeln!(
        s,
        "\nJain's fairness of {} ({}): {} over {} players (mean {:.0} kbps)",
        f.of,
        f.overall_shares,
        j(&f.overall),
        f.overall.players,
        f.overall.mean_bitrate_kbps
    );
    for (what, groups) in [("edge", &f.by_edge), ("ABR", &f.by_abr)] {
        if groups.len() < 2 && what == "edge" {
            continue;
        }
        for g in groups {
            let _ = writeln!(
                s,
                "  {what:<4} {:<24} {:>7} over {:>4} players (mean {:.0} kbps)",
                g.group,
                j(g),
                g.players,
                g.mean_bitrate_kbps
            );
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Why [`write()`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output directory could not be created.
    #[error("creating {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The report could not be serialized.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Writes `swarm.json` (the report), `players.csv`, `fetches.csv`, `fairness.csv` (Jain's
/// index overall, per edge and per ABR), `cdf_qoe.{svg,png}` and
/// `hit_ratio_over_time.{csv,svg,png}` into `dir`.
pub fn write(dir: &Path, r: &SwarmReport) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    std::fs::write(
        dir.join("swarm.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    let mut csv = String::from("player,title,rank,arrival_s,trace,abr,main_edge,started_wall_s,slot_wait_s,wall_s,ok,error,segments,mean_bitrate_kbps,startup_s,rebuffer_s,rebuffer_ratio,switches,qoe_lin,bytes_downloaded\n");
    for p in &r.players {
        let m = p.metrics.as_ref();
        let f = |g: &dyn Fn(&Metrics) -> String| m.map_or(String::new(), g);
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.planned.id,
            csv_field(&p.planned.title),
            p.planned.rank + 1,
            p.planned.arrival_s,
            csv_field(p.trace_name.as_deref().unwrap_or("")),
            csv_field(&p.planned.abr),
            csv_field(p.main_edge.as_deref().unwrap_or("")),
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
    if !r.live.is_empty() {
        std::fs::write(dir.join("live.csv"), super::live::groups_csv(&r.live))?;
        std::fs::write(
            dir.join("live_players.csv"),
            super::live::players_csv(&r.players),
        )?;
    }
    let f = &r.fairness;
    let mut csv = String::from("by,group,players,mean_bitrate_kbps,jain\n");
    for (by, g) in std::iter::once(("all", &f.overall))
        .chain(f.by_edge.iter().map(|g| ("edge", g)))
        .chain(f.by_abr.iter().map(|g| ("abr", g)))
    {
        let _ = writeln!(
            csv,
            "{by},{},{},{},{}",
            csv_field(&g.group),
            g.players,
            g.mean_bitrate_kbps,
            g.jain.map_or(String::new(), |x| x.to_string())
        );
    }
    std::fs::write(dir.join("fairness.csv"), csv)?;
    let mut csv = String::from(
        "player,title,kind,index,quality,url,edge,x_cache,status,bytes,ms,ttfb_ms,abandoned,cmsd_etp_kbps,cmsd_du\n",
    );
    for p in &r.players {
        for x in &p.fetches {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
                x.abandoned,
                opt(x.cmsd.as_ref().and_then(|c| c.etp_kbps)),
                x.cmsd.as_ref().is_some_and(|c| c.du)
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
