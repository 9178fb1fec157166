//! CMCD out: the Common Media Client Data (CTA-5004) a live player sends with every request
//! (MPD, init, media, audio), as a `CMCD=` query argument (the default, as dash.js does),
//! as `CMCD-*` headers, or not at all ([`CmcdMode`]).
//!
//! What the player knows at a request ([`RequestFacts`]: what it fetches, the rung's
//! bitrate, the object's duration, the buffer level and throughput estimate the ABR last
//! saw, the next object at the current rung, startup, starvation) becomes a [`cmcd::Cmcd`]
//! ([`cmcd_for`], a pure function), which the `cmcd` crate serialises; [`attach`] puts it on
//! the URL or into headers. Keys sent:
//!
//! | key | value |
//! |-----|-------|
//! | `sid` | one UUID v4 per playback ([`CmcdSession::new`]) |
//! | `cid` | the content id: the title (the asset's path segment) |
//! | `sf`, `st` | `d` (DASH), `v` (VOD); `v` is left out, as CTA-5004 says for version 1 |
//! | `ot` | `m` MPD, `i` init (video or audio), `v` video, `a` audio |
//! | `br` | `@bandwidth` of the requested Representation, kbit/s |
//! | `d` | the segment's duration, ms |
//! | `bl` | buffer level at the request, rounded to 100 ms (§3.3: "SHOULD be rounded") |
//! | `mtp` | the player's throughput estimate, rounded to 100 kbit/s (same) |
//! | `nor` | the next segment of the same stream at the current rung, relative to this URL |
//! | `su` | the MPD and every request until the first video segment arrived |
//! | `bs` | on the first request after the buffer ran empty |
//!
//! Not sent: `nrr` (every request is for a whole object, so there is no next range), `rtp`
//! (the player does not pace its downloads, so it has no requested maximum to state), `dl`,
//! `pr` (always 1) and `tb`.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Url;

use crate::fetch::FetchKind;
use cmcd::{Cmcd, ObjectType, StreamType, StreamingFormat};

/// How a player sends CMCD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CmcdMode {
    /// The `CMCD=` query argument (dash.js's default).
    #[default]
    Query,
    /// The `CMCD-Request`, `-Object`, `-Status` and `-Session` headers.
    Header,
    /// No CMCD.
    Off,
}

impl CmcdMode {
    /// `query`, `header` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            CmcdMode::Query => "query",
            CmcdMode::Header => "header",
            CmcdMode::Off => "off",
        }
    }
}

impl std::fmt::Display for CmcdMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CMCD mode other than `query`, `header` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CMCD mode {0:?}: expected query, header or off")]
pub struct CmcdModeError(pub String);

impl std::str::FromStr for CmcdMode {
    type Err = CmcdModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "query" => Ok(CmcdMode::Query),
            "header" | "headers" => Ok(CmcdMode::Header),
            "off" | "none" => Ok(CmcdMode::Off),
            _ => Err(CmcdModeError(s.to_string())),
        }
    }
}

/// The session-wide part of a playback's CMCD: mode, session id and content id.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcdSession {
    /// How it is sent.
    pub mode: CmcdMode,
    /// `sid`.
    pub sid: String,
    /// `cid` (`None`: not sent).
    pub cid: Option<String>,
}

impl CmcdSession {
    /// A new session (fresh UUID v4 `sid`) for content `cid`.
    pub fn new(mode: CmcdMode, cid: Option<String>) -> Self {
        CmcdSession {
            mode,
            sid: uuid::Uuid::new_v4().to_string(),
            cid: cid.map(|c| c.chars().take(cmcd::cmcd::MAX_CID_LEN).collect()),
        }
    }
}

/// The content id of an MPD URL: the path segment before the MPD's file name (the title,
/// `/t2/manifest.mpd` → `t2`), else the file name.
pub fn content_id(mpd_url: &Url) -> Option<String> {
    let segs: Vec<&str> = mpd_url.path_segments()?.filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] => None,
        [only] => Some((*only).to_string()),
        [.., dir, _file] => Some((*dir).to_string()),
    }
}

/// What the player knows when it makes one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFacts {
    /// What is fetched (`None`: nothing known yet, treated as the MPD).
    pub kind: Option<FetchKind>,
    /// `@bandwidth` of the Representation, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Duration of the segment, ms.
    pub duration_ms: Option<f64>,
    /// Buffer level the ABR last saw, ms.
    pub buffer_ms: Option<f64>,
    /// The player's throughput estimate, kbit/s.
    pub throughput_kbps: Option<f64>,
    /// The next object of the same stream at the current rung, relative to this request's
    /// URL.
    pub next: Option<String>,
    /// Startup: no video segment has arrived yet.
    pub startup: bool,
    /// The buffer ran empty since the previous request.
    pub starved: bool,
}

