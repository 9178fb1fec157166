//! `topology.toml`: edges, coverage zones (client CIDRs → a location), services and
//! their routing policy, health and DNS settings. Parsed, validated (errors name the
//! file, line and field) and compiled into a [`Topology`] with precomputed
//! location × edge distances and a longest-prefix-match [`ZoneTable`].
//!
//! A Traffic Router Coverage Zone File (CZF JSON) can be imported with `czf = "file"`:
//! its `coverageZones` become locations (merged by name with `[[locations]]`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::geo;

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

/// An IPv4 or IPv6 network (`192.0.2.0/24`, `2001:db8::/32`); host bits are cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// Network of `addr` with prefix `len` (host bits cleared); `None` if `len` is too long.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let addr = canonical_ip(addr);
        match addr {
            IpAddr::V4(a) if len <= 32 => Some(Cidr {
                addr: IpAddr::V4(Ipv4Addr::from(mask4(u32::from(a), len))),
                len,
            }),
            IpAddr::V6(a) if len <= 128 => Some(Cidr {
                addr: IpAddr::V6(Ipv6Addr::from(mask6(u128::from(a), len))),
                len,
            }),
            _ => None,
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `/0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Cidr::new(ip, self.len).is_some_and(|c| c == *self)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP network (address)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .map_err(|_| format!("`{s}` is not an IP network (prefix length)"))?,
            None => max,
        };
        if len > max {
            return Err(format!("`{s}`: prefix length {len} is longer than {max}"));
        }
        Ok(Cidr::new(addr, len).expect("length checked"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - len as u32))
    }
}

fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - len as u32))
    }
}

/// Routing policy of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Great-circle distance from the client's location, adjusted by each edge's bias.
    #[default]
    Distance,
    /// The `[rtt]` table (location × edge, milliseconds), adjusted by bias; edges without
    /// an entry are estimated from distance.
    Latency,
}

/// Health probing settings (`[health]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between probes of one edge.
    pub interval_ms: u64,
    /// Probe timeout.
    pub timeout_ms: u64,
    /// Consecutive failures that take an edge out.
    pub fall: u32,
    /// Consecutive successes that put it back.
    pub rise: u32,
    /// Path probed on every edge.
    pub path: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_ms: 1000,
            timeout_ms: 500,
            fall: 2,
            rise: 2,
            path: "/healthz".into(),
        }
    }
}

/// DNS settings (`[dns]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// TTL of A/AAAA answers (short: clients must follow health changes).
    pub ttl: u32,
    /// SOA MNAME and the NS of every service zone (relative names get the zone appended).
    pub ns: String,
    /// SOA RNAME (mailbox as a name).
    pub hostmaster: String,
    /// SOA serial.
    pub serial: u32,
    /// Addresses answered for the NS name (glue); may be empty.
    pub ns_addresses: Vec<IpAddr>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            ttl: 10,
            ns: "ns1".into(),
            hostmaster: "hostmaster".into(),
            serial: 1,
            ns_addresses: Vec::new(),
        }
    }
}

/// Content steering settings (`[steering]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SteeringConfig {
    /// `TTL` of steering answers, seconds (how often dash.js asks again).
    pub ttl: u32,
    /// Where `/steered/...` fetches the original MPD from; default: the best edge.
    pub origin: Option<String>,
}

