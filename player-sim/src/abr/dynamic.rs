//! Hybrids of BOLA and THROUGHPUT:
//! * `dynamic` — Sabre's DYNAMIC (A6.5): BOLA-U and THROUGHPUT both decide every time; switch to
//!   THROUGHPUT below 10 s when it asks for more, to BOLA above 10 s when BOLA asks for at least as
//!   much. Abandonment: THROUGHPUT's.
//! * `dynamicdash` — Sabre's DYNAMICDASH (A6.6): BOLA-E above 10 s, THROUGHPUT below 5 s.
//! * `dynamic-dashjs` — the dash.js DYNAMIC rule: BOLA-E once the buffer exceeds 18 s,
//!   THROUGHPUT again below 9 s (same machinery as `dynamicdash`, dash.js thresholds).

use super::bola::{Bola, BolaVariant};
use super::bolae::{BolaE, BolaEOptions};
use super::throughput::Throughput;
use super::{Abr, AbrOptions, Ctx, Decision, Download, Progress};
use crate::input::Ladder;

/// Sabre's DYNAMIC.
#[derive(Debug, Clone)]
pub struct Dynamic {
    bola: Bola,
    tput: Throughput,
    use_bola: bool,
}

impl Dynamic {
    /// BOLA-U + THROUGHPUT with a 10 s threshold.
    pub fn new(ladder: &Ladder, bmax: f64, o: &AbrOptions) -> Self {
        Dynamic {
            bola: Bola::new(ladder, bmax, o.gp, BolaVariant::U),
            tput: Throughput::new(o.no_ibr),
            use_bola: false,
        }
    }
}

impl Abr for Dynamic {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let b = self.bola.decide(ctx);
        let t = self.tput.decide(ctx);
        if self.use_bola {
            if ctx.buffer_ms < 10000.0 && b.quality < t.quality {
                self.use_bola = false;
            }
        } else if ctx.buffer_ms > 10000.0 && b.quality >= t.quality {
            self.use_bola = true;
        }
        if self.use_bola {
            b
        } else {
            t
        }
    }
    fn report_delay(&mut self, ms: f64) {
        self.bola.report_delay(ms);
        self.tput.report_delay(ms);
    }
    fn report_download(&mut self, ctx: &Ctx, d: &Download) {
        self.bola.report_download(ctx, d);
        self.tput.report_download(ctx, d);
    }
    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level: f64) -> Option<usize> {
        self.tput.check_abandon(ctx, p, level)
    }
}

/// BOLA-E/THROUGHPUT hybrid with hysteresis (Sabre's DYNAMICDASH or the dash.js thresholds).
#[derive(Debug, Clone)]
pub struct DynamicDash {
    bola: BolaE,
    tput: Throughput,
    use_bola: bool,
    low_ms: f64,
    high_ms: f64,
}

impl DynamicDash {
    /// Sabre's DYNAMICDASH: THROUGHPUT below 5 s, BOLA-E above 10 s.
    pub fn sabre(ladder: &Ladder, bmax: f64, o: &AbrOptions) -> Self {
        Self::with_thresholds(ladder, bmax, o, 5000.0, 10000.0)
    }
    /// dash.js DYNAMIC: BOLA-E above 18 s, THROUGHPUT below 9 s.
    pub fn dashjs(ladder: &Ladder, bmax: f64, o: &AbrOptions) -> Self {
        Self::with_thresholds(ladder, bmax, o, 9000.0, 18000.0)
    }
    /// Custom thresholds (ms).
    pub fn with_thresholds(
        ladder: &Ladder,
        bmax: f64,
        o: &AbrOptions,
        low_ms: f64,
        high_ms: f64,
    ) -> Self {
        DynamicDash {
            bola: BolaE::new(
                ladder,
                bmax,
                o.gp,
                BolaEOptions {
                    insufficient_buffer_rule: !o.no_ibr,
                    oscillation_avoidance: false,
                },
            ),
            tput: Throughput::new(o.no_ibr),
            use_bola: false,
            low_ms,
            high_ms,
        }
    }
}

impl Abr for DynamicDash {
    fn decide(&mut self, ctx: &Ctx) -> Decision {
        if self.use_bola && ctx.buffer_ms < self.low_ms {
            self.use_bola = false;
        } else if !self.use_bola && ctx.buffer_ms > self.high_ms {
            self.use_bola = true;
        }
        if self.use_bola {
            self.bola.decide(ctx)
        } else {
            self.tput.decide(ctx)
        }
    }
    fn report_delay(&mut self, ms: f64) {
        self.bola.report_delay(ms);
        self.tput.report_delay(ms);
    }
    fn report_download(&mut self, ctx: &Ctx, d: &Download) {
        self.bola.report_download(ctx, d);
        self.tput.report_download(ctx, d);
    }
    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level: f64) -> Option<usize> {
        if self.use_bola {
            self.bola.check_abandon(ctx, p, level)
        } else {
            self.tput.check_abandon(ctx, p, level)
        }
    }
}
