//! Edge parent-tier integration tests against real servers on loopback: a leaf edge with
//! `parent` = a mid-tier edge and `upstream` = the origin fetches through the mid-tier,
//! a second leaf is served from the mid-tier's cache, and the leaf falls back to the
//! origin (only) when the parent cannot be connected to.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use edge::{EdgeConfig, RunningEdge};

const SEG: &str = "/default/v720/5.m4s";
const SEG2: &str = "/default/v144/6.m4s";
const SEG3: &str = "/default/v144/7.m4s";

/// Starts an edge named `id` on `listen`, in front of the origin `upstream`, with an
/// optional parent (mid-tier) base URL.
async fn tier(
    id: &str,
    listen: SocketAddr,
    upstream: SocketAddr,
    parent: Option<&str>,
) -> RunningEdge {
    let mut c = EdgeConfig::new(format!("http://{upstream}"), listen);
    c.id = id.into();
    c.parent = parent.map(Into::into);
    c.mem = edge::ByteSize(64 << 20);
    c.connect_timeout_ms = 1_000;
    c.upstream_timeout_ms = 3_000;
    edge::bind(c).await.unwrap()
}

fn at(ip: &str) -> SocketAddr {
    format!("{ip}:0").parse().unwrap()
}

/// GET → (status, x-cache, x-served-by, Via hops in order, body).
async fn get_via(c: &reqwest::Client, url: &str) -> (u16, String, String, Vec<String>, Vec<u8>) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers();
    let text = |name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (xc, served_by) = (text("x-cache"), text("x-served-by"));
    let via = h
        .get_all(reqwest::header::VIA)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|hop| hop.trim().to_owned())
        .collect();
    (
        status,
        xc,
        served_by,
        via,
        r.bytes().await.unwrap().to_vec(),
    )
}

