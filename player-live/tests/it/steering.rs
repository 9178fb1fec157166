//! Content steering during playback (`resolve::steer`): a real player ([`play`]) against
//! two scripted "edges" (pathways `a` on 127.0.0.2, `b` on 127.0.0.3) and a scripted
//! steering server that ranks `a` first for its first three answers and `b` first after.
//! The player starts on the MPD's `defaultServiceLocation`, re-asks `/steer` every TTL of
//! its own clock (sending `_DASH_pathway` and `_DASH_throughput`), and moves to `b` in the
//! middle of the playback, once. A steering server that fails keeps the default pathway
//! and the playback completes. Each case takes ~2 s of wall time.

use std::sync::Arc;

use player_live::{play, Entry, PlayOptions, Shaper};
use player_sim::input::{Period, Trace, TraceData};
use test_support::scripted::{Reply, ScriptedOrigin};

const SEGMENTS: usize = 10;

fn mpd(a: &str, b: &str, steer: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT{SEGMENTS}S" minBufferTime="PT2S">
  <BaseURL serviceLocation="a">{a}/t/</BaseURL>
  <BaseURL serviceLocation="b">{b}/t/</BaseURL>
  <ContentSteering defaultServiceLocation="a" queryBeforeStart="true">{steer}/steer?asset=t</ContentSteering>
  <Period id="0">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1" duration="1" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
      <Representation id="v0" bandwidth="30000"/>
    </AdaptationSet>
  </Period>
</MPD>"#
    )
}

fn steering(first: &str, second: &str) -> Reply {
    Reply::ok(format!(
        r#"{{"VERSION":1,"TTL":1,"PATHWAY-PRIORITY":["{first}","{second}"]}}"#
    ))
    .header("content-type", "application/json")
}

/// Plays the MPD behind a steering server scripted with `steer`; returns the media
/// requests' pathways in order (`a`/`b`) and the steering requests as sent.
fn run(steer: Vec<Reply>) -> (String, Vec<String>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b, s) = rt.block_on(async {
        let mut edges = Vec::new();
        for ip in ["127.0.0.2", "127.0.0.3"] {
            let o = ScriptedOrigin::start_at(format!("{ip}:0").parse().unwrap()).await;
            o.script("/t/v0/init.mp4", Reply::ok(vec![0u8; 100]));
            for i in 1..=SEGMENTS {
                // 4 kB: 0.8 s of the 40 kbit/s link below.
                o.script(&format!("/t/v0/{i}.m4s"), Reply::ok(vec![i as u8; 4000]));
            }
            edges.push(o);
        }
        let s = ScriptedOrigin::start().await;
        let b = edges.pop().unwrap();
        let a = edges.pop().unwrap();
        (a, b, s)
    });
    s.script(
        "/t/manifest.mpd",
        Reply::ok(mpd(&a.url(), &b.url(), &s.url())),
    );
    s.script_seq("/steer", steer);
    let mut opts = PlayOptions::new(
        Entry::Url(format!("{}/t/manifest.mpd", s.url())),
        rt.handle().clone(),
    )
    .unwrap();
    opts.audio = false;
    opts.abr = "fixed".into();
    opts.clock_scale = 4.0;
    let link = Trace {
        name: "40k".into(),
        data: TraceData::Periods(vec![Period {
            duration_ms: 3_600_000.0,
            bandwidth_kbps: 40.0,
            latency_ms: 0.0,
        }]),
    };
    opts.shaper = Arc::new(Shaper::try_from_trace(&link, 4.0).unwrap());
    let p = play(&opts).unwrap_or_else(|e| panic!("{e}"));
    let path: String = p
        .media()
        .map(|f| {
            if f.url.starts_with(&a.url()) {
                'a'
            } else if f.url.starts_with(&b.url()) {
                'b'
            } else {
                panic!("{}", f.url)
            }
        })
        .collect();
    assert_eq!(path.len(), SEGMENTS);
    println!("media pathways {path}");
    let asked = s
        .recorded()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/steer"))
        .map(|r| r.path_and_query)
        .collect::<Vec<_>>();
    println!("steering requests {asked:?}");
    (path, asked)
}

#[test]
fn the_player_follows_steering_updates_during_playback() {
    let mut answers = vec![steering("a", "b"); 3];
    answers.push(steering("b", "a"));
    let (path, asked) = run(answers);
    // Starts on the default pathway, moves once, stays.
    assert!(path.starts_with('a') && path.ends_with('b'), "{path}");
    assert_eq!(path.matches("ab").count(), 1, "{path}");
    assert!(path.matches('a').count() >= 2, "{path}");
    // Asked before the first segment, then about every TTL (1 s of a 10 s playback).
    assert!((4..=12).contains(&asked.len()), "{asked:?}");
    assert!(
        asked[0].starts_with("/steer?asset=t&_DASH_pathway=%22a%22"),
        "{asked:?}"
    );
    // _DASH_throughput: the last video download's rate on the player's clock, bits/s (the
    // link is 40 kbit/s).
    let tput: f64 = asked[1]
        .split("&_DASH_throughput=")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{asked:?}"));
    assert!((30_000.0..=50_000.0).contains(&tput), "{tput}");
    let last = asked.last().unwrap();
    assert!(last.contains("_DASH_pathway=%22b%22"), "{asked:?}");
}

#[test]
fn a_failing_steering_server_keeps_the_default_pathway() {
    let (path, asked) = run(vec![Reply::status(503)]);
    assert_eq!(path, "a".repeat(SEGMENTS));
    // Retried, but not at every segment (5 s after a failure).
    assert!((1..=3).contains(&asked.len()), "{asked:?}");
}
