//! Transcodes a file into an ABR ladder with `ffmpeg` (one H.264 MP4 per rung with a fixed
//! GOP of one segment, AAC audio once), then packages all renditions as one asset.
//!
//! Data flow: ffprobe describes the source ([`SourceVideo`]); [`crate::rungs`] chooses the
//! rungs (the rule fitted to the source, or given rungs without those that would upscale);
//! one ffmpeg process encodes every rung and the audio; the outputs are demuxed and packaged.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::{ensure, Context, PackageError, Result};
use crate::progress::Progress;
use crate::rungs::{self, LadderRung, LadderSpec, RungChoice, SourceVideo};
use manifests::layout::MediaKind;
use tracing::{debug, info, warn};

use crate::demux;
use crate::package::{self, FileIdentity, InputRecord, PackageOptions, PackageReport};
use crate::synth::{self, Rung, SynthOptions};

/// Audio bitrate of ladder transcodes (the same as the generated content's audio).
pub const LADDER_AUDIO_BITRATE_BPS: u32 = synth::AUDIO_BITRATE_BPS;

/// The rungs of the default generated content (144p to 720p).
pub fn default_rungs() -> Vec<Rung> {
    SynthOptions::default().rungs
}

/// Finds an executable on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Paths of `ffmpeg` and `ffprobe`, or an error saying how to install them.
pub fn find_ffmpeg() -> Result<(PathBuf, PathBuf)> {
    let hint = "install it (Debian/Ubuntu: `apt-get install ffmpeg`) and make sure it is on PATH";
    let missing = |tool: &str| PackageError::Tool(format!("`{tool}` not found on PATH: {hint}"));
    let ffmpeg = which("ffmpeg").ok_or_else(|| missing("ffmpeg"))?;
    let ffprobe = which("ffprobe").ok_or_else(|| missing("ffprobe"))?;
    Ok((ffmpeg, ffprobe))
}

/// What the transcode needs to know about the input.
#[derive(Debug)]
struct Probe {
    fps: Option<f64>,
    has_audio: bool,
    duration_secs: Option<f64>,
    video: SourceVideo,
}

fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

