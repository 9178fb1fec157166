//! The stored response head: what the edge keeps in a cache [`cache::Entry`]'s opaque
//! `meta` next to the body, and what a fill leader hands to its waiters.
//!
//! Encoding (text, one record per line, `\n`-terminated):
//! ```text
//! dce1 <status> <response_time_ms> <initial_age> <lifetime> <swr> <sie> <flags> <body_len|-> <outcome>
//! <header-name>: <header-value>
//! ...
//! ```
//! `flags` bit 0 = storable, bit 1 = no-cache, bit 2 = must-revalidate. `outcome` is how the fill ended
//! (`MISS`, `REVALIDATED`, `STALE`); it is meaningless once stored.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serve::wire::{CacheStatus, X_CACHE, X_SERVED_BY};

use crate::freshness::Policy;

const MAGIC: &str = "dce1";

/// How the response of a fill came to be (the `X-Cache` value of its waiters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched from upstream.
    Miss,
    /// The cached copy, confirmed by a `304` from upstream.
    Revalidated,
    /// The cached copy, served because the upstream failed.
    Stale,
}

impl Outcome {
    /// The `X-Cache` value of the waiters' responses.
    pub fn cache_status(self) -> CacheStatus {
        match self {
            Outcome::Miss => CacheStatus::Miss,
            Outcome::Revalidated => CacheStatus::Revalidated,
            Outcome::Stale => CacheStatus::Stale,
        }
    }

    /// Reads the encoded form back: exactly a [`CacheStatus::as_str`] a fill can end with.
    fn parse(s: &str) -> Option<Outcome> {
        let status = CacheStatus::ALL.into_iter().find(|c| c.as_str() == s)?;
        Some(match status {
            CacheStatus::Miss => Outcome::Miss,
            CacheStatus::Revalidated => Outcome::Revalidated,
            CacheStatus::Stale => Outcome::Stale,
            CacheStatus::Hit => return None,
        })
    }
}

/// Response status, end-to-end headers and timing of one stored (or in-flight) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Status code received from upstream.
    pub status: StatusCode,
    /// Local time the response (or its last `304`) was received, ms since the epoch.
    pub response_time_ms: u64,
    /// `corrected_initial_age` in seconds (RFC 9111 §4.2.3).
    pub initial_age: u64,
    /// Freshness policy; meaningful when `storable`.
    pub policy: Policy,
    /// Whether the response may be stored.
    pub storable: bool,
    /// Body length if known in advance (`Content-Length`).
    pub body_len: Option<u64>,
    /// How the fill ended.
    pub outcome: Outcome,
    /// End-to-end headers to replay (no hop-by-hop, CORS, Age or Content-Length).
    pub headers: HeaderMap,
}

/// Headers never stored nor replayed: hop-by-hop (RFC 9110 §7.6.1), the ones the edge
/// computes itself, and CORS (re-applied by the edge). `Connection` itself is kept with the
/// stored head so that the fields it lists (hop-by-hop for that message, RFC 9110 §7.6.1)
/// can be left out when the response is sent (`response::base_headers`): they never
/// reach a client, as if never stored (RFC 9111 §3.1). `Set-Cookie` is kept (RFC 9111
/// §3.1): the leader of a fill gets it, and a stored response carries it only when
/// explicitly fresh ([`crate::freshness::Policy::from_response`]).
pub fn is_dropped_header(name: &HeaderName) -> bool {
    use http::header::*;
    matches!(
        *name,
        TRANSFER_ENCODING
            | TE
            | TRAILER
            | UPGRADE
            | PROXY_AUTHENTICATE
            | PROXY_AUTHORIZATION
            | CONTENT_LENGTH
            | AGE
            | ACCESS_CONTROL_ALLOW_ORIGIN
            | ACCESS_CONTROL_EXPOSE_HEADERS
            | ACCESS_CONTROL_ALLOW_METHODS
            | ACCESS_CONTROL_ALLOW_HEADERS
            | ACCESS_CONTROL_MAX_AGE
            | ACCESS_CONTROL_ALLOW_CREDENTIALS
    ) || matches!(
        name.as_str(),
        "keep-alive" | "proxy-connection" | "timing-allow-origin"
    ) || *name == X_CACHE
        || *name == X_SERVED_BY
}

