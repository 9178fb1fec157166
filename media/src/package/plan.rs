//! Cutting tracks into aligned segments: validation of the tracks, the cut points (sync
//! samples nearest to k × segment duration for video, the nearest frame for audio) and the
//! per-segment times the MPD and the `tfdt` need.
//!
//! Everything here walks the sample tables in order ([`crate::track::Samples::infos`]) and
//! keeps only per-segment values, never per-sample vectors, so planning a 2-hour input costs
//! no more memory than its tables.
//!
//! Times: presentation time = decode time + composition offset − the track's presentation
//! offset (the source's edit list: audio priming, B-frame delay; see `demux`). Video
//! boundaries are the reference; audio is cut at the frames nearest to them, and audio
//! frames that would start at or after the end of the video (encoder padding) are dropped,
//! so both end together.
//!
//! Exact A/V timing without edit lists for the source's offsets: when a track presents its
//! first media time late (an edit list), every track's media timeline is moved by the same
//! whole number of seconds `K` (exact in every timescale), and the MPD says
//! `presentationTimeOffset = K`. The priming frames then sit just before K, the first real
//! audio sample and the first video frame at K, composition offsets stay as encoded
//! (positive, `trun` version 0). Why not an `elst` that removes the offsets, or negative
//! composition offsets: dash.js maps media to presentation time with
//! `presentationTimeOffset` only, hls.js ignores `elst` and takes the first segments'
//! `tfdt`s as the common origin, and ffmpeg moves negative composition offsets later by
//! the most negative one; a plain shifted timeline is read the same way by all of them.
//!
//! Decode times start where presentation starts. hls.js's origin is the first video
//! segment's `tfdt`, a *decode* time, but the buffer begins at that segment's earliest
//! *presented* frame; with B-frames that is the B-frame delay later (2 frames: 80 ms at
//! 25 fps), a hole at the start that hls.js jumped with a `bufferSeekOverHole` error
//! whenever it saw the stall before Chromium started by itself. So each track's decode
//! times are written later by its *composition shift* (the first segment's earliest
//! presentation minus its first decode time; 0 for audio and for video without B-frames),
//! `tfdt = decode time + K − presentation offset + composition shift`, and its init segment
//! cancels exactly that with an edit list (`elst` media_time = the shift, as Shaka Packager
//! does): MSE in browsers and ffmpeg apply it and present every frame as before, and hls.js
//! now finds its origin at the first presented frame. Generated content (no priming, no
//! B-frames) keeps `K = 0` and no edit list.

use std::collections::BTreeMap;

use crate::error::{bail, ensure, Context, Result};
use manifests::layout::MediaKind;
use tracing::{debug, warn};

use super::check_name;
use crate::codec;
use crate::track::{CodecConfig, SampleInfo, Track};

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
    /// `presentationTimeOffset`: the common timeline shift `K` in the track timescale.
    pub presentation_time_offset: u64,
    /// How much later decode times are written (so the first segment's `tfdt` is its
    /// earliest presentation time), cancelled by the init segment's edit list; 0 without
    /// B-frames (see the module docs).
    pub composition_shift: u32,
}

/// The outcome of [`plan`].
pub(crate) struct Plan {
    /// One plan per track, video first.
    pub reps: Vec<RepresentationPlan>,
    /// Whether video boundaries align across representations.
    pub aligned: bool,
    /// Nominal boundaries (k × segment duration inside the reference video) with no sync
    /// sample within half a frame: each is warned about once.
    pub idr_misses: usize,
    /// Presentation duration in seconds: the reference video's (audio is trimmed to it), or
    /// the longest track's without video.
    pub duration_secs: f64,
}

/// A track's samples from `start` on: `(index, info, decode time relative to sample
/// `start`, presentation time)`, lazily.
fn times(t: &Track, start: usize) -> impl Iterator<Item = (usize, SampleInfo, u64, i64)> + '_ {
    let shift = i64::from(t.samples.presentation_offset());
    let mut dts = 0u64;
    t.samples
        .infos()
        .enumerate()
        .skip(start)
        .map(move |(i, s)| {
            let d = dts;
            dts += u64::from(s.duration);
            (i, s, d, d as i64 + i64::from(s.composition_offset) - shift)
        })
}

