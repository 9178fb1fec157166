//! Edge self-announcement against a real redirector over HTTP: announce, heartbeat,
//! expiry, withdrawal, refusals (bad token, disabled, conflict, bad body), reloads; and
//! the routing key: one client is sent to one edge per asset by the `302`, `/steer` and
//! the steered MPD. Real origins stand in for edges (they answer `/healthz`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redirector::{RedirectorConfig, RunningRedirector};
use serde_json::{json, Value};
use test_support::origin::RunningOrigin;
use test_support::Patience;

const TOKEN: &str = "announce-test-token";

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

/// A topology with `edges` configured (id, url, lat, lon) and `[announce]` from `announce`
/// (a heartbeat of 100 ms, 3 missed heartbeats expire an edge).
fn topology(edges: &[(&str, String, f64, f64)], announce: &str) -> String {
    let mut t = String::from(
        "default_location = \"eu\"\ntrusted_proxies = [\"127.0.0.0/8\"]\nslack_km = 2000\n# No bounded load: a spill would (by design) move a busy client elsewhere.\nmin_load = 1000000\n\n[health]\ninterval_ms = 100\ntimeout_ms = 200\nfall = 1\nrise = 1\n\n",
    );
    t.push_str(announce);
    for (id, url, lat, lon) in edges {
        t.push_str(&format!(
            "\n[[edges]]\nid = \"{id}\"\nurl = \"{url}\"\nlat = {lat}\nlon = {lon}\n"
        ));
    }
    t.push_str(
        "\n[[locations]]\nname = \"eu\"\nlat = 50.1\nlon = 8.7\nnetworks = [\"192.0.2.0/24\"]\n\n[[locations]]\nname = \"us\"\nlat = 38.9\nlon = -77.0\nnetworks = [\"198.51.100.0/24\"]\n",
    );
    t
}

const ANNOUNCE: &str = "[announce]\ntoken_file = \"token\"\nheartbeat_ms = 100\nexpire_after = 3\n";

struct World {
    dir: tempfile::TempDir,
    topo: PathBuf,
    r: RunningRedirector,
    http: reqwest::Client,
}

impl World {
    async fn new(text: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let topo = dir.path().join("topology.toml");
        std::fs::write(&topo, text).unwrap();
        let mut cfg = RedirectorConfig::new(&topo);
        cfg.http = Some("127.0.0.1:0".parse().unwrap());
        cfg.reload_on_sighup = false;
        cfg.watch_interval = None;
        let r = redirector::bind(cfg).await.unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        World { dir, topo, r, http }
    }

    fn base(&self) -> String {
        format!("http://{}", self.r.http_addr().unwrap())
    }

