//! Every MPD in `/work/shared/mpd-samples` (35 ISO/IEC 23009-1 examples, ffmpeg 5.1 and
//! Shaka Packager output) must parse; its re-serialization must parse to the same model
//! (semantic round trip) and validate against DASH-MPD.xsd with xmllint.
//!
//! Scope rule: all samples are in scope. The model knows every element of the 5th-edition
//! schema that the samples use, and keeps anything else (other namespaces) verbatim, so no
//! sample needs to be excluded.

use std::path::{Path, PathBuf};

use manifests::schema::validate_xml_with_xmllint;
use manifests::Mpd;

fn samples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/mpd-samples");
    let mut files = Vec::new();
    for dir in ["iso-23009-1-examples", "tools"] {
        let dir = root.join(dir);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "mpd") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_sample_parses_round_trips_and_validates() {
    let files = samples();
    assert!(
        files.len() >= 43,
        "expected 35 ISO + 8 tool samples, found {}",
        files.len()
    );
    let mut parse_failures = Vec::new();
    let mut round_trip_failures = Vec::new();
    let mut validation_failures = Vec::new();
    let mut validated = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mpd = match Mpd::parse(&text) {
            Ok(m) => m,
            Err(e) => {
                parse_failures.push(format!("{}: {e}", name(path)));
                continue;
            }
        };
        let xml = match mpd.to_xml() {
            Ok(x) => x,
            Err(e) => {
                round_trip_failures.push(format!("{}: to_xml: {e}", name(path)));
                continue;
            }
        };
        match Mpd::parse(&xml) {
            Ok(again) if again == mpd => {}
            Ok(again) => round_trip_failures.push(format!(
                "{}: model differs after to_xml/parse\n--- first\n{mpd:#?}\n--- again\n{again:#?}",
                name(path)
            )),
            Err(e) => round_trip_failures.push(format!("{}: re-parse: {e}\n{xml}", name(path))),
        }
        match validate_xml_with_xmllint(&xml) {
            Ok(()) => validated += 1,
            Err(e) => validation_failures.push(format!("{}: {e}", name(path))),
        }
    }
    let total = files.len();
    eprintln!(
        "{total} samples: {} parse, {} round-trip, {validated} re-serialized validate",
        total - parse_failures.len(),
        total - parse_failures.len() - round_trip_failures.len(),
    );
    let mut report = String::new();
    for (what, list) in [
        ("failed to parse", &parse_failures),
        ("failed the semantic round trip", &round_trip_failures),
        (
            "re-serialized output failed schema validation",
            &validation_failures,
        ),
    ] {
        if !list.is_empty() {
            report.push_str(&format!(
                "{} sample(s) {what}:\n{}\n",
                list.len(),
                list.join("\n")
            ));
        }
    }
    assert!(report.is_empty(), "{report}");
}
