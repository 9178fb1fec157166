//! Shared helpers of the process-level tests (`player_play`, `player_swarm`,
//! `default_content`, `redirector_cli`): the packaged default content, `dashcdn` processes
//! that are killed on drop, their `listening on http://ADDR` (and the redirector's
//! `dns on ADDR`) lines, topology files. The in-process edge tests have `edge_common`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `dashcdn` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dashcdn");

/// Kills the child process on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started `dashcdn` process.
pub struct Started {
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

/// Starts `dashcdn ARGS` and waits for its `listening on` line (stderr is discarded, stdout
/// keeps being drained so the child never blocks on a full pipe).
pub fn start_lines(args: &[&str]) -> Started {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let proc = Proc(child);
    let mut before = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{args:?} exited before listening"))
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            std::thread::spawn(move || for _ in lines {});
            return Started {
                proc,
                url: url.trim().to_string(),
                before,
            };
        }
        before.push(line);
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
