//! Live figures of every edge, scraped from its own `/metrics` every `[closed_loop]
//! scrape_ms` (both modes; only `closed-loop` routes on them): request and byte rates
//! (EWMA-smoothed), open connections, the mean time to response head, and the CMCD
//! aggregates the edge keeps of what its players report (issue 17: requests with CMCD,
//! with buffer starvation `bs`, distinct sessions, median `mtp`).
//!
//! Names come from [`serve::wire::metric_names::edge`]; the exposition is read with
//! [`serve::prom`]. A metric the edge does not export is *unknown* (`None`), never zero;
//! all figures become unknown when the last good scrape is older than three intervals.
//! Counter resets (an edge restarted) drop the interval instead of producing negative rates.
//!
//! Like health, figures survive topology reloads ([`LiveRegistry`] keys them by edge id
//! and URL).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serve::prom::Exposition;
use serve::wire::metric_names::edge as m;

use crate::closed_loop::{ClosedLoopConfig, Impairment, LiveFigures};
use crate::Shared;

/// Counter values of one scrape.
#[derive(Debug, Clone, Copy)]
struct Counters {
    at_ms: u64,
    requests: Option<f64>,
    sent_bytes: Option<f64>,
    duration_sum: Option<f64>,
    duration_count: Option<f64>,
    cmcd: Option<f64>,
    starving: Option<f64>,
}

/// What is known of one edge.
#[derive(Debug, Default)]
pub struct LiveState {
    last: Option<Counters>,
    rps: Option<f64>,
    bps: Option<f64>,
    latency_ms: Option<f64>,
    open: Option<f64>,
    sessions: Option<f64>,
    mtp_kbps: Option<f64>,
    /// `(at_ms, CMCD requests, of which starving)` per scrape interval, oldest first.
    window: VecDeque<(u64, f64, f64)>,
    cmcd_known: bool,
    last_ok_ms: Option<u64>,
    /// When each impairment was last seen by closed-loop ranking (ms).
    impaired_at: Vec<(Impairment, u64)>,
    /// The last scrape error (empty after a good scrape).
    pub last_error: String,
}

fn present(e: &Exposition, name: &str) -> Option<f64> {
    e.matching(name, &[])
        .next()
        .is_some()
        .then(|| e.sum(name, &[]))
}

fn delta(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (now, before) {
        (Some(n), Some(b)) if n >= b => Some(n - b),
        _ => None,
    }
}

impl LiveState {
    /// Takes in one scrape made at `at_ms`.
    pub fn update(&mut self, e: &Exposition, at_ms: u64, cfg: &ClosedLoopConfig) {
        let c = Counters {
            at_ms,
            requests: present(e, m::REQUESTS_TOTAL_NAME),
            sent_bytes: present(e, m::SENT_BYTES_TOTAL_NAME),
            duration_sum: present(e, &format!("{}_sum", m::REQUEST_DURATION_SECONDS_NAME)),
            duration_count: present(e, &format!("{}_count", m::REQUEST_DURATION_SECONDS_NAME)),
            cmcd: present(e, m::CMCD_REQUESTS_TOTAL_NAME),
            starving: present(e, m::CMCD_BUFFER_STARVATION_TOTAL_NAME),
        };
        self.open = present(e, m::OPEN_CONNECTIONS_NAME);
        self.sessions = present(e, m::CMCD_SESSIONS_NAME);
        self.mtp_kbps = present(e, m::CMCD_MEASURED_THROUGHPUT_KBPS_NAME).filter(|v| *v > 0.0);
        self.cmcd_known = c.cmcd.is_some();
        let a = cfg.ewma_alpha;
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + a * (new - o)));
        if let Some(p) = self.last {
            let dt = at_ms.saturating_sub(p.at_ms) as f64 / 1000.0;
            if dt > 0.0 {
                match delta(c.requests, p.requests) {
                    Some(d) => self.rps = ewma(self.rps, d / dt),
                    None if c.requests.is_none() => self.rps = None,
                    None => {}
                }
                match delta(c.sent_bytes, p.sent_bytes) {
                    Some(d) => self.bps = ewma(self.bps, d * 8.0 / dt),
                    None if c.sent_bytes.is_none() => self.bps = None,
                    None => {}
                }
                self.latency_ms = match (
                    delta(c.duration_sum, p.duration_sum),
                    delta(c.duration_count, p.duration_count),
                ) {
                    (Some(s), Some(n)) if n > 0.0 => Some(s / n * 1000.0),
                    (Some(_), Some(_)) => self.latency_ms,
                    _ => None,
                };
                if let Some(n) = delta(c.cmcd, p.cmcd) {
                    let s = delta(c.starving, p.starving).unwrap_or(0.0);
                    self.window.push_back((at_ms, n, s.min(n)));
                }
            }
        }
        while self
            .window
            .front()
            .is_some_and(|w| at_ms.saturating_sub(w.0) > cfg.window_ms)
        {
            self.window.pop_front();
        }
        self.last = Some(c);
        self.last_ok_ms = Some(at_ms);
        self.last_error.clear();
    }

    /// Records a failed scrape (figures age out on their own).
    pub fn failed(&mut self, why: String) {
        self.last_error = why;
    }

    /// The figures as of `now_ms` (all unknown once the last good scrape is stale).
    pub fn figures(&self, now_ms: u64, cfg: &ClosedLoopConfig) -> LiveFigures {
        let fresh = self
            .last_ok_ms
            .is_some_and(|t| now_ms.saturating_sub(t) <= 3 * cfg.scrape_ms);
        if !fresh {
            return LiveFigures::default();
        }
        let (n, s) = self
            .window
            .iter()
            .filter(|w| now_ms.saturating_sub(w.0) <= cfg.window_ms)
            .fold((0.0, 0.0), |acc, w| (acc.0 + w.1, acc.1 + w.2));
        let cmcd = self.cmcd_known.then_some(n as u64);
        LiveFigures {
            requests_per_s: self.rps,
            sent_mbps: self.bps.map(|b| b / 1e6),
            open_connections: self.open,
            latency_ms: self.latency_ms,
            cmcd_requests: cmcd,
            starvation_rate: cmcd.filter(|n| *n > 0).map(|_| s / n),
            sessions: self.sessions,
            mtp_kbps: self.mtp_kbps,
        }
    }
}

