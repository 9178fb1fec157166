//! The `mpd` fuzz target's seed corpus (`manifests/fuzz/seeds/mpd/`: MPDs from
//! `../shared/mpd-samples`, plus every crash input the fuzzer found, as `crash-*`) fed through
//! the same functions on stable: `Mpd::parse`, and `to_xml` of whatever parses. Each must
//! return `Ok` or a clean `Err`, never panic. See `media/fuzz/README.md`.

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
