//! Closed-loop steering: the distance ranking of [`crate::choice`] corrected by what the
//! edges report about themselves ([`crate::live`]: load from `/metrics`, and the QoE their
//! players report through CMCD, CTA-5004), with hysteresis so clients do not flap.
//!
//! Issue 17 §4. The switch is one line of the topology file, `[closed_loop] mode =
//! "distance"` (the default: the ranking is exactly the distance one) or `"closed-loop"`.
//!
//! ## The policy ([`rank`], pure)
//! 1. Input: the service's candidates in distance order (health filter, bias, slack,
//!    rendezvous hash and bounded load already applied by
//!    [`crate::choice::Snapshot::choose`]), each with its live figures ([`EdgeInput`]).
//! 2. Cost of each edge, in the policy's score units (km, or ms for `latency`): its
//!    distance score — the best score for every edge of the near set, so that rendezvous
//!    hashing still spreads titles over equally near edges — plus `home_bonus` for every
//!    edge but the distance choice (the title's rendezvous "home": a title moved away
//!    returns once its home has recovered, so load does not pile up where an incident
//!    pushed it), plus a penalty per impairment ([`Impairment`]):
//!    - **starving**: over the last `window_ms`, at least `min_cmcd_requests` requests
//!      carried CMCD and at least `starving_rate` of them carried `bs` (CTA-5004 §3.3
//!      "buffer starvation": the player rebuffered since its last request);
//!    - **slow**: the median CMCD `mtp` (CTA-5004 §3.3 "measured throughput") of the
//!      edge's sessions is below `slow_fraction` × the best other edge's;
//!    - **overloaded**: its smoothed request rate per unit of `capacity` is at least
//!      `overload_rps` (an absolute bound: an edge serving more than a slowed peer is not
//!      overloaded for that alone).
//!
//!    A figure the edge does not export (or a stale scrape) is *unknown* and never an
//!    impairment: missing metrics are not zero load. An impairment keeps counting for
//!    `cooldown_ms` after it was last seen ([`EdgeInput::remembered`]): once players have
//!    left a slowed edge its evidence fades (no CMCD requests, no sessions), and without
//!    the cooldown titles would return to it at once and starve again.
//! 3. Hysteresis ([`Held`]): a client/asset pair keeps its current edge while that edge is
//!    up, unless another edge is cheaper by more than `margin` **and** has stayed so for
//!    `hold_ms`. A down edge is left at once. So oscillating inputs cannot flip a choice
//!    faster than once per `hold_ms` (test `anti_flap`).
//! 4. Output: the candidates re-ranked by cost (the held edge first while kept) and a
//!    [`Reason`] naming why, which `/debug/route`, the decision log, the `302`, the
//!    steering manifest and the DNS answer all share.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::health::HealthState;

pub use crate::topology::closed_loop::{ClosedLoopConfig, Mode};

/// What is wrong with an edge, as live figures show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impairment {
    /// Its players report buffer starvation (CMCD `bs`) at or above `starving_rate`.
    Starving,
    /// Its players' measured throughput (CMCD `mtp`) is far below the best other edge's.
    Slow,
    /// Its request rate per capacity is at least `overload_rps`.
    Overloaded,
}

/// Live figures of one candidate edge (`None`: unknown).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveFigures {
    /// Smoothed (EWMA) request rate, requests/s.
    pub requests_per_s: Option<f64>,
    /// Smoothed sent bytes rate, Mbit/s.
    pub sent_mbps: Option<f64>,
    /// Open client connections.
    pub open_connections: Option<f64>,
    /// Mean time to response head over the last scrape interval, ms.
    pub latency_ms: Option<f64>,
    /// Requests with CMCD in the window.
    pub cmcd_requests: Option<u64>,
    /// Requests with CMCD `bs` / requests with CMCD, over the window.
    pub starvation_rate: Option<f64>,
    /// Distinct CMCD sessions the edge saw in its last 30 s.
    pub sessions: Option<f64>,
    /// Median CMCD `mtp` of those sessions, kbit/s.
    pub mtp_kbps: Option<f64>,
}

