//! Server state, router assembly, binding and graceful shutdown.

use std::borrow::Cow;
use std::fs::Metadata;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::HotCache;
use crate::config::{OriginConfig, OriginError};
use crate::files::{self, FileInfo};
use crate::http::cors::CorsLayer;
use crate::metrics::{self, Metrics};
use crate::path::SafePath;

/// Moved to the `serve` crate; re-exported until every user imports it from there.
pub use serve::listener::{shutdown_signal, CountedStream, CountingListener};
/// Moved to the `serve` crate; re-exported until every user imports it from there.
pub use serve::CacheClass;

/// How long [`serve`] lets open requests finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Shared, cheaply clonable state of one origin: configuration, canonical roots, hot
/// cache and metrics.
#[derive(Debug, Clone)]
pub struct OriginState {
    inner: Arc<StateInner>,
}

#[derive(Debug)]
struct StateInner {
    config: OriginConfig,
    content_root: PathBuf,
    web_root: Option<PathBuf>,
    cache: HotCache,
    metrics: Arc<Metrics>,
    cc_mpd: String,
    cc_segment: String,
    cc_other: String,
}

fn check_root(path: &Path) -> Result<PathBuf, OriginError> {
    match std::fs::metadata(path) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(OriginError::RootNotDirectory(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OriginError::RootMissing(path.to_path_buf()))
        }
        Err(source) => {
            return Err(OriginError::RootInaccessible {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    std::fs::canonicalize(path).map_err(|source| OriginError::RootInaccessible {
        path: path.to_path_buf(),
        source,
    })
}

impl OriginState {
    /// Validates the roots and builds the state (no socket is opened).
    pub fn new(config: OriginConfig) -> Result<OriginState, OriginError> {
        let content_root = check_root(&config.content_root)?;
        let web_root = config.web_root.as_deref().map(check_root).transpose()?;
        let cache = HotCache::new(
            config.hot_cache_bytes,
            config.hot_file_max_bytes,
            Duration::from_millis(config.hot_cache_revalidate_ms),
        );
        Ok(OriginState {
            inner: Arc::new(StateInner {
                cc_mpd: format!("public, max-age={}", config.mpd_max_age_secs),
                cc_segment: format!("public, max-age={}, immutable", config.segment_max_age_secs),
                cc_other: format!("public, max-age={}", config.other_max_age_secs),
                config,
                content_root,
                web_root,
                cache,
                metrics: Arc::new(Metrics::new()),
            }),
        })
    }

    /// The configuration this state was built from.
    pub fn config(&self) -> &OriginConfig {
        &self.inner.config
    }

    /// The canonicalized content root.
    pub fn content_root(&self) -> &Path {
        &self.inner.content_root
    }

    /// The metrics of this origin.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The hot cache of this origin.
    pub fn cache(&self) -> &HotCache {
        &self.inner.cache
    }

    /// `Cache-Control` value for a relative path.
    pub fn cache_control_for(&self, path: &str) -> &str {
        match CacheClass::of(path) {
            CacheClass::Manifest => &self.inner.cc_mpd,
            CacheClass::Segment => &self.inner.cc_segment,
            CacheClass::Other => &self.inner.cc_other,
        }
    }

    /// Picks the root a request path lives under and the path relative to it.
    pub(crate) fn mount<'a>(&'a self, safe: &'a SafePath) -> (&'a Path, Cow<'a, SafePath>) {
        if let Some(web) = &self.inner.web_root {
            if let Some(rest) = safe.strip_first_segment("web") {
                return (web, Cow::Owned(rest));
            }
        }
        (&self.inner.content_root, Cow::Borrowed(safe))
    }

    /// Files up to this size are read whole (and cached when the budget allows).
    pub(crate) fn whole_file_max(&self) -> u64 {
        self.inner.config.hot_file_max_bytes
    }

    pub(crate) fn file_info(&self, md: &Metadata, rel: &str) -> FileInfo {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(md);
        #[cfg(not(unix))]
        let ino = 0;
        FileInfo::new(
            md.len(),
            md.modified().unwrap_or(UNIX_EPOCH),
            ino,
            rel,
            self.cache_control_for(rel),
        )
    }
}

/// The complete HTTP application: `/healthz`, `/metrics`, files (fallback), wrapped in the
/// CORS layer and the metrics/logging middleware.
pub fn router(state: OriginState) -> Router {
    let metrics = state.metrics().clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(files::serve_file)
        .with_state(state)
        .layer(CorsLayer)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
}

async fn healthz() -> Response {
    let mut res = Response::new(Body::from("ok\n"));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn metrics_text(State(state): State<OriginState>) -> Response {
    state.metrics().hot_bytes.set(state.cache().used() as i64);
    crate::metrics::exposition_response(state.metrics().encode())
}

/// A bound, running origin server (see [`bind`]).
#[derive(Debug)]
pub struct RunningOrigin {
    local_addr: SocketAddr,
    state: OriginState,
    token: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

impl RunningOrigin {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's state (metrics, cache, config).
    pub fn state(&self) -> &OriginState {
        &self.state
    }

    /// A token that starts graceful shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Starts graceful shutdown: stop accepting, let in-flight requests finish.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Waits until the server has stopped (after [`RunningOrigin::shutdown`]).
    pub async fn join(self) -> anyhow::Result<()> {
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(OriginError::Server(e.to_string()).into()),
            Err(e) => Err(OriginError::Server(e.to_string()).into()),
        }
    }

    /// [`RunningOrigin::shutdown`] then [`RunningOrigin::join`], aborting open
    /// connections after `grace`.
    pub async fn stop(self, grace: Duration) -> anyhow::Result<()> {
        self.shutdown();
        let abort = self.task.abort_handle();
        match tokio::time::timeout(grace, self.join()).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("connections still open after {grace:?}; closing them");
                abort.abort();
                Ok(())
            }
        }
    }
}

/// Validates the configuration, binds the listen address and starts serving in a
/// background task. Fails with [`OriginError`] for a bad content root or a busy port.
pub async fn bind(config: OriginConfig) -> anyhow::Result<RunningOrigin> {
    let state = OriginState::new(config)?;
    let addr = state.config().listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| OriginError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| OriginError::Bind { addr, source })?;
    let token = CancellationToken::new();
    let listener = CountingListener::new(listener, state.metrics().open_connections.clone());
    let app = router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(token.clone().cancelled_owned());
    let task = tokio::spawn(async move { server.await });
    tracing::info!(
        addr = %local_addr,
        root = %state.content_root().display(),
        "origin listening"
    );
    Ok(RunningOrigin {
        local_addr,
        state,
        token,
        task,
    })
}

/// Binds and serves until Ctrl-C or SIGTERM, then shuts down gracefully (in-flight
/// requests get [`SHUTDOWN_GRACE`] to finish).
pub async fn serve(config: OriginConfig) -> anyhow::Result<()> {
    let origin = bind(config).await?;
    shutdown_signal().await;
    tracing::info!("shutdown signal received, draining connections");
    origin.stop(SHUTDOWN_GRACE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = OriginState::new(OriginConfig::new(&missing, "127.0.0.1:0".parse().unwrap()))
            .unwrap_err();
        assert!(matches!(err, OriginError::RootMissing(_)), "{err}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err =
            OriginState::new(OriginConfig::new(&file, "127.0.0.1:0".parse().unwrap())).unwrap_err();
        assert!(matches!(err, OriginError::RootNotDirectory(_)), "{err}");
        assert!(err.to_string().contains("is not a directory"));
    }
}
