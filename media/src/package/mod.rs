//! The packager pipeline: tracks → aligned segments → CMAF files + MPD + HLS playlists +
//! `package.json`,
//! written atomically into the content layout of [`manifests::layout`].
//!
//! Cutting: the first video track's sync samples nearest to k × segment duration give the
//! boundary times; every other video track is cut at its sync sample nearest to those times
//! (they coincide for a proper ladder, which is checked) and audio at the frame nearest to them.
//!
//! The entry points here ([`package_default`], [`package_file`], [`package_tracks`]) validate
//! the options, consult the idempotence record (`record`: an identical complete package
//! means nothing to do), then hand the tracks to `plan` (the cuts) and `write` (segments,
//! MPD from `mpd`, HLS playlists over the same segments from `hls`, `package.json`, atomic
//! swap into place).

mod hls;
mod mpd;
mod plan;
mod record;
mod write;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::progress::Progress;
use manifests::layout::{self, MediaKind};
use serde::{Deserialize, Serialize};

use crate::error::{ensure, Context, Result};
use crate::synth::{self, SynthOptions};
use crate::track::Track;

pub(crate) use record::rung_records;
use record::{existing_package, fingerprint, job_record, skipped_report};
pub use record::{FileIdentity, InputRecord};
use write::package_with_record;

/// What to package and where.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Root of the content layout (holds one directory per asset).
    pub content_root: PathBuf,
    /// Asset name (directory under the root). Empty: the source's default
    /// ([`layout::DEFAULT_ASSET`] for the test pattern, the file stem for a file).
    pub asset: String,
    /// Target segment duration in seconds (default 2.0).
    pub segment_duration_secs: f64,
    /// Repackage even when an identical complete package exists.
    pub force: bool,
    /// Common Encryption with raw keys (ClearKey); `None`: clear (see [`crate::encrypt`]).
    pub encryption: Option<crate::encrypt::Encryption>,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            content_root: PathBuf::from("content"),
            asset: String::new(),
            segment_duration_secs: 2.0,
            force: false,
            encryption: None,
        }
    }
}

impl PackageOptions {
    /// Options with defaults for everything but the root and the asset name.
    pub fn new(content_root: impl Into<PathBuf>, asset: impl Into<String>) -> Self {
        PackageOptions {
            content_root: content_root.into(),
            asset: asset.into(),
            ..Default::default()
        }
    }
}

/// One packaged representation, as written to the MPD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepresentationReport {
    /// Representation id (directory name).
    pub id: String,
    /// Video or audio.
    #[serde(with = "kind_serde")]
    pub kind: MediaKind,
    /// RFC 6381 codecs string.
    pub codecs: String,
    /// `@bandwidth`: peak bitrate over segments, bits per second.
    pub bandwidth: u64,
    /// Width in pixels (video).
    pub width: Option<u32>,
    /// Height in pixels (video).
    pub height: Option<u32>,
    /// Frame rate as written to the MPD (`25`, `30000/1001`), video only.
    pub frame_rate: Option<String>,
    /// Audio sampling rate in Hz (audio).
    pub sample_rate: Option<u32>,
    /// Audio channel count (audio).
    pub channels: Option<u16>,
    /// Number of media segments.
    pub segments: u64,
    /// Bytes written (init + media segments).
    pub bytes: u64,
}

mod kind_serde {
    use manifests::layout::MediaKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &MediaKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.content_type())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MediaKind, D::Error> {
        match String::deserialize(d)?.as_str() {
            "video" => Ok(MediaKind::Video),
            "audio" => Ok(MediaKind::Audio),
            other => Err(serde::de::Error::custom(format!("unknown kind {other}"))),
        }
    }
}

/// Outcome of a packaging run.
#[derive(Debug, Clone)]
pub struct PackageReport {
    /// The asset directory.
    pub asset_dir: PathBuf,
    /// True when an identical, complete package already existed and nothing was written.
    pub skipped: bool,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Presentation duration in seconds.
    pub duration_secs: f64,
    /// The representations, video first.
    pub representations: Vec<RepresentationReport>,
}

fn validate_options(opts: &PackageOptions) -> Result<()> {
    let d = opts.segment_duration_secs;
    ensure!(
        d.is_finite() && (0.1..=60.0).contains(&d),
        "segment duration must be 0.1..=60 s, got {d}"
    );
    Ok(())
}

/// Checks a name used as a directory (asset, representation id).
fn check_name(what: &str, name: &str) -> Result<()> {
    ensure!(
        !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
        "{what} {name:?} must be 1-64 characters of [A-Za-z0-9._-], not starting with '.'"
    );
    Ok(())
}

