//! The disk tier: warm after reopen, corruption detected and removed, purges.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cache::{Cache, CacheConfig, DiskConfig, Entry, Policy};

fn open(dir: &Path, mem_bytes: u64) -> Cache {
    Cache::open(CacheConfig {
        mem_bytes,
        disk: Some(DiskConfig {
            dir: dir.to_path_buf(),
            max_bytes: 10 << 20,
        }),
        policy: Policy::S3Fifo,
    })
    .unwrap()
}

fn entry(meta: &str, len: usize, fill: u8) -> Entry {
    Entry {
        meta: Bytes::copy_from_slice(meta.as_bytes()),
        body: Bytes::from(vec![fill; len]),
    }
}

/// Every object file under `dir`.
fn object_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "obj") {
                    out.push(f);
                }
            }
        }
    }
    out
}

#[test]
fn warm_after_reopen_and_promoted_to_memory() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = open(d.path(), 1 << 20);
        for i in 0..20 {
            assert!(c.insert(&format!("/a/v1/{i}.m4s"), entry("h", 1000 + i, i as u8)));
        }
        assert_eq!(c.stats().disk_objects, 20);
    }
    let c = open(d.path(), 1 << 20);
    let s = c.stats();
    assert_eq!((s.disk_objects, s.mem_objects), (20, 0));
    assert!(s.disk_bytes <= s.disk_budget);
    for i in 0..20 {
        let e = c.get(&format!("/a/v1/{i}.m4s")).expect("warm");
        assert_eq!(e, entry("h", 1000 + i, i as u8));
    }
    assert_eq!(c.stats().mem_objects, 20, "disk hits are promoted");
}

#[test]
fn truncated_file_is_a_miss_and_deleted() {
    let d = tempfile::tempdir().unwrap();
    open(d.path(), 0).insert("k", entry("meta", 5000, 3));
    let files = object_files(d.path());
    assert_eq!(files.len(), 1);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap();
    f.set_len(4000).unwrap();
    drop(f);
    let c = open(d.path(), 0);
    // A truncated file is already caught by the length check of the startup scan.
    assert!(c.get("k").is_none());
    assert!(!files[0].exists());
    assert_eq!(c.stats().corrupt_disk_objects, 1);
    assert_eq!(c.stats().disk_objects, 0);
}

#[test]
fn truncated_while_running_is_a_miss_and_deleted() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 0);
    c.insert("k", entry("meta", 5000, 3));
    let f = &object_files(d.path())[0];
    std::fs::OpenOptions::new()
        .write(true)
        .open(f)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(c.get("k").is_none());
    assert!(!f.exists());
    let s = c.stats();
    assert_eq!(
        (s.corrupt_disk_objects, s.disk_objects, s.disk_bytes),
        (1, 0, 0)
    );
}

#[test]
fn flipped_byte_is_a_miss_and_deleted() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 0); // no memory tier: every get reads the file
    c.insert("k", entry("meta", 5000, 3));
    c.insert("other", entry("meta", 10, 4));
    assert!(c.get("k").is_some());
    for f in object_files(d.path()) {
        let mut bytes = std::fs::read(&f).unwrap();
        if bytes.len() > 5000 {
            bytes[3000] ^= 0x01;
            std::fs::write(&f, bytes).unwrap();
        }
    }
    assert!(c.get("k").is_none());
    assert!(c.get("k").is_none());
    let s = c.stats();
    assert_eq!((s.corrupt_disk_objects, s.disk_objects), (1, 1));
    assert_eq!(object_files(d.path()).len(), 1);
    assert!(c.get("other").is_some());
    // Re-insert works after the corrupt copy was dropped.
    c.insert("k", entry("meta", 5000, 3));
    assert!(c.get("k").is_some());
}

#[test]
fn garbage_files_at_open_are_removed_and_tmp_cleared() {
    let d = tempfile::tempdir().unwrap();
    open(d.path(), 0).insert("k", entry("m", 10, 1));
    std::fs::create_dir_all(d.path().join("ab")).unwrap();
    std::fs::write(d.path().join("ab").join("junk.obj"), b"not an object").unwrap();
    std::fs::write(d.path().join("tmp").join("x.tmp"), b"half").unwrap();
    let c = open(d.path(), 0);
    assert!(!d.path().join("ab").join("junk.obj").exists());
    assert!(!d.path().join("tmp").join("x.tmp").exists());
    assert_eq!(c.stats().corrupt_disk_objects, 1);
    assert!(c.get("k").is_some());
}

#[test]
fn remove_and_remove_prefix_cover_both_tiers() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    for i in 0..10 {
        c.insert(&format!("/t1/v/{i}"), entry("m", 100, 0));
        c.insert(&format!("/t2/v/{i}"), entry("m", 100, 0));
    }
    assert!(c.remove("/t2/v/0"));
    assert_eq!(c.remove_prefix("/t1/"), 10);
    assert_eq!(c.remove_prefix("/t1/"), 0);
    let s = c.stats();
    assert_eq!((s.mem_objects, s.disk_objects), (9, 9));
    drop(c);
    let c = open(d.path(), 1 << 20);
    assert!(c.get("/t1/v/3").is_none());
    assert!(c.get("/t2/v/0").is_none());
    assert!(c.get("/t2/v/1").is_some());
}

#[test]
fn update_meta_persists_on_disk() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = open(d.path(), 1 << 20);
        c.insert("k", entry("old", 100, 9));
        assert!(c.update_meta("k", Bytes::from_static(b"new")));
    }
    {
        // Disk only (memory empty after reopen): update reads the body from disk.
        let c = open(d.path(), 0);
        assert!(c.update_meta("k", Bytes::from_static(b"newer")));
        assert!(!c.update_meta("absent", Bytes::new()));
    }
    let c = open(d.path(), 1 << 20);
    assert_eq!(c.get("k").unwrap(), entry("newer", 100, 9));
}

#[test]
fn disk_budget_holds_and_big_objects_skip_memory() {
    let d = tempfile::tempdir().unwrap();
    let c = Cache::open(CacheConfig {
        mem_bytes: 10_000,
        disk: Some(DiskConfig {
            dir: d.path().to_path_buf(),
            max_bytes: 200_000,
        }),
        policy: Policy::Lru,
    })
    .unwrap();
    // Too big for memory, fits on disk: admitted (served from disk).
    assert!(c.insert("big", entry("m", 50_000, 1)));
    assert_eq!(c.stats().mem_objects, 0);
    assert_eq!(c.get("big").unwrap().body.len(), 50_000);
    // Too big for both: refused.
    assert!(!c.insert("huge", entry("m", 300_000, 1)));
    for i in 0..20 {
        c.insert(&format!("o{i}"), entry("m", 30_000, 1));
        let s = c.stats();
        assert!(s.disk_bytes <= s.disk_budget && s.mem_bytes <= s.mem_budget);
    }
    assert!(c.stats().evictions_disk > 0);
    assert_eq!(object_files(d.path()).len() as u64, c.stats().disk_objects);
}
