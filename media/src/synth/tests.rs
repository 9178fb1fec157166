//! Tests of the generated content: structure, determinism, and decodability with ffmpeg.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::progress::Silent;
use manifests::layout::MediaKind;

use super::*;
use crate::track::{CodecConfig, Track};

/// 4 s at 30 fps, IDR every second, two small rungs and audio.
fn small_opts() -> SynthOptions {
    SynthOptions {
        duration_secs: 4,
        fps: 30,
        keyframe_interval_secs: 1.0,
        rungs: vec![
            Rung::new("t72", 128, 72, 150_000),
            Rung::new("t144", 256, 144, 200_000),
        ],
        audio: true,
    }
}

fn small_tracks() -> &'static Vec<Track> {
    static TRACKS: OnceLock<Vec<Track>> = OnceLock::new();
    TRACKS.get_or_init(|| generate(&small_opts(), &Silent).expect("generate"))
}

fn avc(track: &Track) -> (&[u8], &[u8]) {
    match &track.codec {
        CodecConfig::Avc { sps, pps } => {
            assert_eq!((sps.len(), pps.len()), (1, 1));
            (&sps[0], &pps[0])
        }
        other => panic!("not AVC: {other:?}"),
    }
}

/// Splits an AVCC sample into NAL units, checking the length prefixes cover it exactly.
fn avcc_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "truncated length prefix");
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(len > 0 && rest.len() >= 4 + len, "bad NAL length {len}");
        nals.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    nals
}

fn ffmpeg_available(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} not found: these tests need it (apt-get install ffmpeg)"
    );
}

// ---------- structure ----------

#[test]
fn tracks_in_order_with_ids() {
    let tracks = small_tracks();
    let ids: Vec<_> = tracks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t72", "t144", "a128"]);
    assert_eq!(tracks[0].kind, MediaKind::Video);
    assert_eq!(tracks[2].kind, MediaKind::Audio);
    assert!(tracks.iter().all(|t| t.language == "und"));
}

#[test]
fn idr_exactly_every_interval_and_exact_durations() {
    let opts = small_opts();
    let gop = keyframe_interval_frames(&opts).unwrap() as usize;
    assert_eq!(gop, 30);
    for t in &small_tracks()[..2] {
        assert_eq!(t.timescale, 90_000);
        assert_eq!(t.samples.len() as u64, frame_count(&opts));
        for (i, s) in t.samples.as_slice().unwrap().iter().enumerate() {
            assert_eq!(s.duration, 3000, "{} frame {i}", t.id);
            assert_eq!(s.composition_offset, 0);
            assert_eq!(s.is_sync, i % gop == 0, "{} frame {i}", t.id);
            let types: Vec<u8> = avcc_nals(&s.data).iter().map(|n| n[0] & 0x1f).collect();
            assert!(
                !types.contains(&7) && !types.contains(&8),
                "SPS/PPS in sample"
            );
            let slice = if s.is_sync { 5 } else { 1 };
            assert!(
                types.iter().all(|&ty| ty == slice || ty == 6),
                "{} frame {i}: NAL types {types:?}",
                t.id
            );
        }
        let total: u64 = t
            .samples
            .as_slice()
            .unwrap()
            .iter()
            .map(|s| u64::from(s.duration))
            .sum();
        assert_eq!(total, u64::from(opts.duration_secs) * 90_000);
    }
}

#[test]
fn rate_control_roughly_on_target() {
    let opts = small_opts();
    for (t, rung) in small_tracks().iter().zip(&opts.rungs) {
        let bits: usize = t
            .samples
            .as_slice()
            .unwrap()
            .iter()
            .map(|s| s.data.len() * 8)
            .sum();
        let bps = bits as f64 / f64::from(opts.duration_secs);
        let target = f64::from(rung.bitrate_bps);
        assert!(
            bps > target * 0.3 && bps < target * 1.6,
            "{}: {bps:.0} bps for target {target}",
            t.id
        );
    }
}

#[test]
fn keyframe_interval_must_be_whole_frames() {
    let mut o = small_opts();
    o.keyframe_interval_secs = 1.01;
    assert!(generate(&o, &Silent).is_err());
    o.keyframe_interval_secs = 0.0;
    assert!(keyframe_interval_frames(&o).is_err());
}

#[test]
fn default_options() {
    let o = SynthOptions::default();
    assert_eq!((o.duration_secs, o.fps, o.audio), (60, 30, true));
    assert_eq!(o.keyframe_interval_secs, 2.0);
    let ids: Vec<_> = o.rungs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["v144", "v360", "v540", "v720"]);
    assert_eq!(rung_label(&o.rungs[3]), "v720 1280x720 3000 kbps");
    assert_eq!(video_timescale(30), 90_000);
    assert_eq!(video_timescale(7), 7000);
}

