//! The wire contract between hops: everything one hop writes and another reads, defined
//! once so a rename cannot leave a reader behind.
//!
//! - Response headers an edge adds: [`X_CACHE`] (a [`CacheStatus`]), [`X_SERVED_BY`] (the
//!   edge id), `Via: 1.1 <id>` ([`via`], also sent upstream and checked for loops), and the
//!   list of headers exposed to cross-origin pages ([`EDGE_EXPOSE_HEADERS`]).
//! - [`metric_names`]: the Prometheus names the origin and the edges export on `/metrics`
//!   and the player simulator's swarm mode scrapes back (read with [`crate::prom`]).
//! - Self-announcement of edges to the redirector: `POST` [`ANNOUNCE_PATH`] with an
//!   [`Announcement`] (and `Authorization: Bearer <token>`, the token shared through
//!   [`ANNOUNCE_TOKEN_ENV`] or a file) → an [`AnnounceReply`]; `DELETE
//!   {ANNOUNCE_PATH}/{id}` withdraws the edge.
//! - The edge's runtime rate limit endpoint, [`EDGE_LIMIT_RATE_PATH`] ([`LimitRate`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::header::HeaderName;

/// `X-Cache`: how an edge answered, one of the [`CacheStatus`] values.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// `X-Served-By`: the id of the edge that answered.
pub const X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// `Access-Control-Expose-Headers` of an edge: the origin's list
/// ([`crate::http::cors::EXPOSE_HEADERS`]) plus `Age` and the two cache headers, so a
/// player page can read them cross-origin.
pub const EDGE_EXPOSE_HEADERS: &str =
    "Date, Content-Length, Content-Range, ETag, Last-Modified, CMSD-Static, CMSD-Dynamic, Age, X-Cache, X-Served-By";

/// The `Via` entry an edge named `id` adds (RFC 9110 §7.6.3: `1.1 <pseudonym>`), to the
/// responses it sends and the requests it forwards; an edge that finds its own entry in an
/// incoming request's `Via` has a forwarding loop.
pub fn via(id: &str) -> String {
    format!("1.1 {id}")
}

/// The value of [`X_CACHE`]: how an edge produced a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// `HIT`: served fresh from the cache.
    Hit,
    /// `MISS`: fetched from upstream (the request led the fill or waited for it).
    Miss,
    /// `STALE`: a stored copy served past its freshness (stale-while-revalidate, or
    /// stale-if-error because the upstream failed).
    Stale,
    /// `REVALIDATED`: the stored copy, confirmed by a `304` from upstream.
    Revalidated,
}

impl CacheStatus {
    /// Every status, in the order above.
    pub const ALL: [CacheStatus; 4] = [
        CacheStatus::Hit,
        CacheStatus::Miss,
        CacheStatus::Stale,
        CacheStatus::Revalidated,
    ];

    /// The header value: `HIT`, `MISS`, `STALE` or `REVALIDATED`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Revalidated => "REVALIDATED",
        }
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `X-Cache` value that is none of the [`CacheStatus`] values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown X-Cache value {0:?}")]
pub struct UnknownCacheStatus(pub String);

impl FromStr for CacheStatus {
    type Err = UnknownCacheStatus;

    /// Parses a header value leniently, as other caches write it: case-insensitive, and
    /// only the first word counts (`HIT from edge-a`, `hit, miss` are hits).
    fn from_str(s: &str) -> Result<CacheStatus, UnknownCacheStatus> {
        let word = s.trim().split([' ', ',', ';']).next().unwrap_or("");
        CacheStatus::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(word))
            .ok_or_else(|| UnknownCacheStatus(s.to_string()))
    }
}

/// Path of the redirector's announce endpoint: `POST /announce` (an [`Announcement`],
/// answered with an [`AnnounceReply`]) registers or heartbeats an edge; `DELETE
/// /announce/{id}` withdraws it. Both need `Authorization: Bearer <token>`.
pub const ANNOUNCE_PATH: &str = "/announce";

