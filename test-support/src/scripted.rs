//! Scripted origins: a small HTTP/1.1 server on loopback whose answers are set per path by
//! the test — status, headers, body, and how the body goes out: at once, slowly, truncated
//! (a `Content-Length` the body never reaches), cut mid-body, after a first-byte delay, or
//! never (a hang) — and which records every request it gets, so a test of a hop in front
//! of it can say what was asked upstream and how often.
//!
//! [`ScriptedOrigin::set_down`] makes it an origin in trouble: while down it answers every
//! request at once with `503` (counted by [`ScriptedOrigin::requests`], not by
//! [`ScriptedOrigin::answered`]), which is how a flapping origin looks from the hop in
//! front of it.
//!
//! Paths are matched on the request path without the query; an unscripted path gets the
//! fallback reply (`404` unless [`ScriptedOrigin::fallback`] changes it). A path scripted
//! with a sequence answers its replies in order and then repeats the last one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use test_support::scripted::{Reply, ScriptedOrigin};
//! let o = ScriptedOrigin::start().await;
//! o.script("/a.m4s", Reply::ok("abc").header("cache-control", "max-age=60"));
//! let c = test_support::http::client();
//! let (status, _, body) = test_support::http::get(&c, &format!("{}/a.m4s", o.url())).await;
//! assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
//! assert_eq!(o.requests("/a.m4s"), 1);
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::watch;

/// How a reply's body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// All at once, with its `Content-Length`.
    Whole,
    /// In pieces of `chunk` bytes, one every `every` (no `Content-Length`: chunked).
    Slow {
        /// Bytes per piece.
        chunk: usize,
        /// Pause before each piece.
        every: Duration,
    },
    /// Declares the whole body's `Content-Length`, sends its first `sent` bytes, then closes
    /// the connection: a truncated response whose length the receiver knew.
    Truncated {
        /// Bytes sent before the close.
        sent: usize,
    },
    /// No `Content-Length` (chunked): sends the first `sent` bytes, then the connection is
    /// aborted mid-body, so the receiver sees an unterminated chunked body.
    CloseAfter {
        /// Bytes sent before the abort.
        sent: usize,
    },
    /// Never answers: the request is read, no response head is ever sent (until the
    /// server is dropped).
    Hang,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body (what [`Shape`] sends part of).
    pub body: Bytes,
    /// Wait this long before the response head.
    pub first_byte_delay: Duration,
    /// How the body goes out.
    pub shape: Shape,
}

impl Reply {
    /// `200` with `body`, sent at once.
    pub fn ok(body: impl Into<Bytes>) -> Reply {
        Reply::status(200).body(body)
    }

    /// `code` with an empty body.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Bytes::new(),
            first_byte_delay: Duration::ZERO,
            shape: Shape::Whole,
        }
    }

    /// A request that is never answered ([`Shape::Hang`]).
    pub fn hang() -> Reply {
        Reply {
            shape: Shape::Hang,
            ..Reply::status(200)
        }
    }

    /// With `body`.
    pub fn body(self, body: impl Into<Bytes>) -> Reply {
        Reply {
            body: body.into(),
            ..self
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The response head only after `delay`.
    pub fn first_byte_after(self, delay: Duration) -> Reply {
        Reply {
            first_byte_delay: delay,
            ..self
        }
    }

    /// The body in `chunk`-byte pieces, one every `every` ([`Shape::Slow`]).
    pub fn slow(self, chunk: usize, every: Duration) -> Reply {
        Reply {
            shape: Shape::Slow {
                chunk: chunk.max(1),
                every,
            },
            ..self
        }
    }

    /// Only the first `sent` bytes of a declared full length ([`Shape::Truncated`]).
    pub fn truncated_after(self, sent: usize) -> Reply {
        Reply {
            shape: Shape::Truncated { sent },
            ..self
        }
    }

    /// The first `sent` bytes, then the connection aborted ([`Shape::CloseAfter`]).
    pub fn close_after(self, sent: usize) -> Reply {
        Reply {
            shape: Shape::CloseAfter { sent },
            ..self
        }
    }
}

/// A request as the scripted origin received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method (`GET`, `HEAD`, …).
    pub method: String,
    /// Path and query as sent.
    pub path_and_query: String,
    /// Request headers.
    pub headers: http::HeaderMap,
}

#[derive(Debug)]
struct Script {
    replies: Vec<Reply>,
    next: usize,
}

#[derive(Debug)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    fallback: Mutex<Reply>,
    recorded: Mutex<Vec<Recorded>>,
    /// Requests answered with their script (not refused while down), per path.
    answered: Mutex<HashMap<String, u64>>,
    down: std::sync::atomic::AtomicBool,
    stop: watch::Receiver<bool>,
}

