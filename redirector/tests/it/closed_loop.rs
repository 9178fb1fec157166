//! Closed-loop steering end to end inside the redirector: two scripted servers stand in for
//! edges (`/healthz` and a `/metrics` exposition with the edge metric names from
//! `serve::wire`), at the same place. The title's home edge starts reporting CMCD buffer
//! starvation; the redirector scrapes it, keeps the title there for `hold_ms`
//! (`kept_for_hysteresis`), then moves it (`avoided_starving`) — in `/debug/route`, the
//! `/steer` pathway order, the `302`, the DNS answer and the decision log alike. With
//! `mode = "distance"` the same figures change nothing. Takes ~3 s.

use std::time::{Duration, Instant};

use redirector::RedirectorConfig;
use serve::wire::metric_names::edge as m;
use test_support::scripted::{Reply, ScriptedOrigin};
use test_support::Patience;

fn exposition(cmcd: u64, starving: u64) -> Reply {
    Reply::ok(format!(
        "# TYPE {r} counter\n{r}{{method=\"GET\",code=\"200\"}} {cmcd}\n\
         {c}{{mode=\"query\"}} {cmcd}\n{b} {starving}\n{s} 4\n",
        r = m::REQUESTS_TOTAL_NAME,
        c = m::CMCD_REQUESTS_TOTAL_NAME,
        b = m::CMCD_BUFFER_STARVATION_TOTAL_NAME,
        s = m::CMCD_SESSIONS_NAME,
    ))
    .header("content-type", "text/plain")
}

async fn edge(ip: &str) -> ScriptedOrigin {
    let o = ScriptedOrigin::start_at(format!("{ip}:0").parse().unwrap()).await;
    o.script("/healthz", Reply::ok("ok\n"));
    o.script("/metrics", exposition(0, 0));
    o
}

/// The first A record the redirector's DNS answers for `cdn.example.test`.
async fn dns_a(server: std::net::SocketAddr) -> String {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("cdn.example.test.").unwrap(),
        RecordType::A,
    ));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    answer
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .unwrap()
}

async fn json(c: &reqwest::Client, url: &str) -> serde_json::Value {
    serde_json::from_str(&c.get(url).send().await.unwrap().text().await.unwrap()).unwrap()
}

