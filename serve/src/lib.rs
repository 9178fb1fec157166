//! # serve — the server kit every hop is built from
//!
//! The origin, the edge and the redirector's HTTP side are three different applications
//! on the same plumbing. This crate is that plumbing, so that no hop crate depends on
//! another: each hop depends on `serve` (and `manifests`) only.
//!
//! ## How a request flows
//! 1. **Listener** ([`listener::CountingListener`]): accepts a TCP connection, sets
//!    `TCP_NODELAY` and counts it in the role's `open_connections` gauge until it closes;
//!    when descriptors run out it backs off instead of spinning.
//! 2. **Accounting, limits and timeouts** ([`server`]): at most
//!    [`ServerOptions::max_connections`] connections are open (default from the descriptor
//!    limit, [`limits`]; at the limit the longest-stalled connection makes room); hyper
//!    parses the request on a connection that is closed if its headers do not arrive in
//!    time or if it sits idle between keep-alive requests too long; a request without a
//!    valid single `Host` gets `400` ([`host`], RFC 9112 §3.2);
//!    [`server::Server::stop`] drains in-flight requests.
//!    With [`ServerOptions::direct_http1`] (the origin), plain HTTP/1.1 `GET`/`HEAD`
//!    requests are read and answered by [`direct`] instead, which sends bodies marked
//!    [`direct::SendFile`] with `sendfile(2)` (the connection's send buffer raised to the
//!    kernel's ceiling first where the host allows it, [`sndbuf`]); anything else goes to
//!    hyper as above.
//! 3. **Router**: the role's own `axum::Router` (files, cache, redirects), wrapped in
//!    [`http::cors::CorsLayer`] and the role's metrics middleware.
//! 4. **Helpers** the handlers call: [`path::sanitize`] (raw path → safe relative path),
//!    [`http::conditional`] (`304`/`412`), [`http::range`] (`206`/`416`),
//!    [`CacheClass`] (which `Cache-Control` class a path belongs to).
//! 5. **Metrics** ([`metrics`]): each role registers the same request metrics under its
//!    own prefix, answers `/metrics` with [`metrics::exposition_response`] and counts the
//!    body bytes it actually sends with [`metrics::count_sent_bytes`].
//!
//! ## Running a role
//! Every role starts and stops the same way (the default [`Timeouts`]: 10 s to send a
//! request head, 60 s idle between keep-alive requests):
//! ```no_run
//! # async fn run(app: axum::Router) -> Result<(), serve::ServerError> {
//! use std::time::Duration;
//! let options = serve::ServerOptions::default(); // + the role's open_connections gauge
//! let server = serve::bind("127.0.0.1:0".parse().unwrap(), app, options).await?;
//! println!("listening on http://{}", server.local_addr());
//! serve::shutdown_signal().await;
//! server.stop(Duration::from_secs(5)).await // drain, then close what is left
//! # }
//! ```
//!
//! ## The wire contract
//! Whatever one hop writes and another reads is defined once, in [`wire`]: the `X-Cache`
//! header and its [`wire::CacheStatus`] values, `X-Served-By`, the edge's `Via` entry and
//! exposed headers, the Prometheus metric names ([`wire::metric_names`]), the edge
//! self-announce messages ([`wire::Announcement`], [`wire::AnnounceReply`]) and the edge's
//! rate-limit endpoint ([`wire::EDGE_LIMIT_RATE_PATH`]). Scrapers
//! read an exposition back with the one text-format reader, [`prom`].

mod activity;
pub mod class;
pub mod direct;
pub mod host;
pub mod http;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod path;
pub mod prom;
pub mod server;
pub mod sndbuf;
pub mod wire;

pub use class::CacheClass;
pub use listener::{shutdown_signal, CountingListener};
pub use server::{bind, Bound, Server, ServerError, ServerOptions, Timeouts};
