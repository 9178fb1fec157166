//! Sabre's network and player model (MODELS.md A3–A4), exactly, plus the generic model's
//! startup rule. [`run_player`] is generic over [`Network`]; [`TraceNetwork`] is the trace.

use std::collections::VecDeque;

use super::{ModelKind, SessionConfig};
use crate::abr::{Abr, Ctx};
use crate::events::{Playback, SegmentEvent};
use crate::input::{Ladder, Period};
use crate::net::{AbandonFn, Download, Network, Progress, Request};

/// Progress-check granularity, bits.
pub const MIN_PROGRESS_BITS: f64 = 12000.0;
/// Progress-check granularity, ms.
pub const MIN_PROGRESS_MS: f64 = 50.0;

/// A looping piecewise-constant trace (Sabre's network model).
#[derive(Debug, Clone, Copy)]
pub struct TraceNetwork<'a> {
    periods: &'a [Period],
    k: usize,
    ttn: f64,
    clock: f64,
}

impl<'a> TraceNetwork<'a> {
    /// Starts at the beginning of period 0. `periods` must deliver some bits.
    pub fn new(periods: &'a [Period]) -> Self {
        TraceNetwork {
            periods,
            k: 0,
            ttn: periods[0].duration_ms,
            clock: 0.0,
        }
    }
    fn next_period(&mut self) {
        self.k += 1;
        if self.k == self.periods.len() {
            self.k = 0;
        }
        self.ttn = self.periods[self.k].duration_ms;
    }
    fn consume(&mut self, t: f64) {
        self.ttn -= t;
        self.clock += t;
    }
    fn skip_rest(&mut self) -> f64 {
        let t = self.ttn;
        self.clock += t;
        self.next_period();
        t
    }

    /// Idle `t` ms (A3.2).
    pub fn advance(&mut self, mut t: f64) {
        while t > self.ttn {
            t -= self.ttn;
            self.clock += self.ttn;
            self.next_period();
        }
        self.consume(t);
    }

    /// One request latency (A3.3); returns the time to first bit.
    pub fn latency_delay(&mut self) -> f64 {
        let mut units = 1.0;
        let mut total = 0.0;
        while units > 0.0 {
            let lat = self.periods[self.k].latency_ms;
            let t = units * lat;
            if t <= self.ttn {
                self.consume(t);
                total += t;
                units = 0.0;
            } else {
                total += self.ttn;
                self.clock += self.ttn;
                units -= self.ttn / lat;
                self.next_period();
            }
        }
        total
    }

    /// Transfer `size` bits without progress checks (A3.4); returns the time.
    pub fn transfer(&mut self, mut size: f64) -> f64 {
        let mut total = 0.0;
        while size > 0.0 {
            let b = self.periods[self.k].bandwidth_kbps;
            if size <= self.ttn * b {
                let t = size / b;
                self.consume(t);
                total += t;
                size = 0.0;
            } else {
                total += self.ttn;
                self.clock += self.ttn;
                size -= self.ttn * b;
                self.next_period();
            }
        }
        total
    }

    /// One progress step (A3.5): until both minimums are met or the download completes.
    pub fn progress_step(
        &mut self,
        mut remaining: f64,
        mut need_bits: f64,
        mut need_ms: f64,
    ) -> (f64, f64) {
        let (mut bits_total, mut t_total) = (0.0, 0.0);
        while remaining > 0.0 && (need_bits > 0.0 || need_ms > 0.0) {
            let b = self.periods[self.k].bandwidth_kbps;
            let (bits, t);
            if b > 0.0 {
                let want = need_bits.max(need_ms * b);
                let avail = self.ttn * b;
                if remaining <= want && remaining <= avail {
                    bits = remaining;
                    t = bits / b;
                    self.consume(t);
                } else if want <= avail {
                    bits = want;
                    t = bits / b;
                    self.consume(t);
                    need_bits = 0.0;
                    need_ms = 0.0;
                } else {
                    bits = avail;
                    t = self.skip_rest();
                }
            } else {
                bits = 0.0;
                if need_bits > 0.0 || need_ms > self.ttn {
                    t = self.skip_rest();
                } else {
                    t = need_ms;
                    self.consume(t);
                }
            }
            bits_total += bits;
            t_total += t;
            remaining -= bits;
            need_bits -= bits;
            need_ms -= t;
        }
        (bits_total, t_total)
    }
}

