//! `topology.toml`: edges, coverage zones (client CIDRs → a location), services and
//! their routing policy, health and DNS settings. Parsed, validated (errors name the
//! file, line and field) and compiled into a [`Topology`] with precomputed
//! location × edge distances and a longest-prefix-match [`ZoneTable`].
//!
//! A Traffic Router Coverage Zone File (CZF JSON) can be imported with `czf = "file"`:
//! its `coverageZones` become locations (merged by name with `[[locations]]`).
//!
//! ## How a file becomes a topology
//! 1. `raw`: serde structs of the TOML as written (unknown fields refused, spans kept).
//! 2. `czf`: the optional coverage zone file.
//! 3. `compile`: raw → [`Topology`]: every check, with the error naming file, line
//!    and field ([`TopologyError`]); networks go into the [`ZoneTable`] (`cidr`).

mod cidr;
pub mod closed_loop;
mod compile;
mod czf;
mod raw;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub use cidr::{canonical_ip, Cidr, CidrError, ZoneTable};
pub(crate) use compile::check_coords;
pub use czf::{parse_czf, CzfError, CzfLocation};
pub use raw::{DnsConfig, HealthConfig, Policy, SteeringConfig};

/// A topology that could not be loaded: which file, where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TopologyError {
    /// File the error is in.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong (names the field).
    pub message: String,
}

/// One edge cache.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Unique id (also the `serviceLocation` / steering pathway).
    pub id: String,
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// IPv4 address answered in A records.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address answered in AAAA records.
    pub ipv6: Option<Ipv6Addr>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Capacity weight (relative share of load; rendezvous weight).
    pub capacity: f64,
    /// Route 53-style bias in -99..=99: positive attracts traffic (shrinks the
    /// effective distance by `bias` %), negative repels it.
    pub bias: f64,
    /// Free-form region name (shown on `/debug/edges`).
    pub region: Option<String>,
    /// True for an edge that announced itself ([`crate::announce`]), false for one
    /// from the topology file.
    pub announced: bool,
}

/// The shared announce token; its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct AnnounceToken(pub String);

impl std::fmt::Debug for AnnounceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnnounceToken(..)")
    }
}

/// Edge self-announcement, enabled (`[announce]` plus a token from its `token_file` or
/// [`serve::wire::ANNOUNCE_TOKEN_ENV`]).
#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// The bearer token announcing edges must present.
    pub token: AnnounceToken,
    /// Heartbeat period edges are told to keep, ms.
    pub heartbeat_ms: u64,
    /// Missed heartbeats after which an announced edge is removed.
    pub expire_after: u32,
    /// Indices into [`Topology::services`] that announced edges join.
    pub services: Vec<usize>,
}

impl AnnounceConfig {
    /// How long an announced edge may stay silent before it is removed.
    pub fn expire_ms(&self) -> u64 {
        self.heartbeat_ms
            .saturating_mul(u64::from(self.expire_after))
    }
}

/// A client location (a coverage zone or the default).
#[derive(Debug, Clone)]
pub struct Location {
    /// Name (coverage zone / cache group name).
    pub name: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Client networks of this location.
    pub networks: Vec<Cidr>,
}

/// A routed service: a DNS name and/or HTTP host, its edges and policy.
#[derive(Debug, Clone)]
pub struct Service {
    /// Name.
    pub name: String,
    /// Fully qualified, lower-case DNS name with trailing dot.
    pub dns_name: Option<String>,
    /// HTTP `Host` (without port) selecting this service; the first service is the default.
    pub http_host: Option<String>,
    /// Ranking policy.
    pub policy: Policy,
    /// Indices into [`Topology::edges`].
    pub edges: Vec<usize>,
    /// Edges within this many km (distance policy) of the nearest share by hashing.
    pub slack_km: f64,
    /// Edges within this many ms (latency policy) of the best share by hashing.
    pub slack_ms: f64,
    /// Bounded-load factor c: an edge takes at most c × its capacity share.
    pub load_factor: f64,
    /// Answers per second in a near set below which load is not bounded.
    pub min_load: u64,
}

