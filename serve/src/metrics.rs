//! Prometheus helpers shared by every server role: the request metrics each role
//! registers under its own prefix (same names, help texts, labels and buckets), the
//! `/metrics` response, and a body wrapper counting the bytes actually sent.
//!
//! Metric *names* as scraped are in [`crate::wire::metric_names`]; reading an exposition
//! back is [`crate::prom`].

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
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

/// Histogram buckets of the request-duration histograms: 100 µs … 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Labels of the `<prefix>_requests_total` counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `HEAD`, `OPTIONS` or `OTHER` (see [`method_label`]).
    pub method: &'static str,
    /// Numeric status code.
    pub code: u16,
}

/// Label value for a method: the three a media server answers, everything else `OTHER`
/// (bounded cardinality whatever clients send).
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Creates and registers `requests` (`<prefix>_requests_total{method,code}`).
pub fn register_requests(registry: &mut Registry) -> Family<RequestLabels, Counter> {
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "requests",
        "HTTP requests by method and status code",
        requests.clone(),
    );
    requests
}

/// Creates and registers `request_duration_seconds` with [`LATENCY_BUCKETS`].
pub fn register_duration(registry: &mut Registry) -> Histogram {
    let duration = Histogram::new(LATENCY_BUCKETS);
    registry.register(
        "request_duration_seconds",
        "Time from request to response head",
        duration.clone(),
    );
    duration
}

/// Creates and registers `sent_bytes` (`<prefix>_sent_bytes_total`); feed it with
/// [`count_sent_bytes`].
pub fn register_sent_bytes(registry: &mut Registry) -> Counter {
    let sent_bytes = Counter::default();
    registry.register("sent_bytes", "Response body bytes sent", sent_bytes.clone());
    sent_bytes
}

/// Creates and registers `open_connections`; hand it to
/// [`CountingListener`](crate::listener::CountingListener) (or [`crate::server::bind`]).
pub fn register_open_connections(registry: &mut Registry) -> Gauge {
    let open = Gauge::default();
    registry.register("open_connections", "Open client connections", open.clone());
    open
}

/// Prometheus (OpenMetrics) text exposition of a registry.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
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
    let (mut parts, body) = res.into_parts();
    if let Some(file) = parts.extensions.get_mut::<crate::direct::SendFile>() {
        // Sent with sendfile(2) on the direct path, unread body: counted there.
        file.count_into(counter.clone());
    }
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
    use http_body_util::BodyExt;

    #[test]
    fn helpers_register_the_shared_names() {
        let mut r = Registry::with_prefix("dashcdn_test");
        let requests = register_requests(&mut r);
        let duration = register_duration(&mut r);
        let _sent = register_sent_bytes(&mut r);
        let open = register_open_connections(&mut r);
        requests
            .get_or_create(&RequestLabels {
                method: method_label(&Method::PUT),
                code: 405,
            })
            .inc();
        duration.observe(0.001);
        open.inc();
        let text = encode(&r);
        for want in [
            "dashcdn_test_requests_total{method=\"OTHER\",code=\"405\"} 1",
            "dashcdn_test_sent_bytes_total 0",
            "dashcdn_test_request_duration_seconds_bucket{le=\"0.0001\"} 0",
            "dashcdn_test_open_connections 1",
        ] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
    }

    #[tokio::test]
    async fn sent_bytes_are_counted_per_frame() {
        let counter = Counter::default();
        let res = count_sent_bytes(Response::new(Body::from("hello")), counter.clone());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        assert_eq!(counter.get(), 5);
        let res = exposition_response("x 1\n".into());
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
}
