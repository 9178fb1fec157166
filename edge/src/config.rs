//! Edge configuration (TOML via serde; every field has a default) and size parsing.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::freshness::Defaults;

/// A byte count that parses from `512MiB`, `20GiB`, `1.5GB`, `4096` (plain bytes), ...
/// Binary (`KiB`, `MiB`, `GiB`, `TiB`, and the short `K`, `M`, `G`, `T`) and decimal
/// (`KB`, `MB`, `GB`, `TB`) units, case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

/// A size string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {0:?} (expected e.g. 4096, 512MiB, 20GiB, 1.5GB)")]
pub struct SizeError(String);

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<ByteSize, SizeError> {
        let err = || SizeError(s.to_owned());
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(err());
        }
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(err()),
        };
        if let Ok(n) = num.parse::<u64>() {
            return n.checked_mul(mult).map(ByteSize).ok_or_else(err);
        }
        let f: f64 = num.parse().map_err(|_| err())?;
        let v = f * mult as f64;
        if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(v as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, m) in UNITS {
            if self.0 >= m && (self.0 / m) * m == self.0 {
                return write!(f, "{}{name}", self.0 / m);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Eviction policy of the memory tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EvictionPolicy {
    /// S3-FIFO (scan resistant; the default).
    #[default]
    S3fifo,
    /// Plain LRU.
    Lru,
}

impl FromStr for EvictionPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "s3fifo" | "s3-fifo" => Ok(EvictionPolicy::S3fifo),
            "lru" => Ok(EvictionPolicy::Lru),
            _ => Err(format!("unknown eviction policy {s:?} (s3fifo or lru)")),
        }
    }
}

/// A position on Earth, parsed from `LAT,LON` in degrees (`48.85,2.35`), as a string in
/// TOML (`coords = "48.85,2.35"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coords {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl FromStr for Coords {
    type Err = String;

    fn from_str(s: &str) -> Result<Coords, String> {
        let bad =
            || format!("invalid coordinates {s:?} (expected LAT,LON in degrees, e.g. 48.85,2.35)");
        let (lat, lon) = s.split_once(',').ok_or_else(bad)?;
        let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
        let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
        if !(-90.0..=90.0).contains(&lat) {
            return Err(format!("latitude {lat} is outside -90..=90"));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(format!("longitude {lon} is outside -180..=180"));
        }
        Ok(Coords { lat, lon })
    }
}

