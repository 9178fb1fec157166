//! A learned ABR trained with the simulator in the loop (`dashcdn player train`, then
//! `--abr learned:FILE` in `simulate`, `study`, `play` and `swarm`).
//!
//! ```text
//! traces ─▶ traces::Samples::vary ─▶ train::rollout (Pensieve model) ─▶ (features, regret
//!                                       │ expert: optimal from the             of every choice)
//!                                       │ rollout's state, future known      ▼
//!                                       └──────────── policy acts ◀── mlp::Trainer (Adam, MSE)
//!                                                                            │
//!                         policy::Policy (JSON file) ◀── best on held-out ◀──┘
//!                                │
//!                                └─▶ abr::learned::Learned: features::extract ─▶ mlp ─▶ quality
//! ```
//!
//! * [`features`] turns the player state into the network's input (shared by training and
//!   playing, so the two cannot drift apart).
//! * [`mlp`] is the network and its optimiser; [`policy`] the file; [`traces`] the seeded
//!   training variations; [`synth`] generated traces; [`mod@train`] the training against the
//!   offline optimum (regret regression, DAgger).
//!
//! `features`, `mlp` and `policy` are what playing a policy needs, so they live with the player
//! ([`crate::abr::learned`]) and are re-exported here: the ABRs never depend on the training
//! (which plays sessions and so sits above them).

pub use crate::abr::learned::{features, mlp, policy};

pub mod synth;
pub mod traces;
pub mod train;

pub use policy::{Policy, PolicyError};
pub use train::{train, Objective, TrainConfig, TrainError, TrainReport};
