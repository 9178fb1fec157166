//! Reads a `trak` without the entries of its big sample tables: a 2-hour film's `trak`s are
//! 4-5 MB each, nearly all `stsz`/`stz2`, `stco`/`co64`, `stsc`, `stts`, `ctts` and `stss`
//! entries, which [`crate::samples`] reads on demand from the file instead. Every other box
//! (`tkhd`, `mdhd`, `hdlr`, `stsd`, `elst`...) is read whole and parsed as before.

use std::io::{Read, Seek, SeekFrom};

use crate::codec::MediaError;
use crate::fmp4::parse_box_header;

/// Boxes descended into on the way to the tables.
const CONTAINERS: &[&[u8; 4]] = &[b"trak", b"mdia", b"minf", b"stbl"];

/// Tables (children of `stbl`) whose entries stay in the file.
const TABLES: &[&[u8; 4]] = &[
    b"stsz", b"stz2", b"stco", b"co64", b"stsc", b"stts", b"ctts", b"stss",
];

/// Bytes of a table's payload kept in memory: version/flags and the fields before the
/// entries (at most `stsz`'s sample size and count, or `stz2`'s field size and count).
const KEPT: u64 = 12;

/// A table box whose entries were left in the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeftTable {
    pub(super) fourcc: [u8; 4],
    /// File offset of the box's payload (its version/flags).
    pub(super) payload_at: u64,
    /// The payload's length in the file.
    pub(super) payload_len: u64,
}

impl LeftTable {
    /// Where the entries after `fields` bytes of fields (after version/flags) lie: (file
    /// offset, bytes available in the box).
    pub(super) fn entries(&self, fields: u64) -> (u64, u64) {
        let skip = 4 + fields;
        (
            self.payload_at + skip,
            self.payload_len.saturating_sub(skip),
        )
    }
}

/// The `trak` box of `len` bytes at `pos` as bytes (a box with an 8-byte header), each big
/// table cut to its first [`KEPT`] payload bytes, and where those tables lie in the file.
pub(super) fn read_trak<R: Read + Seek>(
    file: &mut R,
    pos: u64,
    len: u64,
    io_err: &dyn Fn(std::io::Error) -> MediaError,
) -> Result<(Vec<u8>, Vec<LeftTable>), MediaError> {
    let mut left = Vec::new();
    let mut out = Vec::new();
    copy_box(file, pos, len, false, &mut out, &mut left, io_err)?;
    Ok((out, left))
}

fn read_at<R: Read + Seek>(
    file: &mut R,
    pos: u64,
    buf: &mut [u8],
    io_err: &dyn Fn(std::io::Error) -> MediaError,
) -> Result<(), MediaError> {
    file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
    file.read_exact(buf).map_err(io_err)
}

/// Appends the box at `pos` (`len` bytes, inside its parent) to `out`, pruned.
fn copy_box<R: Read + Seek>(
    file: &mut R,
    pos: u64,
    len: u64,
    in_stbl: bool,
    out: &mut Vec<u8>,
    left: &mut Vec<LeftTable>,
    io_err: &dyn Fn(std::io::Error) -> MediaError,
) -> Result<(), MediaError> {
    let mut header = [0u8; 16];
    let avail = len.min(16) as usize;
    read_at(file, pos, &mut header[..avail], io_err)?;
    let parsed = parse_box_header(&header[..avail])
        .ok()
        .and_then(|(fourcc, hl, size)| {
            let size = size.unwrap_or(len);
            (size <= len && size >= hl as u64).then_some((fourcc, hl as u64, size))
        });
    let Some((fourcc, hl, size)) = parsed else {
        // Not a well-formed box: copied as it is, for the box reader to judge.
        return copy_raw(file, pos, len, out, io_err);
    };
    let payload_len = size - hl;
    let start = out.len();
    if CONTAINERS.contains(&&fourcc) {
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&fourcc);
        let mut child = pos + hl;
        let end = pos + size;
        while child < end {
            let child_len = child_size(file, child, end - child, io_err)?;
            copy_box(
                file,
                child,
                child_len,
                &fourcc == b"stbl",
                out,
                left,
                io_err,
            )?;
            child += child_len;
        }
    } else if in_stbl && TABLES.contains(&&fourcc) {
        left.push(LeftTable {
            fourcc,
            payload_at: pos + hl,
            payload_len,
        });
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&fourcc);
        let keep = payload_len.min(KEPT) as usize;
        let at = out.len();
        out.resize(at + keep, 0);
        read_at(file, pos + hl, &mut out[at..], io_err)?;
    } else {
        return copy_raw(file, pos, size, out, io_err);
    }
    let new_size = u32::try_from(out.len() - start)
        .map_err(|_| MediaError::Unsupported("trak larger than 4 GiB".into()))?;
    out[start..start + 4].copy_from_slice(&new_size.to_be_bytes());
    // The box's remaining bytes past `size` (none for well-formed boxes) are not kept.
    Ok(())
}

/// The length of the child box at `pos` with `left` bytes left in its parent: its size
/// when readable and within the parent, else all that is left (copied raw).
fn child_size<R: Read + Seek>(
    file: &mut R,
    pos: u64,
    left: u64,
    io_err: &dyn Fn(std::io::Error) -> MediaError,
) -> Result<u64, MediaError> {
    let mut header = [0u8; 16];
    let avail = left.min(16) as usize;
    read_at(file, pos, &mut header[..avail], io_err)?;
    Ok(match parse_box_header(&header[..avail]) {
        Ok((_, hl, size)) => size.unwrap_or(left).max(hl as u64).min(left),
        Err(_) => left,
    })
}

fn copy_raw<R: Read + Seek>(
    file: &mut R,
    pos: u64,
    len: u64,
    out: &mut Vec<u8>,
    io_err: &dyn Fn(std::io::Error) -> MediaError,
) -> Result<(), MediaError> {
    let at = out.len();
    out.resize(at + len as usize, 0);
    read_at(file, pos, &mut out[at..], io_err)
}
