//! HLS playlists beside the MPD: checked against RFC 8216 and the rules of Apple's HLS
//! authoring spec that can be checked from the text (target duration vs every EXTINF,
//! version, VOD tags, init map, the multivariant attributes), against the package report
//! (the MPD's measured values), against the files on disk, and by ffmpeg's HLS demuxer
//! decoding the whole multivariant playlist.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use manifests::layout::{self, MediaKind};
use media::package::{package_default, package_file, PackageOptions, PackageReport};
use media::progress::Silent;
use media::synth::{Rung, SynthOptions};

/// Splits an attribute list (`A=1,B="x,y"`) into name → value (quotes removed).
fn attributes(list: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').expect("NAME=value");
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').expect("closing quote");
            (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(""))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        assert!(
            out.insert(name.to_string(), value.to_string()).is_none(),
            "duplicate attribute {name} in {list}"
        );
        rest = next;
    }
    out
}

/// Checks one media playlist; returns the EXTINF durations.
fn check_media_playlist(asset: &Path, r: &media::package::RepresentationReport) -> Vec<f64> {
    let path = asset.join(layout::media_playlist_path(&r.id));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{}", path.display());
    assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
    let tag = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .collect()
    };
    assert_eq!(tag("#EXT-X-VERSION"), ["6"]);
    assert_eq!(tag("#EXT-X-PLAYLIST-TYPE"), ["VOD"]);
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "#EXT-X-INDEPENDENT-SEGMENTS")
            .count(),
        1
    );
    let target: u64 = tag("#EXT-X-TARGETDURATION")[0].parse().unwrap();
    let map = tag("#EXT-X-MAP");
    assert_eq!(map.len(), 1);
    let init = attributes(map[0])["URI"].clone();
    assert_eq!(init, r.kind.init_file());
    assert!(asset.join(&r.id).join(&init).is_file());
    // EXTINF then URI, in order, for every segment the report counts.
    let mut durations = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(v) = l.strip_prefix("#EXTINF:") {
            let d: f64 = v.trim_end_matches(',').parse().unwrap();
            let uri = lines[i + 1];
            assert_eq!(
                uri,
                format!("{}.m4s", layout::START_NUMBER + durations.len() as u64)
            );
            assert!(asset.join(&r.id).join(uri).is_file(), "{uri} missing");
            // RFC 8216 §4.3.3.1: EXTINF rounded ≤ target duration.
            assert!(d.round() as u64 <= target, "EXTINF {d} > target {target}");
            assert!(d > 0.0);
            durations.push(d);
        }
    }
    assert_eq!(durations.len() as u64, r.segments, "{}", r.id);
    // The target is not padded either: the longest segment rounds to it.
    let longest = durations.iter().cloned().fold(0.0, f64::max);
    assert_eq!(longest.round() as u64, target);
    durations
}

