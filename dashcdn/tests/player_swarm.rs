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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use player_sim::live::prom::Exposition;

const PLAYERS: usize = 60;
/// Candidate title names (symlinks to `default`); four are used, chosen so both edges get some.
const CANDIDATES: [&str; 12] = [
    "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12",
];

/// Kills the child process on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dashcdn ARGS` and returns it with the URL of its `listening on` line.
fn start(args: &[&str]) -> (Proc, String) {
    let (p, url, _) = start_lines(args);
    (p, url)
}

/// [`start`], also returning the lines printed before `listening on` (the redirector's
/// `dns on ADDR (udp+tcp)`).
fn start_lines(args: &[&str]) -> (Proc, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dashcdn"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let proc = Proc(child);
    let mut before = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{args:?} exited before listening"))
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (proc, url.trim().to_string(), before);
        }
        before.push(line);
    }
}

/// The packaged default asset directory, and a temp dir guard if we packaged it ourselves.
fn default_asset() -> (PathBuf, Option<tempfile::TempDir>) {
    // test.sh's DASHCDN_CONTENT, else its default (the workspace's content/, as demo.sh
    // leaves it); packaging afresh with the debug binary takes ~100 s.
    let workspace_content = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
    let dirs = std::env::var_os("DASHCDN_CONTENT")
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace_content]);
    for dir in dirs {
        let asset = dir.join("default");
        if asset.join("manifest.mpd").exists() {
            return (asset, None);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dashcdn"))
        .args(["package", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dashcdn package failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tmp.path().join("default"), Some(tmp))
}

/// Hard-links (or, across file systems, copies) the tree `from` to `to`.
fn link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            link_tree(&src, &dst);
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
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
    let (asset, _guard) = default_asset();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("content");
    link_tree(&asset, &root.join("default"));
    for t in CANDIDATES {
        std::os::unix::fs::symlink("default", root.join(t)).unwrap();
    }
    let root_s = root.to_str().unwrap();

    let (_origin, origin_url) = start(&["origin", "--content", root_s, "--listen", "127.0.0.1:0"]);
    let mut edges = Vec::new();
    for (id, ip) in [("edge-a", "127.0.0.2"), ("edge-b", "127.0.0.3")] {
        let (p, url) = start(&[
            "edge",
            "--upstream",
            &origin_url,
            "--listen",
            &format!("{ip}:0"),
            "--id",
            id,
            "--mem",
            "512MiB",
        ]);
        edges.push((id, p, url));
    }
    // Both edges at one place: the redirector hashes each title's MPD path over both.
    let mut topo = String::from(
        "default_location = \"here\"\nmin_load = 1000000\n\
         [health]\ninterval_ms = 200\ntimeout_ms = 500\nrise = 1\nfall = 2\n\
         [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"192.0.2.0/24\"]\n",
    );
    for (id, _, url) in &edges {
        let ip = url
            .trim_start_matches("http://")
            .rsplit_once(':')
            .unwrap()
            .0;
        topo.push_str(&format!(
            "[[edges]]\nid = \"{id}\"\nurl = \"{url}\"\naddress = \"{ip}\"\nlat = 50.1\nlon = 8.1\n"
        ));
    }
    let topo_path = work.path().join("topology.toml");
    std::fs::write(&topo_path, topo).unwrap();
    let (_redirector, redirector_url) = start(&[
        "redirector",
        "--topology",
        topo_path.to_str().unwrap(),
        "--dns",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]);
    // Wait until health has both edges up, so routing is by hashing from the first player on.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let up = get_text(&format!("{redirector_url}/metrics"))
            .and_then(|t| Exposition::parse(&t).ok())
            .map_or(0.0, |e| e.sum("redirector_edge_up", &[]));
        if up == 2.0 {
            break;
        }
        assert!(Instant::now() < deadline, "edges never became healthy");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Titles: `default` plus three others, so that each edge gets at least one (rendezvous
    // hashing of the MPD path decides; the choice is deterministic for these edge ids).
    let home = |t: &str| {
        let loc = routed(&redirector_url, t);
        edges
            .iter()
            .position(|e| loc.starts_with(&e.2))
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
    let edge_metrics: Vec<&str> = edges.iter().map(|e| e.2.as_str()).collect();
    let run = Command::new(env!("CARGO_BIN_EXE_dashcdn"))
        .args([
            "player",
            "swarm",
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
            "--edge-metrics",
            &edge_metrics.join(","),
            "--origin-metrics",
            &origin_url,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "swarm failed:\n{stdout}\n{stderr}");
    println!("{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap()).unwrap();
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
        "players.csv",
        "fetches.csv",
        "hit_ratio_over_time.csv",
        "hit_ratio_over_time.svg",
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
        for k in ["requests", "hits", "misses", "stale", "revalidated"] {
            assert_eq!(e[k], p[k], "{}: {k} edge vs players\n{stdout}", row["edge"]);
        }
        assert_eq!(p["other"], 0, "{}: responses without X-Cache", row["edge"]);
        assert_eq!(e["hit_ratio"], p["hit_ratio"]);
        if p["requests"].as_u64().unwrap() > 0 {
            served += 1;
        }
    }
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
    let mut lines = fetches.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
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
    let run = Command::new(env!("CARGO_BIN_EXE_dashcdn"))
        .args([
            "player",
            "swarm",
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
            "--edge-metrics",
            &edge_metrics.join(","),
            "--out",
            out2.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "swarm failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("swarm.json")).unwrap()).unwrap();
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
    for row in rows {
        let (e, p) = (&row["edge_counts"], &row["player_counts"]);
        for k in ["requests", "hits", "misses", "stale", "revalidated"] {
            assert_eq!(e[k], p[k], "{}: {k} edge vs players\n{stdout}", row["edge"]);
        }
    }
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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let up = get_text(&format!("{redirector_url}/metrics"))
            .and_then(|t| Exposition::parse(&t).ok())
            .map_or(0.0, |e| e.sum("redirector_edge_up", &[]));
        if up == n {
            return;
        }
        assert!(Instant::now() < deadline, "edges never became healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// DNS mode with per-title names: the redirector's topology has one service per title
/// (`<title>.titles.example.test`, `default` → edge-a only, `t1` → edge-b only), the swarm
/// looks up `{title}.titles.example.test`. Each title's players land on its service's edge;
/// a title without a service fails its DNS lookup and is reported; edges and players agree.
#[test]
fn swarm_over_dns_with_per_title_service_names() {
    let t0 = Instant::now();
    let (asset, _guard) = default_asset();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("content");
    link_tree(&asset, &root.join("default"));
    std::os::unix::fs::symlink("default", root.join("t1")).unwrap();
    let (_origin, origin_url) = start(&[
        "origin",
        "--content",
        root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    // DNS answers an address; every edge must listen on the one --port.
    let port = {
        let a = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        let p = a.local_addr().unwrap().port();
        std::net::TcpListener::bind(("127.0.0.3", p)).expect("port free on 127.0.0.3 too");
        p
    };
    let mut edges = Vec::new();
    for (id, ip) in [("edge-a", "127.0.0.2"), ("edge-b", "127.0.0.3")] {
        let (p, url) = start(&[
            "edge",
            "--upstream",
            &origin_url,
            "--listen",
            &format!("{ip}:{port}"),
            "--id",
            id,
            "--mem",
            "256MiB",
        ]);
        edges.push((id, ip, p, url));
    }
    let mut topo = String::from(
        "default_location = \"here\"\nmin_load = 1000000\n\
         [health]\ninterval_ms = 200\ntimeout_ms = 500\nrise = 1\nfall = 2\n\
         [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"192.0.2.0/24\"]\n\
         [[services]]\nname = \"default\"\ndns_name = \"default.titles.example.test\"\nedges = [\"edge-a\"]\n\
         [[services]]\nname = \"t1\"\ndns_name = \"t1.titles.example.test\"\nedges = [\"edge-b\"]\n",
    );
    for (id, ip, _, url) in &edges {
        topo.push_str(&format!(
            "[[edges]]\nid = \"{id}\"\nurl = \"{url}\"\naddress = \"{ip}\"\nlat = 50.1\nlon = 8.1\n"
        ));
    }
    let topo_path = work.path().join("topology.toml");
    std::fs::write(&topo_path, topo).unwrap();
    let (_redirector, redirector_url, before) = start_lines(&[
        "redirector",
        "--topology",
        topo_path.to_str().unwrap(),
        "--dns",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]);
    let dns = before
        .iter()
        .find_map(|l| l.strip_prefix("dns on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("dns on ADDR")
        .to_string();
    wait_up(&redirector_url, 2.0);

    let out = work.path().join("report");
    let edge_metrics: Vec<&str> = edges.iter().map(|e| e.3.as_str()).collect();
    let run = Command::new(env!("CARGO_BIN_EXE_dashcdn"))
        .args([
            "player",
            "swarm",
            "--dns",
            &dns,
            "--port",
            &port.to_string(),
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
            "--edge-metrics",
            &edge_metrics.join(","),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "swarm failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap()).unwrap();
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
    let mut lines = fetches.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
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
        let (e, p) = (&row["edge_counts"], &row["player_counts"]);
        assert!(p["requests"].as_u64().unwrap() > 0, "{stdout}");
        for k in ["requests", "hits", "misses", "stale", "revalidated"] {
            assert_eq!(e[k], p[k], "{}: {k} edge vs players\n{stdout}", row["edge"]);
        }
    }
    eprintln!("DNS swarm test took {:.1} s", t0.elapsed().as_secs_f64());
}
