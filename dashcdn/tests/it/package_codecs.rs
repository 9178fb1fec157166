//! `dashcdn package INPUT` with the codecs beyond H.264: an HEVC file is packaged (exit 0, its
//! codecs string printed), a VP9 or an MP3-audio file is refused with a message naming the
//! track and the codec, a non-zero exit and no asset directory; the VP9 then goes through
//! `--ladder` as the message suggests. Inputs are made with ffmpeg.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::BIN;

fn ffmpeg(dir: &Path, name: &str, codec_args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "2", "-pix_fmt", "yuv420p", "-g", "50"])
        .args(codec_args)
        .arg(&out)
        .status()
        .expect("ffmpeg is required by this test: apt-get install ffmpeg");
    assert!(status.success(), "ffmpeg {codec_args:?} failed");
    out
}

fn package(input: &Path, root: &Path) -> Output {
    Command::new(BIN)
        .arg("package")
        .arg(input)
        .arg("--out")
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn hevc_is_packaged_and_unsupported_codecs_fail_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");

    let hevc = ffmpeg(
        dir.path(),
        "hevc.mp4",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:open-gop=0",
            "-tag:v",
            "hvc1",
            "-c:a",
            "aac",
        ],
    );
    let out = package(&hevc, &root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("hvc1.1.6.L60.90"), "{stdout}");
    assert!(stdout.contains("mp4a.40.2"), "{stdout}");
    assert!(root.join("hevc/manifest.mpd").is_file());

    for (name, args, says) in [
        (
            "vp9.mp4",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "aac"][..],
            "track 1: video codec 'vp09' (VP9) is not supported",
        ),
        (
            "mp3.mp4",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "libmp3lame",
            ][..],
            "track 2: audio codec 'mp4a' (MP3",
        ),
    ] {
        let input = ffmpeg(dir.path(), name, args);
        let out = package(&input, &root);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was packaged: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        let stem = name.trim_end_matches(".mp4");
        assert!(!root.join(stem).exists(), "{name} left {stem}/ behind");
    }
    // What the refusal suggests for video works: --ladder transcodes the VP9 into H.264.
    let ladder_root = dir.path().join("laddered");
    let out = Command::new(BIN)
        .arg("package")
        .arg(dir.path().join("vp9.mp4"))
        .arg("--out")
        .arg(&ladder_root)
        .arg("--ladder")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("avc1."), "{stdout}");
    assert!(ladder_root.join("vp9/manifest.mpd").is_file());

    let mut left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["hevc"], "only the HEVC asset is in the content root");
}
