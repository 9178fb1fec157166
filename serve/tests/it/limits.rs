//! The connection limit and the `Host` rule on a real socket: at the limit a stalled
//! connection makes room for a new one (never-served ones first, a request in flight is
//! never cut), and when every connection is busy the newcomer waits for one to end;
//! `400` for an HTTP/1.1 request without `Host` or any request with two (RFC 9112 §3.2).

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::gauge::Gauge;
use serve::{Server, ServerOptions, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW: Duration = Duration::from_millis(800);

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(SLOW).await;
            "slow"
        }),
    )
}

async fn start(max: usize) -> (Server, Gauge) {
    let gauge = Gauge::default();
    let server = serve::bind(
        "127.0.0.1:0".parse().unwrap(),
        app(),
        ServerOptions {
            open_connections: gauge.clone(),
            timeouts: Timeouts::default(),
            max_connections: Some(max),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (server, gauge)
}

async fn gauge_settles(gauge: &Gauge, want: i64) {
    for _ in 0..200 {
        if gauge.get() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gauge.get(), want, "open-connections gauge");
}

/// Sends one request on `s` and reads one response (small bodies: one read is enough
/// on loopback, but read until the body is there).
async fn request(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("a response within 10 s")
            .unwrap();
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if n == 0 || text.ends_with("ok") || text.ends_with("slow") {
            return text.into_owned();
        }
    }
}

/// Whether the server closed `s` (within 2 s).
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn at_the_limit_a_never_served_stalled_connection_makes_room() {
    let (server, gauge) = start(4).await;
    let addr = server.local_addr();
    // The oldest connection has been served and is now idle: kept over the others.
    let mut served = TcpStream::connect(addr).await.unwrap();
    assert!(request(&mut served, "/").await.ends_with("ok"));
    let mut silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _newer = TcpStream::connect(addr).await.unwrap();
    gauge_settles(&gauge, 4).await;

    // A fifth client is served at once, in place of the oldest never-served one.
    let started = Instant::now();
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    assert!(request(&mut fifth, "/").await.ends_with("ok"));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        closed(&mut silent).await,
        "the oldest never-served connection"
    );
    // Then the half-sent head goes for a sixth; the served connection still works.
    let mut sixth = TcpStream::connect(addr).await.unwrap();
    assert!(request(&mut sixth, "/").await.ends_with("ok"));
    assert!(closed(&mut half).await, "the next never-served connection");
    assert!(request(&mut served, "/").await.ends_with("ok"));
    gauge_settles(&gauge, 4).await;
    server.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn at_the_limit_with_every_connection_busy_a_newcomer_waits_and_nothing_is_cut() {
    let (server, gauge) = start(2).await;
    let addr = server.local_addr();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                request(&mut s, "/slow").await
            })
        })
        .collect();
    gauge_settles(&gauge, 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut third = TcpStream::connect(addr).await.unwrap(); // in the listen backlog
    let text = request(&mut third, "/").await;
    let waited = started.elapsed();
    assert!(text.ends_with("ok"), "{text}");
    assert!(
        waited >= SLOW / 2,
        "served after {waited:?}, before a slot was free"
    );
    for b in busy {
        let text = b.await.unwrap();
        assert!(
            text.ends_with("slow"),
            "a request in flight was cut: {text}"
        );
    }
    server.stop(Duration::from_secs(1)).await.unwrap();
}

/// Sends `raw` and returns the whole answer (the server closes after a `400`).
async fn exchange(server: &Server, raw: &str) -> String {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn rfc9112_3_2_host_missing_or_repeated_is_400() {
    let (server, _) = start(16).await;
    let missing = exchange(&server, "GET / HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    assert!(missing.contains("Host"), "{missing}");
    let two = exchange(&server, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").await;
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let invalid = exchange(&server, "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n").await;
    assert!(invalid.starts_with("HTTP/1.1 400"), "{invalid}");
    // HTTP/1.0 predates Host: served.
    let old = exchange(&server, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        old.starts_with("HTTP/1.0 200") && old.ends_with("ok"),
        "{old}"
    );
    let ok = exchange(
        &server,
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("ok"), "{ok}");
    server.stop(Duration::from_secs(1)).await.unwrap();
}
