//! End-to-end routing: three real origin servers on 127.0.0.1-3 act as edges at
//! different coordinates; clients in three documentation subnets are simulated with
//! `X-Forwarded-For` (HTTP, 127.0.0.1 is a trusted proxy) and ECS (`dig +subnet`).

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use redirector::{RedirectorConfig, RunningRedirector};
use test_support::origin::{OriginConfig, RunningOrigin};
use test_support::Patience;

const MPD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT2S">
  <Period id="0">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number$.m4s" startNumber="1" duration="2" timescale="1"/>
      <Representation id="v1" bandwidth="100000" codecs="avc1.42c01e" width="320" height="180"/>
    </AdaptationSet>
  </Period>
</MPD>
"#;

/// A real origin (from test-support: the redirector does not depend on the origin crate)
/// standing in for an edge on `ip:port`, with the origin's default configuration.
async fn start_edge(ip: &str, port: u16, root: &Path) -> RunningOrigin {
    let listen = format!("{ip}:{port}").parse().unwrap();
    test_support::origin::start_at(root, listen, |c| {
        c.hot_cache_bytes = OriginConfig::default().hot_cache_bytes
    })
    .await
}

fn topology(edges: &[SocketAddr]) -> String {
    format!(
        r#"
default_location = "eu"
trusted_proxies = ["127.0.0.0/8"]
cdn_name = "cdn.example.test"

[health]
interval_ms = 250
timeout_ms = 250
fall = 2
rise = 2

[steering]
ttl = 1

[dns]
ttl = 5
ns_addresses = ["127.0.0.1"]

[[edges]]
id = "paris"
url = "http://{}"
address = "127.0.0.1"
lat = 48.85
lon = 2.35

[[edges]]
id = "nyc"
url = "http://{}"
addresses = ["127.0.0.2", "::2"]
lat = 40.71
lon = -74.0

[[edges]]
id = "tokyo"
url = "http://{}"
address = "127.0.0.3"
lat = 35.68
lon = 139.69

[[locations]]
name = "eu"
lat = 50.11
lon = 8.68
networks = ["192.0.2.0/24"]

[[locations]]
name = "us"
lat = 38.9
lon = -77.03
networks = ["198.51.100.0/24", "2001:db8:1::/48"]

[[locations]]
name = "asia"
lat = 34.69
lon = 135.5
networks = ["203.0.113.0/24"]
"#,
        edges[0], edges[1], edges[2]
    )
}

struct World {
    _dir: tempfile::TempDir,
    content: std::path::PathBuf,
    topo_path: std::path::PathBuf,
    edges: Vec<Option<RunningOrigin>>,
    addrs: Vec<SocketAddr>,
    r: RunningRedirector,
    http: reqwest::Client,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        std::fs::create_dir_all(content.join("default")).unwrap();
        std::fs::write(content.join("default/manifest.mpd"), MPD).unwrap();
        let mut edges = Vec::new();
        let mut addrs = Vec::new();
        for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            let e = start_edge(ip, 0, &content).await;
            addrs.push(e.local_addr());
            edges.push(Some(e));
        }
        let topo_path = dir.path().join("topology.toml");
        std::fs::write(&topo_path, topology(&addrs)).unwrap();
        let mut cfg = RedirectorConfig::new(&topo_path);
        cfg.dns = Some("127.0.0.1:0".parse().unwrap());
        cfg.http = Some("127.0.0.1:0".parse().unwrap());
        cfg.reload_on_sighup = false;
        cfg.watch_interval = Some(Duration::from_millis(200));
        let r = redirector::bind(cfg).await.unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let w = World {
            _dir: dir,
            content,
            topo_path,
            edges,
            addrs,
            r,
            http,
        };
        w.wait_all_up().await;
        w
    }

    async fn wait_all_up(&self) {
        Patience::new(Duration::from_secs(5))
            .every(Duration::from_millis(50))
            .until(|| async {
                let s = self.r.shared().snapshot();
                s.health.iter().all(|h| h.is_up())
            })
            .await
            .unwrap_or_else(|e| panic!("edges never came up: {e}"));
    }

    fn base(&self) -> String {
        format!("http://{}", self.r.http_addr().unwrap())
    }

    /// The `Location` of a redirect for `path` from client `ip`.
    async fn redirect(&self, ip: &str, path: &str) -> String {
        let res = self
            .http
            .get(format!("{}{}", self.base(), path))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.headers()["location"].to_str().unwrap().to_string()
    }

    fn edge_of(&self, location: &str) -> usize {
        self.addrs
            .iter()
            .position(|a| location.starts_with(&format!("http://{a}/")))
            .unwrap_or_else(|| panic!("{location} is no edge"))
    }

    fn dig(&self, args: &[&str]) -> String {
        dig(self.r.dns_addr().unwrap(), args)
    }
}

fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("`dig` is missing: apt-get install -y bind9-dnsutils");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dig_short(w: &World, subnet: &str, qtype: &str) -> String {
    // +nocookie: ECS is the only EDNS option, so the server's fast path answers.
    w.dig(&[
        "+short",
        "+nocookie",
        &format!("+subnet={subnet}"),
        "cdn.example.test",
        qtype,
    ])
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_edge_by_http_and_dns_then_failover_and_back() {
    let mut w = World::new().await;
    let clients = [
        ("192.0.2.10", 0usize),
        ("198.51.100.10", 1),
        ("203.0.113.10", 2),
    ];
    // HTTP: each client gets its nearest edge; the path is kept byte for byte.
    for (ip, want) in clients {
        let loc = w.redirect(ip, "/default/v1/1.m4s?token=a%2Fb&x=1").await;
        assert_eq!(w.edge_of(&loc), want, "{ip} -> {loc}");
        assert!(loc.ends_with("/default/v1/1.m4s?token=a%2Fb&x=1"), "{loc}");
    }
    let odd = w.redirect("192.0.2.10", "/a%20b/%C3%A9//x.m4s").await;
    assert!(odd.ends_with("/a%20b/%C3%A9//x.m4s"), "{odd}");
    // DNS with ECS: same answers; the scope is echoed.
    for (subnet, want) in [
        ("192.0.2.0/24", "127.0.0.1"),
        ("198.51.100.0/24", "127.0.0.2"),
        ("203.0.113.0/24", "127.0.0.3"),
    ] {
        assert_eq!(dig_short(&w, subnet, "A"), want, "{subnet}");
    }
    assert_eq!(dig_short(&w, "2001:db8:1::/48", "AAAA"), "::2");
    let full = w.dig(&["+subnet=198.51.100.0/24", "cdn.example.test", "A"]);
    assert!(full.contains("CLIENT-SUBNET: 198.51.100.0/24/24"), "{full}");
    assert!(full.contains("flags: qr aa"), "{full}");
    assert!(full.contains("\t5\tIN\tA\t127.0.0.2"), "{full}");
    // The same through the fast path (no cookie: ECS is the only EDNS option).
    let fast = w.dig(&[
        "+nocookie",
        "+subnet=198.51.100.0/24",
        "cdn.example.test",
        "A",
    ]);
    assert!(fast.contains("CLIENT-SUBNET: 198.51.100.0/24/24"), "{fast}");
    assert!(fast.contains("flags: qr aa rd;"), "{fast}");
    assert!(fast.contains("udp: 1232"), "{fast}");
    assert!(fast.contains("\t5\tIN\tA\t127.0.0.2"), "{fast}");
    let plain = w.dig(&["+noedns", "cdn.example.test", "A"]);
    assert!(
        plain.contains("status: NOERROR") && plain.contains("IN\tA\t127.0.0.1"),
        "{plain}"
    );
    // TCP too.
    assert_eq!(
        w.dig(&[
            "+tcp",
            "+short",
            "+subnet=203.0.113.0/24",
            "cdn.example.test",
            "A"
        ])
        .trim(),
        "127.0.0.3"
    );

    // Kill the eu client's edge (paris): within 3 s, answers move to nyc (next nearest).
    let killed = Instant::now();
    w.edges[0]
        .take()
        .unwrap()
        .stop(Duration::from_millis(100))
        .await
        .unwrap();
    let moved = Patience::new(Duration::from_secs(3))
        .every(Duration::from_millis(50))
        .until(|| async {
            let loc = w.redirect("192.0.2.10", "/default/manifest.mpd").await;
            let dns = dig_short(&w, "192.0.2.0/24", "A");
            if w.edge_of(&loc) == 1 && dns == "127.0.0.2" {
                Ok(killed.elapsed())
            } else {
                Err(format!("{loc} {dns}"))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("still routed to the dead edge: {e}"));
    eprintln!("failover after {moved:?}");
    let m = w
        .http
        .get(format!("{}/metrics", w.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("redirector_health_flips_total{edge=\"paris\",to=\"down\"} 1"),
        "{m}"
    );
    assert!(m.contains("redirector_answers_total{"), "{m}");

    // Bring it back on the same address: answers return.
    w.edges[0] = Some(start_edge("127.0.0.1", w.addrs[0].port(), &w.content).await);
    Patience::new(Duration::from_secs(5))
        .every(Duration::from_millis(50))
        .until(|| async {
            let loc = w.redirect("192.0.2.10", "/default/manifest.mpd").await;
            let dns = dig_short(&w, "192.0.2.0/24", "A");
            if w.edge_of(&loc) == 0 && dns == "127.0.0.1" {
                Ok(())
            } else {
                Err(format!("{loc} {dns}"))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("never returned: {e}"));

    // All edges down: the least-bad edge is still answered.
    for e in w.edges.iter_mut() {
        e.take()
            .unwrap()
            .stop(Duration::from_millis(100))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(w.r.shared().snapshot().health.iter().all(|h| !h.is_up()));
    let loc = w.redirect("203.0.113.10", "/x").await;
    assert_eq!(w.edge_of(&loc), 2);
    assert_eq!(dig_short(&w, "203.0.113.0/24", "A"), "127.0.0.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_path_same_edge_and_spread_over_near_equal_edges() {
    let w = World::new().await;
    // One zone, many clients, one path: one edge.
    let first = w.redirect("192.0.2.1", "/default/v1/7.m4s").await;
    for i in 2..40 {
        assert_eq!(
            w.redirect(&format!("192.0.2.{i}"), "/default/v1/7.m4s")
                .await,
            first
        );
    }
    // Near-equal edges (three in one city): many assets spread over all three, while
    // every segment of one asset goes to one edge (the routing key is the asset).
    let mut text = topology(&w.addrs);
    text = text
        .replace("lat = 40.71\nlon = -74.0", "lat = 48.86\nlon = 2.36")
        .replace("lat = 35.68\nlon = 139.69", "lat = 48.84\nlon = 2.34");
    std::fs::write(&w.topo_path, text).unwrap();
    w.r.shared().reload().unwrap();
    w.wait_all_up().await;
    let mut counts = [0; 3];
    for i in 0..300 {
        let loc = w
            .redirect("192.0.2.1", &format!("/title{i}/v1/3.m4s"))
            .await;
        counts[w.edge_of(&loc)] += 1;
    }
    assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    let one = w.edge_of(&w.redirect("192.0.2.1", "/default/manifest.mpd").await);
    for i in 0..30 {
        let loc = w
            .redirect("192.0.2.1", &format!("/default/v1/{i}.m4s"))
            .await;
        assert_eq!(w.edge_of(&loc), one, "segment {i}");
    }
    // Debug explains the decision.
    let d: serde_json::Value = w
        .http
        .get(format!(
            "{}/debug/route?client=192.0.2.1&path=/default/v1/3.m4s",
            w.base()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(d["decision"]["location"], "eu");
    assert_eq!(d["decision"]["matched_network"], "192.0.2.0/24");
    assert_eq!(d["decision"]["candidates"].as_array().unwrap().len(), 3);
    assert!(
        d["decision"]["candidates"][0]["hash_weight"].is_number(),
        "{d}"
    );
    assert_eq!(d["health"][0]["state"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_names_soa_ns_and_malformed_packets() {
    let w = World::new().await;
    let out = w.dig(&["example.org", "A"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = w.dig(&["nope.cdn.example.test", "A"]);
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("SOA"),
        "{out}"
    );
    let out = w.dig(&["+short", "cdn.example.test", "SOA"]);
    assert!(
        out.starts_with("ns1.cdn.example.test. hostmaster.cdn.example.test. 1 "),
        "{out}"
    );
    assert_eq!(
        w.dig(&["+short", "cdn.example.test", "NS"]).trim(),
        "ns1.cdn.example.test."
    );
    assert_eq!(
        w.dig(&["+short", "ns1.cdn.example.test", "A"]).trim(),
        "127.0.0.1"
    );
    let out = w.dig(&["cdn.example.test", "TXT"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("ANSWER: 0"),
        "{out}"
    );
    // No ECS: the resolver's address (127.0.0.1, no zone) → default location eu → paris.
    assert_eq!(
        w.dig(&["+short", "cdn.example.test", "A"]).trim(),
        "127.0.0.1"
    );

    let addr = w.r.dns_addr().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(40)))
        .unwrap();
    let mut seed = 0x1234_5678_u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = {
        // id 0xbeef, RD, 1 question cdn.example.test A IN.
        let mut q = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["cdn", "example", "test"] {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    };
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for n in 0..150 {
        let len = (rnd() % 600) as usize;
        packets.push((0..len).map(|_| rnd() as u8).collect());
        let cut = n % valid.len();
        packets.push(valid[..cut].to_vec());
    }
    // Huge counts, no records.
    packets.push(vec![
        0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    // Compression pointer loop.
    let mut lp = valid[..12].to_vec();
    lp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    packets.push(lp);
    let mut formerr = 0;
    for p in &packets {
        sock.send_to(p, addr).unwrap();
        let mut buf = [0u8; 2048];
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            assert!(n >= 12);
            if buf[3] & 0x0f == 1 {
                formerr += 1;
            }
        }
    }
    assert!(formerr > 30, "FORMERR answers: {formerr}");
    // Malformed over TCP too.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let _ = s.write_all(&[0, 20, 1, 2, 3]);
        let _ = s.write_all(&[0xff, 0xff]);
    }
    // Still alive and correct.
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    while sock.recv_from(&mut [0u8; 2048]).is_ok_and(|(n, _)| n > 0) {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&valid, addr).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert!(n > 12 && buf[0] == 0xbe && buf[1] == 0xef && buf[3] & 0x0f == 0);
    assert_eq!(
        w.dig(&["+short", "+subnet=203.0.113.0/24", "cdn.example.test", "A"])
            .trim(),
        "127.0.0.3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steering_and_reload() {
    let w = World::new().await;
    let steer: serde_json::Value = w
        .http
        .get(format!(
            "{}/steer?asset=default&_DASH_pathway=paris&_DASH_throughput=1000",
            w.base()
        ))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(steer["VERSION"], 1);
    assert_eq!(steer["TTL"], 1);
    assert_eq!(steer["PATHWAY-PRIORITY"][0], "nyc", "{steer}");
    assert_eq!(steer["PATHWAY-PRIORITY"].as_array().unwrap().len(), 3);
    let res = w
        .http
        .get(format!("{}/steered/default/manifest.mpd", w.base()))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let xml = res.text().await.unwrap();
    let mpd = manifests::Mpd::parse(&xml).unwrap();
    assert_eq!(mpd.base_urls.len(), 3);
    assert_eq!(
        mpd.base_urls[1].url,
        format!("http://{}/default/", w.addrs[1])
    );
    assert_eq!(mpd.base_urls[1].service_location.as_deref(), Some("nyc"));
    let cs = mpd.content_steering.unwrap();
    assert_eq!(cs.default_service_location.as_deref(), Some("nyc"));
    assert!(cs.url.ends_with("/steer?asset=default"), "{}", cs.url);

    // A bad file keeps the old topology (and answers keep flowing); a good one applies.
    std::fs::write(&w.topo_path, "[[edges]]\nid = 3\n").unwrap();
    let e = w.r.shared().reload().unwrap_err();
    assert!(e.to_string().contains("topology.toml:2"), "{e}");
    assert_eq!(w.edge_of(&w.redirect("203.0.113.1", "/x").await), 2);
    let text = topology(&w.addrs).replace("networks = [\"203.0.113.0/24\"]", "networks = []");
    std::fs::write(
        &w.topo_path,
        text.replace("default_location = \"eu\"", "default_location = \"us\""),
    )
    .unwrap();
    // The file watcher picks it up.
    Patience::new(Duration::from_secs(3))
        .every(Duration::from_millis(100))
        .until(|| async { w.edge_of(&w.redirect("203.0.113.1", "/x").await) == 1 })
        .await
        .unwrap_or_else(|e| panic!("reload not applied: {e}"));
}
