//! A slow origin (2 s to the first byte) and a flapping origin (down and up every
//! [`FLAP`]) behind a real `dashcdn edge`: the misses of many concurrent clients coalesce.
//!
//! The origin is test-support's [`ScriptedOrigin`] (in the test process: its RSS is the
//! test's, not sampled); the edge is a `dashcdn edge` process (`--prefetch 0`, no hints: only
//! the clients' requests reach it) whose circuit breaker pauses at most
//! [`BREAKER_MAX_OPEN_MS`].
//!
//! Pass conditions:
//! * slow: [`SLOW_CLIENTS`] clients × [`SLOW_OBJECTS`] distinct objects, all requests at
//!   once, every object answered `2 s` late: every client gets every body whole, the origin
//!   gets exactly one request per object (origin requests == distinct objects), and the
//!   whole burst takes less than half of [`SLOW_OBJECTS`] × [`SLOW_DELAY`] (the time the
//!   objects would take fetched one after another; alone on two cores it takes ~3.7 s);
//! * flapping: the origin answers `503` to everything while down (down [`FLAP`], up
//!   [`FLAP`], for as long as the clients need); [`FLAP_CLIENTS`] clients × [`FLAP_OBJECTS`]
//!   objects, all clients asking for object `i` from `i ×` [`STAGGER`] on (so the first asks
//!   span several flaps), each retrying every 100 ms until it gets it whole: every
//!   client gets every object within [`FLAP_DEADLINE`], the origin *answered* each object
//!   exactly once (its `503`s while down are not answers: the edge stores no error and no
//!   object twice), and it did refuse some requests (the flapping was seen);
//! * the edge's RSS within its budget + overhead throughout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::content::bytes_for;
use test_support::scripted::{Reply, ScriptedOrigin};

use super::*;
use crate::common::*;

const SLOW_DELAY: Duration = Duration::from_secs(2);
const SLOW_CLIENTS: usize = 32;
const SLOW_OBJECTS: usize = 16;
const FLAP: Duration = Duration::from_millis(1000);
const FLAP_CLIENTS: usize = 16;
const FLAP_OBJECTS: usize = 16;
const FLAP_DEADLINE: Duration = Duration::from_secs(30);
/// Object `i` of the flapping part is first asked for at `i × STAGGER`: the first asks
/// spread over several flaps (some land while the origin is down, some while it is up).
const STAGGER: Duration = Duration::from_millis(400);
const BREAKER_MAX_OPEN_MS: u64 = 1000;
const OBJECT_BYTES: usize = 200_000;

fn body(i: usize) -> Vec<u8> {
    bytes_for(1000 + i as u64, OBJECT_BYTES + i)
}

