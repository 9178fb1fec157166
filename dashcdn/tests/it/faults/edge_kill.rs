//! An edge SIGKILLed mid-swarm.
//!
//! An origin, `edge-a` (127.0.0.2) and `edge-b` (127.0.0.3) in front of it, and a redirector
//! health-checking both (every [`HEALTH_INTERVAL_MS`], [`HEALTH_FALL`] failures take an edge
//! out) and steering (`/steered/<title>/manifest.mpd`, steering TTL 1 s). A seeded swarm of
//! [`PLAYERS`] players over four titles follows the steered MPDs; 3 s (wall) into it,
//! `edge-a` is SIGKILLed.
//!
//! Pass conditions:
//! * the redirector stops sending new clients to `edge-a` within [`REROUTE_BOUND`] (3 s):
//!   measured from the kill to the first `302` for a title homed on `edge-a` whose
//!   `Location` names `edge-b`, polled every 20 ms;
//! * players recover: every player finishes its segments (`players_ok`), and some player
//!   fetched media from `edge-a` before the kill and from `edge-b` after it;
//! * no player rebuffers longer than [`stall_bound`]: the segment in flight at the kill is
//!   lost and fetched again at the next BaseURL (one [`SEGMENT_S`] of media), plus the time
//!   health needs to take the edge out (`fall × interval + timeout`) in session seconds —
//!   asserted on each player's total rebuffering, which bounds its longest stall;
//! * RSS of the origin, both edges and the redirector within budget + overhead throughout.

use std::process::Command;
use std::time::{Duration, Instant};

use test_support::process::Process;
use test_support::Patience;

use super::*;
use crate::common::*;

const PLAYERS: usize = 12;
const TITLES: [&str; 4] = ["default", "t1", "t2", "t3"];
const SPEED: f64 = 4.0;
/// The packaged default's segment duration, session seconds.
const SEGMENT_S: f64 = 2.0;
const HEALTH_INTERVAL_MS: u64 = 200;
const HEALTH_TIMEOUT_MS: u64 = 500;
const HEALTH_FALL: u64 = 2;
/// How soon the redirector must stop sending clients to the dead edge.
const REROUTE_BOUND: Duration = Duration::from_secs(3);
/// When the edge is killed, wall time after the swarm starts.
const KILL_AFTER: Duration = Duration::from_millis(3000);
/// The players' buffer, session seconds: small, so they fetch as they play (with the
/// default 25 s they would have every segment before the kill).
const BUFFER_S: f64 = 6.0;

/// The most rebuffering a player may see, session seconds (see the module docs).
fn stall_bound() -> f64 {
    let detect_s = (HEALTH_FALL * HEALTH_INTERVAL_MS + HEALTH_TIMEOUT_MS) as f64 / 1e3;
    SEGMENT_S + detect_s * SPEED
}

