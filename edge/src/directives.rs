//! Parsing the caching fields, as pure functions: response `Cache-Control` (RFC 9111
//! §5.2.2), the targeted fields `CDN-Cache-Control` and the edge's own (RFC 9213,
//! Structured Field dictionaries), request `Cache-Control` (§5.2.1) and `Age` (§5.1).
//!
//! `Cache-Control` is read strictly where the RFC's grammar is strict
//! (`token [ "=" ( token / quoted-string ) ]`): `max-age =1`, `max-age= 1` and
//! `max-age='1'` are not `max-age=1`, a directive name inside a quoted string is not a
//! directive, and an invalid delta-seconds makes the response stale (§4.2.1). The first
//! occurrence of a directive wins. Delta-seconds larger than 2^31 are 2^31 (§1.2.2).

use http::header::{self, HeaderMap, HeaderName};

/// The cap on delta-seconds (RFC 9111 §1.2.2).
pub const DELTA_MAX: u64 = 1 << 31;

/// The `Cache-Control` (or targeted) response directives the edge acts on. Unknown
/// directives are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age=N` (seconds; an invalid value is 0).
    pub max_age: Option<u64>,
    /// `s-maxage=N` (seconds; overrides `max-age` in shared caches).
    pub s_maxage: Option<u64>,
    /// `no-store`: never store.
    pub no_store: bool,
    /// `no-cache`, with or without field names: store, but revalidate before every use
    /// (the qualified form is treated as the unqualified one, the conservative reading).
    pub no_cache: bool,
    /// `private`, with or without field names: a shared cache must not store it.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate` or `proxy-revalidate`: never serve stale.
    pub must_revalidate: bool,
    /// `must-understand` (RFC 9111 §5.2.2.3): with a status whose caching rules the cache
    /// implements, `no-store` is ignored.
    pub must_understand: bool,
    /// `stale-while-revalidate=N` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861).
    pub stale_if_error: Option<u64>,
}

/// Parses delta-seconds (RFC 9111 §1.2.2): digits only, capped at [`DELTA_MAX`].
pub fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().map_or(DELTA_MAX, |n| n.min(DELTA_MAX)))
}

/// One `name[=arg]` directive; `arg` unquoted. `None` when it breaks the grammar.
fn directive(raw: &str) -> Option<(String, Option<String>)> {
    let d = raw.trim();
    let (name, arg) = match d.split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (d, None),
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(name) {
        return None;
    }
    let arg = match arg {
        None => None,
        Some(a) if a.len() >= 2 && a.starts_with('"') && a.ends_with('"') => {
            Some(a[1..a.len() - 1].replace('\\', ""))
        }
        Some(a) if token(a) => Some(a.to_owned()),
        // `max-age= 1`, `max-age='1'`, ...: the directive is present with a bad value
        Some(_) => Some(String::new()),
    };
    Some((name.to_ascii_lowercase(), arg))
}

/// Splits a list on commas that are not inside a quoted string.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
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

impl CacheControl {
    /// Parses every `Cache-Control` line of `headers`.
    pub fn from_headers(headers: &HeaderMap) -> CacheControl {
        let mut cc = CacheControl::default();
        for v in headers.get_all(header::CACHE_CONTROL) {
            if let Ok(s) = v.to_str() {
                cc.merge(s);
            }
        }
        cc
    }

    /// Parses one `Cache-Control` value.
    pub fn parse(value: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        cc.merge(value);
        cc
    }

    fn merge(&mut self, value: &str) {
        for raw in split_list(value) {
            let Some((name, arg)) = directive(raw) else {
                continue;
            };
            let secs = || arg.as_deref().and_then(delta_seconds);
            match name.as_str() {
                // an invalid delta-seconds makes the response stale (§4.2.1)
                "max-age" if self.max_age.is_none() => self.max_age = Some(secs().unwrap_or(0)),
                "s-maxage" if self.s_maxage.is_none() => {
                    self.s_maxage = Some(secs().unwrap_or(0));
                }
                "no-store" => self.no_store = true,
                "no-cache" => self.no_cache = true,
                "private" => self.private = true,
                "public" => self.public = true,
                "must-revalidate" | "proxy-revalidate" => self.must_revalidate = true,
                "must-understand" => self.must_understand = true,
                "stale-while-revalidate" if self.stale_while_revalidate.is_none() => {
                    self.stale_while_revalidate = secs();
                }
                "stale-if-error" if self.stale_if_error.is_none() => {
                    self.stale_if_error = secs();
                }
                _ => {}
            }
        }
    }

