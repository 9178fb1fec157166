//! `[closed_loop]` of the topology file: the settings of closed-loop steering
//! ([`crate::closed_loop`], which re-exports them), kept with the rest of the file's format so
//! that reading the topology does not depend on the steering logic.

use serde::{Deserialize, Serialize};

/// `[closed_loop] mode`: how edges are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Distance (or RTT) only, health and bounded load: the ranking of [`crate::choice`].
    #[default]
    Distance,
    /// Distance corrected by live load and CMCD QoE, with hysteresis.
    ClosedLoop,
}

/// `[closed_loop]` settings of the topology file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClosedLoopConfig {
    /// `distance` or `closed-loop`.
    pub mode: Mode,
    /// How often every edge's `/metrics` is scraped (both modes: `/debug/route` shows the
    /// figures either way).
    pub scrape_ms: u64,
    /// Path scraped on every edge.
    pub metrics_path: String,
    /// EWMA weight of a new sample of the request and byte rates (0..=1).
    pub ewma_alpha: f64,
    /// Window of the starvation rate, ms.
    pub window_ms: u64,
    /// CMCD requests an edge must have had in the window for its starvation rate to count.
    pub min_cmcd_requests: u64,
    /// Starvation rate (requests with `bs` / requests with CMCD) from which an edge is starving.
    pub starving_rate: f64,
    /// An edge whose median `mtp` is below this fraction of the best other edge's is slow.
    pub slow_fraction: f64,
    /// Smoothed requests/s per unit of `capacity` from which an edge is overloaded.
    pub overload_rps: f64,
    /// Penalty of a starving edge, in score units (km, or ms for the latency policy).
    pub starving_penalty: f64,
    /// Penalty of a slow edge, in score units.
    pub slow_penalty: f64,
    /// Penalty of an overloaded edge, in score units.
    pub overloaded_penalty: f64,
    /// Added to the cost of every edge but the distance choice (score units), so that a
    /// title returns to its home edge once that has recovered. Above `margin`, or titles
    /// never return.
    pub home_bonus: f64,
    /// A challenger must be cheaper than the held edge by more than this (score units)...
    pub margin: f64,
    /// ...continuously for this long before the choice moves, ms.
    pub hold_ms: u64,
    /// An impairment keeps counting this long after it was last seen, ms.
    pub cooldown_ms: u64,
    /// Client/asset pairs remembered for hysteresis (the oldest are forgotten beyond it).
    pub max_pairs: usize,
}

impl Default for ClosedLoopConfig {
    fn default() -> Self {
        ClosedLoopConfig {
            mode: Mode::Distance,
            scrape_ms: 1000,
            metrics_path: "/metrics".into(),
            ewma_alpha: 0.3,
            window_ms: 10_000,
            min_cmcd_requests: 10,
            starving_rate: 0.05,
            slow_fraction: 0.5,
            overload_rps: 1000.0,
            starving_penalty: 2000.0,
            slow_penalty: 1000.0,
            overloaded_penalty: 1000.0,
            home_bonus: 200.0,
            margin: 100.0,
            hold_ms: 3000,
            cooldown_ms: 30_000,
            max_pairs: 100_000,
        }
    }
}

impl ClosedLoopConfig {
    /// Checks the ranges; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if self.scrape_ms == 0 || self.window_ms == 0 {
            return Err("closed_loop: scrape_ms and window_ms must be > 0".into());
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha <= 1.0) {
            return Err("closed_loop: ewma_alpha must be in (0, 1]".into());
        }
        if !unit(self.starving_rate) || !unit(self.slow_fraction) {
            return Err("closed_loop: starving_rate and slow_fraction must be in [0, 1]".into());
        }
        let finite_pos = [
            self.overload_rps,
            self.starving_penalty,
            self.slow_penalty,
            self.overloaded_penalty,
            self.home_bonus,
            self.margin,
        ];
        if !finite_pos.iter().all(|v| v.is_finite() && *v >= 0.0) {
            return Err(
                "closed_loop: factors, penalties and margin must be finite and >= 0".into(),
            );
        }
        if self.max_pairs == 0 {
            return Err("closed_loop: max_pairs must be > 0".into());
        }
        Ok(())
    }
}
