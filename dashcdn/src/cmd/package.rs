//! `dashcdn package`: the embedded default, an MP4 as is, or an MP4 through an ffmpeg ladder
//! (fitted to the source, or from `--ladder RUNGS` / `--ladder-file`), written as CMAF
//! segments with an MPD and HLS playlists over the same files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use manifests::layout;
use media::package::{PackageOptions, PackageReport};
use media::progress::Progress;
use media::rungs::{LadderRung, LadderSpec};
use media::synth::{Rung, SynthOptions};

/// Flags of `dashcdn package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// An MP4 to package without re-encoding (or to transcode with `--ladder`): H.264, HEVC
    /// (hvc1/hev1) or AV1 video and AAC audio. Any other audio/video codec is an error.
    /// Read segment by segment (memory does not grow with its length); its edit lists (AAC
    /// priming, B-frame delay) are honoured so audio and video start and end together.
    /// Without it, the embedded default test pattern is generated and packaged.
    input: Option<PathBuf>,
    /// Content root to write into; the asset goes to `<out>/<asset>/`.
    #[arg(long, short, value_name = "DIR", default_value = "content")]
    out: PathBuf,
    /// Asset name (default: `default` for the test pattern, the input's file stem otherwise).
    #[arg(long, value_name = "NAME")]
    asset: Option<String>,
    /// Target segment duration in seconds (segments are cut at keyframes).
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    segment_duration: f64,
    /// Transcode INPUT with ffmpeg into a ladder first. Without a value, a ladder fitted to
    /// the source: 144p, 240p, 360p, 540p, 720p, 1080p, 1440p, 2160p below the source's
    /// height plus the source's height on top (never upscaled), bitrates from
    /// 6 Mbit/s x (pixels / 1080p)^0.75 x sqrt(fps / 30), scaled down to the source's
    /// bitrate. Or a list `ID=WxH@KBPS,...`, e.g. `v360=640x360@700,v720=1280x720@3000`
    /// (rungs larger than the source are left out).
    #[arg(long, value_name = "RUNGS", num_args = 0..=1, default_missing_value = "auto", requires = "input")]
    ladder: Option<String>,
    /// Transcode INPUT into the ladder of a TOML file: `[[rung]]` tables with `id`, `height`,
    /// `bitrate` (bits/s, or "700k", "3M"), optional `width` (default: source aspect),
    /// `fps` and `profile` (baseline | main | high). Rungs larger than the source are left out.
    #[arg(
        long,
        value_name = "FILE",
        requires = "input",
        conflicts_with = "ladder"
    )]
    ladder_file: Option<PathBuf>,
    /// Video rungs of the embedded default, as `ID=WxH@KBPS,...` (default: four rungs, 144p to 720p).
    #[arg(long, value_name = "RUNGS", conflicts_with = "input")]
    rungs: Option<String>,
    /// Length of the embedded default, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        conflicts_with = "input"
    )]
    duration: u32,
    /// Frame rate of the embedded default.
    #[arg(
        long,
        value_name = "FPS",
        default_value_t = 30,
        conflicts_with = "input"
    )]
    fps: u32,
    /// Leave out the audio track of the embedded default.
    #[arg(long, conflicts_with = "input")]
    no_audio: bool,
    /// Package again even when the same input is already packaged with the same options.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    encryption: super::package_encrypt::EncryptArgs,
}