    /// Parses a targeted field (RFC 9213 §2.1): a Structured Field dictionary (RFC 8941)
    /// whose `max-age`, `s-maxage`, `stale-*` members are integers. `None` when the field is
    /// absent or not a valid dictionary (then it is ignored and `Cache-Control` applies).
    pub fn targeted(headers: &HeaderMap, name: &HeaderName) -> Option<CacheControl> {
        let lines: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().ok())
            .collect::<Option<_>>()?;
        if lines.is_empty() {
            return None;
        }
        let mut cc = CacheControl::default();
        for member in lines.iter().flat_map(|l| split_list(l)) {
            let (key, value) = sf_member(member.trim())?;
            let int = || match &value {
                SfValue::Integer(n) => Some((*n).max(0).unsigned_abs().min(DELTA_MAX)),
                _ => None,
            };
            match key {
                "max-age" => cc.max_age = Some(int()?),
                "s-maxage" => cc.s_maxage = Some(int()?),
                "stale-while-revalidate" => cc.stale_while_revalidate = Some(int()?),
                "stale-if-error" => cc.stale_if_error = Some(int()?),
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = true,
                "private" => cc.private = true,
                "public" => cc.public = true,
                "must-revalidate" | "proxy-revalidate" => cc.must_revalidate = true,
                _ => {}
            }
        }
        Some(cc)
    }
}

/// The bare item of a Structured Field dictionary member (RFC 8941 §3.3), as far as the
/// edge needs it.
#[derive(Debug, Clone, PartialEq)]
enum SfValue {
    Integer(i64),
    Other,
}

/// One dictionary member `key[=bare-item][;params]`; `None` when invalid (RFC 8941 §4.2).
fn sf_member(m: &str) -> Option<(&str, SfValue)> {
    let (main, _params) = match m.find(';') {
        // parameters are allowed and ignored (their syntax is not checked)
        Some(i) if !m[..i].contains('"') => (&m[..i], Some(&m[i..])),
        _ => (m, None),
    };
    let (key, item) = match main.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (main, None),
    };
    let mut kb = key.bytes();
    let first = kb.next()?;
    if !(first.is_ascii_lowercase() || first == b'*')
        || !kb.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b))
    {
        return None;
    }
    let Some(item) = item else {
        return Some((key, SfValue::Other)); // boolean true
    };
    let value = if let Some(digits) = item.strip_prefix('-').or(Some(item)) {
        if !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()) {
            SfValue::Integer(item.parse().ok()?)
        } else if is_sf_other(item) {
            SfValue::Other
        } else {
            return None;
        }
    } else {
        return None;
    };
    Some((key, value))
}

/// Decimal, string, token, byte sequence or boolean (RFC 8941 §3.3).
fn is_sf_other(item: &str) -> bool {
    let b = item.as_bytes();
    match b.first() {
        None => false,
        Some(b'"') => item.len() >= 2 && item.ends_with('"'),
        Some(b':') => item.len() >= 2 && item.ends_with(':'),
        Some(b'?') => item == "?0" || item == "?1",
        Some(c) if c.is_ascii_alphabetic() || *c == b'*' => item
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b":/!#$%&'*+-.^_`|~".contains(&c)),
        Some(c) if c.is_ascii_digit() || *c == b'-' => {
            let t = item.trim_start_matches('-');
            t.split_once('.').is_some_and(|(i, f)| {
                !i.is_empty()
                    && i.len() <= 12
                    && (1..=3).contains(&f.len())
                    && i.bytes().chain(f.bytes()).all(|c| c.is_ascii_digit())
            })
        }
        Some(_) => false,
    }
}

