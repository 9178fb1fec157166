//! Names of the Prometheus metrics the servers export, in one place: the origin and the edge
//! register and document them (`origin::metrics`, `edge::metrics` re-export these), and the
//! player's swarm mode reads them back from `/metrics` to compare with what players saw.

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
}
