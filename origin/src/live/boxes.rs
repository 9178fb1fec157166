//! Rewriting a CMAF/ISOBMFF media segment for loop iteration L: every `tfdt`
//! `baseMediaDecodeTime` moved by an offset and the `mfhd` sequence number replaced
//! (ISO/IEC 14496-12 §8.8.5 `mfhd`, §8.8.12 `tfdt`), as DASH-IF livesim2 does on the fly.
//!
//! Hand-written on purpose: the job is a few fields at known places in `moof`, and the only
//! structural change is a version-0 `tfdt` whose new time no longer fits 32 bits. Such a
//! `tfdt` is **upgraded to version 1** (4 more bytes): the enclosing `traf` and
//! `moof` sizes grow, and every offset that points past it is moved by the same amount —
//! `trun` `data_offset` (§8.8.8, relative to the `moof` under `default-base-is-moof`, which
//! CMAF requires) and `saio` offsets (§8.7.9, the `senc` sample auxiliary data). A `tfhd`
//! with an explicit `base_data_offset` (absolute file offsets, forbidden by CMAF) is refused
//! rather than guessed at. A pure function over bytes: [`rewrite_segment`].

use std::fmt;

/// Why a segment could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    /// A box header or field runs past its parent or the buffer.
    Truncated(&'static str),
    /// The segment has no `moof`.
    NoMoof,
    /// A `tfhd` with `base-data-offset-present` (absolute offsets; not CMAF).
    BaseDataOffset,
    /// The new decode time or an offset does not fit its field even after upgrading.
    Overflow(&'static str),
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::Truncated(what) => write!(f, "segment truncated in {what}"),
            RewriteError::NoMoof => f.write_str("segment has no moof box"),
            RewriteError::BaseDataOffset => {
                f.write_str("tfhd carries an explicit base_data_offset (not CMAF); cannot rewrite")
            }
            RewriteError::Overflow(what) => write!(f, "{what} overflows after the time shift"),
        }
    }
}

impl std::error::Error for RewriteError {}

/// A box found at `start` with header length `header` and total length `size`.
#[derive(Debug, Clone, Copy)]
struct BoxAt {
    kind: [u8; 4],
    start: usize,
    header: usize,
    size: usize,
}

/// The boxes directly inside `buf[from..to]`.
fn children(buf: &[u8], from: usize, to: usize) -> Result<Vec<BoxAt>, RewriteError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        if to - at < 8 {
            return Err(RewriteError::Truncated("box header"));
        }
        let size32 = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as u64;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        let (header, size) = match size32 {
            0 => (8, (to - at) as u64),
            1 => {
                if to - at < 16 {
                    return Err(RewriteError::Truncated("largesize box header"));
                }
                (
                    16,
                    u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap()),
                )
            }
            s => (8, s),
        };
        if size < header as u64 || size > (to - at) as u64 {
            return Err(RewriteError::Truncated("box size"));
        }
        out.push(BoxAt {
            kind,
            start: at,
            header,
            size: size as usize,
        });
        at += size as usize;
    }
    Ok(out)
}

fn be32(buf: &[u8], at: usize, what: &'static str) -> Result<u32, RewriteError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .ok_or(RewriteError::Truncated(what))
}

