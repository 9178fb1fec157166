//! H.264: NAL unit types, SPS parsing (size, profile, level, VUI), the RFC 6381 `avc1.PPCCLL`
//! codecs string, AVC decoder configuration records, and Annex-B ↔ AVCC conversion.

use super::{remove_emulation_prevention, BitReader, MediaError};

/// H.264 NAL unit types used here.
pub mod nal {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// The `nal_unit_type` of a NAL unit (0 for an empty slice).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// VUI timing information of an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsTiming {
    /// `num_units_in_tick`.
    pub num_units_in_tick: u32,
    /// `time_scale`.
    pub time_scale: u32,
    /// `fixed_frame_rate_flag`.
    pub fixed_frame_rate: bool,
}

/// What the packager needs from an H.264 sequence parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 baseline, 77 main, 100 high, ...).
    pub profile_idc: u8,
    /// The constraint_set flags byte (constraint_set0..5 + reserved bits), as coded.
    pub constraint_flags: u8,
    /// `level_idc` (e.g. 30 for level 3.0).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc` (1 = 4:2:0 unless signalled otherwise).
    pub chroma_format_idc: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
    /// Chroma bit depth.
    pub bit_depth_chroma: u32,
    /// Display width in pixels, after frame cropping.
    pub width: u32,
    /// Display height in pixels, after frame cropping.
    pub height: u32,
    /// `frame_mbs_only_flag`.
    pub frame_mbs_only: bool,
    /// Sample aspect ratio from the VUI, when signalled.
    pub sample_aspect_ratio: Option<(u16, u16)>,
    /// VUI timing info, when signalled.
    pub timing: Option<SpsTiming>,
}

impl SpsInfo {
    /// Frame rate from the VUI timing info (`time_scale / (2 * num_units_in_tick)`), if present.
    pub fn vui_frame_rate(&self) -> Option<f64> {
        let t = self.timing?;
        (t.num_units_in_tick > 0).then(|| t.time_scale as f64 / (2.0 * t.num_units_in_tick as f64))
    }
}

fn sps_err(what: &str) -> MediaError {
    MediaError::InvalidAvc(format!("SPS truncated or malformed ({what})"))
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Option<()> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            // In i64: a hostile delta_scale near ±2^31 must not overflow (same result otherwise).
            next = ((i64::from(last) + i64::from(delta) + 256) % 256) as i32;
        }
        last = if next == 0 { last } else { next };
    }
    Some(())
}

