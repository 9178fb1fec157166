//! Edge integration tests against a real origin: pull-through, coalescing, ranges,
//! memory budget, purge, prefetch and request-smuggling safety.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEG: &str = "/default/v720/3.m4s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_after_miss_with_identical_bytes_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let e = edge(o.local_addr(), |_| {}).await;
    let c = client();
    let url = format!("{}{SEG}", e.url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-cache"], "MISS");
    assert_eq!(h["x-served-by"], "test-edge");
    assert_eq!(h["access-control-allow-origin"], "*");
    let expose = h["access-control-expose-headers"].to_str().unwrap();
    assert!(
        expose.contains("X-Cache") && expose.contains("X-Served-By"),
        "{expose}"
    );
    assert!(h["via"].to_str().unwrap().contains("test-edge"));
    assert_eq!(h["content-type"], "video/mp4");
    assert!(h.contains_key("age") && h.contains_key("etag"));
    let miss = r.bytes().await.unwrap();
    warm(&c, &url).await;
    let (status, xc, hit) = get(&c, &url).await;
    assert_eq!((status, xc.as_str()), (200, "HIT"));
    assert_eq!(miss.as_ref(), hit.as_slice());
    assert_eq!(hit, file(&root, SEG));
    assert_eq!(origin_gets(&o), 1);
    // client conditional answered by the edge
    let etag = h["etag"].clone();
    let r = c
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["x-cache"], "HIT");
    // HEAD, CORS preflight
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        hit.len().to_string().as_str()
    );
    let r = c
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(origin_gets(&o), 1);
    // metrics
    assert!(metric(&c, &e, edge::metrics::HITS_TOTAL_NAME).await >= 2.0);
    assert_eq!(metric(&c, &e, edge::metrics::MISSES_TOTAL_NAME).await, 1.0);
    assert_eq!(
        metric(&c, &e, edge::metrics::UPSTREAM_REQUESTS_TOTAL_NAME).await,
        1.0
    );
    let healthz = c.get(format!("{}/healthz", e.url())).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_cold_requests_make_one_origin_request() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let e = edge(o.local_addr(), |_| {}).await;
    let c = client();
    let path = "/default/v720/12.m4s"; // the largest segment (~2 MB)
    let expected = Arc::new(file(&root, path));
    let url = format!("{}{path}", e.url());
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (c, url, expected, barrier) =
                (c.clone(), url.clone(), expected.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (status, xc, body) = get(&c, &url).await;
                assert_eq!(status, 200);
                assert!(
                    body == *expected,
                    "body differs ({} bytes, x-cache {xc})",
                    body.len()
                );
                xc
            })
        })
        .collect();
    let mut misses = 0;
    for t in tasks {
        if t.await.unwrap() == "MISS" {
            misses += 1;
        }
    }
    assert_eq!(origin_gets(&o), 1, "exactly one origin request");
    assert!(misses >= 1);
    let coalesced = metric(&c, &e, edge::metrics::COALESCED_TOTAL_NAME).await;
    println!("misses {misses}, coalesced waiters {coalesced}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_requests_on_miss_and_hit() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let e = edge(o.local_addr(), |_| {}).await;
    let c = client();
    let url = format!("{}{SEG}", e.url());
    let full = file(&root, SEG);
    // cold: the origin sees a plain GET (200), the client gets its 206
    let r = c
        .get(&url)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", full.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[1000..2000]);
    assert_eq!(origin_gets_with(&o, 200), 1);
    assert_eq!(origin_gets_with(&o, 206), 0);
    // warm: suffix range, open range, unsatisfiable
    let r = c
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[full.len() - 10..]);
    let r = c
        .get(&url)
        .header("range", format!("bytes={}-", full.len() - 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[full.len() - 5..]);
    let r = c
        .get(&url)
        .header("range", format!("bytes={}-", full.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", full.len())
    );
    assert_eq!(origin_gets(&o), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_budget_holds_under_a_stream_of_distinct_objects() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    const BUDGET: u64 = 3 << 20;
    let e = edge(o.local_addr(), |c| c.mem = edge::ByteSize(BUDGET)).await;
    let c = client();
    let series = edge::metrics::CACHE_BYTES_NAME;
    // a sampler polling /metrics as fast as it can while the load runs
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (c, url, stop) = (c.clone(), e.url(), stop.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let scraped = test_support::metrics::scrape(&c, &url).await;
                samples.push(scraped.value(series, MEMORY).unwrap());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples
        })
    };
    let mut total = 0usize;
    for round in 0..2 {
        for rep in ["v144", "v720"] {
            for n in 1..=SEGMENTS {
                let path = format!("/default/{rep}/{n}.m4s");
                let (status, _, body) = get(&c, &format!("{}{path}", e.url())).await;
                assert_eq!(status, 200);
                assert_eq!(body, file(&root, &path), "{path} round {round}");
                total += body.len();
                let now = metric_with(&c, &e, series, MEMORY).await;
                assert!(now <= BUDGET as f64, "memory tier {now} > budget {BUDGET}");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let max = samples.iter().cloned().fold(0.0, f64::max);
    println!(
        "{} samples, max memory-tier bytes {max}, budget {BUDGET}, served {total}",
        samples.len()
    );
    assert!(samples.len() > 10);
    assert!(max <= BUDGET as f64);
    assert!(max > 0.0);
    assert!(total as u64 > 4 * BUDGET, "the load must exceed the budget");
    let evictions = metric_with(&c, &e, edge::metrics::EVICTIONS_TOTAL_NAME, MEMORY).await;
    assert!(evictions > 0.0, "no evictions recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_requires_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let c = client();
    // no token configured: purge disabled
    let e = edge(o.local_addr(), |_| {}).await;
    let r = c
        .request(
            reqwest::Method::from_bytes(b"PURGE").unwrap(),
            format!("{}{SEG}", e.url()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // token configured
    let e = edge(o.local_addr(), |c| c.admin_token = Some("s3cret".into())).await;
    let purge = |path: &str| {
        c.request(
            reqwest::Method::from_bytes(b"PURGE").unwrap(),
            format!("{}{path}", e.url()),
        )
    };
    for p in [SEG, "/default/v144/1.m4s", "/default/v144/2.m4s"] {
        warm(&c, &format!("{}{p}", e.url())).await;
    }
    assert_eq!(purge(SEG).send().await.unwrap().status(), 401);
    assert_eq!(
        purge(SEG)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(get(&c, &format!("{}{SEG}", e.url())).await.1, "HIT");
    let r = purge(SEG).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), "{\"purged\":1}");
    assert_eq!(get(&c, &format!("{}{SEG}", e.url())).await.1, "MISS");
    warm(&c, &format!("{}{SEG}", e.url())).await;
    // prefix purge, by path and by header
    assert_eq!(
        get(&c, &format!("{}/default/v144/1.m4s", e.url())).await.1,
        "HIT"
    );
    let r = purge("/default/v144/*")
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "{\"purged\":2}");
    assert_eq!(
        get(&c, &format!("{}/default/v144/1.m4s", e.url())).await.1,
        "MISS"
    );
    warm(&c, &format!("{}/default/v144/1.m4s", e.url())).await;
    let r = purge("/")
        .header("x-purge-prefix", "/default/")
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "{\"purged\":2}");
    assert_eq!(get(&c, &format!("{}{SEG}", e.url())).await.1, "MISS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_fills_the_next_segments_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let e = edge(o.local_addr(), |c| c.prefetch = 2).await;
    let c = client();
    get(&c, &format!("{}/default/v144/1.m4s", e.url())).await;
    // segments 2 and 3 arrive in the background
    eventually(Duration::from_secs(5), || async {
        match origin_gets(&o) {
            n if n >= 3 => Ok(()),
            n => Err(format!("{n} origin GETs, want 3")),
        }
    })
    .await;
    assert_eq!(origin_gets(&o), 3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, xc, body) = get(&c, &format!("{}/default/v144/2.m4s", e.url())).await;
    assert_eq!(xc, "HIT");
    assert_eq!(body, file(&root, "/default/v144/2.m4s"));
    // the end of the presentation stops prefetch at the first 404
    get(&c, &format!("{}/default/v144/{SEGMENTS}.m4s", e.url())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(origin_gets_with(&o, 404), 1);
    assert!(metric(&c, &e, edge::metrics::PREFETCHES_TOTAL_NAME).await >= 3.0);
}

/// Sends raw bytes to the edge and returns the whole response text (connection: close).
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_an_open_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    // a second server standing for the attacker's target: it must never be contacted
    let evil_dir = tempfile::tempdir().unwrap();
    let evil_root = make_content(evil_dir.path());
    let evil = origin_at(&evil_root, "127.0.0.5:0".parse().unwrap(), |_| {}).await;
    let e = edge(o.local_addr(), |_| {}).await;
    let ev = evil.local_addr();
    // absolute-form request line, Host and forwarding headers all pointing elsewhere
    let res = raw(
        e.local_addr(),
        &format!(
            "GET http://{ev}/default/manifest.mpd HTTP/1.1\r\nHost: {ev}\r\nX-Forwarded-Host: {ev}\r\nForwarded: host={ev}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let res = raw(
        e.local_addr(),
        "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
    assert_eq!(
        origin_gets(&o),
        2,
        "both requests went to the configured origin"
    );
    assert_eq!(origin_gets(&evil), 0, "the attacker's server was contacted");
    // path escapes are refused before any upstream request
    for bad in [
        "/../etc/passwd",
        "/default/%2e%2e/%2e%2e/x",
        "/a%2fb",
        "/.hidden/x",
        "//x",
    ] {
        let res = raw(
            e.local_addr(),
            &format!("GET {bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            res.starts_with("HTTP/1.1 400") || res.starts_with("HTTP/1.1 404"),
            "{bad}: {res}"
        );
    }
    // oversized URI and headers
    let long = format!("/{}", "a".repeat(5000));
    let res = raw(
        e.local_addr(),
        &format!("GET {long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        res.starts_with("HTTP/1.1 414"),
        "{}",
        &res[..res.len().min(200)]
    );
    let big = "b".repeat(20_000);
    let res = raw(
        e.local_addr(),
        &format!("GET {SEG} HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        res.starts_with("HTTP/1.1 431"),
        "{}",
        &res[..res.len().min(200)]
    );
    assert_eq!(origin_gets(&o), 2);
    assert_eq!(origin_gets(&evil), 0);
    // forwarding loop
    let res = raw(
        e.local_addr(),
        &format!(
            "GET {SEG} HTTP/1.1\r\nHost: x\r\nVia: 1.1 test-edge\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 508"), "{res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_hold_back_others() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin(&root).await;
    let e = edge(o.local_addr(), |_| {}).await;
    let path = "/default/v720/12.m4s";
    // the first (leader) client sends its request and never reads the response
    let mut stalled = tokio::net::TcpStream::connect(e.local_addr())
        .await
        .unwrap();
    stalled
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = client();
    let t0 = std::time::Instant::now();
    let (status, _, body) = tokio::time::timeout(
        Duration::from_secs(5),
        get(&c, &format!("{}{path}", e.url())),
    )
    .await
    .expect("second client stalled behind the first");
    assert_eq!(status, 200);
    assert_eq!(body, file(&root, path));
    println!("second client done in {:?}", t0.elapsed());
    assert_eq!(origin_gets(&o), 1);
    drop(stalled);
}
