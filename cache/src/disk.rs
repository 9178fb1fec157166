//! The disk tier: one checksummed file per object, LRU eviction within a byte budget.
//!
//! ## Layout
//! `dir/<hh>/<h32>.obj`, where `h32` is the hex XXH3-128 of the key and `hh` its first two
//! hex digits (256 fan-out directories). The raw key never becomes a path, so no key can
//! escape `dir`. Writes go to `dir/tmp/` first and are renamed into place (atomic on one
//! file system); `open` empties `tmp/`.
//!
//! ## File format (little-endian)
//! ```text
//! 0  magic  b"DCO1"       4  version u16 = 1   6  reserved u16 = 0
//! 8  key_len u32         12  meta_len u32     16  body_len u64
//! 24 checksum u64 = XXH3-64(bytes 0..24 ‖ key ‖ meta ‖ body)
//! 32 key, meta, body
//! ```
//! The file length must equal `32 + key_len + meta_len + body_len` (catches truncation).
//! The checksum covers the length fields too, so a flipped bit anywhere is caught.
//!
//! ## Index and concurrency
//! The index (key → file size, generation, LRU position) lives in memory behind one mutex,
//! rebuilt on [`DiskTier::open`] from the files' headers (oldest modification time first).
//! File reads and temp-file writes happen outside the lock; the rename, the index update and
//! the unlinking of evicted files happen under it, so the directory and the index always agree.
//! All I/O runs on the calling thread. No `fsync`: after a power loss a file may be torn,
//! which the length check and checksum turn into a miss.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::{CacheError, DiskConfig, Entry};

/// File magic.
pub const MAGIC: [u8; 4] = *b"DCO1";
/// File format version.
pub const VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Longest key stored on disk (longer keys are kept in memory only).
pub const MAX_KEY_LEN: usize = 16 * 1024;

/// Why a file could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// Truncated, wrong magic/version, length mismatch or checksum mismatch.
    Corrupt,
    /// A valid file for another key (hash collision).
    OtherKey,
}

#[derive(Clone, Copy)]
struct Indexed {
    len: u64,
    gen: u64,
    lru: u64,
}

#[derive(Default)]
struct State {
    index: HashMap<Arc<str>, Indexed>,
    lru: BTreeMap<u64, Arc<str>>,
    next: u64,
    bytes: u64,
    evictions: u64,
}

impl State {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn forget(&mut self, key: &str) -> Option<Indexed> {
        let old = self.index.remove(key)?;
        self.lru.remove(&old.lru);
        self.bytes -= old.len;
        Some(old)
    }
}

/// Counters of the disk tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes of object files.
    pub bytes: u64,
    /// Object files.
    pub objects: u64,
    /// Files evicted to make room.
    pub evictions: u64,
    /// Corrupt or truncated files found and deleted.
    pub corrupt: u64,
    /// The budget.
    pub budget: u64,
}

