//! CMCD (CTA-5004): the [`Cmcd`] struct, its keys, and the two transmission modes a CDN
//! sees: the `CMCD=` query argument and the four `CMCD-*` request headers.

use std::collections::BTreeMap;

use http::header::HeaderName;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::sf::{self, Value};
use crate::{Error, ObjectType, StreamType, StreamingFormat};

/// `CMCD-Request`: keys whose values change with every request (CTA-5004 §3.2).
pub const CMCD_REQUEST: HeaderName = HeaderName::from_static("cmcd-request");
/// `CMCD-Object`: keys describing the requested object.
pub const CMCD_OBJECT: HeaderName = HeaderName::from_static("cmcd-object");
/// `CMCD-Status`: keys that change rarely (starvation, requested throughput).
pub const CMCD_STATUS: HeaderName = HeaderName::from_static("cmcd-status");
/// `CMCD-Session`: keys that stay the same for the whole session.
pub const CMCD_SESSION: HeaderName = HeaderName::from_static("cmcd-session");
/// The four CMCD request headers, in the order above.
pub const HEADERS: [HeaderName; 4] = [CMCD_REQUEST, CMCD_OBJECT, CMCD_STATUS, CMCD_SESSION];
const HEADER_NAMES: [&str; 4] = ["cmcd-request", "cmcd-object", "cmcd-status", "cmcd-session"];
/// The query argument name of query mode (case-sensitive, CTA-5004 §3.1).
pub const QUERY_PARAM: &str = "CMCD";

/// `encodeURIComponent`'s set: what players (dash.js, hls.js, Shaka) escape in the query
/// argument and in `nor`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Maximum length of `sid` (CTA-5004: 64 characters).
pub const MAX_SID_LEN: usize = 64;
/// Maximum length of `cid` (CTA-5004: 128 characters).
pub const MAX_CID_LEN: usize = 128;

/// How CMCD reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The `CMCD=` query argument.
    Query,
    /// The `CMCD-*` headers.
    Header,
}

impl Mode {
    /// `query` or `header` (the edge's metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Query => "query",
            Mode::Header => "header",
        }
    }
}

/// One request's Common Media Client Data. Every key is optional; integers are in the
/// spec's units (kbit/s for `br`, `mtp`, `rtp`, `tb`; milliseconds for `bl`, `d`, `dl`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cmcd {
    /// `br`: encoded bitrate of the requested object, kbit/s.
    pub br: Option<u64>,
    /// `bl`: buffer length when the request was made, ms.
    pub bl: Option<u64>,
    /// `bs`: the buffer was starved (emptied) since the previous request.
    pub bs: bool,
    /// `cid`: content id (≤ 128 chars).
    pub cid: Option<String>,
    /// `d`: playback duration of the object, ms.
    pub d: Option<u64>,
    /// `dl`: deadline: time until the buffer runs out at the current rate, ms.
    pub dl: Option<u64>,
    /// `mtp`: throughput the client measured, kbit/s.
    pub mtp: Option<u64>,
    /// `nor`: the next object the client will request, a URL relative to this one,
    /// percent-decoded (the wire form is `encodeURIComponent`-escaped).
    pub nor: Option<String>,
    /// `nrr`: the byte range of the next request, `start-end`, `start-` or `-suffix`.
    pub nrr: Option<String>,
    /// `ot`: object type.
    pub ot: Option<ObjectType>,
    /// `pr`: playback rate (1.0 = real time).
    pub pr: Option<f64>,
    /// `rtp`: maximum throughput the client asks the server to deliver at, kbit/s.
    pub rtp: Option<u64>,
    /// `sf`: streaming format.
    pub sf: Option<StreamingFormat>,
    /// `sid`: session id (≤ 64 chars).
    pub sid: Option<String>,
    /// `st`: stream type.
    pub st: Option<StreamType>,
    /// `su`: the object is needed urgently (startup, seek, recovery from starvation).
    pub su: bool,
    /// `tb`: top bitrate the client could play, kbit/s.
    pub tb: Option<u64>,
    /// `v`: CMCD version (absent means 1).
    pub v: Option<u64>,
    /// Every other key, custom (`com.example-key`) or from a later version, kept as sent.
    pub custom: BTreeMap<String, Value>,
}

