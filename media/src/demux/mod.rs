//! Progressive-MP4 demuxer: reads the sample tables of H.264, HEVC, AV1 and AAC tracks (any
//! other audio/video codec is refused, `entries`) and returns
//! [`Track`]s whose samples stay in the file ([`Samples::Table`]), ready to be packaged
//! without re-encoding.
//!
//! Memory: the `moov` is read one `trak` at a time, without the entries of the big sample
//! tables (`prune`): those stay in the file and are read on demand through small windows
//! (see [`crate::samples`]), so memory does not grow with the number of samples. Sample
//! bytes are read later, one segment at a time, by the packager. The tables are walked once
//! here, with every check (every chunk lies inside the file).

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use tracing::warn;

pub use crate::codec::MediaError;
use crate::codec::{self, nal};
use crate::fmp4::{parse_box_header, BoxIter};
use crate::samples::{DataSource, Samples};
use crate::track::{CodecConfig, Track};

mod entries;
mod prune;
mod tables;

use tables::{parse_trak, Parsed, TrackTables};

/// Top-level box types that mark a file as ISO-BMFF.
const KNOWN_TOP_LEVEL: &[&[u8; 4]] = &[
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"sidx", b"pdin", b"uuid",
    b"meta", b"moof", b"mfra", b"prft", b"emsg",
];

/// Reads a progressive MP4 and returns its H.264/HEVC/AV1 video and AAC audio tracks, in file
/// order. An audio or video track in any other codec is an error
/// ([`MediaError::UnsupportedCodec`]); tracks that are neither (timecode, subtitles, data) are
/// skipped with a warning. Video tracks are named `v<height>`, audio tracks
/// `a<kbps>` (made unique).
pub fn demux_file(path: &Path) -> Result<Vec<Track>, MediaError> {
    let io_err = |source| MediaError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let source = DataSource::File {
        file: file.try_clone().map_err(io_err)?,
        tables: File::open(path).map_err(io_err)?,
        len: file_len,
        name: path.display().to_string(),
    };
    demux_reader(&mut file, file_len, &path.display().to_string(), source)
}

/// [`demux_file`] for an MP4 held in memory; `name` stands for the file in messages. The
/// same checks on the same structures, without a file: the fuzz target `demux` drives it.
///
/// Unlike [`demux_file`], every sample is also read once (and video NAL units checked), so
/// that errors a file would only show while packaging show here.
pub fn demux_bytes(data: &[u8], name: &str) -> Result<Vec<Track>, MediaError> {
    let source = DataSource::Bytes {
        data: data.to_vec(),
        name: name.to_string(),
    };
    let tracks = demux_reader(&mut Cursor::new(data), data.len() as u64, name, source)?;
    let mut buf = Vec::new();
    for t in &tracks {
        let n = t.samples.len();
        for start in (0..n).step_by(64) {
            t.samples.segment(start..(start + 64).min(n), &mut buf)?;
        }
    }
    Ok(tracks)
}