#[test]
fn slow_and_flapping_origins_get_one_request_per_object() {
    let _turn = one_at_a_time();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let rss = rss_sampler();
    let o = ScriptedOrigin::start().await;
    for i in 0..SLOW_OBJECTS {
        o.script(
            &format!("/slow/{i}.m4s"),
            Reply::ok(body(i))
                .header("cache-control", "max-age=3600")
                .first_byte_after(SLOW_DELAY),
        );
    }
    for i in 0..FLAP_OBJECTS {
        o.script(
            &format!("/flap/{i}.m4s"),
            Reply::ok(body(i))
                .header("cache-control", "max-age=3600")
                .first_byte_after(Duration::from_millis(300)),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!("breaker_max_open_ms = {BREAKER_MAX_OPEN_MS}\nbreaker_open_ms = 200\n"),
    )
    .unwrap();
    let (edge, edge_url) = start(&[
        "edge",
        "--config",
        cfg.to_str().unwrap(),
        "--upstream",
        &o.url(),
        "--listen",
        "127.0.0.2:0",
        "--mem",
        EDGE_MEM,
        "--prefetch",
        "0",
        "--prefetch-hints",
        "false",
    ]);
    rss.watch("edge", edge.id(), edge_budget(), OVERHEAD);
    let c = test_support::http::client();

    // Slow: every request at once.
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..SLOW_CLIENTS {
        for i in 0..SLOW_OBJECTS {
            let (c, url) = (c.clone(), format!("{edge_url}/slow/{i}.m4s"));
            tasks.push(tokio::spawn(async move {
                let (s, _, b) = test_support::http::get(&c, &url).await;
                (client, i, s, b.len())
            }));
        }
    }
    let mut bad = Vec::new();
    for t in tasks {
        let (client, i, s, n) = t.await.unwrap();
        if s != 200 || n != body(i).len() {
            bad.push(format!("client {client} object {i}: {s}, {n} bytes"));
        }
    }
    let slow_took = t0.elapsed();
    let per_object: Vec<u64> = (0..SLOW_OBJECTS)
        .map(|i| o.requests(&format!("/slow/{i}.m4s")))
        .collect();
    let slow = format!(
        "slow origin ({SLOW_DELAY:?} to first byte): {SLOW_CLIENTS} clients x {SLOW_OBJECTS} objects \
         in {slow_took:?}; origin requests per object {per_object:?}; bad answers {}",
        bad.len()
    );
    println!("fault slow_origin: {slow}");
    assert!(bad.is_empty(), "{slow}: {:?}", &bad[..bad.len().min(5)]);
    assert!(per_object.iter().all(|n| *n == 1), "{slow}");
    assert!(slow_took < SLOW_DELAY * SLOW_OBJECTS as u32 / 2, "{slow}");

    // Flapping: down and up every FLAP while the clients insist.
    let o = Arc::new(o);
    let flapper = {
        let o = Arc::clone(&o);
        tokio::spawn(async move {
            loop {
                o.set_down(true);
                tokio::time::sleep(FLAP).await;
                o.set_down(false);
                tokio::time::sleep(FLAP).await;
            }
        })
    };
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..FLAP_CLIENTS {
        let (c, edge_url) = (c.clone(), edge_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut tries = 0u64;
            for i in 0..FLAP_OBJECTS {
                // object i is first asked for at i × STAGGER, by every client at once
                tokio::time::sleep_until((t0 + STAGGER * i as u32).into()).await;
                let url = format!("{edge_url}/flap/{i}.m4s");
                loop {
                    tries += 1;
                    let got = async {
                        let r = c.get(&url).send().await?;
                        let s = r.status().as_u16();
                        Ok::<_, reqwest::Error>((s, r.bytes().await?.len()))
                    }
                    .await;
                    match got {
                        Ok((200, n)) if n == body(i).len() => break,
                        Ok((200, n)) => return Err(format!("{url}: 200 with {n} bytes")),
                        _ if t0.elapsed() > FLAP_DEADLINE => {
                            return Err(format!("{url}: not served by {FLAP_DEADLINE:?}"))
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
            Ok(tries)
        }));
    }
    let mut tries = 0;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(n) => tries += n,
            Err(e) => errors.push(e),
        }
    }
    let flap_took = t0.elapsed();
    flapper.abort();
    let answered: Vec<u64> = (0..FLAP_OBJECTS)
        .map(|i| o.answered(&format!("/flap/{i}.m4s")))
        .collect();
    let refused: u64 = (0..FLAP_OBJECTS)
        .map(|i| o.requests(&format!("/flap/{i}.m4s")))
        .sum::<u64>()
        - answered.iter().sum::<u64>();
    let flap = format!(
        "flapping origin ({FLAP:?} down / {FLAP:?} up): {FLAP_CLIENTS} clients x {FLAP_OBJECTS} \
         objects in {flap_took:?}, {tries} client tries; origin answers per object {answered:?}, \
         503s while down {refused}; errors {errors:?}"
    );
    println!("fault slow_origin: {flap}");
    assert!(errors.is_empty(), "{flap}");
    assert!(answered.iter().all(|n| *n == 1), "{flap}");
    assert!(refused > 0, "the origin never refused anything: {flap}");
    println!("{}", rss.assert_within("slow_origin"));
}
