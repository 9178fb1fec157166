//! Embedded default content: a generated test pattern (video ladder + audio tone), encoded in-process.
//! (Stub: being written.)

use crate::track::Track;

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

/// Encodes the test pattern for every rung (and the audio track), in decode order.
pub fn generate(_opts: &SynthOptions, _progress: &indicatif::ProgressBar) -> anyhow::Result<Vec<Track>> {
    anyhow::bail!("synth::generate is not written yet")
}