/// The request `Cache-Control` directives a shared cache honours (RFC 9111 §5.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCacheControl {
    /// `max-age=N`: no stored response older than N seconds.
    pub max_age: Option<u64>,
    /// `max-stale[=N]`: stale responses acceptable (by up to N seconds; `Some(None)` any).
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh=N`: only responses fresh for at least N more seconds.
    pub min_fresh: Option<u64>,
    /// `no-cache`: no stored response without revalidation.
    pub no_cache: bool,
    /// `no-store`: nothing of this exchange is stored.
    pub no_store: bool,
    /// `only-if-cached`: answer from the cache or with `504`.
    pub only_if_cached: bool,
}

impl RequestCacheControl {
    /// Parses every request `Cache-Control` line (plus `Pragma: no-cache` when there is
    /// no `Cache-Control`, RFC 9111 §5.4 leaves this to the cache; it is honoured).
    pub fn from_headers(headers: &HeaderMap) -> RequestCacheControl {
        let mut rc = RequestCacheControl::default();
        let mut any = false;
        for v in headers.get_all(header::CACHE_CONTROL) {
            any = true;
            let Ok(s) = v.to_str() else { continue };
            for raw in split_list(s) {
                let Some((name, arg)) = directive(raw) else {
                    continue;
                };
                let secs = || arg.as_deref().and_then(delta_seconds);
                match name.as_str() {
                    "max-age" => rc.max_age = Some(secs().unwrap_or(0)),
                    "max-stale" => rc.max_stale = Some(secs()),
                    "min-fresh" => rc.min_fresh = secs(),
                    "no-cache" => rc.no_cache = true,
                    "no-store" => rc.no_store = true,
                    "only-if-cached" => rc.only_if_cached = true,
                    _ => {}
                }
            }
        }
        if !any {
            rc.no_cache = headers
                .get_all(header::PRAGMA)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.to_ascii_lowercase().contains("no-cache"));
        }
        rc
    }
}

/// The `Age` value (RFC 9111 §5.1): the first member of the first line; parameters
/// dropped; anything but a non-negative integer ignored (`None`); capped at [`DELTA_MAX`].
pub fn age_value(headers: &HeaderMap) -> Option<u64> {
    let line = headers.get(header::AGE)?.to_str().ok()?;
    let first = line.split(',').next()?.trim();
    let first = first.split(';').next()?.trim();
    delta_seconds(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_headers::hm;

    #[test]
    fn rfc9111_5_2_cache_control_grammar() {
        let cc = CacheControl::parse(
            "public, max-age=60, s-maxage=\"30\", stale-while-revalidate=5, stale-if-error=600, x-foo=\"a,b\"",
        );
        assert_eq!((cc.max_age, cc.s_maxage), (Some(60), Some(30)));
        assert!(cc.public);
        assert_eq!(cc.stale_while_revalidate, Some(5));
        assert_eq!(cc.stale_if_error, Some(600));
        let cc = CacheControl::parse("No-Store, PRIVATE, no-cache, proxy-revalidate");
        assert!(cc.no_store && cc.private && cc.no_cache && cc.must_revalidate);
        for stale in [
            "max-age=abc",
            "max-age='3600'",
            "max-age= 3600",
            "max-age=-1",
            "max-age=3600a",
        ] {
            assert_eq!(CacheControl::parse(stale).max_age, Some(0), "{stale}");
        }
        // a space before `=` is another token: no max-age at all
        assert_eq!(CacheControl::parse("max-age =3600").max_age, None);
        // a directive name inside a quoted string is not a directive
        assert_eq!(
            CacheControl::parse("extension=\"max-age=3600\", max-age=1").max_age,
            Some(1)
        );
        assert_eq!(
            CacheControl::parse("max-age=1, extension=\"max-age=3600\"").max_age,
            Some(1)
        );
        assert_eq!(
            CacheControl::parse("max-age=99999999999").max_age,
            Some(DELTA_MAX)
        );
        assert_eq!(CacheControl::parse("max-age=003600").max_age, Some(3600));
        assert!(CacheControl::parse("no-cache=\"set-cookie\"").no_cache);
    }

    #[test]
    fn rfc9213_targeted_fields_are_sf_dictionaries() {
        let n = HeaderName::from_static("cdn-cache-control");
        let t = |v: &str| CacheControl::targeted(&hm(&[("cdn-cache-control", v)]), &n);
        assert_eq!(t("max-age=3600").unwrap().max_age, Some(3600));
        assert_eq!(t("max-age=99999999999").unwrap().max_age, Some(DELTA_MAX));
        assert_eq!(t("max-age=60, foo=bar;x=1").unwrap().max_age, Some(60));
        assert!(t("private").unwrap().private);
        assert!(t("no-store").unwrap().no_store);
        // invalid dictionaries and wrongly typed max-age: the field is ignored
        assert_eq!(t("max-age=\"3600\""), None);
        assert_eq!(t("max-age=1, $bad"), None);
        assert_eq!(t("MaX-aGe=3600"), None);
        assert_eq!(CacheControl::targeted(&hm(&[]), &n), None);
    }

    #[test]
    fn rfc9111_5_2_1_request_directives() {
        let r = RequestCacheControl::from_headers(&hm(&[(
            "cache-control",
            "max-age=5, max-stale, min-fresh=2, only-if-cached",
        )]));
        assert_eq!(r.max_age, Some(5));
        assert_eq!(r.max_stale, Some(None));
        assert_eq!(r.min_fresh, Some(2));
        assert!(r.only_if_cached && !r.no_cache);
        let r = RequestCacheControl::from_headers(&hm(&[("pragma", "no-cache")]));
        assert!(r.no_cache);
        let r =
            RequestCacheControl::from_headers(&hm(&[("cache-control", "no-store, max-stale=9")]));
        assert!(r.no_store);
        assert_eq!(r.max_stale, Some(Some(9)));
    }

    #[test]
    fn rfc9111_5_1_age_values() {
        let a = |vals: &[&str]| {
            let pairs: Vec<(&str, &str)> = vals.iter().map(|v| ("age", *v)).collect();
            age_value(&hm(&pairs))
        };
        assert_eq!(a(&["abc"]), None);
        assert_eq!(a(&["-7200"]), None);
        assert_eq!(a(&["7200.0"]), None);
        assert_eq!(a(&["2147483649"]), Some(DELTA_MAX));
        assert_eq!(a(&["7200, 0"]), Some(7200));
        assert_eq!(a(&["0, 7200"]), Some(0));
        assert_eq!(a(&["7200", "0"]), Some(7200));
        assert_eq!(a(&["7200;foo=bar"]), Some(7200));
        assert_eq!(a(&[]), None);
    }
}
