//! Edge integration tests for freshness and failure: an expired MPD revalidated with a 304,
//! origin down (stale served, uncached fails fast, fresh again when it is back), an
//! upstream that never answers (504), and the disk tier across restarts and corruption.
//!
//! The staleness tests run on a paused tokio clock: the edge reads
//! `edge::Clock::following_tokio()` (and the fill locks' timeouts are on tokio's clock too), so
//! objects age by `tokio::time::advance` instead of by sleeping. Their origin is a
//! [`ScriptedOrigin`] answering as the real origin does (`Cache-Control`, `ETag`,
//! `Last-Modified`) with a `Date` on the edge's clock: the real origin's `Date` is the wall
//! clock, which does not advance with tokio's, so the age correction of RFC 9111 §4.2.3
//! would take the advanced time for clock skew (a revalidated copy would get `Age: 2`).
//! (A reply cannot simply leave `Date` out: hyper stamps the wall clock on any response
//! without one, and `axum::serve` has no switch for it.) A `Date` is fixed when the reply
//! is scripted, so each answer is scripted just before the request it answers.
//! One test keeps the real origin, in real time, for what only it can show: that it
//! answers the edge's conditional request with a `304`.

use std::time::{Duration, Instant};

use edge::Clock;

use crate::common::*;

const MPD: &str = "/default/manifest.mpd";
const SEG: &str = "/default/v144/4.m4s";
const SEG5: &str = "/default/v144/5.m4s";

/// How far the paused clock moves to make a `max-age=1` object stale: well past its second
/// (a finished fill is never joined, so its end does not matter).
const EXPIRE: Duration = Duration::from_millis(2100);

/// The `Last-Modified` of every scripted object.
const LAST_MODIFIED: &str = "Sat, 05 Dec 2026 12:00:00 GMT";

/// A `Date` for a reply sent now by an origin whose clock agrees with the edge's `clock`.
fn date(clock: &Clock) -> String {
    httpdate::fmt_http_date(clock.now())
}

/// `200` with `body` and the headers the real origin sends with it (`Cache-Control` as
/// given), the validators `etag` and [`LAST_MODIFIED`], dated now on `clock`.
fn ok(clock: &Clock, body: &[u8], cache_control: &str, etag: &str) -> Reply {
    Reply::ok(body.to_vec())
        .header("date", &date(clock))
        .header("cache-control", cache_control)
        .header("etag", etag)
        .header("last-modified", LAST_MODIFIED)
}

/// `304` confirming `etag`, with the headers the real origin sends with it, dated now on
/// `clock`.
fn not_modified(clock: &Clock, cache_control: &str, etag: &str) -> Reply {
    Reply::status(304)
        .header("date", &date(clock))
        .header("cache-control", cache_control)
        .header("etag", etag)
        .header("last-modified", LAST_MODIFIED)
}

/// The header `name` of a request the scripted origin received ("" when absent).
fn sent(r: &test_support::scripted::Recorded, name: &str) -> String {
    r.headers
        .get(name)
        .map_or_else(String::new, |v| v.to_str().unwrap().to_owned())
}

