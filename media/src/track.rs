//! Elementary streams: what encoders and demuxers produce and the packager consumes. A
//! track's samples are in memory or a compact table over the input file ([`Samples`]).

use manifests::layout::MediaKind;

pub use crate::samples::{SampleInfo, SampleTable, Samples};

/// One coded access unit (a video frame or an audio frame), in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// H.264/HEVC: AVCC format (each NAL unit prefixed by its 4-byte big-endian length; no
    /// start codes; parameter sets may be omitted since they live in `avcC`/`hvcC`). AV1: one
    /// temporal unit of OBUs as in the source (AV1-ISOBMFF §2.4). Audio: one raw AAC frame.
    pub data: Vec<u8>,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Composition time minus decode time, in the track's timescale (0 without B-frames).
    pub composition_offset: i32,
    /// True for IDR frames (video) and for every audio frame.
    pub is_sync: bool,
}

/// Decoder configuration of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    /// H.264/AVC: parameter sets as raw NAL units (no start code, no length prefix).
    Avc {
        /// Sequence parameter sets.
        sps: Vec<Vec<u8>>,
        /// Picture parameter sets.
        pps: Vec<Vec<u8>>,
    },
    /// H.265/HEVC: the source's `hvcC` record, kept byte for byte (see [`crate::codec::hevc`]).
    Hevc {
        /// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1).
        hvcc: Vec<u8>,
        /// Sample entry `hev1` (parameter sets may also be in the samples) rather than `hvc1`
        /// (all of them in `hvcC` only).
        in_band_parameter_sets: bool,
        /// Picture width in pixels (SPS after cropping, else the source's sample entry).
        width: u32,
        /// Picture height in pixels.
        height: u32,
        /// Sample aspect ratio from the source's `pasp`, when not square.
        sar: Option<(u16, u16)>,
        /// The colour boxes of the source's sample entry (`colr`, `mdcv`, `clli`: colour
        /// space and HDR mastering metadata), whole and as they were; empty when none.
        colour_boxes: Vec<u8>,
    },
    /// AV1: the source's `av1C` record, kept byte for byte (see [`crate::codec::av1`]).
    Av1 {
        /// AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3.3), with its configOBUs.
        av1c: Vec<u8>,
        /// Picture width in pixels (the source's sample entry).
        width: u32,
        /// Picture height in pixels.
        height: u32,
        /// Sample aspect ratio from the source's `pasp`, when not square.
        sar: Option<(u16, u16)>,
        /// The colour boxes of the source's sample entry (`colr`, `mdcv`, `clli`: colour
        /// space and HDR mastering metadata), whole and as they were; empty when none.
        colour_boxes: Vec<u8>,
    },
    /// AAC: the AudioSpecificConfig bytes (ISO/IEC 14496-3) and the basic parameters.
    Aac {
        /// AudioSpecificConfig.
        audio_specific_config: Vec<u8>,
        /// Sampling rate in Hz.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
    },
}

/// One elementary stream ready for packaging: configuration plus its samples (in memory,
/// or tables over a file read segment by segment).
#[derive(Debug, Clone)]
pub struct Track {
    /// Representation id to use in the MPD and the content layout (e.g. `v720`, `a128`).
    pub id: String,
    /// Video or audio.
    pub kind: MediaKind,
    /// Ticks per second of sample durations.
    pub timescale: u32,
    /// Decoder configuration.
    pub codec: CodecConfig,
    /// ISO 639-2/T language code ("und" when unknown).
    pub language: String,
    /// Samples in decode order (`Vec<Sample>` converts with `.into()`).
    pub samples: Samples,
}
