//! One playback: a ladder × a trace × an ABR under a model, producing per-segment events.
//!
//! [`run`] builds the algorithm ([`build_abr`]: the offline optimum plans over the trace here,
//! every other algorithm comes from [`abr::build`]) and plays it with [`run_with`], which picks
//! the model's player loop ([`crate::model`]). The events and the session settings are
//! re-exported from where they are defined ([`crate::events`], [`crate::model`]).

use std::borrow::Cow;

use crate::abr::{self, Abr, AbrError, AbrKind};
use crate::input::{Ladder, Trace, TraceData};
use crate::model::{pensieve, periods_for, sabre, ModelKind};

pub use crate::events::{Playback, SegmentEvent};
pub use crate::model::SessionConfig;

/// Why a playback could not be played.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The algorithm could not be built (a plug-in that cannot start, a policy file that does
    /// not fit, ...).
    #[error(transparent)]
    Abr(#[from] AbrError),
    /// The algorithm failed during the playback ([`Abr::failure`], e.g. a plug-in crashed).
    #[error("{message} (trace {trace})")]
    Failed {
        /// What the algorithm reported.
        message: String,
        /// The trace being played.
        trace: String,
    },
}

/// Runs one playback with the algorithm `abr`; an error if it cannot be built or failed
/// ([`Abr::failure`], e.g. a plug-in crashed). The playback is named after `abr` as given.
pub fn run(
    ladder: &Ladder,
    trace: &Trace,
    abr: &AbrKind,
    cfg: &SessionConfig,
) -> Result<Playback, SessionError> {
    let mut a = build_abr(abr, ladder, trace, cfg)?;
    let mut p = run_with(ladder, trace, a.as_mut(), cfg);
    if let Some(message) = a.failure() {
        return Err(SessionError::Failed {
            message,
            trace: trace.name.clone(),
        });
    }
    p.abr = abr.to_string();
    Ok(p)
}

/// Builds an algorithm for this session (`optimal` plans over the trace here,
/// [`crate::optimal`]; the others come from [`abr::build`]).
pub fn build_abr(
    kind: &AbrKind,
    ladder: &Ladder,
    trace: &Trace,
    cfg: &SessionConfig,
) -> Result<Box<dyn Abr>, AbrError> {
    if *kind == AbrKind::Optimal {
        return Ok(Box::new(crate::optimal::plan(ladder, trace, cfg)));
    }
    abr::build(kind, ladder, cfg.buffer_max_ms, &cfg.abr)
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
