//! # live-encoder — a real-time live encoder publishing low-latency DASH to the origin
//!
//! `dashcdn live` (issue 14, "a real live encoder"): ffmpeg encodes the lavfi test
//! pattern (`testsrc2`, a beeping `sine`) in real time with the capture time burned into
//! every frame — as `HH:MM:SS.mmm` UTC text and as a machine-readable strip of black and
//! white blocks ([`ffmpeg`]) — on a ladder of x264 `zerolatency` rungs, and its dash muxer
//! writes low-latency chunked CMAF (2 s segments of 0.5 s chunks by default; an MPD with
//! `availabilityTimeOffset`, `availabilityTimeComplete="false"`, `ServiceDescription` and
//! `UTCTiming`) with `PUT` to this crate's publisher ([`publish`]), which forwards each
//! object, chunk by chunk, to the origin's push ingest with the bearer token. The origin
//! serves a segment still being uploaded to its readers as it grows
//! (`origin::growing`), so a player can be one chunk behind the encoder.
//!
//! ## Data flow
//! [`run`]: bind the publisher on `127.0.0.1:0` → start ffmpeg ([`ffmpeg::encode_args`],
//! killed if this process drops it) → read its `-progress` lines (`speed=`, frames,
//! drops; logged every 10 s, a warning when it falls behind real time) → on cancel or
//! after `duration`, `SIGINT` (ffmpeg writes its last MPD) then `SIGKILL` after 5 s →
//! [`Report`]. [`bench`] runs the same encode without `-re` into `-f null`: its `speed=`
//! is the ladder's real-time headroom on this machine.
//!
//! It depends on no hop crate: it talks to the origin over HTTP only.

pub mod ffmpeg;
pub mod publish;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

pub use ffmpeg::{Encoding, Rung};
pub use publish::{LatencyBounds, PublishStats};

/// Errors of the live encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// ffmpeg could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// ffmpeg exited with an error.
    #[error("ffmpeg failed ({0}); run with --log debug for its arguments")]
    Ffmpeg(std::process::ExitStatus),
    /// The publisher's socket.
    #[error("publisher: {0}")]
    Io(#[from] std::io::Error),
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// Everything `dashcdn live` needs.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// What to encode.
    pub encoding: Encoding,
    /// Origin base URL, e.g. `http://127.0.0.1:8080`.
    pub origin: String,
    /// The origin's ingest prefix (`ingest`).
    pub prefix: String,
    /// Stream name: the MPD is `<origin>/<prefix>/<stream>/manifest.mpd`.
    pub stream: String,
    /// Bearer token of the origin's ingest.
    pub token: String,
    /// `UTCTiming` URL; `None`: `<origin>/live/time`.
    pub utc_timing_url: Option<String>,
    /// `Latency@target`, ms.
    pub target_latency_ms: u64,
    /// `Latency@min`/`@max`, ms.
    pub latency_bounds: LatencyBounds,
    /// `PlaybackRate@min`/`@max`.
    pub playback_rate: (f64, f64),
    /// Segments in the MPD's window.
    pub window_segments: u32,
    /// Stop after this long (`None`: until cancelled).
    pub duration: Option<Duration>,
}

impl EncoderConfig {
    /// The defaults of `dashcdn live`: 640x360@800 + 320x180@250 at 25 fps, 2 s segments
    /// of 0.5 s chunks, target latency 1.5 s (bounds 0.5–3 s), playback rate 0.96–1.04.
    pub fn new(origin: &str, token: &str) -> EncoderConfig {
        EncoderConfig {
            ffmpeg: "ffmpeg".into(),
            encoding: Encoding {
                ladder: vec![
                    Rung {
                        width: 640,
                        height: 360,
                        kbps: 800,
                    },
                    Rung {
                        width: 320,
                        height: 180,
                        kbps: 250,
                    },
                ],
                fps: 25,
                segment_secs: 2.0,
                chunk_secs: 0.5,
                audio_kbps: 64,
                preset: "veryfast".into(),
            },
            origin: origin.trim_end_matches('/').to_string(),
            prefix: "ingest".into(),
            stream: "live".into(),
            token: token.to_string(),
            utc_timing_url: None,
            target_latency_ms: 1500,
            latency_bounds: LatencyBounds {
                min_ms: 500,
                max_ms: 3000,
            },
            playback_rate: (0.96, 1.04),
            window_segments: 10,
            duration: None,
        }
    }

