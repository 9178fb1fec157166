//! `dashcdn player swarm` through a real CDN: an origin, two edges and a redirector, each a
//! `dashcdn` process on its own 127.0.0.x address, serving four titles. 60 players arrive
//! over 20 s of session time at 10× speed, choose titles by Zipf popularity and play 8
//! segments each, shaped by their own traces. Checks that every player finished, that each
//! edge's own `/metrics` counters (hits, misses, stale, revalidated) equal the players'
//! `X-Cache` counts for that edge exactly, and that the origin's bytes are exactly the bodies
//! of the distinct objects each edge missed (so origin offload is consistent with the misses).
//! Then a second, small swarm (per-player traces behind one shared bottleneck) in which half
//! the players ask for a title that does not exist (404 MPD): the failures are reported with their reason and the edges' counters still equal
//! the players' counts exactly (a failed player's requests are counted too).
//!
//! Content: `$DASHCDN_CONTENT/default` when it exists (test.sh packages it first), else
//! `content/default` in the workspace, otherwise a freshly packaged default. Titles `t1`..`t3` are symlinks to `default` inside the served
//! root (the origin serves symlinks that stay inside its root).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serve::prom::Exposition;
use test_support::Patience;

const PLAYERS: usize = 60;
/// Candidate title names (symlinks to `default`); four are used, chosen so both edges get some.
const CANDIDATES: [&str; 12] = [
    "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12",
];
/// The topology both tests start from: one location, both edges at it, quick health checks.
const TOPOLOGY_HEAD: &str = "default_location = \"here\"\nmin_load = 1000000\n\
     [health]\ninterval_ms = 200\ntimeout_ms = 500\nrise = 1\nfall = 2\n\
     [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"192.0.2.0/24\"]\n";

/// The packaged default asset directory (`$DASHCDN_CONTENT`, else the workspace's `content/`
/// as demo.sh leaves it; packaging afresh with the debug binary takes ~100 s), and a temp dir
/// guard if we packaged it ourselves.
fn default_asset() -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    common::default_asset(&[workspace_content()])
}

/// A content root in a temp dir: the default asset linked in as `default`, each of `titles`
/// a symlink to it. Returns the temp dir, the root, and the guard of a freshly packaged default.
fn titled_content(
    titles: &[&str],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Option<tempfile::TempDir>,
) {
    let (asset, guard) = default_asset();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("content");
    link_tree(&asset, &root.join("default"));
    for t in titles {
        std::os::unix::fs::symlink("default", root.join(t)).unwrap();
    }
    (work, root, guard)
}

/// Starts edges `edge-a` on 127.0.0.2 and `edge-b` on 127.0.0.3 at `port` in front of
/// `origin`: (id, ip, process, url) each.
fn start_edges(
    origin: &str,
    port: u16,
    mem: &str,
) -> Vec<(&'static str, &'static str, Proc, String)> {
    [("edge-a", "127.0.0.2"), ("edge-b", "127.0.0.3")]
        .into_iter()
        .map(|(id, ip)| {
            let (p, url) = start_edge(origin, &format!("{ip}:{port}"), id, mem);
            (id, ip, p, url)
        })
        .collect()
}

/// `head`, then an `[[edges]]` entry per edge (all at one place), as `<dir>/topology.toml`.
fn edges_topology(
    dir: &Path,
    head: &str,
    edges: &[(&str, &str, Proc, String)],
) -> std::path::PathBuf {
    let mut topo = head.to_string();
    for (id, ip, _, url) in edges {
        topo.push_str(&format!(
            "[[edges]]\nid = \"{id}\"\nurl = \"{url}\"\naddress = \"{ip}\"\nlat = 50.1\nlon = 8.1\n"
        ));
    }
    write_topology(dir, &topo)
}

