//! Streaming packaging and exact timing, checked from outside with ffmpeg:
//! - an imported MP4 with AAC priming and B-frames (both with edit lists, as ffmpeg writes
//!   them) keeps its beeps on its flashes after packaging, and its audio ends with its video;
//! - the "no IDR near … boundaries" warning comes only for sparse keyframes;
//! - peak memory does not grow with the input's length (child processes, `VmHWM`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use manifests::layout::MediaKind;
use media::package::{package_default, package_file, PackageOptions, PackageReport};
use media::progress::Silent;
use media::synth::{Rung, SynthOptions};

/// Runs a command, returning stdout; panics with stderr on failure.
fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// init + every segment of the representation of `kind` in one fragmented MP4.
fn joined(report: &PackageReport, kind: MediaKind, out: &Path) -> PathBuf {
    let r = report
        .representations
        .iter()
        .find(|r| r.kind == kind)
        .unwrap();
    let (init, segs) = common::rep_files(&report.asset_dir, r);
    common::concat(out, &init, &segs)
}

/// Media times (s) of the sync flashes of a packaged video: the first frame of each run of
/// frames whose bottom band (the motion band, white during a flash) is bright. Timestamps
/// are the file's (`-copyts`), as a player would present them.
fn flash_times(video: &Path) -> Vec<f64> {
    let out = run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-copyts", "-i"])
        .arg(video)
        .args([
            "-vf",
            "crop=iw:ih/5:0:ih*4/5,signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
            "-fps_mode",
            "passthrough",
            "-f",
            "null",
            "-",
        ]));
    let text = String::from_utf8_lossy(&out);
    let mut frames = Vec::new();
    let mut pts = None;
    for line in text.lines() {
        if let Some(p) = line.split("pts_time:").nth(1) {
            pts = p
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok());
        } else if let Some(y) = line.strip_prefix("lavfi.signalstats.YAVG=") {
            frames.push((pts.take().unwrap(), y.trim().parse::<f64>().unwrap()));
        }
    }
    assert!(frames.len() > 30, "{text}");
    let mut flashes = Vec::new();
    let mut bright_before = false;
    for (t, y) in frames {
        let bright = y > 150.0;
        if bright && !bright_before {
            flashes.push(t);
        }
        bright_before = bright;
    }
    flashes
}

/// Mono PCM of a packaged audio track placed on its media timeline: sample `n` is media
/// time `n / 48000` (aresample pads the start up to the first frame's timestamp, or trims
/// what lies before 0).
fn audio_on_timeline(audio: &Path) -> Vec<i16> {
    let out = run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-copyts", "-i"])
        .arg(audio)
        .args([
            "-af",
            "aresample=async=1:first_pts=0",
            "-ac",
            "1",
            "-ar",
            "48000",
            "-f",
            "s16le",
            "-",
        ]));
    out.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// End of the last presented sample of a file's first stream (max of pts + duration), s.
fn presentation_end(path: &Path) -> f64 {
    let v = common::ffprobe_json(path, &["-show_entries", "packet=pts_time,duration_time"]);
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let f = |k: &str| p[k].as_str().and_then(|s| s.parse::<f64>().ok());
            Some(f("pts_time")? + f("duration_time")?)
        })
        .fold(f64::MIN, f64::max)
}

/// The first sample after `from` whose level exceeds the beep threshold (the beep is
/// 0.5 full scale over a 0.1 tone).
fn beep_onset(pcm: &[i16], from: usize) -> Option<usize> {
    let threshold = (0.3 * 32767.0) as i16;
    pcm.get(from..)?
        .iter()
        .position(|x| x.saturating_abs() > threshold)
        .map(|p| from + p)
}