impl State {
    /// The reply for `path`, advancing its sequence.
    fn reply_for(&self, path: &str) -> Reply {
        match self.scripts.lock().unwrap().get_mut(path) {
            Some(s) => {
                let r = s.replies[s.next.min(s.replies.len() - 1)].clone();
                s.next += 1;
                r
            }
            None => self.fallback.lock().unwrap().clone(),
        }
    }
}

/// A running scripted origin; stops (and releases hung requests) on drop.
#[derive(Debug)]
pub struct ScriptedOrigin {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedOrigin {
    /// Starts one on `127.0.0.1:0` (inside a tokio runtime).
    pub async fn start() -> ScriptedOrigin {
        ScriptedOrigin::start_at("127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts one on `listen` (inside a tokio runtime).
    pub async fn start_at(listen: SocketAddr) -> ScriptedOrigin {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .unwrap_or_else(|e| panic!("scripted origin on {listen}: {e}"));
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let state = Arc::new(State {
            scripts: Mutex::default(),
            fallback: Mutex::new(Reply::status(404)),
            recorded: Mutex::default(),
            answered: Mutex::default(),
            down: Default::default(),
            stop: stop_rx,
        });
        let app = axum::Router::new().fallback({
            let state = Arc::clone(&state);
            move |req: Request| answer(Arc::clone(&state), req)
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedOrigin {
            addr,
            state,
            stop,
            task,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `path` with `reply` from now on.
    pub fn script(&self, path: &str, reply: Reply) -> &ScriptedOrigin {
        self.script_seq(path, vec![reply])
    }

    /// Answers `path` with `replies` in order, then the last one again and again.
    pub fn script_seq(&self, path: &str, replies: Vec<Reply>) -> &ScriptedOrigin {
        assert!(!replies.is_empty(), "a script for {path} needs a reply");
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(path.to_owned(), Script { replies, next: 0 });
        self
    }

    /// Answers every unscripted path with `reply` (instead of `404`).
    pub fn fallback(&self, reply: Reply) -> &ScriptedOrigin {
        *self.state.fallback.lock().unwrap() = reply;
        self
    }

    /// Requests received for `path` (any method, any query).
    pub fn requests(&self, path: &str) -> u64 {
        self.state
            .recorded
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path_and_query.split('?').next() == Some(path))
            .count() as u64
    }

    /// Requests for `path` answered with its script (not refused while down).
    pub fn answered(&self, path: &str) -> u64 {
        let a = self.state.answered.lock().unwrap();
        a.get(path).copied().unwrap_or(0)
    }

    /// Down (`true`: every request is answered `503` at once) or up again.
    pub fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Requests received in all.
    pub fn total_requests(&self) -> u64 {
        self.state.recorded.lock().unwrap().len() as u64
    }

    /// Every request received, in order of arrival.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }
}

impl Drop for ScriptedOrigin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

async fn answer(state: Arc<State>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    state.recorded.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map_or(path.clone(), |p| p.to_string()),
        headers: req.headers().clone(),
    });
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return response(503, &[], Body::empty());
    }
    *state
        .answered
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    let reply = state.reply_for(&path);
    let mut stop = state.stop.clone();
    if reply.shape == Shape::Hang {
        let _ = stop.wait_for(|stopped| *stopped).await;
        return response(503, &[], Body::empty());
    }
    tokio::time::sleep(reply.first_byte_delay).await;
    let body = reply.body.clone();
    let len = body.len().to_string();
    let mut headers = reply.headers.clone();
    let body = match reply.shape {
        Shape::Whole | Shape::Hang => Body::from(body),
        Shape::Slow { chunk, every } => {
            let pieces: Vec<Bytes> = (0..body.len())
                .step_by(chunk)
                .map(|at| body.slice(at..(at + chunk).min(body.len())))
                .collect();
            Body::from_stream(futures::stream::unfold(
                pieces.into_iter(),
                move |mut pieces| async move {
                    let piece = pieces.next()?;
                    tokio::time::sleep(every).await;
                    Some((Ok::<_, std::io::Error>(piece), pieces))
                },
            ))
        }
        Shape::Truncated { sent } => {
            headers.push(("content-length".into(), len));
            Body::from_stream(part_then(body.slice(..sent.min(body.len())), None))
        }
        Shape::CloseAfter { sent } => {
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "scripted cut");
            Body::from_stream(part_then(body.slice(..sent.min(body.len())), Some(cut)))
        }
    };
    response(reply.status, &headers, body)
}

/// A body stream: `part`, a pause (so the head and `part` are flushed to the socket before
/// the body ends), then the end of the stream or `error`. Ending short of the declared
/// `Content-Length`, or with an error, makes the server close the connection.
fn part_then(
    part: Bytes,
    error: Option<std::io::Error>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::unfold((Some(part), error), |(part, error)| async move {
        match part {
            Some(part) => Some((Ok(part), (None, error))),
            None => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                error.map(|e| (Err(e), (None, None)))
            }
        }
    })
}

fn response(status: u16, headers: &[(String, String)], body: Body) -> Response {
    let mut res = Response::new(body);
    *res.status_mut() = http::StatusCode::from_u16(status).expect("a valid status code");
    for (name, value) in headers {
        res.headers_mut().append(
            http::HeaderName::try_from(name.as_str()).expect("a valid header name"),
            http::HeaderValue::try_from(value.as_str()).expect("a valid header value"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{client, get};

    #[tokio::test]
    async fn scripted_paths_sequences_fallback_and_counts() {
        let o = ScriptedOrigin::start().await;
        o.script("/a", Reply::ok("abc").header("x-test", "1"));
        o.script_seq("/s", vec![Reply::status(500), Reply::ok("second")]);
        let c = client();
        let r = c.get(format!("{}/a?x=1", o.url())).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-test"], "1");
        assert_eq!(r.headers()["content-length"], "3");
        assert_eq!(r.text().await.unwrap(), "abc");
        assert_eq!(get(&c, &format!("{}/s", o.url())).await.0, 500);
        assert_eq!(get(&c, &format!("{}/s", o.url())).await.2, b"second");
        assert_eq!(get(&c, &format!("{}/s", o.url())).await.2, b"second");
        assert_eq!(get(&c, &format!("{}/nothing", o.url())).await.0, 404);
        o.fallback(Reply::status(410));
        assert_eq!(get(&c, &format!("{}/nothing", o.url())).await.0, 410);
        assert_eq!(
            (o.requests("/a"), o.requests("/s"), o.requests("/nothing")),
            (1, 3, 2)
        );
        assert_eq!(o.total_requests(), 6);
        o.set_down(true);
        assert_eq!(get(&c, &format!("{}/a", o.url())).await.0, 503);
        o.set_down(false);
        assert_eq!(get(&c, &format!("{}/a", o.url())).await.0, 200);
        assert_eq!((o.requests("/a"), o.answered("/a")), (3, 2));
        assert_eq!(o.recorded()[0].path_and_query, "/a?x=1");
    }

    #[tokio::test]
    async fn delays_and_slow_bodies_take_their_time() {
        let o = ScriptedOrigin::start().await;
        let body = vec![7u8; 1000];
        o.script(
            "/late",
            Reply::ok("x").first_byte_after(Duration::from_millis(300)),
        );
        o.script(
            "/slow",
            Reply::ok(body.clone()).slow(250, Duration::from_millis(100)),
        );
        let c = client();
        let t0 = std::time::Instant::now();
        assert_eq!(get(&c, &format!("{}/late", o.url())).await.2, b"x");
        assert!(t0.elapsed() >= Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        let r = c.get(format!("{}/slow", o.url())).send().await.unwrap();
        assert!(r.headers().get("content-length").is_none());
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
        assert!(
            t0.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );
    }

    #[tokio::test]
    async fn truncated_and_cut_bodies_fail_at_the_client() {
        let o = ScriptedOrigin::start().await;
        o.script("/t", Reply::ok(vec![1u8; 5000]).truncated_after(1000));
        o.script("/c", Reply::ok(vec![2u8; 5000]).close_after(1000));
        let c = client();
        let r = c.get(format!("{}/t", o.url())).send().await.unwrap();
        assert_eq!(r.headers()["content-length"], "5000");
        assert!(r.bytes().await.is_err(), "a truncated body is an error");
        let r = c.get(format!("{}/c", o.url())).send().await.unwrap();
        assert!(r.headers().get("content-length").is_none());
        assert!(r.bytes().await.is_err(), "a cut chunked body is an error");
        assert_eq!((o.requests("/t"), o.requests("/c")), (1, 1));
    }

    #[tokio::test]
    async fn a_hang_never_answers_until_dropped() {
        let o = ScriptedOrigin::start().await;
        o.fallback(Reply::hang());
        let url = format!("{}/x", o.url());
        let c = client();
        let r = tokio::time::timeout(Duration::from_millis(300), c.get(&url).send()).await;
        assert!(r.is_err(), "no answer within 300 ms");
        assert_eq!(o.requests("/x"), 1);
    }
}
