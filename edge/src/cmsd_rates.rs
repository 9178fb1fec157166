//! Recent send rates to clients, per connection and per client IP, for the `etp` of
//! `CMSD-Dynamic` ([`crate::cmsd`]), and the connection limit its duress is measured
//! against. A leaf: [`crate::state`] holds one, [`crate::cmsd`] feeds and reads it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A response body shorter than this says more about latency than throughput: not sampled.
pub const MIN_SAMPLE_BYTES: u64 = 32 * 1024;
/// Clients remembered (connections and IPs each); oldest samples dropped first.
pub const MAX_PEERS: usize = 4096;
/// A rate sample older than this is not used.
pub const RATE_TTL: Duration = Duration::from_secs(60);

/// Exponentially weighted mean, half weight to the new sample.
pub fn ewma(prev: Option<f64>, sample: f64) -> f64 {
    prev.map_or(sample, |p| 0.5 * p + 0.5 * sample)
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    kbps: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct RateTable {
    by_conn: HashMap<SocketAddr, Rate>,
    by_ip: HashMap<IpAddr, Rate>,
}

fn update<K: std::hash::Hash + Eq + Copy>(
    m: &mut HashMap<K, Rate>,
    k: K,
    sample: f64,
    now: Instant,
) {
    if m.len() >= MAX_PEERS && !m.contains_key(&k) {
        m.retain(|_, r| now.saturating_duration_since(r.at) < RATE_TTL);
        if m.len() >= MAX_PEERS {
            if let Some(oldest) = m.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
    }
    let prev = m
        .get(&k)
        .filter(|r| now.saturating_duration_since(r.at) < RATE_TTL)
        .map(|r| r.kbps);
    m.insert(
        k,
        Rate {
            kbps: ewma(prev, sample),
            at: now,
        },
    );
}

/// Recent send rates per client connection and per client IP, and the connection limit.
#[derive(Debug)]
pub struct Rates {
    table: Mutex<RateTable>,
    max_connections: usize,
}

impl Rates {
    /// With the edge's connection limit (`None`: serve's default from the descriptor limit).
    pub fn new(max_connections: Option<usize>) -> Rates {
        Rates {
            table: Mutex::default(),
            max_connections: max_connections.unwrap_or_else(serve::limits::default_max_connections),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `bytes` of a body went to `peer` in `elapsed` (ignored below
    /// [`MIN_SAMPLE_BYTES`]).
    pub fn observe(&self, peer: SocketAddr, bytes: u64, elapsed: Duration, now: Instant) {
        if bytes < MIN_SAMPLE_BYTES {
            return;
        }
        let kbps = bytes as f64 * 8.0 / 1000.0 / elapsed.as_secs_f64().max(1e-4);
        let mut t = self.lock();
        update(&mut t.by_conn, peer, kbps, now);
        update(&mut t.by_ip, peer.ip(), kbps, now);
    }

    /// The recent rate to `peer`'s connection, else to its IP, kbit/s.
    pub fn estimate(&self, peer: SocketAddr, now: Instant) -> Option<u64> {
        let t = self.lock();
        let fresh = |r: &Rate| now.saturating_duration_since(r.at) < RATE_TTL;
        t.by_conn
            .get(&peer)
            .filter(|r| fresh(r))
            .or_else(|| t.by_ip.get(&peer.ip()).filter(|r| fresh(r)))
            .map(|r| r.kbps.round() as u64)
    }

    /// The connection limit duress is measured against.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_connection_then_per_ip_and_small_bodies_do_not_count() {
        let r = Rates::new(Some(10));
        let now = Instant::now();
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        r.observe(a, 1000, Duration::from_millis(1), now);
        assert_eq!(r.estimate(a, now), None);
        // 125 kB in 1 s = 1000 kbit/s
        r.observe(a, 125_000, Duration::from_secs(1), now);
        assert_eq!(r.estimate(a, now), Some(1000));
        assert_eq!(r.estimate(b, now), Some(1000), "same IP");
        r.observe(a, 125_000, Duration::from_secs(2), now);
        assert_eq!(r.estimate(a, now), Some(750), "EWMA of 1000 and 500");
        assert_eq!(r.estimate(a, now + RATE_TTL), None, "too old");
        assert_eq!(r.max_connections(), 10);
    }
}
