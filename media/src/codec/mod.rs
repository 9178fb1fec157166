//! Codec-level helpers: H.264 SPS parsing, AVC decoder configuration records, HEVC `hvcC`
//! and SPS ([`hevc`]), AV1 `av1C` and sequence headers ([`av1`]), AAC AudioSpecificConfig,
//! RFC 6381 `codecs` strings (per codec, and for any track through
//! [`CodecConfig::codecs_string`](CodecConfig::codecs_string)) and Annex-B ↔
//! AVCC conversion.
//!
//! Also home of [`MediaError`], the error type of every bitstream/container parser in this crate.

mod aac;
pub mod av1;
mod bits;
mod config;
mod error;
mod h264;
pub mod hevc;

pub use aac::{
    aac_codec_string, build_audio_specific_config, parse_audio_specific_config,
    AudioSpecificConfig, AAC_SAMPLE_RATES,
};
pub use av1::{parse_av1_config, Av1Config, Av1SequenceHeader};
#[cfg(test)]
pub(crate) use bits::unhex;
pub use bits::{hex, remove_emulation_prevention, BitReader};
pub use config::{sample_entry_codec_name, CodecConfig, Picture};
pub use error::MediaError;
pub use h264::{
    annexb_to_avcc, avc_codec_string, avcc_to_annexb, avcc_to_length4, build_avc_decoder_config,
    nal, nal_type, nals_to_avcc, parse_avc_decoder_config, parse_sps, split_annexb, split_avcc,
    AvcDecoderConfig, SpsInfo, SpsTiming,
};
pub use hevc::{parse_hevc_decoder_config, parse_hevc_sps, HevcDecoderConfig};