#[test]
fn imported_file_with_priming_and_b_frames_keeps_beeps_on_flashes() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    // The default content (flash + beep at every whole second), 6 s, one small rung.
    let synth = SynthOptions {
        duration_secs: 6,
        fps: 30,
        rungs: vec![Rung::new("v90", 160, 90, 200_000)],
        ..SynthOptions::default()
    };
    let src = package_default(&PackageOptions::new(dir.path(), "src"), &synth, &Silent).unwrap();
    let v = joined(&src, MediaKind::Video, &dir.path().join("v.mp4"));
    let a = joined(&src, MediaKind::Audio, &dir.path().join("a.mp4"));

    // What users bring: libx264 with B-frames and ffmpeg's AAC, progressive; ffmpeg writes
    // both edit lists (B-frame delay, 1024 samples of priming).
    let imported = dir.path().join("imported.mp4");
    common::ffmpeg(&[
        "-i",
        v.to_str().unwrap(),
        "-i",
        a.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "3",
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        imported.to_str().unwrap(),
    ]);
    let flashes_in = flash_times(&imported);
    assert_eq!(flashes_in.len(), 6, "{flashes_in:?}");

    let report = package_file(&imported, &PackageOptions::new(dir.path(), "out"), &Silent).unwrap();
    let pv = joined(&report, MediaKind::Video, &dir.path().join("pv.mp4"));
    let pa = joined(&report, MediaKind::Audio, &dir.path().join("pa.mp4"));
    let flashes = flash_times(&pv);
    let pcm = audio_on_timeline(&pa);
    assert_eq!(flashes.len(), 6, "{flashes:?}");
    // Flashes are whole seconds apart, from the first.
    let k = flashes[0];
    for (s, t) in flashes.iter().enumerate() {
        assert!((t - k - s as f64).abs() < 0.002, "flashes {flashes:?}");
    }
    let mut offsets = Vec::new();
    // From the second flash on: the first AAC frame of any stream decodes without the
    // overlap of a previous one, so the beep at time 0 cannot be located as precisely.
    for &t in &flashes[1..] {
        let expected = (t * 48000.0).round() as i64;
        let from = (expected - 12_000).max(0) as usize; // from 250 ms before the flash
        let onset = beep_onset(&pcm, from).expect("beep") as i64;
        offsets.push(onset - expected);
    }
    eprintln!("beep onset - flash, in samples at 48 kHz: {offsets:?}");
    // 0 ± half an AAC frame (the bug this guards against is a full frame of priming, 1024).
    for off in &offsets {
        assert!(off.abs() <= 512, "beep - flash {offsets:?} samples");
    }

    // Audio and video end together: same segment count, and the last presented audio
    // frame ends within one AAC frame of the last video frame (media times as ffprobe reads
    // them from the segments).
    let vr = &report.representations[0];
    let ar = &report.representations[1];
    assert_eq!(vr.segments, ar.segments, "no extra tiny audio segment");
    let (v_end, a_end) = (presentation_end(&pv), presentation_end(&pa));
    assert!(
        (a_end - v_end).abs() <= 1024.0 / 48000.0,
        "audio ends at media time {a_end}, video at {v_end}"
    );
    // The MPD maps both timelines to 0 with the same offset, and validates.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    common::check_asset(&report, 2.0, &scratch);
}

/// Captures what the packager logs while `f` runs on this thread.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

#[test]
fn idr_warning_only_for_sparse_keyframes() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let warns = |text: &str| text.contains("no IDR near");

    // The default content (audio runs past the video's end by design of AAC framing).
    let synth = SynthOptions {
        duration_secs: 5,
        fps: 30,
        rungs: vec![Rung::new("v90", 160, 90, 200_000)],
        ..SynthOptions::default()
    };
    let (r, log) =
        logged(|| package_default(&PackageOptions::new(dir.path(), "d"), &synth, &Silent).unwrap());
    assert!(r.representations.iter().any(|r| r.kind == MediaKind::Audio));
    assert!(!warns(&log), "default content: {log}");

    // A properly encoded import: keyframe every 2 s, AAC audio.
    let good = common::make_input(dir.path(), "good.mp4", 7, "160x90", 30);
    let (_, log) = logged(|| package_file(&good, &PackageOptions::new(dir.path(), ""), &Silent));
    assert!(!warns(&log), "keyframe every 2 s: {log}");

    // Keyframes every 5 s: the warning names the missed boundaries.
    let sparse = dir.path().join("sparse.mp4");
    common::ffmpeg(&[
        "-i",
        good.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-g",
        "150",
        "-keyint_min",
        "150",
        "-sc_threshold",
        "0",
        "-c:a",
        "copy",
        sparse.to_str().unwrap(),
    ]);
    let (_, log) = logged(|| package_file(&sparse, &PackageOptions::new(dir.path(), ""), &Silent));
    assert!(warns(&log), "keyframe every 5 s must warn: {log}");
}

