//! Client of `edge/bench/zipf_budget.sh`: one seeded Zipf workload, its content, its replay
//! against an HTTP cache, and the in-process simulation of the edge's memory policies on it.
//!
//! ```text
//! zipf_load content --dir DIR         write the N objects as DIR/zipf/<rank>.m4s
//! zipf_load info [--field NAME]       the trace's figures (JSON, or one number)
//! zipf_load run --base URL --counter URL --server NAME [--conns 16]
//!                                     replay the trace, one JSON line of results
//! zipf_load sim --budget BYTES        the same trace through cache::mem::MemTier
//!                                     (S3-FIFO and LRU), one JSON line per policy
//! zipf_load table FILE                markdown table of those JSON lines
//! ```
//!
//! Tests (workload determinism, byte-for-byte verification, simulation bounds):
//! `cargo test -p edge --example zipf_load`.
//!
//! Data flow: every subcommand rebuilds the same [`Workload`] from the same flags (objects,
//! requests, alpha, seed, size range): object sizes (log-uniform, independent of
//! popularity), then the request sequence (Zipf ranks; rank 0 is the most popular object),
//! then each object's bytes (a SplitMix64 stream seeded by the object's rank). `run` hands
//! the sequence out to `--conns` connections, each taking the next request, so every server
//! sees (nearly) the same order; it checks every body byte for byte against the generated
//! content, reads the server's own cache-status header (`X-Cache: HIT…` for the edge and
//! nginx, two ids in `X-Varnish` for Varnish), and reads the upstream counter
//! (`burst slow-origin`'s `/__count` and `/__bytes`) before and after: hit ratio =
//! 1 − upstream requests / requests, byte hit ratio = 1 − upstream bytes / bytes delivered.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cache::mem::MemTier;
use cache::{Policy, ENTRY_OVERHEAD};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use workload::{SplitMix64, Zipf};

/// Bytes the edge stores per object besides the body, the key and [`ENTRY_OVERHEAD`]: its
/// serialized response head (status, content-type, length, validators, cache-control,
/// timing). An estimate, used only by `sim` so that it weighs objects as the edge does.
const HEAD_ESTIMATE: u64 = 300;

#[derive(Parser)]
#[command(about = "Zipf workload with a cache budget: content, replay, simulation, table")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The workload's definition: identical flags give identical sizes, sequence and bytes.
#[derive(Args, Clone, Debug)]
struct WorkloadArgs {
    /// Number of distinct objects.
    #[arg(long, default_value_t = 2000)]
    objects: usize,
    /// Length of the request sequence.
    #[arg(long, default_value_t = 60_000)]
    requests: usize,
    /// Zipf exponent of the objects' popularity.
    #[arg(long, default_value_t = 0.9)]
    alpha: f64,
    /// Seed of sizes, sequence and content.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Smallest object size in bytes (sizes are log-uniform between min and max).
    #[arg(long, default_value_t = 20_000)]
    min_bytes: u64,
    /// Largest object size in bytes.
    #[arg(long, default_value_t = 400_000)]
    max_bytes: u64,
}

