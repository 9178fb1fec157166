//! Batch studies: traces × algorithms in parallel (rayon), with a progress bar and per-algorithm
//! summary statistics (mean, median, p10, p90).

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::abr::{AbrError, AbrKind};
use crate::input::{Ladder, Trace};
use crate::metrics::{self, Metrics, QoeOptions};
use crate::model::ModelKind;
use crate::session::{self, Playback, SessionConfig};
use crate::trace_order::TraceOrder;

/// What to run.
#[derive(Debug, Clone)]
pub struct StudyConfig {
    /// Algorithms ([`crate::abr::parse_list`] reads them from `--abr`).
    pub algorithms: Vec<AbrKind>,
    /// Session settings.
    pub session: SessionConfig,
    /// Scoring.
    pub qoe: QoeOptions,
    /// Pensieve model: carry robustMPC's error history from trace to trace in play order (the
    /// order of the `traces` slice), as `mpc.py` does (B7.6). Results then depend on that order:
    /// `mpc.py` plays its folder in unsorted `os.listdir` order, which differs from machine to
    /// machine; we play sorted names unless given an explicit order ([`crate::trace_order`],
    /// which also records where the 40.706 reference comes from). `false` resets per trace (a
    /// labelled deviation, order-independent).
    pub carry_state: bool,
    /// Keep every playback's events (for CSV/JSONL/plots); otherwise only metrics.
    pub keep_events: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl StudyConfig {
    /// A study of `algorithms` under `model` with that model's reference settings: its
    /// session defaults ([`SessionConfig::for_model`]), chunks scored 2..N under Pensieve (its
    /// `plot_results.py`) and 1..N otherwise, robustMPC's state carried across traces, events
    /// kept, no progress bar.
    pub fn for_model(model: ModelKind, algorithms: Vec<AbrKind>) -> Self {
        StudyConfig {
            algorithms,
            session: SessionConfig::for_model(model),
            qoe: QoeOptions {
                skip_first: model == ModelKind::Pensieve,
                ..Default::default()
            },
            carry_state: true,
            keep_events: true,
            progress: false,
        }
    }
}

impl StudyConfig {
    /// What, beside the ladder and the trace files, a rerun needs to reproduce this study, for
    /// `summary.json`'s `run` object: the play order used and where it came from, the model,
    /// the session settings (buffer, segments, estimator, ABR options, ...), the scoring
    /// options, `carry_state` and the algorithms. `seed` is always `null`: a simulated study
    /// draws no random numbers (the key is there so every summary has the same shape).
    pub fn reproducibility(&self, order: &TraceOrder) -> serde_json::Value {
        serde_json::json!({
            "trace_order": order.names,
            "trace_order_source": order.source.to_string(),
            "seed": null,
            "model": self.session.model,
            "session": self.session,
            "qoe": self.qoe,
            "carry_state": self.carry_state,
            "abr": self.algorithms,
        })
    }
}

/// Why a study could not run (a failing plug-in only fails its playbacks, see [`run`]).
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A built-in algorithm or a learned policy could not be built.
    #[error(transparent)]
    Abr(#[from] AbrError),
    /// The thread pool of [`run_with_jobs`] could not be started.
    #[error(transparent)]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

/// One (trace, algorithm) result.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Metrics.
    pub metrics: Metrics,
    /// The playback (events), if kept.
    pub playback: Option<Playback>,
}

/// Distribution summary.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
}

impl Stats {
    /// Summary of `v` (linear interpolation between order statistics).
    pub fn of(v: &[f64]) -> Stats {
        if v.is_empty() {
            return Stats {
                mean: 0.0,
                median: 0.0,
                p10: 0.0,
                p90: 0.0,
            };
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let x = p * (s.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            s[lo] + (s[hi] - s[lo]) * (x - lo as f64)
        };
        Stats {
            mean: s.iter().sum::<f64>() / s.len() as f64,
            median: pct(0.5),
            p10: pct(0.1),
            p90: pct(0.9),
        }
    }
}

/// Per-algorithm summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlgoSummary {
    /// Algorithm.
    pub abr: String,
    /// Playbacks.
    pub playbacks: usize,
    /// QoE_lin.
    pub qoe_lin: Stats,
    /// QoE_log.
    pub qoe_log: Stats,
    /// QoE_hd (Pensieve ladder only).
    pub qoe_hd: Option<Stats>,
    /// Mean segment bitrate, kbps.
    pub bitrate_kbps: Stats,
    /// Rebuffer time, s.
    pub rebuffer_s: Stats,
    /// Rebuffer ratio.
    pub rebuffer_ratio: Stats,
    /// Startup delay, s.
    pub startup_s: Stats,
    /// Switch count.
    pub switches: Stats,
    /// Playbacks that failed (see [`Study::failures`]); not in the statistics above.
    pub failed: usize,
}

/// A playback that did not finish, e.g. because its plug-in ABR crashed or timed out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failure {
    /// Algorithm (display name).
    pub abr: String,
    /// Trace name.
    pub trace: String,
    /// What happened (names the plug-in command).
    pub message: String,
}

/// A finished study.
#[derive(Debug, Clone)]
pub struct Study {
    /// Results ordered by algorithm (as given) then trace (as given).
    pub results: Vec<RunResult>,
    /// One summary per algorithm, in the given order.
    pub summary: Vec<AlgoSummary>,
    /// Failed playbacks (not in `results`), ordered like `results`.
    pub failures: Vec<Failure>,
}