/// The disk tier (see the module docs). `Send + Sync`.
pub struct DiskTier {
    dir: PathBuf,
    tmp: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    tmp_seq: AtomicU64,
    corrupt: AtomicU64,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The file name stem for `key`: hex XXH3-128.
fn key_hash(key: &str) -> String {
    format!("{:032x}", xxh3_128(key.as_bytes()))
}

fn header(key: &str, meta: &[u8], body: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&(key.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&(meta.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let mut sum = Xxh3::new();
    sum.update(&h[..24]);
    sum.update(key.as_bytes());
    sum.update(meta);
    sum.update(body);
    h[24..32].copy_from_slice(&sum.digest().to_le_bytes());
    h
}

struct Parsed {
    key_len: usize,
    meta_len: usize,
    body_len: u64,
    checksum: u64,
}

/// Parses a header and checks it against the file's length.
fn parse_header(h: &[u8], file_len: u64) -> Result<Parsed, Bad> {
    if h.len() < HEADER_LEN || h[0..4] != MAGIC || h[4..6] != VERSION.to_le_bytes() {
        return Err(Bad::Corrupt);
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
    let p = Parsed {
        key_len: u32_at(8) as usize,
        meta_len: u32_at(12) as usize,
        body_len: u64_at(16),
        checksum: u64_at(24),
    };
    let total = (HEADER_LEN as u64)
        .checked_add(p.key_len as u64)
        .and_then(|t| t.checked_add(p.meta_len as u64))
        .and_then(|t| t.checked_add(p.body_len));
    if p.key_len > MAX_KEY_LEN || total != Some(file_len) {
        return Err(Bad::Corrupt);
    }
    Ok(p)
}

/// Decodes a whole file read into `buf`; meta and body are zero-copy slices of it.
fn decode(key: &str, buf: Bytes) -> Result<Entry, Bad> {
    let p = parse_header(&buf, buf.len() as u64)?;
    let mut sum = Xxh3::new();
    sum.update(&buf[..24]);
    sum.update(&buf[HEADER_LEN..]);
    if sum.digest() != p.checksum {
        return Err(Bad::Corrupt);
    }
    let key_end = HEADER_LEN + p.key_len;
    if &buf[HEADER_LEN..key_end] != key.as_bytes() {
        return Err(Bad::OtherKey);
    }
    let meta_end = key_end + p.meta_len;
    Ok(Entry {
        meta: buf.slice(key_end..meta_end),
        body: buf.slice(meta_end..),
    })
}

impl DiskTier {
    /// Opens (creating if needed) the directory and rebuilds the index from the files in it.
    /// Files with a bad header, a wrong length or a name that doesn't match their key are
    /// deleted and counted as corrupt; leftovers in `tmp/` are deleted. Checksums are
    /// verified on read, not here (a scan reads headers only).
    pub fn open(config: &DiskConfig) -> Result<DiskTier, CacheError> {
        if config.max_bytes == 0 {
            return Err(CacheError::Config(
                "disk tier max_bytes is 0 (leave `disk` unset instead)".into(),
            ));
        }
        let dir = config.dir.clone();
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err("create directory", &tmp))?;
        for e in fs::read_dir(&tmp).map_err(io_err("read directory", &tmp))? {
            let e = e.map_err(io_err("read directory", &tmp))?;
            let _ = fs::remove_file(e.path());
        }
        let tier = DiskTier {
            dir,
            tmp,
            max_bytes: config.max_bytes,
            state: Mutex::new(State::default()),
            tmp_seq: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        };
        tier.scan()?;
        Ok(tier)
    }

    fn scan(&self) -> Result<(), CacheError> {
        let mut found: Vec<(std::time::SystemTime, Arc<str>, u64)> = Vec::new();
        let mut corrupt = 0u64;
        let top = fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))?;
        for sub in top {
            let sub = sub.map_err(io_err("read directory", &self.dir))?;
            let name = sub.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let sub_path = sub.path();
            for f in fs::read_dir(&sub_path).map_err(io_err("read directory", &sub_path))? {
                let f = f.map_err(io_err("read directory", &sub_path))?;
                let path = f.path();
                if path.extension().and_then(|e| e.to_str()) != Some("obj") {
                    continue;
                }
                match read_key(&path) {
                    Ok((key, len, mtime)) => found.push((mtime, key, len)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cache: deleting bad disk object");
                        corrupt += 1;
                        let _ = fs::remove_file(&path);
                    }
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut st = self.lock();
        for (_, key, len) in found {
            let lru = st.tick();
            st.index.insert(key.clone(), Indexed { len, gen: lru, lru });
            st.lru.insert(lru, key);
            st.bytes += len;
        }
        let victims = self.evict_over_budget(&mut st, 0);
        tracing::info!(
            dir = %self.dir.display(),
            objects = st.index.len(),
            bytes = st.bytes,
            corrupt,
            evicted = victims,
            "cache: disk tier opened"
        );
        drop(st);
        self.corrupt.fetch_add(corrupt, Ordering::Relaxed);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Path of the file for `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        let h = key_hash(key);
        self.dir.join(&h[..2]).join(format!("{h}.obj"))
    }

    /// Reads `key`, verifying length and checksum. A corrupt or truncated file is deleted,
    /// counted and reported as a miss. Counts as an access for LRU.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let gen = {
            let mut st = self.lock();
            let lru = st.tick();
            let ix = st.index.get_mut(key)?;
            let old = std::mem::replace(&mut ix.lru, lru);
            let gen = ix.gen;
            let k = st.lru.remove(&old).expect("lru entry");
            st.lru.insert(lru, k);
            gen
        };
        let path = self.path_for(key);
        let bad = match fs::read(&path) {
            Ok(buf) => match decode(key, Bytes::from(buf)) {
                Ok(entry) => return Some(entry),
                Err(bad) => bad,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Bad::OtherKey,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cache: disk read failed");
                return None;
            }
        };
        let mut st = self.lock();
        if st.index.get(key).map(|ix| ix.gen) == Some(gen) {
            st.forget(key);
            if bad == Bad::Corrupt {
                tracing::warn!(key, path = %path.display(), "cache: corrupt disk object deleted");
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                let _ = fs::remove_file(&path);
            }
        }
        None
    }

    /// Writes `entry` under `key` (temp file + rename), evicting least recently used files
    /// to stay within the budget. Returns false if it doesn't fit the budget (an older
    /// version is then removed) or the write failed.
    pub fn insert(&self, key: &str, entry: &Entry) -> bool {
        let len = (HEADER_LEN + key.len() + entry.meta.len() + entry.body.len()) as u64;
        if len > self.max_bytes || key.len() > MAX_KEY_LEN || entry.meta.len() > u32::MAX as usize {
            self.remove(key);
            return false;
        }
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!(
            "{}.{}.{seq}.tmp",
            key_hash(key),
            std::process::id()
        ));
        if let Err(e) = write_file(&tmp, key, entry) {
            tracing::warn!(path = %tmp.display(), error = %e, "cache: disk write failed");
            let _ = fs::remove_file(&tmp);
            return false;
        }
        let path = self.path_for(key);
        let mut st = self.lock();
        let renamed = fs::rename(&tmp, &path).or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                fs::create_dir_all(path.parent().expect("fan-out dir"))?;
                fs::rename(&tmp, &path)
            } else {
                Err(e)
            }
        });
        if let Err(e) = renamed {
            tracing::warn!(path = %path.display(), error = %e, "cache: disk rename failed");
            drop(st);
            let _ = fs::remove_file(&tmp);
            return false;
        }
        st.forget(key);
        let lru = st.tick();
        let key: Arc<str> = Arc::from(key);
        st.index.insert(key.clone(), Indexed { len, gen: lru, lru });
        st.lru.insert(lru, key);
        st.bytes += len;
        self.evict_over_budget(&mut st, 0);
        true
    }

    /// Replaces the meta of `key`, keeping its body (`body` if the caller has it, else read
    /// and verified from disk). Returns false if `key` isn't on disk.
    pub fn update_meta(&self, key: &str, meta: Bytes, body: Option<Bytes>) -> bool {
        if !self.lock().index.contains_key(key) {
            return false;
        }
        let body = match body {
            Some(b) => b,
            None => match self.get(key) {
                Some(e) => e.body,
                None => return false,
            },
        };
        self.insert(key, &Entry { meta, body })
    }

    /// Deletes `key`'s file. Returns whether it was indexed.
    pub fn remove(&self, key: &str) -> bool {
        let mut st = self.lock();
        if st.forget(key).is_some() {
            let _ = fs::remove_file(self.path_for(key));
            true
        } else {
            false
        }
    }

    /// Deletes every object whose key starts with `prefix`; returns the removed keys.
    pub fn remove_prefix(&self, prefix: &str) -> Vec<Arc<str>> {
        let mut st = self.lock();
        let doomed: Vec<Arc<str>> = st
            .index
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for key in &doomed {
            st.forget(key);
            let _ = fs::remove_file(self.path_for(key));
        }
        doomed
    }

    /// Whether `key` is indexed.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().index.contains_key(key)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DiskStats {
        let st = self.lock();
        DiskStats {
            bytes: st.bytes,
            objects: st.index.len() as u64,
            evictions: st.evictions,
            corrupt: self.corrupt.load(Ordering::Relaxed),
            budget: self.max_bytes,
        }
    }

    fn evict_over_budget(&self, st: &mut State, need: u64) -> usize {
        let mut n = 0;
        while st.bytes + need > self.max_bytes {
            let Some((_, key)) = st.lru.pop_first() else {
                break;
            };
            if let Some(ix) = st.index.remove(&key) {
                st.bytes -= ix.len;
            }
            let _ = fs::remove_file(self.path_for(&key));
            n += 1;
        }
        st.evictions += n as u64;
        n
    }
}

fn write_file(path: &Path, key: &str, entry: &Entry) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(&header(key, &entry.meta, &entry.body))?;
    f.write_all(key.as_bytes())?;
    f.write_all(&entry.meta)?;
    f.write_all(&entry.body)?;
    Ok(())
}

/// Reads a file's header and key for the startup scan (no checksum).
fn read_key(path: &Path) -> io::Result<(Arc<str>, u64, std::time::SystemTime)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut f = fs::File::open(path)?;
    let md = f.metadata()?;
    let mut h = [0u8; HEADER_LEN];
    f.read_exact(&mut h)?;
    let p = parse_header(&h, md.len()).map_err(|_| bad("bad header or length"))?;
    let mut key = vec![0u8; p.key_len];
    f.read_exact(&mut key)?;
    let key = String::from_utf8(key).map_err(|_| bad("key is not UTF-8"))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != key_hash(&key) {
        return Err(bad("file name does not match key"));
    }
    Ok((Arc::from(key), md.len(), md.modified()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(meta: &str, body: &[u8]) -> Entry {
        Entry {
            meta: Bytes::copy_from_slice(meta.as_bytes()),
            body: Bytes::copy_from_slice(body),
        }
    }

    fn open(dir: &Path, max: u64) -> DiskTier {
        DiskTier::open(&DiskConfig {
            dir: dir.to_path_buf(),
            max_bytes: max,
        })
        .unwrap()
    }

    #[test]
    fn roundtrip_and_path_has_no_key() {
        let d = tempfile::tempdir().unwrap();
        let t = open(d.path(), 1 << 20);
        let key = "../../etc/passwd";
        assert!(t.insert(key, &entry("m", b"body")));
        let p = t.path_for(key);
        assert!(p.starts_with(d.path()));
        assert!(!p.to_string_lossy().contains("passwd"));
        assert_eq!(t.get(key), Some(entry("m", b"body")));
        assert_eq!(t.get("other"), None);
    }

    #[test]
    fn lru_eviction_within_budget() {
        let d = tempfile::tempdir().unwrap();
        let per = (HEADER_LEN + 2 + 1 + 1000) as u64;
        let t = open(d.path(), per * 3);
        let body = vec![7u8; 1000];
        for k in ["k1", "k2", "k3"] {
            t.insert(k, &entry("m", &body));
        }
        assert!(t.get("k1").is_some());
        t.insert("k4", &entry("m", &body));
        assert!(t.contains("k1") && !t.contains("k2"));
        let s = t.stats();
        assert!(s.bytes <= s.budget);
        assert_eq!(s.evictions, 1);
        assert!(!t.path_for("k2").exists());
    }

    #[test]
    fn header_length_fields_are_checksummed() {
        let h = header("k", b"mm", b"bbbb");
        let mut buf = h.to_vec();
        buf.extend_from_slice(b"kmmbbbb");
        assert!(decode("k", Bytes::from(buf.clone())).is_ok());
        // Shift one byte from meta to body: same total length, different split.
        buf[12] = 1;
        buf[16] = 5;
        assert_eq!(decode("k", Bytes::from(buf)), Err(Bad::Corrupt));
    }

    #[test]
    fn too_big_is_refused_and_removes_old() {
        let d = tempfile::tempdir().unwrap();
        let t = open(d.path(), 200);
        assert!(t.insert("k", &entry("", b"x")));
        assert!(!t.insert("k", &entry("", &[0u8; 300])));
        assert!(!t.contains("k"));
        assert_eq!(t.stats().bytes, 0);
    }
}
