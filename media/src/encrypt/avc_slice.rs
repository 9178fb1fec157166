//! The size of an H.264 slice header (ITU-T H.264 §7.3.3), so that it stays in the clear:
//! what Shaka Packager does for both `cenc` and `cbcs`, and what ISO/IEC 23001-7 §10.2 /
//! §10.4 ask of video ("the slice header in the clear") so that decoders and hardware
//! decryptors can read it before decryption.
//!
//! The header's syntax depends on the SPS and PPS it refers to, so both are parsed for the
//! fields it needs ([`AvcParamSets::new`] from the track's `avcC` parameter sets). A slice
//! that cannot be parsed (an unknown PPS id, a truncated header) gets `None`, and the
//! caller falls back to keeping only the NAL header clear, which is still valid CENC.
//!
//! Hand-written rather than a crate: the packager's own bit reader ([`crate::codec::BitReader`])
//! already parses the SPS; no maintained crate exposes the slice header's bit length.

use std::collections::HashMap;

use crate::codec::{remove_emulation_prevention, BitReader};

/// What a slice header's syntax needs from its SPS (§7.3.2.1.1).
#[derive(Debug, Clone, Copy)]
struct Sps {
    chroma_array_type: u32,
    separate_colour_plane: bool,
    log2_max_frame_num: u32,
    poc_type: u32,
    log2_max_poc_lsb: u32,
    delta_pic_order_always_zero: bool,
    frame_mbs_only: bool,
    pic_size_in_map_units: u32,
}

/// What a slice header's syntax needs from its PPS (§7.3.2.2).
#[derive(Debug, Clone, Copy)]
struct Pps {
    sps_id: u32,
    entropy_coding_mode: bool,
    bottom_field_pic_order_in_frame_present: bool,
    num_slice_groups_minus1: u32,
    slice_group_map_type: u32,
    slice_group_change_rate: u32,
    num_ref_idx_l0_default: u32,
    num_ref_idx_l1_default: u32,
    weighted_pred: bool,
    weighted_bipred_idc: u32,
    deblocking_filter_control_present: bool,
    redundant_pic_cnt_present: bool,
}

/// The parameter sets of a track, by id.
#[derive(Debug, Clone, Default)]
pub struct AvcParamSets {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
}

