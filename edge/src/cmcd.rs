//! CMCD in: what players report with each request (CTA-5004, parsed by the [`cmcd`]
//! crate), read once per request in [`crate::handler::handle`] before anything else.
//!
//! - [`read`] finds CMCD in the `CMCD=` query argument or the `CMCD-*` headers (the query
//!   wins when both are present) → [`Incoming`]: none, valid, or invalid. Invalid CMCD is
//!   counted (`dashcdn_edge_cmcd_invalid_total`) and otherwise ignored: never an error
//!   to the player.
//! - [`strip`] removes it from the request before the cache key is built and before
//!   anything goes upstream, so CMCD can neither fragment the cache (one object, one
//!   entry, one fill, whatever the players report) nor leak upstream. With
//!   `cmcd_forward = true` a valid report is forwarded, always as `CMCD-*` headers (a query
//!   argument would have to be part of the upstream URL, hence of the fill's key).
//! - [`Sessions`] keeps the latest report of the 1,024 most recently seen sessions (`sid`,
//!   least recently seen evicted) for the aggregates on `/metrics` (sessions seen in the
//!   last 30 s, median `mtp`, starvation and bitrate counters) and the per-session table
//!   on `/debug/cmcd` (JSON). Per-session series are *not* on `/metrics`: `sid`s are
//!   random per playback, so a `sid` label would add ~4 series per viewer to every scrape
//!   and to the TSDB for ever; the JSON endpoint shows the same figures with no such cost.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use cmcd::{Cmcd, Mode};
use http::header::HeaderMap;
use http::uri::{PathAndQuery, Uri};
use serde::Serialize;

/// Path of the JSON session table.
pub const DEBUG_PATH: &str = "/debug/cmcd";
/// How many sessions [`Sessions`] keeps.
pub const MAX_SESSIONS: usize = 1024;
/// A session counts in `dashcdn_edge_cmcd_sessions` when seen within this window.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(30);
/// Distinct `br_kbps` label values before the rest are counted as `other`.
pub const MAX_BITRATE_LABELS: usize = 32;

/// The CMCD a request carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// None (no query argument, no `CMCD-*` header).
    None,
    /// A valid report, and how it came.
    Valid(Box<Cmcd>, Mode),
    /// Malformed: ignored (and counted).
    Invalid(cmcd::Error),
}

impl Incoming {
    /// The report, when valid.
    pub fn cmcd(&self) -> Option<&Cmcd> {
        match self {
            Incoming::Valid(c, _) => Some(c),
            _ => None,
        }
    }
}

/// Reads CMCD from a request's query (raw, without `?`) and headers.
pub fn read(query: Option<&str>, headers: &HeaderMap) -> Incoming {
    if let Some(q) = query {
        match Cmcd::from_query(q) {
            Ok(Some(c)) => return Incoming::Valid(Box::new(c), Mode::Query),
            Ok(None) => {}
            Err(e) => return Incoming::Invalid(e),
        }
    }
    let cmcd_headers = headers
        .iter()
        .filter(|(n, _)| cmcd::cmcd::HEADERS.contains(n))
        .map(|(n, v)| (n, v.as_bytes()));
    match Cmcd::from_headers(cmcd_headers) {
        Ok(Some(c)) => Incoming::Valid(Box::new(c), Mode::Header),
        Ok(None) => Incoming::None,
        Err(e) => Incoming::Invalid(e),
    }
}

