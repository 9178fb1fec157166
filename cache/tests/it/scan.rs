//! S3-FIFO keeps a hot set through a one-time scan; LRU loses it.

use bytes::Bytes;
use cache::{Cache, CacheConfig, Entry, Policy};

fn run(policy: Policy) -> usize {
    let c = Cache::open(CacheConfig {
        mem_bytes: 1 << 20,
        disk: None,
        policy,
    })
    .unwrap();
    let body = Bytes::from(vec![1u8; 10_000]);
    let entry = || Entry {
        meta: Bytes::new(),
        body: body.clone(),
    };
    // A hot set of 40 objects (~400 KB), each requested a few times.
    for round in 0..3 {
        for k in 0..40 {
            let key = format!("hot/{k}");
            if c.get(&key).is_none() {
                assert_eq!(round, 0);
                c.insert(&key, entry());
            }
        }
    }
    // A scan: 2,000 objects requested once each (20x the cache), with the hot set still
    // being requested at a low rate.
    for s in 0..2_000 {
        c.insert(&format!("scan/{s}"), entry());
        if s % 100 == 0 {
            for k in 0..40 {
                let key = format!("hot/{k}");
                if c.get(&key).is_none() {
                    c.insert(&key, entry());
                }
            }
        }
    }
    (0..40)
        .filter(|k| c.get(&format!("hot/{k}")).is_some())
        .count()
}

#[test]
fn s3fifo_is_scan_resistant_lru_is_not() {
    let s3 = run(Policy::S3Fifo);
    let lru = run(Policy::Lru);
    assert_eq!(s3, 40, "S3-FIFO lost hot objects to the scan");
    assert!(lru < 40, "LRU kept the whole hot set ({lru})");
}

#[test]
fn pure_scan_after_warmup() {
    // No hot accesses during the scan at all.
    for (policy, expect_kept) in [(Policy::S3Fifo, true), (Policy::Lru, false)] {
        let c = Cache::open(CacheConfig {
            mem_bytes: 1 << 20,
            disk: None,
            policy,
        })
        .unwrap();
        let e = Entry {
            meta: Bytes::new(),
            body: Bytes::from(vec![0u8; 10_000]),
        };
        for k in 0..40 {
            c.insert(&format!("hot/{k}"), e.clone());
            c.get(&format!("hot/{k}"));
        }
        for s in 0..1_000 {
            c.insert(&format!("scan/{s}"), e.clone());
        }
        let kept = (0..40)
            .filter(|k| c.get(&format!("hot/{k}")).is_some())
            .count();
        assert_eq!(kept == 40, expect_kept, "{policy:?} kept {kept}/40");
    }
}
