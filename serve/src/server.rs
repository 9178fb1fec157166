//! The one server handle every role runs on: bind, serve an `axum::Router` over HTTP/1.1
//! and HTTP/2 (hyper-util's auto connection builder), close connections that stall, and
//! stop gracefully.
//!
//! ## Connection timeouts
//! A connection is watched only while no request is in flight on it (a request is in
//! flight from the moment its head is parsed until its response body has been sent or
//! dropped, so slow handlers, long downloads and slow uploads are never cut):
//! - **idle** ([`Timeouts::idle`], default 60 s): from accept, or from the end of the last
//!   response, to the first byte of the next request. An idle keep-alive connection, or one
//!   that never sends anything, is closed after it.
//! - **header read** ([`Timeouts::header_read`], default 10 s): from the first byte of a
//!   request to its complete head. A client sending half a header (slowloris) is closed
//!   after it.
//!
//! hyper 1.x has one knob for this, `http1::Builder::header_read_timeout` (it needs a
//! `hyper_util::rt::TokioTimer`). In the hyper of this workspace (1.12) its clock starts as
//! soon as the connection waits for a request head, the idle wait after a response
//! included (checked: with 300 ms, a keep-alive connection is closed 300 ms after its
//! response), so it bounds *idle + header read* together and cannot keep an idle
//! connection longer than a half-sent head. The two budgets are therefore kept here, by a
//! per-connection watchdog, and hyper's timer is not installed (its timeout stays off, as
//! under `axum::serve`).
//!
//! ## The direct HTTP/1.1 path
//! With [`ServerOptions::direct_http1`], a connection starts on [`crate::direct`]: plain
//! HTTP/1.1 `GET`/`HEAD` requests are parsed and answered there (file bodies with
//! `sendfile(2)`), under the same watchdog (timeouts, connection limit, graceful stop at
//! the next request boundary) and the same `Host` rule. At the first request it does not
//! take, the connection passes to hyper with the bytes already read and stays there.
//!
//! ## Connection limit
//! A server keeps at most [`ServerOptions::max_connections`] connections open (default
//! [`crate::limits::default_max_connections`]: half the soft descriptor limit left after
//! a reserve, so the requests in flight can still open their files and upstream sockets).
//! At the limit, before accepting the next connection, the server closes a stalled
//! connection — idle or sending a head, no request in flight — so that a new client takes
//! the place of one that is doing nothing: first those that never completed a request
//! (what slowloris and idle attackers look like), longest-stalled first, then idle
//! keep-alive connections that have been served (a client that has proved itself, and
//! that could be sending its next request at that very moment), longest-idle first. If
//! every connection has a request in flight, the newcomer is held (accepted, not yet
//! read) and the ones after it wait in the kernel's listen backlog until a connection
//! ends or stalls (re-checked every 100 ms). Nothing is closed before a new connection
//! actually needs the room.
//!
//! The listen backlog stays tokio's 1024. Measured with 3,000 reconnecting slowloris
//! clients against 480 slots (`dashcdn/tests/it/slowloris.rs`), a client opening a new
//! connection per request is served in ~10 ms at the median, but when its SYN finds the
//! accept queue full the kernel drops it and it waits a 1 s (rarely 2 s) retransmission;
//! with the backlog at `somaxconn` (4096) every newcomer queued behind the attackers
//! instead: ~450 ms at the median and at the maximum, and 7× fewer requests served. A
//! keep-alive client is served in milliseconds either way. Why not the alternatives: only waiting in the backlog
//! lets 3,000 slow clients hold every slot and queue ahead of a good client for as long
//! as the header timeout; accepting and closing the newcomer at once refuses exactly the
//! good clients. Slowloris connections are the first to go, while a request in flight is
//! never cut. Reaching the limit is logged (`connection limit reached`, at most once per
//! 10 s, with the number of connections closed to make room since the last line).
//!
//! ## Host
//! Before the router, every request passes the `Host` rule of RFC 9112 §3.2
//! ([`crate::host`]): an HTTP/1.1 request without `Host`, or any request with two, gets
//! `400` and the connection is closed.
//!
//! ## Shutdown
//! [`Server::shutdown`] stops accepting and asks every connection to finish: an idle one
//! closes at once, a busy one after its in-flight responses. [`Server::stop`] waits up to a
//! grace period for that, then closes the connections still open.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::activity::{Activity, InFlight};
use crate::host::HostCheck;
use crate::listener::{CountedStream, CountingListener};

/// Errors of [`bind`] and [`Server::stop`].
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The server task ended abnormally (panicked).
    #[error("server task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// How long a connection may stall while no request is in flight on it (see the
