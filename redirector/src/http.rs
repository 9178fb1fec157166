//! HTTP interface: `302` redirects, `/steer` and `/steered/...` (content steering),
//! edge self-announcement (`POST /announce`, `DELETE /announce/{id}`, see
//! [`crate::announce`]), `/debug/route`, `/debug/edges`, `/debug/decisions`, `/healthz`
//! and `/metrics`. Every response carries CORS headers ([`serve::http::cors`]);
//! redirects and `/debug/*` carry `Cache-Control: no-store`. Served by [`bind`] on the
//! same [`serve::Server`] handle as the origin and the edges.
//!
//! The `302`, `/steer` and the steered MPD all route on the asset
//! ([`crate::choice::routing_key`]), so they send one client to one edge per title.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri};
use serde::Deserialize;

use serve::wire::{AnnounceReply, Announcement, ANNOUNCE_PATH};

use crate::announce::{bearer, token_matches, validate, Upsert};
use crate::choice::{routing_key, Decision, Family, Snapshot};
use crate::topology::canonical_ip;
use crate::{health, steering, Shared};

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    client: reqwest::Client,
}

/// The redirector's HTTP router. Its handlers read the client address from the
/// `ConnectInfo<SocketAddr>` extension, which [`serve::Server`] (see [`bind`]) adds to
/// every request (with `axum::serve`, use `into_make_service_with_connect_info`).
pub fn router(shared: Arc<Shared>) -> Router {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("reqwest client");
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/debug/route", get(debug_route))
        .route("/debug/edges", get(debug_edges))
        .route("/debug/decisions", get(debug_decisions))
        .route(ANNOUNCE_PATH, post(announce))
        .route(&format!("{ANNOUNCE_PATH}/{{id}}"), delete(withdraw))
        .route("/steer", get(steer))
        .route("/steered/{*rest}", get(steered))
        .fallback(redirect)
        .layer(serve::http::cors::CorsLayer)
        .with_state(AppState { shared, client })
}