/// Environment variable holding the shared announce token, for the redirector and the
/// edges alike, when no token file is configured.
pub const ANNOUNCE_TOKEN_ENV: &str = "DASHCDN_ANNOUNCE_TOKEN";

/// What an edge tells the redirector about itself (`POST` [`ANNOUNCE_PATH`], JSON). The
/// same body is sent again as the heartbeat.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// Edge id: unique, sent in `X-Served-By`, the steering pathway name.
    pub id: String,
    /// Base URL clients are redirected to (`http://host:port`, no trailing `/`).
    pub url: String,
    /// Latitude, degrees (-90..=90).
    pub lat: f64,
    /// Longitude, degrees (-180..=180).
    pub lon: f64,
    /// Free-form region name, shown on `/debug/edges`.
    #[serde(default)]
    pub region: Option<String>,
    /// Addresses answered in DNS `A`/`AAAA` records for this edge (at most one per family).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Capacity weight (relative share of load); default 1.
    #[serde(default)]
    pub capacity: Option<f64>,
}

/// The redirector's answer to an accepted [`Announcement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AnnounceReply {
    /// Send the announcement again this often, milliseconds.
    pub heartbeat_ms: u64,
    /// Not heard from for this long, the edge is removed, milliseconds.
    pub expire_ms: u64,
}

/// Path of an edge's rate-limit endpoint: `GET` answers the current [`LimitRate`];
/// `POST` (JSON [`LimitRate`], `Authorization: Bearer <admin token>`) sets it. Never
/// forwarded upstream.
pub const EDGE_LIMIT_RATE_PATH: &str = "/_dashcdn/limit-rate";

/// Body of [`EDGE_LIMIT_RATE_PATH`]: the cap on each response body's send rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LimitRate {
    /// Bits per second per response; 0 = unlimited.
    pub bits_per_sec: u64,
}