fn round_to(x: f64, step: f64) -> Option<u64> {
    (x.is_finite() && x >= 0.0).then(|| ((x / step).round() * step) as u64)
}

/// The CMCD of one request (see the [module docs](self) for each key).
pub fn cmcd_for(s: &CmcdSession, f: &RequestFacts) -> Cmcd {
    let ot = match f.kind {
        None | Some(FetchKind::Mpd) => ObjectType::Manifest,
        Some(FetchKind::Init | FetchKind::AudioInit) => ObjectType::Init,
        Some(FetchKind::Media) => ObjectType::Video,
        Some(FetchKind::Audio) => ObjectType::Audio,
        Some(FetchKind::Time) => ObjectType::Other,
    };
    let media = matches!(f.kind, Some(FetchKind::Media | FetchKind::Audio));
    let object = !matches!(f.kind, None | Some(FetchKind::Mpd));
    Cmcd {
        sid: Some(s.sid.clone()),
        cid: s.cid.clone(),
        sf: Some(StreamingFormat::Dash),
        st: Some(StreamType::Vod),
        // CTA-5004 §3.3: `v` is omitted for version 1 (the crate would drop it anyway).
        v: None,
        ot: Some(ot),
        br: f
            .bitrate_kbps
            .filter(|_| object)
            .and_then(|b| round_to(b, 1.0)),
        d: f.duration_ms
            .filter(|_| media)
            .and_then(|d| round_to(d, 1.0)),
        bl: f
            .buffer_ms
            .filter(|_| object)
            .and_then(|b| round_to(b, 100.0)),
        mtp: f.throughput_kbps.and_then(|t| round_to(t, 100.0)),
        nor: f.next.clone().filter(|_| media),
        su: f.startup,
        bs: f.starved,
        ..Cmcd::default()
    }
}

/// `to` relative to `from` when both are on the same scheme, host and port (the form `nor`
/// takes), e.g. `seg-5.m4s` or `../720p/seg-5.m4s`; `None` across servers.
pub fn relative(from: &Url, to: &Url) -> Option<String> {
    if from.origin() != to.origin() {
        return None;
    }
    from.make_relative(to).filter(|r| !r.is_empty())
}

