//! A forward walk over one track's sample tables where they lie in the input file: `stsz`
//! (or `stz2`), `stts`, `ctts`, `stss`, `stsc` and `stco`/`co64` are each read through a
//! small window of their own (at most [`Window::SIZE`] bytes), so walking a 2-hour film's
//! tables (10 MB) holds a few KiB whatever its length.
//!
//! The walk does the tables' consistency checks as it goes (stsc chunk order and range,
//! every chunk's bytes inside the file, `stts` covering every sample): the demuxer walks
//! every table once this way before packaging starts (`SampleTable::build`), so a later walk
//! meets no error but an I/O one.

use super::source::DataSource;
use super::SampleInfo;
use crate::codec::MediaError;

/// Where one table's entries lie in the input: `count` entries of `size` bytes from `offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entries {
    pub(crate) offset: u64,
    pub(crate) count: u32,
    pub(crate) size: u8,
}

impl Entries {
    /// The byte just past the last entry.
    fn end(&self) -> u64 {
        self.offset + u64::from(self.count) * u64::from(self.size)
    }
}

/// Sample sizes: one for all (`stsz` with a sample size), or a field per sample of
/// `bits` (`stsz`: 32; `stz2`: 4, 8 or 16; 4-bit fields two to a byte, high nibble first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sizes {
    Fixed(u32),
    Fields { offset: u64, bits: u8 },
}

/// The composition offsets' `ctts`: its entries and whether they are signed (version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctts {
    pub(crate) entries: Entries,
    pub(crate) signed: bool,
}

/// Sync samples: none listed (every sample is sync), an `stss` in the file (its numbers
/// ascending, zeros aside), or its 0-based numbers sorted in memory (an `stss` out of
/// order, which a forward walk cannot follow; no muxer we know writes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sync {
    All,
    File(Entries),
    Sorted(Vec<u32>),
}

/// The tables of one track: where each lies in the input, plus what the messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) track_id: u32,
    /// Samples the tables describe (`stsz`/`stz2` count).
    pub(crate) count: u32,
    pub(crate) sizes: Sizes,
    pub(crate) stts: Entries,
    pub(crate) ctts: Option<Ctts>,
    pub(crate) sync: Sync,
    pub(crate) stsc: Entries,
    /// `stco` (4-byte entries) or `co64` (8-byte entries).
    pub(crate) chunks: Entries,
    /// The input's length: every chunk's bytes must end within it.
    pub(crate) file_len: u64,
}

/// A walk's state before a sample: what a checkpoint stores (no buffers, ~70 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    /// The next sample (0-based).
    pub(crate) i: u32,
    /// File offset of sample `i` when `chunk_left > 0`.
    off: u64,
    /// Offset of the current chunk's first byte (for the bound check when it ends).
    chunk_start: u64,
    stts_next: u32,
    stts_left: u32,
    duration: u32,
    ctts_next: u32,
    ctts_left: u32,
    composition_offset: i32,
    stss_next: u32,
    stsc_next: u32,
    /// Current chunk number (1-based; 0 before the first).
    chunk: u32,
    /// Last chunk of the current `stsc` entry.
    last_chunk: u32,
    per_chunk: u32,
    /// Samples left in the current chunk.
    chunk_left: u32,
}

/// A read-ahead window over one table: the first read is [`Self::FIRST`] bytes, each next
/// one twice the last up to [`Self::SIZE`] (a segment's walk needs a few hundred bytes of
/// each table; a walk over a whole track, megabytes).
#[derive(Debug, Default)]
pub(crate) struct Window {
    start: u64,
    bytes: Vec<u8>,
    /// The next read's length (0: none yet).
    next: u64,
}

impl Window {
    /// Most bytes read at a time: a 2-hour film's biggest table (2.3 MB) in ~280 reads.
    pub(crate) const SIZE: u64 = 8 * 1024;
    const FIRST: u64 = 1024;

    /// `n` bytes at `pos`, reading ahead up to `limit` (the table's end).
    #[inline]
    fn get(
        &mut self,
        src: &DataSource,
        pos: u64,
        n: usize,
        limit: u64,
    ) -> Result<&[u8], MediaError> {
        let o = pos.wrapping_sub(self.start);
        if pos < self.start || o + n as u64 > self.bytes.len() as u64 {
            self.refill(src, pos, n, limit)?;
            return Ok(&self.bytes[..n]);
        }
        let o = o as usize;
        Ok(&self.bytes[o..o + n])
    }

