//! Prometheus metrics of the origin and their names.
//!
//! The `*_NAME` constants are the names as they appear in the `/metrics` text exposition
//! (counters carry the `_total` suffix added by prometheus-client), defined once in
//! [`serve::wire::metric_names`] and re-exported here. The request metrics (`requests`,
//! `request_duration_seconds`, `sent_bytes`, `open_connections`) are registered with
//! [`serve::metrics`]' helpers, as every role does; the hot-cache ones are the origin's own.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of [`Metrics::requests`] (the request metrics every role shares, from
/// [`serve::metrics`]).
pub use serve::metrics::RequestLabels;
use serve::metrics::{count_sent_bytes, method_label};
/// Every origin metric name (defined once, in `serve::wire`).
pub use serve::wire::metric_names::origin::*;

/// The origin's metrics, registered in their own [`Registry`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Response body bytes sent.
    pub sent_bytes: Counter,
    /// Request latency (to response head).
    pub duration: Histogram,
    /// Hot-cache hits.
    pub hot_hits: Counter,
    /// Hot-cache misses.
    pub hot_misses: Counter,
    /// Bytes held by the hot cache.
    pub hot_bytes: Gauge,
    /// Open connections.
    pub open_connections: Gauge,
    /// Push-ingest requests by outcome ([`crate::ingest`]).
    pub ingest_requests: Family<IngestLabels, Counter>,
    /// Body bytes of completed ingest uploads.
    pub ingest_bytes: Counter,
    /// `GET`s answered from a growing object ([`crate::growing`]).
    pub growing_reads: Counter,
    /// Bytes held by growing objects (set when scraped).
    pub growing_bytes: Gauge,
}

/// Labels of [`Metrics::ingest_requests`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct IngestLabels {
    /// What became of the request (see [`INGEST_REQUESTS_TOTAL_NAME`]).
    pub outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers all metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = serve::metrics::register_requests(&mut registry);
        let sent_bytes = serve::metrics::register_sent_bytes(&mut registry);
        let duration = serve::metrics::register_duration(&mut registry);
        let hot_hits = Counter::default();
        let hot_misses = Counter::default();
        let hot_bytes = Gauge::default();
        registry.register(
            "hot_cache_hits",
            "File requests served from the hot cache",
            hot_hits.clone(),
        );
        registry.register(
            "hot_cache_misses",
            "File requests that read the file system",
            hot_misses.clone(),
        );
        registry.register(
            "hot_cache_bytes",
            "Bytes held by the hot cache",
            hot_bytes.clone(),
        );
        let open_connections = serve::metrics::register_open_connections(&mut registry);
        let ingest_requests = Family::<IngestLabels, Counter>::default();
        registry.register(
            "ingest_requests",
            "Push-ingest requests (PUT, POST, DELETE) by outcome",
            ingest_requests.clone(),
        );
        let ingest_bytes = Counter::default();
        registry.register(
            "ingest_bytes",
            "Body bytes of completed ingest uploads",
            ingest_bytes.clone(),
        );
        let growing_reads = Counter::default();
        registry.register(
            "growing_reads",
            "GETs answered from a segment still being uploaded, chunk by chunk",
            growing_reads.clone(),
        );
        let growing_bytes = Gauge::default();
        registry.register(
            "growing_bytes",
            "Bytes held by segments still being uploaded",
            growing_bytes.clone(),
        );
        Metrics {
            registry,
            growing_reads,
            growing_bytes,
            requests,
            sent_bytes,
            duration,
            hot_hits,
            hot_misses,
            hot_bytes,
            open_connections,
            ingest_requests,
            ingest_bytes,
        }
    }

    /// Prometheus text exposition of all metrics.
    pub fn encode(&self) -> String {
        serve::metrics::encode(&self.registry)
    }
}

/// Axum middleware (`from_fn_with_state`) recording request count, latency and sent bytes,
/// and writing one `debug` log line per request.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = tracing::enabled!(tracing::Level::DEBUG).then(|| req.uri().path().to_owned());
    let res = next.run(req).await;
    let elapsed = start.elapsed();
    let status = res.status();
    metrics.duration.observe(elapsed.as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method_label(&method),
            code: status.as_u16(),
        })
        .inc();
    if let Some(path) = path {
        tracing::debug!(
            %method,
            path,
            status = status.as_u16(),
            len = res.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-"),
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    count_sent_bytes(res, metrics.sent_bytes.clone())
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
        m.duration.observe(0.001);
        let text = m.encode();
        for name in [
            REQUESTS_TOTAL_NAME,
            SENT_BYTES_TOTAL_NAME,
            REQUEST_DURATION_SECONDS_NAME,
            HOT_CACHE_HITS_TOTAL_NAME,
            HOT_CACHE_MISSES_TOTAL_NAME,
            HOT_CACHE_BYTES_NAME,
            OPEN_CONNECTIONS_NAME,
            GROWING_READS_TOTAL_NAME,
            GROWING_BYTES_NAME,
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
            assert!(name.starts_with(PREFIX));
        }
        assert!(
            text.contains("dashcdn_origin_requests_total{method=\"GET\",code=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("le=\"0.0001\""));
    }
}
