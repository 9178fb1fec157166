//! Raw query bytes → the redirector's DNS answer, over UDP and TCP, under the rules of
//! `redirector::dns::check_packet` (drop or answer, never panic; answers parse; UDP
//! answers fit; the fast path answers as the hickory-proto path does). The input format
//! (two bytes of client address, then the packet) is `redirector::dns::check_input`'s,
//! which `tests/it/dns_corpus.rs` replays over `fuzz/seeds` and `fuzz/regressions`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use redirector::Shared;

/// Two services, two edges (one without IPv6), ECS-relevant zones, load never bounded.
const TOPOLOGY: &str = include_str!("../topology.toml");

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("redirector-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("topology.toml");
        std::fs::write(&path, TOPOLOGY).unwrap();
        Shared::load(&path).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    redirector::dns::check_input(shared(), data);
});