fn asset_dir(opts: &PackageOptions, asset: &str) -> PathBuf {
    opts.content_root.join(asset)
}

/// Generates the test pattern (keyframe interval = segment duration) and packages it.
/// Asset name defaults to [`layout::DEFAULT_ASSET`].
pub fn package_default(
    opts: &PackageOptions,
    synth_opts: &SynthOptions,
    progress: &dyn Progress,
) -> Result<PackageReport> {
    let start = Instant::now();
    validate_options(opts)?;
    let mut synth_opts = synth_opts.clone();
    synth_opts.keyframe_interval_secs = opts.segment_duration_secs;
    let asset = if opts.asset.is_empty() {
        layout::DEFAULT_ASSET.to_string()
    } else {
        opts.asset.clone()
    };
    let opts = PackageOptions {
        asset,
        ..opts.clone()
    };
    check_name("asset name", &opts.asset)?;
    let job = job_record(InputRecord::synth(&synth_opts), &opts);
    let dir = asset_dir(&opts, &opts.asset);
    if !opts.force {
        if let Some(rec) = existing_package(&dir, &job) {
            return Ok(skipped_report(dir, rec, start));
        }
    }
    let tracks = synth::generate(&synth_opts, progress).context("generating the test pattern")?;
    package_with_record(tracks, &opts, job, progress, start)
}

/// Reads an MP4 (H.264/AAC) and packages its tracks without re-encoding, cutting at its
/// keyframes. Asset name defaults to the file stem.
pub fn package_file(
    input: &Path,
    opts: &PackageOptions,
    progress: &dyn Progress,
) -> Result<PackageReport> {
    let start = Instant::now();
    validate_options(opts)?;
    let asset = if opts.asset.is_empty() {
        default_asset_for(input)?
    } else {
        opts.asset.clone()
    };
    let opts = PackageOptions {
        asset,
        ..opts.clone()
    };
    check_name("asset name", &opts.asset)?;
    let job = job_record(InputRecord::File(FileIdentity::of(input)?), &opts);
    let dir = asset_dir(&opts, &opts.asset);
    if !opts.force {
        if let Some(rec) = existing_package(&dir, &job) {
            return Ok(skipped_report(dir, rec, start));
        }
    }
    progress.stage(&format!("reading {}", input.display()), 0);
    let tracks = crate::demux::demux_file(input)
        .with_context(|| format!("cannot package {}", input.display()))?;
    package_with_record(tracks, &opts, job, progress, start)
}

/// Asset name derived from a file name: its stem with unsupported characters replaced by `_`.
pub fn default_asset_for(input: &Path) -> Result<String> {
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("cannot derive an asset name from {}", input.display()))?;
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let name = name.trim_start_matches('.').to_string();
    ensure!(
        !name.is_empty(),
        "cannot derive an asset name from {}",
        input.display()
    );
    Ok(name)
}

/// Packages in-memory tracks (the asset name must be set). The input is identified in
/// `package.json` by a hash of the tracks.
pub fn package_tracks(
    tracks: Vec<Track>,
    opts: &PackageOptions,
    progress: &dyn Progress,
) -> Result<PackageReport> {
    let start = Instant::now();
    validate_options(opts)?;
    check_name("asset name", &opts.asset)?;
    let job = job_record(
        InputRecord::Tracks {
            fingerprint: fingerprint(&tracks),
        },
        opts,
    );
    let dir = asset_dir(opts, &opts.asset);
    if !opts.force {
        if let Some(rec) = existing_package(&dir, &job) {
            return Ok(skipped_report(dir, rec, start));
        }
    }
    package_with_record(tracks, opts, job, progress, start)
}

/// Packages tracks under a given input record (used by the ladder).
pub(crate) fn package_tracks_for(
    tracks: Vec<Track>,
    opts: &PackageOptions,
    input: InputRecord,
    progress: &dyn Progress,
    start: Instant,
) -> Result<PackageReport> {
    let job = job_record(input, opts);
    package_with_record(tracks, opts, job, progress, start)
}

/// Whether a complete package of this input/options already exists (for callers that can
/// skip expensive work, like the ladder transcode).
pub(crate) fn existing_report(
    opts: &PackageOptions,
    input: InputRecord,
    start: Instant,
) -> Option<PackageReport> {
    let job = job_record(input, opts);
    let dir = asset_dir(opts, &opts.asset);
    existing_package(&dir, &job).map(|rec| skipped_report(dir, rec, start))
}
