//! H.264 parameter-set parsing on arbitrary bytes: the input as an SPS NAL unit (and its
//! codecs string), and as an `avcC` record whose SPSs are parsed in turn.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::codec;

fuzz_target!(|data: &[u8]| {
    let _ = codec::parse_sps(data);
    let _ = codec::avc_codec_string(data);
    if let Ok(cfg) = codec::parse_avc_decoder_config(data) {
        for sps in &cfg.sps {
            let _ = codec::parse_sps(sps);
        }
    }
});
