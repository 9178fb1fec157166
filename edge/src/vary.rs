//! `Vary` (RFC 9111 §4.1): a stored response answers only requests whose selecting header
//! fields match the request that produced it.
//!
//! When a fill stores a response with `Vary`, [`record`] adds a pseudo-header
//! ([`VARIANT`], never sent downstream) holding a digest of the leader's normalised values
//! of the fields `Vary` names. [`check`] compares a new request against it:
//! - no `Vary` → [`Match::Yes`] (the DASH fast path: one header lookup, nothing hashed);
//! - `Vary: *` → [`Match::Never`] (RFC 9111 §4.1: always fails to match);
//! - otherwise the request's digest over the same fields: equal → `Yes`, else
//!   [`Match::No`]: the handler then tries the variant's own key
//!   ([`crate::key::CacheKey::variant`]), so several variants are stored side by side.
//!
//! Normalisation ([`selecting_digest`]): all lines of a field are combined, members split
//! on commas and trimmed, and fields whose values are case-insensitive (`Accept-Encoding`,
//! `Accept-Language`, `Accept-Charset`, `Accept`) lowercased; an absent field differs from
//! an empty one. The digest is FNV-1a 64 (stable across builds and restarts, for the disk
//! tier).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The pseudo-header of a stored head that holds the selecting-header digest (hex).
pub const VARIANT: HeaderName = HeaderName::from_static("x-dashcdn-variant");

/// How a stored response's `Vary` relates to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The stored response may answer the request.
    Yes,
    /// `Vary: *`, or a stored `Vary` without a recorded digest: never reused.
    Never,
    /// Another variant: the request's digest.
    No(u64),
}

/// The field names of every `Vary` line, lowercased; `None` when there is no `Vary`.
fn vary_fields(response: &HeaderMap) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut any = false;
    for v in response.get_all(header::VARY) {
        any = true;
        let s = v.to_str().unwrap_or("*");
        fields.extend(
            s.split(',')
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty()),
        );
    }
    any.then_some(fields)
}

/// Digest of the normalised values of `fields` in `request` (see the module docs).
pub fn selecting_digest(fields: &[String], request: &HeaderMap) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in fields {
        eat(f.as_bytes());
        eat(b":");
        let lines: Vec<&[u8]> = request
            .get_all(f.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if lines.is_empty() {
            eat(b"\x00absent");
        }
        let lower = matches!(
            f.as_str(),
            "accept-encoding" | "accept-language" | "accept-charset" | "accept"
        );
        let mut first = true;
        for member in lines.iter().flat_map(|l| l.split(|b| *b == b',')) {
            let m = member.trim_ascii();
            if !first {
                eat(b",");
            }
            first = false;
            if lower {
                eat(&m.to_ascii_lowercase());
            } else {
                eat(m);
            }
        }
        eat(b"\n");
    }
    h
}

/// Records the digest of the leader's `request` in the stored `response` headers when they
/// carry `Vary` (nothing otherwise).
pub fn record(response: &mut HeaderMap, request: &HeaderMap) {
    response.remove(VARIANT);
    let Some(fields) = vary_fields(response) else {
        return;
    };
    if fields.iter().any(|f| f == "*") {
        return;
    }
    let d = selecting_digest(&fields, request);
    if let Ok(v) = HeaderValue::from_str(&format!("{d:016x}")) {
        response.insert(VARIANT, v);
    }
}

/// Whether a stored response with `stored` headers may answer a request with `request`
/// headers (see [`Match`]).
pub fn check(stored: &HeaderMap, request: &HeaderMap) -> Match {
    if !stored.contains_key(header::VARY) {
        return Match::Yes;
    }
    let Some(fields) = vary_fields(stored) else {
        return Match::Yes;
    };
    if fields.iter().any(|f| f == "*") {
        return Match::Never;
    }
    let d = selecting_digest(&fields, request);
    let recorded = stored
        .get(VARIANT)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| u64::from_str_radix(s, 16).ok());
    match recorded {
        Some(r) if r == d => Match::Yes,
        Some(_) => Match::No(d),
        None => Match::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_headers::hm;

    #[test]
    fn rfc9111_4_1_vary_matching() {
        let mut stored = hm(&[("vary", "Accept-Language, X-Foo")]);
        record(
            &mut stored,
            &hm(&[("accept-language", "en, fr"), ("x-foo", "1")]),
        );
        // normalised: whitespace, case of a case-insensitive field, split lines
        assert_eq!(
            check(
                &stored,
                &hm(&[("accept-language", "EN,fr"), ("x-foo", "1")])
            ),
            Match::Yes
        );
        assert_eq!(
            check(
                &stored,
                &hm(&[
                    ("accept-language", "en"),
                    ("accept-language", "fr"),
                    ("x-foo", "1")
                ])
            ),
            Match::Yes
        );
        assert!(matches!(
            check(
                &stored,
                &hm(&[("accept-language", "en, fr"), ("x-foo", "2")])
            ),
            Match::No(_)
        ));
        // absent differs from empty
        assert!(matches!(
            check(&stored, &hm(&[("accept-language", "en, fr")])),
            Match::No(_)
        ));
        // no Vary: the fast path
        assert_eq!(check(&hm(&[]), &hm(&[("x-foo", "1")])), Match::Yes);
        // Vary: * never matches, and a Vary without a record is not trusted
        let mut star = hm(&[("vary", "*")]);
        record(&mut star, &hm(&[]));
        assert_eq!(check(&star, &hm(&[])), Match::Never);
        assert_eq!(check(&hm(&[("vary", "x-foo")]), &hm(&[])), Match::Never);
    }
}
