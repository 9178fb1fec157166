//! Sample entries beyond `avc1`/`mp4a`: `hvc1`/`hev1` with `hvcC` and `av01` with `av1C`
//! (kept byte for byte), and the refusal of every other audio/video sample entry.
//!
//! Refusing rather than skipping: a file whose video is VP9, or whose audio is MP3, would
//! otherwise come out as a silently partial asset (audio only, or silent video) with exit 0.

use manifests::layout::MediaKind;
use tracing::debug;

use crate::codec::{self, hevc, MediaError, Picture};
use crate::fmp4::{self, BoxRef};
use crate::track::CodecConfig;

/// Bytes of a VisualSampleEntry before its child boxes (ISO/IEC 14496-12 §12.1.3).
const VISUAL_ENTRY_LEN: usize = 78;

/// Child boxes of a visual sample entry kept as they were: colour description and HDR
/// metadata (ISO/IEC 14496-12 §12.1.5 `colr`, ISO/IEC 23001-8-based `mdcv`/`clli`).
const COLOUR_BOXES: [&[u8; 4]; 3] = [b"colr", b"mdcv", b"clli"];

/// The [`COLOUR_BOXES`] among a sample entry's children, whole boxes concatenated.
fn colour_boxes(children: &[u8]) -> Vec<u8> {
    fmp4::BoxIter::new(children)
        .map_while(Result::ok)
        .filter(|b| COLOUR_BOXES.contains(&&b.fourcc))
        .flat_map(|b| &children[b.offset..b.offset + b.size()])
        .copied()
        .collect()
}

/// Width, height and `pasp` of a VisualSampleEntry, and its child boxes.
fn visual_entry<'a>(track_id: u32, entry: &BoxRef<'a>) -> Result<(Picture, &'a [u8]), MediaError> {
    let p = entry.payload;
    let children = p.get(VISUAL_ENTRY_LEN..).ok_or_else(|| {
        MediaError::InvalidBox(format!(
            "track {track_id}: '{}' sample entry too short",
            entry.type_str()
        ))
    })?;
    let width = u32::from(u16::from_be_bytes([p[24], p[25]]));
    let height = u32::from(u16::from_be_bytes([p[26], p[27]]));
    let sar = fmp4::find_box(children, &["pasp"])
        .and_then(|b| {
            let h = u32::from_be_bytes(b.payload.get(0..4)?.try_into().ok()?);
            let v = u32::from_be_bytes(b.payload.get(4..8)?.try_into().ok()?);
            Some((u16::try_from(h).ok()?, u16::try_from(v).ok()?))
        })
        .filter(|&(h, v)| h > 0 && v > 0 && h != v);
    Ok((Picture { width, height, sar }, children))
}

