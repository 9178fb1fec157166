//! `--players N`: a swarm of real players (`dashcdn player swarm`) through the redirector of
//! the running CDN, its output in `players.log`, its report printed at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serve::prom::Exposition;

use crate::error::UpError;

/// The swarm to run once the CDN is up.
#[derive(Debug, Clone)]
pub struct Players {
    /// Number of players.
    pub count: usize,
    /// Trace directory (`--traces`), to shape each player's link.
    pub traces: Option<PathBuf>,
    /// Session seconds per wall second (`--speed`).
    pub speed: Option<f64>,
    /// Segments each player plays (`--segments`).
    pub segments: Option<usize>,
    /// Stop the CDN and exit once the report is printed.
    pub exit_after: bool,
}

/// Waits until the redirector's `/metrics` says `redirector_edge_up 1` for `edges` edges.
pub async fn wait_edges_up(
    client: &reqwest::Client,
    redirector: &str,
    edges: usize,
    limit: Duration,
) -> Result<(), UpError> {
    let url = format!("{redirector}/metrics");
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < limit {
        match client.get(&url).send().await {
            Ok(res) => match res.text().await {
                Ok(text) => match Exposition::parse(&text) {
                    Ok(exp) => {
                        let up = exp
                            .samples
                            .iter()
                            .filter(|s| s.name == "redirector_edge_up" && s.value == 1.0)
                            .count();
                        if up >= edges {
                            return Ok(());
                        }
                        last = format!("{up} of {edges} edges up");
                    }
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(UpError::NotReady(format!(
        "edges not healthy after {} s ({last})",
        limit.as_secs()
    )))
}

/// Runs the swarm to the end: `bin player swarm --url <redirector>/{title}/manifest.mpd`
/// with every edge's and the origin's metrics, output in `run_dir/players/`, its
/// stderr in `run_dir/players.log`. Returns the report it printed.
pub async fn run(
    bin: &Path,
    players: &Players,
    redirector: &str,
    edges: &[String],
    origin: &str,
    run_dir: &Path,
) -> Result<String, UpError> {
    let log_path = run_dir.join("players.log");
    let io = |what, source| UpError::Io {
        what,
        path: log_path.clone(),
        source,
    };
    let log = std::fs::File::create(&log_path).map_err(|e| io("cannot create", e))?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["player", "swarm", "--quiet", "--url"])
        .arg(format!("{redirector}/{{title}}/manifest.mpd"))
        .arg("--players")
        .arg(players.count.to_string())
        .arg("--edge-metrics")
        .arg(edges.join(","))
        .arg("--origin-metrics")
        .arg(origin)
        .arg("--out")
        .arg(run_dir.join("players"));
    if let Some(t) = &players.traces {
        cmd.arg("--traces").arg(t);
    }
    if let Some(s) = players.speed {
        cmd.arg("--speed").arg(s.to_string());
    }
    if let Some(s) = players.segments {
        cmd.arg("--segments").arg(s.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);
    let out = cmd.output().await.map_err(|source| UpError::Spawn {
        component: "players".into(),
        program: bin.to_owned(),
        source,
    })?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let tail = crate::child::tail(&log_path, 0);
        return Err(UpError::Players(format!(
            "`dashcdn player swarm` failed ({}); log {}:\n{tail}",
            crate::child::describe(out.status),
            log_path.display()
        )));
    }
    Ok(report)
}