/// Labels copied into the JSON lines.
#[derive(Args, Clone, Debug)]
struct Labels {
    /// `block` field.
    #[arg(long, default_value = "edge_zipf")]
    block: String,
    /// `case` field (default: "zipf ALPHA, N objects, budget ...").
    #[arg(long)]
    case: Option<String>,
    /// `run` field (repetition number).
    #[arg(long, default_value_t = 1)]
    run: u32,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the objects as DIR/zipf/<rank>.m4s (the origin gives .m4s a one-year max-age).
    Content {
        #[command(flatten)]
        w: WorkloadArgs,
        /// Content directory (created).
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Print the trace's figures as JSON (or only one of them with --field).
    Info {
        #[command(flatten)]
        w: WorkloadArgs,
        /// Print only this field's value (e.g. working_set_bytes).
        #[arg(long)]
        field: Option<String>,
    },
    /// Replay the sequence against a cache and print one JSON line of results.
    Run {
        #[command(flatten)]
        w: WorkloadArgs,
        #[command(flatten)]
        labels: Labels,
        /// Base URL of the cache under test (objects are BASE/zipf/<rank>.m4s).
        #[arg(long)]
        base: String,
        /// Base URL of the upstream counter (`burst slow-origin`: /__count, /__bytes).
        #[arg(long)]
        counter: String,
        /// `server` field.
        #[arg(long)]
        server: String,
        /// Concurrent connections, each taking the next request of the shared sequence.
        #[arg(long, default_value_t = 16)]
        conns: usize,
        /// Cache budget in bytes (only reported).
        #[arg(long, default_value_t = 0)]
        budget: u64,
    },
    /// Simulate the edge's memory tier (S3-FIFO and LRU) on the same sequence.
    Sim {
        #[command(flatten)]
        w: WorkloadArgs,
        #[command(flatten)]
        labels: Labels,
        /// Memory budget in bytes.
        #[arg(long)]
        budget: u64,
    },
    /// Markdown table of JSON lines written by `run` and `sim`.
    Table {
        /// File of JSON lines.
        file: std::path::PathBuf,
    },
}

/// Object sizes and the request sequence.
struct Workload {
    args: WorkloadArgs,
    sizes: Vec<u64>,
    trace: Vec<u32>,
}

impl Workload {
    fn new(args: &WorkloadArgs) -> anyhow::Result<Workload> {
        if args.objects == 0 || args.objects > u32::MAX as usize || args.requests == 0 {
            bail!("--objects and --requests must be positive");
        }
        if args.min_bytes == 0 || args.min_bytes > args.max_bytes {
            bail!("need 0 < --min-bytes <= --max-bytes");
        }
        let mut rng = SplitMix64::new(args.seed);
        let (lo, hi) = ((args.min_bytes as f64).ln(), (args.max_bytes as f64).ln());
        let sizes = (0..args.objects)
            .map(|_| ((lo + rng.next_f64() * (hi - lo)).exp() as u64).max(args.min_bytes))
            .collect();
        let zipf = Zipf::new(args.objects, args.alpha)?;
        let mut rng = SplitMix64::new(args.seed ^ 0x7a69_7066_7472_6163);
        let trace = (0..args.requests)
            .map(|_| zipf.sample(&mut rng) as u32)
            .collect();
        Ok(Workload {
            args: args.clone(),
            sizes,
            trace,
        })
    }

    fn path(rank: u32) -> String {
        format!("/zipf/{rank}.m4s")
    }

    /// The generator of object `rank`'s bytes (little-endian u64 words, last one truncated).
    fn content_rng(&self, rank: u32) -> SplitMix64 {
        SplitMix64::new(self.args.seed.rotate_left(32) ^ ((u64::from(rank) + 1) * 0x9E37_79B9))
    }

    fn content(&self, rank: u32) -> Vec<u8> {
        let len = self.sizes[rank as usize] as usize;
        let mut rng = self.content_rng(rank);
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Whether `body` is exactly object `rank`'s content.
    fn verify(&self, rank: u32, body: &[u8]) -> bool {
        if body.len() as u64 != self.sizes[rank as usize] {
            return false;
        }
        let mut rng = self.content_rng(rank);
        body.chunks(8)
            .all(|c| c == &rng.next_u64().to_le_bytes()[..c.len()])
    }

    fn info(&self) -> Value {
        let mut seen = HashSet::new();
        let (mut ws, mut request_bytes) = (0u64, 0u64);
        for &k in &self.trace {
            let size = self.sizes[k as usize];
            request_bytes += size;
            if seen.insert(k) {
                ws += size;
            }
        }
        json!({
            "objects": self.args.objects,
            "requests": self.trace.len(),
            "alpha": self.args.alpha,
            "seed": self.args.seed,
            "distinct_objects": seen.len(),
            "all_objects_bytes": self.sizes.iter().sum::<u64>(),
            "working_set_bytes": ws,
            "request_bytes": request_bytes,
            // The compulsory-miss floor: every distinct object is fetched at least once.
            "max_hit_ratio": 1.0 - seen.len() as f64 / self.trace.len() as f64,
            "max_byte_hit_ratio": 1.0 - ws as f64 / request_bytes as f64,
        })
    }

    fn case(&self, labels: &Labels, budget: u64) -> String {
        labels.case.clone().unwrap_or_else(|| {
            let ws = self.info()["working_set_bytes"]
                .as_u64()
                .unwrap_or(1)
                .max(1);
            format!(
                "zipf {}, {} objects, budget {:.0}%",
                self.args.alpha,
                self.args.objects,
                budget as f64 * 100.0 / ws as f64
            )
        })
    }
}

fn content(w: &Workload, dir: &std::path::Path) -> anyhow::Result<()> {
    let sub = dir.join("zipf");
    std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    for rank in 0..w.sizes.len() as u32 {
        let p = sub.join(format!("{rank}.m4s"));
        std::fs::write(&p, w.content(rank)).with_context(|| format!("writing {}", p.display()))?;
    }
    println!(
        "{} objects, {} bytes in {}",
        w.sizes.len(),
        w.sizes.iter().sum::<u64>(),
        sub.display()
    );
    Ok(())
}

/// What one replay saw, summed over its connections.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    bytes: u64,
    /// Responses whose cache-status header says hit / says anything.
    self_hits: u64,
    self_reported: u64,
    latencies_ms: Vec<f64>,
    first_error: Option<String>,
}

/// The server's own verdict from its headers: `Some(true)` for a hit.
fn self_status(h: &reqwest::header::HeaderMap) -> Option<bool> {
    if let Some(v) = h.get("x-cache").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_ascii_uppercase().starts_with("HIT"));
    }
    // Varnish: "X-Varnish: <this request's id> <id of the request that fetched the object>".
    let v = h.get("x-varnish").and_then(|v| v.to_str().ok())?;
    Some(v.split_whitespace().count() >= 2)
}