async fn scenario(mode: &str) {
    let a = edge("127.0.0.2").await;
    let b = edge("127.0.0.3").await;
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topology.toml");
    std::fs::write(
        &topo,
        format!(
            "default_location = \"here\"\nmin_load = 1000000\n\
             [health]\ninterval_ms = 100\nrise = 1\n\
             [closed_loop]\nmode = \"{mode}\"\nscrape_ms = 100\nwindow_ms = 2000\n\
             min_cmcd_requests = 10\nhold_ms = 800\n\
             [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\n\
             [[edges]]\nid = \"a\"\nurl = \"{}\"\naddress = \"127.0.0.2\"\nlat = 50.0\nlon = 8.0\n\
             [[edges]]\nid = \"b\"\nurl = \"{}\"\naddress = \"127.0.0.3\"\nlat = 50.0\nlon = 8.0\n",
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let mut cfg = RedirectorConfig::new(&topo);
    cfg.http = Some("127.0.0.1:0".parse().unwrap());
    cfg.dns = Some("127.0.0.1:0".parse().unwrap());
    cfg.reload_on_sighup = false;
    cfg.watch_interval = None;
    let r = redirector::bind(cfg).await.unwrap();
    let base = format!("http://{}", r.http_addr().unwrap());
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let route = format!("{base}/debug/route?client=127.0.0.1&asset=t1");
    // Both up and scraped (CMCD figures known: zero starvation).
    let home = Patience::new(Duration::from_secs(10))
        .until(|| async {
            let v = json(&c, &route).await;
            let known = v["inputs"]
                .as_array()
                .is_some_and(|i| i.len() == 2 && i.iter().all(|e| e["cmcd_requests"] == 0));
            match (known, v["chosen"].as_str()) {
                (true, Some(h)) => Ok(h.to_string()),
                _ => Err(v.to_string()),
            }
        })
        .await
        .unwrap();
    let (home_edge, other) = if home == "a" { (&a, "b") } else { (&b, "a") };
    let steer = format!("{base}/steer?asset=t1");
    let first = |v: serde_json::Value| v["PATHWAY-PRIORITY"][0].as_str().unwrap().to_string();
    assert_eq!(first(json(&c, &steer).await), home);
    // The home edge's players start starving: 50 % of CMCD requests carry `bs`.
    home_edge.script_seq(
        "/metrics",
        (1..=200).map(|i| exposition(20 * i, 10 * i)).collect(),
    );
    let t0 = Instant::now();
    Patience::new(Duration::from_secs(5))
        .until(|| async {
            let v = json(&c, &route).await;
            let i = v["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["edge"] == home.as_str())
                .unwrap()
                .clone();
            if i["starvation_rate"].as_f64().is_some_and(|r| r > 0.4) {
                Ok(())
            } else {
                Err(v.to_string())
            }
        })
        .await
        .unwrap();
    let mut reasons = Vec::new();
    let moved = loop {
        let s = first(json(&c, &steer).await);
        let v = json(&c, &route).await;
        reasons.push(v["reason"].as_str().unwrap().to_string());
        if s != home || t0.elapsed() > Duration::from_secs(3) {
            break s != home;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let decisions = json(&c, &format!("{base}/debug/decisions?n=256")).await;
    let logged: Vec<&str> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    if mode == "distance" {
        assert!(!moved, "distance mode moved the title");
        assert!(logged.iter().all(|r| *r == "nearest"), "{logged:?}");
        assert_eq!(json(&c, &route).await["mode"], "distance");
    } else {
        assert!(moved, "closed loop never moved the title: {reasons:?}");
        // Not before the hold time, and the wait was explained.
        assert!(t0.elapsed() >= Duration::from_millis(800));
        assert!(logged.contains(&"kept_for_hysteresis"), "{logged:?}");
        assert_eq!(logged[0], "avoided_starving", "{logged:?}");
        let v = json(&c, &route).await;
        assert_eq!(v["chosen"], other);
        assert_eq!(v["reason"], "avoided_starving");
        assert_eq!(v["mode"], "closed-loop");
        let bad = v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["edge"] == home.as_str())
            .unwrap();
        assert_eq!(bad["impairments"][0], "starving");
        assert!(bad["cost"].as_f64().unwrap() >= 2000.0, "{bad}");
        // The 302 agrees.
        let res = c
            .get(format!("{base}/t1/manifest.mpd"))
            .send()
            .await
            .unwrap();
        let loc = res.headers()["location"].to_str().unwrap();
        let other_url = if other == "a" { a.url() } else { b.url() };
        assert!(loc.starts_with(&other_url), "{loc}");
        // DNS goes through the same routing function: the starving edge's address is not
        // answered, and the answer is logged with its reason.
        let other_ip = if other == "a" {
            "127.0.0.2"
        } else {
            "127.0.0.3"
        };
        assert_eq!(dns_a(r.dns_addr().unwrap()).await, other_ip);
        let logged = json(&c, &format!("{base}/debug/decisions?n=5")).await;
        let dns = logged["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["proto"] == "dns")
            .unwrap_or_else(|| panic!("no dns decision: {logged}"))
            .clone();
        // (DNS keys on the client's subnet, whose home may be either edge.)
        assert!(
            dns["reason"] == "avoided_starving" || dns["reason"] == "nearest",
            "{dns}"
        );
        assert_eq!(dns["inputs"][1]["edge"], home.as_str(), "{dns}");
        assert_eq!(dns["inputs"][1]["impairments"][0], "starving", "{dns}");
        let d = &decisions["decisions"][0];
        assert!(
            d["why"]
                .as_str()
                .unwrap()
                .contains("closed loop: avoided_starving"),
            "{d}"
        );
        assert!(
            d["inputs"][1]["starvation_rate"].as_f64().unwrap() > 0.4,
            "{d}"
        );
        let text = c
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let e = serve::prom::Exposition::parse(&text).unwrap();
        for reason in ["avoided_starving", "kept_for_hysteresis", "nearest"] {
            let n = e.sum("redirector_decisions_total", &[("reason", reason)]);
            assert!(n >= 1.0, "{reason}: {n}");
        }
        let edges = json(&c, &format!("{base}/debug/edges")).await;
        let row = edges["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == home.as_str())
            .unwrap()
            .clone();
        assert!(
            row["live"]["starvation_rate"].as_f64().unwrap() > 0.4,
            "{row}"
        );
        assert_eq!(row["live"]["sessions"], 4.0, "{row}");
        assert_eq!(row["scrape_error"], "", "{row}");
    }
    r.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_moves_a_title_off_a_starving_edge_after_the_hold_time() {
    scenario("closed-loop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distance_mode_ignores_the_same_figures() {
    scenario("distance").await;
}