    async fn announce(&self, token: Option<&str>, body: &Value) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}/announce", self.base()))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn withdraw(&self, token: &str, id: &str) -> u16 {
        self.http
            .delete(format!("{}/announce/{id}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn get_json(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }

    async fn edges(&self) -> Vec<Value> {
        self.get_json("/debug/edges").await["edges"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn edge(&self, id: &str) -> Option<Value> {
        self.edges().await.into_iter().find(|e| e["id"] == id)
    }

    /// The `Location` of `GET path` from client `ip` (status 302), or the status.
    async fn redirect(&self, ip: &str, path: &str) -> Result<String, u16> {
        let res = self
            .http
            .get(format!("{}{path}", self.base()))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            302 => Ok(res.headers()["location"].to_str().unwrap().to_string()),
            s => Err(s),
        }
    }

    fn metric(&self, result: &str) -> f64 {
        let text = self.r.shared().metrics.encode();
        let exp = serve::prom::Exposition::parse(&text).unwrap();
        exp.value("redirector_announce_total", &[("result", result)])
            .unwrap_or(0.0)
    }
}

fn announcement(id: &str, edge: SocketAddr, lat: f64, lon: f64) -> Value {
    json!({"id": id, "url": format!("http://{edge}"), "lat": lat, "lon": lon, "region": "eu"})
}

async fn stand_in_edge(ip: &str, root: &Path) -> RunningOrigin {
    test_support::origin::start_at(root, format!("{ip}:0").parse().unwrap(), |_| {}).await
}

fn content() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for asset in ["default", "a", "b", "c", "d"] {
        std::fs::create_dir_all(dir.path().join(asset)).unwrap();
        std::fs::write(dir.path().join(asset).join("manifest.mpd"), MPD).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_edge_joins_heartbeats_expires_and_withdraws() {
    let root = content();
    let e = stand_in_edge("127.0.0.5", root.path()).await;
    let w = World::new(&topology(&[], ANNOUNCE)).await;
    // No edge yet: nothing to route to.
    assert_eq!(
        w.redirect("192.0.2.1", "/default/manifest.mpd").await,
        Err(503)
    );
    let body = announcement("edge-a", e.local_addr(), 48.85, 2.35);
    let (status, reply) = w.announce(Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply, json!({"heartbeat_ms": 100, "expire_ms": 300}));
    // Probed at once: routable well before a health interval would pass... once up.
    let up = Patience::new(Duration::from_secs(3))
        .every(Duration::from_millis(10))
        .until(|| async {
            w.redirect("192.0.2.1", "/default/manifest.mpd")
                .await
                .map_err(|s| format!("status {s}"))
        })
        .await
        .unwrap();
    assert_eq!(
        up,
        format!("http://{}/default/manifest.mpd", e.local_addr())
    );
    let seen = w.edge("edge-a").await.unwrap();
    assert_eq!(seen["source"], "announced");
    assert_eq!(seen["health"], "up");
    assert_eq!(seen["region"], "eu");
    assert!(
        seen["last_heartbeat_ms_ago"].as_u64().unwrap() < 3000,
        "{seen}"
    );
    assert!(seen["answers"].as_u64().unwrap() >= 1, "{seen}");
    // The decision log has it, newest first, with a reason.
    let d = w.get_json("/debug/decisions?n=1").await;
    let d = &d["decisions"][0];
    assert_eq!(d["proto"], "http");
    assert_eq!(d["chosen"], "edge-a");
    assert_eq!(d["key"], "/default");
    assert_eq!(d["client"], "192.0.2.1");
    assert!(
        d["why"]
            .as_str()
            .unwrap()
            .starts_with("nearest healthy edge"),
        "{d}"
    );
    // Heartbeats keep it for longer than the expiry.
    let start = Instant::now();
    let mut last_beat = start;
    while start.elapsed() < Duration::from_millis(600) {
        assert_eq!(w.announce(Some(TOKEN), &body).await.0, 200);
        last_beat = Instant::now();
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert!(w.edge("edge-a").await.is_some());
    // Silent for expire_after × heartbeat (300 ms after the last heartbeat, which the
    // redirector heard just before its answer reached us): removed, not sooner.
    Patience::new(Duration::from_secs(3))
        .every(Duration::from_millis(20))
        .until(|| async { w.edge("edge-a").await.is_none() })
        .await
        .unwrap();
    assert!(
        last_beat.elapsed() >= Duration::from_millis(290),
        "{:?}",
        last_beat.elapsed()
    );
    assert_eq!(w.metric("expired"), 1.0);
    // Announced again, then withdrawn: gone at once; withdrawing again is a 404.
    assert_eq!(w.announce(Some(TOKEN), &body).await.0, 200);
    assert!(w.edge("edge-a").await.is_some());
    assert_eq!(w.withdraw(TOKEN, "edge-a").await, 204);
    assert!(w.edge("edge-a").await.is_none());
    assert_eq!(w.withdraw(TOKEN, "edge-a").await, 404);
    assert_eq!(w.withdraw("wrong", "edge-a").await, 401);
    assert_eq!(w.metric("withdrawn"), 1.0);
    let text = w.r.shared().metrics.encode();
    assert!(text.contains("redirector_announced_edges 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_bad_token_conflict_invalid_and_disabled() {
    let root = content();
    let e = stand_in_edge("127.0.0.6", root.path()).await;
    let url = format!("http://{}", e.local_addr());
    let w = World::new(&topology(&[("paris", url.clone(), 48.85, 2.35)], ANNOUNCE)).await;
    let body = announcement("edge-x", e.local_addr(), 48.85, 2.35);
    assert_eq!(w.announce(None, &body).await.0, 401);
    assert_eq!(w.announce(Some("wrong-token"), &body).await.0, 401);
    assert_eq!(w.metric("unauthorized"), 2.0);
    assert!(w.edge("edge-x").await.is_none());
    // A configured id: conflict.
    let (s, why) = w
        .announce(
            Some(TOKEN),
            &announcement("paris", e.local_addr(), 1.0, 1.0),
        )
        .await;
    assert_eq!(s, 409, "{why}");
    // Bad bodies: 400 with the reason.
    for (bad, reason) in [
        (json!({"id": "", "url": url, "lat": 1.0, "lon": 1.0}), "id"),
        (
            json!({"id": "x", "url": "ftp://h", "lat": 1.0, "lon": 1.0}),
            "http(s)",
        ),
        (
            json!({"id": "x", "url": url, "lat": 91.0, "lon": 1.0}),
            "lat",
        ),
        (json!({"id": "x", "url": url, "lon": 1.0}), "lat"),
    ] {
        let (s, why) = w.announce(Some(TOKEN), &bad).await;
        assert_eq!(s, 400, "{bad}: {why}");
        assert!(why.contains(reason), "{bad}: {why}");
    }
    assert_eq!(w.metric("invalid"), 4.0);
    // A reload keeps announced edges.
    assert_eq!(w.announce(Some(TOKEN), &body).await.0, 200);
    w.r.shared().reload().unwrap();
    let x = w.edge("edge-x").await.unwrap();
    assert_eq!(x["source"], "announced");
    assert_eq!(w.edge("paris").await.unwrap()["source"], "configured");
    assert!(w.edge("paris").await.unwrap()["last_heartbeat_ms_ago"].is_null());
    // Without a token anywhere: announcing is disabled (403).
    std::fs::write(&w.topo, topology(&[("paris", url, 48.85, 2.35)], "")).unwrap();
    if std::env::var_os(serve::wire::ANNOUNCE_TOKEN_ENV).is_none() {
        w.r.shared().reload().unwrap();
        assert!(
            w.edge("edge-x").await.is_none(),
            "dropped when announcing is disabled"
        );
        assert_eq!(w.announce(Some(TOKEN), &body).await.0, 403);
        assert_eq!(w.metric("disabled"), 1.0);
    }
    drop(w.dir);
}

/// For many clients and several assets, the `302`'s edge, the first pathway of `/steer`
/// and the steered MPD's default `serviceLocation` are the same edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_steering_and_steered_mpd_agree() {
    let root = content();
    let mut edges = Vec::new();
    let mut origins = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .into_iter()
        .enumerate()
    {
        let o = stand_in_edge(ip, root.path()).await;
        // Three edges close together (within slack): the asset hash decides.
        edges.push((
            ["e0", "e1", "e2"][i],
            format!("http://{}", o.local_addr()),
            48.8 + i as f64 * 0.1,
            2.3,
        ));
        origins.push(o);
    }
    let w = World::new(&topology(&edges, "")).await;
    Patience::new(Duration::from_secs(5))
        .every(Duration::from_millis(20))
        .until(|| async { w.r.shared().snapshot().health.iter().all(|h| h.is_up()) })
        .await
        .unwrap();
    let id_of = |location: &str| {
        edges
            .iter()
            .find(|(_, url, _, _)| location.starts_with(&format!("{url}/")))
            .map(|e| e.0.to_string())
            .unwrap_or_else(|| panic!("{location} is no edge"))
    };
    let mut chosen = std::collections::BTreeSet::new();
    for asset in ["default", "a", "b", "c", "d"] {
        for client in 1..=12 {
            let ip = format!("192.0.2.{client}");
            let by_302 = id_of(
                &w.redirect(&ip, &format!("/{asset}/v1/{client}.m4s"))
                    .await
                    .unwrap(),
            );
            let mpd_302 = id_of(
                &w.redirect(&ip, &format!("/{asset}/manifest.mpd"))
                    .await
                    .unwrap(),
            );
            let steer: Value = w
                .http
                .get(format!("{}/steer?asset={asset}", w.base()))
                .header("x-forwarded-for", &ip)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .map(|t| serde_json::from_str(&t).unwrap())
                .unwrap();
            let mpd = w
                .http
                .get(format!("{}/steered/{asset}/manifest.mpd", w.base()))
                .header("x-forwarded-for", &ip)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let parsed = manifests::Mpd::parse(&mpd).unwrap();
            let default = parsed
                .content_steering
                .and_then(|c| c.default_service_location)
                .unwrap();
            assert_eq!(by_302, mpd_302, "{asset} {ip}");
            assert_eq!(
                steer["PATHWAY-PRIORITY"][0],
                by_302.as_str(),
                "{asset} {ip}"
            );
            assert_eq!(default, by_302, "{asset} {ip}");
            chosen.insert(by_302);
        }
    }
    // Several assets over three near-equal edges: more than one edge is used.
    assert!(chosen.len() > 1, "{chosen:?}");
    drop(origins);
}
