//! The `mpd` fuzz target's seed corpus (`manifests/fuzz/seeds/mpd/`: MPDs from
//! `../shared/mpd-samples`, plus every crash input the fuzzer found, as `crash-*`) fed through
//! the same functions on stable: `Mpd::parse`, and `to_xml` of whatever parses. Each must
//! return `Ok` or a clean `Err`, never panic. See `media/fuzz/README.md`.

use std::path::Path;

use manifests::Mpd;

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
                assert!(name.starts_with("crash-"), "{name}: a real MPD must parse: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}
