//! One playback: a ladder × a trace × an ABR under a model, producing per-segment events.

use std::borrow::Cow;

use crate::abr::{self, Abr, AbrOptions};
use crate::estimator::EstimatorKind;
use crate::input::{Ladder, Period, Trace, TraceData};
use crate::model::{pensieve, sabre, ModelKind};

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
    /// Throughput estimator feeding [`abr::Ctx::throughput_kbps`].
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

/// One download attempt (a completed segment, or an abandoned attempt).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentEvent {
    /// Segment index (0-based).
    pub index: usize,
    /// Quality requested.
    pub quality: usize,
    /// Its bitrate, kbps.
    pub bitrate_kbps: f64,
    /// Segment size, bits.
    pub size_bits: f64,
    /// Bits received (less than `size_bits` when abandoned).
    pub downloaded_bits: f64,
    /// Session clock at the request, ms.
    pub request_ms: f64,
    /// Idle before the request (Sabre: buffer-full wait + ABR delay) or after the download
    /// (Pensieve: buffer-cap sleep), ms.
    pub idle_ms: f64,
    /// Latency / RTT, ms.
    pub ttfb_ms: f64,
    /// Total download time incl. latency, ms.
    pub time_ms: f64,
    /// Buffer level when requested, ms.
    pub buffer_before_ms: f64,
    /// Buffer level after the segment was added (and, Pensieve, after the sleep), ms.
    pub buffer_after_ms: f64,
    /// Stall while this attempt was in flight, ms (Pensieve: chunk 1 carries the startup delay).
    pub rebuffer_ms: f64,
    /// Throughput sample of this download, kbps.
    pub throughput_kbps: f64,
    /// Estimator's throughput after this download, kbps (0 if none).
    pub estimate_kbps: f64,
    /// The ABR abandoned this attempt (to `abandon_to`).
    pub abandoned: bool,
    /// Quality the ABR abandoned to.
    pub abandon_to: Option<usize>,
}

/// The result of one playback.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Playback {
    /// Trace name.
    pub trace: String,
    /// Algorithm name.
    pub abr: String,
    /// Model.
    pub model: ModelKind,
    /// Segment duration, ms.
    pub segment_ms: f64,
    /// All attempts in order.
    pub events: Vec<SegmentEvent>,
    /// Startup delay (request of segment 0 to start of playback), ms.
    pub startup_ms: f64,
    /// Stall time after startup, ms.
    pub rebuffer_ms: f64,
    /// Stall events after startup.
    pub rebuffer_events: usize,
    /// Session length: startup + stalls + content played, ms.
    pub total_play_ms: f64,
}

impl Playback {
    /// Completed (non-abandoned) segment events in order.
    pub fn chunks(&self) -> impl Iterator<Item = &SegmentEvent> {
        self.events.iter().filter(|e| !e.abandoned)
    }
}

/// The trace in the form `model` works on, borrowed when it already is.
pub(crate) fn periods_for<'a>(trace: &'a Trace, cfg: &SessionConfig) -> Cow<'a, [Period]> {
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

/// Runs one playback with the algorithm `abr_name` (see [`abr::ALGORITHMS`]); an error if the
/// algorithm failed ([`Abr::failure`], e.g. a plug-in crashed).
pub fn run(
    ladder: &Ladder,
    trace: &Trace,
    abr_name: &str,
    cfg: &SessionConfig,
) -> anyhow::Result<Playback> {
    let mut a = build_abr(abr_name, ladder, trace, cfg)?;
    let mut p = run_with(ladder, trace, a.as_mut(), cfg);
    if let Some(f) = a.failure() {
        anyhow::bail!("{f} (trace {})", trace.name);
    }
    p.abr = abr_name.to_string();
    Ok(p)
}

/// Builds an algorithm for this session (`optimal` plans over the trace here).
pub fn build_abr(
    name: &str,
    ladder: &Ladder,
    trace: &Trace,
    cfg: &SessionConfig,
) -> anyhow::Result<Box<dyn Abr>> {
    if name == "optimal" {
        return Ok(Box::new(abr::optimal::plan(ladder, trace, cfg)));
    }
    abr::build(name, ladder, cfg.buffer_max_ms, &cfg.abr)
}

/// Runs one playback with a given algorithm object. If the algorithm fails
/// ([`Abr::failure`]) the playback stops early; check it afterwards.
pub fn run_with(
    ladder: &Ladder,
    trace: &Trace,
    abr: &mut dyn Abr,
    cfg: &SessionConfig,
) -> Playback {
    match cfg.model {
        ModelKind::Pensieve => {
            let (t, bw) = match &trace.data {
                TraceData::Samples { t, bw_mbps } => (Cow::Borrowed(t), Cow::Borrowed(bw_mbps)),
                _ => {
                    let (t, b) = trace.to_samples();
                    (Cow::Owned(t), Cow::Owned(b))
                }
            };
            pensieve::run(ladder, &trace.name, &t, &bw, abr, cfg)
        }
        _ => {
            let periods = periods_for(trace, cfg);
            let mut net = sabre::TraceNetwork::new(&periods);
            sabre::run_player(ladder, &trace.name, &mut net, abr, cfg)
        }
    }
}
