//! Where a track's samples live: in memory ([`Samples::Memory`], the generated test pattern and
//! tests) or as a compact table over the input file ([`Samples::Table`], the demuxer), whose
//! bytes are read one segment at a time.
//!
//! Memory: a [`SampleTable`] keeps 4 bytes per sample (its size) plus run-length durations and
//! composition offsets (one entry per run, as `stts`/`ctts` store them), the sync sample
//! numbers (`stss`) and about 8 bytes per chunk (offset, first sample; `stco`/`stsc`; 4 when
//! every chunk holds one sample), so a 2-hour 1080p film with 48 kHz audio needs a few MiB of
//! tables. Sample bytes are read with
//! positioned reads (`pread`) into buffers the caller reuses from segment to segment, so the
//! packager holds one segment per representation at a time, whatever the input's length.
//!
//! Untrusted input: every chunk's bytes are checked against the file's length when the table
//! is built (`demux`), so no read or allocation here exceeds the input's size.

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::codec::{self, MediaError};

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

/// The bytes behind a [`SampleTable`]: an open file (read with `pread`, so tracks share it
/// without a cursor) or a buffer (fuzzing, tests).
#[derive(Debug)]
pub(crate) enum DataSource {
    File { file: File, len: u64, name: String },
    Bytes { data: Vec<u8>, name: String },
}

impl DataSource {
    fn len(&self) -> u64 {
        match self {
            DataSource::File { len, .. } => *len,
            DataSource::Bytes { data, .. } => data.len() as u64,
        }
    }

    fn name(&self) -> &str {
        match self {
            DataSource::File { name, .. } | DataSource::Bytes { name, .. } => name,
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MediaError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len()) {
            return Err(MediaError::Truncated(format!(
                "{}: sample data at {offset}+{} lies beyond the end of the file ({} bytes)",
                self.name(),
                buf.len(),
                self.len()
            )));
        }
        match self {
            DataSource::File { file, name, .. } => {
                file.read_exact_at(buf, offset)
                    .map_err(|source| MediaError::Io {
                        path: name.clone(),
                        source,
                    })
            }
            DataSource::Bytes { data, .. } => {
                let o = offset as usize;
                buf.copy_from_slice(&data[o..o + buf.len()]);
                Ok(())
            }
        }
    }
}

/// Compact sample tables of one track of a file (see the module doc).
#[derive(Debug, Clone)]
pub struct SampleTable {
    pub(crate) source: Arc<DataSource>,
    /// Per-sample size in bytes.
    pub(crate) sizes: Vec<u32>,
    /// Durations as runs (first sample index, value), first run at index 0.
    pub(crate) durations: Vec<(u32, u32)>,
    /// Composition offsets as runs (first sample index, value); empty: all 0.
    pub(crate) composition_offsets: Vec<(u32, i32)>,
    /// Sorted 0-based indices of sync samples; `None`: every sample is sync.
    pub(crate) sync: Option<Vec<u32>>,
    /// File offset of each chunk, in sample order.
    pub(crate) chunk_offsets: ChunkOffsets,
    /// First sample index of each chunk (chunks without samples repeat the next one's);
    /// `None`: one sample per chunk (chunk `i` holds sample `i`, as ffmpeg writes video).
    pub(crate) chunk_first: Option<Vec<u32>>,
    /// Video: the input's NAL length size; samples are rewritten to 4-byte lengths on read.
    pub(crate) nal_length_size: Option<u8>,
    /// Media time presented at time 0 (the source's edit list `media_time`).
    pub(crate) presentation_offset: u32,
}

/// Chunk file offsets in about 4 bytes each: a 64-bit base per block of [`Self::BLOCK`]
/// chunks plus 32-bit distances from it; a block spanning 4 GiB or more keeps 64-bit offsets.
#[derive(Debug, Clone)]
pub(crate) enum ChunkOffsets {
    Packed { bases: Vec<u64>, deltas: Vec<u32> },
    Full(Vec<u64>),
}