/// A validated, compiled topology.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Edges.
    pub edges: Vec<Edge>,
    /// Locations (coverage zones plus the default).
    pub locations: Vec<Location>,
    /// Index of the default location (clients no zone covers).
    pub default_location: usize,
    /// Services; `services[0]` is the default.
    pub services: Vec<Service>,
    /// Client address → location.
    pub zones: ZoneTable,
    /// `distance_km[location][edge]`.
    pub distance_km: Vec<Vec<f64>>,
    /// `rtt_ms[location][edge]` from `[rtt]`.
    pub rtt_ms: Vec<Vec<Option<f64>>>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Health probing.
    pub health: HealthConfig,
    /// DNS settings.
    pub dns: DnsConfig,
    /// Steering settings.
    pub steering: SteeringConfig,
    /// Closed-loop steering settings (`[closed_loop]`).
    pub closed_loop: closed_loop::ClosedLoopConfig,
    /// Edge self-announcement; `None`: disabled (no token).
    pub announce: Option<AnnounceConfig>,
}

impl Topology {
    /// Reads and validates a topology file (and the CZF it names, relative to it).
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Topology::parse(&text, path)
    }

    /// Validates topology text; `path` names it in errors and anchors a relative `czf`.
    pub fn parse(text: &str, path: &Path) -> Result<Topology, TopologyError> {
        compile::compile(text, path)
    }

    /// This topology plus `announced` edges (appended after the configured ones, joined
    /// to the [`AnnounceConfig::services`], with their distances computed and no RTT
    /// entries). Edges whose id is already configured are left out.
    pub fn with_announced(&self, announced: impl IntoIterator<Item = Edge>) -> Topology {
        let mut t = self.clone();
        let services = self
            .announce
            .as_ref()
            .map_or_else(Vec::new, |a| a.services.clone());
        for mut e in announced {
            if t.edge_index(&e.id).is_some() {
                continue;
            }
            e.announced = true;
            let i = t.edges.len();
            for (l, row) in t.locations.iter().zip(t.distance_km.iter_mut()) {
                row.push(crate::geo::distance_km(l.lat, l.lon, e.lat, e.lon));
            }
            for row in &mut t.rtt_ms {
                row.push(None);
            }
            for &s in &services {
                t.services[s].edges.push(i);
            }
            t.edges.push(e);
        }
        t
    }

    /// Index of the edge with this id.
    pub fn edge_index(&self, id: &str) -> Option<usize> {
        self.edges.iter().position(|e| e.id == id)
    }

    /// The service answering DNS for `name` (lower-case FQDN with trailing dot).
    pub fn service_for_dns(&self, name: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|s| s.dns_name.as_deref() == Some(name))
    }

    /// The service for an HTTP `Host` (port ignored); the first service by default.
    pub fn service_for_host(&self, host: Option<&str>) -> usize {
        let host = host.map(|h| {
            let h = h.rsplit_once(':').map_or(h, |(a, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    a
                } else {
                    h
                }
            });
            h.to_ascii_lowercase()
        });
        host.and_then(|h| {
            self.services
                .iter()
                .position(|s| s.http_host.as_deref() == Some(h.as_str()))
        })
        .unwrap_or(0)
    }

    /// Whether `peer` is a trusted proxy.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
default_location = "eu"
trusted_proxies = ["127.0.0.1/32"]

[[edges]]
id = "paris"
url = "http://127.0.0.1:1/"
address = "192.0.2.10"
lat = 48.85
lon = 2.35

[[edges]]
id = "nyc"
url = "http://127.0.0.2:1"
addresses = ["192.0.2.11", "2001:db8::11"]
lat = 40.7
lon = -74.0

[[locations]]
name = "eu"
lat = 50.1
lon = 8.7
networks = ["192.0.2.0/24", "2001:db8:1::/48"]

