//! Outputs: the summary table (text), `summary.json`, per-trace `metrics.csv`, per-segment
//! `events.csv` / `events.jsonl`, and plots ([`crate::plot`]), each as SVG and PNG: QoE_lin
//! CDFs per session and per chunk, mean QoE_lin / bitrate / rebuffering per algorithm with
//! 95 % confidence intervals, and a bitrate/buffer/throughput timeline of one playback per
//! algorithm. Everything written is a pure function of the inputs (no timings, fixed ordering),
//! so a rerun produces identical bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::events::Playback;
use crate::metrics;
use crate::plot::{self, BarPanel, Cdf};
use crate::study::{AlgoSummary, RunResult, Study, StudyConfig};

pub use crate::plot::PlotError;

/// Writing a study's or a playback's files failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output directory could not be created.
    #[error("creating {}", path.display())]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Formatting the CSV failed.
    #[error(transparent)]
    Fmt(#[from] std::fmt::Error),
    /// Serialising JSON failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Drawing a plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// The summary table: one row per algorithm.
pub fn summary_table(summary: &[AlgoSummary], skip_first: bool) -> String {
    let mut s = String::new();
    let qoe = if skip_first {
        "QoE_lin(2..N)"
    } else {
        "QoE_lin"
    };
    // Columns as wide as their longest entry (plug-in and policy names can be long).
    let w = summary
        .iter()
        .map(|a| a.abr.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let mean = format!("{qoe} mean");
    let m = mean.len();
    let _ = writeln!(
        s,
        "{:<w$} {:>5} {:>m$} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "abr",
        "runs",
        mean,
        "median",
        "p10",
        "p90",
        "kbps",
        "rebuf s",
        "startup",
        "rebuf %",
        "switch"
    );
    for a in summary {
        let _ = writeln!(
            s,
            "{:<w$} {:>5} {:>m$.3} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>8.3} {:>8.3} {:>8.3} {:>7.2}",
            a.abr,
            a.playbacks,
            a.qoe_lin.mean,
            a.qoe_lin.median,
            a.qoe_lin.p10,
            a.qoe_lin.p90,
            a.bitrate_kbps.mean,
            a.rebuffer_s.mean,
            a.startup_s.mean,
            100.0 * a.rebuffer_ratio.mean,
            a.switches.mean
        );
    }
    s
}

/// Writes `summary.json` (`meta` as its `run` object), `metrics.csv`, and, when events were
/// kept, `events.csv`, `events.jsonl` and the plots [`write_study_plots`] lists into `dir`.
/// `study` ran under `cfg` over the traces named `trace_set` (e.g. the directory's name).
pub fn write_study(
    dir: &Path,
    study: &Study,
    cfg: &StudyConfig,
    trace_set: &str,
    meta: &serde_json::Value,
) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let json =
        serde_json::json!({ "run": meta, "algorithms": study.summary, "failures": study.failures });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;

    let mut csv = String::from("abr,trace,segments,mean_bitrate_kbps,time_avg_bitrate_kbps,startup_s,rebuffer_s,rebuffer_count,rebuffer_ratio,switches,switch_magnitude_kbps,qoe_lin,qoe_log,qoe_hd,bytes_downloaded,bytes_wasted,abandoned\n");
    for r in &study.results {
        let m = &r.metrics;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            m.abr,
            m.trace,
            m.segments,
            m.mean_bitrate_kbps,
            m.time_avg_bitrate_kbps,
            m.startup_s,
            m.rebuffer_s,
            m.rebuffer_count,
            m.rebuffer_ratio,
            m.switches,
            m.switch_magnitude_kbps,
            m.qoe_lin,
            m.qoe_log,
            m.qoe_hd.map_or(String::new(), |v| v.to_string()),
            m.bytes_downloaded,
            m.bytes_wasted,
            m.abandoned
        );
    }
    std::fs::write(dir.join("metrics.csv"), csv)?;

    let playbacks: Vec<&Playback> = study
        .results
        .iter()
        .filter_map(|r| r.playback.as_ref())
        .collect();
    if !playbacks.is_empty() {
        write_events(dir, &playbacks)?;
        write_study_plots(dir, study, cfg, trace_set)?;
    }
    Ok(())
}

