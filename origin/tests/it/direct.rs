//! The HTTP/1.1 direct path (`serve::direct`): file bodies sent with `sendfile(2)`, checked
//! byte for byte over raw TCP connections — keep-alive across several responses then a
//! request hyper serves on the same connection, HEAD, Range, 304, pipelining, a client
//! leaving mid-body, a file truncated or replaced while being sent, a slow reader with a
//! short idle timeout, metrics, and HTTP/2 still served by hyper.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use origin::{OriginConfig, RunningOrigin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const MIB: usize = 1 << 20;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i / 7) as u32).wrapping_mul(131).wrapping_add(seed as u32) as u8)
        .collect()
}

struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    origin: RunningOrigin,
}

/// `one.m4s` (1 MiB, hot-cached: sent from the cached descriptor), `five.m4s` (5 MiB,
/// above the hot-file limit: opened per request), `small.mpd` (memory path).
async fn site(tweak: impl FnOnce(&mut OriginConfig)) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("one.m4s"), pattern(MIB, 1)).unwrap();
    std::fs::write(root.join("five.m4s"), pattern(5 * MIB, 2)).unwrap();
    std::fs::write(root.join("small.mpd"), b"<?xml version=\"1.0\"?><MPD/>").unwrap();
    let mut config = OriginConfig::new(&root, "127.0.0.1:0".parse().unwrap());
    config.hot_file_max_bytes = 4 * MIB as u64;
    tweak(&mut config);
    let origin = origin::bind(config).await.expect("bind");
    Site {
        _dir: dir,
        root,
        origin,
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 client connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        Conn {
            s: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, raw: &str) {
        self.s.write_all(raw.as_bytes()).await.unwrap();
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = vec![0u8; 256 * 1024];
        let n = timeout(Duration::from_secs(10), self.s.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    async fn head(&mut self) -> (u16, Vec<(String, String)>) {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 4);
                let mut lines = text.split("\r\n");
                let status = lines.next().unwrap();
                assert!(status.starts_with("HTTP/1.1 "), "{status}");
                let code = status[9..12].parse().unwrap();
                let headers = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').unwrap();
                        (n.trim().to_owned(), v.trim().to_owned())
                    })
                    .collect();
                return (code, headers);
            }
            assert!(self.fill().await > 0, "closed before a response head");
        }
    }

    /// One response; `head_only` for HEAD (no body whatever Content-Length says).
    async fn response(&mut self, head_only: bool) -> Resp {
        let (status, headers) = self.head().await;
        let mut r = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 304 {
            return r;
        }
        let len: usize = r
            .header("content-length")
            .unwrap_or_else(|| panic!("no content-length: {r:?}"))
            .parse()
            .unwrap();
        while self.buf.len() < len {
            assert!(self.fill().await > 0, "closed mid-body");
        }
        r.body = self.buf.drain(..len).collect();
        r
    }

    /// Reads until the server closes (or `limit` passes): the bytes and whether it closed.
    async fn rest(&mut self, limit: Duration) -> (Vec<u8>, bool) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.s.read(&mut chunk)).await {
                Err(_) => return (std::mem::take(&mut self.buf), false),
                Ok(Ok(0)) | Ok(Err(_)) => return (std::mem::take(&mut self.buf), true),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

fn file(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name)).unwrap()
}

