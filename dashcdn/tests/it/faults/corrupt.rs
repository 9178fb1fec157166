//! Corrupt or truncated upstream bodies behind a real `dashcdn edge`: never cached as
//! complete.
//!
//! The upstream is a raw TCP responder in this file rather than test-support's
//! [`ScriptedOrigin`](test_support::scripted::ScriptedOrigin): hyper, under the scripted
//! origin, only ever writes well-formed chunked encoding, and a broken chunk is the point of
//! one case here. Per path it writes fixed bytes and closes:
//! * `/truncated.m4s`: `Content-Length: 100000`, 40,000 bytes, close;
//! * `/cut.m4s`: chunked, one 40,000-byte chunk, close without the last chunk;
//! * `/badchunk.m4s`: chunked, one 40,000-byte chunk, then a chunk-size line that is not hex;
//! * `/whole.m4s` (the control): 100,000 bytes with their `Content-Length`.
//!
//! All say `Cache-Control: max-age=3600`.
//!
//! Pass conditions, for each broken path: the client's GET through the edge ends in an error
//! or a non-`200` status — never a `200` whose body ends cleanly; then the next GET is again
//! `X-Cache: MISS` and reaches the upstream again (nothing was stored). The control is
//! stored (`HIT`, one upstream request), so the check can tell a stored object from one that
//! was not. The edge's RSS within its budget + overhead throughout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::common::*;

const FULL: usize = 100_000;
const SENT: usize = 40_000;

/// The bytes answered for `path` (the response head and whatever body there is).
fn answer(path: &str) -> Vec<u8> {
    let cc = "Cache-Control: max-age=3600\r\nContent-Type: video/iso.segment\r\n";
    let part = vec![b'x'; SENT];
    let mut out = Vec::new();
    match path {
        "/truncated.m4s" => {
            out.extend(format!("HTTP/1.1 200 OK\r\n{cc}Content-Length: {FULL}\r\n\r\n").bytes());
            out.extend(&part);
        }
        "/cut.m4s" | "/badchunk.m4s" => {
            out.extend(
                format!("HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: chunked\r\n\r\n").bytes(),
            );
            out.extend(format!("{SENT:x}\r\n").bytes());
            out.extend(&part);
            out.extend(b"\r\n");
            if path == "/badchunk.m4s" {
                out.extend(b"ZZ-not-hex\r\nmore bytes\r\n");
            }
        }
        "/whole.m4s" => {
            out.extend(format!("HTTP/1.1 200 OK\r\n{cc}Content-Length: {FULL}\r\n\r\n").bytes());
            out.extend(vec![b'y'; FULL]);
        }
        _ => out.extend(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    }
    out
}

/// Starts the raw upstream; returns its address and the requests it got per path.
async fn raw_upstream() -> (SocketAddr, Arc<Mutex<HashMap<String, u64>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let seen = Arc::clone(&counts);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
                let _ = s.write_all(&answer(&path)).await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // dropped: closed, whatever the head promised
            });
        }
    });
    (addr, counts)
}

/// GET through the edge: `Ok((status, X-Cache, bytes))` when the body ended cleanly,
/// `Err(what failed)` otherwise.
async fn fetch(c: &reqwest::Client, url: &str) -> Result<(u16, String, usize), String> {
    let r = c.get(url).send().await.map_err(|e| format!("send: {e}"))?;
    let status = r.status().as_u16();
    let xc = r
        .headers()
        .get("x-cache")
        .map_or_else(String::new, |v| v.to_str().unwrap().to_owned());
    let body = r
        .bytes()
        .await
        .map_err(|e| format!("{status} {xc}, body: {e}"))?;
    Ok((status, xc, body.len()))
}

#[test]
fn truncated_cut_and_broken_chunked_bodies_are_never_cached_as_complete() {
    let _turn = one_at_a_time();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rss = rss_sampler();
        let (up, counts) = raw_upstream().await;
        let (edge, edge_url) = start(&[
            "edge",
            "--upstream",
            &format!("http://{up}"),
            "--listen",
            "127.0.0.2:0",
            "--mem",
            EDGE_MEM,
            "--prefetch",
            "0",
        ]);
        rss.watch("edge", edge.id(), edge_budget(), OVERHEAD);
        let c = test_support::http::client();
        let count = |p: &str| counts.lock().unwrap().get(p).copied().unwrap_or(0);
        let mut lines = Vec::new();
        for path in ["/truncated.m4s", "/cut.m4s", "/badchunk.m4s"] {
            let url = format!("{edge_url}{path}");
            let first = fetch(&c, &url).await;
            let upstream_after_first = count(path);
            // a store, if the edge wrongly made one, lands just after the body
            tokio::time::sleep(Duration::from_millis(300)).await;
            let second = fetch(&c, &url).await;
            let line = format!(
                "{path}: first {first:?}, second {second:?}, upstream requests {upstream_after_first} then {}",
                count(path)
            );
            println!("fault corrupt: {line}");
            for got in [&first, &second] {
                assert!(
                    !matches!(got, Ok((200, _, _))),
                    "a clean 200 from a broken upstream body: {line}"
                );
            }
            let second_xc = match &second {
                Ok((_, xc, _)) => xc.clone(),
                Err(e) => e.clone(),
            };
            assert!(
                second_xc.contains("MISS") || second_xc.starts_with("send"),
                "the second request was not a miss: {line}"
            );
            assert!(
                count(path) > upstream_after_first,
                "the second request did not reach the upstream: {line}"
            );
            lines.push(line);
        }
        // The control is stored: the check above can see a stored object.
        let url = format!("{edge_url}/whole.m4s");
        assert_eq!(fetch(&c, &url).await, Ok((200, "MISS".into(), FULL)));
        test_support::http::warm(&c, &url).await;
        assert_eq!(count("/whole.m4s"), 1, "{lines:?}");
        println!("{}", rss.assert_within("corrupt"));
    });
}