fn probe(ffprobe: &Path, input: &Path) -> Result<Probe> {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,avg_frame_rate,r_frame_rate,width,height,sample_aspect_ratio,bit_rate:format=duration,bit_rate",
        ])
        .args(["-of", "json"])
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", ffprobe.display()))?;
    if !out.status.success() {
        return Err(PackageError::Tool(format!(
            "{} is not a media file ffmpeg can read: {}",
            input.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing ffprobe output")?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams.iter().find(|s| s["codec_type"] == "video");
    ensure!(video.is_some(), "{} has no video stream", input.display());
    let fps = video.and_then(|s| {
        s["avg_frame_rate"]
            .as_str()
            .and_then(parse_rate)
            .or_else(|| s["r_frame_rate"].as_str().and_then(parse_rate))
    });
    let video = video.expect("checked above");
    let dim = |k: &str| video[k].as_u64().and_then(|v| u32::try_from(v).ok());
    let (Some(width), Some(height)) = (dim("width"), dim("height")) else {
        return Err(PackageError::Tool(format!(
            "{}: ffprobe reports no picture size",
            input.display()
        )));
    };
    let sar = video["sample_aspect_ratio"]
        .as_str()
        .and_then(|s| s.split_once(':'))
        .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
        .filter(|&(n, d): &(u32, u32)| n > 0 && d > 0)
        .unwrap_or((1, 1));
    let bit_rate = |v: &serde_json::Value| v["bit_rate"].as_str().and_then(|b| b.parse().ok());
    let source = SourceVideo {
        width,
        height,
        sar,
        fps: fps.unwrap_or(25.0),
        bitrate_bps: bit_rate(video).or_else(|| bit_rate(&v["format"])),
    };
    Ok(Probe {
        fps,
        video: source,
        has_audio: streams.iter().any(|s| s["codec_type"] == "audio"),
        duration_secs: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    })
}

fn validate_rungs(rungs: &[Rung]) -> Result<()> {
    ensure!(!rungs.is_empty(), "the ladder has no rungs");
    for (i, r) in rungs.iter().enumerate() {
        ensure!(
            r.width >= 16 && r.height >= 16 && r.width % 2 == 0 && r.height % 2 == 0,
            "rung {}: {}x{} must be even and at least 16x16",
            r.id,
            r.width,
            r.height
        );
        ensure!(
            r.bitrate_bps >= 10_000,
            "rung {}: bitrate {} too low",
            r.id,
            r.bitrate_bps
        );
        ensure!(
            !rungs[..i].iter().any(|o| o.id == r.id),
            "duplicate rung id {}",
            r.id
        );
        ensure!(
            r.id != synth::AUDIO_ID,
            "rung id {} is reserved for audio",
            r.id
        );
    }
    Ok(())
}

/// Transcodes `input` into the given `rungs` (those larger than the source left out, see
/// [`package_ladder_spec`]).
pub fn package_ladder(
    input: &Path,
    rungs: &[Rung],
    opts: &PackageOptions,
    progress: &dyn Progress,
) -> Result<PackageReport> {
    validate_rungs(rungs)?;
    let rungs = rungs.iter().cloned().map(LadderRung::plain).collect();
    package_ladder_spec(input, &LadderSpec::Rungs(rungs), opts, progress)
}

/// The rungs to transcode: the rule fitted to the source, or the given rungs without those
/// that would upscale (each left out is logged and shown as a progress line).
fn choose_rungs(
    spec: &LadderSpec,
    source: &SourceVideo,
    progress: &dyn Progress,
) -> Result<Vec<LadderRung>> {
    let given = match spec {
        LadderSpec::Auto => return Ok(rungs::fit_ladder(source)),
        LadderSpec::Rungs(r) => r,
    };
    let mut given = given.clone();
    rungs::complete_widths(&mut given, source);
    let mut kept = Vec::with_capacity(given.len());
    for r in given {
        match rungs::choose_rung(&r.rung, source) {
            RungChoice::Keep => kept.push(r),
            RungChoice::AboveSource => {
                let line = format!(
                    "left out rung {} {}x{}: larger than the source ({}x{}), would upscale",
                    r.rung.id, r.rung.width, r.rung.height, source.width, source.height
                );
                warn!("{line}");
                progress.step_done(&line);
            }
        }
    }
    ensure!(
        !kept.is_empty(),
        "every rung of the ladder is larger than the source ({}x{}); nothing to transcode without upscaling",
        source.width,
        source.height
    );
    Ok(kept)
}

/// Transcodes `input` into a ladder (H.264, main profile unless a rung says otherwise, IDR
/// every segment, AAC audio once) with ffmpeg in a temporary directory under the content
/// root, then packages every rendition as one asset (video rungs in one AdaptationSet).
/// [`LadderSpec::Auto`] fits the ladder to the source ([`rungs::fit_ladder`]); given
/// rungs larger than the source are left out. Asset name defaults to the file stem. A
/// no-op when the same input, ladder and options are already packaged.
pub fn package_ladder_spec(
    input: &Path,
    spec: &LadderSpec,
    opts: &PackageOptions,
    progress: &dyn Progress,
) -> Result<PackageReport> {
    let start = Instant::now();
    let d = opts.segment_duration_secs;
    ensure!(
        d.is_finite() && (0.1..=60.0).contains(&d),
        "segment duration must be 0.1..=60 s, got {d}"
    );
    let asset = if opts.asset.is_empty() {
        package::default_asset_for(input)?
    } else {
        opts.asset.clone()
    };
    let opts = PackageOptions {
        asset,
        ..opts.clone()
    };
    let file = FileIdentity::of(input)?;
    let (ffmpeg, ffprobe) = find_ffmpeg()?;
    let info = probe(&ffprobe, input)?;
    let chosen = choose_rungs(spec, &info.video, progress)?;
    let plain: Vec<Rung> = chosen.iter().map(|r| r.rung.clone()).collect();
    validate_rungs(&plain)?;
    let record = InputRecord::Ladder {
        file,
        rungs: package::rung_records(&plain),
        audio_bitrate_bps: LADDER_AUDIO_BITRATE_BPS,
        encode: chosen
            .iter()
            .filter(|r| r.fps.is_some() || r.profile.is_some())
            .map(|r| {
                (
                    r.rung.id.clone(),
                    r.fps,
                    r.profile.map(|p| p.ffmpeg_name().to_string()),
                )
            })
            .collect(),
    };
    if !opts.force {
        if let Some(report) = package::existing_report(&opts, record.clone(), start) {
            return Ok(report);
        }
    }
    let fps = info.fps.unwrap_or(25.0);
    debug!(?info, "transcoding ladder");
    for r in &chosen {
        progress.step_done(&format!(
            "rung {} {}x{} {} kbps{}{} (source {}x{})",
            r.rung.id,
            r.rung.width,
            r.rung.height,
            r.rung.bitrate_bps / 1000,
            r.fps.map(|f| format!(" {f} fps")).unwrap_or_default(),
            r.profile
                .map(|p| format!(" {}", p.ffmpeg_name()))
                .unwrap_or_default(),
            info.video.width,
            info.video.height
        ));
    }

    std::fs::create_dir_all(&opts.content_root)
        .with_context(|| format!("cannot create content root {}", opts.content_root.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let work = opts.content_root.join(format!(
        ".{}.ladder-{}-{nanos}",
        opts.asset,
        std::process::id()
    ));
    std::fs::create_dir(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let _cleanup = RemoveOnDrop(work.clone());

    let mut cmd = Command::new(&ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-y",
        "-i",
    ])
    .arg(input);
    let force_kf = format!("expr:gte(t,n_forced*{d})");
    let mut outputs = Vec::new();
    for lr in &chosen {
        let r = &lr.rung;
        let gop = ((d * lr.fps.unwrap_or(fps)).round() as u32).max(1);
        let out = work.join(format!("{}.mp4", r.id));
        let vf = format!(
            "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1",
            w = r.width,
            h = r.height
        );
        cmd.args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", &vf]);
        cmd.args([
            "-c:v",
            "libx264",
            "-profile:v",
            lr.profile.map_or("main", |p| p.ffmpeg_name()),
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
        ]);
        cmd.args([
            "-b:v",
            &r.bitrate_bps.to_string(),
            "-maxrate",
            &(r.bitrate_bps as u64 * 11 / 10).to_string(),
        ]);
        cmd.args(["-bufsize", &(r.bitrate_bps as u64 * 2).to_string()]);
        cmd.args([
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
        ]);
        cmd.args(["-force_key_frames", &force_kf]);
        if let Some(f) = lr.fps {
            cmd.args(["-r", &f.to_string()]);
        }
        cmd.arg(&out);
        outputs.push((r, out));
    }
    let audio_out = work.join(format!("{}.mp4", synth::AUDIO_ID));
    if info.has_audio {
        cmd.args([
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "aac", "-ac", "2",
        ]);
        cmd.args(["-b:a", &LADDER_AUDIO_BITRATE_BPS.to_string()])
            .arg(&audio_out);
    }
    let stage = format!(
        "transcoding {} rungs ({}){}",
        chosen.len(),
        plain
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        if info.has_audio { " + audio" } else { "" }
    );
    run_ffmpeg(cmd, &stage, info.duration_secs, progress)?;

    let mut tracks = Vec::new();
    for (r, path) in &outputs {
        let mut t = demux::demux_file(path)
            .with_context(|| format!("reading the transcoded rung {}", r.id))?
            .into_iter()
            .find(|t| t.kind == MediaKind::Video)
            .ok_or_else(|| {
                PackageError::Tool(format!("rung {}: ffmpeg produced no video", r.id))
            })?;
        t.id = r.id.clone();
        progress.step_done(&format!(
            "transcoded {} {}x{} {} kbps: {} frames",
            r.id,
            r.width,
            r.height,
            r.bitrate_bps / 1000,
            t.samples.len()
        ));
        tracks.push(t);
    }
    if info.has_audio {
        let mut a = demux::demux_file(&audio_out)
            .context("reading the transcoded audio")?
            .into_iter()
            .find(|t| t.kind == MediaKind::Audio)
            .ok_or_else(|| PackageError::Tool("ffmpeg produced no audio".into()))?;
        a.id = synth::AUDIO_ID.to_string();
        tracks.push(a);
    }
    info!(rungs = chosen.len(), audio = info.has_audio, elapsed = ?start.elapsed(), "transcoded ladder");
    package::package_tracks_for(tracks, &opts, record, progress, start)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_ffmpeg(
    mut cmd: Command,
    stage: &str,
    duration_secs: Option<f64>,
    progress: &dyn Progress,
) -> Result<()> {
    debug!(?cmd, "running ffmpeg");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg")?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| PackageError::Tool("ffmpeg stderr".into()))?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let total_ms = duration_secs.map(|d| (d * 1000.0) as u64).unwrap_or(0);
    progress.stage(stage, total_ms.max(1));
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // `out_time_us` (newer) / `out_time_ms` (microseconds as well, historically).
            if let Some(v) = line
                .strip_prefix("out_time_us=")
                .or_else(|| line.strip_prefix("out_time_ms="))
            {
                if let Ok(us) = v.trim().parse::<u64>() {
                    progress.set_position((us / 1000).min(total_ms.max(1)));
                }
            }
        }
    }
    let status = child.wait().context("waiting for ffmpeg")?;
    let stderr = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(PackageError::Tool(format!(
            "ffmpeg failed ({status}): {}",
            stderr.trim()
        )));
    }
    Ok(())
}
