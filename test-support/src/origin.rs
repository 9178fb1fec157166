//! The real origin (the `origin` crate's server) in-process on loopback, for tests of the
//! hops in front of it. The edge's tests get their origin from here so that the `edge`
//! crate does not depend on the `origin` crate, not even for its tests.
//!
//! The origin is configured to read its files on every request (no hot cache), so a test
//! may rewrite a file and see the change upstream.

use std::net::SocketAddr;
use std::path::Path;

pub use origin::{OriginConfig, RunningOrigin};

use serve::metrics::RequestLabels;

/// Starts an origin on `listen` serving `root`, with `tweak` applied to its config (the hot
/// cache is off before the tweak).
pub async fn start_at(
    root: &Path,
    listen: SocketAddr,
    tweak: impl FnOnce(&mut OriginConfig),
) -> RunningOrigin {
    let mut c = OriginConfig::new(root, listen);
    c.hot_cache_bytes = 0; // always read the files (tests may rewrite them)
    tweak(&mut c);
    origin::bind(c)
        .await
        .unwrap_or_else(|e| panic!("origin on {listen} serving {}: {e}", root.display()))
}

/// Starts an origin on `127.0.0.1:0` serving `root`, with `tweak` applied to its config.
pub async fn start(root: &Path, tweak: impl FnOnce(&mut OriginConfig)) -> RunningOrigin {
    start_at(root, "127.0.0.1:0".parse().unwrap(), tweak).await
}

/// `GET` requests the origin answered with `code`.
pub fn gets_with(o: &RunningOrigin, code: u16) -> u64 {
    o.state()
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            method: "GET",
            code,
        })
        .get()
}

/// `GET` requests the origin answered, over the usual codes (200, 206, 304, 404).
pub fn gets(o: &RunningOrigin) -> u64 {
    [200u16, 206, 304, 404]
        .into_iter()
        .map(|code| gets_with(o, code))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_content_and_counts_gets() {
        let dir = tempfile::tempdir().unwrap();
        let root = crate::content::make_content(dir.path());
        let o = start(&root, |c| c.mpd_max_age_secs = 7).await;
        let c = crate::http::client();
        let url = format!("http://{}/default/v144/2.m4s", o.local_addr());
        let (status, _, body) = crate::http::get(&c, &url).await;
        assert_eq!(status, 200);
        assert_eq!(body, crate::content::file(&root, "/default/v144/2.m4s"));
        let (status, _, _) = crate::http::get(&c, &format!("{url}.missing")).await;
        assert_eq!(status, 404);
        assert_eq!(
            (gets(&o), gets_with(&o, 200), gets_with(&o, 404)),
            (2, 1, 1)
        );
        let r = c
            .get(format!("http://{}/default/manifest.mpd", o.local_addr()))
            .send()
            .await
            .unwrap();
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=7"));
    }
}
