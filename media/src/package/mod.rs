//! The packager pipeline: tracks → aligned segments → CMAF files + MPD + `package.json`,
//! written atomically into the content layout of [`manifests::layout`].
//!
//! Cutting: the first video track's sync samples nearest to k × segment duration give the
//! boundary times; every other video track is cut at its sync sample nearest to those times
//! (they coincide for a proper ladder, which is checked) and audio at the frame nearest to them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use indicatif::ProgressBar;
use manifests::layout::{self, MediaKind};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::codec;
use crate::fmp4;
use crate::synth::{self, SynthOptions};
use crate::track::{CodecConfig, Track};

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
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            content_root: PathBuf::from("content"),
            asset: String::new(),
            segment_duration_secs: 2.0,
            force: false,
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

/// Identity of the packaged input, recorded in `package.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputRecord {
    /// The generated test pattern.
    Synth {
        /// Content length.
        duration_secs: u32,
        /// Frame rate.
        fps: u32,
        /// IDR interval.
        keyframe_interval_secs: f64,
        /// Ladder as (id, width, height, bitrate).
        rungs: Vec<(String, u32, u32, u32)>,
        /// Audio generated.
        audio: bool,
    },
    /// An MP4 file packaged as is.
    File(FileIdentity),
    /// An MP4 file transcoded into a ladder.
    Ladder {
        /// The source file.
        file: FileIdentity,
        /// Ladder as (id, width, height, bitrate).
        rungs: Vec<(String, u32, u32, u32)>,
        /// Audio bitrate of the transcode.
        audio_bitrate_bps: u32,
    },
    /// Tracks handed over in memory, identified by a hash of their contents.
    Tracks {
        /// FNV-1a 64 over ids, configs and samples.
        fingerprint: String,
    },
}

/// Path, size and modification time of an input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Canonical path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_unix_nanos: u64,
}

impl FileIdentity {
    /// Stats a file.
    pub fn of(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        ensure!(meta.is_file(), "{} is not a regular file", path.display());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Ok(FileIdentity {
            path: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            size: meta.len(),
            mtime_unix_nanos: mtime,
        })
    }
}

impl InputRecord {
    /// The record of generated content.
    pub fn synth(o: &SynthOptions) -> Self {
        InputRecord::Synth {
            duration_secs: o.duration_secs,
            fps: o.fps,
            keyframe_interval_secs: o.keyframe_interval_secs,
            rungs: rung_records(&o.rungs),
            audio: o.audio,
        }
    }
}

pub(crate) fn rung_records(rungs: &[synth::Rung]) -> Vec<(String, u32, u32, u32)> {
    rungs
        .iter()
        .map(|r| (r.id.clone(), r.width, r.height, r.bitrate_bps))
        .collect()
}

/// Packaging options that affect the output, recorded in `package.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OptionsRecord {
    segment_duration_secs: f64,
}

/// The `package.json` of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PackageRecord {
    tool: String,
    tool_version: String,
    input: InputRecord,
    options: OptionsRecord,
    duration_secs: f64,
    packaged_at_unix_secs: u64,
    representations: Vec<RepresentationReport>,
}

impl PackageRecord {
    fn same_job(&self, other: &PackageRecord) -> bool {
        self.tool == other.tool
            && self.tool_version == other.tool_version
            && self.input == other.input
            && self.options == other.options
    }
}

const TOOL: &str = "media";

