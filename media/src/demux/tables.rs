//! The sample tables of one `trak`: handler, timescale and language, the sample entry
//! (`avc1`/`avc3` with `avcC`, `mp4a` with `esds`; `hvc1`/`hev1`/`av01` and the refusal of
//! any other audio/video codec in `entries`), and per-sample offsets, sizes, durations,
//! composition offsets and sync flags from `stts`/`ctts`/`stss`/`stsz`/`stsc`/`stco`/`co64`,
//! whose entries stay in the file (`prune`; see [`crate::samples`]): here their places are
//! checked against their boxes and the tables walked once with every check.

use manifests::layout::MediaKind;
use tracing::debug;

use crate::codec::{self, MediaError};
use crate::fmp4::{self, BoxIter, BoxRef};
use std::sync::Arc;

use crate::samples::{sync_table, Ctts, DataSource, Entries, Layout, SampleTable, Sizes, Sync};
use crate::track::CodecConfig;

use super::entries;
use super::prune::LeftTable;

/// A parsed track before its sample bytes are read.
pub(super) struct TrackTables {
    pub(super) track_id: u32,
    pub(super) kind: MediaKind,
    pub(super) timescale: u32,
    pub(super) language: String,
    pub(super) codec: CodecConfig,
    /// The sample tables, left in the file and walked once (every check done).
    pub(super) samples: SampleTable,
}

pub(super) enum Parsed {
    Track(Box<TrackTables>),
    Skip(String),
}

struct Cur<'a> {
    d: &'a [u8],
    p: usize,
    ctx: &'static str,
}

impl<'a> Cur<'a> {
    fn new(d: &'a [u8], ctx: &'static str) -> Self {
        Cur { d, p: 0, ctx }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], MediaError> {
        let s = self
            .d
            .get(self.p..self.p + n)
            .ok_or_else(|| MediaError::InvalidBox(format!("'{}' is too short", self.ctx)))?;
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MediaError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, MediaError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, MediaError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// Entry count checked against the bytes left (guards allocations on corrupt input).
    fn count(&mut self, entry_size: usize) -> Result<usize, MediaError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(entry_size) > self.d.len() - self.p {
            return Err(MediaError::InvalidBox(format!(
                "'{}' entry count {n} exceeds the box",
                self.ctx
            )));
        }
        Ok(n)
    }
}

fn need<'a>(parent: &BoxRef<'a>, fourcc: &[u8; 4]) -> Result<BoxRef<'a>, MediaError> {
    parent.child(fourcc).ok_or_else(|| {
        MediaError::InvalidBox(format!(
            "'{}' has no '{}'",
            parent.type_str(),
            String::from_utf8_lossy(fourcc)
        ))
    })
}

