//! Edge self-announcement: edges register themselves instead of being listed in the
//! topology file, so `docker compose up --scale edge=N` needs no configuration change.
//!
//! ## Protocol ([`serve::wire`])
//! - `POST /announce`, `Authorization: Bearer <token>`, JSON [`Announcement`] → `200`
//!   [`AnnounceReply`] (`heartbeat_ms`, `expire_ms`). The same POST every `heartbeat_ms`
//!   is the heartbeat; a changed URL, position or capacity takes effect at once.
//! - `DELETE /announce/{id}` with the token → `204` (clean shutdown); `404` if unknown.
//! - Errors: announcing disabled (no token configured) → `403`; missing or wrong token →
//!   `401` (logged with the peer's address); an id of a configured edge → `409`; a bad
//!   body → `400` with the reason.
//!
//! ## Lifecycle of an announced edge
//! 1. Accepted: it joins the routing snapshot at once ([`crate::Shared::rebuild`]) in the
//!    `[announce] services`, and is probed right away like a configured edge
//!    ([`crate::health`]). Until its first successful probe it is `unknown` and never
//!    routed to, even as a last resort ([`crate::choice`]).
//! 2. Heartbeats refresh `last heard`.
//! 3. Silent for `expire_after × heartbeat_ms`, or withdrawn: removed, logged, counted in
//!    `redirector_announce_total{result="expired"|"withdrawn"}`.
//!
//! Announced edges survive topology reloads; one whose id becomes configured is dropped,
//! and all are dropped when a reload disables announcing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serve::wire::Announcement;

use crate::topology::{canonical_ip, check_coords, Edge};

/// An announced edge and when it was last heard from.
#[derive(Debug, Clone)]
pub struct AnnouncedEdge {
    /// The edge as announced (validated).
    pub edge: Edge,
    /// Last announcement or heartbeat.
    pub last_heard: Instant,
}

/// What an accepted announcement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new edge: the snapshot must be rebuilt.
    New,
    /// A known edge whose URL, position, region, addresses or capacity changed: rebuild.
    Changed,
    /// A plain heartbeat.
    Heartbeat,
}

/// The announced edges by id.
#[derive(Debug, Default)]
pub struct Announced {
    map: Mutex<BTreeMap<String, AnnouncedEdge>>,
}

fn same_edge(a: &Edge, b: &Edge) -> bool {
    a.url == b.url
        && a.lat == b.lat
        && a.lon == b.lon
        && a.capacity == b.capacity
        && a.region == b.region
        && a.ipv4 == b.ipv4
        && a.ipv6 == b.ipv6
}

impl Announced {
    /// Records an announcement heard at `now`.
    pub fn upsert(&self, edge: Edge, now: Instant) -> Upsert {
        let mut m = self.map.lock().expect("announced edges poisoned");
        let outcome = match m.get(&edge.id) {
            None => Upsert::New,
            Some(old) if same_edge(&old.edge, &edge) => Upsert::Heartbeat,
            Some(_) => Upsert::Changed,
        };
        m.insert(
            edge.id.clone(),
            AnnouncedEdge {
                edge,
                last_heard: now,
            },
        );
        outcome
    }

    /// Removes `id`; false if it was not announced.
    pub fn remove(&self, id: &str) -> bool {
        self.map
            .lock()
            .expect("announced edges poisoned")
            .remove(id)
            .is_some()
    }

    /// Removes and returns the ids not heard from for longer than `max_silence`.
    pub fn expire(&self, now: Instant, max_silence: Duration) -> Vec<String> {
        let mut m = self.map.lock().expect("announced edges poisoned");
        let gone: Vec<String> = m
            .iter()
            .filter(|(_, a)| now.saturating_duration_since(a.last_heard) > max_silence)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            m.remove(id);
        }
        gone
    }

    /// Drops the edges whose id matches `ids` (e.g. they became configured); returns them.
    pub fn drop_ids(&self, ids: impl Fn(&str) -> bool) -> Vec<String> {
        let mut m = self.map.lock().expect("announced edges poisoned");
        let gone: Vec<String> = m.keys().filter(|id| ids(id)).cloned().collect();
        for id in &gone {
            m.remove(id);
        }
        gone
    }

    /// Every announced edge, by id.
    pub fn edges(&self) -> Vec<Edge> {
        let m = self.map.lock().expect("announced edges poisoned");
        m.values().map(|a| a.edge.clone()).collect()
    }

    /// When `id` was last heard from.
    pub fn last_heard(&self, id: &str) -> Option<Instant> {
        let m = self.map.lock().expect("announced edges poisoned");
        m.get(id).map(|a| a.last_heard)
    }

    /// How many edges are announced.
    pub fn len(&self) -> usize {
        self.map.lock().expect("announced edges poisoned").len()
    }

    /// True when no edge is announced.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks an announcement and turns it into an [`Edge`]: a non-empty id without spaces or
