//! Router assembly, binding and graceful shutdown of the origin, on
//! [`serve::server`]'s handle (connection accounting, timeouts, draining).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use serve::http::cors::CorsLayer;
use serve::ServerOptions;
use tokio_util::sync::CancellationToken;

use crate::config::{OriginConfig, OriginError};
use crate::files;
use crate::metrics;
use crate::state::OriginState;

/// How long [`serve()`] lets open requests finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The complete HTTP application: `/healthz`, `/metrics`, files (fallback), wrapped in the
/// CORS layer and the metrics/logging middleware.
pub fn router(state: OriginState) -> Router {
    let metrics = state.metrics().clone();
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text));
    if let Some(ingest) = state.ingest() {
        // Writes under the ingest prefix; reads of the same paths are plain files.
        let writes = axum::routing::put(crate::ingest_http::handle)
            .post(crate::ingest_http::handle)
            .delete(crate::ingest_http::handle)
            .fallback(crate::ingest_http::read);
        app = app.route(&format!("/{}/{{*object}}", ingest.config().prefix), writes);
    }
    // Looped live from every VoD asset under `/<live prefix>/` (see crate::live).
    if let Some(live) = crate::live::routes(
        &state.config().live,
        state.content_root().to_path_buf(),
        state
            .cache_control_for(&manifests::layout::media_path("r", 1))
            .to_string(),
    ) {
        app = app.merge(live);
    }
    app.fallback(files::serve_file)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::cmsd::layer,
        ))
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
    if let Some(ingest) = state.ingest() {
        state
            .metrics()
            .growing_bytes
            .set(ingest.growing().used() as i64);
    }
    serve::metrics::exposition_response(state.metrics().encode())
}

/// A bound, running origin server (see [`bind`]).
#[derive(Debug)]
pub struct RunningOrigin {
    state: OriginState,
    server: serve::Server,
}

impl RunningOrigin {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server's state (metrics, cache, config).
    pub fn state(&self) -> &OriginState {
        &self.state
    }

    /// A token that starts graceful shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.server.shutdown_token()
    }

    /// Starts graceful shutdown: stop accepting, let in-flight requests finish.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// [`RunningOrigin::shutdown`], then waits up to `grace` for open connections and
    /// closes the ones still open after it.
    pub async fn stop(self, grace: Duration) -> Result<(), OriginError> {
        self.server
            .stop(grace)
            .await
            .map_err(|e| OriginError::Server(e.to_string()))
    }
}

/// Validates the configuration, binds the listen address and starts serving in a
/// background task, with the configured connection [`serve::Timeouts`]. Fails with [`OriginError`]
/// for a bad content root or a busy port.
pub async fn bind(config: OriginConfig) -> Result<RunningOrigin, OriginError> {
    let state = OriginState::new(config)?;
    let addr = state.config().listen;
    let options = ServerOptions {
        open_connections: state.metrics().open_connections.clone(),
        timeouts: state.config().timeouts(),
        // The hot cache's open files come out of the connection budget (serve::limits).
        max_connections: state.config().max_connections.or_else(|| {
            let soft = crate::state::nofile_soft_limit();
            Some(serve::limits::max_connections_for(soft.saturating_sub(
                crate::cache::max_open_files_for(soft) as u64,
            )))
        }),
        // HTTP/1.1 GET/HEAD on the direct path: file bodies go out with sendfile(2).
        direct_http1: true,
    };
    let server = serve::bind(addr, router(state.clone()), options)
        .await
        .map_err(|e| match e {
            serve::ServerError::Bind { addr, source } => OriginError::Bind { addr, source },
            other => OriginError::Server(other.to_string()),
        })?;
    tracing::info!(
        addr = %server.local_addr(),
        root = %state.content_root().display(),
        "origin listening"
    );
    Ok(RunningOrigin { state, server })
}

/// Binds and serves until Ctrl-C or SIGTERM, then shuts down gracefully (in-flight
/// requests get [`SHUTDOWN_GRACE`] to finish).
pub async fn serve(config: OriginConfig) -> Result<(), OriginError> {
    let origin = bind(config).await?;
    serve::shutdown_signal().await;
    tracing::info!("shutdown signal received, draining connections");
    origin.stop(SHUTDOWN_GRACE).await
}