#[tokio::test(start_paused = true)]
async fn expired_mpd_is_revalidated_with_a_304() {
    const CC: &str = "public, max-age=1";
    let clock = Clock::following_tokio();
    let o = ScriptedOrigin::start().await;
    let mpd = b"<MPD v=\"1\"/>\n";
    o.script(MPD, ok(&clock, mpd, CC, "\"v1\""));
    let e = edge_with_clock(o.addr(), clock, |_| {}).await;
    let c = client();
    let url = format!("{}{MPD}", e.url());
    let (s, xc, body) = get(&c, &url).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert_eq!(body, mpd);
    warm(&c, &url).await;
    tokio::time::advance(EXPIRE).await;
    o.script(MPD, not_modified(&clock, CC, "\"v1\""));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "REVALIDATED");
    assert_eq!(r.headers()["age"], "0");
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    let asked = o.recorded();
    assert_eq!(asked.len(), 2, "one fetch, one revalidation: {asked:?}");
    assert_eq!(sent(&asked[0], "if-none-match"), "");
    assert_eq!(
        (
            sent(&asked[1], "if-none-match"),
            sent(&asked[1], "if-modified-since")
        ),
        ("\"v1\"".to_owned(), LAST_MODIFIED.to_owned()),
        "the revalidation is conditional on the stored validators (and was answered 304)"
    );
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
    tokio::time::advance(EXPIRE).await;
    o.script(MPD, ok(&clock, b"<MPD changed=\"1\"/>\n", CC, "\"v2\""));
    let (s, xc, body) = get(&c, &url).await;
    assert_eq!((s, xc.as_str()), (200, "MISS"));
    assert_eq!(body, b"<MPD changed=\"1\"/>\n");
    let asked = o.recorded();
    assert_eq!(asked.len(), 3);
    assert_eq!(sent(&asked[2], "if-none-match"), "\"v1\"");
}

/// The real origin's side of a revalidation: it answers the edge's conditional request
/// with a `304`. In real time, because the origin's `Date` is the wall clock (on a paused
/// clock the advanced time would count as skew, see the module docs); one sleep past the
/// MPD's `max-age=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_origin_answers_a_revalidation_with_a_304() {
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
    tokio::time::sleep(Duration::from_millis(1100)).await;
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
        metric(&c, &e, edge::metrics::REVALIDATED_TOTAL_NAME).await,
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn origin_down_serves_stale_and_fails_fast_then_recovers() {
    const CC: &str = "public, max-age=1, immutable";
    let clock = Clock::following_tokio();
    let seg: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let o = ScriptedOrigin::start().await;
    let addr = o.addr();
    o.script(SEG, ok(&clock, &seg, CC, "\"s4\""));
    let e = edge_with_clock(addr, clock, |_| {}).await;
    let c = client();
    let seg_url = format!("{}{SEG}", e.url());
    assert_eq!(get(&c, &seg_url).await.1, "MISS");
    warm(&c, &seg_url).await;
    tokio::time::advance(EXPIRE).await; // now stale
    drop(o); // down: the port is closed, and so are its keep-alive connections

    // cached: still served, marked STALE
    let (s, xc, body) = get(&c, &seg_url).await;
    assert_eq!((s, xc.as_str()), (200, "STALE"));
    assert_eq!(body, seg);
    // uncached: fails fast with a gateway error (on tokio's clock, which any timeout the
    // edge waited for would have moved)
    let t0 = tokio::time::Instant::now();
    let (s, _, _) = get(&c, &format!("{}{SEG5}", e.url())).await;
    let took = t0.elapsed();
    assert!(s == 502 || s == 504, "status {s}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(metric(&c, &e, edge::metrics::STALE_TOTAL_NAME).await >= 1.0);
    assert!(metric(&c, &e, edge::metrics::UPSTREAM_ERRORS_TOTAL_NAME).await >= 2.0);

    // origin back on the same address: fresh again
    let o2 = ScriptedOrigin::start_at(addr).await;
    o2.script(SEG, not_modified(&clock, CC, "\"s4\""));
    o2.script(SEG5, ok(&clock, b"five", CC, "\"s5\""));
    let (s, xc, body) = get(&c, &seg_url).await;
    assert_eq!((s, xc.as_str()), (200, "REVALIDATED"));
    assert_eq!(body, seg);
    assert_eq!(sent(&o2.recorded()[0], "if-none-match"), "\"s4\"");
    assert_eq!(get(&c, &seg_url).await.1, "HIT");
    let (s, xc, body) = get(&c, &format!("{}{SEG5}", e.url())).await;
    assert_eq!(
        (s, xc.as_str(), body.as_slice()),
        (200, "MISS", &b"five"[..])
    );
    assert_eq!((o2.requests(SEG), o2.requests(SEG5)), (1, 1));
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
