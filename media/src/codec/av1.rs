//! AV1: the codec configuration record (`av1C`, AV1-ISOBMFF §2.3.3), the sequence header OBU
//! it carries (AV1 spec §5.5), and the codecs string of AV1-ISOBMFF §5
//! (`av01.0.04M.08`, with the colour fields only when they are not the defaults).
//!
//! The packager keeps the source's `av1C` byte for byte; it is parsed to check it against the
//! sequence header, to name the codec, and for the picture size. Hand-written like
//! [`super::h264`]: the sequence header is a short fixed walk. Untrusted input: the `demux`
//! fuzz target reaches these parsers (its seeds hold an AV1 MP4), and the unit tests feed every
//! truncation and bit flip of a real record through them.

use super::{BitReader, MediaError};

/// OBU types used here (AV1 spec §6.2.2).
pub mod obu {
    /// Sequence header OBU.
    pub const SEQUENCE_HEADER: u8 = 1;
    /// Temporal delimiter OBU.
    pub const TEMPORAL_DELIMITER: u8 = 2;
}

/// What the packager needs from an AV1 sequence header (AV1 spec §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1SequenceHeader {
    /// `seq_profile` (0 Main, 1 High, 2 Professional).
    pub profile: u8,
    /// `seq_level_idx[0]` (level X.Y is (X−2)×4+Y: 4 is level 3.0, 8 is 4.0).
    pub level_idx: u8,
    /// `seq_tier[0]` (false: Main tier `M`, true: High tier `H`).
    pub high_tier: bool,
    /// Bit depth (8, 10 or 12).
    pub bit_depth: u8,
    /// `mono_chrome`.
    pub monochrome: bool,
    /// `subsampling_x`.
    pub subsampling_x: bool,
    /// `subsampling_y`.
    pub subsampling_y: bool,
    /// `chroma_sample_position` (0 unknown, 1 vertical, 2 colocated).
    pub chroma_sample_position: u8,
    /// `color_description_present_flag`.
    pub color_description_present: bool,
    /// `color_primaries` (2, unspecified, without a colour description).
    pub color_primaries: u8,
    /// `transfer_characteristics` (2 without a colour description).
    pub transfer_characteristics: u8,
    /// `matrix_coefficients` (2 without a colour description).
    pub matrix_coefficients: u8,
    /// `color_range` (true: full range).
    pub full_range: bool,
    /// `max_frame_width_minus_1 + 1`.
    pub max_width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub max_height: u32,
}

impl Av1SequenceHeader {
    /// The codecs string of AV1-ISOBMFF §5: `av01.P.LLT.DD`, then
    /// `.M.CCC.cp.tc.mc.F` (all or none) only when one of those differs from its default
    /// (mono 0, subsampling `110`, BT.709 `01.01.01`, studio range 0). A sequence header
    /// without a colour description leaves the colour unspecified: that signals nothing beyond
    /// the defaults, so the short form is written, as MP4Box and Shaka Packager do; if it
    /// still has to be long (4:4:4, full range), the coded values (2 = unspecified) are given.
    pub fn codec_string(&self) -> String {
        let mut s = format!(
            "av01.{}.{:02}{}.{:02}",
            self.profile,
            self.level_idx,
            if self.high_tier { 'H' } else { 'M' },
            self.bit_depth
        );
        let csp = if self.subsampling_x && self.subsampling_y {
            self.chroma_sample_position
        } else {
            0
        };
        let default_colour = !self.color_description_present
            || (
                self.color_primaries,
                self.transfer_characteristics,
                self.matrix_coefficients,
            ) == (1, 1, 1);
        let defaults = !self.monochrome
            && self.subsampling_x
            && self.subsampling_y
            && csp == 0
            && default_colour
            && !self.full_range;
        if !defaults {
            s.push_str(&format!(
                ".{}.{}{}{}.{:02}.{:02}.{:02}.{}",
                u8::from(self.monochrome),
                u8::from(self.subsampling_x),
                u8::from(self.subsampling_y),
                csp,
                self.color_primaries,
                self.transfer_characteristics,
                self.matrix_coefficients,
                u8::from(self.full_range)
            ));
        }
        s
    }
}

