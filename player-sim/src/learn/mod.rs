//! A learned ABR trained with the simulator in the loop (`dashcdn player train`, then
//! `--abr learned:FILE` in `simulate`, `study`, `play` and `swarm`).
//!
//! ```text
//! traces ─▶ traces::Samples::vary ─▶ train::rollout (Pensieve model) ─▶ (features, label)
//!                                       │ expert: abr::optimal from the      │
//!                                       │ rollout's state, future known      ▼
//!                                       └──────────── policy acts ◀── mlp::Trainer (Adam, CE)
//!                                                                            │
//!                         policy::Policy (JSON file) ◀── best on held-out ◀──┘
//!                                │
//!                                └─▶ abr::learned::Learned: features::extract ─▶ mlp ─▶ quality
//! ```
//!
//! * [`features`] turns the player state into the network's input (shared by training and
//!   playing, so the two cannot drift apart).
//! * [`mlp`] is the network and its optimiser; [`policy`] the file; [`traces`] the seeded
//!   training variations; [`train`] imitation of the offline optimum with DAgger.

pub mod features;
pub mod mlp;
pub mod policy;
pub mod traces;
pub mod train;

pub use policy::{Policy, PolicyError};
pub use train::{train, TrainConfig, TrainError, TrainReport};
