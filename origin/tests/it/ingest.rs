//! Push ingest (`origin::ingest`): a real origin on 127.0.0.1:0 with `[ingest]` on, a
//! token in a file; uploads by reqwest, by a raw socket (aborted uploads) and by a real
//! `ffmpeg` dash muxer with `-method PUT`, read back with `GET` and decoded by ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use origin::ingest::IngestConfig;
use origin::{OriginConfig, RunningOrigin};
use reqwest::{Client, Method, StatusCode};
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "test-token-0123456789-abcdef";

struct Fx {
    dir: tempfile::TempDir,
    origin: RunningOrigin,
    client: Client,
}

impl Fx {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.origin.local_addr())
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("content")
    }

    async fn send(
        &self,
        m: Method,
        path: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> reqwest::Response {
        let mut rb = self.client.request(m, self.url(path)).body(body.to_vec());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send().await.expect("request")
    }

    async fn put(&self, path: &str, body: &[u8]) -> StatusCode {
        self.send(Method::PUT, path, Some(&bearer()), body)
            .await
            .status()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("get")
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

async fn start(tweak: impl FnOnce(&mut IngestConfig)) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    std::fs::create_dir_all(&root).unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut ingest = IngestConfig {
        token_file: Some(token_file),
        ..IngestConfig::default()
    };
    tweak(&mut ingest);
    let mut config = OriginConfig::new(&root, "127.0.0.1:0".parse().unwrap());
    config.ingest = Some(ingest);
    let origin = origin::bind(config).await.expect("bind");
    Fx {
        dir,
        origin,
        client: Client::new(),
    }
}

/// `dashcdn_origin_ingest_requests_total{outcome="..."}` in a metrics exposition (0 if absent).
fn ingest_count(metrics: &str, outcome: &str) -> u64 {
    let name = origin::metrics::INGEST_REQUESTS_TOTAL_NAME;
    let series = format!("{name}{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Files (not directories) under `dir`, recursively, relative names.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn ingest_token_missing_or_wrong_is_refused() {
    let fx = start(|_| {}).await;
    let r = fx.send(Method::PUT, "/ingest/s1/a.m4s", None, b"x").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate");
    assert!(www.to_str().unwrap().starts_with("Bearer"), "{www:?}");
    let r = fx
        .send(
            Method::PUT,
            "/ingest/s1/a.m4s",
            Some("Basic dXNlcjpwYXNz"),
            b"x",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let wrong = format!("Bearer {}X", &TOKEN[..TOKEN.len() - 1]);
    for m in [Method::PUT, Method::POST, Method::DELETE] {
        let r = fx
            .send(m.clone(), "/ingest/s1/a.m4s", Some(&wrong), b"x")
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{m}");
    }
    assert_eq!(
        fx.get("/ingest/s1/a.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(files_under(&fx.root().join("ingest")).is_empty());
    // The right token: stored, and POST works like PUT.
    assert_eq!(
        fx.put("/ingest/s1/a.m4s", b"hello").await,
        StatusCode::CREATED
    );
    let r = fx
        .send(Method::POST, "/ingest/s1/b.m4s", Some(&bearer()), b"b")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        fx.put("/ingest/s1/a.m4s", b"hello2").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        fx.get("/ingest/s1/a.m4s").await.bytes().await.unwrap(),
        &b"hello2"[..]
    );
    // Counted by outcome on /metrics, with the bytes stored (5 + 1 + 6).
    let m = fx.get("/metrics").await.text().await.unwrap();
    for (outcome, n) in [
        ("unauthorized", 2),
        ("forbidden", 3),
        ("stored", 2),
        ("replaced", 1),
    ] {
        assert_eq!(ingest_count(&m, outcome), n, "{outcome}: {m}");
    }
    let bytes = format!("{} 12\n", origin::metrics::INGEST_BYTES_TOTAL_NAME);
    assert!(m.contains(&bytes), "{m}");
    // Writes outside the prefix are not possible at all.
    let r = fx
        .send(Method::PUT, "/other/a.m4s", Some(&bearer()), b"x")
        .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The status of a `PUT` of `body` to `path` sent as written (no URL normalisation).
async fn raw_put(fx: &Fx, path: &str, body: &[u8]) -> u16 {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(fx.origin.local_addr())
        .await
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bearer(),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let line = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    line[9..12]
        .parse()
        .unwrap_or_else(|_| panic!("status line {line:?}"))
}

#[tokio::test]
async fn ingest_path_escapes_are_refused() {
    let fx = start(|_| {}).await;
    let outside = fx.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    for (path, want) in [
        ("/ingest/s1/..%2f..%2fx.m4s", StatusCode::BAD_REQUEST),
        ("/ingest/s1/%2e%2e/%2e%2e/x.m4s", StatusCode::BAD_REQUEST),
        ("/ingest/s1/a%5cb.m4s", StatusCode::BAD_REQUEST),
        ("/ingest/s1/.hidden", StatusCode::NOT_FOUND),
        ("/ingest/s1/", StatusCode::BAD_REQUEST),
        ("/ingest/s1", StatusCode::BAD_REQUEST),
    ] {
        // Raw, since reqwest's URL parser would resolve `%2e%2e` itself.
        assert_eq!(raw_put(&fx, path, b"evil").await, want.as_u16(), "{path}");
    }
    // A stream directory that is a symlink out of the root.
    std::os::unix::fs::symlink(&outside, fx.root().join("ingest/s2")).unwrap();
    let r = fx
        .send(Method::PUT, "/ingest/s2/x.m4s", Some(&bearer()), b"evil")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = fx
        .send(Method::DELETE, "/ingest/s2/x.m4s", Some(&bearer()), b"")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        files_under(&outside).is_empty(),
        "{:?}",
        files_under(&outside)
    );
    assert!(!fx.dir.path().join("x.m4s").exists());
}

/// An upload whose client goes away before the end (chunked, and with a
/// `Content-Length` it does not reach) leaves nothing visible, not even a temp file,
/// and a replaced object keeps its old bytes.
#[tokio::test]
async fn ingest_aborted_upload_is_never_visible() {
    // With the relay of growing objects off: an upload in progress is invisible. (With
    // it on, a reader of a new object in progress gets its bytes and, on an abort, a
    // cut response: tests/it/growing.rs.)
    let fx = start(|c| c.relay_bytes = 0).await;
    assert_eq!(
        fx.put("/ingest/s1/keep.m4s", b"old version").await,
        StatusCode::CREATED
    );
    let heads = [
        (
            "/ingest/s1/new.m4s",
            "Transfer-Encoding: chunked\r\n",
            &b"400\r\n"[..],
        ),
        (
            "/ingest/s1/keep.m4s",
            "Transfer-Encoding: chunked\r\n",
            &b"400\r\n"[..],
        ),
        ("/ingest/s1/cl.m4s", "Content-Length: 100000\r\n", &b""[..]),
    ];
    for (path, framing, prefix) in heads {
        let mut s = tokio::net::TcpStream::connect(fx.origin.local_addr())
            .await
            .unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n{framing}\r\n",
            bearer()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(prefix).await.unwrap();
        s.write_all(&[7u8; 512]).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // While the upload is in progress nothing is visible either.
        assert_eq!(
            fx.get("/ingest/s1/new.m4s").await.status(),
            StatusCode::NOT_FOUND
        );
        drop(s);
    }
    // The server notices the reset and discards the temp files.
    let dir = fx.root().join("ingest/s1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while files_under(&dir) != ["keep.m4s"] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files_under(&dir), ["keep.m4s"]);
    assert_eq!(
        fx.get("/ingest/s1/new.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fx.get("/ingest/s1/cl.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    let kept = fx.get("/ingest/s1/keep.m4s").await.bytes().await.unwrap();
    assert_eq!(kept, &b"old version"[..]);
}

#[tokio::test]
async fn ingest_size_and_count_limits() {
    let fx = start(|c| {
        c.max_object_bytes = 1000;
        c.max_objects_per_stream = 3;
        c.max_streams = 2;
    })
    .await;
    // Announced too large, and too large only as it streams in (chunked).
    assert_eq!(
        fx.put("/ingest/s1/big.m4s", &[1; 1001]).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..4).map(|_| Ok(vec![2u8; 400])).collect();
    let r = fx
        .client
        .put(fx.url("/ingest/s1/big2.m4s"))
        .header("authorization", bearer())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The server may answer 413 and close before reqwest finished sending.
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(
        fx.put("/ingest/s1/ok.m4s", &[3; 1000]).await,
        StatusCode::CREATED
    );
    assert_eq!(
        fx.get("/ingest/s1/big.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fx.get("/ingest/s1/big2.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    // Three objects per stream; replacing one is fine at the limit.
    assert_eq!(fx.put("/ingest/s1/b.m4s", b"b").await, StatusCode::CREATED);
    assert_eq!(fx.put("/ingest/s1/c.m4s", b"c").await, StatusCode::CREATED);
    assert_eq!(
        fx.put("/ingest/s1/d.m4s", b"d").await,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert_eq!(
        fx.put("/ingest/s1/c.m4s", b"c2").await,
        StatusCode::NO_CONTENT
    );
    let del = fx
        .send(Method::DELETE, "/ingest/s1/b.m4s", Some(&bearer()), b"")
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_eq!(fx.put("/ingest/s1/d.m4s", b"d").await, StatusCode::CREATED);
    // Two streams.
    assert_eq!(fx.put("/ingest/s2/a.m4s", b"a").await, StatusCode::CREATED);
    assert_eq!(
        fx.put("/ingest/s3/a.m4s", b"a").await,
        StatusCode::INSUFFICIENT_STORAGE
    );
}

#[tokio::test]
async fn ingest_delete_and_serve_back_headers() {
    let fx = start(|_| {}).await;
    let mpd = b"<?xml version=\"1.0\"?><MPD type=\"dynamic\"/>";
    assert_eq!(
        fx.put("/ingest/s1/manifest.mpd", mpd).await,
        StatusCode::CREATED
    );
    let r = fx.get("/ingest/s1/manifest.mpd").await;
    assert_eq!(r.headers()["content-type"], "application/dash+xml");
    assert_eq!(r.headers()["cache-control"], "public, max-age=1");
    assert_eq!(r.bytes().await.unwrap(), &mpd[..]);
    // Served as pushed, at once after a replacement (the hot cache entry is dropped).
    let mpd2 = b"<?xml version=\"1.0\"?><MPD type=\"dynamic\" id=\"2\"/>";
    assert_eq!(
        fx.put("/ingest/s1/manifest.mpd", mpd2).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        fx.get("/ingest/s1/manifest.mpd")
            .await
            .bytes()
            .await
            .unwrap(),
        &mpd2[..]
    );

    // Media type of a segment from the init segment uploaded beside it.
    let init = std::fs::read(audio_init(fx.dir.path()).await).unwrap();
    assert_eq!(
        fx.put("/ingest/s1/a0/init.m4s", &init).await,
        StatusCode::CREATED
    );
    assert_eq!(
        fx.put("/ingest/s1/a0/00001.m4s", b"moof").await,
        StatusCode::CREATED
    );
    let r = fx.get("/ingest/s1/a0/00001.m4s").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "audio/mp4");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));

    let auth = bearer();
    let del = |p: &'static str| fx.send(Method::DELETE, p, Some(&auth), b"");
    assert_eq!(
        del("/ingest/s1/a0/00001.m4s").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        fx.get("/ingest/s1/a0/00001.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        del("/ingest/s1/a0/00001.m4s").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!fx.root().join("ingest/s1/a0/00001.m4s").exists());
}

/// An AAC init segment written by ffmpeg (its `hdlr` says `soun`).
async fn audio_init(dir: &Path) -> PathBuf {
    let out = dir.join("a");
    std::fs::create_dir_all(&out).unwrap();
    let st = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=48000:duration=1")
        .args(["-c:a", "aac", "-f", "dash", "-seg_duration", "1"])
        .arg(out.join("m.mpd"))
        .status()
        .await
        .expect("ffmpeg");
    assert!(st.success());
    out.join("init-stream0.m4s")
}

/// `(representation id, initialization, media, startNumber, segment count)` of every
/// Representation of an ffmpeg MPD (SegmentTemplate with SegmentTimeline and `$Number$`).
fn templates(mpd: &str) -> Vec<(String, String, String, u64, u64)> {
    let attr = |s: &str, name: &str| -> Option<String> {
        let i = s.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(s[i..i + s[i..].find('"')?].to_string())
    };
    let mut out = Vec::new();
    for rep in mpd.split("<Representation ").skip(1) {
        let rep = &rep[..rep.find("</Representation>").unwrap_or(rep.len())];
        let Some(t) = rep.find("<SegmentTemplate") else {
            continue;
        };
        let tpl = &rep[t..];
        let count: u64 = tpl
            .split("<S ")
            .skip(1)
            .map(|s| 1 + attr(&format!(" {s}"), "r").map_or(0, |r| r.parse::<u64>().unwrap()))
            .sum();
        out.push((
            attr(&format!(" {rep}"), "id").unwrap(),
            attr(tpl, "initialization").unwrap(),
            attr(tpl, "media").unwrap(),
            attr(tpl, "startNumber").map_or(1, |n| n.parse().unwrap()),
            count,
        ));
    }
    out
}

fn media_url(media: &str, id: &str, number: u64) -> String {
    let m = media.replace("$RepresentationID$", id);
    let (a, rest) = m.split_once("$Number").expect("$Number$ template");
    let (fmt, b) = rest.split_once('$').unwrap();
    let n = match fmt.strip_prefix("%0").and_then(|w| w.strip_suffix('d')) {
        Some(w) => format!("{number:0width$}", width = w.parse().unwrap()),
        None => number.to_string(),
    };
    format!("{a}{n}{b}")
}

/// The main one: a real ffmpeg pushes 10 s of live DASH (testsrc2 + sine, 1 s segments,
/// chunked `PUT`s on a persistent connection, one representation per directory), and
/// deletes what leaves its window. The served MPD is dynamic and schema-valid, the
/// segments ffmpeg deleted are gone, and the newest segments decode.
#[tokio::test]
async fn ingest_real_ffmpeg_push_plays_back() {
    let fx = start(|_| {}).await;
    let t0 = Instant::now();
    let mut ff = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "warning", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "10", "-map", "0:v", "-map", "1:a"])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-b:v", "300k",
        ])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args(["-f", "dash", "-seg_duration", "1", "-streaming", "1"])
        .args(["-window_size", "4", "-extra_window_size", "2"])
        .args(["-init_seg_name", "r$RepresentationID$/init.$ext$"])
        .args(["-media_seg_name", "r$RepresentationID$/$Number%05d$.$ext$"])
        .args(["-method", "PUT", "-http_persistent", "1"])
        .arg("-http_opts")
        .arg(format!("headers=Authorization\\: Bearer {TOKEN}"))
        .arg(fx.url("/ingest/s1/manifest.mpd"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg");
    let stderr = ff.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut err = String::new();
        let _ = { stderr }.read_to_string(&mut err).await;
        err
    });

    // While ffmpeg pushes: once its window of 4 segments is full, the MPD as served.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first_seen = std::collections::HashSet::new();
    let (mpd, served_at) = loop {
        assert!(Instant::now() < deadline, "no full live MPD within 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = fx.get("/ingest/s1/manifest.mpd").await;
        if r.status() != StatusCode::OK {
            continue;
        }
        assert_eq!(r.headers()["content-type"], "application/dash+xml");
        assert_eq!(r.headers()["cache-control"], "public, max-age=1");
        let mpd = r.text().await.unwrap();
        for (id, _, media, _, _) in templates(&mpd) {
            let first = format!("/ingest/s1/{}", media_url(&media, &id, 1));
            if fx.get(&first).await.status() == StatusCode::OK {
                first_seen.insert(id);
            }
        }
        if templates(&mpd).iter().all(|t| t.4 >= 4) {
            break (mpd, t0.elapsed());
        }
    };
    assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
    manifests::schema::validate_xml_with_xmllint(&mpd).expect("pushed MPD is schema-valid");
    let reps = templates(&mpd);
    assert_eq!(reps.len(), 2, "{reps:?}");
    let mut decoded = Vec::new();
    for (id, init, media, start, count) in &reps {
        // The newest three segments, behind the init, decode.
        let init_url = format!("/ingest/s1/{}", init.replace("$RepresentationID$", id));
        let mut data = fx.get(&init_url).await.bytes().await.unwrap().to_vec();
        let newest = start + count - 1;
        for n in newest - 2..=newest {
            let r = fx
                .get(&format!("/ingest/s1/{}", media_url(media, id, n)))
                .await;
            assert_eq!(r.status(), StatusCode::OK, "segment {n} of {id}");
            let want = if id == "0" { "video/mp4" } else { "audio/mp4" };
            assert_eq!(r.headers()["content-type"], want);
            assert!(r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"));
            data.extend_from_slice(&r.bytes().await.unwrap());
        }
        decoded.push((id.clone(), data));
    }
    eprintln!(
        "live MPD with a full window served at {:.1} s",
        served_at.as_secs_f64()
    );

    let status = tokio::time::timeout(Duration::from_secs(40), ff.wait())
        .await
        .expect("ffmpeg ran longer than 40 s")
        .unwrap();
    let err = stderr.await.unwrap();
    assert!(status.success(), "ffmpeg failed: {err}");
    eprintln!("ffmpeg pushed for {:.1} s", t0.elapsed().as_secs_f64());
    // At exit ffmpeg pushes its last segment and a final (static) MPD; every upload
    // completed, so no temp file is left, and the MPD is served as pushed.
    let dir = fx.root().join("ingest/s1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while files_under(&dir).iter().any(|f| f.contains(".part")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !files_under(&dir).iter().any(|f| f.contains(".part")),
        "{:?}",
        files_under(&dir)
    );
    let m = fx.get("/metrics").await.text().await.unwrap();
    assert!(
        ingest_count(&m, "deleted") >= 8,
        "4 segments per representation: {m}"
    );
    // Two inits, at least 8 segments per representation, the MPD.
    assert!(ingest_count(&m, "stored") > 2 * (1 + 8), "{m}");
    let last = fx
        .get("/ingest/s1/manifest.mpd")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        last,
        std::fs::read_to_string(dir.join("manifest.mpd")).unwrap()
    );
    for (id, _, media, _, _) in templates(&last) {
        // ffmpeg DELETEd the segments that left its window (+2 extra): the first one
        // was served while it was in the window, and is gone now.
        assert!(first_seen.contains(&id), "segment 1 of {id} never served");
        let first_gone = media_url(&media, &id, 1);
        assert_eq!(
            fx.get(&format!("/ingest/s1/{first_gone}")).await.status(),
            StatusCode::NOT_FOUND,
            "{first_gone} should have been deleted"
        );
        let stored = files_under(&dir.join(format!("r{id}")));
        assert!(stored.len() <= 1 + 4 + 2 + 1, "{stored:?}");
    }

    for (id, data) in decoded {
        let file = fx.dir.path().join(format!("newest-{id}.mp4"));
        std::fs::write(&file, &data).unwrap();
        let probe = tokio::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .arg("stream=codec_name,width,nb_read_frames")
            .args(["-of", "csv=p=0"])
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert!(
            probe.status.success(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        assert!(
            probe.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let line = String::from_utf8(probe.stdout).unwrap();
        let fields: Vec<&str> = line.trim().split(',').collect();
        let frames: u64 = fields.last().unwrap().parse().unwrap();
        if id == "0" {
            assert_eq!(fields[0], "h264", "{line}");
            assert_eq!(fields[1], "320", "{line}");
            assert!((70..=80).contains(&frames), "3 s at 25 fps: {line}");
        } else {
            assert_eq!(fields[0], "aac", "{line}");
            // 3 s of 48 kHz AAC, 1024 samples per frame: ~140.
            assert!((130..=150).contains(&frames), "{line}");
        }
    }
}
