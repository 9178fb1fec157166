//! Where a track's samples live: in memory ([`Samples::Memory`], the generated test pattern and
//! tests) or in the input file ([`Samples::Table`], the demuxer), whose sample tables and
//! sample bytes are both read on demand.
//!
//! # Design: the tables stay in the file
//!
//! A 2-hour 1080p film with 48 kHz AAC has ~550,000 samples; its `stsz`, `stts`, `ctts`,
//! `stss`, `stsc` and `stco`/`co64` take ~10 MB of its `moov` (Shaka Packager holds ~200 MB
//! packaging it). Kept as vectors, even compacted (4 bytes per sample, one run per sample
//! for B-frame composition offsets), they were 7 MB plus the `trak` read whole: memory grew
//! with the input's length. Here a [`SampleTable`] holds only where each table lies in the
//! file (`cursor::Layout`), a few scalars and a checkpoint of the walk's state every
//! `table::CHECKPOINT_EVERY` (256) samples (~70 bytes each; ~150 KiB for that film). Anything about
//! samples `a..b` ([`Samples::infos`], [`Samples::info`], [`Samples::segment`],
//! [`Samples::file_payload`]) starts from the checkpoint at or before `a` and walks forward
//! with a `cursor::Cursor`, which reads each table through its own window (1 KiB growing to
//! 8 KiB): the windows belong to the walk (its caller, e.g. a writer thread), not to the
//! table, so threads share a table through `&self`. Memory is then O(1) in the number of
//! samples: a few KiB per walk. (One exception: an `stss` whose numbers do not ascend, which
//! no muxer we know writes, is sorted into memory, 4 bytes per sync sample.)
//!
//! The demuxer walks every table once when it builds the table ([`SampleTable`]'s `build`),
//! doing every consistency check (counts, chunk order, every chunk's bytes inside the file)
//! and taking the checkpoints; later walks meet no error but an I/O one.
//!
//! Sample bytes are read with positioned reads (`pread`) into buffers the caller reuses, or
//! copied file to file by the kernel ([`Samples::copy_payload`]), one segment at a time.
//!
//! Modules: `cursor` (the walk and the table locations), `table` ([`SampleTable`]:
//! checkpoints, segment reads), `source` (the input: `pread`, `copy_file_range`).

use std::fs::File;
use std::ops::Range;

use crate::codec::MediaError;

mod cursor;
mod source;
mod table;
#[cfg(test)]
mod tests;

pub(crate) use cursor::{Ctts, Entries, Layout, Sizes, Sync};
pub(crate) use source::DataSource;
pub use source::FilePayload;
pub(crate) use table::sync_table;
pub use table::SampleTable;
#[cfg(test)]
pub(crate) use tests::table_over_bytes;

/// One coded access unit (a video frame or an audio frame), in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// H.264/HEVC: AVCC format (each NAL unit prefixed by its 4-byte big-endian length; no
    /// start codes; parameter sets may be omitted since they live in `avcC`/`hvcC`). AV1: one
    /// temporal unit of OBUs as in the source (AV1-ISOBMFF §2.4). Audio: one raw AAC frame.
    pub data: Vec<u8>,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Composition time minus decode time, in the track's timescale (0 without B-frames).
    pub composition_offset: i32,
    /// True for IDR frames (video) and for every audio frame.
    pub is_sync: bool,
}

/// What the packager needs to know of a sample without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// Size in bytes (as stored; video samples may change size when their NAL length
    /// prefixes are rewritten to 4 bytes).
    pub size: u32,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Composition time minus decode time, in the track's timescale.
    pub composition_offset: i32,
    /// Sync sample (IDR for video, every frame for audio).
    pub is_sync: bool,
}

/// The samples of a track, in decode order.
#[derive(Debug, Clone)]
pub enum Samples {
    /// Every sample with its bytes.
    Memory(Vec<Sample>),
    /// Tables over a file; bytes read on demand.
    Table(Box<SampleTable>),
}

impl From<Vec<Sample>> for Samples {
    fn from(v: Vec<Sample>) -> Self {
        Samples::Memory(v)
    }
}

