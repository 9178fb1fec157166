//! Low-latency live through the CDN (issue 14): `dashcdn live` (real ffmpeg, real time)
//! pushes chunked CMAF into `dashcdn origin --ingest`, read through a `dashcdn edge`.
//! - The MPD (read through the edge) validates against the DASH schema and carries the
//!   low-latency fields: `availabilityTimeOffset`, `availabilityTimeComplete="false"`,
//!   `ServiceDescription` `Latency` target/min/max and `PlaybackRate`.
//! - A segment still being encoded reaches N concurrent readers through the edge chunk by
//!   chunk (the first bytes long before the segment is complete), every reader the same
//!   bytes as the origin's, with ONE upstream request; the edge's added delay per chunk
//!   (origin reader's receive → edge reader's receive of the same byte) is measured.
//! - An aborted growing upload (raw socket) cuts the edge's readers and is never cached
//!   as complete.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use test_support::process::Process;
use tokio::io::AsyncWriteExt;

use crate::common::{start, start_edge, BIN};

const TOKEN: &str = "lowlatency-test-token-0123456789";

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn start_ingest_origin(dir: &Path) -> (Process, String) {
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).unwrap();
    start(&[
        "origin",
        "--content",
        content.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--ingest-token-file",
        token.to_str().unwrap(),
    ])
}

