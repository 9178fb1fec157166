//! `dashcdn up` as a process: the supervisor's promises. Each test runs its own instance on
//! loopback addresses of its own (`--ip-base 127.0.6x`, `--port-offset 5000`) with a temp
//! run dir and the packaged content, so tests never collide with each other or with a
//! user's `dashcdn up`.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::BIN;
use test_support::process::Process;
use test_support::Patience;

const PORT_OFFSET: u16 = 5000;

/// The page's directory: the repository's `web/` when dash.js is vendored there (test.sh
/// does it first), otherwise a copy of the page with a placeholder dash.js (these tests
/// exercise the supervisor; the browser test plays the page).
fn web_dir(tmp: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    if repo.join("vendor/dash.all.min.js").is_file() {
        return repo;
    }
    let web = tmp.join("web");
    std::fs::create_dir_all(web.join("vendor")).unwrap();
    for f in ["up.html", "up.js", "live-clock.js"] {
        std::fs::copy(repo.join(f), web.join(f)).unwrap();
    }
    std::fs::write(web.join("vendor/dash.all.min.js"), "// placeholder\n").unwrap();
    web
}

/// `dashcdn up` on `127.0.<ip>.x`, ports + 5000, run dir and web dir under `tmp`, plus `extra`.
fn up_command(tmp: &Path, ip: u8, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("RUST_BACKTRACE", "0")
        .env("DASHCDN_LOG", "info")
        .arg("up")
        .args(["--ip-base", &format!("127.0.{ip}")])
        .args(["--port-offset", &PORT_OFFSET.to_string()])
        .arg("--run-dir")
        .arg(tmp.join("run"))
        .arg("--content")
        .arg(common::content_root())
        .arg("--web")
        .arg(web_dir(tmp))
        .args(extra);
    cmd
}

