//! Why `up` could not start, supervise or stop the CDN: one line each, naming the component.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The errors of [`crate::run`] and the steps it takes. Each message is one line (the
/// last log lines of a child that died at startup follow it) and names the component.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// An address is taken before anything started.
    #[error("{component}: {addr} is already in use (another dashcdn up?)")]
    AddrInUse {
        /// The component that would bind it.
        component: String,
        /// The address.
        addr: SocketAddr,
    },
    /// An address cannot be bound for another reason (not a local address, permissions).
    #[error("{component}: cannot bind {addr}: {source}")]
    Bind {
        /// The component that would bind it.
        component: String,
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// The `dashcdn` binary to run the components with does not exist.
    #[error("{component}: binary {path} not found (--bin PATH)")]
    MissingBinary {
        /// The first component that needs it.
        component: String,
        /// The path tried.
        path: PathBuf,
    },
    /// A `cdn.toml` is unreadable or invalid.
    #[error("config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line or field).
        message: String,
    },
    /// A component's configuration is refused by its own `--check`.
    #[error("{component}: bad configuration: {message}")]
    BadComponentConfig {
        /// The component.
        component: String,
        /// What its `--check` said (its last line).
        message: String,
    },
    /// The page's files are missing.
    #[error("page: {0}")]
    Web(String),
    /// A child could not be spawned.
    #[error("{component}: cannot start {program}: {source}")]
    Spawn {
        /// The component.
        component: String,
        /// The program.
        program: PathBuf,
        /// The spawn error.
        source: std::io::Error,
    },
    /// A child exited before announcing its address.
    #[error("{component}: exited ({status}) during startup; log {log}:\n{tail}")]
    DiedAtStartup {
        /// The component.
        component: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// A child did not announce its address in time.
    #[error("{component}: no `listening on` line within {secs} s; log {log}:\n{tail}")]
    StartTimeout {
        /// The component.
        component: String,
        /// The timeout, seconds.
        secs: u64,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// Packaging the default content failed.
    #[error("package: `dashcdn package --out {out}` failed ({status})")]
    Package {
        /// The content directory.
        out: PathBuf,
        /// Its exit status.
        status: String,
    },
    /// The edges never became healthy in the redirector's eyes.
    #[error("redirector: {0}")]
    NotReady(String),
    /// The player swarm failed.
    #[error("players: {0}")]
    Players(String),
    /// A file or directory of the run could not be written or read.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
