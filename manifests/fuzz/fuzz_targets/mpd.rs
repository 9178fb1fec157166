//! `Mpd::parse` on arbitrary text, and `to_xml` of whatever parses: `Ok` or a clean
//! `ManifestError`, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mpd) = manifests::Mpd::parse(text) {
            let _ = mpd.to_xml();
        }
    }
});
