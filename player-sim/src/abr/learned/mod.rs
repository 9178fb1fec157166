//! `learned:FILE`: a policy trained by `dashcdn player train` (see [`crate::learn`]). It sees
//! what Pensieve's agent sees — the last quality, the buffer, the last eight downloads'
//! throughputs and times, the next segment's sizes and the segments left — and picks the
//! quality with the largest logit.

use std::path::Path;
use std::sync::Arc;

use super::{Abr, Ctx, Decision, Download};

pub mod features;
pub mod mlp;
pub mod policy;
use features::History;
use policy::{Policy, PolicyError};

/// The prefix of `--abr learned:FILE`.
pub const PREFIX: &str = "learned:";

/// A learned policy playing one session.
#[derive(Debug, Clone)]
pub struct Learned {
    policy: Arc<Policy>,
    history: History,
    scratch: Vec<f32>,
}

impl Learned {
    /// A player of `policy`.
    pub fn new(policy: Arc<Policy>) -> Learned {
        Learned {
            policy,
            history: History::default(),
            scratch: Vec::new(),
        }
    }

    /// Loads `path` and checks it against a ladder of `levels` qualities.
    pub fn load(path: &Path, levels: usize) -> Result<Learned, PolicyError> {
        let p = Policy::load(path)?;
        if p.levels != levels {
            return Err(PolicyError::Levels {
                path: path.to_path_buf(),
                policy: p.levels,
                ladder: levels,
            });
        }
        Ok(Learned::new(Arc::new(p)))
    }
}

impl Abr for Learned {
    fn first_quality(&mut self, ctx: &Ctx) -> usize {
        self.decide(ctx).quality
    }
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        Decision::q(self.policy.decide(ctx, &self.history, &mut self.scratch))
    }
    fn report_download(&mut self, _ctx: &Ctx, d: &Download) {
        self.history.push(d);
    }
    fn new_video(&mut self) {
        self.history.clear();
    }
}