impl Network for TraceNetwork<'_> {
    fn idle(&mut self, ms: f64) {
        self.advance(ms);
    }

    fn download(&mut self, req: &Request, abandon: Option<&mut AbandonFn<'_>>) -> Download {
        let size = req.size_bits;
        let ttfb = self.latency_delay();
        let mut d = Download {
            index: req.index,
            quality: req.quality,
            size_bits: size,
            downloaded_bits: size,
            time_ms: ttfb,
            ttfb_ms: ttfb,
            abandon_to: None,
        };
        let Some(check) = abandon else {
            d.time_ms = ttfb + self.transfer(size);
            return d;
        };
        let mut elapsed = ttfb;
        let mut got = 0.0;
        let mut need_ms = MIN_PROGRESS_MS - elapsed;
        let mut need_bits = MIN_PROGRESS_BITS;
        while got < size && d.abandon_to.is_none() {
            let (bits, t) = self.progress_step(size - got, need_bits, need_ms);
            elapsed += t;
            got += bits;
            if got < size {
                let p = Progress {
                    index: req.index,
                    quality: req.quality,
                    size_bits: size,
                    downloaded_bits: got,
                    time_ms: elapsed,
                    ttfb_ms: ttfb,
                };
                d.abandon_to = check(&p);
                need_ms = MIN_PROGRESS_MS;
                need_bits = MIN_PROGRESS_BITS;
            }
        }
        d.downloaded_bits = got;
        d.time_ms = elapsed;
        d
    }

    fn now_ms(&self) -> f64 {
        self.clock
    }
}

/// Sabre's player buffer (A4.1): segment qualities, and `fcc` ms of the head already played.
struct Player {
    buffer: VecDeque<usize>,
    fcc: f64,
    d: f64,
    tpt: f64,
    rebuffer: f64,
    rebuffer_events: usize,
    started: bool,
    startup: f64,
}

impl Player {
    fn level(&self) -> f64 {
        self.d * self.buffer.len() as f64 - self.fcc
    }

    /// Advances the play clock by `t`; returns the stall time in this call.
    fn play(&mut self, mut t: f64) -> f64 {
        if !self.started {
            self.tpt += t;
            self.startup += t;
            return 0.0;
        }
        if self.buffer.is_empty() {
            self.rebuffer += t;
            self.tpt += t;
            return t;
        }
        if self.fcc > 0.0 {
            if t + self.fcc < self.d {
                self.fcc += t;
                self.tpt += t;
                return 0.0;
            }
            t -= self.d - self.fcc;
            self.tpt += self.d - self.fcc;
            self.buffer.pop_front();
            self.fcc = 0.0;
        }
        while t > 0.0 && !self.buffer.is_empty() {
            if t >= self.d {
                self.buffer.pop_front();
                self.tpt += self.d;
                t -= self.d;
            } else {
                self.fcc = t;
                self.tpt += t;
                t = 0.0;
            }
        }
        if t > 0.0 {
            self.rebuffer += t;
            self.tpt += t;
            self.rebuffer_events += 1;
            return t;
        }
        0.0
    }
}

