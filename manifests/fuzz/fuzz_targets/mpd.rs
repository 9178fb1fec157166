//! `Mpd::parse` on arbitrary text, then what a reader does with what parses: `to_xml`, period
//! starts and durations, and every Representation's init URL and media segment list. `Ok` or
//! a clean `ManifestError`, never a panic, a hang or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mpd) = manifests::Mpd::parse(text) {
            let _ = mpd.to_xml();
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
    }
});
