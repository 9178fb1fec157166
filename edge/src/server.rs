//! Edge state, router assembly, binding and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache::{Cache, CacheConfig, DiskConfig, Entry, FillLocks};
use http::header::{self, HeaderValue};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{EdgeConfig, EdgeError, EvictionPolicy};
use crate::freshness::Defaults;
use crate::head::StoredHead;
use crate::metrics::{self, Metrics};
use crate::upstream::Upstream;
use crate::{admin, handler};

/// `Access-Control-Expose-Headers` of the edge: the origin's list plus the cache headers.
pub const EXPOSE_HEADERS: &str =
    "Date, Content-Length, Content-Range, ETag, Last-Modified, Age, X-Cache, X-Served-By";

/// Shared, cheaply clonable state of one edge.
#[derive(Clone)]
pub struct EdgeState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: EdgeConfig,
    pub upstream: Upstream,
    pub cache: Arc<Cache>,
    pub locks: FillLocks,
    pub metrics: Arc<Metrics>,
    pub defaults: Defaults,
    pub served_by: HeaderValue,
    pub via: HeaderValue,
    pub disk: bool,
    /// Bumped by every PURGE; a fill that started before a purge does not store its object.
    pub purge_generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState")
            .field("id", &self.inner.config.id)
            .finish_non_exhaustive()
    }
}

