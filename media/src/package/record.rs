//! The idempotence record: `package.json` says what was packaged (the input's identity and
//! the options that affect the output) so that a second run of the same job is a no-op when
//! the complete package is still there.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::{ensure, Context, Result};
use manifests::layout;
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use super::{PackageOptions, PackageReport, RepresentationReport};
use crate::synth::{self, SynthOptions};
use crate::track::{CodecConfig, Track};

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
        /// Rungs with their own encoder settings: (id, fps, H.264 profile).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        encode: Vec<(String, Option<f64>, Option<String>)>,
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
    /// Scheme, key ids and key hashes (never the keys); absent when clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<crate::encrypt::EncryptionRecord>,
    /// HLS playlists written beside the MPD (packages from before HLS lack them: redone).
    #[serde(default)]
    hls: bool,
    /// Decode times start at the first presented frame, the B-frame delay cancelled by an
    /// edit list (see `plan`; packages from before start with a hole in hls.js: redone).
    #[serde(default)]
    tfdt_at_first_frame: bool,
}

/// The `package.json` of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PackageRecord {
    tool: String,
    tool_version: String,
    input: InputRecord,
    options: OptionsRecord,
    pub(super) duration_secs: f64,
    packaged_at_unix_secs: u64,
    pub(super) representations: Vec<RepresentationReport>,
}

impl PackageRecord {
    pub(super) fn same_job(&self, other: &PackageRecord) -> bool {
        self.tool == other.tool
            && self.tool_version == other.tool_version
            && self.input == other.input
            && self.options == other.options
    }
}

const TOOL: &str = "media";

pub(super) fn job_record(input: InputRecord, opts: &PackageOptions) -> PackageRecord {
    PackageRecord {
        tool: TOOL.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        input,
        options: OptionsRecord {
            segment_duration_secs: opts.segment_duration_secs,
            encryption: opts.encryption.as_ref().map(|e| e.record()),
            hls: true,
            tfdt_at_first_frame: true,
        },
        duration_secs: 0.0,
        packaged_at_unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        representations: Vec::new(),
    }
}

/// If the asset directory holds a complete package of the same job, its record.
pub(super) fn existing_package(dir: &Path, job: &PackageRecord) -> Option<PackageRecord> {
    let text = fs::read_to_string(dir.join(layout::PACKAGE_RECORD_FILE)).ok()?;
    let rec: PackageRecord = serde_json::from_str(&text).ok()?;
    if !rec.same_job(job) {
        debug!(dir = %dir.display(), "existing package differs from this job");
        return None;
    }
    if !dir.join(layout::MANIFEST_FILE).is_file()
        || (rec.options.hls && !dir.join(layout::HLS_MULTIVARIANT_FILE).is_file())
    {
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

pub(super) fn skipped_report(dir: PathBuf, rec: PackageRecord, start: Instant) -> PackageReport {
    info!(asset_dir = %dir.display(), "already packaged and unchanged; nothing to do");
    PackageReport {
        asset_dir: dir,
        skipped: true,
        elapsed: start.elapsed(),
        duration_secs: rec.duration_secs,
        representations: rec.representations,
    }
}

pub(super) fn fingerprint(tracks: &[Track]) -> String {
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
            CodecConfig::Hevc {
                hvcc,
                in_band_parameter_sets,
                colour_boxes,
                ..
            } => {
                eat(hvcc);
                eat(&[u8::from(*in_band_parameter_sets)]);
                eat(colour_boxes);
            }
            CodecConfig::Av1 {
                av1c, colour_boxes, ..
            } => {
                eat(av1c);
                eat(colour_boxes);
            }
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => eat(audio_specific_config),
        }
        match t.samples.as_slice() {
            Some(samples) => {
                for s in samples {
                    eat(&s.duration.to_be_bytes());
                    eat(&s.composition_offset.to_be_bytes());
                    eat(&[s.is_sync as u8]);
                    eat(&s.data);
                }
            }
            // Samples in a file: their tables (reading every byte would be a second pass
            // over the input).
            None => {
                for s in t.samples.infos() {
                    eat(&s.duration.to_be_bytes());
                    eat(&s.composition_offset.to_be_bytes());
                    eat(&[s.is_sync as u8]);
                    eat(&s.size.to_be_bytes());
                }
            }
        }
    }
    format!("{h:016x}")
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
