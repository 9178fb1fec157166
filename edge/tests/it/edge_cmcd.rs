//! CMCD in and CMSD out through a real edge (issue 17): CMCD never fragments the cache
//! nor leaks upstream (unless `cmcd_forward`), bad CMCD is counted and ignored, the
//! aggregates reach `/metrics` and the sessions `/debug/cmcd`, prefetch follows `nor`,
//! and every response carries a plausible `CMSD-Dynamic` (etp under a rate limit, `du`
//! near the connection limit).

use std::time::Duration;

use cmcd::{Cmcd, CmsdDynamic, CmsdStatic, ObjectType};
use edge::metrics::{
    CACHE_OBJECTS_NAME, CMCD_BITRATE_REQUESTS_TOTAL_NAME, CMCD_BUFFER_STARVATION_TOTAL_NAME,
    CMCD_INVALID_TOTAL_NAME, CMCD_MEASURED_THROUGHPUT_KBPS_NAME, CMCD_NOR_REJECTED_TOTAL_NAME,
    CMCD_REQUESTS_TOTAL_NAME, CMCD_SESSIONS_NAME, OPEN_CONNECTIONS_NAME, PREFETCH_FILLS_TOTAL_NAME,
    PREFETCH_HITS_TOTAL_NAME,
};

use crate::common::*;

const SEG: &str = "/default/v720/1.m4s";

/// GET `url` with extra headers → (status, headers, body length).
async fn get_h(
    c: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, usize) {
    let mut r = c.get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let n = r.bytes().await.unwrap().len();
    (status, h, n)
}