/// One candidate as [`rank`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeInput {
    /// Edge index in the topology.
    pub edge: usize,
    /// Health.
    pub health: HealthState,
    /// Distance-policy score after bias (km, or ms); lower is better.
    pub score: f64,
    /// Within slack of the best (rendezvous-hashed near set).
    pub near: bool,
    /// Capacity weight.
    pub capacity: f64,
    /// Live figures.
    pub live: LiveFigures,
    /// Impairments seen within the last `cooldown_ms` (counted as if seen now).
    pub remembered: Vec<Impairment>,
}

/// One ranked candidate with its cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Edge index in the topology.
    #[serde(skip)]
    pub edge: usize,
    /// Distance part of the cost (the near set's best for every near edge).
    pub distance_cost: f64,
    /// What is wrong with it (seen now, or within the cooldown).
    pub impairments: Vec<Impairment>,
    /// What the current figures show wrong (the caller remembers these).
    pub seen_now: Vec<Impairment>,
    /// Distance cost, plus `home_bonus` unless it is the distance choice, plus penalties.
    pub cost: f64,
    /// Request rate per capacity over the mean of the service's edges (`None`: unknown;
    /// shown, not routed on).
    pub load_ratio: Option<f64>,
}

/// Why the first edge of a ranking is first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The nearest edge (within slack: the rendezvous-hash pick), nothing wrong with it.
    Nearest,
    /// No edge was up: the least-bad one.
    Degraded,
    /// Nearer edges are down.
    AvoidedDown,
    /// The preferred edge was over its bounded-load share ([`crate::choice`]).
    Spilled,
    /// A nearer edge's players are starving.
    AvoidedStarving,
    /// A nearer edge's players measure far lower throughput.
    AvoidedSlow,
    /// A nearer edge is overloaded.
    AvoidedOverloaded,
    /// A cheaper edge exists but has not been better by the margin for the hold time.
    KeptForHysteresis,
    /// The held edge was replaced by a cheaper one after the hold time (its cost
    /// improved for a reason other than an impairment of the held edge).
    Rebalanced,
}

impl Reason {
    /// The reason as JSON and metrics write it (`avoided_starving`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Nearest => "nearest",
            Reason::Degraded => "degraded",
            Reason::AvoidedDown => "avoided_down",
            Reason::Spilled => "spilled",
            Reason::AvoidedStarving => "avoided_starving",
            Reason::AvoidedSlow => "avoided_slow",
            Reason::AvoidedOverloaded => "avoided_overloaded",
            Reason::KeptForHysteresis => "kept_for_hysteresis",
            Reason::Rebalanced => "rebalanced",
        }
    }
}

/// The choice a client/asset pair holds, and the challenger being timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The edge held.
    pub edge: usize,
    /// The cheaper edge, and since when (ms) it has been cheaper by the margin.
    pub challenger: Option<(usize, u64)>,
}

/// The outcome of [`rank`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Candidates, chosen first.
    pub order: Vec<Scored>,
    /// Why the first is first.
    pub reason: Reason,
    /// What to remember for the pair.
    pub held: Option<Held>,
}

/// The median of the known `mtp`s of the edges other than `i`, maximum.
fn best_other_mtp(inputs: &[EdgeInput], i: usize) -> Option<f64> {
    inputs
        .iter()
        .enumerate()
        .filter(|&(j, e)| j != i && e.health == HealthState::Up)
        .filter_map(|(_, e)| e.live.mtp_kbps)
        .filter(|m| *m > 0.0)
        .reduce(f64::max)
}

