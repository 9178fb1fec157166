//! # workload — deterministic workloads from a seed
//!
//! The one small random-number kit of the workspace: everything "random" in a study (which
//! title a player picks, when it arrives, where its trace starts, a learned policy's initial
//! weights, a cache benchmark's request stream) is a pure function of a seed through it, so a
//! seed names one workload and a rerun reproduces it exactly.
//!
//! Data flow:
//!
//! ```text
//! seed ─▶ SplitMix64 ─┬─▶ next_u64 / next_f64 / below / normal   (raw draws)
//!                     ├─▶ Zipf::sample         ─▶ 0-based popularity rank
//!                     └─▶ Arrival::schedule    ─▶ ascending arrival times (Poisson or uniform)
//! ```
//!
//! * [`SplitMix64`] — the generator (Steele, Lea & Flood 2014), checked against the published
//!   test vector.
//! * [`Zipf`] — popularity over `n` ranked items, sampled by inverse CDF.
//! * [`Arrival`] — how clients arrive: a Poisson process or uniform times in a window.
//!
//! Hand-written on purpose: each piece is a few lines, and its output must never change under
//! a dependency upgrade (a `rand` minor release may change a generator's stream, which would
//! silently change every seeded study and every figure derived from one). Callers that need
//! independent streams (titles, arrivals, offsets…) seed one generator per stream from the
//! same seed, so that changing one kind of draw does not shift the others.

mod arrival;
mod rng;
mod zipf;

pub use arrival::Arrival;
pub use rng::SplitMix64;
pub use zipf::Zipf;

/// A workload parameter out of range (the message names it and the value given).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// [`Zipf::new`] over no items.
    #[error("Zipf needs at least one title")]
    ZipfEmpty,
    /// [`Zipf::new`] with a negative, infinite or NaN exponent.
    #[error("Zipf exponent must be a finite number >= 0, got {0}")]
    ZipfExponent(f64),
    /// [`Arrival::Poisson`] with a rate that is not a positive number.
    #[error("arrival rate must be > 0, got {0}")]
    ArrivalRate(f64),
    /// [`Arrival::Uniform`] with a negative, infinite or NaN window.
    #[error("arrival window must be >= 0, got {0}")]
    ArrivalWindow(f64),
}
