//! The fMP4 writer: [`BoxWriter`] (big-endian box builder), CMAF init segments
//! ([`init_segment`]: `ftyp` + `moov` with one track) and media segments ([`media_segment`]:
//! `styp` + `moof` + `mdat`).

use super::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS, TRACK_ID};
use crate::codec::{self, MediaError};
use crate::samples::SampleInfo;
use crate::track::{CodecConfig, Sample, Track};
use manifests::layout::MediaKind;

/// Big-endian ISO-BMFF box builder: `begin`/`end` pairs patch box sizes.
#[derive(Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl BoxWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a box of type `fourcc`.
    pub fn begin(&mut self, fourcc: &[u8; 4]) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        self
    }

    /// Opens a full box (with version and 24-bit flags).
    pub fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> &mut Self {
        self.begin(fourcc);
        self.u32(((version as u32) << 24) | (flags & 0x00ff_ffff))
    }

    /// Closes the innermost open box, writing its size.
    pub fn end(&mut self) -> &mut Self {
        let start = self.open.pop().expect("BoxWriter::end without begin");
        let size = u32::try_from(self.buf.len() - start).expect("box larger than 4 GiB");
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        self
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a big-endian 24-bit integer.
    pub fn u24(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
        self
    }
    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a big-endian i32.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }
    /// Current length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Overwrites 4 bytes at `pos` with a big-endian u32.
    pub fn patch_u32(&mut self, pos: usize, v: u32) {
        self.buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
    }
    /// The finished bytes (all boxes must be closed).
    pub fn finish(self) -> Vec<u8> {
        assert!(self.open.is_empty(), "BoxWriter::finish with open boxes");
        self.buf
    }
}

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn write_matrix(w: &mut BoxWriter) {
    for v in UNITY_MATRIX {
        w.u32(v);
    }
}

/// ISO 639-2/T code packed into 15 bits as in `mdhd` (`und` for anything invalid).
pub fn pack_language(lang: &str) -> u16 {
    let b = lang.as_bytes();
    let valid = b.len() == 3 && b.iter().all(|c| c.is_ascii_lowercase());
    let b = if valid { b } else { b"und" };
    b.iter()
        .fold(0u16, |acc, &c| (acc << 5) | (c - 0x60) as u16)
}

/// Inverse of [`pack_language`].
pub fn unpack_language(v: u16) -> String {
    let chars = [(v >> 10) & 0x1f, (v >> 5) & 0x1f, v & 0x1f];
    if chars.iter().any(|&c| !(1..=26).contains(&c)) {
        return "und".into();
    }
    chars.iter().map(|&c| (c as u8 + 0x60) as char).collect()
}

/// Bitrate information for `btrt` / `esds`, measured from a track's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bitrates {
    /// Largest sample in bytes.
    pub buffer_size_db: u32,
    /// Peak bitrate over any one-second window, bits per second.
    pub max_bitrate: u32,
    /// Average bitrate, bits per second.
    pub avg_bitrate: u32,
}

impl Bitrates {
    /// Measures a track.
    pub fn measure(track: &Track) -> Self {
        let ts = track.timescale.max(1) as u64;
        let total_bytes = track.samples.total_bytes();
        let total_dur = track.samples.total_duration();
        let avg = (total_bytes * 8 * ts).checked_div(total_dur).unwrap_or(0);
        // Sliding one-second window over decode times (two passes over the tables: the
        // window's tail is a second iterator).
        let mut max = 0u64;
        let mut tail = track.samples.infos();
        let (mut bytes_in, mut t_lo, mut t_hi) = (0u64, 0u64, 0u64);
        let mut largest = 0u32;
        for s in track.samples.infos() {
            largest = largest.max(s.size);
            bytes_in += u64::from(s.size);
            t_hi += u64::from(s.duration);
            while t_hi - t_lo > ts {
                let Some(old) = tail.next() else { break };
                bytes_in -= u64::from(old.size);
                t_lo += u64::from(old.duration);
            }
            max = max.max(bytes_in * 8);
        }
        let max = if total_dur < ts { avg.max(max) } else { max };
        Bitrates {
            buffer_size_db: largest,
            max_bitrate: max.min(u32::MAX as u64) as u32,
            avg_bitrate: avg.min(u32::MAX as u64) as u32,
        }
    }
}

