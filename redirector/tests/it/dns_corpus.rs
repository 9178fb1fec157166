//! Replays the DNS fuzz target's seed corpus and every input it ever found a problem
//! with (`redirector/fuzz/seeds/dns_answer`, `redirector/fuzz/regressions/dns_answer`)
//! through the fuzz entry, `redirector::dns::check_input`, so what the fuzzer found
//! stays fixed without nightly or cargo-fuzz.

use std::path::{Path, PathBuf};

use redirector::Shared;

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

#[test]
fn fuzz_corpus_replays() {
    let dir = tempfile::tempdir().unwrap();
    let topology = dir.path().join("topology.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/topology.toml"))
            .unwrap();
    std::fs::write(&topology, text).unwrap();
    let shared = Shared::load(&topology).unwrap();
    let seeds = inputs("seeds/dns_answer");
    assert!(seeds.len() >= 10, "seed corpus missing: {seeds:?}");
    for path in seeds.iter().chain(inputs("regressions/dns_answer").iter()) {
        let data = std::fs::read(path).unwrap();
        let replay = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            redirector::dns::check_input(&shared, &data)
        }));
        assert!(replay.is_ok(), "{} fails the DNS rules", path.display());
    }
}
