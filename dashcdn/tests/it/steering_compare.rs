//! Issue 17 §4: closed-loop steering against distance-only steering, with one edge slowed.
//!
//! Twice, with fresh servers each time (cold caches both runs): an origin, `edge-a` capped
//! with `--limit-rate` below the lowest rung plus audio, `edge-b` unlimited, both at the same
//! place (distance cannot tell them apart; rendezvous hashing homes some titles on each), and
//! a redirector whose topology differs in one line, `[closed_loop] mode`. The same seeded
//! swarm (16 players, 4 titles, speed 4, 10 segments, CMCD in query mode) starts from the
//! redirector's steered MPD and follows its content steering (`/steer`, TTL 1 s) during
//! playback.
//!
//! Checks: with distance-only steering the titles homed on edge-a stay there and their
//! players rebuffer; with closed-loop steering the redirector (which scrapes the edges'
//! CMCD starvation and throughput figures) names the slowed edge in its decisions
//! (`avoided_slow` / `avoided_starving`), players move off it *during* playback, its share
//! of media requests falls to at most half and the mean rebuffer ratio to at most 60 % of
//! the distance-only run's. Each swarm takes ~10 s of wall time.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serve::prom::Exposition;
use test_support::Patience;

const PLAYERS: usize = 16;
const SPEED: f64 = 4.0;
/// Edge-a's cap per response, bits per wall second: 120 kbit/s of session time at `SPEED`,
/// below the lowest video rung (~200 kbit/s) plus audio (~130 kbit/s).
const LIMIT: u64 = 120_000 * SPEED as u64;
const TITLES: [&str; 4] = ["default", "t1", "t2", "t3"];

struct Run {
    /// Mean rebuffer ratio of the players.
    rebuffer: f64,
    /// Mean of the players' mean bitrates, kbps.
    bitrate: f64,
    /// Share of media requests answered by edge-a.
    share_a: f64,
    /// Jain's fairness index of the players' mean bitrates.
    jain: f64,
    /// Players whose media requests went to both edges, each as `a`/`b` per segment.
    movers: Vec<String>,
    /// The redirector's reasons over its last 256 answers.
    reasons: BTreeMap<String, u64>,
}

fn get_text(url: &str) -> Option<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = reqwest::Client::builder().no_proxy().build().ok()?;
            c.get(url).send().await.ok()?.text().await.ok()
        })
}

