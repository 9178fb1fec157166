//! `dashcdn origin`: serve a content directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use origin::OriginConfig;

/// Flags of `dashcdn origin`. Flags override the values of `--config`.
#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Content root to serve (the `--out` of `dashcdn package`).
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// TOML file with any field of the origin configuration (content_root, listen,
    /// hot_cache_bytes, hot_file_max_bytes, mpd_max_age_secs, segment_max_age_secs,
    /// header_read_timeout_ms, idle_timeout_ms, max_connections, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// `Cache-Control: max-age` of MPDs, in seconds.
    #[arg(long, value_name = "SECS")]
    mpd_max_age: Option<u64>,
    /// Byte budget of the in-memory cache of hot files (0 disables it).
    #[arg(long, value_name = "BYTES")]
    hot_cache_bytes: Option<u64>,
    /// Close a connection whose request head is not complete this many milliseconds
    /// after its first byte (slowloris defence; 0: never). Default 10000.
    #[arg(long, value_name = "MS")]
    header_read_timeout_ms: Option<u64>,
    /// Close a keep-alive connection idle for this many milliseconds (0: never).
    /// Default 60000.
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// The most client connections open at once. Default: half the soft descriptor
    /// limit (`ulimit -n`) left after 64 for the process; at the limit the connection
    /// stalled longest (idle or slow to send its head) is closed to make room.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Validate the flags and configuration as a start would (the content directory
    /// exists and is a directory), print `ok: origin ...` and exit; no socket is bound.
    #[arg(long)]
    check: bool,
}

impl OriginArgs {
    fn config(&self) -> anyhow::Result<OriginConfig> {
        let mut config: OriginConfig = super::load_toml_config(self.config.as_deref(), "origin")?;
        if let Some(c) = &self.content {
            config.content_root = c.clone();
        }
        if let Some(l) = self.listen {
            config.listen = l;
        }
        if let Some(s) = self.mpd_max_age {
            config.mpd_max_age_secs = s;
        }
        if let Some(b) = self.hot_cache_bytes {
            config.hot_cache_bytes = b;
        }
        if let Some(ms) = self.header_read_timeout_ms {
            config.header_read_timeout_ms = ms;
        }
        if let Some(ms) = self.idle_timeout_ms {
            config.idle_timeout_ms = ms;
        }
        if let Some(n) = self.max_connections {
            config.max_connections = Some(n);
        }
        Ok(config)
    }
}

/// Runs the origin until Ctrl-C or SIGTERM (or, with `--check`, validates and exits).
pub fn run(args: OriginArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    if args.check {
        let root = &config.content_root;
        let meta = std::fs::metadata(root)
            .with_context(|| format!("content directory {}", root.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("content directory {} is not a directory", root.display());
        }
        println!("ok: origin content {} on {}", root.display(), config.listen);
        return Ok(());
    }
    super::run_until_signal(async move { Ok(origin::bind(config).await?) })
}

impl super::Role for origin::RunningOrigin {
    fn announce(&self) {
        println!("listening on http://{}", self.local_addr());
    }

    async fn stop(self) -> anyhow::Result<()> {
        Ok(origin::RunningOrigin::stop(self, Duration::from_secs(5)).await?)
    }
}
