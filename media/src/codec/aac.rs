//! AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): parsing, building, and the RFC 6381
//! `mp4a.40.<object type>` codecs string.

use super::{BitReader, MediaError};

/// Sampling frequencies indexed by `samplingFrequencyIndex`.
pub const AAC_SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) the packager uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2).
    pub object_type: u8,
    /// Sampling frequency of the core coder in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (0 = in program config element).
    pub channel_config: u8,
    /// Output sampling frequency with explicit SBR signalling, if any.
    pub extension_sample_rate: Option<u32>,
}

impl AudioSpecificConfig {
    /// Number of output channels implied by `channelConfiguration` (7 → 8, 0 → unknown).
    pub fn channels(&self) -> Option<u16> {
        match self.channel_config {
            0 => None,
            1..=6 => Some(self.channel_config as u16),
            7 => Some(8),
            _ => None,
        }
    }

    /// RFC 6381 codecs string: `mp4a.40.<object type>`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Builds the AudioSpecificConfig bytes for a plain (non-SBR) object type.
    pub fn to_bytes(&self) -> Vec<u8> {
        build_audio_specific_config(self.object_type, self.sample_rate, self.channel_config)
    }
}

/// Parses an AudioSpecificConfig.
pub fn parse_audio_specific_config(data: &[u8]) -> Result<AudioSpecificConfig, MediaError> {
    let err = |w: &str| MediaError::InvalidAac(w.to_string());
    let mut r = BitReader::new(data);
    let read_aot = |r: &mut BitReader| -> Option<u8> {
        let aot = r.bits(5)? as u8;
        if aot == 31 {
            Some(32 + r.bits(6)? as u8)
        } else {
            Some(aot)
        }
    };
    let read_rate = |r: &mut BitReader| -> Result<u32, MediaError> {
        let idx = r.bits(4).ok_or_else(|| err("truncated"))?;
        if idx == 15 {
            r.bits(24).ok_or_else(|| err("truncated"))
        } else {
            AAC_SAMPLE_RATES
                .get(idx as usize)
                .copied()
                .ok_or_else(|| err(&format!("reserved samplingFrequencyIndex {idx}")))
        }
    };
    let mut object_type = read_aot(&mut r).ok_or_else(|| err("truncated"))?;
    if object_type == 0 {
        return Err(err("audio object type 0 (null)"));
    }
    let sample_rate = read_rate(&mut r)?;
    let channel_config = r.bits(4).ok_or_else(|| err("truncated"))? as u8;
    let mut extension_sample_rate = None;
    if object_type == 5 || object_type == 29 {
        extension_sample_rate = Some(read_rate(&mut r)?);
        // The core object type follows; the codecs string keeps the signalled SBR/PS type.
        let core = read_aot(&mut r).ok_or_else(|| err("truncated"))?;
        if core == 0 {
            return Err(err("core audio object type 0"));
        }
    }
    if sample_rate == 0 {
        return Err(err("sampling frequency 0"));
    }
    if object_type > 63 {
        object_type = 63;
    }
    Ok(AudioSpecificConfig {
        object_type,
        sample_rate,
        channel_config,
        extension_sample_rate,
    })
}

/// Builds a 2-byte (or 5-byte with an explicit frequency) AudioSpecificConfig.
pub fn build_audio_specific_config(
    object_type: u8,
    sample_rate: u32,
    channel_config: u8,
) -> Vec<u8> {
    let mut bits: Vec<(u32, u32)> = Vec::new();
    if object_type >= 31 {
        bits.push((31, 5));
        bits.push(((object_type - 32) as u32, 6));
    } else {
        bits.push((object_type as u32, 5));
    }
    match AAC_SAMPLE_RATES.iter().position(|&r| r == sample_rate) {
        Some(i) => bits.push((i as u32, 4)),
        None => {
            bits.push((15, 4));
            bits.push((sample_rate & 0xff_ffff, 24));
        }
    }
    bits.push((channel_config as u32 & 0xf, 4));
    bits.push((0, 3)); // GASpecificConfig: frameLength 1024, no core coder, no extension
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut n = 0;
    for (v, w) in bits {
        acc = (acc << w) | v as u64;
        n += w;
        while n >= 8 {
            out.push((acc >> (n - 8)) as u8);
            n -= 8;
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    out
}

/// RFC 6381 codecs string of an AAC stream from its AudioSpecificConfig (`mp4a.40.2` for AAC-LC).
pub fn aac_codec_string(asc: &[u8]) -> Result<String, MediaError> {
    Ok(parse_audio_specific_config(asc)?.codec_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_round_trip() {
        let asc = build_audio_specific_config(2, 48000, 2);
        assert_eq!(asc, vec![0x11, 0x90]);
        let p = parse_audio_specific_config(&asc).unwrap();
        assert_eq!(p.object_type, 2);
        assert_eq!(p.sample_rate, 48000);
        assert_eq!(p.channels(), Some(2));
        assert_eq!(aac_codec_string(&asc).unwrap(), "mp4a.40.2");
        assert_eq!(
            parse_audio_specific_config(&[0x12, 0x10])
                .unwrap()
                .sample_rate,
            44100
        );
        // Explicit frequency (index 15).
        let odd = build_audio_specific_config(2, 37800, 1);
        let p = parse_audio_specific_config(&odd).unwrap();
        assert_eq!((p.sample_rate, p.channel_config), (37800, 1));
        // HE-AAC explicit signalling: AOT 5, 24 kHz core, ext 48 kHz, core AAC-LC.
        let he = [0x2b, 0x11, 0x88, 0x00];
        let p = parse_audio_specific_config(&he).unwrap();
        assert_eq!(p.object_type, 5);
        assert_eq!(p.extension_sample_rate, Some(48000));
        assert!(parse_audio_specific_config(&[]).is_err());
    }
}