fn run(mode: &str, root: &Path, work: &Path) -> Run {
    let dir = work.join(mode);
    std::fs::create_dir_all(&dir).unwrap();
    let (_origin, origin_url) = start_origin(root);
    let limit = LIMIT.to_string();
    let (_a, a_url) = start(&[
        "edge",
        "--upstream",
        &origin_url,
        "--listen",
        "127.0.0.2:0",
        "--id",
        "edge-a",
        "--mem",
        "256MiB",
        "--limit-rate",
        &limit,
    ]);
    let (_b, b_url) = start_edge(&origin_url, "127.0.0.3:0", "edge-b", "256MiB");
    let topo = format!(
        "default_location = \"here\"\nmin_load = 1000000\n\
         [health]\ninterval_ms = 250\nrise = 1\n\
         [steering]\nttl = 1\norigin = \"{origin_url}\"\n\
         [closed_loop]\nmode = \"{mode}\"\nscrape_ms = 250\nwindow_ms = 4000\n\
         min_cmcd_requests = 5\nhold_ms = 1000\n\
         [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"127.0.0.0/8\"]\n\
         [[edges]]\nid = \"edge-a\"\nurl = \"{a_url}\"\nlat = 50.1\nlon = 8.1\n\
         [[edges]]\nid = \"edge-b\"\nurl = \"{b_url}\"\nlat = 50.1\nlon = 8.1\n"
    );
    let redirector = start_redirector(&write_topology(&dir, &topo));
    let r = redirector.url.clone();
    Patience::new(Duration::from_secs(15))
        .every(Duration::from_millis(100))
        .until_sync(|| {
            let up = get_text(&format!("{r}/metrics"))
                .and_then(|t| Exposition::parse(&t).ok())
                .map_or(0.0, |e| e.sum("redirector_edge_up", &[]));
            if up == 2.0 {
                Ok(())
            } else {
                Err(format!("{up} edges up"))
            }
        })
        .unwrap_or_else(|e| panic!("edges never became healthy: {e}"));

    let out = dir.join("swarm");
    let t0 = Instant::now();
    let swarm = Command::new(BIN)
        .args(["--log", "warn", "player", "swarm", "--url"])
        .arg(format!("{r}/steered/{{title}}/manifest.mpd"))
        .args(["--titles", &TITLES.join(","), "--zipf", "0"])
        .args(["--players", &PLAYERS.to_string(), "--arrival-window", "30"])
        .args(["--speed", &SPEED.to_string(), "--segments", "10"])
        .args([
            "--abr", "bola-e", "--cmcd", "query", "--seed", "1", "--quiet",
        ])
        .args(["--edge-metrics", &format!("{a_url},{b_url}")])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&swarm.stdout).into_owned();
    assert!(
        swarm.status.success(),
        "{mode} swarm failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&swarm.stderr)
    );
    println!(
        "{mode}: swarm took {:.1} s\n{stdout}",
        t0.elapsed().as_secs_f64()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap()).unwrap();
    assert_eq!(report["players_ok"], PLAYERS, "{mode}\n{stdout}");
    let players = report["players"].as_array().unwrap();
    let mean = |k: &str| {
        players
            .iter()
            .map(|p| p["metrics"][k].as_f64().unwrap())
            .sum::<f64>()
            / players.len() as f64
    };
    // Media requests per player, in order, by edge.
    let csv = std::fs::read_to_string(out.join("fetches.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (pc, kc, uc) = (col("player"), col("kind"), col("url"));
    let mut by_player: BTreeMap<String, String> = BTreeMap::new();
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        if c[kc] == "media" {
            let on_a = c[uc].starts_with(&a_url);
            assert!(on_a || c[uc].starts_with(&b_url), "{}", c[uc]);
            by_player
                .entry(c[pc].to_string())
                .or_default()
                .push(if on_a { 'a' } else { 'b' });
        }
    }
    let all: String = by_player.values().flat_map(|s| s.chars()).collect();
    let share_a = all.chars().filter(|c| *c == 'a').count() as f64 / all.len() as f64;
    let movers = by_player
        .values()
        .filter(|s| s.contains('a') && s.contains('b'))
        .cloned()
        .collect();
    let decisions: serde_json::Value =
        serde_json::from_str(&get_text(&format!("{r}/debug/decisions?n=256")).unwrap()).unwrap();
    let mut reasons = BTreeMap::new();
    for d in decisions["decisions"].as_array().unwrap() {
        *reasons
            .entry(d["reason"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    Run {
        rebuffer: mean("rebuffer_ratio"),
        bitrate: mean("mean_bitrate_kbps"),
        share_a,
        jain: report["fairness"]["overall"]["jain"]
            .as_f64()
            .unwrap_or(f64::NAN),
        movers,
        reasons,
    }
}

#[test]
fn closed_loop_steering_moves_players_off_a_slowed_edge() {
    let t0 = Instant::now();
    let (asset, _guard) = default_asset(&[workspace_content()]);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("content");
    // The origin serves symlinks only inside its root: the asset is hard-linked in.
    link_tree(&asset, &root.join("default"));
    for t in &TITLES[1..] {
        std::os::unix::fs::symlink("default", root.join(t)).unwrap();
    }
    let setup = t0.elapsed();
    let distance = run("distance", &root, work.path());
    let closed = run("closed-loop", &root, work.path());
    println!(
        "| steering | rebuffer ratio | mean bitrate kbps | edge-a media share | Jain | movers | reasons |"
    );
    for (m, r) in [("distance", &distance), ("closed-loop", &closed)] {
        println!(
            "| {m} | {:.3} | {:.0} | {:.0}% | {:.3} | {:?} | {:?} |",
            r.rebuffer,
            r.bitrate,
            r.share_a * 100.0,
            r.jain,
            r.movers,
            r.reasons
        );
    }
    // Distance only: some titles are homed on edge-a and stay there; nothing else is said.
    assert!(distance.share_a >= 0.15, "no title on edge-a");
    assert!(distance.movers.is_empty(), "{:?}", distance.movers);
    assert_eq!(distance.reasons.keys().collect::<Vec<_>>(), ["nearest"]);
    assert!(distance.rebuffer >= 0.03, "the slowed edge did not hurt");
    // Closed loop: the redirector names the slowed edge, players leave it mid-playback.
    assert!(
        closed.reasons.contains_key("avoided_slow")
            || closed.reasons.contains_key("avoided_starving"),
        "{:?}",
        closed.reasons
    );
    assert!(
        closed
            .movers
            .iter()
            .any(|s| s.starts_with('a') && s.ends_with('b')),
        "no player moved from edge-a to edge-b during playback: {:?}",
        closed.movers
    );
    assert!(
        closed.share_a <= distance.share_a * 0.5,
        "edge-a share {:.2} vs {:.2}",
        closed.share_a,
        distance.share_a
    );
    assert!(
        closed.rebuffer <= distance.rebuffer * 0.6,
        "rebuffer ratio {:.3} vs {:.3}",
        closed.rebuffer,
        distance.rebuffer
    );
    let swarms = t0.elapsed() - setup;
    println!("both runs: {:.1} s", swarms.as_secs_f64());
    assert!(swarms < Duration::from_secs(60), "{swarms:?}");
}
