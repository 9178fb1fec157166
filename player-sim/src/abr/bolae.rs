//! BOLA-E (MODELS.md A6.4): BOLA with a placeholder buffer, a startup throughput step, the
//! insufficient-buffer rule (BOLA-PL without it) and its own abandonment rule.

use super::{Abr, Ctx, Decision, Download, Progress};
use crate::input::Ladder;

/// BOLA-E's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BolaEOptions {
    /// The insufficient-buffer rule (Sabre's default; off is BOLA-PL, `-noibr`), which also
    /// selects the placeholder-based γp/Vp.
    pub insufficient_buffer_rule: bool,
    /// The oscillation-avoidance variant (never idles up to the throughput rule's choice + 1).
    pub oscillation_avoidance: bool,
}

/// BOLA-E.
#[derive(Debug, Clone)]
pub struct BolaE {
    w: Vec<f64>,
    gp: f64,
    vp: f64,
    no_ibr: bool,
    osc: bool,
    startup: bool,
    placeholder: f64,
    last_quality: usize,
    ibr: f64,
}

impl BolaE {
    /// BOLA-E for `ladder` with buffer capacity `buffer_max_ms` and γp `gp` (used by BOLA-PL).
    pub fn new(ladder: &Ladder, buffer_max_ms: f64, gp: f64, o: BolaEOptions) -> Self {
        let (no_ibr, osc) = (!o.insufficient_buffer_rule, o.oscillation_avoidance);
        let b = &ladder.bitrates_kbps;
        let l = b.len();
        let w: Vec<f64> = b.iter().map(|x| x.ln() + (1.0 - b[0].ln())).collect();
        let (gp, vp) = if !no_ibr {
            let bb = (10000.0 + 2000.0 * l as f64).max(buffer_max_ms);
            let g = (w[l - 1] - 1.0) / ((bb / 10000.0) - 1.0);
            (g, 10000.0 / g)
        } else {
            let g = gp - 1.0;
            (
                g,
                (buffer_max_ms - ladder.segment_duration_ms) / (w[l - 1] + g),
            )
        };
        BolaE {
            w,
            gp,
            vp,
            no_ibr,
            osc,
            startup: true,
            placeholder: 0.0,
            last_quality: 0,
            ibr: 0.9,
        }
    }

    fn choice(&self, b: &[f64], level: f64) -> usize {
        let mut best = 0;
        let mut score = ((self.vp * (self.w[0] + self.gp)) - level) / b[0];
        for q in 1..b.len() {
            let s = ((self.vp * (self.w[q] + self.gp)) - level) / b[q];
            if s > score {
                best = q;
                score = s;
            }
        }
        best
    }

    fn min_level(&self, b: &[f64], q: usize) -> f64 {
        let mut m = 0.0f64;
        for j in 0..q {
            if self.w[j] < self.w[q] {
                let x = self.vp
                    * (self.gp + (((b[q] * self.w[j]) - (b[j] * self.w[q])) / (b[q] - b[j])));
                if x > m {
                    m = x;
                }
            }
        }
        m
    }

    fn max_level(&self, q: usize) -> f64 {
        self.vp * (self.w[q] + self.gp)
    }

    /// Current placeholder buffer (ms).
    pub fn placeholder(&self) -> f64 {
        self.placeholder
    }
}

impl Abr for BolaE {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let b = &ctx.ladder.bitrates_kbps;
        let lvl = ctx.buffer_ms;
        let Some(tput) = ctx.throughput_kbps else {
            return Decision::q(self.last_quality);
        };
        if self.startup {
            self.startup = false;
            self.ibr = 0.9;
            let q = ctx.quality_from_throughput(tput);
            self.placeholder = (self.min_level(b, q) - lvl).max(0.0);
            return Decision::q(q);
        }
        let mut q = self.choice(b, lvl + self.placeholder);
        let qt = ctx.quality_from_throughput(tput);
        if q > self.last_quality && q > qt {
            q = self.last_quality.max(qt);
            if !self.osc {
                q += 1;
            }
        }
        let mut delay = lvl + self.placeholder - self.max_level(q);
        if delay > 0.0 {
            if delay <= self.placeholder {
                self.placeholder -= delay;
                delay = 0.0;
            } else {
                delay -= self.placeholder;
                self.placeholder = 0.0;
            }
        } else {
            delay = 0.0;
        }
        if q == b.len() - 1 {
            delay = 0.0;
        }
        if !self.no_ibr {
            let lat = ctx.latency_ms.unwrap_or(0.0);
            let safe_bits = (self.ibr * (lvl - lat)) * tput;
            self.ibr = (self.ibr * 0.9).max(0.5);
            for j in 0..q {
                if b[j + 1] * ctx.seg_ms() > safe_bits {
                    q = j;
                    delay = 0.0;
                    self.placeholder = (self.min_level(b, q) - lvl).max(0.0).min(self.placeholder);
                    break;
                }
            }
        }
        Decision {
            quality: q,
            delay_ms: delay,
        }
    }

    fn report_delay(&mut self, ms: f64) {
        self.placeholder += ms;
    }

    fn report_download(&mut self, ctx: &Ctx, d: &Download) {
        let b = &ctx.ladder.bitrates_kbps;
        self.last_quality = d.quality;
        let lvl = ctx.buffer_ms;
        match d.abandon_to {
            None => {
                let was = lvl + d.time_ms;
                self.placeholder = self
                    .placeholder
                    .min((self.max_level(d.quality) - was).max(0.0));
                if lvl > 0.0 {
                    self.placeholder = self.placeholder.max(self.min_level(b, d.quality) - was);
                }
            }
            Some(a) => {
                let want = if a > 0 { self.min_level(b, a) } else { 10000.0 };
                self.placeholder = self.placeholder.min((want - lvl).max(0.0));
            }
        }
    }

    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level: f64) -> Option<usize> {
        let left = p.size_bits - p.downloaded_bits;
        if p.downloaded_bits <= 0.0 || left <= 0.0 {
            return None;
        }
        let b = &ctx.ladder.bitrates_kbps;
        let bx = (level + self.placeholder - p.ttfb_ms).max(0.0);
        let x = p.downloaded_bits / (p.time_ms - p.ttfb_ms);
        let sz = left - p.ttfb_ms * x;
        if sz <= 0.0 {
            return None;
        }
        let cur = p.quality;
        let mut score = ((self.vp * (self.gp + self.w[cur])) - bx) / sz;
        let mut best = None;
        for j in 0..cur {
            let other = (p.size_bits * b[j]) / b[cur];
            let s = ((self.vp * (self.gp + self.w[j])) - bx) / other;
            if other < sz && s > score {
                score = s;
                best = Some(j);
            }
        }
        best
    }
}