    /// The MPD's URL at the origin.
    pub fn mpd_url(&self) -> String {
        format!(
            "{}/{}/{}/manifest.mpd",
            self.origin, self.prefix, self.stream
        )
    }

    fn check(&self) -> Result<(), EncoderError> {
        let e = &self.encoding;
        let bad = |m: &str| Err(EncoderError::Config(m.into()));
        if e.ladder.is_empty() {
            return bad("the ladder needs at least one rung");
        }
        if e.fps == 0 || e.fps > 60 {
            return bad("fps must be 1..=60");
        }
        if !(e.chunk_secs > 0.0 && e.chunk_secs <= e.segment_secs) {
            return bad("the chunk duration must be > 0 and at most the segment duration");
        }
        if self.stream.is_empty() || self.stream.contains('/') || self.stream.starts_with('.') {
            return bad("the stream name must be one plain path segment");
        }
        Ok(())
    }
}

/// What ffmpeg reported (its `-progress` lines) and the publisher forwarded.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Frames encoded.
    pub frames: u64,
    /// Frames ffmpeg dropped.
    pub dropped: u64,
    /// The last `speed=` (1.0 = real time).
    pub speed: Option<f64>,
    /// The lowest `speed=` after the first 5 s (`None` in a shorter run).
    pub min_speed: Option<f64>,
    /// Objects stored at the origin.
    pub stored: u64,
    /// Segment bytes forwarded.
    pub bytes: u64,
    /// Requests that failed.
    pub failed: u64,
}

/// The font of the burned-in clock: DejaVu Sans Mono Bold when installed, else
/// fontconfig's default.
pub fn default_font() -> Option<PathBuf> {
    let p = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf");
    p.exists().then(|| p.to_path_buf())
}

fn spawn(program: &Path, args: &[String]) -> Result<Child, EncoderError> {
    tracing::debug!(program = %program.display(), ?args, "starting ffmpeg");
    let mut cmd = Command::new(program);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) only, between fork and exec: async-signal-safe. ffmpeg gets SIGKILL
    // if this process dies without dropping it (killed with SIGKILL itself).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| EncoderError::Spawn {
            program: program.display().to_string(),
            source,
        })
}

/// Reads ffmpeg's `-progress` key=value lines into `report` until stdout closes.
async fn progress(
    out: Option<tokio::process::ChildStdout>,
    report: Arc<std::sync::Mutex<Report>>,
    live: bool,
) {
    let Some(out) = out else {
        return;
    };
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
        match k {
            "frame" => r.frames = v.trim().parse().unwrap_or(r.frames),
            "drop_frames" => r.dropped = v.trim().parse().unwrap_or(r.dropped),
            "speed" => {
                if let Ok(s) = v.trim().trim_end_matches('x').parse::<f64>() {
                    r.speed = Some(s);
                    if started.elapsed() > Duration::from_secs(5) {
                        r.min_speed = Some(r.min_speed.map_or(s, |m| m.min(s)));
                    }
                }
            }
            "progress" if live && last_log.elapsed() >= Duration::from_secs(10) => {
                last_log = Instant::now();
                let speed = r.speed.unwrap_or(0.0);
                if speed < 0.98 && started.elapsed() > Duration::from_secs(10) {
                    tracing::warn!(
                        speed,
                        "the encoder is behind real time: use a smaller ladder"
                    );
                } else {
                    tracing::info!(frames = r.frames, dropped = r.dropped, speed, "encoding");
                }
            }
            _ => {}
        }
    }
}

/// Forwards ffmpeg's log (`level+info` lines) to tracing — warnings and errors at `warn`,
/// the rest at `debug` — and sends the first frame's capture time.
async fn ffmpeg_log(
    err: Option<tokio::process::ChildStderr>,
    capture: tokio::sync::watch::Sender<Option<u64>>,
) {
    let Some(err) = err else {
        return;
    };
    let mut lines = BufReader::new(err).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(t) = ffmpeg::capture_time_ms(&line) {
            tracing::info!(capture_ms = t, "first frame captured");
            capture.send_replace(Some(t));
        } else if ["[warning]", "[error]", "[fatal]", "[panic]"]
            .iter()
            .any(|l| line.starts_with(l))
        {
            tracing::warn!(target: "ffmpeg", "{line}");
        } else {
            tracing::debug!(target: "ffmpeg", "{line}");
        }
    }
}

