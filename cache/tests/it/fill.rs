//! Fill locks: coalescing, every failure mode, and the insert/finish ordering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache::{Acquire, Cache, CacheConfig, Entry, FillError, FillLocks, FillReader, Policy};
use tokio::sync::Barrier;

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![(i % 251) as u8; 1000 + i])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_acquires_one_leader_identical_bytes() {
    let locks = Arc::new(FillLocks::new(Duration::from_secs(10)));
    let barrier = Arc::new(Barrier::new(200));
    let leaders = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (locks, barrier, leaders) = (locks.clone(), barrier.clone(), leaders.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            match locks.acquire("/t/v1/7.m4s") {
                Acquire::Leader(mut w) => {
                    leaders.fetch_add(1, Ordering::SeqCst);
                    let reader = w.reader();
                    let client = tokio::spawn(reader.collect());
                    // Give followers time to pile up while the "upstream" trickles in.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    w.set_head(Bytes::from_static(b"HTTP/1.1 200"));
                    for i in 0..50 {
                        w.push(chunk(i));
                        if i % 10 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    let entry = w.entry().unwrap();
                    w.finish();
                    let mine = client.await.unwrap().unwrap();
                    assert_eq!(mine, entry);
                    mine
                }
                Acquire::Follower(r) => r.collect().await.unwrap(),
            }
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(leaders.load(Ordering::SeqCst), 1);
    let expected: Vec<u8> = (0..50).flat_map(|i| chunk(i).to_vec()).collect();
    for r in &results {
        assert_eq!(r.meta, Bytes::from_static(b"HTTP/1.1 200"));
        assert_eq!(r.body, expected);
    }
    let s = locks.stats();
    assert_eq!((s.leaders, s.followers), (1, 199));
}

fn expect_leader(a: Acquire) -> cache::FillWriter {
    match a {
        Acquire::Leader(w) => w,
        Acquire::Follower(_) => panic!("expected a leader"),
    }
}

fn expect_follower(a: Acquire) -> FillReader {
    match a {
        Acquire::Follower(r) => r,
        Acquire::Leader(_) => panic!("expected a follower"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_releases_followers_promptly_and_unlocks() {
    let locks = FillLocks::new(Duration::from_secs(30));
    let mut w = expect_leader(locks.acquire("k"));
    w.set_head(Bytes::from_static(b"h"));
    w.push(Bytes::from_static(b"partial"));
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let mut r = expect_follower(locks.acquire("k"));
            tokio::spawn(async move {
                assert_eq!(r.head().await.unwrap(), Bytes::from_static(b"h"));
                assert_eq!(r.next_chunk().await.unwrap().unwrap(), "partial");
                r.next_chunk().await.unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t0 = Instant::now();
    w.abort("upstream reset".into());
    for t in waiters {
        assert_eq!(
            t.await.unwrap(),
            Err(FillError::Aborted("upstream reset".into()))
        );
    }
    assert!(t0.elapsed() < Duration::from_secs(1));
    // The key is free again: a retry gets a fresh leader.
    let _retry = expect_leader(locks.acquire("k"));
    let s = locks.stats();
    assert_eq!((s.leaders, s.followers, s.aborted), (2, 20, 1));
}

#[tokio::test]
async fn abort_before_head() {
    let locks = FillLocks::new(Duration::from_secs(30));
    let w = expect_leader(locks.acquire("k"));
    let mut r = expect_follower(locks.acquire("k"));
    let t = tokio::spawn(async move { r.head().await });
    tokio::task::yield_now().await;
    w.abort("502".into());
    assert_eq!(t.await.unwrap(), Err(FillError::Aborted("502".into())));
}

#[tokio::test]
async fn dropped_writer_is_abandoned() {
    let locks = FillLocks::new(Duration::from_secs(30));
    let mut w = expect_leader(locks.acquire("k"));
    w.set_head(Bytes::from_static(b"h"));
    let mut r1 = expect_follower(locks.acquire("k"));
    let mut r2 = w.reader();
    let t = tokio::spawn(async move { (r1.head().await, r1.next_chunk().await) });
    tokio::task::yield_now().await;
    drop(w);
    let (head, next) = t.await.unwrap();
    assert!(head.is_ok());
    assert_eq!(next, Some(Err(FillError::Abandoned)));
    assert_eq!(r2.next_chunk().await, Some(Err(FillError::Abandoned)));
    let _retry = expect_leader(locks.acquire("k"));
    assert_eq!(locks.stats().abandoned, 1);
}

#[tokio::test]
async fn writer_dropped_by_cancelled_task_is_abandoned() {
    let locks = Arc::new(FillLocks::new(Duration::from_secs(30)));
    let l = locks.clone();
    let leader = tokio::spawn(async move {
        let _w = expect_leader(l.acquire("k"));
        std::future::pending::<()>().await;
    });
    tokio::task::yield_now().await;
    let mut r = expect_follower(locks.acquire("k"));
    leader.abort();
    assert_eq!(r.head().await, Err(FillError::Abandoned));
}

#[tokio::test]
async fn follower_times_out_without_progress() {
    let locks = FillLocks::new(Duration::from_millis(300));
    let mut w = expect_leader(locks.acquire("k"));
    let mut r = expect_follower(locks.acquire("k"));
    let t0 = Instant::now();
    assert_eq!(r.head().await, Err(FillError::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(300) && t0.elapsed() < Duration::from_secs(2));
    // Progress resets the clock: a chunk every 100 ms never times out.
    w.set_head(Bytes::from_static(b"h"));
    let mut r2 = expect_follower(locks.acquire("k"));
    let feeder = tokio::spawn(async move {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            w.push(Bytes::from_static(b"x"));
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        w
    });
    r2.head().await.unwrap();
    for _ in 0..5 {
        assert_eq!(r2.next_chunk().await.unwrap().unwrap(), "x");
    }
    assert_eq!(r2.next_chunk().await, Some(Err(FillError::Timeout)));
    assert_eq!(locks.stats().timeouts, 2);
    feeder.await.unwrap().finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_does_not_block_the_writer() {
    let locks = FillLocks::new(Duration::from_secs(30));
    let mut w = expect_leader(locks.acquire("k"));
    let mut slow = expect_follower(locks.acquire("k"));
    let fast = w.reader();
    let fast = tokio::spawn(fast.collect());
    // The slow reader reads one chunk and then stalls while the writer pushes 16 MB.
    w.set_head(Bytes::from_static(b"h"));
    w.push(chunk(0));
    slow.head().await.unwrap();
    assert_eq!(slow.next_chunk().await.unwrap().unwrap(), chunk(0));
    let t0 = Instant::now();
    let big = Bytes::from(vec![7u8; 64 * 1024]);
    for _ in 0..256 {
        w.push(big.clone());
    }
    let entry = w.entry().unwrap();
    w.finish();
    assert!(t0.elapsed() < Duration::from_secs(1), "writer was held up");
    assert_eq!(fast.await.unwrap().unwrap(), entry);
    // The slow reader still gets everything, in order, afterwards.
    let mut n = 0;
    while let Some(c) = slow.next_chunk().await {
        assert_eq!(c.unwrap(), big);
        n += 1;
    }
    assert_eq!(n, 256);
}

/// The edge's pattern, many times over: `get` → miss → `acquire` → leader looks in the
/// store once more (a fill may have completed since the `get`), fetches, takes the entry,
/// `insert`s it and only then `finish`es. Concurrent requests arriving at any moment must
/// never start a second upstream fetch, and none is handed the finished fill after `finish`
/// (there is no linger: they find the object in the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_second_fetch_around_insert_and_finish() {
    for round in 0..20 {
        let cache = Arc::new(
            Cache::open(CacheConfig {
                mem_bytes: 1 << 20,
                disk: None,
                policy: Policy::S3Fifo,
            })
            .unwrap(),
        );
        let locks = Arc::new(FillLocks::new(Duration::from_secs(10)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let key = format!("/r{round}");
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (cache, locks, fetches, key) =
                    (cache.clone(), locks.clone(), fetches.clone(), key.clone());
                tokio::spawn(async move {
                    // Spread arrivals over the fill's lifetime.
                    tokio::time::sleep(Duration::from_micros(50 * i)).await;
                    if let Some(e) = cache.get(&key) {
                        return e;
                    }
                    match locks.acquire(&key) {
                        Acquire::Leader(mut w) => {
                            if let Some(e) = cache.get(&key) {
                                return e;
                            }
                            fetches.fetch_add(1, Ordering::SeqCst);
                            w.set_head(Bytes::from_static(b"h"));
                            for c in 0..4 {
                                tokio::time::sleep(Duration::from_micros(300)).await;
                                w.push(chunk(c));
                            }
                            let e = w.entry().unwrap();
                            // The insert takes a while: others join the running fill.
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            cache.insert(&key, e.clone());
                            w.finish();
                            e
                        }
                        Acquire::Follower(r) => r.collect().await.unwrap(),
                    }
                })
            })
            .collect();
        let mut bodies = Vec::new();
        for t in tasks {
            bodies.push(t.await.unwrap());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "round {round}");
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
        let expected: Entry = bodies[0].clone();
        assert_eq!(cache.get(&key), Some(expected));
    }
}
