//! The size of an H.265 slice segment header (ITU-T H.265 §7.3.6.1), so that it stays in the
//! clear, as for H.264 (see `avc_slice`) and as Shaka Packager does.
//!
//! The header's syntax depends on the SPS (short-term reference picture sets, SAO, temporal
//! MVP, long-term pictures) and the PPS; both are parsed from the `hvcC` arrays for the fields
//! it needs. Anything not handled (range/SCC extensions in the PPS, list modification with
//! several current references, malformed data) gives `None`: the caller then keeps only the
//! NAL header clear, which is still valid CENC.
//!
//! Hand-written for the same reason as `avc_slice`: no maintained crate exposes the bit length
//! of a slice segment header.

use std::collections::HashMap;

use crate::codec::{remove_emulation_prevention, BitReader};

/// One short-term reference picture set: its pictures and how many the current one uses.
#[derive(Debug, Clone, Copy, Default)]
struct StRps {
    num_delta_pocs: u32,
    used_by_curr: u32,
}

#[derive(Debug, Clone, Default)]
struct Sps {
    separate_colour_plane: bool,
    chroma_array_type: u32,
    log2_max_poc_lsb: u32,
    pic_size_in_ctbs: u32,
    st_rps: Vec<StRps>,
    long_term_refs_present: bool,
    num_long_term_ref_pics_sps: u32,
    lt_used_by_curr_sps: Vec<bool>,
    temporal_mvp: bool,
    sao: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pps {
    sps_id: u32,
    dependent_slice_segments: bool,
    output_flag_present: bool,
    num_extra_slice_header_bits: u32,
    cabac_init_present: bool,
    num_ref_idx_l0_default: u32,
    num_ref_idx_l1_default: u32,
    slice_chroma_qp_offsets_present: bool,
    weighted_pred: bool,
    weighted_bipred: bool,
    tiles_or_wpp: bool,
    loop_filter_across_slices: bool,
    deblocking_override_enabled: bool,
    deblocking_disabled: bool,
    lists_modification_present: bool,
    slice_header_extension_present: bool,
}

/// The parameter sets of an H.265 track, by id.
#[derive(Debug, Clone, Default)]
pub struct HevcParamSets {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
}

fn ceil_log2(v: u32) -> u32 {
    if v <= 1 {
        0
    } else {
        32 - (v - 1).leading_zeros()
    }
}

fn skip_profile_tier_level(r: &mut BitReader, max_sub_layers_minus1: u32) -> Option<()> {
    r.skip(96)?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.bit()?, r.bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?;
    }
    for (profile, level) in present {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Some(())
}

fn skip_scaling_list_data(r: &mut BitReader) -> Option<()> {
    for size_id in 0..4 {
        let mut matrix_id = 0;
        while matrix_id < 6 {
            if !r.bit()? {
                r.ue()?;
            } else {
                let coefs = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.se()?;
                }
                for _ in 0..coefs {
                    r.se()?;
                }
            }
            matrix_id += if size_id == 3 { 3 } else { 1 };
        }
    }
    Some(())
}

/// `st_ref_pic_set(idx)` (§7.3.7); `sets` are the ones before it.
fn st_ref_pic_set(r: &mut BitReader, idx: usize, total: usize, sets: &[StRps]) -> Option<StRps> {
    let inter = idx != 0 && r.bit()?;
    if inter {
        let delta_idx = if idx == total {
            r.ue()? as usize + 1
        } else {
            1
        };
        r.bit()?;
        r.ue()?;
        let reference = *sets.get(idx.checked_sub(delta_idx)?)?;
        let (mut n, mut used) = (0, 0);
        for _ in 0..=reference.num_delta_pocs {
            let used_by_curr = r.bit()?;
            let use_delta = used_by_curr || r.bit()?;
            n += u32::from(use_delta);
            used += u32::from(used_by_curr);
        }
        Some(StRps {
            num_delta_pocs: n,
            used_by_curr: used,
        })
    } else {
        let neg = r.ue()?;
        let pos = r.ue()?;
        if neg > 16 || pos > 16 {
            return None;
        }
        let mut used = 0;
        for _ in 0..neg + pos {
            r.ue()?;
            used += u32::from(r.bit()?);
        }
        Some(StRps {
            num_delta_pocs: neg + pos,
            used_by_curr: used,
        })
    }
}