#[tokio::test]
async fn keep_alive_across_sendfile_responses_then_hyper_on_the_same_connection() {
    let s = site(|_| {}).await;
    let addr = s.origin.local_addr();
    let one = file(&s.root, "one.m4s");
    let five = file(&s.root, "five.m4s");
    let mut c = Conn::open(addr).await;
    let mut body_bytes = 0;

    for _ in 0..2 {
        c.send(&get("/one.m4s", "")).await;
        let r = c.response(false).await;
        assert_eq!((r.status, r.body == one), (200, true));
        assert!(r.header("date").is_some() && r.header("etag").is_some());
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        body_bytes += r.body.len();
    }
    c.send(&get("/five.m4s", "")).await;
    let r = c.response(false).await;
    assert_eq!((r.status, r.body == five), (200, true));
    body_bytes += r.body.len();
    let etag = r.header("etag").unwrap().to_owned();

    c.send("HEAD /five.m4s HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.response(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5242880"));

    c.send(&get("/five.m4s", "Range: bytes=100000-1300000\r\n"))
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 100000-1300000/5242880")
    );
    assert!(r.body == five[100_000..=1_300_000]);
    body_bytes += r.body.len();

    c.send(&get("/one.m4s", "Range: bytes=-70000\r\n")).await;
    let r = c.response(false).await;
    assert_eq!(r.status, 206);
    assert!(r.body == one[MIB - 70_000..]);
    body_bytes += r.body.len();

    c.send(&get("/five.m4s", &format!("If-None-Match: {etag}\r\n")))
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 304);

    c.send(&get("/small.mpd", "")).await;
    let r = c.response(false).await;
    assert_eq!(r.body, b"<?xml version=\"1.0\"?><MPD/>");
    body_bytes += r.body.len();

    // A request the direct path does not take: hyper serves it, and the rest of the
    // connection, from the bytes already read.
    c.send("DELETE /one.m4s HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.response(false).await;
    assert_eq!(r.status, 405);
    body_bytes += r.body.len();
    c.send(&get("/one.m4s", "")).await;
    let r = c.response(false).await;
    assert_eq!((r.status, r.body == one), (200, true));
    body_bytes += r.body.len();

    let sent = metric(addr, "dashcdn_origin_sent_bytes_total").await;
    assert_eq!(sent as usize, body_bytes, "sent bytes counted exactly");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let s = site(|_| {}).await;
    let one = file(&s.root, "one.m4s");
    let mut c = Conn::open(s.origin.local_addr()).await;
    let batch = [
        get("/one.m4s", ""),
        "HEAD /small.mpd HTTP/1.1\r\nHost: t\r\n\r\n".to_owned(),
        get("/small.mpd", "Range: bytes=2-4\r\n"),
        get("/five.m4s", "Range: bytes=0-99\r\n"),
        get("/missing.m4s", ""),
    ]
    .concat();
    c.send(&batch).await;
    let r = c.response(false).await;
    assert!(r.status == 200 && r.body == one);
    let r = c.response(true).await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("27")));
    let r = c.response(false).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &b"xml"[..]));
    let r = c.response(false).await;
    assert_eq!((r.status, r.body.len()), (206, 100));
    let r = c.response(false).await;
    assert_eq!(r.status, 404);
    // `Connection: close` is honoured: the server closes after the response.
    c.send(&get("/small.mpd", "Connection: close\r\n")).await;
    let r = c.response(false).await;
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    let (rest, closed) = c.rest(Duration::from_secs(5)).await;
    assert!(closed && rest.is_empty());
}

#[tokio::test]
async fn a_client_leaving_mid_body_frees_its_connection() {
    let s = site(|_| {}).await;
    let addr = s.origin.local_addr();
    for _ in 0..5 {
        let mut c = Conn::open(addr).await;
        c.send(&get("/five.m4s", "")).await;
        let (status, _) = c.head().await;
        assert_eq!(status, 200);
        drop(c);
    }
    // Every abandoned connection closes; the server goes on serving.
    let mut open = f64::MAX;
    for _ in 0..50 {
        open = metric(addr, "dashcdn_origin_open_connections").await;
        if open <= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open <= 1.0, "{open} connections still open");
    let mut c = Conn::open(addr).await;
    c.send(&get("/five.m4s", "")).await;
    assert_eq!(c.response(false).await.body.len(), 5 * MIB);
}