fn be64(buf: &[u8], at: usize, what: &'static str) -> Result<u64, RewriteError> {
    buf.get(at..at + 8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
        .ok_or(RewriteError::Truncated(what))
}

/// Returns `segment` with every `tfdt` time in its `moof`(s) moved by `offset` (media
/// timescale units; the result must stay in `0..=u64::MAX`) and every `mfhd` sequence
/// number set to `sequence`. Boxes other than `moof` (`styp`, `sidx`, `prft`, `emsg`,
/// `mdat`) are copied unchanged.
pub fn rewrite_segment(
    segment: &[u8],
    sequence: u32,
    offset: i128,
) -> Result<Vec<u8>, RewriteError> {
    let top = children(segment, 0, segment.len())?;
    if !top.iter().any(|b| &b.kind == b"moof") {
        return Err(RewriteError::NoMoof);
    }
    let mut out = Vec::with_capacity(segment.len() + 16);
    for b in &top {
        if &b.kind == b"moof" {
            rewrite_moof(segment, *b, sequence, offset, &mut out)?;
        } else {
            out.extend_from_slice(&segment[b.start..b.start + b.size]);
        }
    }
    Ok(out)
}

/// One `tfdt` inside a `moof`: position relative to the `moof` start, and the new time.
struct Tfdt {
    rel: usize,
    version: u8,
    new_time: u64,
}

fn rewrite_moof(
    buf: &[u8],
    moof: BoxAt,
    sequence: u32,
    offset: i128,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    if moof.header != 8 {
        return Err(RewriteError::Truncated("moof with a 64-bit size"));
    }
    // Pass 1: find the tfdts and which of them must grow.
    let mut tfdts = Vec::new();
    for traf in children(buf, moof.start + 8, moof.start + moof.size)? {
        if &traf.kind != b"traf" {
            continue;
        }
        for b in children(buf, traf.start + traf.header, traf.start + traf.size)? {
            match &b.kind {
                b"tfhd" => {
                    let flags = be32(buf, b.start + 8, "tfhd")? & 0x00ff_ffff;
                    if flags & 0x1 != 0 {
                        return Err(RewriteError::BaseDataOffset);
                    }
                }
                b"tfdt" => {
                    let version = *buf
                        .get(b.start + 8)
                        .ok_or(RewriteError::Truncated("tfdt"))?;
                    let old = if version == 1 {
                        be64(buf, b.start + 12, "tfdt")?
                    } else {
                        be32(buf, b.start + 12, "tfdt")? as u64
                    };
                    let new = i128::from(old) + offset;
                    let new_time =
                        u64::try_from(new).map_err(|_| RewriteError::Overflow("tfdt time"))?;
                    tfdts.push(Tfdt {
                        rel: b.start - moof.start,
                        version,
                        new_time,
                    });
                }
                _ => {}
            }
        }
    }
    let grows = |t: &Tfdt| t.version == 0 && t.new_time > u32::MAX as u64;
    // Bytes added before a position (relative to the moof start) by upgraded tfdts.
    let growth_before = |rel: u64| -> u64 {
        tfdts
            .iter()
            .filter(|t| grows(t) && (t.rel as u64) < rel)
            .count() as u64
            * 4
    };
    let total_growth = growth_before(u64::MAX);
    let new_moof_size = u32::try_from(moof.size as u64 + total_growth)
        .map_err(|_| RewriteError::Overflow("moof size"))?;

    // Pass 2: write.
    out.extend_from_slice(&new_moof_size.to_be_bytes());
    out.extend_from_slice(b"moof");
    for child in children(buf, moof.start + 8, moof.start + moof.size)? {
        let raw = &buf[child.start..child.start + child.size];
        match &child.kind {
            b"mfhd" => {
                if raw.len() < 16 {
                    return Err(RewriteError::Truncated("mfhd"));
                }
                out.extend_from_slice(&raw[..12]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(&raw[16..]);
            }
            b"traf" => {
                let traf_growth = growth_before((child.start + child.size - moof.start) as u64)
                    - growth_before((child.start - moof.start) as u64);
                let size = u32::try_from(child.size as u64 + traf_growth)
                    .map_err(|_| RewriteError::Overflow("traf size"))?;
                if child.header != 8 {
                    return Err(RewriteError::Truncated("traf with a 64-bit size"));
                }
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(b"traf");
                for b in children(buf, child.start + 8, child.start + child.size)? {
                    let raw = &buf[b.start..b.start + b.size];
                    match &b.kind {
                        b"tfdt" => {
                            let t = tfdts
                                .iter()
                                .find(|t| t.rel == b.start - moof.start)
                                .expect("found in pass 1");
                            if t.version == 1 || grows(t) {
                                out.extend_from_slice(&20u32.to_be_bytes());
                                out.extend_from_slice(b"tfdt");
                                out.push(1);
                                out.extend_from_slice(&raw[9..12]);
                                out.extend_from_slice(&t.new_time.to_be_bytes());
                            } else {
                                out.extend_from_slice(&raw[..12]);
                                out.extend_from_slice(&(t.new_time as u32).to_be_bytes());
                            }
                        }
                        b"trun" => {
                            let mut raw = raw.to_vec();
                            let flags = be32(&raw, 8, "trun")? & 0x00ff_ffff;
                            if flags & 0x1 != 0 {
                                let old = be32(&raw, 16, "trun data_offset")? as i32;
                                // Relative to the moof start: the data moves by the growth
                                // of everything before it.
                                let target = i64::from(old).max(0) as u64;
                                let new = i64::from(old) + growth_before(target) as i64;
                                let new = i32::try_from(new)
                                    .map_err(|_| RewriteError::Overflow("trun data_offset"))?;
                                raw[16..20].copy_from_slice(&new.to_be_bytes());
                            }
                            out.extend_from_slice(&raw);
                        }
                        b"saio" => {
                            let mut raw = raw.to_vec();
                            let version = raw[8];
                            let flags = be32(&raw, 8, "saio")? & 0x00ff_ffff;
                            let mut at = 12 + if flags & 1 != 0 { 8 } else { 0 };
                            let count = be32(&raw, at, "saio entry_count")?;
                            at += 4;
                            for _ in 0..count {
                                if version == 0 {
                                    let o = be32(&raw, at, "saio offset")? as u64;
                                    let n = u32::try_from(o + growth_before(o))
                                        .map_err(|_| RewriteError::Overflow("saio offset"))?;
                                    raw[at..at + 4].copy_from_slice(&n.to_be_bytes());
                                    at += 4;
                                } else {
                                    let o = be64(&raw, at, "saio offset")?;
                                    let n = o + growth_before(o);
                                    raw[at..at + 8].copy_from_slice(&n.to_be_bytes());
                                    at += 8;
                                }
                            }
                            out.extend_from_slice(&raw);
                        }
                        _ => out.extend_from_slice(raw),
                    }
                }
            }
            _ => out.extend_from_slice(raw),
        }
    }
    Ok(())
}

/// The media timescale (`mdhd`, ISO/IEC 14496-12 §8.4.2) of the first track of an init
/// segment (`moov/trak/mdia/mdhd`).
pub fn media_timescale(init: &[u8]) -> Option<u32> {
    let find = |from: usize, to: usize, kind: &[u8; 4]| -> Option<BoxAt> {
        children(init, from, to)
            .ok()?
            .into_iter()
            .find(|b| &b.kind == kind)
    };
    let moov = find(0, init.len(), b"moov")?;
    let trak = find(moov.start + moov.header, moov.start + moov.size, b"trak")?;
    let mdia = find(trak.start + trak.header, trak.start + trak.size, b"mdia")?;
    let mdhd = find(mdia.start + mdia.header, mdia.start + mdia.size, b"mdhd")?;
    let at = mdhd.start + mdhd.header;
    let version = *init.get(at)?;
    let ts_at = at + if version == 1 { 20 } else { 12 };
    be32(init, ts_at, "mdhd").ok().filter(|&t| t > 0)
}

/// Reads back `(mfhd sequence, [tfdt times])` of the first `moof` (for tests and checks).
pub fn fragment_times(segment: &[u8]) -> Result<(u32, Vec<(u8, u64)>), RewriteError> {
    let top = children(segment, 0, segment.len())?;
    let moof = top
        .iter()
        .find(|b| &b.kind == b"moof")
        .ok_or(RewriteError::NoMoof)?;
    let mut seq = 0;
    let mut times = Vec::new();
    for c in children(segment, moof.start + 8, moof.start + moof.size)? {
        match &c.kind {
            b"mfhd" => seq = be32(segment, c.start + 12, "mfhd")?,
            b"traf" => {
                for b in children(segment, c.start + 8, c.start + c.size)? {
                    if &b.kind == b"tfdt" {
                        let v = segment[b.start + 8];
                        let t = if v == 1 {
                            be64(segment, b.start + 12, "tfdt")?
                        } else {
                            be32(segment, b.start + 12, "tfdt")? as u64
                        };
                        times.push((v, t));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((seq, times))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
        let mut b = vec![version];
        b.extend_from_slice(&flags.to_be_bytes()[1..]);
        b.extend_from_slice(body);
        bx(kind, &b)
    }

    /// styp + moof(mfhd, traf(tfhd, tfdt v0|v1, trun with data_offset, saio→senc)) + mdat,
    /// the trun pointing at the mdat payload and the saio at the senc's first entry.
    fn segment(tfdt_v0: Option<u32>, tfdt_v1: Option<u64>, payload: &[u8]) -> Vec<u8> {
        let styp = bx(b"styp", b"cmfs\0\0\0\0cmfs");
        let mfhd = full(b"mfhd", 0, 0, &7u32.to_be_bytes());
        let tfhd = full(b"tfhd", 0, 0x020000, &1u32.to_be_bytes());
        let tfdt = match (tfdt_v0, tfdt_v1) {
            (Some(t), _) => full(b"tfdt", 0, 0, &t.to_be_bytes()),
            (_, Some(t)) => full(b"tfdt", 1, 0, &t.to_be_bytes()),
            _ => unreachable!(),
        };
        let senc = full(b"senc", 0, 0, &[0, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD]);
        // sizes: moof hdr 8 + mfhd 16 + traf hdr 8 + tfhd 16 + tfdt + trun 24 + saio 20 + senc
        let trun_len = 24;
        let saio_len = 20;
        let before_senc = 8 + mfhd.len() + 8 + tfhd.len() + tfdt.len() + trun_len + saio_len;
        let senc_entry = (before_senc + 12 + 4) as u32; // full header + sample_count
        let moof_len = before_senc + senc.len();
        let data_offset = (moof_len + 8) as u32;
        let mut trun_body = 1u32.to_be_bytes().to_vec();
        trun_body.extend_from_slice(&data_offset.to_be_bytes());
        trun_body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        let trun = full(b"trun", 0, 0x201, &trun_body);
        let mut saio_body = 1u32.to_be_bytes().to_vec();
        saio_body.extend_from_slice(&senc_entry.to_be_bytes());
        let saio = full(b"saio", 0, 0, &saio_body);
        assert_eq!((trun.len(), saio.len()), (trun_len, saio_len));
        let traf = bx(b"traf", &[tfhd, tfdt, trun, saio, senc].concat());
        let moof = bx(b"moof", &[mfhd, traf].concat());
        assert_eq!(moof.len(), moof_len);
        [styp, moof, bx(b"mdat", payload)].concat()
    }

    /// What a player does: follow trun data_offset and saio offset from the moof start.
    fn payload_and_aux(seg: &[u8]) -> (Vec<u8>, [u8; 4]) {
        let top = children(seg, 0, seg.len()).unwrap();
        let moof = top.iter().find(|b| &b.kind == b"moof").unwrap();
        let traf = children(seg, moof.start + 8, moof.start + moof.size).unwrap()[1];
        let kids = children(seg, traf.start + 8, traf.start + traf.size).unwrap();
        let trun = kids.iter().find(|b| &b.kind == b"trun").unwrap();
        let off = be32(seg, trun.start + 16, "").unwrap() as usize;
        let len = be32(seg, trun.start + 20, "").unwrap() as usize;
        let saio = kids.iter().find(|b| &b.kind == b"saio").unwrap();
        let aux = be32(seg, saio.start + 16, "").unwrap() as usize;
        (
            seg[moof.start + off..moof.start + off + len].to_vec(),
            seg[moof.start + aux..moof.start + aux + 4]
                .try_into()
                .unwrap(),
        )
    }

    #[test]
    fn v1_time_moves_in_place() {
        let seg = segment(None, Some(180_000), b"frames");
        let out = rewrite_segment(&seg, 42, 5_400_000 * 3).unwrap();
        assert_eq!(out.len(), seg.len());
        assert_eq!(
            fragment_times(&out).unwrap(),
            (42, vec![(1, 180_000 + 16_200_000)])
        );
        assert_eq!(
            payload_and_aux(&out),
            (b"frames".to_vec(), [0xAA, 0xBB, 0xCC, 0xDD])
        );
    }

    #[test]
    fn v0_fits_stays_v0() {
        let seg = segment(Some(1000), None, b"xyz");
        let out = rewrite_segment(&seg, 1, 2000).unwrap();
        assert_eq!(out.len(), seg.len());
        assert_eq!(fragment_times(&out).unwrap(), (1, vec![(0, 3000)]));
    }

    #[test]
    fn v0_overflow_upgrades_to_v1_and_moves_offsets() {
        let seg = segment(Some(90_000), None, b"media-bytes");
        let offset = 160_000_000_000_000i128; // 2026 at 90 kHz since 1970
        let out = rewrite_segment(&seg, 9, offset).unwrap();
        assert_eq!(out.len(), seg.len() + 4);
        assert_eq!(
            fragment_times(&out).unwrap(),
            (9, vec![(1, 90_000 + offset as u64)])
        );
        // the trun still points at the mdat payload, the saio at the senc entry
        assert_eq!(
            payload_and_aux(&out),
            (b"media-bytes".to_vec(), [0xAA, 0xBB, 0xCC, 0xDD])
        );
        // boxes still parse to the end
        assert_eq!(children(&out, 0, out.len()).unwrap().len(), 3);
    }

    #[test]
    fn mdhd_timescale() {
        let mdhd0 = full(
            b"mdhd",
            0,
            0,
            &[[0u8; 8].as_slice(), &12_800u32.to_be_bytes(), &[0; 8]].concat(),
        );
        let mdhd1 = full(
            b"mdhd",
            1,
            0,
            &[[0u8; 16].as_slice(), &48_000u32.to_be_bytes(), &[0; 12]].concat(),
        );
        for (mdhd, ts) in [(mdhd0, 12_800), (mdhd1, 48_000)] {
            let trak = bx(
                b"trak",
                &[bx(b"tkhd", &[0; 84]), bx(b"mdia", &mdhd)].concat(),
            );
            let init = [
                bx(b"ftyp", b"iso6"),
                bx(b"moov", &[bx(b"mvhd", &[0; 100]), trak].concat()),
            ]
            .concat();
            assert_eq!(media_timescale(&init), Some(ts));
        }
        assert_eq!(media_timescale(&bx(b"ftyp", b"iso6")), None);
    }

    #[test]
    fn refusals() {
        let seg = segment(None, Some(10), b"a");
        assert_eq!(
            rewrite_segment(&seg, 1, -11),
            Err(RewriteError::Overflow("tfdt time"))
        );
        assert_eq!(
            rewrite_segment(&seg[..40], 1, 0).unwrap_err(),
            RewriteError::Truncated("box size")
        );
        assert_eq!(
            rewrite_segment(&bx(b"mdat", b"x"), 1, 0),
            Err(RewriteError::NoMoof)
        );
        let mut explicit = seg.clone();
        // tfhd flags byte 3 → base-data-offset-present
        let pos = explicit.windows(4).position(|w| w == b"tfhd").unwrap();
        explicit[pos + 7] |= 1;
        assert_eq!(
            rewrite_segment(&explicit, 1, 0),
            Err(RewriteError::BaseDataOffset)
        );
    }
}
