//! Miss-ratio comparison of the memory tier's policies (S3-FIFO vs LRU).
//!
//! ```sh
//! cargo run -p cache --release --example miss_ratio
//! ```
//!
//! Drives [`cache::mem::MemTier`] — the exact code the edge's memory shards run — with
//! weights only (no payloads), on deterministic seeded traces:
//!
//! * **zipf**: 2M requests over 100k objects, Zipf(0.9) popularity, sizes log-uniform in
//!   100 KB – 2 MB (independent of popularity).
//! * **dash**: 2M segment requests from 400 concurrent players. Titles (200; 10–60 min of
//!   4 s segments) are chosen with Zipf(0.9) popularity; a player starts at segment 1 (10%
//!   seek somewhere first), requests segments sequentially at one of four rungs (150 KB –
//!   1.6 MB per segment, ±30%), switches rung up/down with 5% probability per segment, and
//!   40% of sessions abandon early. Between 40% and 60% of the trace, 30% of requests are a
//!   one-hit-wonder sweep (a crawler/prefetcher touching cold segments once).
//! * **dash-noscan**: the same players without the sweep.
//!
//! Cache sizes are fractions of each trace's working set (bytes of distinct objects).
//! Miss ratios include compulsory (first-access) misses; the `floor` column is that minimum.

use std::collections::HashSet;

use cache::mem::MemTier;
use cache::Policy;
use workload::{SplitMix64, Zipf};

#[derive(Clone, Copy)]
struct Req {
    key: u64,
    size: u64,
}

fn zipf_trace(requests: usize) -> Vec<Req> {
    let mut rng = SplitMix64::new(0x5eed_0001);
    let n = 100_000;
    let (lo, hi) = ((100_000f64).ln(), (2_000_000f64).ln());
    let sizes: Vec<u64> = (0..n)
        .map(|_| (lo + rng.next_f64() * (hi - lo)).exp() as u64)
        .collect();
    let zipf = Zipf::new(n, 0.9).expect("valid Zipf parameters");
    (0..requests)
        .map(|_| {
            let k = zipf.sample(&mut rng);
            Req {
                key: k as u64,
                size: sizes[k],
            }
        })
        .collect()
}

/// Per-segment size: rung nominal size ±30%, a deterministic function of the segment.
fn segment_size(title: u64, rung: u64, seg: u64) -> u64 {
    const NOMINAL: [u64; 4] = [150_000, 400_000, 800_000, 1_600_000];
    let mut h = SplitMix64::new(title << 40 ^ rung << 32 ^ seg);
    (NOMINAL[rung as usize] as f64 * (0.7 + 0.6 * h.next_f64())) as u64
}

struct Player {
    title: u64,
    rung: u64,
    seg: u64,
    last: u64,
}

fn dash_trace(requests: usize, scan: bool) -> Vec<Req> {
    let mut rng = SplitMix64::new(0x5eed_0002);
    let titles = 200;
    let lengths: Vec<u64> = (0..titles).map(|_| 150 + rng.below_mod(751)).collect();
    let popularity = Zipf::new(titles, 0.9).expect("valid Zipf parameters");
    let new_player = |rng: &mut SplitMix64| {
        let title = popularity.sample(rng) as u64;
        let len = lengths[title as usize];
        let seg = if rng.below_mod(10) == 0 {
            1 + rng.below_mod(len)
        } else {
            1
        };
        let last = if rng.below_mod(10) < 4 {
            // Early abandonment: a couple of minutes at most.
            (seg + 1 + rng.below_mod(30)).min(len)
        } else {
            len
        };
        let rung = [0, 1, 1, 2, 2, 2, 3, 3][rng.below_mod(8) as usize];
        Player {
            title,
            rung,
            seg,
            last,
        }
    };
    let mut players: Vec<Player> = (0..400).map(|_| new_player(&mut rng)).collect();
    let mut one_hit = 0u64;
    let mut trace = Vec::with_capacity(requests);
    while trace.len() < requests {
        let progress = trace.len() as f64 / requests as f64;
        if scan && (0.4..0.6).contains(&progress) && rng.below_mod(10) < 3 {
            one_hit += 1;
            trace.push(Req {
                key: 1 << 63 | one_hit,
                size: segment_size(u64::MAX, rng.below_mod(4), one_hit),
            });
            continue;
        }
        let i = rng.below_mod(players.len() as u64) as usize;
        let p = &mut players[i];
        trace.push(Req {
            key: p.title << 32 | p.rung << 24 | p.seg,
            size: segment_size(p.title, p.rung, p.seg),
        });
        if rng.below_mod(100) < 5 {
            p.rung = if rng.below_mod(2) == 0 {
                p.rung.saturating_sub(1)
            } else {
                (p.rung + 1).min(3)
            };
        }
        p.seg += 1;
        if p.seg > p.last {
            players[i] = new_player(&mut rng);
        }
    }
    trace
}

struct Outcome {
    object_miss: f64,
    byte_miss: f64,
}

fn simulate(trace: &[Req], policy: Policy, capacity: u64) -> Outcome {
    let mut tier: MemTier<u64, ()> = MemTier::new(policy, capacity);
    let (mut misses, mut miss_bytes, mut bytes) = (0u64, 0u64, 0u64);
    for r in trace {
        bytes += r.size;
        if tier.get(&r.key).is_none() {
            misses += 1;
            miss_bytes += r.size;
            tier.insert(r.key, (), r.size);
        }
        debug_assert!(tier.used_bytes() <= capacity);
    }
    Outcome {
        object_miss: misses as f64 / trace.len() as f64,
        byte_miss: miss_bytes as f64 / bytes as f64,
    }
}

fn main() {
    let requests = 2_000_000;
    let workloads = [
        ("zipf", zipf_trace(requests)),
        ("dash", dash_trace(requests, true)),
        ("dash-noscan", dash_trace(requests, false)),
    ];
    println!(
        "| workload | cache size | S3-FIFO obj miss | LRU obj miss | S3-FIFO byte miss | LRU byte miss | floor (obj/byte) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, trace) in &workloads {
        let mut seen = HashSet::new();
        let (mut ws, mut first_bytes, mut all_bytes) = (0u64, 0u64, 0u64);
        for r in trace {
            all_bytes += r.size;
            if seen.insert(r.key) {
                ws += r.size;
                first_bytes += r.size;
            }
        }
        let floor_obj = seen.len() as f64 / trace.len() as f64;
        let floor_byte = first_bytes as f64 / all_bytes as f64;
        eprintln!(
            "{name}: {} requests, {} distinct objects, working set {:.1} GB",
            trace.len(),
            seen.len(),
            ws as f64 / 1e9
        );
        for pct in [1u64, 5, 10, 25] {
            let cap = ws * pct / 100;
            let s3 = simulate(trace, Policy::S3Fifo, cap);
            let lru = simulate(trace, Policy::Lru, cap);
            println!(
                "| {name} | {pct}% ({:.1} GB) | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} |",
                cap as f64 / 1e9,
                s3.object_miss,
                lru.object_miss,
                s3.byte_miss,
                lru.byte_miss,
                floor_obj,
                floor_byte
            );
        }
    }
}
