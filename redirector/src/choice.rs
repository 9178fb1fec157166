//! Choosing an edge for a client and a content key.
//!
//! 1. Candidates: the service's edges (with an address of the asked family for DNS).
//!    Healthy ones only; if none is healthy, the least-bad ones (never-probed before
//!    known-down) so the answer is never empty — except announced edges never probed
//!    yet, which are no candidates at all until their first successful probe.
//! 2. Score: great-circle km from the client's location (or the `[rtt]` ms for the
//!    `latency` policy), scaled by `1 - bias/100`.
//! 3. Near set: candidates within `slack` of the best score. Within it, weighted
//!    rendezvous hashing of the content key (`-capacity / ln(u)`) orders edges, so one
//!    key always lands on the same edge while many keys spread by capacity.
//! 4. Bounded load: once the near set handles at least `min_load` answers/s, an edge
//!    above `load_factor` × its capacity share is skipped; the next in order takes it
//!    (after the near set, the remaining candidates by score).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::health::{EdgeHealth, HealthState};
use crate::topology::{Policy, Topology};

/// Which address family an answer needs (DNS A / AAAA); `None` for HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (A).
    V4,
    /// IPv6 (AAAA).
    V6,
}

/// Answers per edge over a sliding one-second window (current + previous second).
#[derive(Debug)]
pub struct EdgeLoad {
    second: AtomicU64,
    current: AtomicU64,
    previous: AtomicU64,
}

