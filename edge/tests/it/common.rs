//! Shared helpers of the edge integration tests: the synthetic content, the real origin,
//! scripted origins, the HTTP helpers and `eventually` come from `test_support`
//! (re-exported here under the names the tests use); this module adds a real edge
//! (`edge::bind`, or `edge::bind_with_clock` for a test on a paused tokio clock) on
//! loopback and reads its `/metrics`.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::Path;

use edge::{EdgeConfig, RunningEdge};

pub use test_support::content::{file, make_content, SEGMENTS};
pub use test_support::eventually;
pub use test_support::http::{client, get, warm};
pub use test_support::origin::{gets as origin_gets, gets_with as origin_gets_with};
pub use test_support::origin::{OriginConfig, RunningOrigin};
pub use test_support::scripted::{Reply, ScriptedOrigin};

/// Starts an origin on `listen` serving `root`, with `tweak` applied to its config.
pub async fn origin_at(
    root: &Path,
    listen: SocketAddr,
    tweak: impl FnOnce(&mut OriginConfig),
) -> RunningOrigin {
    test_support::origin::start_at(root, listen, tweak).await
}

/// Starts an origin on 127.0.0.1:0.
pub async fn origin(root: &Path) -> RunningOrigin {
    test_support::origin::start(root, |_| {}).await
}

/// Starts an edge on 127.0.0.3:0 in front of `upstream` with `tweak` applied.
pub async fn edge(upstream: SocketAddr, tweak: impl FnOnce(&mut EdgeConfig)) -> RunningEdge {
    edge_with_clock(upstream, edge::Clock::system(), tweak).await
}

/// [`edge`] whose freshness decisions read `clock` (`edge::bind_with_clock`): with
/// `edge::Clock::following_tokio()` in a test on a paused tokio clock, objects age by
/// `tokio::time::advance` instead of by sleeping.
pub async fn edge_with_clock(
    upstream: SocketAddr,
    clock: edge::Clock,
    tweak: impl FnOnce(&mut EdgeConfig),
) -> RunningEdge {
    let mut c = EdgeConfig::new(format!("http://{upstream}"), "127.0.0.3:0".parse().unwrap());
    c.id = "test-edge".into();
    c.mem = edge::ByteSize(64 << 20);
    c.connect_timeout_ms = 1_000;
    c.upstream_timeout_ms = 3_000;
    tweak(&mut c);
    edge::bind_with_clock(c, clock).await.unwrap()
}

/// Reads the (unlabelled) metric `name` from the edge's `/metrics` (0 when absent).
pub async fn metric(c: &reqwest::Client, e: &RunningEdge, name: &str) -> f64 {
    metric_with(c, e, name, &[]).await
}

/// Reads the first sample of `name` with `labels` from the edge's `/metrics` (0 when
/// absent), e.g. `metric_with(c, e, CACHE_BYTES_NAME, &[("tier", "memory")])`.
pub async fn metric_with(
    c: &reqwest::Client,
    e: &RunningEdge,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    test_support::metrics::value(c, &e.url(), name, labels).await
}

/// The labels of the memory tier's series.
pub const MEMORY: &[(&str, &str)] = &[("tier", "memory")];

/// The labels of the disk tier's series.
pub const DISK: &[(&str, &str)] = &[("tier", "disk")];
