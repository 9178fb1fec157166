//! The origin's looped live (`/live/...`) through a real edge process, on the wall clock:
//! the edge keeps a "not yet available" (`425`) answer only as long as the origin's
//! `max-age` allows, which ends before the segment's availability, so the first request
//! after that instant gets the segment; and it keeps the live MPD for at most a second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{content_root, start_edge, start_origin};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_never_serves_not_yet_past_availability() {
    let root = content_root();
    let (_origin, origin_url) = start_origin(&root);
    let (_edge, edge_url) = start_edge(&origin_url, "127.0.0.3:0", "edge-live", "64MiB");
    let client = reqwest::Client::new();

    // The MPD: dynamic, max-age=1, and never older than a second at the edge.
    let mut ages = Vec::new();
    for _ in 0..4 {
        let r = client
            .get(format!("{edge_url}/live/default/manifest.mpd"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "public, max-age=1");
        ages.push(
            r.headers()
                .get("age")
                .map_or(0, |a| a.to_str().unwrap().parse::<u64>().unwrap()),
        );
        assert!(r.text().await.unwrap().contains(r#"type="dynamic""#));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(ages.iter().all(|&a| a <= 1), "MPD ages {ages:?}");

    // A 2 s segment that becomes available 2.5..4.5 s from now: its first 425 carries
    // max-age ≥ 2, so the edge caches it.
    let now = now_ms();
    let mut n = now / 2000 + 1;
    if (n + 1) * 2000 - now < 2500 {
        n += 1;
    }
    let available_at = (n + 1) * 2000;
    let url = format!("{edge_url}/live/default/v144/{n}.m4s");
    let mut seen = Vec::new(); // (ms relative to availability, status, x-cache)
    loop {
        let sent = now_ms();
        let r = client.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let x_cache = r
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let _ = r.bytes().await.unwrap();
        seen.push((sent as i64 - available_at as i64, status, x_cache));
        if status == 200 {
            break;
        }
        assert!(
            now_ms() < available_at + 3000,
            "no 200 within 3 s of availability: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "live segment {n} through the edge (ms from availability, status, X-Cache): {seen:?}"
    );
    // not yet: only before the availability instant (request send times; 30 ms for the
    // edge's and origin's clocks read a moment later)
    for (t, status, _) in &seen {
        match status {
            425 => assert!(*t < 30, "a 425 at {t} ms after availability: {seen:?}"),
            200 => assert!(*t >= -30, "served {t} ms before availability: {seen:?}"),
            s => panic!("status {s}: {seen:?}"),
        }
    }
    assert!(
        seen.iter().any(|(_, s, x)| *s == 425 && x == "HIT"),
        "the edge never cached the not-yet answer: {seen:?}"
    );
    let first_ok = seen.last().unwrap().0;
    assert!(
        first_ok < 300,
        "the segment came {first_ok} ms after availability"
    );
    // and now it is cached as any segment
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "HIT");
}
