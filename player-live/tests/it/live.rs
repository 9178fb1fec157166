//! A live session against a scripted server whose clock is 5 s ahead of ours: the player
//! must take the server's time from `UTCTiming` (http-iso), join at the server's live edge −
//! the target latency, treat a `425` as "not yet" (counted, retried, then played) and report
//! its latency on the server's clock.

use player_live::{play, Entry, PlayOptions};
use test_support::scripted::{Reply, ScriptedOrigin};

const SKEW_MS: f64 = 5000.0;

fn mpd(time_url: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
 availabilityStartTime="1970-01-01T00:00:00Z" minBufferTime="PT2S" minimumUpdatePeriod="PT2S"
 timeShiftBufferDepth="PT30S" suggestedPresentationDelay="PT4S">
 <Period id="p0" start="PT0S">
  <AdaptationSet contentType="video" mimeType="video/mp4">
   <SegmentTemplate timescale="1000" duration="2000" startNumber="0" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
   <Representation id="v0" bandwidth="200000"/>
  </AdaptationSet>
 </Period>
 <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="{time_url}"/>
</MPD>"#
    )
}

fn local_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Sleeps until the join point (live edge − 4 s, 2 s segments) on a server clock `skew_ms`
/// ahead is 0.3 s into a segment. The join segment then leaves ~1.7 s buffered, so the next
/// segment's fetch (and a scripted 425's 100 ms retry) cannot stall playback. Started just
/// before a boundary, the buffer would be a few ms, and the retry a rebuffer: CI saw one.
fn wait_until_early_in_a_segment(skew_ms: f64) {
    let phase_ms = (local_ms() + skew_ms - 4000.0).rem_euclid(2000.0);
    std::thread::sleep(std::time::Duration::from_millis(
        ((2300.0 - phase_ms) % 2000.0) as u64,
    ));
}

#[test]
fn live_session_on_a_skewed_server_clock_with_a_not_yet_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let o = rt.block_on(ScriptedOrigin::start());
    wait_until_early_in_a_segment(SKEW_MS);
    let server_now = local_ms() + SKEW_MS;
    let time = manifests::DateTime::from_unix_millis(server_now as i64);
    o.script("/time", Reply::ok(time.as_str().to_string()));
    o.script(
        "/live/manifest.mpd",
        Reply::ok(mpd(&format!("{}/time", o.url()))),
    );
    o.script("/live/v0/init.mp4", Reply::ok(vec![0u8; 100]));
    // The join segment on the server's clock: live edge − 4 s, 2 s segments.
    let join = ((server_now / 1000.0 - 4.0) / 2.0).floor() as u64;
    for n in join.saturating_sub(2)..join + 8 {
        let path = format!("/live/v0/{n}.m4s");
        if n == join + 1 {
            o.script_seq(&path, vec![Reply::status(425), Reply::ok(vec![1u8; 5000])]);
        } else {
            o.script(&path, Reply::ok(vec![1u8; 5000]));
        }
    }
    let mut opts = PlayOptions::new(
        Entry::Url(format!("{}/live/manifest.mpd", o.url())),
        rt.handle().clone(),
    )
    .unwrap();
    opts.abr = "fixed".into();
    opts.cmcd = player_live::cmcd_out::CmcdMode::Off;
    opts.live_duration = std::time::Duration::from_secs(5);
    let p = play(&opts).unwrap_or_else(|e| panic!("{e}"));
    let live = p.live.clone().expect("a dynamic MPD is played live");
    println!("{live:?}");
    // The clock: the server's, within the time between scripting and the request.
    assert!(
        (live.clock_offset_ms - SKEW_MS).abs() < 500.0,
        "offset {}",
        live.clock_offset_ms
    );
    assert_eq!(live.clock_source, "urn:mpeg:dash:utc:http-iso:2014");
    assert_eq!((live.addressing, live.target_latency_s), ("number", 4.0));
    // Joined at the server's live edge − 4 s (the join segment may be the next one when
    // the sync took the clock past a segment boundary).
    assert!(
        live.join_number == join || live.join_number == join + 1,
        "{} vs {join}",
        live.join_number
    );
    // The 425 was counted and retried; the segment was then played.
    assert_eq!(live.early_responses, 1);
    assert_eq!(o.requests(&format!("/live/v0/{}.m4s", join + 1)), 2);
    let numbers: Vec<String> = p
        .media()
        .filter(|f| f.status == 200)
        .map(|f| f.url.clone())
        .collect();
    assert!(numbers
        .iter()
        .any(|u| u.ends_with(&format!("/{}.m4s", join + 1))));
    assert_eq!(p.playback.rebuffer_events, 0);
    // Latency on the server's clock: at the 4 s target (to within the startup time).
    let l = live.latency.unwrap();
    assert!((l.p50_s - 4.0).abs() < 0.3 && l.max_s < 4.5, "{l:?}");
    // Every media request was for a segment available on the server's clock: numbers only
    // up to the live edge at the end of the session.
    let last = ((local_ms() + SKEW_MS) / 1000.0 / 2.0).floor() as u64;
    for f in p.media() {
        let n: u64 = f
            .url
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".m4s")
            .parse()
            .unwrap();
        assert!(
            n < last,
            "segment {n} requested; {last} is the newest that could be complete"
        );
    }
    // The MPD was re-fetched every minimumUpdatePeriod (2 s) over the 5 s.
    assert!(live.mpd_refreshes >= 2, "{}", live.mpd_refreshes);
}