/// The impairments and load ratio of every input (same order).
pub fn assess(cfg: &ClosedLoopConfig, inputs: &[EdgeInput]) -> Vec<(Vec<Impairment>, Option<f64>)> {
    let per_cap: Vec<Option<f64>> = inputs
        .iter()
        .map(|e| {
            e.live
                .requests_per_s
                .map(|r| r / e.capacity.max(f64::MIN_POSITIVE))
        })
        .collect();
    let known: Vec<f64> = per_cap.iter().flatten().copied().collect();
    let mean = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
    inputs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut imp = Vec::new();
            if let (Some(n), Some(rate)) = (e.live.cmcd_requests, e.live.starvation_rate) {
                if n >= cfg.min_cmcd_requests && n > 0 && rate >= cfg.starving_rate {
                    imp.push(Impairment::Starving);
                }
            }
            if let (Some(m), Some(best)) = (e.live.mtp_kbps, best_other_mtp(inputs, i)) {
                if m < cfg.slow_fraction * best {
                    imp.push(Impairment::Slow);
                }
            }
            if per_cap[i].is_some_and(|p| p >= cfg.overload_rps) {
                imp.push(Impairment::Overloaded);
            }
            let ratio = match (per_cap[i], mean) {
                (Some(p), Some(m)) if m > 0.0 => Some(p / m),
                _ => None,
            };
            (imp, ratio)
        })
        .collect()
}

fn penalty(cfg: &ClosedLoopConfig, imp: &[Impairment]) -> f64 {
    imp.iter()
        .map(|i| match i {
            Impairment::Starving => cfg.starving_penalty,
            Impairment::Slow => cfg.slow_penalty,
            Impairment::Overloaded => cfg.overloaded_penalty,
        })
        .sum()
}

/// The reason an edge ahead of `chosen` in distance order was passed over.
fn avoided(imp: &[Impairment]) -> Reason {
    if imp.contains(&Impairment::Starving) {
        Reason::AvoidedStarving
    } else if imp.contains(&Impairment::Slow) {
        Reason::AvoidedSlow
    } else if imp.contains(&Impairment::Overloaded) {
        Reason::AvoidedOverloaded
    } else {
        Reason::Rebalanced
    }
}

