//! The `mpd` fuzz target's seed corpus (`manifests/fuzz/seeds/mpd/`: MPDs from
//! `../shared/mpd-samples`, plus every crash input the fuzzer found, as `crash-*`) fed through
//! the same functions on stable: `Mpd::parse`, and for whatever parses `to_xml`, period starts
//! and durations, init URLs and segment lists. Each must return `Ok` or a clean `Err`, never
//! panic. See `media/fuzz/README.md`.

use std::path::Path;

use manifests::{ManifestError, Mpd};

#[test]
fn mpd_seeds_return_ok_or_a_clean_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/mpd");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "seeds missing in {}", dir.display());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        // What the fuzz target does with its bytes.
        let Ok(text) = std::str::from_utf8(&data) else {
            assert!(name.starts_with("crash-"), "{name} is not UTF-8");
            continue;
        };
        match Mpd::parse(text) {
            Ok(mpd) => {
                let xml = mpd.to_xml().unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(Mpd::parse(&xml).unwrap(), mpd, "{name} round trip");
                for (i, period) in mpd.periods.iter().enumerate() {
                    let _ = mpd.period_start(i);
                    let duration = mpd.period_duration(i);
                    for set in &period.adaptation_sets {
                        for rep in &set.representations {
                            let _ = rep.init_url(period, set);
                            let _ = rep.media_segments(period, set, duration);
                        }
                    }
                }
            }
            Err(e) => {
                assert!(
                    name.starts_with("crash-"),
                    "{name}: a real MPD must parse: {e}"
                );
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Hostile nesting (a 700 kB MPD of 100 000 nested unknown elements) was a stack overflow (and
/// quadratic namespace lookups before it): now a clean error past `xml::MAX_DEPTH` levels.
#[test]
fn deep_nesting_is_not_a_stack_overflow() {
    let depth = 100_000;
    let doc = format!(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" profiles=\"p\" minBufferTime=\"PT2S\">{}{}</MPD>",
        "<x>".repeat(depth),
        "</x>".repeat(depth)
    );
    let err = Mpd::parse(&doc).unwrap_err();
    assert!(
        matches!(err, ManifestError::TooDeep { line: 1, limit: 64 }),
        "{err}"
    );
    // At the limit it still parses (the unknown elements are kept and written back).
    let depth = manifests::xml::MAX_DEPTH - 1;
    let doc = doc.replace(&"<x>".repeat(100_000), &"<x>".repeat(depth));
    let doc = doc.replace(&"</x>".repeat(100_000), &"</x>".repeat(depth));
    let mpd = Mpd::parse(&doc).unwrap();
    assert_eq!(Mpd::parse(&mpd.to_xml().unwrap()).unwrap(), mpd);
}

/// Period starts of a hostile MPD with 100 000 periods without `@start` (each starts where the
/// previous one ends): derived without recursing 100 000 deep.
#[test]
fn period_starts_of_many_periods() {
    let mut doc = String::from(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" profiles=\"p\" minBufferTime=\"PT2S\">",
    );
    for _ in 0..100_000 {
        doc.push_str("<Period duration=\"PT1S\"/>");
    }
    doc.push_str("</MPD>");
    let mpd = Mpd::parse(&doc).unwrap();
    assert_eq!(mpd.period_start(0), Some(manifests::IsoDuration::ZERO));
    assert_eq!(
        mpd.period_start(99_999),
        Some(manifests::IsoDuration::from_secs(99_999))
    );
    assert_eq!(
        mpd.period_duration(99_999),
        Some(manifests::IsoDuration::from_secs(1))
    );
}

/// Segment lists of hostile templates: a clean error, not gigabytes of segment references.
#[test]
fn hostile_segment_counts_are_errors() {
    use manifests::{IsoDuration, SegmentTemplate};
    let timeline = |r: i64| {
        format!(
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" profiles=\"p\" minBufferTime=\"PT2S\"><Period duration=\"PT10S\"><AdaptationSet><SegmentTemplate timescale=\"1\" media=\"$Number$\"><SegmentTimeline><S t=\"0\" d=\"1\" r=\"{r}\"/></SegmentTimeline></SegmentTemplate><Representation id=\"v\" bandwidth=\"1\"/></AdaptationSet></Period></MPD>"
        )
    };
    let template = |doc: &str| -> SegmentTemplate {
        let mpd = Mpd::parse(doc).unwrap();
        mpd.periods[0].adaptation_sets[0]
            .segment_template
            .clone()
            .unwrap()
    };
    let ok = template(&timeline(9)).segments(None).unwrap();
    assert_eq!(ok.len(), 10);
    let err = template(&timeline(2_000_000_000))
        .segments(None)
        .unwrap_err();
    assert!(err.to_string().contains("more than"), "{err}");
    // @duration addressing over a period of 10^20 seconds.
    let mut t = SegmentTemplate {
        duration: Some(1),
        timescale: Some(1),
        ..Default::default()
    };
    let huge: IsoDuration = "PT100000000000000000000S".parse().unwrap();
    assert!(t.segments(Some(huge)).is_err());
    // A terabyte-wide $Number$ is left as written.
    let url = manifests::segments::expand_template("$Number%0999999999999d$", "v", 1, 0, 0);
    assert_eq!(url, "$Number%0999999999999d$");
    t.end_number = Some(5);
    assert_eq!(t.segments(Some(huge)).unwrap().len(), 5);
}