/// Environment variable naming the input the memory child packages.
const MEM_CHILD_INPUT: &str = "MEDIA_MEM_CHILD_INPUT";

/// Child of [`peak_memory_does_not_grow_with_input_length`]: packages `$MEDIA_MEM_CHILD_INPUT`
/// and prints this process's peak RSS (`VmHWM`, kB). Does nothing when run on its own.
#[test]
#[ignore = "run by peak_memory_does_not_grow_with_input_length in a child process"]
fn memory_child() {
    let Some(input) = std::env::var_os(MEM_CHILD_INPUT) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    package_file(
        Path::new(&input),
        &PackageOptions::new(out.path(), "m"),
        &Silent,
    )
    .unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .to_string();
    println!("VMHWM_KB={hwm}");
}

fn child_peak_kb(input: &Path) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let out = run(Command::new(exe)
        .args([
            "streaming::memory_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MEM_CHILD_INPUT, input));
    let text = String::from_utf8_lossy(&out);
    text.split("VMHWM_KB=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no VmHWM from the child: {text}"))
        .parse()
        .unwrap()
}

#[test]
fn peak_memory_does_not_grow_with_input_length() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    // 20 s at a high bitrate (so that holding the samples would show: ~10 MB), then the
    // same looped 10x (200 s, ~100 MB) without re-encoding.
    let short = dir.path().join("short.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "4M",
        "-g",
        "60",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        short.to_str().unwrap(),
    ]);
    let long = dir.path().join("long.mp4");
    common::ffmpeg(&[
        "-stream_loop",
        "9",
        "-i",
        short.to_str().unwrap(),
        "-c",
        "copy",
        long.to_str().unwrap(),
    ]);
    // Many samples in few bytes: 20 s of 64x64 at 50 kbit/s looped 200x (4000 s: 120,000
    // video and 187,500 audio samples, ~45 MB), whose sample tables are ~3 MB in the file:
    // held in memory (as before the tables stayed in the file) they added ~5 MB.
    let tiny = dir.path().join("tiny.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x64:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "50k",
        "-g",
        "60",
        "-c:a",
        "aac",
        "-b:a",
        "32k",
        tiny.to_str().unwrap(),
    ]);
    let many = dir.path().join("many.mp4");
    common::ffmpeg(&[
        "-stream_loop",
        "199",
        "-i",
        tiny.to_str().unwrap(),
        "-c",
        "copy",
        many.to_str().unwrap(),
    ]);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    let (s, l) = (child_peak_kb(&short), child_peak_kb(&long));
    let (t, m) = (child_peak_kb(&tiny), child_peak_kb(&many));
    eprintln!(
        "peak RSS: {:.1} MB input -> {s} kB, {:.1} MB input -> {l} kB; \
         {:.1} MB input -> {t} kB, {:.1} MB input (200x the samples) -> {m} kB",
        size(&short),
        size(&long),
        size(&tiny),
        size(&many),
    );
    assert!(size(&long) > 9.0 * size(&short));
    // Sample bytes are read one segment at a time: reading every sample into memory would
    // add ~50 MB here.
    assert!(
        l <= s + 1024,
        "peak RSS grows with the input: {s} kB for the short, {l} kB for the 10x longer one"
    );
    // The sample tables stay in the file (`media::samples`): a few KiB of windows and
    // checkpoints whatever the length (measured: +0.8 MB, the output's directory and page
    // tables); tables held in memory would add ~5 MB.
    assert!(
        m <= t + 2048,
        "peak RSS grows with the number of samples: {t} kB for 20 s, {m} kB for 4000 s"
    );
}