/// Parses an SPS NAL unit (starting with its one-byte NAL header, type 7; no start code).
pub fn parse_sps(nal_unit: &[u8]) -> Result<SpsInfo, MediaError> {
    if nal_unit.len() < 4 {
        return Err(MediaError::InvalidAvc(format!(
            "SPS too short ({} bytes)",
            nal_unit.len()
        )));
    }
    if nal_type(nal_unit) != nal::SPS {
        return Err(MediaError::InvalidAvc(format!(
            "expected an SPS NAL unit (type 7), got type {}",
            nal_type(nal_unit)
        )));
    }
    let rbsp = remove_emulation_prevention(&nal_unit[1..]);
    let mut r = BitReader::new(&rbsp);
    let e = |what| move || sps_err(what);
    let profile_idc = r.bits(8).ok_or_else(e("profile"))? as u8;
    let constraint_flags = r.bits(8).ok_or_else(e("constraints"))? as u8;
    let level_idc = r.bits(8).ok_or_else(e("level"))? as u8;
    let sps_id = r.ue().ok_or_else(e("sps id"))?;
    let mut chroma_format_idc = 1;
    let mut bit_depth_luma = 8;
    let mut bit_depth_chroma = 8;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue().ok_or_else(e("chroma_format_idc"))?;
        if chroma_format_idc > 3 {
            return Err(MediaError::InvalidAvc(format!(
                "chroma_format_idc {chroma_format_idc}"
            )));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit().ok_or_else(e("separate_colour_plane"))?;
        }
        let mut bit_depth = || r.ue().and_then(|minus8| minus8.checked_add(8));
        bit_depth_luma = bit_depth().ok_or_else(e("bit depth"))?;
        bit_depth_chroma = bit_depth().ok_or_else(e("bit depth"))?;
        r.bit().ok_or_else(e("qpprime"))?;
        let scaling_matrix_present = r.bit().ok_or_else(e("scaling matrix"))?;
        if scaling_matrix_present {
            let lists = if chroma_format_idc != 3 { 8 } else { 12 };
            for i in 0..lists {
                if r.bit().ok_or_else(e("scaling list flag"))? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })
                        .ok_or_else(e("scaling list"))?;
                }
            }
        }
    }
    r.ue().ok_or_else(e("log2_max_frame_num"))?;
    let poc_type = r.ue().ok_or_else(e("pic_order_cnt_type"))?;
    match poc_type {
        0 => {
            r.ue().ok_or_else(e("log2_max_poc_lsb"))?;
        }
        1 => {
            r.bit().ok_or_else(e("delta_pic_order_always_zero"))?;
            r.se().ok_or_else(e("offset_for_non_ref_pic"))?;
            r.se().ok_or_else(e("offset_for_top_to_bottom"))?;
            let n = r.ue().ok_or_else(e("num_ref_frames_in_poc_cycle"))?;
            if n > 255 {
                return Err(sps_err("num_ref_frames_in_pic_order_cnt_cycle > 255"));
            }
            for _ in 0..n {
                r.se().ok_or_else(e("offset_for_ref_frame"))?;
            }
        }
        2 => {}
        other => {
            return Err(MediaError::InvalidAvc(format!(
                "pic_order_cnt_type {other}"
            )))
        }
    }
    r.ue().ok_or_else(e("max_num_ref_frames"))?;
    r.bit().ok_or_else(e("gaps"))?;
    let width_mbs = r.ue().ok_or_else(e("pic_width"))? as u64 + 1;
    let height_map_units = r.ue().ok_or_else(e("pic_height"))? as u64 + 1;
    let frame_mbs_only = r.bit().ok_or_else(e("frame_mbs_only"))?;
    if !frame_mbs_only {
        r.bit().ok_or_else(e("mb_adaptive"))?;
    }
    r.bit().ok_or_else(e("direct_8x8"))?;
    let mut width = width_mbs * 16;
    let mut height = height_map_units * 16 * if frame_mbs_only { 1 } else { 2 };
    if r.bit().ok_or_else(e("frame_cropping_flag"))? {
        let left = r.ue().ok_or_else(e("crop"))? as u64;
        let right = r.ue().ok_or_else(e("crop"))? as u64;
        let top = r.ue().ok_or_else(e("crop"))? as u64;
        let bottom = r.ue().ok_or_else(e("crop"))? as u64;
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_x, crop_y) = match chroma_array_type {
            0 => (1, 2 - frame_mbs_only as u64),
            1 => (2, 2 * (2 - frame_mbs_only as u64)),
            2 => (2, 2 - frame_mbs_only as u64),
            _ => (1, 2 - frame_mbs_only as u64),
        };
        let cx = crop_x * (left + right);
        let cy = crop_y * (top + bottom);
        if cx >= width || cy >= height {
            return Err(MediaError::InvalidAvc(
                "frame cropping larger than the picture".into(),
            ));
        }
        width -= cx;
        height -= cy;
    }
    let mut sample_aspect_ratio = None;
    let mut timing = None;
    // VUI is optional and sometimes cut short by muxers; parse what is there, leniently.
    if r.bit() == Some(true) {
        (|| -> Option<()> {
            if r.bit()? {
                let idc = r.bits(8)?;
                const SAR: [(u16, u16); 17] = [
                    (0, 0),
                    (1, 1),
                    (12, 11),
                    (10, 11),
                    (16, 11),
                    (40, 33),
                    (24, 11),
                    (20, 11),
                    (32, 11),
                    (80, 33),
                    (18, 11),
                    (15, 11),
                    (64, 33),
                    (160, 99),
                    (4, 3),
                    (3, 2),
                    (2, 1),
                ];
                if idc == 255 {
                    let w = r.bits(16)? as u16;
                    let h = r.bits(16)? as u16;
                    if w > 0 && h > 0 {
                        sample_aspect_ratio = Some((w, h));
                    }
                } else if (1..17).contains(&idc) {
                    sample_aspect_ratio = Some(SAR[idc as usize]);
                }
            }
            if r.bit()? {
                r.bit()?; // overscan_appropriate
            }
            if r.bit()? {
                r.skip(3 + 1)?; // video_format, full_range
                if r.bit()? {
                    r.skip(24)?; // colour description
                }
            }
            if r.bit()? {
                r.ue()?;
                r.ue()?;
            }
            if r.bit()? {
                let num_units_in_tick = r.bits(32)?;
                let time_scale = r.bits(32)?;
                let fixed_frame_rate = r.bit()?;
                timing = Some(SpsTiming {
                    num_units_in_tick,
                    time_scale,
                    fixed_frame_rate,
                });
            }
            Some(())
        })();
    }
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        sps_id,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        width: u32::try_from(width).map_err(|_| sps_err("width"))?,
        height: u32::try_from(height).map_err(|_| sps_err("height"))?,
        frame_mbs_only,
        sample_aspect_ratio,
        timing,
    })
}

