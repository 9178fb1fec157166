//! Model-predictive control (Yin et al., SIGCOMM'15) as in Pensieve's `test/mpc.py`
//! (MODELS.md B7): robustMPC discounts the harmonic mean of the last 5 throughput samples by the
//! largest relative prediction error of the last 5 decisions; fastMPC uses the plain harmonic
//! mean (and strict `>` ties, as Pensieve's `mpc_server.py`). Horizon 5; QoE_lin objective.
//!
//! The plan search walks the 6^h tree depth-first in lexicographic order (same visiting order
//! and same per-step float operations as the reference's flat enumeration, so the same
//! decisions, without re-evaluating shared prefixes).

use super::{Abr, Ctx, Decision, Download};
use crate::estimator::harmonic_mean;
use crate::model::ModelKind;

/// robustMPC / fastMPC.
#[derive(Debug, Clone)]
pub struct Mpc {
    robust: bool,
    /// Look-ahead horizon (chunks).
    pub horizon: usize,
    /// Rebuffer penalty per second.
    pub rebuf_penalty: f64,
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

struct Search<'a> {
    dt: &'a [Vec<f64>],
    rates: &'a [f64],
    chunk_s: f64,
    h: usize,
    penalty: f64,
    ties_to_later: bool,
    best: f64,
    best_first: usize,
}

impl Search<'_> {
    #[allow(clippy::too_many_arguments)]
    fn go(
        &mut self,
        depth: usize,
        buffer: f64,
        stall: f64,
        sum_rate: f64,
        sum_switch: f64,
        prev: usize,
        first: usize,
    ) {
        if depth == self.h {
            let value = (sum_rate / 1000.0) - (self.penalty * stall) - (sum_switch / 1000.0);
            if value > self.best || (self.ties_to_later && value == self.best) {
                self.best = value;
                self.best_first = first;
            }
            return;
        }
        for c in 0..self.rates.len() {
            let d = self.dt[depth][c];
            let (mut nb, ns) = if buffer < d {
                (0.0, stall + (d - buffer))
            } else {
                (buffer - d, stall)
            };
            nb += self.chunk_s;
            let first = if depth == 0 { c } else { first };
            self.go(
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
        let ahead = usize::from(ctx.model == ModelKind::Pensieve);
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
        let mut s = Search {
            dt: &dt,
            rates: &ctx.ladder.bitrates_kbps,
            chunk_s: ctx.seg_ms() / 1000.0,
            h,
            penalty: self.rebuf_penalty,
            ties_to_later: self.robust,
            best: -100000000.0,
            best_first: 0,
        };
        s.go(
            0,
            ctx.buffer_ms / 1000.0,
            0.0,
            0.0,
            0.0,
            ctx.last_quality,
            0,
        );
        Decision::q(s.best_first)
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
