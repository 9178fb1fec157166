//! Unit tests of the fill locks: coalescing, no linger, the memory budget and the window.

use super::*;

fn leader(a: Acquire) -> FillWriter {
    match a {
        Acquire::Leader(w) => w,
        Acquire::Follower(_) => panic!("expected leader"),
    }
}

fn follower(a: Acquire) -> FillReader {
    match a {
        Acquire::Follower(r) => r,
        Acquire::Leader(_) => panic!("expected follower"),
    }
}

fn locks(memory: u64, window: u64) -> FillLocks {
    FillLocks::with_budget(
        Duration::from_secs(5),
        FillBudget {
            memory,
            window,
            stall: Duration::from_secs(2),
        },
    )
}

#[tokio::test]
async fn leader_then_follower_streams() {
    let locks = FillLocks::new(Duration::from_secs(5));
    let mut w = leader(locks.acquire("k"));
    let mut r = follower(locks.acquire("k"));
    w.set_head(Bytes::from_static(b"h"));
    w.push(Bytes::from_static(b"ab"));
    assert_eq!(r.head().await.unwrap(), Bytes::from_static(b"h"));
    assert_eq!(
        r.next_chunk().await.unwrap().unwrap(),
        Bytes::from_static(b"ab")
    );
    w.push(Bytes::from_static(b"cd"));
    let e = w.entry().unwrap();
    assert_eq!(e.body, Bytes::from_static(b"abcd"));
    w.finish();
    assert_eq!(
        r.next_chunk().await.unwrap().unwrap(),
        Bytes::from_static(b"cd")
    );
    assert!(r.next_chunk().await.is_none());
    let s = locks.stats();
    assert_eq!((s.leaders, s.followers), (1, 1));
}

#[tokio::test]
async fn a_finished_fill_is_never_joined() {
    // RFC 9111 §4: the response completed; a later request must not get it replayed
    let locks = FillLocks::new(Duration::from_secs(5));
    let mut w = leader(locks.acquire("k"));
    let r = w.reader();
    w.set_head(Bytes::from_static(b"h"));
    w.push(Bytes::from_static(b"x"));
    w.finish();
    let _w2 = leader(locks.acquire("k"));
    assert_eq!(r.collect().await.unwrap().body, Bytes::from_static(b"x"));
    assert_eq!(locks.stats().in_flight, 1);
}

#[tokio::test]
async fn requests_during_the_store_insert_still_join() {
    // entry() before finish(): the fill is still running, so a request now is waiting for
    // the response and may join it
    let locks = FillLocks::new(Duration::from_secs(5));
    let mut w = leader(locks.acquire("k"));
    w.set_head(Bytes::from_static(b"h"));
    w.push(Bytes::from_static(b"x"));
    let _e = w.entry().unwrap();
    let r = follower(locks.acquire("k"));
    w.finish();
    assert_eq!(r.collect().await.unwrap().body, Bytes::from_static(b"x"));
}

#[tokio::test]
async fn detach_makes_later_requests_lead() {
    let locks = FillLocks::new(Duration::from_secs(5));
    let mut w = leader(locks.acquire("/a/1"));
    let r = follower(locks.acquire("/a/1"));
    let _other = leader(locks.acquire("/b/1"));
    assert_eq!(locks.detach("/a/"), 1);
    let _w2 = leader(locks.acquire("/a/1"));
    w.push(Bytes::from_static(b"old"));
    w.finish();
    // the reader attached before the purge still gets its answer
    assert_eq!(r.collect().await.unwrap().body, Bytes::from_static(b"old"));
    // the old writer's end did not unlock the new fill
    let _f = follower(locks.acquire("/a/1"));
}