/// Starts `up` and waits for its `page: URL` line; returns the process and the page URL.
fn start_up(tmp: &Path, ip: u8) -> (Process, String) {
    let mut p = Process::spawn(&mut up_command(tmp, ip, &[])).unwrap();
    let (url, _) = p
        .wait_for_line(Duration::from_secs(60), "`page: URL` line", |l| {
            l.strip_prefix("page: ")
                .map(|u| u.trim_end_matches('/').to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    (p, url)
}

fn status(page: &str) -> serde_json::Value {
    let body = Command::new("curl")
        .args(["-sf", &format!("{page}/api/status")])
        .output()
        .unwrap();
    assert!(body.status.success(), "GET {page}/api/status failed");
    serde_json::from_slice(&body.stdout).unwrap()
}

fn component<'a>(st: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    st["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no component {id} in {st}"))
}

fn post(page: &str, path: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .arg(format!("{page}{path}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap()
}

fn pids(st: &serde_json::Value) -> Vec<u32> {
    st["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["pid"].as_u64().map(|p| p as u32))
        .collect()
}

fn alive(pid: u32) -> bool {
    // a zombie is dead for our purpose (its parent has not reaped it yet)
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Processes whose command line mentions `127.0.<ip>.`: what an instance started.
fn processes_on(ip: u8) -> Vec<String> {
    let needle = format!("127.0.{ip}.");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| {
            c.contains(&needle)
                && [" origin ", " edge ", " redirector "]
                    .iter()
                    .any(|r| c.contains(r))
        })
        .collect()
}

fn wait_exit(p: &mut Process, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = p.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "still running after {limit:?}\n{}",
            p.output_report()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_address_in_use_is_one_line_naming_the_component_and_nothing_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = format!("127.0.66.22:{}", 8081 + PORT_OFFSET);
    let _holder = TcpListener::bind(&taken).unwrap();
    let out = up_command(tmp.path(), 66, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "edge-us: {taken} is already in use (another dashcdn up?)"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(processes_on(66).is_empty(), "{:?}", processes_on(66));
    // nothing was started: no component wrote a log
    let logs: Vec<_> = std::fs::read_dir(tmp.path().join("run"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .collect();
    assert!(logs.is_empty(), "{logs:?}");
}

#[test]
fn a_bad_config_or_a_missing_binary_is_one_line_naming_the_component() {
    let tmp = tempfile::tempdir().unwrap();
    let out = up_command(tmp.path(), 66, &["--bin", "/nonexistent/dashcdn"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("origin: binary /nonexistent/dashcdn not found"),
        "{stderr}"
    );
    let cfg = tmp.path().join("cdn.toml");
    std::fs::write(
        &cfg,
        "[origin]\ncontent = \"c\"\n[[edges]]\nid = \"x\"\nurl = \"http://127.0.66.9:1\"\nlat = 95\nlon = 0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .env("RUST_BACKTRACE", "0")
        .args(["up", "--check", "--config"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .arg("--web")
        .arg(web_dir(tmp.path()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // the origin's content dir is checked first; with it present, the redirector refuses lat 95
    assert!(stderr.contains("origin: bad configuration"), "{stderr}");
    std::fs::create_dir_all(tmp.path().join("c")).unwrap();
    let out = Command::new(BIN)
        .env("RUST_BACKTRACE", "0")
        .args(["up", "--check", "--config"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .arg("--web")
        .arg(web_dir(tmp.path()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("redirector: bad configuration"), "{stderr}");
    assert!(stderr.contains("95"), "{stderr}");
}

#[test]
fn live_plans_the_encoder_and_a_private_ingest_token_only_when_asked() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = up_command(tmp.path(), 69, extra).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let token = tmp.path().join("run/ingest.token");
    let plain = run(&["--check"]);
    assert!(
        !plain.contains("encoder") && !plain.contains("low-latency live"),
        "{plain}"
    );
    assert!(
        plain.contains("looped live: http://127.0.69.1:13053/live/default/manifest.mpd"),
        "{plain}"
    );
    assert!(!token.exists(), "no ingest token without --live");
    // --check runs the origin's own --check with --ingest --ingest-token-file: it must pass
    let live = run(&["--check", "--live"]);
    assert!(
        live.lines().any(|l| l.starts_with("encoder")
            && l.contains("http://127.0.69.1:13080/ingest/live/manifest.mpd")),
        "{live}"
    );
    assert!(
        live.contains("low-latency live: http://127.0.69.1:13053/ingest/live/manifest.mpd"),
        "{live}"
    );
    let meta = std::fs::metadata(&token).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let secret = std::fs::read_to_string(&token).unwrap();
    assert!(
        secret.len() >= 16 && !live.contains(secret.trim()),
        "the token is never printed"
    );
}

#[test]
fn the_shipped_example_config_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cdn.toml");
    // the example's content dir is relative to the file: give it one
    let dir = tmp.path().join("examples");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&example, dir.join("cdn.toml")).unwrap();
    std::os::unix::fs::symlink(common::content_root(), tmp.path().join("content")).unwrap();
    let out = Command::new(BIN)
        .env("RUST_BACKTRACE", "0")
        .args(["up", "--check", "--config"])
        .arg(dir.join("cdn.toml"))
        .arg("--run-dir")
        .arg(tmp.path().join("run"))
        .arg("--web")
        .arg(web_dir(tmp.path()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration OK"), "{stdout}");
    let topo = std::fs::read_to_string(tmp.path().join("run/topology.toml")).unwrap();
    assert!(
        !topo.contains("[origin]") && topo.contains("[[edges]]"),
        "{topo}"
    );
}

#[test]
fn a_child_killed_from_outside_is_restarted_one_killed_through_the_api_stays_down_and_sigterm_stops_all(
) {
    let tmp = tempfile::tempdir().unwrap();
    let (mut up, page) = start_up(tmp.path(), 67);
    let st = status(&page);
    assert!(
        st["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "running"),
        "{st}"
    );
    let mut all_pids = pids(&st);
    assert_eq!(all_pids.len(), 6, "{st}");

    // SIGKILL from outside: reported, restarted after the 0.5 s backoff
    let old = component(&st, "edge-ap")["pid"].as_u64().unwrap() as u32;
    send_signal(old, 9);
    let restarted = Patience::new(Duration::from_secs(15))
        .until_sync(|| {
            let st = status(&page);
            let c = component(&st, "edge-ap").clone();
            (c["state"] == "running" && c["restarts"] == 1).then_some(c)
        })
        .unwrap();
    assert_ne!(restarted["pid"].as_u64().unwrap() as u32, old);
    assert_eq!(restarted["last_exit"], "signal 9 (SIGKILL)");
    all_pids.push(restarted["pid"].as_u64().unwrap() as u32);
    let log = restarted["log"].as_str().unwrap().to_owned();
    let (line, _) = up
        .wait_for_line(Duration::from_secs(5), "the death report", |l| {
            l.contains("edge-ap died").then(|| l.to_owned())
        })
        .unwrap();
    assert_eq!(
        line,
        format!("up: edge-ap died (signal 9 (SIGKILL)); log {log}; restarting in 0.5 s")
    );
    up.wait_for_line(Duration::from_secs(5), "the restart report", |l| {
        l.contains("edge-ap restarted").then_some(())
    })
    .unwrap();

    // killed through the API: stays down (no restart), until started through the API
    assert_eq!(post(&page, "/api/components/edge-us/kill"), 202);
    std::thread::sleep(Duration::from_secs(2));
    let st = status(&page);
    assert_eq!(component(&st, "edge-us")["state"], "killed", "{st}");
    assert!(component(&st, "edge-us")["pid"].is_null());
    assert_eq!(post(&page, "/api/components/edge-us/start"), 202);
    let started = Patience::new(Duration::from_secs(15))
        .until_sync(|| {
            let st = status(&page);
            let c = component(&st, "edge-us").clone();
            (c["state"] == "running").then_some(c)
        })
        .unwrap();
    all_pids.push(started["pid"].as_u64().unwrap() as u32);
    assert_eq!(post(&page, "/api/components/nope/kill"), 404);

    let events = Command::new("curl")
        .args(["-sf", &format!("{page}/api/events")])
        .output()
        .unwrap();
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).unwrap();
    let kinds: Vec<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["component"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "died edge-ap",
        "restarted edge-ap",
        "killed edge-us",
        "started edge-us",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{want} in {kinds:?}");
    }

    // SIGTERM: every child stopped, exit 0
    send_signal(up.id(), 15);
    let status = wait_exit(&mut up, Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", up.output_report());
    for pid in all_pids {
        assert!(!alive(pid), "child {pid} survived up's SIGTERM");
    }
    assert!(processes_on(67).is_empty(), "{:?}", processes_on(67));
}

#[test]
fn children_die_with_up_even_when_it_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut up, page) = start_up(tmp.path(), 68);
    let pids = pids(&status(&page));
    assert_eq!(pids.len(), 6);
    send_signal(up.id(), 9);
    wait_exit(&mut up, Duration::from_secs(5));
    Patience::new(Duration::from_secs(15))
        .until_sync(|| pids.iter().all(|&p| !alive(p)))
        .unwrap_or_else(|e| panic!("children outlived up's SIGKILL: {e}"));
}

#[test]
fn players_run_through_the_cdn_and_exit_after_prints_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut up = Process::spawn(&mut up_command(
        tmp.path(),
        69,
        &[
            "--players",
            "4",
            "--segments",
            "3",
            "--speed",
            "8",
            "--exit-after-players",
        ],
    ))
    .unwrap();
    let status = wait_exit(&mut up, Duration::from_secs(120));
    let stdout = up.stdout();
    assert!(status.success(), "{status}\n{}", up.output_report());
    assert!(stdout.contains("4 players (4 ok, 0 failed)"), "{stdout}");
    assert!(
        stdout.contains("edge-eu"),
        "the report names the edges: {stdout}"
    );
    assert!(stdout.contains("up: stopped"), "{stdout}");
    assert!(tmp.path().join("run/players/swarm.json").is_file());
    assert!(processes_on(69).is_empty(), "{:?}", processes_on(69));
}

/// `kill -SIG PID` (the test crate has no libc).
fn send_signal(pid: u32, sig: i32) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}
