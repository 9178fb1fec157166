//! The bytes behind a file-backed track: the input ([`DataSource`]), read with positioned
//! reads (`pread`) so that tracks and writer threads share it without a file position, and
//! segment payloads copied from it to the output by the kernel (`copy_file_range`).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::codec::MediaError;

/// The bytes behind a [`SampleTable`]: an open file (read with `pread`, so tracks share it
/// without a cursor) or a buffer (fuzzing, tests).
#[derive(Debug)]
pub(crate) enum DataSource {
    /// `file` serves the sample bytes, `tables` (the same file opened again, not a `dup`) the
    /// sample tables: each open file has its own read-ahead state, which the tables' reads
    /// near the `moov` would otherwise reset between the sequential copies of the samples.
    File {
        file: File,
        tables: File,
        len: u64,
        name: String,
    },
    Bytes {
        data: Vec<u8>,
        name: String,
    },
}

impl DataSource {
    pub(crate) fn len(&self) -> u64 {
        match self {
            DataSource::File { len, .. } => *len,
            DataSource::Bytes { data, .. } => data.len() as u64,
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            DataSource::File { name, .. } | DataSource::Bytes { name, .. } => name,
        }
    }

    /// Reads sample bytes at `offset`.
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MediaError> {
        self.read_from(false, offset, buf)
    }

    /// Reads sample table bytes at `offset` (through the tables' own file).
    pub(crate) fn read_table_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MediaError> {
        self.read_from(true, offset, buf)
    }

    fn read_from(&self, table: bool, offset: u64, buf: &mut [u8]) -> Result<(), MediaError> {
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
            DataSource::File {
                file, tables, name, ..
            } => {
                let f = if table { tables } else { file };
                f.read_exact_at(buf, offset)
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

impl DataSource {
    /// Walks the 4-byte NAL length prefixes of the sample at `offset..offset + size` (as
    /// [`crate::codec::split_avcc`] does on bytes in memory), reading only the prefixes: small
    /// positioned reads through `window`, so the sample data itself is not copied.
    pub(crate) fn check_nal_lengths(
        &self,
        offset: u64,
        size: u64,
        window: &mut PrefixWindow,
    ) -> Result<(), MediaError> {
        let end = offset + size;
        let mut pos = offset;
        while pos < end {
            if pos + 4 > end {
                return Err(MediaError::InvalidAvc("truncated NAL length prefix".into()));
            }
            let len = u64::from(u32::from_be_bytes(window.get4(self, pos)?));
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
    pub(crate) fn copy_payload(
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
                ..
            } = self
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
                self.read_at(offset + done as u64, scratch)?;
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
pub(crate) struct PrefixWindow {
    start: u64,
    bytes: Vec<u8>,
}

impl PrefixWindow {
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
/// NAL lengths checked: what [`super::Samples::copy_payload`] appends to an output segment.
#[derive(Debug)]
pub struct FilePayload {
    pub(crate) runs: Vec<(u64, usize)>,
    pub(crate) total: u64,
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

pub(crate) fn sample_err(i: usize, e: MediaError) -> MediaError {
    MediaError::InvalidAvc(format!("sample {}: {e}", i + 1))
}
