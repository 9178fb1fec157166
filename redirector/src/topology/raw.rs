//! The TOML as written: serde structs of `topology.toml` (unknown fields refused, spans
//! kept for error lines). The `[health]`, `[dns]` and `[steering]` sections and the
//! service `policy` are used as they are by the compiled [`super::Topology`]; the rest is
//! only input to `compile`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Cidr;

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

/// Edge self-announcement settings (`[announce]`; see [`crate::announce`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAnnounce {
    /// File holding the shared token (trimmed), relative to the topology file; else the
    /// `DASHCDN_ANNOUNCE_TOKEN` environment variable; neither: announcing is disabled.
    pub token_file: Option<PathBuf>,
    /// Heartbeat period edges are told to keep, ms.
    pub heartbeat_ms: u64,
    /// Missed heartbeats after which an announced edge is removed.
    pub expire_after: u32,
    /// Services announced edges join (default: the default service).
    pub services: Option<Vec<String>>,
}

impl Default for RawAnnounce {
    fn default() -> Self {
        RawAnnounce {
            token_file: None,
            heartbeat_ms: 2000,
            expire_after: 3,
            services: None,
        }
    }
}

/// `address = "192.0.2.1"` or `addresses = ["192.0.2.1", "2001:db8::1"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(IpAddr),
    Many(Vec<IpAddr>),
}

/// `[[edges]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEdge {
    pub id: String,
    pub url: String,
    #[serde(alias = "addresses")]
    pub address: Option<OneOrMany>,
    pub lat: f64,
    pub lon: f64,
    #[serde(default = "one")]
    pub capacity: f64,
    #[serde(default)]
    pub bias: f64,
    /// Free-form region name (shown on `/debug/edges`).
    #[serde(default)]
    pub region: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// `[[locations]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocation {
    pub name: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(default)]
    pub networks: Vec<Cidr>,
}

/// `[[services]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub name: String,
    pub dns_name: Option<String>,
    pub http_host: Option<String>,
    #[serde(default)]
    pub policy: Policy,
    pub edges: Option<Vec<String>>,
    pub slack_km: Option<f64>,
    pub slack_ms: Option<f64>,
    pub load_factor: Option<f64>,
    pub min_load: Option<u64>,
}

impl RawService {
    /// The service implied when there is no `[[services]]`: `cdn` on `cdn_name`.
    pub fn implied(cdn_name: Option<&str>) -> RawService {
        RawService {
            name: "cdn".into(),
            dns_name: Some(cdn_name.unwrap_or("cdn.example.test.").into()),
            http_host: None,
            policy: Policy::Distance,
            edges: None,
            slack_km: None,
            slack_ms: None,
            load_factor: None,
            min_load: None,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTopology {
    pub default_location: Option<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    pub czf: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub dns: DnsConfig,
    #[serde(default)]
    pub steering: SteeringConfig,
    /// Closed-loop steering (`[closed_loop]`, see [`crate::closed_loop`]).
    #[serde(default)]
    pub closed_loop: super::closed_loop::ClosedLoopConfig,
    pub announce: Option<Spanned<RawAnnounce>>,
    #[serde(default)]
    pub services: Vec<Spanned<RawService>>,
    #[serde(default)]
    pub edges: Vec<Spanned<RawEdge>>,
    #[serde(default)]
    pub locations: Vec<Spanned<RawLocation>>,
    #[serde(default)]
    pub rtt: BTreeMap<String, BTreeMap<String, f64>>,
    /// Defaults of every service's choice knobs.
    #[serde(default)]
    pub slack_km: Option<f64>,
    #[serde(default)]
    pub slack_ms: Option<f64>,
    #[serde(default)]
    pub load_factor: Option<f64>,
    #[serde(default)]
    pub min_load: Option<u64>,
    /// DNS name of the default service.
    #[serde(default)]
    pub cdn_name: Option<String>,
}
