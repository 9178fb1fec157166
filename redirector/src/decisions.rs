//! The decision log behind `/debug/decisions` and the per-edge answer counts of
//! `/debug/edges`: every HTTP `302` and steering answer (`/steer`, `/steered/...`) is
//! recorded with its [`Reason`], the inputs per candidate ([`InputRecord`]: distance,
//! health, load, starvation, capacity, cost) and a one-sentence explanation ([`explain`])
//! in a bounded ring of the last [`CAPACITY`] decisions. DNS answers are recorded in
//! `closed-loop` mode (which takes the hysteresis lock anyway); in `distance` mode the DNS
//! fast path stays free of locks and allocation.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::choice::{Decision, Snapshot};
use crate::closed_loop::{Impairment, Mode, Reason};
use crate::health::HealthState;

/// How many decisions the ring keeps.
pub const CAPACITY: usize = 256;

/// One recorded routing decision, as `/debug/decisions` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionRecord {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// `http` (a 302) or `steering`.
    pub proto: &'static str,
    /// The client address routing used.
    pub client: IpAddr,
    /// The routing key ([`crate::choice::routing_key`]).
    pub key: String,
    /// The client's location name.
    pub location: String,
    /// The chosen edge id, `None` when the service had no edge.
    pub chosen: Option<String>,
    /// Why, in one short sentence ([`explain`]).
    pub why: String,
    /// Candidate edge ids, in preference order.
    pub candidates: Vec<String>,
    /// The ranking mode.
    pub mode: Mode,
    /// Why the chosen edge is chosen.
    pub reason: Reason,
    /// What each candidate looked like, in preference order.
    pub inputs: Vec<InputRecord>,
}

/// One candidate's inputs as a decision saw them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputRecord {
    /// Edge id.
    pub edge: String,
    /// Health.
    pub health: HealthState,
    /// Great-circle km from the client's location.
    pub distance_km: f64,
    /// Capacity weight.
    pub capacity: f64,
    /// Smoothed request rate, requests/s (`None`: unknown).
    pub requests_per_s: Option<f64>,
    /// CMCD buffer-starvation rate over the window (`None`: unknown).
    pub starvation_rate: Option<f64>,
    /// Median CMCD `mtp`, kbit/s.
    pub mtp_kbps: Option<f64>,
    /// What closed-loop steering found wrong with it.
    pub impairments: Vec<Impairment>,
    /// Distance-policy score.
    pub score: f64,
    /// Closed-loop cost (`None` in distance mode).
    pub cost: Option<f64>,
}

