//! Prometheus metrics of the edge and their names.
//!
//! The `*_NAME` constants are the names as they appear in the `/metrics` exposition
//! (counters carry the `_total` suffix added by prometheus-client), defined once in
//! [`serve::wire::metric_names`] and re-exported here. Tests and load tools import them and
//! read samples back with [`serve::prom`] ([`sample`] is a one-series shorthand).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serve::prom::Exposition;

pub use serve::metrics::{method_label, RequestLabels, LATENCY_BUCKETS};

/// Every edge metric name (defined once, in [`serve::wire::metric_names`]).
pub use serve::wire::metric_names::edge::*;

/// Label set `tier="memory"|"disk"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    /// `memory` or `disk`.
    pub tier: &'static str,
}

/// Memory tier label.
pub const MEMORY: TierLabels = TierLabels { tier: "memory" };
/// Disk tier label.
pub const DISK: TierLabels = TierLabels { tier: "disk" };

/// Label set `mode="query"|"header"` (how CMCD came).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabels {
    /// [`cmcd::Mode::as_str`].
    pub mode: &'static str,
}

/// Label set `br_kbps` (a CMCD `br`, or `other` past 32 distinct values).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BitrateLabels {
    /// The bitrate in kbit/s, or `other`.
    pub br_kbps: String,
}

/// Label set `source="nor"|"guess"` (what a prefetch followed).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `nor` (the CMCD next-object hint) or `guess` (segment k+1..k+N).
    pub source: &'static str,
}

/// Counter of prefetch fills started, by source (`nor`, `guess`); with
/// [`PREFETCH_HITS_TOTAL_NAME`] it gives each source's hit rate.
pub const PREFETCH_FILLS_TOTAL_NAME: &str = "dashcdn_edge_prefetch_fills_total";
/// Counter of CMCD next-object hints refused (absolute URL, another host, a path above
/// the root or outside the content tree, too long).
pub const CMCD_NOR_REJECTED_TOTAL_NAME: &str = "dashcdn_edge_cmcd_nor_rejected_total";

/// Name of the circuit-breaker gauge (0 closed, 1 half-open, 2 open; see
/// [`crate::breaker`]). Edge-internal: nothing across the network reads it yet.
pub const UPSTREAM_BREAKER_STATE_NAME: &str = "dashcdn_edge_upstream_breaker_state";

