//! Shared helpers of the process-level tests (`player_play`, `player_swarm`,
//! `default_content`, `redirector_cli`, `edge_cli`): the packaged default content, `dashcdn`
//! processes ([`test_support::process::Process`]: killed and reaped on drop, output
//! captured), their `listening on http://ADDR` (and the redirector's `dns on ADDR`) lines,
//! topology files, content roots with titles ([`titled_root`], [`link_tree`]). The edge's
//! in-process tests live in the edge crate (`edge/tests/it`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::process::{Process, LISTENING_TIMEOUT};

/// The `dashcdn` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dashcdn");

/// A `dashcdn` process, killed and reaped on drop.
pub type Proc = Process;

/// A started `dashcdn` process.
pub struct Started {
    /// The process.
    pub proc: Proc,
    /// The URL of its `listening on` line.
    pub url: String,
    /// The lines it printed before `listening on` (the redirector's `dns on ADDR (udp+tcp)`).
    pub before: Vec<String>,
}

impl Started {
    /// The address of the redirector's `dns on ADDR ...` line.
    pub fn dns(&self) -> String {
        self.before
            .iter()
            .find_map(|l| l.strip_prefix("dns on "))
            .and_then(|l| l.split_whitespace().next())
            .expect("dns on ADDR")
            .to_string()
    }
}

/// Starts `dashcdn ARGS` and waits for its `listening on` line (its output keeps being
/// drained and captured, so the child never blocks on a full pipe); panics with what it
/// printed if it exits first or stays silent for [`LISTENING_TIMEOUT`].
pub fn start_lines(args: &[&str]) -> Started {
    let mut proc = Process::spawn(Command::new(BIN).args(args))
        .unwrap_or_else(|e| panic!("spawning {BIN} {args:?}: {e}"));
    let listening = proc
        .listening(LISTENING_TIMEOUT)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Started {
        proc,
        url: listening.url,
        before: listening.before,
    }
}

/// [`start_lines`], returning the process and the URL it listens on.
pub fn start(args: &[&str]) -> (Proc, String) {
    let s = start_lines(args);
    (s.proc, s.url)
}

/// `dashcdn origin --content ROOT --listen 127.0.0.1:0`.
pub fn start_origin(root: &Path) -> (Proc, String) {
    start(&[
        "origin",
        "--content",
        root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
}

/// `dashcdn edge --upstream UPSTREAM --listen LISTEN --id ID --mem MEM`.
pub fn start_edge(upstream: &str, listen: &str, id: &str, mem: &str) -> (Proc, String) {
    start(&[
        "edge",
        "--upstream",
        upstream,
        "--listen",
        listen,
        "--id",
        id,
        "--mem",
        mem,
    ])
}

/// `dashcdn redirector --topology TOPO --dns 127.0.0.1:0 --http 127.0.0.1:0`.
pub fn start_redirector(topology: &Path) -> Started {
    start_lines(&[
        "redirector",
        "--topology",
        topology.to_str().unwrap(),
        "--dns",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ])
}

/// Writes `text` as `<dir>/topology.toml` and returns its path.
pub fn write_topology(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `dashcdn package --out OUT` (the embedded default), failing with its stderr.
pub fn package_default(out: &Path) {
    let run = Command::new(BIN)
        .args(["package", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "dashcdn package failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The first of `$DASHCDN_CONTENT` (test.sh packages it first) and `also` whose `default/`
/// has a `manifest.mpd`.
pub fn existing_content(also: &[PathBuf]) -> Option<PathBuf> {
    std::env::var_os("DASHCDN_CONTENT")
        .map(PathBuf::from)
        .into_iter()
        .chain(also.iter().cloned())
        .find(|root| root.join("default/manifest.mpd").exists())
}

/// The packaged default asset directory: `default/` of [`existing_content`]`(also)`,
/// otherwise a default freshly packaged into a temp dir (returned as the guard).
pub fn default_asset(also: &[PathBuf]) -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(root) = existing_content(also) {
        return (root.join("default"), None);
    }
    let tmp = tempfile::tempdir().unwrap();
    package_default(tmp.path());
    (tmp.path().join("default"), Some(tmp))
}

/// The workspace's `content/` (as demo.sh leaves it).
pub fn workspace_content() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../content")
}

/// The content root holding `default/`: `$DASHCDN_CONTENT` when it has it, otherwise a default
/// packaged once into the target tmp dir (kept between runs; re-packaging is a no-op).
pub fn content_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(|| {
        existing_content(&[]).unwrap_or_else(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("player-play-content");
            package_default(&root);
            root
        })
    });
    root.clone()
}

/// Hard-links (or, across file systems, copies) the tree `from` to `to`.
pub fn link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            link_tree(&src, &dst);
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A content root `<tmp>/content` with the packaged default asset ([`content_root`]: packaged
/// once, kept between runs) linked in as `default` (the origin serves symlinks only inside
/// its root) and each of `titles` a symlink to it. Returns the temp dir and the root.
pub fn titled_root(titles: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let asset = content_root().join("default");
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("content");
    link_tree(&asset, &root.join("default"));
    for t in titles {
        std::os::unix::fs::symlink("default", root.join(t)).unwrap();
    }
    (work, root)
}