/// Chooses segment start indices: `start` plus, for each target time (seconds), the
/// candidate sample (every sample, or sync samples only) whose presentation time is nearest.
/// Returns the indices and how many boundaries are farther than `tolerance` seconds from
/// their target.
fn choose_cuts(
    t: &Track,
    start: usize,
    targets: &[f64],
    sync_only: bool,
    tolerance: f64,
) -> (Vec<usize>, usize) {
    let ts = t.timescale as f64;
    let secs = |pts: i64| pts as f64 / ts;
    let mut candidates = times(t, start)
        .filter(|(_, s, _, _)| !sync_only || s.is_sync)
        .map(|(i, _, _, pts)| (i, secs(pts)))
        .peekable();
    let mut cuts = vec![start];
    let mut off_target = 0;
    let mut cur = candidates.next();
    for &target in targets {
        while let (Some(c), Some(&next)) = (cur, candidates.peek()) {
            if (next.1 - target).abs() <= (c.1 - target).abs() {
                cur = candidates.next();
            } else {
                break;
            }
        }
        let Some((idx, at)) = cur else { break };
        if (at - target).abs() > tolerance {
            off_target += 1;
        }
        if idx > *cuts.last().unwrap() {
            cuts.push(idx);
        }
    }
    (cuts, off_target)
}

/// The composition shift of a track (see the module docs): how much later than its first
/// decode time the first segment (samples `start..first_end`) presents its earliest sample;
/// 0 when it presents one at or before its first decode time.
fn composition_shift(t: &Track, start: usize, first_end: usize) -> u32 {
    times(t, start)
        .take(first_end - start)
        .map(|(_, s, dts, _)| dts as i64 + i64::from(s.composition_offset))
        .min()
        .unwrap_or(0)
        .clamp(0, i64::from(i32::MAX)) as u32
}

/// Segment plans from cut indices, in one pass over the tables; `end` is one past the last
/// sample packaged, `shift` the common timeline shift in the track timescale (at least the
/// track's presentation offset), `composition_shift` what decode times move later by.
fn plan_segments(
    t: &Track,
    cuts: &[usize],
    end: usize,
    shift: u64,
    composition_shift: u32,
) -> Vec<SegmentPlan> {
    let media_shift =
        shift - u64::from(t.samples.presentation_offset()) + u64::from(composition_shift);
    let start = cuts[0];
    let mut segs: Vec<SegmentPlan> = Vec::with_capacity(cuts.len());
    let mut k = 0;
    let mut end_dts = 0;
    for (i, info, dts, pts) in times(t, start).take(end - start) {
        if cuts.get(k) == Some(&i) {
            segs.push(SegmentPlan {
                first: i,
                end: cuts.get(k + 1).copied().unwrap_or(end),
                base_decode_time: dts + media_shift,
                start: pts.max(0) as u64,
                duration: 0,
            });
            k += 1;
        }
        end_dts = dts + u64::from(info.duration);
    }
    let n = segs.len();
    for k in 0..n {
        segs[k].duration = match segs.get(k + 1) {
            Some(next) => next.start.saturating_sub(segs[k].start),
            // The last segment runs to the end of the media (decode times are contiguous).
            None => (end_dts + media_shift).saturating_sub(segs[k].base_decode_time),
        };
    }
    segs
}

pub(super) fn track_duration_secs(t: &Track) -> f64 {
    t.samples.total_duration() as f64 / t.timescale as f64
}