fn job_record(input: InputRecord, opts: &PackageOptions) -> PackageRecord {
    PackageRecord {
        tool: TOOL.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        input,
        options: OptionsRecord {
            segment_duration_secs: opts.segment_duration_secs,
        },
        duration_secs: 0.0,
        packaged_at_unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        representations: Vec::new(),
    }
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

/// If the asset directory holds a complete package of the same job, its record.
fn existing_package(dir: &Path, job: &PackageRecord) -> Option<PackageRecord> {
    let text = fs::read_to_string(dir.join(layout::PACKAGE_RECORD_FILE)).ok()?;
    let rec: PackageRecord = serde_json::from_str(&text).ok()?;
    if !rec.same_job(job) {
        debug!(dir = %dir.display(), "existing package differs from this job");
        return None;
    }
    if !dir.join(layout::MANIFEST_FILE).is_file() {
        return None;
    }
    for r in &rec.representations {
        let mut bytes = fs::metadata(dir.join(layout::init_path(&r.id, r.kind)))
            .ok()?
            .len();
        for n in layout::START_NUMBER..layout::START_NUMBER + r.segments {
            bytes += fs::metadata(dir.join(layout::media_path(&r.id, n)))
                .ok()?
                .len();
        }
        if bytes != r.bytes {
            debug!(rep = %r.id, "existing package incomplete");
            return None;
        }
    }
    Some(rec)
}

fn skipped_report(dir: PathBuf, rec: PackageRecord, start: Instant) -> PackageReport {
    info!(asset_dir = %dir.display(), "already packaged and unchanged; nothing to do");
    PackageReport {
        asset_dir: dir,
        skipped: true,
        elapsed: start.elapsed(),
        duration_secs: rec.duration_secs,
        representations: rec.representations,
    }
}

/// Generates the test pattern (keyframe interval = segment duration) and packages it.
/// Asset name defaults to [`layout::DEFAULT_ASSET`].
pub fn package_default(
    opts: &PackageOptions,
    synth_opts: &SynthOptions,
    progress: &ProgressBar,
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
    progress.set_message("encoding test pattern");
    let tracks = synth::generate(&synth_opts, progress).context("generating the test pattern")?;
    progress.reset();
    package_with_record(tracks, &opts, job, progress, start)
}

/// Reads an MP4 (H.264/AAC) and packages its tracks without re-encoding, cutting at its
/// keyframes. Asset name defaults to the file stem.
pub fn package_file(
    input: &Path,
    opts: &PackageOptions,
    progress: &ProgressBar,
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
    progress.set_message(format!("reading {}", input.display()));
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
    progress: &ProgressBar,
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
    progress: &ProgressBar,
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

fn fingerprint(tracks: &[Track]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for t in tracks {
        eat(t.id.as_bytes());
        eat(&t.timescale.to_be_bytes());
        eat(t.language.as_bytes());
        match &t.codec {
            CodecConfig::Avc { sps, pps } => sps.iter().chain(pps).for_each(|s| eat(s)),
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => eat(audio_specific_config),
        }
        for s in &t.samples {
            eat(&s.duration.to_be_bytes());
            eat(&s.composition_offset.to_be_bytes());
            eat(&[s.is_sync as u8]);
            eat(&s.data);
        }
    }
    format!("{h:016x}")
}

/// One planned media segment of a track.
#[derive(Debug, Clone)]
pub(crate) struct SegmentPlan {
    /// First sample index.
    pub first: usize,
    /// One past the last sample index.
    pub end: usize,
    /// Decode time of the first sample (tfdt).
    pub base_decode_time: u64,
    /// Presentation start (MPD time), in the track timescale.
    pub start: u64,
    /// MPD duration in the track timescale.
    pub duration: u64,
}

/// A track cut into segments, plus what the MPD needs.
pub(crate) struct RepresentationPlan {
    pub track: Track,
    pub segments: Vec<SegmentPlan>,
}

/// Decode and presentation times of every sample.
fn sample_times(t: &Track) -> (Vec<u64>, Vec<i64>) {
    let mut dts = Vec::with_capacity(t.samples.len());
    let mut pts = Vec::with_capacity(t.samples.len());
    let mut acc = 0u64;
    for s in &t.samples {
        dts.push(acc);
        pts.push(acc as i64 + s.composition_offset as i64);
        acc += s.duration as u64;
    }
    (dts, pts)
}

/// Chooses segment start indices: index 0 plus, for each target time (seconds), the candidate
/// sample whose presentation time is nearest. Returns the indices and whether any boundary
/// is farther than `tolerance` seconds from its target.
fn choose_cuts(
    t: &Track,
    pts: &[i64],
    targets: &[f64],
    sync_only: bool,
    tolerance: f64,
) -> (Vec<usize>, usize) {
    let ts = t.timescale as f64;
    let candidates: Vec<usize> = (0..t.samples.len())
        .filter(|&i| !sync_only || t.samples[i].is_sync)
        .collect();
    let mut cuts = vec![0usize];
    let mut off_target = 0;
    let mut c = 0usize; // pointer into candidates, monotonic
    for &target in targets {
        while c + 1 < candidates.len()
            && (pts[candidates[c + 1]] as f64 / ts - target).abs()
                <= (pts[candidates[c]] as f64 / ts - target).abs()
        {
            c += 1;
        }
        let Some(&idx) = candidates.get(c) else { break };
        let err = (pts[idx] as f64 / ts - target).abs();
        if err > tolerance {
            off_target += 1;
        }
        if idx > *cuts.last().unwrap() {
            cuts.push(idx);
        }
    }
    (cuts, off_target)
}

fn plan_segments(t: &Track, cuts: &[usize], dts: &[u64], pts: &[i64]) -> Vec<SegmentPlan> {
    let mut segs = Vec::with_capacity(cuts.len());
    for (k, &first) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(t.samples.len());
        let start = pts[first].max(0) as u64;
        segs.push(SegmentPlan {
            first,
            end,
            base_decode_time: dts[first],
            start,
            duration: 0,
        });
    }
    for k in 0..segs.len() {
        segs[k].duration = match segs.get(k + 1) {
            Some(next) => next.start.saturating_sub(segs[k].start),
            None => t.samples[segs[k].first..segs[k].end]
                .iter()
                .map(|s| s.duration as u64)
                .sum(),
        };
    }
    segs
}

fn track_duration_secs(t: &Track) -> f64 {
    t.samples.iter().map(|s| s.duration as u64).sum::<u64>() as f64 / t.timescale as f64
}

/// Validates tracks and cuts them into aligned segments. Returns the plans (video first) and
/// whether video boundaries align across representations.
pub(crate) fn plan(
    mut tracks: Vec<Track>,
    segment_duration: f64,
) -> Result<(Vec<RepresentationPlan>, bool)> {
    ensure!(!tracks.is_empty(), "nothing to package: no tracks");
    let mut ids = Vec::new();
    for t in &mut tracks {
        check_name("representation id", &t.id)?;
        ensure!(!ids.contains(&t.id), "duplicate representation id {}", t.id);
        ids.push(t.id.clone());
        ensure!(t.timescale > 0, "track {}: timescale 0", t.id);
        ensure!(!t.samples.is_empty(), "track {}: no samples", t.id);
        match (&t.codec, t.kind) {
            (CodecConfig::Avc { sps, .. }, MediaKind::Video) => {
                let sps = sps
                    .first()
                    .with_context(|| format!("track {}: no SPS", t.id))?;
                codec::parse_sps(sps).with_context(|| format!("track {}", t.id))?;
            }
            (
                CodecConfig::Aac {
                    audio_specific_config,
                    ..
                },
                MediaKind::Audio,
            ) => {
                codec::parse_audio_specific_config(audio_specific_config)
                    .with_context(|| format!("track {}", t.id))?;
            }
            _ => bail!("track {}: codec does not match its kind", t.id),
        }
        if t.kind == MediaKind::Video {
            let first_sync = t.samples.iter().position(|s| s.is_sync).with_context(|| {
                format!(
                    "track {}: no sync sample (IDR) at all; cannot segment",
                    t.id
                )
            })?;
            if first_sync > 0 {
                warn!(track = %t.id, dropped = first_sync, "video does not start with a sync sample; dropping leading frames");
                let dropped: u64 = t.samples[..first_sync]
                    .iter()
                    .map(|s| s.duration as u64)
                    .sum();
                t.samples.drain(..first_sync);
                debug!(track = %t.id, dropped_ticks = dropped, "leading frames dropped");
            }
        }
    }
    // Video first (stable), so the first video track is the reference.
    tracks.sort_by_key(|t| match t.kind {
        MediaKind::Video => 0,
        MediaKind::Audio => 1,
    });

    let longest = tracks.iter().map(track_duration_secs).fold(0.0, f64::max);
    let nominal: Vec<f64> = (1..)
        .map(|k| k as f64 * segment_duration)
        .take_while(|&t| t < longest - 1e-9)
        .collect();

    let mut plans = Vec::with_capacity(tracks.len());
    let mut boundary_times: Option<Vec<f64>> = None;
    let mut aligned = true;
    for t in tracks {
        let (dts, pts) = sample_times(&t);
        let frame = t.samples[0].duration as f64 / t.timescale as f64;
        let cuts = match (t.kind, &boundary_times) {
            (MediaKind::Video, None) => {
                let (cuts, off) = choose_cuts(&t, &pts, &nominal, true, frame / 2.0);
                if off > 0 {
                    warn!(
                        track = %t.id,
                        boundaries = off,
                        "no IDR near {off} nominal segment boundaries; segments there are longer/shorter \
                         than {segment_duration} s (encode with a keyframe every {segment_duration} s to fix)"
                    );
                }
                let times: Vec<f64> = cuts[1..]
                    .iter()
                    .map(|&i| pts[i] as f64 / t.timescale as f64)
                    .collect();
                boundary_times = Some(times);
                cuts
            }
            (MediaKind::Video, Some(times)) => {
                let (cuts, off) = choose_cuts(&t, &pts, times, true, frame / 2.0);
                if off > 0 || cuts.len() != times.len() + 1 {
                    aligned = false;
                    warn!(track = %t.id, "segment boundaries do not align with the other video representations");
                }
                cuts
            }
            (MediaKind::Audio, times) => {
                let times = times.as_deref().unwrap_or(&nominal);
                choose_cuts(&t, &pts, times, false, frame).0
            }
        };
        let segments = plan_segments(&t, &cuts, &dts, &pts);
        plans.push(RepresentationPlan { track: t, segments });
    }
    Ok((plans, aligned))
}

/// Frame rate of a video track from its sample durations (the most common duration):
/// `(num, den)` reduced.
pub(crate) fn frame_rate(t: &Track) -> Option<(u32, u32)> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for s in &t.samples {
        *counts.entry(s.duration).or_default() += 1;
    }
    let (&dur, _) = counts.iter().max_by_key(|(_, &n)| n)?;
    if dur == 0 {
        return None;
    }
    let g = gcd(t.timescale as u64, dur as u64);
    Some(((t.timescale as u64 / g) as u32, (dur as u64 / g) as u32))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Formats a frame rate for the MPD: `25` or `30000/1001`.
pub(crate) fn frame_rate_string((n, d): (u32, u32)) -> String {
    if d == 1 {
        n.to_string()
    } else {
        format!("{n}/{d}")
    }
}

/// Written files and measurements of one representation.
pub(crate) struct WrittenRepresentation {
    pub report: RepresentationReport,
    /// Per segment: (start, duration) in the track timescale.
    pub timeline: Vec<(u64, u64)>,
    pub timescale: u32,
    pub sar: Option<(u16, u16)>,
    pub language: String,
}

/// Removes work directories (`.<asset>.tmp-<pid>-…`, `.old-`, `.ladder-`) left by packager
/// runs of this asset whose process no longer exists (a crash or kill mid-run).
pub(crate) fn remove_stale_work_dirs(root: &Path, asset: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let prefix = format!(".{asset}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some((kind, tail)) = rest.split_once('-') else {
            continue;
        };
        if !matches!(kind, "tmp" | "old" | "ladder") {
            continue;
        }
        let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            warn!(path = %e.path().display(), "removing work directory of an interrupted run");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Removes a directory tree on drop unless disarmed.
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(&p);
        }
    }
}

