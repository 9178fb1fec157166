//! HTTP caching rules for a shared cache (RFC 9111), as pure functions.
//!
//! - [`crate::directives`] reads the fields ([`CacheControl`], targeted fields, `Age`).
//! - [`Policy::from_response`] decides whether a response may be stored (§3) and for how
//!   long it is fresh (§4.2.1): the directives come from the edge's own targeted field,
//!   else `CDN-Cache-Control`, else `Cache-Control` (RFC 9213 §2.1); the lifetime from
//!   `s-maxage` > `max-age` > `Expires - Date`, else heuristically (§4.2.2) for the
//!   heuristically cacheable statuses: a configured default for DASH segments and MPDs
//!   (the fast path), a short negative TTL for `404`/`410`, 10 % of the time since
//!   `Last-Modified` (capped) for the rest, and nothing without `Last-Modified`.
//! - [`Policy::state`] classifies a stored response by its current age, and
//!   [`Policy::state_for`] also by the request's `Cache-Control` (§5.2.1).
//! - [`initial_age`] / [`current_age`] implement the age calculation of RFC 9111 §4.2.3.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, HeaderName, StatusCode};
use serve::CacheClass;

use crate::directives::RequestCacheControl;

pub use crate::directives::CacheControl;

/// Freshness defaults applied when a response carries no explicit lifetime, and the
/// targeted field of this edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Lifetime of media/init segments without `max-age`/`Expires`.
    pub segment_ttl: Duration,
    /// Lifetime of MPDs without `max-age`/`Expires`.
    pub manifest_ttl: Duration,
    /// Lifetime of anything else without `max-age`/`Expires`.
    pub other_ttl: Duration,
    /// stale-if-error grace when the response does not send `stale-if-error`.
    pub stale_if_error: Duration,
    /// Lifetime of `404`/`410` without explicit freshness (negative caching).
    pub negative_ttl: Duration,
    /// Upper bound of a heuristic lifetime from `Last-Modified`.
    pub heuristic_max: Duration,
    /// The edge's own targeted field (RFC 9213), before `CDN-Cache-Control`.
    pub targeted: Option<HeaderName>,
}

/// The CDN-wide targeted field (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            segment_ttl: Duration::from_secs(86_400),
            manifest_ttl: Duration::from_secs(2),
            other_ttl: Duration::ZERO,
            stale_if_error: Duration::from_secs(3_600),
            negative_ttl: Duration::from_secs(5),
            heuristic_max: Duration::from_secs(86_400),
            targeted: None,
        }
    }
}

/// How a stored response may be used, derived once when it is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Freshness lifetime in seconds.
    pub lifetime: u64,
    /// Seconds past `lifetime` during which it may be served while revalidating.
    pub stale_while_revalidate: u64,
    /// Seconds past `lifetime` during which it may be served if the upstream fails.
    pub stale_if_error: u64,
    /// Must be revalidated before every use (`no-cache`).
    pub no_cache: bool,
    /// Never served stale (`must-revalidate`, `proxy-revalidate`, `no-cache`), not even
    /// when the request allows it (`max-stale`).
    pub must_revalidate: bool,
}

/// Classification of a stored response at a given age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Serve it as is.
    Fresh,
    /// Serve it and refresh it in the background.
    StaleWhileRevalidate,
    /// Revalidate before use (may still be served if the upstream fails and
    /// [`Policy::usable_on_error`] allows).
    Stale,
}

/// The statuses a shared cache may store with a heuristic lifetime (RFC 9110 §15.1;
/// `206` is left out: the edge never stores a partial response as the whole).
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The caching directives that apply to this edge (RFC 9213 §2.1): the edge's own
/// targeted field, else `CDN-Cache-Control`, else `Cache-Control`. Invalid targeted
/// fields are ignored.
pub fn applicable_directives(headers: &HeaderMap, defaults: &Defaults) -> CacheControl {
    defaults
        .targeted
        .as_ref()
        .and_then(|n| CacheControl::targeted(headers, n))
        .or_else(|| CacheControl::targeted(headers, &CDN_CACHE_CONTROL))
        .unwrap_or_else(|| CacheControl::from_headers(headers))
}

