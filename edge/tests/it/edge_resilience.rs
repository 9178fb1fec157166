//! Edge integration tests for freshness and failure: expired MPD revalidated with a 304,
//! origin down (stale served, uncached fails fast, fresh again when it is back), an
//! upstream that never answers (504), and the disk tier across restarts and corruption.

use std::time::{Duration, Instant};

use crate::common::*;

const MPD: &str = "/default/manifest.mpd";
const SEG: &str = "/default/v144/4.m4s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_mpd_is_revalidated_with_a_304() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = origin_at(&root, "127.0.0.1:0".parse().unwrap(), |c| {
        c.mpd_max_age_secs = 1
    })
    .await;
    let e = edge(o.local_addr(), |_| {}).await;
    let c = client();
    let url = format!("{}{MPD}", e.url());
    let (s, xc, body) = get(&c, &url).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    warm(&c, &url).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "REVALIDATED");
    assert_eq!(r.headers()["age"], "0");
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    assert_eq!(
        origin_gets_with(&o, 304),
        1,
        "the origin answered the revalidation with 304"
    );
    assert_eq!(origin_gets_with(&o, 200), 1);
    assert_eq!(get(&c, &url).await.1, "HIT");
    assert_eq!(
        metric(&c, &e, edge::metrics::REVALIDATIONS_TOTAL_NAME).await,
        1.0
    );
    assert_eq!(
        metric(&c, &e, edge::metrics::REVALIDATED_TOTAL_NAME).await,
        1.0
    );
    // a changed MPD is picked up on the next revalidation
    tokio::time::sleep(Duration::from_millis(2100)).await;
    std::fs::write(root.join("default/manifest.mpd"), "<MPD changed=\"1\"/>\n").unwrap();
    let (s, xc, body) = get(&c, &url).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert_eq!(body, b"<MPD changed=\"1\"/>\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_down_serves_stale_and_fails_fast_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let short = |c: &mut OriginConfig| {
        c.segment_max_age_secs = 1;
        c.mpd_max_age_secs = 1;
    };
    let o = origin_at(&root, "127.0.0.1:0".parse().unwrap(), short).await;
    let addr = o.local_addr();
    let e = edge(addr, |_| {}).await;
    let c = client();
    let seg = format!("{}{SEG}", e.url());
    assert_eq!(get(&c, &seg).await.1, "MISS");
    warm(&c, &seg).await;
    tokio::time::sleep(Duration::from_millis(2100)).await; // now stale
    o.stop(Duration::from_millis(500)).await.unwrap();

    // cached: still served, marked STALE
    let (s, xc, body) = get(&c, &seg).await;
    assert_eq!((s, xc.as_str()), (200, "STALE"));
    assert_eq!(body, file(&root, SEG));
    // uncached: fails fast with a gateway error
    let t0 = Instant::now();
    let (s, _, _) = get(&c, &format!("{}/default/v144/5.m4s", e.url())).await;
    let took = t0.elapsed();
    assert!(s == 502 || s == 504, "status {s}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(metric(&c, &e, edge::metrics::STALE_TOTAL_NAME).await >= 1.0);
    assert!(metric(&c, &e, edge::metrics::UPSTREAM_ERRORS_TOTAL_NAME).await >= 2.0);

    // origin back on the same address: fresh again
    let o2 = origin_at(&root, addr, short).await;
    let (s, xc, body) = get(&c, &seg).await;
    assert_eq!(s, 200);
    assert!(xc == "REVALIDATED" || xc == "MISS", "{xc}");
    assert_eq!(body, file(&root, SEG));
    assert_eq!(get(&c, &seg).await.1, "HIT");
    let (s, xc, _) = get(&c, &format!("{}/default/v144/5.m4s", e.url())).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert!(origin_gets(&o2) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_without_a_stored_copy() {
    // nothing listens: connection refused → 502 at once
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = edge(addr, |_| {}).await;
    let c = client();
    let t0 = Instant::now();
    let (s, _, _) = get(&c, &format!("{}{SEG}", e.url())).await;
    assert_eq!(s, 502);
    assert!(t0.elapsed() < Duration::from_secs(2));

    // accepts connections but never answers: 504 after the upstream timeout
    let hole = ScriptedOrigin::start().await;
    hole.fallback(Reply::hang());
    let e = edge(hole.addr(), |c| c.upstream_timeout_ms = 500).await;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{}{SEG}", e.url()));
            tokio::spawn(async move { get(&c, &url).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 504, "every waiter is released with 504");
    }
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_tier_survives_restart_and_corruption_is_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let disk = tempfile::tempdir().unwrap();
    let o = origin(&root).await;
    let c = client();
    let with_disk = |cfg: &mut edge::EdgeConfig| {
        cfg.disk = Some(disk.path().to_path_buf());
        cfg.disk_size = edge::ByteSize(256 << 20);
        cfg.mem = edge::ByteSize(1 << 20); // most objects live on disk only
    };
    let paths: Vec<String> = (1..=6).map(|n| format!("/default/v720/{n}.m4s")).collect();
    let e = edge(o.local_addr(), with_disk).await;
    for p in &paths {
        let url = format!("{}{p}", e.url());
        assert_eq!(get(&c, &url).await.1, "MISS");
        warm(&c, &url).await;
    }
    assert_eq!(origin_gets(&o), 6);
    e.stop(Duration::from_secs(1)).await.unwrap();

    // restart: everything is still there
    let e = edge(o.local_addr(), with_disk).await;
    let disk_bytes = metric_with(&c, &e, edge::metrics::CACHE_BYTES_NAME, DISK).await;
    assert!(
        disk_bytes > 6e6,
        "disk tier bytes after restart: {disk_bytes}"
    );
    for p in &paths {
        let (s, xc, body) = get(&c, &format!("{}{p}", e.url())).await;
        assert_eq!((s, xc.as_str()), (200, "HIT"), "{p}");
        assert_eq!(body, file(&root, p));
    }
    assert_eq!(origin_gets(&o), 6, "warm restart made no origin request");
    e.stop(Duration::from_secs(1)).await.unwrap();

    // corrupt every object file: flip a byte in the middle, truncate another
    let mut files = Vec::new();
    for sub in std::fs::read_dir(disk.path()).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|x| x == "obj") {
                    files.push(f);
                }
            }
        }
    }
    assert_eq!(files.len(), 6, "{files:?}");
    for (i, f) in files.iter().enumerate() {
        let mut data = std::fs::read(f).unwrap();
        if i % 2 == 0 {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
        } else {
            data.truncate(data.len() - 1000);
        }
        std::fs::write(f, data).unwrap();
    }
    let e = edge(o.local_addr(), with_disk).await;
    for p in &paths {
        let (s, xc, body) = get(&c, &format!("{}{p}", e.url())).await;
        assert_eq!(
            (s, xc.as_str()),
            (200, "MISS"),
            "{p}: corrupt copy must not be served"
        );
        assert_eq!(body, file(&root, p), "{p}");
    }
    assert_eq!(
        origin_gets(&o),
        12,
        "every corrupt object was refetched once"
    );
    let corrupt = metric(&c, &e, edge::metrics::CORRUPT_DISK_OBJECTS_TOTAL_NAME).await;
    assert!(corrupt >= 3.0, "corrupt objects counted: {corrupt}");
}