/// Ranks `inputs` (in distance order, the distance choice first) for one client/asset pair
/// that held `held` (`None`: first answer), at `now_ms`. `distance_reason` is why the
/// distance ranking put its first edge first (`Nearest`, `AvoidedDown`, `Spilled`,
/// `Degraded`). Pure: see the module docs for the rules.
pub fn rank(
    cfg: &ClosedLoopConfig,
    inputs: &[EdgeInput],
    held: Option<Held>,
    distance_reason: Reason,
    now_ms: u64,
) -> Ranking {
    let assessed = assess(cfg, inputs);
    let best_near = inputs
        .iter()
        .filter(|e| e.near)
        .map(|e| e.score)
        .fold(f64::INFINITY, f64::min);
    let home = inputs.first().map(|e| e.edge);
    let mut order: Vec<Scored> = inputs
        .iter()
        .zip(assessed)
        .map(|(e, (seen_now, load_ratio))| {
            let mut impairments = seen_now.clone();
            for r in &e.remembered {
                if !impairments.contains(r) {
                    impairments.push(*r);
                }
            }
            let distance_cost = if e.near { best_near } else { e.score };
            let away = if Some(e.edge) == home {
                0.0
            } else {
                cfg.home_bonus
            };
            Scored {
                edge: e.edge,
                cost: distance_cost + away + penalty(cfg, &impairments),
                distance_cost,
                impairments,
                seen_now,
                load_ratio,
            }
        })
        .collect();
    // Up edges first, then by cost; stable: equal costs keep the distance order
    // (rendezvous hash, bounded load).
    let badness = |edge: usize| match inputs.iter().find(|e| e.edge == edge).map(|e| e.health) {
        Some(HealthState::Up) => 0,
        Some(HealthState::Unknown) => 1,
        _ => 2,
    };
    order.sort_by(|a, b| {
        badness(a.edge)
            .cmp(&badness(b.edge))
            .then(a.cost.total_cmp(&b.cost))
    });
    let Some(best) = order.first().map(|s| s.edge) else {
        return Ranking {
            order,
            reason: distance_reason,
            held: None,
        };
    };
    let why_best = |order: &[Scored]| -> Reason {
        let first = inputs.first().map(|e| e.edge);
        if first == Some(order[0].edge) {
            return distance_reason;
        }
        // The distance choice was passed over: say why.
        let passed = order.iter().find(|s| Some(s.edge) == first);
        passed.map_or(distance_reason, |s| avoided(&s.impairments))
    };
    let all_down = inputs.iter().all(|e| e.health != HealthState::Up);
    let held_pos = held.and_then(|h| order.iter().position(|s| s.edge == h.edge));
    let held_up = held_pos.is_some_and(|p| {
        inputs
            .iter()
            .find(|e| e.edge == order[p].edge)
            .is_some_and(|e| e.health == HealthState::Up || all_down)
    });
    let (Some(h), Some(p), true) = (held, held_pos, held_up) else {
        // First answer for the pair, or its edge left the candidates or is down.
        let reason = match held {
            Some(h) if h.edge != best => {
                let r = why_best(&order);
                if r == Reason::Nearest {
                    Reason::AvoidedDown
                } else {
                    r
                }
            }
            _ => why_best(&order),
        };
        return Ranking {
            reason,
            held: Some(Held {
                edge: best,
                challenger: None,
            }),
            order,
        };
    };
    if h.edge == best {
        return Ranking {
            reason: why_best(&order),
            held: Some(Held {
                edge: best,
                challenger: None,
            }),
            order,
        };
    }
    let better_by_margin = order[p].cost - order[0].cost > cfg.margin;
    if better_by_margin {
        let since = match h.challenger {
            Some((c, since)) if c == best => since,
            _ => now_ms,
        };
        if now_ms.saturating_sub(since) >= cfg.hold_ms {
            let reason = match avoided(&order[p].impairments) {
                Reason::Rebalanced => why_best(&order),
                r => r,
            };
            return Ranking {
                reason,
                held: Some(Held {
                    edge: best,
                    challenger: None,
                }),
                order,
            };
        }
        let kept = order.remove(p);
        order.insert(0, kept);
        return Ranking {
            order,
            reason: Reason::KeptForHysteresis,
            held: Some(Held {
                edge: h.edge,
                challenger: Some((best, since)),
            }),
        };
    }
    let kept = order.remove(p);
    order.insert(0, kept);
    Ranking {
        order,
        reason: Reason::KeptForHysteresis,
        held: Some(Held {
            edge: h.edge,
            challenger: None,
        }),
    }
}

/// A held choice by edge id, and when the pair was last answered (ms).
#[derive(Debug, Clone)]
struct HeldById {
    edge: String,
    challenger: Option<(String, u64)>,
    seen_ms: u64,
}

/// What each client/asset pair holds (bounded: beyond `max` pairs the least recently
/// answered half is forgotten). Keyed by edge **id** so a topology reload keeps it.
#[derive(Debug, Default)]
pub struct Sticky {
    map: Mutex<HashMap<u64, HeldById>>,
}

impl Sticky {
    /// What `pair` holds, as indices (`index_of` maps an edge id to its index).
    pub fn get(&self, pair: u64, index_of: impl Fn(&str) -> Option<usize>) -> Option<Held> {
        let m = self.map.lock().expect("sticky poisoned");
        let h = m.get(&pair)?;
        Some(Held {
            edge: index_of(&h.edge)?,
            challenger: h
                .challenger
                .as_ref()
                .and_then(|(c, since)| index_of(c).map(|i| (i, *since))),
        })
    }

