//! `package_default`: the generated test pattern (short, two small rungs) packaged and
//! decoded by ffmpeg, with boundaries aligned across rungs.

use crate::common;

use manifests::layout::MediaKind;
use media::package::{package_default, PackageOptions};
use media::progress::Silent;
use media::synth::{Rung, SynthOptions};

#[test]
fn short_default_content_decodes_and_aligns() {
    common::require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let synth = SynthOptions {
        duration_secs: 6,
        rungs: vec![
            Rung::new("v90", 160, 90, 150_000),
            Rung::new("v180", 320, 180, 400_000),
        ],
        ..SynthOptions::default()
    };
    let opts = PackageOptions::new(&root, "");
    let started = std::time::Instant::now();
    let report = package_default(&opts, &synth, &Silent).unwrap();
    eprintln!(
        "generated + packaged 6 s x 2 rungs in {:?}",
        started.elapsed()
    );
    assert_eq!(
        report.asset_dir,
        root.join(manifests::layout::DEFAULT_ASSET)
    );
    assert!(!report.skipped);
    let video: Vec<_> = report
        .representations
        .iter()
        .filter(|r| r.kind == MediaKind::Video)
        .collect();
    assert_eq!(video.len(), 2);
    assert!(report
        .representations
        .iter()
        .any(|r| r.kind == MediaKind::Audio));
    for r in &video {
        assert_eq!(r.segments, 3);
        assert_eq!(
            r.frame_rate.as_deref(),
            Some(synth.fps.to_string().as_str())
        );
    }
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    common::check_asset(&report, 2.0, &scratch);
    common::assert_video_aligned(&report);

    let again = package_default(&opts, &synth, &Silent).unwrap();
    assert!(again.skipped, "same options must be a no-op");
    assert!(common::leftovers(&root).is_empty());
}
