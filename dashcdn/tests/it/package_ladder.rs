//! `dashcdn package INPUT --ladder-file FILE`: a TOML ladder transcoded with ffmpeg, the rung
//! above the source left out with a note, the per-rung encoder settings applied, progress
//! shown as lines per rung when stderr is not a terminal; a bad ladder file fails with its
//! line and field named. The input is a 2 s 640x360 MP4 made with ffmpeg.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::BIN;

fn package(input: &Path, ladder: &Path, root: &Path) -> Output {
    Command::new(BIN)
        .arg("package")
        .arg(input)
        .arg("--ladder-file")
        .arg(ladder)
        .arg("--out")
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn ladder_file_rungs_progress_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("src.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-c:a", "aac"])
        .arg(&input)
        .status()
        .expect("ffmpeg is required by this test: apt-get install ffmpeg");
    assert!(status.success());
    let ladder = dir.path().join("ladder.toml");
    std::fs::write(
        &ladder,
        r#"# two rungs the source can feed, one it cannot
[[rung]]
id = "v180"
width = 320
height = 180
bitrate = "300k"
profile = "baseline"

[[rung]]
id = "v360"
height = 360          # width from the source's aspect ratio
bitrate = 800000
fps = 15

[[rung]]
id = "v720"
height = 720
bitrate = "3M"
"#,
    )
    .unwrap();
    let root = dir.path().join("content");
    let started = std::time::Instant::now();
    let out = package(&input, &ladder, &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("ladder file run in {:?}", started.elapsed());
    assert!(out.status.success(), "{stderr}");
    for line in [
        "left out rung v720 1280x720: larger than the source (640x360)",
        "rung v180 320x180 300 kbps baseline (source 640x360)",
        "rung v360 640x360 800 kbps 15 fps (source 640x360)",
        "transcoding 2 rungs (v180 v360) + audio",
        "transcoded v180 320x180 300 kbps",
        "transcoded v360 640x360 800 kbps",
        "wrote v180:",
        "wrote v360:",
    ] {
        assert!(stderr.contains(line), "no `{line}` in:\n{stderr}");
    }
    // Lines are stamped with the time since the start (no bar: stderr is a pipe).
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[") && l.contains(" s] transcoding")),
        "{stderr}"
    );
    let row = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no {id} in {stdout}"))
            .to_string()
    };
    // Baseline profile: avc1.42...; 15 fps on v360 only.
    assert!(row("v180").contains("avc1.42"), "{}", row("v180"));
    assert!(row("v180").contains(" 30 "), "{}", row("v180"));
    assert!(
        row("v360").contains("640x360") && row("v360").contains(" 15 "),
        "{}",
        row("v360")
    );
    assert!(!stdout.contains("v720"));
    assert!(root.join("src/master.m3u8").is_file());

    // A typo'd field: the parser names it and its line; nothing is written.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rung]]\nid = \"v180\"\nheight = 180\nbitrat = \"300k\"\n",
    )
    .unwrap();
    let out = package(&input, &bad, &dir.path().join("bad-root"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(
        stderr.contains("line 4") && stderr.contains("bitrat"),
        "{stderr}"
    );
    assert!(!dir.path().join("bad-root/src").exists());
}
