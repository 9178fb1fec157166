//! `package_ladder`: ffmpeg transcodes a file into rungs, packaged as one asset.

use crate::common;

use manifests::layout::MediaKind;
use media::ladder::{default_rungs, package_ladder};
use media::package::PackageOptions;
use media::progress::Silent;
use media::synth::Rung;

#[test]
fn transcodes_two_rungs_into_one_aligned_asset() {
    let dir = tempfile::tempdir().unwrap();
    // Source GOP deliberately not 2 s: the transcode must force IDRs at every boundary.
    let input = dir.path().join("src.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=44100",
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "250",
        "-c:a",
        "aac",
        input.to_str().unwrap(),
    ]);
    let rungs = [
        Rung::new("v90", 160, 90, 150_000),
        Rung::new("v180", 320, 180, 400_000),
    ];
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "ladder");
    let started = std::time::Instant::now();
    let report = package_ladder(&input, &rungs, &opts, &Silent).unwrap();
    eprintln!(
        "transcoded + packaged 5 s into 2 rungs in {:?}",
        started.elapsed()
    );
    assert!(!report.skipped);
    let ids: Vec<_> = report
        .representations
        .iter()
        .map(|r| (r.id.as_str(), r.kind))
        .collect();
    assert_eq!(
        ids,
        [
            ("v90", MediaKind::Video),
            ("v180", MediaKind::Video),
            ("a128", MediaKind::Audio)
        ]
    );
    for (r, rung) in report.representations.iter().zip(&rungs) {
        assert_eq!((r.width, r.height), (Some(rung.width), Some(rung.height)));
        assert_eq!(r.segments, 3);
        assert_eq!(r.frame_rate.as_deref(), Some("30"));
        assert!(
            r.codecs.starts_with("avc1.4D"),
            "main profile: {}",
            r.codecs
        );
    }
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let mpd = common::check_asset(&report, 2.0, &scratch);
    common::assert_video_aligned(&report);
    let video_sets: Vec<_> = mpd.periods[0]
        .adaptation_sets
        .iter()
        .filter(|a| a.content_type.as_deref() == Some("video"))
        .collect();
    assert_eq!(video_sets.len(), 1);
    assert_eq!(video_sets[0].representations.len(), 2);
    assert_eq!(video_sets[0].max_width, Some(320));
    assert!(
        common::leftovers(&root).is_empty(),
        "{:?}",
        common::leftovers(&root)
    );

    // Unchanged: no transcode, no write.
    let t = std::time::Instant::now();
    let again = package_ladder(&input, &rungs, &opts, &Silent).unwrap();
    assert!(again.skipped);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn ladder_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "");
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"not media at all").unwrap();
    common::require_ffmpeg();
    let err = format!(
        "{:#}",
        anyhow::Error::from(package_ladder(&junk, &default_rungs(), &opts, &Silent).unwrap_err())
    );
    assert!(err.contains("not a media file"), "{err}");
    assert!(!root.join("junk").exists());
    let odd = [Rung::new("v", 161, 90, 100_000)];
    assert!(package_ladder(&junk, &odd, &opts, &Silent).is_err());
    assert_eq!(default_rungs().len(), 4);
}

/// A 640x360 source: `--ladder` without a list gives 144p, 240p and 360p (the source's own
/// size on top, nothing above it), bitrates rising with the rung; a given 720p rung is left
/// out rather than upscaled.
#[test]
fn auto_ladder_fits_a_360p_source() {
    use media::rungs::{LadderRung, LadderSpec};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        input.to_str().unwrap(),
    ]);
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "auto");
    let started = std::time::Instant::now();
    let report =
        media::ladder::package_ladder_spec(&input, &LadderSpec::Auto, &opts, &Silent).unwrap();
    eprintln!(
        "auto ladder of a 2 s 360p source in {:?}",
        started.elapsed()
    );
    let video: Vec<_> = report
        .representations
        .iter()
        .filter(|r| r.kind == MediaKind::Video)
        .map(|r| (r.id.as_str(), r.width.unwrap(), r.height.unwrap()))
        .collect();
    assert_eq!(
        video,
        [("v144", 256, 144), ("v240", 426, 240), ("v360", 640, 360)]
    );
    assert!(report
        .representations
        .iter()
        .any(|r| r.kind == MediaKind::Audio));
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    common::check_asset(&report, 2.0, &scratch);

    // Given rungs: the one above the source is left out, the other transcoded.
    let rungs = vec![
        LadderRung::plain(Rung::new("v180", 320, 180, 300_000)),
        LadderRung::plain(Rung::new("v720", 1280, 720, 3_000_000)),
    ];
    let opts = PackageOptions::new(&root, "given");
    let report =
        media::ladder::package_ladder_spec(&input, &LadderSpec::Rungs(rungs), &opts, &Silent)
            .unwrap();
    let ids: Vec<_> = report
        .representations
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, ["v180", "a128"]);
    let only_big = vec![LadderRung::plain(Rung::new("v720", 1280, 720, 3_000_000))];
    let err = media::ladder::package_ladder_spec(
        &input,
        &LadderSpec::Rungs(only_big),
        &PackageOptions::new(&root, "big"),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("larger than the source"), "{err}");
}
