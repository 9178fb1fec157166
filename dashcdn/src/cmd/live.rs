//! `dashcdn live`: the real-time live encoder (crate `live-encoder`): the test pattern
//! with the UTC capture time burned in, encoded by ffmpeg in real time and pushed as
//! low-latency chunked CMAF DASH to an origin's ingest.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use live_encoder::{EncoderConfig, LatencyBounds, Rung};

/// Flags of `dashcdn live`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example (an origin with ingest and looped live on, the token in a file):
  dashcdn origin --content content --ingest-token-file token &
  DASHCDN_INGEST_TOKEN=$(cat token) dashcdn live --origin http://127.0.0.1:8080
  → http://127.0.0.1:8080/ingest/live/manifest.mpd (play it through an edge)

The picture shows the capture time (UTC, HH:MM:SS.mmm) as text, and along its top edge as
28 blocks: block 0 white, blocks 1-27 the milliseconds since midnight UTC in binary, most
significant first (white = 1). `--bench SECS` encodes SECS of the ladder as fast as possible
and prints ffmpeg's speed (the real-time headroom).")]
pub struct LiveArgs {
    /// Base URL of the origin (its ingest must be on: `dashcdn origin --ingest`).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    origin: String,
    /// Stream name: the MPD is `<origin>/<prefix>/<stream>/manifest.mpd`.
    #[arg(long, default_value = "live")]
    stream: String,
    /// The origin's ingest prefix.
    #[arg(long, default_value = "ingest")]
    prefix: String,
    /// File holding the ingest bearer token; else the `DASHCDN_INGEST_TOKEN` environment
    /// variable (never on the command line).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Ladder, largest first: `WIDTHxHEIGHT@KBPS` rungs separated by commas. The default
    /// sustains real time on a 2-core machine with room to spare (see `--bench`).
    #[arg(long, value_delimiter = ',', default_value = "640x360@800,320x180@250")]
    ladder: Vec<Rung>,
    /// Frames per second.
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Segment duration, seconds.
    #[arg(long, default_value_t = 2.0)]
    segment: f64,
    /// CMAF chunk duration, seconds (each chunk is uploaded and relayed as it is made).
    #[arg(long, default_value_t = 0.5)]
    chunk: f64,
    /// x264 preset.
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// `ServiceDescription` target latency, seconds.
    #[arg(long, default_value_t = 1.5)]
    target_latency: f64,
    /// `Latency@min` and `@max`, seconds.
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [0.5, 3.0])]
    latency_bounds: Vec<f64>,
    /// `PlaybackRate@min` and `@max` (catch-up bounds for the player).
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [0.96, 1.04])]
    playback_rate: Vec<f64>,
    /// `UTCTiming` URL in the MPD (default `<origin>/live/time`, the origin's clock).
    #[arg(long, value_name = "URL")]
    utc_timing: Option<String>,
    /// Segments in the MPD's window (older ones are deleted from the origin).
    #[arg(long, default_value_t = 10)]
    window: u32,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Do not publish: encode SECS of media as fast as possible and print the speed.
    #[arg(long, value_name = "SECS")]
    bench: Option<u32>,
    /// The ffmpeg program.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: PathBuf,
}

fn secs_ms(s: f64) -> u64 {
    (s * 1000.0).round().max(0.0) as u64
}

/// Runs `dashcdn live`.
pub fn run(args: LiveArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut config = EncoderConfig::new(&args.origin, "");
    config.ffmpeg = args.ffmpeg.clone();
    config.encoding.ladder = args.ladder.clone();
    config.encoding.fps = args.fps;
    config.encoding.segment_secs = args.segment;
    config.encoding.chunk_secs = args.chunk;
    config.encoding.preset = args.preset.clone();
    if let Some(secs) = args.bench {
        let r = runtime.block_on(live_encoder::bench(&args.ffmpeg, &config.encoding, secs))?;
        let speed = r.speed.context("ffmpeg reported no speed")?;
        let ladder: Vec<String> = args
            .ladder
            .iter()
            .map(|r| format!("{}x{}@{}", r.width, r.height, r.kbps))
            .collect();
        println!(
            "bench: {} at {} fps ({}): {} frames, speed={speed:.2}x ({})",
            ladder.join(","),
            args.fps,
            args.preset,
            r.frames,
            if speed >= 1.0 {
                "sustains real time"
            } else {
                "too slow for real time"
            }
        );
        return Ok(());
    }
    let token = match &args.token_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read token file {}", f.display()))?,
        None => std::env::var("DASHCDN_INGEST_TOKEN")
            .context("no token: --token-file FILE or DASHCDN_INGEST_TOKEN")?,
    };
    config.token = token.trim().to_string();
    config.stream = args.stream.clone();
    config.prefix = args.prefix.clone();
    config.utc_timing_url = args.utc_timing.clone();
    config.target_latency_ms = secs_ms(args.target_latency);
    config.latency_bounds = LatencyBounds {
        min_ms: secs_ms(args.latency_bounds[0]),
        max_ms: secs_ms(args.latency_bounds[1]),
    };
    config.playback_rate = (args.playback_rate[0], args.playback_rate[1]);
    config.window_segments = args.window;
    config.duration = args.duration.map(Duration::from_secs_f64);
    let mpd_url = config.mpd_url();
    println!("encoding; the stream will be at {mpd_url} once the origin has its first MPD");
    let report = runtime.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            serve::shutdown_signal().await;
            on_signal.cancel();
        });
        // `up --live` waits for this line: printed once the origin has the first MPD, so
        // the URL answers when it is shown.
        live_encoder::run(config, cancel, move || println!("publishing {mpd_url}")).await
    })?;
    println!(
        "live: {} frames ({} dropped), last speed {}, min speed {}, {} objects ({} bytes of segments) published, {} failed requests",
        report.frames,
        report.dropped,
        report.speed.map_or("-".into(), |s| format!("{s:.3}x")),
        report.min_speed.map_or("-".into(), |s| format!("{s:.3}x")),
        report.stored,
        report.bytes,
        report.failed
    );
    Ok(())
}