/// (configuration box type, its payload, whole colour boxes).
type VideoConfig<'a> = (&'static [u8; 4], Vec<u8>, &'a [u8]);

/// The decoder configuration box of a video sample entry: `avcC` built from the parameter
/// sets, or the source's `hvcC` / `av1C` as it was (checked to parse); and the source's
/// colour boxes to write after it (`colr`, `mdcv`, `clli`; none for H.264).
fn video_config_box(codec: &CodecConfig) -> Result<VideoConfig<'_>, MediaError> {
    codec.validate()?;
    Ok(match codec {
        CodecConfig::Avc { sps, pps } => {
            (b"avcC", codec::build_avc_decoder_config(sps, pps)?, &[][..])
        }
        CodecConfig::Hevc {
            hvcc, colour_boxes, ..
        } => (b"hvcC", hvcc.clone(), &colour_boxes[..]),
        CodecConfig::Av1 {
            av1c, colour_boxes, ..
        } => (b"av1C", av1c.clone(), &colour_boxes[..]),
        CodecConfig::Aac { .. } => {
            return Err(MediaError::Unsupported(
                "an audio configuration in a video sample entry".into(),
            ))
        }
    })
}

/// Writes a CMAF header (`ftyp` + `moov`) for one track.
pub fn init_segment(track: &Track) -> Result<Vec<u8>, MediaError> {
    init_segment_with_edit(track, 0)
}

