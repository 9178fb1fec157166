//! H.265/HEVC: the decoder configuration record (`hvcC`, ISO/IEC 14496-15 §8.3.3), the picture
//! size from the SPS (ITU-T H.265 §7.3.2.2), and the RFC 6381 codecs string of ISO/IEC 14496-15
//! Annex E.3 (`hvc1.1.6.L93.B0`).
//!
//! The packager keeps the source's `hvcC` byte for byte (it is what the encoder declared and
//! what every decoder of the source already accepted); it is parsed to check it, to name the
//! codec and to find the SPS. Hand-written like [`super::h264`]: only the fields before the
//! SPS's VUI are needed. Untrusted input: the `demux` fuzz target reaches these parsers (its
//! seeds hold an HEVC MP4), and the unit tests feed every truncation and bit flip of a real
//! record through them.

use super::{remove_emulation_prevention, BitReader, MediaError};

/// HEVC NAL unit types used here (H.265 Table 7-1).
pub mod nal {
    /// First IRAP type (`BLA_W_LP`); IRAP pictures are 16..=23 (BLA, IDR, CRA, reserved IRAP).
    pub const IRAP_FIRST: u8 = 16;
    /// Last IRAP type (`RSV_IRAP_VCL23`).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
}

/// The `nal_unit_type` of an HEVC NAL unit (6 bits after the forbidden bit; 0 when empty).
pub fn hevc_nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| (b >> 1) & 0x3f).unwrap_or(0)
}

/// One `hvcC` array: NAL units of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HvcCArray {
    /// `array_completeness`: all NAL units of this type are here and none in the samples.
    pub complete: bool,
    /// `NAL_unit_type`.
    pub nal_type: u8,
    /// The NAL units (with their 2-byte NAL header, without length prefix).
    pub units: Vec<Vec<u8>>,
}

/// A parsed HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfig {
    /// `general_profile_space` (0 in every current profile).
    pub profile_space: u8,
    /// `general_tier_flag` (false: Main tier, true: High tier).
    pub high_tier: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions...).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags` (bit 31 is flag 0).
    pub profile_compatibility: u32,
    /// The 48 bits of general constraint indicator flags, as coded.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc` (30 × the level number: 93 is level 3.1).
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Bytes of the NAL unit length prefix in the samples (1, 2 or 4).
    pub length_size: u8,
    /// The parameter set (and SEI) arrays.
    pub arrays: Vec<HvcCArray>,
}

impl HevcDecoderConfig {
    /// The first NAL unit of type `t` in the arrays.
    pub fn first_of(&self, t: u8) -> Option<&[u8]> {
        self.arrays
            .iter()
            .filter(|a| a.nal_type == t)
            .flat_map(|a| a.units.first())
            .map(Vec::as_slice)
            .next()
    }

    /// True when the VPS, SPS and PPS arrays are all present and marked complete: the
    /// condition for an `hvc1` sample entry (ISO/IEC 14496-15 §8.4.1.1.2).
    pub fn parameter_sets_complete(&self) -> bool {
        [nal::VPS, nal::SPS, nal::PPS].iter().all(|&t| {
            self.arrays
                .iter()
                .any(|a| a.nal_type == t && a.complete && !a.units.is_empty())
        })
    }

    /// The RFC 6381 codecs string for sample entry `fourcc` (`hvc1` or `hev1`), per
    /// ISO/IEC 14496-15 Annex E.3: profile space letter (none, A, B, C) + profile idc;
    /// the compatibility flags bit-reversed in hex without leading zeros; `L`/`H` (tier) +
    /// level idc; then each constraint byte in hex, trailing zero bytes left out. The form
    /// Shaka Packager and MP4Box write.
    pub fn codec_string(&self, fourcc: &str) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let mut s = format!(
            "{fourcc}.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.profile_compatibility.reverse_bits(),
            if self.high_tier { 'H' } else { 'L' },
            self.level_idc
        );
        let used = self
            .constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraint_flags[..used] {
            s.push_str(&format!(".{b:02X}"));
        }
        s
    }
}

