//! Offline optimum: dynamic programming over time × buffer with the whole trace known in
//! advance — an upper bound for the online algorithms.
//!
//! States after each segment are keyed by (network clock, buffer level), both quantised to
//! [`GRID_MS`]; per key only the best-scoring path is kept (and at most [`BEAM`] states per
//! stage). The objective is QoE_lin (bitrate Mbps − 4.3 × stall s − |Δbitrate| Mbps) with the
//! startup delay counted as stall. Transitions use the session's own network and buffer model
//! (Sabre/generic: latency + transfer + buffer-full wait; Pensieve: `fixed_env` steps), so the
//! plan plays back exactly as planned. Quantisation makes it near-optimal, not a proof.
//!
//! `--abr optimal` ([`crate::abr::AbrKind::Optimal`]) is an [`Abr`] that plays the plan, but it
//! needs the session's model and whole trace, so it lives above the models rather than among
//! the online algorithms in [`crate::abr`]; [`crate::session::build_abr`] builds it.

use std::collections::HashMap;

use crate::abr::{Abr, Ctx, Decision};
use crate::input::{Ladder, Trace, TraceData};
use crate::model::pensieve::{self, TracePos};
use crate::model::sabre::TraceNetwork;
use crate::model::{periods_for, ModelKind, SessionConfig};

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
    /// The quality chosen for the first planned segment on this path.
    first_q: usize,
}

/// Where a search starts: the model state after segment `first - 1`, the buffer level then and
/// the quality of that segment (`None` before the first segment: no switch penalty).
struct Root<S> {
    state: S,
    level: f64,
    last_quality: Option<usize>,
    first: usize,
}

/// The search's resolution: time/buffer grid (ms) and states kept per stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution {
    /// Quantisation of time and buffer, ms.
    pub grid_ms: f64,
    /// States kept per stage (per first choice in [`choice_values_pensieve`]).
    pub beam: usize,
}

/// How paths that start with different choices for the first planned segment are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    /// One search: paths merge on (clock, buffer) whatever their first choice; the beam is
    /// shared. The plan of the `optimal` algorithm.
    Shared,
    /// As many searches as first choices, run side by side: paths merge and are pruned only
    /// among paths with the same first choice, so every first choice gets its own best value
    /// (what the learned ABR's training needs to weigh its mistakes).
    PerFirstChoice,
}

/// What a search found.
struct Found {
    /// The best plan, segments `first..n`.
    plan: Vec<usize>,
    /// Per quality of the first planned segment, the best value of a path starting with it
    /// (`None`: not a first choice, or every such path was pruned).
    first_values: Vec<Option<f64>>,
}

impl Default for Resolution {
    /// [`GRID_MS`] and [`BEAM`], as the `optimal` algorithm plans.
    fn default() -> Self {
        Resolution {
            grid_ms: GRID_MS,
            beam: BEAM,
        }
    }
}