/// RFC 6381 codecs string of an H.264 stream from its SPS NAL unit: `avc1.PPCCLL`
/// (profile_idc, constraint flags, level_idc as uppercase hex), e.g. `avc1.42C01E`.
pub fn avc_codec_string(sps_nal: &[u8]) -> Result<String, MediaError> {
    let info = parse_sps(sps_nal)?;
    Ok(format!(
        "avc1.{:02X}{:02X}{:02X}",
        info.profile_idc, info.constraint_flags, info.level_idc
    ))
}

/// A parsed `AVCDecoderConfigurationRecord` (the payload of an `avcC` box).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `AVCProfileIndication`.
    pub profile: u8,
    /// `profile_compatibility`.
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// Size in bytes of the NAL unit length prefix in samples (1, 2 or 4).
    pub length_size: u8,
    /// Sequence parameter sets.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets.
    pub pps: Vec<Vec<u8>>,
}

/// Parses an `AVCDecoderConfigurationRecord`.
pub fn parse_avc_decoder_config(data: &[u8]) -> Result<AvcDecoderConfig, MediaError> {
    let err = |w: &str| MediaError::InvalidAvc(format!("avcC: {w}"));
    if data.len() < 7 {
        return Err(err("too short"));
    }
    if data[0] != 1 {
        return Err(err(&format!("configurationVersion {}", data[0])));
    }
    let length_size = (data[4] & 3) + 1;
    if length_size == 3 {
        return Err(err("lengthSizeMinusOne 2 is invalid"));
    }
    let mut pos = 5;
    let read_sets = |count: usize, pos: &mut usize| -> Result<Vec<Vec<u8>>, MediaError> {
        let mut sets = Vec::with_capacity(count);
        for _ in 0..count {
            let len = data.get(*pos..*pos + 2).ok_or_else(|| err("truncated"))?;
            let len = u16::from_be_bytes([len[0], len[1]]) as usize;
            *pos += 2;
            let set = data.get(*pos..*pos + len).ok_or_else(|| err("truncated"))?;
            sets.push(set.to_vec());
            *pos += len;
        }
        Ok(sets)
    };
    let n_sps = (data[pos] & 0x1f) as usize;
    pos += 1;
    let sps = read_sets(n_sps, &mut pos)?;
    let n_pps = *data.get(pos).ok_or_else(|| err("truncated"))? as usize;
    pos += 1;
    let pps = read_sets(n_pps, &mut pos)?;
    Ok(AvcDecoderConfig {
        profile: data[1],
        compatibility: data[2],
        level: data[3],
        length_size,
        sps,
        pps,
    })
}

