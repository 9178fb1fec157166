//! ABR algorithms: one trait, one file per algorithm.
//!
//! The interface is Sabre's (the most general of the simulators we reproduce): the session asks
//! for a first quality, then before every request for `(quality, delay)`, reports buffer-full
//! idles and finished (or abandoned) downloads, and during a download may ask whether to abandon
//! it. Every call gets a [`Ctx`] with the player state and the session estimator's values.
//!
//! Adding an algorithm: a file with a type implementing [`Abr`], a line in [`ALGORITHMS`] and in
//! [`build`].

use crate::input::Ladder;
use crate::model::ModelKind;

pub mod bba;
pub mod bola;
pub mod bolae;
pub mod dynamic;
pub mod festive;
pub mod fixed;
pub mod learned;
pub mod mpc;
pub mod optimal;
pub mod plugin;
pub mod throughput;

/// What the ABR sees at each call.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The ladder (bitrates, segment duration, all sizes).
    pub ladder: &'a Ladder,
    /// The network/buffer model in force (some rules follow the reference simulator's quirks).
    pub model: ModelKind,
    /// Index of the segment about to be requested (0-based).
    pub index: usize,
    /// Number of segments in this session.
    pub segments: usize,
    /// Buffer level, ms.
    pub buffer_ms: f64,
    /// Buffer capacity, ms.
    pub buffer_max_ms: f64,
    /// Quality of the last completed download.
    pub last_quality: usize,
    /// The session estimator's throughput, kbps.
    pub throughput_kbps: Option<f64>,
    /// The session estimator's latency, ms.
    pub latency_ms: Option<f64>,
}

impl Ctx<'_> {
    /// Number of qualities.
    pub fn levels(&self) -> usize {
        self.ladder.bitrates_kbps.len()
    }
    /// Segment duration, ms.
    pub fn seg_ms(&self) -> f64 {
        self.ladder.segment_duration_ms
    }
    /// Sabre's `quality_from_throughput` (A6.1): highest quality whose segment, fetched at `x`
    /// kbps after one latency, arrives within one segment duration.
    pub fn quality_from_throughput(&self, x: f64) -> usize {
        let d = self.seg_ms();
        let b = &self.ladder.bitrates_kbps;
        let lat = self.latency_ms.unwrap_or(0.0);
        let mut q = 0;
        while q + 1 < b.len() && lat + ((d * b[q + 1]) / x) <= d {
            q += 1;
        }
        q
    }
}

/// A decision: quality and an extra idle (ms) before the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Quality index.
    pub quality: usize,
    /// Idle before requesting, ms.
    pub delay_ms: f64,
}