impl fmt::Display for Coords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Coords, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Configuration of one edge. `Default` is a local setup in front of an origin on
/// `127.0.0.1:8080`; every field can be set in TOML (missing fields take their default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Name of this edge, sent in `X-Served-By` and `Via`.
    pub id: String,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Base URL of the origin (`http://host:port`); all fills go here unless `parent` is set.
    pub upstream: String,
    /// Base URL of a parent (mid-tier) edge, tried before `upstream`; `upstream` is used
    /// when the parent cannot be reached.
    pub parent: Option<String>,
    /// Memory tier budget.
    pub mem: ByteSize,
    /// Directory of the optional disk tier.
    pub disk: Option<PathBuf>,
    /// Disk tier budget.
    pub disk_size: ByteSize,
    /// Memory-tier eviction policy.
    pub policy: EvictionPolicy,
    /// Include the query string in the cache key of DASH segments and MPDs (and forward it
    /// upstream); other content always keys on (and forwards) its query.
    pub cache_query: bool,
    /// Number of following media segments to prefetch on a segment request (0 = off).
    pub prefetch: u32,
    /// Follow the players' CMCD next-object hints (`nor`): fetch exactly the object a
    /// request names as the next one, whatever `prefetch` says (see [`crate::prefetch`]).
    pub prefetch_hints: bool,
    /// Forward the players' CMCD to the upstream (as `CMCD-*` headers; the query argument is
    /// never forwarded nor keyed on). Off: CMCD stops at the edge.
    pub cmcd_forward: bool,
    /// Bearer token allowing `PURGE`; unset disables purging (403).
    pub admin_token: Option<String>,
    /// TCP connect timeout to the upstream, ms.
    pub connect_timeout_ms: u64,
    /// Time allowed from sending an upstream request to its response head, ms.
    pub upstream_timeout_ms: u64,
    /// Longest silence allowed between two body chunks from upstream, ms.
    pub upstream_idle_timeout_ms: u64,
    /// How long a coalesced waiter waits for the fill leader's next event, ms.
    pub fill_wait_timeout_ms: u64,
    /// Freshness of segments without `max-age`/`Expires`, s.
    pub default_segment_ttl_secs: u64,
    /// Freshness of MPDs without `max-age`/`Expires`, s.
    pub default_mpd_ttl_secs: u64,
    /// Freshness of other `200`s without explicit freshness nor `Last-Modified`, s (0: they
    /// are stored but revalidated before every use; with `Last-Modified`, 10 % of its age
    /// applies, RFC 9111 §4.2.2).
    pub default_other_ttl_secs: u64,
    /// stale-if-error grace when the upstream response sends none, s.
    pub stale_if_error_secs: u64,
    /// Freshness of `404`/`410` without explicit freshness (negative caching), s.
    pub negative_ttl_secs: u64,
    /// Cap of a heuristic freshness lifetime from `Last-Modified`, s.
    pub heuristic_max_secs: u64,
    /// The edge's own targeted cache-control field (RFC 9213), honoured before
    /// `CDN-Cache-Control` and `Cache-Control` and never sent downstream; empty: none.
    pub edge_cache_control_header: String,
    /// With a stale copy at hand, how long a client waits for the upstream before it gets
    /// the stale copy (when stale-if-error allows), ms.
    pub stale_wait_ms: u64,
    /// Longest time a client may take to send a request head, ms (then the connection is
    /// closed).
    pub header_read_timeout_ms: u64,
    /// Longest idle time of a keep-alive client connection between requests, ms.
    pub idle_timeout_ms: u64,
    /// Most client connections open at once (default: from the descriptor limit, see
    /// `serve::limits::default_max_connections`).
    pub max_connections: Option<usize>,
    /// Bytes all fills together may buffer whole (objects to be stored and replayed to late
    /// joiners); a fill past it streams through a small window and is not stored.
    pub fill_memory: ByteSize,
    /// Consecutive connect failures/timeouts after which the upstream is marked down
    /// ([`crate::breaker`]; 0 = never).
    pub breaker_failures: u32,
    /// First time the upstream stays marked down, ms (doubles per failed probe).
    pub breaker_open_ms: u64,
    /// Longest time the upstream stays marked down, ms.
    pub breaker_max_open_ms: u64,
    /// Largest total request header size accepted (431 beyond), bytes.
    pub max_header_bytes: usize,
    /// Longest request URI accepted (414 beyond), bytes.
    pub max_uri_bytes: usize,
    /// Base URL of a redirector to announce this edge to ([`crate::announce`]); needs
    /// `coords` and a token (`announce_token_file` or `DASHCDN_ANNOUNCE_TOKEN`).
    pub announce: Option<String>,
    /// Where this edge is, announced to the redirector.
    pub coords: Option<Coords>,
    /// Region name announced to the redirector.
    pub region: Option<String>,
    /// URL clients reach this edge at, announced to the redirector (default:
    /// `http://<bound address>`, refused when the bound address is unspecified).
    pub public_url: Option<String>,
    /// File holding the announce token (re-read at every announcement); default: the
    /// `DASHCDN_ANNOUNCE_TOKEN` environment variable.
    pub announce_token_file: Option<PathBuf>,
    /// Cap on each response body's send rate, bits per second (0 = unlimited); changed at
    /// run time through [`serve::wire::EDGE_LIMIT_RATE_PATH`].
    pub limit_rate: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            id: "edge".to_owned(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8081)),
            upstream: "http://127.0.0.1:8080".to_owned(),
            parent: None,
            mem: ByteSize(512 << 20),
            disk: None,
            disk_size: ByteSize(20 << 30),
            policy: EvictionPolicy::S3fifo,
            cache_query: false,
            prefetch: 0,
            prefetch_hints: true,
            cmcd_forward: false,
            admin_token: None,
            connect_timeout_ms: 1_500,
            upstream_timeout_ms: 10_000,
            upstream_idle_timeout_ms: 10_000,
            fill_wait_timeout_ms: 30_000,
            default_segment_ttl_secs: 86_400,
            default_mpd_ttl_secs: 2,
            default_other_ttl_secs: 0,
            stale_if_error_secs: 3_600,
            negative_ttl_secs: 5,
            heuristic_max_secs: 86_400,
            edge_cache_control_header: "Dashcdn-Cache-Control".to_owned(),
            stale_wait_ms: 500,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: None,
            fill_memory: ByteSize(64 << 20),
            breaker_failures: 5,
            breaker_open_ms: 1_000,
            breaker_max_open_ms: 30_000,
            max_header_bytes: 16 << 10,
            max_uri_bytes: 4 << 10,
            announce: None,
            coords: None,
            region: None,
            public_url: None,
            announce_token_file: None,
            limit_rate: 0,
        }
    }
}

