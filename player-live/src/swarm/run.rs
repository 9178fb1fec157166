//! Running a swarm ([`run`]): scrape, start every player at its arrival time on its own
//! thread (at most `max_concurrent` at once), join them, scrape again, build the report.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use player_sim::session::SessionConfig;

use super::report::{main_edge, report, PlayerOutcome, RunInfo, SwarmReport};
use super::scrape::{metrics_url, scrape, Scrape, ScrapeError};
use super::workload::{constant_trace, entry_for, plan, rotate_trace, PlannedPlayer};
use super::{SwarmConfig, SwarmError};
use crate::shaper::ShaperError;
use crate::{error_chain, play, LivePlayback, PlayOptions, SegmentFetch, Shaper};

/// The shaper of one player: its own trace (rotated to its offset) behind the shared
/// bottleneck when there are both ([`Shaper::with_parent`]), either one alone, or unlimited;
/// with the trace's name. The own trace's clock starts now.
pub fn player_shaper(
    cfg: &SwarmConfig,
    p: &PlannedPlayer,
    shared: Option<&Arc<Shaper>>,
) -> Result<(Arc<Shaper>, Option<String>), ShaperError> {
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
) -> Result<SwarmReport, SwarmError> {
    if cfg.players == 0 {
        return Err(SwarmError::NoPlayers);
    }
    if !(cfg.clock_scale.is_finite() && cfg.clock_scale > 0.0) {
        return Err(SwarmError::ClockScale);
    }
    if cfg.max_concurrent == 0 {
        return Err(SwarmError::MaxConcurrent);
    }
    let planned = plan(cfg)?;
    let edge_urls: Vec<String> = cfg.edge_metrics.iter().map(|u| metrics_url(u)).collect();
    let origin_url = cfg.origin_metrics.as_deref().map(metrics_url);

    let scrape_all = |urls: &[String]| -> Vec<Result<Scrape, ScrapeError>> {
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
        .collect::<Result<_, _>>()?;
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
            abr: p.abr.clone(),
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
            mpd_deadline: crate::http_net::MPD_DEADLINE,
            cmcd: cfg.cmcd,
            live_duration: cfg.live_duration,
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
                // A failed playback still carries the requests it made (PlayError::fetches).
                let r: Result<LivePlayback, (String, Vec<SegmentFetch>)> = match r {
                    Ok(Ok(lp)) => Ok(lp),
                    Ok(Err(e)) => Err((e.to_string(), e.fetches)),
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
                let live = r.as_ref().ok().and_then(|lp| lp.live.clone());
                let (error, metrics, mpd_url, fetches, cmsd_changes) = match r {
                    Ok(lp) => (
                        None,
                        Some(lp.metrics),
                        Some(lp.mpd_url),
                        lp.fetches,
                        lp.cmsd_changes,
                    ),
                    Err((e, fetches)) => (Some(e), None, None, fetches, Default::default()),
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
                    main_edge: main_edge(&fetches),
                    cmsd_changes,
                    fetches,
                    live,
                }
            })
            .map_err(SwarmError::Spawn)?;
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
            main_edge: None,
            cmsd_changes: Default::default(),
            fetches: Vec::new(),
            live: None,
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
                .map_err(|e| tracing::warn!(error = %error_chain(&e), "after-run scrape failed"))
                .ok();
            (b, a)
        })
        .collect();
    let origin_delta = before_origin.map(|b| {
        let a = after_origin.and_then(|r| {
            r.map_err(
                |e| tracing::warn!(error = %error_chain(&e), "after-run origin scrape failed"),
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
        cmcd: cfg.cmcd,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::fixtures::{cfg, trace};
    use crate::swarm::workload::plan;

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
}
