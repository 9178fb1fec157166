//! `dashcdn`: one binary, one subcommand per role of the DASH delivery system.
//!
//! Each subcommand is a thin wrapper: it parses flags (and an optional TOML config), then
//! calls the library crate that owns that hop (`media` for `package`, `origin`, `edge`,
//! `redirector`, `player-sim`/`player-live` for `player`).

mod cmd;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A DASH delivery system in one binary: a packager, an origin, CDN edges, a redirector
/// (DNS, HTTP 302, content steering) and an adaptive-player simulator.
#[derive(Debug, Parser)]
#[command(name = "dashcdn", version, propagate_version = true)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info`, `origin=debug`); `RUST_LOG` also works.
    #[arg(long, global = true, env = "DASHCDN_LOG", default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Package content into a CMAF/fMP4 DASH ladder: with no INPUT, the embedded test pattern.
    Package(cmd::package::PackageArgs),
    /// Serve packaged content over HTTP (MPDs and segments, Range, ETag, CORS, metrics).
    Origin(cmd::origin::OriginArgs),
    /// Cache and serve an origin's content as a CDN edge (pull-through, coalesced misses,
    /// memory + disk tiers, RFC 9111 freshness, stale serving, purge, prefetch, metrics).
    Edge(cmd::edge::EdgeArgs),
    /// Adaptive players: `simulate` / `study` (Sabre- and Pensieve-compatible trace
    /// simulation), `train` (a learned ABR), `play` / `swarm` (real players fetching
    /// through the CDN).
    #[command(subcommand)]
    Player(cmd::player::PlayerCommand),
    /// Route clients to the nearest healthy edge: DNS (A/AAAA with ECS), HTTP 302 and
    /// DASH content steering, from a topology of edges and coverage zones.
    Redirector(cmd::redirector::RedirectorArgs),
    /// GET a health URL once (exit 0 on 2xx): for container HEALTHCHECKs and scripts.
    Healthcheck(cmd::healthcheck::HealthcheckArgs),
    /// The whole CDN on this machine: origin, shield, three edges and the redirector as
    /// supervised processes, with a live page and a control API on http://127.0.0.1:8000/.
    Up(cmd::up::UpArgs),
    /// A real-time live encoder: the test pattern with the UTC time burned in, pushed to
    /// an origin's ingest as low-latency chunked CMAF DASH (ffmpeg).
    Live(cmd::live::LiveArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Long-running servers hand memory back (below); batch commands keep glibc's defaults:
    // under the fixed 128 KiB mmap threshold the packager's per-segment buffers were mapped
    // and zero-filled anew for every segment (page faults were a fifth of its profile).
    if matches!(
        cli.command,
        Command::Origin(_) | Command::Edge(_) | Command::Redirector(_) | Command::Up(_)
    ) {
        malloc_policy::apply();
    }
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .map_or_else(|| EnvFilter::try_new(&cli.log), Ok)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files (`dashcdn up` keeps one per component) and
        // pipes get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Package(args) => cmd::package::run(args),
        Command::Origin(args) => cmd::origin::run(args),
        Command::Edge(args) => cmd::edge::run(args),
        Command::Player(cmd) => cmd::player::run(cmd),
        Command::Redirector(args) => cmd::redirector::run(args),
        Command::Healthcheck(args) => cmd::healthcheck::run(args),
        Command::Up(args) => cmd::up::run(args),
        Command::Live(args) => cmd::live::run(args),
    }
}

/// The allocator policy: freed memory goes back to the OS, so an edge's RSS follows its
/// cache budget instead of its high-water mark (issue 12, item 5).
///
/// Kept: glibc's malloc, tuned once at start-up, plus a trim every second.
/// * `M_ARENA_MAX = 2`: glibc gives threads up to 8 arenas per core (tokio workers and the
///   blocking pool); each keeps its own free memory. Two bound that (the runtime has one
///   worker per core, so little contention on small machines).
/// * `M_MMAP_THRESHOLD = 128 KiB`, fixed: bodies (segments are 100 KiB–several MB, each one
///   allocation: see `cache::fill`) are mmapped and unmapped when evicted. Setting it also
///   stops glibc's dynamic threshold, which after the first freed 300 KB block would have
///   moved such blocks into the heap, where fragmentation keeps them.
/// * `malloc_trim(0)` every second on a thread of its own: returns the free pages inside the
///   heaps (`MADV_DONTNEED`), not only the top. It costs one walk of the arenas' free lists
///   a second.
///
/// Rejected (both are on crates.io; clean release builds timed on this 2-core box):
/// jemalloc (`tikv-jemallocator` 0.7, decay + background threads: well behaved, but its C
/// build takes 47 s on every clean build, CI run and Docker build, and needs `make`);
/// mimalloc (`mimalloc` 0.1.52, a 4 s build; not chosen because memory freed on another
/// thread, as the cache's bodies are when whichever worker evicts them, goes back to its
/// page only when the owning thread allocates again). Measured with glibc so tuned, the
/// edge stays within `--mem` + `fill_memory` + 48 MiB (`tests/it/memory.rs`), so neither
/// dependency is needed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod malloc_policy {
    use std::time::Duration;

    /// How often free memory is handed back.
    const TRIM_EVERY: Duration = Duration::from_secs(1);

    /// Tunes malloc and starts the trim thread. Call in `main` before any other thread
    /// starts (server roles only).
    pub fn apply() {
        // SAFETY: plain glibc calls with valid parameters, made before other threads start.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        }
        let _ = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| loop {
                std::thread::sleep(TRIM_EVERY);
                // SAFETY: malloc_trim is thread-safe (it takes each arena's lock).
                unsafe {
                    libc::malloc_trim(0);
                }
            });
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod malloc_policy {
    /// Nothing to tune outside glibc.
    pub fn apply() {}
}
