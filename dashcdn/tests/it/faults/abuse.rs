//! Abusive clients while a well-behaved client is served.
//!
//! A real origin (the synthetic content), a `dashcdn edge` in front of it on 127.0.0.2 and a
//! redirector that knows the edge (its DNS on UDP and TCP). The test raises its own
//! descriptor soft limit to the hard one and opens [`IDLE`] (5,000) idle connections to the
//! edge — or, if the hard limit is too low, as many as it and the edge's default connection
//! limit allow (the edge inherits the raised limit; its limit is half of it less 64), which
//! the test prints. (With this machine's hard limit, 20,000, all 5,000.) Then, for `slowloris::WINDOW` (8 s), the well-behaved clients of
//! `slowloris.rs` fetch the manifest and segments (one keep-alive connection, one new
//! connection per request) while an abuser loops over:
//! * an oversized request head (a 64 KiB header; the edge's limit is 16 KiB) → `431`;
//! * an unsatisfiable `Range` → `416`;
//! * path escapes (`/../../etc/passwd`, `%2e%2e` and `%2f` forms, a NUL) → `400` or `404`;
//! * garbage on the redirector's DNS port: short and random datagrams over UDP, a framed
//!   random message and a truncated frame over TCP → `FORMERR` or nothing (a drop / close);
//!   and beside the rounds a flood of garbage datagrams (about one a millisecond) while a
//!   well-behaved resolver asks valid queries one at a time.
//!
//! Pass conditions: the good clients get every body whole; the keep-alive client's p99
//! latency stays under [`KEEPALIVE_P99`] and the new-connection client's under
//! [`FRESH_P99`], the resolver's under [`DNS_P99`] with every query answered; every abuse got one of its expected answers (none a `200`); the idle
//! connections were still open at the end (the edge did not shed them with room to spare);
//! DNS still answers a valid query afterwards; RSS of the origin, the edge and the
//! redirector within budget + overhead throughout, the edge's overhead raised by
//! [`PER_IDLE_CONNECTION`] per idle connection (a socket, a task and hyper's connection
//! state; no read buffer is held by a connection that has sent nothing).
//!
//! Slow senders (slowloris) at the descriptor limit, the `Host` rules and the accept
//! back-off are `slowloris.rs`'s; this test adds the idle crowd and the malformed requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use test_support::content::make_content;

use super::*;
use crate::common::*;
use crate::slowloris::{fetch_for, good_client, status_line};

/// Idle connections held against the edge (fewer if the hard descriptor limit is low).
const IDLE: usize = 5_000;
/// The keep-alive client's p99 latency bound.
const KEEPALIVE_P99: Duration = Duration::from_millis(500);
/// The new-connection client's p99 latency bound.
const FRESH_P99: Duration = Duration::from_millis(1000);
/// The well-behaved DNS client's p99 latency bound (while garbage floods the port).
const DNS_P99: Duration = Duration::from_millis(100);
/// The edge's allowance per idle connection on top of [`OVERHEAD`].
const PER_IDLE_CONNECTION: u64 = 8 << 10;

/// A DNS query for `name` type A, class IN, id `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

/// The outcome of one DNS exchange, as the tally names it: `rcode N` or `no answer`.
fn rcode(answer: Option<&[u8]>) -> String {
    match answer {
        Some(a) if a.len() >= 4 => format!("rcode {}", a[3] & 0x0f),
        Some(a) => format!("{} bytes", a.len()),
        None => "no answer".into(),
    }
}

async fn udp_exchange(dns: &str, packet: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(packet, dns).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(300), s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends `raw` over TCP to the DNS port; the answer's message (without its length), or
/// `None` when the server closed or said nothing within 2 s.
async fn tcp_exchange(dns: &str, raw: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(dns).await.unwrap();
    s.write_all(raw).await.ok()?;
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).await.ok()?;
    Some(msg)
}

