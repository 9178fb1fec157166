//! A small synthetic content root shaped like a packaged asset, for the servers' tests:
//! `default/manifest.mpd`, and for the representations `v720` (1–2 MB segments) and `v144`
//! (100–300 KB) an `init.mp4` and media segments `1.m4s` … `SEGMENTS.m4s`, each with
//! different pseudo-random bytes so a body served for the wrong path is noticed.
//!
//! The bytes are not real fMP4: the origin and the edge never parse segments. Tests that
//! need playable media use the packaged default (`DASHCDN_CONTENT`).

use std::path::{Path, PathBuf};

/// Number of media segments per representation in the synthetic content.
pub const SEGMENTS: u64 = 12;

/// Deterministic pseudo-random bytes (xorshift) so bodies differ per file.
pub fn bytes_for(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `default/manifest.mpd`, `default/<rep>/init.mp4` and `default/<rep>/<n>.m4s`
/// for reps `v720` (1–2 MB segments) and `v144` (100–300 KB) under `root`, returns `root`.
pub fn make_content(root: &Path) -> PathBuf {
    let asset = root.join("default");
    for (rep, base, step) in [
        ("v720", 1_000_000usize, 90_000usize),
        ("v144", 100_000, 17_000),
    ] {
        let dir = asset.join(rep);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("init.mp4"), bytes_for(7, 900)).unwrap();
        for n in 1..=SEGMENTS {
            let len = base + (n as usize) * step;
            std::fs::write(
                dir.join(format!("{n}.m4s")),
                bytes_for(n * 31 + base as u64, len),
            )
            .unwrap();
        }
    }
    std::fs::write(
        asset.join("manifest.mpd"),
        "<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"/>\n",
    )
    .unwrap();
    root.to_path_buf()
}

/// Content of the file at URL path `rel` (leading `/` optional) under `root`.
pub fn file(root: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel.trim_start_matches('/'))).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_has_every_file_with_distinct_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = make_content(dir.path());
        assert!(file(&root, "/default/manifest.mpd").starts_with(b"<?xml"));
        assert_eq!(file(&root, "default/v720/init.mp4").len(), 900);
        let a = file(&root, "/default/v720/3.m4s");
        let b = file(&root, "/default/v720/4.m4s");
        assert_eq!(a.len(), 1_000_000 + 3 * 90_000);
        assert_ne!(a[..64], b[..64]);
        assert_eq!(
            file(&root, "/default/v144/12.m4s").len(),
            100_000 + 12 * 17_000
        );
        assert_eq!(bytes_for(5, 16), bytes_for(5, 16));
    }
}