/// The live state of one edge (shared by snapshots).
#[derive(Debug, Default)]
pub struct EdgeLive(pub Mutex<LiveState>);

impl EdgeLive {
    /// The figures as of `now_ms`.
    pub fn figures(&self, now_ms: u64, cfg: &ClosedLoopConfig) -> LiveFigures {
        self.0
            .lock()
            .map(|s| s.figures(now_ms, cfg))
            .unwrap_or_default()
    }

    /// Records that ranking saw `now` impairments at `now_ms`.
    pub fn remember(&self, now: &[Impairment], now_ms: u64) {
        if now.is_empty() {
            return;
        }
        if let Ok(mut s) = self.0.lock() {
            for i in now {
                match s.impaired_at.iter_mut().find(|(j, _)| j == i) {
                    Some(e) => e.1 = e.1.max(now_ms),
                    None => s.impaired_at.push((*i, now_ms)),
                }
            }
        }
    }

    /// The impairments seen within `cooldown_ms` before `now_ms`.
    pub fn remembered(&self, now_ms: u64, cooldown_ms: u64) -> Vec<Impairment> {
        self.0.lock().map_or_else(
            |_| Vec::new(),
            |s| {
                s.impaired_at
                    .iter()
                    .filter(|(_, at)| now_ms.saturating_sub(*at) <= cooldown_ms)
                    .map(|(i, _)| *i)
                    .collect()
            },
        )
    }

    /// The last scrape error (empty after a good scrape).
    pub fn last_error(&self) -> String {
        self.0
            .lock()
            .map(|s| s.last_error.clone())
            .unwrap_or_default()
    }
}

/// Live states by `(id, url)`, kept across topology reloads.
pub type LiveRegistry = crate::registry::EdgeRegistry<EdgeLive>;

