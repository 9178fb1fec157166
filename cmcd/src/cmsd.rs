//! CMSD (CTA-5006): what a server tells the player about the response (`CMSD-Static`, a
//! dictionary stored with the object) and about itself right now (`CMSD-Dynamic`, a list
//! with one entry per hop, each hop appending its own, the last entry the closest to the
//! client).

use std::collections::BTreeMap;

use http::header::HeaderName;

use crate::sf::{self, Member, Value};
use crate::{Error, ObjectType, StreamType, StreamingFormat};

/// `CMSD-Static`: properties of the object, unchanged for as long as it is cached.
pub const CMSD_STATIC: HeaderName = HeaderName::from_static("cmsd-static");
/// `CMSD-Dynamic`: the state of each server on the path when it sent the response.
pub const CMSD_DYNAMIC: HeaderName = HeaderName::from_static("cmsd-dynamic");

/// The `CMSD-Static` dictionary (CTA-5006 §4.2, the keys this project writes or reads).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CmsdStatic {
    /// `at`: availability time of the object, ms since the Unix epoch (live).
    pub at: Option<u64>,
    /// `br`: encoded bitrate of the object, kbit/s.
    pub br: Option<u64>,
    /// `d`: playback duration of the object, ms.
    pub d: Option<u64>,
    /// `ht`: held time: how long the server will keep the object, s.
    pub ht: Option<u64>,
    /// `n`: the intermediary (or origin) that wrote this header.
    pub n: Option<String>,
    /// `ot`: object type.
    pub ot: Option<ObjectType>,
    /// `sf`: streaming format.
    pub sf: Option<StreamingFormat>,
    /// `st`: stream type.
    pub st: Option<StreamType>,
    /// `su`: the object is a startup object.
    pub su: bool,
    /// `v`: CMSD version (absent means 1).
    pub v: Option<u64>,
    /// Every other key, kept as sent.
    pub custom: BTreeMap<String, Value>,
}

/// One server's entry in `CMSD-Dynamic` (CTA-5006 §4.3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DynamicEntry {
    /// The entry's value: the server's identifier.
    pub server: String,
    /// `etp`: throughput the server estimates it can deliver to this client, kbit/s.
    pub etp: Option<u64>,
    /// `du`: the server is in duress (overloaded): clients should back off.
    pub du: bool,
    /// `mb`: maximum bitrate the server suggests the client request, kbit/s.
    pub mb: Option<u64>,
    /// `rd`: response delay: time from request to first byte at this server, ms.
    pub rd: Option<u64>,
    /// `rtt`: round-trip time to the client, ms.
    pub rtt: Option<u64>,
    /// Other parameters, kept as sent.
    pub custom: BTreeMap<String, Value>,
}

/// `CMSD-Dynamic`: the entries in hop order (the last is the server closest to the client).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CmsdDynamic {
    /// One entry per server.
    pub entries: Vec<DynamicEntry>,
}

