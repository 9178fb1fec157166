//! The HTTP/1.1 direct path: plain `GET`/`HEAD` requests answered without hyper, so that a
//! file body can go from the page cache to the socket with `sendfile(2)` (no copy through
//! user space), as nginx does.
//!
//! ## Why it exists
//! hyper writes every body through its own write path (`writev` of the `Bytes` frames), so
//! the kernel copies each body from user memory into the socket buffers. Measured with
//! `origin/bench/origin_vs_nginx.sh` (1 MiB segment, 64 connections, 2 cores): about half
//! of the origin's CPU was that copy (`_copy_from_iter`), and it reached 0.89× nginx's
//! req/s. hyper has no way to hand a file descriptor to the socket, and an upgrade only
//! takes the connection *after* a `101`, so the zero-copy path has to own the connection
//! while it writes a response: this module. The figures before and after are in
//! `origin/bench/README.md`.
//!
//! ## What it handles, and what it hands to hyper
//! [`serve_http1`] reads request heads itself (`httparse`, the parser hyper uses). A
//! request it takes is an HTTP/1.1 `GET` or `HEAD` without a body (no `Transfer-Encoding`,
//! no `Content-Length` other than 0), without `Expect` or `Upgrade`, with at most
//! [`MAX_HEADERS`] header lines in at most [`MAX_HEAD`] bytes. It goes through the same
//! `axum::Router` as a hyper request (same `Host` rule, `ConnectInfo`, middleware), and the
//! response is written back by [`write_response`]: a body marked with a [`SendFile`]
//! extension is sent with `sendfile(2)` from the marked file range; any other body is
//! written from memory (`Content-Length` when its size is known, chunked otherwise).
//!
//! Anything else — HTTP/1.0, HTTP/2 (its preface does not parse as HTTP/1.1), another
//! method, a request with a body, a head that does not parse — is left unread in the
//! buffer and the connection, with the bytes already read, goes to hyper
//! ([`Handoff`]), which serves it and every later request on that connection as before.
//! Pipelined requests are answered in order (the bytes after one head are the next head).
//!
//! ## Failure handling
//! A response is in flight from its parsed head until its last byte is written (the
//! connection's timeouts are off meanwhile, as on the hyper path). If the file turns out
//! shorter than announced (truncated while being sent), the connection is closed after
//! the bytes there are: the client sees a short body and a closed connection, never a
//! hang or a body of a different length. A client that goes away mid-body ends the
//! `sendfile` loop with `EPIPE`/`ECONNRESET`.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::{Buf, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::activity::{Activity, InFlight};
use crate::host::HostCheck;

/// The most header lines a request handled here may have (more: handed to hyper).
pub const MAX_HEADERS: usize = 64;

/// The largest request head handled here (larger: handed to hyper, which applies its own
/// limit and answers `431`).
pub const MAX_HEAD: usize = 16 * 1024;

/// A response extension asking the direct path to send the body with `sendfile(2)`:
/// `len` bytes of `file` from `offset`. The response keeps an ordinary body with the same
/// bytes for the paths that cannot send a file (HTTP/2, a connection handed to hyper);
/// the direct path drops that body unread. The response's `Content-Length` must be `len`.
#[derive(Debug, Clone)]
pub struct SendFile {
    file: Arc<std::fs::File>,
    offset: u64,
    len: u64,
    counters: Vec<Counter>,
}

impl SendFile {
    /// `len` bytes of `file` from `offset`. `sendfile` reads at an explicit offset, so one
    /// open file may be shared by any number of responses at once.
    pub fn new(file: Arc<std::fs::File>, offset: u64, len: u64) -> SendFile {
        SendFile {
            file,
            offset,
            len,
            counters: Vec::new(),
        }
    }

    /// Adds a counter of the bytes actually sent (what [`crate::metrics::count_sent_bytes`]
    /// does for an ordinary body).
    pub fn count_into(&mut self, counter: Counter) {
        self.counters.push(counter);
    }

    /// The number of body bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A stream the direct path can serve: reads and writes through the wrapper (so the
/// connection's watchdog sees them), `sendfile` on the TCP socket beneath.
pub(crate) trait DirectIo: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&self) -> &TcpStream;
}

/// Why [`serve_http1`] stopped.
pub(crate) enum Ended {
    /// The connection is done (client closed, `Connection: close`, shutdown, error).
    Closed,
    /// A request this path does not take: hyper serves the connection from here on,
    /// starting with these bytes already read.
    Handoff(BytesMut),
}

