//! `dashcdn player`: the ABR player simulator (crate `player-sim`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use player_sim::abr;
use player_sim::estimator::EstimatorKind;
use player_sim::input::{self, TraceFormat};
use player_sim::metrics::QoeOptions;
use player_sim::model::ModelKind;
use player_sim::session::SessionConfig;
use player_sim::study::{self, StudyConfig};

/// `dashcdn player` modes.
#[derive(Debug, Subcommand)]
pub enum PlayerCommand {
    /// Deterministic trace-driven simulation (no network, no sleeping). With `--trace` one
    /// playback per algorithm; with `--traces DIR` a batch like `study`.
    Simulate(SimArgs),
    /// Batch study: every trace in `--traces DIR` × every algorithm, in parallel; prints the
    /// summary table and (with `--out`) writes summary.json, metrics.csv, events.csv/jsonl,
    /// cdf_qoe.svg and timeline_<abr>.svg.
    Study(SimArgs),
}

/// Flags of `dashcdn player simulate` / `study`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The ladder with per-segment sizes: a Sabre movie JSON, a directory of Pensieve
    /// `video_size_N` files, or packaged content (an asset directory with manifest.mpd, or an MPD).
    #[arg(long, value_name = "PATH")]
    movie: PathBuf,
    /// One trace file (Sabre network JSON, Pensieve cooked `time_s Mbps`, or Mahimahi).
    #[arg(long, value_name = "FILE", conflicts_with = "traces")]
    trace: Option<PathBuf>,
    /// A directory of traces (every non-hidden file, sorted by name = play order).
    #[arg(long, value_name = "DIR")]
    traces: Option<PathBuf>,
    /// Trace format (default: guessed — .json Sabre, two columns Pensieve, one column Mahimahi).
    #[arg(long, value_parser = parse_format)]
    trace_format: Option<TraceFormat>,
    /// ABR algorithms, comma-separated, or `all`: fixed, throughput, bba, festive, bola-basic,
    /// bola, bola-o, bola-e, dynamic (Sabre), dynamicdash (Sabre), dynamic-dashjs (BOLA-E above
    /// 18 s, throughput below 9 s), robustmpc, fastmpc, optimal (offline DP upper bound).
    #[arg(long, default_value = "all")]
    abr: String,
    /// Network/buffer model: `sabre` or `pensieve` reproduce those simulators exactly
    /// (see ../shared/abr-traces/MODELS.md); `generic` is the Sabre engine with --startup-segments,
    /// --payload and --latency-ms.
    #[arg(long, default_value = "generic")]
    model: ModelKind,
    /// Buffer capacity in seconds (default: 25 for sabre/generic, 60 for pensieve).
    #[arg(long, value_name = "S")]
    buffer: Option<f64>,
    /// Generic model: start playback once this many segments are buffered.
    #[arg(long, default_value_t = 1)]
    startup_segments: usize,
    /// Generic model: fraction of trace bandwidth that is payload (Pensieve uses 0.95).
    #[arg(long, default_value_t = 1.0)]
    payload: f64,
    /// Request latency (ms) for traces without one (Pensieve cooked, Mahimahi) in sabre/generic.
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Use --latency-ms even for traces that carry their own latency.
    #[arg(long)]
    force_latency: bool,
    /// Segments to play (default: the whole movie; 48 with --model pensieve).
    #[arg(long)]
    segments: Option<usize>,
    /// Disable abandonment (Sabre's -noa: simple download path).
    #[arg(long)]
    no_abandon: bool,
    /// Disable the insufficient-buffer rule of throughput and BOLA-E (Sabre's -noibr).
    #[arg(long)]
    no_ibr: bool,
    /// BOLA γp (Sabre's -gp).
    #[arg(long, default_value_t = 5.0)]
    gp: f64,
    /// Quality index used by `fixed`.
    #[arg(long, default_value_t = 0)]
    fixed_quality: usize,
    /// Throughput estimator: ewma (half-lives --half-lives), sliding (--window) or harmonic
    /// (harmonic mean of the last --window samples).
    #[arg(long, default_value = "ewma")]
    estimator: String,
    /// EWMA half-lives in seconds.
    #[arg(long, value_delimiter = ',', default_value = "3,8")]
    half_lives: Vec<f64>,
    /// Sliding/harmonic window(s) in samples.
    #[arg(long, value_delimiter = ',', default_value = "3")]
    window: Vec<usize>,
    /// Score chunks from this one (1-based): 2 drops chunk 1 as Pensieve's plot_results.py
    /// does. Default: 2 with --model pensieve, 1 otherwise.
    #[arg(long)]
    score_from: Option<usize>,
    /// Rebuffer weight of QoE_log (per second).
    #[arg(long, default_value_t = 4.3)]
    log_rebuf_penalty: f64,
    /// Pensieve model: reset robustMPC's error history per trace (a deviation from mpc.py,
    /// which carries it across traces in play order; then results are order-independent).
    #[arg(long)]
    reset_state: bool,
    /// Output directory (summary.json, metrics.csv, events.csv, events.jsonl, SVG plots).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_format(s: &str) -> Result<TraceFormat, String> {
    match s {
        "sabre" => Ok(TraceFormat::Sabre),
        "pensieve" => Ok(TraceFormat::Pensieve),
        "mahimahi" => Ok(TraceFormat::Mahimahi),
        _ => Err(format!(
            "unknown trace format {s} (sabre, pensieve, mahimahi)"
        )),
    }
}