async fn counter(c: &reqwest::Client, base: &str, what: &str) -> anyhow::Result<u64> {
    let url = format!("{base}/{what}");
    let text = c
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("GET {url}"))?
        .text()
        .await?;
    text.trim()
        .parse()
        .with_context(|| format!("{url}: not a number: {text:?}"))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(
    w: Arc<Workload>,
    labels: &Labels,
    base: &str,
    counter_base: &str,
    server: &str,
    conns: usize,
    budget: u64,
) -> anyhow::Result<()> {
    let conns = conns.max(1);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(60))
        .build()?;
    let (req0, bytes0) = (
        counter(&client, counter_base, "__count").await?,
        counter(&client, counter_base, "__bytes").await?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (w, next, tally, client) = (w.clone(), next.clone(), tally.clone(), client.clone());
            let base = base.trim_end_matches('/').to_string();
            tokio::spawn(async move {
                let mut mine = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&rank) = w.trace.get(i) else { break };
                    let t = Instant::now();
                    let url = format!("{base}{}", Workload::path(rank));
                    let outcome = async {
                        let r = client.get(&url).send().await?;
                        let status = r.status();
                        let verdict = self_status(r.headers());
                        let body = r.bytes().await?;
                        anyhow::Ok((status, verdict, body))
                    }
                    .await;
                    match outcome {
                        Ok((status, verdict, body)) if status == 200 && w.verify(rank, &body) => {
                            mine.ok += 1;
                            mine.bytes += body.len() as u64;
                            mine.latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                            if let Some(hit) = verdict {
                                mine.self_reported += 1;
                                mine.self_hits += u64::from(hit);
                            }
                        }
                        other => {
                            mine.failed += 1;
                            if mine.first_error.is_none() {
                                mine.first_error = Some(match other {
                                    Ok((status, _, body)) => format!(
                                        "{url}: status {status}, {} bytes (expected {})",
                                        body.len(),
                                        w.sizes[rank as usize]
                                    ),
                                    Err(e) => format!("{url}: {e:#}"),
                                });
                            }
                        }
                    }
                }
                let mut all = tally.lock().unwrap();
                all.ok += mine.ok;
                all.failed += mine.failed;
                all.bytes += mine.bytes;
                all.self_hits += mine.self_hits;
                all.self_reported += mine.self_reported;
                all.latencies_ms.append(&mut mine.latencies_ms);
                if all.first_error.is_none() {
                    all.first_error = mine.first_error;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let wall = t0.elapsed().as_secs_f64();
    // The upstream counts a body's bytes as they pass; a fill can still be finishing when
    // the last client response ends, so wait until the counter stands still.
    let (mut req1, mut bytes1) = (0, 0);
    for _ in 0..50 {
        let now = (
            counter(&client, counter_base, "__count").await?,
            counter(&client, counter_base, "__bytes").await?,
        );
        if now == (req1, bytes1) {
            break;
        }
        (req1, bytes1) = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    if let Some(e) = &t.first_error {
        eprintln!("{server}: {} failed requests; first: {e}", t.failed);
    }
    t.latencies_ms.sort_by(f64::total_cmp);
    let requests = w.trace.len() as u64;
    let (up_req, up_bytes) = (req1 - req0, bytes1 - bytes0);
    let info = w.info();
    let mut line = json!({
        "block": labels.block,
        "case": w.case(labels, budget),
        "server": server,
        "run": labels.run,
        "requests": requests,
        "ok": t.ok,
        "failed": t.failed,
        "bytes_delivered": t.bytes,
        "upstream_requests": up_req,
        "origin_bytes": up_bytes,
        "hit_ratio": 1.0 - up_req as f64 / requests as f64,
        "byte_hit_ratio": 1.0 - up_bytes as f64 / t.bytes.max(1) as f64,
        "wall_s": wall,
        "rps": requests as f64 / wall,
        "p50_ms": pct(&t.latencies_ms, 0.5),
        "p99_ms": pct(&t.latencies_ms, 0.99),
        "conns": conns,
        "budget_bytes": budget,
        "working_set_bytes": info["working_set_bytes"],
        "max_hit_ratio": info["max_hit_ratio"],
        "max_byte_hit_ratio": info["max_byte_hit_ratio"],
    });
    if t.self_reported > 0 {
        line["self_hit_ratio"] = json!(t.self_hits as f64 / t.self_reported as f64);
        line["self_reported"] = json!(t.self_reported);
    }
    println!("{line}");
    Ok(())
}

/// The in-process run of one policy: the sequence in order, one request at a time.
fn simulate(w: &Workload, policy: Policy, budget: u64) -> (u64, u64, u64) {
    let mut tier: MemTier<u32, ()> = MemTier::new(policy, budget);
    let (mut misses, mut miss_bytes, mut bytes) = (0u64, 0u64, 0u64);
    for &k in &w.trace {
        let size = w.sizes[k as usize];
        bytes += size;
        if tier.get(&k).is_none() {
            misses += 1;
            miss_bytes += size;
            let key_len = Workload::path(k).len() as u64;
            tier.insert(k, (), size + ENTRY_OVERHEAD + key_len + HEAD_ESTIMATE);
        }
    }
    (misses, miss_bytes, bytes)
}

fn sim(w: &Workload, labels: &Labels, budget: u64) {
    let info = w.info();
    for (name, policy) in [("sim-s3fifo", Policy::S3Fifo), ("sim-lru", Policy::Lru)] {
        let t0 = Instant::now();
        let (misses, miss_bytes, bytes) = simulate(w, policy, budget);
        let requests = w.trace.len() as u64;
        let line = json!({
            "block": labels.block,
            "case": w.case(labels, budget),
            "server": name,
            "run": labels.run,
            "simulated": true,
            "requests": requests,
            "ok": requests,
            "failed": 0,
            "bytes_delivered": bytes,
            "upstream_requests": misses,
            "origin_bytes": miss_bytes,
            "hit_ratio": 1.0 - misses as f64 / requests as f64,
            "byte_hit_ratio": 1.0 - miss_bytes as f64 / bytes as f64,
            "wall_s": t0.elapsed().as_secs_f64(),
            "budget_bytes": budget,
            "working_set_bytes": info["working_set_bytes"],
            "max_hit_ratio": info["max_hit_ratio"],
            "max_byte_hit_ratio": info["max_byte_hit_ratio"],
        });
        println!("{line}");
    }
}

fn table(file: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let Some(first) = rows.first() else {
        bail!("{}: no results", file.display())
    };
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "{}; {} requests; working set {:.1} MB, budget {:.1} MB",
        first["case"].as_str().unwrap_or(""),
        first["requests"],
        f(first, "working_set_bytes") / 1e6,
        f(first, "budget_bytes") / 1e6,
    );
    println!();
    println!("| server | hit ratio | byte hit ratio | origin requests | origin MB | own header says hit | failed | wall s | req/s | p99 ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let own = r["self_hit_ratio"]
            .as_f64()
            .map_or("-".to_string(), |x| format!("{x:.3}"));
        let live = |k: &str, digits: usize| {
            if r["simulated"].as_bool() == Some(true) {
                "-".to_string()
            } else {
                format!("{:.*}", digits, f(r, k))
            }
        };
        println!(
            "| {} | {:.3} | {:.3} | {} | {:.1} | {} | {} | {} | {} | {} |",
            r["server"].as_str().unwrap_or("?"),
            f(r, "hit_ratio"),
            f(r, "byte_hit_ratio"),
            r["upstream_requests"],
            f(r, "origin_bytes") / 1e6,
            own,
            r["failed"],
            live("wall_s", 1),
            live("rps", 0),
            live("p99_ms", 1),
        );
    }
    println!();
    println!(
        "Compulsory-miss floor (every distinct object fetched once): hit ratio <= {:.3}, byte hit ratio <= {:.3}.",
        f(first, "max_hit_ratio"),
        f(first, "max_byte_hit_ratio"),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Content { w, dir } => content(&Workload::new(&w)?, &dir),
        Cmd::Info { w, field } => {
            let info = Workload::new(&w)?.info();
            match field {
                Some(f) if info.get(&f).is_some() => println!("{}", info[&f]),
                Some(f) => bail!("no field {f:?} in {info}"),
                None => println!("{info}"),
            }
            Ok(())
        }
        Cmd::Run {
            w,
            labels,
            base,
            counter,
            server,
            conns,
            budget,
        } => {
            let w = Arc::new(Workload::new(&w)?);
            run(w, &labels, &base, &counter, &server, conns, budget).await
        }
        Cmd::Sim { w, labels, budget } => {
            sim(&Workload::new(&w)?, &labels, budget);
            Ok(())
        }
        Cmd::Table { file } => table(&file),
    }
}

#[cfg(test)]
mod tests {
    //! `cargo test -p edge --example zipf_load`
    use super::*;

    fn args(seed: u64) -> WorkloadArgs {
        WorkloadArgs {
            objects: 300,
            requests: 5_000,
            alpha: 0.9,
            seed,
            min_bytes: 20_000,
            max_bytes: 400_000,
        }
    }

    #[test]
    fn same_flags_same_workload_and_bytes() {
        let (a, b, c) = (
            Workload::new(&args(1)).unwrap(),
            Workload::new(&args(1)).unwrap(),
            Workload::new(&args(2)).unwrap(),
        );
        assert_eq!((&a.sizes, &a.trace), (&b.sizes, &b.trace));
        assert_ne!(a.trace, c.trace, "the seed changes the sequence");
        assert!(a.sizes.iter().all(|s| (20_000..=400_000).contains(s)));
        assert_eq!(a.content(7), b.content(7));
        assert_ne!(a.content(7), a.content(8));
        // Rank 0 is the most requested object.
        let count = |k: u32| a.trace.iter().filter(|&&r| r == k).count();
        assert!(count(0) > count(10) && count(10) > count(299));
    }

    #[test]
    fn verify_accepts_the_object_and_nothing_else() {
        let w = Workload::new(&args(1)).unwrap();
        let body = w.content(3);
        assert_eq!(body.len() as u64, w.sizes[3]);
        assert!(w.verify(3, &body));
        assert!(!w.verify(4, &body), "another object's name");
        assert!(!w.verify(3, &body[..body.len() - 1]), "truncated");
        let mut flipped = body.clone();
        flipped[body.len() / 2] ^= 1;
        assert!(!w.verify(3, &flipped), "one bit changed");
    }

    #[test]
    fn simulation_is_bounded_by_the_floor_and_s3fifo_beats_lru_here() {
        let w = Workload::new(&args(1)).unwrap();
        let info = w.info();
        let ws = info["working_set_bytes"].as_u64().unwrap();
        let floor_misses = info["distinct_objects"].as_u64().unwrap();
        let (s3, _, _) = simulate(&w, Policy::S3Fifo, ws / 10);
        let (lru, _, _) = simulate(&w, Policy::Lru, ws / 10);
        let (all, all_bytes, bytes) = simulate(&w, Policy::Lru, ws * 2);
        // A cache larger than the working set misses each object exactly once.
        assert_eq!(all, floor_misses);
        assert_eq!(all_bytes, ws);
        assert_eq!(bytes, info["request_bytes"].as_u64().unwrap());
        assert!(s3 > floor_misses && lru > floor_misses);
        assert!(s3 < lru, "S3-FIFO {s3} vs LRU {lru} misses");
    }
}