impl Default for SteeringConfig {
    fn default() -> Self {
        SteeringConfig {
            ttl: 5,
            origin: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(IpAddr),
    Many(Vec<IpAddr>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    id: String,
    url: String,
    #[serde(alias = "addresses")]
    address: Option<OneOrMany>,
    lat: f64,
    lon: f64,
    #[serde(default = "one")]
    capacity: f64,
    #[serde(default)]
    bias: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    name: String,
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(default)]
    networks: Vec<Cidr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    dns_name: Option<String>,
    http_host: Option<String>,
    #[serde(default)]
    policy: Policy,
    edges: Option<Vec<String>>,
    slack_km: Option<f64>,
    slack_ms: Option<f64>,
    load_factor: Option<f64>,
    min_load: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    default_location: Option<Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Vec<Cidr>,
    czf: Option<Spanned<PathBuf>>,
    #[serde(default)]
    health: HealthConfig,
    #[serde(default)]
    dns: DnsConfig,
    #[serde(default)]
    steering: SteeringConfig,
    #[serde(default)]
    services: Vec<Spanned<RawService>>,
    #[serde(default)]
    edges: Vec<Spanned<RawEdge>>,
    #[serde(default)]
    locations: Vec<Spanned<RawLocation>>,
    #[serde(default)]
    rtt: BTreeMap<String, BTreeMap<String, f64>>,
    /// Defaults of every service's choice knobs.
    #[serde(default)]
    slack_km: Option<f64>,
    #[serde(default)]
    slack_ms: Option<f64>,
    #[serde(default)]
    load_factor: Option<f64>,
    #[serde(default)]
    min_load: Option<u64>,
    /// DNS name of the default service.
    #[serde(default)]
    cdn_name: Option<String>,
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

/// Longest-prefix match of client addresses to locations.
#[derive(Debug, Clone, Default)]
pub struct ZoneTable {
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

impl ZoneTable {
    fn insert(&mut self, cidr: Cidr, location: usize) -> Option<usize> {
        match cidr.addr {
            IpAddr::V4(a) => insert_level(&mut self.v4, cidr.len, u32::from(a), location),
            IpAddr::V6(a) => insert_level(&mut self.v6, cidr.len, u128::from(a), location),
        }
    }

    /// The location of `ip` and the prefix length of the matching network.
    pub fn lookup(&self, ip: IpAddr) -> Option<(usize, u8)> {
        match canonical_ip(ip) {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|(len, m)| m.get(&mask4(a, *len)).map(|l| (*l, *len)))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|(len, m)| m.get(&mask6(a, *len)).map(|l| (*l, *len)))
            }
        }
    }
}

fn insert_level<K: std::hash::Hash + Eq>(
    levels: &mut Vec<(u8, HashMap<K, usize>)>,
    len: u8,
    key: K,
    location: usize,
) -> Option<usize> {
    let i = match levels.iter().position(|(l, _)| *l == len) {
        Some(i) => i,
        None => {
            levels.push((len, HashMap::new()));
            levels.sort_by_key(|l| std::cmp::Reverse(l.0));
            levels
                .iter()
                .position(|(l, _)| *l == len)
                .expect("inserted")
        }
    };
    levels[i].1.insert(key, location)
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
}

/// Traffic Router Coverage Zone File (the subset that matters for routing).
#[derive(Debug, Deserialize)]
struct Czf {
    #[serde(rename = "coverageZones")]
    coverage_zones: BTreeMap<String, CzfZone>,
}

#[derive(Debug, Deserialize)]
struct CzfZone {
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    network6: Vec<String>,
    coordinates: Option<CzfCoordinates>,
}

#[derive(Debug, Deserialize)]
struct CzfCoordinates {
    latitude: f64,
    longitude: f64,
}

/// A location imported from a CZF.
#[derive(Debug, Clone, PartialEq)]
pub struct CzfLocation {
    /// Coverage zone name.
    pub name: String,
    /// Coordinates, when the CZF has them.
    pub coordinates: Option<(f64, f64)>,
    /// IPv4 and IPv6 networks.
    pub networks: Vec<Cidr>,
}

/// Parses a Traffic Router Coverage Zone File (`{"coverageZones": {name: {network,
/// network6, coordinates}}}`).
pub fn parse_czf(json: &str) -> Result<Vec<CzfLocation>, String> {
    let czf: Czf = serde_json::from_str(json).map_err(|e| format!("invalid CZF JSON: {e}"))?;
    let mut out = Vec::new();
    for (name, zone) in czf.coverage_zones {
        let mut networks = Vec::new();
        for n in zone.network.iter().chain(zone.network6.iter()) {
            networks.push(
                n.parse::<Cidr>()
                    .map_err(|e| format!("coverageZones.{name}: {e}"))?,
            );
        }
        out.push(CzfLocation {
            name,
            coordinates: zone.coordinates.map(|c| (c.latitude, c.longitude)),
            networks,
        });
    }
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
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
        let file = path.display().to_string();
        let err = |span: Option<std::ops::Range<usize>>, message: String| TopologyError {
            file: file.clone(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        let raw: RawTopology =
            toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;

        // Edges.
        let mut edges = Vec::new();
        let mut edge_ids = HashMap::new();
        if raw.edges.is_empty() {
            return Err(err(
                None,
                "no [[edges]]: at least one edge is needed".into(),
            ));
        }
        for (i, se) in raw.edges.iter().enumerate() {
            let span = Some(se.span());
            let e = se.get_ref();
            let at = format!("edges[{i}] (id {:?})", e.id);
            if e.id.is_empty() || e.id.contains(|c: char| c.is_whitespace() || c == ',') {
                return Err(err(
                    span,
                    format!("{at}: id must be non-empty, no spaces or commas"),
                ));
            }
            if edge_ids.insert(e.id.clone(), i).is_some() {
                return Err(err(span, format!("{at}: duplicate edge id")));
            }
            let url = e.url.trim_end_matches('/').to_string();
            if reqwest::Url::parse(&url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .is_none()
            {
                return Err(err(
                    span,
                    format!("{at}: url {:?} is not an http(s) URL", e.url),
                ));
            }
            check_coords(e.lat, e.lon).map_err(|m| err(span.clone(), format!("{at}: {m}")))?;
            if !(e.capacity.is_finite() && e.capacity > 0.0) {
                return Err(err(span, format!("{at}: capacity must be > 0")));
            }
            if !(-99.0..=99.0).contains(&e.bias) {
                return Err(err(span, format!("{at}: bias must be within -99..=99")));
            }
            let addrs = match &e.address {
                None => Vec::new(),
                Some(OneOrMany::One(a)) => vec![*a],
                Some(OneOrMany::Many(v)) => v.clone(),
            };
            let mut ipv4 = None;
            let mut ipv6 = None;
            for a in addrs {
                match canonical_ip(a) {
                    IpAddr::V4(v) if ipv4.is_none() => ipv4 = Some(v),
                    IpAddr::V6(v) if ipv6.is_none() => ipv6 = Some(v),
                    _ => {
                        return Err(err(
                            span,
                            format!("{at}: at most one IPv4 and one IPv6 address"),
                        ))
                    }
                }
            }
            edges.push(Edge {
                id: e.id.clone(),
                url,
                ipv4,
                ipv6,
                lat: e.lat,
                lon: e.lon,
                capacity: e.capacity,
                bias: e.bias,
            });
        }

        // Locations: [[locations]] merged with the CZF.
        let mut locations: Vec<Location> = Vec::new();
        let mut loc_ids: HashMap<String, usize> = HashMap::new();
        let mut loc_spans = Vec::new();
        for (i, sl) in raw.locations.iter().enumerate() {
            let span = Some(sl.span());
            let l = sl.get_ref();
            let at = format!("locations[{i}] (name {:?})", l.name);
            let (Some(lat), Some(lon)) = (l.lat, l.lon) else {
                return Err(err(span, format!("{at}: lat and lon are required")));
            };
            check_coords(lat, lon).map_err(|m| err(span.clone(), format!("{at}: {m}")))?;
            if loc_ids.insert(l.name.clone(), locations.len()).is_some() {
                return Err(err(span, format!("{at}: duplicate location name")));
            }
            loc_spans.push(span);
            locations.push(Location {
                name: l.name.clone(),
                lat,
                lon,
                networks: l.networks.clone(),
            });
        }
        if let Some(czf) = &raw.czf {
            let czf_path = path.parent().unwrap_or(Path::new(".")).join(czf.get_ref());
            let span = Some(czf.span());
            let json = std::fs::read_to_string(&czf_path).map_err(|e| {
                err(
                    span.clone(),
                    format!("czf: cannot read {}: {e}", czf_path.display()),
                )
            })?;
            let imported = parse_czf(&json)
                .map_err(|m| err(span.clone(), format!("czf {}: {m}", czf_path.display())))?;
            for z in imported {
                match loc_ids.get(&z.name) {
                    Some(&i) => locations[i].networks.extend(z.networks),
                    None => {
                        let Some((lat, lon)) = z.coordinates else {
                            return Err(err(
                                span,
                                format!(
                                    "czf {}: coverage zone {:?} has no coordinates and no [[locations]] entry",
                                    czf_path.display(),
                                    z.name
                                ),
                            ));
                        };
                        check_coords(lat, lon).map_err(|m| {
                            err(span.clone(), format!("czf zone {:?}: {m}", z.name))
                        })?;
                        loc_ids.insert(z.name.clone(), locations.len());
                        loc_spans.push(span.clone());
                        locations.push(Location {
                            name: z.name,
                            lat,
                            lon,
                            networks: z.networks,
                        });
                    }
                }
            }
        }
        let default_location = match &raw.default_location {
            Some(d) => *loc_ids.get(d.get_ref()).ok_or_else(|| {
                err(
                    Some(d.span()),
                    format!("default_location: no location named {:?}", d.get_ref()),
                )
            })?,
            None if !locations.is_empty() => 0,
            None => {
                return Err(err(
                    None,
                    "default_location: no [[locations]] to fall back on".into(),
                ))
            }
        };
        let mut zones = ZoneTable::default();
        let mut seen = HashSet::new();
        for (i, l) in locations.iter().enumerate() {
            for n in &l.networks {
                if !seen.insert(*n) {
                    return Err(err(
                        loc_spans[i].clone(),
                        format!("location {:?}: network {n} is listed twice", l.name),
                    ));
                }
                zones.insert(*n, i);
            }
        }

        // RTT table.
        let mut rtt_ms = vec![vec![None; edges.len()]; locations.len()];
        for (loc, row) in &raw.rtt {
            let li = *loc_ids
                .get(loc)
                .ok_or_else(|| err(None, format!("rtt.{loc}: no location named {loc:?}")))?;
            for (edge, ms) in row {
                let ei = *edge_ids.get(edge).ok_or_else(|| {
                    err(None, format!("rtt.{loc}.{edge}: no edge named {edge:?}"))
                })?;
                if !(ms.is_finite() && *ms >= 0.0) {
                    return Err(err(None, format!("rtt.{loc}.{edge}: must be >= 0 ms")));
                }
                rtt_ms[li][ei] = Some(*ms);
            }
        }

        // Services.
        let defaults = |s: &RawService| Service {
            name: s.name.clone(),
            dns_name: s.dns_name.as_deref().map(fqdn),
            http_host: s.http_host.as_ref().map(|h| h.to_ascii_lowercase()),
            policy: s.policy,
            edges: Vec::new(),
            slack_km: s.slack_km.or(raw.slack_km).unwrap_or(300.0),
            slack_ms: s.slack_ms.or(raw.slack_ms).unwrap_or(10.0),
            load_factor: s.load_factor.or(raw.load_factor).unwrap_or(1.25),
            min_load: s.min_load.or(raw.min_load).unwrap_or(50),
        };
        let mut services = Vec::new();
        let raw_services: Vec<(Option<std::ops::Range<usize>>, RawService)> =
            if raw.services.is_empty() {
                vec![(
                    None,
                    RawService {
                        name: "cdn".into(),
                        dns_name: Some(
                            raw.cdn_name
                                .clone()
                                .unwrap_or_else(|| "cdn.example.test.".into()),
                        ),
                        http_host: None,
                        policy: Policy::Distance,
                        edges: None,
                        slack_km: None,
                        slack_ms: None,
                        load_factor: None,
                        min_load: None,
                    },
                )]
            } else {
                raw.services
                    .iter()
                    .map(|s| (Some(s.span()), s.get_ref().clone()))
                    .collect()
            };
        let mut dns_names = HashSet::new();
        for (i, (span, s)) in raw_services.iter().enumerate() {
            let at = format!("services[{i}] (name {:?})", s.name);
            let mut svc = defaults(s);
            svc.edges = match &s.edges {
                None => (0..edges.len()).collect(),
                Some(ids) => ids
                    .iter()
                    .map(|id| {
                        edge_ids.get(id).copied().ok_or_else(|| {
                            err(span.clone(), format!("{at}: edges: no edge named {id:?}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            if svc.edges.is_empty() {
                return Err(err(span.clone(), format!("{at}: edges is empty")));
            }
            if let Some(n) = &svc.dns_name {
                if hickory_proto::rr::Name::from_ascii(n).is_err() || n == "." {
                    return Err(err(
                        span.clone(),
                        format!("{at}: dns_name {n:?} is not a DNS name"),
                    ));
                }
                if !dns_names.insert(n.clone()) {
                    return Err(err(
                        span.clone(),
                        format!("{at}: dns_name {n:?} used twice"),
                    ));
                }
            }
            if svc.load_factor.is_nan() || svc.load_factor < 1.0 {
                return Err(err(span.clone(), format!("{at}: load_factor must be >= 1")));
            }
            if !(svc.slack_km >= 0.0 && svc.slack_ms >= 0.0) {
                return Err(err(span.clone(), format!("{at}: slack must be >= 0")));
            }
            services.push(svc);
        }
        let h = &raw.health;
        if h.interval_ms == 0 || h.timeout_ms == 0 || h.fall == 0 || h.rise == 0 {
            return Err(err(
                None,
                "health: interval_ms, timeout_ms, fall and rise must be > 0".into(),
            ));
        }

        let distance_km = locations
            .iter()
            .map(|l| {
                edges
                    .iter()
                    .map(|e| geo::distance_km(l.lat, l.lon, e.lat, e.lon))
                    .collect()
            })
            .collect();
        Ok(Topology {
            edges,
            locations,
            default_location,
            services,
            zones,
            distance_km,
            rtt_ms,
            trusted_proxies: raw.trusted_proxies,
            health: raw.health,
            dns: raw.dns,
            steering: raw.steering,
        })
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

fn check_coords(lat: f64, lon: f64) -> Result<(), String> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("lat {lat} is outside -90..=90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("lon {lon} is outside -180..=180"));
    }
    Ok(())
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
    fn cidr_parsing() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!("10.0.0.0/40".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
        assert_eq!("::1".parse::<Cidr>().unwrap().len(), 128);
    }
}
