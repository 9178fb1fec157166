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
//!
//! [`SessionConfig`] is what a session is played with (model, buffer, estimator, ABR options);
//! the player loops read it, [`crate::session`] re-exports it. The network types the loops
//! speak ([`Request`], [`Network`], [`AbandonFn`]) live in [`crate::net`] and [`ModelKind`] in
//! [`crate::model_kind`] (both re-exported here), below the ABRs, so the ABRs never depend on
//! this module.

use std::borrow::Cow;

use crate::abr::AbrOptions;
use crate::estimator::EstimatorKind;
use crate::input::{Ladder, Period, Trace, TraceData};

pub use crate::model_kind::{ModelKind, UnknownModel};
pub use crate::net::{AbandonFn, Network, Request};

pub mod pensieve;
pub mod sabre;

/// Session settings. [`SessionConfig::for_model`] gives each model's reference defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionConfig {
    /// Network/buffer model.
    pub model: ModelKind,
    /// Buffer capacity (ms): Sabre's `Bmax` (default 25 s) or Pensieve's cap (60 s).
    pub buffer_max_ms: f64,
    /// Progress-checked downloads with abandonment (Sabre without `-noa`). Sabre/generic only.
    pub abandonment: bool,
    /// Generic model: playback starts once this many segments are buffered (Sabre: 1).
    pub startup_segments: usize,
    /// Generic model: fraction of trace bandwidth carrying payload (Sabre: 1, Pensieve: 0.95).
    pub payload: f64,
    /// Latency (ms) for traces that carry none (Pensieve cooked, Mahimahi) under the Sabre and
    /// generic models; with `force_latency`, replaces the trace's latency as well.
    pub latency_ms: f64,
    /// Use `latency_ms` even for traces that carry their own latency.
    pub force_latency: bool,
    /// Number of segments to play (Pensieve: 48; otherwise the whole movie).
    pub segments: Option<usize>,
    /// Throughput estimator feeding [`crate::abr::Ctx::throughput_kbps`].
    pub estimator: EstimatorKind,
    /// Algorithm tunables.
    pub abr: AbrOptions,
}

impl SessionConfig {
    /// The reference defaults of `model`.
    pub fn for_model(model: ModelKind) -> Self {
        SessionConfig {
            model,
            buffer_max_ms: if model == ModelKind::Pensieve {
                pensieve::BUFFER_THRESH_MS
            } else {
                25000.0
            },
            abandonment: true,
            startup_segments: 1,
            payload: 1.0,
            latency_ms: 0.0,
            force_latency: false,
            segments: (model == ModelKind::Pensieve).then_some(pensieve::TOTAL_CHUNKS),
            estimator: EstimatorKind::default(),
            abr: AbrOptions::default(),
        }
    }
    /// Segments played for `ladder`.
    pub fn segment_count(&self, ladder: &Ladder) -> usize {
        self.segments
            .map_or(ladder.segments(), |n| n.min(ladder.segments()))
    }
}

/// The trace as periods in the form the Sabre and generic models work on (payload factor and
/// forced latency applied), borrowed when it already is.
pub fn periods_for<'a>(trace: &'a Trace, cfg: &SessionConfig) -> Cow<'a, [Period]> {
    let scale = |mut p: Vec<Period>| {
        if cfg.model == ModelKind::Generic && cfg.payload != 1.0 {
            p.iter_mut().for_each(|x| x.bandwidth_kbps *= cfg.payload);
        }
        if cfg.force_latency {
            p.iter_mut().for_each(|x| x.latency_ms = cfg.latency_ms);
        }
        p
    };
    match &trace.data {
        TraceData::Periods(p)
            if !cfg.force_latency && (cfg.model != ModelKind::Generic || cfg.payload == 1.0) =>
        {
            Cow::Borrowed(p)
        }
        _ => Cow::Owned(scale(trace.to_periods(cfg.latency_ms))),
    }
}