fn package_with_record(
    tracks: Vec<Track>,
    opts: &PackageOptions,
    mut record: PackageRecord,
    progress: &ProgressBar,
    start: Instant,
) -> Result<PackageReport> {
    let (plans, aligned) = plan(tracks, opts.segment_duration_secs)?;
    let total_segments: u64 = plans.iter().map(|p| p.segments.len() as u64).sum();
    progress.set_length(total_segments);
    progress.set_position(0);
    progress.set_message(format!("packaging {}", opts.asset));

    fs::create_dir_all(&opts.content_root)
        .with_context(|| format!("cannot create content root {}", opts.content_root.display()))?;
    remove_stale_work_dirs(&opts.content_root, &opts.asset);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = opts.content_root.join(format!(
        ".{}.tmp-{}-{nanos}",
        opts.asset,
        std::process::id()
    ));
    fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut guard = TempDirGuard(Some(tmp.clone()));

    let mut written = Vec::with_capacity(plans.len());
    for p in &plans {
        written.push(write_representation(
            &tmp,
            p,
            opts.segment_duration_secs,
            progress,
        )?);
    }
    // Presentation duration: the video's (audio usually runs a few ms longer because of
    // encoder priming/padding; that must not announce a video segment that does not exist).
    let has_video = plans.iter().any(|p| p.track.kind == MediaKind::Video);
    let duration_secs = plans
        .iter()
        .filter(|p| !has_video || p.track.kind == MediaKind::Video)
        .map(|p| track_duration_secs(&p.track))
        .fold(0.0, f64::max);
    let mpd = crate::package::mpd::build_mpd(
        &written,
        duration_secs,
        opts.segment_duration_secs,
        aligned,
    )?;
    fs::write(tmp.join(layout::MANIFEST_FILE), mpd).context("writing the MPD")?;

    record.duration_secs = duration_secs;
    record.representations = written.iter().map(|w| w.report.clone()).collect();
    let json = serde_json::to_string_pretty(&record)?;
    fs::write(tmp.join(layout::PACKAGE_RECORD_FILE), json + "\n")
        .context("writing package.json")?;

    // Swap into place: old asset (if any) aside, new one in, old one removed.
    let dir = asset_dir(opts, &opts.asset);
    let old = opts.content_root.join(format!(
        ".{}.old-{}-{nanos}",
        opts.asset,
        std::process::id()
    ));
    let had_old = dir.exists();
    if had_old {
        fs::rename(&dir, &old).with_context(|| format!("cannot move aside {}", dir.display()))?;
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        if had_old {
            let _ = fs::rename(&old, &dir);
        }
        return Err(e)
            .with_context(|| format!("cannot move the new package into {}", dir.display()));
    }
    guard.0 = None;
    if had_old {
        if let Err(e) = fs::remove_dir_all(&old) {
            warn!(path = %old.display(), "cannot remove the previous package: {e}");
        }
    }
    progress.finish_with_message(format!("packaged {}", opts.asset));
    let elapsed = start.elapsed();
    info!(asset_dir = %dir.display(), ?elapsed, segments = total_segments, "packaged");
    Ok(PackageReport {
        asset_dir: dir,
        skipped: false,
        elapsed,
        duration_secs,
        representations: record.representations,
    })
}

