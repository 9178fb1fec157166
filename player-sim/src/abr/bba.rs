//! BBA: buffer-based with a reservoir and a cushion, linear in the quality *index* (Pensieve's
//! `test/bb.py`, MODELS.md B6; Sabre-mode convention A6.7).

use super::{Abr, Ctx, Decision};

/// Buffer-based rate adaptation (reservoir 5 s, cushion 10 s by default).
#[derive(Debug, Clone)]
pub struct Bba {
    /// Below this buffer (ms): lowest quality.
    pub reservoir_ms: f64,
    /// Buffer span (ms) over which the index grows linearly to the top.
    pub cushion_ms: f64,
}

impl Default for Bba {
    fn default() -> Self {
        Bba {
            reservoir_ms: 5000.0,
            cushion_ms: 10000.0,
        }
    }
}

impl Bba {
    /// The quality for a buffer level, evaluated as the reference does: in seconds,
    /// `trunc(((L-1) * (buf_s - 5)) / 10.0)`, with [`super::Quirks::bba_in_seconds`]
    /// (Pensieve), otherwise in ms.
    pub fn quality_for(&self, ctx: &Ctx) -> usize {
        let top = ctx.levels() - 1;
        let (b, r, c) = if ctx.quirks.bba_in_seconds {
            (
                ctx.buffer_ms / 1000.0,
                self.reservoir_ms / 1000.0,
                self.cushion_ms / 1000.0,
            )
        } else {
            (ctx.buffer_ms, self.reservoir_ms, self.cushion_ms)
        };
        if b < r {
            0
        } else if b >= r + c {
            top
        } else {
            ((((top as f64) * (b - r)) / c) as usize).min(top)
        }
    }
}

impl Abr for Bba {
    fn first_quality(&mut self, ctx: &Ctx) -> usize {
        1.min(ctx.levels() - 1)
    }
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        Decision::q(self.quality_for(ctx))
    }
}