/// The edge's metrics in their own registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency to response head.
    pub duration: Histogram,
    /// Body bytes sent to clients.
    pub sent_bytes: Counter,
    /// Fresh hits.
    pub hits: Counter,
    /// Misses (including coalesced waiters).
    pub misses: Counter,
    /// Stale serves.
    pub stale: Counter,
    /// Serves after a 304.
    pub revalidated: Counter,
    /// Conditional upstream requests.
    pub revalidations: Counter,
    /// Coalesced waiters.
    pub coalesced: Counter,
    /// Upstream requests.
    pub upstream_requests: Counter,
    /// Upstream failures.
    pub upstream_errors: Counter,
    /// Upstream body bytes.
    pub upstream_bytes: Counter,
    /// Prefetch fills.
    pub prefetches: Counter,
    /// Purged objects.
    pub purged: Counter,
    /// Evictions by tier.
    pub evictions: Family<TierLabels, Counter>,
    /// Corrupt disk objects.
    pub corrupt_disk: Counter,
    /// Bytes held by tier.
    pub cache_bytes: Family<TierLabels, Gauge>,
    /// Objects held by tier.
    pub cache_objects: Family<TierLabels, Gauge>,
    /// Budget by tier.
    pub cache_budget: Family<TierLabels, Gauge>,
    /// Open client connections.
    pub open_connections: Gauge,
    /// Circuit breaker state of the upstream (0 closed, 1 half-open, 2 open).
    pub upstream_breaker: Gauge,
    /// Requests with valid CMCD, by mode.
    pub cmcd_requests: Family<ModeLabels, Counter>,
    /// Requests with malformed CMCD (ignored).
    pub cmcd_invalid: Counter,
    /// Requests whose CMCD carried `bs`.
    pub cmcd_starvation: Counter,
    /// CMCD sessions seen in the last 30 s.
    pub cmcd_sessions: Gauge,
    /// Median latest `mtp` of those sessions, kbit/s.
    pub cmcd_mtp: Gauge,
    /// CMCD requests by `br`.
    pub cmcd_bitrate: Family<BitrateLabels, Counter>,
    /// Refused `nor` hints.
    pub cmcd_nor_rejected: Counter,
    /// Prefetch fills by source.
    pub prefetch_fills: Family<SourceLabels, Counter>,
    /// Client requests served from an object a prefetch stored first, by source.
    pub prefetch_hits: Family<SourceLabels, Counter>,
    /// Last cumulative values copied from the cache's stats (for counter deltas).
    last_stats: Mutex<[u64; 3]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers all metrics.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix(PREFIX);
        let m = Metrics {
            requests: Family::default(),
            duration: Histogram::new(LATENCY_BUCKETS),
            sent_bytes: Counter::default(),
            hits: Counter::default(),
            misses: Counter::default(),
            stale: Counter::default(),
            revalidated: Counter::default(),
            revalidations: Counter::default(),
            coalesced: Counter::default(),
            upstream_requests: Counter::default(),
            upstream_errors: Counter::default(),
            upstream_bytes: Counter::default(),
            prefetches: Counter::default(),
            purged: Counter::default(),
            evictions: Family::default(),
            corrupt_disk: Counter::default(),
            cache_bytes: Family::default(),
            cache_objects: Family::default(),
            cache_budget: Family::default(),
            open_connections: Gauge::default(),
            upstream_breaker: Gauge::default(),
            cmcd_requests: Family::default(),
            cmcd_invalid: Counter::default(),
            cmcd_starvation: Counter::default(),
            cmcd_sessions: Gauge::default(),
            cmcd_mtp: Gauge::default(),
            cmcd_bitrate: Family::default(),
            cmcd_nor_rejected: Counter::default(),
            prefetch_fills: Family::default(),
            prefetch_hits: Family::default(),
            last_stats: Mutex::new([0; 3]),
            registry: Registry::default(),
        };
        r.register(
            "requests",
            "HTTP requests by method and status code",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request to response head",
            m.duration.clone(),
        );
        r.register(
            "sent_bytes",
            "Response body bytes sent",
            m.sent_bytes.clone(),
        );
        r.register(
            "hits",
            "Responses served fresh from the cache",
            m.hits.clone(),
        );
        r.register(
            "misses",
            "Responses that waited for an upstream fetch",
            m.misses.clone(),
        );
        r.register("stale", "Stale responses served", m.stale.clone());
        r.register(
            "revalidated",
            "Responses served after a 304 from upstream",
            m.revalidated.clone(),
        );
        r.register(
            "revalidations",
            "Conditional requests sent upstream",
            m.revalidations.clone(),
        );
        r.register(
            "coalesced",
            "Requests that joined an in-flight fetch",
            m.coalesced.clone(),
        );
        r.register(
            "upstream_requests",
            "Requests sent upstream",
            m.upstream_requests.clone(),
        );
        r.register(
            "upstream_errors",
            "Failed upstream requests",
            m.upstream_errors.clone(),
        );
        r.register(
            "upstream_bytes",
            "Body bytes received from upstream",
            m.upstream_bytes.clone(),
        );
        r.register("prefetches", "Prefetch fills started", m.prefetches.clone());
        r.register(
            "purged_objects",
            "Objects removed by PURGE",
            m.purged.clone(),
        );
        r.register("evictions", "Objects evicted, by tier", m.evictions.clone());
        r.register(
            "corrupt_disk_objects",
            "Disk objects found corrupt or truncated",
            m.corrupt_disk.clone(),
        );
        r.register("cache_bytes", "Bytes held, by tier", m.cache_bytes.clone());
        r.register(
            "cache_objects",
            "Objects held, by tier",
            m.cache_objects.clone(),
        );
        r.register(
            "cache_budget_bytes",
            "Configured budget, by tier",
            m.cache_budget.clone(),
        );
        r.register(
            "open_connections",
            "Open client connections",
            m.open_connections.clone(),
        );
        r.register(
            "upstream_breaker_state",
            "Upstream circuit breaker: 0 closed, 1 half-open (probing), 2 open (marked down)",
            m.upstream_breaker.clone(),
        );
        r.register(
            "cmcd_requests",
            "Requests carrying valid CMCD, by mode (query, header)",
            m.cmcd_requests.clone(),
        );
        r.register(
            "cmcd_invalid",
            "Requests carrying malformed CMCD (ignored)",
            m.cmcd_invalid.clone(),
        );
        r.register(
            "cmcd_buffer_starvation",
            "Requests whose CMCD reports buffer starvation (bs)",
            m.cmcd_starvation.clone(),
        );
        r.register(
            "cmcd_sessions",
            "Distinct CMCD session ids seen in the last 30 s",
            m.cmcd_sessions.clone(),
        );
        r.register(
            "cmcd_measured_throughput_kbps",
            "Median CMCD measured throughput (mtp) of those sessions' latest reports, kbit/s",
            m.cmcd_mtp.clone(),
        );
        r.register(
            "cmcd_bitrate_requests",
            "CMCD requests by encoded bitrate (br, kbit/s; other past 32 values)",
            m.cmcd_bitrate.clone(),
        );
        r.register(
            "cmcd_nor_rejected",
            "CMCD next-object hints refused (absolute, escaping, too long)",
            m.cmcd_nor_rejected.clone(),
        );
        r.register(
            "prefetch_fills",
            "Prefetch fills started, by source (nor, guess)",
            m.prefetch_fills.clone(),
        );
        r.register(
            "prefetch_hits",
            "Client requests served from an object a prefetch stored first, by source",
            m.prefetch_hits.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Copies the storage statistics into the tier gauges and eviction counters.
    pub fn observe_cache(&self, s: &cache::CacheStats) {
        let set = |f: &Family<TierLabels, Gauge>, l: &TierLabels, v: u64| {
            f.get_or_create(l).set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.cache_bytes, &MEMORY, s.mem_bytes);
        set(&self.cache_bytes, &DISK, s.disk_bytes);
        set(&self.cache_objects, &MEMORY, s.mem_objects);
        set(&self.cache_objects, &DISK, s.disk_objects);
        set(&self.cache_budget, &MEMORY, s.mem_budget);
        set(&self.cache_budget, &DISK, s.disk_budget);
        let mut last = self.last_stats.lock().unwrap_or_else(|e| e.into_inner());
        let now = [s.evictions_mem, s.evictions_disk, s.corrupt_disk_objects];
        let delta = |i: usize| now[i].saturating_sub(last[i]);
        self.evictions.get_or_create(&MEMORY).inc_by(delta(0));
        self.evictions.get_or_create(&DISK).inc_by(delta(1));
        self.corrupt_disk.inc_by(delta(2));
        *last = now;
    }

    /// Counts one request's CMCD and records it in `sessions`.
    pub fn observe_cmcd(&self, incoming: &crate::cmcd::Incoming, sessions: &crate::cmcd::Sessions) {
        match incoming {
            crate::cmcd::Incoming::None => {}
            crate::cmcd::Incoming::Invalid(_) => {
                self.cmcd_invalid.inc();
            }
            crate::cmcd::Incoming::Valid(c, mode) => {
                self.cmcd_requests
                    .get_or_create(&ModeLabels {
                        mode: mode.as_str(),
                    })
                    .inc();
                if c.bs {
                    self.cmcd_starvation.inc();
                }
                if let Some(br_kbps) = sessions.record(c, Instant::now()) {
                    self.cmcd_bitrate
                        .get_or_create(&BitrateLabels { br_kbps })
                        .inc();
                }
            }
        }
    }

    /// Copies the session aggregates into their gauges (at scrape time).
    pub fn observe_sessions(&self, sessions: &crate::cmcd::Sessions) {
        let a = sessions.aggregates(Instant::now());
        self.cmcd_sessions.set(a.active_sessions as i64);
        self.cmcd_mtp
            .set(i64::try_from(a.median_mtp_kbps).unwrap_or(i64::MAX));
    }

    /// Prometheus text exposition of all metrics.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Axum middleware recording request count, latency and sent bytes.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let res = next.run(req).await;
    metrics.duration.observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            code: res.status().as_u16(),
        })
        .inc();
    serve::metrics::count_sent_bytes(res, metrics.sent_bytes.clone())
}

