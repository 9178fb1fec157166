//! The origin killed for [`OUTAGE`] (30 s) during a swarm.
//!
//! A real origin whose segments and MPDs say `max-age=1` (so every stored copy is stale a
//! second later), an edge in front with the default `stale_if_error` (an hour) and its
//! circuit breaker's longest pause at [`BREAKER_MAX_OPEN_MS`]. A first pass GETs every file
//! of the packaged default through the edge (all cached); the origin is then SIGKILLed and a
//! seeded swarm of [`PLAYERS`] players (a 6 s buffer, so they fetch as they play, 20
//! segments at 4× speed: about 10 s of wall time) plays from the edge while it is down. After
//! [`OUTAGE`] the origin is started again on the same address.
//!
//! Pass conditions:
//! * every answer the players got during the outage came from the cache as `STALE` (or
//!   `HIT`), none failed, and every player finished;
//! * rebuffering stays under [`REBUFFER_BOUND`] per player (session seconds, one segment):
//!   a stale copy is answered at once when the upstream refuses the connection (or after
//!   at most `stale_wait_ms`, 500 ms wall, when it hangs), so the outage itself should
//!   cost no rebuffering at all; the bound is slack for a loaded CI machine;
//! * an object that was never cached fails fast while the origin is down (not `200`,
//!   within [`FAIL_FAST`]), and once the origin is back it is served again as a `MISS` with
//!   the right bytes within `BREAKER_MAX_OPEN_MS` + 1 s;
//! * RSS of the origin (both runs) and the edge within budget + overhead throughout.
//!
//! About 45 s, most of it the outage.

use std::process::Command;
use std::time::{Duration, Instant};

use test_support::Patience;

use super::*;
use crate::common::*;

/// How long the origin stays down.
const OUTAGE: Duration = Duration::from_secs(30);
const PLAYERS: usize = 8;
const SPEED: f64 = 4.0;
/// The most rebuffering a player may see during the outage, session seconds: one segment
/// (2 s) of slack for a loaded machine; the stale answers themselves add nothing.
const REBUFFER_BOUND: f64 = 2.0;
/// An uncached object while the origin is down: the answer's deadline.
const FAIL_FAST: Duration = Duration::from_secs(3);
/// The edge's circuit breaker: longest pause before it tries the upstream again.
const BREAKER_MAX_OPEN_MS: u64 = 2000;

/// Every file under `dir`, as URL paths below `prefix`.
fn files(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files(&e.path(), &name, out);
        } else {
            out.push(name);
        }
    }
}

fn start_origin_on(root: &std::path::Path, cfg: &std::path::Path, listen: &str) -> (Proc, String) {
    start(&[
        "origin",
        "--config",
        cfg.to_str().unwrap(),
        "--content",
        root.to_str().unwrap(),
        "--listen",
        listen,
    ])
}

