//! Progressive-MP4 demuxer: reads the sample tables of H.264 and AAC tracks and returns
//! [`Track`]s with every sample's bytes, ready to be packaged without re-encoding.
//!
//! Memory: sample bytes are read chunk by chunk (seek + one read per `stsc` chunk) straight
//! into the samples, so peak memory is about the size of the media data, with no second copy
//! of the `mdat`. [`Track`] owns its bytes, so reading lazily would not save memory later;
//! inputs up to a few hundred MB are the intended use.

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use manifests::layout::MediaKind;
use tracing::warn;

pub use crate::codec::MediaError;
use crate::codec::{self, nal};
use crate::fmp4::{parse_box_header, BoxIter};
use crate::track::{CodecConfig, Sample, Track};

mod tables;

use tables::{parse_trak, Parsed, TrackTables};

/// Top-level box types that mark a file as ISO-BMFF.
const KNOWN_TOP_LEVEL: &[&[u8; 4]] = &[
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"sidx", b"pdin", b"uuid",
    b"meta", b"moof", b"mfra", b"prft", b"emsg",
];

/// Reads a progressive MP4 and returns its H.264 video and AAC audio tracks (other tracks are
/// skipped with a warning), in file order. Video tracks are named `v<height>`, audio tracks
/// `a<kbps>` (made unique).
pub fn demux_file(path: &Path) -> Result<Vec<Track>, MediaError> {
    let io_err = |source| MediaError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    demux_reader(&mut file, file_len, &path.display().to_string())
}

/// [`demux_file`] for an MP4 held in memory; `name` stands for the file in messages. The
/// same checks on the same structures, without a file: the fuzz target `demux` drives it.
pub fn demux_bytes(data: &[u8], name: &str) -> Result<Vec<Track>, MediaError> {
    demux_reader(&mut Cursor::new(data), data.len() as u64, name)
}

/// The demuxer over any seekable input of `file_len` bytes, `name` naming it in messages.
fn demux_reader<R: Read + Seek>(
    file: &mut R,
    file_len: u64,
    name: &str,
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
    let mut moov_data = vec![0u8; moov_len as usize];
    file.seek(SeekFrom::Start(moov_pos)).map_err(io_err)?;
    file.read_exact(&mut moov_data).map_err(io_err)?;

    let mut tracks = Vec::new();
    let mut skipped = Vec::new();
    for b in BoxIter::new(&moov_data) {
        let b = b?;
        if &b.fourcc != b"trak" {
            continue;
        }
        match parse_trak(&b, file_len)? {
            Parsed::Skip(why) => {
                warn!(file = %name, "skipping track: {why}");
                skipped.push(why);
            }
            Parsed::Track(t) => {
                if t.samples.is_empty() {
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
        let track = read_samples(file, file_len, name, *t)?;
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

fn read_samples<R: Read + Seek>(
    file: &mut R,
    file_len: u64,
    name: &str,
    t: TrackTables,
) -> Result<Track, MediaError> {
    let io_err = |source| MediaError::Io {
        path: name.to_string(),
        source,
    };
    let mut samples: Vec<Sample> = Vec::with_capacity(t.samples.len());
    let mut buf = Vec::new();
    for &(offset, first, k) in &t.chunks {
        let len: u64 = t.samples[first..first + k].iter().map(|s| s.1 as u64).sum();
        if offset.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(MediaError::Truncated(format!(
                "{}: track {} sample data at {offset}..{} lies beyond the end of the file ({file_len} bytes)",
                name,
                t.track_id,
                offset.saturating_add(len)
            )));
        }
        buf.resize(len as usize, 0);
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        file.read_exact(&mut buf).map_err(io_err)?;
        let mut p = 0usize;
        for &(_, size, duration, cto, sync) in &t.samples[first..first + k] {
            let raw = &buf[p..p + size as usize];
            p += size as usize;
            let data = if t.kind == MediaKind::Video {
                codec::avcc_to_length4(raw, t.nal_length_size).map_err(|e| {
                    MediaError::InvalidAvc(format!(
                        "track {} sample {}: {e}",
                        t.track_id,
                        samples.len() + 1
                    ))
                })?
            } else {
                raw.to_vec()
            };
            samples.push(Sample {
                data,
                duration,
                composition_offset: cto,
                is_sync: sync,
            });
        }
    }

    let mut codec = t.codec;
    if let CodecConfig::Avc { sps, pps } = &mut codec {
        // avc3 may carry parameter sets only in band: take them from the first sync sample.
        if sps.is_empty() || pps.is_empty() {
            if let Some(s) = samples.iter().find(|s| s.is_sync) {
                for u in codec::split_avcc(&s.data, 4)? {
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
        CodecConfig::Aac { .. } => {
            let bytes: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
            let dur: u64 = samples.iter().map(|s| s.duration as u64).sum();
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