// ---------- determinism ----------

#[test]
fn deterministic() {
    let again = generate(&small_opts(), &Silent).unwrap();
    let first = small_tracks();
    assert_eq!(first.len(), again.len());
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.codec, b.codec, "{}", a.id);
        assert_eq!(a.timescale, b.timescale);
        assert!(
            a.samples.as_slice() == b.samples.as_slice(),
            "{}: samples differ",
            a.id
        );
    }
}

// ---------- SPS ----------

#[test]
fn sps_is_constrained_baseline_with_rung_size() {
    for (t, rung) in small_tracks().iter().zip(&small_opts().rungs) {
        let (sps, pps) = avc(t);
        assert_eq!(pps[0] & 0x1f, 8);
        let info = crate::codec::parse_sps(sps).expect("SPS parses");
        assert_eq!(info.profile_idc, 66, "Baseline");
        assert_ne!(
            info.constraint_flags & 0x40,
            0,
            "constraint_set1_flag (Constrained Baseline)"
        );
        assert!(
            (10..=52).contains(&info.level_idc),
            "level {}",
            info.level_idc
        );
        assert_eq!(
            (info.width, info.height),
            (rung.width, rung.height),
            "{}",
            t.id
        );
        let codecs = crate::codec::avc_codec_string(sps).unwrap();
        assert!(codecs.starts_with("avc1.42"), "{codecs}");
    }
}

// ---------- decoding with ffmpeg ----------

/// Annex-B elementary stream of a video track, SPS/PPS before every IDR.
fn annex_b(track: &Track) -> Vec<u8> {
    let (sps, pps) = avc(track);
    let mut out = Vec::new();
    for s in track.samples.as_slice().unwrap() {
        if s.is_sync {
            for ps in [sps, pps] {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(ps);
            }
        }
        for nal in avcc_nals(&s.data) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    out
}

/// ADTS stream of an AAC track, header fields taken from its AudioSpecificConfig.
fn adts(track: &Track) -> Vec<u8> {
    let CodecConfig::Aac {
        audio_specific_config: asc,
        ..
    } = &track.codec
    else {
        panic!("not AAC")
    };
    let aot = asc[0] >> 3;
    let sfi = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    let chans = (asc[1] >> 3) & 0xf;
    assert_eq!((aot, sfi, chans), (2, 3, 2), "AAC-LC 48 kHz stereo");
    let mut out = Vec::new();
    for s in track.samples.as_slice().unwrap() {
        let len = s.data.len() + 7;
        out.extend_from_slice(&[
            0xff,
            0xf1,
            ((aot - 1) << 6) | (sfi << 2) | (chans >> 2),
            ((chans & 3) << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            ((len & 7) << 5) as u8 | 0x1f,
            0xfc,
        ]);
        out.extend_from_slice(&s.data);
    }
    out
}

fn run(cmd: &mut Command) -> (Vec<u8>, String) {
    let out = cmd.output().expect("run ffmpeg/ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (out.stdout, stderr)
}

#[test]
fn video_decodes_with_ffmpeg() {
    ffmpeg_available("ffmpeg");
    ffmpeg_available("ffprobe");
    let dir = tempfile::tempdir().unwrap();
    for (t, rung) in small_tracks().iter().zip(&small_opts().rungs) {
        let path = dir.path().join(format!("{}.h264", t.id));
        std::fs::write(&path, annex_b(t)).unwrap();
        let (_, err) = run(Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"]));
        assert!(err.trim().is_empty(), "{}: ffmpeg errors: {err}", t.id);
        let (out, _) = run(Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args([
                "-show_entries",
                "stream=width,height,nb_read_frames,profile",
            ])
            .args(["-of", "csv=p=0"])
            .arg(&path));
        let out = String::from_utf8_lossy(&out);
        assert_eq!(
            out.trim(),
            format!(
                "Constrained Baseline,{},{},{}",
                rung.width,
                rung.height,
                t.samples.len()
            )
        );
    }
}

#[test]
fn audio_decodes_with_ffmpeg_and_beep_is_at_whole_seconds() {
    ffmpeg_available("ffmpeg");
    let track = &small_tracks()[2];
    assert_eq!(track.timescale, 48_000);
    // 4 s = 187.5 frames -> 188.
    assert_eq!(track.samples.len(), 188);
    assert!(track
        .samples
        .infos()
        .all(|s| s.duration == 1024 && s.is_sync));
    let bits: usize = track
        .samples
        .as_slice()
        .unwrap()
        .iter()
        .map(|s| s.data.len() * 8)
        .sum();
    let bps = bits as f64 * 48_000.0 / (188.0 * 1024.0);
    assert!((100_000.0..150_000.0).contains(&bps), "{bps} bps");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.aac");
    std::fs::write(&path, adts(track)).unwrap();
    let (pcm, err) = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "s16le", "-acodec", "pcm_s16le", "-"]));
    assert!(err.trim().is_empty(), "ffmpeg errors: {err}");
    let left: Vec<i16> = pcm
        .chunks_exact(4)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(left.len(), 188 * 1024);
    // The beep (0.5) stands out from the tone (0.1): its onset must be at each whole second.
    let threshold = (0.3 * 32767.0) as i16;
    for sec in 1..4usize {
        let from = sec * 48_000 - 24_000;
        let onset = from
            + left[from..]
                .iter()
                .position(|x| x.abs() > threshold)
                .expect("beep");
        let off = onset as i64 - (sec * 48_000) as i64;
        assert!(
            (0..=72).contains(&off),
            "beep {sec} at {onset} ({off:+} samples)"
        );
    }
}

// ---------- visual check (run by hand) ----------

/// Writes raw and decoded frames of the default ladder's v720 and v144 as PNGs to
/// `$SYNTH_PNG_DIR` (default /tmp/synth_png): `cargo test -p media --lib synth -- --ignored`.
#[test]
#[ignore = "writes PNGs for a person to look at"]
fn dump_frames_as_png() {
    ffmpeg_available("ffmpeg");
    let dir = std::env::var("SYNTH_PNG_DIR").unwrap_or_else(|_| "/tmp/synth_png".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let defaults = SynthOptions::default();
    let rungs: Vec<Rung> = defaults
        .rungs
        .iter()
        .filter(|r| r.id == "v720" || r.id == "v144")
        .cloned()
        .collect();
    let opts = SynthOptions {
        duration_secs: 2,
        audio: false,
        rungs,
        ..defaults
    };
    for t in generate(&opts, &Silent).unwrap() {
        let rung = opts.rungs.iter().find(|r| r.id == t.id).unwrap();
        let (w, h) = (rung.width as usize, rung.height as usize);
        let p = pattern::Pattern::new(w, h, opts.fps, rung_label(rung));
        for index in [1u64, 40] {
            let mut f = pattern::Frame::new(w, h);
            p.render(index, &mut f);
            let raw = dir.join(format!("{}_{index}.yuv", t.id));
            std::fs::write(&raw, [f.y, f.u, f.v].concat()).unwrap();
            run(Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"])
                .args(["-s", &format!("{w}x{h}"), "-i"])
                .arg(&raw)
                .arg(dir.join(format!("{}_{index}_raw.png", t.id))));
        }
        let es = dir.join(format!("{}.h264", t.id));
        std::fs::write(&es, annex_b(&t)).unwrap();
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&es)
            .args(["-vf", "select=eq(n\\,40)", "-frames:v", "1"])
            .arg(dir.join(format!("{}_40_decoded.png", t.id))));
    }
}

