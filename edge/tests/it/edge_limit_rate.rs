//! The runtime rate limit (`limit_rate`, [`serve::wire::EDGE_LIMIT_RATE_PATH`]): bodies
//! are paced on hits and misses, a change reaches a response in flight, the endpoint
//! needs the admin token to set and is never forwarded upstream.

use std::time::{Duration, Instant};

use serve::wire::{LimitRate, EDGE_LIMIT_RATE_PATH};

use crate::common::*;

const MB: usize = 1_000_000;

async fn set(c: &reqwest::Client, base: &str, token: Option<&str>, bps: u64) -> (u16, String) {
    let mut req = c
        .post(format!("{base}{EDGE_LIMIT_RATE_PATH}"))
        .header("content-type", "application/json")
        .body(serde_json::to_string(&LimitRate { bits_per_sec: bps }).unwrap());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn current(c: &reqwest::Client, base: &str) -> u64 {
    let t = c
        .get(format!("{base}{EDGE_LIMIT_RATE_PATH}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str::<LimitRate>(&t).unwrap().bits_per_sec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_rate_paces_bodies_follows_changes_and_needs_the_token() {
    let o = ScriptedOrigin::start().await;
    let body = vec![42u8; MB];
    o.script(
        "/big.bin",
        Reply::ok(body.clone()).header("cache-control", "max-age=600"),
    );
    let e = edge(o.addr(), |c| {
        c.admin_token = Some("adm".into());
        c.limit_rate = 4_000_000;
    })
    .await;
    let c = client();
    let base = e.url();
    assert_eq!(current(&c, &base).await, 4_000_000);
    // A miss at 4 Mbit/s: 1 MB takes ~2 s.
    let t = Instant::now();
    let (status, x_cache, got) = get(&c, &format!("{base}/big.bin")).await;
    let took = t.elapsed();
    assert_eq!((status, x_cache.as_str(), got.len()), (200, "MISS", MB));
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // A hit (the object is stored just after the miss's body ends), lifted to 0 half a
    // second in: the rest arrives at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fetch = {
        let c = c.clone();
        let url = format!("{base}/big.bin");
        tokio::spawn(async move {
            let t = Instant::now();
            let r = get(&c, &url).await;
            (r, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        set(&c, &base, Some("adm"), 0).await,
        (200, "{\"bits_per_sec\":0}".into())
    );
    let ((status, x_cache, got), took) = fetch.await.unwrap();
    assert_eq!((status, x_cache.as_str(), got), (200, "HIT", body));
    assert!(took < Duration::from_millis(1200), "{took:?}");
    // Unlimited: fast.
    let t = Instant::now();
    assert_eq!(get(&c, &format!("{base}/big.bin")).await.2.len(), MB);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // Setting needs the admin token; reading does not.
    assert_eq!(set(&c, &base, None, 8_000).await.0, 401);
    assert_eq!(set(&c, &base, Some("nope"), 8_000).await.0, 403);
    assert_eq!(current(&c, &base).await, 0);
    // The path is the edge's own: never forwarded upstream.
    assert!(o
        .recorded()
        .iter()
        .all(|r| !r.path_and_query.starts_with("/_dashcdn")));
    assert_eq!(o.total_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_rate_cannot_be_set_without_an_admin_token() {
    let o = ScriptedOrigin::start().await;
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    assert_eq!(set(&c, &e.url(), Some("x"), 1).await.0, 403);
    assert_eq!(current(&c, &e.url()).await, 0);
    assert_eq!(o.total_requests(), 0);
}