impl Decision {
    /// A quality with no delay.
    pub fn q(quality: usize) -> Self {
        Decision {
            quality,
            delay_ms: 0.0,
        }
    }
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

/// An adaptive-bitrate algorithm.
pub trait Abr: Send {
    /// Quality of the first segment (Sabre model; Pensieve's always starts at quality 1).
    fn first_quality(&mut self, _ctx: &Ctx) -> usize {
        0
    }
    /// Quality (and optional idle) for segment `ctx.index`.
    fn decide(&mut self, ctx: &Ctx) -> Decision;
    /// A buffer-full idle of `ms` happened before this decision.
    fn report_delay(&mut self, _ms: f64) {}
    /// A download finished (or was abandoned); `ctx.buffer_ms` is the level after it.
    fn report_download(&mut self, _ctx: &Ctx, _d: &Download) {}
    /// During a download: abandon to another quality? `level_ms` is the level at request
    /// minus the elapsed time, floored at 0.
    fn check_abandon(&mut self, _ctx: &Ctx, _p: &Progress, _level_ms: f64) -> Option<usize> {
        None
    }
    /// A new video starts with this same object (only used where state deliberately carries
    /// over, e.g. Pensieve's robustMPC error history).
    fn new_video(&mut self) {}
    /// Whether this algorithm keeps state across videos in the reference simulator.
    fn carries_state(&self) -> bool {
        false
    }
    /// Why this playback cannot go on (e.g. its plug-in crashed), once that happened; the
    /// players stop early and sessions turn it into an error. Built-ins never fail.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Algorithm names accepted by [`build`] (`all` expands to these).
pub const ALGORITHMS: &[&str] = &[
    "fixed",
    "throughput",
    "bba",
    "festive",
    "bola-basic",
    "bola",
    "bola-o",
    "bola-e",
    "dynamic",
    "dynamicdash",
    "dynamic-dashjs",
    "robustmpc",
    "fastmpc",
    "optimal",
];

/// Tunables shared by several algorithms (Sabre's option names in brackets).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AbrOptions {
    /// BOLA γp [`-gp`], default 5.
    pub gp: f64,
    /// Disable the insufficient-buffer rule [`-noibr`] (throughput, BOLA-E).
    pub no_ibr: bool,
    /// Quality for `fixed` (clamped to the ladder), default 0.
    pub fixed_quality: usize,
    /// Plug-ins: time allowed for each answer (default [`plugin::DEFAULT_TIMEOUT`]).
    pub plugin_timeout: std::time::Duration,
    /// Plug-ins: the ladder's sizes are nominal (`play`/`swarm`), not exact.
    pub nominal_sizes: bool,
}

impl Default for AbrOptions {
    fn default() -> Self {
        AbrOptions {
            gp: 5.0,
            no_ibr: false,
            fixed_quality: 0,
            plugin_timeout: plugin::DEFAULT_TIMEOUT,
            nominal_sizes: false,
        }
    }
}

/// Builds an algorithm by name (see [`ALGORITHMS`]), or a plug-in from `plugin:COMMAND`
/// ([`plugin`]). `optimal` needs the session's oracle and is
/// built by [`crate::session::run`] instead; here it returns an error.
pub fn build(
    name: &str,
    ladder: &Ladder,
    buffer_max_ms: f64,
    o: &AbrOptions,
) -> anyhow::Result<Box<dyn Abr>> {
    if let Some(cmd) = plugin::command_of(name) {
        let p = plugin::Plugin::new(cmd, o.plugin_timeout, o.nominal_sizes)?;
        return Ok(Box::new(p));
    }
    Ok(match name {
        "fixed" => Box::new(fixed::Fixed::new(o.fixed_quality.min(ladder.levels() - 1))),
        "throughput" => Box::new(throughput::Throughput::new(o.no_ibr)),
        "bba" => Box::new(bba::Bba::default()),
        "festive" => Box::new(festive::Festive::default()),
        "bola-basic" => Box::new(bola::Bola::new(ladder, buffer_max_ms, o.gp, true, false)),
        "bola" => Box::new(bola::Bola::new(ladder, buffer_max_ms, o.gp, false, false)),
        "bola-o" => Box::new(bola::Bola::new(ladder, buffer_max_ms, o.gp, false, true)),
        "bola-e" => Box::new(bolae::BolaE::new(
            ladder,
            buffer_max_ms,
            o.gp,
            o.no_ibr,
            false,
        )),
        "dynamic" => Box::new(dynamic::Dynamic::new(ladder, buffer_max_ms, o)),
        "dynamicdash" => Box::new(dynamic::DynamicDash::sabre(ladder, buffer_max_ms, o)),
        "dynamic-dashjs" => Box::new(dynamic::DynamicDash::dashjs(ladder, buffer_max_ms, o)),
        "robustmpc" => Box::new(mpc::Mpc::robust()),
        "fastmpc" => Box::new(mpc::Mpc::fast()),
        other if other.starts_with(learned::PREFIX) => Box::new(learned::Learned::load(
            std::path::Path::new(&other[learned::PREFIX.len()..]),
            ladder.levels(),
        )?),
        other => anyhow::bail!(
            "unknown ABR algorithm \"{other}\" (known: {}, all)",
            ALGORITHMS.join(", ")
        ),
    })
}

/// Expands a comma-separated list (`all` = every algorithm) and checks the names; a
/// `plugin:COMMAND` entry (which cannot contain a comma) is checked for a usable command line.
pub fn parse_list(list: &str) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if n == "all" {
            out.extend(ALGORITHMS.iter().map(|s| s.to_string()));
        } else if ALGORITHMS.contains(&n) || n.starts_with(learned::PREFIX) {
            out.push(n.to_string());
        } else if let Some(cmd) = plugin::command_of(n) {
            plugin::split_command(cmd)?;
            out.push(n.to_string());
        } else {
            anyhow::bail!(
                "unknown ABR algorithm \"{n}\" (known: {}, all)",
                ALGORITHMS.join(", ")
            );
        }
    }
    out.dedup();
    anyhow::ensure!(!out.is_empty(), "no ABR algorithm given");
    Ok(out)
}
