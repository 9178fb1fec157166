//! # test-support — what the workspace's integration tests share
//!
//! Used only as a dev-dependency. Integration tests start real servers on `127.0.0.x`,
//! real `dashcdn` processes, read `/metrics` and wait for things to settle; this crate
//! holds those pieces once instead of a copy per test file.
//!
//! ## How a test uses it
//! 1. Content: [`content::make_content`] writes a small synthetic DASH-shaped tree into a
//!    temp dir ([`content::file`] reads a file back for byte comparisons).
//! 2. Servers in-process: [`origin::start`] runs the real origin on loopback (the edge's
//!    tests use it, so the `edge` crate never depends on the `origin` crate) and
//!    [`origin::gets`] counts what it answered; [`scripted::ScriptedOrigin`] answers as the
//!    test scripts it per path (delays, slow, truncated or cut bodies, hangs) and counts
//!    requests per path.
//! 3. Servers as processes: [`process::Process`] spawns a child that is killed and reaped
//!    on drop, captures its output, and reads its `listening on URL` line
//!    ([`process::Process::listening`]) with a timeout and an error quoting its output.
//! 4. Requests: [`http::client`] (no proxy, generous pool), [`http::get`] →
//!    `(status, X-Cache, body)`, [`http::warm`] until an edge answers `HIT`;
//!    [`metrics::value`] reads a sample from `/metrics` with the shared Prometheus reader
//!    (`serve::prom`).
//! 5. Waiting: [`eventually()`] retries a check until it holds, failing with the last
//!    error, the tries and the time spent; [`eventually_sync`] for blocking tests.
//! 6. Memory: [`rss::RssSampler`] samples the `VmRSS` of every server under test every
//!    100 ms and holds each one's peak to its budget plus a stated overhead.
//! 7. Seeded randomness: [`SplitMix64`] and [`Zipf`] from the `workload` crate.

pub mod content;
pub mod eventually;
pub mod http;
pub mod metrics;
pub mod origin;
pub mod process;
pub mod rss;
pub mod scripted;

pub use eventually::{eventually, eventually_sync, Check, Patience};
/// The workspace's seeded generators (SplitMix64, Zipf), for tests that draw workloads.
pub use workload::{SplitMix64, Zipf};
