//! Shared helpers of the edge integration tests: a tempdir content root with synthetic
//! DASH-shaped files, a real origin (`origin::bind`) and a real edge (`edge::bind`) on
//! loopback ports, origin request counting and `/metrics` sampling.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge::{EdgeConfig, RunningEdge};
use origin::metrics::RequestLabels;
use origin::{OriginConfig, RunningOrigin};

/// Number of media segments per representation in the synthetic content.
pub const SEGMENTS: u64 = 12;

/// Deterministic pseudo-random bytes (xorshift) so bodies differ per file.
pub fn bytes_for(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `default/manifest.mpd`, `default/v720/init.mp4` and `default/<rep>/<n>.m4s`
/// for reps `v720` (1–2 MB segments) and `v144` (100–300 KB), returns the root.
pub fn make_content(root: &Path) -> PathBuf {
    let asset = root.join("default");
    for (rep, base, step) in [
        ("v720", 1_000_000usize, 90_000usize),
        ("v144", 100_000, 17_000),
    ] {
        let dir = asset.join(rep);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("init.mp4"), bytes_for(7, 900)).unwrap();
        for n in 1..=SEGMENTS {
            let len = base + (n as usize) * step;
            std::fs::write(
                dir.join(format!("{n}.m4s")),
                bytes_for(n * 31 + base as u64, len),
            )
            .unwrap();
        }
    }
    std::fs::write(
        asset.join("manifest.mpd"),
        "<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"/>\n",
    )
    .unwrap();
    root.to_path_buf()
}

/// Content of a file under the root.
pub fn file(root: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel.trim_start_matches('/'))).unwrap()
}

/// Starts an origin on `listen` serving `root`, with `tweak` applied to its config.
pub async fn origin_at(
    root: &Path,
    listen: SocketAddr,
    tweak: impl FnOnce(&mut OriginConfig),
) -> RunningOrigin {
    let mut c = OriginConfig::new(root, listen);
    c.hot_cache_bytes = 0; // always read the files (tests may rewrite them)
    tweak(&mut c);
    origin::bind(c).await.unwrap()
}

/// Starts an origin on 127.0.0.1:0.
pub async fn origin(root: &Path) -> RunningOrigin {
    origin_at(root, "127.0.0.1:0".parse().unwrap(), |_| {}).await
}

/// Starts an edge on 127.0.0.3:0 in front of `upstream` with `tweak` applied.
pub async fn edge(upstream: SocketAddr, tweak: impl FnOnce(&mut EdgeConfig)) -> RunningEdge {
    let mut c = EdgeConfig::new(format!("http://{upstream}"), "127.0.0.3:0".parse().unwrap());
    c.id = "test-edge".into();
    c.mem = edge::ByteSize(64 << 20);
    c.connect_timeout_ms = 1_000;
    c.upstream_timeout_ms = 3_000;
    tweak(&mut c);
    edge::bind(c).await.unwrap()
}

/// GET requests the origin answered, over the usual codes.
pub fn origin_gets(o: &RunningOrigin) -> u64 {
    [200u16, 206, 304, 404]
        .into_iter()
        .map(|code| {
            o.state()
                .metrics()
                .requests
                .get_or_create(&RequestLabels {
                    method: "GET",
                    code,
                })
                .get()
        })
        .sum()
}

/// Origin GETs answered with one status.
pub fn origin_gets_with(o: &RunningOrigin, code: u16) -> u64 {
    o.state()
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            method: "GET",
            code,
        })
        .get()
}

/// A reqwest client without proxies and with a generous pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GET → (status, x-cache, body).
pub async fn get(c: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let xc = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, xc, r.bytes().await.unwrap().to_vec())
}

/// Reads one metric sample from the edge's `/metrics`.
pub async fn metric(c: &reqwest::Client, e: &RunningEdge, series: &str) -> f64 {
    let text = c
        .get(format!("{}/metrics", e.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    edge::metrics::sample(&text, series).unwrap_or(0.0)
}

/// GETs `url` until the edge answers `X-Cache: HIT` (the store lands just after a miss's
/// body ends).
pub async fn warm(c: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if get(c, url).await.1 == "HIT" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} never became a HIT");
}
