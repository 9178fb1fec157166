//! Throughput (and latency) estimators. The session pushes one sample per completed download:
//! `push(dt_ms, throughput_kbps, latency_ms)`; the ABR reads the current estimates.

/// A throughput/latency estimator.
pub trait Estimator: Send {
    /// Adds a sample: download time (ms, without latency), throughput (kbps) and latency (ms).
    fn push(&mut self, dt_ms: f64, tput_kbps: f64, lat_ms: f64);
    /// Current throughput estimate (kbps), `None` before the first sample.
    fn throughput(&self) -> Option<f64>;
    /// Current latency estimate (ms), `None` before the first sample.
    fn latency(&self) -> Option<f64>;
}

/// Which estimator to build.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimatorKind {
    /// Sabre's EWMA: throughput time-weighted with these half-lives (s), latency per sample.
    Ewma(Vec<f64>),
    /// Sabre's sliding window(s) (samples); min of throughput means, max of latency means.
    Sliding(Vec<usize>),
    /// Harmonic mean of the last `n` throughput samples (mean latency).
    Harmonic(usize),
}

impl Default for EstimatorKind {
    fn default() -> Self {
        EstimatorKind::Ewma(vec![3.0, 8.0])
    }
}

impl EstimatorKind {
    /// Builds the estimator; `segment_ms` is needed by the EWMA's per-sample latency half-life.
    pub fn build(&self, segment_ms: f64) -> Box<dyn Estimator> {
        match self {
            EstimatorKind::Ewma(h) => Box::new(Ewma::new(h, segment_ms)),
            EstimatorKind::Sliding(w) => Box::new(Sliding::new(w.clone())),
            EstimatorKind::Harmonic(n) => Box::new(HarmonicMean::new(*n)),
        }
    }
}

/// Sabre's EWMA (MODELS.md A5.1), bias-corrected, min over half-lives for throughput and max
/// for latency.
#[derive(Debug, Clone)]
pub struct Ewma {
    h_ms: Vec<f64>,
    hl_seg: Vec<f64>,
    t: Vec<f64>,
    l: Vec<f64>,
    wt: f64,
    wl: f64,
    tput: Option<f64>,
    lat: Option<f64>,
}

impl Ewma {
    /// Half-lives in seconds; `segment_ms` converts them to segments for latency.
    pub fn new(half_lives_s: &[f64], segment_ms: f64) -> Self {
        let h_ms: Vec<f64> = half_lives_s.iter().map(|h| h * 1000.0).collect();
        let hl_seg = h_ms.iter().map(|h| h / segment_ms).collect();
        let n = h_ms.len();
        Ewma {
            h_ms,
            hl_seg,
            t: vec![0.0; n],
            l: vec![0.0; n],
            wt: 0.0,
            wl: 0.0,
            tput: None,
            lat: None,
        }
    }
}

impl Estimator for Ewma {
    fn push(&mut self, dt: f64, x: f64, l: f64) {
        for i in 0..self.h_ms.len() {
            let a = 0.5f64.powf(dt / self.h_ms[i]);
            self.t[i] = a * self.t[i] + (1.0 - a) * x;
            let a = 0.5f64.powf(1.0 / self.hl_seg[i]);
            self.l[i] = a * self.l[i] + (1.0 - a) * l;
        }
        self.wt += dt;
        self.wl += 1.0;
        let mut tp: Option<f64> = None;
        let mut lt: Option<f64> = None;
        for i in 0..self.h_ms.len() {
            let zt = 1.0 - 0.5f64.powf(self.wt / self.h_ms[i]);
            let v = self.t[i] / zt;
            tp = Some(tp.map_or(v, |c| if v < c { v } else { c }));
            let zl = 1.0 - 0.5f64.powf(self.wl / self.hl_seg[i]);
            let v = self.l[i] / zl;
            lt = Some(lt.map_or(v, |c| if v > c { v } else { c }));
        }
        self.tput = tp;
        self.lat = lt;
    }
    fn throughput(&self) -> Option<f64> {
        self.tput
    }
    fn latency(&self) -> Option<f64> {
        self.lat
    }
}

/// Sabre's sliding window (A5.2): last 20 samples kept; mean of the last `w` per window.
#[derive(Debug, Clone)]
pub struct Sliding {
    windows: Vec<usize>,
    t: Vec<f64>,
    l: Vec<f64>,
}

impl Sliding {
    /// Window sizes in samples.
    pub fn new(windows: Vec<usize>) -> Self {
        Sliding {
            windows,
            t: Vec::new(),
            l: Vec::new(),
        }
    }
    fn mean_last(v: &[f64], w: usize) -> f64 {
        let s = &v[v.len() - w.min(v.len())..];
        s.iter().sum::<f64>() / s.len() as f64
    }
}

impl Estimator for Sliding {
    fn push(&mut self, _dt: f64, x: f64, l: f64) {
        self.t.push(x);
        self.l.push(l);
        if self.t.len() > 20 {
            self.t.remove(0);
            self.l.remove(0);
        }
    }
    fn throughput(&self) -> Option<f64> {
        if self.t.is_empty() {
            return None;
        }
        self.windows
            .iter()
            .map(|&w| Self::mean_last(&self.t, w))
            .reduce(f64::min)
    }
    fn latency(&self) -> Option<f64> {
        if self.l.is_empty() {
            return None;
        }
        self.windows
            .iter()
            .map(|&w| Self::mean_last(&self.l, w))
            .reduce(f64::max)
    }
}

/// Harmonic mean of the last `n` throughput samples; arithmetic mean latency over the same.
#[derive(Debug, Clone)]
pub struct HarmonicMean {
    n: usize,
    t: Vec<f64>,
    l: Vec<f64>,
}

impl HarmonicMean {
    /// Window of `n` samples.
    pub fn new(n: usize) -> Self {
        HarmonicMean {
            n: n.max(1),
            t: Vec::new(),
            l: Vec::new(),
        }
    }
}

/// `1 / mean(1/v)`, summed oldest first (Pensieve's evaluation order).
pub fn harmonic_mean(v: &[f64]) -> f64 {
    let s: f64 = v.iter().map(|x| 1.0 / x).sum();
    1.0 / (s / v.len() as f64)
}

impl Estimator for HarmonicMean {
    fn push(&mut self, _dt: f64, x: f64, l: f64) {
        self.t.push(x);
        self.l.push(l);
        if self.t.len() > self.n {
            self.t.remove(0);
            self.l.remove(0);
        }
    }
    fn throughput(&self) -> Option<f64> {
        (!self.t.is_empty()).then(|| harmonic_mean(&self.t))
    }
    fn latency(&self) -> Option<f64> {
        (!self.l.is_empty()).then(|| self.l.iter().sum::<f64>() / self.l.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_single_push_equals_sample() {
        let mut e = Ewma::new(&[3.0, 8.0], 3000.0);
        e.push(1234.0, 5000.0, 75.0);
        assert!((e.throughput().unwrap() - 5000.0).abs() < 1e-9);
        assert!((e.latency().unwrap() - 75.0).abs() < 1e-9);
    }

    #[test]
    fn sliding_and_harmonic() {
        let mut s = Sliding::new(vec![3]);
        for x in [1.0, 2.0, 3.0, 4.0] {
            s.push(1.0, x, x);
        }
        assert_eq!(s.throughput(), Some(3.0));
        let mut h = HarmonicMean::new(2);
        h.push(1.0, 1.0, 0.0);
        h.push(1.0, 3.0, 0.0);
        h.push(1.0, 1.0, 0.0);
        assert!((h.throughput().unwrap() - 1.5).abs() < 1e-12);
    }
}
