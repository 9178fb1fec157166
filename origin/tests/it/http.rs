//! End-to-end tests: a real origin on 127.0.0.1:0 over a tempdir content root.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use origin::{OriginConfig, RunningOrigin};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-THE-ROOT";
const BIG_LEN: usize = 1_500_000;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8)
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    origin: RunningOrigin,
    client: Client,
}

impl Fixture {
    fn root(&self) -> PathBuf {
        self.dir.path().join("content")
    }

    fn addr(&self) -> SocketAddr {
        self.origin.local_addr()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.req(Method::GET, path, headers).await
    }

    async fn req(&self, m: Method, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self.client.request(m, self.url(path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("request")
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Content root layout:
/// content/default/{manifest.mpd,master.m3u8}, v720/{init.mp4,1.m4s,big.m4s,playlist.m3u8},
/// a128/{init.m4a,1.m4s},
/// content/web/{index.html,player.js}, content/data.bin, content/.hidden,
/// content/escape -> ../outside/secret.txt, content/escape_dir -> ../outside,
/// content/link.m4s -> default/v720/1.m4s; outside/secret.txt beside content/.
async fn start(tweak: impl FnOnce(&mut OriginConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    write(
        &root.join("default/manifest.mpd"),
        b"<?xml version=\"1.0\"?><MPD/>",
    );
    write(&root.join("default/v720/init.mp4"), &pattern(700, 1));
    write(&root.join("default/v720/1.m4s"), &pattern(1000, 2));
    write(&root.join("default/v720/big.m4s"), &pattern(BIG_LEN, 3));
    write(&root.join("default/a128/init.m4a"), &pattern(300, 4));
    write(&root.join("default/a128/1.m4s"), &pattern(400, 5));
    write(&root.join("default/master.m3u8"), b"#EXTM3U\n");
    write(&root.join("default/v720/playlist.m3u8"), b"#EXTM3U\n");
    write(
        &root.join("web/index.html"),
        b"<!doctype html><title>p</title>",
    );
    write(&root.join("web/player.js"), b"console.log(1)");
    write(&root.join("data.bin"), b"\x00\x01\x02");
    write(&root.join(".hidden"), SECRET);
    write(&dir.path().join("outside/secret.txt"), SECRET);
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(dir.path().join("outside/secret.txt"), root.join("escape")).unwrap();
        symlink("../outside", root.join("escape_dir")).unwrap();
        symlink("default/v720/1.m4s", root.join("link.m4s")).unwrap();
    }
    let mut config = OriginConfig::new(&root, "127.0.0.1:0".parse().unwrap());
    config.hot_file_max_bytes = 1 << 20; // big.m4s (1.5 MB) is streamed from disk
    config.hot_cache_revalidate_ms = 0;
    tweak(&mut config);
    let origin = origin::bind(config).await.expect("bind");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Fixture {
        dir,
        origin,
        client,
    }
}

fn hdr<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("missing header {name} in {h:?}"))
        .to_str()
        .unwrap()
}

fn assert_cors(h: &HeaderMap) {
    assert_eq!(hdr(h, "access-control-allow-origin"), "*", "{h:?}");
    assert_eq!(hdr(h, "timing-allow-origin"), "*");
    let exposed = hdr(h, "access-control-expose-headers");
    for name in [
        "Date",
        "Content-Length",
        "Content-Range",
        "ETag",
        "Last-Modified",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

/// Sends a request line + headers verbatim over TCP (no URL normalisation) and returns
/// (status, head, body).
async fn raw(addr: SocketAddr, method: &str, target: &str) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("raw response in time")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let body = buf[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head, body)
}

#[tokio::test]
async fn mime_types_and_cache_control() {
    let f = start(|_| {}).await;
    let cases = [
        (
            "/default/manifest.mpd",
            "application/dash+xml",
            "public, max-age=2",
        ),
        (
            "/default/v720/init.mp4",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "/default/a128/init.m4a",
            "audio/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "/default/master.m3u8",
            "application/vnd.apple.mpegurl",
            "public, max-age=2",
        ),
        (
            "/default/v720/playlist.m3u8",
            "application/vnd.apple.mpegurl",
            "public, max-age=2",
        ),
        // Segments by their representation's kind (its init segment), not one type for all.
        (
            "/default/v720/1.m4s",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "/default/v720/big.m4s",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "/default/a128/1.m4s",
            "audio/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "/web/index.html",
            "text/html; charset=utf-8",
            "public, max-age=60",
        ),
        (
            "/web/player.js",
            "text/javascript; charset=utf-8",
            "public, max-age=60",
        ),
        (
            "/data.bin",
            "application/octet-stream",
            "public, max-age=60",
        ),
    ];
    for (path, mime, cc) in cases {
        let r = f.get(path, &[]).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(hdr(&h, "content-type"), mime, "{path}");
        assert_eq!(hdr(&h, "cache-control"), cc, "{path}");
        assert_eq!(hdr(&h, "accept-ranges"), "bytes");
        assert!(hdr(&h, "etag").starts_with('"'));
        httpdate::parse_http_date(hdr(&h, "last-modified")).unwrap();
        let len: usize = hdr(&h, "content-length").parse().unwrap();
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len(), len);
        assert_eq!(
            &body[..],
            &std::fs::read(f.root().join(&path[1..])).unwrap()[..]
        );
    }
}

#[tokio::test]
async fn mpd_max_age_is_configurable() {
    let f = start(|c| c.mpd_max_age_secs = 7).await;
    let r = f.get("/default/manifest.mpd", &[]).await;
    assert_eq!(hdr(r.headers(), "cache-control"), "public, max-age=7");
}

#[tokio::test]
async fn cors_on_every_status() {
    let f = start(|_| {}).await;
    let etag = hdr(f.get("/default/v720/1.m4s", &[]).await.headers(), "etag").to_owned();
    type Case<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (Method::GET, "/default/v720/1.m4s", vec![], 200),
        (
            Method::GET,
            "/default/v720/1.m4s",
            vec![("range", "bytes=0-9")],
            206,
        ),
        (
            Method::GET,
            "/default/v720/1.m4s",
            vec![("if-none-match", &etag)],
            304,
        ),
        (Method::GET, "/nope.m4s", vec![], 404),
        (Method::POST, "/default/v720/1.m4s", vec![], 405),
        (
            Method::GET,
            "/default/v720/1.m4s",
            vec![("range", "bytes=5000-")],
            416,
        ),
        (
            Method::GET,
            "/default/v720/1.m4s",
            vec![("if-match", "\"x\"")],
            412,
        ),
        (Method::GET, "/a%2fb", vec![], 400),
        (Method::GET, "/healthz", vec![], 200),
        (Method::GET, "/metrics", vec![], 200),
        (Method::DELETE, "/healthz", vec![], 405),
        (Method::OPTIONS, "/default/v720/1.m4s", vec![], 204),
    ];
    for (m, path, headers, code) in cases {
        let r = f.req(m.clone(), path, &headers).await;
        assert_eq!(r.status().as_u16(), code, "{m} {path} {headers:?}");
        assert_cors(r.headers());
    }
}

#[tokio::test]
async fn options_preflight() {
    let f = start(|_| {}).await;
    for path in ["/default/v720/1.m4s", "/healthz", "/missing", "/"] {
        let r = f
            .req(
                Method::OPTIONS,
                path,
                &[
                    ("origin", "http://player.example"),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-headers", "range, if-none-match"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}");
        let h = r.headers();
        assert_cors(h);
        assert_eq!(hdr(h, "access-control-allow-methods"), "GET, HEAD, OPTIONS");
        assert_eq!(
            hdr(h, "access-control-allow-headers"),
            "range, if-none-match"
        );
        assert!(hdr(h, "access-control-max-age").parse::<u64>().unwrap() > 0);
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let r = f.req(Method::OPTIONS, "/default/v720/1.m4s", &[]).await;
    let allowed = hdr(r.headers(), "access-control-allow-headers");
    assert!(
        allowed.contains("Range") && allowed.contains("If-None-Match"),
        "{allowed}"
    );
}

async fn check_ranges(f: &Fixture, path: &str) {
    let full = std::fs::read(f.root().join(&path[1..])).unwrap();
    let len = full.len();
    let ok_cases: [(&str, usize, usize); 5] = [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", len - 100, len - 1),
        ("bytes=500-", 500, len - 1),
        ("bytes=10-10", 10, 10),
        ("bytes=100-99999999", 100, len - 1),
    ];
    for (range, s, e) in ok_cases {
        let r = f.get(path, &[("range", range)]).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{path} {range}");
        let h = r.headers().clone();
        assert_eq!(hdr(&h, "content-range"), format!("bytes {s}-{e}/{len}"));
        assert_eq!(hdr(&h, "content-length"), (e - s + 1).to_string());
        assert_eq!(hdr(&h, "content-type"), "video/mp4");
        assert_cors(&h);
        let body = r.bytes().await.unwrap();
        assert_eq!(&body[..], &full[s..=e], "{path} {range}");
    }
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 10, len + 20),
        "bytes=-0".into(),
    ] {
        let r = f.get(path, &[("range", &range)]).await;
        assert_eq!(
            r.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{path} {range}"
        );
        assert_eq!(hdr(r.headers(), "content-range"), format!("bytes */{len}"));
        assert_cors(r.headers());
    }
    // malformed and multi-range requests get the full body with 200 (RFC 9110 allows ignoring Range)
    for range in [
        "bytes=abc",
        "bytes=9-3",
        "lines=1-2",
        "bytes=0-1,5-9",
        "bytes=",
    ] {
        let r = f.get(path, &[("range", range)]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path} {range}");
        assert!(r.headers().get("content-range").is_none());
        assert_eq!(r.bytes().await.unwrap().len(), len, "{range}");
    }
}

#[tokio::test]
async fn ranges_from_memory_and_disk() {
    let f = start(|_| {}).await;
    check_ranges(&f, "/default/v720/1.m4s").await; // hot cache
    check_ranges(&f, "/default/v720/big.m4s").await; // streamed (> hot_file_max_bytes)
                                                     // with a big enough hot-file limit the 1.5 MB file is served from memory
    let f = start(|c| c.hot_file_max_bytes = 4 << 20).await;
    check_ranges(&f, "/default/v720/big.m4s").await;
    let m = f.origin.state().metrics().encode();
    assert!(m.contains("dashcdn_origin_hot_cache_hits_total"));
}

#[tokio::test]
async fn conditional_get() {
    let f = start(|_| {}).await;
    for path in ["/default/v720/1.m4s", "/default/v720/big.m4s"] {
        let r = f.get(path, &[]).await;
        let etag = hdr(r.headers(), "etag").to_owned();
        let lm = hdr(r.headers(), "last-modified").to_owned();
        let weak = format!("W/{etag}");
        let list = format!("\"other\", {etag}");
        for inm in [etag.as_str(), weak.as_str(), list.as_str(), "*"] {
            let r = f.get(path, &[("if-none-match", inm)]).await;
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path} {inm}");
            let h = r.headers().clone();
            assert_eq!(hdr(&h, "etag"), etag);
            assert_eq!(
                hdr(&h, "cache-control"),
                "public, max-age=31536000, immutable"
            );
            assert_cors(&h);
            assert!(r.bytes().await.unwrap().is_empty());
        }
        let r = f.get(path, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        // If-Modified-Since
        let r = f.get(path, &[("if-modified-since", &lm)]).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert!(r.bytes().await.unwrap().is_empty());
        let old = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(86400));
        let r = f.get(path, &[("if-modified-since", &old)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        // If-None-Match takes precedence over If-Modified-Since
        let r = f
            .get(
                path,
                &[("if-none-match", "\"other\""), ("if-modified-since", &lm)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // HEAD also gets 304
        let r = f.req(Method::HEAD, path, &[("if-none-match", &etag)]).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        // If-Match / If-Unmodified-Since
        let r = f.get(path, &[("if-match", "\"other\"")]).await;
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
        let r = f.get(path, &[("if-match", &etag)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = f.get(path, &[("if-unmodified-since", &old)]).await;
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
        // If-Range
        let r = f
            .get(path, &[("range", "bytes=0-9"), ("if-range", &etag)])
            .await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let r = f
            .get(path, &[("range", "bytes=0-9"), ("if-range", &lm)])
            .await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let r = f
            .get(path, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let full_len = std::fs::metadata(f.root().join(&path[1..])).unwrap().len();
        assert_eq!(r.bytes().await.unwrap().len() as u64, full_len);
        let r = f
            .get(path, &[("range", "bytes=0-9"), ("if-range", &old)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn head_has_length_and_no_body() {
    let f = start(|_| {}).await;
    for (path, len) in [
        ("/default/v720/1.m4s", 1000usize),
        ("/default/v720/big.m4s", BIG_LEN),
    ] {
        let (status, head, body) = raw(f.addr(), "HEAD", path).await;
        assert_eq!(status, 200, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-length: {len}")),
            "{head}"
        );
        assert!(head.to_ascii_lowercase().contains("etag: "), "{head}");
        assert!(body.is_empty());
        let r = f.req(Method::HEAD, path, &[("range", "bytes=0-9")]).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(hdr(r.headers(), "content-length"), "10");
        assert_eq!(
            hdr(r.headers(), "content-range"),
            format!("bytes 0-9/{len}")
        );
        assert!(r.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn path_escapes_are_refused() {
    let f = start(|_| {}).await;
    let targets = [
        "/../outside/secret.txt",
        "/../../../../../../etc/passwd",
        "/default/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/%2E./outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/default/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/..%2Foutside/secret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/default/manifest.mpd%00.txt",
        "/%00",
        "//etc/passwd",
        "//outside/secret.txt",
        "/default//../../outside/secret.txt",
        "/C:/Windows/win.ini",
        "/c%3a/windows/win.ini",
        "/escape",
        "/escape_dir/secret.txt",
        "/.hidden",
        "/%2ehidden",
        "/./.hidden",
        "http://localhost/../outside/secret.txt",
        "/%c0%ae%c0%ae/outside/secret.txt",
        "/%252e%252e/outside/secret.txt",
    ];
    for t in targets {
        let (status, head, body) = raw(f.addr(), "GET", t).await;
        assert!(status == 400 || status == 404, "{t}: {head}");
        assert!(
            !body.windows(SECRET.len()).any(|w| w == SECRET),
            "{t} leaked the secret"
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("root:"),
            "{t} leaked passwd"
        );
        // all of these are refused by the origin itself (not hyper's parser), so CORS is present
        assert!(
            head.to_ascii_lowercase()
                .contains("access-control-allow-origin: *"),
            "{t}: {head}"
        );
    }
}

#[tokio::test]
async fn symlink_inside_root_is_served_and_dirs_are_not_listed() {
    let f = start(|_| {}).await;
    let r = f.get("/link.m4s", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], &pattern(1000, 2)[..]);
    for dir in ["/", "/default", "/default/", "/default/v720/", "/web/"] {
        let r = f.get(dir, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{dir}");
        assert_cors(r.headers());
    }
}

#[tokio::test]
async fn methods_other_than_get_head_options_are_405() {
    let f = start(|_| {}).await;
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        for path in ["/default/v720/1.m4s", "/nope", "/healthz", "/metrics"] {
            let r = f.req(m.clone(), path, &[]).await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            let allow = hdr(r.headers(), "allow");
            assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
            assert_cors(r.headers());
        }
    }
}

#[tokio::test]
async fn overlong_uri_is_414() {
    let f = start(|_| {}).await;
    let path = format!("/{}", "a".repeat(5000));
    let r = f.get(&path, &[]).await;
    assert_eq!(r.status(), StatusCode::URI_TOO_LONG);
    assert_cors(r.headers());
}

#[tokio::test]
async fn healthz_and_metrics() {
    let f = start(|_| {}).await;
    let r = f.get("/healthz", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), "ok");
    for _ in 0..3 {
        f.get("/default/v720/1.m4s", &[])
            .await
            .bytes()
            .await
            .unwrap();
    }
    f.get("/nope", &[]).await.bytes().await.unwrap();
    f.req(Method::HEAD, "/default/v720/1.m4s", &[]).await;
    let r = f.get("/metrics", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(hdr(r.headers(), "content-type").contains("openmetrics-text"));
    let text = r.text().await.unwrap();
    let e = serve::prom::Exposition::parse(&text).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        e.value(name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} not in\n{text}"))
    };
    use origin::metrics::*;
    assert!(value(REQUESTS_TOTAL_NAME, &[("method", "GET"), ("code", "200")]) >= 4.0);
    assert_eq!(
        value(REQUESTS_TOTAL_NAME, &[("method", "GET"), ("code", "404")]),
        1.0
    );
    assert_eq!(
        value(REQUESTS_TOTAL_NAME, &[("method", "HEAD"), ("code", "200")]),
        1.0
    );
    assert!(value(SENT_BYTES_TOTAL_NAME, &[]) >= 3000.0);
    assert_eq!(value(HOT_CACHE_MISSES_TOTAL_NAME, &[]), 1.0);
    assert_eq!(value(HOT_CACHE_HITS_TOTAL_NAME, &[]), 3.0);
    assert!(value(HOT_CACHE_BYTES_NAME, &[]) >= 1000.0);
    assert!(value(OPEN_CONNECTIONS_NAME, &[]) >= 1.0);
    let count = format!("{REQUEST_DURATION_SECONDS_NAME}_count");
    assert!(value(&count, &[]) >= 5.0);
    assert!(text.contains("dashcdn_origin_request_duration_seconds_bucket{le=\"0.0001\"}"));
    assert!(text.contains("dashcdn_origin_request_duration_seconds_bucket{le=\"10.0\"}"));
}

#[tokio::test]
async fn hot_cache_serves_updated_files() {
    let f = start(|_| {}).await;
    let path = f.root().join("default/v720/1.m4s");
    let r1 = f.get("/default/v720/1.m4s", &[]).await;
    let etag1 = hdr(r1.headers(), "etag").to_owned();
    assert_eq!(r1.bytes().await.unwrap().len(), 1000);
    // same length, new content and mtime
    std::fs::write(&path, pattern(1000, 9)).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(file);
    let r2 = f.get("/default/v720/1.m4s", &[]).await;
    let etag2 = hdr(r2.headers(), "etag").to_owned();
    assert_ne!(etag1, etag2);
    assert_eq!(&r2.bytes().await.unwrap()[..], &pattern(1000, 9)[..]);
    // old ETag no longer gives 304
    let r = f
        .get("/default/v720/1.m4s", &[("if-none-match", &etag1)])
        .await;
    assert_eq!(r.status(), 200);
    // different length
    std::fs::write(&path, b"short").unwrap();
    let r3 = f.get("/default/v720/1.m4s", &[]).await;
    assert_eq!(&r3.bytes().await.unwrap()[..], b"short");
    // removed
    std::fs::remove_file(&path).unwrap();
    assert_eq!(f.get("/default/v720/1.m4s", &[]).await.status(), 404);
}

#[tokio::test]
async fn hot_cache_ttl_revalidates() {
    let f = start(|c| c.hot_cache_revalidate_ms = 200).await;
    let path = f.root().join("default/manifest.mpd");
    assert_eq!(
        f.get("/default/manifest.mpd", &[])
            .await
            .text()
            .await
            .unwrap(),
        "<?xml version=\"1.0\"?><MPD/>"
    );
    std::fs::write(&path, b"<MPD v2/>").unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        f.get("/default/manifest.mpd", &[])
            .await
            .text()
            .await
            .unwrap(),
        "<MPD v2/>"
    );
}

#[tokio::test]
async fn web_root_is_mounted_at_web() {
    let web = tempfile::tempdir().unwrap();
    write(&web.path().join("index.html"), b"<p>player</p>");
    let wp = web.path().to_path_buf();
    let f = start(move |c| c.web_root = Some(wp)).await;
    let r = f.get("/web/index.html", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(r.headers(), "content-type"), "text/html; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "<p>player</p>");
    // content/web/player.js is shadowed by the mount
    assert_eq!(f.get("/web/player.js", &[]).await.status(), 404);
}

#[tokio::test]
async fn startup_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let err = origin::bind(OriginConfig::new(&missing, "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("does not exist") && msg.contains("no-such-dir"),
        "{msg}"
    );
    assert!(matches!(err, origin::OriginError::RootMissing(_)));

    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = origin::bind(OriginConfig::new(&file, "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = origin::bind(OriginConfig::new(dir.path(), addr))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot listen on") && msg.contains(&addr.to_string()),
        "{msg}"
    );
    assert!(matches!(err, origin::OriginError::Bind { .. }));
}

#[tokio::test]
async fn graceful_shutdown() {
    let f = start(|_| {}).await;
    let addr = f.addr();
    assert_eq!(f.get("/healthz", &[]).await.status(), 200);
    let Fixture {
        origin,
        client,
        dir,
    } = f;
    drop(client); // close idle keep-alive connections
    tokio::time::timeout(Duration::from_secs(5), origin.stop(Duration::from_secs(2)))
        .await
        .expect("stops in time")
        .expect("clean stop");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(dir);
}

/// CMSD (CTA-5006): `CMSD-Static` with the object type on media (an audio segment is `a`
/// by its representation's kind), `CMSD-Dynamic` with the origin's entry on every
/// response, both exposed to cross-origin pages; on the direct (sendfile) path too.
#[tokio::test]
async fn cmsd_static_on_media_and_dynamic_on_every_response() {
    let f = start(|_| {}).await;
    for (path, st) in [
        ("/default/manifest.mpd", Some("ot=m,sf=d")),
        ("/default/v720/init.mp4", Some("ot=i,sf=d")),
        ("/default/a128/1.m4s", Some("ot=a,sf=d")),
        ("/default/v720/1.m4s", Some("ot=v,sf=d")),
        ("/default/v720/big.m4s", Some("ot=v,sf=d")),
        ("/web/index.html", None),
        ("/nope.m4s", None),
    ] {
        let r = f.get(path, &[]).await;
        let h = r.headers();
        assert_eq!(
            h.get("cmsd-static").map(|v| v.to_str().unwrap()),
            st,
            "{path}"
        );
        let d = cmcd::CmsdDynamic::parse(hdr(h, "cmsd-dynamic")).unwrap();
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.entries[0].server, "origin");
        assert!(
            d.entries[0].rd.is_some() && !d.entries[0].du,
            "{path}: {d:?}"
        );
        let exposed = hdr(h, "access-control-expose-headers");
        assert!(exposed.contains("CMSD-Static") && exposed.contains("CMSD-Dynamic"));
    }
    // the direct HTTP/1.1 path (sendfile) carries them as well
    let (status, head, _) = raw(f.addr(), "GET", "/default/v720/big.m4s").await;
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("cmsd-static: ot=v,sf=d"), "{head}");
    assert!(head.contains("cmsd-dynamic: \"origin\";rd="), "{head}");
}
