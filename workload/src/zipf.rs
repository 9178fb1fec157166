//! [`Zipf`]: popularity over ranked items.

use crate::{SplitMix64, WorkloadError};

/// Zipf popularity over `n` ranked items: P(rank k) ∝ 1 / k^s (k = 1..n; s = 0 is uniform).
/// Sampled by inverse CDF: one [`SplitMix64::next_f64`] per draw.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n ≥ 1` items with exponent `s ≥ 0`.
    pub fn new(n: usize, s: f64) -> Result<Zipf, WorkloadError> {
        if n < 1 {
            return Err(WorkloadError::ZipfEmpty);
        }
        if !(s.is_finite() && s >= 0.0) {
            return Err(WorkloadError::ZipfExponent(s));
        }
        let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cdf = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        Ok(Zipf { cdf })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Never: a distribution has at least one item.
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// P(rank index `k`), 0-based (`k < len()`).
    pub fn probability(&self, k: usize) -> f64 {
        self.cdf[k] - if k == 0 { 0.0 } else { self.cdf[k - 1] }
    }

    /// Draws a 0-based rank index.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|c| *c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_follow_the_law() {
        let z = Zipf::new(5, 1.0).unwrap();
        assert_eq!(z.len(), 5);
        let h: f64 = (1..=5).map(|k| 1.0 / k as f64).sum();
        for k in 0..5 {
            assert!((z.probability(k) - 1.0 / ((k + 1) as f64 * h)).abs() < 1e-12);
        }
        let mut rng = SplitMix64::new(7);
        let n = 200_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[z.sample(&mut rng)] += 1;
        }
        for (k, &c) in counts.iter().enumerate() {
            let f = c as f64 / n as f64;
            let p = z.probability(k);
            // 5 standard deviations of a binomial proportion.
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * sd, "rank {k}: {f} vs {p}");
        }
        // s = 0 is uniform; one item always wins.
        let u = Zipf::new(4, 0.0).unwrap();
        assert!((0..4).all(|k| (u.probability(k) - 0.25).abs() < 1e-12));
        let one = Zipf::new(1, 0.8).unwrap();
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        assert_eq!(Zipf::new(0, 1.0).unwrap_err(), WorkloadError::ZipfEmpty);
        assert_eq!(
            Zipf::new(3, -1.0).unwrap_err().to_string(),
            "Zipf exponent must be a finite number >= 0, got -1"
        );
        assert!(Zipf::new(3, f64::NAN).is_err());
    }

    #[test]
    fn samples_are_fixed_by_the_seed() {
        // The first draws of seed 1 over 10 items at s = 0.8: a change here changes every
        // seeded swarm workload.
        let z = Zipf::new(10, 0.8).unwrap();
        let mut rng = SplitMix64::new(1);
        let got: Vec<usize> = (0..12).map(|_| z.sample(&mut rng)).collect();
        assert_eq!(got, [3, 5, 9, 2, 2, 5, 7, 2, 1, 5, 1, 3]);
    }
}