/// Binds `addr` and serves [`router`] in the background on the shared server handle
/// (connection timeouts, graceful [`serve::Server::stop`]). The redirector keeps no
/// connection gauge: its connections are counted in a gauge nobody registers.
pub async fn bind(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> Result<serve::Server, serve::ServerError> {
    serve::bind(addr, router(shared), serve::ServerOptions::default()).await
}

/// The client address: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(snap: &Snapshot, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = canonical_ip(peer);
    if !snap.topology.is_trusted_proxy(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(s) = v.to_str() else { return peer };
        for part in s.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(canonical_ip(ip)),
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !snap.topology.is_trusted_proxy(*ip))
        .unwrap_or(peer)
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn metrics(State(st): State<AppState>) -> Response {
    serve::metrics::exposition_response(st.shared.metrics.encode())
}

fn decide(
    st: &AppState,
    snap: &Snapshot,
    ip: IpAddr,
    host: Option<&str>,
    key: &str,
    proto: &'static str,
) -> Decision {
    let service = snap.topology.service_for_host(host);
    let (loc, prefix) = snap.locate(ip);
    let d = snap.route(
        service,
        loc,
        prefix,
        ip.to_string().as_bytes(),
        key.as_bytes(),
        None,
        true,
    );
    if let Some(e) = &d.chosen_edge {
        st.shared.metrics.answer(e, &d.location, proto, d.degraded);
    }
    st.shared.metrics.reason(d.reason.as_str());
    st.shared
        .decisions
        .record(snap, service, proto, ip, key, &d);
    d
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

async fn redirect(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n").into_response();
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return r;
    }
    let snap = st.shared.snapshot();
    let ip = client_ip(&snap, peer.ip(), &headers);
    // Raw bytes as received: the path is never decoded or re-encoded.
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    let d = decide(&st, &snap, ip, host(&headers), &routing_key(pq), "http");
    let Some(e) = d.chosen else {
        return no_store((StatusCode::SERVICE_UNAVAILABLE, "no edge\n").into_response());
    };
    let location = format!("{}{}", snap.topology.edges[e].url, pq);
    let Ok(v) = HeaderValue::from_str(&location) else {
        return (StatusCode::BAD_REQUEST, "bad path\n").into_response();
    };
    let mut r = (StatusCode::FOUND, format!("{location}\n")).into_response();
    r.headers_mut().insert(header::LOCATION, v);
    no_store(r)
}

#[derive(Debug, Deserialize)]
struct RouteQuery {
    client: IpAddr,
    #[serde(default = "slash")]
    path: String,
    service: Option<String>,
    family: Option<u8>,
    /// The asset, as `/steer?asset=` names it (instead of `path`).
    asset: Option<String>,
}

fn slash() -> String {
    "/".into()
}

async fn debug_route(State(st): State<AppState>, Query(q): Query<RouteQuery>) -> Response {
    let snap = st.shared.snapshot();
    let t = &snap.topology;
    let service = match &q.service {
        Some(name) => match t.services.iter().position(|s| &s.name == name) {
            Some(s) => s,
            None => return (StatusCode::NOT_FOUND, "no such service\n").into_response(),
        },
        None => 0,
    };
    let family = match q.family {
        Some(4) => Some(Family::V4),
        Some(6) => Some(Family::V6),
        _ => None,
    };
    let key = routing_key(&q.path);
    let client = canonical_ip(q.client);
    let (loc, prefix) = snap.locate(client);
    // The path's routing key, or the asset as `/steer` and the steered MPD key it.
    let key = match &q.asset {
        Some(a) => routing_key(&format!("/{a}/")),
        None => key,
    };
    let d = snap.route(
        service,
        loc,
        prefix,
        client.to_string().as_bytes(),
        key.as_bytes(),
        family,
        false,
    );
    let inputs: Vec<serde_json::Value> = d
        .candidates
        .iter()
        .map(|c| {
            let e = t.edge_index(&c.edge).map(|i| &t.edges[i]);
            let live = c.live.clone().unwrap_or_default();
            serde_json::json!({
                "edge": c.edge,
                "distance_km": c.distance_km,
                "health": c.health,
                "capacity": e.map(|e| e.capacity),
                "requests_per_s": live.requests_per_s,
                "load_ratio": c.load_ratio,
                "open_connections": live.open_connections,
                "starvation_rate": live.starvation_rate,
                "cmcd_requests": live.cmcd_requests,
                "mtp_kbps": live.mtp_kbps,
                "impairments": c.impairments,
                "score": c.score,
                "cost": c.cost,
            })
        })
        .collect();
    let health: Vec<serde_json::Value> = t
        .edges
        .iter()
        .zip(&snap.health)
        .map(|(e, h)| {
            serde_json::json!({
                "edge": e.id, "url": e.url, "state": h.state(),
                "fail_streak": h.fail_streak(), "last_error": h.last_error(),
            })
        })
        .collect();
    no_store(
        Json(serde_json::json!({
            "client": client,
            "service": t.services[service].name,
            "key": key,
            "mode": d.mode,
            "chosen": d.chosen_edge,
            "reason": d.reason,
            "inputs": inputs,
            "decision": d,
            "health": health,
        }))
        .into_response(),
    )
}

#[derive(Debug, Deserialize)]
struct SteerQuery {
    #[serde(default)]
    asset: String,
}

async fn steer(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<SteerQuery>,
    headers: HeaderMap,
) -> Response {
    let snap = st.shared.snapshot();
    let ip = client_ip(&snap, peer.ip(), &headers);
    let key = routing_key(&format!("/{}/", q.asset));
    let d = decide(&st, &snap, ip, host(&headers), &key, "steering");
    let m = steering::manifest(&d, snap.topology.steering.ttl);
    no_store(Json(m).into_response())
}

async fn steered(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let rest = uri.path().trim_start_matches("/steered");
    if serve::path::sanitize(rest).is_err() || !rest.ends_with(".mpd") {
        return (StatusCode::NOT_FOUND, "not an MPD path\n").into_response();
    }
    let dir = rest
        .rsplit_once('/')
        .map_or("", |(d, _)| d)
        .trim_matches('/');
    let snap = st.shared.snapshot();
    let ip = client_ip(&snap, peer.ip(), &headers);
    let key = routing_key(&format!("/{dir}/"));
    let d = decide(&st, &snap, ip, host(&headers), &key, "steering");
    let Some(first) = d.chosen_edge.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no edge\n").into_response();
    };
    // Fetch the original MPD from the configured origin, else from the ranked edges.
    let sources: Vec<String> = match &snap.topology.steering.origin {
        Some(o) => vec![o.trim_end_matches('/').to_string()],
        None => d
            .candidates
            .iter()
            .filter_map(|c| snap.topology.edge_index(&c.edge))
            .map(|i| snap.topology.edges[i].url.clone())
            .collect(),
    };
    let mut original = None;
    let mut last_err = String::from("no source");
    for s in sources {
        match st.client.get(format!("{s}{rest}")).send().await {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(t) => {
                    original = Some(t);
                    break;
                }
                Err(e) => last_err = e.to_string(),
            },
            Ok(r) => last_err = format!("{s}{rest}: status {}", r.status()),
            Err(e) => last_err = format!("{s}{rest}: {e}"),
        }
    }
    let Some(original) = original else {
        return (
            StatusCode::BAD_GATEWAY,
            format!("cannot fetch the MPD: {last_err}\n"),
        )
            .into_response();
    };
    let svc = snap.topology.service_for_host(host(&headers));
    let edges: Vec<(String, String)> = snap.topology.services[svc]
        .edges
        .iter()
        .map(|&i| {
            (
                snap.topology.edges[i].id.clone(),
                snap.topology.edges[i].url.clone(),
            )
        })
        .collect();
    let host = host(&headers).unwrap_or("localhost");
    let steer_url = format!("http://{host}/steer?asset={dir}");
    match steering::steered_mpd(&original, dir, &edges, &steer_url, &first) {
        Ok(xml) => {
            let mut r = xml.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/dash+xml"),
            );
            no_store(r)
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("cannot rewrite the MPD: {e}\n"),
        )
            .into_response(),
    }
}

