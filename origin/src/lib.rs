//! # origin — the DASH origin HTTP server
//!
//! Serves a packaged content directory (layout in [`manifests::layout`]: MPDs, init and
//! media segments) plus the player's static web files, with byte ranges, strong ETags,
//! conditional GET, CORS on every response and Prometheus metrics.
//!
//! ## How a request flows
//! 1. [`server::bind`] accepts a TCP connection (counted in the open-connections gauge);
//!    hyper parses the request.
//! 2. [`metrics::track`] starts the latency timer; it later counts the response by method
//!    and status, counts body bytes sent and logs one `debug` line.
//! 3. [`http::cors::CorsLayer`] answers `OPTIONS` itself (`204` preflight) and adds the
//!    CORS headers to every other response.
//! 4. The router sends `/healthz` and `/metrics` to their handlers and everything else to
//!    [`files::serve_file`]: method check (`405`), [`path::sanitize`] (`400`/`404`/`414`),
//!    hot-cache lookup ([`cache::HotCache`]; a fresh hit touches no file system), otherwise
//!    a blocking-pool task that canonicalizes the path, checks it stays under the root,
//!    opens and stats it, and reads it whole if small.
//! 5. The response applies [`http::conditional`] (`304`/`412`) and [`http::range`]
//!    (`206`/`416`), then the body is a refcounted `Bytes` (slice) from memory or a
//!    256 KiB-buffered stream from disk.
//!
//! ## Entry points
//! [`serve`] (run until Ctrl-C/SIGTERM), [`bind`] (background server for tests and
//! embedding, returns [`RunningOrigin`]), [`router`] (the bare `axum::Router`).

pub mod cache;
pub mod config;
pub mod files;
pub mod metrics;
pub mod server;

/// Moved to the `serve` crate; re-exported until every user imports it from there.
pub use serve::{http, path};

pub use config::{OriginConfig, OriginError};
pub use server::{bind, router, serve, OriginState, RunningOrigin};
