//! HTTP caching rules for a shared cache (RFC 9111), as pure functions.
//!
//! - [`CacheControl::parse`] reads the response directives the edge acts on.
//! - [`Policy::from_response`] decides whether a response may be stored and for how
//!   long it is fresh (`s-maxage` > `max-age` > `Expires - Date` > a configured default
//!   per [`serve::CacheClass`]), plus its stale-while-revalidate and
//!   stale-if-error windows.
//! - [`Policy::state`] classifies a stored response by its current age.
//! - [`initial_age`] / [`current_age`] implement the age calculation of RFC 9111 §4.2.3.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, StatusCode};
use serve::CacheClass;

/// The `Cache-Control` response directives the edge understands. Unknown directives are
/// ignored; a directive with an unparseable argument is treated as absent (except
/// `max-age`/`s-maxage`, where a bad value means "stale", as RFC 9111 §4.2.1 advises).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age=N` (seconds).
    pub max_age: Option<u64>,
    /// `s-maxage=N` (seconds; overrides `max-age` in shared caches).
    pub s_maxage: Option<u64>,
    /// `no-store`: never store.
    pub no_store: bool,
    /// `no-cache` (unqualified): store, but revalidate before every use.
    pub no_cache: bool,
    /// `private` (unqualified): a shared cache must not store it.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate` or `proxy-revalidate`: never serve stale.
    pub must_revalidate: bool,
    /// `stale-while-revalidate=N` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861).
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` header line of `headers`.
    pub fn from_headers(headers: &HeaderMap) -> CacheControl {
        let mut cc = CacheControl::default();
        for v in headers.get_all(header::CACHE_CONTROL) {
            if let Ok(s) = v.to_str() {
                cc.merge(s);
            }
        }
        cc
    }

    /// Parses one `Cache-Control` header value.
    pub fn parse(value: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        cc.merge(value);
        cc
    }

    fn merge(&mut self, value: &str) {
        for directive in split_directives(value) {
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let secs = || arg.map(|a| a.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                // a malformed delta-seconds makes the response stale (0)
                "max-age" => self.max_age = Some(secs().flatten().unwrap_or(0)),
                "s-maxage" => self.s_maxage = Some(secs().flatten().unwrap_or(0)),
                "no-store" => self.no_store = true,
                // qualified forms (`no-cache="Set-Cookie"`) only restrict listed headers;
                // treating them as unqualified is the conservative choice.
                "no-cache" => self.no_cache = true,
                "private" => self.private = true,
                "public" => self.public = true,
                "must-revalidate" | "proxy-revalidate" => self.must_revalidate = true,
                "stale-while-revalidate" => self.stale_while_revalidate = secs().flatten(),
                "stale-if-error" => self.stale_if_error = secs().flatten(),
                _ => {}
            }
        }
    }
}

/// Splits a directive list on commas that are not inside a quoted string.
fn split_directives(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// Freshness defaults applied when a response carries no explicit lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Lifetime of media/init segments without `max-age`/`Expires`.
    pub segment_ttl: Duration,
    /// Lifetime of MPDs without `max-age`/`Expires`.
    pub manifest_ttl: Duration,
    /// Lifetime of anything else without `max-age`/`Expires`.
    pub other_ttl: Duration,
    /// stale-if-error grace when the response does not send `stale-if-error`.
    pub stale_if_error: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            segment_ttl: Duration::from_secs(86_400),
            manifest_ttl: Duration::from_secs(2),
            other_ttl: Duration::from_secs(60),
            stale_if_error: Duration::from_secs(3_600),
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

impl Policy {
    /// Decides whether a response with `status` and `headers` to a GET for `path`, received
    /// at `received` (stands in for a missing `Date`), may be stored, and if so, its
    /// [`Policy`]. Returns `None` for responses a shared cache
    /// must not store: `no-store`, `private`, `Set-Cookie`, `Vary` on anything but
    /// `Accept-Encoding`/`Origin` (the edge forwards neither), and any status other than
    /// `200`.
    pub fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        path: &str,
        defaults: &Defaults,
        received: SystemTime,
    ) -> Option<Policy> {
        if status != StatusCode::OK {
            return None;
        }
        let cc = CacheControl::from_headers(headers);
        if cc.no_store || cc.private || headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        for v in headers.get_all(header::VARY) {
            let s = v.to_str().ok()?;
            for field in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                if !field.eq_ignore_ascii_case("accept-encoding")
                    && !field.eq_ignore_ascii_case("origin")
                {
                    return None;
                }
            }
        }
        let lifetime = cc
            .s_maxage
            .or(cc.max_age)
            .or_else(|| expires_lifetime(headers, received))
            .unwrap_or_else(|| {
                match CacheClass::of(path) {
                    CacheClass::Segment => defaults.segment_ttl,
                    CacheClass::Manifest => defaults.manifest_ttl,
                    CacheClass::Other => defaults.other_ttl,
                }
                .as_secs()
            });
        let (swr, sie) = if cc.must_revalidate {
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
        })
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

    /// True if, at `age` seconds, the response may be served because the upstream failed.
    pub fn usable_on_error(&self, age: u64) -> bool {
        age < self.lifetime.saturating_add(self.stale_if_error)
    }
}

/// Lifetime from `Expires - Date` (RFC 9111 §4.2.1), with the time the response was
/// `received` for a missing `Date` (RFC 9110 §6.6.1); an invalid `Expires` means 0.
fn expires_lifetime(headers: &HeaderMap, received: SystemTime) -> Option<u64> {
    let expires = headers.get(header::EXPIRES)?;
    let Some(expires) = expires
        .to_str()
        .ok()
        .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
    else {
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
    let v = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(v.trim()).ok()
}

/// `corrected_initial_age` of RFC 9111 §4.2.3 in seconds, for a response received at
/// `response_time` to a request sent at `request_time`.
pub fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> u64 {
    let age_value = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let apparent_age = header_date(headers, header::DATE)
        .and_then(|d| response_time.duration_since(d).ok())
        .map_or(0, |d| d.as_secs());
    let response_delay = response_time
        .duration_since(request_time)
        .map_or(0, |d| d.as_secs());
    apparent_age.max(age_value + response_delay)
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
    fn parses_directives() {
        let cc = CacheControl::parse(
            "public, max-age=60, s-maxage=\"30\", stale-while-revalidate=5, stale-if-error=600, x-foo=\"a,b\"",
        );
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(30));
        assert!(cc.public);
        assert_eq!(cc.stale_while_revalidate, Some(5));
        assert_eq!(cc.stale_if_error, Some(600));
        let cc = CacheControl::parse("No-Store, PRIVATE, no-cache, proxy-revalidate");
        assert!(cc.no_store && cc.private && cc.no_cache && cc.must_revalidate);
        assert_eq!(CacheControl::parse("max-age=abc").max_age, Some(0));
        let h = hm(&[
            (header::CACHE_CONTROL, "max-age=5"),
            (header::CACHE_CONTROL, "must-revalidate"),
        ]);
        let cc = CacheControl::from_headers(&h);
        assert_eq!(cc.max_age, Some(5));
        assert!(cc.must_revalidate);
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
        assert_eq!(
            policy(&[], "x.html").unwrap().lifetime,
            d.other_ttl.as_secs()
        );
        assert_eq!(
            policy(&[], SEG).unwrap().stale_if_error,
            d.stale_if_error.as_secs()
        );
    }

    #[test]
    fn not_storable() {
        assert_eq!(policy(&[(header::CACHE_CONTROL, "no-store")], SEG), None);
        assert_eq!(policy(&[(header::CACHE_CONTROL, "private")], SEG), None);
        assert_eq!(policy(&[(header::SET_COOKIE, "a=b")], SEG), None);
        assert_eq!(policy(&[(header::VARY, "User-Agent")], SEG), None);
        assert!(policy(&[(header::VARY, "Accept-Encoding, Origin")], SEG).is_some());
        assert_eq!(
            Policy::from_response(
                StatusCode::NOT_FOUND,
                &HeaderMap::new(),
                SEG,
                &Defaults::default(),
                SystemTime::now()
            ),
            None
        );
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
