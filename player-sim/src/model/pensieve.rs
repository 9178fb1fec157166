//! Pensieve's test environment (`test/fixed_env.py`, MODELS.md B3–B5), exactly.
//!
//! The environment plays one trace per video; the driver ([`crate::study::run`]) plays the traces
//! in order and, like `test/mpc.py`, keeps robustMPC's error history from video to video
//! ([`crate::study::StudyConfig::carry_state`]), so that algorithm's scores depend on the trace
//! order. `mpc.py` plays the unsorted `os.listdir` order of its folder (MODELS.md B2.1), which
//! differs between filesystems; we play sorted names or an explicit list
//! ([`crate::trace_order`]; the reference run's order gives 40.706 on `hsdpa_test`, sorted
//! names 41.193).

use super::SessionConfig;
use crate::abr::{Abr, Ctx};
use crate::events::{Playback, SegmentEvent};
use crate::input::Ladder;
use crate::net::Download;

/// Chunks per video.
pub const TOTAL_CHUNKS: usize = 48;
/// Buffer threshold (ms) above which the player sleeps.
pub const BUFFER_THRESH_MS: f64 = 60000.0;
/// Sleep quantum (ms).
pub const DRAIN_SLEEP_MS: f64 = 500.0;
/// Fraction of the trace throughput carrying payload.
pub const PAYLOAD: f64 = 0.95;
/// RTT added per chunk (ms), outside the trace clock.
pub const RTT_MS: f64 = 80.0;
/// Quality of the first chunk.
pub const DEFAULT_QUALITY: usize = 1;

/// Position in a cooked trace: the current interval is `(last, t[p]]` at `bw[p]`.
#[derive(Debug, Clone, Copy)]
pub struct TracePos<'a> {
    t: &'a [f64],
    bw: &'a [f64],
    p: usize,
    last: f64,
}

impl<'a> TracePos<'a> {
    /// Test-environment start: `p = 1`, `last = t[0]`.
    pub fn new(t: &'a [f64], bw: &'a [f64]) -> Self {
        TracePos {
            t,
            bw,
            p: 1,
            last: t[0],
        }
    }
    fn step(&mut self) {
        self.last = self.t[self.p];
        self.p += 1;
        if self.p >= self.bw.len() {
            self.p = 1;
            self.last = 0.0;
        }
    }
    /// Seconds to deliver `size` bytes (B3.2), without the RTT.
    pub fn transfer_s(&mut self, size: f64) -> f64 {
        let mut sent = 0.0;
        let mut secs = 0.0;
        loop {
            let rate = (self.bw[self.p] * 1000000.0) / 8.0;
            let dur = self.t[self.p] - self.last;
            let pay = (rate * dur) * PAYLOAD;
            if sent + pay > size {
                let frac = ((size - sent) / rate) / PAYLOAD;
                secs += frac;
                self.last += frac;
                return secs;
            }
            sent += pay;
            secs += dur;
            self.step();
        }
    }
    /// Sleeps `ms` (B4); returns the "reported" sleep (only the part in the final interval).
    pub fn sleep(&mut self, mut ms: f64) -> f64 {
        loop {
            let dur = self.t[self.p] - self.last;
            if dur > ms / 1000.0 {
                self.last += ms / 1000.0;
                return ms;
            }
            ms -= dur * 1000.0;
            self.step();
        }
    }
}

/// Result of one chunk in the environment.
#[derive(Debug, Clone, Copy)]
pub struct ChunkStep {
    /// Delay incl. RTT, ms.
    pub delay_ms: f64,
    /// Full sleep, ms.
    pub sleep_ms: f64,
    /// Rebuffer, ms.
    pub rebuf_ms: f64,
}

impl ChunkStep {
    /// The download this step was, as the ABR is told of it (whole, after one RTT).
    pub fn download(&self, index: usize, quality: usize, size_bits: f64) -> Download {
        Download {
            index,
            quality,
            size_bits,
            downloaded_bits: size_bits,
            time_ms: self.delay_ms,
            ttfb_ms: RTT_MS,
            abandon_to: None,
        }
    }
}