/// Sends garbage datagrams of varied lengths (0–600 bytes) to the DNS port, one per
/// millisecond or so, without reading answers, until `stop`; returns how many were sent.
async fn dns_flood(dns: &str, stop: &std::sync::atomic::AtomicBool) -> u64 {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let junk = test_support::content::bytes_for(5, 600);
    let mut sent = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let len = (sent as usize * 37) % junk.len();
        if s.send_to(&junk[..len], dns).await.is_ok() {
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sent
}

/// A well-behaved resolver: valid `A` queries over UDP, one at a time, for `window`; an
/// answer that is not `NOERROR` with the query's id, or none within 300 ms, is an error.
async fn dns_client(dns: &str, window: Duration) -> crate::slowloris::Fetches {
    let mut out = crate::slowloris::Fetches::default();
    let end = Instant::now() + window;
    let mut id = 0u16;
    while Instant::now() < end {
        id = id.wrapping_add(1);
        let t = Instant::now();
        let got = udp_exchange(dns, &dns_query(id, "cdn.example.test")).await;
        out.latencies.push(t.elapsed());
        match got {
            Some(a) if a.len() >= 12 && a[..2] == id.to_be_bytes() && a[3] & 0x0f == 0 => {}
            other => out
                .errors
                .push(format!("query {id}: {}", rcode(other.as_deref()))),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    out
}

/// One round of every abuse; appends `(kind, outcome, expected)` to `tally`.
async fn abuse_round(
    edge: &str,
    dns: &str,
    round: u64,
    tally: &mut BTreeMap<(String, String), (u64, bool)>,
) {
    let mut note = |kind: &str, outcome: String, ok: bool| {
        tally.entry((kind.into(), outcome)).or_insert((0, ok)).0 += 1;
    };
    let big = "a".repeat(64 << 10);
    let line = status_line(
        edge,
        &format!("GET /default/manifest.mpd HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    note("oversized header", line.clone(), line.contains(" 431"));
    let line = status_line(
        edge,
        "GET /default/v144/3.m4s HTTP/1.1\r\nHost: x\r\nRange: bytes=900000000-\r\nConnection: close\r\n\r\n",
    )
    .await;
    note("unsatisfiable Range", line.clone(), line.contains(" 416"));
    for path in [
        "/../../etc/passwd",
        "/default/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/default/..%2f..%2fetc%2fpasswd",
        "/default/%00/manifest.mpd",
    ] {
        let line = status_line(
            edge,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let ok = line.contains(" 404") || line.contains(" 400");
        note("path escape", line, ok);
    }
    // DNS garbage: a short datagram, random bytes, a header claiming a question it lacks.
    let random = test_support::content::bytes_for(round + 7, 200);
    let mut claims = dns_query(round as u16, "cdn.example.test");
    claims.truncate(14);
    for (kind, packet) in [
        ("dns udp: 3 bytes", vec![1u8, 2, 3]),
        ("dns udp: random 200 bytes", random.clone()),
        ("dns udp: truncated question", claims),
    ] {
        let got = udp_exchange(dns, &packet).await;
        let r = rcode(got.as_deref());
        let ok = r == "no answer" || r == "rcode 1";
        note(kind, r, ok);
    }
    let mut framed = (random.len() as u16).to_be_bytes().to_vec();
    framed.extend(&random);
    let got = tcp_exchange(dns, &framed).await;
    let r = rcode(got.as_deref());
    let ok = r == "no answer" || r == "rcode 1";
    note("dns tcp: random message", r, ok);
    let got = tcp_exchange(dns, &[0x10, 0x00, 0xde, 0xad]).await; // promises 4 KiB, sends 2
    let r = rcode(got.as_deref());
    note("dns tcp: truncated frame", r.clone(), r == "no answer");
}

#[test]
fn abusive_clients_while_a_good_client_is_served() {
    let _turn = one_at_a_time();
    // and not beside slowloris.rs's attacks (thousands of sockets each, two cores)
    let _no_slowloris = crate::slowloris::SERIAL.blocking_lock();
    let soft = serve::limits::raise_nofile_soft_limit().unwrap();
    // The edge inherits the limit; its default connection limit is half of what is left
    // after 64, and the idle crowd must fit under it (100 to spare for the good clients).
    let edge_limit = (soft as usize).saturating_sub(64) / 2;
    let idle = IDLE
        .min((soft as usize).saturating_sub(1000))
        .min(edge_limit.saturating_sub(100));
    if idle < IDLE {
        println!(
            "fault abuse: hard descriptor limit {soft} (edge connection limit {edge_limit}): \
             {idle} idle connections, not {IDLE}"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rss = rss_sampler();
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(&dir.path().join("content"));
    let (origin, origin_url) = start_origin(&root);
    rss.watch("origin", origin.id(), ORIGIN_BUDGET, OVERHEAD);
    let (edge, edge_url) = start_edge(&origin_url, "127.0.0.2:0", "edge", EDGE_MEM);
    rss.watch(
        "edge",
        edge.id(),
        edge_budget(),
        OVERHEAD + idle as u64 * PER_IDLE_CONNECTION,
    );
    let topo = format!(
        "default_location = \"here\"\n[health]\ninterval_ms = 500\nrise = 1\n\
         [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"127.0.0.0/8\"]\n\
         [[edges]]\nid = \"edge\"\nurl = \"{edge_url}\"\naddress = \"127.0.0.2\"\nlat = 50.1\nlon = 8.1\n"
    );
    let redirector = start_redirector(&write_topology(dir.path(), &topo));
    rss.watch(
        "redirector",
        redirector.proc.id(),
        REDIRECTOR_BUDGET,
        OVERHEAD,
    );
    let dns = redirector.dns();
    rt.block_on(async {
        let addr = edge_url.trim_start_matches("http://").to_owned();
        let t0 = Instant::now();
        let mut held = Vec::with_capacity(idle);
        for _ in 0..idle {
            held.push(TcpStream::connect(&addr).await.unwrap());
        }
        let opened = t0.elapsed();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let abuser = {
            let (edge_url, dns, stop) = (edge_url.clone(), dns.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tally = BTreeMap::new();
                let mut round = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    abuse_round(&edge_url, &dns, round, &mut tally).await;
                    round += 1;
                }
                (round, tally)
            })
        };
        let flood = {
            let (dns, stop) = (dns.clone(), stop.clone());
            tokio::spawn(async move { dns_flood(&dns, &stop).await })
        };
        let (keep, fresh, resolver) = tokio::join!(
            fetch_for(good_client(true), edge_url.clone(), &root),
            fetch_for(good_client(false), edge_url.clone(), &root),
            dns_client(&dns, crate::slowloris::WINDOW),
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (rounds, tally) = abuser.await.unwrap();
        let flooded = flood.await.unwrap();
        // Idle connections still open: a read would block (not EOF, not reset).
        let mut buf = [0u8; 16];
        let closed = held
            .iter()
            .filter(|s| !matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
            .count();
        let valid = udp_exchange(&dns, &dns_query(4242, "cdn.example.test")).await;
        let tally_text = tally
            .iter()
            .map(|((k, o), (n, ok))| format!("    {k}: {o:?} x{n}{}", if *ok { "" } else { "  <-- UNEXPECTED" }))
            .collect::<Vec<_>>()
            .join("\n");
        let figures = format!(
            "{idle} idle connections opened in {opened:?}, {closed} closed by the end; {rounds} abuse rounds, {flooded} garbage datagrams flooded:\n{tally_text}\n  {}\n  {}\n  {}\n  valid DNS query afterwards: {}",
            keep.report("keep-alive client"),
            fresh.report("new connection per request"),
            resolver.report("DNS client (UDP, one query at a time)"),
            rcode(valid.as_deref()),
        );
        println!("fault abuse: {figures}");
        for f in [&keep, &fresh] {
            assert!(f.errors.is_empty(), "{figures}\nerrors: {:?}", &f.errors[..f.errors.len().min(5)]);
            assert!(f.latencies.len() >= 20, "{figures}");
        }
        assert!(resolver.errors.is_empty(), "{figures}\nDNS errors: {:?}", &resolver.errors[..resolver.errors.len().min(5)]);
        assert!(resolver.latencies.len() >= 20, "{figures}");
        assert!(resolver.percentile(0.99) < DNS_P99, "{figures}");
        assert!(keep.percentile(0.99) < KEEPALIVE_P99, "{figures}");
        assert!(fresh.percentile(0.99) < FRESH_P99, "{figures}");
        assert!(rounds > 0 && tally.values().all(|(_, ok)| *ok), "{figures}");
        assert_eq!(closed, 0, "{figures}");
        assert_eq!(rcode(valid.as_deref()), "rcode 0", "{figures}");
        drop(held);
    });
    println!("{}", rss.assert_within("abuse"));
}