/// commas (it is a steering pathway and a `Via` pseudonym), an http(s) URL with a host
/// (trailing `/` dropped), coordinates in range, capacity > 0, at most one address per
/// family. The error is the reason, sent back with `400`.
pub fn validate(a: &Announcement) -> Result<Edge, String> {
    if a.id.is_empty() || a.id.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err("id must be non-empty, without spaces or commas".into());
    }
    if a.id.len() > 200 {
        return Err("id is longer than 200 bytes".into());
    }
    let url = a.url.trim_end_matches('/').to_string();
    if reqwest::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .is_none()
    {
        return Err(format!("url {:?} is not an http(s) URL", a.url));
    }
    check_coords(a.lat, a.lon)?;
    let capacity = a.capacity.unwrap_or(1.0);
    if !(capacity.is_finite() && capacity > 0.0) {
        return Err("capacity must be > 0".into());
    }
    let (mut ipv4, mut ipv6) = (None, None);
    for addr in &a.addresses {
        match canonical_ip(*addr) {
            IpAddr::V4(v) if ipv4.is_none() => ipv4 = Some(v),
            IpAddr::V6(v) if ipv6.is_none() => ipv6 = Some(v),
            _ => return Err("addresses: at most one IPv4 and one IPv6 address".into()),
        }
    }
    Ok(Edge {
        id: a.id.clone(),
        url,
        ipv4,
        ipv6,
        lat: a.lat,
        lon: a.lon,
        capacity,
        bias: 0.0,
        region: a.region.clone().filter(|r| !r.is_empty()),
        announced: true,
    })
}

/// Constant-time comparison of a presented token with the configured one.
pub fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The bearer credential of an `Authorization` header value, if it is one.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, cred) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| cred.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Announcement {
        Announcement {
            id: "e1".into(),
            url: "http://127.0.0.1:9/".into(),
            lat: 48.0,
            lon: 2.0,
            region: Some("eu".into()),
            addresses: vec!["127.0.0.1".parse().unwrap()],
            capacity: None,
        }
    }

    #[test]
    fn validates_announcements() {
        let e = validate(&ann()).unwrap();
        assert_eq!(e.url, "http://127.0.0.1:9");
        assert_eq!(e.capacity, 1.0);
        assert!(e.announced);
        let bad = |f: fn(&mut Announcement)| {
            let mut a = ann();
            f(&mut a);
            validate(&a).unwrap_err()
        };
        assert!(bad(|a| a.id.clear()).contains("id"));
        assert!(bad(|a| a.id = "a b".into()).contains("id"));
        assert!(bad(|a| a.url = "ftp://x".into()).contains("http(s)"));
        assert!(bad(|a| a.url = "not a url".into()).contains("http(s)"));
        assert!(bad(|a| a.lat = 91.0).contains("lat"));
        assert!(bad(|a| a.lon = f64::NAN).contains("lon"));
        assert!(bad(|a| a.capacity = Some(0.0)).contains("capacity"));
        assert!(bad(|a| a.addresses.push("127.0.0.2".parse().unwrap())).contains("addresses"));
    }

    #[test]
    fn upsert_heartbeat_expire() {
        let reg = Announced::default();
        let t0 = Instant::now();
        let e = validate(&ann()).unwrap();
        assert_eq!(reg.upsert(e.clone(), t0), Upsert::New);
        assert_eq!(reg.upsert(e.clone(), t0), Upsert::Heartbeat);
        let mut moved = e.clone();
        moved.url = "http://127.0.0.1:10".into();
        assert_eq!(reg.upsert(moved, t0), Upsert::Changed);
        let later = t0 + Duration::from_millis(500);
        assert!(reg.expire(later, Duration::from_millis(600)).is_empty());
        assert_eq!(reg.expire(later, Duration::from_millis(400)), vec!["e1"]);
        assert!(reg.is_empty());
        assert!(!reg.remove("e1"));
    }

    #[test]
    fn tokens() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abd", b"abc"));
        assert!(!token_matches(b"ab", b"abc"));
        assert_eq!(bearer("Bearer  t0k "), Some("t0k"));
        assert_eq!(bearer("bearer x"), Some("x"));
        assert_eq!(bearer("Basic x"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
