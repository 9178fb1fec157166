//! FESTIVE (Jiang et al., CoNEXT'12): harmonic mean of the last 20 throughput samples × 0.85,
//! gradual up-switching (one level, only after `k+1` segments at level `k`), one-level
//! down-switching, and the delayed-update trade-off between stability and efficiency (α = 12).
//! The randomized request scheduling of the paper targets multi-player fairness and is not
//! modelled (the session's buffer rule decides when to request).

use super::{Abr, Ctx, Decision, Download};
use crate::estimator::harmonic_mean;

/// FESTIVE.
#[derive(Debug, Clone)]
pub struct Festive {
    samples: Vec<f64>,
    switches: Vec<usize>,
    held: usize,
    /// Efficiency weight α.
    pub alpha: f64,
    /// Safety factor on the harmonic mean.
    pub p: f64,
    /// Sample and switch-history window.
    pub window: usize,
}

impl Default for Festive {
    fn default() -> Self {
        Festive {
            samples: Vec::new(),
            switches: Vec::new(),
            held: 0,
            alpha: 12.0,
            p: 0.85,
            window: 20,
        }
    }
}

impl Abr for Festive {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let cur = ctx.last_quality;
        if self.samples.is_empty() {
            return Decision::q(cur);
        }
        let b = &ctx.ladder.bitrates_kbps;
        let target = self.p * harmonic_mean(&self.samples);
        let want = (0..b.len()).rev().find(|&q| b[q] <= target).unwrap_or(0);
        let b_ref = if want > cur {
            if self.held > cur {
                cur + 1
            } else {
                cur
            }
        } else if want < cur {
            cur - 1
        } else {
            cur
        };
        let mut q = cur;
        if b_ref != cur {
            let recent = self
                .switches
                .iter()
                .filter(|&&i| i + self.window > ctx.index)
                .count() as i32;
            let w = target.min(b[b_ref]);
            let score = |x: usize| {
                2f64.powi(recent + i32::from(x != cur)) + self.alpha * (b[x] / w - 1.0).abs()
            };
            if score(b_ref) < score(cur) {
                q = b_ref;
            }
        }
        if q != cur {
            self.switches.push(ctx.index);
            self.held = 0;
        }
        self.held += 1;
        Decision::q(q)
    }

    fn report_download(&mut self, _ctx: &Ctx, d: &Download) {
        if d.abandon_to.is_none() && d.time_ms > 0.0 {
            self.samples.push(d.downloaded_bits / d.time_ms);
            if self.samples.len() > self.window {
                self.samples.remove(0);
            }
        }
    }
}