/// Parses `ID=WxH@KBPS[,...]` into ladder rungs.
fn parse_rungs(spec: &str) -> anyhow::Result<Vec<Rung>> {
    let rungs = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let bad = || {
                format!("bad rung `{item}`: expected ID=WIDTHxHEIGHT@KBPS, e.g. v720=1280x720@3000")
            };
            let (id, rest) = item.split_once('=').with_context(bad)?;
            let (size, kbps) = rest.split_once('@').with_context(bad)?;
            let (w, h) = size.split_once('x').with_context(bad)?;
            let width: u32 = w.trim().parse().with_context(bad)?;
            let height: u32 = h.trim().parse().with_context(bad)?;
            let kbps: u32 = kbps
                .trim()
                .trim_end_matches("kbps")
                .trim_end_matches('k')
                .parse()
                .with_context(bad)?;
            Ok(Rung::new(
                id.trim(),
                width,
                height,
                kbps.saturating_mul(1000),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if rungs.is_empty() {
        bail!("empty rung list `{spec}`");
    }
    Ok(rungs)
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:24} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
        )
        .expect("valid progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Progress for logs and pipes (stderr is not a terminal, so no bar is drawn): one line
/// per stage and per finished step (a rung encoded, a representation written), each
/// stamped with the time since the start, so `dashcdn up`, CI logs and `| tee` show
/// where packaging is.
/// Long stages (a transcode) also get a line at every 10 % of their units, once they
/// have run for a second (quick stages are told by their step lines alone).
struct LineProgress {
    started: Instant,
    /// Milliseconds from `started` to the start of the current stage.
    stage_started_ms: AtomicU64,
    total: AtomicU64,
    position: AtomicU64,
    /// Tenths of the current stage already reported.
    tenths: AtomicU64,
}

impl LineProgress {
    fn new() -> LineProgress {
        LineProgress {
            started: Instant::now(),
            stage_started_ms: AtomicU64::new(0),
            total: AtomicU64::new(0),
            position: AtomicU64::new(0),
            tenths: AtomicU64::new(0),
        }
    }

    fn line(&self, text: &str) {
        eprintln!("[{:6.1} s] {text}", self.started.elapsed().as_secs_f64());
    }

    fn moved_to(&self, position: u64) {
        let total = self.total.load(Ordering::Relaxed);
        let now_ms = self.started.elapsed().as_millis() as u64;
        if total < 10 || now_ms < self.stage_started_ms.load(Ordering::Relaxed) + 1000 {
            return;
        }
        let tenths = (position.min(total) * 10 / total).min(10);
        if self.tenths.fetch_max(tenths, Ordering::Relaxed) < tenths && tenths < 10 {
            self.line(&format!("  {}0 %", tenths));
        }
    }
}

impl Progress for LineProgress {
    fn stage(&self, name: &str, total: u64) {
        self.stage_started_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.position.store(0, Ordering::Relaxed);
        self.tenths.store(0, Ordering::Relaxed);
        self.line(name);
    }
    fn advance(&self, n: u64) {
        let p = self.position.fetch_add(n, Ordering::Relaxed) + n;
        self.moved_to(p);
    }
    fn set_position(&self, position: u64) {
        self.position.store(position, Ordering::Relaxed);
        self.moved_to(position);
    }
    fn step_done(&self, line: &str) {
        self.line(line);
    }
}

/// A bar on a terminal, lines otherwise.
enum Reporter {
    Bar(ProgressBar),
    Lines(LineProgress),
}

impl Reporter {
    fn new() -> Reporter {
        if std::io::stderr().is_terminal() {
            Reporter::Bar(progress_bar())
        } else {
            Reporter::Lines(LineProgress::new())
        }
    }

    fn progress(&self) -> &dyn Progress {
        match self {
            Reporter::Bar(b) => b,
            Reporter::Lines(l) => l,
        }
    }

    fn finish(&self) {
        if let Reporter::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// Runs the packager and prints a summary of what was written.
pub fn run(args: PackageArgs) -> anyhow::Result<()> {
    let mut opts = PackageOptions::new(&args.out, args.asset.clone().unwrap_or_default());
    opts.segment_duration_secs = args.segment_duration;
    opts.force = args.force;
    opts.encryption = args.encryption.resolve()?;
    let reporter = Reporter::new();
    let bar = reporter.progress();
    let ladder = match (&args.ladder, &args.ladder_file) {
        (_, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the ladder file {}", file.display()))?;
            Some(LadderSpec::Rungs(media::rungs::parse_ladder_file(
                file, &text,
            )?))
        }
        // `default`: what a bare `--ladder` meant before the rule (now fitted to the source).
        (Some(spec), None) if spec == "auto" || spec == "default" => Some(LadderSpec::Auto),
        (Some(spec), None) => Some(LadderSpec::Rungs(
            parse_rungs(spec)?
                .into_iter()
                .map(LadderRung::plain)
                .collect(),
        )),
        (None, None) => None,
    };
    let report = match (&args.input, &ladder) {
        (None, _) => {
            let mut synth = SynthOptions {
                duration_secs: args.duration,
                fps: args.fps,
                audio: !args.no_audio,
                ..SynthOptions::default()
            };
            if let Some(spec) = &args.rungs {
                synth.rungs = parse_rungs(spec)?;
            }
            media::package::package_default(&opts, &synth, bar)
        }
        (Some(input), None) => media::package::package_file(input, &opts, bar),
        (Some(input), Some(spec)) => media::ladder::package_ladder_spec(input, spec, &opts, bar),
    };
    reporter.finish();
    print_report(&report?);
    Ok(())
}

fn print_report(report: &PackageReport) {
    let mpd = report.asset_dir.join(layout::MANIFEST_FILE);
    if report.skipped {
        println!(
            "already packaged, unchanged (use --force to redo): {}",
            mpd.display()
        );
    } else {
        println!(
            "packaged {:.1} s of media in {:.1} s: {}",
            report.duration_secs,
            report.elapsed.as_secs_f64(),
            mpd.display()
        );
    }
    let master = report.asset_dir.join(layout::HLS_MULTIVARIANT_FILE);
    if master.is_file() {
        println!("HLS: {}", master.display());
    }
    println!(
        "{:<8} {:<6} {:<14} {:>11} {:>10} {:>6} {:>10}",
        "id", "kind", "codecs", "bandwidth", "size", "fps", "segments"
    );
    for r in &report.representations {
        let size = match (r.width, r.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => r.sample_rate.map(|s| format!("{s} Hz")).unwrap_or_default(),
        };
        println!(
            "{:<8} {:<6} {:<14} {:>11} {:>10} {:>6} {:>10}",
            r.id,
            r.kind.content_type(),
            r.codecs,
            r.bandwidth,
            size,
            r.frame_rate.clone().unwrap_or_default(),
            r.segments
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rung_specs() {
        let r = parse_rungs("v360=640x360@700, v720=1280x720@3000k").unwrap();
        assert_eq!(
            r,
            vec![
                Rung::new("v360", 640, 360, 700_000),
                Rung::new("v720", 1280, 720, 3_000_000)
            ]
        );
        assert!(parse_rungs("v360=640x360").is_err());
        assert!(parse_rungs("v360=640by360@700").is_err());
        assert!(parse_rungs("").is_err());
    }
}