[[locations]]
name = "us"
lat = 38.9
lon = -77.0
networks = ["198.51.100.0/24", "198.51.100.128/25"]
"#;

    #[test]
    fn parses_and_matches_longest_prefix() {
        let t = Topology::parse(SAMPLE, Path::new("t.toml")).unwrap();
        assert_eq!(t.edges[0].url, "http://127.0.0.1:1");
        assert_eq!(t.edges[1].ipv6, Some("2001:db8::11".parse().unwrap()));
        assert_eq!(t.zones.lookup("192.0.2.77".parse().unwrap()), Some((0, 24)));
        assert_eq!(
            t.zones.lookup("198.51.100.200".parse().unwrap()),
            Some((1, 25))
        );
        assert_eq!(
            t.zones.lookup("::ffff:198.51.100.1".parse().unwrap()),
            Some((1, 24))
        );
        assert_eq!(
            t.zones.lookup("2001:db8:1:2::1".parse().unwrap()),
            Some((0, 48))
        );
        assert_eq!(t.zones.lookup("203.0.113.1".parse().unwrap()), None);
        assert_eq!(t.services[0].dns_name.as_deref(), Some("cdn.example.test."));
        assert!(t.is_trusted_proxy("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn errors_name_line_and_field() {
        let bad = SAMPLE.replace("lat = 40.7", "lat = 140.7");
        let e = Topology::parse(&bad, Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("edges[1]"), "{e}");
        assert!(e.to_string().contains("lat 140.7"), "{e}");
        assert!(e.line.is_some(), "{e}");
        let bad = SAMPLE.replace("192.0.2.0/24", "192.0.2.0/33");
        let e = Topology::parse(&bad, Path::new("t.toml")).unwrap_err();
        let expected = bad.lines().position(|l| l.contains("/33")).unwrap() + 1;
        assert_eq!(e.line, Some(expected), "{e}");
        let bad = SAMPLE.replace("default_location = \"eu\"", "default_location = \"mars\"");
        let e = Topology::parse(&bad, Path::new("t.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("t.toml:2: default_location"),
            "{e}"
        );
        let bad =
            format!("{SAMPLE}\n[[edges]]\nid = \"paris\"\nurl = \"http://x\"\nlat = 0\nlon = 0\n");
        let e = Topology::parse(&bad, Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("duplicate edge id"), "{e}");
        let e =
            Topology::parse(&format!("{SAMPLE}\nbogus = 1\n"), Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn czf_import_merges_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("czf.json"),
            r#"{"revision":"1","customerName":"x","coverageZones":{
                "eu":{"network":["203.0.113.0/24"]},
                "asia":{"network6":["2001:db8:2::/48"],"coordinates":{"latitude":35.7,"longitude":139.7}}}}"#,
        )
        .unwrap();
        let text = format!("czf = \"czf.json\"\n{SAMPLE}");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).unwrap();
        let t = Topology::load(&path).unwrap();
        let (eu, _) = t.zones.lookup("203.0.113.9".parse().unwrap()).unwrap();
        assert_eq!(t.locations[eu].name, "eu");
        let (asia, len) = t.zones.lookup("2001:db8:2::5".parse().unwrap()).unwrap();
        assert_eq!((t.locations[asia].name.as_str(), len), ("asia", 48));
    }

    #[test]
    fn announce_section_token_file_and_empty_edges() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "  s3cret\n").unwrap();
        let path = dir.path().join("t.toml");
        let text = "[announce]\ntoken_file = \"token\"\nheartbeat_ms = 100\n\n[[locations]]\nname = \"eu\"\nlat = 50.0\nlon = 8.0\n";
        std::fs::write(&path, text).unwrap();
        let t = Topology::load(&path).unwrap();
        let a = t.announce.clone().unwrap();
        assert_eq!(a.token.0, "s3cret");
        assert_eq!(
            (a.heartbeat_ms, a.expire_after, a.expire_ms()),
            (100, 3, 300)
        );
        assert_eq!(a.services, vec![0]);
        assert!(t.edges.is_empty());
        assert!(!format!("{a:?}").contains("s3cret"));
        // Announced edges join the default service, with their distances.
        let e = Edge {
            id: "x".into(),
            url: "http://127.0.0.1:1".into(),
            ipv4: None,
            ipv6: None,
            lat: 50.0,
            lon: 8.0,
            capacity: 1.0,
            bias: 0.0,
            region: None,
            announced: false,
        };
        let merged = t.with_announced([e]);
        assert!(merged.edges[0].announced);
        assert_eq!(merged.services[0].edges, vec![0]);
        assert_eq!(merged.distance_km[0], vec![0.0]);
        // A missing token file names the field; an unknown service too.
        let bad = text.replace("\"token\"", "\"nope\"");
        std::fs::write(&path, bad).unwrap();
        let e = Topology::load(&path).unwrap_err().to_string();
        assert!(e.contains("announce: token_file: cannot read"), "{e}");
        let bad = text.replace("heartbeat_ms = 100", "services = [\"vod\"]");
        std::fs::write(&path, bad).unwrap();
        let e = Topology::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(":1: announce: services: no service named \"vod\""),
            "{e}"
        );
    }
}
