//! `swarm`: many concurrent real players through the CDN — the CDN throughput study tool.
//!
//! N players ([`play`](super::play()) each, on its own std thread over one shared tokio runtime
//! and one `reqwest::Client`) arrive over time (Poisson or uniform), each picks a title by
//! Zipf popularity and gets its own network trace (player `i` plays trace `i mod k` from a
//! random start offset), shares one bottleneck [`Shaper`] with every other player, or both: its
//! own trace behind the shared bottleneck ([`Shaper::with_parent`], [`player_shaper`]). Everything
//! random (titles, arrival times, trace offsets) is drawn from `seed` before the run starts, so
//! a seed names one workload ([`plan`]).
//!
//! Before and after the run, the edges' and the origin's Prometheus `/metrics` are scraped
//! ([`serve::prom`], [`scrape()`]); their deltas give per-edge hits/misses/bytes from the servers' own
//! counters, reported beside the same counts derived from the players' `X-Cache` and
//! `X-Served-By` headers ([`SwarmReport`]). Definitions:
//!
//! * **requests / hits / misses / stale / revalidated** of an edge (edge side): deltas of
//!   `dashcdn_edge_{hits,misses,stale,revalidated}_total`; *requests* is their sum — every
//!   response the cache handler produced (`/metrics` and `/healthz` are not counted). Player
//!   side: the player responses whose `X-Served-By` names that edge, by `X-Cache`.
//! * **hit ratio** = hits / requests (STALE and REVALIDATED count as requests, not hits).
//! * **bytes delivered** = Σ over edges of the `dashcdn_edge_sent_bytes_total` delta, minus
//!   the body of our own "before" scrape (which that counter counts after encoding it); the
//!   redirector's `/healthz` probes (3 bytes each) remain. Without edge metrics: the bytes the
//!   players received.
//! * **origin bytes** = the `dashcdn_origin_sent_bytes_total` delta minus our own scrape body.
//! * **origin fraction** = origin bytes / bytes delivered; **origin offload** = 1 − origin
//!   fraction (1 = the origin sent nothing, 0 = every delivered byte came from the origin).
//! * **byte hit ratio (players)** = bytes of `X-Cache: HIT` responses / all bytes received.
//! * **QoE**: per-player [`Metrics`] from the same code as the simulator; the distribution
//!   across players as mean, p10, p50, p90 ([`Stats`]).
//!
//! Edge-side and player-side counts cover the same requests — and agree exactly — whether or
//! not every player finished: a failed [`play`](super::play()) is a [`PlayError`] carrying
//! the requests it made (the failing one included, with its status), and those count on the
//! players' side like any other. Failed players are reported with their error
//! ([`PlayerOutcome::error`], grouped in [`SwarmReport::failures`]). Only requests that got no
//! response at all (status 0: refused, timed out) are in no edge's counters; they are the
//! `(none)` row.
//!
//! The code is split along those steps: [`workload`](mod@workload) draws the players from the
//! seed ([`plan`]), [`scrape`](mod@scrape) reads the servers' `/metrics`, [`run`](mod@run)
//! plays them ([`run()`]), [`report`](mod@report) turns outcomes and scrapes into a
//! [`SwarmReport`] and [`output`] writes it (text [`table`], JSON, CSV, plots).

pub mod fairness;
pub mod live;
pub mod output;
pub mod report;
pub mod run;
pub mod scrape;
pub mod workload;

#[cfg(test)]
mod tests;

pub use fairness::{jain, Fairness, FairnessGroup};
pub use output::{table, write, OutputError};
pub use report::{
    report, CacheCounts, EdgeRow, FailureRow, PlayerOutcome, QoeSummary, RunInfo, SwarmReport,
    TimelinePoint, TitleRow, Totals,
};
pub use run::{player_shaper, run};
pub use scrape::{metrics_url, scrape, Scrape, ScrapeError};
pub use workload::{
    abr_for, constant_trace, entry_for, plan, rotate_trace, Arrival, PlannedPlayer, SplitMix64,
    Zipf,
};

use player_sim::input::Trace;
use player_sim::session::SessionConfig;

use crate::shaper::ShaperError;
use crate::Entry;
#[cfg(doc)]
use crate::{PlayError, PlayOptions, Shaper};
#[cfg(doc)]
use player_sim::{metrics::Metrics, study::Stats};