    /// Remembers what `pair` holds now (`id_of` maps an edge index to its id).
    pub fn put(
        &self,
        pair: u64,
        held: Held,
        id_of: impl Fn(usize) -> String,
        now_ms: u64,
        max: usize,
    ) {
        let mut m = self.map.lock().expect("sticky poisoned");
        if m.len() >= max && !m.contains_key(&pair) {
            let mut ages: Vec<u64> = m.values().map(|v| v.seen_ms).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            m.retain(|_, v| v.seen_ms > cut);
        }
        m.insert(
            pair,
            HeldById {
                edge: id_of(held.edge),
                challenger: held.challenger.map(|(c, s)| (id_of(c), s)),
                seen_ms: now_ms,
            },
        );
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// No pair remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClosedLoopConfig {
        ClosedLoopConfig {
            mode: Mode::ClosedLoop,
            ..Default::default()
        }
    }

    fn edge(i: usize, score: f64, near: bool) -> EdgeInput {
        EdgeInput {
            edge: i,
            health: HealthState::Up,
            score,
            near,
            capacity: 1.0,
            live: LiveFigures::default(),
            remembered: Vec::new(),
        }
    }

    fn starving(mut e: EdgeInput, rate: f64) -> EdgeInput {
        e.live.cmcd_requests = Some(100);
        e.live.starvation_rate = Some(rate);
        e
    }

    fn first(r: &Ranking) -> usize {
        r.order[0].edge
    }