/// [module documentation](self)). `None` disables a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request to its complete head. Default 10 s.
    pub header_read: Option<Duration>,
    /// From accept or the end of the last response to the first byte of the next
    /// request. Default 60 s.
    pub idle: Option<Duration>,
}

impl Timeouts {
    /// The default header-read timeout.
    pub const DEFAULT_HEADER_READ: Duration = Duration::from_secs(10);
    /// The default idle keep-alive timeout.
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);
}

impl Default for Timeouts {
    /// 10 s to send a request head (a client sends one in a single packet; 10 s covers
    /// a congested mobile link), 60 s idle between requests (longer than the idle
    /// timeout of the usual load balancers in front, 60 s on AWS ALB, so they close
    /// first and never reuse a connection this side is closing; a player fetches every
    /// few seconds). Under pressure the connection limit closes stalled connections
    /// sooner (see the [module documentation](self)).
    fn default() -> Self {
        Timeouts {
            header_read: Some(Timeouts::DEFAULT_HEADER_READ),
            idle: Some(Timeouts::DEFAULT_IDLE),
        }
    }
}

/// What [`bind`] and [`Bound::serve`] need besides the router.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Counts open client connections (the role's `open_connections` gauge, see
    /// [`crate::metrics::register_open_connections`]).
    pub open_connections: Gauge,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// The most connections open at once (see the [module documentation](self)); `None`:
    /// [`crate::limits::default_max_connections`], from the soft descriptor limit when
    /// the server starts.
    pub max_connections: Option<usize>,
    /// Serve plain HTTP/1.1 `GET`/`HEAD` requests on [`crate::direct`]'s path, which sends
    /// bodies marked [`crate::direct::SendFile`] with `sendfile(2)` (other requests, and
    /// HTTP/2, stay on hyper). Off by default.
    pub direct_http1: bool,
}

/// A bound listen socket not yet serving: lets a role learn its address (e.g. to name
/// itself) before building its router.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Bound {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn new(addr: SocketAddr) -> Result<Bound, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Bound {
            listener,
            local_addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts serving `app` in a background task. Every request carries the peer address
    /// as an `axum::extract::ConnectInfo<SocketAddr>` extension.
    pub fn serve(self, app: Router, options: ServerOptions) -> Server {
        let shutdown = CancellationToken::new();
        let force = CancellationToken::new();
        let listener = CountingListener::new(self.listener, options.open_connections);
        let max_connections = options
            .max_connections
            .unwrap_or_else(crate::limits::default_max_connections)
            .max(1);
        tracing::info!(
            addr = %self.local_addr,
            max_connections,
            header_read_timeout = ?options.timeouts.header_read,
            idle_timeout = ?options.timeouts.idle,
            "connection limits"
        );
        let task = tokio::spawn(accept_loop(
            listener,
            app,
            options.timeouts,
            max_connections,
            shutdown.clone(),
            force.clone(),
            options.direct_http1,
        ));
        Server {
            local_addr: self.local_addr,
            shutdown,
            force,
            task,
        }
    }
}

/// Binds `addr` and serves `app` in a background task (see [`Bound`] to learn the
/// address before building the router).
pub async fn bind(
    addr: SocketAddr,
    app: Router,
    options: ServerOptions,
) -> Result<Server, ServerError> {
    Ok(Bound::new(addr).await?.serve(app, options))
}

/// A running server (see [`bind`]). Dropping it leaves the server running in the
/// background; [`Server::stop`] ends it.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    force: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A token that starts graceful shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts graceful shutdown: stop accepting, let in-flight requests finish, close
    /// idle connections.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// [`Server::shutdown`], then waits up to `grace` for every connection to finish and
    /// closes the ones still open after it.
    pub async fn stop(self, grace: Duration) -> Result<(), ServerError> {
        self.shutdown.cancel();
        let mut task = self.task;
        let joined = match tokio::time::timeout(grace, &mut task).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("connections still open after {grace:?}; closing them");
                self.force.cancel();
                task.await
            }
        };
        joined.map_err(ServerError::Task)
    }
}

