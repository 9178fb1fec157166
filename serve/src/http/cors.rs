//! CORS for a public, credential-less media origin: every response may be read by any
//! page (`Access-Control-Allow-Origin: *`), the headers a DASH player or a measuring
//! script needs are exposed, and `OPTIONS` preflights are answered directly with `204`.
//!
//! Use [`CorsLayer`] around any `http::Response<B>` service (`B: Default`), or call
//! [`apply`] / [`preflight`] yourself.

use std::task::{Context, Poll};

use futures::future::{Either, MapOk, Ready, TryFutureExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service};

/// `Access-Control-Allow-Origin` value.
pub const ALLOW_ORIGIN: &str = "*";
/// `Access-Control-Expose-Headers` value (with the CMSD headers, CTA-5006, which browser
/// players such as Shaka and dash.js read).
pub const EXPOSE_HEADERS: &str =
    "Date, Content-Length, Content-Range, ETag, Last-Modified, CMSD-Static, CMSD-Dynamic";
/// `Timing-Allow-Origin` value (lets Resource Timing see detailed timings).
pub const TIMING_ALLOW_ORIGIN: &str = "*";
/// The `Timing-Allow-Origin` header name (not in `http::header`).
pub const TIMING_ALLOW_ORIGIN_HEADER: header::HeaderName =
    header::HeaderName::from_static("timing-allow-origin");
/// `Access-Control-Allow-Methods` (and `Allow`) value for preflights.
pub const ALLOW_METHODS: &str = "GET, HEAD, OPTIONS";
/// `Access-Control-Allow-Headers` when the preflight does not list the headers it wants.
pub const DEFAULT_ALLOW_HEADERS: &str =
    "Range, If-None-Match, If-Modified-Since, If-Range, If-Match, If-Unmodified-Since, Cache-Control";
/// `Access-Control-Max-Age` in seconds.
pub const MAX_AGE_SECS: &str = "86400";

/// Adds the CORS headers every response carries (overwriting any existing ones).
pub fn apply(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static(ALLOW_ORIGIN),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.insert(
        TIMING_ALLOW_ORIGIN_HEADER,
        HeaderValue::from_static(TIMING_ALLOW_ORIGIN),
    );
}

/// Builds the `204` answer to an `OPTIONS` request (preflight or not), echoing
/// `Access-Control-Request-Headers` when present. Includes the [`apply`] headers.
pub fn preflight<B: Default>(request_headers: &HeaderMap) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = StatusCode::NO_CONTENT;
    let h = res.headers_mut();
    apply(h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW_METHODS));
    let allow_headers = request_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ALLOW_HEADERS));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

/// Tower layer: answers `OPTIONS` with [`preflight`] and adds the [`apply`] headers to
/// every other response of the wrapped service.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorsLayer;

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner }
    }
}

/// Service produced by [`CorsLayer`].
#[derive(Debug, Clone)]
pub struct Cors<S> {
    inner: S,
}

type AddHeaders<B> = fn(Response<B>) -> Response<B>;

fn with_cors<B>(mut res: Response<B>) -> Response<B> {
    apply(res.headers_mut());
    res
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Cors<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future =
        Either<Ready<Result<Response<ResB>, S::Error>>, MapOk<S::Future, AddHeaders<ResB>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        if req.method() == Method::OPTIONS {
            Either::Left(futures::future::ready(Ok(preflight(req.headers()))))
        } else {
            Either::Right(self.inner.call(req).map_ok(with_cors as AddHeaders<ResB>))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[test]
    fn apply_adds_headers() {
        let mut h = HeaderMap::new();
        apply(&mut h);
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["timing-allow-origin"], "*");
        assert!(h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("Content-Range"));
    }

    #[test]
    fn preflight_echoes_requested_headers() {
        let mut req = HeaderMap::new();
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("range, x-foo"),
        );
        let res: Response<String> = preflight(&req);
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            res.headers()["access-control-allow-headers"],
            "range, x-foo"
        );
        assert_eq!(res.headers()["access-control-allow-methods"], ALLOW_METHODS);
        let res: Response<String> = preflight(&HeaderMap::new());
        assert_eq!(
            res.headers()["access-control-allow-headers"],
            DEFAULT_ALLOW_HEADERS
        );
        assert_eq!(res.headers()["access-control-max-age"], MAX_AGE_SECS);
    }

    #[tokio::test]
    async fn layer_wraps_service() {
        let svc = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(404)
                    .body(String::from("nope"))
                    .unwrap(),
            )
        });
        let svc = CorsLayer.layer(svc);
        let res = svc
            .clone()
            .oneshot(Request::get("/x").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let res = svc
            .oneshot(Request::options("/x").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(res.body(), "");
    }
}