#[test]
fn origin_down_30_s_edges_serve_stale_then_misses_again() {
    let _turn = one_at_a_time();
    let rss = rss_sampler();
    let (work, root) = titled_root(&[]);
    let origin_cfg = work.path().join("origin.toml");
    std::fs::write(
        &origin_cfg,
        "segment_max_age_secs = 1\nmpd_max_age_secs = 1\n",
    )
    .unwrap();
    let (mut origin, origin_url) = start_origin_on(&root, &origin_cfg, "127.0.0.1:0");
    rss.watch("origin", origin.id(), ORIGIN_BUDGET, OVERHEAD);
    let edge_cfg = work.path().join("edge.toml");
    std::fs::write(
        &edge_cfg,
        format!("breaker_max_open_ms = {BREAKER_MAX_OPEN_MS}\n"),
    )
    .unwrap();
    let (edge, edge_url) = start(&[
        "edge",
        "--config",
        edge_cfg.to_str().unwrap(),
        "--upstream",
        &origin_url,
        "--listen",
        "127.0.0.2:0",
        "--id",
        "edge",
        "--mem",
        EDGE_MEM,
    ]);
    rss.watch("edge", edge.id(), edge_budget(), OVERHEAD);
    let rt = rt();
    let c = test_support::http::client();

    // First pass: every file of the asset through the edge.
    let mut paths = Vec::new();
    files(&root.join("default"), "/default", &mut paths);
    let warm_t0 = Instant::now();
    rt.block_on(async {
        for p in &paths {
            let (s, _, _) = test_support::http::get(&c, &format!("{edge_url}{p}")).await;
            assert_eq!(s, 200, "{p}");
        }
        // the last store lands just after its body
        test_support::http::warm(&c, &format!("{edge_url}{}", paths.last().unwrap())).await;
    });
    let warm = warm_t0.elapsed();
    std::thread::sleep(Duration::from_millis(1200)); // every copy is stale now

    origin.kill();
    let down = Instant::now();
    // A never-cached object fails fast while the origin is down.
    let fresh = "/default/fresh-after-outage.bin";
    let fresh_body = test_support::content::bytes_for(99, 50_000);
    std::fs::write(root.join(fresh.trim_start_matches('/')), &fresh_body).unwrap();
    let t = Instant::now();
    let (fresh_status, _, _) =
        rt.block_on(test_support::http::get(&c, &format!("{edge_url}{fresh}")));
    let fresh_fail = t.elapsed();

    let out = work.path().join("swarm");
    let swarm = Command::new(BIN)
        .args(["--log", "warn", "player", "swarm", "--url"])
        .arg(format!("{edge_url}/{{title}}/manifest.mpd"))
        .args(["--titles", "default", "--players", &PLAYERS.to_string()])
        .args(["--arrival-window", "8", "--speed", &SPEED.to_string()])
        .args(["--segments", "20", "--buffer", "6"])
        .args(["--seed", "2", "--quiet"])
        .args(["--edge-metrics", &edge_url, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let swarm_took = down.elapsed();
    let result = super::SwarmResult::read(&swarm, &out);
    let (stdout, rebuffers, report) = (&result.stdout, &result.rebuffers, &result.report);
    let worst = result.worst_rebuffer();
    let rows = &result.fetches;
    let mut by_cache: std::collections::BTreeMap<String, usize> = Default::default();
    for row in rows {
        *by_cache
            .entry(format!("{} {}", row["status"], row["x_cache"]))
            .or_default() += 1;
    }
    assert!(
        swarm_took < OUTAGE,
        "the swarm outlasted the outage ({swarm_took:?}): lower --segments"
    );

    // The origin returns on the same address after the outage.
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    let addr = origin_url.trim_start_matches("http://").to_owned();
    let (origin2, _) = start_origin_on(&root, &origin_cfg, &addr);
    let back = Instant::now();
    rss.watch("origin (restarted)", origin2.id(), ORIGIN_BUDGET, OVERHEAD);
    let recovered = Patience::new(Duration::from_millis(BREAKER_MAX_OPEN_MS + 1000))
        .every(Duration::from_millis(50))
        .until_sync(|| {
            let (s, xc, body) =
                rt.block_on(test_support::http::get(&c, &format!("{edge_url}{fresh}")));
            if s == 200 && body == fresh_body {
                Ok(xc)
            } else {
                Err(format!("{s} {xc}, {} bytes", body.len()))
            }
        });
    let recovered_after = back.elapsed();
    let figures = format!(
        "warm pass {:.1} s ({} files); origin down {OUTAGE:?}; uncached object while down: {fresh_status} \
         in {fresh_fail:?}; swarm during outage {:.1} s: players ok {}/{PLAYERS}, answers by \
         status/X-Cache {by_cache:?}, rebuffer per player (s) {rebuffers:?}, worst {worst:.2} s \
         (bound {REBUFFER_BOUND}); after the origin returned: {recovered:?} in {recovered_after:?}",
        warm.as_secs_f64(),
        paths.len(),
        swarm_took.as_secs_f64(),
        report["players_ok"],
    );
    println!("fault origin_down: {figures}");
    assert_ne!(fresh_status, 200, "{figures}");
    assert!(fresh_fail < FAIL_FAST, "{figures}");
    assert_eq!(report["players_ok"], PLAYERS, "{figures}\n{stdout}");
    let stale = by_cache.get("200 STALE").copied().unwrap_or(0);
    let ok = stale + by_cache.get("200 HIT").copied().unwrap_or(0);
    assert!(stale > 0 && ok == rows.len(), "{figures}");
    assert!(worst <= REBUFFER_BOUND, "{figures}");
    assert_eq!(recovered.as_deref(), Ok("MISS"), "{figures}");
    println!("{}", rss.assert_within("origin_down"));
}
