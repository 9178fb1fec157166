//! The edge as an RFC 9111 shared cache and reverse proxy (issue 12, items 2–4 and the
//! upstream half of 6), one behaviour per test, against a [`ScriptedOrigin`] in real time
//! (each test bounded to a few seconds): pass-through of other methods and its
//! invalidation (RFC 9111 §4.4), request headers forwarded (RFC 9110 §7.6), what is
//! stored (§3, §4.2.2 negative caching, §3.5 `Authorization`), `Vary` variants (§4.1),
//! request directives (§5.2.1), targeted fields (RFC 9213), and a hanging or dead upstream
//! (stale after a short wait, the circuit breaker).

use std::time::{Duration, Instant};

use crate::common::*;

/// `200` with `body` and `headers`.
fn reply(body: &str, headers: &[(&str, &str)]) -> Reply {
    headers
        .iter()
        .fold(Reply::ok(body.to_owned()), |r, (k, v)| r.header(k, v))
}

/// A request with `headers` → (status, X-Cache, body, response headers).
async fn send(
    c: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String, reqwest::header::HeaderMap) {
    let mut r = c.request(method.parse().unwrap(), url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let h = res.headers().clone();
    let xc = h
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, xc, res.text().await.unwrap(), h)
}

async fn body_of(c: &reqwest::Client, url: &str) -> String {
    String::from_utf8(get(c, url).await.2).unwrap()
}

#[tokio::test]
async fn rfc9110_9_3_unsafe_methods_pass_through_unchanged() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/api/items",
        Reply::status(201)
            .body("created")
            .header("set-cookie", "session=abc; HttpOnly")
            .header("location", "/api/items/7")
            .header("x-app", "1"),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let url = format!("{}/api/items", e.url());
    for method in ["PUT", "POST", "DELETE", "PATCH"] {
        let (status, _, body, h) = send(&c, method, &url, &[("content-type", "text/plain")]).await;
        assert_eq!((status, body.as_str()), (201, "created"), "{method}");
        assert_eq!(h["set-cookie"], "session=abc; HttpOnly");
        assert_eq!(h["x-app"], "1");
        assert!(h["via"].to_str().unwrap().contains("test-edge"));
    }
    let methods: Vec<String> = o.recorded().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["PUT", "POST", "DELETE", "PATCH"]);
    // a request body is streamed through
    let res = c.post(&url).body(vec![b'x'; 100_000]).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 201);
    // CONNECT and TRACE never go upstream
    let (status, ..) = send(&c, "TRACE", &url, &[]).await;
    assert_eq!(status, 405);
    assert_eq!(o.total_requests(), 5);
}

#[tokio::test]
async fn rfc9111_4_4_put_invalidates_target_and_location() {
    let o = ScriptedOrigin::start().await;
    let fresh = [("cache-control", "max-age=100")];
    o.script_seq("/doc", vec![reply("a1", &fresh), reply("a2", &fresh)]);
    o.script_seq("/other", vec![reply("b1", &fresh), reply("b2", &fresh)]);
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let (doc, other) = (format!("{}/doc", e.url()), format!("{}/other", e.url()));
    assert_eq!(body_of(&c, &doc).await, "a1");
    assert_eq!(body_of(&c, &other).await, "b1");
    warm(&c, &doc).await;
    warm(&c, &other).await;
    // the PUT's 2xx names /other in Location (same origin, relative)
    o.script("/doc", Reply::status(204).header("location", "/other"));
    let (status, ..) = send(&c, "PUT", &doc, &[]).await;
    assert_eq!(status, 204);
    o.script("/doc", reply("a2", &fresh));
    assert_eq!(body_of(&c, &doc).await, "a2");
    assert_eq!(body_of(&c, &other).await, "b2");
}

#[tokio::test]
async fn rfc9111_4_4_error_answer_invalidates_nothing() {
    let o = ScriptedOrigin::start().await;
    o.script("/doc", reply("a1", &[("cache-control", "max-age=100")]));
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let doc = format!("{}/doc", e.url());
    warm(&c, &doc).await;
    o.script("/doc", Reply::status(500));
    assert_eq!(send(&c, "POST", &doc, &[]).await.0, 500);
    assert_eq!(get(&c, &doc).await.1, "HIT");
}

