//! CMCD out and CMSD in through a real edge (issue 17): an origin (127.0.0.1) and an edge
//! `edge-a` (127.0.0.2), each a `dashcdn` process, and `dashcdn player swarm` against the
//! edge.
//!
//! 1. Query mode (the default), 4 players alternating `throughput` and `cmsd-throughput`:
//!    the edge's own `/metrics` count exactly as many valid CMCD requests as the players
//!    made (every request, MPD, init, media and audio, carries CMCD), none invalid, 4 more
//!    distinct sessions (`sid`), and every `br` it saw is the `@bandwidth` of a
//!    Representation of the ladder (in kbit/s); every response the players got carried a
//!    `CMSD-Dynamic` they parsed; the edge served some objects from a prefetch that `nor`
//!    asked for. The report has Jain's index overall and one row per ABR.
//! 2. Header mode, 2 players: the `mode="header"` counter grows by their requests, the
//!    query counter does not.
//! 3. `--cmcd off`: no CMCD counted.
//! 4. 3 players behind a 0.3 Mbit/s shared bottleneck stall: the edge counts one `bs` per
//!    stall, except stalls during a player's last download (no request follows to carry it).
//!
//! Content: the packaged default ([`common::content_root`]).

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs `dashcdn player swarm` against `edge` with `args`; the parsed swarm.json and stdout.
fn swarm(edge: &str, args: &[&str], out: &Path) -> (serde_json::Value, String) {
    let run = Command::new(BIN)
        .args(["player", "swarm", "--url", edge, "--titles", "default"])
        .args(["--arrival-window", "1", "--speed", "4", "--segments", "4"])
        .args(["--edge-metrics", edge, "--quiet", "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "swarm failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{stdout}");
    let report =
        serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap()).unwrap();
    (report, stdout)
}

/// The edge row of `report` for `edge-a`.
fn row(report: &serde_json::Value) -> &serde_json::Value {
    report["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["edge"] == "edge-a")
        .expect("an edge-a row")
}

fn counter(edge: &str, mode: &str) -> f64 {
    let m = test_support::metrics::scrape_blocking(edge);
    m.sum("dashcdn_edge_cmcd_requests_total", &[("mode", mode)])
}

#[test]
fn swarm_sends_cmcd_the_edge_counts_and_reads_its_cmsd() {
    let root = content_root();
    let (_origin, origin_url) = start_origin(&root);
    let (_edge, edge) = start_edge(&origin_url, "127.0.0.2:0", "edge-a", "256MiB");
    let tmp = tempfile::tempdir().unwrap();
    let sessions_before = test_support::metrics::scrape_blocking(&edge)
        .value("dashcdn_edge_cmcd_sessions", &[])
        .unwrap_or(0.0);

    // 1. Query mode, two ABRs.
    let (r, stdout) = swarm(
        &edge,
        &["--players", "4", "--abr", "throughput,cmsd-throughput"],
        &tmp.path().join("query"),
    );
    assert_eq!(r["players_ok"], 4, "{stdout}");
    assert_eq!(r["run"]["cmcd"], "query");
    let e = row(&r);
    let requests = e["player_counts"]["requests"].as_u64().unwrap();
    assert!(requests >= 4 * (1 + 4), "{stdout}");
    assert_eq!(e["edge_cmcd_requests"].as_u64(), Some(requests), "{stdout}");
    assert_eq!(e["edge_cmcd_invalid"].as_u64(), Some(0), "{stdout}");
    assert_eq!(
        e["edge_cmcd_sessions"].as_f64(),
        Some(sessions_before + 4.0),
        "one sid per player\n{stdout}"
    );
    assert_eq!(
        e["player_cmsd_responses"].as_u64(),
        Some(requests),
        "every response carries CMSD-Dynamic\n{stdout}"
    );
    assert!(stdout.contains("CMCD (query mode)"), "{stdout}");
    // Every `br` the edge saw is a Representation's @bandwidth, in kbit/s.
    let mpd = std::fs::read_to_string(root.join("default/manifest.mpd")).unwrap();
    let ladder: BTreeSet<String> = mpd
        .split("bandwidth=\"")
        .skip(1)
        .map(|s| {
            let bps: f64 = s[..s.find('"').unwrap()].parse().unwrap();
            format!("{}", (bps / 1000.0).round())
        })
        .collect();
    let m = test_support::metrics::scrape_blocking(&edge);
    let seen: BTreeSet<String> = m
        .matching("dashcdn_edge_cmcd_bitrate_requests_total", &[])
        .filter_map(|s| s.label("br_kbps").map(str::to_string))
        .collect();
    assert!(
        !seen.is_empty() && seen.is_subset(&ladder),
        "{seen:?} vs {ladder:?}"
    );
    // `nor` names the object the player asks for next: the edge prefetched some of them
    // before the players asked (its prefetch_hints are on by default).
    let nor_hits = m.sum("dashcdn_edge_prefetch_hits_total", &[("source", "nor")]);
    assert!(nor_hits > 0.0, "no prefetch hit from nor\n{stdout}");
    // Fairness: overall and one row per ABR, two players each.
    let f = &r["fairness"];
    let j = f["overall"]["jain"].as_f64().unwrap();
    assert!(j > 0.0 && j <= 1.0, "{f}");
    let abrs: Vec<(&str, u64)> = f["by_abr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["group"].as_str().unwrap(), g["players"].as_u64().unwrap()))
        .collect();
    assert_eq!(abrs, [("cmsd-throughput", 2), ("throughput", 2)]);
    assert!(stdout.contains("Jain's fairness"), "{stdout}");
    let csv = std::fs::read_to_string(tmp.path().join("query/fairness.csv")).unwrap();
    assert!(
        csv.starts_with("by,group,players,mean_bitrate_kbps,jain\nall,all,4,"),
        "{csv}"
    );

    // 2. Header mode.
    let (q0, h0) = (counter(&edge, "query"), counter(&edge, "header"));
    let (r, stdout) = swarm(
        &edge,
        &["--players", "2", "--cmcd", "header"],
        &tmp.path().join("header"),
    );
    let requests = row(&r)["player_counts"]["requests"].as_u64().unwrap() as f64;
    assert!(requests > 0.0, "{stdout}");
    // The before/after scrapes are not CMCD requests.
    assert_eq!(counter(&edge, "header") - h0, requests, "{stdout}");
    assert_eq!(counter(&edge, "query"), q0);

    // 3. Off.
    let (r, stdout) = swarm(
        &edge,
        &["--players", "1", "--cmcd", "off"],
        &tmp.path().join("off"),
    );
    assert_eq!(row(&r)["edge_cmcd_requests"].as_u64(), Some(0), "{stdout}");

    // 4. Starvation: 3 players behind a 0.3 Mbit/s bottleneck stall; each stall is reported
    // as `bs` on the player's next video request, so the edge counts every stall but those
    // during a player's last download (at most one per player).
    let (r, stdout) = swarm(
        &edge,
        &[
            "--players",
            "3",
            "--shared-bottleneck",
            "0.3",
            "--abr",
            "bba",
        ],
        &tmp.path().join("starved"),
    );
    let stalls: u64 = r["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metrics"]["rebuffer_count"].as_u64().unwrap())
        .sum();
    let bs = row(&r)["edge_cmcd_starvation"].as_u64().unwrap();
    assert!(
        stalls > 3,
        "the bottleneck should make them stall\n{stdout}"
    );
    assert!(
        bs <= stalls && bs + 3 >= stalls,
        "bs {bs}, stalls {stalls}\n{stdout}"
    );
}
