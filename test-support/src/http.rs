//! Requests as the tests make them: a [`reqwest`] client that ignores proxy settings, and a
//! `GET` reduced to what the assertions look at.

use std::time::Duration;

/// A client without proxies (the tests talk to loopback) and with a generous idle pool
/// (load tests open hundreds of connections), 30 s per request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `GET url` → `(status, X-Cache value or "", body)`; panics when the request fails.
pub async fn get(c: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>) {
    let r = c
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let xc = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
    (status, xc, body.to_vec())
}

/// How long [`warm`] keeps asking.
pub const WARM_TIMEOUT: Duration = Duration::from_secs(10);

/// GETs `url` until the edge answers `X-Cache: HIT` (an edge stores an object just after
/// the miss's body ends, so the next request may still miss); panics after
/// [`WARM_TIMEOUT`] with the last `X-Cache` seen.
pub async fn warm(c: &reqwest::Client, url: &str) {
    crate::eventually(WARM_TIMEOUT, || async {
        match get(c, url).await {
            (_, xc, _) if xc == "HIT" => Ok(()),
            (status, xc, _) => Err(format!("{url} not a HIT yet: {status}, X-Cache {xc:?}")),
        }
    })
    .await
}