fn write_representation(
    root: &Path,
    p: &RepresentationPlan,
    segment_duration: f64,
    progress: &ProgressBar,
) -> Result<WrittenRepresentation> {
    let t = &p.track;
    fs::create_dir_all(root.join(&t.id))?;
    let init = fmp4::init_segment(t).with_context(|| format!("track {}: init segment", t.id))?;
    let init_path = root.join(layout::init_path(&t.id, t.kind));
    fs::write(&init_path, &init).with_context(|| format!("writing {}", init_path.display()))?;
    let mut bytes = init.len() as u64;
    let mut bandwidth = 0f64;
    let ts = t.timescale as f64;
    let last = p.segments.len() - 1;
    for (k, s) in p.segments.iter().enumerate() {
        let number = layout::START_NUMBER + k as u64;
        let seq = u32::try_from(number).context("too many segments")?;
        let data = fmp4::media_segment(seq, s.base_decode_time, &t.samples[s.first..s.end]);
        let path = root.join(layout::media_path(&t.id, number));
        fs::write(&path, &data).with_context(|| format!("writing {}", path.display()))?;
        bytes += data.len() as u64;
        // A short final segment is rated over the nominal duration, as a player fetches it
        // in (at most) that time too.
        let mut secs = s.duration as f64 / ts;
        if k == last && k > 0 {
            secs = secs.max(segment_duration);
        }
        if secs > 0.0 {
            bandwidth = bandwidth.max(data.len() as f64 * 8.0 / secs);
        }
        progress.inc(1);
    }
    let (codecs, width, height, frame_rate, sample_rate, channels, sar) = match &t.codec {
        CodecConfig::Avc { sps, .. } => {
            let info = codec::parse_sps(&sps[0])?;
            (
                codec::avc_codec_string(&sps[0])?,
                Some(info.width),
                Some(info.height),
                frame_rate(t).map(frame_rate_string),
                None,
                None,
                info.sample_aspect_ratio,
            )
        }
        CodecConfig::Aac {
            audio_specific_config,
            sample_rate,
            channels,
        } => {
            let asc = codec::parse_audio_specific_config(audio_specific_config)?;
            let rate = asc.extension_sample_rate.unwrap_or(asc.sample_rate);
            if rate != *sample_rate {
                debug!(track = %t.id, asc = rate, declared = sample_rate, "sample rate from ASC differs from track");
            }
            (
                asc.codec_string(),
                None,
                None,
                None,
                Some(rate),
                Some(asc.channels().unwrap_or(*channels)),
                None,
            )
        }
    };
    Ok(WrittenRepresentation {
        report: RepresentationReport {
            id: t.id.clone(),
            kind: t.kind,
            codecs,
            bandwidth: bandwidth.ceil() as u64,
            width,
            height,
            frame_rate,
            sample_rate,
            channels,
            segments: p.segments.len() as u64,
            bytes,
        },
        timeline: p.segments.iter().map(|s| (s.start, s.duration)).collect(),
        timescale: t.timescale,
        sar,
        language: t.language.clone(),
    })
}

