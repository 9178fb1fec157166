//! `dashcdn redirector` as a process: prints its addresses, answers DNS and HTTP,
//! reloads on SIGHUP.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;
use test_support::Patience;

#[test]
fn redirector_process_answers_dns_and_http_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
default_location = "eu"
trusted_proxies = ["127.0.0.1/32"]
[[edges]]
id = "a"
url = "http://127.0.0.1:9"
address = "127.0.0.1"
lat = 48.85
lon = 2.35
[[edges]]
id = "b"
url = "http://127.0.0.2:9"
address = "127.0.0.2"
lat = 40.71
lon = -74.0
[[locations]]
name = "eu"
lat = 50.1
lon = 8.7
networks = ["192.0.2.0/24"]
[[locations]]
name = "us"
lat = 38.9
lon = -77.0
networks = ["198.51.100.0/24"]
"#;
    let topo = write_topology(dir.path(), text);
    let redirector = start_redirector(&topo);
    // It prints its DNS address, then its HTTP address.
    assert_eq!(redirector.before.len(), 1, "{:?}", redirector.before);
    let dns = redirector.dns();
    let http = redirector.url.clone();
    let (ip, port) = dns.rsplit_once(':').unwrap();
    let dig = |subnet: &str| {
        let out = Command::new("dig")
            .args([
                &format!("@{ip}"),
                "-p",
                port,
                "+short",
                "+time=2",
                "+tries=1",
            ])
            .arg(format!("+subnet={subnet}"))
            .args(["cdn.example.test", "A"])
            .output()
            .expect("`dig` is missing: apt-get install -y bind9-dnsutils");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Health never sees these edges (port 9): least-bad answers, never empty.
    assert_eq!(dig("198.51.100.0/24"), "127.0.0.2");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = rt
        .block_on(
            client
                .get(format!("{http}/default/manifest.mpd"))
                .header("x-forwarded-for", "192.0.2.1")
                .send(),
        )
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "http://127.0.0.1:9/default/manifest.mpd"
    );
    // SIGHUP reload: the edges' addresses are swapped.
    let swapped = text
        .replace("address = \"127.0.0.1\"", "address = \"X\"")
        .replace("address = \"127.0.0.2\"", "address = \"127.0.0.1\"")
        .replace("address = \"X\"", "address = \"127.0.0.2\"");
    std::fs::write(&topo, swapped).unwrap();
    Command::new("kill")
        .args(["-HUP", &redirector.proc.id().to_string()])
        .status()
        .unwrap();
    Patience::new(Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .until_sync(|| match (dig("192.0.2.0/24"), dig("198.51.100.0/24")) {
            (eu, us) if eu == "127.0.0.2" && us == "127.0.0.1" => Ok(()),
            (eu, us) => Err(format!("eu → {eu:?}, us → {us:?}")),
        })
        .unwrap_or_else(|e| panic!("reload not applied: {e}"));
    drop(redirector);
}
