//! Conditional request evaluation (RFC 9110 §13) against a strong ETag and a
//! Last-Modified time.
//!
//! [`evaluate`] follows the precedence of RFC 9110 §13.2.2:
//! 1. `If-Match` (strong comparison; `*` matches) fails → `412`;
//! 2. otherwise, without `If-Match`, `If-Unmodified-Since` older than Last-Modified → `412`;
//! 3. `If-None-Match` (weak comparison; `*` matches) matches → `304` for GET/HEAD
//!    (`412` for other methods);
//! 4. otherwise, without `If-None-Match`, for GET/HEAD `If-Modified-Since` ≥ Last-Modified → `304`.
//!
//! [`if_range_allows`] decides whether a `Range` may be honoured given `If-Range`.
//! Unparseable dates are ignored, as the RFC requires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, Method};

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The entity tag as sent in the `ETag` header, including quotes (and `W/` if weak).
    pub etag: Option<&'a str>,
    /// The modification time as sent in `Last-Modified` (compared at 1 s resolution).
    pub last_modified: Option<SystemTime>,
}

/// What to do with a request after evaluating its preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Process normally (200/206/416).
    Proceed,
    /// Answer `304 Not Modified`.
    NotModified,
    /// Answer `412 Precondition Failed`.
    Failed,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since`.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Precondition {
    let safe = method == Method::GET || method == Method::HEAD;
    if headers.contains_key(header::IF_MATCH) {
        let ok = header_list(headers, header::IF_MATCH)
            .is_some_and(|list| list_matches(&list, v.etag, true));
        if !ok {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(lm)) = (
        header_date(headers, header::IF_UNMODIFIED_SINCE),
        v.last_modified,
    ) {
        if secs(lm) > secs(since) {
            return Precondition::Failed;
        }
    }
    if headers.contains_key(header::IF_NONE_MATCH) {
        if let Some(list) = header_list(headers, header::IF_NONE_MATCH) {
            if list_matches(&list, v.etag, false) {
                return if safe {
                    Precondition::NotModified
                } else {
                    Precondition::Failed
                };
            }
        }
    } else if safe {
        if let (Some(since), Some(lm)) = (
            header_date(headers, header::IF_MODIFIED_SINCE),
            v.last_modified,
        ) {
            if secs(lm) <= secs(since) {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// True when a `Range` header may be honoured: no `If-Range`, or `If-Range` holds an
/// entity tag that strongly matches, or an HTTP date equal to Last-Modified.
pub fn if_range_allows(headers: &HeaderMap, v: &Validators<'_>) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match v.etag {
            Some(current) => strong_eq(value, current),
            None => false,
        };
    }
    match (httpdate::parse_http_date(value), v.last_modified) {
        (Ok(date), Some(lm)) => secs(date) == secs(lm),
        _ => false,
    }
}

/// Parses an entity-tag list header value (`*`, or `"a", W/"b"`) into tags with their
/// `W/` prefix preserved. Returns `None` for `*`.
pub fn parse_etag_list(value: &str) -> Option<Vec<&str>> {
    if value.trim() == "*" {
        return None;
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            break;
        }
        let start = rest;
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inner) = body.strip_prefix('"') else {
            // not an entity tag: skip to the next comma
            rest = rest.split_once(',').map_or("", |(_, r)| r);
            continue;
        };
        let Some(close) = inner.find('"') else { break };
        let taken = start.len() - inner.len() + close + 1;
        tags.push(&start[..taken]);
        rest = &start[taken..];
    }
    Some(tags)
}

/// Weak comparison (RFC 9110 §8.8.3.2): opaque tags equal, `W/` ignored.
pub fn weak_eq(a: &str, b: &str) -> bool {
    opaque(a) == opaque(b)
}

/// Strong comparison: both tags strong and equal.
pub fn strong_eq(a: &str, b: &str) -> bool {
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

enum TagList {
    Any,
    Tags(Vec<String>),
}

fn header_list(headers: &HeaderMap, name: header::HeaderName) -> Option<TagList> {
    let mut tags = Vec::new();
    for value in headers.get_all(name) {
        let s = value.to_str().ok()?;
        match parse_etag_list(s) {
            None => return Some(TagList::Any),
            Some(list) => tags.extend(list.into_iter().map(str::to_owned)),
        }
    }
    Some(TagList::Tags(tags))
}

fn list_matches(list: &TagList, current: Option<&str>, strong: bool) -> bool {
    let Some(current) = current else {
        return false;
    };
    match list {
        TagList::Any => true,
        TagList::Tags(tags) => tags.iter().any(|t| {
            if strong {
                strong_eq(t, current)
            } else {
                weak_eq(t, current)
            }
        }),
    }
}

fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let v = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(v.trim()).ok()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const TAG: &str = "\"abc\"";

    fn v(lm: u64) -> Validators<'static> {
        Validators {
            etag: Some(TAG),
            last_modified: Some(UNIX_EPOCH + Duration::from_secs(lm)),
        }
    }

    fn hm(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.append(k.clone(), HeaderValue::from_str(val).unwrap());
        }
        h
    }

    fn date(s: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s))
    }

    #[test]
    fn etag_lists() {
        assert_eq!(parse_etag_list("*"), None);
        assert_eq!(
            parse_etag_list("\"a\", W/\"b\",\"c,d\"").unwrap(),
            vec!["\"a\"", "W/\"b\"", "\"c,d\""]
        );
        assert_eq!(parse_etag_list("junk, \"x\"").unwrap(), vec!["\"x\""]);
        assert!(weak_eq("W/\"a\"", "\"a\""));
        assert!(!strong_eq("W/\"a\"", "\"a\""));
        assert!(strong_eq("\"a\"", "\"a\""));
    }

    #[test]
    fn if_none_match() {
        let g = Method::GET;
        let h = hm(&[(header::IF_NONE_MATCH, "\"zzz\", W/\"abc\"")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::NotModified);
        let h = hm(&[(header::IF_NONE_MATCH, "*")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::NotModified);
        let h = hm(&[(header::IF_NONE_MATCH, "\"zzz\"")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
        // multiple header lines are combined
        let h = hm(&[
            (header::IF_NONE_MATCH, "\"zzz\""),
            (header::IF_NONE_MATCH, TAG),
        ]);
        assert_eq!(
            evaluate(&Method::HEAD, &h, &v(1000)),
            Precondition::NotModified
        );
        // If-None-Match wins over If-Modified-Since
        let h = hm(&[
            (header::IF_NONE_MATCH, "\"zzz\""),
            (header::IF_MODIFIED_SINCE, &date(2000)),
        ]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
        let h = hm(&[(header::IF_NONE_MATCH, TAG)]);
        assert_eq!(evaluate(&Method::PUT, &h, &v(1000)), Precondition::Failed);
    }

    #[test]
    fn if_modified_since() {
        let g = Method::GET;
        let h = hm(&[(header::IF_MODIFIED_SINCE, &date(1000))]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::NotModified);
        assert_eq!(evaluate(&g, &h, &v(999)), Precondition::NotModified);
        assert_eq!(evaluate(&g, &h, &v(1001)), Precondition::Proceed);
        let h = hm(&[(header::IF_MODIFIED_SINCE, "not a date")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
        // sub-second mtimes compare at second resolution
        let lm = UNIX_EPOCH + Duration::from_millis(1_000_700);
        let vv = Validators {
            etag: Some(TAG),
            last_modified: Some(lm),
        };
        let h = hm(&[(header::IF_MODIFIED_SINCE, &date(1000))]);
        assert_eq!(evaluate(&g, &h, &vv), Precondition::NotModified);
    }

    #[test]
    fn if_match_and_unmodified_since() {
        let g = Method::GET;
        let h = hm(&[(header::IF_MATCH, "\"zzz\"")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Failed);
        let h = hm(&[(header::IF_MATCH, TAG)]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
        let h = hm(&[(header::IF_MATCH, "W/\"abc\"")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Failed);
        let h = hm(&[(header::IF_MATCH, "*")]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
        let h = hm(&[(header::IF_UNMODIFIED_SINCE, &date(999))]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Failed);
        let h = hm(&[(header::IF_UNMODIFIED_SINCE, &date(1000))]);
        assert_eq!(evaluate(&g, &h, &v(1000)), Precondition::Proceed);
    }

    #[test]
    fn if_range() {
        assert!(if_range_allows(&HeaderMap::new(), &v(1000)));
        assert!(if_range_allows(&hm(&[(header::IF_RANGE, TAG)]), &v(1000)));
        assert!(!if_range_allows(
            &hm(&[(header::IF_RANGE, "\"old\"")]),
            &v(1000)
        ));
        assert!(!if_range_allows(
            &hm(&[(header::IF_RANGE, "W/\"abc\"")]),
            &v(1000)
        ));
        assert!(if_range_allows(
            &hm(&[(header::IF_RANGE, &date(1000))]),
            &v(1000)
        ));
        assert!(!if_range_allows(
            &hm(&[(header::IF_RANGE, &date(999))]),
            &v(1000)
        ));
        assert!(!if_range_allows(
            &hm(&[(header::IF_RANGE, "garbage")]),
            &v(1000)
        ));
    }
}
