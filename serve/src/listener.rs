//! The accepting side of every server: a TCP listener that sets `TCP_NODELAY` and counts
//! open connections in a Prometheus gauge, and the signal every role stops on.
//!
//! [`CountingListener`] increments its gauge when it accepts a connection and the
//! [`CountedStream`] it hands out decrements it when dropped, so the gauge is right
//! whichever way a connection ends (client close, timeout, error, shutdown abort).

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
}

impl CountingListener {
    /// Wraps a bound listener; `gauge` counts the connections currently open.
    pub fn new(inner: TcpListener, gauge: Gauge) -> Self {
        CountingListener { inner, gauge }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts the next connection. Accept errors (e.g. too many open files) are logged
    /// and retried after a short pause, as `axum::serve` does, so one bad moment does not
    /// stop the server.
    pub async fn accept(&mut self) -> (CountedStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    self.gauge.inc();
                    let stream = CountedStream {
                        inner: stream,
                        gauge: self.gauge.clone(),
                    };
                    return (stream, addr);
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Errors that concern one connection only (the peer went away before `accept`).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
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
