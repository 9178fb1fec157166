//! The fill and its end (issue 12, item 1): a response that is not fresh serves the requests
//! that were waiting for it and no later one (RFC 9111 §4: a stored response is reused only
//! when fresh, §4.2 `max-age=0`, §5.2.2.4 `no-cache`, §5.3 an expired or invalid `Expires`);
//! a PURGE takes effect at once, right after a fill and during one.
//!
//! In real time against a [`ScriptedOrigin`] (each reply carries a distinct body, so which
//! fetch a client got is visible), on the edge's system clock.

use std::time::Duration;

use crate::common::*;

const PATH: &str = "/live/manifest.mpd";
const TOKEN: &str = "s3cret";

/// `200` with body `v{n}` and `headers`.
fn version(n: u32, headers: &[(&str, &str)]) -> Reply {
    headers
        .iter()
        .fold(Reply::ok(format!("v{n}")), |r, (k, v)| r.header(k, v))
}

/// Scripts `PATH` to answer `v1`, `v2`, ... with `headers`, and starts an edge with PURGE on.
async fn setup(headers: &[(&str, &str)]) -> (ScriptedOrigin, edge::RunningEdge, String) {
    let o = ScriptedOrigin::start().await;
    o.script_seq(PATH, (1..=5).map(|n| version(n, headers)).collect());
    let e = edge(o.addr(), |c| c.admin_token = Some(TOKEN.into())).await;
    let url = format!("{}{PATH}", e.url());
    (o, e, url)
}

/// A GET's body as text.
async fn body(c: &reqwest::Client, url: &str) -> String {
    String::from_utf8(get(c, url).await.2).unwrap()
}

/// One response fetched, then a request 10 ms after it completed: it must reach the origin
/// (a refetch or a revalidation), never get the finished fill replayed.
async fn not_replayed_after_fill(headers: &[(&str, &str)]) {
    let (o, _e, url) = setup(headers).await;
    let c = client();
    assert_eq!(body(&c, &url).await, "v1");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        body(&c, &url).await,
        "v2",
        "replayed after the fill ({headers:?})"
    );
    assert_eq!(o.requests(PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_2_max_age_0_not_replayed_after_fill() {
    not_replayed_after_fill(&[("cache-control", "max-age=0")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_2_2_4_no_cache_not_replayed_after_fill() {
    not_replayed_after_fill(&[("cache-control", "public, no-cache")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_3_expired_expires_not_replayed_after_fill() {
    not_replayed_after_fill(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_3_invalid_expires_not_replayed_after_fill() {
    // "an invalid date ... represents a time in the past (i.e., already expired)"
    not_replayed_after_fill(&[("expires", "0")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_requests_waiting_for_a_max_age_0_response_share_it() {
    // Requests that arrive while the response is on its way are waiting for it: one
    // upstream fetch serves them all, even though it is not fresh for anyone after.
    let o = ScriptedOrigin::start().await;
    o.script_seq(
        PATH,
        vec![
            version(1, &[("cache-control", "max-age=0")])
                .first_byte_after(Duration::from_millis(300)),
            version(2, &[("cache-control", "max-age=0")]),
        ],
    );
    let e = edge(o.addr(), |_| {}).await;
    let url = format!("{}{PATH}", e.url());
    let c = client();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { body(&c, &url).await })
        })
        .collect();
    for w in waiting {
        assert_eq!(w.await.unwrap(), "v1");
    }
    assert_eq!(o.requests(PATH), 1);
    assert_eq!(body(&c, &url).await, "v2");
}

/// `PURGE PATH` with the admin token; returns the status.
async fn purge(c: &reqwest::Client, e: &edge::RunningEdge) -> u16 {
    c.request(
        reqwest::Method::from_bytes(b"PURGE").unwrap(),
        format!("{}{PATH}", e.url()),
    )
    .bearer_auth(TOKEN)
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_right_after_a_fill_takes_effect() {
    let (o, e, url) = setup(&[("cache-control", "max-age=3600")]).await;
    let c = client();
    assert_eq!(body(&c, &url).await, "v1");
    assert_eq!(purge(&c, &e).await, 200);
    let (s, x_cache, b) = get(&c, &url).await;
    assert_eq!(
        (s, x_cache.as_str(), b.as_slice()),
        (200, "MISS", &b"v2"[..])
    );
    assert_eq!(get(&c, &url).await.1, "HIT");
    assert_eq!(o.requests(PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_during_a_fill_stores_nothing_and_later_requests_do_not_join_it() {
    let o = ScriptedOrigin::start().await;
    let cc = [("cache-control", "max-age=3600")];
    o.script_seq(
        PATH,
        vec![
            version(1, &cc).first_byte_after(Duration::from_millis(400)),
            version(2, &cc).first_byte_after(Duration::from_millis(100)),
            version(3, &cc),
        ],
    );
    let e = edge(o.addr(), |c| c.admin_token = Some(TOKEN.into())).await;
    let url = format!("{}{PATH}", e.url());
    let c = client();
    let before = {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move { body(&c, &url).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(purge(&c, &e).await, 200);
    // arrives after the PURGE while the purged fill still runs: a fetch of its own
    let after = {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move { body(&c, &url).await })
    };
    // the client that asked before the PURGE gets the answer it was waiting for
    assert_eq!(before.await.unwrap(), "v1");
    assert_eq!(after.await.unwrap(), "v2");
    // the purged fill stored nothing: what is stored is the fetch after the PURGE
    let (s, x_cache, b) = get(&c, &url).await;
    assert_eq!(
        (s, x_cache.as_str(), b.as_slice()),
        (200, "HIT", &b"v2"[..])
    );
    assert_eq!(o.requests(PATH), 2);
}
