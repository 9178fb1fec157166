//! Router assembly (`/healthz`, `/metrics`, the cache handler and the layers every
//! response goes through), binding and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};

use crate::announce::{self, Announcer};
use crate::clock::Clock;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::handler;
use crate::metrics;
use crate::ratelimit;
use crate::response::text;
use crate::state::EdgeState;

/// `Access-Control-Expose-Headers` of the edge: the origin's list plus the cache headers.
pub use serve::wire::EDGE_EXPOSE_HEADERS as EXPOSE_HEADERS;

/// The complete HTTP application: `/healthz`, `/metrics`, the rate-limit endpoint
/// ([`serve::wire::EDGE_LIMIT_RATE_PATH`], never forwarded upstream), everything else
/// (GET, HEAD, PURGE, and the methods passed through by [`crate::proxy`]) to the handler, paced by the rate limit; CORS on every
/// response, `X-Served-By`, metrics.
pub fn router(state: EdgeState) -> Router {
    let metrics = state.metrics().clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route(crate::cmcd::DEBUG_PATH, get(debug_cmcd))
        .route(
            serve::wire::EDGE_LIMIT_RATE_PATH,
            get(ratelimit::get_limit).post(ratelimit::set_limit),
        )
        .fallback(limited)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cmsd::layer,
        ))
        .layer(serve::http::cors::CorsLayer)
        .layer(axum::middleware::map_response_with_state(state, finalize))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
}

/// Adds the headers every edge response carries.
async fn finalize(State(state): State<EdgeState>, mut res: Response) -> Response {
    let h = res.headers_mut();
    serve::http::cors::apply(h);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.insert(serve::wire::X_SERVED_BY, state.inner.served_by.clone());
    res
}

/// The cache handler, its body paced by the current rate limit.
async fn limited(State(state): State<EdgeState>, req: Request) -> Response {
    let limit = state.inner.limit_rate.clone();
    ratelimit::apply(&limit, handler::handle(State(state), req).await)
}

async fn healthz() -> Response {
    text(http::StatusCode::OK, "ok\n")
}

async fn metrics_text(State(state): State<EdgeState>) -> Response {
    let stats = state.cache().stats();
    state.metrics().observe_cache(&stats);
    state.metrics().observe_sessions(&state.inner.cmcd_sessions);
    state
        .metrics()
        .upstream_breaker
        .set(state.inner.upstream.health().code());
    serve::metrics::exposition_response(state.metrics().encode())
}

/// `/debug/cmcd`: the CMCD sessions the edge keeps ([`crate::cmcd::Sessions`]) as JSON,
/// most recently seen first.
async fn debug_cmcd(State(state): State<EdgeState>) -> axum::Json<serde_json::Value> {
    let now = std::time::Instant::now();
    let a = state.inner.cmcd_sessions.aggregates(now);
    axum::Json(serde_json::json!({
        "edge": state.config().id,
        "active_sessions": a.active_sessions,
        "median_mtp_kbps": a.median_mtp_kbps,
        "sessions": state.inner.cmcd_sessions.list(now),
    }))
}

/// A bound, running edge (see [`bind`]) on [`serve::Server`]'s handle.
#[derive(Debug)]
pub struct RunningEdge {
    state: EdgeState,
    server: serve::Server,
    announcer: Option<Announcer>,
}

impl RunningEdge {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://<local_addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The edge's state (cache, metrics, config).
    pub fn state(&self) -> &EdgeState {
        &self.state
    }

    /// Starts graceful shutdown.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Withdraws from the redirector (when announcing), shuts down and waits up to
    /// `grace` for open connections, then closes them.
    pub async fn stop(mut self, grace: Duration) -> Result<(), EdgeError> {
        if let Some(a) = self.announcer.take() {
            a.withdraw().await;
        }
        self.server.stop(grace).await.map_err(|e| match e {
            serve::ServerError::Task(e) => EdgeError::Task(e),
            serve::ServerError::Bind { source, .. } => EdgeError::Server(source),
        })
    }
}

/// Validates the configuration, opens the cache, binds and serves in a background task.
///
/// An edge left at the default id ("edge") names itself after its bound address instead
/// (`edge-127.0.0.3-8081`), so two tiers started without `--id` don't mistake each other's
/// `Via` for a forwarding loop.
pub async fn bind(config: EdgeConfig) -> Result<RunningEdge, EdgeError> {
    bind_with_clock(config, Clock::system()).await
}

/// [`bind`] with the clock of the edge's freshness decisions (see [`Clock`]).
pub async fn bind_with_clock(
    mut config: EdgeConfig,
    clock: Clock,
) -> Result<RunningEdge, EdgeError> {
    let addr = config.listen;
    // Everything about announcing that does not need the bound address, before binding.
    announce::settings(&config, addr)?;
    let bound = serve::Bound::new(addr).await.map_err(|e| match e {
        serve::ServerError::Bind { addr, source } => EdgeError::Bind { addr, source },
        serve::ServerError::Task(e) => EdgeError::Task(e),
    })?;
    let local_addr = bound.local_addr();
    if config.id.is_empty() || config.id == EdgeConfig::default().id {
        config.id = unique_default_id(local_addr);
    }
    let announce = announce::settings(&config, local_addr)?;
    let state = EdgeState::with_clock(config, clock)?;
    let cfg = state.config();
    // `..Default::default()`: fields serve may add keep their defaults
    #[allow(clippy::needless_update)]
    let options = serve::ServerOptions {
        open_connections: state.metrics().open_connections.clone(),
        timeouts: serve::Timeouts {
            header_read: Some(Duration::from_millis(cfg.header_read_timeout_ms)),
            idle: Some(Duration::from_millis(cfg.idle_timeout_ms)),
        },
        max_connections: cfg.max_connections,
        // Plain HTTP/1.1 GET/HEAD on serve's direct path (no hyper on the hit path: one
        // vectored write of head + body per response); HTTP/2, other methods and
        // HTTP/1.0 stay on hyper. Measured in edge/bench/RESULTS.md ("hit path").
        direct_http1: true,
        ..Default::default()
    };
    let server = bound.serve(router(state.clone()), options);
    tracing::info!(
        addr = %local_addr,
        id = %state.config().id,
        upstream = %state.config().upstream,
        "edge listening"
    );
    let announcer = announce.map(Announcer::start);
    Ok(RunningEdge {
        state,
        server,
        announcer,
    })
}

/// Validates `config` as [`bind`] would, without opening a socket or the cache: the
/// upstream and parent URLs, the id as a header value, the announce settings (URL,
/// coordinates, token readable, public URL), and that the disk tier's directory, if
/// it exists, is a directory. For `dashcdn edge --check`.
pub fn check(config: &EdgeConfig) -> Result<(), EdgeError> {
    crate::upstream::parse_base(&config.upstream)?;
    if let Some(p) = &config.parent {
        crate::upstream::parse_base(p)?;
    }
    if config.id != EdgeConfig::default().id {
        http::HeaderValue::from_str(&config.id).map_err(|source| EdgeError::BadId {
            id: config.id.clone(),
            source,
        })?;
    }
    if let Some(dir) = &config.disk {
        if dir.exists() && !dir.is_dir() {
            return Err(EdgeError::Server(std::io::Error::other(format!(
                "disk tier {} is not a directory",
                dir.display()
            ))));
        }
    }
    // The configured listen address stands in for the bound one (same IP, port 0 kept).
    announce::settings(config, config.listen)?;
    Ok(())
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
