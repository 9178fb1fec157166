//! What the player loop and the ABRs exchange with the network: a [`Request`] goes out, a
//! [`Download`] comes back, and while it is in flight [`Progress`] reports feed the abandonment
//! callback ([`AbandonFn`]). [`Network`] is the seam between the player loop
//! ([`crate::model::sabre::run_player`]) and where bytes come from: the simulated trace
//! ([`crate::model::sabre::TraceNetwork`]) or real HTTP (the `player-live` crate).
//!
//! These types depend on nothing else in the crate, so the ABRs ([`crate::abr`]), which read
//! them, and the models ([`crate::model`]), which produce them, both build on this module
//! without depending on each other in both directions.

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

/// A finished (possibly abandoned) download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Download {
    /// Segment index.
    pub index: usize,
    /// Requested quality.
    pub quality: usize,
    /// Full size, bits.
    pub size_bits: f64,
    /// Bits received.
    pub downloaded_bits: f64,
    /// Total time incl. latency, ms.
    pub time_ms: f64,
    /// Latency (time to first bit), ms.
    pub ttfb_ms: f64,
    /// Quality the ABR abandoned to, if abandoned.
    pub abandon_to: Option<usize>,
}

/// Progress of a download in flight (for abandonment checks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Segment index.
    pub index: usize,
    /// Quality being downloaded.
    pub quality: usize,
    /// Full size, bits.
    pub size_bits: f64,
    /// Bits so far.
    pub downloaded_bits: f64,
    /// Time since the request incl. latency, ms.
    pub time_ms: f64,
    /// Latency, ms.
    pub ttfb_ms: f64,
}

/// The abandonment callback: given progress, `Some(quality)` stops the download.
pub type AbandonFn<'a> = dyn FnMut(&Progress) -> Option<usize> + 'a;

/// Where segments come from: the simulated trace ([`crate::model::sabre::TraceNetwork`]), or an
/// HTTP client through the redirector and edges (`play`), or one of many (`swarm`). The player
/// loop ([`crate::model::sabre::run_player`]) only sees this trait, so every ABR and metric is
/// shared.
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
