//! Cutting tracks into aligned segments: validation of the tracks, the cut points (sync
//! samples nearest to k × segment duration for video, the nearest frame for audio) and the
//! per-segment times the MPD and the `tfdt` need.

use std::collections::BTreeMap;

use crate::error::{bail, ensure, Context, Result};
use manifests::layout::MediaKind;
use tracing::{debug, warn};

use super::check_name;
use crate::codec;
use crate::track::{CodecConfig, Track};

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

pub(super) fn track_duration_secs(t: &Track) -> f64 {
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
