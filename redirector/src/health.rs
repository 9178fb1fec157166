//! Active health checks: every edge's `/healthz` is probed every `interval_ms`; `fall`
//! consecutive failures take it out, `rise` consecutive successes put it back (the first
//! success of a never-probed edge is enough). An edge health has not seen yet is
//! [`HealthState::Unknown`] and counts as down.
//!
//! Health survives topology reloads: [`HealthRegistry`] keys states by edge id and URL.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::topology::{Edge, HealthConfig};
use crate::Shared;

/// What health believes about an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Never probed (treated as down).
    Unknown,
    /// Serving.
    Up,
    /// Taken out.
    Down,
}

impl HealthState {
    /// The state as metrics and `/debug` write it: `up`, `down`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Down => "down",
            HealthState::Unknown => "unknown",
        }
    }
}

/// Health of one edge (lock-free reads on the routing path).
#[derive(Debug)]
pub struct EdgeHealth {
    state: AtomicU8,
    ok_streak: AtomicU32,
    fail_streak: AtomicU32,
    /// Milliseconds since the registry started of the last successful probe (0: never).
    last_ok_ms: AtomicU64,
    last_error: Mutex<String>,
}

impl Default for EdgeHealth {
    fn default() -> Self {
        EdgeHealth {
            state: AtomicU8::new(0),
            ok_streak: AtomicU32::new(0),
            fail_streak: AtomicU32::new(0),
            last_ok_ms: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
        }
    }
}

impl EdgeHealth {
    /// Current state.
    pub fn state(&self) -> HealthState {
        match self.state.load(Ordering::Relaxed) {
            1 => HealthState::Up,
            2 => HealthState::Down,
            _ => HealthState::Unknown,
        }
    }

    /// True when the edge may receive traffic.
    pub fn is_up(&self) -> bool {
        self.state() == HealthState::Up
    }

    /// Consecutive failed probes.
    pub fn fail_streak(&self) -> u32 {
        self.fail_streak.load(Ordering::Relaxed)
    }

    /// The last probe error (empty if the last probe succeeded).
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    fn set(&self, s: HealthState) {
        let v = match s {
            HealthState::Unknown => 0,
            HealthState::Up => 1,
            HealthState::Down => 2,
        };
        self.state.store(v, Ordering::Relaxed);
    }

    /// Records a probe outcome; returns the new state if it changed.
    pub fn record(
        &self,
        ok: Result<(), String>,
        fall: u32,
        rise: u32,
        now_ms: u64,
    ) -> Option<HealthState> {
        let before = self.state();
        let after = match ok {
            Ok(()) => {
                self.fail_streak.store(0, Ordering::Relaxed);
                let n = self.ok_streak.fetch_add(1, Ordering::Relaxed) + 1;
                self.last_ok_ms.store(now_ms.max(1), Ordering::Relaxed);
                if let Ok(mut e) = self.last_error.lock() {
                    e.clear();
                }
                match before {
                    HealthState::Unknown => HealthState::Up,
                    HealthState::Down if n >= rise => HealthState::Up,
                    s => s,
                }
            }
            Err(msg) => {
                self.ok_streak.store(0, Ordering::Relaxed);
                let n = self.fail_streak.fetch_add(1, Ordering::Relaxed) + 1;
                if let Ok(mut e) = self.last_error.lock() {
                    *e = msg;
                }
                match before {
                    HealthState::Up if n >= fall => HealthState::Down,
                    HealthState::Unknown if n >= fall => HealthState::Down,
                    s => s,
                }
            }
        };
        if after != before {
            self.set(after);
            Some(after)
        } else {
            None
        }
    }
}

/// Edge health states by `(id, url)`, kept across topology reloads.
pub type HealthRegistry = crate::registry::EdgeRegistry<EdgeHealth>;

async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, client.get(url).send()).await {
        Err(_) => Err("timeout".into()),
        Ok(Err(e)) => Err(format!("{e}")),
        Ok(Ok(r)) if r.status().is_success() => Ok(()),
        Ok(Ok(r)) => Err(format!("status {}", r.status())),
    }
}

/// Probes one edge once and records the outcome (logs and counts a state change).
async fn probe_edge(
    client: &reqwest::Client,
    metrics: &Metrics,
    started: Instant,
    e: &Edge,
    h: &EdgeHealth,
    cfg: &HealthConfig,
) {
    let url = format!("{}{}", e.url, cfg.path);
    let r = probe(client, &url, Duration::from_millis(cfg.timeout_ms)).await;
    let now_ms = started.elapsed().as_millis() as u64;
    if let Some(new) = h.record(r.clone(), cfg.fall, cfg.rise, now_ms) {
        match &r {
            Ok(()) => tracing::info!(edge = %e.id, state = ?new, "edge health changed"),
            Err(why) => tracing::warn!(edge = %e.id, state = ?new, %why, "edge health changed"),
        }
        metrics.health_flip(&e.id, new.as_str());
    }
    metrics.set_edge_up(&e.id, h.is_up());
}

/// Probes edge `id` of the current snapshot once, now (a newly announced edge is
/// routable after its first successful probe, not a whole interval later).
pub async fn probe_now(shared: Arc<Shared>, client: reqwest::Client, id: String) {
    let snap = shared.snapshot();
    let Some(i) = snap.topology.edge_index(&id) else {
        return;
    };
    let cfg = snap.topology.health.clone();
    let e = &snap.topology.edges[i];
    probe_edge(
        &client,
        &shared.metrics,
        shared.epoch,
        e,
        &snap.health[i],
        &cfg,
    )
    .await;
}

/// Probes every edge of the current topology forever (one round per interval).
pub async fn run(shared: Arc<Shared>, started: Instant) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
        .expect("reqwest client");
    loop {
        let snap = shared.snapshot();
        let cfg = snap.topology.health.clone();
        let interval = Duration::from_millis(cfg.interval_ms);
        let round = Instant::now();
        let probes = snap
            .topology
            .edges
            .iter()
            .zip(snap.health.iter())
            .map(|(e, h)| probe_edge(&client, &shared.metrics, started, e, h, &cfg));
        futures::future::join_all(probes).await;
        let spent = round.elapsed();
        tokio::time::sleep(
            interval
                .saturating_sub(spent)
                .max(Duration::from_millis(10)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_and_rise() {
        let h = EdgeHealth::default();
        assert_eq!(h.state(), HealthState::Unknown);
        assert_eq!(h.record(Ok(()), 2, 2, 5), Some(HealthState::Up));
        assert_eq!(h.record(Err("x".into()), 2, 2, 6), None);
        assert_eq!(h.record(Err("x".into()), 2, 2, 7), Some(HealthState::Down));
        assert_eq!(h.last_error(), "x");
        assert_eq!(h.record(Ok(()), 2, 2, 8), None);
        assert_eq!(h.record(Ok(()), 2, 2, 9), Some(HealthState::Up));
        let u = EdgeHealth::default();
        u.record(Err("y".into()), 2, 2, 1);
        assert_eq!(u.record(Err("y".into()), 2, 2, 1), Some(HealthState::Down));
    }
}