/// Parses an `hvcC` payload (the HEVCDecoderConfigurationRecord).
pub fn parse_hevc_decoder_config(data: &[u8]) -> Result<HevcDecoderConfig, MediaError> {
    let err = |m: &str| MediaError::InvalidHevc(format!("hvcC: {m}"));
    if data.len() < 23 {
        return Err(err(&format!("{} bytes, need at least 23", data.len())));
    }
    if data[0] != 1 {
        return Err(err(&format!("configurationVersion {}", data[0])));
    }
    let mut constraint_flags = [0u8; 6];
    constraint_flags.copy_from_slice(&data[6..12]);
    let mut cfg = HevcDecoderConfig {
        profile_space: data[1] >> 6,
        high_tier: data[1] & 0x20 != 0,
        profile_idc: data[1] & 0x1f,
        profile_compatibility: u32::from_be_bytes(data[2..6].try_into().unwrap()),
        constraint_flags,
        level_idc: data[12],
        chroma_format_idc: data[16] & 0x03,
        bit_depth_luma: (data[17] & 0x07) + 8,
        bit_depth_chroma: (data[18] & 0x07) + 8,
        length_size: (data[21] & 0x03) + 1,
        arrays: Vec::new(),
    };
    if cfg.length_size == 3 {
        return Err(err("lengthSizeMinusOne 2 (3-byte lengths are not allowed)"));
    }
    let n_arrays = data[22] as usize;
    let mut p = 23usize;
    for _ in 0..n_arrays {
        let head = *data.get(p).ok_or_else(|| err("array header missing"))?;
        let n = data
            .get(p + 1..p + 3)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| err("array count missing"))?;
        p += 3;
        let mut units = Vec::with_capacity(n.min(data.len() / 2));
        for _ in 0..n {
            let len = data
                .get(p..p + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| err("NAL unit length missing"))?;
            let unit = data
                .get(p + 2..p + 2 + len)
                .ok_or_else(|| err("NAL unit runs past the end"))?;
            units.push(unit.to_vec());
            p += 2 + len;
        }
        cfg.arrays.push(HvcCArray {
            complete: head & 0x80 != 0,
            nal_type: head & 0x3f,
            units,
        });
    }
    Ok(cfg)
}

/// What the packager needs from an HEVC sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSpsInfo {
    /// `general_profile_idc` of the SPS's profile_tier_level.
    pub profile_idc: u8,
    /// `general_level_idc`.
    pub level_idc: u8,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u32,
    /// Width in pixels after the conformance window.
    pub width: u32,
    /// Height in pixels after the conformance window.
    pub height: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
}