fn report(sid: &str, br: u64, mtp: u64, bs: bool) -> Cmcd {
    Cmcd {
        sid: Some(sid.into()),
        br: Some(br),
        mtp: Some(mtp),
        bl: Some(4000),
        bs,
        ot: Some(ObjectType::Video),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmcd_never_fragments_the_cache_nor_leaks_upstream_and_is_counted() {
    let o = ScriptedOrigin::start().await;
    o.script(
        SEG,
        Reply::ok(vec![7u8; 50_000]).header("cache-control", "max-age=600"),
    );
    // general content keys on its query: CMCD must still not be part of it
    o.script(
        "/api/x.json",
        Reply::ok("{}").header("cache-control", "max-age=600"),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let base = e.url();
    let mut x_cache = Vec::new();
    for (i, r) in [
        report("s1", 800, 5000, false),
        report("s2", 3200, 9000, true),
        report("s3", 800, 7000, false),
    ]
    .iter()
    .enumerate()
    {
        // query mode, then header mode, with other query arguments around
        let (s, h, _) = get_h(&c, &format!("{base}{SEG}?a=1&{}", r.to_query_arg()), &[]).await;
        assert_eq!(s, 200);
        x_cache.push(h["x-cache"].to_str().unwrap().to_owned());
        let hs: Vec<(String, String)> = r
            .to_headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        let hs: Vec<(&str, &str)> = hs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (s, _, n) = get_h(&c, &format!("{base}{SEG}"), &hs).await;
        assert_eq!((s, n), (200, 50_000), "request {i}");
        let (s, _, _) = get_h(
            &c,
            &format!("{base}/api/x.json?{}&z=2", r.to_query_arg()),
            &[],
        )
        .await;
        assert_eq!(s, 200);
    }
    // malformed CMCD: served as usual, counted, ignored
    for bad in ["CMCD=br%3Dhigh", "CMCD=bs%2Cbs", "CMCD=%22"] {
        let (s, _, n) = get_h(&c, &format!("{base}{SEG}?{bad}"), &[]).await;
        assert_eq!((s, n), (200, 50_000), "{bad}");
    }
    let (s, _, _) = get_h(
        &c,
        &format!("{base}{SEG}"),
        &[("cmcd-request", "bl=1,bl=2")],
    )
    .await;
    assert_eq!(s, 200);

    assert_eq!(o.requests(SEG), 1, "one fill whatever the CMCD");
    assert_eq!(
        o.requests("/api/x.json"),
        1,
        "CMCD is not part of a query key"
    );
    assert_eq!(x_cache[1..], ["HIT", "HIT"]);
    for r in o.recorded() {
        assert!(
            !r.path_and_query.contains("CMCD"),
            "leaked: {}",
            r.path_and_query
        );
        assert!(
            r.headers.keys().all(|k| !k.as_str().starts_with("cmcd-")),
            "leaked: {:?}",
            r.headers
        );
    }
    assert!(o.recorded().iter().any(
        |r| r.path_and_query == "/api/x.json?a=1&z=2" || r.path_and_query == "/api/x.json?z=2"
    ));
    assert_eq!(metric_with(&c, &e, CACHE_OBJECTS_NAME, MEMORY).await, 2.0);
    assert_eq!(
        metric_with(&c, &e, CMCD_REQUESTS_TOTAL_NAME, &[("mode", "query")]).await,
        6.0
    );
    assert_eq!(
        metric_with(&c, &e, CMCD_REQUESTS_TOTAL_NAME, &[("mode", "header")]).await,
        3.0
    );
    assert_eq!(metric(&c, &e, CMCD_INVALID_TOTAL_NAME).await, 4.0);
    assert_eq!(metric(&c, &e, CMCD_BUFFER_STARVATION_TOTAL_NAME).await, 3.0);
    assert_eq!(metric(&c, &e, CMCD_SESSIONS_NAME).await, 3.0);
    assert_eq!(
        metric(&c, &e, CMCD_MEASURED_THROUGHPUT_KBPS_NAME).await,
        7000.0
    );
    assert_eq!(
        metric_with(
            &c,
            &e,
            CMCD_BITRATE_REQUESTS_TOTAL_NAME,
            &[("br_kbps", "800")]
        )
        .await,
        6.0
    );
    let dbg = c.get(format!("{base}/debug/cmcd")).send().await.unwrap();
    let dbg: serde_json::Value = serde_json::from_slice(&dbg.bytes().await.unwrap()).unwrap();
    let sessions = dbg["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{dbg}");
    let s2 = sessions.iter().find(|s| s["sid"] == "s2").unwrap();
    assert_eq!(
        (s2["requests"].as_u64(), s2["starvations"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(s2["mtp"].as_u64(), Some(9000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmcd_forward_sends_it_upstream_as_headers_still_one_cache_entry() {
    let o = ScriptedOrigin::start().await;
    o.script(
        SEG,
        Reply::ok(vec![1u8; 1000]).header("cache-control", "max-age=600"),
    );
    let e = edge(o.addr(), |c| c.cmcd_forward = true).await;
    let c = client();
    let q = report("s9", 800, 1000, false).to_query_arg();
    get_h(&c, &format!("{}{SEG}?{q}", e.url()), &[]).await;
    get_h(&c, &format!("{}{SEG}?CMCD=sid%3D%22other%22", e.url()), &[]).await;
    assert_eq!(o.requests(SEG), 1);
    let r = &o.recorded()[0];
    assert_eq!(r.path_and_query, SEG, "never in the upstream URL");
    assert_eq!(r.headers["cmcd-session"], "sid=\"s9\"");
    assert_eq!(r.headers["cmcd-object"], "br=800,ot=v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_follows_nor_and_refuses_hostile_hints() {
    let dir = tempfile::tempdir().unwrap();
    make_content(dir.path());
    let o = ScriptedOrigin::start().await;
    for p in [SEG, "/default/v144/2.m4s", "/default/v720/2.m4s"] {
        o.script(
            p,
            Reply::ok(file(dir.path(), p)).header("cache-control", "max-age=600"),
        );
    }
    // prefetch = 0 (no guessing): the hint alone is followed
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let base = e.url();
    let hint = Cmcd {
        nor: Some("../v144/2.m4s".into()),
        ..report("p1", 3200, 9000, false)
    };
    get_h(&c, &format!("{base}{SEG}?{}", hint.to_query_arg()), &[]).await;
    eventually(Duration::from_secs(10), || async {
        (o.requests("/default/v144/2.m4s") == 1)
            .then_some(())
            .ok_or("not prefetched yet")
    })
    .await;
    assert_eq!(o.requests("/default/v720/2.m4s"), 0, "no k+1 guess");
    // the player's next request is a hit, credited to nor
    warm(&c, &format!("{base}/default/v144/2.m4s")).await;
    assert_eq!(
        metric_with(&c, &e, PREFETCH_HITS_TOTAL_NAME, &[("source", "nor")]).await,
        1.0
    );
    assert_eq!(
        metric_with(&c, &e, PREFETCH_FILLS_TOTAL_NAME, &[("source", "nor")]).await,
        1.0
    );
    // hostile hints: counted, nothing fetched
    let before = o.total_requests();
    for nor in [
        "http://127.0.0.9/x.m4s",
        "//evil/x.m4s",
        "../../../../etc/passwd",
        "../../api/x",
    ] {
        let h = Cmcd {
            nor: Some(nor.into()),
            ..Default::default()
        };
        let (s, _, _) = get_h(
            &c,
            &format!("{base}{SEG}"),
            &[("cmcd-request", &h.to_headers()[0].1)],
        )
        .await;
        assert_eq!(s, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(o.total_requests(), before);
    assert_eq!(metric(&c, &e, CMCD_NOR_REJECTED_TOTAL_NAME).await, 4.0);
    // with --prefetch-hints false the hint is ignored
    let e2 = edge(o.addr(), |c| c.prefetch_hints = false).await;
    let hint = Cmcd {
        nor: Some("3.m4s".into()),
        ..Default::default()
    };
    get_h(
        &c,
        &format!("{}{SEG}?{}", e2.url(), hint.to_query_arg()),
        &[],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(o.requests("/default/v720/3.m4s"), 0);
}

fn dynamic(h: &reqwest::header::HeaderMap) -> CmsdDynamic {
    CmsdDynamic::parse(h["cmsd-dynamic"].to_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmsd_on_every_response_etp_follows_the_rate_limit() {
    let o = ScriptedOrigin::start().await;
    o.script(
        SEG,
        Reply::ok(vec![3u8; 100_000])
            .header("cache-control", "max-age=600")
            .header("content-type", "video/mp4")
            .header("cmsd-dynamic", "\"origin-x\";rd=2"),
    );
    let e = edge(o.addr(), |c| {
        c.limit_rate = 2_000_000;
        c.admin_token = Some("t".into());
    })
    .await;
    let c = client();
    let url = format!("{}{SEG}", e.url());
    let (_, h, _) = get_h(&c, &url, &[]).await;
    assert_eq!(h["x-cache"], "MISS");
    let d = dynamic(&h);
    assert_eq!(d.entries.len(), 2, "{d:?}");
    assert_eq!(d.entries[0].server, "origin-x");
    let own = d.closest().unwrap();
    assert_eq!(own.server, "test-edge");
    assert_eq!(own.etp, Some(2000), "before any measurement: the limit");
    assert!(own.rd.is_some() && !own.du);
    let s = CmsdStatic::parse(h["cmsd-static"].to_str().unwrap()).unwrap();
    assert_eq!(s.ot, Some(ObjectType::Video));
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("CMSD-Dynamic") && exposed.contains("CMSD-Static"));
    // a hit: only the edge's own entry; etp measured from the 100 kB sent at 2 Mbit/s
    let (_, h, _) = get_h(&c, &url, &[]).await;
    let d = dynamic(&h);
    assert_eq!(
        d.entries.len(),
        1,
        "a stored upstream entry is stale: {d:?}"
    );
    let etp = d.closest().unwrap().etp.unwrap();
    assert!((1000..=2000).contains(&etp), "etp {etp} at 2 Mbit/s");
    // a pass-through (POST is proxied): the upstream entry is current, kept
    o.script(
        "/api/p",
        Reply::ok("ok").header("cmsd-dynamic", "\"origin-x\";rd=1"),
    );
    let r = c.post(format!("{}/api/p", e.url())).send().await.unwrap();
    let d = dynamic(r.headers());
    assert_eq!(d.entries.len(), 2, "{d:?}");
    assert_eq!(
        (d.entries[0].server.as_str(), d.entries[1].server.as_str()),
        ("origin-x", "test-edge")
    );
    // lower the limit: etp follows
    let r = c
        .post(format!("{}{}", e.url(), serve::wire::EDGE_LIMIT_RATE_PATH))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body(r#"{"bits_per_sec":500000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    get_h(&c, &url, &[]).await;
    let (_, h, _) = get_h(&c, &url, &[]).await;
    let etp2 = dynamic(&h).closest().unwrap().etp.unwrap();
    assert!(etp2 <= 500, "etp {etp2} at 0.5 Mbit/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmsd_reports_duress_near_the_connection_limit() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/a.m4s",
        Reply::ok("abc").header("cache-control", "max-age=600"),
    );
    let e = edge(o.addr(), |c| c.max_connections = Some(10)).await;
    let c = client();
    let url = format!("{}/a.m4s", e.url());
    let (_, h, _) = get_h(&c, &url, &[]).await;
    assert!(!dynamic(&h).closest().unwrap().du);
    // 9 more connections held open: 10 of 10 ≥ 90 %
    let mut idle = Vec::new();
    for _ in 0..9 {
        idle.push(
            tokio::net::TcpStream::connect(e.local_addr())
                .await
                .unwrap(),
        );
    }
    eventually(Duration::from_secs(5), || async {
        let open = metric(&c, &e, OPEN_CONNECTIONS_NAME).await;
        (open >= 9.0).then_some(()).ok_or(format!("{open} open"))
    })
    .await;
    let (_, h, _) = get_h(&c, &url, &[]).await;
    assert!(dynamic(&h).closest().unwrap().du, "{:?}", h["cmsd-dynamic"]);
    drop(idle);
    eventually(Duration::from_secs(5), || async {
        let (_, h, _) = get_h(&c, &url, &[]).await;
        (!dynamic(&h).closest().unwrap().du)
            .then_some(())
            .ok_or("still in duress")
    })
    .await;
}

/// One playback of `SEGMENTS` segments that switches representation every 3 segments
/// (v720 ×3, v144 ×3, …), through an edge configured by `tweak`; with `send_nor` each
/// request names the next one in CMCD `nor`. Returns (client hits on segments 2.., prefetch
/// fills, prefetch hits, upstream requests).
async fn switching_playback(
    o: &RunningOrigin,
    send_nor: bool,
    tweak: impl FnOnce(&mut edge::EdgeConfig),
) -> (u64, f64, f64, u64) {
    let e = edge(o.local_addr(), tweak).await;
    let c = client();
    let rep = |k: u64| {
        if ((k - 1) / 3).is_multiple_of(2) {
            "v720"
        } else {
            "v144"
        }
    };
    let upstream_before = origin_gets(o);
    let mut hits = 0;
    for k in 1..=SEGMENTS {
        let path = format!("/default/{}/{k}.m4s", rep(k));
        let mut url = format!("{}{path}", e.url());
        if send_nor && k < SEGMENTS {
            let next = Cmcd {
                nor: Some(format!("../{}/{}.m4s", rep(k + 1), k + 1)),
                sid: Some("switcher".into()),
                ..Default::default()
            };
            url = format!("{url}?{}", next.to_query_arg());
        }
        let (s, h, _) = get_h(&c, &url, &[]).await;
        assert_eq!(s, 200, "{path}");
        if k > 1 && h["x-cache"] == "HIT" {
            hits += 1;
        }
        // the player's think time: one segment's worth of buffer is plenty for loopback
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let source = if send_nor { "nor" } else { "guess" };
    let fills = metric_with(&c, &e, PREFETCH_FILLS_TOTAL_NAME, &[("source", source)]).await;
    let phits = metric_with(&c, &e, PREFETCH_HITS_TOTAL_NAME, &[("source", source)]).await;
    (hits, fills, phits, origin_gets(o) - upstream_before)
}

/// The issue's measurement: prefetch hit rate with `nor` vs `k+1` guessing, for a player
/// that switches representation every 3 segments (k+1 in the old representation is
/// wasted at each switch; `nor` names the right object). Prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_hit_rate_nor_vs_guessing_with_a_switching_player() {
    let dir = tempfile::tempdir().unwrap();
    make_content(dir.path());
    let o = origin(dir.path()).await;
    let guess = switching_playback(&o, false, |c| {
        c.prefetch = 1;
        c.prefetch_hints = false;
    })
    .await;
    let nor = switching_playback(&o, true, |c| c.prefetch = 0).await;
    let rate = |(_, fills, phits, _): (u64, f64, f64, u64)| phits / fills.max(1.0);
    eprintln!(
        "prefetch, {SEGMENTS} segments, switch every 3: guess k+1: client hits {}/{}, fills {}, \
         prefetch hits {} (hit rate {:.2}), upstream GETs {}; nor: client hits {}/{}, fills {}, \
         prefetch hits {} (hit rate {:.2}), upstream GETs {}",
        guess.0,
        SEGMENTS - 1,
        guess.1,
        guess.2,
        rate(guess),
        guess.3,
        nor.0,
        SEGMENTS - 1,
        nor.1,
        nor.2,
        rate(nor),
        nor.3
    );
    // nor: every announced object prefetched and hit, nothing wasted
    assert_eq!(
        (nor.0, nor.1, nor.2),
        (SEGMENTS - 1, (SEGMENTS - 1) as f64, (SEGMENTS - 1) as f64)
    );
    assert_eq!(nor.3, SEGMENTS, "one upstream GET per segment");
    // guessing misses at every switch and fetches objects nobody asks for
    assert!(
        guess.0 < nor.0 && rate(guess) < rate(nor),
        "{guess:?} vs {nor:?}"
    );
    assert!(guess.3 > SEGMENTS, "wasted fetches: {guess:?}");
}
