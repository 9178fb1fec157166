//! `dashcdn up`: the whole CDN on this machine as supervised child processes, with the live
//! page and its control API (the `up` crate).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Flags of `dashcdn up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// A user topology: the redirector's topology format plus `[origin]` (content, listen),
    /// optional `[shield]`, `[redirector]` (http, dns) and `[page]` (listen); see
    /// `examples/cdn.toml`. Without it: origin, shield, three edges (eu, us, ap), redirector.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate everything (each component's own `--check`), print the table, start nothing.
    #[arg(long)]
    check: bool,
    /// Content root of the built-in topology; the embedded default is packaged there first
    /// when it has no `default/manifest.mpd`.
    #[arg(long, value_name = "DIR", default_value = "content")]
    content: PathBuf,
    /// Directory of the logs (one per component) and the redirector's topology.
    #[arg(long, value_name = "DIR", default_value = "run/up")]
    run_dir: PathBuf,
    /// Added to every port of the built-in topology (a second instance, tests).
    #[arg(long, value_name = "N", default_value_t = 0)]
    port_offset: u16,
    /// First three octets of the built-in topology's loopback addresses (`127.0.0`): hosts
    /// .1 (origin, redirector, page), .20 (shield), .21-.23 (edges).
    #[arg(long, value_name = "127.A.B", value_parser = up::plan::parse_ip_base)]
    ip_base: Option<[u8; 3]>,
    /// The `dashcdn` binary the components run (default: this one).
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
    /// Directory of the page (`up.html`, `up.js`, `vendor/dash.all.min.js`); default
    /// `<binary dir>/../../web`, `<binary dir>/../share/dashcdn/web` or `./web`.
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// Once the CDN is up, run a swarm of N players (`dashcdn player swarm`) through the
    /// redirector and print its report.
    #[arg(long, value_name = "N")]
    players: Option<usize>,
    /// Traces that shape the players' links (`player swarm --traces`).
    #[arg(long, value_name = "DIR", requires = "players")]
    traces: Option<PathBuf>,
    /// Clock scale of the swarm (`player swarm --speed`).
    #[arg(long, value_name = "X", requires = "players")]
    speed: Option<f64>,
    /// Segments each player plays (`player swarm --segments`).
    #[arg(long, value_name = "N", requires = "players")]
    segments: Option<usize>,
    /// Stop the CDN and exit once the players' report is printed.
    #[arg(long, requires = "players")]
    exit_after_players: bool,
    /// Also run a live stream: the origin takes push ingest (a per-run token in
    /// `<run dir>/ingest.token`) and `dashcdn live` publishes the test pattern with the UTC
    /// time burned in as low-latency chunked CMAF (`/ingest/live/manifest.mpd` through the
    /// redirector); the page offers it beside VoD and the looped live stream.
    #[arg(long)]
    live: bool,
}

/// Runs `dashcdn up` until Ctrl-C or SIGTERM.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let bin = match args.bin {
        Some(b) => b,
        None => std::env::current_exe().context("cannot find the running binary (--bin PATH)")?,
    };
    let mut shift = up::Shift {
        port_offset: args.port_offset,
        ..up::Shift::default()
    };
    if let Some(base) = args.ip_base {
        shift.ip_base = base;
    }
    if args.config.is_some() && (args.port_offset != 0 || args.ip_base.is_some()) {
        anyhow::bail!("--port-offset and --ip-base shift the built-in topology; a --config file gives every address itself");
    }
    let opts = up::UpOptions {
        bin,
        config: args.config,
        content: args.content,
        shift,
        run_dir: args.run_dir,
        web: args.web,
        check: args.check,
        players: args.players.map(|count| up::Players {
            count,
            traces: args.traces,
            speed: args.speed,
            segments: args.segments,
            exit_after: args.exit_after_players,
        }),
        live: args.live,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(up::run(opts))?)
}
