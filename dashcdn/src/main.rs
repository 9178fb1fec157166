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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
    }
}