/// What one parsed head asks for.
enum Parsed {
    /// Needs more bytes.
    Partial,
    /// Not for this path (see the module documentation).
    Decline,
    /// A request to serve: its head's length, the request, and whether the client asked to
    /// close after it.
    Take(usize, Box<Request<Body>>, bool),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Decline,
    };
    if n > MAX_HEAD || req.version != Some(1) {
        return Parsed::Decline;
    }
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::Decline,
    };
    let Some(uri) = req.path.and_then(|p| p.parse::<http::Uri>().ok()) else {
        return Parsed::Decline;
    };
    let mut headers = http::HeaderMap::with_capacity(req.headers.len());
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
            || (name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
        {
            return Parsed::Decline;
        }
        if name.eq_ignore_ascii_case("connection") {
            close |= h
                .value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::Decline;
        };
        headers.append(name, value);
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Parsed::Take(n, Box::new(request), close)
}

/// Serves HTTP/1.1 requests on `io` until the connection ends or a request must go to
/// hyper (see the module documentation). `drain` asks it to stop at the next request
/// boundary (graceful shutdown); each request counts as in flight on `activity` (for the
/// connection's watchdog) until its response is written.
pub(crate) async fn serve_http1<IO: DirectIo>(
    io: &mut IO,
    app: &Router,
    remote: std::net::SocketAddr,
    drain: &CancellationToken,
    activity: &Arc<Activity>,
) -> Ended {
    let mut buf = BytesMut::with_capacity(4096);
    let mut send_buffer_raised = false;
    loop {
        let (n, mut req, close) = loop {
            match parse(&buf) {
                Parsed::Take(n, req, close) => break (n, *req, close),
                Parsed::Decline => return Ended::Handoff(buf),
                Parsed::Partial => {}
            }
            if buf.is_empty() && drain.is_cancelled() {
                return Ended::Closed;
            }
            buf.reserve(4096);
            let read = tokio::select! {
                r = io.read_buf(&mut buf) => r,
                _ = drain.cancelled(), if buf.is_empty() => return Ended::Closed,
            };
            match read {
                Ok(0) | Err(_) => return Ended::Closed,
                Ok(_) => {}
            }
        };
        let guard = InFlight::start(activity.clone());
        buf.advance(n);
        req.extensions_mut().insert(ConnectInfo(remote));
        let head_only = req.method() == Method::HEAD;
        let host = crate::host::check(Version::HTTP_11, req.headers());
        let res = if host == HostCheck::Ok {
            match app.clone().oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        } else {
            tracing::debug!(%remote, ?host, "400: Host header (RFC 9112 section 3.2)");
            crate::host::bad_request(host)
        };
        let keep = write_response(io, res, head_only, close, &mut send_buffer_raised).await;
        drop(guard);
        match keep {
            Ok(true) => {}
            Ok(false) => return Ended::Closed,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "connection ended while sending a response");
                return Ended::Closed;
            }
        }
    }
}

/// Writes `res` as an HTTP/1.1 response. Returns whether the connection may carry another
/// request. `send_buffer_raised` is the connection's: whether a file body has already
/// raised its send buffer ([`crate::sndbuf`]).
async fn write_response<IO: DirectIo>(
    io: &mut IO,
    res: Response<Body>,
    head_only: bool,
    client_close: bool,
    send_buffer_raised: &mut bool,
) -> io::Result<bool> {
    let (mut parts, body) = res.into_parts();
    let status = parts.status;
    let bodyless = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let h = &mut parts.headers;
    let close = client_close
        || h.get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    if close && !h.contains_key(header::CONNECTION) {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !h.contains_key(header::DATE) {
        h.insert(header::DATE, http_date());
    }
    let mut expected = None;
    let file = if bodyless {
        None
    } else {
        parts.extensions.remove::<SendFile>()
    };
    let chunked = if bodyless {
        false
    } else if let Some(f) = &file {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.len));
        false
    } else if let Some(n) = declared_len(h).or(http_body::Body::size_hint(&body).exact()) {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        expected = Some(n);
        false
    } else {
        h.remove(header::CONTENT_LENGTH);
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        true
    };
    if head_only && !h.contains_key(header::CONTENT_LENGTH) {
        // As hyper does: a HEAD response carries the length its GET body would have.
        if let Some(n) = http_body::Body::size_hint(&body).exact().filter(|&n| n > 0) {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let head = encode_head(status, h);
    if bodyless {
        io.write_all(&head).await?;
        return Ok(!close);
    }
    if let Some(f) = file {
        drop(body);
        if !std::mem::replace(send_buffer_raised, true) {
            crate::sndbuf::raise_for_file(io.tcp().as_raw_fd());
        }
        send_head_more(io.tcp(), &head).await?;
        send_file(io.tcp(), &f).await?;
        return Ok(!close);
    }
    let mut body = body;
    let mut pending_head = Some(head);
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers: not sent over HTTP/1.1 here
        };
        if let Some(n) = expected {
            if written + data.len() as u64 > n {
                // Longer than its Content-Length: send what was announced, then close.
                data.truncate((n - written) as usize);
                expected = Some(u64::MAX);
            }
        }
        written += data.len() as u64;
        if data.is_empty() {
            continue;
        }
        if chunked {
            let size = format!("{:x}\r\n", data.len());
            let mut head = pending_head.take().unwrap_or_default();
            head.extend_from_slice(size.as_bytes());
            write_all_vectored(io, &[&head, &data, b"\r\n"]).await?;
        } else {
            match pending_head.take() {
                Some(head) => write_all_vectored(io, &[&head, &data]).await?,
                None => io.write_all(&data).await?,
            }
        }
    }
    let mut tail = pending_head.unwrap_or_default();
    if chunked {
        tail.extend_from_slice(b"0\r\n\r\n");
    }
    if !tail.is_empty() {
        io.write_all(&tail).await?;
    }
    match expected {
        Some(n) if n != written => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body length differs from its Content-Length",
        )),
        _ => Ok(!close),
    }
}