/// `get_video_chunk` for one chunk of `size_bytes` with buffer `buf` (ms), updating both.
pub fn chunk_step(
    pos: &mut TracePos,
    buf: &mut f64,
    size_bytes: f64,
    chunk_ms: f64,
    thresh: f64,
) -> ChunkStep {
    let delay_ms = pos.transfer_s(size_bytes) * 1000.0 + RTT_MS;
    let rebuf_ms = (delay_ms - *buf).max(0.0);
    *buf = (*buf - delay_ms).max(0.0);
    *buf += chunk_ms;
    let mut sleep_ms = 0.0;
    if *buf > thresh {
        sleep_ms = ((*buf - thresh) / DRAIN_SLEEP_MS).ceil() * DRAIN_SLEEP_MS;
        *buf -= sleep_ms;
        pos.sleep(sleep_ms);
    }
    ChunkStep {
        delay_ms,
        sleep_ms,
        rebuf_ms,
    }
}

/// One video in Pensieve's test environment, driven as `bb.py`/`mpc.py` drive it: chunk 1 at
/// quality 1, a decision after every chunk (including the discarded one after the last).
pub fn run(
    ladder: &Ladder,
    trace_name: &str,
    t: &[f64],
    bw: &[f64],
    abr: &mut dyn Abr,
    cfg: &SessionConfig,
) -> Playback {
    let n = cfg.segment_count(ladder);
    let d = ladder.segment_duration_ms;
    let top = ladder.levels() - 1;
    let mut est = cfg.estimator.build(d);
    let mut pos = TracePos::new(t, bw);
    let mut buf = 0.0;
    let mut q = DEFAULT_QUALITY.min(top);
    let mut clock = 0.0;
    let mut events = Vec::with_capacity(n);
    let quirks = cfg.model.quirks();
    let (mut startup, mut rebuffer, mut stalls) = (0.0, 0.0, 0);
    for i in 0..n {
        let size_bits = ladder.sizes_bits[i][q];
        let before = buf;
        let s = chunk_step(&mut pos, &mut buf, size_bits / 8.0, d, cfg.buffer_max_ms);
        if i == 0 {
            startup = s.rebuf_ms;
        } else if s.rebuf_ms > 0.0 {
            rebuffer += s.rebuf_ms;
            stalls += 1;
        }
        let sample = size_bits / s.delay_ms;
        est.push(s.delay_ms, sample, 0.0);
        let dl = s.download(i, q, size_bits);
        let ctx = Ctx {
            ladder,
            quirks,
            index: i + 1,
            segments: n,
            buffer_ms: buf,
            buffer_max_ms: cfg.buffer_max_ms,
            last_quality: q,
            throughput_kbps: est.throughput(),
            latency_ms: est.latency(),
        };
        abr.report_download(&ctx, &dl);
        events.push(SegmentEvent {
            index: i,
            quality: q,
            bitrate_kbps: ladder.bitrates_kbps[q],
            size_bits,
            downloaded_bits: size_bits,
            request_ms: clock,
            idle_ms: s.sleep_ms,
            ttfb_ms: RTT_MS,
            time_ms: s.delay_ms,
            buffer_before_ms: before,
            buffer_after_ms: buf,
            rebuffer_ms: s.rebuf_ms,
            throughput_kbps: sample,
            estimate_kbps: est.throughput().unwrap_or(0.0),
            abandoned: false,
            abandon_to: None,
        });
        clock += s.delay_ms + s.sleep_ms;
        q = abr.decide(&ctx).quality.min(top);
        if abr.failure().is_some() {
            break;
        }
    }
    Playback {
        trace: trace_name.to_string(),
        abr: String::new(),
        model: cfg.model,
        segment_ms: d,
        events,
        startup_ms: startup,
        rebuffer_ms: rebuffer,
        rebuffer_events: stalls,
        total_play_ms: startup + rebuffer + n as f64 * d,
    }
}
