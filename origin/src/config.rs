//! Server configuration and startup errors.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// Configuration of an origin server. `Default` gives a usable local setup
/// (`./content` on `127.0.0.1:8080`); every field can be set from TOML/JSON via serde
/// (missing fields take their defaults).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OriginConfig {
    /// Directory served at `/` (must exist and be a directory).
    pub content_root: PathBuf,
    /// Optional directory served at `/web/` (the player page); when unset, `/web/...`
    /// is looked up under `content_root` like any other path.
    pub web_root: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port, see `RunningOrigin::local_addr`).
    pub listen: SocketAddr,
    /// Byte budget of the in-memory hot cache (0 disables it).
    pub hot_cache_bytes: u64,
    /// Files up to this size are read whole into memory and kept in the hot cache;
    /// larger files are streamed from disk.
    pub hot_file_max_bytes: u64,
    /// A hot-cache entry is served without touching the file system for this long after
    /// its last validation; after that its (len, mtime, inode) is re-checked.
    /// 0 re-checks on every request.
    pub hot_cache_revalidate_ms: u64,
    /// `Cache-Control: max-age` for MPDs.
    pub mpd_max_age_secs: u64,
    /// `Cache-Control: max-age` for media and init segments (also marked `immutable`).
    pub segment_max_age_secs: u64,
    /// `Cache-Control: max-age` for everything else (player page, JSON, ...).
    pub other_max_age_secs: u64,
    /// Read buffer size when streaming large files.
    pub stream_buffer_bytes: usize,
    /// A client must send a request's whole head within this many milliseconds of its
    /// first byte (slowloris defence; `serve::Timeouts::header_read`). 0 disables it.
    pub header_read_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this many milliseconds without a
    /// request (`serve::Timeouts::idle`). 0 disables it.
    pub idle_timeout_ms: u64,
    /// The most client connections open at once; unset: half the soft descriptor limit
    /// left after a reserve (`serve::limits`).
    pub max_connections: Option<usize>,
    /// Push ingest (`[ingest]` section; absent: off), see [`crate::ingest`].
    pub ingest: Option<IngestConfig>,
    /// Looped live from every VoD asset (`[live]` section), see [`crate::live`].
    pub live: crate::live::LiveConfig,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            content_root: PathBuf::from("content"),
            web_root: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            hot_cache_bytes: 64 << 20,
            hot_file_max_bytes: 4 << 20,
            hot_cache_revalidate_ms: 500,
            mpd_max_age_secs: 2,
            segment_max_age_secs: 31_536_000,
            other_max_age_secs: 60,
            stream_buffer_bytes: 256 << 10,
            header_read_timeout_ms: serve::Timeouts::DEFAULT_HEADER_READ.as_millis() as u64,
            idle_timeout_ms: serve::Timeouts::DEFAULT_IDLE.as_millis() as u64,
            max_connections: None,
            ingest: None,
            live: crate::live::LiveConfig::default(),
        }
    }
}

impl OriginConfig {
    /// The connection timeouts of `header_read_timeout_ms` and `idle_timeout_ms` (0: off).
    pub fn timeouts(&self) -> serve::Timeouts {
        let ms = |v: u64| (v > 0).then(|| std::time::Duration::from_millis(v));
        serve::Timeouts {
            header_read: ms(self.header_read_timeout_ms),
            idle: ms(self.idle_timeout_ms),
        }
    }

    /// Default configuration serving `content_root` on `listen`.
    pub fn new(content_root: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        OriginConfig {
            content_root: content_root.into(),
            listen,
            ..OriginConfig::default()
        }
    }
}