/// Which header a key belongs to (CTA-5004 §3.2, Table 1). Unknown and custom keys go to
/// `CMCD-Request`, as dash.js and the common media library do.
pub fn header_for_key(key: &str) -> HeaderName {
    match key {
        "br" | "d" | "ot" | "tb" => CMCD_OBJECT,
        "bs" | "rtp" => CMCD_STATUS,
        "cid" | "pr" | "sf" | "sid" | "st" | "v" => CMCD_SESSION,
        _ => CMCD_REQUEST,
    }
}

fn int(key: &'static str, v: &Value) -> Result<u64, Error> {
    // v2 allows an inner list for some integer keys (one value per track): take the first.
    let v = match v {
        Value::InnerList(items) if !items.is_empty() => &items[0],
        v => v,
    };
    match v {
        Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        Value::Integer(_) => Err(Error::BadValue {
            key: key.into(),
            reason: "negative",
        }),
        _ => Err(Error::WrongType {
            key: key.into(),
            expected: "integer",
        }),
    }
}

fn string(key: &'static str, v: &Value, max: usize) -> Result<String, Error> {
    match v {
        Value::String(s) if s.len() <= max => Ok(s.clone()),
        Value::String(_) => Err(Error::BadValue {
            key: key.into(),
            reason: "too long",
        }),
        _ => Err(Error::WrongType {
            key: key.into(),
            expected: "string",
        }),
    }
}

fn boolean(key: &'static str, v: &Value) -> Result<bool, Error> {
    match v {
        Value::Boolean(b) => Ok(*b),
        _ => Err(Error::WrongType {
            key: key.into(),
            expected: "boolean",
        }),
    }
}

fn token<'v>(key: &'static str, v: &'v Value) -> Result<&'v str, Error> {
    match v {
        Value::Token(t) => Ok(t),
        _ => Err(Error::WrongType {
            key: key.into(),
            expected: "token",
        }),
    }
}

/// `nrr`: `start-end`, `start-` or `-suffix` (CTA-5004: an RFC 9110 byte range without
/// `bytes=`).
fn valid_range(s: &str) -> bool {
    let Some((a, b)) = s.split_once('-') else {
        return false;
    };
    let digits = |x: &str| !x.is_empty() && x.len() <= 19 && x.bytes().all(|c| c.is_ascii_digit());
    match (a.is_empty(), b.is_empty()) {
        (false, false) => digits(a) && digits(b) && a.parse::<u64>().ok() <= b.parse::<u64>().ok(),
        (false, true) => digits(a),
        (true, false) => digits(b),
        (true, true) => false,
    }
}

