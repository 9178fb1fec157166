//! What a playback produces: one [`SegmentEvent`] per download attempt and the [`Playback`]
//! record (startup, stalls, play time). The player loops ([`crate::model`]) write them; metrics,
//! studies, outputs and plots read them. They name the model they ran under
//! ([`ModelKind`]) and nothing else of the crate, so readers need not depend on the models.

use crate::model_kind::ModelKind;

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