impl ChunkOffsets {
    const BLOCK: usize = 256;

    /// Packs `offsets` when every block spans less than 4 GiB.
    pub(crate) fn new(offsets: Vec<u64>) -> Self {
        let mut bases = Vec::with_capacity(offsets.len().div_ceil(Self::BLOCK));
        let mut deltas = Vec::with_capacity(offsets.len());
        for block in offsets.chunks(Self::BLOCK) {
            let base = block.iter().copied().min().unwrap_or(0);
            bases.push(base);
            for &o in block {
                match u32::try_from(o - base) {
                    Ok(d) => deltas.push(d),
                    Err(_) => return ChunkOffsets::Full(offsets),
                }
            }
        }
        ChunkOffsets::Packed { bases, deltas }
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            ChunkOffsets::Packed { bases, deltas } => bases[i / Self::BLOCK] + u64::from(deltas[i]),
            ChunkOffsets::Full(v) => v[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            ChunkOffsets::Packed { deltas, .. } => deltas.len(),
            ChunkOffsets::Full(v) => v.len(),
        }
    }
}

/// The value of the run covering sample `i`.
fn run_value<T: Copy + Default>(runs: &[(u32, T)], i: usize) -> T {
    let k = runs.partition_point(|r| r.0 as usize <= i);
    if k == 0 {
        T::default()
    } else {
        runs[k - 1].1
    }
}

impl SampleTable {
    /// First sample of chunk `c`.
    fn chunk_first(&self, c: usize) -> usize {
        match &self.chunk_first {
            Some(f) => f[c] as usize,
            None => c,
        }
    }

    /// The chunk holding sample `i` (the last of the chunks starting at or before it).
    fn chunk_of(&self, i: usize) -> usize {
        match &self.chunk_first {
            Some(f) => f.partition_point(|&x| x as usize <= i).saturating_sub(1),
            None => i.min(self.chunk_offsets.len().saturating_sub(1)),
        }
    }

    fn info(&self, i: usize) -> SampleInfo {
        SampleInfo {
            size: self.sizes[i],
            duration: run_value(&self.durations, i),
            composition_offset: run_value(&self.composition_offsets, i),
            is_sync: match &self.sync {
                None => true,
                Some(s) => s.binary_search(&(i as u32)).is_ok(),
            },
        }
    }

    /// File offsets of samples `range` grouped in runs of contiguous bytes: (offset of the
    /// run's first byte, the run's length, the run's samples). One `pread` per run.
    fn contiguous_runs(
        &self,
        range: Range<usize>,
    ) -> Result<Vec<(u64, usize, Range<usize>)>, MediaError> {
        let mut runs: Vec<(u64, usize, Range<usize>)> = Vec::new();
        if range.is_empty() {
            return Ok(runs);
        }
        let mut ci = self.chunk_of(range.start);
        let mut off = self.chunk_offsets.get(ci)
            + self.sizes[self.chunk_first(ci)..range.start]
                .iter()
                .map(|&s| u64::from(s))
                .sum::<u64>();
        for i in range {
            while ci + 1 < self.chunk_offsets.len() && self.chunk_first(ci + 1) <= i {
                ci += 1;
                off = self.chunk_offsets.get(ci);
            }
            let size = self.sizes[i] as usize;
            match runs.last_mut() {
                Some((o, len, r)) if *o + *len as u64 == off => {
                    *len = len.checked_add(size).ok_or_else(|| {
                        MediaError::Unsupported("sample run larger than memory".into())
                    })?;
                    r.end = i + 1;
                }
                _ => runs.push((off, size, i..i + 1)),
            }
            off = off.saturating_add(size as u64);
        }
        Ok(runs)
    }

