//! [`SampleTable`]: a track's sample tables left in the input file, found again through
//! checkpoints (see the module doc of [`crate::samples`]).

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use tracing::error;

use super::cursor::{Cursor, Entries, Layout, Pos, Sync, Window};
use super::source::{sample_err, DataSource, FilePayload};
use super::{Sample, SampleInfo};
use crate::codec::{self, MediaError};

/// Samples between two checkpoints: finding sample `i` walks at most this many entries
/// from the checkpoint before it (a 2-second segment of 30 fps video is 60 samples; of
/// 48 kHz AAC, 94), and the checkpoints of a 2-hour film (553,000 samples) take ~150 KiB.
/// Every 1,024 took 40 KiB but doubled the packager's user CPU (0.2 s → 0.4 s on that film:
/// each segment's walk is 4 times longer); at 256 it is 0.28 s.
pub(crate) const CHECKPOINT_EVERY: u32 = 256;

/// A track's sample tables over the input file (see the module doc).
#[derive(Debug, Clone)]
pub struct SampleTable {
    pub(crate) source: Arc<DataSource>,
    pub(crate) layout: Layout,
    /// Samples kept (fewer than the tables hold after [`super::Samples::truncate`]).
    pub(crate) len: usize,
    /// The walk's state before samples 0, [`CHECKPOINT_EVERY`], 2 × [`CHECKPOINT_EVERY`]...
    checkpoints: Vec<Pos>,
    /// Video: the input's NAL length size; samples are rewritten to 4-byte lengths on read.
    pub(crate) nal_length_size: Option<u8>,
    /// Media time presented at time 0 (the source's edit list `media_time`).
    pub(crate) presentation_offset: u32,
    /// The first error of an infallible walk ([`super::Samples::infos`], `info`): an I/O
    /// error on tables the demuxer read without error (the input changed or failed since).
    /// Reported by the next [`Self::read`] or [`Self::file_payload`], so packaging fails.
    failure: Arc<OnceLock<String>>,
}

impl SampleTable {
    /// Walks every table once from the first sample to the last, doing every check (see
    /// [`Cursor`]), and keeps a checkpoint every [`CHECKPOINT_EVERY`] samples.
    pub(crate) fn build(
        source: Arc<DataSource>,
        layout: Layout,
        nal_length_size: Option<u8>,
    ) -> Result<Self, MediaError> {
        let mut checkpoints = Vec::with_capacity(layout.count.div_ceil(CHECKPOINT_EVERY) as usize);
        let mut cur = Cursor::new(&layout, &source, Pos::default());
        loop {
            let pos = cur.pos();
            if pos.i.is_multiple_of(CHECKPOINT_EVERY) && pos.i < layout.count {
                checkpoints.push(pos);
            }
            if cur.next_sample()?.is_none() {
                break;
            }
        }
        cur.check_rest()?;
        Ok(SampleTable {
            len: layout.count as usize,
            source,
            layout,
            checkpoints,
            nal_length_size,
            presentation_offset: 0,
            failure: Arc::default(),
        })
    }

