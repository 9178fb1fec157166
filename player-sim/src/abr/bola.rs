//! BOLA (MODELS.md A6.3): BOLA-BASIC (fixed Vp, no abandonment), BOLA-U (dynamic Vp, up-switches
//! limited to one above the throughput rule), BOLA-O (oscillation control: limit to the
//! throughput rule and idle instead).

use super::{Abr, Ctx, Decision, Progress};
use crate::input::Ladder;

/// Which BOLA of Sabre's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BolaVariant {
    /// BOLA-BASIC: fixed Vp, no abandonment.
    Basic,
    /// BOLA-U: dynamic Vp, up-switches limited to one above the throughput rule.
    U,
    /// BOLA-O: dynamic Vp, oscillation control (limit to the throughput rule and idle instead).
    O,
}

/// BOLA in its Sabre variants.
#[derive(Debug, Clone)]
pub struct Bola {
    v: Vec<f64>,
    gp: f64,
    vp: f64,
    bmax: f64,
    basic: bool,
    osc: bool,
    last_quality: usize,
    last_seek_index: usize,
}

impl Bola {
    /// BOLA `variant` for `ladder` with buffer capacity `buffer_max_ms` and γp `gp`.
    pub fn new(ladder: &Ladder, buffer_max_ms: f64, gp: f64, variant: BolaVariant) -> Self {
        let b = &ladder.bitrates_kbps;
        let v: Vec<f64> = b.iter().map(|x| x.ln() + (-b[0].ln())).collect();
        let vp = (buffer_max_ms - ladder.segment_duration_ms) / (v[v.len() - 1] + gp);
        Bola {
            v,
            gp,
            vp,
            bmax: buffer_max_ms,
            basic: variant == BolaVariant::Basic,
            osc: variant == BolaVariant::O,
            last_quality: 0,
            last_seek_index: 0,
        }
    }

    /// The buffer-based choice at level `buffer_ms` (strictly greater score wins).
    pub fn choice(&self, ctx: &Ctx, buffer_ms: f64) -> usize {
        let b = &ctx.ladder.bitrates_kbps;
        let mut best = 0;
        let mut score = ((self.vp * (self.v[0] + self.gp)) - buffer_ms) / b[0];
        for q in 1..b.len() {
            let s = ((self.vp * (self.v[q] + self.gp)) - buffer_ms) / b[q];
            if s > score {
                best = q;
                score = s;
            }
        }
        best
    }
}

impl Abr for Bola {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let d = ctx.seg_ms();
        let top = self.v.len() - 1;
        if !self.basic {
            let t = (ctx.index - self.last_seek_index).min(ctx.segments - ctx.index) as f64;
            let t = (t / 2.0).max(3.0) * d;
            self.vp = (self.bmax.min(t) - d) / (self.v[top] + self.gp);
        }
        let mut q = self.choice(ctx, ctx.buffer_ms);
        let mut delay = 0.0;
        if q > self.last_quality {
            let qt = ctx.quality_from_throughput(ctx.throughput_kbps.unwrap_or(0.0));
            if q <= qt {
            } else if self.last_quality > qt {
                q = self.last_quality;
            } else if !self.osc {
                q = qt + 1;
            } else {
                q = qt;
                delay = (ctx.buffer_ms - self.vp * (self.gp + self.v[q])).max(0.0);
                if q == top {
                    delay = 0.0;
                }
            }
        }
        self.last_quality = q;
        Decision {
            quality: q,
            delay_ms: delay,
        }
    }

    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level: f64) -> Option<usize> {
        if self.basic {
            return None;
        }
        let left = p.size_bits - p.downloaded_bits;
        if p.downloaded_bits <= 0.0 || left <= 0.0 {
            return None;
        }
        let b = &ctx.ladder.bitrates_kbps;
        let cur = p.quality;
        let mut score = ((self.vp * (self.gp + self.v[cur])) - level) / left;
        if score < 0.0 {
            return None;
        }
        let mut best = None;
        for j in 0..cur {
            let other = (p.size_bits * b[j]) / b[cur];
            let s = ((self.vp * (self.gp + self.v[j])) - level) / other;
            if other < left && s > score {
                score = s;
                best = Some(j);
            }
        }
        if let Some(j) = best {
            self.last_quality = j;
        }
        best
    }
}