/// `GET /debug/edges`: every edge of the current snapshot (configured and announced) with
/// its health, the number of HTTP/steering decisions that chose it, and its live figures
/// ([`crate::live`]: `null` fields are unknown) with the last scrape error.
async fn debug_edges(State(st): State<AppState>) -> Response {
    let snap = st.shared.snapshot();
    let now = std::time::Instant::now();
    let now_ms = st.shared.uptime_ms();
    let cfg = &snap.topology.closed_loop;
    let edges: Vec<serde_json::Value> = snap
        .topology
        .edges
        .iter()
        .zip(&snap.health)
        .zip(&snap.live)
        .map(|((e, h), live)| {
            let heard = e
                .announced
                .then(|| st.shared.announced.last_heard(&e.id))
                .flatten()
                .map(|t| now.saturating_duration_since(t).as_millis() as u64);
            serde_json::json!({
                "id": e.id,
                "url": e.url,
                "region": e.region,
                "lat": e.lat,
                "lon": e.lon,
                "source": if e.announced { "announced" } else { "configured" },
                "health": h.state().as_str(),
                "last_heartbeat_ms_ago": heard,
                "answers": st.shared.decisions.answers(&e.id),
                "live": live.figures(now_ms, cfg),
                "scrape_error": live.last_error(),
            })
        })
        .collect();
    no_store(Json(serde_json::json!({ "edges": edges })).into_response())
}

#[derive(Debug, Deserialize)]
struct DecisionsQuery {
    n: Option<usize>,
}

