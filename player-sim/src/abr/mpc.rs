//! Model-predictive control (Yin et al., SIGCOMM'15) as in Pensieve's `test/mpc.py`
//! (MODELS.md B7): robustMPC discounts the harmonic mean of the last 5 throughput samples by the
//! largest relative prediction error of the last 5 decisions; fastMPC uses the plain harmonic
//! mean (and strict `>` ties, as Pensieve's `mpc_server.py`). Horizon 5; QoE_lin objective.
//!
//! The plan search walks the L^h tree of plans depth-first with the reference's per-step float
//! operations, so each plan gets exactly the value the flat enumeration gives it, without
//! re-evaluating shared prefixes. Two walks, same decisions:
//!
//! * exhaustive ([`Mpc::pruned`] = false): every plan in lexicographic order, as `mpc.py`.
//! * branch and bound (default): the decision is the first quality of the lexicographically
//!   last (robust, `>=` ties) or first (fast, `>` ties) plan of maximal value, so the walk may
//!   visit plans in any order as long as ties are broken by plan order. It visits highest
//!   qualities first and skips a subtree when an upper bound on the value of every plan in it
//!   cannot beat (or, where ties count, reach) the best found. The bound is evaluated with the
//!   same float operations in the same order as a leaf's value, using only their monotonicity
//!   (IEEE-754 rounding is monotone): remaining rates at the ladder's top rate, stall at least
//!   what the cheapest chunk at each remaining step would add (buffer and stall updates are
//!   monotone in the download time), switches at least those so far. So no pruned plan could
//!   have changed the choice, bit for bit. On a 10-rung ladder this visits a small fraction of
//!   the 10^5 plans (`examples/speed.rs`).

use super::{Abr, Ctx, Decision, Download};
use crate::estimator::harmonic_mean;

/// robustMPC / fastMPC.
#[derive(Debug, Clone)]
pub struct Mpc {
    robust: bool,
    /// Look-ahead horizon (chunks).
    pub horizon: usize,
    /// Rebuffer penalty per second.
    pub rebuf_penalty: f64,
    /// Branch-and-bound plan search (default); `false` walks every plan (same decisions).
    pub pruned: bool,
    history: Vec<f64>,
    past_errors: Vec<f64>,
    past_estimates: Vec<f64>,
}

impl Mpc {
    /// robustMPC.
    pub fn robust() -> Self {
        Mpc {
            robust: true,
            horizon: 5,
            rebuf_penalty: 4.3,
            pruned: true,
            history: Vec::new(),
            past_errors: Vec::new(),
            past_estimates: Vec::new(),
        }
    }
    /// fastMPC.
    pub fn fast() -> Self {
        Mpc {
            robust: false,
            ..Self::robust()
        }
    }
}

/// One plan search: `dt[j][c]` = predicted download time (s) of the chunk at step `j` in
/// quality `c`.
pub struct Search<'a> {
    /// Predicted download time (s) per step and quality.
    pub dt: &'a [Vec<f64>],
    /// Ladder bitrates, kbps.
    pub rates: &'a [f64],
    /// Chunk duration, s.
    pub chunk_s: f64,
    /// Rebuffer penalty per second.
    pub penalty: f64,
    /// Ties go to the later plan (robustMPC, `>=`) rather than the earlier one (fastMPC, `>`).
    pub ties_to_later: bool,
}

/// The mutable state of a walk.
struct Walk {
    best: f64,
    best_first: usize,
    /// A plan has been recorded (only matters for a value exactly equal to the initial best).
    found: bool,
    /// Leaves (plans) evaluated.
    leaves: u64,
}

/// The reference's initial best value.
const INITIAL_BEST: f64 = -100000000.0;