/// Plans segments `root.first..n` (returned in that order).
#[allow(clippy::too_many_arguments)]
fn search<S: Clone>(
    ladder: &Ladder,
    n: usize,
    root: Root<S>,
    first_choices: &[usize],
    res: Resolution,
    mode: Search,
    step: impl Fn(&mut S, &mut f64, usize, usize) -> f64,
    clock: impl Fn(&S) -> f64,
) -> Found {
    let b = &ladder.bitrates_kbps;
    let first = root.first;
    let mut stages: Vec<Vec<Node<S>>> = Vec::with_capacity(n.saturating_sub(first));
    let root = Node {
        s: root.state,
        level: root.level,
        value: 0.0,
        q: root.last_quality.unwrap_or(usize::MAX),
        parent: 0,
        first_q: usize::MAX,
    };
    let mut frontier = vec![root];
    for i in first..n {
        let mut best: HashMap<(usize, i64, i64), Node<S>> = HashMap::new();
        for (pi, node) in frontier.iter().enumerate() {
            let choices: Vec<usize> = if i == first {
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
                let first_q = if i == first { q } else { node.first_q };
                let key = (
                    if mode == Search::PerFirstChoice {
                        first_q
                    } else {
                        0
                    },
                    (clock(&s) / res.grid_ms).round() as i64,
                    (level / res.grid_ms).round() as i64,
                );
                let cand = Node {
                    s,
                    level,
                    value,
                    q,
                    parent: pi,
                    first_q,
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
        match mode {
            Search::Shared => next.truncate(res.beam),
            Search::PerFirstChoice => {
                let mut kept = vec![0usize; b.len()];
                next.retain(|x| {
                    kept[x.first_q] += 1;
                    kept[x.first_q] <= res.beam
                });
            }
        }
        stages.push(std::mem::replace(&mut frontier, next));
    }
    let mut first_values = vec![None; b.len()];
    for x in &frontier {
        if x.first_q < b.len() && first_values[x.first_q].is_none() {
            // The frontier is sorted best first.
            first_values[x.first_q] = Some(x.value);
        }
    }
    stages.push(frontier);
    // Backtrack from the best final node.
    let mut idx = 0;
    let mut plan = vec![0; n.saturating_sub(first)];
    for (i, q) in plan.iter_mut().enumerate().rev() {
        let node = &stages[i + 1][idx];
        *q = node.q;
        idx = node.parent;
    }
    Found { plan, first_values }
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
            let root = Root {
                state: (TracePos::new(&t, &bw), 0.0f64),
                level: 0.0,
                last_quality: None,
                first: 0,
            };
            search_pensieve(
                ladder,
                n,
                root,
                &first,
                Resolution::default(),
                Search::Shared,
                cfg,
            )
            .plan
        }
        _ => {
            let periods = periods_for(trace, cfg);
            let all: Vec<usize> = (0..=top).collect();
            let bmax = cfg.buffer_max_ms;
            let root = Root {
                state: TraceNetwork::new(&periods),
                level: 0.0,
                last_quality: None,
                first: 0,
            };
            search(
                ladder,
                n,
                root,
                &all,
                Resolution::default(),
                Search::Shared,
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
                crate::net::Network::now_ms,
            )
            .plan
        }
    };
    Plan { qualities }
}

/// The Pensieve-model search (`fixed_env` steps; the state carries the network clock).
fn search_pensieve(
    ladder: &Ladder,
    n: usize,
    root: Root<(TracePos, f64)>,
    first_choices: &[usize],
    res: Resolution,
    mode: Search,
    cfg: &SessionConfig,
) -> Found {
    let d = ladder.segment_duration_ms;
    search(
        ladder,
        n,
        root,
        first_choices,
        res,
        mode,
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

/// A moment in a Pensieve-model session, between two downloads.
#[derive(Debug, Clone, Copy)]
pub struct PensieveState<'a> {
    /// The trace position (it knows the rest of the trace).
    pub pos: TracePos<'a>,
    /// Session clock (Σ delays and sleeps so far), ms.
    pub clock_ms: f64,
    /// Buffer level, ms.
    pub buffer_ms: f64,
    /// Quality of the last segment.
    pub last_quality: usize,
    /// The segment about to be requested.
    pub index: usize,
}

/// The Pensieve-model optimum from a state in the middle of a session: the best quality for
/// segment `state.index`, planning to the end of the session with the future of the trace
/// known. From the state after segment 0 (with its clock) it is the `optimal` plan's choice
/// for segment 1 at the same resolution. This is the expert that the learned ABR imitates
/// (`crate::learn`).
pub fn best_next_pensieve(
    ladder: &Ladder,
    cfg: &SessionConfig,
    state: PensieveState,
    res: Resolution,
) -> usize {
    let n = cfg.segment_count(ladder);
    if state.index >= n {
        return state.last_quality;
    }
    search_from(ladder, cfg, n, state, res, Search::Shared).plan[0]
}

/// Searches segments `state.index..n` from a mid-session state, every quality a first choice.
fn search_from(
    ladder: &Ladder,
    cfg: &SessionConfig,
    n: usize,
    state: PensieveState,
    res: Resolution,
    mode: Search,
) -> Found {
    let all: Vec<usize> = (0..ladder.levels()).collect();
    let root = Root {
        state: (state.pos, state.clock_ms),
        level: state.buffer_ms,
        last_quality: Some(state.last_quality),
        first: state.index,
    };
    search_pensieve(ladder, n, root, &all, res, mode, cfg)
}

/// The Pensieve-model value of every choice for segment `state.index`: per quality, the best
/// QoE_lin (bitrate Mbps − 4.3 × stall s − |Δbitrate| Mbps, summed from this segment over the
/// next `horizon` segments, or to the end of the session if sooner) of a path that starts with
/// it, the future of the trace known. Each first choice is searched on its own
/// ([`Resolution::beam`] states per stage each), so the values compare the choices fairly;
/// `None` only past the last segment.
pub fn choice_values_pensieve(
    ladder: &Ladder,
    cfg: &SessionConfig,
    state: PensieveState,
    res: Resolution,
    horizon: usize,
) -> Vec<Option<f64>> {
    let n = cfg
        .segment_count(ladder)
        .min(state.index.saturating_add(horizon.max(1)));
    if state.index >= n {
        return vec![None; ladder.levels()];
    }
    search_from(ladder, cfg, n, state, res, Search::PerFirstChoice).first_values
}