impl Cmcd {
    /// Set one key from its parsed value; `Err` on a duplicate or a value of the wrong type.
    fn set(&mut self, key: &str, v: &Value) -> Result<(), Error> {
        macro_rules! once {
            ($field:expr, $val:expr) => {{
                if $field.is_some() {
                    return Err(Error::DuplicateKey(key.into()));
                }
                $field = Some($val);
            }};
        }
        match key {
            "br" => once!(self.br, int("br", v)?),
            "bl" => once!(self.bl, int("bl", v)?),
            "d" => once!(self.d, int("d", v)?),
            "dl" => once!(self.dl, int("dl", v)?),
            "mtp" => once!(self.mtp, int("mtp", v)?),
            "rtp" => once!(self.rtp, int("rtp", v)?),
            "tb" => once!(self.tb, int("tb", v)?),
            "v" => once!(self.v, int("v", v)?),
            "cid" => once!(self.cid, string("cid", v, MAX_CID_LEN)?),
            "sid" => once!(self.sid, string("sid", v, MAX_SID_LEN)?),
            "nor" => {
                // v2 makes `nor` an inner list of strings: the first is the next object.
                let first = match v {
                    Value::InnerList(items) if !items.is_empty() => &items[0],
                    v => v,
                };
                let raw = string("nor", first, sf::MAX_LEN)?;
                let decoded =
                    percent_decode_str(&raw)
                        .decode_utf8()
                        .map_err(|_| Error::BadValue {
                            key: "nor".into(),
                            reason: "not UTF-8",
                        })?;
                once!(self.nor, decoded.into_owned())
            }
            "nrr" => {
                let r = string("nrr", v, 64)?;
                if !valid_range(&r) {
                    return Err(Error::BadValue {
                        key: "nrr".into(),
                        reason: "not a byte range",
                    });
                }
                once!(self.nrr, r)
            }
            "pr" => match v {
                Value::Decimal(d) if *d >= 0.0 => once!(self.pr, *d),
                Value::Integer(n) if *n >= 0 => once!(self.pr, *n as f64),
                Value::Decimal(_) | Value::Integer(_) => {
                    return Err(Error::BadValue {
                        key: "pr".into(),
                        reason: "negative",
                    })
                }
                _ => {
                    return Err(Error::WrongType {
                        key: "pr".into(),
                        expected: "decimal",
                    })
                }
            },
            "ot" => {
                let t = ObjectType::from_token(token("ot", v)?).ok_or(Error::BadValue {
                    key: "ot".into(),
                    reason: "unknown object type",
                })?;
                once!(self.ot, t)
            }
            "sf" => {
                let t = StreamingFormat::from_token(token("sf", v)?).ok_or(Error::BadValue {
                    key: "sf".into(),
                    reason: "unknown streaming format",
                })?;
                once!(self.sf, t)
            }
            "st" => {
                let t = StreamType::from_token(token("st", v)?).ok_or(Error::BadValue {
                    key: "st".into(),
                    reason: "unknown stream type",
                })?;
                once!(self.st, t)
            }
            "bs" | "su" => {
                // A boolean false is never sent (omitted), but `?0` is accepted.
                let b = boolean(if key == "bs" { "bs" } else { "su" }, v)?;
                if self.custom.contains_key(key) {
                    return Err(Error::DuplicateKey(key.into()));
                }
                // Remember that the key was seen (for duplicate detection) in a private slot.
                self.custom.insert(key.into(), Value::Boolean(b));
                if key == "bs" {
                    self.bs = b;
                } else {
                    self.su = b;
                }
            }
            _ => {
                if self.custom.insert(key.to_string(), v.clone()).is_some() {
                    return Err(Error::DuplicateKey(key.into()));
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Self {
        self.custom.remove("bs");
        self.custom.remove("su");
        self
    }

    /// Parse a CMCD dictionary, the decoded value of the query argument or one header.
    pub fn parse(s: &str) -> Result<Cmcd, Error> {
        let mut c = Cmcd::default();
        c.merge_str(s)?;
        Ok(c.finish())
    }

    fn merge_str(&mut self, s: &str) -> Result<(), Error> {
        for (key, member) in sf::parse_dictionary(s)? {
            self.set(&key, &member.value)?;
        }
        Ok(())
    }

    /// Parse header mode: the values of the `CMCD-*` headers, given as (name, value) for
    /// every header of the request (others are skipped). `Ok(None)` when there is none; a
    /// key repeated across headers, or a header sent twice, is an error.
    pub fn from_headers<'a, I>(headers: I) -> Result<Option<Cmcd>, Error>
    where
        I: IntoIterator<Item = (&'a HeaderName, &'a [u8])>,
    {
        let mut c = Cmcd::default();
        let mut seen = [false; 4];
        let mut total = 0usize;
        for (name, value) in headers {
            let Some(i) = HEADERS.iter().position(|h| h == name) else {
                continue;
            };
            if seen[i] {
                return Err(Error::DuplicateHeader(HEADER_NAMES[i]));
            }
            seen[i] = true;
            total += value.len();
            if total > sf::MAX_LEN {
                return Err(Error::TooLong {
                    len: total,
                    max: sf::MAX_LEN,
                });
            }
            let s = std::str::from_utf8(value).map_err(|_| Error::Syntax {
                pos: 0,
                what: "header is not ASCII",
            })?;
            c.merge_str(s)?;
        }
        Ok(seen.iter().any(|s| *s).then(|| c.finish()))
    }

    /// Parse query mode from a raw query string (without `?`): `Ok(None)` when there is
    /// no `CMCD` argument, an error when it is malformed or given twice.
    pub fn from_query(query: &str) -> Result<Option<Cmcd>, Error> {
        let mut found = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != QUERY_PARAM {
                continue;
            }
            if found.is_some() {
                return Err(Error::DuplicateParam);
            }
            if value.len() > 3 * sf::MAX_LEN {
                return Err(Error::TooLong {
                    len: value.len(),
                    max: sf::MAX_LEN,
                });
            }
            let decoded = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| Error::Syntax {
                    pos: 0,
                    what: "query argument is not UTF-8",
                })?;
            found = Some(Cmcd::parse(&decoded)?);
        }
        Ok(found)
    }

    /// Every key that is set, with its wire value, sorted by key (CTA-5004 §3.3: keys in
    /// alphabetical order). `bs`/`su` are written only when true.
    pub fn pairs(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut int = |k: &str, v: Option<u64>| {
            if let Some(v) = v {
                out.push((k.into(), Value::Integer(v.min(i64::MAX as u64) as i64)));
            }
        };
        int("br", self.br);
        int("bl", self.bl);
        int("d", self.d);
        int("dl", self.dl);
        int("mtp", self.mtp);
        int("rtp", self.rtp);
        int("tb", self.tb);
        // v=1 is the default and is omitted (CTA-5004 §3.3).
        int("v", self.v.filter(|v| *v != 1));
        let mut s = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((k.into(), Value::String(v.clone())));
            }
        };
        s("cid", &self.cid);
        s("sid", &self.sid);
        s("nrr", &self.nrr);
        if let Some(nor) = &self.nor {
            out.push((
                "nor".into(),
                Value::String(utf8_percent_encode(nor, URI_COMPONENT).to_string()),
            ));
        }
        if let Some(pr) = self.pr {
            out.push(("pr".into(), Value::Decimal(pr)));
        }
        if let Some(t) = self.ot {
            out.push(("ot".into(), Value::Token(t.token().into())));
        }
        if let Some(t) = self.sf {
            out.push(("sf".into(), Value::Token(t.token().into())));
        }
        if let Some(t) = self.st {
            out.push(("st".into(), Value::Token(t.token().into())));
        }
        if self.bs {
            out.push(("bs".into(), Value::Boolean(true)));
        }
        if self.su {
            out.push(("su".into(), Value::Boolean(true)));
        }
        for (k, v) in &self.custom {
            out.push((k.clone(), v.clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The dictionary, keys sorted, no spaces: the query argument's value before
    /// percent-encoding, or all keys in one header.
    pub fn to_dictionary(&self) -> String {
        join(self.pairs().iter())
    }

    /// The query argument, `CMCD=<encodeURIComponent(dictionary)>`.
    pub fn to_query_arg(&self) -> String {
        format!(
            "{QUERY_PARAM}={}",
            utf8_percent_encode(&self.to_dictionary(), URI_COMPONENT)
        )
    }

    /// Header mode: each non-empty `CMCD-*` header with its keys (sorted).
    pub fn to_headers(&self) -> Vec<(HeaderName, String)> {
        let pairs = self.pairs();
        HEADERS
            .iter()
            .filter_map(|h| {
                let s = join(pairs.iter().filter(|(k, _)| header_for_key(k) == *h));
                (!s.is_empty()).then(|| (h.clone(), s))
            })
            .collect()
    }

    /// Resolve `nor` against the path of the request that carried it (RFC 3986 §5.2 for a
    /// relative path reference): `None` when there is no `nor`, or it is absolute (a
    /// scheme or `//host`), carries a query or fragment, or climbs above the root.
    pub fn resolve_nor(&self, request_path: &str) -> Option<String> {
        resolve_relative(request_path, self.nor.as_deref()?)
    }
}

/// See [`Cmcd::resolve_nor`].
pub fn resolve_relative(base_path: &str, rel: &str) -> Option<String> {
    if rel.is_empty() || rel.len() > 1024 || rel.starts_with("//") || rel.contains(['?', '#', '\\'])
    {
        return None;
    }
    if let Some(colon) = rel.find(':') {
        // A scheme (`http:`) before the first `/` makes it absolute.
        if !rel[..colon].contains('/') {
            return None;
        }
    }
    let mut segs: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        let base = base_path.split(['?', '#']).next().unwrap_or("");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in rel.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if seg == ".." {
            segs.pop()?;
        } else {
            segs.push(seg);
        }
    }
    if segs.is_empty() {
        return None;
    }
    Some(format!("/{}", segs.join("/")))
}

fn join<'a>(pairs: impl Iterator<Item = &'a (String, Value)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push(',');
        }
        sf::write_pair(&mut out, k, v);
    }
    out
}
