//! # test-support — what the workspace's integration tests share
//!
//! Used only as a dev-dependency. Integration tests start real servers on `127.0.0.x`,
//! real `dashcdn` processes, read `/metrics` and wait for things to settle; this crate
//! holds those pieces once instead of a copy per test file.
//!
//! ## How a test uses it
//! 1. Content: [`content::make_content`] writes a small synthetic DASH-shaped tree into a
//!    temp dir ([`content::file`] reads a file back for byte comparisons).
//! 2. Servers: [`origin::start`] runs the real origin in-process on loopback (the edge's
//!    tests use it, so the `edge` crate never depends on the `origin` crate);
//!    [`origin::gets`] counts the requests it answered.
//! 3. Requests: [`http::client`] (no proxy, generous pool), [`http::get`] →
//!    `(status, X-Cache, body)`.
//! 4. Waiting: [`eventually()`] retries an async check until it holds, failing with the last
//!    error and the time spent; [`eventually_sync`] for blocking tests.

pub mod content;
pub mod eventually;
pub mod http;
pub mod origin;

pub use eventually::{eventually, eventually_sync, Check};
