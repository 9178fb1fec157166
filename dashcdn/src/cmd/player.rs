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
use player_sim::trace_order::{self, OrderSource, TraceOrder};

/// `dashcdn player` modes.
#[derive(Debug, Subcommand)]
pub enum PlayerCommand {
    /// Deterministic trace-driven simulation (no network, no sleeping). With `--trace` one
    /// playback per algorithm; with `--traces DIR` a batch like `study`.
    Simulate(SimArgs),
    /// Batch study: every trace in `--traces DIR` × every algorithm, in parallel; prints the
    /// summary table and (with `--out`) writes summary.json, metrics.csv, events.csv/jsonl,
    /// and as SVG and PNG cdf_qoe (per session), cdf_qoe_chunk (per chunk), qoe_bars (means
    /// with 95 % CIs) and timeline_<abr>.
    Study(SimArgs),
    /// Real playback through the CDN: the MPD from a URL (the redirector's 302 is followed) or
    /// via the redirector's DNS, real segments from the edges through a client-side shaper
    /// that follows --trace (unshaped without one), the same ABR code, a real or accelerated
    /// clock (--speed). Fetches the audio beside the video (--no-audio: video only). Prints
    /// every request as it completes, with the edge that served it and its X-Cache.
    Play(PlayArgs),
    /// A swarm of real players through the CDN: N players arriving over time (Poisson or
    /// uniform), titles by Zipf popularity, per-player traces, one shared bottleneck, or both.
    /// Reports per-edge hit ratio from the edges' own /metrics beside the players' X-Cache
    /// counts, origin offload and the QoE distribution; --out writes swarm.json, players.csv,
    /// fetches.csv, cdf_qoe.svg/.png and hit_ratio_over_time.csv/.svg/.png.
    Swarm(SwarmArgs),
    /// Trains a learned ABR with the simulator in the loop (imitation of the offline optimum
    /// with DAgger, Pensieve model) and writes a policy file for `--abr learned:FILE`.
    Train(super::player_train::TrainArgs),
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
    /// A directory of traces (every non-hidden file), played in sorted name order unless
    /// --trace-order gives another.
    #[arg(long, value_name = "DIR")]
    traces: Option<PathBuf>,
    /// Play the --traces in this file's order: one trace file name a line, blank lines and
    /// `#` lines ignored. A name not in the directory, a name listed twice, or a trace of the
    /// directory missing from the file is an error (naming the file and line). The order
    /// matters for robustMPC under --model pensieve, which carries its error history across
    /// traces; summary.json records the order used. E.g.
    /// ../shared/abr-traces/pensieve/hsdpa_reference_order.txt (Pensieve's reference run).
    #[arg(long, value_name = "FILE", requires = "traces")]
    trace_order: Option<PathBuf>,
    /// Trace format (default: guessed — .json Sabre, two columns Pensieve, one column Mahimahi).
    #[arg(long, value_parser = parse_format)]
    trace_format: Option<TraceFormat>,
    /// ABR algorithms, comma-separated, or `all`: fixed, throughput, bba, festive, bola-basic,
    /// bola, bola-o, bola-e, dynamic (Sabre), dynamicdash (Sabre), dynamic-dashjs (BOLA-E above
    /// 18 s, throughput below 9 s), robustmpc, fastmpc, optimal (offline DP upper bound);
    /// and `plugin:COMMAND`, an ABR in a child process speaking JSON lines (e.g.
    /// `plugin:python3 examples/abr/bba.py`; the command may not contain a comma; see
    /// player-sim/src/abr/plugin.rs).
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
    /// Seconds a `plugin:` ABR may take per answer before its playback fails.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    plugin_timeout: f64,
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
    /// Output directory (summary.json, metrics.csv, events.csv, events.jsonl, SVG+PNG plots:
    /// cdf_qoe, cdf_qoe_chunk, qoe_bars, timeline_<abr>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn parse_format(s: &str) -> Result<TraceFormat, String> {
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
        PlayerCommand::Play(a) => play(a),
        PlayerCommand::Swarm(a) => swarm(a),
        PlayerCommand::Train(a) => super::player_train::train(a),
    }
}

