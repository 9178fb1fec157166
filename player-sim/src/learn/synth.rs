//! Synthetic training traces: a Markov chain over bandwidth levels, in the manner of Pensieve's
//! own generated traces (`sim/synthetic_traces.py`), so a policy also learns from links that
//! change as sharply as mobile ones do.
//!
//! Each trace draws its own character from the seed: how long a level lasts (the per-second
//! probability of staying), how far a change jumps, how often the link fades to the bottom
//! levels, and the noise around the level. Levels are log-spaced from [`MIN_MBPS`] to
//! [`MAX_MBPS`]; samples come every second for [`DURATION_S`] seconds.

use super::traces::Samples;
use crate::rng::SplitMix64;

/// Lowest level, Mbit/s.
pub const MIN_MBPS: f64 = 0.15;
/// Highest level, Mbit/s.
pub const MAX_MBPS: f64 = 8.0;
/// Number of levels.
pub const LEVELS: usize = 12;
/// Length of a trace, s.
pub const DURATION_S: usize = 320;

/// `count` synthetic traces, named `synthetic-<seed>-<i>`.
pub fn traces(count: usize, seed: u64) -> Vec<Samples> {
    let mut rng = SplitMix64::new(seed ^ 0x5_7E7A_0000);
    (0..count)
        .map(|i| one(&mut rng, format!("synthetic-{seed}-{i}")))
        .collect()
}

fn level_mbps(k: usize) -> f64 {
    let f = k as f64 / (LEVELS - 1) as f64;
    (MIN_MBPS.ln() + f * (MAX_MBPS.ln() - MIN_MBPS.ln())).exp()
}

fn one(rng: &mut SplitMix64, name: String) -> Samples {
    let stay = 0.6 + 0.38 * rng.next_f64();
    let max_jump = 1 + rng.below(4);
    let fade = 0.15 * rng.next_f64();
    let noise = 0.05 + 0.3 * rng.next_f64();
    let mut k = rng.below(LEVELS);
    let mut t = Vec::with_capacity(DURATION_S + 1);
    let mut bw = Vec::with_capacity(DURATION_S + 1);
    for s in 0..=DURATION_S {
        if s > 0 && rng.next_f64() > stay {
            if rng.next_f64() < fade {
                k = rng.below(2);
            } else {
                let jump = 1 + rng.below(max_jump);
                k = if rng.next_f64() < 0.5 {
                    k.saturating_sub(jump)
                } else {
                    (k + jump).min(LEVELS - 1)
                };
            }
        }
        let v = level_mbps(k) * (1.0 + noise * rng.normal()).max(0.05);
        t.push(s as f64);
        bw.push(v);
    }
    Samples {
        name,
        t,
        bw_mbps: bw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_seeded_positive_and_varied() {
        let a = traces(20, 3);
        assert_eq!(a, traces(20, 3));
        assert_ne!(a, traces(20, 4));
        for s in &a {
            assert_eq!(s.t.len(), DURATION_S + 1);
            assert!(s.bw_mbps.iter().all(|b| *b > 0.0 && b.is_finite()));
        }
        let means: Vec<f64> = a.iter().map(Samples::mean_mbps).collect();
        let lo = means.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = means.iter().cloned().fold(0.0, f64::max);
        assert!(hi > 2.0 * lo, "means {lo}..{hi}");
    }
}
