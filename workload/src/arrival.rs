//! [`Arrival`]: when clients arrive.

use serde::Serialize;

use crate::{SplitMix64, WorkloadError};

/// How clients arrive (times in seconds from the start of the run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// A Poisson process: exponential gaps with mean `1 / rate_per_s`, the first after one gap.
    Poisson {
        /// Mean arrivals per second.
        rate_per_s: f64,
    },
    /// Independent uniform times in `[0, window_s)`, sorted.
    Uniform {
        /// Window length, s.
        window_s: f64,
    },
}

impl Arrival {
    /// `n` arrival times in ascending order, drawn from `rng` (one
    /// [`SplitMix64::next_f64`] per arrival).
    pub fn schedule(&self, n: usize, rng: &mut SplitMix64) -> Vec<f64> {
        match *self {
            Arrival::Poisson { rate_per_s } => {
                let mut t = 0.0;
                (0..n)
                    .map(|_| {
                        t += -(1.0 - rng.next_f64()).ln() / rate_per_s;
                        t
                    })
                    .collect()
            }
            Arrival::Uniform { window_s } => {
                let mut v: Vec<f64> = (0..n).map(|_| rng.next_f64() * window_s).collect();
                v.sort_by(f64::total_cmp);
                v
            }
        }
    }

    /// Checks the parameters: a Poisson rate > 0, a uniform window ≥ 0 (both finite).
    pub fn validate(&self) -> Result<(), WorkloadError> {
        match *self {
            Arrival::Poisson { rate_per_s } if !(rate_per_s.is_finite() && rate_per_s > 0.0) => {
                Err(WorkloadError::ArrivalRate(rate_per_s))
            }
            Arrival::Uniform { window_s } if !(window_s.is_finite() && window_s >= 0.0) => {
                Err(WorkloadError::ArrivalWindow(window_s))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_sorted_and_seeded() {
        let uni = Arrival::Uniform { window_s: 10.0 };
        let a = uni.schedule(1000, &mut SplitMix64::new(1));
        assert_eq!(a, uni.schedule(1000, &mut SplitMix64::new(1)));
        assert_ne!(a, uni.schedule(1000, &mut SplitMix64::new(2)));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|t| (0.0..10.0).contains(t)));
        let poi = Arrival::Poisson { rate_per_s: 4.0 };
        let p = poi.schedule(20_000, &mut SplitMix64::new(3));
        assert_eq!(p, poi.schedule(20_000, &mut SplitMix64::new(3)));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        // Mean gap 1/rate (20 000 gaps: within 3 %).
        let mean_gap = p.last().unwrap() / p.len() as f64;
        assert!((mean_gap - 0.25).abs() < 0.0075, "{mean_gap}");
    }

    #[test]
    fn schedules_are_fixed_by_the_seed() {
        // A change here changes every seeded swarm workload.
        let p = Arrival::Poisson { rate_per_s: 2.0 }.schedule(3, &mut SplitMix64::new(5));
        assert_eq!(
            p,
            [0.24450601153730686, 0.9422886449478235, 1.074733327564537]
        );
        let u = Arrival::Uniform { window_s: 10.0 }.schedule(3, &mut SplitMix64::new(5));
        assert_eq!(u, [2.327091656774618, 3.86768045983934, 7.5230701583822395]);
    }

    #[test]
    fn parameters_are_checked_and_serialized_by_kind() {
        assert!(Arrival::Poisson { rate_per_s: 1.0 }.validate().is_ok());
        assert!(Arrival::Uniform { window_s: 0.0 }.validate().is_ok());
        assert_eq!(
            Arrival::Poisson { rate_per_s: 0.0 }
                .validate()
                .unwrap_err()
                .to_string(),
            "arrival rate must be > 0, got 0"
        );
        assert_eq!(
            Arrival::Uniform { window_s: -1.0 }.validate(),
            Err(WorkloadError::ArrivalWindow(-1.0))
        );
        assert_eq!(
            serde_json::to_string(&Arrival::Poisson { rate_per_s: 2.5 }).unwrap(),
            r#"{"kind":"poisson","rate_per_s":2.5}"#
        );
    }
}