/// Configuration and startup errors.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The content (or web) root does not exist.
    #[error("content root {0} does not exist")]
    RootMissing(PathBuf),
    /// The content (or web) root exists but is not a directory.
    #[error("content root {0} is not a directory")]
    RootNotDirectory(PathBuf),
    /// The content (or web) root could not be inspected or canonicalized.
    #[error("content root {path} is not accessible: {source}")]
    RootInaccessible {
        /// The configured path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Binding the listen address failed (port taken, no permission, bad address).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// Underlying error (e.g. `AddrInUse`).
        #[source]
        source: std::io::Error,
    },
    /// The `[ingest]` configuration is unusable (no token, bad prefix, ...).
    #[error("{0}")]
    Ingest(String),
    /// The `[live]` configuration is unusable (bad prefix, zero periods).
    #[error("{0}")]
    Live(String),
    /// The server task failed or panicked.
    #[error("origin server failed: {0}")]
    Server(String),
}

/// Push ingest ([`crate::ingest`]): environment variable the token is read from when `token_file` is not set.
pub const TOKEN_ENV: &str = "DASHCDN_INGEST_TOKEN";

/// Shortest token accepted at startup (bytes).
pub const MIN_TOKEN_LEN: usize = 16;

/// The `[ingest]` section of the origin configuration. Present: push ingest is on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// First path segment of ingest URLs (`/<prefix>/<stream>/...`), also the directory
    /// under the content root the streams are stored in.
    pub prefix: String,
    /// File holding the bearer token (trailing whitespace ignored). Unset: the token is
    /// read from the environment variable [`TOKEN_ENV`]. Never given on a command line.
    pub token_file: Option<PathBuf>,
    /// Largest object accepted (bytes); larger uploads get `413`.
    pub max_object_bytes: u64,
    /// Most objects one stream may hold at once (uploads of new names past it get `507`).
    pub max_objects_per_stream: usize,
    /// Most streams at once.
    pub max_streams: usize,
    /// `Cache-Control: max-age` of an ingested (dynamic) MPD.
    pub mpd_max_age_secs: u64,
    /// Memory for new objects still being uploaded, relayed to readers as they grow
    /// (low-latency chunked CMAF, [`crate::growing`]); 0 turns the relay off.
    pub relay_bytes: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            prefix: "ingest".into(),
            token_file: None,
            max_object_bytes: 32 << 20,
            max_objects_per_stream: 2_000,
            max_streams: 64,
            mpd_max_age_secs: 1,
            relay_bytes: 64 << 20,
        }
    }
}

impl IngestConfig {
    /// Checks the prefix and reads the token: from `token_file`, else from [`TOKEN_ENV`];
    /// trailing whitespace ignored, at least [`MIN_TOKEN_LEN`] printable ASCII bytes.
    pub fn load_token(&self) -> Result<Vec<u8>, OriginError> {
        let bad = |m: String| OriginError::Ingest(m);
        if self.prefix.is_empty()
            || self.prefix.contains('/')
            || serve::path::sanitize(&format!("/{}", self.prefix)).is_err()
        {
            return Err(bad(format!(
                "ingest prefix {:?} must be one plain path segment",
                self.prefix
            )));
        }
        let token = match &self.token_file {
            Some(f) => std::fs::read(f)
                .map_err(|e| bad(format!("ingest token file {}: {e}", f.display())))?,
            None => std::env::var(TOKEN_ENV)
                .map_err(|_| {
                    bad(format!(
                        "ingest needs a token: set [ingest] token_file or {TOKEN_ENV}"
                    ))
                })?
                .into_bytes(),
        };
        let token = token.trim_ascii().to_vec();
        if token.len() < MIN_TOKEN_LEN || token.iter().any(|b| !b.is_ascii_graphic()) {
            return Err(bad(format!(
                "ingest token must be at least {MIN_TOKEN_LEN} printable ASCII bytes without spaces"
            )));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = OriginConfig::default();
        assert_eq!(c.mpd_max_age_secs, 2);
        assert_eq!(c.segment_max_age_secs, 31_536_000);
        assert_eq!(c.hot_cache_bytes, 64 << 20);
    }
}