/// Parses one `trak` (read by `prune::read_trak`, the tables' entries `left` in `source`) of
/// a file of `file_len` bytes (sample data must fit in it: that bounds every later read by
/// the input's size, whatever counts a hostile file declares).
pub(super) fn parse_trak(
    trak: &BoxRef,
    left: &[LeftTable],
    source: &Arc<DataSource>,
    file_len: u64,
) -> Result<Parsed, MediaError> {
    let tkhd = need(trak, b"tkhd")?;
    let (v, _, body) = tkhd.full()?;
    let mut c = Cur::new(body, "tkhd");
    c.take(if v == 1 { 16 } else { 8 })?;
    let track_id = c.u32()?;

    let mdia = need(trak, b"mdia")?;
    let hdlr = need(&mdia, b"hdlr")?;
    let (_, _, hb) = hdlr.full()?;
    let handler: [u8; 4] = Cur::new(hb, "hdlr").take(8)?[4..8].try_into().unwrap();
    let kind = match &handler {
        b"vide" => MediaKind::Video,
        b"soun" => MediaKind::Audio,
        other => {
            return Ok(Parsed::Skip(format!(
                "track {track_id}: handler '{}' is neither video nor audio",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let mdhd = need(&mdia, b"mdhd")?;
    let (v, _, body) = mdhd.full()?;
    let mut c = Cur::new(body, "mdhd");
    c.take(if v == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    c.take(if v == 1 { 8 } else { 4 })?;
    let language = fmp4::unpack_language(c.u16()? & 0x7fff);
    if timescale == 0 {
        return Err(MediaError::InvalidBox(format!(
            "track {track_id}: mdhd timescale 0"
        )));
    }

    let stbl = need(&need(&mdia, b"minf")?, b"stbl")?;
    let stsd = need(&stbl, b"stsd")?;
    let (_, _, sb) = stsd.full()?;
    let entry = BoxIter::new(sb.get(4..).unwrap_or(&[]))
        .next()
        .ok_or_else(|| MediaError::InvalidBox(format!("track {track_id}: empty stsd")))??;
    let (codec, nal_length_size) = match (&entry.fourcc, kind) {
        (b"avc1" | b"avc3", MediaKind::Video) => {
            let children = entry
                .payload
                .get(78..)
                .ok_or_else(|| MediaError::InvalidBox("avc1 sample entry too short".into()))?;
            let avcc = fmp4::find_box(children, &["avcC"]).ok_or_else(|| {
                MediaError::InvalidAvc(format!("track {track_id}: avc1 without avcC"))
            })?;
            let cfg = codec::parse_avc_decoder_config(avcc.payload)?;
            (
                CodecConfig::Avc {
                    sps: cfg.sps,
                    pps: cfg.pps,
                },
                cfg.length_size,
            )
        }
        (b"hvc1" | b"hev1", MediaKind::Video) => entries::hevc(track_id, &entry)?,
        (b"av01", MediaKind::Video) => (entries::av1(track_id, &entry)?, 0),
        (b"mp4a", MediaKind::Audio) => {
            let mut c = Cur::new(entry.payload, "mp4a");
            c.take(16)?;
            let entry_channels = c.u16()?;
            c.take(6)?;
            let entry_rate = c.u32()? >> 16;
            let version = u16::from_be_bytes([entry.payload[8], entry.payload[9]]);
            let skip = match version {
                0 => 28,
                1 => 28 + 16,
                2 => 28 + 36,
                v => {
                    return Err(MediaError::Unsupported(format!(
                        "track {track_id}: mp4a sample entry version {v}"
                    )))
                }
            };
            let children = entry.payload.get(skip..).unwrap_or(&[]);
            // QuickTime (.mov) puts the esds inside a `wave` box.
            let esds = fmp4::find_box(children, &["esds"])
                .or_else(|| fmp4::find_box(children, &["wave", "esds"]))
                .ok_or_else(|| entries::unsupported(track_id, kind, b"mp4a", None))?;
            let (oti, asc) = parse_esds(esds.full()?.2)?;
            if oti != 0x40 {
                return Err(entries::unsupported(track_id, kind, b"mp4a", Some(oti)));
            }
            let asc = asc.ok_or_else(|| {
                MediaError::InvalidAac(format!("track {track_id}: esds has no DecoderSpecificInfo"))
            })?;
            let parsed = codec::parse_audio_specific_config(&asc)?;
            if !matches!(parsed.object_type, 2 | 5 | 29) {
                return Err(MediaError::UnsupportedCodec {
                    track_id,
                    kind: kind.content_type(),
                    codec: format!(
                        "mp4a.40.{0} (AAC object type {0}; LC, HE-AAC and HE-AACv2 are)",
                        parsed.object_type
                    ),
                    stream_index: None,
                });
            }
            let channels = parsed.channels().unwrap_or(entry_channels);
            let sample_rate = parsed.extension_sample_rate.unwrap_or(parsed.sample_rate);
            debug!(track_id, entry_rate, sample_rate, channels, "AAC track");
            (
                CodecConfig::Aac {
                    audio_specific_config: asc,
                    sample_rate,
                    channels,
                },
                0,
            )
        }
        (b"mp4v", _) => {
            return Err(entries::unsupported(
                track_id,
                kind,
                b"mp4v",
                entries::mp4v_oti(&entry),
            ))
        }
        (fourcc, _) => return Err(entries::unsupported(track_id, kind, fourcc, None)),
    };

    // Sample tables, left in the file (see `crate::samples`): where each table's entries
    // lie, checked against the box that holds them.
    let left_in = |fourcc: &[u8; 4]| {
        left.iter()
            .find(|l| &l.fourcc == fourcc)
            .copied()
            .ok_or_else(|| {
                MediaError::InvalidBox(format!(
                    "'{}' outside stbl",
                    String::from_utf8_lossy(fourcc)
                ))
            })
    };
    // Entries of `size` bytes after `fields` bytes of fields, `n` of them, inside the box.
    let entries = |fourcc: &[u8; 4], fields: u64, n: u32, size: u8| {
        let (offset, avail) = left_in(fourcc)?.entries(fields);
        if u64::from(n) * u64::from(size) > avail {
            return Err(MediaError::InvalidBox(format!(
                "'{}' entry count {n} exceeds the box",
                String::from_utf8_lossy(fourcc)
            )));
        }
        Ok(Entries {
            offset,
            count: n,
            size,
        })
    };
    let (sizes, count) = if let Some(stsz) = stbl.child(b"stsz") {
        let (_, _, b) = stsz.full()?;
        let mut c = Cur::new(b, "stsz");
        let fixed = c.u32()?;
        let n = c.u32()?;
        if fixed != 0 {
            let bytes = u64::from(n).saturating_mul(u64::from(fixed));
            if bytes > file_len {
                return Err(MediaError::Truncated(format!(
                    "track {track_id}: {n} samples of {fixed} bytes lie beyond the end of the file ({file_len} bytes)"
                )));
            }
            (Sizes::Fixed(fixed), n)
        } else {
            let e = entries(b"stsz", 8, n, 4)
                .map_err(|_| MediaError::InvalidBox("'stsz' entry count exceeds the box".into()))?;
            (
                Sizes::Fields {
                    offset: e.offset,
                    bits: 32,
                },
                n,
            )
        }
    } else if let Some(stz2) = stbl.child(b"stz2") {
        let (_, _, b) = stz2.full()?;
        let mut c = Cur::new(b, "stz2");
        c.take(3)?;
        let field = c.u8()?;
        let n = c.u32()?;
        let (offset, avail) = left_in(b"stz2")?.entries(8);
        let need = match field {
            4 => u64::from(n).div_ceil(2),
            8 => u64::from(n),
            16 => 2 * u64::from(n),
            f => return Err(MediaError::InvalidBox(format!("'stz2' field size {f}"))),
        };
        if need > avail {
            return Err(MediaError::InvalidBox("'stz2' too short".into()));
        }
        (
            Sizes::Fields {
                offset,
                bits: field,
            },
            n,
        )
    } else {
        return Err(MediaError::InvalidBox(format!(
            "track {track_id}: no stsz/stz2"
        )));
    };

    let mut layout = Layout {
        track_id,
        count,
        sizes,
        stts: Entries::default(),
        ctts: None,
        sync: Sync::All,
        stsc: Entries::default(),
        chunks: Entries::default(),
        file_len,
    };
    if count > 0 {
        // stts → durations as (count, duration) runs
        let stts = need(&stbl, b"stts")?;
        let n = Cur::new(stts.full()?.2, "stts").u32()?;
        layout.stts = entries(b"stts", 4, n, 8)?;

        // ctts → composition offsets (absent: all 0; version 0 offsets are unsigned)
        if let Some(ctts) = stbl.child(b"ctts") {
            let (v, _, b) = ctts.full()?;
            let n = Cur::new(b, "ctts").u32()?;
            layout.ctts = Some(Ctts {
                entries: entries(b"ctts", 4, n, 8)?,
                signed: v == 1,
            });
        }

        // stss → sync sample numbers (absent: all sync)
        if let Some(stss) = stbl.child(b"stss") {
            let n = Cur::new(stss.full()?.2, "stss").u32()?;
            layout.sync = sync_table(source, entries(b"stss", 4, n, 4)?, count)?;
        }

        // stco / co64 → chunk offsets
        layout.chunks = if let Some(stco) = stbl.child(b"stco") {
            let n = Cur::new(stco.full()?.2, "stco").u32()?;
            entries(b"stco", 4, n, 4)?
        } else if let Some(co64) = stbl.child(b"co64") {
            let n = Cur::new(co64.full()?.2, "co64").u32()?;
            entries(b"co64", 4, n, 8)?
        } else {
            return Err(MediaError::InvalidBox(format!(
                "track {track_id}: no stco/co64"
            )));
        };

        // stsc → samples per chunk; every chunk's bytes must lie inside the file, which
        // bounds every later read (`crate::samples`) by the input's size: checked by the walk
        // that builds the table.
        let stsc = need(&stbl, b"stsc")?;
        let n = Cur::new(stsc.full()?.2, "stsc").u32()?;
        layout.stsc = entries(b"stsc", 4, n, 12)?;
    }
    let nal = (nal_length_size != 0).then_some(nal_length_size);
    let mut tables = TrackTables {
        track_id,
        kind,
        timescale,
        language,
        codec,
        samples: SampleTable::build(Arc::clone(source), layout, nal)?,
    };

    // Edit list: the first non-empty edit's media_time is the media time presented at 0:
    // the encoder's priming for audio (1024 samples for AAC), the first frame's composition
    // offset for video with B-frames. Kept as the track's presentation offset; the packager
    // moves every track's timeline by a common whole number of seconds instead of writing an
    // `elst` (see `package::plan`).
    if let Some(elst) = trak.child(b"edts").and_then(|e| e.child(b"elst")) {
        let (v, _, b) = elst.full()?;
        let mut c = Cur::new(b, "elst");
        let n = c.count(if v == 1 { 20 } else { 12 })?;
        let mut media_time = None;
        for _ in 0..n {
            let (_dur, mt) = if v == 1 {
                (c.u64()?, c.u64()? as i64)
            } else {
                (c.u32()? as u64, c.u32()? as i32 as i64)
            };
            c.take(4)?;
            if mt == -1 {
                debug!(track_id, "edit list: initial empty edit ignored");
                continue;
            }
            media_time = Some(mt);
            break;
        }
        if let Some(mt) = media_time.filter(|&m| m > 0) {
            let shift = i32::try_from(mt)
                .map_err(|_| MediaError::Unsupported(format!("edit list media_time {mt}")))?;
            debug!(
                track_id,
                media_time = mt,
                ?kind,
                "edit list: media time presented at 0"
            );
            tables.samples.presentation_offset = shift as u32;
        }
    }
    Ok(Parsed::Track(Box::new(tables)))
}

/// Returns (objectTypeIndication, DecoderSpecificInfo) from an `esds` payload (after
/// version/flags). The DecoderSpecificInfo is optional: MP3 and MPEG-4 Part 2 may have none.
pub(super) fn parse_esds(data: &[u8]) -> Result<(u8, Option<Vec<u8>>), MediaError> {
    fn read_desc(d: &[u8]) -> Result<(u8, &[u8], &[u8]), MediaError> {
        let err = || MediaError::InvalidBox("malformed esds descriptor".into());
        let tag = *d.first().ok_or_else(err)?;
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *d.get(i).ok_or_else(err)?;
            len = (len << 7) | (b & 0x7f) as usize;
            i += 1;
            if b & 0x80 == 0 || i > 4 {
                break;
            }
        }
        let body = d.get(i..i + len).ok_or_else(err)?;
        Ok((tag, body, &d[i + len..]))
    }
    let (tag, es, _) = read_desc(data)?;
    if tag != 3 {
        return Err(MediaError::InvalidBox(format!(
            "esds: expected ES_Descriptor, got tag {tag}"
        )));
    }
    let flags = *es
        .get(2)
        .ok_or_else(|| MediaError::InvalidBox("esds too short".into()))?;
    let mut p = 3;
    if flags & 0x80 != 0 {
        p += 2;
    }
    if flags & 0x40 != 0 {
        p += 1 + *es.get(p).unwrap_or(&0) as usize;
    }
    if flags & 0x20 != 0 {
        p += 2;
    }
    let mut rest = es
        .get(p..)
        .ok_or_else(|| MediaError::InvalidBox("esds too short".into()))?;
    while !rest.is_empty() {
        let (tag, body, next) = read_desc(rest)?;
        if tag == 4 {
            let oti = *body
                .first()
                .ok_or_else(|| MediaError::InvalidBox("empty DecoderConfigDescriptor".into()))?;
            let mut inner = body.get(13..).unwrap_or(&[]);
            while !inner.is_empty() {
                let (t, b, n) = read_desc(inner)?;
                if t == 5 {
                    return Ok((oti, Some(b.to_vec())));
                }
                inner = n;
            }
            return Ok((oti, None));
        }
        rest = next;
    }
    Err(MediaError::InvalidBox(
        "esds has no DecoderConfigDescriptor".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esds_parsing() {
        // ES_Descriptor(ES_ID 1) { DecoderConfig(0x40, ...) { DSI 11 90 } SLConfig }
        let esds = [
            3, 25, 0, 1, 0, 4, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0x11, 0x90,
            6, 1, 2,
        ];
        assert_eq!(parse_esds(&esds).unwrap(), (0x40, Some(vec![0x11, 0x90])));
    }
}