fn int(key: &str, v: &Value) -> Result<u64, Error> {
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

fn put<T>(slot: &mut Option<T>, key: &str, v: T) -> Result<(), Error> {
    if slot.replace(v).is_some() {
        return Err(Error::DuplicateKey(key.into()));
    }
    Ok(())
}

impl CmsdStatic {
    /// Parse a `CMSD-Static` value.
    pub fn parse(s: &str) -> Result<CmsdStatic, Error> {
        let mut c = CmsdStatic::default();
        let mut seen_su = false;
        for (key, Member { value: v, .. }) in sf::parse_dictionary(s)? {
            let tok = |v: &Value| match v {
                Value::Token(t) => Ok(t.clone()),
                _ => Err(Error::WrongType {
                    key: key.clone(),
                    expected: "token",
                }),
            };
            let bad = |reason| Error::BadValue {
                key: key.clone(),
                reason,
            };
            match key.as_str() {
                "at" => put(&mut c.at, &key, int(&key, &v)?)?,
                "br" => put(&mut c.br, &key, int(&key, &v)?)?,
                "d" => put(&mut c.d, &key, int(&key, &v)?)?,
                "ht" => put(&mut c.ht, &key, int(&key, &v)?)?,
                "v" => put(&mut c.v, &key, int(&key, &v)?)?,
                "n" => match v {
                    Value::String(s) | Value::Token(s) => put(&mut c.n, &key, s)?,
                    _ => {
                        return Err(Error::WrongType {
                            key,
                            expected: "string",
                        })
                    }
                },
                "ot" => {
                    let t = ObjectType::from_token(&tok(&v)?).ok_or(bad("unknown object type"))?;
                    put(&mut c.ot, &key, t)?
                }
                "sf" => {
                    let t = StreamingFormat::from_token(&tok(&v)?)
                        .ok_or(bad("unknown streaming format"))?;
                    put(&mut c.sf, &key, t)?
                }
                "st" => {
                    let t = StreamType::from_token(&tok(&v)?).ok_or(bad("unknown stream type"))?;
                    put(&mut c.st, &key, t)?
                }
                "su" => {
                    if std::mem::replace(&mut seen_su, true) {
                        return Err(Error::DuplicateKey(key));
                    }
                    c.su = matches!(v, Value::Boolean(true));
                }
                _ => {
                    if c.custom.insert(key.clone(), v).is_some() {
                        return Err(Error::DuplicateKey(key));
                    }
                }
            }
        }
        Ok(c)
    }

    /// The header value, keys sorted.
    pub fn to_header_value(&self) -> String {
        let mut pairs: Vec<(String, Value)> = Vec::new();
        for (k, v) in [
            ("at", self.at),
            ("br", self.br),
            ("d", self.d),
            ("ht", self.ht),
        ] {
            if let Some(v) = v {
                pairs.push((k.into(), Value::Integer(v as i64)));
            }
        }
        if let Some(v) = self.v.filter(|v| *v != 1) {
            pairs.push(("v".into(), Value::Integer(v as i64)));
        }
        if let Some(n) = &self.n {
            pairs.push(("n".into(), Value::String(n.clone())));
        }
        if let Some(t) = self.ot {
            pairs.push(("ot".into(), Value::Token(t.token().into())));
        }
        if let Some(t) = self.sf {
            pairs.push(("sf".into(), Value::Token(t.token().into())));
        }
        if let Some(t) = self.st {
            pairs.push(("st".into(), Value::Token(t.token().into())));
        }
        if self.su {
            pairs.push(("su".into(), Value::Boolean(true)));
        }
        pairs.extend(self.custom.iter().map(|(k, v)| (k.clone(), v.clone())));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        for (k, v) in &pairs {
            if !out.is_empty() {
                out.push(',');
            }
            sf::write_pair(&mut out, k, v);
        }
        out
    }
}

impl DynamicEntry {
    /// An entry for `server` with no parameters.
    pub fn new(server: impl Into<String>) -> Self {
        DynamicEntry {
            server: server.into(),
            ..Default::default()
        }
    }

    fn write(&self, out: &mut String) {
        sf::write_value(out, &Value::String(self.server.clone()));
        let mut params: Vec<(String, Value)> = Vec::new();
        for (k, v) in [
            ("etp", self.etp),
            ("mb", self.mb),
            ("rd", self.rd),
            ("rtt", self.rtt),
        ] {
            if let Some(v) = v {
                params.push((k.into(), Value::Integer(v.min(i64::MAX as u64) as i64)));
            }
        }
        if self.du {
            params.push(("du".into(), Value::Boolean(true)));
        }
        params.extend(self.custom.iter().map(|(k, v)| (k.clone(), v.clone())));
        params.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in &params {
            out.push(';');
            sf::write_pair(out, k, v);
        }
    }
}

impl CmsdDynamic {
    /// Parse a `CMSD-Dynamic` value.
    pub fn parse(s: &str) -> Result<CmsdDynamic, Error> {
        let mut entries = Vec::new();
        for m in sf::parse_list(s)? {
            let server = match m.value {
                Value::String(s) | Value::Token(s) => s,
                _ => {
                    return Err(Error::WrongType {
                        key: "server".into(),
                        expected: "string",
                    })
                }
            };
            let mut e = DynamicEntry::new(server);
            let mut seen_du = false;
            for (key, v) in m.params {
                match key.as_str() {
                    "etp" => put(&mut e.etp, &key, int(&key, &v)?)?,
                    "mb" => put(&mut e.mb, &key, int(&key, &v)?)?,
                    "rd" => put(&mut e.rd, &key, int(&key, &v)?)?,
                    "rtt" => put(&mut e.rtt, &key, int(&key, &v)?)?,
                    "du" => {
                        if std::mem::replace(&mut seen_du, true) {
                            return Err(Error::DuplicateKey(key));
                        }
                        e.du = matches!(v, Value::Boolean(true));
                    }
                    _ => {
                        if e.custom.insert(key.clone(), v).is_some() {
                            return Err(Error::DuplicateKey(key));
                        }
                    }
                }
            }
            entries.push(e);
        }
        Ok(CmsdDynamic { entries })
    }

    /// The header value.
    pub fn to_header_value(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            e.write(&mut out);
        }
        out
    }

    /// The entry of the server closest to the client (the last one), as Shaka Player and
    /// dash.js read it.
    pub fn closest(&self) -> Option<&DynamicEntry> {
        self.entries.last()
    }
}
