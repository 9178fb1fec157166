//! player-sim: an adaptive-bitrate (ABR) DASH player simulator — `dashcdn player`.
//!
//! Data flow:
//!
//! ```text
//! inputs (input)                 session (session + model)                    outputs
//! ladder: Sabre movie JSON  ─┐   ┌ network model: trace → download times ┐
//!   | Pensieve video_size_N  ├─▶ │ buffer model: waits, stalls, startup  │─▶ per-segment ─▶ metrics ─▶ study (rayon)
//!   | our MPD + segment files│   │ ABR (abr::Abr) decides each segment   │   events          (QoE…)    summary table, JSON,
//! trace: Sabre JSON | cooked ┘   └ estimator (estimator::Estimator)      ┘   (SegmentEvent)             CSV/JSONL, SVG+PNG plots
//!   | Mahimahi                                                                                          (output)
//! ```
//!
//! * [`input`] reads and validates ladders and traces (errors name the file and line).
//! * [`net`] is what the player loop and the ABRs exchange with the network (requests,
//!   downloads, progress, the [`net::Network`] trait); [`events`] is what a playback produces
//!   ([`SegmentEvent`], [`Playback`]); [`model_kind`] names the model ([`ModelKind`]) and derives
//!   what the ABRs do differently under it ([`abr::Quirks`]).
//! * [`model`] holds the session settings ([`SessionConfig`]) and the network/buffer models:
//!   `sabre` and `pensieve` reproduce those simulators exactly
//!   (`../shared/abr-traces/MODELS.md`); `generic` is the Sabre engine with our startup rule,
//!   payload factor and latency options. [`session::run`] plays one ladder × trace × ABR.
//! * [`abr`] is one trait ([`abr::Abr`]), the algorithms by name ([`abr::AbrKind`]) and one file
//!   per algorithm: fixed, throughput, BBA, FESTIVE, BOLA-BASIC/BOLA(-U)/BOLA-O, BOLA-E, DYNAMIC
//!   (Sabre's and dash.js's rules), robustMPC/fastMPC, `plugin:COMMAND` (an ABR in a child
//!   process, JSON lines) and `learned:FILE` (a trained policy); [`optimal`] is the offline
//!   optimum, which plans with the session's model. [`estimator`] is the throughput-estimator
//!   trait (EWMA with two half-lives, sliding window, harmonic mean).
//! * [`learn`] trains the policies that `learned:FILE` plays (`dashcdn player train`): rollouts
//!   in the Pensieve model labelled by the offline optimum from each state, regret regression,
//!   DAgger; [`rng`] is the seeded generator behind every random choice here.
//! * [`metrics`] scores a playback (bitrates, startup, rebuffering, switches, QoE_lin/log/hd,
//!   bytes wasted); [`study`] runs traces × algorithms in parallel and summarises them;
//!   [`output`] writes the table, JSON, CSV/JSONL and plots.
//!
//! Modules depend on each other one way only (`scripts/modgraph.py` checks it); each uses only
//! modules listed above it:
//!
//! ```text
//! net, input, estimator, rng     requests/downloads, ladders/traces, estimators, the PRNG
//! trace_order                    input
//! abr                            net, input, estimator, rng   (Quirks, not the model)
//! model_kind                     abr (builds Quirks)
//! events                         model_kind
//! model                          events, abr, net, input, estimator
//! optimal                        model, abr
//! session                        optimal, model, abr, events
//! metrics, plot                  events, input
//! learn, study                   session, optimal, metrics, model, abr
//! output                         study, metrics, plot
//! ```
//!
//! # The seam for `play` and `swarm`
//!
//! The Sabre-style player loop [`model::sabre::run_player`] is generic over
//! [`net::Network`]: `idle(ms)` and `download(request, abandon-callback) -> Download`. The
//! simulator implements it with [`model::sabre::TraceNetwork`] (trace time, no sleeping). `play`
//! will implement it with an HTTP client that resolves segment URLs through the redirector and
//! edges (wall-clock times, `idle` sleeps, the callback is polled as bytes arrive and cancels
//! the request), and `swarm` will run many such players on a tokio runtime. The ABR objects,
//! estimators, events, metrics and outputs are shared unchanged.
//!
//! # The live path
//!
//! The `player-live` crate is the real player (`dashcdn player play` and `swarm`): it runs
//! [`model::sabre::run_player`] over HTTP through the CDN, with the same ABR objects,
//! estimators, events, metrics and outputs as here.

#![warn(missing_docs)]
// The algorithms index ladders in loops written as in MODELS.md's pseudocode (and break out
// right after narrowing a loop bound), which keeps them checkable line by line against the spec.
#![allow(clippy::needless_range_loop, clippy::mut_range_bound)]

pub mod abr;
pub mod estimator;
pub mod events;
pub mod input;
pub mod learn;
pub mod metrics;
pub mod model;
pub mod model_kind;
pub mod net;
pub mod optimal;
pub mod output;
pub mod plot;
pub mod rng;
pub mod session;
pub mod study;
pub mod trace_order;

pub use abr::AbrKind;
pub use events::{Playback, SegmentEvent};
pub use input::{read_ladder, read_trace, read_trace_dir, InputError, Ladder, Trace};
pub use metrics::{Metrics, QoeOptions};
pub use model::{ModelKind, SessionConfig};
pub use session::run;