async fn accept_loop(
    mut listener: CountingListener,
    app: Router,
    timeouts: Timeouts,
    max_connections: usize,
    shutdown: CancellationToken,
    force: CancellationToken,
    direct_http1: bool,
) {
    let tracker = TaskTracker::new();
    let registry = Arc::new(Registry::default());
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut at_limit = LimitLog::default();
    'accept: loop {
        let (stream, remote) = tokio::select! {
            conn = listener.accept() => conn,
            _ = shutdown.cancelled() => break,
        };
        // At the limit, the newcomer (already accepted: one descriptor over the limit at
        // most) waits for a stalled connection to make room, or for a busy one to end.
        let slot = loop {
            if let Ok(slot) = slots.clone().try_acquire_owned() {
                break slot;
            }
            let evicted = registry.close_longest_stalled();
            at_limit.hit(max_connections, evicted);
            tokio::select! {
                slot = tokio::time::timeout(LIMIT_RECHECK, slots.clone().acquire_owned()) => {
                    if let Ok(Ok(slot)) = slot {
                        break slot;
                    }
                    // Still full (every connection busy): look for a stalled one again.
                }
                _ = shutdown.cancelled() => break 'accept,
            }
        };
        let activity = Arc::new(Activity::new());
        let member = registry.join(activity.clone(), slot);
        tracker.spawn(serve_connection(
            stream,
            remote,
            app.clone(),
            timeouts,
            activity,
            member,
            shutdown.clone(),
            force.clone(),
            direct_http1,
        ));
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// How often a server at its connection limit, with every connection busy, looks again
/// for a stalled connection to close.
const LIMIT_RECHECK: Duration = Duration::from_millis(100);

/// The least time between two `connection limit reached` lines.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Rate-limits the `connection limit reached` warning.
#[derive(Debug, Default)]
struct LimitLog {
    last: Option<Instant>,
    closed: u64,
    waits: u64,
}

impl LimitLog {
    fn hit(&mut self, max: usize, evicted: bool) {
        if evicted {
            self.closed += 1;
        } else {
            self.waits += 1;
        }
        if self.last.is_some_and(|l| l.elapsed() < LIMIT_LOG_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        tracing::warn!(
            max_connections = max,
            closed_stalled = self.closed,
            waited_all_busy = self.waits,
            "connection limit reached: {max} connections open; closing the longest-stalled \
             (idle or slow-header) connection for each new one, or holding new ones in the \
             listen backlog while all are busy (raise `ulimit -n` or max_connections if \
             these are real clients)"
        );
        self.closed = 0;
        self.waits = 0;
    }
}

/// The open connections of one server, for the connection limit: each with its
/// [`Activity`] (is a request in flight? since when stalled?) and a token that closes it.
#[derive(Debug, Default)]
struct Registry {
    members: Mutex<HashMap<u64, RegistryEntry>>,
    next_id: AtomicU64,
    /// Where the next eviction sample starts (see [`Registry::close_longest_stalled`]).
    cursor: AtomicUsize,
}

/// The most connections compared to choose one to close at the limit.
const EVICTION_SAMPLE: usize = 1024;

#[derive(Debug)]
struct RegistryEntry {
    activity: Arc<Activity>,
    close: CancellationToken,
    closing: bool,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, RegistryEntry>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection; it leaves (and frees its `slot`) when the returned
    /// [`Member`] is dropped.
    fn join(self: &Arc<Self>, activity: Arc<Activity>, slot: OwnedSemaphorePermit) -> Member {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let close = CancellationToken::new();
        self.lock().insert(
            id,
            RegistryEntry {
                activity,
                close: close.clone(),
                closing: false,
            },
        );
        Member {
            registry: self.clone(),
            id,
            close,
            _slot: slot,
        }
    }

    /// Asks a stalled connection (no request in flight) to close — one that never
    /// completed a request if there is one, the longest-stalled of them; false if every
    /// connection has a request in flight (or is already closing). Up to
    /// [`EVICTION_SAMPLE`] connections are compared, from a position that moves on each
    /// call, so that with tens of thousands of connections each eviction stays cheap
    /// (the choice is then the best of a sample, as Redis's approximated LRU).
    fn close_longest_stalled(&self) -> bool {
        let mut members = self.lock();
        let n = members.len();
        let skip = if n > EVICTION_SAMPLE {
            self.cursor.fetch_add(EVICTION_SAMPLE, Ordering::Relaxed) % n
        } else {
            0
        };
        let victim = members
            .iter()
            .cycle()
            .skip(skip)
            .take(n.min(EVICTION_SAMPLE))
            .filter(|(_, e)| !e.closing)
            .filter_map(|(id, e)| e.activity.stalled().map(|key| (key, *id)))
            .min();
        match victim.and_then(|(_, id)| members.get_mut(&id)) {
            Some(e) => {
                e.closing = true;
                e.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in the [`Registry`] and its slot under the limit.
struct Member {
    registry: Arc<Registry>,
    id: u64,
    close: CancellationToken,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// Serves one connection until it ends, stalls past a timeout, is closed to make room
/// under the connection limit, or the server stops.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: CountedStream,
    remote: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    activity: Arc<Activity>,
    member: Member,
    shutdown: CancellationToken,
    force: CancellationToken,
    direct_http1: bool,
) {
    let mut watched = Watched {
        inner: stream,
        activity: activity.clone(),
    };
    let mut prefix = bytes::BytesMut::new();
    if direct_http1 {
        // The direct path first; hyper takes over the connection (with the bytes already
        // read) at the first request the direct path does not handle.
        let drain = CancellationToken::new();
        let run = crate::direct::serve_http1(&mut watched, &app, remote, &drain, &activity);
        let mut run = pin!(run);
        loop {
            let deadline = activity.deadline(timeouts.header_read, timeouts.idle);
            let changed = activity.changed.notified();
            tokio::select! {
                ended = run.as_mut() => match ended {
                    crate::direct::Ended::Closed => return,
                    crate::direct::Ended::Handoff(read) => {
                        prefix = read;
                        break;
                    }
                },
                _ = shutdown.cancelled(), if !drain.is_cancelled() => drain.cancel(),
                _ = force.cancelled() => return,
                _ = member.close.cancelled(), if !drain.is_cancelled() => {
                    if activity.stalled().is_some() {
                        tracing::debug!(%remote, "closing a stalled connection to make room (connection limit)");
                        return;
                    }
                    drain.cancel();
                }
                _ = changed => {}
                _ = sleep_until(deadline) => {
                    if activity.deadline(timeouts.header_read, timeouts.idle).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(%remote, "closing a stalled connection (idle or slow request head)");
                        return;
                    }
                }
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
    let io = TokioIo::new(Prefixed {
        prefix,
        inner: watched,
    });
    let watch = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let in_flight = InFlight::start(watch.clone());
        let host = crate::host::check(req.version(), req.headers());
        let app = app.clone();
        async move {
            let res = if host == HostCheck::Ok {
                app.oneshot(req).await?
            } else {
                tracing::debug!(%remote, ?host, "400: Host header (RFC 9112 section 3.2)");
                crate::host::bad_request(host)
            };
            Ok::<_, Infallible>(res.map(|body| GuardedBody {
                inner: body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // As `axum::serve` (HTTP/2 extended CONNECT); hyper's header-read timer stays off
    // (no timer set): the watchdog below keeps both budgets.
    builder.http2().enable_connect_protocol();
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut draining = false;
    loop {
        let deadline = activity.deadline(timeouts.header_read, timeouts.idle);
        let changed = activity.changed.notified();
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = force.cancelled() => return,
            _ = member.close.cancelled() => {
                // Chosen while stalled; a request that started since then is let finish.
                if activity.stalled().is_some() {
                    tracing::debug!(%remote, "closing a stalled connection to make room (connection limit)");
                    return;
                }
                if !draining {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = changed => {}
            _ = sleep_until(deadline) => {
                if activity.deadline(timeouts.header_read, timeouts.idle).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%remote, "closing a stalled connection (idle or slow request head)");
                    return;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
struct GuardedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream, reporting reads to the watchdog.
struct Watched {
    inner: CountedStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

crate::listener::write_through_inner!(Watched);

impl crate::direct::DirectIo for Watched {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.inner.tcp()
    }
}

/// The connection handed to hyper: first the bytes the direct path had already read.
struct Prefixed {
    prefix: bytes::BytesMut,
    inner: Watched,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

crate::listener::write_through_inner!(Prefixed);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_takes_never_served_connections_first_and_samples_large_sets() {
        let registry = Arc::new(Registry::default());
        let slots = Arc::new(Semaphore::new(3001));
        let mut members: Vec<(usize, Member)> = (0..3000)
            .map(|i| {
                let activity = Arc::new(Activity::new());
                if i == 0 {
                    // Connection 0 completed a request: kept until the others are gone.
                    activity.request_started();
                    activity.request_finished();
                }
                let slot = slots.clone().try_acquire_owned().unwrap();
                (i, registry.join(activity, slot))
            })
            .collect();
        let busy = Arc::new(Activity::new());
        busy.request_started();
        let _busy = registry.join(busy, slots.clone().try_acquire_owned().unwrap());
        for _ in 0..2999 {
            assert!(registry.close_longest_stalled());
            // A closed connection leaves the registry (its task ends).
            members.retain(|(_, m)| !m.close.is_cancelled());
        }
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].0, 0, "the served connection went last");
        assert!(registry.close_longest_stalled());
        members.clear();
        assert!(
            !registry.close_longest_stalled(),
            "a request in flight is never chosen"
        );
        assert_eq!(registry.lock().len(), 1);
    }
}
