//! The encryption boxes (ISO/IEC 23001-7 §8, ISO/IEC 14496-12 §8.7.8-9, §8.12), added to what
//! the clear fMP4 writer produced:
//!
//! - init segment ([`protect_init`]): the sample entry becomes `encv` (video) or `enca`
//!   (audio) and gets a `sinf` = `frma` (the original format) + `schm` (scheme, version 1.0) +
//!   `schi/tenc` (v0 for `cenc`; v1 with the pattern and the constant IV for `cbcs`); a
//!   W3C common `pssh` (v1, the key id, no data) is appended to `moov`.
//! - media segment ([`protect_segment`]): `saiz` + `saio` + `senc` appended to the `traf`;
//!   `saio`'s offset is relative to the `moof` start (`default-base-is-moof`, CMAF §7.5.18)
//!   and points at the first `senc` entry; the `trun` data offset grows by the bytes added.
//!
//! Why a rewrite of the writer's output rather than code inside the writer: the sample entry
//! and segment code (`fmp4::writer`) is being changed for other codecs and streaming; adding
//! the boxes afterwards keeps encryption in one place and independent of those changes, for
//! the cost of moving each segment's bytes once. Only 32-bit box sizes are patched (the
//! writer's `moof` and init boxes never need 64-bit sizes).

use super::sample::SampleAux;
use super::{EncryptError, Scheme, TrackProtection, COMMON_SYSTEM_ID};
use crate::fmp4::BoxWriter;
use manifests::layout::MediaKind;

/// A box located in a buffer: start, header length, end (exclusive).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    header: usize,
    end: usize,
}

/// Finds the first child `fourcc` among the boxes in `buf[from..to]`.
fn child(buf: &[u8], from: usize, to: usize, fourcc: &[u8; 4]) -> Result<Span, EncryptError> {
    let mut pos = from;
    while pos + 8 <= to {
        let size = u32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let (header, size) = match size {
            1 if pos + 16 <= to => (
                16,
                u64::from_be_bytes(buf[pos + 8..pos + 16].try_into().expect("8 bytes")) as usize,
            ),
            0 => (8, to - pos),
            s => (8, s),
        };
        if size < header || pos + size > to {
            break;
        }
        if &buf[pos + 4..pos + 8] == fourcc {
            return Ok(Span {
                start: pos,
                header,
                end: pos + size,
            });
        }
        pos += size;
    }
    Err(EncryptError::Malformed(format!(
        "no {} box",
        String::from_utf8_lossy(fourcc)
    )))
}

/// Finds a path of boxes from the top level; returns every box on the path.
fn path(buf: &[u8], names: &[&[u8; 4]]) -> Result<Vec<Span>, EncryptError> {
    let mut spans: Vec<Span> = Vec::with_capacity(names.len());
    let (mut from, mut to) = (0, buf.len());
    for n in names {
        let s = child(buf, from, to, n)?;
        from = s.start + s.header;
        to = s.end;
        spans.push(s);
    }
    Ok(spans)
}

/// Inserts `bytes` at `at` and grows the 32-bit size of every box in `ancestors`.
fn insert(
    buf: &mut Vec<u8>,
    at: usize,
    bytes: &[u8],
    ancestors: &[Span],
) -> Result<(), EncryptError> {
    for a in ancestors {
        if a.header != 8 {
            return Err(EncryptError::Malformed(
                "64-bit box size in an ancestor".into(),
            ));
        }
        let old = u32::from_be_bytes(buf[a.start..a.start + 4].try_into().expect("4 bytes"));
        let new = old
            .checked_add(bytes.len() as u32)
            .ok_or_else(|| EncryptError::Malformed("box grows beyond 4 GiB".into()))?;
        buf[a.start..a.start + 4].copy_from_slice(&new.to_be_bytes());
    }
    buf.splice(at..at, bytes.iter().copied());
    Ok(())
}

/// The W3C common `pssh` box (version 1): system id 1077efec-…, the key ids, no data.
pub fn common_pssh(key_ids: &[[u8; 16]]) -> Vec<u8> {
    let mut w = BoxWriter::new();
    w.begin_full(b"pssh", 1, 0).bytes(&COMMON_SYSTEM_ID);
    w.u32(key_ids.len() as u32);
    for k in key_ids {
        w.bytes(k);
    }
    w.u32(0).end();
    w.finish()
}

/// `sinf` for a sample entry whose original format was `original`.
pub fn sinf(p: &TrackProtection, original: &[u8; 4]) -> Vec<u8> {
    let mut w = BoxWriter::new();
    w.begin(b"sinf");
    w.begin(b"frma").bytes(original).end();
    w.begin_full(b"schm", 0, 0)
        .bytes(p.scheme.fourcc())
        .u32(0x0001_0000)
        .end();
    w.begin(b"schi");
    let version = if p.scheme == Scheme::Cbcs { 1 } else { 0 };
    w.begin_full(b"tenc", version, 0).u8(0);
    if version == 0 {
        w.u8(0);
    } else {
        w.u8((p.crypt_byte_block << 4) | (p.skip_byte_block & 0x0f));
    }
    let iv_size = p.per_sample_iv_size();
    w.u8(1).u8(iv_size).bytes(&p.key.key_id);
    if iv_size == 0 {
        w.u8(p.iv.len() as u8).bytes(&p.iv);
    }
    w.end(); // tenc
    w.end(); // schi
    w.end(); // sinf
    w.finish()
}

