//! Benchmark helper for `edge/bench/edge_vs_varnish_nginx.sh`.
//!
//! ```text
//! burst slow-origin --listen ADDR --upstream URL --delay-ms 200
//!     A proxy in front of the real origin that waits DELAY before forwarding each request
//!     (a slow first byte) and counts requests and the body bytes it relays; `GET /__count`
//!     returns the request count, `GET /__bytes` the byte count (also used, with
//!     `--delay-ms 0`, as the upstream counter of `edge/bench/zipf_budget.sh`).
//! burst run --url URL --n 100 [--counter URL]
//!     Fires N concurrent GETs for URL at once, reads every body to the end, prints the
//!     latency percentiles (and the upstream request count delta read from --counter).
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[derive(Clone)]
struct Slow {
    upstream: String,
    delay: Duration,
    count: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    client: reqwest::Client,
}

async fn count(State(s): State<Slow>) -> String {
    format!("{}\n", s.count.load(Ordering::SeqCst))
}

async fn bytes(State(s): State<Slow>) -> String {
    format!("{}\n", s.bytes.load(Ordering::SeqCst))
}

async fn forward(State(s): State<Slow>, req: Request) -> Response {
    s.count.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(s.delay).await;
    let url = format!(
        "{}{}",
        s.upstream,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = s.client.get(url);
    for name in ["if-none-match", "if-modified-since", "range"] {
        if let Some(v) = req.headers().get(name) {
            out = out.header(name, v.clone());
        }
    }
    match out.send().await {
        Ok(r) => {
            let mut res = Response::builder().status(r.status().as_u16());
            for (k, v) in r.headers() {
                if k != "connection" && k != "transfer-encoding" {
                    res = res.header(k.as_str(), v.as_bytes());
                }
            }
            let relayed = s.bytes.clone();
            let body = r.bytes_stream().inspect(move |chunk| {
                if let Ok(c) = chunk {
                    relayed.fetch_add(c.len() as u64, Ordering::SeqCst);
                }
            });
            res.body(Body::from_stream(body)).unwrap()
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

async fn slow_origin(args: &[String]) -> anyhow::Result<()> {
    let listen = arg(args, "--listen").unwrap_or_else(|| "127.0.0.1:18079".into());
    let s = Slow {
        upstream: arg(args, "--upstream").expect("--upstream URL"),
        delay: Duration::from_millis(arg(args, "--delay-ms").map_or(200, |d| d.parse().unwrap())),
        count: Arc::new(AtomicU64::new(0)),
        bytes: Arc::new(AtomicU64::new(0)),
        client: reqwest::Client::builder().no_proxy().build()?,
    };
    let app = Router::new()
        .route("/__count", get(count))
        .route("/__bytes", get(bytes))
        .fallback(forward)
        .with_state(s);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn read_count(c: &reqwest::Client, url: &Option<String>) -> u64 {
    let Some(u) = url else { return 0 };
    let Ok(r) = c.get(u).send().await else {
        return 0;
    };
    r.text()
        .await
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

async fn run(args: &[String]) -> anyhow::Result<()> {
    let url = arg(args, "--url").expect("--url URL");
    let n: usize = arg(args, "--n").map_or(100, |v| v.parse().unwrap());
    let counter = arg(args, "--counter");
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(n)
        .timeout(Duration::from_secs(60))
        .build()?;
    let before = read_count(&client, &counter).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (c, u, b) = (client.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                let t0 = Instant::now();
                let r = c.get(&u).send().await?;
                let status = r.status().as_u16();
                let len = r.bytes().await?.len();
                anyhow::Ok((t0.elapsed().as_secs_f64() * 1000.0, status, len))
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(n);
    let mut bad = 0;
    let mut lens = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await? {
            Ok((ms, 200, len)) => {
                lat.push(ms);
                lens.insert(len);
            }
            _ => bad += 1,
        }
    }
    let after = read_count(&client, &counter).await;
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if lat.is_empty() {
        anyhow::bail!("no successful request");
    }
    // machine-readable line for the bench script
    println!(
        "burst n={n} ok={} failed={bad} distinct_lengths={} upstream_requests={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        lat.len(),
        lens.len(),
        after.saturating_sub(before),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1],
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("slow-origin") => slow_origin(&args).await,
        Some("run") => run(&args).await,
        _ => {
            eprintln!("usage: burst slow-origin --listen ADDR --upstream URL [--delay-ms 200]\n       burst run --url URL [--n 100] [--counter URL]");
            std::process::exit(2);
        }
    }
}