/// The demuxer over any seekable input of `file_len` bytes, `name` naming it in messages.
fn demux_reader<R: Read + Seek>(
    file: &mut R,
    file_len: u64,
    name: &str,
    source: DataSource,
) -> Result<Vec<Track>, MediaError> {
    let io_err = |source| MediaError::Io {
        path: name.to_string(),
        source,
    };
    if file_len < 8 {
        return Err(MediaError::NotMp4(format!(
            "{} is only {file_len} bytes",
            name
        )));
    }

    // Walk the top-level boxes reading only their headers.
    let mut moov: Option<(u64, u64)> = None; // payload offset, payload length
    let mut has_moof = false;
    let mut pos = 0u64;
    let mut first = true;
    while pos < file_len {
        let mut header = [0u8; 16];
        let avail = (file_len - pos).min(16) as usize;
        file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
        file.read_exact(&mut header[..avail]).map_err(io_err)?;
        let parsed = parse_box_header(&header[..avail]);
        let (fourcc, header_len, size) = match parsed {
            Ok(h) => h,
            Err(e) if first => return Err(MediaError::NotMp4(format!("{}: {e}", name))),
            Err(MediaError::Truncated(_)) => {
                return Err(MediaError::Truncated(format!(
                    "{}: {} trailing bytes at offset {pos} are not a complete box",
                    name,
                    file_len - pos
                )))
            }
            Err(e) => return Err(e),
        };
        if first && !KNOWN_TOP_LEVEL.contains(&&fourcc) {
            return Err(MediaError::NotMp4(format!(
                "{} does not start with an ISO-BMFF box (first 4CC {:?})",
                name,
                String::from_utf8_lossy(&fourcc)
            )));
        }
        first = false;
        let size = size.unwrap_or(file_len - pos);
        if size > file_len - pos {
            return Err(MediaError::Truncated(format!(
                "{}: box '{}' at offset {pos} needs {size} bytes but the file ends after {}",
                name,
                String::from_utf8_lossy(&fourcc),
                file_len - pos
            )));
        }
        match &fourcc {
            b"moov" => moov = Some((pos + header_len as u64, size - header_len as u64)),
            b"moof" => has_moof = true,
            _ => {}
        }
        pos += size;
    }
    let (moov_pos, moov_len) = moov.ok_or_else(|| {
        MediaError::Truncated(format!(
            "{}: no 'moov' box (incomplete or truncated file?)",
            name
        ))
    })?;
    if moov_len > 1 << 30 {
        return Err(MediaError::Unsupported(format!("moov of {moov_len} bytes")));
    }
    // The `trak`s are read one at a time (not the whole `moov`), without the entries of their
    // sample tables (`prune`): a long file's tables are megabytes, and stay in the file.
    let source = Arc::new(source);
    let mut traks = Vec::new(); // (offset, size) of each trak box
    let mut child = moov_pos;
    while child < moov_pos + moov_len {
        let left = moov_pos + moov_len - child;
        let mut header = [0u8; 16];
        let avail = left.min(16) as usize;
        file.seek(SeekFrom::Start(child)).map_err(io_err)?;
        file.read_exact(&mut header[..avail]).map_err(io_err)?;
        let (fourcc, _, size) = parse_box_header(&header[..avail])?;
        let size = size.unwrap_or(left);
        if size > left {
            return Err(MediaError::Truncated(format!(
                "{}: box '{}' in moov needs {size} bytes, {left} left",
                name,
                String::from_utf8_lossy(&fourcc)
            )));
        }
        if &fourcc == b"trak" {
            traks.push((child, size));
        }
        child += size;
    }

    let mut tracks = Vec::new();
    let mut skipped = Vec::new();
    for (stream, (trak_pos, trak_len)) in traks.into_iter().enumerate() {
        let (trak, left) = prune::read_trak(file, trak_pos, trak_len, &io_err)?;
        let b = BoxIter::new(&trak)
            .next()
            .ok_or_else(|| MediaError::InvalidBox("empty trak".into()))??;
        match parse_trak(&b, &left, &source, file_len).map_err(|e| e.at_stream(stream))? {
            Parsed::Skip(why) => {
                warn!(file = %name, "skipping track: {why}");
                skipped.push(why);
            }
            Parsed::Track(t) => {
                if t.samples.len == 0 {
                    if has_moof {
                        return Err(MediaError::Unsupported(format!(
                            "{}: fragmented MP4 input (samples in moof boxes); remux it progressive first \
                             (ffmpeg -i IN -c copy OUT.mp4)",
                            name
                        )));
                    }
                    warn!(file = %name, track = t.track_id, "skipping track without samples");
                    skipped.push(format!("track {} has no samples", t.track_id));
                    continue;
                }
                tracks.push(t);
            }
        }
    }
    if tracks.is_empty() {
        let why = if skipped.is_empty() {
            "no tracks".to_string()
        } else {
            skipped.join("; ")
        };
        return Err(MediaError::NoUsableTrack(format!("{}: {why}", name)));
    }

    let mut out = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for t in tracks {
        let track = into_track(*t)?;
        let mut id = track.id.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{}-{n}", track.id);
            n += 1;
        }
        ids.push(id.clone());
        out.push(Track { id, ..track });
    }
    Ok(out)
}

/// A track over `source` from its tables; `avc3` parameter sets are taken from the first
/// sync sample when `avcC` has none.
fn into_track(t: TrackTables) -> Result<Track, MediaError> {
    let samples = Samples::Table(Box::new(t.samples));
    let mut codec = t.codec;
    if let CodecConfig::Avc { sps, pps } = &mut codec {
        // avc3 may carry parameter sets only in band: take them from the first sync sample.
        if sps.is_empty() || pps.is_empty() {
            if let Some(i) = samples.infos().position(|s| s.is_sync) {
                let mut buf = Vec::new();
                let first = samples.segment(i..i + 1, &mut buf)?;
                for u in codec::split_avcc(&first[0].data, 4)? {
                    match codec::nal_type(u) {
                        nal::SPS if sps.is_empty() => sps.push(u.to_vec()),
                        nal::PPS if pps.is_empty() => pps.push(u.to_vec()),
                        _ => {}
                    }
                }
            }
        }
        if sps.is_empty() || pps.is_empty() {
            return Err(MediaError::InvalidAvc(format!(
                "track {}: no SPS/PPS found",
                t.track_id
            )));
        }
    }

    let id = match &codec {
        CodecConfig::Avc { sps, .. } => format!("v{}", codec::parse_sps(&sps[0])?.height),
        CodecConfig::Hevc { height, .. } | CodecConfig::Av1 { height, .. } => format!("v{height}"),
        CodecConfig::Aac { .. } => {
            let bytes = samples.total_bytes();
            let dur = samples.total_duration();
            let kbps = (bytes * 8 * t.timescale as u64)
                .checked_div(dur)
                .map_or(0, |b| (b + 500) / 1000);
            format!("a{kbps}")
        }
    };
    Ok(Track {
        id,
        kind: t.kind,
        timescale: t.timescale,
        codec,
        language: t.language,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_mp4_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mp4");
        std::fs::write(&p, b"this is definitely not an mp4 file at all").unwrap();
        let e = demux_file(&p).unwrap_err();
        assert!(matches!(e, MediaError::NotMp4(_)), "{e}");
        std::fs::write(&p, b"abc").unwrap();
        assert!(matches!(demux_file(&p).unwrap_err(), MediaError::NotMp4(_)));
    }
}
