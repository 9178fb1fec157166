//! # player-live — real players through the CDN (`dashcdn player play` and `swarm`)
//!
//! The simulator's ABR algorithms and Sabre-style player loop ([`player_sim`]), playing over
//! real HTTP against the origin, the edges and the redirector instead of a trace model. One
//! player is [`play()`]; [`swarm`] runs many of them and compares what the players saw with
//! the servers' own counters.
//!
//! Data flow of one playback:
//!
//! ```text
//! resolve                     fetch with shaping              session                 metrics / report
//! Entry ─▶ MPD URL ─▶ MPD ─▶  HttpNetwork: reqwest GET  ─▶    run_player + ABR   ─▶    LivePlayback: events,
//! (URL, 302 followed,  │      chunks through a Shaper         (player_sim's loop,      QoE Metrics, every
//!  or DNS to the       │      (token bucket on a trace,        nominal sizes from      request (SegmentFetch
//!  redirector)         │      accelerated clock), audio        @bandwidth × duration)  with X-Served-By and
//!                      ▼      beside the video                                         X-Cache)
//!                  MpdPlan: ladder, segment URLs, BaseURL alternatives, audio
//! ```
//!
//! and of a swarm: seed ─▶ workload (Zipf titles, arrivals, trace offsets) ─▶ scrape the
//! servers' `/metrics` ─▶ one [`play()`] per player on its own thread at its arrival time
//! (shared runtime, client and optional bottleneck shaper) ─▶ scrape again ─▶ report
//! (per-edge hit ratios from both sides, origin offload, QoE distribution, CMCD/CMSD, Jain's
//! fairness index) ─▶ table, JSON, CSV and plots.
//!
//! CMCD and CMSD in one playback: the ABR ([`cmsd_abr::Observed`] around it) writes the
//! buffer level and throughput estimate it is shown into the playback's
//! [`cmsd_abr::Signals`] ─▶ each request's CMCD ([`cmcd_out::cmcd_for`]) ─▶ the edge; the
//! edge's `CMSD-Dynamic` ─▶ `Signals` (latest per server) ─▶ a `cmsd-` ABR's next decision.
//!
//! * [`resolve`] — [`Entry`]: the MPD URL (the redirector's 302 is followed) or a DNS lookup
//!   against the redirector; the MPD → video ladder (nominal sizes) and segment URLs with
//!   BaseURL alternatives ([`MpdPlan`]).
//! * [`shaper`] — [`Shaper`]: a token bucket on the response stream following a trace, with
//!   an accelerated clock; one `Arc<Shaper>` can be shared as a common bottleneck.
//! * [`fetch`] — [`SegmentFetch`]: the record of one HTTP request (what, which server, its
//!   `X-Cache`), and the [`FetchHook`] that receives them as they complete.
//! * [`http_net`] — `HttpNetwork`: [`player_sim::model::Network`] over reqwest + the shaper;
//!   every request carries CMCD and every response's `CMSD-Dynamic` is read.
//! * [`cmcd_out`] — CMCD out (CTA-5004, crate [`cmcd`]): what the player knows at each
//!   request ([`cmcd_out::RequestFacts`]) → the keys it sends, as a query argument (default,
//!   as dash.js), headers, or not at all ([`cmcd_out::CmcdMode`]).
//! * [`cmsd_abr`] — CMSD in (CTA-5006) and the `cmsd-<abr>` variants: the latest
//!   `etp`/`du`/`mb` per server, and a pure rule ([`cmsd_abr::cmsd_rule`]) capping the base
//!   ABR's estimate and rung by `etp`, its rung by `mb`, one rung down under `du`. Its
//!   [`cmsd_abr::Signals`] also carry the buffer level and throughput the ABR saw to the
//!   network for CMCD.
//! * [`play`](mod@play) — [`play()`](play::play): one blocking playback, recording every HTTP
//!   request with the edge that served it and its `X-Cache`.
//! * [`live`] (inside [`play`], re-exported here) — live sessions: a dynamic MPD makes [`play()`] play in real time (UTCTiming
//!   clock sync, join at the live edge − target latency, every segment requested at its
//!   availability and never before, MPD re-fetched every `minimumUpdatePeriod`, `$Number$`
//!   and SegmentTimeline, dash.js's playback-rate catch-up), with the latency distribution in
//!   [`LivePlayback::live`]; the timing policy is pure ([`live::timing`]).
//! * [`swarm`] — many players arriving over time (Zipf titles, per-player traces or a shared
//!   bottleneck), with per-edge hit ratios from the edges' own `/metrics` ([`serve::prom`]) beside
//!   the players' `X-Cache` counts, origin offload, the QoE distribution, the edges' CMCD
//!   counters beside the players' CMSD, and Jain's fairness index of the players' bitrates
//!   ([`swarm::fairness`]: overall, per edge, per ABR), and for live players the latency
//!   distribution and media TTFB overall and per edge ([`swarm::live`]).

pub mod cmcd_out;
pub mod cmsd_abr;
pub mod fetch;
pub mod http_net;
pub mod play;
pub use play::live;
pub mod resolve;
pub mod shaper;
pub mod swarm;

pub use http_net::FetchError;
pub use play::{
    play, CacheStatus, ClientError, FetchHook, FetchKind, LivePlayback, PlayError, PlayErrorKind,
    PlayOptions, SegmentFetch,
};
pub use resolve::{AudioPlan, Entry, MpdPlan, ResolveError};
pub use shaper::{Shaper, ShaperError};
pub use swarm::SwarmError;

/// An error and its causes on one line, `outer: cause: root cause` (the form logs, failure
/// tables and [`PlayError`]'s message use).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
