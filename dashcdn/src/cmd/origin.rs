//! `dashcdn origin`: serve a content directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use origin::OriginConfig;

/// Flags of `dashcdn origin`. Flags override the values of `--config`.
#[derive(Debug, Args)]
#[command(after_long_help = LIVE_HELP)]
pub struct OriginArgs {
    /// Content root to serve (the `--out` of `dashcdn package`).
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// TOML file with any field of the origin configuration (content_root, listen,
    /// hot_cache_bytes, hot_file_max_bytes, mpd_max_age_secs, segment_max_age_secs,
    /// header_read_timeout_ms, idle_timeout_ms, max_connections, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// `Cache-Control: max-age` of MPDs, in seconds.
    #[arg(long, value_name = "SECS")]
    mpd_max_age: Option<u64>,
    /// Byte budget of the in-memory cache of hot files (0 disables it).
    #[arg(long, value_name = "BYTES")]
    hot_cache_bytes: Option<u64>,
    /// Close a connection whose request head is not complete this many milliseconds
    /// after its first byte (slowloris defence; 0: never). Default 10000.
    #[arg(long, value_name = "MS")]
    header_read_timeout_ms: Option<u64>,
    /// Close a keep-alive connection idle for this many milliseconds (0: never).
    /// Default 60000.
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// The most client connections open at once. Default: half the soft descriptor
    /// limit (`ulimit -n`) left after 64 for the process; at the limit the connection
    /// stalled longest (idle or slow to send its head) is closed to make room.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Do not serve the looped-live URL space (`[live] enabled = false`).
    #[arg(long)]
    no_live: bool,
    /// Honour `nowMS_<ms>` / `?nowMS=` in live URLs: the live clock fixed by the request
    /// (deterministic tests, as livesim2's nowMS). Off by default.
    #[arg(long)]
    live_clock_override: bool,
    /// Live `timeShiftBufferDepth` (and how long a segment stays available), seconds.
    /// Default 30.
    #[arg(long, value_name = "SECS")]
    live_time_shift: Option<f64>,
    /// Live `minimumUpdatePeriod`, seconds. Default 2.
    #[arg(long, value_name = "SECS")]
    live_update_period: Option<f64>,
    /// Live `suggestedPresentationDelay` (the players' latency target), seconds. Default 6.
    #[arg(long, value_name = "SECS")]
    live_delay: Option<f64>,
    /// Accept pushed live streams (ffmpeg's dash muxer with `-method PUT`, DASH-IF
    /// Live Media Ingest Interface-2): `PUT`/`POST`/`DELETE` under `/ingest/<stream>/`,
    /// served back at the same paths. Needs a bearer token, never given on the command
    /// line: `--ingest-token-file`, `[ingest] token_file` in `--config`, or the
    /// `DASHCDN_INGEST_TOKEN` environment variable (at least 16 characters). Limits and
    /// the prefix are set in the `[ingest]` section (prefix, max_object_bytes,
    /// max_objects_per_stream, max_streams, mpd_max_age_secs, relay_bytes: memory for new
    /// segments served to readers while they are still being uploaded, 64 MiB, 0 = off).
    #[arg(long)]
    ingest: bool,
    /// File holding the ingest bearer token (implies `--ingest`).
    #[arg(long, value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
    /// Validate the flags and configuration as a start would (the content directory
    /// exists and is a directory), print `ok: origin ...` and exit; no socket is bound.
    #[arg(long)]
    check: bool,
}

/// The live part of `dashcdn origin --help`.
const LIVE_HELP: &str = "\
Looped live (as DASH-IF livesim2): every packaged asset is also a live stream, synchronised
to the wall clock modulo its duration (availabilityStartTime = 1970-01-01T00:00:00Z):
  /live/<asset>/manifest.mpd                 dynamic MPD, SegmentTemplate @duration + $Number$
  /live/segtimeline_1/<asset>/manifest.mpd   SegmentTimeline + $Time$
  /live/time                                 UTCTiming endpoint (ISO 8601 UTC, ms)
  /live/nowMS_<ms>/...                       fixed clock (with --live-clock-override)
Segments are the VoD segments with tfdt moved by loop x duration and mfhd renumbered.
Not yet available: 425 (max-age = whole seconds until available, must-revalidate);
left the time-shift window: 410. TOML: a [live] section (enabled, prefix,
time_shift_buffer_depth_ms, minimum_update_period_ms, suggested_presentation_delay_ms,
clock_override, utc_timing_url).";

impl OriginArgs {
    fn config(&self) -> anyhow::Result<OriginConfig> {
        let mut config: OriginConfig = super::load_toml_config(self.config.as_deref(), "origin")?;
        if let Some(c) = &self.content {
            config.content_root = c.clone();
        }
        if let Some(l) = self.listen {
            config.listen = l;
        }
        if let Some(s) = self.mpd_max_age {
            config.mpd_max_age_secs = s;
        }
        if let Some(b) = self.hot_cache_bytes {
            config.hot_cache_bytes = b;
        }
        if let Some(ms) = self.header_read_timeout_ms {
            config.header_read_timeout_ms = ms;
        }
        if let Some(ms) = self.idle_timeout_ms {
            config.idle_timeout_ms = ms;
        }
        if let Some(n) = self.max_connections {
            config.max_connections = Some(n);
        }
        if self.ingest || self.ingest_token_file.is_some() {
            let ingest = config.ingest.get_or_insert_with(Default::default);
            if let Some(f) = &self.ingest_token_file {
                ingest.token_file = Some(f.clone());
            }
        }
        if self.no_live {
            config.live.enabled = false;
        }
        if self.live_clock_override {
            config.live.clock_override = true;
        }
        let ms = |secs: f64, what: &str| -> anyhow::Result<u64> {
            anyhow::ensure!(
                secs.is_finite() && secs > 0.0,
                "{what} must be a positive number of seconds"
            );
            Ok((secs * 1000.0).round() as u64)
        };
        if let Some(s) = self.live_time_shift {
            config.live.time_shift_buffer_depth_ms = ms(s, "--live-time-shift")?;
        }
        if let Some(s) = self.live_update_period {
            config.live.minimum_update_period_ms = ms(s, "--live-update-period")?;
        }
        if let Some(s) = self.live_delay {
            config.live.suggested_presentation_delay_ms = ms(s, "--live-delay")?;
        }
        Ok(config)
    }
}

/// Runs the origin until Ctrl-C or SIGTERM (or, with `--check`, validates and exits).
pub fn run(args: OriginArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    if args.check {
        let root = &config.content_root;
        let meta = std::fs::metadata(root)
            .with_context(|| format!("content directory {}", root.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("content directory {} is not a directory", root.display());
        }
        if let Some(ingest) = &config.ingest {
            ingest.load_token()?;
            println!("ok: ingest under /{}/<stream>/", ingest.prefix);
        }
        config.live.validate().map_err(anyhow::Error::msg)?;
        println!("ok: origin content {} on {}", root.display(), config.listen);
        return Ok(());
    }
    super::run_until_signal(async move { Ok(origin::bind(config).await?) })
}

impl super::Role for origin::RunningOrigin {
    fn announce(&self) {
        println!("listening on http://{}", self.local_addr());
    }

    async fn stop(self) -> anyhow::Result<()> {
        Ok(origin::RunningOrigin::stop(self, Duration::from_secs(5)).await?)
    }
}
