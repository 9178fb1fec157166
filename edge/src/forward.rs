//! Which request and response headers cross the edge, as pure functions.
//!
//! - Hop-by-hop fields (RFC 9110 §7.6.1: `Connection`, every field it lists, `Keep-Alive`,
//!   `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) never cross, in either
//!   direction ([`is_hop_by_hop`], [`end_to_end`]).
//! - `Host` is the upstream's (set by the client library from the configured URL), never
//!   the client's: the client cannot steer the request elsewhere.
//! - `Via` (RFC 9110 §7.6.3) is appended by [`crate::upstream`]; `X-Forwarded-For` gets
//!   the peer appended and `X-Forwarded-Proto` is set when absent ([`request_headers`]).
//! - A **fill** ([`Use::Fill`]) is a shared request: its answer is stored for everyone and
//!   handed to every coalesced waiter. So the client's own conditionals (`If-None-Match`,
//!   `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`, `If-Range`) and `Range` are
//!   not forwarded (the edge revalidates with its own validators, and answers the client's
//!   conditionals and ranges itself from the full representation); nor is a request body
//!   (`Content-Length`, `Content-Type` of a body a GET should not have, `Expect`).
//!   Everything else end-to-end goes (`Accept*`, `User-Agent`, `Cookie`, `Cache-Control`,
//!   `Authorization` never reaches a fill: such requests are proxied, see
//!   [`crate::proxy`]): the leader's request is the fill's request, and `Vary` (see
//!   [`crate::vary`]) keeps waiters whose selecting headers differ from sharing it.
//! - A **proxied** request ([`Use::Proxy`]) keeps every end-to-end field, body included.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What an upstream request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A cache fill shared by every waiter (see the module docs for what is left out).
    Fill,
    /// A request passed through unchanged (methods other than GET/HEAD, uncacheable
    /// requests).
    Proxy,
}

/// True for the fixed hop-by-hop fields of RFC 9110 §7.6.1 (and the `Proxy-*` family,
/// `Keep-Alive`, `Proxy-Connection`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::CONNECTION
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
            | header::PROXY_AUTHENTICATE
            | header::PROXY_AUTHORIZATION
    ) || name.as_str() == "keep-alive"
        || name.as_str().starts_with("proxy-")
}

/// The field names listed in `Connection` (RFC 9110 §7.6.1): hop-by-hop for this message.
pub fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// `headers` without hop-by-hop fields (fixed and `Connection`-listed). For responses
/// passed back to clients and the base of every forwarded request.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(headers);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_hop_by_hop(name) && !listed.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// True for the request fields a fill leaves out (see the module docs).
fn private_to_the_client(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::IF_NONE_MATCH
            | header::IF_MODIFIED_SINCE
            | header::IF_MATCH
            | header::IF_UNMODIFIED_SINCE
            | header::IF_RANGE
            | header::RANGE
            | header::CONTENT_LENGTH
            | header::EXPECT
    )
}

/// The request headers to send upstream for a client request with `client` headers from
/// `peer`: end-to-end fields only, no `Host` (the upstream's is set from its URL), the
/// fill exclusions for [`Use::Fill`], `X-Forwarded-For` with the peer appended and
/// `X-Forwarded-Proto: http` unless a previous hop set it. `Via` is added by the upstream
/// client.
pub fn request_headers(client: &HeaderMap, peer: Option<IpAddr>, use_: Use) -> HeaderMap {
    let mut out = end_to_end(client);
    out.remove(header::HOST);
    if use_ == Use::Fill {
        let names: Vec<HeaderName> = out
            .keys()
            .filter(|n| private_to_the_client(n))
            .cloned()
            .collect();
        for n in names {
            out.remove(n);
        }
    }
    if let Some(ip) = peer {
        let xff = HeaderName::from_static("x-forwarded-for");
        let previous: Vec<&str> = client
            .get_all(&xff)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let value = if previous.is_empty() {
            ip.to_string()
        } else {
            format!("{}, {ip}", previous.join(", "))
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.insert(xff, v);
        }
    }
    let proto = HeaderName::from_static("x-forwarded-proto");
    if !out.contains_key(&proto) {
        out.insert(proto, HeaderValue::from_static("http"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_headers::hm;

    #[test]
    fn rfc9110_7_6_1_hop_by_hop_and_connection_listed_are_dropped() {
        let h = hm(&[
            ("connection", "close, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-app", "kept"),
            ("set-cookie", "a=b"),
        ]);
        let e = end_to_end(&h);
        let names: Vec<&str> = e.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-app", "set-cookie"]);
    }

    #[test]
    fn fill_requests_leave_out_the_clients_conditionals_and_range() {
        let h = hm(&[
            ("host", "client.example"),
            ("if-none-match", "\"a\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("range", "bytes=0-1"),
            ("accept-language", "fr"),
            ("x-forwarded-for", "10.0.0.1"),
        ]);
        let peer = Some("127.0.0.9".parse().unwrap());
        let f = request_headers(&h, peer, Use::Fill);
        assert!(f.get("host").is_none());
        assert!(f.get("if-none-match").is_none() && f.get("range").is_none());
        assert_eq!(f["accept-language"], "fr");
        assert_eq!(f["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(f["x-forwarded-proto"], "http");
        let p = request_headers(&h, None, Use::Proxy);
        assert_eq!(p["if-none-match"], "\"a\"");
        assert_eq!(p["range"], "bytes=0-1");
        assert_eq!(p["x-forwarded-for"], "10.0.0.1");
    }
}