/// Reads one sample from a Prometheus text exposition with [`serve::prom`]: the value of
/// the first sample named like `series` that carries every label `series` gives (`series`
/// is written as in the exposition: `dashcdn_edge_hits_total`,
/// `dashcdn_edge_cache_bytes{tier="memory"}`). `None` if there is none, or if `text` or
/// `series` is not valid exposition text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    // `series` is a sample line without its value: parse it as one
    let wanted = Exposition::parse(&format!("{series} 0")).ok()?;
    let wanted = wanted.samples.first()?;
    let labels: Vec<(&str, &str)> = wanted
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Exposition::parse(text).ok()?.value(&wanted.name, &labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exposition() {
        let m = Metrics::new();
        m.requests
            .get_or_create(&RequestLabels {
                method: "GET",
                code: 200,
            })
            .inc();
        m.hits.inc();
        m.evictions.get_or_create(&MEMORY).inc();
        m.cache_bytes.get_or_create(&MEMORY).set(5);
        m.cache_objects.get_or_create(&MEMORY).set(1);
        m.cache_budget.get_or_create(&MEMORY).set(10);
        let text = m.encode();
        for name in [
            REQUESTS_TOTAL_NAME,
            REQUEST_DURATION_SECONDS_NAME,
            SENT_BYTES_TOTAL_NAME,
            HITS_TOTAL_NAME,
            MISSES_TOTAL_NAME,
            STALE_TOTAL_NAME,
            REVALIDATED_TOTAL_NAME,
            REVALIDATIONS_TOTAL_NAME,
            COALESCED_TOTAL_NAME,
            UPSTREAM_REQUESTS_TOTAL_NAME,
            UPSTREAM_ERRORS_TOTAL_NAME,
            UPSTREAM_BYTES_TOTAL_NAME,
            PREFETCHES_TOTAL_NAME,
            PURGED_OBJECTS_TOTAL_NAME,
            EVICTIONS_TOTAL_NAME,
            CORRUPT_DISK_OBJECTS_TOTAL_NAME,
            CACHE_BYTES_NAME,
            CACHE_OBJECTS_NAME,
            CACHE_BUDGET_BYTES_NAME,
            OPEN_CONNECTIONS_NAME,
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
            assert!(name.starts_with(PREFIX));
        }
        assert_eq!(sample(&text, HITS_TOTAL_NAME), Some(1.0));
        assert_eq!(
            sample(&text, &format!("{CACHE_BYTES_NAME}{{tier=\"memory\"}}")),
            Some(5.0)
        );
        assert_eq!(sample(&text, "dashcdn_edge_nope"), None);
        assert_eq!(
            sample(&text, &format!("{CACHE_BYTES_NAME}{{tier=\"disk\"}}")),
            None
        );
        assert_eq!(
            sample(&text, &format!("{REQUESTS_TOTAL_NAME}{{code=\"200\"}}")),
            Some(1.0),
            "a subset of the labels selects"
        );
    }
}