/// The response's own `Content-Length`, if it has one valid value.
fn declared_len(h: &http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn encode_head(status: StatusCode, headers: &http::HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The `Date` value, formatted at most once per second per thread.
fn http_date() -> HeaderValue {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, Option<HeaderValue>)> = const { std::cell::RefCell::new((0, None)) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_none() {
            let v = HeaderValue::from_str(&httpdate::fmt_http_date(now)).expect("ascii date");
            *c = (secs, Some(v));
        }
        c.1.clone().expect("set above")
    })
}

async fn write_all_vectored<IO: DirectIo>(io: &mut IO, parts: &[&[u8]]) -> io::Result<()> {
    let mut idx = 0;
    let mut skip = 0;
    while idx < parts.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&parts[idx][skip..]))
            .chain(parts[idx + 1..].iter().map(|p| IoSlice::new(p)))
            .collect();
        let mut n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while idx < parts.len() && n >= parts[idx].len() - skip {
            n -= parts[idx].len() - skip;
            idx += 1;
            skip = 0;
        }
        skip += n;
    }
    Ok(())
}

/// Sends the response head with `MSG_MORE`, so that it leaves in the same segment as the
/// start of the body sent next (what nginx's `tcp_nopush` does with `TCP_CORK`).
async fn send_head_more(tcp: &TcpStream, head: &[u8]) -> io::Result<()> {
    let fd = tcp.as_raw_fd();
    let mut sent = 0;
    while sent < head.len() {
        tcp.writable().await?;
        let rest = &head[sent..];
        match tcp.try_io(Interest::WRITABLE, || {
            // SAFETY: `rest` is a live slice of `len` bytes; `fd` is the open socket.
            let r = unsafe {
                libc::send(
                    fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_MORE | libc::MSG_NOSIGNAL,
                )
            };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as usize)
            }
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The most one `sendfile` call moves (Linux caps a call at 0x7ffff000 bytes).
const SENDFILE_CHUNK: u64 = 0x7fff_f000;

/// Sends `f`'s range with `sendfile(2)`, waiting for the socket to be writable whenever
/// it is full. Fails with `UnexpectedEof` if the file ends before the range does.
async fn send_file(tcp: &TcpStream, f: &SendFile) -> io::Result<()> {
    let sock: RawFd = tcp.as_raw_fd();
    let file: RawFd = f.file.as_raw_fd();
    let end = f.offset + f.len;
    let mut offset = f.offset;
    while offset < end {
        tcp.writable().await?;
        let want = (end - offset).min(SENDFILE_CHUNK) as usize;
        let mut off = offset as libc::off_t;
        match tcp.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the duration of the call; `off` is a
            // valid `off_t` the kernel advances by the bytes sent.
            let r = unsafe { libc::sendfile(sock, file, &mut off, want) };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as u64)
            }
        }) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than its Content-Length (truncated while being sent)",
                ))
            }
            Ok(n) => {
                offset += n;
                for c in &f.counters {
                    c.inc_by(n);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_plain_get_and_head_and_declines_the_rest() {
        let ok = b"GET /a.m4s?x=1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\nGET /next";
        match parse(ok) {
            Parsed::Take(n, req, close) => {
                assert_eq!(&ok[n..], b"GET /next");
                assert_eq!(req.uri().path(), "/a.m4s");
                assert_eq!(req.headers()["range"], "bytes=0-9");
                assert!(!close);
            }
            _ => panic!("plain GET not taken"),
        }
        match parse(b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n") {
            Parsed::Take(_, req, close) => assert!(req.method() == Method::HEAD && close),
            _ => panic!("HEAD not taken"),
        }
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(parse(b""), Parsed::Partial));
        for declined in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert!(
                matches!(parse(declined), Parsed::Decline),
                "{:?} was not declined",
                String::from_utf8_lossy(declined)
            );
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(huge.as_bytes()), Parsed::Decline));
    }

    #[test]
    fn head_is_status_line_then_headers() {
        let mut h = http::HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(5u64));
        let head = encode_head(StatusCode::PARTIAL_CONTENT, &h);
        assert_eq!(
            head,
            b"HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\n\r\n"
        );
    }
}
