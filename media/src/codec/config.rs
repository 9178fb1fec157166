//! What every part of the packager asks of a track's [`CodecConfig`], whatever the codec:
//! the RFC 6381 codecs string, the picture size, the sample entry type; and the names of the
//! codecs the packager refuses, for its error messages.

use super::{av1, hevc, MediaError};

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

/// A video track's picture: size in pixels and sample aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels (after cropping).
    pub width: u32,
    /// Height in pixels (after cropping).
    pub height: u32,
    /// Sample aspect ratio (horizontal, vertical), when signalled.
    pub sar: Option<(u16, u16)>,
}

impl CodecConfig {
    /// The sample entry type written for this configuration (`avc1`, `hvc1`/`hev1`, `av01`,
    /// `mp4a`).
    pub fn sample_entry(&self) -> &'static [u8; 4] {
        match self {
            CodecConfig::Avc { .. } => b"avc1",
            CodecConfig::Hevc {
                in_band_parameter_sets: false,
                ..
            } => b"hvc1",
            CodecConfig::Hevc { .. } => b"hev1",
            CodecConfig::Av1 { .. } => b"av01",
            CodecConfig::Aac { .. } => b"mp4a",
        }
    }

    /// The codec's common name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            CodecConfig::Avc { .. } => "H.264",
            CodecConfig::Hevc { .. } => "HEVC",
            CodecConfig::Av1 { .. } => "AV1",
            CodecConfig::Aac { .. } => "AAC",
        }
    }

    /// The RFC 6381 `codecs` value for the MPD and playlists: `avc1.PPCCLL` (from the SPS),
    /// `hvc1.…`/`hev1.…` (ISO/IEC 14496-15 Annex E, from `hvcC`), `av01.…` (AV1-ISOBMFF §5,
    /// from the sequence header), `mp4a.40.N`.
    pub fn codecs_string(&self) -> Result<String, MediaError> {
        Ok(match self {
            CodecConfig::Avc { sps, .. } => super::avc_codec_string(
                sps.first()
                    .ok_or_else(|| MediaError::InvalidAvc("track has no SPS".into()))?,
            )?,
            CodecConfig::Hevc { hvcc, .. } => {
                let fourcc = std::str::from_utf8(self.sample_entry()).unwrap_or("hvc1");
                hevc::parse_hevc_decoder_config(hvcc)?.codec_string(fourcc)
            }
            CodecConfig::Av1 { av1c, .. } => av1::parse_av1_config(av1c)?.header().codec_string(),
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => super::aac_codec_string(audio_specific_config)?,
        })
    }

    /// The picture of a video configuration (`None` for audio).
    pub fn picture(&self) -> Result<Option<Picture>, MediaError> {
        Ok(match self {
            CodecConfig::Avc { sps, .. } => {
                let info = super::parse_sps(
                    sps.first()
                        .ok_or_else(|| MediaError::InvalidAvc("track has no SPS".into()))?,
                )?;
                Some(Picture {
                    width: info.width,
                    height: info.height,
                    sar: info.sample_aspect_ratio,
                })
            }
            CodecConfig::Hevc {
                width, height, sar, ..
            }
            | CodecConfig::Av1 {
                width, height, sar, ..
            } => Some(Picture {
                width: *width,
                height: *height,
                sar: *sar,
            }),
            CodecConfig::Aac { .. } => None,
        })
    }

    /// Checks that the configuration record parses (what the packager writes must be what
    /// a decoder can use).
    pub fn validate(&self) -> Result<(), MediaError> {
        match self {
            CodecConfig::Avc { .. } => {
                self.picture()?;
            }
            CodecConfig::Hevc { hvcc, .. } => {
                hevc::parse_hevc_decoder_config(hvcc)?;
            }
            CodecConfig::Av1 { av1c, .. } => {
                av1::parse_av1_config(av1c)?;
            }
            CodecConfig::Aac {
                audio_specific_config,
                ..
            } => {
                super::parse_audio_specific_config(audio_specific_config)?;
            }
        }
        Ok(())
    }
}