/// Rewrites a clear init segment of one track into a protected one (see the module docs).
pub fn protect_init(
    init: &[u8],
    kind: MediaKind,
    p: &TrackProtection,
) -> Result<Vec<u8>, EncryptError> {
    let mut buf = init.to_vec();
    let spans = path(
        &buf,
        &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
    )?;
    let stsd = spans[5];
    // stsd: full box header (4) + entry_count (4), then the sample entry.
    let entry_at = stsd.start + stsd.header + 8;
    if entry_at + 8 > stsd.end {
        return Err(EncryptError::Malformed("empty stsd".into()));
    }
    let entry_size =
        u32::from_be_bytes(buf[entry_at..entry_at + 4].try_into().expect("4 bytes")) as usize;
    let original: [u8; 4] = buf[entry_at + 4..entry_at + 8].try_into().expect("4 bytes");
    let entry = Span {
        start: entry_at,
        header: 8,
        end: entry_at + entry_size,
    };
    buf[entry_at + 4..entry_at + 8].copy_from_slice(match kind {
        MediaKind::Video => b"encv",
        MediaKind::Audio => b"enca",
    });
    let mut ancestors = spans.clone();
    ancestors.push(entry);
    insert(&mut buf, entry.end, &sinf(p, &original), &ancestors)?;
    let moov = path(&buf, &[b"moov"])?;
    insert(&mut buf, moov[0].end, &common_pssh(&[p.key.key_id]), &moov)?;
    Ok(buf)
}