/// The `Location` of the redirector's answer to `GET {redirector}/{title}/manifest.mpd`.
async fn location(c: &reqwest::Client, redirector: &str, title: &str) -> String {
    let r = c
        .get(format!("{redirector}/{title}/manifest.mpd"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("redirector: {e}"));
    assert_eq!(r.status(), 302, "redirector answered {}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[test]
fn a_killed_edge_is_routed_around_within_3_s_and_players_recover() {
    let _turn = one_at_a_time();
    let rss = rss_sampler();
    let (work, root) = titled_root(&TITLES[1..]);
    let (origin, origin_url) = start_origin(&root);
    rss.watch("origin", origin.id(), ORIGIN_BUDGET, OVERHEAD);
    let (mut edge_a, a_url) = start_edge(&origin_url, "127.0.0.2:0", "edge-a", EDGE_MEM);
    let (edge_b, b_url) = start_edge(&origin_url, "127.0.0.3:0", "edge-b", EDGE_MEM);
    rss.watch("edge-a", edge_a.id(), edge_budget(), OVERHEAD);
    rss.watch("edge-b", edge_b.id(), edge_budget(), OVERHEAD);
    let topo = format!(
        "default_location = \"here\"\nmin_load = 1000000\n\
         [health]\ninterval_ms = {HEALTH_INTERVAL_MS}\ntimeout_ms = {HEALTH_TIMEOUT_MS}\n\
         rise = 1\nfall = {HEALTH_FALL}\n\
         [steering]\nttl = 1\norigin = \"{origin_url}\"\n\
         [[locations]]\nname = \"here\"\nlat = 50.0\nlon = 8.0\nnetworks = [\"127.0.0.0/8\"]\n\
         [[edges]]\nid = \"edge-a\"\nurl = \"{a_url}\"\nlat = 50.1\nlon = 8.1\n\
         [[edges]]\nid = \"edge-b\"\nurl = \"{b_url}\"\nlat = 50.1\nlon = 8.1\n"
    );
    let redirector = start_redirector(&write_topology(work.path(), &topo));
    let r = redirector.url.clone();
    rss.watch(
        "redirector",
        redirector.proc.id(),
        REDIRECTOR_BUDGET,
        OVERHEAD,
    );
    let rt = rt();
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Both edges up, and a title the redirector homes on edge-a.
    let on_a = Patience::new(Duration::from_secs(15))
        .every(Duration::from_millis(50))
        .until_sync(|| {
            rt.block_on(async {
                let mut homes = Vec::new();
                for t in TITLES {
                    homes.push((t, location(&c, &r, t).await));
                }
                let a = homes.iter().find(|(_, l)| l.starts_with(&a_url));
                let b = homes.iter().any(|(_, l)| l.starts_with(&b_url));
                match a {
                    Some((t, _)) if b => Ok(*t),
                    _ => Err(format!("not both edges in use yet: {homes:?}")),
                }
            })
        })
        .unwrap_or_else(|e| panic!("edges never both routed to: {e}"));

    let out = work.path().join("swarm");
    let swarm = Process::spawn(
        Command::new(BIN)
            .args(["--log", "warn", "player", "swarm", "--url"])
            .arg(format!("{r}/steered/{{title}}/manifest.mpd"))
            .args(["--titles", &TITLES.join(","), "--zipf", "0"])
            .args(["--players", &PLAYERS.to_string(), "--arrival-window", "4"])
            .args(["--speed", &SPEED.to_string(), "--segments", "15"])
            .args(["--buffer", &BUFFER_S.to_string()])
            .args(["--seed", "3", "--quiet", "--out"])
            .arg(&out),
    )
    .unwrap();
    std::thread::sleep(KILL_AFTER);
    let a_requests_before = test_support::metrics::scrape_blocking(&a_url).sum(
        test_support::metrics::metric_names::edge::REQUESTS_TOTAL_NAME,
        &[],
    );
    edge_a.kill(); // SIGKILL, reaped
    let killed = Instant::now();
    let rerouted = rt.block_on(async {
        loop {
            let l = location(&c, &r, on_a).await;
            if !l.starts_with(&a_url) {
                return (killed.elapsed(), l);
            }
            assert!(
                killed.elapsed() < REROUTE_BOUND * 3,
                "{on_a} still sent to the dead edge-a after {:?}",
                killed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let swarm_out = swarm.wait_output().unwrap_or_else(|e| panic!("swarm: {e}"));
    let swarm_took = killed.elapsed() + KILL_AFTER;
    let result = super::SwarmResult::read(&swarm_out, &out);
    let (stdout, rebuffers, report) = (&result.stdout, &result.rebuffers, &result.report);
    let worst = result.worst_rebuffer();
    // Players that fetched media from both edges, edge-a first.
    let rows = &result.fetches;
    let mut seq: std::collections::BTreeMap<String, String> = Default::default();
    for row in rows.iter().filter(|r| r["kind"] == "media") {
        let e = if row["url"].starts_with(&a_url) {
            'a'
        } else {
            'b'
        };
        seq.entry(row["player"].clone()).or_default().push(e);
    }
    let movers = seq
        .values()
        .filter(|s| s.starts_with('a') && s.contains('b'))
        .count();
    let figures = format!(
        "edge killed at {KILL_AFTER:?} into the swarm ({a_requests_before} requests served by edge-a); \
         {on_a} rerouted after {:?} to {}; swarm {swarm_took:?}, players ok {}/{PLAYERS}; movers a→b {movers}; \
         rebuffer per player (s) {rebuffers:?}, worst {worst:.2} s, bound {:.2} s",
        rerouted.0,
        rerouted.1,
        report["players_ok"],
        stall_bound()
    );
    println!("fault edge_kill: {figures}");
    assert!(rerouted.0 <= REROUTE_BOUND, "{figures}");
    assert!(rerouted.1.starts_with(&b_url), "{figures}");
    assert_eq!(report["players_ok"], PLAYERS, "{figures}\n{stdout}");
    assert!(
        a_requests_before > 0.0,
        "edge-a served nothing before the kill: {figures}"
    );
    assert!(
        movers > 0,
        "no player moved from edge-a to edge-b: {figures}"
    );
    assert!(worst <= stall_bound(), "{figures}");
    println!("{}", rss.assert_within("edge_kill"));
}