/// Removes every trace of CMCD from the request target and headers; with `forward`, puts a
/// valid report back as `CMCD-*` headers (see the module docs). Returns the new target
/// when the query changed.
pub fn strip(
    uri: &Uri,
    headers: &mut HeaderMap,
    incoming: &Incoming,
    forward: bool,
) -> Option<Uri> {
    for h in cmcd::cmcd::HEADERS {
        headers.remove(h);
    }
    if forward {
        if let Some(c) = incoming.cmcd() {
            for (name, value) in c.to_headers() {
                if let Ok(v) = http::HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
    }
    let query = uri.query()?;
    let has_cmcd = query
        .split('&')
        .any(|p| p.split_once('=').map_or(p, |(n, _)| n) == cmcd::cmcd::QUERY_PARAM);
    if !has_cmcd {
        return None;
    }
    let pq = match cmcd::strip_query(query) {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

/// What the edge remembers of one session: its latest report and a few counts.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// The session id.
    pub sid: String,
    /// Content id, when sent.
    pub cid: Option<String>,
    /// Requests seen with this `sid`.
    pub requests: u64,
    /// Requests that carried `bs` (buffer starvation).
    pub starvations: u64,
    /// Latest buffer length, ms.
    pub bl: Option<u64>,
    /// Latest measured throughput, kbit/s.
    pub mtp: Option<u64>,
    /// Latest encoded bitrate requested, kbit/s.
    pub br: Option<u64>,
    /// Latest top bitrate, kbit/s.
    pub tb: Option<u64>,
    /// Seconds since the latest report (filled in when shown).
    pub idle_secs: f64,
    #[serde(skip)]
    last_seen: Option<Instant>,
}

/// Aggregates for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Aggregates {
    /// Sessions seen within [`ACTIVE_WINDOW`].
    pub active_sessions: usize,
    /// Median of their latest `mtp` (0 when none reported one), kbit/s.
    pub median_mtp_kbps: u64,
}

#[derive(Debug, Default)]
struct Table {
    sessions: HashMap<String, Session>,
    bitrates: BTreeSet<u64>,
}

/// The session table (see the module docs). Cheap to share: one mutex, held for a hash
/// lookup per CMCD request (a scan of at most [`MAX_SESSIONS`] only when a new session
/// arrives at a full table).
#[derive(Debug, Default)]
pub struct Sessions {
    table: std::sync::Mutex<Table>,
}

/// The `br_kbps` label for `br`: the value while fewer than [`MAX_BITRATE_LABELS`]
/// distinct values were seen (or when already seen), else `other`.
pub fn bitrate_label(seen: &mut BTreeSet<u64>, br: u64) -> String {
    if seen.contains(&br) || seen.len() < MAX_BITRATE_LABELS {
        seen.insert(br);
        br.to_string()
    } else {
        "other".to_owned()
    }
}

/// Median of `values` (the mean of the two middle ones for an even count), 0 when empty.
pub fn median(mut values: Vec<u64>) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one valid report seen at `now`; returns the `br_kbps` label when it has `br`.
    pub fn record(&self, c: &Cmcd, now: Instant) -> Option<String> {
        let mut t = self.lock();
        let label = c.br.map(|br| bitrate_label(&mut t.bitrates, br));
        let Some(sid) = c.sid.as_deref() else {
            return label;
        };
        if !t.sessions.contains_key(sid) && t.sessions.len() >= MAX_SESSIONS {
            // Least recently seen out.
            if let Some(oldest) = t
                .sessions
                .values()
                .min_by_key(|s| s.last_seen)
                .map(|s| s.sid.clone())
            {
                t.sessions.remove(&oldest);
            }
        }
        let s = t.sessions.entry(sid.to_owned()).or_insert_with(|| Session {
            sid: sid.to_owned(),
            cid: None,
            requests: 0,
            starvations: 0,
            bl: None,
            mtp: None,
            br: None,
            tb: None,
            idle_secs: 0.0,
            last_seen: None,
        });
        s.requests += 1;
        s.starvations += u64::from(c.bs);
        s.last_seen = Some(now);
        if c.cid.is_some() {
            s.cid.clone_from(&c.cid);
        }
        // A report without a key keeps the previous value (players send `bl`/`mtp` on
        // media requests only, not on every manifest or init request).
        s.bl = c.bl.or(s.bl);
        s.mtp = c.mtp.or(s.mtp);
        s.br = c.br.or(s.br);
        s.tb = c.tb.or(s.tb);
        label
    }

    /// Sessions seen within [`ACTIVE_WINDOW`] of `now` and their median `mtp`.
    pub fn aggregates(&self, now: Instant) -> Aggregates {
        let t = self.lock();
        let active: Vec<&Session> = t
            .sessions
            .values()
            .filter(|s| {
                s.last_seen
                    .is_some_and(|l| now.saturating_duration_since(l) <= ACTIVE_WINDOW)
            })
            .collect();
        Aggregates {
            active_sessions: active.len(),
            median_mtp_kbps: median(active.iter().filter_map(|s| s.mtp).collect()),
        }
    }

    /// Every session kept, most recently seen first (for `/debug/cmcd`).
    pub fn list(&self, now: Instant) -> Vec<Session> {
        let t = self.lock();
        let mut out: Vec<Session> = t
            .sessions
            .values()
            .map(|s| Session {
                idle_secs: s
                    .last_seen
                    .map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64()),
                ..s.clone()
            })
            .collect();
        out.sort_by(|a, b| a.idle_secs.total_cmp(&b.idle_secs));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_headers::hm;

    #[test]
    fn query_and_header_modes_and_invalid() {
        let h = HeaderMap::new();
        assert_eq!(read(Some("a=1"), &h), Incoming::None);
        assert_eq!(read(None, &h), Incoming::None);
        let Incoming::Valid(c, Mode::Query) = read(Some("a=1&CMCD=bl%3D500%2Csid%3D%22s%22"), &h)
        else {
            panic!()
        };
        assert_eq!((c.bl, c.sid.as_deref()), (Some(500), Some("s")));
        let h = hm(&[("cmcd-request", "bl=700"), ("cmcd-session", "sid=\"x\"")]);
        let Incoming::Valid(c, Mode::Header) = read(None, &h) else {
            panic!()
        };
        assert_eq!((c.bl, c.sid.as_deref()), (Some(700), Some("x")));
        assert!(matches!(
            read(Some("CMCD=bl%3Dx"), &HeaderMap::new()),
            Incoming::Invalid(_)
        ));
        assert!(matches!(
            read(None, &hm(&[("cmcd-object", "br=1,br=2")])),
            Incoming::Invalid(_)
        ));
    }

    #[test]
    fn strip_removes_cmcd_and_forwards_as_headers_only_when_asked() {
        let uri: Uri = "/default/v1/3.m4s?token=a&CMCD=bl%3D500&x".parse().unwrap();
        let mut h = hm(&[("cmcd-request", "bl=1"), ("accept", "*/*")]);
        let inc = read(uri.query(), &h);
        let new = strip(&uri, &mut h, &inc, false).unwrap();
        assert_eq!(new.to_string(), "/default/v1/3.m4s?token=a&x");
        assert_eq!(h.len(), 1, "only accept left: {h:?}");
        let uri: Uri = "/m.mpd?CMCD=bl%3D500".parse().unwrap();
        let mut h = HeaderMap::new();
        let inc = read(uri.query(), &h);
        assert_eq!(
            strip(&uri, &mut h, &inc, true).unwrap().to_string(),
            "/m.mpd"
        );
        assert_eq!(h["cmcd-request"], "bl=500");
        // invalid CMCD is never forwarded
        let mut h = hm(&[("cmcd-request", "bl=x")]);
        let inc = read(None, &h);
        assert_eq!(strip(&"/a".parse().unwrap(), &mut h, &inc, true), None);
        assert!(h.is_empty());
    }

    #[test]
    fn sessions_are_bounded_and_aggregated() {
        let s = Sessions::default();
        let t0 = Instant::now();
        for i in 0..(MAX_SESSIONS + 10) {
            let c = Cmcd {
                sid: Some(format!("s{i}")),
                mtp: Some(i as u64),
                bs: i % 2 == 0,
                ..Default::default()
            };
            s.record(&c, t0 + Duration::from_millis(i as u64));
        }
        let list = s.list(t0 + Duration::from_secs(2));
        assert_eq!(list.len(), MAX_SESSIONS);
        assert_eq!(
            list[0].sid,
            format!("s{}", MAX_SESSIONS + 9),
            "most recent first"
        );
        assert!(list.iter().all(|x| x.sid != "s0"), "the oldest was evicted");
        let a = s.aggregates(t0 + Duration::from_secs(2));
        assert_eq!(a.active_sessions, MAX_SESSIONS);
        assert_eq!(
            a.median_mtp_kbps,
            median((10..MAX_SESSIONS as u64 + 10).collect())
        );
        assert_eq!(
            s.aggregates(t0 + Duration::from_secs(120)).active_sessions,
            0
        );
        // a later report without mtp keeps the previous one
        s.record(
            &Cmcd {
                sid: Some("s20".into()),
                bl: Some(9),
                ..Default::default()
            },
            t0,
        );
        let x = s.list(t0).into_iter().find(|x| x.sid == "s20").unwrap();
        assert_eq!(
            (x.requests, x.mtp, x.bl, x.starvations),
            (2, Some(20), Some(9), 1)
        );
    }

    #[test]
    fn bitrate_labels_are_bounded() {
        let mut seen = BTreeSet::new();
        for br in 0..MAX_BITRATE_LABELS as u64 {
            assert_eq!(bitrate_label(&mut seen, br), br.to_string());
        }
        assert_eq!(bitrate_label(&mut seen, 99_999), "other");
        assert_eq!(bitrate_label(&mut seen, 3), "3");
        assert_eq!(
            (
                median(vec![]),
                median(vec![3, 1, 2]),
                median(vec![4, 1, 2, 3])
            ),
            (0, 2, 2)
        );
    }
}
