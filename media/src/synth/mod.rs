//! Embedded default content: a generated test pattern (video ladder + audio tone), encoded in-process.
//!
//! [`generate`] returns one H.264 video [`Track`] per [`Rung`] plus (optionally) one AAC audio
//! track, ready for the packager:
//!
//! - **Video** (see [`pattern`] for the picture): colour bars, a bouncing box, a per-second
//!   sweep bar, a burnt-in media-time clock `mm:ss.mmm`, a frame counter and the rendition
//!   label (`v720 1280x720 3000 kbps`); the bottom band (moving noise, so the rungs reach
//!   their bitrates) flashes white for the first 100 ms of every whole second, together
//!   with the audio beep. Encoded with openh264 (Constrained
//!   Baseline, bitrate rate control, no frame skipping, one encoder thread per rung so the
//!   output is byte-identical across runs) with an IDR at exactly every keyframe interval and
//!   nowhere else. Samples are AVCC (4-byte lengths) without SPS/PPS, which are taken from
//!   the bitstream into [`CodecConfig::Avc`](crate::track::CodecConfig::Avc). Timescale:
//!   [`video_timescale`]; every sample lasts `timescale / fps`.
//! - **Audio** (id `a128`): 48 kHz stereo, a 440 Hz tone at −20 dBFS with a 1 kHz beep at
//!   −6 dBFS for 100 ms from each whole second, AAC-LC ≈128 kbps (fdk-aac, raw frames, the
//!   AudioSpecificConfig from the encoder), 1024-sample frames, timescale 48000. The encoder
//!   delay is trimmed: media time 0 is the first sample, no edit list needed
//!   ([`AUDIO_PRIMING_SAMPLES`] = 0).
//!
//! Rungs (and the audio) are encoded in parallel on scoped threads, one job per thread.

mod audio;
pub mod pattern;
mod video;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{bail, ensure, Result};

use crate::progress::Progress;
use crate::track::Track;

pub use audio::{
    AAC_FRAME_SAMPLES, AUDIO_BITRATE_BPS, AUDIO_CHANNELS, AUDIO_ID, AUDIO_PRIMING_SAMPLES,
    AUDIO_SAMPLE_RATE,
};
pub use video::rung_label;

/// One rung of a video ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// Representation id (e.g. `v720`).
    pub id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
}

