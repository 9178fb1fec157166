//! Large bodies of the memory tier kept in memory files, so a hit can leave with
//! `sendfile(2)` instead of being copied into the socket.
//!
//! ## Why
//! A profile of the edge serving cache hits (edge/bench/RESULTS.md, "hit path") put half of
//! its CPU in one place: the kernel copying each body from user memory into socket buffers
//! (`_copy_from_iter`). nginx avoids that copy for files with `sendfile`; the origin already
//! does (serve's direct path, [`serve::direct`] in the edge). A body held in an anonymous
//! memory file (`memfd_create(2)`) is a file: `sendfile` hands its pages to the socket with no
//! copy, and the same pages are mapped into the process, so every other reader (hyper's path,
//! HTTP/2, ranges, the disk tier's write-through) still sees an ordinary [`Bytes`].
//!
//! ## How
//! [`share`] copies a body of at least [`MIN_BYTES`] into a new memory file once (when it
//! enters the memory tier), maps it read-only and returns a [`Bytes`] over the mapping that
//! owns both (`Bytes::from_owner`). The memory is the same as before: the file's pages *are*
//! the body, counted by the tier's weight as before; it is freed when the last clone of the
//! body (and the last `sendfile` in flight, which holds the file) is gone.
//! [`file_range`] answers, for any such body or slice of one, which file and offset hold it:
//! a [`Bytes`] cannot name its owner, so live mappings are registered by address
//! (`BTreeMap` under an `RwLock`, one read lock per lookup; entries leave on drop).
//!
//! ## Limits
//! Each memory file is a descriptor. At most [`max_files`] exist at once (a quarter of the
//! process's descriptor limit, so connections keep the rest); past that, or if
//! `memfd_create`/`mmap` fail, [`share`] returns the body unchanged and hits are copied as
//! before. Hand-written on `libc` (already a dependency of the serve kit): the `memfd` and
//! `memmap2` crates would cover the two calls but not the registry, which is the point.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use bytes::Bytes;

/// Bodies smaller than this stay ordinary heap memory: below it, per-request work outweighs
/// the copy `sendfile` saves (the origin measured 64 KiB as where `sendfile` starts to win).
pub const MIN_BYTES: usize = 64 * 1024;

/// Live mappings by start address: (length, the file).
type Registry = BTreeMap<usize, (usize, Weak<File>)>;

fn registry() -> &'static RwLock<Registry> {
    static R: OnceLock<RwLock<Registry>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(BTreeMap::new()))
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many memory files may exist at once: a quarter of the soft `RLIMIT_NOFILE`.
pub fn max_files() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `rl` is a valid, writable rlimit.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0;
        if ok {
            (rl.rlim_cur.min(1 << 20) as usize) / 4
        } else {
            256
        }
    })
}

/// Memory files alive now.
pub fn live_files() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// A read-only shared mapping of a whole memory file; owns the file (through `Arc`) and
/// unmaps and unregisters on drop.
struct Mapping {
    ptr: *const u8,
    len: usize,
    _file: Arc<File>,
}

// SAFETY: the mapping is read-only and never changes after creation; the pointer is only
// read through `as_ref`.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared read-only memory.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        registry()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(self.ptr as usize));
        // SAFETY: `ptr`/`len` came from a successful mmap that nothing else unmaps.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `body` moved into a memory file when it is at least [`MIN_BYTES`], not already in one,
/// and the file budget allows; otherwise `body` itself. The returned bytes are equal.
pub fn share(body: Bytes) -> Bytes {
    if body.len() < MIN_BYTES || file_range(&body).is_some() {
        return body;
    }
    if LIVE.fetch_add(1, Ordering::Relaxed) >= max_files() {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        return body;
    }
    match map(&body) {
        Ok(m) => {
            let (start, len, file) = (m.ptr as usize, m.len, Arc::downgrade(&m._file));
            registry()
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(start, (len, file));
            Bytes::from_owner(m)
        }
        Err(e) => {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(error = %e, len = body.len(), "cache: memory file not made; body stays on the heap");
            body
        }
    }
}

fn map(body: &[u8]) -> std::io::Result<Mapping> {
    // SAFETY: the name is a NUL-terminated string; the flags are valid.
    let fd = unsafe { libc::memfd_create(c"dashcdn-body".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(body)?;
    // SAFETY: mapping `len` bytes of a file of exactly that length, read-only, shared.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            body.len(),
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Mapping {
        ptr: ptr as *const u8,
        len: body.len(),
        _file: Arc::new(file),
    })
}

/// The memory file holding `body` and the offset of its first byte there, if `body` is (a
/// slice of) a body [`share`] made and that is still alive.
pub fn file_range(body: &Bytes) -> Option<(Arc<File>, u64)> {
    if body.is_empty() {
        return None;
    }
    let addr = body.as_ptr() as usize;
    let reg = registry().read().unwrap_or_else(|e| e.into_inner());
    let (&start, (len, file)) = reg.range(..=addr).next_back()?;
    if addr + body.len() > start + len {
        return None;
    }
    Some((file.upgrade()?, (addr - start) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn body(n: usize) -> Bytes {
        Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
    }

    #[test]
    fn small_bodies_stay_on_the_heap() {
        let b = body(MIN_BYTES - 1);
        let s = share(b.clone());
        assert_eq!(s.as_ptr(), b.as_ptr());
        assert!(file_range(&s).is_none());
    }

    #[test]
    fn a_large_body_is_a_file_with_the_same_bytes_and_slices_find_their_offset() {
        let b = body(300_000);
        let s = share(b.clone());
        assert_eq!(s, b);
        let (file, off) = file_range(&s).expect("shared");
        assert_eq!(off, 0);
        assert_eq!(file.metadata().unwrap().len(), 300_000);
        let part = s.slice(1000..2000);
        let (file2, off2) = file_range(&part).expect("a slice is found too");
        assert_eq!(off2, 1000);
        let mut buf = vec![0u8; 1000];
        file2.read_exact_at(&mut buf, off2).unwrap();
        assert_eq!(&buf[..], &b[1000..2000]);
        // sharing again is a no-op
        let again = share(s.clone());
        assert_eq!(again.as_ptr(), s.as_ptr());
    }

    #[test]
    fn dropping_the_last_clone_unregisters_and_frees() {
        let s = share(body(200_000));
        let addr = s.as_ptr() as usize;
        assert!(live_files() >= 1);
        let (file, _) = file_range(&s).unwrap();
        let clone = s.clone();
        drop(s);
        assert!(
            registry().read().unwrap().contains_key(&addr),
            "a clone keeps it"
        );
        drop(clone);
        assert!(!registry().read().unwrap().contains_key(&addr));
        // a sendfile in flight holds the file: its bytes stay readable
        let mut buf = [0u8; 4];
        file.read_exact_at(&mut buf, 4).unwrap();
        assert_eq!(buf, [4, 5, 6, 7]);
    }

    #[test]
    fn heap_bytes_are_not_mistaken_for_a_file() {
        let _s = share(body(100_000));
        assert!(file_range(&body(100_000)).is_none());
        assert!(file_range(&Bytes::new()).is_none());
    }
}