/// A readable name for a sample entry type the packager does not support, for its refusal
/// message: `'vp09' (VP9)`. `mp4a` entries are named by their MPEG-4 objectTypeIndication
/// (`oti`), since MP3 and MPEG-2 audio also use `mp4a`.
pub fn sample_entry_codec_name(fourcc: &[u8; 4], oti: Option<u8>) -> String {
    let name = match (fourcc, oti) {
        (b"mp4a", Some(0x6b | 0x69)) => "MP3 / MPEG-1/2 audio",
        (b"mp4a", Some(0x66..=0x68)) => "MPEG-2 AAC",
        (b"mp4a", Some(0xa5)) => "AC-3",
        (b"mp4a", Some(0xa6)) => "E-AC-3",
        (b"mp4a", Some(0xa9..=0xac)) => "DTS",
        (b"mp4a", Some(0xad)) => "Opus",
        (b"mp4a", _) => "MPEG-4 audio (not AAC)",
        (b".mp3", _) => "MP3",
        (b"Opus", _) => "Opus",
        (b"fLaC", _) => "FLAC",
        (b"ac-3", _) => "AC-3",
        (b"ec-3", _) => "E-AC-3",
        (b"ac-4", _) => "AC-4",
        (b"alac", _) => "ALAC",
        (b"sowt" | b"twos" | b"lpcm" | b"ipcm" | b"fpcm", _) => "PCM",
        (b"vp08", _) => "VP8",
        (b"vp09", _) => "VP9",
        (b"mp4v", Some(0x20)) | (b"mp4v", None) => "MPEG-4 Part 2",
        (b"mp4v", Some(0x60..=0x65)) => "MPEG-2 video",
        (b"mp4v", Some(0x6a)) => "MPEG-1 video",
        (b"mp4v", Some(0x6c)) => "JPEG",
        (b"mp4v", _) => "MPEG-4 visual (not Part 2)",
        (b"vvc1" | b"vvi1", _) => "VVC",
        (b"dvh1" | b"dvhe" | b"dav1" | b"dva1" | b"dvav", _) => "Dolby Vision",
        (b"mjpa" | b"mjpb" | b"jpeg", _) => "Motion JPEG",
        (b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h", _) => "ProRes",
        (b"s263" | b"h263", _) => "H.263",
        (b"encv" | b"enca", _) => "encrypted (already protected)",
        _ => "",
    };
    let fourcc = String::from_utf8_lossy(fourcc);
    if name.is_empty() {
        format!("'{fourcc}'")
    } else {
        format!("'{fourcc}' ({name})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_codec_names() {
        assert_eq!(sample_entry_codec_name(b"vp09", None), "'vp09' (VP9)");
        assert_eq!(
            sample_entry_codec_name(b"mp4a", Some(0x6b)),
            "'mp4a' (MP3 / MPEG-1/2 audio)"
        );
        assert_eq!(
            sample_entry_codec_name(b"mp4v", Some(0x20)),
            "'mp4v' (MPEG-4 Part 2)"
        );
        assert_eq!(sample_entry_codec_name(b"xyz1", None), "'xyz1'");
    }

    #[test]
    fn entries_and_strings() {
        let av1 = CodecConfig::Av1 {
            av1c: vec![0x81, 0x08, 0x0c, 0x00],
            width: 640,
            height: 360,
            sar: None,
            colour_boxes: Vec::new(),
        };
        assert_eq!(av1.sample_entry(), b"av01");
        assert_eq!(av1.codecs_string().unwrap(), "av01.0.08M.08");
        assert_eq!(
            av1.picture().unwrap(),
            Some(Picture {
                width: 640,
                height: 360,
                sar: None
            })
        );
        let bad = CodecConfig::Hevc {
            hvcc: vec![1, 2, 3],
            in_band_parameter_sets: true,
            width: 1,
            height: 1,
            sar: None,
            colour_boxes: Vec::new(),
        };
        assert_eq!(bad.sample_entry(), b"hev1");
        assert!(bad.validate().is_err());
        assert!(bad.codecs_string().is_err());
    }
}