fn parse_sps(nal: &[u8]) -> Option<(u32, Sps)> {
    let rbsp = remove_emulation_prevention(nal.get(1..)?);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.skip(16)?;
    let id = r.ue()?;
    let (mut chroma_format_idc, mut separate_colour_plane) = (1, false);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? {
            for i in 0..if chroma_format_idc != 3 { 8 } else { 12 } {
                if r.bit()? {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    let log2_max_frame_num = r.ue()?.checked_add(4)?;
    let poc_type = r.ue()?;
    let (mut log2_max_poc_lsb, mut delta_pic_order_always_zero) = (0, false);
    match poc_type {
        0 => log2_max_poc_lsb = r.ue()?.checked_add(4)?,
        1 => {
            delta_pic_order_always_zero = r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    r.ue()?;
    r.bit()?;
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_map_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    Some((
        id,
        Sps {
            chroma_array_type: if separate_colour_plane {
                0
            } else {
                chroma_format_idc
            },
            separate_colour_plane,
            log2_max_frame_num,
            poc_type,
            log2_max_poc_lsb,
            delta_pic_order_always_zero,
            frame_mbs_only,
            pic_size_in_map_units: width_mbs.checked_mul(height_map_units)?,
        },
    ))
}

fn ceil_log2(v: u32) -> u32 {
    if v <= 1 {
        0
    } else {
        32 - (v - 1).leading_zeros()
    }
}

fn parse_pps(nal: &[u8]) -> Option<(u32, Pps)> {
    let rbsp = remove_emulation_prevention(nal.get(1..)?);
    let mut r = BitReader::new(&rbsp);
    let id = r.ue()?;
    let sps_id = r.ue()?;
    let entropy_coding_mode = r.bit()?;
    let bottom_field_pic_order_in_frame_present = r.bit()?;
    let num_slice_groups_minus1 = r.ue()?;
    let (mut slice_group_map_type, mut slice_group_change_rate) = (0, 1);
    if num_slice_groups_minus1 > 0 {
        if num_slice_groups_minus1 > 7 {
            return None;
        }
        slice_group_map_type = r.ue()?;
        match slice_group_map_type {
            0 => {
                for _ in 0..=num_slice_groups_minus1 {
                    r.ue()?;
                }
            }
            2 => {
                for _ in 0..num_slice_groups_minus1 {
                    r.ue()?;
                    r.ue()?;
                }
            }
            3..=5 => {
                r.bit()?;
                slice_group_change_rate = r.ue()?.checked_add(1)?;
            }
            6 => {
                let n = r.ue()?.checked_add(1)?;
                let bits = ceil_log2(num_slice_groups_minus1 + 1);
                r.skip(n as usize * bits as usize)?;
            }
            _ => {}
        }
    }
    let num_ref_idx_l0_default = r.ue()?.checked_add(1)?;
    let num_ref_idx_l1_default = r.ue()?.checked_add(1)?;
    let weighted_pred = r.bit()?;
    let weighted_bipred_idc = r.bits(2)?;
    r.se()?;
    r.se()?;
    r.se()?;
    let deblocking_filter_control_present = r.bit()?;
    r.bit()?;
    let redundant_pic_cnt_present = r.bit()?;
    Some((
        id,
        Pps {
            sps_id,
            entropy_coding_mode,
            bottom_field_pic_order_in_frame_present,
            num_slice_groups_minus1,
            slice_group_map_type,
            slice_group_change_rate,
            num_ref_idx_l0_default,
            num_ref_idx_l1_default,
            weighted_pred,
            weighted_bipred_idc,
            deblocking_filter_control_present,
            redundant_pic_cnt_present,
        },
    ))
}

impl AvcParamSets {
    /// Parses the SPS and PPS NAL units (header byte included) that parse; others are skipped.
    pub fn new(sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Self {
        AvcParamSets {
            sps: sps.iter().filter_map(|n| parse_sps(n)).collect(),
            pps: pps.iter().filter_map(|n| parse_pps(n)).collect(),
        }
    }

    /// Bytes of the coded slice NAL unit `nal` (header byte included, emulation prevention
    /// as coded) up to and including the last byte holding slice header bits: the NAL header
    /// plus the slice header rounded up to whole bytes. `None` when it cannot be parsed.
    pub fn slice_header_end(&self, nal: &[u8]) -> Option<usize> {
        let header = *nal.first()?;
        let nal_type = header & 0x1f;
        let nal_ref_idc = (header >> 5) & 3;
        if !(1..=5).contains(&nal_type) {
            return None;
        }
        // The header is short: unescape a bounded prefix only.
        let raw = &nal[1..nal.len().min(1 + 512)];
        let rbsp = remove_emulation_prevention(raw);
        let mut r = BitReader::new(&rbsp);
        let bits = self.slice_header_bits(&mut r, nal_type, nal_ref_idc)?;
        let rbsp_bytes = bits.div_ceil(8);
        Some(1 + raw_len_of_rbsp_prefix(raw, rbsp_bytes)?)
    }

    fn slice_header_bits(&self, r: &mut BitReader, nal_type: u8, nal_ref_idc: u8) -> Option<usize> {
        let idr = nal_type == 5;
        r.ue()?; // first_mb_in_slice
        let slice_type = r.ue()? % 5;
        let (p, b, i, sp, si) = (
            slice_type == 0,
            slice_type == 1,
            slice_type == 2,
            slice_type == 3,
            slice_type == 4,
        );
        let pps = self.pps.get(&r.ue()?)?;
        let sps = self.sps.get(&pps.sps_id)?;
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        r.skip(sps.log2_max_frame_num as usize)?;
        let mut field_pic = false;
        if !sps.frame_mbs_only {
            field_pic = r.bit()?;
            if field_pic {
                r.bit()?;
            }
        }
        if idr {
            r.ue()?;
        }
        if sps.poc_type == 0 {
            r.skip(sps.log2_max_poc_lsb as usize)?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                r.se()?;
            }
        }
        if sps.poc_type == 1 && !sps.delta_pic_order_always_zero {
            r.se()?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                r.se()?;
            }
        }
        if pps.redundant_pic_cnt_present {
            r.ue()?;
        }
        if b {
            r.bit()?;
        }
        let (mut l0, mut l1) = (pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default);
        // num_ref_idx_active_override_flag (P, SP, B).
        if (p || sp || b) && r.bit()? {
            l0 = r.ue()?.checked_add(1)?;
            if b {
                l1 = r.ue()?.checked_add(1)?;
            }
        }
        if l0 > 32 || l1 > 32 {
            return None;
        }
        // ref_pic_list_modification (§7.3.3.1); types 20/21 (MVC) never reach here.
        let lists = if i || si {
            0
        } else if b {
            2
        } else {
            1
        };
        for _ in 0..lists {
            if r.bit()? {
                for _ in 0..=64 {
                    match r.ue()? {
                        0..=2 => {
                            r.ue()?;
                        }
                        3 => break,
                        _ => return None,
                    }
                }
            }
        }
        // pred_weight_table (§7.3.3.2).
        if (pps.weighted_pred && (p || sp)) || (pps.weighted_bipred_idc == 1 && b) {
            r.ue()?;
            if sps.chroma_array_type != 0 {
                r.ue()?;
            }
            for n in [l0, if b { l1 } else { 0 }] {
                for _ in 0..n {
                    if r.bit()? {
                        r.se()?;
                        r.se()?;
                    }
                    if sps.chroma_array_type != 0 && r.bit()? {
                        for _ in 0..4 {
                            r.se()?;
                        }
                    }
                }
            }
        }
        // dec_ref_pic_marking (§7.3.3.3).
        if nal_ref_idc != 0 {
            if idr {
                r.skip(2)?;
            } else if r.bit()? {
                for _ in 0..=64 {
                    match r.ue()? {
                        0 => break,
                        1 | 2 | 4 => {
                            r.ue()?;
                        }
                        3 => {
                            r.ue()?;
                            r.ue()?;
                        }
                        5 => {}
                        6 => {
                            r.ue()?;
                        }
                        _ => return None,
                    }
                }
            }
        }
        if pps.entropy_coding_mode && !i && !si {
            r.ue()?;
        }
        r.se()?; // slice_qp_delta
        if sp || si {
            if sp {
                r.bit()?;
            }
            r.se()?;
        }
        if pps.deblocking_filter_control_present && r.ue()? != 1 {
            r.se()?;
            r.se()?;
        }
        if pps.num_slice_groups_minus1 > 0 && (3..=5).contains(&pps.slice_group_map_type) {
            let units = sps.pic_size_in_map_units / pps.slice_group_change_rate;
            r.skip(ceil_log2(units + 1) as usize)?;
        }
        Some(r.position())
    }
}

/// How many bytes of `raw` (escaped) hold the first `rbsp_len` bytes of its RBSP.
pub(super) fn raw_len_of_rbsp_prefix(raw: &[u8], rbsp_len: usize) -> Option<usize> {
    let (mut zeros, mut out) = (0usize, 0usize);
    for (i, &b) in raw.iter().enumerate() {
        if out == rbsp_len {
            return Some(i);
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out += 1;
    }
    (out == rbsp_len).then_some(raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbsp_prefix_counts_emulation_prevention() {
        assert_eq!(raw_len_of_rbsp_prefix(&[1, 2, 3, 4], 2), Some(2));
        assert_eq!(raw_len_of_rbsp_prefix(&[0, 0, 3, 1, 5], 3), Some(4));
        assert_eq!(raw_len_of_rbsp_prefix(&[1], 2), None);
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(5), 3);
        assert_eq!(ceil_log2(8), 3);
    }

    /// The openh264 test pattern (baseline, CAVLC, POC type 2): an IDR and a P slice header,
    /// bit-counted by hand from §7.3.3.
    #[test]
    fn baseline_slice_headers() {
        let opts = crate::synth::SynthOptions {
            duration_secs: 1,
            rungs: vec![crate::synth::Rung::new("v", 160, 96, 100_000)],
            audio: false,
            ..Default::default()
        };
        let tracks = crate::synth::generate(&opts, &crate::progress::Silent).unwrap();
        let t = &tracks[0];
        let crate::track::CodecConfig::Avc { sps, pps } = &t.codec else {
            panic!("not AVC")
        };
        let sets = AvcParamSets::new(sps, pps);
        assert_eq!(sets.sps.len(), 1);
        assert_eq!(sets.pps.len(), 1);
        let samples = t.samples.as_slice().unwrap();
        for s in &samples[..2] {
            let nals = crate::codec::split_avcc(&s.data, 4).unwrap();
            let slice = nals
                .iter()
                .find(|n| (1..=5).contains(&(n[0] & 0x1f)))
                .unwrap();
            let end = sets.slice_header_end(slice).unwrap();
            assert!(end > 1 && end < 16, "{end}");
        }
    }
}
