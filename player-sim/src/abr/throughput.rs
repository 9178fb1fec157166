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
        let Some(tput) = ctx.throughput_kbps else {
            return Decision::q(0);
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Ladder;
    use crate::model_kind::ModelKind;

    #[test]
    fn ibr_factor_sequence() {
        // MODELS.md D4: 0.9, 0.81, 0.729, 0.6561, 0.59049, 0.531441, then 0.5 forever.
        let l = Ladder {
            name: "t".into(),
            bitrates_kbps: vec![100.0, 200.0],
            segment_duration_ms: 1000.0,
            sizes_bits: vec![vec![1.0, 2.0]],
        };
        let ctx = Ctx {
            ladder: &l,
            quirks: ModelKind::Sabre.quirks(),
            index: 0,
            segments: 1,
            buffer_ms: 5000.0,
            buffer_max_ms: 25000.0,
            last_quality: 0,
            throughput_kbps: Some(1000.0),
            latency_ms: Some(0.0),
        };
        let mut t = Throughput::new(false);
        let mut seen = Vec::new();
        for _ in 0..9 {
            seen.push(t.ibr);
            t.decide(&ctx);
        }
        let mut f = 0.9f64;
        let want: Vec<f64> = (0..9)
            .map(|_| {
                let x = f;
                f = (f * 0.9).max(0.5);
                x
            })
            .collect();
        assert_eq!(seen, want);
        for (x, w) in seen
            .iter()
            .zip([0.9, 0.81, 0.729, 0.6561, 0.59049, 0.531441])
        {
            assert!((x - w).abs() < 1e-12);
        }
        assert_eq!(&seen[6..], &[0.5, 0.5, 0.5]);
    }
}