/// A parsed `av1C` (AV1CodecConfigurationRecord, AV1-ISOBMFF §2.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// The record's own fields, as a sequence header with only those filled in
    /// (colour and size unknown) when `configOBUs` holds no sequence header.
    pub record: Av1SequenceHeader,
    /// The sequence header OBU from `configOBUs`, when present.
    pub sequence_header: Option<Av1SequenceHeader>,
}

impl Av1Config {
    /// The best description: the sequence header when present, else the record's fields.
    pub fn header(&self) -> &Av1SequenceHeader {
        self.sequence_header.as_ref().unwrap_or(&self.record)
    }
}

/// Parses an `av1C` payload: the 4 fixed bytes and the sequence header OBU in `configOBUs`,
/// checking that the two agree (§2.3.4: the record's fields shall match the sequence header).
pub fn parse_av1_config(data: &[u8]) -> Result<Av1Config, MediaError> {
    let err = |m: String| MediaError::InvalidAv1(format!("av1C: {m}"));
    if data.len() < 4 {
        return Err(err(format!("{} bytes, need at least 4", data.len())));
    }
    if data[0] != 0x81 {
        return Err(err(format!(
            "marker/version byte 0x{:02x}, expected 0x81",
            data[0]
        )));
    }
    let (b1, b2) = (data[1], data[2]);
    let high_bitdepth = b2 & 0x40 != 0;
    let twelve_bit = b2 & 0x20 != 0;
    let record = Av1SequenceHeader {
        profile: b1 >> 5,
        level_idx: b1 & 0x1f,
        high_tier: b2 & 0x80 != 0,
        bit_depth: match (high_bitdepth, twelve_bit) {
            (true, true) => 12,
            (true, false) => 10,
            _ => 8,
        },
        monochrome: b2 & 0x10 != 0,
        subsampling_x: b2 & 0x08 != 0,
        subsampling_y: b2 & 0x04 != 0,
        chroma_sample_position: b2 & 0x03,
        color_description_present: false,
        color_primaries: 2,
        transfer_characteristics: 2,
        matrix_coefficients: 2,
        full_range: false,
        max_width: 0,
        max_height: 0,
    };
    let mut sequence_header = None;
    let mut rest = &data[4..];
    while !rest.is_empty() {
        let (obu_type, payload, next) = split_obu(rest)?;
        if obu_type == obu::SEQUENCE_HEADER {
            let sh = parse_sequence_header(payload)?;
            let fields = |h: &Av1SequenceHeader| {
                (
                    h.profile,
                    h.level_idx,
                    h.high_tier,
                    h.bit_depth,
                    h.monochrome,
                    h.subsampling_x,
                    h.subsampling_y,
                )
            };
            if fields(&sh) != fields(&record) {
                return Err(err(format!(
                    "record fields {:?} disagree with the sequence header {:?}",
                    fields(&record),
                    fields(&sh)
                )));
            }
            sequence_header = Some(sh);
            break;
        }
        rest = next;
    }
    Ok(Av1Config {
        record,
        sequence_header,
    })
}

/// `leb128()` (AV1 spec §4.10.5): at most 8 bytes, value < 2^32.
fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..8 {
        let b = *data.get(i)?;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (v <= u64::from(u32::MAX)).then_some((v, i + 1));
        }
    }
    None
}

