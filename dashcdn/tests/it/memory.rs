//! The edge's memory within its budget, measured as RSS (issue 12, item 5).
//!
//! A real `dashcdn origin` serves generated files (sparse: no disk or page-cache cost to
//! speak of), a real `dashcdn edge --mem 64MiB` sits in front, and a sampler reads the
//! edge's `VmRSS` from `/proc/<pid>/status` every 0.2 s:
//! * workload A: three parallel fetches of one 300 MB object (too large for the memory
//!   tier: it streams through the fill's window and is never held whole);
//! * workload B: 3,100 distinct 256 KiB segments (800 MB) through the edge, 8 at a time
//!   (each is kept whole while it fills, stored zero-copy, evicted as the budget demands).
//!
//! The bound: RSS ≤ `--mem` + the fills' budget (the default `fill_memory`) + a fixed
//! [`OVERHEAD`] of 48 MiB, both at the peak and 3 s after the workload (what is kept). The
//! overhead is what the process needs whatever the traffic: the binary's touched pages and
//! the runtime (16 MiB idle, debug build), plus per connection hyper's read/write buffers
//! (up to ~0.5 MiB each, tens of connections here), the fills' streaming windows (1 MiB
//! each) and malloc's slack between trims (freed pages go back within 1 s, see
//! `malloc_policy` in `main.rs`). Both figures are printed.
//!
//! By hand, against another build: `DASHCDN_MEMTEST_BIN=/path/to/dashcdn` runs the edge
//! from that binary, and `DASHCDN_MEMTEST_REPORT_ONLY=1` prints without asserting (to
//! measure a build from before the fix).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::http::client;
use test_support::process::{Process, LISTENING_TIMEOUT};
use test_support::rss::{vm_rss, RssSampler};

use crate::common::{start_origin, BIN};

const MIB: u64 = 1 << 20;
/// The edge's memory tier.
const MEM: u64 = 64 * MIB;
/// What the process needs beyond its budgets (see the module docs).
const OVERHEAD: u64 = 48 * MIB;
/// The large object of workload A.
const BIG: u64 = 300_000_000;
/// Workload B: this many segments of `SEGMENT` bytes.
const SEGMENTS: usize = 3_100;
const SEGMENT: u64 = 256 << 10;

/// The edge's default `fill_memory` (what the process under test runs with).
fn fill_memory() -> u64 {
    edge::EdgeConfig::new("http://127.0.0.1:1", "127.0.0.1:0".parse().unwrap())
        .fill_memory
        .0
}

/// The bound both the peak and the kept RSS are held to.
fn bound() -> u64 {
    MEM + fill_memory() + OVERHEAD
}

fn report_only() -> bool {
    std::env::var_os("DASHCDN_MEMTEST_REPORT_ONLY").is_some()
}

/// The edge's `VmRSS`, bytes (0 once it has exited).
fn rss(pid: u32) -> u64 {
    vm_rss(pid).unwrap_or(0)
}

/// A sparse file of `len` bytes (reads as zeros, costs no disk).
fn sparse(path: &Path, len: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// `dashcdn edge --mem 64MiB` in front of `upstream` (from `DASHCDN_MEMTEST_BIN` if set).
fn start_edge(upstream: &str) -> (Process, String) {
    let bin = std::env::var("DASHCDN_MEMTEST_BIN").unwrap_or_else(|_| BIN.to_owned());
    let mut p = Process::spawn(std::process::Command::new(bin).args([
        "edge",
        "--upstream",
        upstream,
        "--listen",
        "127.0.0.1:0",
        "--mem",
        "64MiB",
        "--prefetch",
        "0",
    ]))
    .unwrap();
    let url = p.listening(LISTENING_TIMEOUT).unwrap().url;
    (p, url)
}

/// Runs `workload` against a fresh origin + edge, samples the edge's RSS, prints the
/// figures and checks them against [`bound`].
async fn measure<F, Fut>(name: &str, setup: impl FnOnce(&Path), workload: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let (_origin, origin_url) = start_origin(dir.path());
    let (edge, edge_url) = start_edge(&origin_url);
    let pid = edge.id();
    let idle = rss(pid);
    let sampler = RssSampler::every(Duration::from_millis(200));
    sampler.watch("edge", pid, MEM + fill_memory(), OVERHEAD);
    let t0 = Instant::now();
    workload(edge_url).await;
    let took = t0.elapsed();
    // what stays: malloc hands free pages back within a second (main.rs)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = rss(pid);
    let peak = sampler.stop()[0].peak;
    let mib = |b: u64| b as f64 / MIB as f64;
    println!(
        "memory {name}: idle {:.1} MiB, peak {:.1} MiB, kept {:.1} MiB; budget {:.0} MiB \
         (--mem {:.0} + fills {:.0}), bound {:.0} MiB (+{:.0} fixed); workload {:.1} s",
        mib(idle),
        mib(peak),
        mib(kept),
        mib(MEM + fill_memory()),
        mib(MEM),
        mib(fill_memory()),
        mib(bound()),
        mib(OVERHEAD),
        took.as_secs_f64()
    );
    if !report_only() {
        assert!(
            peak <= bound(),
            "{name}: peak RSS {:.1} MiB over the bound {:.0} MiB",
            mib(peak),
            mib(bound())
        );
        assert!(
            kept <= bound(),
            "{name}: kept RSS {:.1} MiB over the bound {:.0} MiB",
            mib(kept),
            mib(bound())
        );
    }
}

/// Streams a GET's body, returning (status, X-Cache, bytes read).
async fn fetch(c: &reqwest::Client, url: &str) -> (u16, String, u64) {
    let mut r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let x_cache = r
        .headers()
        .get("x-cache")
        .map_or_else(String::new, |v| v.to_str().unwrap().to_owned());
    let mut n = 0;
    while let Some(chunk) = r.chunk().await.unwrap() {
        n += chunk.len() as u64;
    }
    (status, x_cache, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_rss_within_budget_three_parallel_fetches_of_300_mb() {
    measure(
        "A (3 x 300 MB in parallel)",
        |root| sparse(&root.join("big/object.bin"), BIG),
        |edge| async move {
            let c = client();
            let url = format!("{edge}/big/object.bin");
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let (c, url) = (c.clone(), url.clone());
                    tokio::spawn(async move { fetch(&c, &url).await })
                })
                .collect();
            for t in tasks {
                let (status, _, n) = t.await.unwrap();
                assert_eq!((status, n), (200, BIG));
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_rss_within_budget_3100_distinct_segments() {
    measure(
        "B (3,100 distinct 256 KiB segments)",
        |root| {
            for i in 0..SEGMENTS {
                sparse(&root.join(format!("t/v1/{i}.m4s")), SEGMENT);
            }
        },
        |edge| async move {
            let c = client();
            let next = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (c, edge, next) = (c.clone(), edge.clone(), next.clone());
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= SEGMENTS {
                                break;
                            }
                            let (status, x_cache, n) =
                                fetch(&c, &format!("{edge}/t/v1/{i}.m4s")).await;
                            assert_eq!((status, x_cache.as_str(), n), (200, "MISS", SEGMENT));
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
            // the most recent segments are held (the cache worked within its budget)
            let (status, x_cache, _) =
                fetch(&c, &format!("{edge}/t/v1/{}.m4s", SEGMENTS - 1)).await;
            assert_eq!((status, x_cache.as_str()), (200, "HIT"));
        },
    )
    .await;
}