pub(crate) mod mpd;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::Sample;

    fn video(id: &str, frames: usize, gop: usize) -> Track {
        let sps = vec![
            0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
        ];
        Track {
            id: id.into(),
            kind: MediaKind::Video,
            timescale: 12800,
            codec: CodecConfig::Avc {
                sps: vec![sps],
                pps: vec![vec![0x68, 0xcb, 0x83, 0xcb, 0x20]],
            },
            language: "und".into(),
            samples: (0..frames)
                .map(|i| Sample {
                    data: vec![0; 10],
                    duration: 512,
                    composition_offset: 0,
                    is_sync: i % gop == 0,
                })
                .collect(),
        }
    }

    fn audio(frames: usize) -> Track {
        Track {
            id: "a128".into(),
            kind: MediaKind::Audio,
            timescale: 48000,
            codec: CodecConfig::Aac {
                audio_specific_config: codec::build_audio_specific_config(2, 48000, 2),
                sample_rate: 48000,
                channels: 2,
            },
            language: "und".into(),
            samples: (0..frames)
                .map(|_| Sample {
                    data: vec![0; 5],
                    duration: 1024,
                    composition_offset: 0,
                    is_sync: true,
                })
                .collect(),
        }
    }

    #[test]
    fn cuts_align_at_idrs_and_audio_follows() {
        // 25 fps, IDR every 50 frames (2 s), 6 s.
        let (plans, aligned) = plan(
            vec![audio(282), video("v1", 150, 50), video("v2", 150, 50)],
            2.0,
        )
        .unwrap();
        assert!(aligned);
        assert_eq!(plans[0].track.id, "v1");
        for p in &plans[..2] {
            let firsts: Vec<_> = p.segments.iter().map(|s| s.first).collect();
            assert_eq!(firsts, [0, 50, 100]);
            assert!(p.segments.iter().all(|s| s.duration == 25600));
        }
        let a = &plans[2];
        let starts: Vec<_> = a.segments.iter().map(|s| s.start).collect();
        // nearest frames to 2 s and 4 s at 1024/48000: 94 → 96256, 188 → 192512
        assert_eq!(starts, [0, 96256, 192512]);
        assert_eq!(frame_rate(&plans[0].track), Some((25, 1)));
    }

    #[test]
    fn degrades_to_available_idrs() {
        // IDR every 5 s; 2 s targets → cuts at 5 s and 10 s only.
        let (plans, _) = plan(vec![video("v", 375, 125)], 2.0).unwrap();
        let firsts: Vec<_> = plans[0].segments.iter().map(|s| s.first).collect();
        assert_eq!(firsts, [0, 125, 250]);
    }

    #[test]
    fn misaligned_rungs_are_detected() {
        let (_, aligned) = plan(vec![video("v1", 150, 50), video("v2", 150, 30)], 2.0).unwrap();
        assert!(!aligned);
    }

    #[test]
    fn rejects_bad_input() {
        let mut v = video("v", 10, 100);
        v.samples.iter_mut().for_each(|s| s.is_sync = false);
        assert!(plan(vec![v], 2.0).is_err());
        assert!(plan(vec![video("../x", 10, 5)], 2.0).is_err());
        assert!(plan(vec![video("v", 10, 5), video("v", 10, 5)], 2.0).is_err());
        assert!(plan(vec![], 2.0).is_err());
    }

    #[test]
    fn frame_rates() {
        let mut v = video("v", 10, 5);
        v.timescale = 30000;
        v.samples.iter_mut().for_each(|s| s.duration = 1001);
        assert_eq!(
            frame_rate(&v).map(frame_rate_string).as_deref(),
            Some("30000/1001")
        );
    }
}
#[cfg(test)]
mod record_tests {
    use super::*;
    #[test]
    fn record_round_trips() {
        let rec = job_record(
            InputRecord::File(FileIdentity {
                path: "/x/y.mp4".into(),
                size: 5,
                mtime_unix_nanos: 1_700_000_000_123_456_789,
            }),
            &PackageOptions::default(),
        );
        let json = serde_json::to_string_pretty(&rec).unwrap();
        let back: PackageRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }
}