#[tokio::test]
async fn a_file_truncated_while_sent_ends_short_and_closed_one_replaced_is_sent_whole() {
    const LEN: usize = 24 * MIB; // more than the loopback socket buffers hold
    let s = site(|_| {}).await;
    let addr = s.origin.local_addr();
    let path = s.root.join("long.m4s");
    let original = pattern(LEN, 9);

    // Replaced (renamed over) mid-send: the open file is the old one, sent whole.
    std::fs::write(&path, &original).unwrap();
    let mut c = Conn::open(addr).await;
    c.send(&get("/long.m4s", "")).await;
    let (status, headers) = c.head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), LEN.to_string())));
    let tmp = s.root.join("long.tmp");
    std::fs::write(&tmp, pattern(LEN, 10)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    while c.buf.len() < LEN {
        assert!(c.fill().await > 0);
    }
    assert!(c.buf[..LEN] == original[..], "the replaced file's bytes");

    // Truncated in place mid-send: a short body, then the connection closes (no hang,
    // never a body of another length on a live connection).
    std::fs::write(&path, &original).unwrap();
    let mut c = Conn::open(addr).await;
    c.send(&get("/long.m4s", "")).await;
    let (status, _) = c.head().await;
    assert_eq!(status, 200);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(MIB as u64)
        .unwrap();
    let (body, closed) = c.rest(Duration::from_secs(10)).await;
    assert!(closed, "the connection was not closed");
    assert!(body.len() < LEN, "{} bytes", body.len());
    // The bytes before the cut are the file's. (Past it, bytes already queued in the
    // socket are read from the page cache as they leave, so a file changed in place can
    // show through, as with nginx's sendfile; replacing by rename, above, is safe.)
    assert!(body.len() >= MIB, "{} bytes", body.len());
    assert!(body[..MIB] == original[..MIB]);
}

#[tokio::test]
async fn a_slow_reader_is_not_cut_and_an_idle_connection_is() {
    const LEN: usize = 24 * MIB; // more than the loopback socket buffers hold
    let s = site(|c| c.idle_timeout_ms = 300).await;
    let long = pattern(LEN, 7);
    std::fs::write(s.root.join("long.m4s"), &long).unwrap();
    let mut c = Conn::open(s.origin.local_addr()).await;
    c.send(&get("/long.m4s", "")).await;
    let (status, _) = c.head().await;
    assert_eq!(status, 200);
    // Read slowly, for several idle timeouts: the response is in flight, never idle.
    let started = std::time::Instant::now();
    while c.buf.len() < LEN {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(c.fill().await > 0, "cut after {} bytes", c.buf.len());
    }
    assert!(
        started.elapsed() > Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(c.buf == long);
    // An idle keep-alive connection is closed after ~300 ms.
    let mut c = Conn::open(s.origin.local_addr()).await;
    c.send(&get("/small.mpd", "")).await;
    c.response(false).await;
    let idle = std::time::Instant::now();
    let (rest, closed) = c.rest(Duration::from_secs(5)).await;
    assert!(closed && rest.is_empty());
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn graceful_stop_lets_a_download_finish() {
    let s = site(|_| {}).await;
    let five = file(&s.root, "five.m4s");
    let mut busy = Conn::open(s.origin.local_addr()).await;
    busy.send(&get("/five.m4s", "")).await;
    let (status, _) = busy.head().await;
    assert_eq!(status, 200);
    let mut idle = Conn::open(s.origin.local_addr()).await;
    idle.send(&get("/small.mpd", "")).await;
    idle.response(false).await;
    let stop = tokio::spawn(s.origin.stop(Duration::from_secs(10)));
    let (rest, closed) = idle.rest(Duration::from_secs(5)).await;
    assert!(
        closed && rest.is_empty(),
        "the idle connection closes at once"
    );
    while busy.buf.len() < five.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(busy.fill().await > 0, "cut mid-body");
    }
    assert!(busy.buf == five);
    timeout(Duration::from_secs(5), stop)
        .await
        .expect("stop returns once the download is done")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn http2_and_http1_0_are_still_served_by_hyper() {
    let s = site(|_| {}).await;
    let one = file(&s.root, "one.m4s");
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{}/one.m4s", s.origin.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert!(r.bytes().await.unwrap() == one);
    let mut c = Conn::open(s.origin.local_addr()).await;
    c.send("GET /one.m4s HTTP/1.0\r\n\r\n").await;
    let (rest, closed) = c.rest(Duration::from_secs(10)).await;
    assert!(closed);
    let split = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(rest.starts_with(b"HTTP/1.0 200") || rest.starts_with(b"HTTP/1.1 200"));
    assert!(rest[split + 4..] == one[..]);
}