/// Why a swarm could not run (individual players failing is not an error: they are reported).
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// [`SwarmConfig::titles`] is empty.
    #[error("no titles")]
    NoTitles,
    /// [`SwarmConfig::players`] is 0.
    #[error("no players")]
    NoPlayers,
    /// [`SwarmConfig::clock_scale`] is not a positive number.
    #[error("clock scale must be > 0")]
    ClockScale,
    /// [`SwarmConfig::max_concurrent`] is 0.
    #[error("max concurrent must be > 0")]
    MaxConcurrent,
    /// The Zipf exponent or the arrival process is out of range.
    #[error(transparent)]
    Workload(#[from] ::workload::WorkloadError),
    /// A trace (or the shared bottleneck) cannot drive a shaper.
    #[error(transparent)]
    Shaper(#[from] ShaperError),
    /// A "before" scrape failed (deltas would be meaningless).
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    /// A player thread could not be started.
    #[error("spawning a player thread")]
    Spawn(#[source] std::io::Error),
}

/// The placeholder replaced by the title in the entry URL or DNS path.
pub const TITLE_PLACEHOLDER: &str = "{title}";

/// What to run.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// Where players start, with [`TITLE_PLACEHOLDER`] in the URL (or DNS name and path)
    /// replaced by each player's title, e.g. `http://127.0.0.1:8053/{title}/manifest.mpd`
    /// ([`entry_for`]).
    pub entry: Entry,
    /// Titles, most popular first (Zipf rank 1 = the first).
    pub titles: Vec<String>,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Number of players.
    pub players: usize,
    /// Arrival process.
    pub arrival: Arrival,
    /// Per-player traces (player `i` gets trace `i mod k`); empty: no per-player shaping.
    pub traces: Vec<Trace>,
    /// Start each player's trace at a random offset (seeded) rather than at 0.
    pub random_offset: bool,
    /// One bottleneck shared by every player, kbps. With [`traces`](Self::traces) too, each
    /// player's own trace shaper sits behind it ([`Shaper::with_parent`]): a player gets at
    /// most its trace's rate and at most its share of the bottleneck.
    pub shared_bottleneck_kbps: Option<f64>,
    /// Clock scale (session seconds per wall second; 1 = real time).
    pub clock_scale: f64,
    /// Segments each player plays (`None`: the whole title).
    pub segments: Option<usize>,
    /// Players fetch the audio beside the video ([`PlayOptions::audio`]).
    pub audio: bool,
    /// ABR algorithm of every player, or a comma-separated list alternated across players
    /// ([`abr_for`]); a `cmsd-` prefix steers it by the servers' CMSD
    /// ([`crate::cmsd_abr`]).
    pub abr: String,
    /// How the players send CMCD ([`crate::cmcd_out`]).
    pub cmcd: crate::cmcd_out::CmcdMode,
    /// Player session settings (buffer, startup, estimator, abandonment…).
    pub session: SessionConfig,
    /// Workload seed.
    pub seed: u64,
    /// Edge `/metrics` URLs to scrape before and after (a base URL gets `/metrics` appended).
    pub edge_metrics: Vec<String>,
    /// Origin `/metrics` URL.
    pub origin_metrics: Option<String>,
    /// At most this many players at once (later arrivals wait for a slot; the wait is
    /// reported per player).
    pub max_concurrent: usize,
    /// Progress bar on stderr.
    pub progress: bool,
    /// Log dispatcher of the player threads (e.g. a subscriber filtered at `warn`, so that
    /// each playback's info lines do not drown the report); `None`: the global one.
    pub player_log: Option<tracing::Dispatch>,
    /// How long each player plays a live stream (a dynamic MPD; see [`crate::play::live`]).
    pub live_duration: std::time::Duration,
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Configurations and traces shared by the swarm's unit tests.
    use super::*;
    use player_sim::input::{Period, TraceData};

    pub(crate) fn trace(name: &str, kbps: &[f64]) -> Trace {
        Trace {
            name: name.into(),
            data: TraceData::Periods(
                kbps.iter()
                    .map(|&b| Period {
                        duration_ms: 1000.0,
                        bandwidth_kbps: b,
                        latency_ms: 0.0,
                    })
                    .collect(),
            ),
        }
    }

    pub(crate) fn cfg(seed: u64, traces: Vec<Trace>) -> SwarmConfig {
        SwarmConfig {
            entry: Entry::Url("http://r/{title}/manifest.mpd".into()),
            titles: vec!["a".into(), "b".into(), "c".into()],
            zipf_s: 0.8,
            players: 50,
            arrival: Arrival::Poisson { rate_per_s: 2.0 },
            traces,
            random_offset: true,
            shared_bottleneck_kbps: None,
            clock_scale: 1.0,
            segments: Some(4),
            audio: true,
            abr: "bba".into(),
            cmcd: crate::cmcd_out::CmcdMode::Query,
            session: SessionConfig::for_model(player_sim::ModelKind::Generic),
            seed,
            edge_metrics: vec![],
            origin_metrics: None,
            max_concurrent: 10,
            progress: false,
            player_log: None,
            live_duration: crate::play::DEFAULT_LIVE_DURATION,
        }
    }
}
