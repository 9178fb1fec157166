//! `dashcdn edge` as a real process: `--help`, TOML config with flag overrides, the
//! `listening on http://ADDR` line, and size-flag validation.

use std::process::Command;

use crate::common::BIN;

use test_support::content::{file, make_content};
use test_support::http::{client, warm};
use test_support::process::{listening_url, Process, LISTENING_TIMEOUT};

#[test]
fn help_explains_every_flag() {
    let out = Command::new(BIN).args(["edge", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--upstream",
        "--listen",
        "--id",
        "--mem",
        "--disk",
        "--disk-size",
        "--parent",
        "--policy",
        "--cache-query",
        "--prefetch",
        "--admin-token",
        "--connect-timeout-ms",
        "--stale-if-error",
        "--config",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let out = Command::new(BIN)
        .args([
            "edge",
            "--upstream",
            "http://127.0.0.1:1",
            "--mem",
            "12 parsecs",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_process_serves_through_with_config_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_content(dir.path());
    let o = test_support::origin::start(&root, |_| {}).await;
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "id = \"from-toml\"\nupstream = \"http://{}\"\nmem = \"32MiB\"\nprefetch = 0\n",
            o.local_addr()
        ),
    )
    .unwrap();
    let mut child = Process::spawn(
        Command::new(BIN)
            .args(["edge", "--config"])
            .arg(&cfg)
            .args(["--listen", "127.0.0.3:0", "--id", "cli-edge"]),
    )
    .unwrap();
    let (child, line) = tokio::task::spawn_blocking(move || {
        let line = child.next_line(LISTENING_TIMEOUT);
        (child, line)
    })
    .await
    .unwrap();
    let line = line.unwrap_or_else(|e| panic!("{e}"));
    let url = listening_url(&line)
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.3:"), "{url}");
    let c = client();
    let seg = format!("{url}/default/v144/1.m4s");
    let r = c.get(&seg).send().await.unwrap();
    assert_eq!(
        r.headers()["x-served-by"],
        "cli-edge",
        "flag overrides the TOML id"
    );
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        file(&root, "/default/v144/1.m4s").as_slice()
    );
    warm(&c, &seg).await;
    let metrics = test_support::metrics::scrape(&c, &url).await;
    assert_eq!(
        metrics.value(
            edge::metrics::CACHE_BUDGET_BYTES_NAME,
            &[("tier", "memory")]
        ),
        Some((32u64 << 20) as f64)
    );
    drop(child); // killed and reaped
}
