//! Training traces: every input trace as Pensieve cooked samples, and seeded variations of it —
//! a random starting point (the trace is rotated, as Pensieve's training environment starts at
//! a random position) and a bandwidth scaled so that its mean lands at a log-uniform draw from
//! a range (so broadband and 4G logs teach the policy about the test set's 0.5–5 Mbit/s).

use crate::input::{Trace, TraceData};
use crate::rng::SplitMix64;

/// A trace in the Pensieve model's form: `(t[i-1], t[i]]` at `bw_mbps[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Name (the source trace, with the variation's parameters).
    pub name: String,
    /// Times, s.
    pub t: Vec<f64>,
    /// Bandwidths, Mbit/s.
    pub bw_mbps: Vec<f64>,
}

impl Samples {
    /// The samples of `trace`.
    pub fn of(trace: &Trace) -> Samples {
        let (t, bw_mbps) = match &trace.data {
            TraceData::Samples { t, bw_mbps } => (t.clone(), bw_mbps.clone()),
            _ => trace.to_samples(),
        };
        Samples {
            name: trace.name.clone(),
            t,
            bw_mbps,
        }
    }

    /// Time-weighted mean bandwidth over the looped part (`1..`), Mbit/s.
    pub fn mean_mbps(&self) -> f64 {
        let (mut bits, mut secs) = (0.0, 0.0);
        for i in 1..self.t.len() {
            let d = self.t[i] - self.t[i - 1];
            bits += d * self.bw_mbps[i];
            secs += d;
        }
        if secs > 0.0 {
            bits / secs
        } else {
            0.0
        }
    }

    /// A variation: rotated to start at a random sample, bandwidth scaled to a mean drawn
    /// log-uniformly from `scale_mbps` (unscaled when `None`). Near-zero samples are floored at
    /// 1 kbit/s so that no chunk waits forever.
    pub fn vary(&self, rng: &mut SplitMix64, scale_mbps: Option<(f64, f64)>) -> Samples {
        let n = self.t.len();
        let k = if n > 2 { 1 + rng.below(n - 1) } else { 1 };
        // Intervals (duration, bandwidth) of the looped part, starting at k.
        let mut t = vec![0.0];
        let mut bw = vec![self.bw_mbps[k.min(n - 1)]];
        for j in 0..n.saturating_sub(1) {
            let i = 1 + (k - 1 + j) % (n - 1);
            let d = self.t[i] - self.t[i - 1];
            t.push(t[t.len() - 1] + d.max(1e-3));
            bw.push(self.bw_mbps[i]);
        }
        let mut name = format!("{}@{k}", self.name);
        if let Some((lo, hi)) = scale_mbps {
            let target = (lo.ln() + rng.next_f64() * (hi.ln() - lo.ln())).exp();
            let mean = Samples {
                name: String::new(),
                t: t.clone(),
                bw_mbps: bw.clone(),
            }
            .mean_mbps();
            if mean > 0.0 {
                let f = target / mean;
                bw.iter_mut().for_each(|b| *b *= f);
            }
            name = format!("{name}x{target:.2}");
        }
        bw.iter_mut().for_each(|b| *b = b.max(0.001));
        Samples {
            name,
            t,
            bw_mbps: bw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> Samples {
        Samples {
            name: "x".into(),
            t: vec![0.0, 1.0, 2.0, 4.0, 5.0],
            bw_mbps: vec![9.0, 1.0, 2.0, 3.0, 4.0],
        }
    }

    #[test]
    fn mean_is_time_weighted() {
        // (1·1 + 1·2 + 2·3 + 1·4) / 5
        assert!((trace().mean_mbps() - 13.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn variation_keeps_the_intervals_and_hits_the_range() {
        let base = trace();
        let mut rng = SplitMix64::new(4);
        for _ in 0..50 {
            let v = base.vary(&mut rng, None);
            assert_eq!(v.t.len(), base.t.len());
            assert!((v.mean_mbps() - base.mean_mbps()).abs() < 1e-9, "{v:?}");
            assert!((v.t[v.t.len() - 1] - 5.0).abs() < 1e-9);
            let s = base.vary(&mut rng, Some((0.5, 2.0)));
            let m = s.mean_mbps();
            assert!((0.5 - 1e-9..=2.0 + 1e-9).contains(&m), "{m}");
        }
        // Same seed, same variations.
        let a = base.vary(&mut SplitMix64::new(1), Some((0.5, 2.0)));
        let b = base.vary(&mut SplitMix64::new(1), Some((0.5, 2.0)));
        assert_eq!(a, b);
    }
}
