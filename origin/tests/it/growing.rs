//! Growing objects (`origin::growing`): a segment uploaded with a chunked `PUT` (written
//! by hand on a raw socket, one HTTP chunk at a time) is read with `GET` while it grows:
//! the reader gets the first chunk's bytes before the upload finishes, every byte in
//! order, a chunked response, and a clean end only when the upload completes; an aborted
//! upload cuts the reader's response (an error, never a clean end) and leaves nothing.

use std::time::{Duration, Instant};

use origin::ingest::IngestConfig;
use origin::{OriginConfig, RunningOrigin};
use reqwest::{Client, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "test-token-0123456789-abcdef";

async fn start(relay_bytes: u64) -> (tempfile::TempDir, RunningOrigin) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    std::fs::create_dir_all(&root).unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut config = OriginConfig::new(&root, "127.0.0.1:0".parse().unwrap());
    config.ingest = Some(IngestConfig {
        token_file: Some(token_file),
        relay_bytes,
        ..IngestConfig::default()
    });
    (dir, origin::bind(config).await.expect("bind"))
}

/// A chunked `PUT` in progress on a raw socket.
struct Upload(TcpStream);

impl Upload {
    async fn open(origin: &RunningOrigin, path: &str) -> Upload {
        let mut s = TcpStream::connect(origin.local_addr()).await.unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: o\r\nAuthorization: Bearer {TOKEN}\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        Upload(s)
    }

    async fn chunk(&mut self, data: &[u8]) {
        let mut buf = format!("{:x}\r\n", data.len()).into_bytes();
        buf.extend_from_slice(data);
        buf.extend_from_slice(b"\r\n");
        self.0.write_all(&buf).await.unwrap();
        self.0.flush().await.unwrap();
    }

    /// Sends the last chunk and returns the response's status line.
    async fn finish(mut self) -> String {
        self.0.write_all(b"0\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = self.0.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// `GET`s `url` until it is no longer 404 (the upload's handler has registered it).
async fn get_when_there(client: &Client, url: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = client.get(url).send().await.unwrap();
        if res.status() != StatusCode::NOT_FOUND || Instant::now() > deadline {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads from `res` until `want` bytes arrived (or fails after 5 s).
async fn read_exactly(res: &mut reqwest::Response, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let c = tokio::time::timeout(Duration::from_secs(5), res.chunk())
            .await
            .expect("chunk arrives within 5 s")
            .expect("no error")
            .expect("not the end");
        got.extend_from_slice(&c);
    }
    got
}

fn pattern(i: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|k| i.wrapping_mul(31).wrapping_add(k as u8))
        .collect()
}

#[tokio::test]
async fn a_reader_gets_each_chunk_as_it_is_uploaded_and_the_end_when_it_completes() {
    let (_dir, origin) = start(64 << 20).await;
    let client = Client::new();
    let path = "/ingest/s1/v/00001.m4s";
    let url = format!("http://{}{path}", origin.local_addr());
    let mut up = Upload::open(&origin, path).await;
    let first = pattern(1, 3000);
    up.chunk(&first).await;

    let mut reader = get_when_there(&client, &url).await;
    assert_eq!(reader.status(), StatusCode::OK);
    assert_eq!(
        reader
            .headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked"),
        "a growing object has no length yet"
    );
    assert!(reader.headers().get("content-length").is_none());
    // The first chunk's bytes arrive while the upload is still open.
    assert_eq!(read_exactly(&mut reader, first.len()).await, first);

    let mut all = first.clone();
    for i in 2..=5u8 {
        let c = pattern(i, 1000 + 500 * i as usize);
        let sent = Instant::now();
        up.chunk(&c).await;
        assert_eq!(read_exactly(&mut reader, c.len()).await, c, "chunk {i}");
        let delay = sent.elapsed();
        assert!(
            delay < Duration::from_millis(500),
            "chunk {i} relayed in {delay:?}"
        );
        all.extend_from_slice(&c);
    }
    // A second reader joining late gets the whole object from its first byte.
    let late = client.get(&url).send().await.unwrap();
    // Not the end yet: the upload is open.
    let pending = tokio::time::timeout(Duration::from_millis(200), reader.chunk()).await;
    assert!(pending.is_err(), "no clean end while the upload is open");
    let status = up.finish().await;
    assert!(status.contains("201"), "{status}");
    let rest = tokio::time::timeout(Duration::from_secs(5), reader.chunk())
        .await
        .unwrap()
        .expect("clean end");
    assert!(rest.is_none(), "the end, with no more bytes");
    assert_eq!(
        late.bytes().await.unwrap(),
        all,
        "late reader: every byte in order"
    );
    // From now on the file is served, with its length.
    let done = client.get(&url).send().await.unwrap();
    assert_eq!(done.content_length(), Some(all.len() as u64));
    assert_eq!(done.bytes().await.unwrap(), all);
    assert_eq!(origin.state().ingest().unwrap().growing().len(), 0);
    let metrics = client
        .get(format!("http://{}/metrics", origin.local_addr()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The first reader and the late one were answered from the growing object.
    let reads = format!("{} 2\n", origin::metrics::GROWING_READS_TOTAL_NAME);
    assert!(metrics.contains(&reads), "{metrics}");
    assert!(metrics.contains(&format!("{} 0\n", origin::metrics::GROWING_BYTES_NAME)));
}

#[tokio::test]
async fn an_aborted_upload_cuts_its_readers_and_leaves_nothing() {
    let (_dir, origin) = start(64 << 20).await;
    let client = Client::new();
    let path = "/ingest/s1/v/00002.m4s";
    let url = format!("http://{}{path}", origin.local_addr());
    let mut up = Upload::open(&origin, path).await;
    let first = pattern(7, 2000);
    up.chunk(&first).await;
    let mut reader = get_when_there(&client, &url).await;
    assert_eq!(reader.status(), StatusCode::OK);
    assert_eq!(read_exactly(&mut reader, first.len()).await, first);
    drop(up); // the encoder dies mid-segment
    let end = tokio::time::timeout(Duration::from_secs(5), reader.chunk())
        .await
        .expect("the reader hears of the abort");
    assert!(end.is_err(), "an aborted upload is an error, got {end:?}");
    let after = client.get(&url).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn relay_off_keeps_an_upload_invisible_until_complete() {
    let (_dir, origin) = start(0).await;
    let client = Client::new();
    let path = "/ingest/s1/v/00003.m4s";
    let url = format!("http://{}{path}", origin.local_addr());
    let mut up = Upload::open(&origin, path).await;
    up.chunk(b"abc").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(up.finish().await.contains("201"));
    assert_eq!(
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        "abc"
    );
}