impl Policy {
    /// Decides whether a response with `status` and `headers` to a GET for `path`, received
    /// at `received` (stands in for a missing `Date`), may be stored, and if so, its
    /// [`Policy`] (see the module docs for the lifetime). Returns `None` for responses a
    /// shared cache must not (or need not) store: `no-store`, `private` (RFC 9111 §3,
    /// §5.2.2.7), `Set-Cookie` without explicit freshness (by choice), `Vary: *`
    /// (never matches, §4.1), non-final and partial statuses, and statuses that are not
    /// heuristically cacheable without explicit freshness or `public`.
    pub fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        path: &str,
        defaults: &Defaults,
        received: SystemTime,
    ) -> Option<Policy> {
        if status.is_informational()
            || status == StatusCode::PARTIAL_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return None;
        }
        let cc = applicable_directives(headers, defaults);
        // must-understand overrides no-store for the statuses whose semantics the edge
        // implements (RFC 9111 §5.2.2.3)
        let understood = cc.must_understand && heuristically_cacheable(status);
        if (cc.no_store && !understood) || cc.private {
            return None;
        }
        for v in headers.get_all(header::VARY) {
            let s = v.to_str().ok()?;
            if s.split(',').any(|f| f.trim() == "*") {
                return None;
            }
        }
        let explicit = cc
            .s_maxage
            .or(cc.max_age)
            .or_else(|| expires_lifetime(headers, received));
        // A response setting a cookie is shared only when the origin said how long it is
        // fresh (RFC 9111 §3 allows storing it; without explicit freshness the edge does not
        // guess that a cookie is meant for everyone).
        if explicit.is_none() && headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        let lifetime = match explicit {
            Some(l) => l,
            None if !(heuristically_cacheable(status) || cc.public) => return None,
            None => heuristic_lifetime(status, headers, path, defaults, received),
        };
        // s-maxage carries proxy-revalidate's semantics for a shared cache (§5.2.2.10)
        let revalidate = cc.must_revalidate || cc.no_cache || cc.s_maxage.is_some();
        let (swr, sie) = if revalidate {
            (0, 0)
        } else {
            (
                cc.stale_while_revalidate.unwrap_or(0),
                cc.stale_if_error
                    .unwrap_or(defaults.stale_if_error.as_secs()),
            )
        };
        Some(Policy {
            lifetime: if cc.no_cache { 0 } else { lifetime },
            stale_while_revalidate: swr,
            stale_if_error: sie,
            no_cache: cc.no_cache,
            must_revalidate: revalidate,
        })
    }

    /// [`Policy::from_response`] for a response to a request with `request` headers: a
    /// request with `Authorization` may have its response stored only with `public`,
    /// `s-maxage` or `must-revalidate` (RFC 9111 §3.5).
    pub fn for_request(
        request: &HeaderMap,
        status: StatusCode,
        headers: &HeaderMap,
        path: &str,
        defaults: &Defaults,
        received: SystemTime,
    ) -> Option<Policy> {
        if request.contains_key(header::AUTHORIZATION) {
            let cc = applicable_directives(headers, defaults);
            if !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate) {
                return None;
            }
        }
        Policy::from_response(status, headers, path, defaults, received)
    }

    /// Classifies a stored response whose current age is `age` seconds.
    pub fn state(&self, age: u64) -> State {
        if !self.no_cache && age < self.lifetime {
            State::Fresh
        } else if !self.no_cache && age < self.lifetime.saturating_add(self.stale_while_revalidate)
        {
            State::StaleWhileRevalidate
        } else {
            State::Stale
        }
    }

    /// [`Policy::state`] for a request with `req` directives (RFC 9111 §5.2.1): `no-cache`,
    /// `max-age` and `min-fresh` can turn a fresh response stale (it is revalidated);
    /// `max-stale` can make a stale one acceptable (served, refreshed in the background),
    /// except when the response must be revalidated.
    pub fn state_for(&self, age: u64, req: &RequestCacheControl) -> State {
        let st = self.state(age);
        let too_old = req.no_cache
            // max-age=0 is a reload: ages are whole seconds, so "older than 0" would let a
            // copy stored within the last second through
            || req.max_age.is_some_and(|m| age > m || m == 0)
            || req
                .min_fresh
                .is_some_and(|f| self.lifetime.saturating_sub(age) < f);
        if too_old {
            return State::Stale;
        }
        if st == State::Stale && !self.must_revalidate {
            if let Some(max) = req.max_stale {
                if max.is_none_or(|m| age.saturating_sub(self.lifetime) <= m) {
                    return State::StaleWhileRevalidate;
                }
            }
        }
        st
    }

    /// True if, at `age` seconds, the response may be served because the upstream failed.
    pub fn usable_on_error(&self, age: u64) -> bool {
        age < self.lifetime.saturating_add(self.stale_if_error)
    }
}