#[tokio::test]
async fn known_length_is_kept_in_one_buffer_zero_copy() {
    let locks = locks(1 << 20, 1 << 10);
    let mut w = leader(locks.acquire("k"));
    let mut r = w.reader();
    w.set_head(Bytes::from_static(b"h"));
    assert!(w.plan_body(Some(6), Some(100)));
    assert_eq!(locks.stats().kept_bytes, 6);
    w.push_all(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
    w.push(Bytes::from_static(b"ef"));
    let first = r.next_chunk().await.unwrap().unwrap();
    assert_eq!(first, Bytes::from_static(b"abcd"));
    let e = w.entry().unwrap();
    assert_eq!(e.body, Bytes::from_static(b"abcdef"));
    // the readers' piece and the stored body are the same memory
    assert_eq!(e.body.as_ptr(), first.as_ptr());
    w.finish();
    assert_eq!(locks.stats().kept_bytes, 0);
    assert_eq!(
        r.next_chunk().await.unwrap().unwrap(),
        Bytes::from_static(b"ef")
    );
    assert!(r.next_chunk().await.is_none());
}

#[tokio::test]
async fn overlong_or_short_bodies_give_no_entry() {
    let locks = locks(1 << 20, 1 << 10);
    let mut w = leader(locks.acquire("k"));
    assert!(w.plan_body(Some(2), Some(100)));
    w.push(Bytes::from_static(b"abc"));
    assert!(w.entry().is_none());
    let mut w = leader(locks.acquire("k2"));
    assert!(w.plan_body(Some(4), Some(100)));
    w.push(Bytes::from_static(b"abc"));
    assert!(w.entry().is_none());
}

#[tokio::test]
async fn unknown_length_is_joined_once_and_the_fill_shares_it() {
    let locks = locks(1 << 20, 1 << 10);
    let mut w = leader(locks.acquire("k"));
    let late_reader_source = w.reader();
    assert!(w.plan_body(None, Some(100)));
    w.push(Bytes::from_static(b"ab"));
    w.push(Bytes::from_static(b"cd"));
    assert_eq!(locks.stats().kept_bytes, 4);
    let e = w.entry().unwrap();
    w.finish();
    let mut r = late_reader_source;
    let c = r.next_chunk().await.unwrap().unwrap();
    assert_eq!(c.as_ptr(), e.body.as_ptr());
    assert_eq!(locks.stats().kept_bytes, 0);
}

#[tokio::test]
async fn too_large_or_unstorable_bodies_stream() {
    let locks = locks(1 << 20, 1 << 10);
    let mut w = leader(locks.acquire("k"));
    assert!(!w.plan_body(Some(1000), Some(999)));
    assert!(!w.keeps_body());
    let mut w = leader(locks.acquire("k2"));
    assert!(!w.plan_body(Some(10), None));
    // unknown length that grows past the limit switches to streaming
    let mut w = leader(locks.acquire("k3"));
    let _r = w.reader();
    assert!(w.plan_body(None, Some(5)));
    w.push(Bytes::from_static(b"abc"));
    assert!(w.keeps_body());
    w.push(Bytes::from_static(b"def"));
    assert!(!w.keeps_body());
    assert!(w.entry().is_none());
    assert_eq!(locks.stats().kept_bytes, 0);
    assert_eq!(locks.stats().streamed, 3);
}

#[tokio::test]
async fn past_the_shared_budget_fills_stream() {
    let locks = locks(100, 1 << 10);
    let mut a = leader(locks.acquire("a"));
    assert!(a.plan_body(Some(60), Some(1000)));
    let mut b = leader(locks.acquire("b"));
    assert!(!b.plan_body(Some(60), Some(1000)));
    let mut c = leader(locks.acquire("c"));
    assert!(c.plan_body(Some(40), Some(1000)));
    assert_eq!(locks.stats().kept_bytes, 100);
    a.abort("x".into());
    drop(c);
    assert_eq!(locks.stats().kept_bytes, 0);
}

#[tokio::test]
async fn a_streamed_fill_keeps_only_the_window_and_waits_for_readers() {
    let locks = locks(0, 10);
    let mut w = leader(locks.acquire("k"));
    let mut r = w.reader();
    w.set_head(Bytes::from_static(b"h"));
    assert!(!w.plan_body(Some(40), Some(1000)));
    w.push(Bytes::from(vec![1u8; 10]));
    // the window is full: ready waits until the reader reads
    let waiting = tokio::time::timeout(Duration::from_millis(50), w.ready()).await;
    assert!(waiting.is_err(), "ready must wait for the slow reader");
    assert_eq!(r.next_chunk().await.unwrap().unwrap().len(), 10);
    assert!(w.ready().await);
    // the read chunk was dropped: the fill can no longer be joined from its start
    assert!(matches!(locks.acquire("k"), Acquire::Leader(_)));
    w.push(Bytes::from(vec![2u8; 5]));
    assert_eq!(r.next_chunk().await.unwrap().unwrap().len(), 5);
    drop(r);
    // nobody is left and nobody can join: stop fetching
    assert!(!w.ready().await);
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_stays_behind_is_cut_off() {
    let locks = FillLocks::with_budget(
        Duration::from_secs(5),
        FillBudget {
            memory: 0,
            window: 10,
            stall: Duration::from_secs(2),
        },
    );
    let mut w = leader(locks.acquire("k"));
    let mut fast = w.reader();
    let mut slow = w.reader();
    assert!(!w.plan_body(None, None));
    w.push(Bytes::from(vec![1u8; 10]));
    assert_eq!(fast.next_chunk().await.unwrap().unwrap().len(), 10);
    // `slow` never reads: after the stall time the writer goes on without it
    assert!(w.ready().await);
    assert_eq!(locks.stats().cut_off, 1);
    w.push(Bytes::from(vec![2u8; 3]));
    assert_eq!(fast.next_chunk().await.unwrap().unwrap().len(), 3);
    assert_eq!(
        slow.next_chunk().await.unwrap(),
        Err(FillError::Aborted(FELL_BEHIND.to_owned()))
    );
}

#[tokio::test]
async fn abandoned_fill_unlocks_and_tells_readers() {
    let locks = FillLocks::new(Duration::from_secs(5));
    let w = leader(locks.acquire("k"));
    let mut r = follower(locks.acquire("k"));
    drop(w);
    assert_eq!(r.head().await, Err(FillError::Abandoned));
    let _w2 = leader(locks.acquire("k"));
    assert_eq!(locks.stats().abandoned, 1);
}
