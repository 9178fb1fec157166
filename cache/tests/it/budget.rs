//! The memory tier's byte budget holds under random and concurrent workloads.

use std::sync::Arc;

use bytes::Bytes;
use cache::{Cache, CacheConfig, Entry, Policy, ENTRY_OVERHEAD};
use workload::SplitMix64;

fn mem_cache(bytes: u64, policy: Policy) -> Cache {
    Cache::open(CacheConfig {
        mem_bytes: bytes,
        disk: None,
        policy,
    })
    .unwrap()
}

/// A body of `len` bytes sliced from a shared buffer (zero-copy; accounting counts `len`).
fn body(shared: &Bytes, len: usize) -> Bytes {
    shared.slice(..len)
}

#[test]
fn budget_holds_after_every_insert_random_workload() {
    let shared = Bytes::from(vec![0xAB; 3 << 20]);
    for policy in [Policy::S3Fifo, Policy::Lru] {
        let budget = 2 << 20;
        let c = mem_cache(budget, policy);
        let mut rng = SplitMix64::new(42);
        let (mut admitted, mut refused) = (0, 0);
        for i in 0..20_000u64 {
            // Mostly small, some large, a few larger than the whole budget.
            let len = match rng.below_mod(100) {
                0..=79 => rng.below_mod(20_000) as usize,
                80..=98 => rng.below_mod(400_000) as usize,
                _ => (budget as usize) + rng.below_mod(1 << 20) as usize,
            };
            let key = if rng.below_mod(4) == 0 {
                format!("hot/{}", rng.below_mod(50))
            } else {
                format!("obj/{i}")
            };
            let meta = Bytes::from(vec![b'm'; rng.below_mod(300) as usize]);
            let ok = c.insert(
                &key,
                Entry {
                    meta,
                    body: body(&shared, len),
                },
            );
            if len as u64 + ENTRY_OVERHEAD > budget {
                assert!(!ok, "{policy:?}: object larger than the budget admitted");
                assert!(c.get(&key).is_none());
                refused += 1;
            } else if ok {
                admitted += 1;
            }
            if rng.below_mod(3) == 0 {
                c.get(&format!("hot/{}", rng.below_mod(50)));
            }
            let s = c.stats();
            assert!(
                s.mem_bytes <= budget,
                "{policy:?}: {} > {budget} after insert {i}",
                s.mem_bytes
            );
        }
        let s = c.stats();
        assert!(admitted > 10_000 && refused > 0 && s.evictions_mem > 1_000);
    }
}

#[test]
fn budget_holds_under_concurrent_inserts() {
    let shared = Bytes::from(vec![0xCD; 9 << 20]);
    // 256 MiB: four shards.
    for (budget, max_len) in [(256u64 << 20, 9usize << 20), (1 << 20, 64 << 10)] {
        for policy in [Policy::S3Fifo, Policy::Lru] {
            let c = Arc::new(mem_cache(budget, policy));
            let threads: Vec<_> = (0..6u64)
                .map(|t| {
                    let c = Arc::clone(&c);
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let mut rng = SplitMix64::new(t + 1);
                        for i in 0..3_000u64 {
                            let len = rng.below_mod(max_len as u64) as usize;
                            let key = format!("t{t}/{}", i % 700);
                            c.insert(
                                &key,
                                Entry {
                                    meta: Bytes::from_static(b"meta"),
                                    body: body(&shared, len),
                                },
                            );
                            c.get(&format!("t{t}/{}", rng.below_mod(700)));
                            if i % 50 == 0 {
                                assert!(c.stats().mem_bytes <= budget);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let s = c.stats();
            assert!(
                s.mem_bytes <= budget,
                "{policy:?}: {} > {budget}",
                s.mem_bytes
            );
            assert!(s.mem_objects > 0);
        }
    }
}