/// Runs `dashcdn player swarm ARGS --edge-metrics EDGES --out OUT --quiet`, which must
/// succeed; prints and returns its stdout with the parsed swarm.json.
fn swarm(
    args: &[&str],
    edges: &[(&str, &str, Proc, String)],
    out: &Path,
) -> (serde_json::Value, String) {
    let edge_metrics: Vec<&str> = edges.iter().map(|e| e.3.as_str()).collect();
    let run = Command::new(BIN)
        .args(["player", "swarm"])
        .args(args)
        .args(["--edge-metrics", &edge_metrics.join(",")])
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "swarm failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap()).unwrap();
    (report, stdout)
}

/// Every edge row of the report: the edge's own counters equal the players' X-Cache counts.
fn assert_edges_agree(rows: &[serde_json::Value], stdout: &str) {
    for row in rows {
        let (e, p) = (&row["edge_counts"], &row["player_counts"]);
        for k in ["requests", "hits", "misses", "stale", "revalidated"] {
            assert_eq!(e[k], p[k], "{}: {k} edge vs players\n{stdout}", row["edge"]);
        }
    }
}

/// The rows of a fetches.csv and a column lookup by header name.
fn csv_columns(text: &str) -> (impl Fn(&str) -> usize + '_, impl Iterator<Item = &str>) {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = move |name: &str| header.iter().position(|h| *h == name).unwrap();
    (col, lines)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn get_text(url: &str) -> Option<String> {
    rt().block_on(async {
        let c = reqwest::Client::builder().no_proxy().build().ok()?;
        c.get(url).send().await.ok()?.text().await.ok()
    })
}

/// Where the redirector sends `/<title>/manifest.mpd` (its 302 `Location`).
fn routed(redirector: &str, title: &str) -> String {
    rt().block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = c
            .get(format!("{redirector}/{title}/manifest.mpd"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        res.headers()["location"].to_str().unwrap().to_string()
    })
}

#[test]
fn swarm_hit_ratio_from_edge_metrics_matches_player_x_cache() {
    let t0 = Instant::now();
    let (work, root, _guard) = titled_content(&CANDIDATES);
    let (_origin, origin_url) = start_origin(&root);
    let edges = start_edges(&origin_url, 0, "512MiB");
    // Both edges at one place: the redirector hashes each title's MPD path over both.
    let topo_path = edges_topology(work.path(), TOPOLOGY_HEAD, &edges);
    let redirector = start_redirector(&topo_path);
    let redirector_url = redirector.url.clone();
    // Wait until health has both edges up, so routing is by hashing from the first player on.
    wait_up(&redirector_url, 2.0);

    // Titles: `default` plus three others, so that each edge gets at least one (rendezvous
    // hashing of the MPD path decides; the choice is deterministic for these edge ids).
    let home = |t: &str| {
        let loc = routed(&redirector_url, t);
        edges
            .iter()
            .position(|e| loc.starts_with(&e.3))
            .unwrap_or_else(|| panic!("{t} routed to {loc}"))
    };
    let mut titles = vec!["default".to_string()];
    let mut seen = [false; 2];
    seen[home("default")] = true;
    for t in CANDIDATES {
        let h = home(t);
        if titles.len() < 3 || !seen[h] || seen == [true, true] {
            seen[h] = true;
            titles.push(t.to_string());
        }
        if titles.len() == 4 {
            break;
        }
    }
    assert!(seen == [true, true], "no title routed to the second edge");

    // Three small traces (Pensieve cooked: time_s Mbps); players get trace i mod 3.
    let traces = work.path().join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    let mut flat = String::new();
    let mut step = String::new();
    let mut slow = String::new();
    for t in 0..=120 {
        flat.push_str(&format!("{t} 6.0\n"));
        step.push_str(&format!(
            "{t} {}\n",
            if (t / 10) % 2 == 0 { 8.0 } else { 1.5 }
        ));
        slow.push_str(&format!("{t} 1.2\n"));
    }
    std::fs::write(traces.join("flat"), flat).unwrap();
    std::fs::write(traces.join("step"), step).unwrap();
    std::fs::write(traces.join("slow"), slow).unwrap();

    let out = work.path().join("report");
    let (report, stdout) = swarm(
        &[
            "--url",
            &format!("{redirector_url}/{{title}}/manifest.mpd"),
            "--titles",
            &titles.join(","),
            "--zipf",
            "0.8",
            "--players",
            &PLAYERS.to_string(),
            "--arrival-window",
            "20",
            "--speed",
            "10",
            "--segments",
            "8",
            "--abr",
            "bola-e",
            "--traces",
            traces.to_str().unwrap(),
            "--seed",
            "7",
            "--origin-metrics",
            &origin_url,
            // Without CMCD: with it the edges prefetch the objects `nor` names (their
            // prefetch_hints, on by default), so the origin would also send objects no
            // player missed and the exact origin-bytes check below would not hold. CMCD
            // through an edge is player_cmcd's test.
            "--cmcd",
            "off",
        ],
        &edges,
        &out,
    );

    for field in [
        "run",
        "players_ok",
        "players_failed",
        "edges",
        "titles",
        "totals",
        "qoe",
        "timeline",
        "players",
    ] {
        assert!(report.get(field).is_some(), "swarm.json lacks {field}");
    }
    assert_eq!(report["players_ok"], PLAYERS, "{stdout}");
    assert_eq!(report["players_failed"], 0, "{stdout}");
    for f in ["qoe_lin", "startup_s", "rebuffer_ratio", "bitrate_kbps"] {
        for s in ["mean", "p10", "median", "p90"] {
            assert!(report["qoe"][f][s].is_number(), "qoe.{f}.{s}");
        }
    }
    assert_eq!(report["qoe"]["players"], PLAYERS);
    for f in [
        "cdf_qoe.svg",
        "cdf_qoe.png",
        "players.csv",
        "fetches.csv",
        "hit_ratio_over_time.csv",
        "hit_ratio_over_time.svg",
        "hit_ratio_over_time.png",
    ] {
        assert!(out.join(f).exists(), "{f} not written");
    }

    // Per edge: the edge's own counters equal the players' X-Cache counts, exactly.
    let rows = report["edges"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stdout}");
    let mut served = 0;
    for row in rows {
        let e = &row["edge_counts"];
        let p = &row["player_counts"];
        assert!(e.is_object(), "no metrics for {}", row["edge"]);
        assert_eq!(p["other"], 0, "{}: responses without X-Cache", row["edge"]);
        assert_eq!(e["hit_ratio"], p["hit_ratio"]);
        if p["requests"].as_u64().unwrap() > 0 {
            served += 1;
        }
    }
    assert_edges_agree(rows, &stdout);
    assert_eq!(served, 2, "titles did not spread over both edges\n{stdout}");
    let hits: u64 = rows
        .iter()
        .map(|r| r["player_counts"]["hits"].as_u64().unwrap())
        .sum();
    let requests: u64 = rows
        .iter()
        .map(|r| r["player_counts"]["requests"].as_u64().unwrap())
        .sum();
    assert!(
        hits > requests / 2,
        "a Zipf swarm should mostly hit: {hits}/{requests}"
    );

    // Origin bytes = the bodies of the distinct (edge, path) objects the players saw MISS.
    let fetches = std::fs::read_to_string(out.join("fetches.csv")).unwrap();
    let (col, lines) = csv_columns(&fetches);
    let (c_url, c_edge, c_cache) = (col("url"), col("edge"), col("x_cache"));
    let mut missed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut per_edge: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        *per_edge.entry(f[c_edge].to_string()).or_default() += 1;
        if f[c_cache] == "MISS" {
            let path = f[c_url]
                .split_once("://")
                .and_then(|(_, r)| r.split_once('/'))
                .map(|(_, p)| p.to_string())
                .unwrap();
            missed.insert((f[c_edge].to_string(), path));
        }
    }
    let expected: u64 = missed
        .iter()
        .map(|(_, p)| std::fs::metadata(root.join(p)).unwrap().len())
        .sum();
    let totals = &report["totals"];
    assert_eq!(
        totals["origin_bytes"].as_u64(),
        Some(expected),
        "origin bytes vs the distinct objects missed\n{stdout}"
    );
    assert_eq!(
        totals["origin_requests"].as_u64(),
        Some(missed.len() as u64)
    );
    let offload = totals["origin_offload"].as_f64().unwrap();
    let delivered = totals["bytes_delivered"].as_f64().unwrap();
    assert_eq!(totals["bytes_delivered_source"], "edges");
    // Audio is fetched beside the video and counted like it (the equality above includes it).
    let kinds = &totals["requests_by_kind"];
    assert_eq!(kinds["mpd"].as_u64(), Some(PLAYERS as u64));
    assert!(kinds["audio"].as_u64().unwrap() > 0, "{kinds}");
    assert!(offload > 0.0 && offload < 1.0, "offload {offload}");
    assert!((offload - (1.0 - expected as f64 / delivered)).abs() < 1e-9);
    // Titles: Zipf rank 1 drew the most players.
    let titles = report["titles"].as_array().unwrap();
    assert_eq!(titles.len(), 4);
    let n: Vec<u64> = titles
        .iter()
        .map(|t| t["players"].as_u64().unwrap())
        .collect();
    assert_eq!(n.iter().sum::<u64>(), PLAYERS as u64);
    assert!(n[0] >= *n.iter().max().unwrap(), "{n:?}");
    eprintln!("swarm test took {:.1} s", t0.elapsed().as_secs_f64());

    // Second swarm on the same CDN: half the titles do not exist (404 MPD). The failed
    // players' requests still count on the players' side, so the edges and the players agree
    // exactly; the failures are reported with their reason.
    let t1 = Instant::now();
    let out2 = work.path().join("report-bad");
    let (report, stdout) = swarm(
        &[
            "--url",
            &format!("{redirector_url}/{{title}}/manifest.mpd"),
            "--titles",
            "default,no-such-title",
            "--zipf",
            "0",
            "--players",
            "16",
            "--arrival-window",
            "4",
            "--speed",
            "10",
            "--segments",
            "3",
            "--seed",
            "3",
            // Per-player traces behind one shared bottleneck (chained shapers).
            "--traces",
            traces.to_str().unwrap(),
            "--shared-bottleneck",
            "8",
            "--no-audio",
        ],
        &edges,
        &out2,
    );
    assert_eq!(report["run"]["shared_bottleneck_kbps"], 8000.0);
    // Every byte passed the one 8 Mbps bucket (each player's trace alone allows up to 8 Mbps,
    // several play at once): the aggregate over the run stays under it (5 % + bursts).
    let bits = report["totals"]["player_bytes"].as_f64().unwrap() * 8.0;
    let session_s = report["run"]["wall_s"].as_f64().unwrap() * 10.0;
    assert!(
        bits / session_s <= 8e6 * 1.05,
        "{:.2} Mbit/s through an 8 Mbit/s shared bottleneck",
        bits / session_s / 1e6
    );
    assert_eq!(report["run"]["traces"].as_array().unwrap().len(), 3);
    assert_eq!(report["run"]["audio"], false);
    assert!(report["totals"]["requests_by_kind"].get("audio").is_none());
    let failed = report["players_failed"].as_u64().unwrap();
    let bad = report["titles"][1]["players"].as_u64().unwrap();
    assert!(
        bad > 0 && bad < 16,
        "zipf 0 over 2 titles: {bad} on the bad one"
    );
    assert_eq!(failed, bad, "{stdout}");
    assert_eq!(report["players_ok"].as_u64().unwrap(), 16 - bad);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{stdout}");
    let reason = failures[0]["error"].as_str().unwrap();
    assert!(
        reason.contains("no-such-title/manifest.mpd") && reason.contains("404"),
        "{reason}"
    );
    assert_eq!(failures[0]["players"].as_u64(), Some(bad));
    assert!(
        stdout.contains(&format!("{bad} players failed")),
        "{stdout}"
    );
    let rows = report["edges"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_edges_agree(rows, &stdout);
    // Every bad player's MPD request is on the players' side (with its 404).
    let fetches = std::fs::read_to_string(out2.join("fetches.csv")).unwrap();
    let n404 = fetches
        .lines()
        .filter(|l| l.contains("no-such-title") && l.contains(",404,"))
        .count() as u64;
    assert_eq!(n404, bad, "{fetches}");
    eprintln!(
        "swarm with failing players took {:.1} s",
        t1.elapsed().as_secs_f64()
    );
}

/// Waits until the redirector's health checks have `n` edges up.
fn wait_up(redirector_url: &str, n: f64) {
    Patience::new(Duration::from_secs(15))
        .every(Duration::from_millis(100))
        .until_sync(|| {
            let up = get_text(&format!("{redirector_url}/metrics"))
                .and_then(|t| Exposition::parse(&t).ok())
                .map_or(0.0, |e| e.sum("redirector_edge_up", &[]));
            if up == n {
                Ok(())
            } else {
                Err(format!("{up} edges up, want {n}"))
            }
        })
        .unwrap_or_else(|e| panic!("edges never became healthy: {e}"));
}

/// DNS mode with per-title names: the redirector's topology has one service per title
/// (`<title>.titles.example.test`, `default` → edge-a only, `t1` → edge-b only), the swarm
/// looks up `{title}.titles.example.test`. Each title's players land on its service's edge;
/// a title without a service fails its DNS lookup and is reported; edges and players agree.
#[test]
fn swarm_over_dns_with_per_title_service_names() {
    let t0 = Instant::now();
    let (work, root, _guard) = titled_content(&["t1"]);
    let (_origin, origin_url) = start_origin(&root);
    // DNS answers an address; every edge must listen on the one --port.
    let port = {
        let a = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        let p = a.local_addr().unwrap().port();
        std::net::TcpListener::bind(("127.0.0.3", p)).expect("port free on 127.0.0.3 too");
        p
    };
    let edges = start_edges(&origin_url, port, "256MiB");
    let head = format!(
        "{TOPOLOGY_HEAD}\
         [[services]]\nname = \"default\"\ndns_name = \"default.titles.example.test\"\nedges = [\"edge-a\"]\n\
         [[services]]\nname = \"t1\"\ndns_name = \"t1.titles.example.test\"\nedges = [\"edge-b\"]\n",
    );
    let topo_path = edges_topology(work.path(), &head, &edges);
    let redirector = start_redirector(&topo_path);
    let dns = redirector.dns();
    wait_up(&redirector.url, 2.0);

    let out = work.path().join("report");
    let port_s = port.to_string();
    let (report, stdout) = swarm(
        &[
            "--dns",
            &dns,
            "--port",
            &port_s,
            "--name",
            "{title}.titles.example.test",
            "--titles",
            "default,t1,no-service",
            "--zipf",
            "0",
            "--players",
            "18",
            "--arrival-window",
            "3",
            "--speed",
            "10",
            "--segments",
            "3",
            "--seed",
            "5",
        ],
        &edges,
        &out,
    );
    let n: Vec<u64> = report["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["players"].as_u64().unwrap())
        .collect();
    assert!(n.iter().all(|&k| k > 0), "every title drawn: {n:?}");
    // Only the title without a service fails (its name is in no zone: REFUSED).
    assert_eq!(report["players_failed"].as_u64(), Some(n[2]), "{stdout}");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{stdout}");
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap()
            .contains("no-service.titles.example.test"),
        "{stdout}"
    );
    // Each title on its service's edge; edges and players agree exactly.
    let fetches = std::fs::read_to_string(out.join("fetches.csv")).unwrap();
    let (col, lines) = csv_columns(&fetches);
    let (c_title, c_edge) = (col("title"), col("edge"));
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let want = if f[c_title] == "default" {
            "edge-a"
        } else {
            "edge-b"
        };
        assert_eq!(f[c_edge], want, "{l}");
    }
    let rows = report["edges"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stdout}");
    for row in rows {
        assert!(
            row["player_counts"]["requests"].as_u64().unwrap() > 0,
            "{stdout}"
        );
    }
    assert_edges_agree(rows, &stdout);
    eprintln!("DNS swarm test took {:.1} s", t0.elapsed().as_secs_f64());
}
