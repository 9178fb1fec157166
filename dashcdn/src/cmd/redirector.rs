//! `dashcdn redirector`: route clients to the nearest healthy edge (DNS, HTTP 302,
//! DASH content steering).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Flags of `dashcdn redirector`.
#[derive(Debug, Args)]
pub struct RedirectorArgs {
    /// Topology file (TOML): edges, coverage zones (or `czf = "file.json"`), services,
    /// health, DNS and steering settings, and `[closed_loop] mode = "distance" |
    /// "closed-loop"` (closed-loop: also steer by each edge's scraped load and its players'
    /// CMCD starvation and throughput, with hysteresis). Reloaded on SIGHUP and when the
    /// file changes; a bad new file keeps the previous topology.
    #[arg(long, value_name = "FILE")]
    topology: PathBuf,
    /// DNS listen address, UDP and TCP (e.g. 127.0.0.1:5353; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    dns: Option<SocketAddr>,
    /// HTTP listen address: `GET /<path>` → 302 to the chosen edge, `/steer`,
    /// `/steered/<asset>/manifest.mpd`, `POST /announce` / `DELETE /announce/{id}` (edges
    /// announcing themselves), `/debug/route?client=IP&path=/x` (or `&asset=A`: inputs per
    /// edge, costs, chosen edge and reason), `/debug/edges`,
    /// `/debug/decisions?n=50`, `/healthz`, `/metrics`.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Validate the flags and the topology (parse and compile, the announce token file),
    /// print `ok: redirector ...` and exit; no socket is bound.
    #[arg(long)]
    check: bool,
}

/// Runs the redirector until Ctrl-C or SIGTERM.
pub fn run(args: RedirectorArgs) -> anyhow::Result<()> {
    if args.dns.is_none() && args.http.is_none() {
        anyhow::bail!("nothing to serve: give --dns ADDR and/or --http ADDR");
    }
    if args.check {
        let t = redirector::Topology::load(&args.topology)?;
        let announce = match &t.announce {
            Some(a) => format!("announcing on (heartbeat {} ms)", a.heartbeat_ms),
            None => "announcing off".into(),
        };
        println!(
            "ok: redirector {}: {} edges, {} locations, {} services, {announce}",
            args.topology.display(),
            t.edges.len(),
            t.locations.len(),
            t.services.len()
        );
        return Ok(());
    }
    let mut config = redirector::RedirectorConfig::new(&args.topology);
    config.dns = args.dns;
    config.http = args.http;
    super::run_until_signal(async move { Ok(redirector::bind(config).await?) })
}

impl super::Role for redirector::RunningRedirector {
    fn announce(&self) {
        if let Some(a) = self.dns_addr() {
            println!("dns on {a} (udp+tcp)");
        }
        if let Some(a) = self.http_addr() {
            println!("listening on http://{a}");
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        redirector::RunningRedirector::stop(self);
        Ok(())
    }
}
