//! Prometheus metrics of the origin and their names.
//!
//! The `*_NAME` constants are the names as they appear in the `/metrics` text exposition
//! (counters carry the `_total` suffix added by prometheus-client). Other crates
//! (edge, load tools) import them to follow the `dashcdn_<component>_` convention and to
//! scrape the origin without retyping strings.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::Method;
use http_body::{Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Every origin metric name (defined once, in `manifests`).
pub use manifests::metric_names::origin::*;

/// Histogram buckets of [`REQUEST_DURATION_SECONDS_NAME`]: 100 µs … 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Labels of [`REQUESTS_TOTAL_NAME`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `HEAD`, `OPTIONS` or `OTHER`.
    pub method: &'static str,
    /// Numeric status code.
    pub code: u16,
}

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
        let requests = Family::<RequestLabels, Counter>::default();
        let sent_bytes = Counter::default();
        let duration = Histogram::new(LATENCY_BUCKETS);
        let hot_hits = Counter::default();
        let hot_misses = Counter::default();
        let hot_bytes = Gauge::default();
        let open_connections = Gauge::default();
        registry.register(
            "requests",
            "HTTP requests by method and status code",
            requests.clone(),
        );
        registry.register("sent_bytes", "Response body bytes sent", sent_bytes.clone());
        registry.register(
            "request_duration_seconds",
            "Time from request to response head",
            duration.clone(),
        );
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
        registry.register(
            "open_connections",
            "Open client connections",
            open_connections.clone(),
        );
        Metrics {
            registry,
            requests,
            sent_bytes,
            duration,
            hot_hits,
            hot_misses,
            hot_bytes,
            open_connections,
        }
    }

    /// Prometheus text exposition of all metrics.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Label value for a method.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
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

/// A `/metrics` response: the OpenMetrics text exposition, never cached. Shared by every
/// server role so they all answer scrapers the same way.
pub fn exposition_response(text: String) -> Response {
    let mut res = Response::new(Body::from(text));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    res
}

/// Wraps a response's body so the size of every data frame it sends is added to `counter`
/// (bytes actually handed to the connection). Shared by every server role.
pub fn count_sent_bytes(res: Response, counter: Counter) -> Response {
    let (parts, body) = res.into_parts();
    Response::from_parts(
        parts,
        Body::new(CountingBody {
            inner: body,
            counter,
        }),
    )
}

/// Body wrapper adding the size of every data frame to a counter.
struct CountingBody {
    inner: Body,
    counter: Counter,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.counter.inc_by(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
