//! `up`'s own HTTP server: the live page (`web/up.html`, `web/up.js`, dash.js from
//! `web/vendor/`) and the JSON control API (routes in the crate docs).
//!
//! Local only: a peer that is not on loopback gets `403`, and so does a request whose `Host`
//! is not a loopback address or `localhost` (a DNS-rebinding page cannot drive it). A
//! `POST` must say `Content-Type: application/json`, which a cross-origin page cannot send
//! without a CORS preflight, and this server answers no preflight.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::supervisor::{CommandOutcome, ComponentStatus, Event, Supervisor, Verb};
use crate::throttle::{Throttle, ThrottleRequest};

/// The files of the page, relative to the web directory.
pub const PAGE_FILES: [(&str, &str); 4] = [
    ("up.html", "text/html; charset=utf-8"),
    ("up.js", "text/javascript; charset=utf-8"),
    ("live-clock.js", "text/javascript; charset=utf-8"),
    ("vendor/dash.all.min.js", "text/javascript; charset=utf-8"),
];

/// The URLs the page needs, as `/api/status` reports them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Urls {
    /// The redirector's HTTP base URL.
    pub redirector: String,
    /// The steered MPD the page plays (`/steered/<asset>/manifest.mpd`).
    pub steered_mpd: String,
    /// The MPD through the redirector's 302.
    pub mpd: String,
    /// The origin's looped live stream of the asset through the redirector's 302
    /// (`/live/<asset>/manifest.mpd`).
    pub looped_live_mpd: String,
    /// `up --live`: the encoder's low-latency stream through the redirector's 302
    /// (`/ingest/live/manifest.mpd`); `None` without `--live`.
    pub low_latency_mpd: Option<String>,
    /// The origin's base URL.
    pub origin: String,
    /// The shield's base URL, if there is one.
    pub shield: Option<String>,
    /// The player-facing edges.
    pub edges: Vec<EdgeUrl>,
    /// This page.
    pub page: String,
}

/// One edge for the page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EdgeUrl {
    /// Edge id.
    pub id: String,
    /// Base URL.
    pub url: String,
    /// Region.
    pub region: String,
}

/// Body of `GET /api/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusBody {
    /// The run directory (logs, topology).
    pub run_dir: String,
    /// The URLs the page needs.
    pub urls: Urls,
    /// Every component, in start order.
    pub components: Vec<ComponentStatus>,
    /// The current throttle, bits per second (0 = off).
    pub throttle_bits_per_sec: u64,
}

#[derive(Clone)]
struct App {
    sup: Supervisor,
    throttle: Throttle,
    web: PathBuf,
    urls: Urls,
    run_dir: String,
}

/// The page and the API as one router.
pub fn router(sup: Supervisor, web: PathBuf, urls: Urls, run_dir: &Path) -> Router {
    let app = App {
        throttle: Throttle::new(sup.clone()),
        sup,
        web,
        urls,
        run_dir: run_dir.display().to_string(),
    };
    Router::new()
        .route("/", get(index))
        .route("/{*file}", get(file))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/components/{id}/{verb}", post(command))
        .route("/api/throttle", post(throttle))
        .layer(middleware::from_fn(local_only))
        .with_state(app)
}

async fn local_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if !peer.ip().is_loopback() {
        return refuse(StatusCode::FORBIDDEN, "loopback clients only");
    }
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(loopback_host);
    if !host_ok {
        return refuse(
            StatusCode::FORBIDDEN,
            "Host must be a loopback address or localhost",
        );
    }
    if req.method() == Method::POST {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST needs Content-Type: application/json",
            );
        }
    }
    next.run(req).await
}

/// Whether a `Host` header names this machine: `127.x.y.z[:port]`, `[::1][:port]`,
/// `localhost[:port]`.
pub fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn index(State(app): State<App>) -> Response {
    serve_file(&app.web, "up.html").await
}

async fn file(State(app): State<App>, UrlPath(file): UrlPath<String>) -> Response {
    serve_file(&app.web, &file).await
}

async fn serve_file(web: &Path, name: &str) -> Response {
    let Some(&(name, mime)) = PAGE_FILES.iter().find(|(f, _)| *f == name) else {
        return refuse(StatusCode::NOT_FOUND, "no such file");
    };
    match tokio::fs::read(web.join(name)).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &format!("{name}: {e}")),
    }
}

async fn status(State(app): State<App>) -> Json<StatusBody> {
    Json(StatusBody {
        run_dir: app.run_dir.clone(),
        urls: app.urls.clone(),
        components: app.sup.status(),
        throttle_bits_per_sec: app.sup.rate(),
    })
}

#[derive(serde::Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

async fn events(State(app): State<App>, Query(q): Query<Since>) -> Json<serde_json::Value> {
    let events: Vec<Event> = app.sup.events(q.since);
    Json(serde_json::json!({ "events": events }))
}

async fn command(
    State(app): State<App>,
    UrlPath((id, verb)): UrlPath<(String, String)>,
) -> Response {
    let verb = match verb.as_str() {
        "start" => Verb::Start,
        "stop" => Verb::Stop,
        "kill" => Verb::Kill,
        _ => return refuse(StatusCode::NOT_FOUND, "verbs: start, stop, kill"),
    };
    match app.sup.command(&id, verb) {
        CommandOutcome::Sent => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "ok": true, "id": id })),
        )
            .into_response(),
        CommandOutcome::NoSuchComponent => refuse(StatusCode::NOT_FOUND, "no such component"),
    }
}

async fn throttle(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let req: ThrottleRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match req.steps() {
        Ok(steps) => {
            app.throttle.apply(steps.clone());
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "ok": true, "steps": steps })),
            )
                .into_response()
        }
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts() {
        for ok in [
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8000",
            "127.9.9.9",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:8000", "10.0.0.1:8000", "[2001:db8::1]:80", ""] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
