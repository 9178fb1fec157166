//! SplitMix64: the simulator's one small deterministic PRNG, from the [`workload`] crate. The
//! learned ABR's training (trace offsets, augmentation, weight initialisation, minibatch
//! order) is a pure function of its seed through it (as are the live swarms' workloads).

pub use workload::SplitMix64;