/// Checks the playlists of a packaged asset against its report; returns the total
/// duration of the first video (or only) media playlist.
fn check_playlists(report: &PackageReport) -> f64 {
    let asset = &report.asset_dir;
    let master = std::fs::read_to_string(asset.join(layout::HLS_MULTIVARIANT_FILE)).unwrap();
    let lines: Vec<&str> = master.lines().collect();
    assert_eq!(
        &lines[..3],
        ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    );
    let video: Vec<_> = report
        .representations
        .iter()
        .filter(|r| r.kind == MediaKind::Video)
        .collect();
    let audio: Vec<_> = report
        .representations
        .iter()
        .filter(|r| r.kind == MediaKind::Audio)
        .collect();
    let media: Vec<_> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .collect();
    assert_eq!(media.len(), audio.len());
    for (m, a) in media.iter().zip(&audio) {
        assert_eq!(m["TYPE"], "AUDIO");
        assert_eq!(m["GROUP-ID"], "audio");
        assert_eq!(m["URI"], layout::media_playlist_path(&a.id));
        assert_eq!(m["CHANNELS"], a.channels.unwrap().to_string());
    }
    let variants: Vec<(HashMap<String, String>, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            Some((
                attributes(l.strip_prefix("#EXT-X-STREAM-INF:")?),
                lines[i + 1],
            ))
        })
        .collect();
    assert_eq!(variants.len(), video.len());
    let audio_peak = audio.iter().map(|a| a.bandwidth).max().unwrap_or(0);
    for ((attrs, uri), v) in variants.iter().zip(&video) {
        assert_eq!(*uri, layout::media_playlist_path(&v.id));
        // The MPD's @bandwidth values: video peak + the audio group's peak.
        assert_eq!(attrs["BANDWIDTH"], (v.bandwidth + audio_peak).to_string());
        let avg: u64 = attrs["AVERAGE-BANDWIDTH"].parse().unwrap();
        assert!(avg > 0 && avg <= v.bandwidth + audio_peak);
        let mut codecs = vec![v.codecs.clone()];
        codecs.extend(audio.iter().map(|a| a.codecs.clone()));
        assert_eq!(attrs["CODECS"], codecs.join(","));
        assert_eq!(
            attrs["RESOLUTION"],
            format!("{}x{}", v.width.unwrap(), v.height.unwrap())
        );
        let fr = v.frame_rate.as_deref().unwrap();
        let (n, d) = fr.split_once('/').unwrap_or((fr, "1"));
        let fps = n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap();
        assert_eq!(attrs["FRAME-RATE"], format!("{fps:.3}"));
        if !audio.is_empty() {
            assert_eq!(attrs["AUDIO"], "audio");
        }
    }
    let mut totals = Vec::new();
    for r in &report.representations {
        let d: f64 = check_media_playlist(asset, r).iter().sum();
        totals.push(d);
        assert!(
            (d - report.duration_secs).abs() < 0.05,
            "{}: playlist {d} s vs presentation {} s",
            r.id,
            report.duration_secs
        );
    }
    totals[0]
}

/// ffmpeg's HLS demuxer reads the multivariant playlist and decodes every stream cleanly;
/// returns the duration ffprobe sees.
fn decode_hls(master: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(master)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let v = common::ffprobe_json(master, &["-show_entries", "format=duration"]);
    v["format"]["duration"].as_str().unwrap().parse().unwrap()
}

#[test]
fn imported_file_gets_playlists_over_the_same_segments() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::make_input(dir.path(), "clip.mp4", 5, "320x240", 25);
    let root = dir.path().join("content");
    let report = package_file(&input, &PackageOptions::new(&root, ""), &Silent).unwrap();
    let total = check_playlists(&report);
    assert!((total - 5.0).abs() < 0.05, "{total}");
    let seen = decode_hls(&report.asset_dir.join(layout::HLS_MULTIVARIANT_FILE));
    assert!((seen - 5.0).abs() < 0.2, "ffprobe duration {seen}");
    // No media written twice: only playlists beside the DASH files.
    let mut extra = Vec::new();
    for e in walk(&report.asset_dir) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".m4s")
            || name.starts_with("init.")
            || name.ends_with(".m3u8")
            || name == layout::MANIFEST_FILE
            || name == layout::PACKAGE_RECORD_FILE)
        {
            extra.push(name);
        }
    }
    assert!(extra.is_empty(), "{extra:?}");
}

/// `(first presentation time, end of the last sample)` in seconds of a file's first stream,
/// as ffprobe reads it: applying the init segment's edit list, as MSE in browsers does.
fn presented(path: &Path) -> (f64, f64) {
    let v = common::ffprobe_json(path, &["-show_entries", "packet=pts_time,duration_time"]);
    let mut span = (f64::MAX, f64::MIN);
    for p in v["packets"].as_array().unwrap() {
        // ffmpeg gives the AAC priming frame no duration.
        let f = |k: &str| p[k].as_str().map_or(0.0, |s| s.parse::<f64>().unwrap());
        let pts = p["pts_time"].as_str().unwrap().parse::<f64>().unwrap();
        span = (span.0.min(pts), span.1.max(pts + f("duration_time")));
    }
    span
}

