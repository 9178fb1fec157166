//! Administrative endpoint: `PURGE` (single object or prefix).
//!
//! `PURGE /path` removes one object (and its query variants); `PURGE /prefix/*` or any
//! `PURGE` with an `X-Purge-Prefix: /prefix/` header removes every object whose key
//! starts with the prefix. Purging requires `Authorization: Bearer <admin_token>`:
//! no token configured → `403` (purge disabled); no or malformed credentials → `401`;
//! a wrong token → `403`.

use axum::extract::Request;
use axum::response::Response;
use http::header::{self, HeaderValue};
use http::StatusCode;

use crate::key::CacheKey;
use crate::response::text;
use crate::state::EdgeState;

/// Header carrying a purge prefix.
pub const PURGE_PREFIX_HEADER: &str = "x-purge-prefix";

/// Constant-time comparison (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the `Authorization` header against the configured admin token (`PURGE` and
/// the rate-limit endpoint): no token configured → `403`, none given → `401`, wrong →
/// `403`.
pub(crate) fn authorize(state: &EdgeState, headers: &http::HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = state
        .config()
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return Err(Box::new(text(
            StatusCode::FORBIDDEN,
            "administration is disabled (no admin token configured)\n",
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, cred) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| cred.trim())
        });
    match given {
        None => {
            let mut res = text(StatusCode::UNAUTHORIZED, "bearer token required\n");
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dashcdn-edge\""),
            );
            Err(Box::new(res))
        }
        Some(t) if same(t.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(Box::new(text(StatusCode::FORBIDDEN, "wrong token\n"))),
    }
}

/// Handles `PURGE`.
pub async fn purge(state: EdgeState, req: Request) -> Response {
    if let Err(res) = authorize(&state, req.headers()) {
        return *res;
    }
    let header_prefix = req
        .headers()
        .get(PURGE_PREFIX_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = req.uri().path();
    let (prefix, exact) = match header_prefix {
        Some(p) => (Some(p), None),
        None => match raw.strip_suffix('*') {
            Some(p) => (Some(p.to_owned()), None),
            None => (None, Some(raw.to_owned())),
        },
    };
    state
        .inner
        .purge_generation
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let removed = if let Some(prefix) = prefix {
        // the prefix must itself be a clean path (a trailing `/` is kept)
        let clean = if prefix == "/" {
            "/".to_owned()
        } else {
            match serve::path::sanitize(&prefix) {
                Ok(p) => p.to_string(),
                Err(e) => return text(e.status(), "bad purge prefix\n"),
            }
        };
        state.detach_fills(&clean);
        state.blocking(&clean, |c, k| c.remove_prefix(k)).await
    } else {
        let Some(raw) = exact else { unreachable!() };
        let key = match CacheKey::from_request(&raw, None, false) {
            Ok(k) => k,
            Err(s) => return text(s, "bad purge path\n"),
        };
        // the key itself, its query variants and its Vary variants (all start with it)
        state.detach_fills(key.as_str());
        let one = usize::from(state.blocking(key.as_str(), |c, k| c.remove(k)).await);
        let variants = state
            .blocking(&key.variants_prefix(), |c, k| c.remove_prefix(k))
            .await;
        one + variants
    };
    state.metrics().purged.inc_by(removed as u64);
    tracing::info!(path = raw, removed, "purge");
    let mut res = text(StatusCode::OK, &format!("{{\"purged\":{removed}}}\n"));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