/// The heuristic lifetime (RFC 9111 §4.2.2) of a response without explicit freshness.
fn heuristic_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    path: &str,
    defaults: &Defaults,
    received: SystemTime,
) -> u64 {
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return defaults.negative_ttl.as_secs();
    }
    if status == StatusCode::OK {
        match CacheClass::of(path) {
            CacheClass::Segment => return defaults.segment_ttl.as_secs(),
            CacheClass::Manifest => return defaults.manifest_ttl.as_secs(),
            CacheClass::Other => {}
        }
    }
    let date = header_date(headers, header::DATE).unwrap_or(received);
    let from_last_modified = header_date(headers, header::LAST_MODIFIED)
        .and_then(|lm| date.duration_since(lm).ok())
        .map(|d| (d.as_secs() / 10).min(defaults.heuristic_max.as_secs()));
    from_last_modified.unwrap_or(defaults.other_ttl.as_secs())
}

/// Lifetime from `Expires - Date` (RFC 9111 §4.2.1), with the time the response was
/// `received` for a missing `Date` (RFC 9110 §6.6.1); an invalid `Expires` means 0.
fn expires_lifetime(headers: &HeaderMap, received: SystemTime) -> Option<u64> {
    let expires = headers.get(header::EXPIRES)?;
    let Some(expires) = expires.to_str().ok().and_then(parse_date) else {
        return Some(0);
    };
    let date = header_date(headers, header::DATE).unwrap_or(received);
    Some(
        expires
            .duration_since(date)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    parse_date(headers.get(name)?.to_str().ok()?)
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, RFC 850 and asctime, leniently as
/// far as the RFC lets a recipient be: surrounding whitespace and the case of day, month
/// and `GMT` names are ignored, an asctime day may be written without its padding space;
/// but a date with other extra spaces is invalid (an invalid `Expires` means stale).
pub fn parse_date(s: &str) -> Option<SystemTime> {
    let t = s.trim();
    if let Ok(d) = httpdate::parse_http_date(t) {
        return Some(d);
    }
    // fix the case of alphabetic tokens: "sun, 06 NOV 1994 08:49:37 gmt"
    let mut fixed = String::with_capacity(t.len());
    let mut word_start = true;
    for c in t.chars() {
        if c.is_ascii_alphabetic() {
            fixed.push(if word_start {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            word_start = false;
        } else {
            fixed.push(c);
            word_start = true;
        }
    }
    let fixed = fixed.replace("Gmt", "GMT");
    if let Ok(d) = httpdate::parse_http_date(&fixed) {
        return Some(d);
    }
    asctime(&fixed)
}

/// An asctime date (`Sun Nov  6 08:49:37 1994`, the day also unpadded), read without
/// checking the weekday name against the date (httpdate refuses a mismatch).
fn asctime(s: &str) -> Option<SystemTime> {
    let p: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
    let [_wday, mon, day, time, year] = p.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let d: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let y: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *mi > 59 || *se > 60 {
        return None;
    }
    // days from civil (H. Hinnant)
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3_600 + mi * 60 + se;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// `corrected_initial_age` of RFC 9111 §4.2.3 in seconds, for a response received at
/// `response_time` to a request sent at `request_time`.
pub fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> u64 {
    let age_value = crate::directives::age_value(headers).unwrap_or(0);
    let apparent_age = header_date(headers, header::DATE)
        .and_then(|d| response_time.duration_since(d).ok())
        .map_or(0, |d| d.as_secs());
    let response_delay = response_time
        .duration_since(request_time)
        .map_or(0, |d| d.as_secs());
    apparent_age.max(age_value.saturating_add(response_delay))
}

/// `current_age` (RFC 9111 §4.2.3) in seconds at `now`.
pub fn current_age(initial_age: u64, response_time_ms: u64, now: SystemTime) -> u64 {
    let now_ms = unix_ms(now);
    initial_age + now_ms.saturating_sub(response_time_ms) / 1000
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hm(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const SEG: &str = "default/v720/3.m4s";
    const MPD: &str = "default/manifest.mpd";

    fn policy(pairs: &[(header::HeaderName, &str)], path: &str) -> Option<Policy> {
        Policy::from_response(
            StatusCode::OK,
            &hm(pairs),
            path,
            &Defaults::default(),
            SystemTime::now(),
        )
    }

    #[test]
    fn lifetime_precedence() {
        let p = policy(&[(header::CACHE_CONTROL, "max-age=60, s-maxage=10")], SEG).unwrap();
        assert_eq!(p.lifetime, 10);
        let p = policy(&[(header::CACHE_CONTROL, "max-age=60")], SEG).unwrap();
        assert_eq!(p.lifetime, 60);
        let now = SystemTime::now();
        let date = httpdate::fmt_http_date(now);
        let exp = httpdate::fmt_http_date(now + Duration::from_secs(120));
        let p = policy(&[(header::DATE, &date), (header::EXPIRES, &exp)], SEG).unwrap();
        assert!((119..=120).contains(&p.lifetime), "{p:?}");
        // max-age wins over Expires
        let p = policy(
            &[
                (header::DATE, &date),
                (header::EXPIRES, &exp),
                (header::CACHE_CONTROL, "max-age=7"),
            ],
            SEG,
        )
        .unwrap();
        assert_eq!(p.lifetime, 7);
        // invalid Expires = already expired
        let p = policy(&[(header::EXPIRES, "0")], SEG).unwrap();
        assert_eq!(p.lifetime, 0);
        // no Date: Expires counts from the time the response was received
        let received = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let exp = httpdate::fmt_http_date(received + Duration::from_secs(30));
        let p = Policy::from_response(
            StatusCode::OK,
            &hm(&[(header::EXPIRES, &exp)]),
            SEG,
            &Defaults::default(),
            received,
        )
        .unwrap();
        assert_eq!(p.lifetime, 30);
    }

    #[test]
    fn defaults_by_class() {
        let d = Defaults::default();
        assert_eq!(policy(&[], SEG).unwrap().lifetime, d.segment_ttl.as_secs());
        assert_eq!(policy(&[], MPD).unwrap().lifetime, d.manifest_ttl.as_secs());
        // HLS playlists are manifests too: short-lived like the MPD.
        for playlist in ["default/master.m3u8", "default/v720/playlist.m3u8"] {
            assert_eq!(
                policy(&[], playlist).unwrap().lifetime,
                d.manifest_ttl.as_secs()
            );
        }
        assert_eq!(policy(&[], "x.html").unwrap().lifetime, 0);
        assert_eq!(
            policy(&[], SEG).unwrap().stale_if_error,
            d.stale_if_error.as_secs()
        );
    }

    #[test]
    fn not_storable() {
        assert_eq!(policy(&[(header::CACHE_CONTROL, "no-store")], SEG), None);
        assert_eq!(policy(&[(header::CACHE_CONTROL, "private")], SEG), None);
        assert_eq!(policy(&[(header::SET_COOKIE, "a=b")], "/x"), None);
        assert!(policy(
            &[
                (header::SET_COOKIE, "a=b"),
                (header::CACHE_CONTROL, "max-age=5")
            ],
            "/x"
        )
        .is_some());
        // RFC 9111 §3.5: a response to a request with Authorization
        let auth = hm(&[(header::AUTHORIZATION, "Basic eDp5")]);
        let with_auth = |cc: &str| {
            Policy::for_request(
                &auth,
                StatusCode::OK,
                &hm(&[(header::CACHE_CONTROL, cc)]),
                "/x",
                &Defaults::default(),
                SystemTime::now(),
            )
        };
        assert_eq!(with_auth("max-age=60"), None);
        for ok in [
            "max-age=60, public",
            "s-maxage=60",
            "max-age=60, must-revalidate",
        ] {
            assert!(with_auth(ok).is_some(), "{ok}");
        }
        assert_eq!(policy(&[(header::VARY, "User-Agent, *")], SEG), None);
        assert!(policy(&[(header::VARY, "Accept-Encoding, Origin")], SEG).is_some());
        assert!(policy(&[(header::VARY, "User-Agent")], SEG).is_some());
    }

    fn with_status(status: u16, pairs: &[(header::HeaderName, &str)]) -> Option<Policy> {
        Policy::from_response(
            StatusCode::from_u16(status).unwrap(),
            &hm(pairs),
            "/x",
            &Defaults::default(),
            SystemTime::now(),
        )
    }

    #[test]
    fn rfc9111_4_2_2_heuristic_and_negative_freshness() {
        // no explicit freshness, no Last-Modified: stored (revalidated before use), not fresh
        assert_eq!(with_status(200, &[]).unwrap().lifetime, 0);
        // 10 % of the time since Last-Modified
        let now = SystemTime::now();
        let lm = httpdate::fmt_http_date(now - Duration::from_secs(10_000));
        let date = httpdate::fmt_http_date(now);
        let p = with_status(200, &[(header::LAST_MODIFIED, &lm), (header::DATE, &date)]).unwrap();
        assert_eq!(p.lifetime, 1_000);
        // negative caching with a short default
        assert_eq!(with_status(404, &[]).unwrap().lifetime, 5);
        assert_eq!(with_status(410, &[]).unwrap().lifetime, 5);
        // other statuses only with explicit freshness (or public)
        assert_eq!(with_status(500, &[]), None);
        assert_eq!(with_status(302, &[]), None);
        assert_eq!(
            with_status(500, &[(header::CACHE_CONTROL, "max-age=9")])
                .unwrap()
                .lifetime,
            9
        );
        assert!(with_status(302, &[(header::CACHE_CONTROL, "public")]).is_some());
        // must-understand with an understood status lifts no-store (RFC 9111 §5.2.2.3)
        assert!(with_status(
            200,
            &[(
                header::CACHE_CONTROL,
                "max-age=9, no-store, must-understand"
            )]
        )
        .is_some());
        assert_eq!(
            with_status(
                299,
                &[(
                    header::CACHE_CONTROL,
                    "max-age=9, no-store, must-understand"
                )]
            ),
            None
        );
        // never a partial response as the whole
        assert_eq!(
            with_status(206, &[(header::CACHE_CONTROL, "max-age=9")]),
            None
        );
    }

    #[test]
    fn rfc9213_targeted_field_precedence() {
        let mut d = Defaults::default();
        let cdn = header::HeaderName::from_static("cdn-cache-control");
        let own = header::HeaderName::from_static("dashcdn-cache-control");
        let p = |d: &Defaults, pairs: &[(header::HeaderName, &str)]| {
            Policy::from_response(StatusCode::OK, &hm(pairs), "/x", d, SystemTime::now())
        };
        let cc = (header::CACHE_CONTROL, "max-age=3600");
        assert_eq!(
            p(&d, &[cc.clone(), (cdn.clone(), "max-age=5")])
                .unwrap()
                .lifetime,
            5
        );
        // CDN-Cache-Control: no-store wins over a fresh Cache-Control, and vice versa
        assert_eq!(p(&d, &[cc.clone(), (cdn.clone(), "no-store")]), None);
        assert_eq!(
            p(
                &d,
                &[
                    (header::CACHE_CONTROL, "no-store"),
                    (cdn.clone(), "max-age=60")
                ]
            )
            .unwrap()
            .lifetime,
            60
        );
        // invalid: ignored
        assert_eq!(
            p(&d, &[cc.clone(), (cdn.clone(), "max-age=\"5\"")])
                .unwrap()
                .lifetime,
            3600
        );
        // the edge's own field first
        d.targeted = Some(own.clone());
        assert_eq!(
            p(&d, &[cc, (cdn, "max-age=5"), (own, "max-age=7")])
                .unwrap()
                .lifetime,
            7
        );
    }

    #[test]
    fn rfc9111_5_2_1_request_directives_and_state() {
        let p = policy(&[(header::CACHE_CONTROL, "max-age=10")], SEG).unwrap();
        let rc = |v: &str| RequestCacheControl::from_headers(&hm(&[(header::CACHE_CONTROL, v)]));
        assert_eq!(p.state_for(5, &rc("max-age=0")), State::Stale);
        assert_eq!(p.state_for(5, &rc("max-age=6")), State::Fresh);
        assert_eq!(p.state_for(5, &rc("no-cache")), State::Stale);
        assert_eq!(p.state_for(5, &rc("min-fresh=6")), State::Stale);
        assert_eq!(p.state_for(5, &rc("min-fresh=5")), State::Fresh);
        assert_eq!(
            p.state_for(12, &rc("max-stale=5")),
            State::StaleWhileRevalidate
        );
        assert_eq!(p.state_for(16, &rc("max-stale=5")), State::Stale);
        assert_eq!(
            p.state_for(99, &rc("max-stale")),
            State::StaleWhileRevalidate
        );
        let mr = policy(
            &[(header::CACHE_CONTROL, "max-age=10, must-revalidate")],
            SEG,
        )
        .unwrap();
        assert_eq!(mr.state_for(12, &rc("max-stale")), State::Stale);
    }

    #[test]
    fn rfc9110_5_6_7_dates_leniently() {
        let want = parse_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(want));
        assert_eq!(parse_date("Sun Nov  6 08:49:37 1994"), Some(want));
        assert_eq!(parse_date("Sun Nov 6 08:49:37 1994"), Some(want));
        assert_eq!(parse_date("  Sun, 06 Nov 1994 08:49:37 GMT "), Some(want));
        assert_eq!(parse_date("sun, 06 NOV 1994 08:49:37 gmt"), Some(want));
        assert_eq!(parse_date("Sun,  06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_date("0"), None);
        assert!(parse_date("Thu Aug  8 02:01:18 2050").is_some());
    }

    #[test]
    fn states() {
        let p = policy(
            &[(
                header::CACHE_CONTROL,
                "max-age=10, stale-while-revalidate=5, stale-if-error=100",
            )],
            SEG,
        )
        .unwrap();
        assert_eq!(p.state(0), State::Fresh);
        assert_eq!(p.state(9), State::Fresh);
        assert_eq!(p.state(10), State::StaleWhileRevalidate);
        assert_eq!(p.state(14), State::StaleWhileRevalidate);
        assert_eq!(p.state(15), State::Stale);
        assert!(p.usable_on_error(109));
        assert!(!p.usable_on_error(110));
        // no-cache: stored, always revalidated
        let p = policy(&[(header::CACHE_CONTROL, "no-cache, max-age=100")], SEG).unwrap();
        assert_eq!(p.state(0), State::Stale);
        // must-revalidate: no stale use at all
        let p = policy(
            &[(
                header::CACHE_CONTROL,
                "max-age=1, must-revalidate, stale-if-error=60",
            )],
            SEG,
        )
        .unwrap();
        assert!(!p.usable_on_error(1));
        assert_eq!(p.state(1), State::Stale);
    }

    #[test]
    fn ages() {
        let req = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let res = req + Duration::from_secs(2);
        let h = hm(&[(header::AGE, "30")]);
        assert_eq!(initial_age(&h, req, res), 32);
        let date = httpdate::fmt_http_date(res - Duration::from_secs(100));
        let h = hm(&[(header::AGE, "30"), (header::DATE, &date)]);
        assert_eq!(initial_age(&h, req, res), 100);
        let h = HeaderMap::new();
        assert_eq!(initial_age(&h, req, req), 0);
        let t = unix_ms(res);
        assert_eq!(current_age(5, t, res + Duration::from_millis(2500)), 7);
        assert_eq!(current_age(5, t, res - Duration::from_secs(3)), 5);
    }
}