impl StoredHead {
    /// Serializes into the `meta` bytes of a cache entry.
    pub fn encode(&self) -> Bytes {
        use std::fmt::Write;
        let mut s = String::with_capacity(256);
        let flags = u8::from(self.storable)
            | (u8::from(self.policy.no_cache) << 1)
            | (u8::from(self.policy.must_revalidate) << 2);
        let len = self
            .body_len
            .map_or_else(|| "-".to_owned(), |l| l.to_string());
        let _ = writeln!(
            s,
            "{MAGIC} {} {} {} {} {} {} {flags} {len} {}",
            self.status.as_u16(),
            self.response_time_ms,
            self.initial_age,
            self.policy.lifetime,
            self.policy.stale_while_revalidate,
            self.policy.stale_if_error,
            self.outcome.cache_status().as_str()
        );
        for (name, value) in &self.headers {
            // values with CR/LF cannot exist in a HeaderValue
            if let Ok(v) = value.to_str() {
                let _ = writeln!(s, "{}: {v}", name.as_str());
            }
        }
        Bytes::from(s)
    }

    /// Parses `meta` bytes written by [`StoredHead::encode`]; `None` if malformed.
    pub fn decode(meta: &[u8]) -> Option<StoredHead> {
        let text = std::str::from_utf8(meta).ok()?;
        let mut lines = text.lines();
        let first = lines.next()?;
        let f: Vec<&str> = first.split(' ').collect();
        if f.len() != 10 || f[0] != MAGIC {
            return None;
        }
        let n = |i: usize| f[i].parse::<u64>().ok();
        let flags = n(7)?;
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(": ")?;
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
        Some(StoredHead {
            status: StatusCode::from_u16(u16::try_from(n(1)?).ok()?).ok()?,
            response_time_ms: n(2)?,
            initial_age: n(3)?,
            policy: Policy {
                lifetime: n(4)?,
                stale_while_revalidate: n(5)?,
                stale_if_error: n(6)?,
                no_cache: flags & 2 != 0,
                must_revalidate: flags & 4 != 0,
            },
            storable: flags & 1 != 0,
            body_len: if f[8] == "-" { None } else { Some(n(8)?) },
            outcome: Outcome::parse(f[9])?,
            headers,
        })
    }

    /// The `ETag` header value, if any.
    pub fn etag(&self) -> Option<&str> {
        self.headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
    }

    /// The `Last-Modified` header value, if any.
    pub fn last_modified(&self) -> Option<&HeaderValue> {
        self.headers.get(http::header::LAST_MODIFIED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("video/iso.segment"),
        );
        headers.insert("etag", HeaderValue::from_static("\"a-b-c\""));
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2: two"));
        let h = StoredHead {
            status: StatusCode::OK,
            response_time_ms: 1_700_000_000_123,
            initial_age: 3,
            policy: Policy {
                lifetime: 60,
                stale_while_revalidate: 5,
                stale_if_error: 3600,
                no_cache: true,
                must_revalidate: true,
            },
            storable: true,
            body_len: Some(12345),
            outcome: Outcome::Revalidated,
            headers,
        };
        let enc = h.encode();
        assert_eq!(StoredHead::decode(&enc), Some(h.clone()));
        let h2 = StoredHead {
            body_len: None,
            storable: false,
            ..h
        };
        assert_eq!(StoredHead::decode(&h2.encode()), Some(h2));
        assert_eq!(StoredHead::decode(b"garbage"), None);
        assert_eq!(StoredHead::decode(b""), None);
    }

    #[test]
    fn dropped_headers() {
        assert!(!is_dropped_header(&http::header::CONNECTION));
        assert!(is_dropped_header(&http::header::TRANSFER_ENCODING));
        assert!(is_dropped_header(&HeaderName::from_static("keep-alive")));
        assert!(is_dropped_header(
            &http::header::ACCESS_CONTROL_ALLOW_ORIGIN
        ));
        assert!(!is_dropped_header(&http::header::ETAG));
        assert!(!is_dropped_header(&http::header::CACHE_CONTROL));
    }
}