/// A segment whose first byte comes 2.5 s late stalls the player; the latency grows by the
/// stall and dash.js's catch-up (rate up to 1.5) brings it back to the target.
#[test]
fn a_late_segment_stalls_and_catch_up_returns_to_the_target() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let o = rt.block_on(ScriptedOrigin::start());
    wait_until_early_in_a_segment(0.0);
    let server_now = local_ms();
    o.script(
        "/time",
        Reply::ok(
            manifests::DateTime::from_unix_millis(server_now as i64)
                .as_str()
                .to_string(),
        ),
    );
    o.script(
        "/live/manifest.mpd",
        Reply::ok(mpd(&format!("{}/time", o.url()))),
    );
    o.script("/live/v0/init.mp4", Reply::ok(vec![0u8; 100]));
    let join = ((server_now / 1000.0 - 4.0) / 2.0).floor() as u64;
    for n in join.saturating_sub(2)..join + 12 {
        let r = Reply::ok(vec![1u8; 5000]);
        let r = if n == join + 2 {
            r.first_byte_after(std::time::Duration::from_millis(4500))
        } else {
            r
        };
        o.script(&format!("/live/v0/{n}.m4s"), r);
    }
    let mut opts = PlayOptions::new(
        Entry::Url(format!("{}/live/manifest.mpd", o.url())),
        rt.handle().clone(),
    )
    .unwrap();
    opts.abr = "fixed".into();
    opts.cmcd = player_live::cmcd_out::CmcdMode::Off;
    opts.live_duration = std::time::Duration::from_secs(14);
    let p = play(&opts).unwrap_or_else(|e| panic!("{e}"));
    let live = p.live.clone().unwrap();
    println!("{live:?} rebuffer {} ms", p.playback.rebuffer_ms);
    let l = live.latency.unwrap();
    // It stalled, fell behind by about the stall, and caught up at a rate above 1.
    assert_eq!(p.playback.rebuffer_events, 1);
    assert!(p.playback.rebuffer_ms > 500.0, "{}", p.playback.rebuffer_ms);
    assert!(l.max_s > 4.5, "{l:?}");
    assert!(live.catchup_s > 1.0 && live.mean_rate > 1.05, "{live:?}");
    let end = live.final_latency_s.unwrap();
    assert!((end - 4.0).abs() < 0.25, "final latency {end}");
    assert_eq!(live.resyncs, 0);
}