/// Splits the first OBU off `data`: (obu_type, payload, rest). An OBU without a size field
/// runs to the end of `data` (AV1 spec §5.3).
pub fn split_obu(data: &[u8]) -> Result<(u8, &[u8], &[u8]), MediaError> {
    let err = |m: &str| MediaError::InvalidAv1(format!("OBU: {m}"));
    let h = *data.first().ok_or_else(|| err("empty"))?;
    if h & 0x80 != 0 {
        return Err(err("forbidden bit set"));
    }
    let obu_type = (h >> 3) & 0x0f;
    let mut p = 1 + usize::from(h & 0x04 != 0); // extension header
    if p > data.len() {
        return Err(err("truncated header"));
    }
    let size = if h & 0x02 != 0 {
        let (v, n) = leb128(&data[p..]).ok_or_else(|| err("bad obu_size"))?;
        p += n;
        v as usize
    } else {
        data.len() - p
    };
    let payload = data
        .get(p..p.saturating_add(size))
        .ok_or_else(|| err("payload runs past the end"))?;
    Ok((obu_type, payload, &data[p + size..]))
}

/// Parses a sequence header OBU payload (AV1 spec §5.5.1, through `color_config()`).
pub fn parse_sequence_header(payload: &[u8]) -> Result<Av1SequenceHeader, MediaError> {
    let short = || MediaError::InvalidAv1("sequence header truncated".into());
    let mut r = BitReader::new(payload);
    let profile = r.bits(3).ok_or_else(short)? as u8;
    if profile > 2 {
        return Err(MediaError::InvalidAv1(format!("seq_profile {profile}")));
    }
    r.skip(1).ok_or_else(short)?; // still_picture
    let reduced = r.bit().ok_or_else(short)?;
    let (level_idx, high_tier);
    if reduced {
        level_idx = r.bits(5).ok_or_else(short)? as u8;
        high_tier = false;
    } else {
        let timing_info = r.bit().ok_or_else(short)?;
        let mut decoder_model_info = false;
        let mut buffer_delay_len = 0;
        if timing_info {
            r.skip(64).ok_or_else(short)?; // num_units_in_display_tick, time_scale
            if r.bit().ok_or_else(short)? {
                // equal_picture_interval: num_ticks_per_picture_minus_1 as uvlc()
                let mut zeros = 0;
                while !r.bit().ok_or_else(short)? {
                    zeros += 1;
                    if zeros >= 32 {
                        return Err(MediaError::InvalidAv1("bad uvlc".into()));
                    }
                }
                r.skip(zeros).ok_or_else(short)?;
            }
            decoder_model_info = r.bit().ok_or_else(short)?;
            if decoder_model_info {
                buffer_delay_len = r.bits(5).ok_or_else(short)? as usize + 1;
                r.skip(32 + 5 + 5).ok_or_else(short)?;
            }
        }
        let initial_display_delay = r.bit().ok_or_else(short)?;
        let op_count = r.bits(5).ok_or_else(short)? + 1;
        let (mut level0, mut tier0) = (0u8, false);
        for i in 0..op_count {
            r.skip(12).ok_or_else(short)?; // operating_point_idc
            let level = r.bits(5).ok_or_else(short)? as u8;
            let tier = level > 7 && r.bit().ok_or_else(short)?;
            if i == 0 {
                (level0, tier0) = (level, tier);
            }
            if decoder_model_info && r.bit().ok_or_else(short)? {
                r.skip(2 * buffer_delay_len + 1).ok_or_else(short)?;
            }
            if initial_display_delay && r.bit().ok_or_else(short)? {
                r.skip(4).ok_or_else(short)?;
            }
        }
        level_idx = level0;
        high_tier = tier0;
    }
    let wbits = r.bits(4).ok_or_else(short)? + 1;
    let hbits = r.bits(4).ok_or_else(short)? + 1;
    let max_width = r.bits(wbits).ok_or_else(short)?.saturating_add(1);
    let max_height = r.bits(hbits).ok_or_else(short)?.saturating_add(1);
    if !reduced && r.bit().ok_or_else(short)? {
        r.skip(4 + 3).ok_or_else(short)?; // frame id lengths
    }
    r.skip(3).ok_or_else(short)?; // 128x128 superblock, filter intra, intra edge filter
    if !reduced {
        r.skip(4).ok_or_else(short)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.bit().ok_or_else(short)?;
        if order_hint {
            r.skip(2).ok_or_else(short)?; // jnt_comp, ref_frame_mvs
        }
        let force_screen_content_tools = if r.bit().ok_or_else(short)? {
            2 // SELECT_SCREEN_CONTENT_TOOLS
        } else {
            r.bits(1).ok_or_else(short)?
        };
        if force_screen_content_tools > 0 && !r.bit().ok_or_else(short)? {
            r.skip(1).ok_or_else(short)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip(3).ok_or_else(short)?; // order_hint_bits_minus_1
        }
    }
    r.skip(3).ok_or_else(short)?; // superres, cdef, restoration

    // color_config(), §5.5.2
    let high_bitdepth = r.bit().ok_or_else(short)?;
    let bit_depth = if profile == 2 && high_bitdepth {
        if r.bit().ok_or_else(short)? {
            12
        } else {
            10
        }
    } else if high_bitdepth {
        10
    } else {
        8
    };
    let monochrome = profile != 1 && r.bit().ok_or_else(short)?;
    let color_description_present = r.bit().ok_or_else(short)?;
    let (cp, tc, mc) = if color_description_present {
        (
            r.bits(8).ok_or_else(short)? as u8,
            r.bits(8).ok_or_else(short)? as u8,
            r.bits(8).ok_or_else(short)? as u8,
        )
    } else {
        (2, 2, 2)
    };
    let (full_range, ssx, ssy, csp);
    if monochrome {
        full_range = r.bit().ok_or_else(short)?;
        (ssx, ssy, csp) = (true, true, 0);
    } else if (cp, tc, mc) == (1, 13, 0) {
        // BT.709 primaries, sRGB transfer, identity matrix: 4:4:4 full range by definition.
        full_range = true;
        (ssx, ssy, csp) = (false, false, 0);
    } else {
        full_range = r.bit().ok_or_else(short)?;
        (ssx, ssy) = match profile {
            0 => (true, true),
            1 => (false, false),
            _ if bit_depth == 12 => {
                let x = r.bit().ok_or_else(short)?;
                (x, x && r.bit().ok_or_else(short)?)
            }
            _ => (true, false),
        };
        csp = if ssx && ssy {
            r.bits(2).ok_or_else(short)? as u8
        } else {
            0
        };
    }
    Ok(Av1SequenceHeader {
        profile,
        level_idx,
        high_tier,
        bit_depth,
        monochrome,
        subsampling_x: ssx,
        subsampling_y: ssy,
        chroma_sample_position: csp,
        color_description_present,
        color_primaries: cp,
        transfer_characteristics: tc,
        matrix_coefficients: mc,
        full_range,
        max_width,
        max_height,
    })
}