    /// Reads the window from `pos` on (at least `n` bytes).
    #[cold]
    #[inline(never)]
    fn refill(
        &mut self,
        src: &DataSource,
        pos: u64,
        n: usize,
        limit: u64,
    ) -> Result<(), MediaError> {
        self.next = (self.next * 2).clamp(Self::FIRST, Self::SIZE);
        let end = (pos + self.next).min(limit).max(pos + n as u64);
        self.bytes.resize((end - pos) as usize, 0);
        src.read_table_at(pos, &mut self.bytes)?;
        self.start = pos;
        Ok(())
    }

    #[inline]
    pub(crate) fn read_u32(
        &mut self,
        src: &DataSource,
        pos: u64,
        limit: u64,
    ) -> Result<u32, MediaError> {
        let b = self.get(src, pos, 4, limit)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A forward walk from a [`Pos`]: yields each sample's description and file offset.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    t: &'a Layout,
    src: &'a DataSource,
    pos: Pos,
    sizes: Window,
    stts: Window,
    ctts: Window,
    stss: Window,
    stsc: Window,
    chunks: Window,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(t: &'a Layout, src: &'a DataSource, pos: Pos) -> Self {
        Cursor {
            t,
            src,
            pos,
            sizes: Window::default(),
            stts: Window::default(),
            ctts: Window::default(),
            stss: Window::default(),
            stsc: Window::default(),
            chunks: Window::default(),
        }
    }

    /// The state before the next sample.
    pub(crate) fn pos(&self) -> Pos {
        self.pos
    }

    /// The next sample's description and file offset; `None` past the tables' last sample.
    #[inline]
    pub(crate) fn next_sample(&mut self) -> Result<Option<(SampleInfo, u64)>, MediaError> {
        let t = self.t;
        let src = self.src;
        let i = self.pos.i;
        if i >= t.count {
            return Ok(None);
        }
        let size = match t.sizes {
            Sizes::Fixed(s) => s,
            Sizes::Fields { offset, bits } => {
                let i = u64::from(i);
                let end = offset + (u64::from(t.count) * u64::from(bits)).div_ceil(8);
                match bits {
                    32 => self.sizes.read_u32(src, offset + 4 * i, end)?,
                    16 => {
                        let b = self.sizes.get(src, offset + 2 * i, 2, end)?;
                        u32::from(u16::from_be_bytes([b[0], b[1]]))
                    }
                    8 => u32::from(self.sizes.get(src, offset + i, 1, end)?[0]),
                    _ => {
                        let b = self.sizes.get(src, offset + i / 2, 1, end)?[0];
                        u32::from(if i % 2 == 0 { b >> 4 } else { b & 0xf })
                    }
                }
            }
        };

        let p = &mut self.pos;
        while p.stts_left == 0 {
            if p.stts_next >= t.stts.count {
                return Err(MediaError::InvalidBox(format!(
                    "track {}: stts covers {i} of {} samples",
                    t.track_id, t.count
                )));
            }
            let at = t.stts.offset + 8 * u64::from(p.stts_next);
            let b = self.stts.get(src, at, 8, t.stts.end())?;
            p.stts_left = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            p.duration = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            p.stts_next += 1;
        }
        p.stts_left -= 1;

        if let Some(c) = t.ctts {
            // Entries of 0 samples are skipped; past the last entry the last offset holds.
            while p.ctts_left == 0 && p.ctts_next < c.entries.count {
                let at = c.entries.offset + 8 * u64::from(p.ctts_next);
                let b = self.ctts.get(src, at, 8, c.entries.end())?;
                let k = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let raw = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                p.ctts_next += 1;
                if k > 0 {
                    p.ctts_left = k;
                    p.composition_offset = if c.signed {
                        raw as i32
                    } else {
                        raw.min(i32::MAX as u32) as i32
                    };
                }
            }
            p.ctts_left = p.ctts_left.saturating_sub(1);
        }

        let is_sync = match &t.sync {
            Sync::All => true,
            Sync::Sorted(v) => v.binary_search(&i).is_ok(),
            Sync::File(e) => {
                let number = i + 1;
                loop {
                    if p.stss_next >= e.count {
                        break false;
                    }
                    let at = e.offset + 4 * u64::from(p.stss_next);
                    let v = self.stss.read_u32(src, at, e.end())?;
                    if v < number {
                        p.stss_next += 1;
                        continue;
                    }
                    break v == number;
                }
            }
        };

        while p.chunk_left == 0 {
            let chunk = if p.chunk < p.last_chunk {
                p.chunk + 1
            } else {
                // The next stsc entry covering at least one chunk.
                loop {
                    let e = t.stsc;
                    if p.stsc_next >= e.count {
                        return Err(MediaError::InvalidBox(format!(
                            "track {}: chunks hold {i} of {} samples",
                            t.track_id, t.count
                        )));
                    }
                    let (first, per, last) = stsc_entry(&mut self.stsc, src, t, p.stsc_next)?;
                    p.stsc_next += 1;
                    p.per_chunk = per;
                    p.last_chunk = last;
                    if first <= last {
                        if first != p.chunk + 1 {
                            return Err(MediaError::InvalidBox(format!(
                                "track {}: stsc lists chunk {first} out of order",
                                t.track_id
                            )));
                        }
                        break first;
                    }
                }
            };
            let at = t.chunks.offset + u64::from(t.chunks.size) * u64::from(chunk - 1);
            p.off = if t.chunks.size == 8 {
                let b = self.chunks.get(src, at, 8, t.chunks.end())?;
                u64::from_be_bytes(b.try_into().expect("8 bytes"))
            } else {
                u64::from(self.chunks.read_u32(src, at, t.chunks.end())?)
            };
            p.chunk = chunk;
            p.chunk_start = p.off;
            p.chunk_left = p.per_chunk.min(t.count - i);
            if p.chunk_left == 0 {
                check_chunk_end(t, p.off, Some(p.off))?;
            }
        }
        let off = p.off;
        p.off = p.off.saturating_add(u64::from(size));
        p.chunk_left -= 1;
        if p.chunk_left == 0 {
            check_chunk_end(t, p.chunk_start, (p.off != u64::MAX).then_some(p.off))?;
        }
        p.i += 1;
        Ok(Some((
            SampleInfo {
                size,
                duration: p.duration,
                composition_offset: if t.ctts.is_some() {
                    p.composition_offset
                } else {
                    0
                },
                is_sync,
            },
            off,
        )))
    }

    /// After the last sample: the `stsc` entries left are checked as the first walk checked
    /// the others (they name chunks that exist).
    pub(crate) fn check_rest(&mut self) -> Result<(), MediaError> {
        for k in self.pos.stsc_next..self.t.stsc.count {
            stsc_entry(&mut self.stsc, self.src, self.t, k)?;
        }
        Ok(())
    }
}

/// `stsc` entry `k`: (first chunk, samples per chunk, last chunk), its chunks checked to
/// exist.
#[inline]
fn stsc_entry(
    w: &mut Window,
    src: &DataSource,
    t: &Layout,
    k: u32,
) -> Result<(u32, u32, u32), MediaError> {
    let e = t.stsc;
    let at = e.offset + 12 * u64::from(k);
    let first = w.read_u32(src, at, e.end())?;
    let per = w.read_u32(src, at + 4, e.end())?;
    let last = if k + 1 < e.count {
        w.read_u32(src, at + 12, e.end())?.saturating_sub(1)
    } else {
        t.chunks.count
    };
    if first == 0 || last > t.chunks.count {
        return Err(MediaError::InvalidBox(format!(
            "track {}: stsc refers to missing chunks",
            t.track_id
        )));
    }
    Ok((first, per, last))
}

/// A chunk from `start` must end (`end`; `None`: past 2^64) within the file.
fn check_chunk_end(t: &Layout, start: u64, end: Option<u64>) -> Result<(), MediaError> {
    if end.is_none_or(|e| e > t.file_len) {
        return Err(MediaError::Truncated(format!(
            "track {}: sample data at {start}..{} lies beyond the end of the file ({} bytes)",
            t.track_id,
            end.unwrap_or(u64::MAX),
            t.file_len
        )));
    }
    Ok(())
}
