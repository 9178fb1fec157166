//! The whole announce path with real processes: an origin, a redirector with no configured
//! edge (announcing enabled by a token file), an edge started with `--announce`. The
//! redirector's `302` points at the edge once it is up; after SIGTERM the edge withdraws
//! and is gone from `/debug/edges` within a second (long before a heartbeat could
//! expire); an edge with a wrong token is refused and never routed to.

use std::process::Command;
use std::time::{Duration, Instant};

use test_support::Patience;

use crate::common::*;

fn topology(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(dir.join("token"), "e2e-token\n").unwrap();
    std::fs::write(dir.join("wrong"), "not-the-token\n").unwrap();
    write_topology(
        dir,
        r#"
default_location = "eu"

[health]
interval_ms = 200
timeout_ms = 300
fall = 1
rise = 1

# Heartbeats every 2 s, expiry after 6 s: a departure within 1 s is the DELETE.
[announce]
token_file = "token"
heartbeat_ms = 2000
expire_after = 3

[[locations]]
name = "eu"
lat = 50.1
lon = 8.7
"#,
    )
}

async fn edges(c: &reqwest::Client, redirector: &str) -> serde_json::Value {
    let t = c
        .get(format!("{redirector}/debug/edges"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&t).unwrap()
}

fn has_edge(v: &serde_json::Value, id: &str) -> bool {
    v["edges"].as_array().unwrap().iter().any(|e| e["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_edge_is_routed_to_leaves_on_sigterm_and_a_bad_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path());
    let (_origin, origin) = start_origin(&content_root());
    let redirector = start_lines(&[
        "redirector",
        "--topology",
        topo.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    let r = redirector.url.clone();
    let token = dir.path().join("token");
    let (mut edge, edge_url) = start(&[
        "edge",
        "--upstream",
        &origin,
        "--listen",
        "127.0.0.7:0",
        "--id",
        "edge-paris",
        "--announce",
        &r,
        "--coords",
        "48.85,2.35",
        "--region",
        "eu",
        "--announce-token-file",
        token.to_str().unwrap(),
    ]);
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The 302 points at the announced edge once it is up, and the edge serves it.
    let location = Patience::new(Duration::from_secs(10))
        .every(Duration::from_millis(50))
        .until(|| async {
            let res = c
                .get(format!("{r}/default/manifest.mpd"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match res.headers().get("location") {
                Some(l) if res.status() == 302 => Ok(l.to_str().unwrap().to_string()),
                _ => Err(format!("status {}", res.status())),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("never routed to the edge: {e}\n{}", edge.output_report()));
    assert_eq!(location, format!("{edge_url}/default/manifest.mpd"));
    let res = c.get(&location).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-served-by"], "edge-paris");
    let listed = edges(&c, &r).await;
    let e = &listed["edges"][0];
    assert_eq!(
        (&e["id"], &e["source"], &e["health"], &e["region"]),
        (
            &"edge-paris".into(),
            &"announced".into(),
            &"up".into(),
            &"eu".into()
        ),
        "{listed}"
    );

    // A second edge with a wrong token: refused (logged on both sides), never listed.
    let wrong = dir.path().join("wrong");
    let (bad, bad_url) = start(&[
        "edge",
        "--upstream",
        &origin,
        "--listen",
        "127.0.0.8:0",
        "--id",
        "edge-bad",
        "--announce",
        &r,
        "--coords",
        "48.85,2.35",
        "--announce-token-file",
        wrong.to_str().unwrap(),
    ]);
    Patience::new(Duration::from_secs(10))
        .every(Duration::from_millis(50))
        .until_sync(|| {
            let (e, rd) = (bad.stderr(), redirector.proc.stderr());
            if e.contains("refused the announcement") && rd.contains("announce refused") {
                Ok(())
            } else {
                Err("no refusal logged yet".to_string())
            }
        })
        .unwrap();
    assert!(!has_edge(&edges(&c, &r).await, "edge-bad"));
    for i in 0..20 {
        let res = c
            .get(format!("{r}/default/{i}.m4s"))
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .send()
            .await
            .unwrap();
        let l = res.headers()["location"].to_str().unwrap().to_string();
        assert!(!l.starts_with(&bad_url), "{l}");
    }

    // SIGTERM: the edge withdraws before it stops; gone within a second.
    let status = Command::new("kill")
        .args(["-TERM", &edge.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    Patience::new(Duration::from_secs(1))
        .every(Duration::from_millis(20))
        .until(|| async { !has_edge(&edges(&c, &r).await, "edge-paris") })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "still listed 1 s after SIGTERM: {e}\n{}",
                edge.output_report()
            )
        });
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let exited = Patience::new(Duration::from_secs(10))
        .every(Duration::from_millis(50))
        .until_sync(|| edge.try_wait().unwrap().ok_or("still running"))
        .unwrap();
    assert!(exited.success(), "{exited:?}\n{}", edge.output_report());
    assert!(edge.stderr().contains("withdrawn from the redirector"));
    // No edge left: the redirector says so rather than inventing one.
    let res = c
        .get(format!("{r}/default/manifest.mpd"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}