/// The full default content, timed, with the achieved bitrates:
/// `cargo test -p media --lib synth::tests::full_default -- --ignored --nocapture`.
#[test]
#[ignore = "encodes the full 60 s default ladder (slow)"]
fn full_default_timed() {
    let opts = SynthOptions::default();
    let start = std::time::Instant::now();
    let tracks = generate(&opts, &Silent).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("generate(default): {secs:.1} s");
    for t in &tracks {
        let bytes: usize = t
            .samples
            .as_slice()
            .unwrap()
            .iter()
            .map(|s| s.data.len())
            .sum();
        let dur: u64 = t
            .samples
            .as_slice()
            .unwrap()
            .iter()
            .map(|s| u64::from(s.duration))
            .sum();
        let kbps = bytes as f64 * 8.0 / (dur as f64 / f64::from(t.timescale)) / 1000.0;
        let codec = match &t.codec {
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => format!("asc {audio_specific_config:02x?}"),
            other => other.codecs_string().unwrap(),
        };
        println!(
            "{}: {} samples, {kbps:.0} kbps, {codec}",
            t.id,
            t.samples.len()
        );
    }
    assert_eq!(tracks.len(), 5);
    // Compare this digest between runs for a full-length determinism check.
    let mut h = std::hash::DefaultHasher::new();
    for t in &tracks {
        std::hash::Hash::hash(&t.id, &mut h);
        std::hash::Hash::hash(&format!("{:?}", t.codec), &mut h);
        for s in t.samples.as_slice().unwrap() {
            std::hash::Hash::hash(&(&s.data, s.duration, s.is_sync), &mut h);
        }
    }
    println!("digest: {:016x}", std::hash::Hasher::finish(&h));
}