/// Plays `ladder` over `net` with `abr` following Sabre's session loop (A4.3). With the generic
/// model, playback starts once `cfg.startup_segments` segments are buffered.
pub fn run_player<N: Network>(
    ladder: &Ladder,
    trace_name: &str,
    net: &mut N,
    abr: &mut dyn Abr,
    cfg: &SessionConfig,
) -> Playback {
    let d = ladder.segment_duration_ms;
    let n = cfg.segment_count(ladder);
    let top = ladder.levels() - 1;
    let bmax = cfg.buffer_max_ms;
    let startup_needed = if cfg.model == ModelKind::Generic {
        cfg.startup_segments.max(1)
    } else {
        1
    };
    let mut est = cfg.estimator.build(d);
    let mut pl = Player {
        buffer: VecDeque::with_capacity(16),
        fcc: 0.0,
        d,
        tpt: 0.0,
        rebuffer: 0.0,
        rebuffer_events: 0,
        started: false,
        startup: 0.0,
    };
    let mut events = Vec::with_capacity(n + 4);
    let quirks = cfg.model.quirks();
    let ctx_at =
        |index: usize, level: f64, last: usize, est: &dyn crate::estimator::Estimator| Ctx {
            ladder,
            quirks,
            index,
            segments: n,
            buffer_ms: level,
            buffer_max_ms: bmax,
            last_quality: last,
            throughput_kbps: est.throughput(),
            latency_ms: est.latency(),
        };

    // First segment: simple download, no ABR callbacks.
    let q0 = abr.first_quality(&ctx_at(0, 0.0, 0, est.as_ref())).min(top);
    let req = Request {
        index: 0,
        quality: q0,
        size_bits: ladder.sizes_bits[0][q0],
    };
    let request_ms = pl.tpt;
    let r = net.download(&req, None);
    pl.play(net.take_unaccounted_ms());
    pl.buffer.push_back(q0);
    let dl = r.time_ms - r.ttfb_ms;
    let sample = if dl > 0.0 { r.size_bits / dl } else { 0.0 };
    if dl > 0.0 {
        est.push(dl, sample, r.ttfb_ms);
    }
    pl.tpt += r.time_ms;
    pl.startup += r.time_ms;
    if startup_needed <= 1 || n == 1 {
        pl.started = true;
    }
    events.push(event(
        ladder,
        &r,
        request_ms,
        0.0,
        0.0,
        pl.level(),
        0.0,
        sample,
        est.throughput(),
    ));
    let mut last_q = q0;
    let mut next = 1;
    let mut stall = 0.0;

    while next < n {
        let mut idle = 0.0;
        let wait = pl.level() + d - bmax;
        if wait > 0.0 {
            if !pl.started {
                pl.started = true;
            }
            stall += pl.play(wait);
            net.idle(wait);
            abr.report_delay(wait);
            idle += wait;
        }
        let dec = abr.decide(&ctx_at(next, pl.level(), last_q, est.as_ref()));
        if abr.failure().is_some() {
            break;
        }
        let q = dec.quality.min(top);
        if dec.delay_ms > 0.0 {
            stall += pl.play(dec.delay_ms);
            net.idle(dec.delay_ms);
            idle += dec.delay_ms;
        }
        let level_req = pl.level();
        let request_ms = pl.tpt;
        let req = Request {
            index: next,
            quality: q,
            size_bits: ladder.sizes_bits[next][q],
        };
        let r = if cfg.abandonment {
            let actx = ctx_at(next, level_req, last_q, est.as_ref());
            let abr_ref = &mut *abr;
            let mut cb =
                |p: &Progress| abr_ref.check_abandon(&actx, p, (level_req - p.time_ms).max(0.0));
            net.download(&req, Some(&mut cb))
        } else {
            net.download(&req, None)
        };
        stall += pl.play(net.take_unaccounted_ms());
        stall += pl.play(r.time_ms);
        if r.abandon_to.is_none() {
            pl.buffer.push_back(q);
            next += 1;
            last_q = q;
        }
        abr.report_download(&ctx_at(next, pl.level(), last_q, est.as_ref()), &r);
        let dl = r.time_ms - r.ttfb_ms;
        let sample = if dl > 0.0 {
            r.downloaded_bits / dl
        } else {
            0.0
        };
        if r.abandon_to.is_none() && dl > 0.0 {
            est.push(dl, sample, r.ttfb_ms);
        }
        events.push(event(
            ladder,
            &r,
            request_ms,
            idle,
            level_req,
            pl.level(),
            stall,
            sample,
            est.throughput(),
        ));
        stall = 0.0;
        if !pl.started && pl.buffer.len() >= startup_needed {
            pl.started = true;
        }
    }
    pl.started = true;
    let rest = pl.level();
    pl.play(rest);
    Playback {
        trace: trace_name.to_string(),
        abr: String::new(),
        model: cfg.model,
        segment_ms: d,
        events,
        startup_ms: pl.startup,
        rebuffer_ms: pl.rebuffer,
        rebuffer_events: pl.rebuffer_events,
        total_play_ms: pl.tpt,
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    ladder: &Ladder,
    r: &Download,
    request_ms: f64,
    idle_ms: f64,
    before: f64,
    after: f64,
    rebuffer_ms: f64,
    sample: f64,
    estimate: Option<f64>,
) -> SegmentEvent {
    SegmentEvent {
        index: r.index,
        quality: r.quality,
        bitrate_kbps: ladder.bitrates_kbps[r.quality],
        size_bits: r.size_bits,
        downloaded_bits: r.downloaded_bits,
        request_ms,
        idle_ms,
        ttfb_ms: r.ttfb_ms,
        time_ms: r.time_ms,
        buffer_before_ms: before,
        buffer_after_ms: after,
        rebuffer_ms,
        throughput_kbps: sample,
        estimate_kbps: estimate.unwrap_or(0.0),
        abandoned: r.abandon_to.is_some(),
        abandon_to: r.abandon_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::fixed::Fixed;

    /// A link whose every download takes 1 s and leaves `extra_ms` the loop did not see (as a
    /// real player's audio running 1.5 s past its video would).
    struct SlowAudio {
        extra_ms: f64,
        pending: f64,
    }

    impl Network for SlowAudio {
        fn idle(&mut self, _ms: f64) {}
        fn download(&mut self, req: &Request, _abandon: Option<&mut AbandonFn<'_>>) -> Download {
            self.pending += self.extra_ms;
            Download {
                index: req.index,
                quality: req.quality,
                size_bits: req.size_bits,
                downloaded_bits: req.size_bits,
                time_ms: 1000.0,
                ttfb_ms: 0.0,
                abandon_to: None,
            }
        }
        fn now_ms(&self) -> f64 {
            0.0
        }
        fn take_unaccounted_ms(&mut self) -> f64 {
            std::mem::take(&mut self.pending)
        }
    }

    fn ladder() -> Ladder {
        Ladder {
            name: "three".into(),
            bitrates_kbps: vec![1000.0],
            segment_duration_ms: 2000.0,
            sizes_bits: vec![vec![2_000_000.0]; 3],
        }
    }

    /// By hand, 2 s segments, 1 s downloads: segment 0 arrives after 1.5 s unaccounted + 1 s
    /// → startup 2.5 s; segments 1 and 2 each need 2.5 s against 2 s of buffer → 0.5 s stall
    /// each. Without unaccounted time: startup 1 s, no stall.
    #[test]
    fn unaccounted_network_time_is_played_out_as_startup_and_stall() {
        let cfg = SessionConfig::for_model(ModelKind::Generic);
        for (extra, startup, rebuffer, events) in
            [(1500.0, 2500.0, 1000.0, 2), (0.0, 1000.0, 0.0, 0)]
        {
            let mut net = SlowAudio {
                extra_ms: extra,
                pending: 0.0,
            };
            let p = run_player(&ladder(), "t", &mut net, &mut Fixed::new(0), &cfg);
            assert_eq!(p.startup_ms, startup, "extra {extra}");
            assert_eq!(p.rebuffer_ms, rebuffer, "extra {extra}");
            assert_eq!(p.rebuffer_events, events, "extra {extra}");
        }
    }
}
