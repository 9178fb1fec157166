//! THROUGHPUT (rate-based): the session estimate (EWMA by default, or a sliding window or
//! harmonic mean — see [`crate::estimator`]) times a 0.9 safety factor, with Sabre's
//! insufficient-buffer rule and abandonment (MODELS.md A6.2).

use super::{Abr, Ctx, Decision, Progress};

/// Rate-based ABR.
#[derive(Debug, Clone)]
pub struct Throughput {
    no_ibr: bool,
    ibr: f64,
}

/// Safety factor on the throughput estimate.
pub const SAFETY: f64 = 0.9;

impl Throughput {
    /// `no_ibr` disables the insufficient-buffer rule.
    pub fn new(no_ibr: bool) -> Self {
        Throughput { no_ibr, ibr: 0.9 }
    }
}

impl Abr for Throughput {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let Some(tput) = ctx.throughput_kbps else { return Decision::q(0) };
        let mut q = ctx.quality_from_throughput(tput * SAFETY);
        if !self.no_ibr {
            let lat = ctx.latency_ms.unwrap_or(0.0);
            let safe_bits = (self.ibr * (ctx.buffer_ms - lat)) * tput;
            self.ibr = (self.ibr * 0.9).max(0.5);
            let b = &ctx.ladder.bitrates_kbps;
            for j in 0..q {
                if b[j + 1] * ctx.seg_ms() > safe_bits {
                    q = j;
                    break;
                }
            }
        }
        Decision::q(q)
    }

    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, _level: f64) -> Option<usize> {
        let dl = p.time_ms - p.ttfb_ms;
        if p.time_ms >= 500.0 && dl > 0.0 {
            let x = p.downloaded_bits / dl;
            let left = p.size_bits - p.downloaded_bits;
            if p.time_ms + left / x > 1.8 * ctx.seg_ms() {
                let q = ctx.quality_from_throughput(x * SAFETY);
                let b = &ctx.ladder.bitrates_kbps;
                let est = (p.size_bits * b[q]) / b[p.quality];
                if q < p.quality && est < left {
                    return Some(q);
                }
            }
        }
        None
    }
}