async fn scrape(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Exposition, String> {
    let r = tokio::time::timeout(timeout, async {
        let r = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        r.text().await.map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| "timeout".to_string())??;
    Exposition::parse(&r).map_err(|e| e.to_string())
}

/// Scrapes every edge of the current snapshot forever (one round per `scrape_ms`).
pub async fn run(shared: Arc<Shared>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
        .expect("reqwest client");
    loop {
        let snap = shared.snapshot();
        let cfg = snap.topology.closed_loop.clone();
        let every = Duration::from_millis(cfg.scrape_ms);
        let round = std::time::Instant::now();
        let jobs = snap
            .topology
            .edges
            .iter()
            .zip(snap.live.iter())
            .map(|(e, live)| {
                let url = format!("{}{}", e.url, cfg.metrics_path);
                let client = &client;
                let cfg = &cfg;
                let shared = &shared;
                async move {
                    let r = scrape(client, &url, every.max(Duration::from_millis(500))).await;
                    let now = shared.uptime_ms();
                    let mut s = live.0.lock().expect("live state poisoned");
                    match r {
                        Ok(x) => s.update(&x, now, cfg),
                        Err(why) => {
                            tracing::debug!(edge = %e.id, %why, "metrics scrape failed");
                            s.failed(why);
                        }
                    }
                }
            });
        futures::future::join_all(jobs).await;
        tokio::time::sleep(
            every
                .saturating_sub(round.elapsed())
                .max(Duration::from_millis(10)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expo(req: u64, bytes: u64, cmcd: Option<(u64, u64)>, mtp: Option<f64>) -> Exposition {
        let mut t = format!(
            "# TYPE dashcdn_edge_requests_total counter\n\
             dashcdn_edge_requests_total{{method=\"GET\",code=\"200\"}} {req}\n\
             dashcdn_edge_sent_bytes_total {bytes}\n\
             dashcdn_edge_open_connections 7\n\
             dashcdn_edge_request_duration_seconds_sum {}\n\
             dashcdn_edge_request_duration_seconds_count {req}\n",
            req as f64 * 0.002
        );
        if let Some((n, s)) = cmcd {
            t.push_str(&format!(
                "dashcdn_edge_cmcd_requests_total{{mode=\"query\"}} {n}\n\
                 dashcdn_edge_cmcd_buffer_starvation_total {s}\n\
                 dashcdn_edge_cmcd_sessions 3\n"
            ));
        }
        if let Some(m) = mtp {
            t.push_str(&format!("dashcdn_edge_cmcd_measured_throughput_kbps {m}\n"));
        }
        Exposition::parse(&t).unwrap()
    }

    #[test]
    fn rates_starvation_and_unknowns() {
        let cfg = ClosedLoopConfig::default();
        let mut s = LiveState::default();
        s.update(&expo(0, 0, None, None), 0, &cfg);
        let f = s.figures(0, &cfg);
        // One scrape: no rate yet; no CMCD metrics at all: unknown, not zero.
        assert_eq!(f.requests_per_s, None);
        assert_eq!(
            (f.cmcd_requests, f.starvation_rate, f.mtp_kbps),
            (None, None, None)
        );
        assert_eq!(f.open_connections, Some(7.0));
        s.update(&expo(100, 1_000_000, None, None), 1000, &cfg);
        let f = s.figures(1000, &cfg);
        assert_eq!(f.requests_per_s, Some(100.0));
        assert_eq!(f.sent_mbps, Some(8.0));
        assert!((f.latency_ms.unwrap() - 2.0).abs() < 1e-9);
        // EWMA: 0.3 of the new sample.
        s.update(&expo(300, 2_000_000, Some((0, 0)), None), 2000, &cfg);
        let f = s.figures(2000, &cfg);
        assert!((f.requests_per_s.unwrap() - 130.0).abs() < 1e-9, "{f:?}");
        assert_eq!((f.cmcd_requests, f.starvation_rate), (Some(0), None));
        s.update(
            &expo(400, 3_000_000, Some((40, 10)), Some(800.0)),
            3000,
            &cfg,
        );
        s.update(
            &expo(500, 4_000_000, Some((80, 10)), Some(800.0)),
            4000,
            &cfg,
        );
        let f = s.figures(4000, &cfg);
        assert_eq!(f.cmcd_requests, Some(80));
        assert_eq!(f.starvation_rate, Some(10.0 / 80.0));
        assert_eq!((f.sessions, f.mtp_kbps), (Some(3.0), Some(800.0)));
        // The window forgets: 11 s later only the newest intervals count.
        s.update(&expo(600, 5_000_000, Some((120, 10)), None), 14_500, &cfg);
        let f = s.figures(14_500, &cfg);
        assert_eq!((f.cmcd_requests, f.starvation_rate), (Some(40), Some(0.0)));
        // A counter reset (restart) gives no negative rate.
        let before = f.requests_per_s;
        s.update(&expo(5, 10, Some((1, 0)), None), 15_500, &cfg);
        assert_eq!(s.figures(15_500, &cfg).requests_per_s, before);
        // Stale: everything unknown.
        assert_eq!(s.figures(15_500 + 3001, &cfg), LiveFigures::default());
    }

    #[test]
    fn impairments_are_remembered_for_the_cooldown() {
        let e = EdgeLive::default();
        assert!(e.remembered(0, 1000).is_empty());
        e.remember(&[Impairment::Slow], 100);
        e.remember(&[Impairment::Slow, Impairment::Starving], 500);
        assert_eq!(
            e.remembered(1400, 1000),
            [Impairment::Slow, Impairment::Starving]
        );
        assert!(e.remembered(1501, 1000).is_empty());
    }
}
