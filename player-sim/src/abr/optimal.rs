//! Offline optimum: dynamic programming over time × buffer with the whole trace known in
//! advance — an upper bound for the online algorithms.
//!
//! States after each segment are keyed by (network clock, buffer level), both quantised to
//! [`GRID_MS`]; per key only the best-scoring path is kept (and at most [`BEAM`] states per
//! stage). The objective is QoE_lin (bitrate Mbps − 4.3 × stall s − |Δbitrate| Mbps) with the
//! startup delay counted as stall. Transitions use the session's own network and buffer model
//! (Sabre/generic: latency + transfer + buffer-full wait; Pensieve: `fixed_env` steps), so the
//! plan plays back exactly as planned. Quantisation makes it near-optimal, not a proof.

use std::collections::HashMap;

use super::{Abr, Ctx, Decision};
use crate::input::{Ladder, Trace, TraceData};
use crate::model::pensieve::{self, TracePos};
use crate::model::sabre::TraceNetwork;
use crate::model::ModelKind;
use crate::session::{periods_for, SessionConfig};

/// Quantisation of time and buffer, ms.
pub const GRID_MS: f64 = 250.0;
/// States kept per stage.
pub const BEAM: usize = 1000;

/// Plays a precomputed plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Quality per segment.
    pub qualities: Vec<usize>,
}

impl Abr for Plan {
    fn first_quality(&mut self, _ctx: &Ctx) -> usize {
        self.qualities.first().copied().unwrap_or(0)
    }
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        Decision::q(self.qualities.get(ctx.index).copied().unwrap_or(0))
    }
}

#[derive(Clone)]
struct Node<S> {
    s: S,
    level: f64,
    value: f64,
    q: usize,
    parent: usize,
}

fn search<S: Clone>(
    ladder: &Ladder,
    n: usize,
    start: S,
    first_choices: &[usize],
    step: impl Fn(&mut S, &mut f64, usize, usize) -> f64,
    clock: impl Fn(&S) -> f64,
) -> Vec<usize> {
    let b = &ladder.bitrates_kbps;
    let mut stages: Vec<Vec<Node<S>>> = Vec::with_capacity(n);
    let root = Node {
        s: start,
        level: 0.0,
        value: 0.0,
        q: usize::MAX,
        parent: 0,
    };
    let mut frontier = vec![root];
    for i in 0..n {
        let mut best: HashMap<(i64, i64), Node<S>> = HashMap::new();
        for (pi, node) in frontier.iter().enumerate() {
            let choices: Vec<usize> = if i == 0 {
                first_choices.to_vec()
            } else {
                (0..b.len()).collect()
            };
            for q in choices {
                let mut s = node.s.clone();
                let mut level = node.level;
                let stall = step(&mut s, &mut level, i, q);
                let sw = if node.q == usize::MAX {
                    0.0
                } else {
                    (b[q] - b[node.q]).abs() / 1000.0
                };
                let value = node.value + b[q] / 1000.0 - 4.3 * (stall / 1000.0) - sw;
                let key = (
                    (clock(&s) / GRID_MS).round() as i64,
                    (level / GRID_MS).round() as i64,
                );
                let cand = Node {
                    s,
                    level,
                    value,
                    q,
                    parent: pi,
                };
                match best.get(&key) {
                    Some(old) if old.value >= value => {}
                    _ => {
                        best.insert(key, cand);
                    }
                }
            }
        }
        let mut next: Vec<Node<S>> = best.into_values().collect();
        next.sort_by(|a, b| {
            b.value
                .total_cmp(&a.value)
                .then(a.q.cmp(&b.q))
                .then(a.parent.cmp(&b.parent))
        });
        next.truncate(BEAM);
        stages.push(std::mem::replace(&mut frontier, next));
    }
    stages.push(frontier);
    // Backtrack from the best final node.
    let mut idx = 0;
    let mut plan = vec![0; n];
    for (i, q) in plan.iter_mut().enumerate().rev() {
        let node = &stages[i + 1][idx];
        *q = node.q;
        idx = node.parent;
    }
    plan
}

/// Plans the optimum for this session.
pub fn plan(ladder: &Ladder, trace: &Trace, cfg: &SessionConfig) -> Plan {
    let n = cfg.segment_count(ladder);
    let d = ladder.segment_duration_ms;
    let top = ladder.levels() - 1;
    let qualities = match cfg.model {
        ModelKind::Pensieve => {
            let (t, bw) = match &trace.data {
                TraceData::Samples { t, bw_mbps } => (t.clone(), bw_mbps.clone()),
                _ => trace.to_samples(),
            };
            let first = [pensieve::DEFAULT_QUALITY.min(top)];
            search(
                ladder,
                n,
                (TracePos::new(&t, &bw), 0.0f64),
                &first,
                |s: &mut (TracePos, f64), level, i, q| {
                    let st = pensieve::chunk_step(
                        &mut s.0,
                        level,
                        ladder.sizes_bits[i][q] / 8.0,
                        d,
                        cfg.buffer_max_ms,
                    );
                    s.1 += st.delay_ms + st.sleep_ms;
                    st.rebuf_ms
                },
                |s| s.1,
            )
        }
        _ => {
            let periods = periods_for(trace, cfg);
            let all: Vec<usize> = (0..=top).collect();
            let bmax = cfg.buffer_max_ms;
            search(
                ladder,
                n,
                TraceNetwork::new(&periods),
                &all,
                |net: &mut TraceNetwork, level, i, q| {
                    if i > 0 {
                        let wait = *level + d - bmax;
                        if wait > 0.0 {
                            net.advance(wait);
                            *level -= wait;
                        }
                    }
                    let t = net.latency_delay() + net.transfer(ladder.sizes_bits[i][q]);
                    let stall = (t - *level).max(0.0);
                    *level = (*level - t).max(0.0) + d;
                    stall
                },
                crate::model::Network::now_ms,
            )
        }
    };
    Plan { qualities }
}