impl Rung {
    /// Convenience constructor.
    pub fn new(id: &str, width: u32, height: u32, bitrate_bps: u32) -> Rung {
        Rung {
            id: id.to_string(),
            width,
            height,
            bitrate_bps,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Length of the content in seconds.
    pub duration_secs: u32,
    /// Frames per second.
    pub fps: u32,
    /// Distance between IDR frames in seconds (the packager sets it to the segment duration).
    pub keyframe_interval_secs: f64,
    /// Video ladder, lowest first.
    pub rungs: Vec<Rung>,
    /// Whether to generate the audio track.
    pub audio: bool,
}

impl Default for SynthOptions {
    /// The default content: 60 s at 30 fps, an IDR every 2 s, audio, and the ladder
    /// v144 256x144 200 kbps, v360 640x360 700 kbps, v540 960x540 1500 kbps,
    /// v720 1280x720 3000 kbps.
    fn default() -> Self {
        SynthOptions {
            duration_secs: 60,
            fps: 30,
            keyframe_interval_secs: 2.0,
            rungs: vec![
                Rung::new("v144", 256, 144, 200_000),
                Rung::new("v360", 640, 360, 700_000),
                Rung::new("v540", 960, 540, 1_500_000),
                Rung::new("v720", 1280, 720, 3_000_000),
            ],
            audio: true,
        }
    }
}

/// Timescale of the video tracks for `fps`: 90000 when it divides evenly, else `fps * 1000`;
/// either way every frame lasts an exact integer number of ticks.
pub fn video_timescale(fps: u32) -> u32 {
    if fps > 0 && 90_000 % fps == 0 {
        90_000
    } else {
        fps * 1000
    }
}

/// Distance between IDR frames in frames; errors unless `keyframe_interval_secs × fps` is a
/// positive whole number.
pub fn keyframe_interval_frames(opts: &SynthOptions) -> Result<u32> {
    let exact = opts.keyframe_interval_secs * f64::from(opts.fps);
    let frames = exact.round();
    ensure!(
        frames >= 1.0 && (exact - frames).abs() < 1e-6 && frames <= f64::from(u32::MAX),
        "keyframe interval {} s at {} fps is not a whole number of frames",
        opts.keyframe_interval_secs,
        opts.fps
    );
    Ok(frames as u32)
}

/// Number of video frames per rung: `duration_secs × fps`.
pub fn frame_count(opts: &SynthOptions) -> u64 {
    u64::from(opts.duration_secs) * u64::from(opts.fps)
}

fn validate(opts: &SynthOptions) -> Result<()> {
    ensure!(opts.fps > 0 && opts.fps <= 240, "fps must be 1..=240");
    ensure!(opts.duration_secs > 0, "duration must be positive");
    ensure!(
        !opts.rungs.is_empty() || opts.audio,
        "nothing to generate: no rungs and no audio"
    );
    keyframe_interval_frames(opts)?;
    for (i, r) in opts.rungs.iter().enumerate() {
        if opts.rungs[..i].iter().any(|o| o.id == r.id) || (opts.audio && r.id == AUDIO_ID) {
            bail!("duplicate representation id {}", r.id);
        }
        ensure!(r.bitrate_bps > 0, "rung {}: bitrate must be positive", r.id);
    }
    Ok(())
}

/// The line reported when one encoding job finished: a video rung (`Some(index)`) or
/// the audio track (`None`).
fn encoded_line(
    opts: &SynthOptions,
    job: Option<usize>,
    track: &Track,
    took: std::time::Duration,
) -> String {
    let bytes = track.samples.total_bytes();
    let what = match job {
        Some(r) => {
            let r = &opts.rungs[r];
            format!(
                "{} {}x{} {} kbps",
                r.id,
                r.width,
                r.height,
                r.bitrate_bps / 1000
            )
        }
        None => format!("{} AAC", track.id),
    };
    format!(
        "encoded {what}: {} samples, {:.1} MB in {:.1} s",
        track.samples.len(),
        bytes as f64 / 1e6,
        took.as_secs_f64()
    )
}

/// Encodes the test pattern for every rung (and the audio track), in decode order.
///
/// Returns the video tracks in the order of `opts.rungs`, then the audio track if
/// `opts.audio`. `progress` gets its length set to the total number of video frames and is
/// incremented once per encoded frame. Deterministic: the same options give byte-identical
/// tracks.
pub fn generate(opts: &SynthOptions, progress: &dyn Progress) -> Result<Vec<Track>> {
    validate(opts)?;
    progress.stage(
        "encoding test pattern",
        frame_count(opts) * opts.rungs.len() as u64,
    );

    // Jobs: rungs by decreasing size (the longest first balances the threads), then audio.
    let mut jobs: Vec<Option<usize>> = (0..opts.rungs.len()).map(Some).collect();
    jobs.sort_by_key(|j| {
        let r = &opts.rungs[j.expect("rung job")];
        std::cmp::Reverse(u64::from(r.width) * u64::from(r.height))
    });
    if opts.audio {
        jobs.push(None);
    }
    let results: Vec<Mutex<Option<Result<Track>>>> =
        (0..jobs.len()).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= jobs.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let began = std::time::Instant::now();
                let result = match jobs[j] {
                    Some(r) => video::encode_rung(opts, &opts.rungs[r], progress),
                    None => audio::encode_audio(opts.duration_secs),
                };
                if let Ok(track) = &result {
                    progress.step_done(&encoded_line(opts, jobs[j], track, began.elapsed()));
                }
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                *results[j].lock().expect("result slot") = Some(result);
            });
        }
    });

    let mut by_job: Vec<Option<Result<Track>>> = results
        .into_iter()
        .map(|m| m.into_inner().expect("result slot"))
        .collect();
    if let Some(err) = by_job.iter_mut().find_map(|r| match r {
        Some(Err(_)) => r.take().and_then(|r| r.err()),
        _ => None,
    }) {
        return Err(err);
    }
    // Back to the caller's order: rungs as given, then audio.
    let mut order: Vec<(usize, Track)> = Vec::with_capacity(jobs.len());
    for (slot, job) in by_job.into_iter().zip(&jobs) {
        let track = slot.expect("every job ran")?;
        order.push((job.unwrap_or(usize::MAX), track));
    }
    order.sort_by_key(|(k, _)| *k);
    Ok(order.into_iter().map(|(_, t)| t).collect())
}