impl Search<'_> {
    /// Horizon (steps).
    fn h(&self) -> usize {
        self.dt.len()
    }

    /// A plan's value, from its sums, as the reference computes it.
    fn value(&self, sum_rate: f64, stall: f64, sum_switch: f64) -> f64 {
        (sum_rate / 1000.0) - (self.penalty * stall) - (sum_switch / 1000.0)
    }

    /// One step of the buffer model: (buffer, stall) after downloading for `d` seconds.
    fn step(&self, buffer: f64, stall: f64, d: f64) -> (f64, f64) {
        let (mut nb, ns) = if buffer < d {
            (0.0, stall + (d - buffer))
        } else {
            (buffer - d, stall)
        };
        nb += self.chunk_s;
        (nb, ns)
    }

    /// The decision (first quality of the chosen plan) and the number of plans evaluated,
    /// starting from `buffer` seconds after a chunk of quality `prev`.
    pub fn run(&self, buffer: f64, prev: usize, pruned: bool) -> (usize, u64) {
        let mut w = Walk {
            best: INITIAL_BEST,
            best_first: 0,
            found: false,
            leaves: 0,
        };
        // The bound needs a non-negative penalty (value decreasing in stall).
        if pruned && self.penalty >= 0.0 {
            let top = self.rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min_dt: Vec<f64> = self
                .dt
                .iter()
                .map(|row| row.iter().copied().fold(f64::INFINITY, f64::min))
                .collect();
            self.bnb(&mut w, &min_dt, top, 0, buffer, 0.0, 0.0, 0.0, prev, 0);
        } else {
            self.all(&mut w, 0, buffer, 0.0, 0.0, 0.0, prev, 0);
        }
        (w.best_first, w.leaves)
    }

    /// Every plan in lexicographic order (the reference's enumeration).
    #[allow(clippy::too_many_arguments)]
    fn all(
        &self,
        w: &mut Walk,
        depth: usize,
        buffer: f64,
        stall: f64,
        sum_rate: f64,
        sum_switch: f64,
        prev: usize,
        first: usize,
    ) {
        if depth == self.h() {
            let value = self.value(sum_rate, stall, sum_switch);
            w.leaves += 1;
            if value > w.best || (self.ties_to_later && value == w.best) {
                w.best = value;
                w.best_first = first;
            }
            return;
        }
        for c in 0..self.rates.len() {
            let (nb, ns) = self.step(buffer, stall, self.dt[depth][c]);
            let first = if depth == 0 { c } else { first };
            self.all(
                w,
                depth + 1,
                nb,
                ns,
                sum_rate + self.rates[c],
                sum_switch + (self.rates[c] - self.rates[prev]).abs(),
                c,
                first,
            );
        }
    }

    /// Whether a plan of value `v`, visited now by [`Search::bnb`], replaces the best: a higher
    /// value, or an equal one that the reference would have preferred — robust keeps the last
    /// plan in plan order (visited first here, so only the first recorded one counts, including
    /// one equal to the initial best); fast keeps the first (visited last here, so a later
    /// equal one replaces, but never one merely equal to the initial best). Monotone in `v`,
    /// so it also tells whether a subtree whose plans are all worth at most `v` can matter.
    fn beats(&self, w: &Walk, v: f64) -> bool {
        v > w.best || (v == w.best && (self.ties_to_later != w.found))
    }

    /// Branch and bound in reverse lexicographic order (see [`Search::beats`]).
    #[allow(clippy::too_many_arguments)]
    fn bnb(
        &self,
        w: &mut Walk,
        min_dt: &[f64],
        top: f64,
        depth: usize,
        buffer: f64,
        stall: f64,
        sum_rate: f64,
        sum_switch: f64,
        prev: usize,
        first: usize,
    ) {
        let h = self.h();
        if depth == h {
            let value = self.value(sum_rate, stall, sum_switch);
            w.leaves += 1;
            if self.beats(w, value) {
                w.best = value;
                w.best_first = first;
                w.found = true;
            }
            return;
        }
        if depth > 0 {
            // Upper bound on the value of every plan below: each of the remaining rates at most
            // `top`, stall at least the cheapest chunks' (monotone float updates), switches at
            // least `sum_switch`; added in the leaves' order, so it bounds their float values.
            let mut r = sum_rate;
            let (mut b, mut st) = (buffer, stall);
            for j in depth..h {
                r += top;
                (b, st) = self.step(b, st, min_dt[j]);
            }
            let bound = self.value(r, st, sum_switch);
            if !self.beats(w, bound) {
                return;
            }
        }
        for c in (0..self.rates.len()).rev() {
            let (nb, ns) = self.step(buffer, stall, self.dt[depth][c]);
            let first = if depth == 0 { c } else { first };
            self.bnb(
                w,
                min_dt,
                top,
                depth + 1,
                nb,
                ns,
                sum_rate + self.rates[c],
                sum_switch + (self.rates[c] - self.rates[prev]).abs(),
                c,
                first,
            );
        }
    }
}

