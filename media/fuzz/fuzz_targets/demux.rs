//! The MP4 demuxer on arbitrary bytes: `Ok` or a clean `MediaError`, never a panic, a hang
//! or an allocation out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = media::demux::demux_bytes(data, "fuzz.mp4");
});