/// Builds an `AVCDecoderConfigurationRecord` (4-byte NAL lengths) from raw SPS/PPS NAL units;
/// profile, compatibility and level come from the first SPS. High profiles get the
/// chroma/bit-depth extension fields.
pub fn build_avc_decoder_config(sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Result<Vec<u8>, MediaError> {
    let first = sps
        .first()
        .ok_or_else(|| MediaError::InvalidAvc("no SPS".into()))?;
    if pps.is_empty() {
        return Err(MediaError::InvalidAvc("no PPS".into()));
    }
    if sps.len() > 31 || pps.len() > 255 {
        return Err(MediaError::InvalidAvc("too many parameter sets".into()));
    }
    let info = parse_sps(first)?;
    let mut out = vec![
        1,
        info.profile_idc,
        info.constraint_flags,
        info.level_idc,
        0xfc | 3,
    ];
    out.push(0xe0 | sps.len() as u8);
    for set in sps {
        let len =
            u16::try_from(set.len()).map_err(|_| MediaError::InvalidAvc("SPS too large".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(set);
    }
    out.push(pps.len() as u8);
    for set in pps {
        let len =
            u16::try_from(set.len()).map_err(|_| MediaError::InvalidAvc("PPS too large".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(set);
    }
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        out.push(0xfc | (info.chroma_format_idc as u8 & 3));
        out.push(0xf8 | ((info.bit_depth_luma.saturating_sub(8)) as u8 & 7));
        out.push(0xf8 | ((info.bit_depth_chroma.saturating_sub(8)) as u8 & 7));
        out.push(0); // numOfSequenceParameterSetExt
    }
    Ok(out)
}

/// Splits an Annex-B byte stream (start-code delimited) into NAL units (without start codes;
/// trailing zero bytes of each unit are dropped).
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut i = 0;
    let n = data.len();
    let mut start: Option<usize> = None;
    while i + 2 < n {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                units.push(trim_trailing_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        units.push(trim_trailing_zeros(&data[s..]));
    } else if !data.is_empty() {
        // No start code at all: treat the whole buffer as one NAL unit.
        units.push(data);
    }
    units.retain(|u| !u.is_empty());
    units
}

fn trim_trailing_zeros(mut s: &[u8]) -> &[u8] {
    while let Some((&0, rest)) = s.split_last() {
        s = rest;
    }
    s
}

/// Converts an Annex-B access unit to AVCC (4-byte big-endian length prefixes).
pub fn annexb_to_avcc(data: &[u8]) -> Vec<u8> {
    nals_to_avcc(split_annexb(data))
}

/// Length-prefixes (4 bytes) each NAL unit.
pub fn nals_to_avcc<'a>(nals: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for u in nals {
        out.extend_from_slice(&(u.len() as u32).to_be_bytes());
        out.extend_from_slice(u);
    }
    out
}

/// Splits an AVCC sample (NAL units with `length_size`-byte big-endian length prefixes).
pub fn split_avcc(data: &[u8], length_size: u8) -> Result<Vec<&[u8]>, MediaError> {
    let ls = length_size as usize;
    if !matches!(ls, 1 | 2 | 4) {
        return Err(MediaError::InvalidAvc(format!("NAL length size {ls}")));
    }
    let mut units = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len_bytes = data
            .get(pos..pos + ls)
            .ok_or_else(|| MediaError::InvalidAvc("truncated NAL length prefix".into()))?;
        let len = len_bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        pos += ls;
        let unit = data
            .get(pos..pos + len)
            .ok_or_else(|| MediaError::InvalidAvc("NAL unit longer than its sample".into()))?;
        units.push(unit);
        pos += len;
    }
    Ok(units)
}

/// Converts an AVCC sample to Annex-B (4-byte start codes).
pub fn avcc_to_annexb(data: &[u8], length_size: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for u in split_avcc(data, length_size)? {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(u);
    }
    Ok(out)
}

/// Rewrites an AVCC sample with `length_size`-byte prefixes to 4-byte prefixes.
pub fn avcc_to_length4(data: &[u8], length_size: u8) -> Result<Vec<u8>, MediaError> {
    if length_size == 4 {
        split_avcc(data, 4)?; // validate
        return Ok(data.to_vec());
    }
    Ok(nals_to_avcc(split_avcc(data, length_size)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::codec::unhex;

    #[test]
    fn sps_baseline_320x240() {
        // ffmpeg -f lavfi -i testsrc -c:v libx264 -profile:v baseline -s 320x240 -pix_fmt yuv420p
        let sps = unhex("6742c00dd90141fb011000000300100000030320f142a480");
        let info = parse_sps(&sps).unwrap();
        assert_eq!(
            (info.profile_idc, info.constraint_flags, info.level_idc),
            (66, 0xc0, 13)
        );
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.vui_frame_rate(), Some(25.0));
        assert_eq!(avc_codec_string(&sps).unwrap(), "avc1.42C00D");
    }

    #[test]
    fn sps_high_1080p_cropped() {
        // ... -profile:v high -s 1920x1080: coded 1920x1088, 8 lines cropped.
        let sps = unhex("67640028acd940780227e5ffc000c00104000003000400000300c83c60c658");
        let info = parse_sps(&sps).unwrap();
        assert_eq!(
            (info.profile_idc, info.level_idc, info.chroma_format_idc),
            (100, 40, 1)
        );
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(avc_codec_string(&sps).unwrap(), "avc1.640028");
    }

    #[test]
    fn sps_main_854x480_cropped_width() {
        // ... -profile:v main -s 854x480: coded 864 wide, 10 columns cropped.
        let sps = unhex("674d401eeca06c1ef37ff80a000d58800000030080000019078b16cb");
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.width, info.height), (854, 480));
        assert_eq!(avc_codec_string(&sps).unwrap(), "avc1.4D401E");
    }

    #[test]
    fn sps_high444() {
        // ... -profile:v high444 -pix_fmt yuv444p -s 176x144
        let sps = unhex("67f4000b919b28589d81080000030008000003019078a14cb0");
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.profile_idc, info.chroma_format_idc), (244, 3));
        assert_eq!((info.width, info.height), (176, 144));
        assert_eq!(avc_codec_string(&sps).unwrap(), "avc1.F4000B");
        let rec = build_avc_decoder_config(
            std::slice::from_ref(&sps),
            &[vec![0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44]],
        )
        .unwrap();
        let parsed = parse_avc_decoder_config(&rec).unwrap();
        assert_eq!(
            (parsed.profile, parsed.level, parsed.length_size),
            (244, 11, 4)
        );
        assert_eq!(parsed.sps, vec![sps]);
    }

    #[test]
    fn sps_with_scaling_lists() {
        // Hand-built high-profile SPS with seq_scaling_matrix_present and list 0 coded
        // (delta_scale -8 → next_scale 0 → stop), so the parser must walk the lists.
        let bits = [
            "1",         // sps_id ue(0)
            "010",       // chroma_format_idc ue(1)
            "1",         // bit_depth_luma_minus8 ue(0)
            "1",         // bit_depth_chroma_minus8 ue(0)
            "0",         // qpprime_y_zero_transform_bypass
            "1",         // seq_scaling_matrix_present
            "1",         // list 0 present
            "000010001", // delta_scale se(-8)
            "0000000",   // lists 1..7 absent
            "1",         // log2_max_frame_num_minus4 ue(0)
            "1",         // pic_order_cnt_type ue(0)
            "1",         // log2_max_poc_lsb_minus4 ue(0)
            "010",       // max_num_ref_frames ue(1)
            "0",         // gaps
            "000010100", // pic_width_in_mbs_minus1 ue(19)
            "0001111",   // pic_height_in_map_units_minus1 ue(14)
            "1",         // frame_mbs_only
            "1",         // direct_8x8_inference
            "0",         // frame_cropping
            "0",         // vui
            "1",         // rbsp stop bit
        ]
        .concat();
        let mut bytes = vec![0x67, 100, 0, 30];
        let mut padded = bits.to_string();
        while padded.len() % 8 != 0 {
            padded.push('0');
        }
        for i in (0..padded.len()).step_by(8) {
            bytes.push(u8::from_str_radix(&padded[i..i + 8], 2).unwrap());
        }
        let info = parse_sps(&bytes).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
    }

    /// Packs a high-profile SPS (`67 64 00 1e` + `bits`, stop bit and padding added).
    fn high_sps(bits: &str) -> Vec<u8> {
        let mut bytes = vec![0x67, 100, 0, 30];
        let mut padded = format!("{bits}1");
        while padded.len() % 8 != 0 {
            padded.push('0');
        }
        for i in (0..padded.len()).step_by(8) {
            bytes.push(u8::from_str_radix(&padded[i..i + 8], 2).unwrap());
        }
        bytes
    }

    #[test]
    fn sps_hostile_values_are_errors_not_overflows() {
        // ue(2^32 - 2): 31 zeros, a one, 31 ones.
        let huge = format!("{}1{}", "0".repeat(31), "1".repeat(31));
        // bit_depth_luma_minus8 = 2^32 - 2 (8 + it overflowed u32).
        let sps = high_sps(&format!("1010{huge}"));
        assert!(matches!(parse_sps(&sps), Err(MediaError::InvalidAvc(_))));
        // A scaling list whose delta_scale is se(2^31 - 1) (last + delta + 256 overflowed i32).
        let delta = format!("{}1{}0", "0".repeat(31), "1".repeat(30));
        let sps = high_sps(&format!("101011011{delta}"));
        let _ = parse_sps(&sps);
    }

    #[test]
    fn sps_rejects_garbage() {
        assert!(parse_sps(&[0x68, 0xce, 0x38, 0x80]).is_err()); // a PPS
        assert!(parse_sps(&[0x67, 0x64]).is_err());
    }

    #[test]
    fn annexb_avcc_round_trip() {
        let annexb = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9, 9,
        ];
        let nals = split_annexb(&annexb);
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9, 9][..]]
        );
        let avcc = annexb_to_avcc(&annexb);
        assert_eq!(&avcc[..7], &[0, 0, 0, 3, 0x67, 1, 2]);
        let back = avcc_to_annexb(&avcc, 4).unwrap();
        assert_eq!(split_annexb(&back), nals);
        assert!(split_avcc(&[0, 0, 0, 9, 1], 4).is_err());
        let two = [0, 2, 0x65, 1];
        assert_eq!(avcc_to_length4(&two, 2).unwrap(), vec![0, 0, 0, 2, 0x65, 1]);
    }
}
