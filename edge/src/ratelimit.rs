//! The edge's runtime rate limit, like nginx's `limit_rate`: each response body is sent
//! no faster than the current limit (bits per second, 0 = unlimited), hits and misses
//! alike. The limit is one shared atomic: `limit` (the admin endpoint
//! [`serve::wire::EDGE_LIMIT_RATE_PATH`]) changes it at run time, and a body being sent
//! reads it again before every slice, so a change reaches responses already in flight
//! within ~100 ms.
//!
//! Cost: a response that starts while the limit is 0 is not wrapped at all (one relaxed
//! atomic load); a limit set later applies to the responses that start after it.
//!
//! Pacing ([`LimitedBody`]): the body is cut into slices of ~100 ms at the current rate
//! (at least [`MIN_SLICE`] bytes); after each slice the body waits `bytes × 8 / rate`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};
use serve::wire::LimitRate;

use crate::admin;
use crate::state::EdgeState;

/// Smallest slice sent between two pauses, bytes.
pub const MIN_SLICE: usize = 256;

/// The slice size for `bits_per_sec`: ~100 ms worth, at least [`MIN_SLICE`].
pub fn slice_bytes(bits_per_sec: u64) -> usize {
    ((bits_per_sec / 80) as usize).max(MIN_SLICE)
}

/// The pause after sending `bytes` at `bits_per_sec` (> 0).
pub fn pause(bytes: usize, bits_per_sec: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 8.0 / bits_per_sec as f64)
}

/// Wraps `res`'s body in a [`LimitedBody`] when the limit is not 0 now.
pub fn apply(limit: &Arc<AtomicU64>, res: Response) -> Response {
    if limit.load(Ordering::Relaxed) == 0 {
        return res;
    }
    let (parts, body) = res.into_parts();
    let remaining = body.size_hint().exact();
    Response::from_parts(
        parts,
        Body::new(LimitedBody {
            inner: body,
            limit: limit.clone(),
            pending: Bytes::new(),
            sleep: None,
            remaining,
        }),
    )
}

/// A body sent no faster than the shared limit (see the module doc).
pub struct LimitedBody {
    inner: Body,
    limit: Arc<AtomicU64>,
    /// Data taken from `inner` and not yet sent.
    pending: Bytes,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes still to send, when the inner body knew its length.
    remaining: Option<u64>,
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(s) = this.sleep.as_mut() {
            ready!(s.as_mut().poll(cx));
            this.sleep = None;
        }
        if this.pending.is_empty() {
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                other => return Poll::Ready(other),
            }
        }
        let bps = this.limit.load(Ordering::Relaxed);
        let chunk = if bps == 0 {
            std::mem::take(&mut this.pending)
        } else {
            let n = slice_bytes(bps).min(this.pending.len());
            let chunk = this.pending.split_to(n);
            this.sleep = Some(Box::pin(tokio::time::sleep(pause(n, bps))));
            chunk
        };
        if let Some(r) = this.remaining.as_mut() {
            *r = r.saturating_sub(chunk.len() as u64);
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// `GET` [`serve::wire::EDGE_LIMIT_RATE_PATH`]: the current limit (no credentials needed).
pub async fn get_limit(State(state): State<EdgeState>) -> Response {
    current(&state)
}

fn current(state: &EdgeState) -> Response {
    let bits_per_sec = state.inner.limit_rate.load(Ordering::Relaxed);
    let mut r = Json(LimitRate { bits_per_sec }).into_response();
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

/// `POST` [`serve::wire::EDGE_LIMIT_RATE_PATH`] with a JSON [`LimitRate`] and the admin
/// bearer token (as `PURGE`: no token configured → `403`, none given → `401`, wrong →
/// `403`): sets the limit, answers the new value.
pub async fn set_limit(State(state): State<EdgeState>, req: Request) -> Response {
    if let Err(res) = admin::authorize(&state, req.headers()) {
        return *res;
    }
    let body = match axum::body::to_bytes(req.into_body(), 4096).await {
        Ok(b) => b,
        Err(_) => return crate::response::text(StatusCode::BAD_REQUEST, "body too large\n"),
    };
    let Ok(LimitRate { bits_per_sec }) = serde_json::from_slice::<LimitRate>(&body) else {
        return crate::response::text(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"bits_per_sec\": N}\n",
        );
    };
    state
        .inner
        .limit_rate
        .store(bits_per_sec, Ordering::Relaxed);
    tracing::info!(bits_per_sec, "rate limit set");
    current(&state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn slices_and_pauses() {
        assert_eq!(slice_bytes(4_000_000), 50_000);
        assert_eq!(slice_bytes(8_000), MIN_SLICE);
        assert_eq!(pause(50_000, 4_000_000), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn paces_and_follows_changes() {
        let limit = Arc::new(AtomicU64::new(0));
        let body = vec![7u8; 100_000];
        let res = apply(&limit, Response::new(Body::from(body.clone())));
        // Limit 0 at the start: untouched and immediate.
        let t = tokio::time::Instant::now();
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes().len(),
            100_000
        );
        assert_eq!(t.elapsed(), Duration::ZERO);
        // 400 kbit/s: 100 kB take 2 s (the last slice's pause included).
        limit.store(400_000, Ordering::Relaxed);
        let res = apply(&limit, Response::new(Body::from(body.clone())));
        assert_eq!(res.body().size_hint().exact(), Some(100_000));
        let t = tokio::time::Instant::now();
        let got = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ref(), body.as_slice());
        assert_eq!(t.elapsed(), Duration::from_secs(2));
        // Lifted mid-body: the rest goes at once.
        let res = apply(&limit, Response::new(Body::from(body.clone())));
        let mut b = res.into_body();
        let first = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 5_000);
        limit.store(0, Ordering::Relaxed);
        let t = tokio::time::Instant::now();
        let rest = b.collect().await.unwrap().to_bytes();
        assert_eq!(rest.len(), 95_000);
        assert!(
            t.elapsed() <= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
    }
}