    /// A walk positioned before sample `i` (at most [`CHECKPOINT_EVERY`] - 1 steps from its
    /// checkpoint).
    pub(crate) fn cursor(&self, i: usize) -> Result<Cursor<'_>, MediaError> {
        let k = (i / CHECKPOINT_EVERY as usize).min(self.checkpoints.len().saturating_sub(1));
        let pos = self.checkpoints.get(k).copied().unwrap_or_default();
        let mut c = Cursor::new(&self.layout, &self.source, pos);
        for _ in pos.i as usize..i {
            c.next_sample()?;
        }
        Ok(c)
    }

    /// Records the first error of an infallible walk (see `failure`).
    pub(crate) fn fail(&self, e: &MediaError) {
        error!(
            track = self.layout.track_id,
            "reading the sample tables: {e}"
        );
        let _ = self.failure.set(e.to_string());
    }

    fn check_failure(&self) -> Result<(), MediaError> {
        match self.failure.get() {
            Some(e) => Err(MediaError::Io {
                path: self.source.name().to_string(),
                source: std::io::Error::other(format!("reading the sample tables: {e}")),
            }),
            None => Ok(()),
        }
    }

    /// Sample `i`'s description (an error is recorded and reads as a zeroed sample).
    pub(crate) fn info(&self, i: usize) -> SampleInfo {
        match self.cursor(i).and_then(|mut c| c.next_sample()) {
            Ok(Some((info, _))) => info,
            Ok(None) => panic!("sample {i} out of range ({} samples)", self.len),
            Err(e) => {
                self.fail(&e);
                SampleInfo {
                    size: 0,
                    duration: 0,
                    composition_offset: 0,
                    is_sync: false,
                }
            }
        }
    }

    /// Describes samples `range` into `infos` and returns their file offsets grouped in runs
    /// of contiguous bytes: (offset of the run's first byte, the run's length, the run's
    /// samples). One `pread` (or `copy_file_range`) per run.
    fn locate(
        &self,
        range: Range<usize>,
        infos: &mut Vec<SampleInfo>,
    ) -> Result<Vec<(u64, usize, Range<usize>)>, MediaError> {
        self.check_failure()?;
        infos.clear();
        let mut runs: Vec<(u64, usize, Range<usize>)> = Vec::new();
        if range.is_empty() {
            return Ok(runs);
        }
        assert!(range.end <= self.len, "samples {range:?} of {}", self.len);
        let mut cur = self.cursor(range.start)?;
        for i in range {
            let (info, off) = cur.next_sample()?.expect("sample within the table");
            infos.push(info);
            let size = info.size as usize;
            match runs.last_mut() {
                Some((o, len, r)) if *o + *len as u64 == off => {
                    *len = len.checked_add(size).ok_or_else(|| {
                        MediaError::Unsupported("sample run larger than memory".into())
                    })?;
                    r.end = i + 1;
                }
                _ => runs.push((off, size, i..i + 1)),
            }
        }
        Ok(runs)
    }

    /// Reads samples `range` into `out` (reusing its allocations).
    pub(crate) fn read(
        &self,
        range: Range<usize>,
        out: &mut Vec<Sample>,
    ) -> Result<(), MediaError> {
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
        let mut infos = Vec::with_capacity(n);
        let mut scratch = Vec::new();
        for (offset, len, run) in self.locate(range, &mut infos)? {
            scratch.resize(len, 0);
            self.source.read_at(offset, &mut scratch)?;
            let mut p = 0usize;
            for i in run {
                let s = &mut out[i - start];
                let info = infos[i - start];
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

    /// Checks and locates the bytes of samples `range` for [`super::Samples::file_payload`];
    /// `None` when the samples must be rewritten on the way (NAL lengths other than 4 bytes).
    pub(crate) fn file_payload(
        &self,
        range: Range<usize>,
        infos: &mut Vec<SampleInfo>,
    ) -> Result<Option<FilePayload>, MediaError> {
        if matches!(self.nal_length_size, Some(ls) if ls != 4) {
            return Ok(None);
        }
        let start = range.start;
        let runs = self.locate(range, infos)?;
        if self.nal_length_size.is_some() {
            let mut window = super::source::PrefixWindow::default();
            for (offset, _, run) in &runs {
                let mut at = *offset;
                for i in run.clone() {
                    let size = u64::from(infos[i - start].size);
                    self.source
                        .check_nal_lengths(at, size, &mut window)
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
}

/// The sync samples of an `stss` of `entries` in a track of `count` samples: left in the
/// file when its numbers ascend (zeros, which name no sample, aside), else sorted in memory
/// (numbers outside `1..=count` dropped, as a sorted list needs none of them).
pub(crate) fn sync_table(
    src: &DataSource,
    entries: Entries,
    count: u32,
) -> Result<Sync, MediaError> {
    let mut w = Window::default();
    let mut last = 0u32;
    let mut ascending = true;
    for k in 0..entries.count {
        let v = read_u32(&mut w, src, &entries, k)?;
        if v != 0 {
            ascending &= v >= last;
            last = v;
        }
    }
    if ascending {
        return Ok(Sync::File(entries));
    }
    let mut s = Vec::new();
    for k in 0..entries.count {
        let v = read_u32(&mut w, src, &entries, k)?;
        if v >= 1 && v <= count {
            s.push(v - 1);
        }
    }
    s.sort_unstable();
    s.dedup();
    Ok(Sync::Sorted(s))
}

fn read_u32(w: &mut Window, src: &DataSource, e: &Entries, k: u32) -> Result<u32, MediaError> {
    let at = e.offset + 4 * u64::from(k);
    let end = e.offset + 4 * u64::from(e.count);
    w.read_u32(src, at, end)
}