/// `GET /debug/decisions?n=50`: the most recent HTTP and steering decisions, newest
/// first (at most [`crate::decisions::CAPACITY`]).
async fn debug_decisions(State(st): State<AppState>, Query(q): Query<DecisionsQuery>) -> Response {
    let n = q.n.unwrap_or(50);
    no_store(
        Json(serde_json::json!({ "decisions": st.shared.decisions.recent(n) })).into_response(),
    )
}

fn plain(status: StatusCode, msg: String) -> Response {
    no_store((status, msg).into_response())
}

/// Checks announcing is enabled and the bearer token; the error response otherwise
/// (counted and, for a bad token, logged with the peer).
fn authorize_announce(
    st: &AppState,
    snap: &Snapshot,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Box<Response>> {
    let Some(cfg) = &snap.topology.announce else {
        st.shared.metrics.announce("disabled");
        return Err(Box::new(plain(
            StatusCode::FORBIDDEN,
            "announcing is disabled (no announce token configured)\n".into(),
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match given {
        Some(t) if token_matches(t.as_bytes(), cfg.token.0.as_bytes()) => Ok(()),
        other => {
            st.shared.metrics.announce("unauthorized");
            tracing::warn!(
                %peer,
                reason = if other.is_some() { "wrong token" } else { "no bearer token" },
                "announce refused"
            );
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n".into(),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dashcdn-redirector\""),
            );
            Err(Box::new(r))
        }
    }
}

/// `POST /announce`: registers or heartbeats an edge (see [`crate::announce`]).
async fn announce(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let snap = st.shared.snapshot();
    if let Err(r) = authorize_announce(&st, &snap, peer, &headers) {
        return *r;
    }
    let Some(cfg) = snap.topology.announce.clone() else {
        unreachable!("authorized implies announcing is enabled")
    };
    let edge = match serde_json::from_slice::<Announcement>(&body)
        .map_err(|e| format!("bad announcement: {e}"))
        .and_then(|a| validate(&a).map_err(|e| format!("bad announcement: {e}")))
    {
        Ok(e) => e,
        Err(why) => {
            st.shared.metrics.announce("invalid");
            tracing::warn!(%peer, %why, "announce refused");
            return plain(StatusCode::BAD_REQUEST, format!("{why}\n"));
        }
    };
    let configured = st
        .shared
        .snapshot()
        .topology
        .edges
        .iter()
        .any(|e| e.id == edge.id && !e.announced);
    if configured {
        st.shared.metrics.announce("conflict");
        tracing::warn!(%peer, edge = %edge.id, "announce refused: id of a configured edge");
        return plain(
            StatusCode::CONFLICT,
            format!("edge id {:?} is configured in the topology\n", edge.id),
        );
    }
    let id = edge.id.clone();
    let url = edge.url.clone();
    match st.shared.announced.upsert(edge, std::time::Instant::now()) {
        Upsert::Heartbeat => {}
        outcome => {
            tracing::info!(edge = %id, %url, %peer, new = (outcome == Upsert::New), "edge announced");
            st.shared.rebuild();
            if st
                .shared
                .probe_on_announce
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                tokio::spawn(health::probe_now(st.shared.clone(), st.client.clone(), id));
            }
        }
    }
    st.shared.metrics.announce("ok");
    no_store(
        Json(AnnounceReply {
            heartbeat_ms: cfg.heartbeat_ms,
            expire_ms: cfg.expire_ms(),
        })
        .into_response(),
    )
}

/// `DELETE /announce/{id}`: an edge withdraws itself (clean shutdown).
async fn withdraw(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let snap = st.shared.snapshot();
    if let Err(r) = authorize_announce(&st, &snap, peer, &headers) {
        return *r;
    }
    if !st.shared.announced.remove(&id) {
        return plain(StatusCode::NOT_FOUND, format!("no announced edge {id:?}\n"));
    }
    tracing::info!(edge = %id, %peer, "announced edge withdrawn");
    st.shared.metrics.announce("withdrawn");
    st.shared.rebuild();
    no_store(StatusCode::NO_CONTENT.into_response())
}