fn simulate(a: SimArgs, study_mode: bool) -> anyhow::Result<()> {
    let ladder = input::read_ladder(&a.movie)?;
    let (traces, order) = match (&a.trace, &a.traces) {
        (Some(t), None) => {
            let t = input::read_trace(t, a.trace_format)?;
            let order = TraceOrder {
                source: OrderSource::SortedNames,
                names: vec![t.name.clone()],
            };
            (vec![t], order)
        }
        (None, Some(d)) => {
            trace_order::read_trace_dir_ordered(d, a.trace_format, a.trace_order.as_deref())?
        }
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
        plugin_timeout: plugin_timeout(a.plugin_timeout)?,
        ..Default::default()
    };
    session.estimator = match a.estimator.as_str() {
        "ewma" => EstimatorKind::Ewma(a.half_lives.clone()),
        "sliding" => EstimatorKind::Sliding(a.window.clone()),
        "harmonic" => EstimatorKind::Harmonic(a.window.first().copied().unwrap_or(5)),
        e => anyhow::bail!("unknown estimator {e} (ewma, sliding, harmonic)"),
    };
    let reference = StudyConfig::for_model(a.model, abr::parse_list(&a.abr)?);
    let score_from = a
        .score_from
        .unwrap_or(if reference.qoe.skip_first { 2 } else { 1 });
    anyhow::ensure!(score_from == 1 || score_from == 2, "--score-from is 1 or 2");
    let cfg = StudyConfig {
        session,
        qoe: QoeOptions {
            skip_first: score_from == 2,
            log_rebuf_penalty: a.log_rebuf_penalty,
        },
        carry_state: !a.reset_state,
        keep_events: a.out.is_some(),
        progress: !a.quiet && traces.len() > 1,
        ..reference
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
    if !result.failures.is_empty() {
        eprintln!(
            "{} playbacks failed (not in the table):",
            result.failures.len()
        );
        for (n, m) in result.failure_counts() {
            eprintln!("  {n} x {m}");
        }
    }
    if let Some(out) = &a.out {
        let mut meta = serde_json::json!({
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
        if let (Some(m), serde_json::Value::Object(r)) =
            (meta.as_object_mut(), cfg.reproducibility(&order))
        {
            m.extend(r);
        }
        let trace_set = a
            .traces
            .as_ref()
            .or(a.trace.as_ref())
            .and_then(|p| p.file_name());
        let trace_set = trace_set.map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        player_sim::output::write_study(out, &result, &cfg, &trace_set, &meta)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    anyhow::ensure!(
        result.failures.is_empty(),
        "{} of {} playbacks failed",
        result.failures.len(),
        result.failures.len() + result.results.len()
    );
    Ok(())
}

/// `--plugin-timeout` seconds as a duration.
fn plugin_timeout(s: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(
        s.is_finite() && s > 0.0,
        "--plugin-timeout must be positive"
    );
    Ok(std::time::Duration::from_secs_f64(s))
}

/// Player session flags shared by `dashcdn player play` and `swarm`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Buffer capacity, seconds.
    #[arg(long, value_name = "S", default_value_t = 25.0)]
    buffer: f64,
    /// Disable abandonment of downloads in progress.
    #[arg(long)]
    no_abandon: bool,
    /// Seconds a `plugin:` ABR may take per answer before its playback fails.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    plugin_timeout: f64,
}

impl SessionArgs {
    /// Sets the buffer capacity, abandonment and plug-in timeout of a player session.
    fn apply(&self, session: &mut SessionConfig) -> anyhow::Result<()> {
        session.buffer_max_ms = self.buffer * 1000.0;
        session.abandonment = !self.no_abandon;
        session.abr.plugin_timeout = plugin_timeout(self.plugin_timeout)?;
        Ok(())
    }
}

/// The entry of `--dns ADDR --name NAME --port P` (`play` and `swarm`): the player asks the
/// redirector's DNS for `name` and GETs `http://<answer>:<port><path>`.
fn dns_entry(
    server: std::net::SocketAddr,
    name: &str,
    port: Option<u16>,
    path: String,
) -> anyhow::Result<player_live::Entry> {
    Ok(player_live::Entry::Dns {
        server,
        name: name.to_string(),
        port: port.context("--dns needs --port (the edges' HTTP port)")?,
        path,
    })
}

/// Flags of `dashcdn player play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// MPD URL: on an origin or edge, or on the redirector (its 302 is followed), e.g.
    /// http://127.0.0.1:8053/default/manifest.mpd.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "dns",
        required_unless_present = "dns"
    )]
    url: Option<String>,
    /// Instead of --url: the redirector's DNS address; the player asks it for --name (A) and
    /// GETs http://<answer>:<--port><--path>.
    #[arg(long, value_name = "ADDR", requires = "port")]
    dns: Option<std::net::SocketAddr>,
    /// DNS name to look up with --dns.
    #[arg(long, default_value = "cdn.example.test")]
    name: String,
    /// HTTP port of the edges (with --dns).
    #[arg(long)]
    port: Option<u16>,
    /// MPD path (with --dns).
    #[arg(long, default_value = "/default/manifest.mpd")]
    path: String,
    /// ABR algorithm (any of `simulate --abr` except optimal). Default: bola-e (steps down
    /// through the ladder on a drop and back up as the buffer refills). A `cmsd-` prefix
    /// (`cmsd-throughput`, `cmsd-bola-e`) steers it by the servers' CMSD: the throughput
    /// estimate and rung capped by `etp`, the rung by `mb`, one rung down under `du`.
    #[arg(long, default_value = player_live::play::DEFAULT_ABR)]
    abr: String,
    /// How to send CMCD (CTA-5004) with every request: `query` (the `CMCD=` argument, as
    /// dash.js), `header` (`CMCD-*` headers) or `off`.
    #[arg(long, default_value = "query", value_name = "MODE")]
    cmcd: player_live::cmcd_out::CmcdMode,
    /// Shape the downloads to this trace (Sabre JSON, Pensieve cooked or Mahimahi; looped).
    /// Without it the downloads are not shaped.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Trace format (default: guessed).
    #[arg(long, value_parser = parse_format)]
    trace_format: Option<TraceFormat>,
    /// Clock scale: trace and player time run this many times faster than wall time (the
    /// shaper delivers rate x speed; idle waits are divided by it).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Play only the first N segments.
    #[arg(long)]
    segments: Option<usize>,
    /// Live streams (a dynamic MPD, e.g. the origin's /live/<asset>/manifest.mpd): play this
    /// many seconds of wall time, joined at the live edge − the target latency, with
    /// dash.js's playback-rate catch-up; latency (mean/p50/p95/max) is reported.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    live_duration: f64,
    #[command(flatten)]
    session: SessionArgs,
    /// Do not fetch the audio. By default the lowest audio Representation is fetched beside
    /// the video (the segments covering each video segment, concurrently with it, through the
    /// same shaper); the ABR's throughput is measured on the video downloads only.
    #[arg(long)]
    no_audio: bool,
    /// Output directory: playback.json, fetches.csv/jsonl (every HTTP request, with the edge
    /// and X-Cache), events.csv/jsonl and timeline.svg + timeline.png.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// One line of the live request log of `player play` (see [`LOG_HEADER`]).
fn fetch_line(f: &player_live::SegmentFetch) -> String {
    use player_live::FetchKind;
    let (what, rung) = match f.kind {
        FetchKind::Mpd => ("mpd".to_string(), "-".to_string()),
        FetchKind::Time => ("time".to_string(), "-".to_string()),
        FetchKind::Init => ("init".to_string(), f.quality.to_string()),
        FetchKind::Media => (f.index.to_string(), f.quality.to_string()),
        FetchKind::AudioInit => ("a-init".to_string(), "a".to_string()),
        FetchKind::Audio => (format!("a{}", f.index), "a".to_string()),
    };
    let kbps = if f.ms > 0.0 && f.bytes > 0 {
        format!("{:.0}", f.bytes as f64 * 8.0 / f.ms)
    } else {
        "-".to_string()
    };
    format!(
        "{:>8.2} {:>6} {:>4} {:>9} {:>8.0} {:>7} {:>20} {:>7}{}{}",
        f.at_ms / 1000.0,
        what,
        rung,
        f.bytes,
        f.ms,
        kbps,
        f.edge.as_deref().unwrap_or("-"),
        f.cache.as_str(),
        if f.abandoned { " abandoned" } else { "" },
        f.error
            .as_deref()
            .map_or(String::new(), |e| format!(" error: {e}"))
    )
}

/// Header of the live request log: player clock at the request (s), the segment (`mpd`,
/// `init`, a video index, `a-init`, `a<audio index>`), the rung (`a` for audio), bytes,
/// duration (ms, player clock), measured kbps, the edge that served it and its X-Cache.
const LOG_HEADER: [&str; 8] = [
    "at_s", "seg", "rung", "bytes", "ms", "kbps", "edge", "x-cache",
];

fn play(a: PlayArgs) -> anyhow::Result<()> {
    use player_live::{self as live, Entry, PlayOptions, Shaper};
    use std::sync::Arc;

    anyhow::ensure!(
        a.speed.is_finite() && a.speed > 0.0,
        "--speed must be positive"
    );
    let entry = match (&a.url, a.dns) {
        (Some(u), None) => Entry::Url(u.clone()),
        (None, Some(server)) => dns_entry(server, &a.name, a.port, a.path.clone())?,
        _ => anyhow::bail!("give --url URL or --dns ADDR --port P"),
    };
    let shaper = match &a.trace {
        Some(t) => {
            let trace = input::read_trace(t, a.trace_format)?;
            Shaper::try_from_trace(&trace, a.speed)
                .with_context(|| format!("shaping to {}", t.display()))?
        }
        None => Shaper::unlimited(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut opts = PlayOptions::new(entry, runtime.handle().clone())?;
    opts.abr = a.abr.clone();
    opts.cmcd = a.cmcd;
    a.session.apply(&mut opts.session)?;
    opts.shaper = Arc::new(shaper);
    opts.clock_scale = a.speed;
    opts.segments = a.segments;
    opts.live_duration = live_duration(a.live_duration)?;
    opts.label = a
        .trace
        .as_ref()
        .and_then(|t| t.file_name())
        .map_or("unshaped".to_string(), |n| n.to_string_lossy().into_owned());
    opts.audio = !a.no_audio;
    let h = LOG_HEADER;
    println!(
        "{:>8} {:>6} {:>4} {:>9} {:>8} {:>7} {:>20} {:>7}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    );
    opts.on_fetch = Some(Arc::new(|f: &live::SegmentFetch| {
        println!("{}", fetch_line(f));
    }));
    let lp = live::play(&opts);
    abr::plugin::close_idle(&[player_live::cmsd_abr::split_name(&opts.abr).0]);
    let lp = lp?;
    let m = &lp.metrics;
    let media: Vec<_> = lp.media().collect();
    let hits = media
        .iter()
        .filter(|f| f.cache == live::CacheStatus::Hit)
        .count();
    let mut edges: Vec<&str> = media.iter().filter_map(|f| f.edge.as_deref()).collect();
    edges.sort();
    edges.dedup();
    let audio: Vec<_> = lp.audio().collect();
    let audio_hits = audio
        .iter()
        .filter(|f| f.cache == live::CacheStatus::Hit)
        .count();
    let ladder: Vec<String> = lp.ladder_kbps.iter().map(|k| format!("{k:.0}")).collect();
    let audio_note = match (&lp.audio_representation_id, lp.audio_kbps) {
        (Some(id), Some(k)) => format!(
            "; audio {id} ({k:.0} kbps): {} requests ({} HIT), up to {:.2} s of {:.2} s played",
            audio.len(),
            audio_hits,
            lp.audio_until_s.unwrap_or(0.0),
            lp.video_until_s
        ),
        _ => "; no audio".to_string(),
    };
    println!(
        "{} via {} (ladder {} kbps): {} segments, mean {:.0} kbps, startup {:.2} s, rebuffer {:.2} s ({}), \
         {} switches, QoE_lin {:.2}, {:.1} MB ({:.1} MB wasted), {} media requests ({} HIT) from {}{}",
        lp.playback.abr,
        lp.mpd_url,
        ladder.join("/"),
        m.segments,
        m.mean_bitrate_kbps,
        m.startup_s,
        m.rebuffer_s,
        m.rebuffer_count,
        m.switches,
        m.qoe_lin,
        m.bytes_downloaded / 1e6,
        m.bytes_wasted.abs() / 1e6,
        media.len(),
        hits,
        edges.join(", "),
        audio_note
    );
    let changes: Vec<String> = lp
        .cmsd_changes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "CMCD {} (sid {}); {} responses with CMSD-Dynamic; CMSD rules applied: {}",
        lp.cmcd,
        lp.cmcd_sid.as_deref().unwrap_or("-"),
        lp.cmsd_responses,
        if changes.is_empty() {
            "none".to_string()
        } else {
            changes.join(", ")
        }
    );
    if let Some(l) = &lp.live {
        println!("{}", live_line(l));
    }
    if let Some(out) = &a.out {
        write_play(out, &lp).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// `--live-duration` as a duration (positive, finite).
fn live_duration(s: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(
        s.is_finite() && s > 0.0,
        "--live-duration {s}: must be a positive number of seconds"
    );
    Ok(std::time::Duration::from_secs_f64(s))
}

/// The live summary line of `player play`.
fn live_line(l: &player_live::live::LiveStats) -> String {
    let lat = l.latency.map_or("no samples".to_string(), |s| {
        format!(
            "mean {:.2} s, p50 {:.2} s, p95 {:.2} s, max {:.2} s ({} samples)",
            s.mean_s, s.p50_s, s.p95_s, s.max_s, s.samples
        )
    });
    let end = l
        .final_latency_s
        .map_or(String::new(), |e| format!(", {e:.2} s at the end"));
    format!(
        "live ({}): latency {lat}{end}, target {:.2} s ({}); clock offset {:.0} ms via {}; \
         {} not-yet answers retried, {} re-joins, {} MPD updates, catch-up {:.1} s at mean rate {:.3}",
        l.addressing,
        l.target_latency_s,
        l.target_source,
        l.clock_offset_ms,
        l.clock_source,
        l.early_responses,
        l.resyncs,
        l.mpd_refreshes,
        l.catchup_s,
        l.mean_rate
    )
}

fn write_play(out: &std::path::Path, lp: &player_live::LivePlayback) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("playback.json"),
        serde_json::to_string_pretty(lp)? + "\n",
    )?;
    let mut csv = std::io::BufWriter::new(std::fs::File::create(out.join("fetches.csv"))?);
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(out.join("fetches.jsonl"))?);
    writeln!(
        csv,
        "kind,index,quality,bitrate_kbps,status,bytes,ms,ttfb_ms,at_ms,abandoned,edge,x_cache,url,error,cmsd_etp_kbps,cmsd_du"
    )?;
    for f in &lp.fetches {
        use player_live::FetchKind;
        let kbps = match f.kind {
            FetchKind::Mpd | FetchKind::Time => String::new(),
            FetchKind::AudioInit | FetchKind::Audio => {
                lp.audio_kbps.map_or(String::new(), |k| k.to_string())
            }
            FetchKind::Init | FetchKind::Media => lp.ladder_kbps[f.quality].to_string(),
        };
        writeln!(
            csv,
            "{},{},{},{},{},{},{:.3},{:.3},{:.3},{},{},{},{},{},{},{}",
            f.kind.as_str(),
            f.index,
            f.quality,
            kbps,
            f.status,
            f.bytes,
            f.ms,
            f.ttfb_ms,
            f.at_ms,
            f.abandoned,
            f.edge.as_deref().unwrap_or(""),
            f.cache,
            f.url,
            f.error.as_deref().unwrap_or("").replace([',', '\n'], " "),
            f.cmsd
                .as_ref()
                .and_then(|c| c.etp_kbps)
                .map_or(String::new(), |k| k.to_string()),
            f.cmsd.as_ref().is_some_and(|c| c.du)
        )?;
        writeln!(jsonl, "{}", serde_json::to_string(f)?)?;
    }
    csv.flush()?;
    jsonl.flush()?;
    player_sim::output::write_events(out, &[&lp.playback])?;
    player_sim::output::plot_timeline(&out.join("timeline.svg"), &lp.playback)?;
    player_sim::output::plot_timeline(&out.join("timeline.png"), &lp.playback)?;
    Ok(())
}

/// Flags of `dashcdn player swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// Where each player starts: an MPD URL with `{title}` in it, e.g.
    /// `http://127.0.0.1:8053/{title}/manifest.mpd` (the redirector's 302 is followed). A URL
    /// without `{title}` is a base and gets `/{title}/manifest.mpd` appended.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "dns",
        required_unless_present = "dns"
    )]
    url: Option<String>,
    /// Instead of --url: the redirector's DNS address; each player asks it for --name (A) and
    /// GETs http://<answer>:<--port>/<title>/manifest.mpd. The redirector answers by name and
    /// hashes by client subnet, not by content: with one name every title lands on the same
    /// edge (no per-title spreading as with the HTTP 302). See --name for per-title names.
    #[arg(long, value_name = "ADDR", requires = "port")]
    dns: Option<std::net::SocketAddr>,
    /// DNS name to look up with --dns. May contain `{title}` (e.g.
    /// `{title}.titles.example.test`): the redirector answers such a name only if its topology
    /// has a `[[services]]` entry with that `dns_name` for every title (whose `edges` decide
    /// where the title goes), outside the zone of any service listed before it; otherwise the
    /// lookups fail (NXDOMAIN/REFUSED) and so do the players.
    #[arg(long, default_value = "cdn.example.test")]
    name: String,
    /// HTTP port of the edges (with --dns).
    #[arg(long)]
    port: Option<u16>,
    /// Titles, most popular first (`default,t1,t2`), or a number N for `t1`..`tN`. Every title
    /// must be an asset of the content (e.g. `ln -s default content/t1`).
    #[arg(long, default_value = "default")]
    titles: String,
    /// Zipf exponent of title popularity (0 = uniform).
    #[arg(long, default_value_t = 0.8)]
    zipf: f64,
    /// Number of players.
    #[arg(long, default_value_t = 50)]
    players: usize,
    /// Poisson arrivals at this mean rate (players per session second).
    #[arg(long, value_name = "PER_S", conflicts_with = "arrival_window")]
    arrival_rate: Option<f64>,
    /// Uniform arrivals over this many session seconds (default 10 unless --arrival-rate).
    #[arg(long, value_name = "S")]
    arrival_window: Option<f64>,
    /// Directory of traces (Sabre JSON, Pensieve cooked, Mahimahi): player i gets trace
    /// i mod k from a seeded random offset. Without it players are not shaped.
    #[arg(long, value_name = "DIR")]
    traces: Option<PathBuf>,
    /// Trace format (default: guessed per file).
    #[arg(long, value_parser = parse_format)]
    trace_format: Option<TraceFormat>,
    /// Start every trace at 0 instead of a random offset.
    #[arg(long)]
    no_trace_offset: bool,
    /// One bottleneck of this many Mbps shared by every player. With --traces too, each
    /// player's own trace sits behind it (chained shapers): a player gets at most its trace's
    /// rate and at most its share of the bottleneck.
    #[arg(long, value_name = "MBPS")]
    shared_bottleneck: Option<f64>,
    /// Clock scale: session seconds per wall second (arrivals, traces and playback).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Segments each player plays (default: the whole title).
    #[arg(long)]
    segments: Option<usize>,
    /// Live streams (a dynamic MPD, e.g. the origin's /live/<asset>/manifest.mpd): play this
    /// many seconds of wall time, joined at the live edge − the target latency, with
    /// dash.js's playback-rate catch-up; latency (mean/p50/p95/max) is reported.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    live_duration: f64,
    /// Video only: players do not fetch the audio (by default they fetch the lowest audio
    /// Representation beside the video, as `play` does; audio requests count per edge too).
    #[arg(long)]
    no_audio: bool,
    /// ABR algorithm of every player (as `play --abr`, `cmsd-` prefix included), or a
    /// comma-separated list alternated across players in arrival order (`throughput,
    /// cmsd-throughput`: the report's fairness table has a row per ABR).
    #[arg(long, default_value = player_live::play::DEFAULT_ABR)]
    abr: String,
    /// How the players send CMCD: `query`, `header` or `off` (as `play --cmcd`).
    #[arg(long, default_value = "query", value_name = "MODE")]
    cmcd: player_live::cmcd_out::CmcdMode,
    #[command(flatten)]
    session: SessionArgs,
    /// Workload seed (titles, arrivals, trace offsets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Edge metrics to scrape before and after, comma-separated (`http://edge:port` gets
    /// `/metrics` appended).
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    edge_metrics: Vec<String>,
    /// Origin metrics to scrape before and after.
    #[arg(long, value_name = "URL")]
    origin_metrics: Option<String>,
    /// At most this many players at once (later arrivals wait).
    #[arg(long, default_value_t = 1000)]
    max_concurrent: usize,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Output directory: swarm.json, players.csv, fetches.csv (every request with its edge and
    /// X-Cache), cdf_qoe.svg, hit_ratio_over_time.csv/svg.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Log filter of the player threads (tracing `EnvFilter` syntax). Default `warn`: failed
    /// players are logged, each playback's info lines are not (`--player-log info` shows
    /// them). The global --log still applies to the swarm's own lines.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    player_log: String,
}

