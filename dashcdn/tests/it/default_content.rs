//! The packaged embedded default, checked from outside with ffmpeg/ffprobe and xmllint:
//! every representation (init + all segments) decodes without errors, every video segment
//! starts with an IDR at the same time in every rung, segment durations match the MPD, and
//! the MPD's values (codecs, size, frame rate, bandwidth) match the bitstream.
//!
//! Uses `$DASHCDN_CONTENT/default` when it exists (test.sh packages it once before the
//! tests); otherwise packages a fresh default into a temp dir with the real binary.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::default_asset;
use manifests::layout::{self, MediaKind};
use manifests::Mpd;

fn tool(name: &str) -> Command {
    let ok = Command::new(name)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` not found: install it with `apt-get install ffmpeg`"
    );
    Command::new(name)
}

/// `ffprobe` packets of the first stream of `file`: (pts seconds, is keyframe).
fn packets(file: &Path) -> Vec<(f64, bool)> {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap_or((l, ""));
            (
                pts.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad pts in `{l}`")),
                flags.contains('K'),
            )
        })
        .collect()
}

/// `ffprobe` stream fields of `file` as key=value pairs.
fn stream_info(file: &Path) -> std::collections::HashMap<String, String> {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,profile,level,width,height,avg_frame_rate,sample_rate,channels",
            "-of",
            "default=nw=1",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn every_representation_decodes_and_matches_the_mpd() {
    let (asset, _guard) = default_asset(&[]);
    let mpd_path = asset.join(layout::MANIFEST_FILE);
    manifests::schema::validate_with_xmllint(&mpd_path)
        .expect("MPD must validate against the DASH schema");
    let mpd = Mpd::parse(&std::fs::read_to_string(&mpd_path).unwrap()).unwrap();
    let period = &mpd.periods[0];
    let period_duration = mpd.period_duration(0);
    let total = period_duration
        .expect("static MPD has a duration")
        .as_secs_f64();
    assert!(
        (total - 60.0).abs() < 0.05,
        "default content is 60 s, MPD says {total}"
    );

    let work = tempfile::tempdir().unwrap();
    let mut video_keyframes: Vec<(String, Vec<f64>)> = Vec::new();
    let mut kinds = Vec::new();
    for set in &period.adaptation_sets {
        let kind = match set.effective_content_type() {
            Some("video") => MediaKind::Video,
            Some("audio") => MediaKind::Audio,
            other => panic!("unexpected adaptation set {other:?}"),
        };
        for rep in &set.representations {
            kinds.push(kind);
            let segments = rep.media_segments(period, set, period_duration).unwrap();
            assert_eq!(segments.len(), 30, "{}: 60 s in 2 s segments", rep.id);
            // Concatenate init + every segment, as a player's source buffer sees them.
            let init = asset.join(rep.init_url(period, set).unwrap());
            let mut joined =
                std::fs::read(&init).unwrap_or_else(|e| panic!("{}: {e}", init.display()));
            let mut peak_bps: f64 = 0.0;
            for s in &segments {
                assert_eq!(s.url, layout::media_path(&rep.id, s.segment.number));
                let bytes = std::fs::read(asset.join(&s.url)).unwrap();
                peak_bps = peak_bps.max(bytes.len() as f64 * 8.0 / s.segment.duration_secs());
                joined.extend_from_slice(&bytes);
            }
            let file = work.path().join(format!("{}.mp4", rep.id));
            std::fs::write(&file, &joined).unwrap();

            let decode = tool("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&file)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            let errors = String::from_utf8_lossy(&decode.stderr);
            assert!(
                decode.status.success() && errors.trim().is_empty(),
                "{} does not decode cleanly:\n{errors}",
                rep.id
            );

            // Bandwidth is the measured peak over segments (within the ±1 frame of rounding of durations).
            let bw = rep.bandwidth as f64;
            assert!(
                (bw - peak_bps).abs() / peak_bps < 0.02,
                "{}: bandwidth {bw} vs measured peak {peak_bps}",
                rep.id
            );

            let info = stream_info(&file);
            let codecs = rep
                .common
                .codecs
                .clone()
                .or_else(|| set.common.codecs.clone())
                .unwrap();
            let pkts = packets(&file);
            match kind {
                MediaKind::Video => {
                    assert_eq!(info["codec_name"], "h264");
                    assert_eq!(
                        Some(info["width"].parse::<u32>().unwrap()),
                        rep.common.width,
                        "{}",
                        rep.id
                    );
                    assert_eq!(
                        Some(info["height"].parse::<u32>().unwrap()),
                        rep.common.height,
                        "{}",
                        rep.id
                    );
                    let level: u32 = info["level"].parse().unwrap();
                    assert!(
                        codecs.starts_with("avc1.42"),
                        "{}: Constrained Baseline expected, codecs {codecs}",
                        rep.id
                    );
                    assert_eq!(
                        u32::from_str_radix(&codecs[9..11], 16).unwrap(),
                        level,
                        "{}: level in codecs {codecs}",
                        rep.id
                    );
                    assert_eq!(info["avg_frame_rate"], "30/1");
                    assert_eq!(pkts.len(), 1800, "{}: 60 s at 30 fps", rep.id);
                    // Keyframes: exactly one at the start of every segment, nowhere else.
                    let mut pts: Vec<(f64, bool)> = pkts.clone();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let keyframes: Vec<f64> = pts.iter().filter(|p| p.1).map(|p| p.0).collect();
                    let starts: Vec<f64> = segments
                        .iter()
                        .map(|s| s.segment.start_in_period(0).as_secs_f64())
                        .collect();
                    assert_eq!(
                        keyframes.len(),
                        starts.len(),
                        "{}: keyframes {keyframes:?}",
                        rep.id
                    );
                    for (k, s) in keyframes.iter().zip(&starts) {
                        assert!(
                            (k - s).abs() < 0.001,
                            "{}: keyframe at {k} but segment starts at {s}",
                            rep.id
                        );
                    }
                    for s in &segments {
                        assert!(
                            (s.segment.duration_secs() - 2.0).abs() < 1e-9,
                            "{}: segment {} lasts {}",
                            rep.id,
                            s.segment.number,
                            s.segment.duration_secs()
                        );
                    }
                    video_keyframes.push((rep.id.clone(), keyframes));
                }
                MediaKind::Audio => {
                    assert_eq!(info["codec_name"], "aac");
                    assert_eq!(codecs, "mp4a.40.2");
                    assert_eq!(
                        Some(info["sample_rate"].parse::<u32>().unwrap()),
                        rep.common
                            .audio_sampling_rate
                            .as_ref()
                            .and_then(|v| v.first().copied())
                    );
                    let last = pkts.iter().map(|p| p.0).fold(0.0, f64::max) + 1024.0 / 48000.0;
                    assert!((last - 60.0).abs() < 0.05, "audio lasts {last} s");
                }
            }
        }
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == MediaKind::Video).count(),
        4,
        "four video rungs"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == MediaKind::Audio).count(),
        1,
        "one audio track"
    );
    // Boundaries aligned across rungs: identical keyframe times.
    for (id, k) in &video_keyframes[1..] {
        assert_eq!(
            k, &video_keyframes[0].1,
            "keyframes of {id} differ from {}",
            video_keyframes[0].0
        );
    }
}
