//! Live players through one edge on the origin's looped live stream, on the wall clock:
//! `dashcdn player swarm` with N live players behind one edge, whose upstream is a counting
//! proxy in front of the origin (so every origin request is seen with its path and status).
//! Asserted: a request before a segment's availability is rare (≤ 1% of the players' segment
//! requests; it happens only when a player's UTCTiming estimate is ahead of the origin's
//! clock) and always one the player saw, counted and retried (the origin's `425`s = the
//! players' count straight to the origin; ≤ it through the edge), each live segment (video
//! and audio) was sent by the origin exactly once however many players asked, and every player's
//! latency stayed within the target (6 s, the origin's suggestedPresentationDelay) ± 1 s.
//! The same swarm straight to the origin runs first: the two media-TTFB distributions give
//! what the edge adds to the first byte (printed).
//!
//! Sizes: `DASHCDN_LIVE_PLAYERS` (default 20) players for `DASHCDN_LIVE_SECONDS` (default 16)
//! s; the note's figure is the same test with 100 players for 60 s (see README).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::{content_root, start_edge, start_origin, BIN};

type Log = Arc<Mutex<Vec<(String, u16)>>>;

/// A minimal HTTP/1.1 GET proxy: forwards to `origin`, records `(path, status)`.
async fn counting_proxy(origin: String, log: Log) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let (client, origin, log) = (client.clone(), origin.clone(), log.clone());
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" || h == "\n" {
                            break;
                        }
                    }
                    let resp = client.get(format!("{origin}{path}")).send().await.unwrap();
                    let status = resp.status().as_u16();
                    let mut head = format!("HTTP/1.1 {status} X\r\n");
                    for (k, v) in resp.headers() {
                        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                            head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
                        }
                    }
                    let body = resp.bytes().await.unwrap();
                    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    log.lock().unwrap().push((path, status));
                    if w.write_all(head.as_bytes()).await.is_err()
                        || w.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_swarm_through_one_edge() {
    let players = env_or("DASHCDN_LIVE_PLAYERS", 20);
    let seconds = env_or("DASHCDN_LIVE_SECONDS", 16);
    let root = content_root();
    let (_origin, origin_url) = start_origin(&root);
    let log: Log = Arc::default();
    let proxy = counting_proxy(origin_url.clone(), log.clone()).await;
    let (_edge, edge_url) = start_edge(&proxy, "127.0.0.5:0", "edge-live", "256MiB");
    let work = tempfile::tempdir().unwrap();
    let swarm = |url: String, metrics: Vec<String>, out: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            let mut c = Command::new(BIN);
            c.args(["player", "swarm", "--url"])
                .arg(format!("{url}/live/{{title}}/manifest.mpd"))
                .args(["--titles", "default", "--players", &players.to_string()])
                .args(["--arrival-window", "2", "--seed", "3", "--cmcd", "off"])
                .args([
                    "--live-duration",
                    &seconds.to_string(),
                    "--abr",
                    "throughput",
                ])
                .args(["--max-concurrent", &players.to_string()]);
            for m in metrics {
                c.arg(m);
            }
            let run = c.arg("--out").arg(&out).arg("--quiet").output().unwrap();
            let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
            assert!(
                run.status.success(),
                "swarm failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&run.stderr)
            );
            println!("{stdout}");
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap())
                    .unwrap();
            assert_eq!(report["players_ok"], players, "{stdout}");
            report
        })
    };
    // The same swarm straight to the origin first: its media TTFB is the reference for
    // what the edge adds.
    let http = test_support::http::client();
    let origin_425 = || {
        test_support::metrics::value(
            &http,
            &origin_url,
            "dashcdn_origin_requests_total",
            &[("method", "GET"), ("code", "425")],
        )
    };
    let before_425 = origin_425().await;
    let direct = swarm(
        origin_url.clone(),
        vec!["--origin-metrics".into(), origin_url.clone()],
        work.path().join("direct"),
    )
    .await
    .unwrap();
    // A "not yet" answer happens only when a player's clock estimate is ahead of the
    // origin's (its UTCTiming sync): each is seen by the player, counted and retried, and
    // they are rare.
    let segment_requests = |r: &serde_json::Value| {
        let k = &r["totals"]["requests_by_kind"];
        k["media"].as_u64().unwrap_or(0) + k["audio"].as_u64().unwrap_or(0)
    };
    let direct_early = direct["live"][0]["early_responses"].as_u64().unwrap();
    let origin_early = (origin_425().await - before_425) as u64;
    assert_eq!(
        origin_early, direct_early,
        "the origin's 425s vs the players' counted ones"
    );
    assert!(
        direct_early * 100 <= segment_requests(&direct),
        "{direct_early} early of {} segment requests",
        segment_requests(&direct)
    );
    log.lock().unwrap().clear();
    let out = work.path().join("report");
    let report = swarm(
        edge_url.clone(),
        vec![
            "--edge-metrics".into(),
            edge_url.clone(),
            "--origin-metrics".into(),
            origin_url.clone(),
        ],
        out.clone(),
    )
    .await
    .unwrap();

    // Origin side: every media and audio segment sent once (one 200 per path), and a "not
    // yet" only for a request some player counted as early.
    let log = log.lock().unwrap().clone();
    let mut media: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for (p, s) in &log {
        if p.ends_with(".m4s") {
            media.entry(p.as_str()).or_default().push(*s);
        }
    }
    let early = log.iter().filter(|(_, s)| *s == 425).count() as u64;
    let players_early = report["live"][0]["early_responses"].as_u64().unwrap();
    assert!(
        early <= players_early && players_early * 100 <= segment_requests(&report),
        "{early} not-yet answers at the origin, {players_early} counted by the players"
    );
    assert!(media.len() as u64 >= seconds / 2 - 2, "{media:?}");
    let repeated: Vec<_> = media
        .iter()
        .filter(|(_, v)| v.iter().filter(|s| **s == 200).count() != 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "segments sent by the origin other than once: {repeated:?}"
    );
    println!(
        "origin: {} segments (video and audio), each sent once, for {players} players ({} origin requests in all, {early} not-yet); straight to the origin {direct_early} not-yet of {} segment requests",
        media.len(),
        log.len(),
        segment_requests(&direct)
    );

    // Player side: latency within target ± 1 s, no re-joins.
    let all = &report["live"][0];
    assert_eq!(all["group"], "all");
    assert_eq!(all["players"], players);
    assert_eq!(all["resyncs"], 0);
    let target = all["target_s"].as_f64().unwrap();
    assert_eq!(target, 6.0);
    for p in report["players"].as_array().unwrap() {
        let l = &p["live"]["latency"];
        let (p50, max) = (l["p50_s"].as_f64().unwrap(), l["max_s"].as_f64().unwrap());
        assert!((p50 - target).abs() <= 1.0, "player {}: p50 {p50}", p["id"]);
        assert!(max <= target + 1.0, "player {}: max {max}", p["id"]);
    }
    assert!(out.join("live.csv").exists() && out.join("live_players.csv").exists());
    let ttfb = |r: &serde_json::Value, k: &str| r["live"][0][k].as_f64().unwrap();
    println!(
        "media TTFB, {players} live players: via the edge mean {:.1} / p50 {:.1} / p95 {:.1} ms, \
         straight to the origin mean {:.1} / p50 {:.1} / p95 {:.1} ms: the edge adds {:.1} ms at the median",
        ttfb(&report, "ttfb_mean_ms"),
        ttfb(&report, "ttfb_p50_ms"),
        ttfb(&report, "ttfb_p95_ms"),
        ttfb(&direct, "ttfb_mean_ms"),
        ttfb(&direct, "ttfb_p50_ms"),
        ttfb(&direct, "ttfb_p95_ms"),
        ttfb(&report, "ttfb_p50_ms") - ttfb(&direct, "ttfb_p50_ms"),
    );
}