/// `hvc1`/`hev1`: the `hvcC` kept, the picture size from its SPS (the sample entry's when a
/// `hev1` carries its SPS only in band). Returns the configuration and the NAL length size.
///
/// The sample entry type is kept: `hvc1` promises every parameter set is in `hvcC` (arrays
/// complete, none in the samples, ISO/IEC 14496-15 §8.4.1.1.2); a `hev1` source may change or
/// repeat them in band, and turning it into `hvc1` would need every sample scanned and
/// rewritten before the init segment is written. Shaka Packager keeps `hev1` too; note that
/// Apple's HLS authoring rules ask for `hvc1`.
pub(super) fn hevc(track_id: u32, entry: &BoxRef) -> Result<(CodecConfig, u8), MediaError> {
    let (
        Picture {
            width: entry_w,
            height: entry_h,
            sar,
        },
        children,
    ) = visual_entry(track_id, entry)?;
    let hvcc = fmp4::find_box(children, &["hvcC"]).ok_or_else(|| {
        MediaError::InvalidHevc(format!(
            "track {track_id}: '{}' without hvcC",
            entry.type_str()
        ))
    })?;
    let cfg = codec::parse_hevc_decoder_config(hvcc.payload)
        .map_err(|e| MediaError::InvalidHevc(format!("track {track_id}: {e}")))?;
    let in_band = &entry.fourcc == b"hev1";
    if !in_band {
        let sets = [hevc::nal::VPS, hevc::nal::SPS, hevc::nal::PPS];
        if sets.iter().any(|&t| cfg.first_of(t).is_none()) {
            return Err(MediaError::InvalidHevc(format!(
                "track {track_id}: 'hvc1' without VPS, SPS and PPS in its hvcC \
                 (parameter sets only in the samples make it 'hev1')"
            )));
        }
        if !cfg.parameter_sets_complete() {
            // Some muxers leave array_completeness at 0; the sets are there: kept as hvc1,
            // as other packagers do (Safari plays only hvc1).
            debug!(
                track_id,
                "hvc1 whose parameter set arrays are not marked complete"
            );
        }
    }
    let (width, height) = match cfg.first_of(hevc::nal::SPS) {
        Some(sps) => {
            let info = codec::parse_hevc_sps(sps)
                .map_err(|e| MediaError::InvalidHevc(format!("track {track_id}: {e}")))?;
            (info.width, info.height)
        }
        None if entry_w > 0 && entry_h > 0 => (entry_w, entry_h),
        None => {
            return Err(MediaError::InvalidHevc(format!(
                "track {track_id}: no SPS in hvcC and no picture size in the sample entry"
            )))
        }
    };
    debug!(track_id, codecs = %cfg.codec_string(if in_band { "hev1" } else { "hvc1" }), width, height, "HEVC track");
    Ok((
        CodecConfig::Hevc {
            hvcc: hvcc.payload.to_vec(),
            in_band_parameter_sets: in_band,
            width,
            height,
            sar,
            colour_boxes: colour_boxes(children),
        },
        cfg.length_size,
    ))
}

/// `av01`: the `av1C` kept; the picture size from the sample entry (the size the source
/// declared, which frame headers may refine with a render size), else the sequence header's
/// maximum frame size.
pub(super) fn av1(track_id: u32, entry: &BoxRef) -> Result<CodecConfig, MediaError> {
    let (
        Picture {
            width, height, sar, ..
        },
        children,
    ) = visual_entry(track_id, entry)?;
    let av1c = fmp4::find_box(children, &["av1C"])
        .ok_or_else(|| MediaError::InvalidAv1(format!("track {track_id}: 'av01' without av1C")))?;
    let cfg = codec::parse_av1_config(av1c.payload)
        .map_err(|e| MediaError::InvalidAv1(format!("track {track_id}: {e}")))?;
    let (width, height) = match (width, height, cfg.sequence_header) {
        (w, h, _) if w > 0 && h > 0 => (w, h),
        (_, _, Some(sh)) => (sh.max_width, sh.max_height),
        _ => {
            return Err(MediaError::InvalidAv1(format!(
                "track {track_id}: no picture size in the sample entry or av1C"
            )))
        }
    };
    debug!(track_id, codecs = %cfg.header().codec_string(), width, height, "AV1 track");
    Ok(CodecConfig::Av1 {
        av1c: av1c.payload.to_vec(),
        width,
        height,
        sar,
        colour_boxes: colour_boxes(children),
    })
}

/// The error for an audio/video track whose codec is not packaged; `oti` is the MPEG-4
/// objectTypeIndication of `mp4a`/`mp4v` entries when known.
pub(super) fn unsupported(
    track_id: u32,
    kind: MediaKind,
    fourcc: &[u8; 4],
    oti: Option<u8>,
) -> MediaError {
    MediaError::UnsupportedCodec {
        track_id,
        kind: kind.content_type(),
        codec: codec::sample_entry_codec_name(fourcc, oti),
        stream_index: None,
    }
}