/// The ring of recent decisions and the count of answers per edge.
#[derive(Debug, Default)]
pub struct DecisionLog {
    ring: Mutex<VecDeque<DecisionRecord>>,
    answers: Mutex<HashMap<String, u64>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DecisionLog {
    /// Records a decision (the oldest record falls out beyond [`CAPACITY`]).
    pub fn record(
        &self,
        snap: &Snapshot,
        service: usize,
        proto: &'static str,
        client: IpAddr,
        key: &str,
        d: &Decision,
    ) {
        let rec = DecisionRecord {
            at_ms: now_ms(),
            proto,
            client,
            key: key.to_string(),
            location: d.location.clone(),
            chosen: d.chosen_edge.clone(),
            why: explain(snap, service, d),
            candidates: d.candidates.iter().map(|c| c.edge.clone()).collect(),
            mode: d.mode,
            reason: d.reason,
            inputs: d
                .candidates
                .iter()
                .map(|c| {
                    // A distance-mode answer leaves the figures out (route.rs): read them here.
                    let live = c.live.clone().unwrap_or_else(|| {
                        snap.topology
                            .edge_index(&c.edge)
                            .map(|i| {
                                snap.live[i].figures(
                                    snap.epoch.elapsed().as_millis() as u64,
                                    &snap.topology.closed_loop,
                                )
                            })
                            .unwrap_or_default()
                    });
                    InputRecord {
                        edge: c.edge.clone(),
                        health: c.health,
                        distance_km: c.distance_km,
                        capacity: snap
                            .topology
                            .edge_index(&c.edge)
                            .map_or(0.0, |i| snap.topology.edges[i].capacity),
                        requests_per_s: live.requests_per_s,
                        starvation_rate: live.starvation_rate,
                        mtp_kbps: live.mtp_kbps,
                        impairments: c.impairments.clone(),
                        score: c.score,
                        cost: c.cost,
                    }
                })
                .collect(),
        };
        if let Some(id) = &d.chosen_edge {
            let mut a = self.answers.lock().expect("answers poisoned");
            *a.entry(id.clone()).or_default() += 1;
        }
        let mut r = self.ring.lock().expect("decision ring poisoned");
        if r.len() == CAPACITY {
            r.pop_back();
        }
        r.push_front(rec);
    }

    /// The `n` most recent decisions, newest first.
    pub fn recent(&self, n: usize) -> Vec<DecisionRecord> {
        let r = self.ring.lock().expect("decision ring poisoned");
        r.iter().take(n).cloned().collect()
    }

    /// Decisions that chose edge `id` since start.
    pub fn answers(&self, id: &str) -> u64 {
        let a = self.answers.lock().expect("answers poisoned");
        a.get(id).copied().unwrap_or(0)
    }
}

/// Why `d` chose what it chose, in one sentence for people: which edge, how far, what
/// was skipped because of health (edges of the service nearer than the chosen one that
/// are not up), how many shared the choice by rendezvous hashing, and whether bounded
/// load spilled it. E.g. `nearest healthy edge, 0 km; 2 others within slack, rendezvous
/// hash` or `edge-eu down: next nearest healthy edge, 912 km`.
pub fn explain(snap: &Snapshot, service: usize, d: &Decision) -> String {
    let Some(chosen) = d.chosen else {
        return "no edge in the service".into();
    };
    let t = &snap.topology;
    let loc = d.location_index;
    let dist = t.distance_km[loc][chosen];
    let id = &t.edges[chosen].id;
    if d.degraded {
        return format!(
            "no healthy edge: least-bad {id} ({}), {dist:.0} km",
            snap.health[chosen].state().as_str()
        );
    }
    let mut skipped: Vec<(f64, String)> = t
        .services
        .get(service)
        .map(|s| s.edges.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|&&e| e != chosen && snap.health[e].state() != HealthState::Up)
        .filter(|&&e| t.distance_km[loc][e] < dist)
        .map(|&e| {
            (
                t.distance_km[loc][e],
                format!("{} {}", t.edges[e].id, snap.health[e].state().as_str()),
            )
        })
        .collect();
    skipped.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut why = if skipped.is_empty() {
        format!("nearest healthy edge, {dist:.0} km")
    } else {
        let names: Vec<String> = skipped.into_iter().map(|s| s.1).collect();
        format!(
            "{}: next nearest healthy edge, {dist:.0} km",
            names.join(", ")
        )
    };
    let near = d.candidates.iter().filter(|c| c.near).count();
    if near > 1 {
        let others = near - 1;
        let s = if others == 1 { "" } else { "s" };
        why.push_str(&format!(
            "; {others} other{s} within slack, rendezvous hash"
        ));
    }
    if d.spilled {
        why.push_str("; preferred edge over its load bound, spilled");
    }
    if d.mode == Mode::ClosedLoop {
        let wrong: Vec<String> = d
            .candidates
            .iter()
            .filter(|c| !c.impairments.is_empty())
            .map(|c| {
                let what: Vec<&str> = c
                    .impairments
                    .iter()
                    .map(|i| match i {
                        Impairment::Starving => "starving",
                        Impairment::Slow => "slow",
                        Impairment::Overloaded => "overloaded",
                    })
                    .collect();
                format!("{} {}", c.edge, what.join("+"))
            })
            .collect();
        why.push_str(&format!("; closed loop: {}", d.reason.as_str()));
        if !wrong.is_empty() {
            why.push_str(&format!(" ({})", wrong.join(", ")));
        }
    }
    why
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::health::EdgeHealth;
    use crate::topology::Topology;

    const TOPO: &str = r#"
default_location = "eu"
min_load = 1000000
[[edges]]
id = "a"
url = "http://127.0.0.1:1"
lat = 50.0
lon = 8.0
[[edges]]
id = "b"
url = "http://127.0.0.2:1"
lat = 50.0
lon = 8.0
[[edges]]
id = "far"
url = "http://127.0.0.3:1"
lat = 40.0
lon = -74.0
[[locations]]
name = "eu"
lat = 50.0
lon = 8.0
"#;

    fn snap(up: &[bool]) -> Snapshot {
        let t = Topology::parse(TOPO, Path::new("t.toml")).unwrap();
        let health = up
            .iter()
            .map(|&u| {
                let h = Arc::new(EdgeHealth::default());
                h.record(if u { Ok(()) } else { Err("x".into()) }, 1, 1, 1);
                h
            })
            .collect();
        Snapshot::new(t, health, Instant::now())
    }

    #[test]
    fn explains_hashing_health_and_degradation() {
        let s = snap(&[true, true, true]);
        let d = s.choose(0, 0, None, b"/default", None, false);
        assert_eq!(
            explain(&s, 0, &d),
            "nearest healthy edge, 0 km; 1 other within slack, rendezvous hash"
        );
        let s = snap(&[false, false, true]);
        let d = s.choose(0, 0, None, b"/default", None, false);
        let why = explain(&s, 0, &d);
        assert!(
            why.starts_with("a down, b down: next nearest healthy edge, "),
            "{why}"
        );
        let s = snap(&[false, false, false]);
        let d = s.choose(0, 0, None, b"/default", None, false);
        assert!(explain(&s, 0, &d).starts_with("no healthy edge: least-bad"));
    }

    #[test]
    fn ring_is_bounded_and_newest_first() {
        let s = snap(&[true, true, true]);
        let log = DecisionLog::default();
        let d = s.choose(0, 0, None, b"/x", None, false);
        for i in 0..(CAPACITY + 10) {
            log.record(
                &s,
                0,
                "http",
                "192.0.2.1".parse().unwrap(),
                &format!("/{i}"),
                &d,
            );
        }
        let recent = log.recent(1000);
        assert_eq!(recent.len(), CAPACITY);
        assert_eq!(recent[0].key, format!("/{}", CAPACITY + 9));
        assert_eq!(log.recent(2).len(), 2);
        let chosen = d.chosen_edge.unwrap();
        assert_eq!(log.answers(&chosen), (CAPACITY + 10) as u64);
        assert_eq!(log.answers("nobody"), 0);
    }
}