impl Abr for Mpc {
    fn first_quality(&mut self, ctx: &Ctx) -> usize {
        1.min(ctx.levels() - 1)
    }

    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let Some(&x) = self.history.last() else {
            return Decision::q(ctx.last_quality);
        };
        let err = match self.past_estimates.last() {
            Some(&e) => (e - x).abs() / x,
            None => 0.0,
        };
        self.past_errors.push(err);
        let win = &self.history[self.history.len().saturating_sub(5)..];
        let h_mean = harmonic_mean(win);
        let e = self.past_errors[self.past_errors.len().saturating_sub(5)..]
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let predicted = if self.robust {
            h_mean / (1.0 + e)
        } else {
            h_mean
        };
        self.past_estimates.push(h_mean);

        let n = ctx.index;
        let h = self.horizon.min(ctx.segments.saturating_sub(n));
        if h == 0 {
            return Decision::q(0);
        }
        let ahead = usize::from(ctx.quirks.mpc_sizes_one_ahead);
        let last_seg = ctx.ladder.segments() - 1;
        let dt: Vec<Vec<f64>> = (0..h)
            .map(|j| {
                let sizes = &ctx.ladder.sizes_bits[(n + j + ahead).min(last_seg)];
                sizes
                    .iter()
                    .map(|bits| ((bits / 8.0) / 1000000.0) / predicted)
                    .collect()
            })
            .collect();
        let s = Search {
            dt: &dt,
            rates: &ctx.ladder.bitrates_kbps,
            chunk_s: ctx.seg_ms() / 1000.0,
            penalty: self.rebuf_penalty,
            ties_to_later: self.robust,
        };
        let (q, _) = s.run(ctx.buffer_ms / 1000.0, ctx.last_quality, self.pruned);
        Decision::q(q)
    }

    fn report_download(&mut self, _ctx: &Ctx, d: &Download) {
        if d.abandon_to.is_none() {
            self.history
                .push(((d.size_bits / 8.0) / d.time_ms) / 1000.0);
        }
    }

    fn new_video(&mut self) {
        self.history.clear();
    }

    fn carries_state(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search problems below come from the workspace's one seeded generator.
    struct Rng(workload::SplitMix64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0.below_mod(n)
        }
    }

    /// Branch and bound and the exhaustive walk choose the same first quality on random plan
    /// searches, including many exact ties (rates and download times drawn from small sets) and
    /// hopeless ones (every plan stalls for ages).
    #[test]
    fn pruned_search_matches_exhaustive() {
        let mut rng = Rng(workload::SplitMix64::new(0x9e37_79b9_7f4a_7c15));
        let mut pruned_leaves = 0u64;
        let mut all_leaves = 0u64;
        for case in 0..1500 {
            let levels = 1 + rng.below(10) as usize;
            let h = 1 + rng.below(5) as usize;
            let coarse = case % 2 == 0;
            let mut rates: Vec<f64> = (0..levels)
                .map(|_| {
                    if coarse {
                        (300 * (1 + rng.below(4))) as f64
                    } else {
                        (100 + rng.below(8000)) as f64
                    }
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            let scale = [0.05, 0.5, 1.0, 4.0, 1e7][rng.below(5) as usize];
            let dt: Vec<Vec<f64>> = (0..h)
                .map(|_| {
                    (0..levels)
                        .map(|c| {
                            if coarse {
                                (1 + rng.below(4)) as f64 * scale
                            } else {
                                (rates[c] / 1000.0) * (0.2 + rng.below(1000) as f64 / 250.0) * scale
                            }
                        })
                        .collect()
                })
                .collect();
            let buffer = if coarse {
                rng.below(5) as f64 * 2.0
            } else {
                rng.below(60_000) as f64 / 1000.0
            };
            let prev = rng.below(levels as u64) as usize;
            for ties_to_later in [true, false] {
                let s = Search {
                    dt: &dt,
                    rates: &rates,
                    chunk_s: 4.0,
                    penalty: 4.3,
                    ties_to_later,
                };
                let (q_all, n_all) = s.run(buffer, prev, false);
                let (q_bnb, n_bnb) = s.run(buffer, prev, true);
                assert_eq!(
                    q_bnb, q_all,
                    "case {case}, ties_to_later {ties_to_later}: {rates:?} {dt:?} {buffer} {prev}"
                );
                assert_eq!(n_all, (levels as u64).pow(h as u32));
                pruned_leaves += n_bnb;
                all_leaves += n_all;
            }
        }
        assert!(pruned_leaves < all_leaves);
    }
}
