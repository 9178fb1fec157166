//! The edge's errors at its boundary: configuration and startup ([`EdgeError`]), each
//! variant carrying the error it comes from as its [`source`](std::error::Error::source).
//! (Failures of one upstream fetch are [`UpstreamError`](crate::upstream::UpstreamError);
//! they become a status for the waiting clients, never an `EdgeError`.)

use std::net::SocketAddr;

/// Configuration and startup errors.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// An upstream or parent URL is not an absolute `http(s)://host[:port]` URL.
    #[error("invalid upstream URL {url:?}: {reason}")]
    BadUpstream {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        #[source]
        reason: BadUrl,
    },
    /// Self-announcement is misconfigured (`--announce` without coordinates or token, a
    /// bad redirector or public URL, an unspecified bound address without `public_url`).
    #[error("announce: {0}")]
    Announce(String),
    /// The cache could not be opened (disk directory unusable, ...).
    #[error("cannot open the cache: {0}")]
    Cache(#[from] cache::CacheError),
    /// The HTTP client could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The edge id cannot be sent in `X-Served-By` / `Via` (it is not a valid header value).
    #[error("edge server failed: invalid edge id {id:?}")]
    BadId {
        /// The configured id.
        id: String,
        /// Why it is not a header value.
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("edge server failed: {0}")]
    Server(#[from] std::io::Error),
    /// The server task panicked.
    #[error("edge server failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The error [`reqwest::Url`] parsing returns (`url::ParseError`, named without depending
/// on the `url` crate).
pub type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// Why an upstream or parent URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUrl {
    /// Not a URL at all.
    #[error(transparent)]
    Parse(UrlParseError),
    /// Neither `http` nor `https`.
    #[error("scheme must be http or https")]
    Scheme,
    /// No host.
    #[error("no host")]
    NoHost,
    /// A query, fragment or credentials: the base must be scheme, host, port and path only.
    #[error("no query, fragment or credentials allowed")]
    Extras,
}