    /// Reads samples `range` into `out` (reusing its allocations).
    fn read(&self, range: Range<usize>, out: &mut Vec<Sample>) -> Result<(), MediaError> {
        let n = range.len();
        out.truncate(n);
        while out.len() < n {
            out.push(Sample {
                data: Vec::new(),
                duration: 0,
                composition_offset: 0,
                is_sync: false,
            });
        }
        let start = range.start;
        let mut scratch = Vec::new();
        for (offset, len, run) in self.contiguous_runs(range)? {
            scratch.resize(len, 0);
            self.source.read_at(offset, &mut scratch)?;
            let mut p = 0usize;
            for i in run {
                let s = &mut out[i - start];
                let info = self.info(i);
                let raw = &scratch[p..p + info.size as usize];
                p += info.size as usize;
                s.duration = info.duration;
                s.composition_offset = info.composition_offset;
                s.is_sync = info.is_sync;
                s.data.clear();
                match self.nal_length_size {
                    None | Some(4) => {
                        if self.nal_length_size.is_some() {
                            codec::split_avcc(raw, 4).map_err(|e| sample_err(i, e))?;
                        }
                        s.data.extend_from_slice(raw);
                    }
                    Some(ls) => {
                        for nal in codec::split_avcc(raw, ls).map_err(|e| sample_err(i, e))? {
                            s.data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                            s.data.extend_from_slice(nal);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks and locates the bytes of samples `range` for [`Samples::file_payload`]; `None`
    /// when the samples must be rewritten on the way (NAL lengths other than 4 bytes).
    fn file_payload(
        &self,
        range: Range<usize>,
        infos: &mut Vec<SampleInfo>,
    ) -> Result<Option<FilePayload>, MediaError> {
        if matches!(self.nal_length_size, Some(ls) if ls != 4) {
            return Ok(None);
        }
        infos.clear();
        infos.extend(range.clone().map(|i| self.info(i)));
        let runs = self.contiguous_runs(range)?;
        if self.nal_length_size.is_some() {
            let mut window = Window::default();
            for (offset, _, run) in &runs {
                let mut at = *offset;
                for i in run.clone() {
                    let size = u64::from(self.sizes[i]);
                    self.check_nal_lengths(at, size, &mut window)
                        .map_err(|e| sample_err(i, e))?;
                    at += size;
                }
            }
        }
        let total = runs.iter().map(|r| r.1 as u64).sum();
        Ok(Some(FilePayload {
            runs: runs.into_iter().map(|r| (r.0, r.1)).collect(),
            total,
        }))
    }

    /// Walks the 4-byte NAL length prefixes of the sample at `offset..offset + size` (as
    /// [`codec::split_avcc`] does on bytes in memory), reading only the prefixes: small
    /// positioned reads through `window`, so the sample data itself is not copied.
    fn check_nal_lengths(
        &self,
        offset: u64,
        size: u64,
        window: &mut Window,
    ) -> Result<(), MediaError> {
        let end = offset + size;
        let mut pos = offset;
        while pos < end {
            if pos + 4 > end {
                return Err(MediaError::InvalidAvc("truncated NAL length prefix".into()));
            }
            let len = u64::from(u32::from_be_bytes(window.get4(&self.source, pos)?));
            pos += 4 + len;
            if pos > end {
                return Err(MediaError::InvalidAvc(
                    "NAL unit longer than its sample".into(),
                ));
            }
        }
        Ok(())
    }

    /// Appends `payload` to `out` at its current position: `copy_file_range(2)` from the
    /// input file (the kernel copies page cache to page cache; nothing passes through user
    /// space), or `pread` + `write` through `scratch` where the kernel cannot (another file
    /// system on an old kernel, an in-memory source).
    fn copy_payload(
        &self,
        payload: &FilePayload,
        out: &mut File,
        scratch: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let out_err = |source| MediaError::Io {
            path: "output segment".into(),
            source,
        };
        for &(offset, len) in &payload.runs {
            let mut done = 0usize;
            if let DataSource::File {
                file,
                len: file_len,
                name,
            } = &*self.source
            {
                if offset + len as u64 > *file_len {
                    return Err(MediaError::Truncated(format!(
                        "{name}: sample data at {offset}+{len} lies beyond the end of the file"
                    )));
                }
                while done < len && COPY_FILE_RANGE_WORKS.load(Ordering::Relaxed) {
                    match copy_file_range(file, offset + done as u64, out, len - done) {
                        Ok(0) => {
                            return Err(MediaError::Truncated(format!(
                                "{name}: the file ended at {} while copying samples",
                                offset + done as u64
                            )))
                        }
                        Ok(n) => done += n,
                        Err(e) if done == 0 && copy_file_range_unsupported(&e) => {
                            COPY_FILE_RANGE_WORKS.store(false, Ordering::Relaxed);
                        }
                        Err(e) => return Err(out_err(e)),
                    }
                }
            }
            while done < len {
                let n = (len - done).min(1 << 20);
                scratch.resize(n, 0);
                self.source.read_at(offset + done as u64, scratch)?;
                out.write_all(scratch).map_err(out_err)?;
                done += n;
            }
        }
        Ok(())
    }
}

/// Cleared the first time the kernel refuses `copy_file_range` between the input and an
/// output (`EXDEV`, `ENOSYS`, `EOPNOTSUPP`, `EINVAL`): later segments go through `pread`.
static COPY_FILE_RANGE_WORKS: AtomicBool = AtomicBool::new(true);

fn copy_file_range_unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL)
    )
}

/// `copy_file_range(2)` of up to `len` bytes from `from` at `offset` to `to` at its file
/// position (which advances). Returns the bytes copied (0: `from` ended).
fn copy_file_range(from: &File, offset: u64, to: &mut File, len: usize) -> std::io::Result<usize> {
    let mut off_in = libc::loff_t::try_from(offset)
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both descriptors are open for the duration of the call (borrowed `File`s);
    // `off_in` is a valid pointer to a local; a null `off_out` means "the file position".
    let n = unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            &mut off_in,
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            0,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A small read-ahead window over the input for reading NAL length prefixes.
#[derive(Default)]
struct Window {
    start: u64,
    bytes: Vec<u8>,
}

impl Window {
    const SIZE: u64 = 256;

    fn get4(&mut self, source: &DataSource, pos: u64) -> Result<[u8; 4], MediaError> {
        let inside = pos >= self.start && pos + 4 <= self.start + self.bytes.len() as u64;
        if !inside {
            let n = Self::SIZE.min(source.len().saturating_sub(pos)).max(4);
            self.bytes.resize(n as usize, 0);
            source.read_at(pos, &mut self.bytes)?;
            self.start = pos;
        }
        let o = (pos - self.start) as usize;
        Ok([
            self.bytes[o],
            self.bytes[o + 1],
            self.bytes[o + 2],
            self.bytes[o + 3],
        ])
    }
}

/// Where the bytes of one segment's samples lie in the input file (contiguous runs), their
/// NAL lengths checked: what [`Samples::copy_payload`] appends to an output segment.
#[derive(Debug)]
pub struct FilePayload {
    runs: Vec<(u64, usize)>,
    total: u64,
}

impl FilePayload {
    /// Bytes in the payload (the `mdat` body).
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True without bytes.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

fn sample_err(i: usize, e: MediaError) -> MediaError {
    MediaError::InvalidAvc(format!("sample {}: {e}", i + 1))
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::Memory(v) => v.len(),
            Samples::Table(t) => t.sizes.len(),
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

    /// Every sample's description, in decode order, in one pass over the tables.
    pub fn infos(&self) -> Infos<'_> {
        Infos {
            samples: self,
            i: 0,
            dur_run: 0,
            cto_run: 0,
            sync_pos: 0,
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
            Samples::Table(t) => t.copy_payload(payload, out, scratch),
        }
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Samples::Memory(v) => v.truncate(n),
            Samples::Table(t) => t.sizes.truncate(n),
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

/// The value of run `k` when it covers sample `i` (runs start at index 0 in valid tables).
fn run_at<T: Copy + Default>(runs: &[(u32, T)], k: usize, i: usize) -> T {
    match runs.get(k) {
        Some(&(first, v)) if first as usize <= i => v,
        _ => T::default(),
    }
}

/// Iterator of [`Samples::infos`].
pub struct Infos<'a> {
    samples: &'a Samples,
    i: usize,
    dur_run: usize,
    cto_run: usize,
    sync_pos: usize,
}

impl Iterator for Infos<'_> {
    type Item = SampleInfo;

    fn next(&mut self) -> Option<SampleInfo> {
        let i = self.i;
        let info = match self.samples {
            Samples::Memory(v) => memory_info(v.get(i)?),
            Samples::Table(t) => {
                let size = *t.sizes.get(i)?;
                while t
                    .durations
                    .get(self.dur_run + 1)
                    .is_some_and(|r| r.0 as usize <= i)
                {
                    self.dur_run += 1;
                }
                while t
                    .composition_offsets
                    .get(self.cto_run + 1)
                    .is_some_and(|r| r.0 as usize <= i)
                {
                    self.cto_run += 1;
                }

                let is_sync = match &t.sync {
                    None => true,
                    Some(s) => {
                        while s.get(self.sync_pos).is_some_and(|&x| (x as usize) < i) {
                            self.sync_pos += 1;
                        }
                        s.get(self.sync_pos) == Some(&(i as u32))
                    }
                };
                SampleInfo {
                    size,
                    duration: run_at(&t.durations, self.dur_run, i),
                    composition_offset: run_at(&t.composition_offsets, self.cto_run, i),
                    is_sync,
                }
            }
        };
        self.i += 1;
        Some(info)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.samples.len().saturating_sub(self.i);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Infos<'_> {}

/// A table over `data` (tests).
#[cfg(test)]
pub(crate) fn table_over_bytes(
    data: Vec<u8>,
    sizes: Vec<u32>,
    durations: Vec<(u32, u32)>,
    composition_offsets: Vec<(u32, i32)>,
    sync: Option<Vec<u32>>,
    chunks: Vec<(u64, u32)>,
    nal_length_size: Option<u8>,
) -> Samples {
    Samples::Table(Box::new(SampleTable {
        source: Arc::new(DataSource::Bytes {
            data,
            name: "test".into(),
        }),
        sizes,
        durations,
        composition_offsets,
        sync,
        chunk_offsets: ChunkOffsets::new(chunks.iter().map(|c| c.0).collect()),
        chunk_first: Some(chunks.iter().map(|c| c.1).collect()),
        nal_length_size,
        presentation_offset: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reads_segments_across_chunks_and_agrees_with_infos() {
        // 5 samples of 2..6 bytes in two chunks with a gap of 3 bytes between them.
        let mut data = Vec::new();
        let sizes = vec![2u32, 3, 4, 5, 6];
        let mut chunk_offsets = Vec::new();
        for (i, &s) in sizes.iter().enumerate() {
            if i == 0 || i == 2 {
                chunk_offsets.push((data.len() as u64, i as u32));
            }
            if i == 2 {
                data.extend_from_slice(&[0xee; 3]);
                chunk_offsets.last_mut().unwrap().0 = data.len() as u64;
            }
            data.extend(std::iter::repeat_n(i as u8, s as usize));
        }
        let samples = table_over_bytes(
            data,
            sizes.clone(),
            vec![(0, 10), (3, 20)],
            vec![(0, 5), (1, -5), (4, 0)],
            Some(vec![0, 3]),
            chunk_offsets,
            None,
        );
        let infos: Vec<_> = samples.infos().collect();
        assert_eq!(infos.len(), 5);
        for (i, inf) in infos.iter().enumerate() {
            assert_eq!(*inf, samples.info(i), "sample {i}");
        }
        assert_eq!(
            infos.iter().map(|s| s.duration).collect::<Vec<_>>(),
            [10, 10, 10, 20, 20]
        );
        assert_eq!(
            infos
                .iter()
                .map(|s| s.composition_offset)
                .collect::<Vec<_>>(),
            [5, -5, -5, -5, 0]
        );
        assert_eq!(
            infos.iter().map(|s| s.is_sync).collect::<Vec<_>>(),
            [true, false, false, true, false]
        );
        let mut buf = Vec::new();
        for range in [0..5, 1..4, 3..5, 2..2] {
            let got = samples.segment(range.clone(), &mut buf).unwrap().to_vec();
            assert_eq!(got.len(), range.len());
            for (s, i) in got.iter().zip(range) {
                assert_eq!(s.data, vec![i as u8; sizes[i] as usize]);
                assert_eq!(s.duration, infos[i].duration);
                assert_eq!(s.is_sync, infos[i].is_sync);
            }
        }
    }

    #[test]
    fn payload_path_writes_the_same_segment_and_checks_nal_lengths() {
        // Video samples of 4-byte-length NAL units in two chunks with a gap between them.
        let nal = |len: usize, fill: u8| {
            let mut v = (len as u32).to_be_bytes().to_vec();
            v.extend(std::iter::repeat_n(fill, len));
            v
        };
        let samples_bytes = [
            nal(5, 1),
            [nal(2, 2), nal(3, 3)].concat(),
            nal(7, 4),
            nal(1, 5),
        ];
        let mut data = Vec::new();
        let mut chunks = Vec::new();
        for (i, b) in samples_bytes.iter().enumerate() {
            if i == 0 || i == 2 {
                data.extend_from_slice(&[0xee; 5]);
                chunks.push((data.len() as u64, i as u32));
            }
            data.extend_from_slice(b);
        }
        let sizes: Vec<u32> = samples_bytes.iter().map(|b| b.len() as u32).collect();
        let table = |data: Vec<u8>| {
            table_over_bytes(
                data,
                sizes.clone(),
                vec![(0, 512)],
                vec![(0, 1024), (2, 0)],
                Some(vec![0]),
                chunks.clone(),
                Some(4),
            )
        };
        // The same table over bytes in memory (pread fallback) and over a file
        // (copy_file_range).
        let mut on_disk = table(data.clone());
        if let Samples::Table(t) = &mut on_disk {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&data).unwrap();
            t.source = Arc::new(DataSource::File {
                file,
                len: data.len() as u64,
                name: "test".into(),
            });
        }
        let (mut buf, mut infos, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for (samples, range) in [table(data.clone()), on_disk]
            .iter()
            .flat_map(|s| [0..4, 1..3, 3..4, 0..1].map(|r| (s, r)))
        {
            let payload = samples
                .file_payload(range.clone(), &mut infos)
                .unwrap()
                .expect("file-backed 4-byte NAL samples take the payload path");
            let mut out = tempfile::tempfile().unwrap();
            let head = crate::fmp4::media_segment_head(3, 99, &infos);
            out.write_all(&head).unwrap();
            samples
                .copy_payload(&payload, &mut out, &mut scratch)
                .unwrap();
            let mut direct = Vec::new();
            std::io::Seek::rewind(&mut out).unwrap();
            std::io::Read::read_to_end(&mut out, &mut direct).unwrap();
            assert_eq!(direct.len() as u64, head.len() as u64 + payload.len());
            let built = crate::fmp4::media_segment(
                3,
                99,
                samples.segment(range.clone(), &mut buf).unwrap(),
            );
            assert_eq!(direct, built, "range {range:?}");
        }
        // A NAL length running past its sample is refused on this path too.
        let mut bad = data;
        let at = chunks[1].0 as usize; // sample 2's first length field
        bad[at..at + 4].copy_from_slice(&100u32.to_be_bytes());
        let err = table(bad).file_payload(0..4, &mut infos).unwrap_err();
        assert!(err.to_string().contains("sample 3"), "{err}");
        // Other NAL length sizes are rewritten: not this path; in-memory samples neither.
        let two = table_over_bytes(
            vec![0; 8],
            vec![4],
            vec![(0, 1)],
            vec![],
            None,
            vec![(0, 0)],
            Some(2),
        );
        assert!(two.file_payload(0..1, &mut infos).unwrap().is_none());
        let mem = Samples::Memory(Vec::new());
        assert!(mem.file_payload(0..0, &mut infos).unwrap().is_none());
    }

    #[test]
    fn chunk_offsets_pack_into_32_bits_per_chunk_or_stay_full() {
        let offsets: Vec<u64> = (0..1000u64).map(|i| 5_000_000_000 + i * 7_000).collect();
        let packed = ChunkOffsets::new(offsets.clone());
        assert!(matches!(packed, ChunkOffsets::Packed { .. }));
        assert!((0..1000).all(|i| packed.get(i) == offsets[i]));
        // A block spanning more than 4 GiB, and offsets going backwards, stay exact.
        let wide = vec![10, 10 + (1u64 << 33), 3];
        let full = ChunkOffsets::new(wide.clone());
        assert!(matches!(full, ChunkOffsets::Full(_)));
        assert!((0..3).all(|i| full.get(i) == wide[i]));
        let back = ChunkOffsets::new(vec![900, 100, 500]);
        assert_eq!((back.get(0), back.get(1), back.get(2)), (900, 100, 500));
    }

    #[test]
    fn one_sample_per_chunk_needs_no_first_sample_table() {
        // Samples 0..4 of 3 bytes, each its own chunk, chunks in reverse file order; the
        // last chunk holds two samples.
        let data: Vec<u8> = (0..15u8).collect();
        let mut s = table_over_bytes(
            data,
            vec![3; 5],
            vec![(0, 1)],
            vec![],
            None,
            vec![(9, 0), (6, 1), (3, 2), (0, 3)],
            None,
        );
        if let Samples::Table(t) = &mut s {
            t.chunk_first = None;
        }
        let mut buf = Vec::new();
        let got: Vec<Vec<u8>> = s
            .segment(1..5, &mut buf)
            .unwrap()
            .iter()
            .map(|x| x.data.clone())
            .collect();
        assert_eq!(
            got,
            [vec![6, 7, 8], vec![3, 4, 5], vec![0, 1, 2], vec![3, 4, 5]]
        );
    }

    #[test]
    fn video_nal_lengths_are_rewritten_to_four_bytes_and_checked() {
        // Two NAL units with 2-byte lengths.
        let data = vec![0, 2, 0x65, 1, 0, 1, 0x41];
        let s = table_over_bytes(
            data.clone(),
            vec![7],
            vec![(0, 1)],
            vec![],
            None,
            vec![(0, 0)],
            Some(2),
        );
        let mut buf = Vec::new();
        let got = s.segment(0..1, &mut buf).unwrap();
        assert_eq!(got[0].data, [0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41]);
        // A length running past the sample is an error, not a panic.
        let bad = table_over_bytes(
            vec![0, 9, 1, 2],
            vec![4],
            vec![(0, 1)],
            vec![],
            None,
            vec![(0, 0)],
            Some(2),
        );
        assert!(bad.segment(0..1, &mut buf).is_err());
        // A chunk beyond the end of the data is an error too.
        let short = table_over_bytes(
            vec![1, 2],
            vec![4],
            vec![(0, 1)],
            vec![],
            None,
            vec![(0, 0)],
            None,
        );
        assert!(matches!(
            short.segment(0..1, &mut buf),
            Err(MediaError::Truncated(_))
        ));
    }
}