/// Validates tracks and cuts them into aligned segments (video first).
pub(crate) fn plan(mut tracks: Vec<Track>, segment_duration: f64) -> Result<Plan> {
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
            (CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }, MediaKind::Video) => {
                t.codec
                    .validate()
                    .with_context(|| format!("track {}", t.id))?;
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
    }
    // Video first (stable), so the first video track is the reference.
    tracks.sort_by_key(|t| match t.kind {
        MediaKind::Video => 0,
        MediaKind::Audio => 1,
    });

    // Where each track starts: video at its first sync sample (leading frames that cannot
    // be decoded are dropped), audio at its first frame.
    let mut starts = Vec::with_capacity(tracks.len());
    for t in &tracks {
        let start = if t.kind == MediaKind::Video {
            let first_sync = t.samples.infos().position(|s| s.is_sync).with_context(|| {
                format!(
                    "track {}: no sync sample (IDR) at all; cannot segment",
                    t.id
                )
            })?;
            if first_sync > 0 {
                warn!(track = %t.id, dropped = first_sync, "video does not start with a sync sample; dropping leading frames");
            }
            first_sync
        } else {
            0
        };
        starts.push(start);
    }

    // The presentation ends with the reference video (audio that runs on is encoder
    // padding), or with the longest track when there is no video.
    let has_video = tracks[0].kind == MediaKind::Video;
    let duration_secs = if has_video {
        let t = &tracks[0];
        let d: u64 = t
            .samples
            .infos()
            .skip(starts[0])
            .map(|s| u64::from(s.duration))
            .sum();
        d as f64 / t.timescale as f64
    } else {
        tracks.iter().map(track_duration_secs).fold(0.0, f64::max)
    };
    // Nominal boundaries strictly inside the presentation: k × segment duration. (Counting
    // audio's extra padding here made a boundary at the very end of the video, with no IDR
    // near it: the false "no IDR near 1 nominal segment boundaries" warning.)
    let nominal: Vec<f64> = (1..)
        .map(|k| k as f64 * segment_duration)
        .take_while(|&t| t < duration_secs - 1e-9)
        .collect();

    // The common timeline shift K: whole seconds covering the largest presentation offset.
    let shift_secs = tracks
        .iter()
        .map(|t| f64::from(t.samples.presentation_offset()) / f64::from(t.timescale))
        .fold(0.0, f64::max)
        .ceil() as u64;
    if shift_secs > 0 {
        debug!(
            shift_secs,
            "media timelines shifted (presentationTimeOffset)"
        );
    }

    let mut reps = Vec::with_capacity(tracks.len());
    let mut boundary_times: Option<Vec<f64>> = None;
    let mut aligned = true;
    let mut idr_misses = 0;
    for (mut t, start) in tracks.into_iter().zip(starts) {
        let frame = t.samples.info(start).duration as f64 / t.timescale as f64;
        let mut end = t.samples.len();
        let cuts = match (t.kind, &boundary_times) {
            (MediaKind::Video, None) => {
                let (cuts, off) = choose_cuts(&t, start, &nominal, true, frame / 2.0);
                if off > 0 {
                    warn!(
                        track = %t.id,
                        boundaries = off,
                        "no IDR near {off} nominal segment boundaries; segments there are longer/shorter \
                         than {segment_duration} s (encode with a keyframe every {segment_duration} s to fix)"
                    );
                }
                idr_misses = off;
                let ts = t.timescale as f64;
                let mut wanted = cuts[1..].iter().copied().peekable();
                let mut at = Vec::with_capacity(cuts.len());
                for (i, _, _, pts) in times(&t, start) {
                    if wanted.peek() == Some(&i) {
                        at.push(pts as f64 / ts);
                        wanted.next();
                    }
                    if wanted.peek().is_none() {
                        break;
                    }
                }
                boundary_times = Some(at);
                cuts
            }
            (MediaKind::Video, Some(targets)) => {
                let (cuts, off) = choose_cuts(&t, start, targets, true, frame / 2.0);
                if off > 0 || cuts.len() != targets.len() + 1 {
                    aligned = false;
                    warn!(track = %t.id, "segment boundaries do not align with the other video representations");
                }
                cuts
            }
            (MediaKind::Audio, targets) => {
                if has_video {
                    // Frames starting at or after the video's end are padding: dropped.
                    let limit = (duration_secs * t.timescale as f64).round() as i64;
                    let keep = times(&t, 0)
                        .position(|(_, _, _, pts)| pts >= limit)
                        .unwrap_or(end)
                        .max(1);
                    if keep < end {
                        debug!(track = %t.id, dropped = end - keep, "audio frames after the end of the video dropped");
                        end = keep;
                    }
                }
                let targets = targets.as_deref().unwrap_or(&nominal);
                let (mut cuts, _) = choose_cuts(&t, 0, targets, false, frame);
                cuts.retain(|&c| c < end);
                cuts
            }
        };
        t.samples.truncate(end);
        let shift = shift_secs * u64::from(t.timescale);
        let first_end = cuts.get(1).copied().unwrap_or(end);
        let composition_shift = composition_shift(&t, cuts[0], first_end);
        let segments = plan_segments(&t, &cuts, end, shift, composition_shift);
        reps.push(RepresentationPlan {
            track: t,
            segments,
            presentation_time_offset: shift,
            composition_shift,
        });
    }
    Ok(Plan {
        reps,
        aligned,
        idr_misses,
        duration_secs,
    })
}