/// [`init_segment`] whose track has an edit list presenting from media time `media_time`
/// (`elst` version 0, one edit to the end of the track, segment_duration 0 as in a
/// fragmented file): the packager writes decode times later by the B-frame delay and
/// cancels it here (see `package::plan`). No `edts` when `media_time` is 0.
pub fn init_segment_with_edit(track: &Track, media_time: u32) -> Result<Vec<u8>, MediaError> {
    let media_time = i32::try_from(media_time)
        .map_err(|_| MediaError::Unsupported(format!("edit list media_time {media_time}")))?;
    let bitrates = Bitrates::measure(track);
    let mut w = BoxWriter::new();
    // ftyp
    w.begin(b"ftyp").bytes(b"cmfc").u32(0);
    w.bytes(b"iso6")
        .bytes(b"cmfc")
        .bytes(b"dash")
        .bytes(b"mp41");
    match track.codec {
        CodecConfig::Avc { .. } => {
            w.bytes(b"avc1");
        }
        // AV1-ISOBMFF §2.1: files with AV1 tracks list the `av01` brand.
        CodecConfig::Av1 { .. } => {
            w.bytes(b"av01");
        }
        CodecConfig::Hevc { .. } | CodecConfig::Aac { .. } => {}
    }
    w.end();

    let (width, height, sar) = match (&track.codec, track.kind) {
        (CodecConfig::Avc { sps, .. }, MediaKind::Video) => {
            let first = sps
                .first()
                .ok_or_else(|| MediaError::InvalidAvc("track has no SPS".into()))?;
            let info = codec::parse_sps(first)?;
            (info.width, info.height, info.sample_aspect_ratio)
        }
        (CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }, MediaKind::Video) => {
            let p = track.codec.picture()?.ok_or_else(|| {
                MediaError::Unsupported(format!("track {}: no picture size", track.id))
            })?;
            (p.width, p.height, p.sar)
        }
        (CodecConfig::Aac { .. }, MediaKind::Audio) => (0, 0, None),
        _ => {
            return Err(MediaError::Unsupported(format!(
                "track {}: codec does not match its kind {:?}",
                track.id, track.kind
            )))
        }
    };

    w.begin(b"moov");
    // mvhd
    w.begin_full(b"mvhd", 0, 0)
        .u32(0)
        .u32(0)
        .u32(track.timescale)
        .u32(0);
    w.u32(0x0001_0000).u16(0x0100).zeros(10);
    write_matrix(&mut w);
    w.zeros(24).u32(TRACK_ID + 1).end();

    w.begin(b"trak");
    // tkhd: enabled | in_movie | in_preview
    w.begin_full(b"tkhd", 0, 7)
        .u32(0)
        .u32(0)
        .u32(TRACK_ID)
        .u32(0)
        .u32(0);
    w.zeros(8).u16(0).u16(0);
    w.u16(if track.kind == MediaKind::Audio {
        0x0100
    } else {
        0
    })
    .u16(0);
    write_matrix(&mut w);
    let display_width = match sar {
        Some((h, v)) if h != v && v > 0 => (width as u64 * h as u64 / v as u64) as u32,
        _ => width,
    };
    w.u32(display_width << 16).u32(height << 16).end();
    if media_time > 0 {
        w.begin(b"edts");
        // One edit: whole track (0 = to the end in a fragmented file), rate 1.0.
        w.begin_full(b"elst", 0, 0)
            .u32(1)
            .u32(0)
            .i32(media_time)
            .u16(1)
            .u16(0)
            .end();
        w.end();
    }

    w.begin(b"mdia");
    w.begin_full(b"mdhd", 0, 0)
        .u32(0)
        .u32(0)
        .u32(track.timescale)
        .u32(0);
    w.u16(pack_language(&track.language)).u16(0).end();
    let (handler, name): (&[u8; 4], &[u8]) = match track.kind {
        MediaKind::Video => (b"vide", b"VideoHandler\0"),
        MediaKind::Audio => (b"soun", b"SoundHandler\0"),
    };
    w.begin_full(b"hdlr", 0, 0)
        .u32(0)
        .bytes(handler)
        .zeros(12)
        .bytes(name)
        .end();

    w.begin(b"minf");
    match track.kind {
        MediaKind::Video => w.begin_full(b"vmhd", 0, 1).u16(0).zeros(6).end(),
        MediaKind::Audio => w.begin_full(b"smhd", 0, 0).u16(0).u16(0).end(),
    };
    w.begin(b"dinf").begin_full(b"dref", 0, 0).u32(1);
    w.begin_full(b"url ", 0, 1).end().end().end();

    w.begin(b"stbl");
    w.begin_full(b"stsd", 0, 0).u32(1);
    match &track.codec {
        video @ (CodecConfig::Avc { .. } | CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. }) => {
            let (config_box, config, colour_boxes) = video_config_box(video)?;
            // `hvc1`/`hev1` as the source had it (see demux/entries.rs), `avc1`, `av01`.
            w.begin(video.sample_entry()).zeros(6).u16(1); // reserved, data_reference_index
            w.zeros(16); // pre_defined, reserved, pre_defined[3]
            w.u16(width as u16).u16(height as u16);
            w.u32(0x0048_0000).u32(0x0048_0000).u32(0).u16(1);
            let mut compressor = [0u8; 32];
            let label = b"media fmp4 packager";
            compressor[0] = label.len() as u8;
            compressor[1..=label.len()].copy_from_slice(label);
            w.bytes(&compressor).u16(0x0018).u16(0xffff);
            w.begin(config_box).bytes(&config).end();
            w.bytes(colour_boxes);
            if let Some((h, v)) = sar {
                w.begin(b"pasp").u32(h as u32).u32(v as u32).end();
            }
            w.begin(b"btrt")
                .u32(bitrates.buffer_size_db)
                .u32(bitrates.max_bitrate)
                .u32(bitrates.avg_bitrate)
                .end();
            w.end();
        }
        CodecConfig::Aac {
            audio_specific_config,
            sample_rate,
            channels,
        } => {
            codec::parse_audio_specific_config(audio_specific_config)?;
            w.begin(b"mp4a").zeros(6).u16(1).zeros(8);
            w.u16(*channels).u16(16).u16(0).u16(0);
            let rate_16_16 = if *sample_rate <= 0xffff {
                sample_rate << 16
            } else {
                0
            };
            w.u32(rate_16_16);
            write_esds(&mut w, audio_specific_config, &bitrates);
            w.begin(b"btrt")
                .u32(bitrates.buffer_size_db)
                .u32(bitrates.max_bitrate)
                .u32(bitrates.avg_bitrate)
                .end();
            w.end();
        }
    }
    w.end(); // stsd
    w.begin_full(b"stts", 0, 0).u32(0).end();
    w.begin_full(b"stsc", 0, 0).u32(0).end();
    w.begin_full(b"stsz", 0, 0).u32(0).u32(0).end();
    w.begin_full(b"stco", 0, 0).u32(0).end();
    w.end(); // stbl
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak

    w.begin(b"mvex");
    w.begin_full(b"trex", 0, 0)
        .u32(TRACK_ID)
        .u32(1)
        .u32(0)
        .u32(0)
        .u32(0)
        .end();
    w.end();
    w.end(); // moov
    Ok(w.finish())
}

fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let mut len = body.len();
    let mut size_bytes = vec![(len & 0x7f) as u8];
    len >>= 7;
    while len > 0 {
        size_bytes.push(0x80 | (len & 0x7f) as u8);
        len >>= 7;
    }
    size_bytes.reverse();
    out.extend_from_slice(&size_bytes);
    out.extend_from_slice(body);
    out
}

fn write_esds(w: &mut BoxWriter, asc: &[u8], br: &Bitrates) {
    let dsi = descriptor(5, asc);
    let mut dcd = vec![0x40, 0x15]; // MPEG-4 audio, AudioStream, upstream 0, reserved 1
    dcd.extend_from_slice(&br.buffer_size_db.to_be_bytes()[1..]);
    dcd.extend_from_slice(&br.max_bitrate.to_be_bytes());
    dcd.extend_from_slice(&br.avg_bitrate.to_be_bytes());
    dcd.extend_from_slice(&dsi);
    let dcd = descriptor(4, &dcd);
    let sl = descriptor(6, &[2]);
    let mut es = vec![0, TRACK_ID as u8, 0]; // ES_ID, flags
    es.extend_from_slice(&dcd);
    es.extend_from_slice(&sl);
    w.begin_full(b"esds", 0, 0).bytes(&descriptor(3, &es)).end();
}

/// Writes one CMAF media segment (`styp` + `moof` + `mdat`) holding `samples`, whose first
/// sample has decode time `base_media_decode_time` (in the track timescale).
/// Sample flags follow `Sample::is_sync`; `trun` is version 1 when a composition offset is negative.
pub fn media_segment(
    sequence_number: u32,
    base_media_decode_time: u64,
    samples: &[Sample],
) -> Vec<u8> {
    let infos: Vec<SampleInfo> = samples
        .iter()
        .map(|s| SampleInfo {
            size: s.data.len() as u32,
            duration: s.duration,
            composition_offset: s.composition_offset,
            is_sync: s.is_sync,
        })
        .collect();
    let mut out = media_segment_head(sequence_number, base_media_decode_time, &infos);
    out.reserve(samples.iter().map(|s| s.data.len()).sum());
    for s in samples {
        out.extend_from_slice(&s.data);
    }
    out
}