/// Rewrites a clear-layout media segment whose `mdat` already holds the encrypted samples:
/// adds `saiz`, `saio` and `senc` to the `traf` for `aux` (one entry per sample, in order).
pub fn protect_segment(seg: &[u8], aux: &[SampleAux]) -> Result<Vec<u8>, EncryptError> {
    let mut buf = seg.to_vec();
    let spans = path(&buf, &[b"moof", b"traf"])?;
    let (moof, traf) = (spans[0], spans[1]);
    let trun = child(&buf, traf.start + traf.header, traf.end, b"trun")?;

    let with_subsamples = aux.iter().any(|a| !a.subsamples.is_empty());
    let sizes: Vec<usize> = aux.iter().map(|a| a.size(with_subsamples)).collect();
    let mut w = BoxWriter::new();
    // Without any auxiliary information (cbcs audio: constant IV, whole samples) there is
    // nothing for saiz/saio to point at: only the (empty-entried) senc, as Shaka writes.
    let has_aux = sizes.iter().any(|&s| s > 0);
    let mut saio_offset_pos = None;
    if has_aux {
        // saiz (no aux_info_type: the scheme's default applies).
        w.begin_full(b"saiz", 0, 0);
        let same = sizes
            .first()
            .copied()
            .filter(|&s| sizes.iter().all(|&x| x == s));
        match same {
            Some(s) if s > 0 && s <= 255 => {
                w.u8(s as u8).u32(aux.len() as u32);
            }
            _ => {
                w.u8(0).u32(aux.len() as u32);
                for &s in &sizes {
                    let s = u8::try_from(s).map_err(|_| {
                        EncryptError::Malformed(format!("{s}-byte senc entry (over 255)"))
                    })?;
                    w.u8(s);
                }
            }
        }
        w.end();
        w.begin_full(b"saio", 0, 0).u32(1);
        saio_offset_pos = Some(w.len());
        w.u32(0).end();
    }
    let senc_start = w.len();
    w.begin_full(b"senc", 0, if with_subsamples { 2 } else { 0 })
        .u32(aux.len() as u32);
    let first_entry = w.len();
    for a in aux {
        w.bytes(&a.iv);
        if with_subsamples {
            w.u16(a.subsamples.len() as u16);
            for s in &a.subsamples {
                w.u16(s.clear).u32(s.protected);
            }
        }
    }
    w.end();
    debug_assert_eq!(first_entry - senc_start, 16);
    if let Some(pos) = saio_offset_pos {
        w.patch_u32(pos, (traf.end - moof.start + first_entry) as u32);
    }
    let added = w.finish();

    // trun data offset (flag 0x1): at body offset 4 (after version/flags) + 4 (sample_count).
    let flags = u32::from_be_bytes(buf[trun.start + 8..trun.start + 12].try_into().expect("4"))
        & 0x00ff_ffff;
    if flags & 1 != 0 {
        let at = trun.start + 16;
        let old = i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
        let new = old + added.len() as i32;
        buf[at..at + 4].copy_from_slice(&new.to_be_bytes());
    }
    insert(&mut buf, traf.end, &added, &[moof, traf])?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt::sample::Subsample;
    use crate::encrypt::{ContentKey, SampleLayout};
    use crate::fmp4::{find_box, media_segment, BoxIter};
    use crate::track::Sample;

    fn prot(scheme: Scheme) -> TrackProtection {
        TrackProtection {
            scheme,
            key: ContentKey {
                key_id: [0xab; 16],
                key: [0x01; 16],
            },
            iv: if scheme == Scheme::Cenc {
                vec![7; 8]
            } else {
                vec![7; 16]
            },
            crypt_byte_block: 1,
            skip_byte_block: 9,
            layout: SampleLayout::Whole,
        }
    }

    #[test]
    fn tenc_versions() {
        let s = sinf(&prot(Scheme::Cenc), b"avc1");
        let tenc = find_box(&s, &["sinf", "schi", "tenc"]).unwrap();
        let (v, _, body) = tenc.full().unwrap();
        assert_eq!(v, 0);
        assert_eq!(body[..4], [0, 0, 1, 8]);
        assert_eq!(body[4..20], [0xab; 16]);
        assert_eq!(body.len(), 20);
        let frma = find_box(&s, &["sinf", "frma"]).unwrap();
        assert_eq!(frma.payload, b"avc1");
        let s = sinf(&prot(Scheme::Cbcs), b"mp4a");
        let tenc = find_box(&s, &["sinf", "schi", "tenc"]).unwrap();
        let (v, _, body) = tenc.full().unwrap();
        assert_eq!(v, 1);
        assert_eq!(body[..4], [0, 0x19, 1, 0]);
        assert_eq!(body[20], 16);
        assert_eq!(body[21..37], [7; 16]);
        let schm = find_box(&s, &["sinf", "schm"]).unwrap();
        assert_eq!(&schm.full().unwrap().2[..4], b"cbcs");
    }

    #[test]
    fn segment_gets_aux_boxes_and_offsets_stay_right() {
        let samples: Vec<Sample> = (0..3)
            .map(|i| Sample {
                data: vec![i as u8; 40 + i],
                duration: 1024,
                composition_offset: 0,
                is_sync: true,
            })
            .collect();
        let clear = media_segment(1, 0, &samples);
        let aux: Vec<SampleAux> = (0..3)
            .map(|i| SampleAux {
                iv: vec![i as u8; 8],
                subsamples: vec![Subsample {
                    clear: 5,
                    protected: 35 + i as u32,
                }],
            })
            .collect();
        let seg = protect_segment(&clear, &aux).unwrap();
        let total: usize = BoxIter::new(&seg).map(|b| b.unwrap().size()).sum();
        assert_eq!(total, seg.len());
        let moof = BoxIter::new(&seg)
            .map(|b| b.unwrap())
            .find(|b| &b.fourcc == b"moof")
            .unwrap();
        let mdat = BoxIter::new(&seg)
            .map(|b| b.unwrap())
            .find(|b| &b.fourcc == b"mdat")
            .unwrap();
        let trun = find_box(&seg, &["moof", "traf", "trun"]).unwrap();
        let (_, _, body) = trun.full().unwrap();
        let data_offset = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        assert_eq!(moof.offset + data_offset, mdat.offset + mdat.header_len);
        let saio = find_box(&seg, &["moof", "traf", "saio"]).unwrap();
        let (_, _, body) = saio.full().unwrap();
        let off = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        // The first senc entry: IV 0,0,..., then 1 subsample (5, 35).
        assert_eq!(seg[moof.offset + off..][..8], [0; 8]);
        assert_eq!(seg[moof.offset + off + 8..][..8], [0, 1, 0, 5, 0, 0, 0, 35]);
        let saiz = find_box(&seg, &["moof", "traf", "saiz"]).unwrap();
        let (_, _, body) = saiz.full().unwrap();
        assert_eq!(body[0], 16);
        assert_eq!(u32::from_be_bytes(body[1..5].try_into().unwrap()), 3);
        let senc = find_box(&seg, &["moof", "traf", "senc"]).unwrap();
        assert_eq!(senc.full().unwrap().1, 2);

        // cbcs audio: no IVs, no subsamples: senc only.
        let empty = vec![SampleAux::default(); 3];
        let seg = protect_segment(&clear, &empty).unwrap();
        assert!(find_box(&seg, &["moof", "traf", "saiz"]).is_none());
        assert!(find_box(&seg, &["moof", "traf", "saio"]).is_none());
        let (_, flags, body) = find_box(&seg, &["moof", "traf", "senc"])
            .unwrap()
            .full()
            .unwrap();
        assert_eq!((flags, body), (0, &3u32.to_be_bytes()[..]));
        let moof = BoxIter::new(&seg)
            .map(|b| b.unwrap())
            .find(|b| &b.fourcc == b"moof")
            .unwrap();
        let mdat = BoxIter::new(&seg)
            .map(|b| b.unwrap())
            .find(|b| &b.fourcc == b"mdat")
            .unwrap();
        let (_, _, body) = find_box(&seg, &["moof", "traf", "trun"])
            .unwrap()
            .full()
            .unwrap();
        let data_offset = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        assert_eq!(moof.offset + data_offset, mdat.offset + mdat.header_len);
    }
}