impl Study {
    /// The distinct failure messages with their counts, most frequent first.
    pub fn failure_counts(&self) -> Vec<(usize, &str)> {
        let mut c: Vec<(usize, &str)> = Vec::new();
        for f in &self.failures {
            match c.iter_mut().find(|(_, m)| *m == f.message) {
                Some(e) => e.0 += 1,
                None => c.push((1, &f.message)),
            }
        }
        c.sort_by_key(|e| std::cmp::Reverse(e.0));
        c
    }
}

/// Runs every algorithm on every trace. Results are in a fixed order whatever the parallelism.
/// Algorithms are named in results by [`crate::abr::plugin::display_names`]. A playback whose
/// algorithm fails ([`crate::abr::Abr::failure`]), or whose plug-in cannot be started, goes to
/// [`Study::failures`] and the study goes on.
pub fn run(ladder: &Ladder, traces: &[Trace], cfg: &StudyConfig) -> Result<Study, StudyError> {
    let total = traces.len() * cfg.algorithms.len();
    let bar = if cfg.progress {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} playbacks {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let done = AtomicUsize::new(0);
    let failed = |name: &str, trace: &Trace, message: String| Failure {
        abr: name.to_string(),
        trace: trace.name.clone(),
        message,
    };
    let one = |abr: &mut dyn crate::abr::Abr, name: &str, trace: &Trace| -> Outcome {
        let mut p = session::run_with(ladder, trace, abr, &cfg.session);
        if done.fetch_add(1, Ordering::Relaxed) & 63 == 0 {
            bar.set_position(done.load(Ordering::Relaxed) as u64);
        }
        if let Some(f) = abr.failure() {
            return Err(failed(name, trace, f));
        }
        p.abr = name.to_string();
        let m = metrics::compute(&p, &ladder.bitrates_kbps, &cfg.qoe);
        Ok(RunResult {
            metrics: m,
            playback: cfg.keep_events.then_some(p),
        })
    };
    let names = crate::abr::plugin::display_names(&cfg.algorithms);
    let per_algo: Vec<Result<Vec<Outcome>, AbrError>> = cfg
        .algorithms
        .par_iter()
        .zip(&names)
        .map(|(spec, name)| {
            // A plug-in that cannot be built fails its playbacks, not the study.
            let plugin = spec.plugin_command().is_some();
            let probe = match session::build_abr(spec, ladder, &traces[0], &cfg.session) {
                Ok(p) => p,
                Err(e) if plugin => {
                    let m = e.to_string();
                    return Ok(traces
                        .iter()
                        .map(|t| Err(failed(name, t, m.clone())))
                        .collect());
                }
                Err(e) => return Err(e),
            };
            if cfg.carry_state && cfg.session.model == ModelKind::Pensieve && probe.carries_state()
            {
                // Sequential, one object for the whole run, as the reference driver does.
                let mut a = probe;
                let mut out = Vec::with_capacity(traces.len());
                for (i, t) in traces.iter().enumerate() {
                    if i > 0 {
                        a.new_video();
                    }
                    out.push(one(a.as_mut(), name, t));
                }
                Ok(out)
            } else {
                drop(probe); // a plug-in's process goes back to the pool for the playbacks
                traces
                    .par_iter()
                    .map(
                        |t| match session::build_abr(spec, ladder, t, &cfg.session) {
                            Ok(mut a) => Ok(one(a.as_mut(), name, t)),
                            Err(e) if plugin => Ok(Err(failed(name, t, e.to_string()))),
                            Err(e) => Err(e),
                        },
                    )
                    .collect()
            }
        })
        .collect();
    bar.finish_and_clear();
    crate::abr::plugin::close_idle(&cfg.algorithms);
    let mut results = Vec::with_capacity(total);
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    for (name, r) in names.iter().zip(per_algo) {
        let (ok, bad): (Vec<_>, Vec<_>) = r?.into_iter().partition(Result::is_ok);
        let ok: Vec<RunResult> = ok.into_iter().filter_map(Result::ok).collect();
        let mut s = summarize(name, &ok);
        s.failed = bad.len();
        summary.push(s);
        results.extend(ok);
        failures.extend(bad.into_iter().filter_map(Result::err));
    }
    Ok(Study {
        results,
        summary,
        failures,
    })
}

/// A playback's result or why it failed.
type Outcome = Result<RunResult, Failure>;

fn summarize(name: &str, r: &[RunResult]) -> AlgoSummary {
    let col = |f: &dyn Fn(&Metrics) -> f64| {
        Stats::of(&r.iter().map(|x| f(&x.metrics)).collect::<Vec<_>>())
    };
    let hd: Option<Vec<f64>> = r.iter().map(|x| x.metrics.qoe_hd).collect();
    AlgoSummary {
        abr: name.to_string(),
        playbacks: r.len(),
        qoe_lin: col(&|m| m.qoe_lin),
        qoe_log: col(&|m| m.qoe_log),
        qoe_hd: hd.map(|v| Stats::of(&v)),
        bitrate_kbps: col(&|m| m.mean_bitrate_kbps),
        rebuffer_s: col(&|m| m.rebuffer_s),
        rebuffer_ratio: col(&|m| m.rebuffer_ratio),
        startup_s: col(&|m| m.startup_s),
        switches: col(&|m| m.switches as f64),
        failed: 0,
    }
}

/// [`run`] on a pool of `jobs` threads (`None`: one per core).
pub fn run_with_jobs(
    jobs: Option<usize>,
    ladder: &Ladder,
    traces: &[Trace],
    cfg: &StudyConfig,
) -> Result<Study, StudyError> {
    match jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j.max(1))
            .build()?
            .install(|| run(ladder, traces, cfg)),
        None => run(ladder, traces, cfg),
    }
}
