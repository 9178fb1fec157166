//! The learned ABR's view of the player: a fixed-length feature vector built from the same
//! state the built-in algorithms see ([`Ctx`]) plus the recent downloads, in the spirit of
//! Pensieve's state (last bitrate, buffer, past throughputs and download times, next chunk
//! sizes, chunks left) with two additions that make a small network learn faster: the harmonic
//! mean of the last five throughputs and, per quality, the time the next segment would take at
//! that rate relative to the segment duration.
//!
//! Every quantity is normalised by the ladder (bitrates by the top bitrate, times by the
//! segment duration or 10 s), so the values stay near `[0, 1]` whatever the ladder's scale.

use std::collections::VecDeque;

use crate::abr::Ctx;
use crate::net::Download;

/// Downloads remembered.
pub const HISTORY: usize = 8;
/// Downloads in the harmonic mean.
pub const HARMONIC: usize = 5;
/// Name of this feature set, written into policy files (a policy is refused with another).
pub const FEATURE_SET: &str = "v1";

/// Number of features for a ladder of `levels` qualities.
pub fn count(levels: usize) -> usize {
    2 + 2 * HISTORY + 2 * levels + 2
}

/// Recent downloads, most recent first.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Throughput samples, kbps.
    throughput_kbps: VecDeque<f64>,
    /// Download times, ms.
    time_ms: VecDeque<f64>,
}

impl History {
    /// Records a finished download (abandoned attempts count with the bits they received).
    pub fn push(&mut self, d: &Download) {
        if d.time_ms <= 0.0 || d.downloaded_bits <= 0.0 {
            return;
        }
        self.throughput_kbps
            .push_front(d.downloaded_bits / d.time_ms);
        self.time_ms.push_front(d.time_ms);
        self.throughput_kbps.truncate(HISTORY);
        self.time_ms.truncate(HISTORY);
    }
    /// Forgets everything (a new session).
    pub fn clear(&mut self) {
        self.throughput_kbps.clear();
        self.time_ms.clear();
    }
    /// Harmonic mean of the last [`HARMONIC`] throughputs, kbps (`None` before any download).
    pub fn harmonic_kbps(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .throughput_kbps
            .iter()
            .take(HARMONIC)
            .copied()
            .collect();
        (!v.is_empty()).then(|| v.len() as f64 / v.iter().map(|x| 1.0 / x).sum::<f64>())
    }
}

/// Writes the features of the decision for segment `ctx.index` into `out` (cleared first).
pub fn extract(ctx: &Ctx, h: &History, out: &mut Vec<f32>) {
    out.clear();
    let b = &ctx.ladder.bitrates_kbps;
    let top = b[b.len() - 1];
    let seg_ms = ctx.seg_ms();
    out.push((b[ctx.last_quality.min(b.len() - 1)] / top) as f32);
    out.push((ctx.buffer_ms / 10_000.0) as f32);
    for i in 0..HISTORY {
        out.push(h.throughput_kbps.get(i).map_or(0.0, |x| x / top) as f32);
    }
    for i in 0..HISTORY {
        out.push(h.time_ms.get(i).map_or(0.0, |x| x / 10_000.0) as f32);
    }
    let next = ctx.index.min(ctx.ladder.segments() - 1);
    let sizes = &ctx.ladder.sizes_bits[next];
    for s in sizes {
        out.push((s / (seg_ms * top)) as f32);
    }
    let hm = h.harmonic_kbps();
    for s in sizes {
        // Time to fetch at the harmonic-mean rate, in segment durations (capped: before any
        // download, or on a near-dead link, "very long" is all a policy needs to know).
        let t = hm.map_or(5.0, |r| (s / r / seg_ms).min(5.0));
        out.push(t as f32);
    }
    out.push(hm.map_or(0.0, |r| r / top) as f32);
    let left = ctx.segments.saturating_sub(ctx.index) as f64;
    out.push((left / ctx.segments.max(1) as f64) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Ladder;
    use crate::model_kind::ModelKind;

    fn ladder() -> Ladder {
        Ladder {
            name: "t".into(),
            bitrates_kbps: vec![300.0, 1200.0, 4300.0],
            segment_duration_ms: 4000.0,
            sizes_bits: vec![vec![1.2e6, 4.8e6, 17.2e6]; 10],
        }
    }

    #[test]
    fn features_have_the_documented_length_and_scale() {
        let l = ladder();
        let mut h = History::default();
        for k in 0..12 {
            h.push(&Download {
                index: k,
                quality: 1,
                size_bits: 4.8e6,
                downloaded_bits: 4.8e6,
                time_ms: 2000.0,
                ttfb_ms: 80.0,
                abandon_to: None,
            });
        }
        let ctx = Ctx {
            ladder: &l,
            quirks: ModelKind::Pensieve.quirks(),
            index: 4,
            segments: 10,
            buffer_ms: 20_000.0,
            buffer_max_ms: 60_000.0,
            last_quality: 1,
            throughput_kbps: None,
            latency_ms: None,
        };
        let mut f = Vec::new();
        extract(&ctx, &h, &mut f);
        assert_eq!(f.len(), count(3));
        assert!((f[0] - 1200.0 / 4300.0).abs() < 1e-6);
        assert!((f[1] - 2.0).abs() < 1e-6);
        // 2400 kbps samples over a 4300 kbps top.
        assert!((f[2] - 2400.0 / 4300.0).abs() < 1e-6);
        // The top rung at 2400 kbps takes 17.2e6/2400 ms = 1.79 segment durations.
        let t_top = f[2 + 2 * HISTORY + 3 + 2];
        assert!((t_top - (17.2e6 / 2400.0 / 4000.0) as f32).abs() < 1e-5);
        assert!((f[f.len() - 1] - 0.6).abs() < 1e-6);
        assert!(f.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn history_keeps_the_latest_and_skips_empty_downloads() {
        let mut h = History::default();
        let d = |t: f64, bits: f64| Download {
            index: 0,
            quality: 0,
            size_bits: bits,
            downloaded_bits: bits,
            time_ms: t,
            ttfb_ms: 0.0,
            abandon_to: None,
        };
        h.push(&d(0.0, 1e6));
        assert_eq!(h.harmonic_kbps(), None);
        h.push(&d(1000.0, 1e6));
        h.push(&d(1000.0, 3e6));
        // Harmonic mean of 1000 and 3000 kbps.
        assert!((h.harmonic_kbps().unwrap() - 1500.0).abs() < 1e-9);
    }
}
