//! ABR algorithms: one trait, one file per algorithm.
//!
//! The interface is Sabre's (the most general of the simulators we reproduce): the session asks
//! for a first quality, then before every request for `(quality, delay)`, reports buffer-full
//! idles and finished (or abandoned) downloads, and during a download may ask whether to abandon
//! it. Every call gets a [`Ctx`] with the player state and the session estimator's values.
//!
//! Algorithms are named by [`AbrKind`] (`bola`, `robustmpc`, `learned:FILE`, `plugin:COMMAND`,
//! ...; [`parse_list`] reads `--abr` lists) and built by [`build`]. What some of them do
//! differently under the Pensieve model reaches them as [`Quirks`] in every [`Ctx`], so no
//! algorithm knows which model runs it. The offline optimum plans over the whole trace with the
//! session's model, so it lives above the models ([`crate::optimal`]) and
//! [`crate::session::build_abr`] builds it.
//!
//! Adding an algorithm: a file with a type implementing [`Abr`], a variant in [`AbrKind`] (and
//! its name in [`AbrKind::name`] and [`AbrKind::BUILT_IN`]) and a line in [`build`].

use crate::input::Ladder;

pub use crate::net::{Download, Progress};
pub use kind::{AbrError, AbrKind};

pub mod bba;
pub mod bola;
pub mod bolae;
pub mod dynamic;
pub mod festive;
pub mod fixed;
mod kind;
pub mod learned;
pub mod mpc;
pub mod plugin;
pub mod throughput;

/// What an algorithm does differently depending on the simulator whose reference
/// implementation it reproduces. Sabre's algorithms (and the Sabre-mode conventions of
/// MODELS.md) need none of these; Pensieve's `test/bb.py` and `test/mpc.py` compute a few things
/// their own way, and reproducing Pensieve's numbers bit for bit needs the same. Built once per
/// playback from the model ([`crate::model::ModelKind::quirks`]) and handed over in every
/// [`Ctx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// The model's name (`generic`, `sabre` or `pensieve`), as plug-ins are told in their
    /// `start` message ([`plugin`]): a plug-in reproduces whatever quirk it needs itself.
    pub model: &'static str,
    /// BBA evaluates its rule in seconds, `trunc(((L-1) * (buf_s - 5)) / 10.0)`, as Pensieve's
    /// `test/bb.py` does (MODELS.md B6); otherwise in ms (the Sabre-mode convention, A6.7). The
    /// two round differently at rung boundaries, so Pensieve's BBA scores are only reproduced
    /// exactly in seconds.
    pub bba_in_seconds: bool,
    /// MPC's planner prices plan position `j` with the sizes of chunk `n + j + 1`, one ahead of
    /// the chunk the environment downloads next, as Pensieve's `test/mpc.py` does (MODELS.md
    /// B7.4, an off-by-one reproduced on purpose); otherwise with the chunks actually planned.
    pub mpc_sizes_one_ahead: bool,
}

/// What the ABR sees at each call.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The ladder (bitrates, segment duration, all sizes).
    pub ladder: &'a Ladder,
    /// What this algorithm does differently under the model in force ([`Quirks`]).
    pub quirks: Quirks,
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

/// Tunables shared by several algorithms (with Sabre's option names).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AbrOptions {
    /// BOLA γp (Sabre's `-gp`), default 5.
    pub gp: f64,
    /// Disable the insufficient-buffer rule (Sabre's `-noibr`; throughput, BOLA-E).
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

/// Builds an algorithm ([`AbrKind`]); a plug-in reuses an idle child of its command or starts
/// one ([`plugin`]), a learned policy is loaded and checked against the ladder. `optimal` needs
/// the whole trace and is built by [`crate::session::build_abr`] instead; here it is an error.
pub fn build(
    kind: &AbrKind,
    ladder: &Ladder,
    buffer_max_ms: f64,
    o: &AbrOptions,
) -> Result<Box<dyn Abr>, AbrError> {
    use bola::{Bola, BolaVariant};
    use bolae::{BolaE, BolaEOptions};
    Ok(match kind {
        AbrKind::Fixed => Box::new(fixed::Fixed::new(o.fixed_quality.min(ladder.levels() - 1))),
        AbrKind::Throughput => Box::new(throughput::Throughput::new(o.no_ibr)),
        AbrKind::Bba => Box::new(bba::Bba::default()),
        AbrKind::Festive => Box::new(festive::Festive::default()),
        AbrKind::BolaBasic => Box::new(Bola::new(ladder, buffer_max_ms, o.gp, BolaVariant::Basic)),
        AbrKind::Bola => Box::new(Bola::new(ladder, buffer_max_ms, o.gp, BolaVariant::U)),
        AbrKind::BolaO => Box::new(Bola::new(ladder, buffer_max_ms, o.gp, BolaVariant::O)),
        AbrKind::BolaE => Box::new(BolaE::new(
            ladder,
            buffer_max_ms,
            o.gp,
            BolaEOptions {
                insufficient_buffer_rule: !o.no_ibr,
                oscillation_avoidance: false,
            },
        )),
        AbrKind::Dynamic => Box::new(dynamic::Dynamic::new(ladder, buffer_max_ms, o)),
        AbrKind::DynamicDash => Box::new(dynamic::DynamicDash::sabre(ladder, buffer_max_ms, o)),
        AbrKind::DynamicDashjs => Box::new(dynamic::DynamicDash::dashjs(ladder, buffer_max_ms, o)),
        AbrKind::RobustMpc => Box::new(mpc::Mpc::robust()),
        AbrKind::FastMpc => Box::new(mpc::Mpc::fast()),
        AbrKind::Optimal => return Err(AbrError::NeedsTrace),
        AbrKind::Learned(path) => Box::new(learned::Learned::load(
            std::path::Path::new(path),
            ladder.levels(),
        )?),
        AbrKind::Plugin(cmd) => {
            Box::new(plugin::Plugin::new(cmd, o.plugin_timeout, o.nominal_sizes)?)
        }
    })
}

/// Expands a comma-separated list (`all` = every built-in algorithm, [`AbrKind::BUILT_IN`])
/// and checks the names; a `plugin:COMMAND` entry (which cannot contain a comma) is checked for
/// a usable command line. Repeated neighbours collapse to one.
pub fn parse_list(list: &str) -> Result<Vec<AbrKind>, AbrError> {
    let mut out: Vec<AbrKind> = Vec::new();
    for n in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if n == "all" {
            out.extend(AbrKind::BUILT_IN.iter().cloned());
        } else {
            let k: AbrKind = n.parse()?;
            if let AbrKind::Plugin(cmd) = &k {
                plugin::split_command(cmd.trim())?;
            }
            out.push(k);
        }
    }
    out.dedup();
    if out.is_empty() {
        return Err(AbrError::Empty);
    }
    Ok(out)
}
