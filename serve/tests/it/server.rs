//! The server handle on real sockets: stalled connections are closed after the
//! (shortened) timeouts and leave the open-connections gauge, well-behaved clients are not
//! cut, and `stop(grace)` drains in-flight requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::gauge::Gauge;
use serve::{Server, ServerOptions, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER: Duration = Duration::from_millis(400);
const IDLE: Duration = Duration::from_millis(1200);
const SLOW: Duration = Duration::from_millis(1500);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "slow"
            }),
        )
        .route(
            "/peer",
            get(|axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                peer.to_string()
            }),
        )
}

async fn start() -> (Server, Gauge) {
    let gauge = Gauge::default();
    let server = serve::bind(
        "127.0.0.1:0".parse().unwrap(),
        app(),
        ServerOptions {
            open_connections: gauge.clone(),
            timeouts: Timeouts {
                header_read: Some(HEADER),
                idle: Some(IDLE),
            },
            max_connections: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (server, gauge)
}

/// Reads until the peer closes; returns everything read and when the close was seen.
async fn read_to_close(s: &mut TcpStream) -> (String, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&out).into(), Instant::now())
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after 10 s"),
        }
    }
}

async fn gauge_settles(gauge: &Gauge, want: i64) {
    for _ in 0..100 {
        if gauge.get() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gauge.get(), want, "open-connections gauge");
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed() {
    let (server, gauge) = start().await;
    let addr = server.local_addr();

    // A keep-alive connection that served one request, then sits idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // A connection that never sends a byte.
    let silent = TcpStream::connect(addr).await.unwrap();
    // A connection that sends half a request head (slowloris).
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    gauge_settles(&gauge, 3).await;

    let (text, closed) = read_to_close(&mut half).await;
    assert_eq!(text, "", "no response to a half-sent head");
    let waited = closed - sent;
    assert!(
        waited >= HEADER - Duration::from_millis(50) && waited < IDLE,
        "half-sent head closed after {waited:?}"
    );

    let (text, closed) = read_to_close(&mut idle).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
    let waited = closed - sent;
    assert!(
        waited >= IDLE - Duration::from_millis(50),
        "idle connection closed after {waited:?}"
    );

    let mut silent = silent;
    let (text, closed) = read_to_close(&mut silent).await;
    assert_eq!(text, "");
    assert!(closed - sent >= IDLE - Duration::from_millis(50));

    gauge_settles(&gauge, 0).await;
    server.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn well_behaved_clients_are_not_cut() {
    let (server, gauge) = start().await;
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    // A handler slower than both timeouts: the request is in flight, never timed out.
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.ends_with("slow"),
        "{text}"
    );
    // Requests spaced by less than the idle timeout keep the connection, for longer than
    // either timeout in total; the peer address reaches handlers.
    for _ in 0..4 {
        tokio::time::sleep(IDLE / 2).await;
        s.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.ends_with(&s.local_addr().unwrap().to_string()),
            "{text}"
        );
    }
    assert_eq!(gauge.get(), 1);
    drop(s);
    gauge_settles(&gauge, 0).await;
    server.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn stop_drains_in_flight_requests_then_closes() {
    let (server, gauge) = start().await;
    let url = format!("http://{}", server.local_addr());
    let slow = tokio::spawn({
        let url = url.clone();
        async move {
            let mut s = TcpStream::connect(url.trim_start_matches("http://"))
                .await
                .unwrap();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .unwrap();
            read_to_close(&mut s).await.0
        }
    });
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = TcpStream::connect(server.local_addr()).await.unwrap();
    gauge_settles(&gauge, 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.stop(Duration::from_secs(5)).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    let text = slow.await.unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.ends_with("slow"),
        "{text}"
    );
    assert_eq!(read_to_close(&mut idle).await.0, "");
    gauge_settles(&gauge, 0).await;
    assert!(TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .is_err());

    // A grace shorter than the request: the connection is closed at the end of it.
    let (server, gauge) = start().await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    gauge_settles(&gauge, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    server.stop(Duration::from_millis(100)).await.unwrap();
    assert!(started.elapsed() < SLOW);
    assert_eq!(read_to_close(&mut s).await.0, "");
    gauge_settles(&gauge, 0).await;
}