impl EdgeLoad {
    fn new() -> EdgeLoad {
        EdgeLoad {
            second: AtomicU64::new(0),
            current: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    fn rotate(&self, now: u64) {
        let s = self.second.load(Ordering::Relaxed);
        if s != now
            && self
                .second
                .compare_exchange(s, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let cur = self.current.swap(0, Ordering::Relaxed);
            self.previous
                .store(if now == s + 1 { cur } else { 0 }, Ordering::Relaxed);
        }
    }

    /// Answers in the last ~second.
    pub fn load(&self, now: u64) -> u64 {
        self.rotate(now);
        self.current.load(Ordering::Relaxed) + self.previous.load(Ordering::Relaxed) / 2
    }

    pub(crate) fn add(&self, now: u64) {
        self.rotate(now);
        self.current.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything routing needs, swapped atomically on reload.
#[derive(Debug)]
pub struct Snapshot {
    /// The topology.
    pub topology: Topology,
    /// Health per edge (same order as `topology.edges`).
    pub health: Vec<std::sync::Arc<EdgeHealth>>,
    /// Load per edge.
    pub load: Vec<EdgeLoad>,
    /// Per-edge rendezvous seeds.
    seeds: Vec<u64>,
    /// DNS answer counters by `location * edges + edge`, resolved once.
    pub(crate) dns_counters: Vec<std::sync::OnceLock<prometheus_client::metrics::counter::Counter>>,
    /// Live figures per edge (same order as `topology.edges`; [`crate::live`]).
    pub live: Vec<std::sync::Arc<crate::live::EdgeLive>>,
    /// What each client/asset pair holds (closed-loop hysteresis; shared across snapshots).
    pub(crate) sticky: std::sync::Arc<crate::closed_loop::Sticky>,
    pub(crate) epoch: Instant,
}

/// One ranked candidate of a [`Decision`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    /// Edge id.
    pub edge: String,
    /// Health state.
    pub health: HealthState,
    /// Great-circle km from the client's location.
    pub distance_km: f64,
    /// RTT from the table, if any (latency policy).
    pub rtt_ms: Option<f64>,
    /// Score after bias (km or ms; lower is better).
    pub score: f64,
    /// Within slack of the best.
    pub near: bool,
    /// Rendezvous weight for the key (near set only; higher wins).
    pub hash_weight: Option<f64>,
    /// Recent answers/s.
    pub load: u64,
    /// Load bound (when load is bounded).
    pub bound: Option<f64>,
    /// Live figures ([`crate::live`]; filled by [`Snapshot::route`]).
    pub live: Option<crate::closed_loop::LiveFigures>,
    /// What closed-loop steering found wrong with it.
    pub impairments: Vec<crate::closed_loop::Impairment>,
    /// Request rate per capacity over the service mean.
    pub load_ratio: Option<f64>,
    /// Closed-loop cost (distance cost plus penalties; `None` in distance mode).
    pub cost: Option<f64>,
}

/// A routing decision, with the reasoning.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Location name.
    pub location: String,
    /// Location index.
    #[serde(skip)]
    pub location_index: usize,
    /// The network that matched, or `None` when the default location was used.
    pub matched_network: Option<String>,
    /// Prefix length of the matched network (the ECS scope).
    #[serde(skip)]
    pub matched_prefix: Option<u8>,
    /// Policy used.
    pub policy: Policy,
    /// Candidates in preference order.
    pub candidates: Vec<Candidate>,
    /// Chosen edge index (None only if the service has no edge of the family).
    #[serde(skip)]
    pub chosen: Option<usize>,
    /// Chosen edge id.
    pub chosen_edge: Option<String>,
    /// True when no candidate was healthy and the least-bad was used.
    pub degraded: bool,
    /// Whether bounded load made the choice skip an over-loaded edge.
    pub spilled: bool,
    /// The `[closed_loop] mode` that ranked the candidates.
    pub mode: crate::closed_loop::Mode,
    /// Why the chosen edge is chosen (filled by [`Snapshot::route`]).
    pub reason: crate::closed_loop::Reason,
}

fn unit(h: u64) -> f64 {
    // (0, 1) exclusive.
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

impl Snapshot {
    /// Builds a snapshot with fresh load counters.
    pub fn new(
        topology: Topology,
        health: Vec<std::sync::Arc<EdgeHealth>>,
        epoch: Instant,
    ) -> Snapshot {
        let seeds = topology
            .edges
            .iter()
            .map(|e| xxh3_64_with_seed(e.id.as_bytes(), 0x5eed))
            .collect();
        let load = topology.edges.iter().map(|_| EdgeLoad::new()).collect();
        let dns_counters = (0..topology.edges.len() * topology.locations.len())
            .map(|_| std::sync::OnceLock::new())
            .collect();
        let live = topology
            .edges
            .iter()
            .map(|_| std::sync::Arc::default())
            .collect();
        Snapshot {
            dns_counters,
            live,
            sticky: std::sync::Arc::default(),
            topology,
            health,
            load,
            seeds,
            epoch,
        }
    }

    /// The location of a client address: (index, matched prefix length).
    pub fn locate(&self, ip: std::net::IpAddr) -> (usize, Option<u8>) {
        match self.topology.zones.lookup(ip) {
            Some((l, len)) => (l, Some(len)),
            None => (self.topology.default_location, None),
        }
    }

    /// Chooses an edge of `service` for a client at `location` and a content `key`;
    /// counts the answer toward the chosen edge's load when `commit`.
    pub fn choose(
        &self,
        service: usize,
        location: usize,
        matched_prefix: Option<u8>,
        key: &[u8],
        family: Option<Family>,
        commit: bool,
    ) -> Decision {
        let t = &self.topology;
        let svc = &t.services[service];
        let now = self.epoch.elapsed().as_secs();
        let loc = &t.locations[location];
        let with_family = |e: usize| {
            let family_ok = match family {
                None => true,
                Some(Family::V4) => t.edges[e].ipv4.is_some(),
                Some(Family::V6) => t.edges[e].ipv6.is_some(),
            };
            // An announced edge is not routed to before its first successful probe.
            family_ok && !(t.edges[e].announced && self.health[e].state() == HealthState::Unknown)
        };
        let badness = |e: usize| match self.health[e].state() {
            HealthState::Up => 0,
            HealthState::Unknown => 1,
            HealthState::Down => 2,
        };
        let least_bad = svc
            .edges
            .iter()
            .copied()
            .filter(|&e| with_family(e))
            .map(badness)
            .min();
        let mut decision = Decision {
            location: loc.name.clone(),
            location_index: location,
            matched_network: matched_prefix.map(|len| {
                loc.networks
                    .iter()
                    .find(|n| n.len() == len)
                    .map_or_else(|| format!("/{len}"), |n| n.to_string())
            }),
            matched_prefix,
            policy: svc.policy,
            candidates: Vec::new(),
            chosen: None,
            chosen_edge: None,
            degraded: least_bad.is_some_and(|b| b > 0),
            spilled: false,
            mode: crate::closed_loop::Mode::Distance,
            reason: crate::closed_loop::Reason::Nearest,
        };
        let Some(least_bad) = least_bad else {
            return decision;
        };
        let mut pool: Vec<(usize, f64)> = svc
            .edges
            .iter()
            .copied()
            .filter(|&e| with_family(e) && badness(e) == least_bad)
            .map(|e| {
                let d = t.distance_km[location][e];
                let raw = match svc.policy {
                    Policy::Distance => d,
                    // ~100 km of fibre per ms of round trip, plus a little.
                    Policy::Latency => t.rtt_ms[location][e].unwrap_or(5.0 + d / 100.0),
                };
                (e, raw * (1.0 - t.edges[e].bias / 100.0))
            })
            .collect();
        let best = pool.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let slack = match svc.policy {
            Policy::Distance => svc.slack_km,
            Policy::Latency => svc.slack_ms,
        };
        let limit = best + slack;
        let mut weights = vec![None; t.edges.len()];
        for &(e, s) in &pool {
            if s <= limit {
                let u = unit(xxh3_64_with_seed(key, self.seeds[e]));
                weights[e] = Some(-t.edges[e].capacity / u.ln());
            }
        }
        // Near set by descending rendezvous weight, then the rest by score.
        pool.sort_by(|a, b| match (weights[a.0], weights[b.0]) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.total_cmp(&b.1),
        });
        let near: Vec<usize> = pool
            .iter()
            .filter(|p| weights[p.0].is_some())
            .map(|p| p.0)
            .collect();
        let near_load: u64 = near.iter().map(|&e| self.load[e].load(now)).sum();
        let near_cap: f64 = near.iter().map(|&e| t.edges[e].capacity).sum();
        let bounded = near.len() > 1 && near_load >= svc.min_load;
        let mut chosen = None;
        for &(e, score) in &pool {
            let load = self.load[e].load(now);
            let bound = (bounded && weights[e].is_some())
                .then(|| svc.load_factor * (near_load + 1) as f64 * t.edges[e].capacity / near_cap);
            if chosen.is_none() && bound.is_none_or(|b| (load + 1) as f64 <= b) {
                chosen = Some(e);
            }
            decision.candidates.push(Candidate {
                edge: t.edges[e].id.clone(),
                health: self.health[e].state(),
                distance_km: t.distance_km[location][e],
                rtt_ms: t.rtt_ms[location][e],
                score,
                near: weights[e].is_some(),
                hash_weight: weights[e],
                load,
                bound,
                live: None,
                impairments: Vec::new(),
                load_ratio: None,
                cost: None,
            });
        }
        let first = pool[0].0;
        let chosen = chosen.unwrap_or(first);
        decision.spilled = chosen != first;
        if decision.degraded {
            decision.reason = crate::closed_loop::Reason::Degraded;
        } else if decision.spilled {
            decision.reason = crate::closed_loop::Reason::Spilled;
        }
        decision.chosen = Some(chosen);
        decision.chosen_edge = Some(t.edges[chosen].id.clone());
        if commit {
            self.load[chosen].add(now);
        }
        decision
    }
}

/// The routing key of a request: the **asset**, i.e. the first segment of the normalized
/// path when more segments follow it (`/default/v720/3.m4s`, `/default/manifest.mpd`,
/// `/default/` → `/default`), else `/` (a file at the root belongs to the root asset).
///
/// The `302`, `/steer?asset=A` and `/steered/A/manifest.mpd` hash this same key, so one
/// client is sent to the same edge for every request of a title by either route (and the
/// edge's cache fills once per title, not once per route). Steering passes its asset as a
/// directory: `routing_key(&format!("/{asset}/"))`. DNS keys on the client's subnet
/// instead (it never sees a path).
pub fn routing_key(path_and_query: &str) -> String {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let is_dir = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    match segs.first() {
        Some(first) if segs.len() > 1 || is_dir => format!("/{first}"),
        _ => "/".to_string(),
    }
}

/// The content key of a request path: the path without query, with `//` collapsed and
/// `.`/`..` segments resolved (so equivalent spellings hash alike).
pub fn content_key(path_and_query: &str) -> String {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut key = String::with_capacity(path.len() + 1);
    for s in &out {
        key.push('/');
        key.push_str(s);
    }
    if key.is_empty() {
        key.push('/');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn topo(extra: &str) -> Topology {
        let text = format!(
            r#"
default_location = "eu"
{extra}
[[edges]]
id = "a"
url = "http://127.0.0.1:1"
address = "127.0.0.1"
lat = 50.0
lon = 8.0
[[edges]]
id = "b"
url = "http://127.0.0.2:1"
address = "127.0.0.2"
lat = 50.1
lon = 8.1
[[edges]]
id = "c"
url = "http://127.0.0.3:1"
addresses = ["127.0.0.3", "::1"]
lat = 40.0
lon = -74.0
[[locations]]
name = "eu"
lat = 50.0
lon = 8.0
networks = ["192.0.2.0/24"]
[[locations]]
name = "us"
lat = 40.0
lon = -75.0
networks = ["198.51.100.0/24"]
"#
        );
        Topology::parse(&text, Path::new("t.toml")).unwrap()
    }

    fn snap(t: Topology, up: &[bool]) -> Snapshot {
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
    fn nearest_and_consistent() {
        let s = snap(topo("min_load = 1000000"), &[true, true, true]);
        let us = s.choose(0, 1, Some(24), b"/x", None, true);
        assert_eq!(us.chosen_edge.as_deref(), Some("c"));
        let first = s.choose(0, 0, Some(24), b"/seg/1.m4s", None, true).chosen;
        for _ in 0..50 {
            assert_eq!(
                s.choose(0, 0, Some(24), b"/seg/1.m4s", None, true).chosen,
                first
            );
        }
        // Many keys spread over the two near edges a and b, never c.
        let mut counts = [0; 3];
        for i in 0..2000 {
            let d = s.choose(0, 0, None, format!("/seg/{i}.m4s").as_bytes(), None, false);
            counts[d.chosen.unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!(counts[0] > 800 && counts[1] > 800, "{counts:?}");
    }

    #[test]
    fn health_and_family() {
        let s = snap(topo(""), &[false, true, true]);
        for i in 0..100 {
            let d = s.choose(0, 0, None, format!("/{i}").as_bytes(), None, false);
            assert_eq!(d.chosen_edge.as_deref(), Some("b"));
        }
        let d = s.choose(0, 0, None, b"/x", Some(Family::V6), false);
        assert_eq!(d.chosen_edge.as_deref(), Some("c"));
        // All down: least-bad, never empty.
        let s = snap(topo(""), &[false, false, false]);
        let d = s.choose(0, 1, None, b"/x", None, false);
        assert!(d.degraded);
        assert_eq!(d.chosen_edge.as_deref(), Some("c"));
    }

    #[test]
    fn bias_and_latency() {
        let t = topo("");
        let mut t2 = t.clone();
        t2.edges[2].bias = 99.0;
        let s = snap(t2, &[true, true, true]);
        let d = s.choose(0, 0, None, b"/x", None, false);
        let c = d.candidates.iter().find(|c| c.edge == "c").unwrap();
        assert!(
            (c.score - c.distance_km * 0.01).abs() < 1e-6 && c.near,
            "{c:?}"
        );
        let mut t3 = t;
        t3.services[0].policy = Policy::Latency;
        t3.rtt_ms[0] = vec![Some(80.0), Some(90.0), Some(20.0)];
        let s = snap(t3, &[true, true, true]);
        assert_eq!(
            s.choose(0, 0, None, b"/x", None, false)
                .chosen_edge
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn bounded_load_spills() {
        let s = snap(
            topo("min_load = 10\nload_factor = 1.1"),
            &[true, true, true],
        );
        let mut counts = [0; 3];
        for _ in 0..1000 {
            counts[s.choose(0, 0, None, b"/hot", None, true).chosen.unwrap()] += 1;
        }
        // One hot key: the preferred edge takes ~its bound, the other near edge the rest.
        assert!(counts[0] > 300 && counts[1] > 300, "{counts:?}");
    }

    #[test]
    fn routing_keys_are_the_asset() {
        for p in [
            "/default/v720/3.m4s",
            "/default/manifest.mpd",
            "/default/",
            "/default//a/../manifest.mpd?x=1",
            "/./default/a/b/c",
        ] {
            assert_eq!(routing_key(p), "/default", "{p}");
        }
        // The steering forms, as the handlers call it.
        assert_eq!(routing_key(&format!("/{}/", "default")), "/default");
        assert_eq!(routing_key(&format!("/{}/", "")), "/");
        assert_eq!(routing_key("/manifest.mpd"), "/");
        assert_eq!(routing_key("/"), "/");
        assert_eq!(routing_key(""), "/");
        assert_eq!(routing_key("/x/.."), "/");
        assert_eq!(routing_key("/a/b/../.."), "/");
    }

    #[test]
    fn keys() {
        assert_eq!(content_key("/a//b/./c/../d.m4s?x=1"), "/a/b/d.m4s");
        assert_eq!(content_key("/"), "/");
        assert_eq!(content_key("/x?"), "/x");
    }
}