/// The bytes of a media segment that come before the sample data: `styp`, `moof` and the
/// `mdat` header, for samples described by `infos` (sizes as they will be written). The
/// segment is this head followed by the samples' bytes in order, so a caller holding the
/// payload in one buffer (read straight from the input file) writes both without copying the
/// payload again ([`media_segment`] is the in-memory form).
pub fn media_segment_head(
    sequence_number: u32,
    base_media_decode_time: u64,
    infos: &[SampleInfo],
) -> Vec<u8> {
    let samples = infos;
    let mut w = BoxWriter::new();
    w.begin(b"styp")
        .bytes(b"msdh")
        .u32(0)
        .bytes(b"msdh")
        .bytes(b"cmfs")
        .bytes(b"iso6")
        .end();

    let moof_start = w.len();
    w.begin(b"moof");
    w.begin_full(b"mfhd", 0, 0).u32(sequence_number).end();
    w.begin(b"traf");

    let flags: Vec<u32> = samples
        .iter()
        .map(|s| {
            if s.is_sync {
                SYNC_SAMPLE_FLAGS
            } else {
                NON_SYNC_SAMPLE_FLAGS
            }
        })
        .collect();
    let first_dur = samples.first().map(|s| s.duration).unwrap_or(0);
    let same_duration = samples.iter().all(|s| s.duration == first_dur);
    // Sample flags: one default for all, or a default plus first-sample-flags, or per sample.
    let (default_flags, first_flags, per_sample_flags) = match flags.split_first() {
        None => (None, None, false),
        Some((&f0, rest)) if rest.iter().all(|&f| f == f0) => (Some(f0), None, false),
        Some((&f0, rest)) if rest.iter().all(|&f| f == rest[0]) => (Some(rest[0]), Some(f0), false),
        Some(_) => (None, None, true),
    };

    let mut tfhd_flags = 0x02_0000; // default-base-is-moof
    if same_duration && !samples.is_empty() {
        tfhd_flags |= 0x08;
    }
    if default_flags.is_some() {
        tfhd_flags |= 0x20;
    }
    w.begin_full(b"tfhd", 0, tfhd_flags).u32(TRACK_ID);
    if tfhd_flags & 0x08 != 0 {
        w.u32(first_dur);
    }
    if let Some(f) = default_flags {
        w.u32(f);
    }
    w.end();

    w.begin_full(b"tfdt", 1, 0)
        .u64(base_media_decode_time)
        .end();

    let has_cto = samples.iter().any(|s| s.composition_offset != 0);
    let negative_cto = samples.iter().any(|s| s.composition_offset < 0);
    let mut trun_flags = 0x000001; // data-offset-present
    if first_flags.is_some() {
        trun_flags |= 0x000004;
    }
    if !same_duration {
        trun_flags |= 0x000100;
    }
    trun_flags |= 0x000200; // sample sizes
    if per_sample_flags {
        trun_flags |= 0x000400;
    }
    if has_cto {
        trun_flags |= 0x000800;
    }
    w.begin_full(b"trun", if negative_cto { 1 } else { 0 }, trun_flags);
    w.u32(samples.len() as u32);
    let data_offset_pos = w.len();
    w.u32(0);
    if let Some(f) = first_flags {
        w.u32(f);
    }
    for (s, &f) in samples.iter().zip(&flags) {
        if !same_duration {
            w.u32(s.duration);
        }
        w.u32(s.size);
        if per_sample_flags {
            w.u32(f);
        }
        if has_cto {
            w.i32(s.composition_offset);
        }
    }
    w.end(); // trun
    w.end(); // traf
    w.end(); // moof

    let payload: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    let moof_size = w.len() - moof_start;
    let large = payload + 8 > u64::from(u32::MAX);
    let header = if large { 16 } else { 8 };
    w.patch_u32(data_offset_pos, (moof_size + header) as u32);
    if large {
        w.u32(1).bytes(b"mdat").u64(payload + 16);
    } else {
        w.u32((payload + 8) as u32).bytes(b"mdat");
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{find_box, parse_box_header, BoxIter};

    fn video_track() -> Track {
        let sps = vec![
            0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
        ];
        let pps = vec![0x68, 0xcb, 0x83, 0xcb, 0x20];
        let samples = (0..10)
            .map(|i| Sample {
                data: vec![i as u8; 100 + i],
                duration: 512,
                composition_offset: if i % 2 == 1 { 1024 } else { 0 },
                is_sync: i == 0,
            })
            .collect::<Vec<_>>()
            .into();
        Track {
            id: "v240".into(),
            kind: MediaKind::Video,
            timescale: 12800,
            codec: CodecConfig::Avc {
                sps: vec![sps],
                pps: vec![pps],
            },
            language: "und".into(),
            samples,
        }
    }

    #[test]
    fn language_packing() {
        assert_eq!(pack_language("und"), 0x55c4);
        assert_eq!(unpack_language(0x55c4), "und");
        assert_eq!(unpack_language(pack_language("eng")), "eng");
        assert_eq!(pack_language("EN"), 0x55c4);
    }

    #[test]
    fn init_segment_layout() {
        let t = video_track();
        let init = init_segment(&t).unwrap();
        let top: Vec<_> = BoxIter::new(&init).map(|b| b.unwrap().type_str()).collect();
        assert_eq!(top, ["ftyp", "moov"]);
        let total: usize = BoxIter::new(&init).map(|b| b.unwrap().size()).sum();
        assert_eq!(total, init.len());
        let avc1 = find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
        // stsd: full header + entry_count, then avc1
        let entry = BoxIter::new(&avc1.payload[8..]).next().unwrap().unwrap();
        assert_eq!(&entry.fourcc, b"avc1");
        assert_eq!(
            u16::from_be_bytes([entry.payload[24], entry.payload[25]]),
            320
        );
        assert_eq!(
            u16::from_be_bytes([entry.payload[26], entry.payload[27]]),
            240
        );
        let avcc = BoxIter::new(&entry.payload[78..]).next().unwrap().unwrap();
        assert_eq!(&avcc.fourcc, b"avcC");
        assert_eq!(&avcc.payload[..5], &[1, 0x42, 0xc0, 0x0d, 0xff]);
        let mdhd = find_box(&init, &["moov", "trak", "mdia", "mdhd"]).unwrap();
        let (_, _, body) = mdhd.full().unwrap();
        assert_eq!(u32::from_be_bytes(body[8..12].try_into().unwrap()), 12800);
        assert!(find_box(&init, &["moov", "mvex", "trex"]).is_some());
        let hdlr = find_box(&init, &["moov", "trak", "mdia", "hdlr"]).unwrap();
        assert_eq!(&hdlr.payload[8..12], b"vide");
    }

    #[test]
    fn edit_list_only_when_asked() {
        let t = video_track();
        let plain = init_segment(&t).unwrap();
        assert!(find_box(&plain, &["moov", "trak", "edts"]).is_none());
        let init = init_segment_with_edit(&t, 1024).unwrap();
        let total: usize = BoxIter::new(&init).map(|b| b.unwrap().size()).sum();
        assert_eq!(total, init.len());
        let elst = find_box(&init, &["moov", "trak", "edts", "elst"]).unwrap();
        let (v, _, body) = elst.full().unwrap();
        assert_eq!(v, 0);
        // entry_count 1; segment_duration 0 (to the end), media_time 1024, rate 1.0.
        assert_eq!(body, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 1, 0, 0]);
        // Placed after tkhd (ISO/IEC 14496-12 box order: tkhd, edts, mdia).
        let trak = find_box(&init, &["moov", "trak"]).unwrap();
        let order: Vec<_> = trak.children().map(|b| b.unwrap().type_str()).collect();
        assert_eq!(order, ["tkhd", "edts", "mdia"]);
        assert!(init_segment_with_edit(&t, u32::MAX).is_err());
    }

    #[test]
    fn audio_init_has_esds_with_asc() {
        let asc = codec::build_audio_specific_config(2, 48000, 2);
        let t = Track {
            id: "a128".into(),
            kind: MediaKind::Audio,
            timescale: 48000,
            codec: CodecConfig::Aac {
                audio_specific_config: asc.clone(),
                sample_rate: 48000,
                channels: 2,
            },
            language: "eng".into(),
            samples: vec![Sample {
                data: vec![1; 300],
                duration: 1024,
                composition_offset: 0,
                is_sync: true,
            }]
            .into(),
        };
        let init = init_segment(&t).unwrap();
        let stsd = find_box(&init, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
        let mp4a = BoxIter::new(&stsd.payload[8..]).next().unwrap().unwrap();
        assert_eq!(&mp4a.fourcc, b"mp4a");
        assert_eq!(u16::from_be_bytes([mp4a.payload[16], mp4a.payload[17]]), 2);
        let esds = BoxIter::new(&mp4a.payload[28..]).next().unwrap().unwrap();
        assert_eq!(&esds.fourcc, b"esds");
        let pos = esds
            .payload
            .windows(2)
            .position(|w| w[0] == 5 && w[1] == 2)
            .unwrap();
        assert_eq!(&esds.payload[pos + 2..pos + 4], &asc[..]);
        assert!(find_box(&init, &["moov", "trak", "mdia", "minf", "smhd"]).is_some());
    }

    #[test]
    fn media_segment_offsets() {
        let t = video_track();
        let samples = t.samples.as_slice().unwrap();
        let seg = media_segment(7, 25600, samples);
        let boxes: Vec<_> = BoxIter::new(&seg).map(|b| b.unwrap()).collect();
        let names: Vec<_> = boxes.iter().map(|b| b.type_str()).collect();
        assert_eq!(names, ["styp", "moof", "mdat"]);
        let moof = boxes[1];
        let mdat = boxes[2];
        let mfhd = moof.child(b"mfhd").unwrap();
        assert_eq!(mfhd.full().unwrap().2, &7u32.to_be_bytes());
        let traf = moof.child(b"traf").unwrap();
        let (v, flags, body) = traf.child(b"tfhd").unwrap().full().unwrap();
        assert_eq!(v, 0);
        assert_eq!(flags & 0x02_0000, 0x02_0000);
        assert_eq!(u32::from_be_bytes(body[..4].try_into().unwrap()), TRACK_ID);
        let (v, _, body) = traf.child(b"tfdt").unwrap().full().unwrap();
        assert_eq!(v, 1);
        assert_eq!(u64::from_be_bytes(body.try_into().unwrap()), 25600);
        let (_, tflags, body) = traf.child(b"trun").unwrap().full().unwrap();
        assert_eq!(u32::from_be_bytes(body[..4].try_into().unwrap()), 10);
        let data_offset = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        // default-base-is-moof: offset counts from the first byte of moof.
        assert_eq!(moof.offset + data_offset, mdat.offset + mdat.header_len);
        assert_eq!(
            &seg[moof.offset + data_offset..][..100],
            &samples[0].data[..]
        );
        assert_eq!(
            mdat.payload.len(),
            samples.iter().map(|s| s.data.len()).sum::<usize>()
        );
        // First sample sync via first-sample-flags; others default non-sync from tfhd.
        assert_ne!(tflags & 0x4, 0);
        assert_eq!(
            u32::from_be_bytes(body[8..12].try_into().unwrap()),
            SYNC_SAMPLE_FLAGS
        );
        let (_, hflags, hbody) = traf.child(b"tfhd").unwrap().full().unwrap();
        assert_ne!(hflags & 0x20, 0);
        assert_ne!(hflags & 0x08, 0);
        assert_eq!(u32::from_be_bytes(hbody[4..8].try_into().unwrap()), 512);
        assert_eq!(
            u32::from_be_bytes(hbody[8..12].try_into().unwrap()),
            NON_SYNC_SAMPLE_FLAGS
        );
        // composition offsets present
        assert_ne!(tflags & 0x800, 0);
    }

    #[test]
    fn media_segment_per_sample_flags_and_negative_cto() {
        let mut t = video_track();
        let crate::track::Samples::Memory(samples) = &mut t.samples else {
            unreachable!()
        };
        samples[5].is_sync = true;
        samples[3].composition_offset = -512;
        samples[4].duration = 256;
        let seg = media_segment(1, 0, samples);
        let trun = find_box(&seg, &["moof", "traf", "trun"]).unwrap();
        let (v, flags, body) = trun.full().unwrap();
        assert_eq!(v, 1);
        assert_eq!(flags, 0x1 | 0x100 | 0x200 | 0x400 | 0x800);
        // entry 3: duration, size, flags, cto (16 bytes each) after count + offset
        let e = &body[8 + 3 * 16..8 + 4 * 16];
        assert_eq!(i32::from_be_bytes(e[12..16].try_into().unwrap()), -512);
        let e5 = &body[8 + 5 * 16..8 + 6 * 16];
        assert_eq!(
            u32::from_be_bytes(e5[8..12].try_into().unwrap()),
            SYNC_SAMPLE_FLAGS
        );
    }

    #[test]
    fn reader_rejects_truncation() {
        let t = video_track();
        let seg = media_segment(1, 0, t.samples.as_slice().unwrap());
        let cut = &seg[..seg.len() - 10];
        let results: Vec<_> = BoxIter::new(cut).collect();
        assert!(matches!(
            results.last(),
            Some(Err(MediaError::Truncated(_)))
        ));
        assert!(parse_box_header(&[0, 0, 0, 4, b'f', b'r', b'e', b'e']).is_err());
    }
}
