//! The accepting side of every server: a TCP listener that sets `TCP_NODELAY` and counts
//! open connections in a Prometheus gauge, and the signal every role stops on.
//!
//! [`CountingListener`] increments its gauge when it accepts a connection and the
//! [`CountedStream`] it hands out decrements it when dropped, so the gauge is right
//! whichever way a connection ends (client close, timeout, error, shutdown abort).
//!
//! When `accept` fails for want of descriptors or memory, [`CountingListener::accept`]
//! backs off ([`AcceptBackoff`]: 10 ms doubling to 1 s, one log line per episode) rather
//! than retrying in a busy loop; errors of a single connection ([`AcceptError`]) are
//! skipped. The descriptor budget itself is in [`crate::limits`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Resolves on Ctrl-C or SIGTERM (the signals every server role stops on).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// TCP listener that sets `TCP_NODELAY` and tracks open connections in a gauge. Shared by
/// every server role so connection accounting is written once.
#[derive(Debug)]
pub struct CountingListener {
    inner: TcpListener,
    gauge: Gauge,
    backoff: AcceptBackoff,
}

impl CountingListener {
    /// Wraps a bound listener; `gauge` counts the connections currently open.
    pub fn new(inner: TcpListener, gauge: Gauge) -> Self {
        CountingListener {
            inner,
            gauge,
            backoff: AcceptBackoff::default(),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts the next connection. Errors that concern one connection only (it was
    /// reset or aborted before `accept`) are skipped; running out of descriptors or
    /// kernel memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) and any other error back
    /// off (see [`AcceptBackoff`]) instead of spinning: the pending connection stays in
    /// the kernel's backlog and the listener stays readable, so retrying at once would
    /// busy-loop for as long as the shortage lasts.
    pub async fn accept(&mut self) -> (CountedStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    if let Some(episode) = self.backoff.recovered() {
                        tracing::warn!(
                            errors = episode.errors,
                            lasted_ms = episode.lasted.as_millis() as u64,
                            "accepting connections again"
                        );
                    }
                    let _ = stream.set_nodelay(true);
                    self.gauge.inc();
                    let stream = CountedStream {
                        inner: stream,
                        gauge: self.gauge.clone(),
                    };
                    return (stream, addr);
                }
                Err(e) => match classify_accept_error(&e) {
                    AcceptError::Connection => {}
                    kind => {
                        let (pause, first) = self.backoff.failed();
                        if first {
                            tracing::error!(
                                error = %e,
                                out_of_descriptors = kind == AcceptError::Resources,
                                "accept failed; backing off ({}ms doubling to {}ms) until it works again",
                                AcceptBackoff::FIRST.as_millis(),
                                AcceptBackoff::MAX.as_millis(),
                            );
                        }
                        tokio::time::sleep(pause).await;
                    }
                },
            }
        }
    }
}

/// What an `accept` error means for the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// It concerns one connection only (reset, aborted, refused, or a protocol/permission
    /// error of that connection): skip it and accept the next one at once.
    Connection,
    /// Descriptors or kernel memory ran out (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`):
    /// back off until some are freed.
    Resources,
    /// Anything else: back off too (an unknown error must not make the loop spin).
    Other,
}

/// Classifies an `accept(2)` error (see [`AcceptError`]).
pub fn classify_accept_error(e: &io::Error) -> AcceptError {
    if let Some(code) = e.raw_os_error() {
        match code {
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                return AcceptError::Resources
            }
            // accept(2), "Error handling": Linux passes already-pending network errors of
            // the new socket to accept; treat them like ECONNABORTED. EPERM: a firewall
            // rule refused this connection.
            libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::ECONNREFUSED
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ENETDOWN
            | libc::EPERM
            | libc::EINTR
            | libc::EAGAIN => return AcceptError::Connection,
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => AcceptError::Connection,
        _ => AcceptError::Other,
    }
}

/// The accept loop's pause after errors that are not one connection's: 10 ms, doubling
/// up to 1 s while they last; reset by the next successful accept. An *episode* runs from
/// the first such error to the next success; it is logged once when it starts and once
/// when it ends, never per retry.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    episode: Option<(std::time::Instant, u64)>,
    next: Option<std::time::Duration>,
}

/// A finished episode of accept errors (see [`AcceptBackoff::recovered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// How many accepts failed.
    pub errors: u64,
    /// From the first failure to the first success after it.
    pub lasted: std::time::Duration,
}

impl AcceptBackoff {
    /// The first pause.
    pub const FIRST: std::time::Duration = std::time::Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(1);

    /// Records a failed accept: returns how long to pause, and whether this failure
    /// starts an episode (log it then).
    pub fn failed(&mut self) -> (std::time::Duration, bool) {
        let first = self.episode.is_none();
        let (_, errors) = self
            .episode
            .get_or_insert_with(|| (std::time::Instant::now(), 0));
        *errors += 1;
        let pause = self.next.unwrap_or(Self::FIRST);
        self.next = Some((pause * 2).min(Self::MAX));
        (pause, first)
    }

    /// Records a successful accept: the episode it ends, if one was running.
    pub fn recovered(&mut self) -> Option<Episode> {
        self.next = None;
        self.episode.take().map(|(since, errors)| Episode {
            errors,
            lasted: since.elapsed(),
        })
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CountedStream, SocketAddr) {
        CountingListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A `TcpStream` that decrements the open-connections gauge when dropped. Forwards
/// vectored writes so hyper keeps writing large bodies without copying them.
#[derive(Debug)]
pub struct CountedStream {
    inner: TcpStream,
    gauge: Gauge,
}

impl CountedStream {
    /// The TCP socket (for `sendfile(2)` on it, see [`crate::direct`]).
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.inner
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Implements `AsyncWrite` for a stream wrapper by passing every call to its `inner` field
/// (the wrappers here only watch reads or count connections; writes go straight through).
macro_rules! write_through_inner {
    ($wrapper:ty) => {
        impl tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}
pub(crate) use write_through_inner;

write_through_inner!(CountedStream);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_to_one_second_and_logs_once_per_episode() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<(Duration, bool)> = (0..10).map(|_| b.failed()).collect();
        let ms: Vec<u128> = pauses.iter().map(|(d, _)| d.as_millis()).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(pauses[0].1 && pauses[1..].iter().all(|(_, first)| !first));
        let episode = b.recovered().unwrap();
        assert_eq!(episode.errors, 10);
        assert_eq!(b.recovered(), None);
        assert_eq!(b.failed(), (AcceptBackoff::FIRST, true));
    }

    #[test]
    fn descriptor_shortage_backs_off_and_aborted_connections_are_skipped() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            let e = io::Error::from_raw_os_error(code);
            assert_eq!(classify_accept_error(&e), AcceptError::Resources, "{e}");
        }
        for code in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EPROTO,
            libc::EPERM,
        ] {
            let e = io::Error::from_raw_os_error(code);
            assert_eq!(classify_accept_error(&e), AcceptError::Connection, "{e}");
        }
        let e = io::Error::from_raw_os_error(libc::EBADF);
        assert_eq!(classify_accept_error(&e), AcceptError::Other);
    }
}