/// Writes the plots of a study, each as `.svg` and `.png`, titled with the model and
/// `trace_set` (and the trace count):
///
/// * `cdf_qoe`: CDF of QoE_lin per session (one value per trace) for every algorithm;
/// * `cdf_qoe_chunk`: CDF of QoE_lin per chunk ([`metrics::chunk_qoe_lin`], respecting
///   `skip_first`) for every algorithm, as Pensieve's plots;
/// * `qoe_bars`: mean QoE_lin, mean bitrate and mean rebuffering per algorithm, each with a
///   95 % confidence interval across traces (Student's t, [`plot::mean_ci95`]);
/// * `timeline_<abr>`: one playback per algorithm (the first trace; the name made
///   [`file_safe`], e.g. `timeline_learned_learned-envivio`).
///
/// Needs the playbacks' events (`keep_events`); without them nothing is drawn.
pub fn write_study_plots(
    dir: &Path,
    study: &Study,
    cfg: &StudyConfig,
    trace_set: &str,
) -> Result<(), OutputError> {
    let playbacks: Vec<&Playback> = study
        .results
        .iter()
        .filter_map(|r| r.playback.as_ref())
        .collect();
    let Some(first) = playbacks.first() else {
        return Ok(());
    };
    let names: Vec<String> = study.summary.iter().map(|a| a.abr.clone()).collect();
    let per = |f: &dyn Fn(&crate::metrics::Metrics) -> f64| -> Vec<(String, Vec<f64>)> {
        names
            .iter()
            .map(|n| (n.clone(), runs(study, n).map(|r| f(&r.metrics)).collect()))
            .collect()
    };
    let traces = study.summary.first().map_or(0, |a| a.playbacks);
    let model = cfg.session.model;
    let what = format!("{model} model, {trace_set} ({traces} traces)");
    let chunks = if cfg.qoe.skip_first {
        "chunks 2..N"
    } else {
        "chunks 1..N"
    };
    let sessions = per(&|m| m.qoe_lin);
    let per_chunk: Vec<(String, Vec<f64>)> = names
        .iter()
        .map(|n| {
            let v = runs(study, n)
                .filter_map(|r| r.playback.as_ref())
                .flat_map(|p| metrics::chunk_qoe_lin(p, &cfg.qoe))
                .collect();
            (n.clone(), v)
        })
        .collect();
    let ci = |v: &[(String, Vec<f64>)]| v.iter().map(|s| plot::mean_ci95(&s.1)).collect();
    let panels = [
        BarPanel {
            title: format!("QoE_lin per session ({chunks})"),
            x_desc: "mean QoE_lin ± 95 % CI".into(),
            values: ci(&sessions),
        },
        BarPanel {
            title: "bitrate".into(),
            x_desc: "mean segment bitrate (kbps) ± 95 % CI".into(),
            values: ci(&per(&|m| m.mean_bitrate_kbps)),
        },
        BarPanel {
            title: "rebuffering".into(),
            x_desc: "rebuffer time per session (s) ± 95 % CI".into(),
            values: ci(&per(&|m| m.rebuffer_s)),
        },
    ];
    for ext in ["svg", "png"] {
        plot::plot_cdf(
            &dir.join(format!("cdf_qoe.{ext}")),
            &Cdf {
                title: &format!("QoE CDF per session — {what}"),
                x_desc: &format!("QoE_lin per session, sum over {chunks} (Pensieve score)"),
                series: &sessions,
                x_from_quantile: None,
            },
        )?;
        plot::plot_cdf(
            &dir.join(format!("cdf_qoe_chunk.{ext}")),
            &Cdf {
                title: &format!("QoE CDF per chunk — {what}"),
                x_desc: "QoE_lin per chunk = bitrate (Mbps) − 4.3 × rebuffer (s) − \
                         |Δbitrate| (Mbps); axis from the 1st percentile",
                series: &per_chunk,
                x_from_quantile: Some(0.01),
            },
        )?;
        plot::plot_bars(
            &dir.join(format!("qoe_bars.{ext}")),
            &format!("Mean per algorithm with 95 % CI (Student's t) — {what}"),
            &names,
            &panels,
        )?;
        for p in playbacks.iter().filter(|p| p.trace == first.trace) {
            plot_timeline(
                &dir.join(format!("timeline_{}.{ext}", file_safe(&p.abr))),
                p,
            )?;
        }
    }
    Ok(())
}

/// The results of algorithm `abr`, in trace order.
fn runs<'a>(study: &'a Study, abr: &'a str) -> impl Iterator<Item = &'a RunResult> + 'a {
    study.results.iter().filter(move |r| r.metrics.abr == abr)
}

/// Writes `events.csv` and `events.jsonl` (one row per download attempt).
pub fn write_events(dir: &Path, playbacks: &[&Playback]) -> Result<(), OutputError> {
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("events.csv"))?);
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(dir.join("events.jsonl"))?);
    writeln!(csv, "abr,trace,index,quality,bitrate_kbps,size_bits,downloaded_bits,request_ms,idle_ms,ttfb_ms,time_ms,buffer_before_ms,buffer_after_ms,rebuffer_ms,throughput_kbps,estimate_kbps,abandoned,abandon_to")?;
    for p in playbacks {
        for e in &p.events {
            writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                p.abr,
                p.trace,
                e.index,
                e.quality,
                e.bitrate_kbps,
                e.size_bits,
                e.downloaded_bits,
                e.request_ms,
                e.idle_ms,
                e.ttfb_ms,
                e.time_ms,
                e.buffer_before_ms,
                e.buffer_after_ms,
                e.rebuffer_ms,
                e.throughput_kbps,
                e.estimate_kbps,
                e.abandoned,
                e.abandon_to.map_or(String::new(), |q| q.to_string())
            )?;
            let mut v = serde_json::to_value(e)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("abr".into(), p.abr.clone().into());
                o.insert("trace".into(), p.trace.clone().into());
            }
            writeln!(jsonl, "{}", serde_json::to_string(&v)?)?;
        }
    }
    csv.flush()?;
    jsonl.flush()?;
    Ok(())
}

pub use crate::plot::{plot_timeline, register_font};

/// `name` with every character that is not ASCII alphanumeric, `.`, `-` or `_` replaced by `_`,
/// for file names (algorithm names may be plug-in commands or policy paths).
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