/// `url` with the CMCD in its query (mode `query`), or the headers carrying it (mode
/// `header`); unchanged and no headers with mode `off`.
pub fn attach(mode: CmcdMode, mut url: Url, c: &Cmcd) -> (Url, HeaderMap) {
    let mut headers = HeaderMap::new();
    match mode {
        CmcdMode::Off => {}
        CmcdMode::Query => {
            let arg = c.to_query_arg();
            let q = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{arg}"),
                _ => arg,
            };
            url.set_query(Some(&q));
        }
        CmcdMode::Header => {
            for (name, value) in c.to_headers() {
                // The crate writes printable ASCII only; a value that is not is left out.
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
    }
    (url, headers)
}

/// `url` without its `CMCD` query argument (for records and logs: the object asked for).
pub fn without_cmcd(url: &Url) -> Url {
    let mut u = url.clone();
    if let Some(q) = url.query() {
        u.set_query(cmcd::strip_query(q).as_deref());
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> CmcdSession {
        CmcdSession {
            mode: CmcdMode::Query,
            sid: "6e2fb550-c457-11e9-bb97-0800200c9a66".into(),
            cid: Some("t2".into()),
        }
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [CmcdMode::Query, CmcdMode::Header, CmcdMode::Off] {
            assert_eq!(m.as_str().parse::<CmcdMode>(), Ok(m));
        }
        assert_eq!("HEADER".parse::<CmcdMode>(), Ok(CmcdMode::Header));
        assert!("json".parse::<CmcdMode>().is_err());
        assert_eq!(CmcdMode::default(), CmcdMode::Query);
    }

    #[test]
    fn sessions_get_distinct_uuids() {
        let a = CmcdSession::new(CmcdMode::Query, Some("x".repeat(300)));
        let b = CmcdSession::new(CmcdMode::Query, None);
        assert_ne!(a.sid, b.sid);
        assert_eq!(a.sid.len(), 36);
        assert!(a.sid.len() <= cmcd::cmcd::MAX_SID_LEN);
        assert_eq!(a.cid.unwrap().len(), cmcd::cmcd::MAX_CID_LEN);
    }

    #[test]
    fn a_media_request_carries_every_key_rounded() {
        let f = RequestFacts {
            kind: Some(FetchKind::Media),
            bitrate_kbps: Some(1499.6),
            duration_ms: Some(2000.0),
            buffer_ms: Some(12_349.0),
            throughput_kbps: Some(5_251.0),
            next: Some("seg-6.m4s".into()),
            startup: false,
            starved: true,
        };
        let c = cmcd_for(&session(), &f);
        assert_eq!(c.br, Some(1500));
        assert_eq!(c.d, Some(2000));
        assert_eq!(c.bl, Some(12_300));
        assert_eq!(c.mtp, Some(5_300));
        assert_eq!(c.ot, Some(ObjectType::Video));
        assert_eq!(c.nor.as_deref(), Some("seg-6.m4s"));
        assert!(c.bs && !c.su);
        // The wire form, keys sorted, as CTA-5004's examples write it.
        assert_eq!(
            c.to_dictionary(),
            "bl=12300,br=1500,bs,cid=\"t2\",d=2000,mtp=5300,nor=\"seg-6.m4s\",ot=v,sf=d,\
             sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v"
        );
        // And the crate reads back what it wrote.
        assert_eq!(cmcd::Cmcd::parse(&c.to_dictionary()).unwrap(), c);
    }

    #[test]
    fn the_mpd_and_init_carry_no_object_keys() {
        let f = RequestFacts {
            kind: Some(FetchKind::Mpd),
            bitrate_kbps: Some(800.0),
            duration_ms: Some(2000.0),
            buffer_ms: Some(0.0),
            next: Some("x".into()),
            startup: true,
            ..RequestFacts::default()
        };
        let c = cmcd_for(&session(), &f);
        assert_eq!(
            (c.ot, c.br, c.d, c.bl),
            (Some(ObjectType::Manifest), None, None, None)
        );
        assert!(c.su && c.nor.is_none());
        let c = cmcd_for(
            &session(),
            &RequestFacts {
                kind: Some(FetchKind::AudioInit),
                ..f
            },
        );
        assert_eq!((c.ot, c.br, c.d), (Some(ObjectType::Init), Some(800), None));
    }

    #[test]
    fn query_and_header_modes() {
        let c = cmcd_for(
            &session(),
            &RequestFacts {
                kind: Some(FetchKind::Audio),
                bitrate_kbps: Some(128.0),
                ..RequestFacts::default()
            },
        );
        let url = Url::parse("http://e1:8080/t2/a/seg-1.m4s?tok=1").unwrap();
        let (u, h) = attach(CmcdMode::Query, url.clone(), &c);
        assert!(h.is_empty());
        let q = u.query().unwrap();
        assert!(q.starts_with("tok=1&CMCD="), "{q}");
        // What an edge reads is what the player meant.
        assert_eq!(cmcd::Cmcd::from_query(q).unwrap(), Some(c.clone()));
        assert_eq!(without_cmcd(&u), url);
        let (u, h) = attach(CmcdMode::Header, url.clone(), &c);
        assert_eq!(u, url);
        let got = cmcd::Cmcd::from_headers(h.iter().map(|(n, v)| (n, v.as_bytes())));
        assert_eq!(got.unwrap(), Some(c.clone()));
        assert_eq!(h.get("cmcd-object").unwrap(), "br=128,ot=a");
        let (u, h) = attach(CmcdMode::Off, url.clone(), &c);
        assert!(u == url && h.is_empty());
    }

    #[test]
    fn next_object_paths_and_content_ids() {
        let a = Url::parse("http://e1:8080/t2/video/720p/seg-5.m4s").unwrap();
        let b = Url::parse("http://e1:8080/t2/video/720p/seg-6.m4s").unwrap();
        let c = Url::parse("http://e1:8080/t2/video/1080p/seg-6.m4s").unwrap();
        let other = Url::parse("http://e2:8080/t2/video/720p/seg-6.m4s").unwrap();
        assert_eq!(relative(&a, &b).as_deref(), Some("seg-6.m4s"));
        assert_eq!(relative(&a, &c).as_deref(), Some("../1080p/seg-6.m4s"));
        assert_eq!(relative(&a, &other), None);
        // What an edge resolves `nor` to is the next object's path.
        let nor = Cmcd {
            nor: relative(&a, &c),
            ..Cmcd::default()
        };
        assert_eq!(
            nor.resolve_nor(a.path()).as_deref(),
            Some("/t2/video/1080p/seg-6.m4s")
        );
        let mpd = |p: &str| content_id(&Url::parse(&format!("http://r{p}")).unwrap());
        assert_eq!(mpd("/t2/manifest.mpd").as_deref(), Some("t2"));
        assert_eq!(mpd("/a/b/manifest.mpd").as_deref(), Some("b"));
        assert_eq!(mpd("/manifest.mpd").as_deref(), Some("manifest.mpd"));
        assert_eq!(mpd("/"), None);
    }
}