/// hls.js takes the first video segment's `tfdt` (a decode time) as presentation time 0 and
/// ignores edit lists. With B-frames the first frame presents later than it decodes; if
/// the media starts after that origin, the buffer has a hole at 0 that hls.js jumps with a
/// `bufferSeekOverHole` error (seen, now and then, in web/tests/hls_playback.test.mjs: 80 ms
/// at 25 fps). Every video segment must present from where the previous one ended, the
/// first from the origin, and the audio must cover the origin.
#[test]
fn imported_b_frames_present_from_the_first_tfdt() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::make_input(dir.path(), "clip.mp4", 6, "320x240", 25);
    let root = dir.path().join("content");
    let report = package_file(&input, &PackageOptions::new(&root, ""), &Silent).unwrap();
    let asset = &report.asset_dir;
    let rep = |kind| {
        report
            .representations
            .iter()
            .find(|r| r.kind == kind)
            .unwrap()
    };
    let (v, a) = (rep(MediaKind::Video), rep(MediaKind::Audio));
    let (ts, tfdts, _) = common::segment_times(asset, v);
    let origin = tfdts[0] as f64 / f64::from(ts);
    let (init, segs) = common::rep_files(asset, v);
    assert_eq!(segs.len(), 3);
    let mut from = origin;
    for (k, s) in segs.iter().enumerate() {
        let one = dir.path().join(format!("v{k}.mp4"));
        let (first, end) = presented(&common::concat(&one, &init, std::slice::from_ref(s)));
        assert!(
            (first - from).abs() < 1e-6,
            "video segment {}: presents from {first} s, expected {from} s (hls.js origin: \
             first tfdt, {origin} s)",
            k + 1
        );
        from = end;
    }
    let (init, segs) = common::rep_files(asset, a);
    let one = dir.path().join("a0.mp4");
    let (first, _) = presented(&common::concat(&one, &init, &segs[..1]));
    // The AAC priming frame starts just before the origin, the first real frame at it.
    assert!(
        first <= origin + 1e-6 && origin - first <= 1024.0 / 48000.0 + 1e-6,
        "audio presents from {first} s, hls.js origin {origin} s"
    );

    // A package from before this rule (no such option in its record) is redone.
    let record_path = asset.join(layout::PACKAGE_RECORD_FILE);
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let options = record["options"].as_object_mut().unwrap();
    assert_eq!(options.remove("tfdt_at_first_frame"), Some(true.into()));
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
    let opts = PackageOptions::new(&root, "");
    assert!(!package_file(&input, &opts, &Silent).unwrap().skipped);
    assert!(package_file(&input, &opts, &Silent).unwrap().skipped);
}

#[test]
fn default_content_gets_playlists_and_old_packages_are_redone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let synth = SynthOptions {
        duration_secs: 4,
        rungs: vec![
            Rung::new("v90", 160, 90, 150_000),
            Rung::new("v180", 320, 180, 400_000),
        ],
        ..SynthOptions::default()
    };
    let opts = PackageOptions::new(&root, "");
    let report = package_default(&opts, &synth, &Silent).unwrap();
    let total = check_playlists(&report);
    assert!((total - 4.0).abs() < 0.05, "{total}");
    decode_hls(&report.asset_dir.join(layout::HLS_MULTIVARIANT_FILE));
    // A package without playlists (as written before HLS) is not taken as complete.
    std::fs::remove_file(report.asset_dir.join(layout::HLS_MULTIVARIANT_FILE)).unwrap();
    let again = package_default(&opts, &synth, &Silent).unwrap();
    assert!(!again.skipped);
    assert!(report
        .asset_dir
        .join(layout::HLS_MULTIVARIANT_FILE)
        .is_file());
    assert!(package_default(&opts, &synth, &Silent).unwrap().skipped);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