/// True when an AV1 sample (a temporal unit of OBUs) starts with a sequence header: in an
/// ISOBMFF track every sync sample (key frame) must (AV1-ISOBMFF §2.4).
pub fn av1_sample_has_sequence_header(sample: &[u8]) -> Result<bool, MediaError> {
    let mut rest = sample;
    while !rest.is_empty() {
        let (t, _, next) = split_obu(rest)?;
        match t {
            obu::SEQUENCE_HEADER => return Ok(true),
            obu::TEMPORAL_DELIMITER => {}
            _ => return Ok(false),
        }
        rest = next;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::codec::unhex;

    #[test]
    fn svtav1_320x180_config() {
        // av1C of `ffmpeg -f lavfi -i testsrc2=size=320x180 -c:v libsvtav1` (SVT-AV1 1.4.1).
        let cfg = parse_av1_config(&unhex("81000c000a0b000000043cfecc02f80040")).unwrap();
        let sh = cfg.sequence_header.unwrap();
        assert_eq!(
            (sh.profile, sh.level_idx, sh.high_tier, sh.bit_depth),
            (0, 0, false, 8)
        );
        assert_eq!((sh.max_width, sh.max_height), (320, 180));
        assert!(!sh.color_description_present && !sh.full_range && !sh.monochrome);
        assert_eq!(sh.codec_string(), "av01.0.00M.08");
        assert_eq!(cfg.header().codec_string(), cfg.record.codec_string());
    }

    fn header() -> Av1SequenceHeader {
        Av1SequenceHeader {
            profile: 0,
            level_idx: 4,
            high_tier: false,
            bit_depth: 8,
            monochrome: false,
            subsampling_x: true,
            subsampling_y: true,
            chroma_sample_position: 0,
            color_description_present: true,
            color_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
            full_range: false,
            max_width: 1280,
            max_height: 720,
        }
    }

    #[test]
    fn codec_string_forms() {
        // AV1-ISOBMFF §5 examples.
        assert_eq!(header().codec_string(), "av01.0.04M.08");
        let hdr10 = Av1SequenceHeader {
            level_idx: 13,
            bit_depth: 10,
            color_primaries: 9,
            transfer_characteristics: 16,
            matrix_coefficients: 9,
            ..header()
        };
        assert_eq!(hdr10.codec_string(), "av01.0.13M.10.0.110.09.16.09.0");
        let full = Av1SequenceHeader {
            full_range: true,
            ..header()
        };
        assert_eq!(full.codec_string(), "av01.0.04M.08.0.110.01.01.01.1");
        let high = Av1SequenceHeader {
            profile: 1,
            level_idx: 9,
            high_tier: true,
            subsampling_x: false,
            subsampling_y: false,
            color_description_present: false,
            color_primaries: 2,
            transfer_characteristics: 2,
            matrix_coefficients: 2,
            ..header()
        };
        assert_eq!(high.codec_string(), "av01.1.09H.08.0.000.02.02.02.0");
    }

    #[test]
    fn corrupt_configs_are_errors() {
        let good = unhex("81000c000a0b000000043cfecc02f80040");
        assert!(parse_av1_config(&good[..3]).is_err());
        assert!(parse_av1_config(&good[..10]).is_err()); // OBU cut
        let mut bad = good.clone();
        bad[0] = 0x01;
        assert!(parse_av1_config(&bad).is_err());
        let mut disagree = good.clone();
        disagree[1] = 0x08; // level 8 in the record, 0 in the sequence header
        assert!(parse_av1_config(&disagree).is_err());
        // No configOBUs: the record's fields alone.
        let bare = parse_av1_config(&good[..4]).unwrap();
        assert!(bare.sequence_header.is_none());
        assert_eq!(bare.header().codec_string(), "av01.0.00M.08");
    }

    /// Every truncation and every single-bit flip of a real `av1C` parses or fails cleanly.
    #[test]
    fn every_truncation_and_bit_flip_is_handled() {
        let good = unhex("81000c000a0b000000043cfecc02f80040");
        for cut in 0..good.len() {
            let _ = parse_av1_config(&good[..cut]);
            let _ = parse_sequence_header(&good[6..6 + cut.min(good.len() - 6)]);
        }
        for bit in 0..good.len() * 8 {
            let mut d = good.clone();
            d[bit / 8] ^= 0x80 >> (bit % 8);
            if let Ok(cfg) = parse_av1_config(&d) {
                let _ = cfg.header().codec_string();
            }
            let _ = parse_sequence_header(&d[6..]);
            let _ = av1_sample_has_sequence_header(&d[4..]);
        }
    }

    #[test]
    fn sample_sequence_header_detection() {
        let seq = unhex("0a0b000000043cfecc02f80040");
        let mut key = vec![0x12, 0x00]; // temporal delimiter, size 0
        key.extend(&seq);
        assert!(av1_sample_has_sequence_header(&key).unwrap());
        assert!(!av1_sample_has_sequence_header(&[0x32, 0x01, 0x00]).unwrap()); // frame OBU
    }
}
