//! AAC AudioSpecificConfig parsing on arbitrary bytes (and the codecs string and the bytes
//! rebuilt from whatever parses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(asc) = codec::parse_audio_specific_config(data) {
        let _ = asc.codec_string();
        let _ = asc.channels();
        let _ = asc.to_bytes();
    }
});
