//! The `Host` rule every listener enforces before a request reaches its router
//! (RFC 9112 §3.2):
//!
//! > A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
//! > message that lacks a Host header field and to any request message that contains more
//! > than one Host header field line or a Host header field with an invalid field value.
//!
//! Decisions, per that text:
//! - **HTTP/1.1 without `Host`** → `400`.
//! - **HTTP/1.0 (or 0.9) without `Host`** → accepted: the MUST covers HTTP/1.1 messages
//!   only, and HTTP/1.0 clients predate the field (RFC 1945 has no `Host`). Such a request
//!   is served as if it named the server itself.
//! - **HTTP/2 without `Host`** → accepted: the target's authority travels in the
//!   `:authority` pseudo-header (RFC 9113 §8.3.1), and a client may omit `Host`.
//! - **Two or more `Host` lines**, any version → `400`.
//! - **An invalid value** (`400`): not `uri-host [ ":" port ]` (RFC 9110 §7.2) — e.g. with
//!   userinfo (`a@b`), a path, spaces, a non-numeric port. An *empty* value is valid (RFC
//!   9112 §3.2: a target without authority is sent with an empty `Host`).
//!
//! [`check`] is the pure policy; the server answers a rejected request with
//! [`bad_request`] and closes the connection (the rest of the byte stream from a client
//! that gets framing fields wrong is not trusted).

use std::str::FromStr;

use axum::body::Body;
use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};

/// What [`check`] decided about a request's `Host` field(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    /// Fine: serve the request.
    Ok,
    /// An HTTP/1.1 request without `Host`.
    Missing,
    /// More than one `Host` field line.
    Duplicate,
    /// A `Host` value that is not `uri-host [ ":" port ]`.
    Invalid,
}

impl HostCheck {
    /// The reason given in the `400` body, `None` for [`HostCheck::Ok`].
    pub fn reason(self) -> Option<&'static str> {
        match self {
            HostCheck::Ok => None,
            HostCheck::Missing => Some("an HTTP/1.1 request needs a Host header"),
            HostCheck::Duplicate => Some("more than one Host header"),
            HostCheck::Invalid => Some("invalid Host header"),
        }
    }
}

/// Applies the `Host` rule of RFC 9112 §3.2 (see the [module documentation](self)) to a
/// request's version and headers.
pub fn check(version: Version, headers: &HeaderMap) -> HostCheck {
    let mut hosts = headers.get_all(HOST).iter();
    let Some(host) = hosts.next() else {
        return if version == Version::HTTP_11 {
            HostCheck::Missing
        } else {
            HostCheck::Ok
        };
    };
    if hosts.next().is_some() {
        return HostCheck::Duplicate;
    }
    if valid_host(host) {
        HostCheck::Ok
    } else {
        HostCheck::Invalid
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), or empty.
fn valid_host(value: &HeaderValue) -> bool {
    let Ok(s) = value.to_str() else {
        return false;
    };
    if s.is_empty() {
        return true;
    }
    // `Authority` also accepts userinfo (`user@host`), which `Host` does not.
    if s.contains('@') {
        return false;
    }
    let Ok(authority) = Authority::from_str(s) else {
        return false;
    };
    let host = authority.host();
    // What follows the host must be `[ ":" *DIGIT ]` (`Authority` is laxer on the port).
    let port = s.get(host.len()..).unwrap_or("x");
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    !host.is_empty() && s.starts_with(host) && port_ok
}

/// The `400 Bad Request` for a rejected `Host`, with `Connection: close`.
pub fn bad_request(outcome: HostCheck) -> Response<Body> {
    let reason = outcome.reason().unwrap_or("bad request");
    let mut res = Response::new(Body::from(format!("400 Bad Request: {reason}\n")));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(hosts: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(HOST, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert_eq!(check(Version::HTTP_11, &headers(&[])), HostCheck::Missing);
        assert_eq!(check(Version::HTTP_11, &headers(&[b"a"])), HostCheck::Ok);
        assert_eq!(
            check(Version::HTTP_11, &headers(&[b"a", b"a"])),
            HostCheck::Duplicate
        );
        assert_eq!(
            check(Version::HTTP_11, &headers(&[b"a", b"b"])),
            HostCheck::Duplicate
        );
    }

    #[test]
    fn http10_and_http2_may_omit_host_but_not_repeat_it() {
        for v in [Version::HTTP_10, Version::HTTP_09, Version::HTTP_2] {
            assert_eq!(check(v, &headers(&[])), HostCheck::Ok, "{v:?}");
            assert_eq!(check(v, &headers(&[b"a", b"b"])), HostCheck::Duplicate);
        }
    }

    #[test]
    fn host_values_follow_rfc9110_7_2() {
        for ok in [
            &b""[..],
            b"example.com",
            b"example.com:8080",
            b"127.0.0.1:80",
            b"[::1]:8080",
            b"[::1]",
            b"host:",
            b"xn--bcher-kva.example",
        ] {
            let h = headers(&[ok]);
            assert_eq!(check(Version::HTTP_11, &h), HostCheck::Ok, "{ok:?}");
        }
        for bad in [
            &b"user@example.com"[..],
            b"example.com/path",
            b"exa mple.com",
            b"example.com:80x",
            b"[::1]x",
            b"\xff",
            b":80",
        ] {
            let h = headers(&[bad]);
            assert_eq!(check(Version::HTTP_11, &h), HostCheck::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn the_answer_is_400_and_closes() {
        let res = bad_request(HostCheck::Duplicate);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()[CONNECTION], "close");
        assert_eq!(HostCheck::Ok.reason(), None);
    }
}