/// Frame rate of a video track from its sample durations (the most common duration):
/// `(num, den)` reduced.
pub(crate) fn frame_rate(t: &Track) -> Option<(u32, u32)> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for s in t.samples.infos() {
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
    use crate::track::{Sample, Samples};

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
                .collect::<Vec<_>>()
                .into(),
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
                .collect::<Vec<_>>()
                .into(),
        }
    }

    fn each_sample(t: &mut Track, f: impl FnMut(&mut Sample)) {
        match &mut t.samples {
            Samples::Memory(v) => v.iter_mut().for_each(f),
            Samples::Table(_) => unreachable!(),
        }
    }

    #[test]
    fn audio_longer_than_video_gives_no_idr_warning_and_is_trimmed() {
        // 6 s of video with an IDR every 2 s; audio runs 0.4 s longer (padding).
        let p = plan(vec![audio(300), video("v", 150, 50)], 2.0).unwrap();
        assert_eq!(
            p.idr_misses, 0,
            "a boundary at the end of the video is not a miss"
        );
        assert!((p.duration_secs - 6.0).abs() < 1e-9);
        let a = &p.reps[1];
        // Frames starting before 6 s (288000 ticks): 0..=281.
        assert_eq!(a.segments.last().unwrap().end, 282);
        assert_eq!(a.track.samples.len(), 282);
        let v_end = 6.0;
        let last = a.segments.last().unwrap();
        let a_end = (last.start + last.duration) as f64 / 48000.0;
        assert!(
            (a_end - v_end).abs() <= 1024.0 / 48000.0,
            "audio ends at {a_end}"
        );
        assert_eq!(a.segments.len(), 3, "no tiny extra audio segment");
    }

    #[test]
    fn sparse_keyframes_still_warn() {
        // IDR every 3 s with 2 s segments: 2 s, 4 s (and 8 s, 10 s) have none near them.
        let p = plan(vec![audio(600), video("v", 300, 75)], 2.0).unwrap();
        assert!(p.idr_misses >= 2, "{}", p.idr_misses);
    }

    #[test]
    fn audio_priming_presents_before_zero_and_cuts_follow_presentation_time() {
        // 283 AAC frames of 4 bytes, the first one priming (edit list media_time 1024).
        let n = 283usize;
        let mut a = audio(1);
        let mut samples = crate::samples::table_over_bytes(
            vec![7; n * 4],
            vec![4; n],
            vec![(0, 1024)],
            vec![],
            None,
            vec![(0, 0)],
            None,
        );
        if let Samples::Table(t) = &mut samples {
            t.presentation_offset = 1024;
        }
        a.samples = samples;
        let p = plan(vec![a, video("v", 150, 50)], 2.0).unwrap();
        let a = &p.reps[1];
        // Frame k presents at (k - 1) × 1024: nearest to 2 s (96000) is k = 95 (96256).
        let firsts: Vec<_> = a.segments.iter().map(|s| s.first).collect();
        assert_eq!(firsts, [0, 95, 189]);
        assert_eq!(a.segments[1].start, 94 * 1024);
        assert_eq!(a.segments[0].start, 0);
        // Timelines moved by 1 s (the smallest whole second covering 1024/48000 s): the
        // priming frame sits at media time 1 s - 1024, frame 1 at 1 s, the video at 1 s.
        assert_eq!(a.presentation_time_offset, 48000);
        assert_eq!(a.segments[0].base_decode_time, 48000 - 1024);
        assert_eq!(a.segments[1].base_decode_time, 48000 - 1024 + 95 * 1024);
        assert_eq!(p.reps[0].presentation_time_offset, 12800);
        assert_eq!(p.reps[0].segments[0].base_decode_time, 12800);
        // Frames presenting from 6 s on are dropped: (k - 1) × 1024 < 288000 → k ≤ 282.
        assert_eq!(a.segments.last().unwrap().end, 283);
    }

    #[test]
    fn b_frame_delay_moves_decode_times_so_each_tfdt_is_its_segment_start() {
        // 25 fps, IDR every 2 s, decode order I P B P B …: the IDR presents one B-frame
        // delay (2 frames, 1024) after its decode time, as libx264 writes it.
        let mut v = video("v", 150, 50);
        let mut i = 0;
        each_sample(&mut v, |s| {
            s.composition_offset = match i % 50 {
                0 => 1024,
                k if k % 2 == 1 => 1536,
                _ => 512,
            };
            i += 1;
        });
        let p = plan(vec![audio(282), v], 2.0).unwrap();
        let (v, a) = (&p.reps[0], &p.reps[1]);
        assert_eq!(v.composition_shift, 1024);
        assert_eq!(a.composition_shift, 0, "audio decodes where it presents");
        // hls.js takes the first tfdt as time 0: it must be where presentation starts.
        let tfdts: Vec<_> = v.segments.iter().map(|s| s.base_decode_time).collect();
        let starts: Vec<_> = v.segments.iter().map(|s| s.start).collect();
        assert_eq!(tfdts, [1024, 26624, 52224]);
        assert_eq!(tfdts, starts);
        // Durations (MPD, EXTINF) are unchanged: 2 s each, the last to the end of the media.
        assert!(v.segments.iter().all(|s| s.duration == 25600));
        assert_eq!(a.segments[0].base_decode_time, 0);
    }

    #[test]
    fn cuts_align_at_idrs_and_audio_follows() {
        // 25 fps, IDR every 50 frames (2 s), 6 s.
        let p = plan(
            vec![audio(282), video("v1", 150, 50), video("v2", 150, 50)],
            2.0,
        )
        .unwrap();
        assert!(p.aligned);
        assert_eq!(p.idr_misses, 0);
        let plans = p.reps;
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
        let p = plan(vec![video("v", 375, 125)], 2.0).unwrap();
        let firsts: Vec<_> = p.reps[0].segments.iter().map(|s| s.first).collect();
        assert_eq!(firsts, [0, 125, 250]);
        // 2, 4, 6, 8, 12, 14 s have no IDR within half a frame (10 s has one).
        assert_eq!(p.idr_misses, 6);
    }

    #[test]
    fn misaligned_rungs_are_detected() {
        let p = plan(vec![video("v1", 150, 50), video("v2", 150, 30)], 2.0).unwrap();
        assert!(!p.aligned);
    }

    #[test]
    fn rejects_bad_input() {
        let mut v = video("v", 10, 100);
        each_sample(&mut v, |s| s.is_sync = false);
        assert!(plan(vec![v], 2.0).is_err());
        assert!(plan(vec![video("../x", 10, 5)], 2.0).is_err());
        assert!(plan(vec![video("v", 10, 5), video("v", 10, 5)], 2.0).is_err());
        assert!(plan(vec![], 2.0).is_err());
    }

    #[test]
    fn frame_rates() {
        let mut v = video("v", 10, 5);
        v.timescale = 30000;
        each_sample(&mut v, |s| s.duration = 1001);
        assert_eq!(
            frame_rate(&v).map(frame_rate_string).as_deref(),
            Some("30000/1001")
        );
    }
}
