//! The one routing function every answer goes through: [`Snapshot::route`]. The `302`,
//! `/steer`, the steered MPD, the DNS answer and `/debug/route` all call it, so they
//! choose alike and explain alike.
//!
//! 1. [`Snapshot::choose`]: the distance (or RTT) ranking — health, bias, slack,
//!    rendezvous hash of the routing key, bounded load.
//! 2. Every candidate gets its live figures ([`crate::live`]).
//! 3. In `closed-loop` mode, [`crate::closed_loop::rank`] re-ranks them with the pair's
//!    held choice (hysteresis) and the result is remembered for the pair; in `distance`
//!    mode the distance ranking stands.
//! 4. The answer is counted toward the chosen edge's load (when `commit`) and the
//!    [`Decision`] carries the reason ([`Reason`]).

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::choice::{Decision, Family, Snapshot};
use crate::closed_loop::{self, EdgeInput, Mode, Reason};
use crate::health::HealthState;

impl Snapshot {
    /// Routes a client (`client`: its address or subnet bytes, for hysteresis) of
    /// `service` at `location` asking for content `key`. See the module docs. Without
    /// `commit` (`/debug/route`) nothing changes: no load is counted and the pair's held
    /// choice is not updated.
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        service: usize,
        location: usize,
        matched_prefix: Option<u8>,
        client: &[u8],
        key: &[u8],
        family: Option<Family>,
        commit: bool,
    ) -> Decision {
        let mut d = self.choose(service, location, matched_prefix, key, family, false);
        let t = &self.topology;
        let cfg = &t.closed_loop;
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let Some(chosen) = d.chosen else {
            return d;
        };
        if d.reason == Reason::Nearest && self.nearer_down(service, location, chosen) {
            d.reason = Reason::AvoidedDown;
        }
        let idx: Vec<usize> = d
            .candidates
            .iter()
            .map(|c| t.edge_index(&c.edge).unwrap_or(chosen))
            .collect();
        // Live figures of every candidate: ranking needs them in closed-loop mode, and
        // /debug/route (`commit == false`) shows them in both modes. A distance-mode answer
        // does not read them, so it skips one lock per candidate (the DNS hot path: the
        // decision log fills them in when it records an answer, see decisions.rs).
        if cfg.mode == Mode::ClosedLoop || !commit {
            for (c, &e) in d.candidates.iter_mut().zip(&idx) {
                c.live = Some(self.live[e].figures(now_ms, cfg));
            }
        }
        d.mode = cfg.mode;
        if cfg.mode == Mode::ClosedLoop {
            // Distance order with the distance choice (after bounded load) first.
            let mut order: Vec<usize> = (0..d.candidates.len()).collect();
            if let Some(p) = idx.iter().position(|&e| e == chosen) {
                order.remove(p);
                order.insert(0, p);
            }
            let inputs: Vec<EdgeInput> = order
                .iter()
                .map(|&i| {
                    let c = &d.candidates[i];
                    EdgeInput {
                        edge: idx[i],
                        health: c.health,
                        score: c.score,
                        near: c.near,
                        capacity: t.edges[idx[i]].capacity,
                        live: c.live.clone().unwrap_or_default(),
                        remembered: self.live[idx[i]].remembered(now_ms, cfg.cooldown_ms),
                    }
                })
                .collect();
            let pair = pair_key(service, client, key);
            let held = self.sticky.get(pair, |id| t.edge_index(id));
            let r = closed_loop::rank(cfg, &inputs, held, d.reason, now_ms);
            if commit {
                for s in &r.order {
                    self.live[s.edge].remember(&s.seen_now, now_ms);
                }
            }
            // Only a real answer moves the pair's state (`/debug/route` only looks).
            if let (Some(h), true) = (r.held, commit) {
                self.sticky
                    .put(pair, h, |e| t.edges[e].id.clone(), now_ms, cfg.max_pairs);
            }
            let mut ranked = Vec::with_capacity(r.order.len());
            for s in &r.order {
                let Some(p) = idx.iter().position(|&e| e == s.edge) else {
                    continue;
                };
                let mut c = d.candidates[p].clone();
                c.cost = Some(s.cost);
                c.impairments = s.impairments.clone();
                c.load_ratio = s.load_ratio;
                ranked.push(c);
            }
            d.candidates = ranked;
            d.reason = r.reason;
            if let Some(first) = r.order.first() {
                d.chosen = Some(first.edge);
                d.chosen_edge = Some(t.edges[first.edge].id.clone());
            }
        }
        if commit {
            if let Some(e) = d.chosen {
                let now = self.epoch.elapsed().as_secs();
                self.load[e].add(now);
            }
        }
        d
    }

    /// Whether an edge of `service` nearer to `location` than `chosen` is not up.
    fn nearer_down(&self, service: usize, location: usize, chosen: usize) -> bool {
        let t = &self.topology;
        let dist = t.distance_km[location][chosen];
        t.services[service].edges.iter().any(|&e| {
            e != chosen
                && t.distance_km[location][e] < dist
                && self.health[e].state() != HealthState::Up
        })
    }
}

