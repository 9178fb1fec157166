//! The fuzz targets' seed corpus (`media/fuzz/seeds/<target>/`) and every crash input the
//! fuzzers found, fed through the same public functions on stable: each must return `Ok` or a
//! clean `Err`, never panic (a hang would time the test out). See `media/fuzz/README.md`.
//!
//! The real files among the seeds are made by `regenerate_fuzz_seeds` (ignored; run it with
//! `cargo test -p media --test it -- --ignored regenerate_fuzz_seeds`); the `crash-*` files are
//! inputs the fuzzers found, kept as they were.

use std::path::{Path, PathBuf};

use manifests::layout::{self, MediaKind};
use media::codec;
use media::package::{package_default, PackageOptions};
use media::progress::Silent;
use media::synth::{Rung, SynthOptions};
use media::track::CodecConfig;
use media::MediaError;

use crate::common;

fn seed_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

/// The files of one target's seed directory, sorted.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(seed_dir(target))
        .unwrap_or_else(|e| panic!("seed directory of {target}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds for {target}");
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// What the `sps` fuzz target does with its input.
fn sps_target(data: &[u8]) -> bool {
    let direct = codec::parse_sps(data).is_ok();
    let _ = codec::avc_codec_string(data);
    let mut in_record = false;
    if let Ok(cfg) = codec::parse_avc_decoder_config(data) {
        for sps in &cfg.sps {
            in_record |= codec::parse_sps(sps).is_ok();
        }
    }
    direct || in_record
}

/// What the `asc` fuzz target does with its input.
fn asc_target(data: &[u8]) -> bool {
    match codec::parse_audio_specific_config(data) {
        Ok(asc) => {
            let _ = (asc.codec_string(), asc.channels(), asc.to_bytes());
            true
        }
        Err(_) => false,
    }
}

#[test]
fn demux_seeds_return_ok_or_a_clean_error() {
    for (name, data) in seeds("demux") {
        let result = media::demux::demux_bytes(&data, &name);
        // The progressive MP4s demux; init segments and cut files are refused with a reason.
        if name.starts_with("progressive") {
            let tracks = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(tracks.len(), 2, "{name}");
        } else if let Err(e) = result {
            assert!(!e.to_string().is_empty(), "{name}");
        }
    }
}

/// Hostile edits of the real progressive seed, one per fixed finding: each is a clean error.
#[test]
fn hostile_edits_of_a_real_mp4_are_clean_errors() {
    let real = std::fs::read(seed_dir("demux").join("progressive-ffmpeg.mp4")).unwrap();
    let at = |data: &[u8], fourcc: &[u8]| data.windows(4).position(|w| w == fourcc).unwrap();

    // A constant sample size with two billion samples: refused before allocating tables.
    let mut mp4 = real.clone();
    let stsz = at(&mp4, b"stsz");
    mp4[stsz + 8..stsz + 12].copy_from_slice(&1u32.to_be_bytes());
    mp4[stsz + 12..stsz + 16].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let e = media::demux::demux_bytes(&mp4, "stsz").unwrap_err();
    assert!(matches!(e, MediaError::Truncated(_)), "{e}");

    // A trailing box claiming 2^64 - 16 bytes (the end offset overflowed).
    let mut mp4 = real.clone();
    mp4.extend_from_slice(&[0, 0, 0, 1, b'f', b'r', b'e', b'e']);
    mp4.extend_from_slice(&(u64::MAX - 15).to_be_bytes());
    let e = media::demux::demux_bytes(&mp4, "free").unwrap_err();
    assert!(matches!(e, MediaError::Truncated(_)), "{e}");

    // An stsc whose second run starts at chunk 0 (first_chunk - 1 underflowed).
    let mut mp4 = real.clone();
    let stsc = at(&mp4, b"stsc");
    let runs = u32::from_be_bytes(mp4[stsc + 8..stsc + 12].try_into().unwrap());
    if runs >= 2 {
        mp4[stsc + 24..stsc + 28].copy_from_slice(&0u32.to_be_bytes());
        let e = media::demux::demux_bytes(&mp4, "stsc").unwrap_err();
        assert!(matches!(e, MediaError::InvalidBox(_)), "{e}");
    }

    // A chunk offset near 2^32 with 64-bit arithmetic is only past the end of the file.
    let mut mp4 = real;
    let stco = at(&mp4, b"stco");
    mp4[stco + 12..stco + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = media::demux::demux_bytes(&mp4, "stco").unwrap_err();
    assert!(matches!(e, MediaError::Truncated(_)), "{e}");
}

#[test]
fn sps_seeds_return_ok_or_a_clean_error() {
    for (name, data) in seeds("sps") {
        let parsed = sps_target(&data);
        if !name.starts_with("crash-") {
            assert!(parsed, "{name}: a real SPS or avcC must parse");
        }
    }
}

#[test]
fn asc_seeds_return_ok_or_a_clean_error() {
    for (name, data) in seeds("asc") {
        let parsed = asc_target(&data);
        if !name.starts_with("crash-") {
            assert!(parsed, "{name}: a real AudioSpecificConfig must parse");
        }
    }
}

/// Replays a whole fuzzing corpus (`MEDIA_FUZZ_CORPUS=media/fuzz/corpus`, holding `demux/`,
/// `sps/`, `asc/`) on stable, where debug builds check integer overflow (the fuzz builds
/// do not, unless run with `-a`).
#[test]
#[ignore = "needs a corpus from a fuzzing run: MEDIA_FUZZ_CORPUS=DIR"]
fn replay_fuzz_corpus() {
    let root = PathBuf::from(std::env::var_os("MEDIA_FUZZ_CORPUS").expect("MEDIA_FUZZ_CORPUS"));
    let mut total = 0;
    for target in ["demux", "sps", "asc"] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in dir {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let name = path.display().to_string();
            eprintln!("{name}");
            match target {
                "demux" => drop(media::demux::demux_bytes(&data, &name)),
                "sps" => drop(sps_target(&data)),
                _ => drop(asc_target(&data)),
            }
            total += 1;
        }
    }
    assert!(total > 0, "no corpus files under {}", root.display());
}

/// Writes the real-file seeds: a tiny progressive MP4 from ffmpeg (and a cut of it), the
/// packaged default's init segments and a first media segment (the default's code path at a
/// small size: one 64x36 rung, 1 s), its SPS, `avcC` payload and AudioSpecificConfig, and
/// ffmpeg's.
#[test]
#[ignore = "rewrites the checked-in seed corpus; run by hand"]
fn regenerate_fuzz_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |target: &str, name: &str, data: &[u8]| {
        std::fs::create_dir_all(seed_dir(target)).unwrap();
        std::fs::write(seed_dir(target).join(name), data).unwrap();
    };

    // ffmpeg: H.264 high (B-frames, ctts) + AAC, progressive.
    let mp4 = common::make_input(tmp.path(), "in.mp4", 1, "32x32", 10);
    let bytes = std::fs::read(&mp4).unwrap();
    write("demux", "progressive-ffmpeg.mp4", &bytes);
    write("demux", "cut-ffmpeg.mp4", &bytes[..bytes.len() * 6 / 10]);
    for t in media::demux::demux_file(&mp4).unwrap() {
        match &t.codec {
            CodecConfig::Avc { sps, pps } => {
                write("sps", "ffmpeg-high.sps", &sps[0]);
                let record = codec::build_avc_decoder_config(sps, pps).unwrap();
                write("sps", "ffmpeg-high.avcc", &record);
            }
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => write("asc", "ffmpeg-lc.asc", audio_specific_config),
            CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. } => {}
        }
    }

    // HEVC (hvc1, libx265) and AV1 (libsvtav1) + AAC, progressive: the hvcC / av1C paths.
    for (name, vcodec) in [
        (
            "progressive-hevc.mp4",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error",
                "-tag:v",
                "hvc1",
            ][..],
        ),
        (
            "progressive-av1.mp4",
            &["-c:v", "libsvtav1", "-preset", "12"][..],
        ),
    ] {
        let out = tmp.path().join(name);
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "32k",
        ];
        args.extend(vcodec);
        args.push(out.to_str().unwrap());
        common::ffmpeg(&args);
        write("demux", name, &std::fs::read(&out).unwrap());
    }

    // The packager's own output, default code path.
    let synth = SynthOptions {
        duration_secs: 1,
        fps: 10,
        rungs: vec![Rung::new("v36", 64, 36, 30_000)],
        ..SynthOptions::default()
    };
    let mut opts = PackageOptions::new(tmp.path(), "seed");
    opts.segment_duration_secs = 1.0;
    let report = package_default(&opts, &synth, &Silent).unwrap();
    for r in &report.representations {
        let (init, segs) = common::rep_files(&report.asset_dir, r);
        let init = std::fs::read(init).unwrap();
        write(
            "demux",
            &format!("init-{}.mp4", r.kind.content_type()),
            &init,
        );
        // Init + first segment: a fragmented file, refused with the remux hint (video only:
        // the audio segment is 16 kB, too big a seed for what it adds).
        if r.kind == MediaKind::Video {
            let seg = std::fs::read(&segs[0]).unwrap();
            write("demux", "segment-video.m4s", &seg);
            write(
                "demux",
                "fragmented-video.mp4",
                &[init.clone(), seg].concat(),
            );
        }
        let stsd = media::fmp4::find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"])
            .unwrap();
        let entry = media::fmp4::BoxIter::new(&stsd.payload[8..])
            .next()
            .unwrap()
            .unwrap();
        if &entry.fourcc == b"avc1" {
            let avcc = media::fmp4::find_box(&entry.payload[78..], &["avcC"]).unwrap();
            write("sps", "default.avcc", avcc.payload);
            let cfg = codec::parse_avc_decoder_config(avcc.payload).unwrap();
            write("sps", "default.sps", &cfg.sps[0]);
        }
    }
    write(
        "asc",
        "default-lc.asc",
        &codec::build_audio_specific_config(2, 48000, 2),
    );
    write("asc", "he-aac-explicit.asc", &[0x2b, 0x11, 0x88, 0x00]);
    assert!(report.asset_dir.join(layout::MANIFEST_FILE).is_file());
}
