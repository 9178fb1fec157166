//! Live players: the same ABR code and player loop as the simulator, over real HTTP through
//! the CDN (`dashcdn player play`; `swarm` runs many of them).
//!
//! * [`resolve`] — [`Entry`]: the MPD URL (the redirector's 302 is followed) or a DNS lookup
//!   against the redirector; the MPD → video ladder (nominal sizes) and segment URLs with
//!   BaseURL alternatives.
//! * [`shaper`] — [`Shaper`]: a token bucket on the response stream following a trace, with
//!   an accelerated clock; one `Arc<Shaper>` can be shared as a common bottleneck.
//! * [`http_net`] — `HttpNetwork`: [`crate::model::Network`] over reqwest + the shaper.
//! * [`play`](mod@play) — [`play()`](play::play): one blocking playback, recording every HTTP
//!   request with the edge that served it and its `X-Cache`.
//! * [`swarm`] — many players arriving over time (Zipf titles, per-player traces or a shared
//!   bottleneck), with per-edge hit ratios from the edges' own `/metrics` ([`prom`]) beside
//!   the players' `X-Cache` counts, origin offload and the QoE distribution.

pub mod http_net;
pub mod play;
pub mod prom;
pub mod resolve;
pub mod shaper;
pub mod swarm;

pub use play::{
    play, CacheStatus, FetchHook, FetchKind, LivePlayback, PlayFailed, PlayOptions, SegmentFetch,
};
pub use resolve::{AudioPlan, Entry, MpdPlan};
pub use shaper::Shaper;