impl EdgeState {
    /// Validates the configuration, opens the cache (memory and optional disk tier) and
    /// builds the upstream client. No socket is opened.
    pub fn new(config: EdgeConfig) -> Result<EdgeState, EdgeError> {
        let upstream = Upstream::new(&config)?;
        let cache = Cache::open(CacheConfig {
            mem_bytes: config.mem.0,
            disk: config.disk.as_ref().map(|dir| DiskConfig {
                dir: dir.clone(),
                max_bytes: config.disk_size.0,
            }),
            policy: match config.policy {
                EvictionPolicy::S3fifo => cache::Policy::S3Fifo,
                EvictionPolicy::Lru => cache::Policy::Lru,
            },
        })
        .map_err(|e| EdgeError::Cache(e.to_string()))?;
        let served_by = HeaderValue::from_str(&config.id)
            .map_err(|_| EdgeError::Server(format!("invalid edge id {:?}", config.id)))?;
        let via = HeaderValue::from_str(&format!("1.1 {}", config.id))
            .map_err(|_| EdgeError::Server(format!("invalid edge id {:?}", config.id)))?;
        Ok(EdgeState {
            inner: Arc::new(Inner {
                locks: FillLocks::new(Duration::from_millis(config.fill_wait_timeout_ms)),
                defaults: config.freshness_defaults(),
                disk: config.disk.is_some(),
                purge_generation: std::sync::atomic::AtomicU64::new(0),
                cache: Arc::new(cache),
                metrics: Arc::new(Metrics::new()),
                upstream,
                served_by,
                via,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EdgeConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The storage (both tiers).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.inner.cache
    }

    /// Looks `key` up in memory, then on disk (on the blocking pool when a disk tier is
    /// configured). An entry whose head cannot be decoded is removed and reported missing.
    pub async fn lookup(&self, key: &str) -> Option<(StoredHead, Bytes)> {
        let entry = self.blocking(key, |c, k| c.get(k)).await?;
        match StoredHead::decode(&entry.meta) {
            Some(h) => Some((h, entry.body)),
            None => {
                tracing::warn!(key, "undecodable cache entry removed");
                self.blocking(key, |c, k| c.remove(k)).await;
                None
            }
        }
    }

    /// Stores an entry (on the blocking pool with a disk tier).
    pub(crate) async fn insert(&self, key: &str, entry: Entry) -> bool {
        self.blocking(key, move |c, k| c.insert(k, entry)).await
    }

    /// Runs a cache operation, on the blocking pool when it may touch the disk.
    pub(crate) async fn blocking<T: Send + Default + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Cache, &str) -> T + Send + 'static,
    ) -> T {
        if self.inner.disk {
            let cache = self.inner.cache.clone();
            let key = key.to_owned();
            tokio::task::spawn_blocking(move || f(&cache, &key))
                .await
                .unwrap_or_default()
        } else {
            f(&self.inner.cache, key)
        }
    }
}

/// The complete HTTP application: `/healthz`, `/metrics`, everything else (GET, HEAD,
/// PURGE) to the cache handler; CORS on every response, `X-Served-By`, metrics.
pub fn router(state: EdgeState) -> Router {
    let metrics = state.metrics().clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(handler::handle)
        .with_state(state.clone())
        .layer(origin::http::cors::CorsLayer)
        .layer(axum::middleware::map_response_with_state(state, finalize))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
}

/// Adds the headers every edge response carries.
async fn finalize(State(state): State<EdgeState>, mut res: Response) -> Response {
    let h = res.headers_mut();
    origin::http::cors::apply(h);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.insert("x-served-by", state.inner.served_by.clone());
    res
}

async fn healthz() -> Response {
    admin::text(http::StatusCode::OK, "ok\n")
}

async fn metrics_text(State(state): State<EdgeState>) -> Response {
    let stats = state.cache().stats();
    state.metrics().observe_cache(&stats);
    origin::metrics::exposition_response(state.metrics().encode())
}

/// A bound, running edge (see [`bind`]).
#[derive(Debug)]
pub struct RunningEdge {
    local_addr: SocketAddr,
    state: EdgeState,
    token: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

impl RunningEdge {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<local_addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The edge's state (cache, metrics, config).
    pub fn state(&self) -> &EdgeState {
        &self.state
    }

    /// Starts graceful shutdown.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Shuts down and waits up to `grace` for open connections, then aborts them.
    pub async fn stop(self, grace: Duration) -> anyhow::Result<()> {
        self.token.cancel();
        let abort = self.task.abort_handle();
        match tokio::time::timeout(grace, self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(EdgeError::Server(e.to_string()).into()),
            Ok(Err(e)) if e.is_cancelled() => Ok(()),
            Ok(Err(e)) => Err(EdgeError::Server(e.to_string()).into()),
            Err(_) => {
                abort.abort();
                Ok(())
            }
        }
    }
}

/// Validates the configuration, opens the cache, binds and serves in a background task.
///
/// An edge left at the default id ("edge") names itself after its bound address instead
/// (`edge-127.0.0.3-8081`), so two tiers started without `--id` don't mistake each other's
/// `Via` for a forwarding loop.
pub async fn bind(mut config: EdgeConfig) -> anyhow::Result<RunningEdge> {
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EdgeError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| EdgeError::Bind { addr, source })?;
    if config.id.is_empty() || config.id == EdgeConfig::default().id {
        config.id = unique_default_id(local_addr);
    }
    let state = EdgeState::new(config)?;
    let token = CancellationToken::new();
    let listener =
        origin::server::CountingListener::new(listener, state.metrics().open_connections.clone());
    let app = router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(token.clone().cancelled_owned());
    let task = tokio::spawn(async move { server.await });
    tracing::info!(
        addr = %local_addr,
        id = %state.config().id,
        upstream = %state.config().upstream,
        "edge listening"
    );
    Ok(RunningEdge {
        local_addr,
        state,
        token,
        task,
    })
}

/// The id of an edge started without one: `edge-<ip>-<port>`, with characters that are not
/// valid in a `Via` pseudonym replaced by `-`.
fn unique_default_id(addr: SocketAddr) -> String {
    let raw = format!("edge-{}-{}", addr.ip(), addr.port());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod default_id_tests {
    use super::*;

    #[test]
    fn default_ids_differ_per_address() {
        let a = unique_default_id("127.0.0.3:8081".parse().unwrap());
        let b = unique_default_id("127.0.0.4:8081".parse().unwrap());
        assert_eq!(a, "edge-127.0.0.3-8081");
        assert_ne!(a, b);
        assert_eq!(
            unique_default_id("[::1]:80".parse().unwrap()),
            "edge---1-80"
        );
    }
}