fn parse_sps(nal: &[u8]) -> Option<(u32, Sps)> {
    let rbsp = remove_emulation_prevention(nal.get(2..)?);
    let mut r = BitReader::new(&rbsp);
    r.skip(4)?;
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?;
    skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    let id = r.ue()?;
    let chroma_format_idc = r.ue()?;
    let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
    let width = r.ue()?;
    let height = r.ue()?;
    if r.bit()? {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    r.ue()?;
    r.ue()?;
    let log2_max_poc_lsb = r.ue()?.checked_add(4)?;
    let ordering_all = r.bit()?;
    let first = if ordering_all {
        0
    } else {
        max_sub_layers_minus1
    };
    for _ in first..=max_sub_layers_minus1 {
        r.ue()?;
        r.ue()?;
        r.ue()?;
    }
    let log2_min_cb = r.ue()?.checked_add(3)?;
    let log2_ctb = log2_min_cb.checked_add(r.ue()?)?;
    if log2_ctb > 7 {
        return None;
    }
    r.ue()?;
    r.ue()?;
    r.ue()?;
    r.ue()?;
    if r.bit()? && r.bit()? {
        skip_scaling_list_data(&mut r)?;
    }
    r.bit()?; // amp
    let sao = r.bit()?;
    if r.bit()? {
        r.skip(8)?;
        r.ue()?;
        r.ue()?;
        r.bit()?;
    }
    let num_st = r.ue()? as usize;
    if num_st > 64 {
        return None;
    }
    let mut st_rps = Vec::with_capacity(num_st);
    for i in 0..num_st {
        let s = st_ref_pic_set(&mut r, i, num_st, &st_rps)?;
        st_rps.push(s);
    }
    let long_term_refs_present = r.bit()?;
    let mut lt_used_by_curr_sps = Vec::new();
    if long_term_refs_present {
        let n = r.ue()?;
        if n > 32 {
            return None;
        }
        for _ in 0..n {
            r.skip(log2_max_poc_lsb as usize)?;
            lt_used_by_curr_sps.push(r.bit()?);
        }
    }
    let temporal_mvp = r.bit()?;
    let ctb = 1u32 << log2_ctb;
    let pic_size_in_ctbs = width.div_ceil(ctb).checked_mul(height.div_ceil(ctb))?;
    Some((
        id,
        Sps {
            separate_colour_plane,
            chroma_array_type: if separate_colour_plane {
                0
            } else {
                chroma_format_idc
            },
            log2_max_poc_lsb,
            pic_size_in_ctbs,
            num_long_term_ref_pics_sps: lt_used_by_curr_sps.len() as u32,
            st_rps,
            long_term_refs_present,
            lt_used_by_curr_sps,
            temporal_mvp,
            sao,
        },
    ))
}

fn parse_pps(nal: &[u8]) -> Option<(u32, Pps)> {
    let rbsp = remove_emulation_prevention(nal.get(2..)?);
    let mut r = BitReader::new(&rbsp);
    let id = r.ue()?;
    let sps_id = r.ue()?;
    let dependent_slice_segments = r.bit()?;
    let output_flag_present = r.bit()?;
    let num_extra_slice_header_bits = r.bits(3)?;
    r.bit()?;
    let cabac_init_present = r.bit()?;
    let num_ref_idx_l0_default = r.ue()?.checked_add(1)?;
    let num_ref_idx_l1_default = r.ue()?.checked_add(1)?;
    r.se()?;
    r.bit()?;
    r.bit()?;
    if r.bit()? {
        r.ue()?;
    }
    r.se()?;
    r.se()?;
    let slice_chroma_qp_offsets_present = r.bit()?;
    let weighted_pred = r.bit()?;
    let weighted_bipred = r.bit()?;
    r.bit()?;
    let tiles = r.bit()?;
    let wpp = r.bit()?;
    if tiles {
        let cols = r.ue()?;
        let rows = r.ue()?;
        if cols > 64 || rows > 64 {
            return None;
        }
        if !r.bit()? {
            for _ in 0..cols + rows {
                r.ue()?;
            }
        }
        r.bit()?;
    }
    let loop_filter_across_slices = r.bit()?;
    let (mut deblocking_override_enabled, mut deblocking_disabled) = (false, false);
    if r.bit()? {
        deblocking_override_enabled = r.bit()?;
        deblocking_disabled = r.bit()?;
        if !deblocking_disabled {
            r.se()?;
            r.se()?;
        }
    }
    if r.bit()? {
        skip_scaling_list_data(&mut r)?;
    }
    let lists_modification_present = r.bit()?;
    r.ue()?;
    let slice_header_extension_present = r.bit()?;
    // Range / multilayer / 3D / SCC extensions add slice header syntax: not handled.
    if r.bit()? && r.bits(4)? != 0 {
        return None;
    }
    Some((
        id,
        Pps {
            sps_id,
            dependent_slice_segments,
            output_flag_present,
            num_extra_slice_header_bits,
            cabac_init_present,
            num_ref_idx_l0_default,
            num_ref_idx_l1_default,
            slice_chroma_qp_offsets_present,
            weighted_pred,
            weighted_bipred,
            tiles_or_wpp: tiles || wpp,
            loop_filter_across_slices,
            deblocking_override_enabled,
            deblocking_disabled,
            lists_modification_present,
            slice_header_extension_present,
        },
    ))
}

/// The NAL units of the `hvcC` arrays (ISO/IEC 14496-15 §8.3.3.1), by type.
fn hvcc_nals(hvcc: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(&arrays) = hvcc.get(22) else {
        return out;
    };
    let mut pos = 23;
    for _ in 0..arrays {
        let Some(n) = hvcc.get(pos + 1..pos + 3) else {
            break;
        };
        let n = u16::from_be_bytes([n[0], n[1]]);
        pos += 3;
        for _ in 0..n {
            let Some(l) = hvcc.get(pos..pos + 2) else {
                return out;
            };
            let len = u16::from_be_bytes([l[0], l[1]]) as usize;
            let Some(nal) = hvcc.get(pos + 2..pos + 2 + len) else {
                return out;
            };
            out.push(nal);
            pos += 2 + len;
        }
    }
    out
}

impl HevcParamSets {
    /// Parses the SPS and PPS NAL units of an `hvcC` record that parse.
    pub fn from_hvcc(hvcc: &[u8]) -> Self {
        let mut sets = HevcParamSets::default();
        for nal in hvcc_nals(hvcc) {
            match nal.first().map(|h| (h >> 1) & 0x3f) {
                Some(33) => sets.sps.extend(parse_sps(nal)),
                Some(34) => sets.pps.extend(parse_pps(nal)),
                _ => {}
            }
        }
        sets
    }

    /// Bytes of the VCL NAL unit `nal` (2-byte header included, as coded) up to the end of
    /// its slice segment header and its byte alignment. `None` when it cannot be parsed.
    pub fn slice_header_end(&self, nal: &[u8]) -> Option<usize> {
        let nal_type = (nal.first()? >> 1) & 0x3f;
        if nal_type > 31 {
            return None;
        }
        let raw = nal.get(2..nal.len().min(2 + 1024))?;
        let rbsp = remove_emulation_prevention(raw);
        let mut r = BitReader::new(&rbsp);
        // The header ends with byte_alignment(): a 1 bit, then zeros up to a byte boundary.
        let bits = self.header_bits(&mut r, nal_type)? + 1;
        Some(2 + super::avc_slice::raw_len_of_rbsp_prefix(raw, bits.div_ceil(8))?)
    }

    fn header_bits(&self, r: &mut BitReader, nal_type: u8) -> Option<usize> {
        let first_in_pic = r.bit()?;
        if (16..=23).contains(&nal_type) {
            r.bit()?;
        }
        let pps = self.pps.get(&r.ue()?)?;
        let sps = self.sps.get(&pps.sps_id)?;
        let mut dependent = false;
        if !first_in_pic {
            if pps.dependent_slice_segments {
                dependent = r.bit()?;
            }
            r.skip(ceil_log2(sps.pic_size_in_ctbs) as usize)?;
        }
        if !dependent {
            r.skip(pps.num_extra_slice_header_bits as usize)?;
            let slice_type = r.ue()?;
            let (b, p) = (slice_type == 0, slice_type == 1);
            if pps.output_flag_present {
                r.bit()?;
            }
            if sps.separate_colour_plane {
                r.skip(2)?;
            }
            let mut temporal_mvp = false;
            let mut num_pic_total_curr = 0;
            if nal_type != 19 && nal_type != 20 {
                r.skip(sps.log2_max_poc_lsb as usize)?;
                let rps = if !r.bit()? {
                    let n = sps.st_rps.len();
                    st_ref_pic_set(r, n, n, &sps.st_rps)?
                } else {
                    let n = sps.st_rps.len() as u32;
                    let idx = if n > 1 { r.bits(ceil_log2(n))? } else { 0 };
                    *sps.st_rps.get(idx as usize)?
                };
                num_pic_total_curr += rps.used_by_curr;
                if sps.long_term_refs_present {
                    let num_lt_sps = if sps.num_long_term_ref_pics_sps > 0 {
                        r.ue()?
                    } else {
                        0
                    };
                    let num_lt_pics = r.ue()?;
                    if num_lt_sps + num_lt_pics > 32 {
                        return None;
                    }
                    for i in 0..num_lt_sps + num_lt_pics {
                        if i < num_lt_sps {
                            let idx = if sps.num_long_term_ref_pics_sps > 1 {
                                r.bits(ceil_log2(sps.num_long_term_ref_pics_sps))?
                            } else {
                                0
                            };
                            if *sps.lt_used_by_curr_sps.get(idx as usize)? {
                                num_pic_total_curr += 1;
                            }
                        } else {
                            r.skip(sps.log2_max_poc_lsb as usize)?;
                            num_pic_total_curr += u32::from(r.bit()?);
                        }
                        if r.bit()? {
                            r.ue()?;
                        }
                    }
                }
                if sps.temporal_mvp {
                    temporal_mvp = r.bit()?;
                }
            }
            let (mut sao_luma, mut sao_chroma) = (false, false);
            if sps.sao {
                sao_luma = r.bit()?;
                if sps.chroma_array_type != 0 {
                    sao_chroma = r.bit()?;
                }
            }
            if p || b {
                let (mut l0, mut l1) = (pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default);
                if r.bit()? {
                    l0 = r.ue()?.checked_add(1)?;
                    if b {
                        l1 = r.ue()?.checked_add(1)?;
                    }
                }
                if l0 > 16 || l1 > 16 {
                    return None;
                }
                if pps.lists_modification_present && num_pic_total_curr > 1 {
                    let bits = ceil_log2(num_pic_total_curr) as usize;
                    if r.bit()? {
                        r.skip(bits * l0 as usize)?;
                    }
                    if b && r.bit()? {
                        r.skip(bits * l1 as usize)?;
                    }
                }
                if b {
                    r.bit()?;
                }
                if pps.cabac_init_present {
                    r.bit()?;
                }
                if temporal_mvp {
                    let from_l0 = if b { r.bit()? } else { true };
                    if (from_l0 && l0 > 1) || (!from_l0 && l1 > 1) {
                        r.ue()?;
                    }
                }
                if (pps.weighted_pred && p) || (pps.weighted_bipred && b) {
                    r.ue()?;
                    if sps.chroma_array_type != 0 {
                        r.se()?;
                    }
                    for n in [l0, if b { l1 } else { 0 }] {
                        let mut luma = Vec::with_capacity(n as usize);
                        for _ in 0..n {
                            luma.push(r.bit()?);
                        }
                        let mut chroma = vec![false; n as usize];
                        if sps.chroma_array_type != 0 {
                            for c in chroma.iter_mut() {
                                *c = r.bit()?;
                            }
                        }
                        for (l, c) in luma.into_iter().zip(chroma) {
                            if l {
                                r.se()?;
                                r.se()?;
                            }
                            if c {
                                for _ in 0..4 {
                                    r.se()?;
                                }
                            }
                        }
                    }
                }
                r.ue()?; // five_minus_max_num_merge_cand
            }
            r.se()?; // slice_qp_delta
            if pps.slice_chroma_qp_offsets_present {
                r.se()?;
                r.se()?;
            }
            let override_flag = pps.deblocking_override_enabled && r.bit()?;
            let mut deblocking_disabled = pps.deblocking_disabled;
            if override_flag {
                deblocking_disabled = r.bit()?;
                if !deblocking_disabled {
                    r.se()?;
                    r.se()?;
                }
            }
            if pps.loop_filter_across_slices && (sao_luma || sao_chroma || !deblocking_disabled) {
                r.bit()?;
            }
        }
        if pps.tiles_or_wpp {
            let n = r.ue()?;
            if n > 0 {
                let len = r.ue()?.checked_add(1)?;
                if len > 32 || n > 4096 {
                    return None;
                }
                r.skip(n as usize * len as usize)?;
            }
        }
        if pps.slice_header_extension_present {
            let n = r.ue()?;
            r.skip(8 * n as usize)?;
        }
        Some(r.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Untrusted bytes (the input's samples and hvcC) never panic the parsers: random and
    /// bit-flipped records and slices only give `None`.
    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 96) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = parse_sps(&data);
            let _ = parse_pps(&data);
            let _ = HevcParamSets::from_hvcc(&data);
            let avc = crate::encrypt::AvcParamSets::new(
                std::slice::from_ref(&data),
                std::slice::from_ref(&data),
            );
            let _ = avc.slice_header_end(&data);
            let mut sets = HevcParamSets::default();
            sets.sps.insert(
                0,
                Sps {
                    log2_max_poc_lsb: 8,
                    pic_size_in_ctbs: 40,
                    st_rps: vec![StRps {
                        num_delta_pocs: 2,
                        used_by_curr: 2,
                    }],
                    temporal_mvp: true,
                    sao: true,
                    chroma_array_type: 1,
                    ..Default::default()
                },
            );
            sets.pps.insert(
                0,
                Pps {
                    lists_modification_present: true,
                    weighted_pred: true,
                    weighted_bipred: true,
                    tiles_or_wpp: true,
                    slice_header_extension_present: true,
                    deblocking_override_enabled: true,
                    loop_filter_across_slices: true,
                    num_ref_idx_l0_default: 1,
                    num_ref_idx_l1_default: 1,
                    ..Default::default()
                },
            );
            let _ = sets.slice_header_end(&data);
        }
    }
}