#[tokio::test]
async fn rfc9110_7_6_end_to_end_request_headers_reach_the_origin_on_a_fill() {
    let o = ScriptedOrigin::start().await;
    o.script("/page", reply("p", &[("cache-control", "max-age=100")]));
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let (status, ..) = send(
        &c,
        "GET",
        &format!("{}/page", e.url()),
        &[
            ("accept-language", "fr"),
            ("x-custom", "1"),
            ("connection", "x-hop"),
            ("x-hop", "secret"),
            ("if-none-match", "\"client\""),
            ("range", "bytes=0-0"),
            ("x-forwarded-for", "10.1.2.3"),
        ],
    )
    .await;
    assert_eq!(status, 206); // the edge answers the client's Range itself
    let r = &o.recorded()[0];
    assert_eq!(r.headers["accept-language"], "fr");
    assert_eq!(r.headers["x-custom"], "1");
    assert!(
        r.headers.get("x-hop").is_none(),
        "Connection-listed forwarded"
    );
    assert!(
        r.headers.get("if-none-match").is_none(),
        "client validator on a shared fill"
    );
    assert!(
        r.headers.get("range").is_none(),
        "client range on a shared fill"
    );
    assert_eq!(r.headers["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(r.headers["x-forwarded-proto"], "http");
    assert!(r.headers["via"].to_str().unwrap().contains("test-edge"));
    assert_eq!(r.headers["host"].to_str().unwrap(), o.addr().to_string());
}

#[tokio::test]
async fn rfc9111_4_2_2_negative_caching_of_404_but_not_500() {
    let o = ScriptedOrigin::start().await;
    o.script("/missing", Reply::status(404).body("no"));
    o.script("/broken", Reply::status(500).body("err"));
    let e = edge(o.addr(), |c| c.negative_ttl_secs = 60).await;
    let c = client();
    let (missing, broken) = (
        format!("{}/missing", e.url()),
        format!("{}/broken", e.url()),
    );
    for _ in 0..3 {
        assert_eq!(get(&c, &missing).await.0, 404);
        assert_eq!(get(&c, &broken).await.0, 500);
    }
    assert_eq!(get(&c, &missing).await.1, "HIT");
    assert_eq!(o.requests("/missing"), 1);
    assert_eq!(o.requests("/broken"), 3);
}

#[tokio::test]
async fn rfc9111_4_1_vary_stores_one_variant_per_selecting_header_value() {
    let o = ScriptedOrigin::start().await;
    let v = [
        ("cache-control", "max-age=100"),
        ("vary", "Accept-Language"),
    ];
    o.script_seq("/greet", vec![reply("hello", &v), reply("bonjour", &v)]);
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let url = format!("{}/greet", e.url());
    let en = [("accept-language", "en")];
    let fr = [("accept-language", "fr")];
    assert_eq!(send(&c, "GET", &url, &en).await.2, "hello");
    assert_eq!(send(&c, "GET", &url, &fr).await.2, "bonjour");
    for _ in 0..2 {
        let (_, xc, body, _) = send(&c, "GET", &url, &[("accept-language", "EN")]).await;
        assert_eq!((xc.as_str(), body.as_str()), ("HIT", "hello"));
        let (_, xc, body, _) = send(&c, "GET", &url, &fr).await;
        assert_eq!((xc.as_str(), body.as_str()), ("HIT", "bonjour"));
    }
    assert_eq!(o.requests("/greet"), 2);
}

#[tokio::test]
async fn rfc9111_4_1_vary_star_never_matches() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/star",
        reply("s", &[("cache-control", "max-age=100"), ("vary", "*")]),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let url = format!("{}/star", e.url());
    for _ in 0..3 {
        assert_eq!(get(&c, &url).await.1, "MISS");
    }
    assert_eq!(o.requests("/star"), 3);
}

#[tokio::test]
async fn rfc9111_3_5_authorization_answer_stored_only_when_public() {
    let o = ScriptedOrigin::start().await;
    o.script("/me", reply("mine", &[("cache-control", "max-age=100")]));
    o.script(
        "/pub",
        reply("all", &[("cache-control", "public, max-age=100")]),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let auth = [("authorization", "Basic eDp5")];
    let me = format!("{}/me", e.url());
    for _ in 0..2 {
        let (status, xc, ..) = send(&c, "GET", &me, &auth).await;
        assert_eq!((status, xc.as_str()), (200, "MISS"));
    }
    assert_eq!(o.requests("/me"), 2, "a private answer was stored");
    assert_eq!(o.recorded()[0].headers["authorization"], "Basic eDp5");
    // public: stored, and reused (for anyone)
    let public = format!("{}/pub", e.url());
    assert_eq!(send(&c, "GET", &public, &auth).await.1, "MISS");
    warm(&c, &public).await;
    assert_eq!(send(&c, "GET", &public, &auth).await.1, "HIT");
    assert_eq!(o.requests("/pub"), 1);
}

#[tokio::test]
async fn rfc9111_5_2_1_request_no_cache_and_only_if_cached() {
    let o = ScriptedOrigin::start().await;
    o.script("/r", reply("r", &[("cache-control", "max-age=100")]));
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let url = format!("{}/r", e.url());
    let nothing = format!("{}/never-fetched", e.url());
    let (status, ..) = send(&c, "GET", &nothing, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(status, 504);
    assert_eq!(o.requests("/never-fetched"), 0);
    warm(&c, &url).await;
    let n = o.requests("/r");
    let (_, xc, ..) = send(&c, "GET", &url, &[("cache-control", "no-cache")]).await;
    assert_ne!(xc, "HIT");
    let (_, xc, ..) = send(&c, "GET", &url, &[("cache-control", "max-age=0")]).await;
    assert_ne!(xc, "HIT");
    assert_eq!(o.requests("/r"), n + 2);
    let (_, xc, ..) = send(&c, "GET", &url, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(xc, "HIT");
}

#[tokio::test]
async fn rfc9213_cdn_cache_control_overrides_cache_control() {
    let o = ScriptedOrigin::start().await;
    // Cache-Control says do not store; the CDN field says 100 s: the edge caches, the
    // client gets Cache-Control unchanged
    o.script(
        "/cdn",
        reply(
            "c",
            &[
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=100"),
            ],
        ),
    );
    // the edge's own field beats CDN-Cache-Control, and is consumed
    o.script(
        "/own",
        reply(
            "o",
            &[
                ("cache-control", "max-age=100"),
                ("cdn-cache-control", "max-age=100"),
                ("dashcdn-cache-control", "no-store"),
            ],
        ),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let cdn = format!("{}/cdn", e.url());
    warm(&c, &cdn).await;
    let (_, xc, _, h) = send(&c, "GET", &cdn, &[]).await;
    assert_eq!(xc, "HIT");
    assert_eq!(h["cache-control"], "no-store");
    let own = format!("{}/own", e.url());
    for _ in 0..3 {
        let (_, xc, _, h) = send(&c, "GET", &own, &[]).await;
        assert_eq!(xc, "MISS");
        assert!(h.get("dashcdn-cache-control").is_none());
    }
}

#[tokio::test]
async fn rfc9111_5_1_age_list_uses_the_first_member() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/old",
        reply("x", &[("cache-control", "max-age=100"), ("age", "7200, 0")]),
    );
    o.script(
        "/young",
        reply("y", &[("cache-control", "max-age=100"), ("age", "0, 7200")]),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    for _ in 0..2 {
        get(&c, &format!("{}/old", e.url())).await;
        get(&c, &format!("{}/young", e.url())).await;
    }
    assert_eq!(o.requests("/old"), 2, "an Age of 7200 > max-age: stale");
    assert_eq!(o.requests("/young"), 1);
}

#[tokio::test]
async fn rfc5861_stale_copy_served_after_a_short_wait_when_the_upstream_hangs() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/slow",
        reply("old", &[("cache-control", "max-age=1, stale-if-error=60")]),
    );
    let e = edge(o.addr(), |c| {
        c.stale_wait_ms = 200;
        c.upstream_timeout_ms = 5_000;
    })
    .await;
    let c = client();
    let url = format!("{}/slow", e.url());
    warm(&c, &url).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    o.script(
        "/slow",
        reply("new", &[("cache-control", "max-age=100")]).first_byte_after(Duration::from_secs(3)),
    );
    let t = Instant::now();
    let (status, xc, body) = get(&c, &url).await;
    assert_eq!((status, xc.as_str()), (200, "STALE"));
    assert_eq!(String::from_utf8(body).unwrap(), "old");
    assert!(
        t.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        t.elapsed()
    );
    // must-revalidate forbids it: the client waits for the upstream
    o.script(
        "/strict",
        reply("s", &[("cache-control", "max-age=1, must-revalidate")]),
    );
    let strict = format!("{}/strict", e.url());
    warm(&c, &strict).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    o.script(
        "/strict",
        reply("s2", &[("cache-control", "max-age=100")])
            .first_byte_after(Duration::from_millis(700)),
    );
    let (_, xc, body) = get(&c, &strict).await;
    assert_eq!((xc.as_str(), body.as_slice()), ("MISS", b"s2".as_slice()));
}

#[tokio::test]
async fn circuit_breaker_fails_fast_while_the_upstream_is_down_then_probes() {
    let o = ScriptedOrigin::start().await;
    o.fallback(Reply::hang());
    let e = edge(o.addr(), |c| {
        c.upstream_timeout_ms = 300;
        c.breaker_failures = 2;
        c.breaker_open_ms = 600;
    })
    .await;
    let c = client();
    for i in 0..2 {
        assert_eq!(get(&c, &format!("{}/h{i}", e.url())).await.0, 504);
    }
    // marked down: a miss fails in milliseconds, without reaching the upstream
    let seen = o.total_requests();
    let t = Instant::now();
    let (status, _, body) = get(&c, &format!("{}/h9", e.url())).await;
    assert_eq!(status, 502);
    assert!(String::from_utf8(body).unwrap().contains("marked down"));
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(o.total_requests(), seen);
    let m = metric(&c, &e, edge::metrics::UPSTREAM_BREAKER_STATE_NAME).await;
    assert_eq!(m, 2.0);
    // after the down period, one probe; it succeeds and the breaker closes
    o.fallback(Reply::ok("back"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(&c, &format!("{}/h10", e.url())).await.0, 200);
    assert_eq!(get(&c, &format!("{}/h11", e.url())).await.0, 200);
    assert_eq!(
        metric(&c, &e, edge::metrics::UPSTREAM_BREAKER_STATE_NAME).await,
        0.0
    );
}

#[tokio::test]
async fn rfc9111_3_1_fields_listed_in_connection_are_never_replayed() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/conn",
        reply(
            "c",
            &[
                ("cache-control", "max-age=100"),
                ("connection", "x-a, x-b"),
                ("x-a", "1"),
                ("x-b", "2"),
                ("x-c", "3"),
            ],
        ),
    );
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let url = format!("{}/conn", e.url());
    for expect in ["MISS", "HIT"] {
        let (_, xc, _, h) = send(&c, "GET", &url, &[]).await;
        assert_eq!(xc, expect);
        assert_eq!(h["x-c"], "3");
        assert!(h.get("x-a").is_none() && h.get("x-b").is_none(), "{h:?}");
    }
}

#[tokio::test]
async fn rfc9111_4_post_answer_with_its_own_content_location_serves_later_gets() {
    let o = ScriptedOrigin::start().await;
    o.script(
        "/form",
        reply(
            "posted",
            &[
                ("cache-control", "max-age=100"),
                ("content-location", "/form"),
            ],
        ),
    );
    o.script("/plain", reply("p", &[("cache-control", "max-age=100")]));
    let e = edge(o.addr(), |_| {}).await;
    let c = client();
    let form = format!("{}/form", e.url());
    let (status, _, body, _) = send(&c, "POST", &form, &[]).await;
    assert_eq!((status, body.as_str()), (200, "posted"));
    let (_, xc, body, _) = send(&c, "GET", &form, &[]).await;
    assert_eq!((xc.as_str(), body.as_str()), ("HIT", "posted"));
    assert_eq!(o.requests("/form"), 1);
    // without Content-Location, a POST answer is not a GET answer
    let plain = format!("{}/plain", e.url());
    send(&c, "POST", &plain, &[]).await;
    assert_eq!(send(&c, "GET", &plain, &[]).await.1, "MISS");
    assert_eq!(o.requests("/plain"), 2);
}
