//! Per-playback metrics: bitrates, startup, rebuffering, switches, QoE_lin / QoE_log / QoE_hd
//! (MODELS.md part C), bytes downloaded and wasted.

use crate::events::Playback;
use crate::input::PENSIEVE_BITRATES_KBPS;

/// Scoring options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QoeOptions {
    /// Score chunks 2..N only, as Pensieve's `plot_results.py` does (chunk 1 carries startup).
    pub skip_first: bool,
    /// Rebuffer weight of QoE_log (per second).
    pub log_rebuf_penalty: f64,
}

impl Default for QoeOptions {
    fn default() -> Self {
        QoeOptions {
            skip_first: false,
            log_rebuf_penalty: 4.3,
        }
    }
}

/// QoE_hd map for the Pensieve ladder (300→1, 750→2, 1200→3, 1850→12, 2850→15, 4300→20).
pub const HD_REWARD: [f64; 6] = [1.0, 2.0, 3.0, 12.0, 15.0, 20.0];

/// Metrics of one playback.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Trace name.
    pub trace: String,
    /// Algorithm.
    pub abr: String,
    /// Segments played.
    pub segments: usize,
    /// Mean bitrate over segments, kbps.
    pub mean_bitrate_kbps: f64,
    /// Σ bitrate × D / session time (Sabre's "time average played bitrate"), kbps.
    pub time_avg_bitrate_kbps: f64,
    /// Startup delay, s.
    pub startup_s: f64,
    /// Stall time after startup, s.
    pub rebuffer_s: f64,
    /// Stall events after startup.
    pub rebuffer_count: usize,
    /// Stall time / session time.
    pub rebuffer_ratio: f64,
    /// Quality switches between consecutive segments.
    pub switches: usize,
    /// Mean |Δbitrate| per switch, kbps (0 without switches).
    pub switch_magnitude_kbps: f64,
    /// Σ bitrate Mbps − 4.3·Σ rebuffer s − Σ|Δbitrate| Mbps.
    pub qoe_lin: f64,
    /// Σ ln(R/R_min) − μ·Σ rebuffer s − Σ|Δ ln R|.
    pub qoe_log: f64,
    /// Σ HD(R) − 8·Σ rebuffer s − Σ|ΔHD| (Pensieve ladder only).
    pub qoe_hd: Option<f64>,
    /// Bytes received (including abandoned attempts).
    pub bytes_downloaded: f64,
    /// Bytes of abandoned attempts.
    pub bytes_wasted: f64,
    /// Abandoned attempts.
    pub abandoned: usize,
}

/// Each scored chunk's QoE_lin term, in play order: bitrate Mbps − 4.3·rebuffer s −
/// |Δbitrate| Mbps (the first chunk has no switch term and is left out with
/// [`QoeOptions::skip_first`]). [`compute`]'s `qoe_lin` is their sum, in this order.
pub fn chunk_qoe_lin(p: &Playback, o: &QoeOptions) -> Vec<f64> {
    let chunks: Vec<_> = p.chunks().collect();
    let mut out = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        if i == 0 && o.skip_first {
            continue;
        }
        let prev = if i == 0 { c } else { chunks[i - 1] };
        let dr = (c.bitrate_kbps - prev.bitrate_kbps).abs();
        let rebuf_s = c.rebuffer_ms / 1000.0;
        out.push(c.bitrate_kbps / 1000.0 - 4.3 * rebuf_s - 1.0 * dr / 1000.0);
    }
    out
}

/// Computes the metrics of `p` for a ladder with `bitrates` (kbps).
pub fn compute(p: &Playback, bitrates: &[f64], o: &QoeOptions) -> Metrics {
    let chunks: Vec<_> = p.chunks().collect();
    let n = chunks.len();
    let r_min = bitrates[0];
    let hd = (bitrates == PENSIEVE_BITRATES_KBPS).then_some(HD_REWARD);
    let lin = chunk_qoe_lin(p, o).iter().fold(0.0, |a, x| a + x);
    let (mut log, mut hdq) = (0.0, 0.0);
    let (mut switches, mut sw_mag) = (0, 0.0);
    for (i, c) in chunks.iter().enumerate() {
        let r = c.bitrate_kbps;
        let rebuf_s = c.rebuffer_ms / 1000.0;
        let prev = if i == 0 { c } else { chunks[i - 1] };
        let dr = (r - prev.bitrate_kbps).abs();
        if i > 0 && c.quality != prev.quality {
            switches += 1;
            sw_mag += dr;
        }
        if i == 0 && o.skip_first {
            continue;
        }
        log += (r / r_min).ln()
            - o.log_rebuf_penalty * rebuf_s
            - ((r / r_min).ln() - (prev.bitrate_kbps / r_min).ln()).abs();
        if let Some(h) = hd {
            hdq += h[c.quality] - 8.0 * rebuf_s - (h[c.quality] - h[prev.quality]).abs();
        }
    }
    let sum_rate: f64 = chunks.iter().map(|c| c.bitrate_kbps).sum();
    let downloaded: f64 = p.events.iter().map(|e| e.downloaded_bits).sum::<f64>() / 8.0;
    let wasted: f64 = p
        .events
        .iter()
        .filter(|e| e.abandoned)
        .map(|e| e.downloaded_bits)
        .sum::<f64>()
        / 8.0;
    Metrics {
        trace: p.trace.clone(),
        abr: p.abr.clone(),
        segments: n,
        mean_bitrate_kbps: if n > 0 { sum_rate / n as f64 } else { 0.0 },
        time_avg_bitrate_kbps: if p.total_play_ms > 0.0 {
            sum_rate * p.segment_ms / p.total_play_ms
        } else {
            0.0
        },
        startup_s: p.startup_ms / 1000.0,
        rebuffer_s: p.rebuffer_ms / 1000.0,
        rebuffer_count: p.rebuffer_events,
        rebuffer_ratio: if p.total_play_ms > 0.0 {
            p.rebuffer_ms / p.total_play_ms
        } else {
            0.0
        },
        switches,
        switch_magnitude_kbps: if switches > 0 {
            sw_mag / switches as f64
        } else {
            0.0
        },
        qoe_lin: lin,
        qoe_log: log,
        qoe_hd: hd.map(|_| hdq),
        bytes_downloaded: downloaded,
        bytes_wasted: wasted,
        abandoned: p.events.iter().filter(|e| e.abandoned).count(),
    }
}