/// Sends `SIGINT` (ffmpeg finishes its segments and MPD), then kills after `grace`.
async fn stop(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (id() is Some).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGINT);
        }
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Runs the live encoder until `cancel` (or `duration`); see the crate docs.
/// `on_published` is called once, when the origin has stored the first MPD: from then on
/// the stream's MPD URL answers (before it, the origin has nothing to serve there).
pub async fn run(
    config: EncoderConfig,
    cancel: CancellationToken,
    on_published: impl FnOnce() + Send + 'static,
) -> Result<Report, EncoderError> {
    config.check()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let stats = Arc::new(PublishStats::default());
    let (capture_tx, capture_rx) = tokio::sync::watch::channel(None);
    let target = publish::Target {
        base: format!("{}/{}/{}", config.origin, config.prefix, config.stream),
        token: config.token.clone(),
        bounds: config.latency_bounds,
        capture0: capture_rx,
    };
    let relay_stop = CancellationToken::new();
    let announce = {
        let stats = stats.clone();
        tokio::spawn(async move {
            stats.mpd_stored.notified().await;
            on_published();
        })
    };
    let server = {
        let stop = relay_stop.clone();
        let app = publish::router(target, stats.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        })
    };
    let out = ffmpeg::DashOutput {
        mpd_url: format!("http://{local}/manifest.mpd"),
        utc_timing_url: config
            .utc_timing_url
            .clone()
            .unwrap_or_else(|| format!("{}/live/time", config.origin)),
        target_latency_ms: config.target_latency_ms,
        playback_rate: config.playback_rate,
        window_segments: config.window_segments,
    };
    let args = ffmpeg::encode_args(&config.encoding, &out, default_font().as_deref());
    let mut child = spawn(&config.ffmpeg, &args)?;
    tracing::info!(mpd = %config.mpd_url(), "live encoder started");
    let report = Arc::new(std::sync::Mutex::new(Report::default()));
    let mut reader = tokio::spawn(progress(child.stdout.take(), report.clone(), true));
    let log = tokio::spawn(ffmpeg_log(child.stderr.take(), capture_tx));
    let limit = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let exit = tokio::select! {
        status = child.wait() => Some(status?),
        _ = cancel.cancelled() => None,
        _ = limit => None,
    };
    let exit = match exit {
        Some(s) => Some(s),
        None => {
            stop(&mut child, Duration::from_secs(5)).await;
            None
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut reader).await;
    reader.abort();
    log.abort();
    announce.abort();
    relay_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let mut r = report.lock().unwrap_or_else(|e| e.into_inner()).clone();
    r.stored = stats.stored.load(Ordering::Relaxed);
    r.bytes = stats.bytes.load(Ordering::Relaxed);
    r.failed = stats.failed.load(Ordering::Relaxed);
    match exit {
        Some(s) if !s.success() => Err(EncoderError::Ffmpeg(s)),
        _ => Ok(r),
    }
}

/// Encodes `secs` of the ladder as fast as possible (no `-re`, no output): the final
/// `speed=` is how many times real time this machine sustains it.
pub async fn bench(ffmpeg: &Path, encoding: &Encoding, secs: u32) -> Result<Report, EncoderError> {
    let args = ffmpeg::bench_args(encoding, secs, default_font().as_deref());
    let mut child = spawn(ffmpeg, &args)?;
    let report = Arc::new(std::sync::Mutex::new(Report::default()));
    let log = tokio::spawn(ffmpeg_log(
        child.stderr.take(),
        tokio::sync::watch::channel(None).0,
    ));
    progress(child.stdout.take(), report.clone(), false).await;
    let status = child.wait().await?;
    let _ = log.await;
    if !status.success() {
        return Err(EncoderError::Ffmpeg(status));
    }
    let r = report.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(r)
}