/// Parses an SPS NAL unit (with its 2-byte header) up to the bit depths (H.265 §7.3.2.2.1).
pub fn parse_hevc_sps(nal_unit: &[u8]) -> Result<HevcSpsInfo, MediaError> {
    let err = |m: &str| MediaError::InvalidHevc(format!("SPS: {m}"));
    if hevc_nal_type(nal_unit) != nal::SPS {
        return Err(err(&format!(
            "NAL unit type {} is not an SPS",
            hevc_nal_type(nal_unit)
        )));
    }
    let rbsp = remove_emulation_prevention(nal_unit.get(2..).unwrap_or(&[]));
    let mut r = BitReader::new(&rbsp);
    let short = || err("truncated");
    r.skip(4).ok_or_else(short)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3).ok_or_else(short)? as usize;
    r.skip(1).ok_or_else(short)?; // sps_temporal_id_nesting_flag
                                  // profile_tier_level(1, max_sub_layers_minus1), §7.3.3
    r.skip(3).ok_or_else(short)?; // profile space, tier
    let profile_idc = r.bits(5).ok_or_else(short)? as u8;
    r.skip(32 + 48).ok_or_else(short)?; // compatibility flags, 48 constraint/reserved bits
    let level_idc = r.bits(8).ok_or_else(short)? as u8;
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 {
        sub_profile[i] = r.bit().ok_or_else(short)?;
        sub_level[i] = r.bit().ok_or_else(short)?;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1)).ok_or_else(short)?;
    }
    for i in 0..max_sub_layers_minus1 {
        if sub_profile[i] {
            r.skip(88).ok_or_else(short)?;
        }
        if sub_level[i] {
            r.skip(8).ok_or_else(short)?;
        }
    }
    r.ue().ok_or_else(short)?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue().ok_or_else(short)?;
    if chroma_format_idc > 3 {
        return Err(err(&format!("chroma_format_idc {chroma_format_idc}")));
    }
    let separate_planes = chroma_format_idc == 3 && r.bit().ok_or_else(short)?;
    let pic_width = r.ue().ok_or_else(short)?;
    let pic_height = r.ue().ok_or_else(short)?;
    let (mut crop_w, mut crop_h) = (0u64, 0u64);
    if r.bit().ok_or_else(short)? {
        let (left, right, top, bottom) = (
            r.ue().ok_or_else(short)?,
            r.ue().ok_or_else(short)?,
            r.ue().ok_or_else(short)?,
            r.ue().ok_or_else(short)?,
        );
        // Table 6-1: SubWidthC/SubHeightC (1 for monochrome, 4:4:4 and separate planes).
        let (sub_w, sub_h) = match (chroma_format_idc, separate_planes) {
            (1, _) => (2, 2),
            (2, _) => (2, 1),
            _ => (1, 1),
        };
        crop_w = sub_w * (u64::from(left) + u64::from(right));
        crop_h = sub_h * (u64::from(top) + u64::from(bottom));
    }
    let width = u64::from(pic_width)
        .checked_sub(crop_w)
        .filter(|&w| w > 0)
        .ok_or_else(|| err("conformance window wider than the picture"))?;
    let height = u64::from(pic_height)
        .checked_sub(crop_h)
        .filter(|&h| h > 0)
        .ok_or_else(|| err("conformance window taller than the picture"))?;
    let bit_depth_luma = r.ue().ok_or_else(short)? + 8;
    if width > 16_888 || height > 16_888 || bit_depth_luma > 16 {
        return Err(err(&format!(
            "implausible {width}x{height} at {bit_depth_luma} bits"
        )));
    }
    Ok(HevcSpsInfo {
        profile_idc,
        level_idc,
        chroma_format_idc,
        width: width as u32,
        height: height as u32,
        bit_depth_luma,
    })
}

