//! `package_file`: an ffmpeg-made H.264/AAC MP4 packaged without re-encoding.

use crate::common;

use std::time::SystemTime;

use manifests::layout::{self, MediaKind};
use media::package::{package_file, PackageOptions};
use media::progress::Silent;

#[test]
fn packages_decodable_aligned_segments_and_reruns_are_noops() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::make_input(dir.path(), "clip.mp4", 7, "320x240", 25);
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "");
    let started = std::time::Instant::now();
    let report = package_file(&input, &opts, &Silent).unwrap();
    eprintln!("packaged 7 s 320x240 clip in {:?}", started.elapsed());
    assert!(!report.skipped);
    assert_eq!(report.asset_dir, root.join("clip"));
    let kinds: Vec<_> = report.representations.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MediaKind::Video, MediaKind::Audio]);
    let video = &report.representations[0];
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.segments, 4); // 2+2+2+1 s
    assert_eq!(video.frame_rate.as_deref(), Some("25"));

    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let mpd = common::check_asset(&report, 2.0, &scratch);
    assert_eq!(mpd.profiles, manifests::PROFILE_ISOFF_LIVE);
    let dur = mpd.media_presentation_duration.unwrap().as_secs_f64();
    assert!((dur - 7.0).abs() < 0.1, "mediaPresentationDuration {dur}");
    let sets = &mpd.periods[0].adaptation_sets;
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].max_width, Some(320));
    assert_eq!(sets[0].segment_alignment, Some(true));
    assert!(common::leftovers(&root).is_empty());

    // Same input and options: a no-op that touches nothing.
    let mpd_path = report.asset_dir.join(layout::MANIFEST_FILE);
    let mtime = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: SystemTime = mtime(&mpd_path);
    let again = package_file(&input, &opts, &Silent).unwrap();
    assert!(again.skipped);
    assert_eq!(again.representations, report.representations);
    assert_eq!(mtime(&mpd_path), before);

    // A missing segment makes the package incomplete: repackaged.
    let seg2 = report.asset_dir.join(layout::media_path(&video.id, 2));
    std::fs::remove_file(&seg2).unwrap();
    let repaired = package_file(&input, &opts, &Silent).unwrap();
    assert!(!repaired.skipped);
    assert!(seg2.is_file());

    // --force rewrites.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let forced = package_file(
        &input,
        &PackageOptions {
            force: true,
            ..opts.clone()
        },
        &Silent,
    )
    .unwrap();
    assert!(!forced.skipped);
    assert!(mtime(&mpd_path) > before);
    assert_eq!(forced.representations, report.representations);

    // Other options (segment duration) repackage too.
    let four = package_file(
        &input,
        &PackageOptions {
            segment_duration_secs: 4.0,
            ..opts.clone()
        },
        &Silent,
    )
    .unwrap();
    assert!(!four.skipped);
    assert_eq!(four.representations[0].segments, 2);
    assert!(common::leftovers(&root).is_empty());
}

#[test]
fn bad_inputs_fail_clearly_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let opts = PackageOptions::new(&root, "");

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is a text file, not a movie\n".repeat(10)).unwrap();
    let err = format!(
        "{:#}",
        anyhow::Error::from(package_file(&text, &opts, &Silent).unwrap_err())
    );
    assert!(err.contains("not an MP4"), "{err}");
    assert!(!root.join("notes").exists());

    let input = common::make_input(dir.path(), "clip.mp4", 3, "160x120", 25);
    let data = std::fs::read(&input).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &data[..data.len() * 6 / 10]).unwrap();
    let err = format!(
        "{:#}",
        anyhow::Error::from(package_file(&cut, &opts, &Silent).unwrap_err())
    );
    assert!(err.contains("truncated"), "{err}");
    assert!(!root.join("cut").exists());

    // moov first (faststart), sample data cut off.
    let fast = dir.path().join("fast.mp4");
    common::ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        fast.to_str().unwrap(),
    ]);
    let data = std::fs::read(&fast).unwrap();
    let cut2 = dir.path().join("cut2.mp4");
    std::fs::write(&cut2, &data[..data.len() * 6 / 10]).unwrap();
    let err = format!(
        "{:#}",
        anyhow::Error::from(package_file(&cut2, &opts, &Silent).unwrap_err())
    );
    assert!(err.contains("truncated"), "{err}");
    assert!(!root.join("cut2").exists());

    // Fragmented input: a clear "unsupported" error with the remux hint.
    let frag = dir.path().join("frag.mp4");
    common::ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        frag.to_str().unwrap(),
    ]);
    let err = format!(
        "{:#}",
        anyhow::Error::from(package_file(&frag, &opts, &Silent).unwrap_err())
    );
    assert!(err.contains("fragmented"), "{err}");

    // A work directory of a crashed run (dead pid) is cleaned up by the next run.
    std::fs::create_dir_all(root.join(".clip.tmp-999999999-1/v240")).unwrap();
    package_file(&input, &opts, &Silent).unwrap();
    assert!(!root.join(".clip.tmp-999999999-1").exists());

    let missing = dir.path().join("nope.mp4");
    assert!(package_file(&missing, &opts, &Silent).is_err());
    assert!(
        common::leftovers(&root).is_empty(),
        "{:?}",
        common::leftovers(&root)
    );
}