/// The hysteresis key of a client/asset pair of a service.
fn pair_key(service: usize, client: &[u8], key: &[u8]) -> u64 {
    let mut buf = Vec::with_capacity(client.len() + key.len() + 10);
    buf.extend_from_slice(&(service as u64).to_le_bytes());
    buf.extend_from_slice(&(client.len() as u16).to_le_bytes());
    buf.extend_from_slice(client);
    buf.extend_from_slice(key);
    xxh3_64_with_seed(&buf, 0x57ee)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::health::EdgeHealth;
    use crate::topology::Topology;

    fn snap(mode: &str) -> Snapshot {
        let text = format!(
            r#"
default_location = "here"
min_load = 1000000
[closed_loop]
mode = "{mode}"
hold_ms = 0
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
[[locations]]
name = "here"
lat = 50.0
lon = 8.0
"#
        );
        let t = Topology::parse(&text, Path::new("t.toml")).unwrap();
        let health = (0..2)
            .map(|_| {
                let h = Arc::new(EdgeHealth::default());
                h.record(Ok(()), 1, 1, 1);
                h
            })
            .collect();
        Snapshot::new(t, health, Instant::now())
    }

    fn starve(s: &Snapshot, e: usize) {
        let cfg = s.topology.closed_loop.clone();
        let now = s.epoch.elapsed().as_millis() as u64;
        let mut st = s.live[e].0.lock().unwrap();
        for (i, (n, b)) in [(0, 0), (100, 50)].into_iter().enumerate() {
            let text = format!(
                "dashcdn_edge_cmcd_requests_total{{mode=\"query\"}} {n}\n\
                 dashcdn_edge_cmcd_buffer_starvation_total {b}\n"
            );
            let x = serve::prom::Exposition::parse(&text).unwrap();
            st.update(&x, now + i as u64, &cfg);
        }
    }

    #[test]
    fn closed_loop_moves_a_title_off_a_starving_edge_distance_does_not() {
        for mode in ["distance", "closed-loop"] {
            let s = snap(mode);
            let d = s.route(0, 0, None, b"c", b"/t1", None, true);
            let home = d.chosen.unwrap();
            assert_eq!(d.reason, Reason::Nearest);
            starve(&s, home);
            let d = s.route(0, 0, None, b"c", b"/t1", None, true);
            let live_of = |d: &Decision| {
                d.candidates
                    .iter()
                    .find(|c| c.edge == s.topology.edges[home].id)
                    .unwrap()
                    .live
                    .clone()
            };
            // The /debug/route view (no commit) shows the figures in both modes; a committed
            // distance-mode answer does not read them.
            let view = s.route(0, 0, None, b"c", b"/t1", None, false);
            assert_eq!(live_of(&view).unwrap().starvation_rate, Some(0.5));
            if mode == "distance" {
                assert!(live_of(&d).is_none());
            } else {
                assert_eq!(live_of(&d).unwrap().starvation_rate, Some(0.5));
            }
            if mode == "distance" {
                assert_eq!((d.chosen, d.reason), (Some(home), Reason::Nearest));
            } else {
                assert_eq!(d.chosen, Some(1 - home));
                assert_eq!(d.reason, Reason::AvoidedStarving);
                // The steering order follows: the starving edge last.
                assert_eq!(d.candidates[1].edge, s.topology.edges[home].id);
                assert_eq!(
                    d.candidates[1].impairments,
                    [closed_loop::Impairment::Starving]
                );
            }
        }
    }
}