    #[test]
    fn unknown_figures_keep_the_distance_order() {
        let c = cfg();
        let ins = [
            edge(0, 0.0, true),
            edge(1, 10.0, true),
            edge(2, 900.0, false),
        ];
        let r = rank(&c, &ins, None, Reason::Nearest, 0);
        assert_eq!(
            r.order.iter().map(|s| s.edge).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(r.reason, Reason::Nearest);
        assert!(r.order.iter().all(|s| s.impairments.is_empty()));
        // Near edges share the best distance cost; the hash's pick is home.
        assert_eq!(r.order[1].distance_cost, 0.0);
        assert_eq!(r.order[1].cost, c.home_bonus);
        assert_eq!(
            r.held,
            Some(Held {
                edge: 0,
                challenger: None
            })
        );
    }

    #[test]
    fn starving_edge_is_avoided_when_another_is_near_enough() {
        let c = cfg();
        let ins = [starving(edge(0, 0.0, true), 0.2), edge(1, 0.0, true)];
        let r = rank(&c, &ins, None, Reason::Nearest, 0);
        assert_eq!(first(&r), 1);
        assert_eq!(r.reason, Reason::AvoidedStarving);
        assert_eq!(r.order[1].impairments, [Impairment::Starving]);
        // Below the rate, or with too few CMCD requests: not starving.
        let ins = [starving(edge(0, 0.0, true), 0.01), edge(1, 0.0, true)];
        assert_eq!(first(&rank(&c, &ins, None, Reason::Nearest, 0)), 0);
        let mut few = starving(edge(0, 0.0, true), 0.5);
        few.live.cmcd_requests = Some(3);
        let ins = [few, edge(1, 0.0, true)];
        assert_eq!(first(&rank(&c, &ins, None, Reason::Nearest, 0)), 0);
        // A starving edge still beats one farther than the penalty.
        let ins = [starving(edge(0, 0.0, true), 0.5), edge(1, 5000.0, false)];
        assert_eq!(first(&rank(&c, &ins, None, Reason::Nearest, 0)), 0);
    }

    #[test]
    fn slow_and_overloaded() {
        let c = cfg();
        let mut a = edge(0, 0.0, true);
        a.live.mtp_kbps = Some(400.0);
        let mut b = edge(1, 0.0, true);
        b.live.mtp_kbps = Some(5000.0);
        let r = rank(&c, &[a.clone(), b.clone()], None, Reason::Nearest, 0);
        assert_eq!((first(&r), r.reason), (1, Reason::AvoidedSlow));
        // Overloaded: at least overload_rps per unit of capacity; capacity weighs it.
        let mut a = edge(0, 0.0, true);
        a.live.requests_per_s = Some(1500.0);
        let mut b = edge(1, 0.0, true);
        b.live.requests_per_s = Some(500.0);
        let r = rank(&c, &[a.clone(), b.clone()], None, Reason::Nearest, 0);
        assert_eq!((first(&r), r.reason), (1, Reason::AvoidedOverloaded));
        assert!((r.order[1].load_ratio.unwrap() - 1.5).abs() < 1e-9);
        a.capacity = 2.0;
        let r = rank(&c, &[a.clone(), b.clone()], None, Reason::Nearest, 0);
        assert_eq!((first(&r), r.reason), (0, Reason::Nearest));
        // A busier edge than a slowed peer is not overloaded for that alone.
        let mut slow = edge(1, 0.0, true);
        slow.live.requests_per_s = Some(1.0);
        slow.live.mtp_kbps = Some(100.0);
        a.capacity = 1.0;
        a.live.requests_per_s = Some(100.0);
        a.live.mtp_kbps = Some(5000.0);
        let r = rank(&c, &[slow, a], None, Reason::Nearest, 0);
        assert_eq!((first(&r), r.reason), (0, Reason::AvoidedSlow));
        assert!(r.order[0].impairments.is_empty());
    }

    #[test]
    fn hysteresis_holds_then_moves() {
        let c = cfg();
        let good = [edge(0, 0.0, true), edge(1, 0.0, true)];
        let bad = [starving(edge(0, 0.0, true), 0.3), edge(1, 0.0, true)];
        let r = rank(&c, &good, None, Reason::Nearest, 0);
        let mut held = r.held;
        // Edge 0 starts starving at t=1000: kept until the hold time has passed.
        for t in [1000, 2000, 3999] {
            let r = rank(&c, &bad, held, Reason::Nearest, t);
            assert_eq!(
                (first(&r), r.reason),
                (0, Reason::KeptForHysteresis),
                "t={t}"
            );
            held = r.held;
        }
        assert_eq!(held.unwrap().challenger, Some((1, 1000)));
        let r = rank(&c, &bad, held, Reason::Nearest, 4000);
        assert_eq!((first(&r), r.reason), (1, Reason::AvoidedStarving));
        // Edge 0, the title's home, recovers: the pair returns, after the hold time.
        let mut held = r.held;
        for t in [5000, 7999] {
            let r = rank(&c, &good, held, Reason::Nearest, t);
            assert_eq!(
                (first(&r), r.reason),
                (1, Reason::KeptForHysteresis),
                "t={t}"
            );
            held = r.held;
        }
        let r = rank(&c, &good, held, Reason::Nearest, 8000);
        assert_eq!((first(&r), r.reason), (0, Reason::Nearest));
    }

    #[test]
    fn remembered_impairments_count_until_the_cooldown() {
        let c = cfg();
        // Edge 0 no longer shows starvation (its players left), but did recently.
        let mut a = edge(0, 0.0, true);
        a.remembered = vec![Impairment::Starving];
        let r = rank(
            &c,
            &[a.clone(), edge(1, 0.0, true)],
            None,
            Reason::Nearest,
            0,
        );
        assert_eq!((first(&r), r.reason), (1, Reason::AvoidedStarving));
        assert_eq!(r.order[1].impairments, [Impairment::Starving]);
        assert!(r.order[1].seen_now.is_empty());
        // Seen now and remembered: counted once.
        let a = starving(a, 0.5);
        let r = rank(&c, &[a, edge(1, 0.0, true)], None, Reason::Nearest, 0);
        assert_eq!(r.order[1].impairments, [Impairment::Starving]);
        assert_eq!(r.order[1].seen_now, [Impairment::Starving]);
    }

    #[test]
    fn down_edge_is_left_at_once() {
        let c = cfg();
        let mut ins = vec![edge(0, 0.0, false), edge(1, 50.0, false)];
        let held = Some(Held {
            edge: 0,
            challenger: None,
        });
        ins[0].health = HealthState::Down;
        // choose() puts a down edge behind the up ones; rank leaves it without waiting.
        ins.swap(0, 1);
        let r = rank(&c, &ins, held, Reason::AvoidedDown, 10);
        assert_eq!((first(&r), r.reason), (1, Reason::AvoidedDown));
    }

    #[test]
    fn anti_flap() {
        // Inputs oscillate every 500 ms between "edge 0 starving" and "edge 1 starving" for
        // 60 s: the choice never changes faster than once per hold time (here: never, since
        // no challenger stays better for 3 s).
        let c = cfg();
        let a_bad = [starving(edge(0, 0.0, true), 0.5), edge(1, 0.0, true)];
        let b_bad = [edge(0, 0.0, true), starving(edge(1, 0.0, true), 0.5)];
        let mut held = None;
        let mut switches = Vec::new();
        let mut last = None;
        for step in 0..120u64 {
            let t = step * 500;
            let ins = if step % 2 == 0 { &a_bad } else { &b_bad };
            let r = rank(&c, ins, held, Reason::Nearest, t);
            if last.is_some_and(|l| l != first(&r)) {
                switches.push(t);
            }
            last = Some(first(&r));
            held = r.held;
        }
        assert!(switches.is_empty(), "{switches:?}");
        // Slower oscillation (period 8 s, half-period 4 s > hold): switches happen, but
        // never two within hold_ms.
        let mut held = None;
        let mut switches: Vec<u64> = Vec::new();
        let mut last = None;
        for step in 0..240u64 {
            let t = step * 250;
            let ins = if (t / 4000) % 2 == 0 { &a_bad } else { &b_bad };
            let r = rank(&c, ins, held, Reason::Nearest, t);
            if last.is_some_and(|l| l != first(&r)) {
                switches.push(t);
            }
            last = Some(first(&r));
            held = r.held;
        }
        assert!(switches.len() >= 2, "{switches:?}");
        assert!(
            switches.windows(2).all(|w| w[1] - w[0] >= c.hold_ms),
            "{switches:?}"
        );
    }

    #[test]
    fn sticky_is_bounded_and_survives_reindexing() {
        let s = Sticky::default();
        let ids = ["a", "b"];
        for p in 0..10u64 {
            s.put(
                p,
                Held {
                    edge: 1,
                    challenger: Some((0, 7)),
                },
                |i| ids[i].into(),
                p,
                8,
            );
        }
        assert!(s.len() <= 8, "{}", s.len());
        // A reload that reorders edges: ids still resolve.
        let h = s
            .get(9, |id| ["b", "a"].iter().position(|x| *x == id))
            .unwrap();
        assert_eq!(
            h,
            Held {
                edge: 0,
                challenger: Some((1, 7))
            }
        );
        assert!(s.get(9, |_| None).is_none());
    }

    #[test]
    fn config_checks() {
        assert!(ClosedLoopConfig::default().check().is_ok());
        let bad = ClosedLoopConfig {
            ewma_alpha: 0.0,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("ewma_alpha"));
        let c: ClosedLoopConfig = toml::from_str("mode = \"closed-loop\"\nhold_ms = 10").unwrap();
        assert_eq!((c.mode, c.hold_ms), (Mode::ClosedLoop, 10));
        assert!(toml::from_str::<ClosedLoopConfig>("mode = \"nearest\"").is_err());
        for r in [
            Reason::Nearest,
            Reason::Degraded,
            Reason::AvoidedDown,
            Reason::Spilled,
            Reason::AvoidedStarving,
            Reason::AvoidedSlow,
            Reason::AvoidedOverloaded,
            Reason::KeptForHysteresis,
            Reason::Rebalanced,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
