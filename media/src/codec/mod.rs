//! Codec-level helpers: H.264 SPS parsing, AVC decoder configuration records, AAC
//! AudioSpecificConfig, RFC 6381 `codecs` strings and Annex-B ↔ AVCC conversion.
//!
//! Also home of [`MediaError`], the error type of every bitstream/container parser in this crate.

mod aac;
mod bits;
mod error;
mod h264;

pub use aac::{
    aac_codec_string, build_audio_specific_config, parse_audio_specific_config,
    AudioSpecificConfig, AAC_SAMPLE_RATES,
};
pub use bits::{hex, remove_emulation_prevention, BitReader};
pub use error::MediaError;
pub use h264::{
    annexb_to_avcc, avc_codec_string, avcc_to_annexb, avcc_to_length4, build_avc_decoder_config,
    nal, nal_type, nals_to_avcc, parse_avc_decoder_config, parse_sps, split_annexb, split_avcc,
    AvcDecoderConfig, SpsInfo, SpsTiming,
};