/// Names of the Prometheus metrics the servers export, in one place: the origin and the edge
/// register them (under [`origin::PREFIX`](metric_names::origin::PREFIX) and
/// [`edge::PREFIX`](metric_names::edge::PREFIX)), tests and the player's swarm mode read
/// them back from `/metrics` to compare with what players saw. Counters carry the `_total`
/// suffix `prometheus-client` adds.
pub mod metric_names {
    /// `dashcdn_edge_*`: exported by `edge` on `/metrics`.
    pub mod edge {
        /// Prefix of every edge metric.
        pub const PREFIX: &str = "dashcdn_edge";
        /// Counter of requests, labels `method` and `code`.
        pub const REQUESTS_TOTAL_NAME: &str = "dashcdn_edge_requests_total";
        /// Histogram of time from request to response head, seconds.
        pub const REQUEST_DURATION_SECONDS_NAME: &str = "dashcdn_edge_request_duration_seconds";
        /// Counter of response body bytes handed to client connections.
        pub const SENT_BYTES_TOTAL_NAME: &str = "dashcdn_edge_sent_bytes_total";
        /// Counter of responses served fresh from the cache (`X-Cache: HIT`).
        pub const HITS_TOTAL_NAME: &str = "dashcdn_edge_hits_total";
        /// Counter of responses that waited for an upstream fetch (`X-Cache: MISS`), leaders
        /// and coalesced waiters alike.
        pub const MISSES_TOTAL_NAME: &str = "dashcdn_edge_misses_total";
        /// Counter of stale responses served (`X-Cache: STALE`: stale-while-revalidate or
        /// stale-if-error).
        pub const STALE_TOTAL_NAME: &str = "dashcdn_edge_stale_total";
        /// Counter of responses served after a `304` from upstream (`X-Cache: REVALIDATED`).
        pub const REVALIDATED_TOTAL_NAME: &str = "dashcdn_edge_revalidated_total";
        /// Counter of conditional requests sent upstream to revalidate a stored object.
        pub const REVALIDATIONS_TOTAL_NAME: &str = "dashcdn_edge_revalidations_total";
        /// Counter of requests that joined another request's in-flight fetch (coalesced waiters).
        pub const COALESCED_TOTAL_NAME: &str = "dashcdn_edge_coalesced_total";
        /// Counter of requests sent upstream (fills, revalidations, prefetches).
        pub const UPSTREAM_REQUESTS_TOTAL_NAME: &str = "dashcdn_edge_upstream_requests_total";
        /// Counter of upstream requests that failed (connect error, timeout, broken body).
        pub const UPSTREAM_ERRORS_TOTAL_NAME: &str = "dashcdn_edge_upstream_errors_total";
        /// Counter of body bytes received from upstream.
        pub const UPSTREAM_BYTES_TOTAL_NAME: &str = "dashcdn_edge_upstream_bytes_total";
        /// Counter of prefetch fills started.
        pub const PREFETCHES_TOTAL_NAME: &str = "dashcdn_edge_prefetches_total";
        /// Counter of objects removed by `PURGE`.
        pub const PURGED_OBJECTS_TOTAL_NAME: &str = "dashcdn_edge_purged_objects_total";
        /// Counter of evictions, label `tier` (`memory`, `disk`).
        pub const EVICTIONS_TOTAL_NAME: &str = "dashcdn_edge_evictions_total";
        /// Counter of disk objects found truncated or corrupt (never served, refetched).
        pub const CORRUPT_DISK_OBJECTS_TOTAL_NAME: &str = "dashcdn_edge_corrupt_disk_objects_total";
        /// Gauge of bytes held, label `tier`.
        pub const CACHE_BYTES_NAME: &str = "dashcdn_edge_cache_bytes";
        /// Gauge of objects held, label `tier`.
        pub const CACHE_OBJECTS_NAME: &str = "dashcdn_edge_cache_objects";
        /// Gauge of the configured budget, label `tier`.
        pub const CACHE_BUDGET_BYTES_NAME: &str = "dashcdn_edge_cache_budget_bytes";
        /// Gauge of open client connections.
        pub const OPEN_CONNECTIONS_NAME: &str = "dashcdn_edge_open_connections";
        /// Counter of requests carrying valid CMCD (CTA-5004), label `mode` (`query`, `header`).
        pub const CMCD_REQUESTS_TOTAL_NAME: &str = "dashcdn_edge_cmcd_requests_total";
        /// Counter of requests whose CMCD was malformed (ignored, the request served as usual).
        pub const CMCD_INVALID_TOTAL_NAME: &str = "dashcdn_edge_cmcd_invalid_total";
        /// Counter of requests whose CMCD carries the buffer-starvation key `bs`.
        pub const CMCD_BUFFER_STARVATION_TOTAL_NAME: &str =
            "dashcdn_edge_cmcd_buffer_starvation_total";
        /// Gauge of distinct CMCD session ids (`sid`) seen in the last 30 s.
        pub const CMCD_SESSIONS_NAME: &str = "dashcdn_edge_cmcd_sessions";
        /// Gauge: median CMCD measured throughput (`mtp`, kbit/s) over those sessions' latest
        /// reports.
        pub const CMCD_MEASURED_THROUGHPUT_KBPS_NAME: &str =
            "dashcdn_edge_cmcd_measured_throughput_kbps";
        /// Counter of CMCD requests by encoded bitrate, label `br_kbps` (at most 32 distinct
        /// values, then `other`).
        pub const CMCD_BITRATE_REQUESTS_TOTAL_NAME: &str =
            "dashcdn_edge_cmcd_bitrate_requests_total";
        /// Counter of client requests served from an object a prefetch stored before any client
        /// asked for it, label `source` (`nor`: the CMCD next-object hint, `guess`: k+1).
        pub const PREFETCH_HITS_TOTAL_NAME: &str = "dashcdn_edge_prefetch_hits_total";
    }

