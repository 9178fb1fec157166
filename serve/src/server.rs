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
//! - **header read** ([`Timeouts::header_read`], default 30 s): from the first byte of a
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
//! ## Shutdown
//! [`Server::shutdown`] stops accepting and asks every connection to finish: an idle one
//! closes at once, a busy one after its in-flight responses. [`Server::stop`] waits up to a
//! grace period for that, then closes the connections still open.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
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
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

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
    /// From the first byte of a request to its complete head. Default 30 s.
    pub header_read: Option<Duration>,
    /// From accept or the end of the last response to the first byte of the next
    /// request. Default 60 s.
    pub idle: Option<Duration>,
}

impl Timeouts {
    /// The default header-read timeout.
    pub const DEFAULT_HEADER_READ: Duration = Duration::from_secs(30);
    /// The default idle keep-alive timeout.
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);
}

impl Default for Timeouts {
    /// 30 s to send a request head, 60 s idle between requests: far beyond what a
    /// well-behaved client (a player, a load tool, a scraper) ever needs.
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
        let task = tokio::spawn(accept_loop(
            listener,
            app,
            options.timeouts,
            shutdown.clone(),
            force.clone(),
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
    shutdown: CancellationToken,
    force: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            conn = listener.accept() => conn,
            _ = shutdown.cancelled() => break,
        };
        tracker.spawn(serve_connection(
            stream,
            remote,
            app.clone(),
            timeouts,
            shutdown.clone(),
            force.clone(),
        ));
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// Serves one connection until it ends, stalls past a timeout, or the server stops.
async fn serve_connection(
    stream: CountedStream,
    remote: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
    force: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let watch = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let in_flight = InFlight::start(watch.clone());
        let res = app.clone().oneshot(req);
        async move {
            let res = res.await?;
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
        let deadline = activity.deadline(&timeouts);
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
            _ = changed => {}
            _ = sleep_until(deadline) => {
                if activity.deadline(&timeouts).is_some_and(|d| d <= Instant::now()) {
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

/// What a connection is doing, for the timeout watchdog.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    /// Set while the connection is idle and no byte of a next request has been read: the
    /// read path records the first byte only then (one atomic load per read otherwise).
    awaiting_first_byte: AtomicBool,
    /// Wakes the watchdog when the state changes.
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    idle_since: Instant,
    first_byte: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                first_byte: None,
            }),
            awaiting_first_byte: AtomicBool::new(true),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed if nothing changes; `None` while a request is
    /// in flight (or the applicable timeout is off).
    fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        match s.first_byte {
            Some(first) => t.header_read.map(|h| first + h),
            None => t.idle.map(|i| s.idle_since + i),
        }
    }

    fn bytes_read(&self) {
        if self.awaiting_first_byte.swap(false, Ordering::AcqRel) {
            let mut s = self.lock();
            if s.in_flight == 0 && s.first_byte.is_none() {
                s.first_byte = Some(Instant::now());
            }
            drop(s);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut s = self.lock();
        s.in_flight += 1;
        s.first_byte = None;
        self.awaiting_first_byte.store(false, Ordering::Release);
        drop(s);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.first_byte = None;
            self.awaiting_first_byte.store(true, Ordering::Release);
        }
        drop(s);
        self.changed.notify_one();
    }
}

/// One request in flight; finished when dropped (with the response body, or with the
/// handler's future if the connection goes away first).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
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