/// True when a length-prefixed HEVC sample holds an IRAP picture (BLA, IDR or CRA: NAL unit
/// types 16..=23), i.e. a point where decoding can start.
pub fn hevc_sample_is_irap(sample: &[u8], length_size: u8) -> Result<bool, MediaError> {
    Ok(super::split_avcc(sample, length_size)?
        .iter()
        .any(|u| (nal::IRAP_FIRST..=nal::IRAP_LAST).contains(&hevc_nal_type(u))))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::codec::unhex;

    /// `hvcC` of `ffmpeg -f lavfi -i testsrc2=size=320x180 -c:v libx265 -tag:v hvc1` (x265
    /// 3.5), without its trailing SEI array.
    const HVCC_320X180: &str = "0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ffff01600000030090000003000003003c959409a10001002b42010101600000030090000003000003003ca00a080c1f3e595952930bc05a020000030002000003003210a2000100064401c073c189";

    #[test]
    fn libx265_main_hvcc_and_sps() {
        let cfg = parse_hevc_decoder_config(&unhex(HVCC_320X180)).unwrap();
        assert_eq!(
            (cfg.profile_space, cfg.high_tier, cfg.profile_idc),
            (0, false, 1)
        );
        assert_eq!(cfg.profile_compatibility, 0x6000_0000);
        assert_eq!(cfg.level_idc, 60);
        assert_eq!(cfg.length_size, 4);
        assert_eq!((cfg.chroma_format_idc, cfg.bit_depth_luma), (1, 8));
        let types: Vec<u8> = cfg.arrays.iter().map(|a| a.nal_type).collect();
        assert_eq!(types, [nal::VPS, nal::SPS, nal::PPS]);
        assert!(cfg.parameter_sets_complete());
        // What ffprobe reports as profile Main, level 60; Shaka Packager writes the same.
        assert_eq!(cfg.codec_string("hvc1"), "hvc1.1.6.L60.90");
        let sps = parse_hevc_sps(cfg.first_of(nal::SPS).unwrap()).unwrap();
        assert_eq!((sps.width, sps.height), (320, 180)); // coded 320x192, cropped
        assert_eq!(
            (sps.profile_idc, sps.level_idc, sps.bit_depth_luma),
            (1, 60, 8)
        );
    }

    #[test]
    fn codec_string_forms() {
        let mut cfg = parse_hevc_decoder_config(&unhex(HVCC_320X180)).unwrap();
        // ISO/IEC 14496-15 Annex E examples: Main, level 3.1, constraint byte B0.
        cfg.level_idc = 93;
        cfg.constraint_flags = [0xb0, 0, 0, 0, 0, 0];
        assert_eq!(cfg.codec_string("hvc1"), "hvc1.1.6.L93.B0");
        // Main 10 High tier level 5.1, no constraint bytes at all.
        cfg.profile_idc = 2;
        cfg.profile_compatibility = 0x2000_0000;
        cfg.high_tier = true;
        cfg.level_idc = 153;
        cfg.constraint_flags = [0; 6];
        assert_eq!(cfg.codec_string("hev1"), "hev1.2.4.H153");
        // A non-zero later byte keeps the zero bytes before it.
        cfg.profile_space = 1;
        cfg.constraint_flags = [0x90, 0, 0x01, 0, 0, 0];
        assert_eq!(cfg.codec_string("hvc1"), "hvc1.A2.4.H153.90.00.01");
    }

    #[test]
    fn corrupt_records_are_errors() {
        let good = unhex(HVCC_320X180);
        for cut in [0, 10, 22, 25, 40, good.len() - 1] {
            assert!(
                parse_hevc_decoder_config(&good[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut v0 = good.clone();
        v0[0] = 0;
        assert!(parse_hevc_decoder_config(&v0).is_err());
        assert!(parse_hevc_sps(&[0x40, 0x01, 0x0c]).is_err()); // a VPS
        assert!(parse_hevc_sps(&[0x42, 0x01, 0x01]).is_err()); // truncated SPS
    }

    /// Every truncation and every single-bit flip of a real record (and of its SPS) parses or
    /// fails cleanly: no panic, no overflow (debug builds check), no runaway allocation.
    #[test]
    fn every_truncation_and_bit_flip_is_handled() {
        let good = unhex(HVCC_320X180);
        let sps = parse_hevc_decoder_config(&good)
            .unwrap()
            .first_of(nal::SPS)
            .unwrap()
            .to_vec();
        for data in [&good, &sps] {
            for cut in 0..data.len() {
                let _ = parse_hevc_decoder_config(&data[..cut]);
                let _ = parse_hevc_sps(&data[..cut]);
            }
            for bit in 0..data.len() * 8 {
                let mut d = data.clone();
                d[bit / 8] ^= 0x80 >> (bit % 8);
                if let Ok(cfg) = parse_hevc_decoder_config(&d) {
                    let _ = cfg.codec_string("hvc1");
                    cfg.arrays
                        .iter()
                        .flat_map(|a| &a.units)
                        .for_each(|u| drop(parse_hevc_sps(u)));
                }
                let _ = parse_hevc_sps(&d);
            }
        }
    }

    #[test]
    fn irap_detection() {
        // 4-byte length + CRA (type 21) header; 4-byte length + TRAIL_R (type 1).
        assert!(hevc_sample_is_irap(&[0, 0, 0, 3, 21 << 1, 1, 0xaf], 4).unwrap());
        assert!(!hevc_sample_is_irap(&[0, 0, 0, 3, 1 << 1, 1, 0xaf], 4).unwrap());
        assert!(hevc_sample_is_irap(&[0, 0, 0, 9], 4).is_err());
    }
}