impl EdgeConfig {
    /// Default configuration in front of `upstream`, listening on `listen`.
    pub fn new(upstream: impl Into<String>, listen: SocketAddr) -> Self {
        EdgeConfig {
            upstream: upstream.into(),
            listen,
            ..EdgeConfig::default()
        }
    }

    /// The freshness defaults of this configuration.
    pub fn freshness_defaults(&self) -> Defaults {
        Defaults {
            segment_ttl: Duration::from_secs(self.default_segment_ttl_secs),
            manifest_ttl: Duration::from_secs(self.default_mpd_ttl_secs),
            other_ttl: Duration::from_secs(self.default_other_ttl_secs),
            stale_if_error: Duration::from_secs(self.stale_if_error_secs),
            negative_ttl: Duration::from_secs(self.negative_ttl_secs),
            heuristic_max: Duration::from_secs(self.heuristic_max_secs),
            targeted: http::HeaderName::from_bytes(
                self.edge_cache_control_header.trim().as_bytes(),
            )
            .ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(p("4096"), Ok(4096));
        assert_eq!(p("512MiB"), Ok(512 << 20));
        assert_eq!(p("20GiB"), Ok(20 << 30));
        assert_eq!(p("20 gib"), Ok(20 << 30));
        assert_eq!(p("1M"), Ok(1 << 20));
        assert_eq!(p("1.5GB"), Ok(1_500_000_000));
        assert_eq!(p("0.5KiB"), Ok(512));
        assert_eq!(p("10B"), Ok(10));
        assert!(p("").is_err());
        assert!(p("MiB").is_err());
        assert!(p("12 parsecs").is_err());
        assert!(p("-1").is_err());
        assert!(p("99999999999TiB").is_err());
        assert_eq!(ByteSize(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn toml_config() {
        let c: EdgeConfig = toml::from_str(
            "id = \"e1\"\nmem = \"64MiB\"\ndisk_size = 1048576\npolicy = \"lru\"\nprefetch = 2\n",
        )
        .unwrap();
        assert_eq!(c.id, "e1");
        assert_eq!(c.mem, ByteSize(64 << 20));
        assert_eq!(c.disk_size, ByteSize(1 << 20));
        assert_eq!(c.policy, EvictionPolicy::Lru);
        assert_eq!(c.prefetch, 2);
        assert_eq!(c.connect_timeout_ms, 1_500);
        assert!(c.prefetch_hints && !c.cmcd_forward, "CMCD defaults");
        let c: EdgeConfig =
            toml::from_str("prefetch_hints = false\ncmcd_forward = true\n").unwrap();
        assert!(!c.prefetch_hints && c.cmcd_forward);
        assert!(toml::from_str::<EdgeConfig>("nope = 1").is_err());
        let c: EdgeConfig = toml::from_str(
            "announce = \"http://r:1\"\ncoords = \"48.85, 2.35\"\nlimit_rate = 400000\n",
        )
        .unwrap();
        assert_eq!(
            c.coords,
            Some(Coords {
                lat: 48.85,
                lon: 2.35
            })
        );
        assert_eq!(c.limit_rate, 400_000);
        assert!(toml::from_str::<EdgeConfig>("coords = \"91,0\"").is_err());
    }

    #[test]
    fn coords() {
        assert_eq!(
            "1.5,-2".parse(),
            Ok(Coords {
                lat: 1.5,
                lon: -2.0
            })
        );
        assert!("1.5".parse::<Coords>().is_err());
        assert!("x,1".parse::<Coords>().is_err());
        assert!("0,181".parse::<Coords>().unwrap_err().contains("longitude"));
        assert!("NaN,0".parse::<Coords>().is_err());
    }
}
