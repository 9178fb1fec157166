//! `dashcdn edge`: a caching CDN edge in front of an origin (or a parent edge).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use edge::{ByteSize, Coords, EdgeConfig, EvictionPolicy};

/// Flags of `dashcdn edge`. Flags override the values of `--config`.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// Base URL of the origin every miss is fetched from (e.g. `http://127.0.0.1:8080`).
    /// Only this host (or `--parent`) is ever contacted, whatever the request says.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed as
    /// `listening on http://ADDR`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Name of this edge, sent in `X-Served-By` and `Via` (default: `edge-<ip>-<port>` of
    /// the bound address, unique per tier).
    #[arg(long, value_name = "NAME")]
    id: Option<String>,
    /// Memory tier budget, e.g. `512MiB`, `2GiB`, `100MB` or plain bytes.
    #[arg(long, value_name = "SIZE")]
    mem: Option<ByteSize>,
    /// Directory of the disk tier (objects spill there and survive restarts); off when unset.
    #[arg(long, value_name = "DIR")]
    disk: Option<PathBuf>,
    /// Disk tier budget, e.g. `20GiB`.
    #[arg(long, value_name = "SIZE")]
    disk_size: Option<ByteSize>,
    /// Base URL of a parent (mid-tier) edge to fetch from instead of the origin; the
    /// origin (`--upstream`) is used when the parent cannot be reached.
    #[arg(long, value_name = "URL")]
    parent: Option<String>,
    /// Memory-tier eviction policy: `s3fifo` (scan resistant, default) or `lru`.
    #[arg(long, value_name = "POLICY")]
    policy: Option<EvictionPolicy>,
    /// Include the query string in the cache key (and forward it upstream); by default
    /// queries are ignored and not forwarded.
    #[arg(long)]
    cache_query: bool,
    /// On a request for media segment k, fetch segments k+1..k+N in the background
    /// (stops at the first 404). 0 = off.
    #[arg(long, value_name = "N")]
    prefetch: Option<u32>,
    /// Follow the players' CMCD next-object hints (`nor`): fetch the object a request names
    /// as the next one, instead of guessing k+1 (`--prefetch-hints false` to ignore them).
    /// On by default, also with --prefetch 0: a hint costs one fetch the player will make.
    #[arg(long, value_name = "BOOL")]
    prefetch_hints: Option<bool>,
    /// Forward the players' CMCD upstream (as CMCD-* headers); by default CMCD stops at
    /// the edge. It is never part of the cache key.
    #[arg(long)]
    cmcd_forward: bool,
    /// Bearer token that allows `PURGE` (`Authorization: Bearer TOKEN`); without it,
    /// purging is disabled. Also read from `DASHCDN_EDGE_ADMIN_TOKEN`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DASHCDN_EDGE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Upstream TCP connect timeout in milliseconds (uncached requests fail with 502
    /// after it when the upstream is down).
    #[arg(long, value_name = "MS")]
    connect_timeout_ms: Option<u64>,
    /// Time allowed for the upstream's response head in milliseconds (504 after it).
    #[arg(long, value_name = "MS")]
    upstream_timeout_ms: Option<u64>,
    /// Seconds a stored object may still be served when the upstream fails and the
    /// response did not send `stale-if-error` itself.
    #[arg(long, value_name = "SECS")]
    stale_if_error: Option<u64>,
    /// Freshness of MPDs that carry no `max-age`/`Expires`, in seconds.
    #[arg(long, value_name = "SECS")]
    default_mpd_ttl: Option<u64>,
    /// Freshness of segments that carry no `max-age`/`Expires`, in seconds.
    #[arg(long, value_name = "SECS")]
    default_segment_ttl: Option<u64>,
    /// Announce this edge to the redirector at URL (`POST /announce`, heartbeats, `DELETE`
    /// on clean shutdown). Needs --coords and a token (--announce-token-file or
    /// DASHCDN_ANNOUNCE_TOKEN).
    #[arg(long, value_name = "URL")]
    announce: Option<String>,
    /// Where this edge is, as announced: `LAT,LON` in degrees (e.g. `48.85,2.35`).
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    coords: Option<Coords>,
    /// Region name announced to the redirector (shown on its /debug/edges).
    #[arg(long, value_name = "NAME")]
    region: Option<String>,
    /// URL clients reach this edge at, as announced (default: `http://<bound address>`;
    /// required when listening on 0.0.0.0 or [::]).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// File holding the announce token (re-read at every heartbeat); default: the
    /// DASHCDN_ANNOUNCE_TOKEN environment variable. The token itself is never a flag.
    #[arg(long, value_name = "FILE")]
    announce_token_file: Option<PathBuf>,
    /// Cap on each response body's send rate, bits per second (0 = off, the default);
    /// changed at run time with `POST /_dashcdn/limit-rate` (admin token).
    #[arg(long, value_name = "BITS_PER_SEC")]
    limit_rate: Option<u64>,
    /// Validate the flags and configuration as a start would (URLs, coordinates, the
    /// announce token, the disk directory), print `ok: edge ...` and exit; no socket is
    /// bound.
    #[arg(long)]
    check: bool,
    /// TOML file with any field of the edge configuration (id, listen, upstream, parent,
    /// mem, disk, disk_size, policy, cache_query, prefetch, prefetch_hints, cmcd_forward,
    /// admin_token, connect_timeout_ms,
    /// upstream_timeout_ms, upstream_idle_timeout_ms, fill_wait_timeout_ms,
    /// default_segment_ttl_secs, default_mpd_ttl_secs, default_other_ttl_secs,
    /// stale_if_error_secs, max_header_bytes, max_uri_bytes, announce, coords, region,
    /// public_url, announce_token_file, limit_rate).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl EdgeArgs {
    fn config(&self) -> anyhow::Result<EdgeConfig> {
        let mut c: EdgeConfig = super::load_toml_config(self.config.as_deref(), "edge")?;
        macro_rules! set {
            ($flag:ident => $field:ident) => {
                if let Some(v) = &self.$flag {
                    c.$field = v.clone();
                }
            };
            ($flag:ident => Some $field:ident) => {
                if let Some(v) = &self.$flag {
                    c.$field = Some(v.clone());
                }
            };
        }
        set!(upstream => upstream);
        set!(listen => listen);
        set!(id => id);
        set!(mem => mem);
        set!(disk => Some disk);
        set!(disk_size => disk_size);
        set!(parent => Some parent);
        set!(policy => policy);
        set!(prefetch => prefetch);
        set!(prefetch_hints => prefetch_hints);
        if self.cmcd_forward {
            c.cmcd_forward = true;
        }
        set!(admin_token => Some admin_token);
        set!(connect_timeout_ms => connect_timeout_ms);
        set!(upstream_timeout_ms => upstream_timeout_ms);
        set!(stale_if_error => stale_if_error_secs);
        set!(default_mpd_ttl => default_mpd_ttl_secs);
        set!(default_segment_ttl => default_segment_ttl_secs);
        set!(announce => Some announce);
        set!(coords => Some coords);
        set!(region => Some region);
        set!(public_url => Some public_url);
        set!(announce_token_file => Some announce_token_file);
        set!(limit_rate => limit_rate);
        if self.cache_query {
            c.cache_query = true;
        }
        if self.config.is_none() && self.upstream.is_none() {
            anyhow::bail!("--upstream URL is required (or set `upstream` in --config)");
        }
        Ok(c)
    }
}

/// Runs the edge until Ctrl-C or SIGTERM (or, with `--check`, validates and exits).
pub fn run(args: EdgeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    if args.check {
        edge::check(&config)?;
        let announce = match (&config.announce, &config.coords) {
            (Some(to), Some(at)) => format!(", announcing to {to} at {at}"),
            _ => String::new(),
        };
        println!(
            "ok: edge {} on {} upstream {}{announce}",
            config.id, config.listen, config.upstream
        );
        return Ok(());
    }
    super::run_until_signal(async move { Ok(edge::bind(config).await?) })
}

impl super::Role for edge::RunningEdge {
    fn announce(&self) {
        println!("listening on http://{}", self.local_addr());
    }

    async fn stop(self) -> anyhow::Result<()> {
        Ok(edge::RunningEdge::stop(self, Duration::from_secs(5)).await?)
    }
}