impl Default for Samples {
    fn default() -> Self {
        Samples::Memory(Vec::new())
    }
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::Memory(v) => v.len(),
            Samples::Table(t) => t.len,
        }
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples when they are in memory.
    pub fn as_slice(&self) -> Option<&[Sample]> {
        match self {
            Samples::Memory(v) => Some(v),
            Samples::Table(_) => None,
        }
    }

    /// Sample `i`'s description (panics when out of range).
    pub fn info(&self, i: usize) -> SampleInfo {
        match self {
            Samples::Memory(v) => memory_info(&v[i]),
            Samples::Table(t) => t.info(i),
        }
    }

    /// Every sample's description, in decode order, in one pass over the tables (read
    /// through a few KiB of windows from the file). An I/O error on the tables (the input
    /// changed or failed after the demuxer read them) ends the iteration early and is
    /// recorded: the next [`Self::segment`] or [`Self::file_payload`] returns it, so
    /// packaging fails rather than writing a wrong asset.
    pub fn infos(&self) -> Infos<'_> {
        let walk = match self {
            Samples::Memory(v) => Walk::Memory(v),
            Samples::Table(t) => match t.cursor(0) {
                Ok(c) => Walk::Table(t, Box::new(c)),
                Err(e) => {
                    t.fail(&e);
                    Walk::Failed
                }
            },
        };
        Infos {
            walk,
            i: 0,
            len: self.len(),
        }
    }

    /// Sum of the sample durations.
    pub fn total_duration(&self) -> u64 {
        self.infos().map(|s| u64::from(s.duration)).sum()
    }

    /// Sum of the sample sizes.
    pub fn total_bytes(&self) -> u64 {
        self.infos().map(|s| u64::from(s.size)).sum()
    }

    /// Media time (track timescale) that presents at time 0: the source's edit list
    /// `media_time` (encoder priming of audio, e.g. 1024 for AAC; the first frame's
    /// composition offset of video with B-frames). 0 for generated content. The packager
    /// turns it into a common timeline shift plus `presentationTimeOffset` (`package::plan`).
    pub fn presentation_offset(&self) -> u32 {
        match self {
            Samples::Memory(_) => 0,
            Samples::Table(t) => t.presentation_offset,
        }
    }

    /// Locates the bytes of samples `range` in the input file as one `mdat` payload, with
    /// their descriptions in `infos` (for [`crate::fmp4::media_segment_head`]), after the
    /// same checks as [`Self::segment`] (NAL lengths within each sample, bytes within the
    /// file), reading only the NAL length prefixes. `Ok(None)` when this path does not apply
    /// (samples in memory, or NAL lengths to rewrite): use [`Self::segment`] then.
    pub fn file_payload(
        &self,
        range: Range<usize>,
        infos: &mut Vec<SampleInfo>,
    ) -> Result<Option<FilePayload>, MediaError> {
        match self {
            Samples::Memory(_) => Ok(None),
            Samples::Table(t) => t.file_payload(range, infos),
        }
    }

    /// Appends `payload` (from [`Self::file_payload`] on these samples) to `out`, copying
    /// file to file in the kernel where it can; `scratch` is the fallback's buffer.
    pub fn copy_payload(
        &self,
        payload: &FilePayload,
        out: &mut File,
        scratch: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        match self {
            Samples::Memory(_) => Err(MediaError::Unsupported(
                "copy_payload on samples held in memory".into(),
            )),
            Samples::Table(t) => t.source.copy_payload(payload, out, scratch),
        }
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Samples::Memory(v) => v.truncate(n),
            Samples::Table(t) => t.len = t.len.min(n),
        }
    }

    /// The samples of `range` with their bytes: borrowed when in memory, else read from the
    /// file into `buf` (whose allocations are reused from call to call).
    pub fn segment<'a>(
        &'a self,
        range: Range<usize>,
        buf: &'a mut Vec<Sample>,
    ) -> Result<&'a [Sample], MediaError> {
        match self {
            Samples::Memory(v) => Ok(&v[range]),
            Samples::Table(t) => {
                t.read(range, buf)?;
                Ok(buf)
            }
        }
    }
}

fn memory_info(s: &Sample) -> SampleInfo {
    SampleInfo {
        size: s.data.len() as u32,
        duration: s.duration,
        composition_offset: s.composition_offset,
        is_sync: s.is_sync,
    }
}

/// Iterator of [`Samples::infos`].
pub struct Infos<'a> {
    walk: Walk<'a>,
    i: usize,
    len: usize,
}

enum Walk<'a> {
    Memory(&'a [Sample]),
    Table(&'a SampleTable, Box<cursor::Cursor<'a>>),
    /// A table whose walk failed (the error is recorded in the table).
    Failed,
}

impl Iterator for Infos<'_> {
    type Item = SampleInfo;

    fn next(&mut self) -> Option<SampleInfo> {
        if self.i >= self.len {
            return None;
        }
        let info = match &mut self.walk {
            Walk::Memory(v) => memory_info(&v[self.i]),
            Walk::Table(t, c) => match c.next_sample() {
                Ok(Some((info, _))) => info,
                Ok(None) => return None,
                Err(e) => {
                    t.fail(&e);
                    self.walk = Walk::Failed;
                    return None;
                }
            },
            Walk::Failed => return None,
        };
        self.i += 1;
        Some(info)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len.saturating_sub(self.i);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Infos<'_> {}
