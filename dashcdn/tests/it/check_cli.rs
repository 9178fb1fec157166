//! `--check` of every server role: the flags and configuration are validated as a start
//! would validate them, `ok: <role> ...` is printed and the process exits 0, or the usual
//! one-line error and a non-zero exit. No socket is bound: the checks pass on an address
//! another socket holds.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::net::TcpListener;
use std::process::{Command, Output};

use crate::common::*;

fn run<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DASHCDN_ANNOUNCE_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok<S: AsRef<OsStr> + Debug>(args: &[S], env: &[(&str, &str)], starts: &str) -> String {
    let out = run(args, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.starts_with(starts),
        "{args:?}: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    stdout
}

fn fails<S: AsRef<OsStr> + Debug>(args: &[S], env: &[(&str, &str)], says: &str) {
    let out = run(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} passed");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn every_role_checks_without_binding() {
    // A held port: a real start would fail on it; a check must not try.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let content = content_root();
    let c = content.to_str().unwrap();

    ok(
        &["origin", "--content", c, "--listen", &taken, "--check"],
        &[],
        "ok: origin",
    );
    fails(
        &["origin", "--content", "/nonexistent/content", "--check"],
        &[],
        "/nonexistent/content",
    );
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    fails(
        &["origin", "--content", file.to_str().unwrap(), "--check"],
        &[],
        "not a directory",
    );

    std::fs::write(dir.path().join("token"), "t\n").unwrap();
    let token = dir.path().join("token");
    let t = token.to_str().unwrap();
    let edge = |extra: &[&str]| {
        let mut a = vec![
            "edge",
            "--upstream",
            "http://127.0.0.1:8080",
            "--listen",
            &taken,
        ];
        a.extend_from_slice(extra);
        a.push("--check");
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let announce = [
        "--announce",
        "http://127.0.0.1:9",
        "--coords",
        "48.85,2.35",
        "--announce-token-file",
        t,
    ];
    let line = ok(&edge(&announce), &[], "ok: edge");
    assert!(line.contains("announcing to http://127.0.0.1:9"), "{line}");
    ok(&edge(&[]), &[], "ok: edge");
    // The token from the environment instead of a file.
    ok(
        &edge(&announce[..4]),
        &[("DASHCDN_ANNOUNCE_TOKEN", "t")],
        "ok: edge",
    );
    fails(&edge(&announce[..4]), &[], "no token");
    fails(&edge(&announce[..2]), &[], "--coords");
    fails(
        &edge(&["--announce", "http://r:1", "--coords", "91,0"]),
        &[],
        "latitude",
    );
    fails(
        &edge(&[
            "--announce",
            "ftp://r",
            "--coords",
            "1,2",
            "--announce-token-file",
            t,
        ]),
        &[],
        "redirector URL",
    );
    fails(
        &[
            "edge",
            "--upstream",
            "http://127.0.0.1:8080",
            "--listen",
            "0.0.0.0:8081",
            "--announce",
            "http://r:1",
            "--coords",
            "1,2",
            "--announce-token-file",
            t,
            "--check",
        ],
        &[],
        "--public-url",
    );
    fails(
        &["edge", "--upstream", "not a url", "--check"],
        &[],
        "invalid upstream URL",
    );

    let topo = write_topology(
        dir.path(),
        "[announce]\ntoken_file = \"token\"\n\n[[locations]]\nname = \"eu\"\nlat = 50.0\nlon = 8.0\n",
    );
    let p = topo.to_str().unwrap();
    let line = ok(
        &[
            "redirector",
            "--topology",
            p,
            "--http",
            &taken,
            "--dns",
            &taken,
            "--check",
        ],
        &[],
        "ok: redirector",
    );
    assert!(
        line.contains("0 edges") && line.contains("announcing on"),
        "{line}"
    );
    std::fs::write(
        &topo,
        "[announce]\ntoken_file = \"token\"\n\n[[locations]]\nname = \"eu\"\nlat = 95.0\nlon = 8.0\n",
    )
    .unwrap();
    fails(
        &["redirector", "--topology", p, "--http", &taken, "--check"],
        &[],
        "topology.toml:4: locations[0] (name \"eu\"): lat 95 is outside",
    );
    drop(held);
}