/// The objectTypeIndication of an `mp4v` entry's `esds`, for naming it.
pub(super) fn mp4v_oti(entry: &BoxRef) -> Option<u8> {
    let children = entry.payload.get(VISUAL_ENTRY_LEN..)?;
    let esds = fmp4::find_box(children, &["esds"])?;
    super::tables::parse_esds(esds.full().ok()?.2)
        .ok()
        .map(|(oti, _)| oti)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{BoxIter, BoxWriter};

    /// `hvcC` of libx265 at 320x180 (VPS, SPS, PPS arrays, all marked complete).
    const HVCC: &str = "0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ffff01600000030090000003000003003c959409a10001002b42010101600000030090000003000003003ca00a080c1f3e595952930bc05a020000030002000003003210a2000100064401c073c189";

    use crate::codec::unhex;

    /// A VisualSampleEntry `fourcc` of 640x360 with the given child boxes.
    fn entry(fourcc: &[u8; 4], children: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut w = BoxWriter::new();
        w.begin(fourcc).zeros(6).u16(1).zeros(16).u16(640).u16(360);
        w.u32(0x0048_0000).u32(0x0048_0000).u32(0).u16(1).zeros(32);
        w.u16(0x0018).u16(0xffff);
        for (t, payload) in children {
            w.begin(t).bytes(payload).end();
        }
        w.end();
        w.finish()
    }

    fn parse(data: &[u8]) -> Result<(CodecConfig, u8), MediaError> {
        hevc(7, &BoxIter::new(data).next().unwrap().unwrap())
    }

    #[test]
    fn hvc1_keeps_its_label_and_colour_boxes() {
        let colr = b"nclx\x00\x09\x00\x10\x00\x09\x00".to_vec();
        let (cfg, length_size) = parse(&entry(
            b"hvc1",
            &[(b"hvcC", unhex(HVCC)), (b"colr", colr.clone())],
        ))
        .unwrap();
        assert_eq!(length_size, 4);
        let CodecConfig::Hevc {
            in_band_parameter_sets,
            width,
            height,
            colour_boxes,
            ..
        } = &cfg
        else {
            panic!("{cfg:?}")
        };
        assert!(!in_band_parameter_sets);
        // The SPS's size, not the sample entry's.
        assert_eq!((*width, *height), (320, 180));
        assert_eq!(&colour_boxes[8..], &colr[..]);
        assert_eq!(&colour_boxes[4..8], b"colr");

        // Arrays not marked complete: still hvc1 (the sets are there).
        let mut incomplete = unhex(HVCC);
        for i in [23usize, 52, 100] {
            assert_eq!(incomplete[i] & 0x80, 0x80, "array header at {i}");
            incomplete[i] &= 0x7f;
        }
        let (cfg, _) = parse(&entry(b"hvc1", &[(b"hvcC", incomplete)])).unwrap();
        assert_eq!(cfg.sample_entry(), b"hvc1");
    }

    #[test]
    fn parameter_sets_only_in_band() {
        // The 23-byte header alone: no arrays.
        let bare = unhex(HVCC)[..23].to_vec();
        let mut bare = bare;
        bare[22] = 0;
        let e = parse(&entry(b"hvc1", &[(b"hvcC", bare.clone())])).unwrap_err();
        assert!(e.to_string().contains("without VPS, SPS and PPS"), "{e}");
        // hev1 may: the size comes from the sample entry.
        let (cfg, _) = parse(&entry(b"hev1", &[(b"hvcC", bare)])).unwrap();
        assert_eq!(cfg.sample_entry(), b"hev1");
        assert_eq!(
            cfg.picture().unwrap().map(|p| (p.width, p.height)),
            Some((640, 360))
        );
        assert_eq!(cfg.codecs_string().unwrap(), "hev1.1.6.L60.90");
        // No hvcC at all.
        assert!(parse(&entry(b"hvc1", &[])).is_err());
    }
}