fn swarm(a: SwarmArgs) -> anyhow::Result<()> {
    use player_live::swarm::{self, Arrival, SwarmConfig, TITLE_PLACEHOLDER};
    use player_live::Entry;
    let titles: Vec<String> = match a.titles.parse::<usize>() {
        Ok(n) => (1..=n).map(|i| format!("t{i}")).collect(),
        Err(_) => a
            .titles
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    anyhow::ensure!(!titles.is_empty(), "--titles is empty");
    let entry = match (&a.url, a.dns) {
        (Some(u), _) if u.contains(TITLE_PLACEHOLDER) => Entry::Url(u.clone()),
        (Some(u), _) => Entry::Url(format!(
            "{}/{TITLE_PLACEHOLDER}/manifest.mpd",
            u.trim_end_matches('/')
        )),
        (None, Some(server)) => dns_entry(
            server,
            &a.name,
            a.port,
            format!("/{TITLE_PLACEHOLDER}/manifest.mpd"),
        )?,
        (None, None) => anyhow::bail!("give --url URL or --dns ADDR --port P"),
    };
    let arrival = match a.arrival_rate {
        Some(r) => Arrival::Poisson { rate_per_s: r },
        None => Arrival::Uniform {
            window_s: a.arrival_window.unwrap_or(10.0),
        },
    };
    let traces = match &a.traces {
        Some(d) => input::read_trace_dir(d, a.trace_format)?,
        None => Vec::new(),
    };
    let mut session = SessionConfig::for_model(ModelKind::Generic);
    a.session.apply(&mut session)?;
    session.segments = a.segments;
    let abrs: Vec<&str> = a
        .abr
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    anyhow::ensure!(!abrs.is_empty(), "--abr is empty");
    for n in &abrs {
        let kind = player_live::cmsd_abr::check_name(n)?;
        anyhow::ensure!(
            kind != abr::AbrKind::Optimal,
            "--abr {n}: optimal cannot play live"
        );
    }
    let cfg = SwarmConfig {
        entry,
        titles,
        zipf_s: a.zipf,
        players: a.players,
        arrival,
        traces,
        random_offset: !a.no_trace_offset,
        shared_bottleneck_kbps: a.shared_bottleneck.map(|m| m * 1000.0),
        clock_scale: a.speed,
        segments: a.segments,
        audio: !a.no_audio,
        abr: abrs.join(","),
        cmcd: a.cmcd,
        session,
        live_duration: live_duration(a.live_duration)?,
        seed: a.seed,
        edge_metrics: a.edge_metrics.clone(),
        origin_metrics: a.origin_metrics.clone(),
        max_concurrent: a.max_concurrent,
        progress: !a.quiet,
        player_log: Some(tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&a.player_log)
                        .with_context(|| format!("--player-log {:?}", a.player_log))?,
                )
                .with_writer(std::io::stderr)
                .finish(),
        )),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(j) = a.jobs {
        rt.worker_threads(j.max(1));
    }
    let rt = rt.enable_all().build()?;
    let client = player_live::play::default_client()?;
    let report = swarm::run(&cfg, rt.handle(), &client);
    let bases: Vec<&str> = abrs
        .iter()
        .map(|n| player_live::cmsd_abr::split_name(n).0)
        .collect();
    abr::plugin::close_idle(&bases);
    let report = report?;
    print!("{}", swarm::table(&report));
    if let Some(out) = &a.out {
        swarm::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