/// A counter's value in a Prometheus text exposition (sum over its label sets).
async fn counter(client: &reqwest::Client, url: &str, name: &str) -> f64 {
    let text = client.get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads `url` to its end: (seconds since `t0`, bytes so far) at every read, the body,
/// and whether it ended cleanly.
async fn timed_get(
    client: reqwest::Client,
    url: String,
    t0: Instant,
) -> (Vec<(f64, usize)>, Vec<u8>, bool) {
    let mut res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    let mut events = Vec::new();
    let mut body = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(c)) => {
                body.extend_from_slice(&c);
                events.push((t0.elapsed().as_secs_f64(), body.len()));
            }
            Ok(None) => return (events, body, true),
            Err(_) => return (events, body, false),
        }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_encoder_chunks_reach_edge_readers_as_they_are_encoded() {
    const READERS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let (_origin, origin_url) = start_ingest_origin(dir.path());
    let (_edge, edge_url) = start_edge(&origin_url, "127.0.0.1:0", "edge-ll", "64MiB");
    let token = dir.path().join("token");
    let mut live = Process::spawn(Command::new(BIN).args([
        "live",
        "--origin",
        &origin_url,
        "--token-file",
        token.to_str().unwrap(),
        "--duration",
        "40",
    ]))
    .unwrap();
    let client = reqwest::Client::new();

    // `publishing URL` is the encoder's word that the origin has the MPD (`up --live` waits
    // for it): from that line on, the MPD answers through the edge at the first request.
    let (published, before) = live
        .wait_for_line(Duration::from_secs(20), "`publishing URL` line", |l| {
            l.strip_prefix("publishing ").map(str::to_owned)
        })
        .unwrap();
    assert_eq!(published, format!("{origin_url}/ingest/live/manifest.mpd"));
    assert!(
        before.iter().any(|l| l.starts_with("encoding;")),
        "{before:?}"
    );
    let mpd_url = format!("{edge_url}/ingest/live/manifest.mpd");
    let r = client.get(&mpd_url).send().await.unwrap();
    assert_eq!(r.status(), 200, "the MPD right after `publishing`");
    let mpd = r.text().await.unwrap();
    manifests::schema::validate_xml_with_xmllint(&mpd)
        .unwrap_or_else(|e| panic!("the live MPD does not validate: {e}\n{mpd}"));
    for want in [
        r#"type="dynamic""#,
        r#"availabilityTimeOffset="1.500""#,
        r#"availabilityTimeComplete="false""#,
        r#"<Latency min="500" max="3000" target="1500""#,
        r#"<PlaybackRate min="0.96" max="1.04"/>"#,
        r#"<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014""#,
    ] {
        assert!(mpd.contains(want), "{want} missing:\n{mpd}");
    }
    let ast = mpd
        .split("availabilityStartTime=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let ast = httpdate_iso(ast);
    // availabilityStartTime is the first frame's capture time (not ffmpeg's first-mux time).
    let log = live.stderr();
    let captured = log
        .split("capture_ms=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no capture time logged: {log}"));
    assert!(
        (captured / 1000.0 - ast).abs() < 0.0015,
        "availabilityStartTime {ast} is not the capture time {captured} ms"
    );

    // The next segment of the top rung: readers start as its first chunk is uploaded.
    let upstream = format!("{edge_url}/metrics");
    let mut n = ((now_s() - ast) / 2.0).floor() as u64 + 2;
    let seg_start = ast + (n - 1) as f64 * 2.0;
    if seg_start - now_s() < 0.3 {
        n += 1;
    }
    let seg_start = ast + (n - 1) as f64 * 2.0;
    let path = format!("/ingest/live/stream0/{n:05}.m4s");
    // Wait until the segment's first chunk is being uploaded (0.55 s into it).
    tokio::time::sleep(Duration::from_secs_f64(
        (seg_start + 0.55 - now_s()).max(0.0),
    ))
    .await;
    let before = counter(&client, &upstream, "dashcdn_edge_upstream_requests_total").await;
    let t0 = Instant::now();
    let started_at = now_s();
    let direct = tokio::spawn(timed_get(client.clone(), format!("{origin_url}{path}"), t0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            // One connection per reader, as N players.
            let c = reqwest::Client::new();
            tokio::spawn(timed_get(c, format!("{edge_url}{path}"), t0))
        })
        .collect();
    let (o_events, o_body, o_clean) = direct.await.unwrap();
    let mut results = Vec::new();
    for r in readers {
        results.push(r.await.unwrap());
    }
    let after = counter(&client, &upstream, "dashcdn_edge_upstream_requests_total").await;
    assert!(o_clean, "the origin's response ended cleanly");
    assert!(
        o_body.len() > 10_000,
        "a real segment: {} bytes",
        o_body.len()
    );
    // Chunked: the origin reader had bytes well before the segment was complete.
    let first = o_events[0].0;
    let last = o_events.last().unwrap().0;
    assert!(
        last - first > 0.8,
        "the segment arrived over {:.2} s: not chunk by chunk ({o_events:?})",
        last - first
    );
    let mut delays = Vec::new();
    for (i, (events, body, clean)) in results.iter().enumerate() {
        assert!(clean, "edge reader {i} ended with an error");
        assert_eq!(body, &o_body, "edge reader {i}: same bytes as the origin");
        assert!(
            events[0].0 < last - 0.8,
            "edge reader {i}: first bytes at {:.2} s, the origin's last at {last:.2} s",
            events[0].0
        );
        // Per origin read: when did this edge reader have the same number of bytes?
        for &(t_o, len) in &o_events {
            let t_e = events.iter().find(|&&(_, l)| l >= len).unwrap().0;
            delays.push((t_e - t_o) * 1000.0);
        }
    }
    assert_eq!(
        after - before,
        1.0,
        "{READERS} readers of one growing segment: one upstream request"
    );
    let (p50, p95, max) = (
        percentile(&mut delays, 0.5),
        percentile(&mut delays, 0.95),
        percentile(&mut delays, 1.0),
    );
    eprintln!(
        "segment {n}: {} bytes in {} origin reads over {:.2} s (joined {:.2} s into it); \
         {READERS} edge readers, 1 upstream request; edge-added delay per chunk: \
         p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms",
        o_body.len(),
        o_events.len(),
        last - first,
        started_at - seg_start
    );
    assert!(p95 < 250.0, "edge adds {p95:.1} ms (p95) per chunk");
    drop(live);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` → Unix seconds (manifests' `xs:dateTime`).
fn httpdate_iso(s: &str) -> f64 {
    let t: manifests::DateTime = s.parse().unwrap();
    t.unix_millis() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_growing_upload_is_cut_at_the_edge_and_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (_origin, origin_url) = start_ingest_origin(dir.path());
    let (_edge, edge_url) = start_edge(&origin_url, "127.0.0.1:0", "edge-ll2", "64MiB");
    let client = reqwest::Client::new();
    let path = "/ingest/s/v/00009.m4s";
    let addr = origin_url.trim_start_matches("http://");
    let mut up = tokio::net::TcpStream::connect(addr).await.unwrap();
    up.write_all(
        format!(
            "PUT {path} HTTP/1.1\r\nHost: o\r\nAuthorization: Bearer {TOKEN}\r\n\
             Transfer-Encoding: chunked\r\n\r\n800\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    up.write_all(&[5u8; 0x800]).await.unwrap();
    up.write_all(b"\r\n").await.unwrap();
    // Wait until the origin relays it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while client
        .get(format!("{origin_url}{path}"))
        .send()
        .await
        .unwrap()
        .status()
        == 404
    {
        assert!(
            Instant::now() < deadline,
            "the origin never relayed the upload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    let reader = tokio::spawn(timed_get(client.clone(), format!("{edge_url}{path}"), t0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(up); // the encoder dies mid-segment
    let (events, body, clean) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the edge reader hears of the abort")
        .unwrap();
    assert!(
        !events.is_empty() && body.len() == 0x800,
        "got the first chunk: {events:?}"
    );
    assert!(!clean, "an aborted upload must not end cleanly at the edge");
    // Never cached as complete: the next request goes upstream and finds nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = client
        .get(format!("{edge_url}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404, "{:?}", again.headers());
}
