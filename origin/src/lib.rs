//! # origin — the DASH origin HTTP server
//!
//! Serves a packaged content directory (layout in [`manifests::layout`]: MPDs, HLS
//! playlists, init and media segments, each with its content's MIME type: a media
//! segment is `audio/mp4` or `video/mp4` by its representation, see [`kinds`]) plus the player's static web files, with byte ranges, strong ETags,
//! conditional GET, CORS on every response and Prometheus metrics. The HTTP plumbing it
//! shares with the other hops (listener, timeouts, CORS, conditional requests, Range, path
//! sanitising, metrics helpers) is the `serve` crate; this crate is what is the origin's own.
//!
//! ## How a request flows
//! 1. [`server::bind`] starts a [`serve::Server`]: it accepts a TCP connection (counted in
//!    the open-connections gauge, closed if it stalls). A plain HTTP/1.1 `GET`/`HEAD` is
//!    parsed and answered by [`serve::direct`] (so that file bodies can leave with
//!    `sendfile(2)`); any other request (HTTP/2, HTTP/1.0, other methods) by hyper.
//! 2. [`metrics::track`] starts the latency timer; it later counts the response by method
//!    and status, counts body bytes sent and logs one `debug` line.
//! 3. [`serve::http::cors::CorsLayer`] answers `OPTIONS` itself (`204` preflight) and adds
//!    the CORS headers to every other response.
//! 4. The router sends `/healthz` and `/metrics` to their handlers and everything else to
//!    [`files::serve_file`]: method check (`405`), [`serve::path::sanitize`]
//!    (`400`/`404`/`414`), hot-cache lookup ([`cache::HotCache`]; a fresh hit touches no
//!    file system), otherwise a blocking-pool task that canonicalizes the path, checks it
//!    stays under the root, opens and stats it, and reads it whole if small.
//! 5. The response ([`info::FileInfo`]'s validators and headers) applies
//!    [`serve::http::conditional`] (`304`/`412`) and [`serve::http::range`] (`206`/`416`),
//!    then the body is a refcounted `Bytes` (slice) from memory or a 256 KiB-buffered
//!    stream from disk. A body of at least [`files::SENDFILE_MIN_BYTES`] is also marked
//!    [`serve::direct::SendFile`] (the open file, kept in the hot-cache entry, and the
//!    range): on the direct path it goes from the page cache to the socket without a copy
//!    through user memory, as nginx's `sendfile on` (figures in `origin/bench/README.md`:
//!    the 1 MiB segment went from ~0.9× to above nginx's req/s).
//!
//! ## Push ingest
//! With an `[ingest]` section (or `dashcdn origin --ingest`), a live encoder pushes an MPD
//! and its segments with `PUT`/`POST` (and removes old ones with `DELETE`) under
//! `/ingest/<stream>/`, behind a bearer token: ffmpeg's dash muxer with `-method PUT`, or
//! any DASH-IF Live Media Ingest Interface-2 source. A finished upload is renamed into the
//! content root and served back at the same path by the file handler above; see
//! [`ingest`] for the flow, limits and statuses.
//! A new segment still being uploaded (a chunked `PUT` in progress: low-latency chunked
//! CMAF) is served to readers as it grows, each chunk as it arrives ([`growing`]).
//!
//! ## Modules
//! [`config`] (settings and errors) → [`kinds`] (audio or video per representation
//! directory) → [`state`] (roots, hot cache, metrics, `Cache-Control` per
//! [`serve::CacheClass`], `Content-Type`) → [`files`] (the file handler, using [`info`] and [`cache`])
//! → [`ingest`] (push ingest: the `PUT`/`POST`/`DELETE` handler) → [`server`] (router,
//! bind, shutdown). No module depends on one after it, except [`state`], which asks
//! [`ingest`] for the `Cache-Control` and `Content-Type` of ingested files.
//!
//! ## Looped live
//! [`live`] serves every asset also as a live stream under `/live/` (DASH-IF livesim2's
//! model): its own route, beside the file fallback. The VoD MPD is parsed into a loop
//! ([`live::asset`]), the dynamic MPD written for the request's clock ([`live::mpd`]), a live
//! segment placed in the loop and checked for availability ([`live::timing`]: `425` before,
//! `410` after the time-shift window), and the VoD segment rewritten ([`live::boxes`]).
//!
//! ## Entry points
//! [`serve()`] (run until Ctrl-C/SIGTERM), [`bind`] (background server for tests and
//! embedding, returns [`RunningOrigin`]), [`router`] (the bare `axum::Router`).

pub mod cache;
pub mod cmsd;
pub mod config;
pub mod files;
pub mod growing;
pub mod info;
pub mod ingest;
pub mod ingest_http;
pub mod kinds;
pub mod live;
pub mod metrics;
pub mod server;
pub mod state;

pub use config::{OriginConfig, OriginError};
pub use server::{bind, router, serve, RunningOrigin};
pub use state::OriginState;