/// Runs `dashcdn player ...`.
pub fn run(cmd: PlayerCommand) -> anyhow::Result<()> {
    match cmd {
        PlayerCommand::Simulate(a) => simulate(a, false),
        PlayerCommand::Study(a) => simulate(a, true),
    }
}

fn simulate(a: SimArgs, study_mode: bool) -> anyhow::Result<()> {
    let ladder = input::read_ladder(&a.movie)?;
    let traces = match (&a.trace, &a.traces) {
        (Some(t), None) => vec![input::read_trace(t, a.trace_format)?],
        (None, Some(d)) => input::read_trace_dir(d, a.trace_format)?,
        _ => anyhow::bail!("give --trace FILE or --traces DIR"),
    };
    anyhow::ensure!(
        !study_mode || a.traces.is_some(),
        "study needs --traces DIR"
    );
    let mut session = SessionConfig::for_model(a.model);
    if let Some(b) = a.buffer {
        session.buffer_max_ms = b * 1000.0;
    }
    session.abandonment = !a.no_abandon;
    session.startup_segments = a.startup_segments;
    session.payload = a.payload;
    session.latency_ms = a.latency_ms;
    session.force_latency = a.force_latency;
    if a.segments.is_some() {
        session.segments = a.segments;
    }
    session.abr = abr::AbrOptions {
        gp: a.gp,
        no_ibr: a.no_ibr,
        fixed_quality: a.fixed_quality,
    };
    session.estimator = match a.estimator.as_str() {
        "ewma" => EstimatorKind::Ewma(a.half_lives.clone()),
        "sliding" => EstimatorKind::Sliding(a.window.clone()),
        "harmonic" => EstimatorKind::Harmonic(a.window.first().copied().unwrap_or(5)),
        e => anyhow::bail!("unknown estimator {e} (ewma, sliding, harmonic)"),
    };
    let score_from = a
        .score_from
        .unwrap_or(if a.model == ModelKind::Pensieve { 2 } else { 1 });
    anyhow::ensure!(score_from == 1 || score_from == 2, "--score-from is 1 or 2");
    let cfg = StudyConfig {
        algorithms: abr::parse_list(&a.abr)?,
        session,
        qoe: QoeOptions {
            skip_first: score_from == 2,
            log_rebuf_penalty: a.log_rebuf_penalty,
        },
        carry_state: !a.reset_state,
        keep_events: a.out.is_some(),
        progress: !a.quiet && traces.len() > 1,
    };
    tracing::info!(
        movie = %ladder.name, segments = ladder.segments(), levels = ladder.levels(),
        traces = traces.len(), algorithms = cfg.algorithms.len(), model = %a.model, "simulating"
    );
    let start = Instant::now();
    let result = study::run_with_jobs(a.jobs, &ladder, &traces, &cfg)?;
    let secs = start.elapsed().as_secs_f64();
    print!(
        "{}",
        player_sim::output::summary_table(&result.summary, cfg.qoe.skip_first)
    );
    eprintln!(
        "{} playbacks ({} traces x {} algorithms) in {:.3} s: {:.0} playbacks/s",
        result.results.len(),
        traces.len(),
        cfg.algorithms.len(),
        secs,
        result.results.len() as f64 / secs.max(1e-9)
    );
    if let Some(out) = &a.out {
        let meta = serde_json::json!({
            "movie": a.movie.display().to_string(),
            "ladder_kbps": ladder.bitrates_kbps,
            "segment_ms": ladder.segment_duration_ms,
            "traces": a.traces.as_ref().or(a.trace.as_ref()).map(|p| p.display().to_string()),
            "trace_count": traces.len(),
            "model": a.model,
            "buffer_max_ms": cfg.session.buffer_max_ms,
            "abandonment": cfg.session.abandonment,
            "score_from": score_from,
            "carry_state": cfg.carry_state,
        });
        player_sim::output::write_study(out, &result, &meta)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