/// Polls the edge's `/metrics` until `name{labels}` reaches `want` (the store of a fill
/// lands just after its body ends), for at most 5 s.
async fn wait_metric(
    c: &reqwest::Client,
    e: &RunningEdge,
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) {
    eventually(Duration::from_secs(5), || async {
        match metric_with(c, e, name, labels).await {
            v if v >= want => Ok(()),
            v => Err(format!("{name}{labels:?} stuck at {v}, want {want}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_fetch_through_the_mid_tier_and_share_its_cache() {
    use edge::metrics::UPSTREAM_REQUESTS_TOTAL_NAME as UPSTREAM;
    use edge::metrics::{HITS_TOTAL_NAME as HITS, MISSES_TOTAL_NAME as MISSES};
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let mid = tier("mid-tier", at("127.0.0.4"), o.local_addr(), None).await;
    let leaf_a = tier("leaf-a", at("127.0.0.3"), o.local_addr(), Some(&mid.url())).await;
    let leaf_b = tier("leaf-b", at("127.0.0.3"), o.local_addr(), Some(&mid.url())).await;
    let c = client();
    let expected = file(&root, SEG);

    // cold at the leaf: a MISS fetched through the mid-tier (a MISS there too)
    let url_a = format!("{}{SEG}", leaf_a.url());
    let (s, xc, by, via, body) = get_via(&c, &url_a).await;
    assert_eq!((s, xc.as_str(), by.as_str()), (200, "MISS", "leaf-a"));
    assert_eq!(
        via,
        ["1.1 mid-tier", "1.1 leaf-a"],
        "the fill went through the mid-tier"
    );
    assert!(body == expected, "body differs ({} bytes)", body.len());
    assert_eq!(origin_gets(&o), 1);
    assert_eq!(metric(&c, &mid, MISSES).await, 1.0);
    assert_eq!(metric(&c, &mid, UPSTREAM).await, 1.0);
    assert_eq!(metric(&c, &mid, HITS).await, 0.0);
    assert_eq!(metric(&c, &leaf_a, UPSTREAM).await, 1.0);

    // warm at the leaf: a HIT, no new request to the mid-tier or the origin
    warm(&c, &url_a).await;
    let (s, xc, _, via, body) = get_via(&c, &url_a).await;
    assert_eq!((s, xc.as_str()), (200, "HIT"));
    assert_eq!(via, ["1.1 mid-tier", "1.1 leaf-a"]);
    assert!(body == expected);
    assert_eq!(origin_gets(&o), 1);
    assert_eq!(metric(&c, &leaf_a, UPSTREAM).await, 1.0);
    assert_eq!(metric(&c, &mid, MISSES).await, 1.0);
    assert_eq!(metric(&c, &mid, HITS).await, 0.0);
    assert_eq!(metric(&c, &mid, UPSTREAM).await, 1.0);

    // another leaf behind the same mid-tier: cold itself, served from the mid-tier's cache
    wait_metric(&c, &mid, edge::metrics::CACHE_OBJECTS_NAME, MEMORY, 1.0).await;
    let url_b = format!("{}{SEG}", leaf_b.url());
    let (s, xc, by, via, body) = get_via(&c, &url_b).await;
    assert_eq!((s, xc.as_str(), by.as_str()), (200, "MISS", "leaf-b"));
    assert_eq!(via, ["1.1 mid-tier", "1.1 leaf-b"]);
    assert!(body == expected, "body differs ({} bytes)", body.len());
    assert_eq!(
        origin_gets(&o),
        1,
        "the origin was asked only once for both leaves"
    );
    assert_eq!(metric(&c, &mid, HITS).await, 1.0);
    assert_eq!(metric(&c, &mid, MISSES).await, 1.0);
    assert_eq!(metric(&c, &mid, UPSTREAM).await, 1.0);
    assert_eq!(metric(&c, &leaf_b, UPSTREAM).await, 1.0);
    warm(&c, &url_b).await;
    assert_eq!(metric(&c, &mid, HITS).await, 1.0);
    assert_eq!(origin_gets(&o), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_falls_back_to_the_origin_while_the_mid_tier_is_down() {
    use edge::metrics::MISSES_TOTAL_NAME as MISSES;
    use edge::metrics::UPSTREAM_REQUESTS_TOTAL_NAME as UPSTREAM;
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let mid = tier("mid-tier", at("127.0.0.4"), o.local_addr(), None).await;
    let mid_addr = mid.local_addr();
    let mid_url = mid.url();
    let leaf = tier("leaf", at("127.0.0.3"), o.local_addr(), Some(&mid_url)).await;
    let c = client();
    let url = |p: &str| format!("{}{p}", leaf.url());

    let (s, xc, _, via, body) = get_via(&c, &url(SEG)).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert_eq!(via, ["1.1 mid-tier", "1.1 leaf"]);
    assert!(body == file(&root, SEG));
    warm(&c, &url(SEG)).await;
    assert_eq!(origin_gets(&o), 1);

    // the mid-tier goes away: its port now refuses connections
    mid.stop(Duration::from_secs(1)).await.unwrap();

    // cached at the leaf: still a HIT, nothing fetched
    let (s, xc, _, _, body) = get_via(&c, &url(SEG)).await;
    assert_eq!((s, xc.as_str()), (200, "HIT"));
    assert!(body == file(&root, SEG));
    assert_eq!(origin_gets(&o), 1);

    // uncached: fetched straight from the origin, quickly
    let t0 = Instant::now();
    let (s, xc, by, via, body) = get_via(&c, &url(SEG2)).await;
    let took = t0.elapsed();
    assert_eq!((s, xc.as_str(), by.as_str()), (200, "MISS", "leaf"));
    assert_eq!(via, ["1.1 leaf"], "the mid-tier is not on the path");
    assert!(
        body == file(&root, SEG2),
        "body differs ({} bytes)",
        body.len()
    );
    assert!(took < Duration::from_secs(2), "fallback took {took:?}");
    assert_eq!(origin_gets(&o), 2);
    assert_eq!(
        metric(&c, &leaf, UPSTREAM).await,
        2.0,
        "one fill, parent then origin"
    );
    println!(
        "fallback in {took:?}; leaf upstream errors counted: {}",
        metric(&c, &leaf, edge::metrics::UPSTREAM_ERRORS_TOTAL_NAME).await
    );
    warm(&c, &url(SEG2)).await;
    assert_eq!(origin_gets(&o), 2);

    // the mid-tier comes back on the same address: the parent is tried first again
    let mid = tier("mid-tier", mid_addr, o.local_addr(), None).await;
    let (s, xc, _, via, body) = get_via(&c, &url(SEG3)).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert_eq!(via, ["1.1 mid-tier", "1.1 leaf"]);
    assert!(body == file(&root, SEG3));
    assert_eq!(origin_gets(&o), 3);
    assert_eq!(metric(&c, &mid, MISSES).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_that_connects_but_never_answers_is_not_bypassed() {
    // the fallback is for connect failures only: a parent that accepts the connection and
    // then stays silent yields 504 after the upstream timeout; the origin is never asked
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let hole = ScriptedOrigin::start_at(at("127.0.0.4")).await;
    hole.fallback(Reply::hang());
    let hole_url = hole.url();
    let mut cfg = EdgeConfig::new(format!("http://{}", o.local_addr()), at("127.0.0.3"));
    cfg.id = "leaf".into();
    cfg.parent = Some(hole_url);
    cfg.connect_timeout_ms = 1_000;
    cfg.upstream_timeout_ms = 500;
    let leaf = edge::bind(cfg).await.unwrap();
    let c = client();
    let t0 = Instant::now();
    let (s, _, _, _, _) = get_via(&c, &format!("{}{SEG}", leaf.url())).await;
    assert_eq!(s, 504);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(
        origin_gets(&o),
        0,
        "no fallback to the origin after a timeout"
    );
}