    /// `dashcdn_origin_*`: exported by `origin` on `/metrics`.
    pub mod origin {
        /// Prefix of every origin metric.
        pub const PREFIX: &str = "dashcdn_origin";
        /// Counter of requests, labels `method` (`GET`, `HEAD`, `OPTIONS`, `OTHER`) and `code` (e.g. `200`).
        pub const REQUESTS_TOTAL_NAME: &str = "dashcdn_origin_requests_total";
        /// Counter of response body bytes handed to the connection.
        pub const SENT_BYTES_TOTAL_NAME: &str = "dashcdn_origin_sent_bytes_total";
        /// Histogram of time from request to response head, in seconds.
        pub const REQUEST_DURATION_SECONDS_NAME: &str = "dashcdn_origin_request_duration_seconds";
        /// Counter of file requests answered from the in-memory hot cache.
        pub const HOT_CACHE_HITS_TOTAL_NAME: &str = "dashcdn_origin_hot_cache_hits_total";
        /// Counter of file requests that had to read the file system (including large files).
        pub const HOT_CACHE_MISSES_TOTAL_NAME: &str = "dashcdn_origin_hot_cache_misses_total";
        /// Gauge of bytes held by the hot cache.
        pub const HOT_CACHE_BYTES_NAME: &str = "dashcdn_origin_hot_cache_bytes";
        /// Gauge of open client connections.
        pub const OPEN_CONNECTIONS_NAME: &str = "dashcdn_origin_open_connections";
        /// Counter of push-ingest requests (`PUT`/`POST`/`DELETE`), label `outcome`
        /// (`stored`, `replaced`, `deleted`, `unauthorized`, `forbidden`, `too_large`,
        /// `full`, `bad_request`, `not_found`, `error`).
        pub const INGEST_REQUESTS_TOTAL_NAME: &str = "dashcdn_origin_ingest_requests_total";
        /// Counter of body bytes of completed ingest uploads.
        pub const INGEST_BYTES_TOTAL_NAME: &str = "dashcdn_origin_ingest_bytes_total";
        /// Counter of `GET`s answered from a segment still being uploaded (chunk by chunk).
        pub const GROWING_READS_TOTAL_NAME: &str = "dashcdn_origin_growing_reads_total";
        /// Gauge of bytes held by segments still being uploaded (bounded by `relay_bytes`).
        pub const GROWING_BYTES_NAME: &str = "dashcdn_origin_growing_bytes";
    }

    /// `redirector_*`: exported by the redirector on `/metrics`.
    pub mod redirector {
        /// Prefix of every redirector metric.
        pub const PREFIX: &str = "redirector";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_round_trips_and_parses_leniently() {
        for c in CacheStatus::ALL {
            assert_eq!(c.to_string().parse::<CacheStatus>(), Ok(c));
            assert_eq!(c.as_str().to_lowercase().parse::<CacheStatus>(), Ok(c));
        }
        assert_eq!("HIT from edge-a".parse(), Ok(CacheStatus::Hit));
        assert_eq!(" miss, hit".parse(), Ok(CacheStatus::Miss));
        assert_eq!(
            "EXPIRED".parse::<CacheStatus>(),
            Err(UnknownCacheStatus("EXPIRED".into()))
        );
        assert!("".parse::<CacheStatus>().is_err());
    }

    #[test]
    fn edge_exposes_the_origin_list_and_the_cache_headers() {
        assert!(EDGE_EXPOSE_HEADERS.starts_with(crate::http::cors::EXPOSE_HEADERS));
        for h in [X_CACHE, X_SERVED_BY] {
            assert!(EDGE_EXPOSE_HEADERS
                .to_ascii_lowercase()
                .contains(h.as_str()));
        }
        assert_eq!(via("edge-a"), "1.1 edge-a");
    }

    #[test]
    fn announcement_optional_fields_default() {
        let a: Announcement =
            serde_json::from_str(r#"{"id":"e","url":"http://h:1","lat":1.5,"lon":-2}"#).unwrap();
        assert_eq!(a.region, None);
        assert!(a.addresses.is_empty());
        assert_eq!(a.capacity, None);
        let back: Announcement = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
