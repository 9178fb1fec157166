//! Network and buffer models.
//!
//! * [`sabre`] — Sabre's model exactly (MODELS.md part A): per-request latency that consumes
//!   trace time, buffer-full waiting before requests, progress-checked downloads with
//!   abandonment, play-out at the end. Its player loop is generic over [`Network`], the seam
//!   where real HTTP (`play`/`swarm` modes) plugs in.
//! * [`pensieve`] — Pensieve's `fixed_env.py` exactly (part B): 80 ms RTT outside the trace
//!   clock, 95 % payload, 60 s cap with 500 ms sleeps after downloads, first chunk at quality 1
//!   with its delay counted as chunk-1 rebuffer, stop after the last download.
//! * `generic` — the Sabre engine with our own defaults: a startup rule (playback begins once
//!   `startup_segments` are buffered), a payload factor, the trace's latency (or a fixed one).

use crate::abr::{Download, Progress};

pub mod pensieve;
pub mod sabre;

/// Which model a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Sabre engine with configurable startup, payload and latency.
    Generic,
    /// Sabre (UMass-LIDS/sabre @ 09b03bb), exact.
    Sabre,
    /// Pensieve `test/fixed_env.py`, exact.
    Pensieve,
}

impl std::str::FromStr for ModelKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "generic" => Ok(ModelKind::Generic),
            "sabre" => Ok(ModelKind::Sabre),
            "pensieve" => Ok(ModelKind::Pensieve),
            _ => anyhow::bail!("unknown model \"{s}\" (generic, sabre, pensieve)"),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Generic => "generic",
            ModelKind::Sabre => "sabre",
            ModelKind::Pensieve => "pensieve",
        })
    }
}

/// A download request handed to a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Segment index.
    pub index: usize,
    /// Quality.
    pub quality: usize,
    /// Size in bits.
    pub size_bits: f64,
}

/// The abandonment callback: given progress, `Some(quality)` stops the download.
pub type AbandonFn<'a> = dyn FnMut(&Progress) -> Option<usize> + 'a;

/// Where segments come from: the simulated trace ([`sabre::TraceNetwork`]) now; later an HTTP
/// client through the redirector and edges (`play`), or one of many (`swarm`). The player
/// loop ([`sabre::run_player`]) only sees this trait, so every ABR and metric is shared.
///
/// Implementations report times in ms of *their* clock: simulated trace time here, wall-clock
/// time for a real player (whose `idle` sleeps, and whose `download` issues an HTTP GET and
/// calls `abandon` as bytes arrive, cancelling the request when it says so).
pub trait Network {
    /// Waits `ms` without transferring.
    fn idle(&mut self, ms: f64);
    /// Fetches a segment. `abandon` (when given) is consulted as bytes arrive; the result's
    /// `abandon_to` is set when it stopped the download. Without `abandon` the download runs to
    /// completion (Sabre's "simple path").
    fn download(&mut self, req: &Request, abandon: Option<&mut AbandonFn<'_>>) -> Download;
    /// The network clock, ms (for logs).
    fn now_ms(&self) -> f64;
    /// Time that passed on the network clock outside what `download` and `idle` reported,
    /// since the last call: for a real player, init segments, audio finishing after the video,
    /// timer overshoot. The player loop plays it out (as startup or stall) before the segment
    /// just downloaded counts as buffered, so its buffer follows the real clock. A simulated
    /// network has none.
    fn take_unaccounted_ms(&mut self) -> f64 {
        0.0
    }
}
