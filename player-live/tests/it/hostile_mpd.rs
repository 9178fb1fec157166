//! Hostile MPDs fetched over the network (issue 12, item 7): a real player ([`play`]) against
//! a scripted origin on loopback. Each case ends within a few seconds with a clear error (or,
//! for repeats past the period end, the clamp ISO/IEC 23009-1 §5.3.9.6 allows) and in bounded
//! memory.
//!
//! **How memory is measured.** Each case runs alone in a child process: this test binary
//! re-run with `--ignored --exact hostile_mpd::child` and the case in `HOSTILE_CASE`. The
//! child reads its own `VmRSS` from `/proc/self/status` once its runtime, client and origin
//! are up (with the origin's replies built: a 64 MiB body the origin holds is not the
//! player's), plays the case, then reads `VmHWM` (the peak RSS of the process) and prints
//! both.
//! The parent asserts the growth, `VmHWM - VmRSS before`, against the case's bound, and the
//! child's wall time (it is killed past its time limit). Before these fixes an MPD with
//! `<S d="1" r="2000000000"/>` was refused only by a per-Representation limit (2^20
//! segments), so 40 Representations just under it listed 40 M segments (GBs).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use player_live::http_net::{MAX_MPD_BYTES, MPD_DEADLINE};
use player_live::{play, Entry, PlayOptions, Shaper};
use player_sim::input::{Period, Trace, TraceData};
use test_support::scripted::{Reply, ScriptedOrigin};

const PATH: &str = "/a/manifest.mpd";

/// An MPD with one video AdaptationSet of `reps` Representations sharing a SegmentTimeline
/// of one `S` with `@d = 1` s and `@r = r`; `duration` is the MPD's duration attribute (or
/// nothing: the period end is then unknown).
fn mpd(duration: &str, r: &str, reps: usize) -> String {
    let reps: String = (0..reps)
        .map(|i| format!(r#"<Representation id="v{i}" bandwidth="{}"/>"#, 100_000 + i))
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" {duration} minBufferTime="PT2S">
  <Period id="0">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4">
        <SegmentTimeline><S t="0" d="1" r="{r}"/></SegmentTimeline>
      </SegmentTemplate>
      {reps}
    </AdaptationSet>
  </Period>
</MPD>"#
    )
}

/// One case ready to play: the runtime, the scripted origin (its replies already built, so
/// their bodies are in the baseline) and the options.
struct Prepared {
    _rt: tokio::runtime::Runtime,
    origin: ScriptedOrigin,
    opts: PlayOptions,
}

fn prepare(case: &str) -> Prepared {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let origin = rt.block_on(ScriptedOrigin::start());
    let mut opts = PlayOptions::new(
        Entry::Url(format!("{}{PATH}", origin.url())),
        rt.handle().clone(),
    )
    .unwrap();
    opts.audio = false;
    opts.abr = "fixed".into();
    let mpd_reply = match case {
        // The issue's MPD: repeats past the 60 s period are clamped to it; two segments
        // play.
        "clamped" => {
            origin.script("/a/v0/init.mp4", Reply::ok(vec![0u8; 100]));
            origin.script("/a/v0/1.m4s", Reply::ok(vec![1u8; 1000]));
            origin.script("/a/v0/2.m4s", Reply::ok(vec![2u8; 1000]));
            opts.segments = Some(2);
            Reply::ok(mpd(r#"mediaPresentationDuration="PT60S""#, "2000000000", 1))
        }
        // No period end: the repeat count stands and is over the limit.
        "unbounded" => Reply::ok(mpd("", "2000000000", 1)),
        // 40 Representations of 30 000 segments: each under the per-Representation limit,
        // together over the plan's budget.
        "many_reps" => Reply::ok(mpd(r#"mediaPresentationDuration="PT30000S""#, "-1", 40)),
        "r_minus_2" => Reply::ok(mpd(r#"mediaPresentationDuration="PT60S""#, "-2", 1)),
        // A body over the limit, declared (Content-Length) or streamed (chunked, 64 MiB).
        "declared_huge" => Reply::ok(vec![b' '; MAX_MPD_BYTES as usize + 1]),
        "streamed_huge" => Reply::ok(vec![b' '; 64 << 20]).slow(1 << 20, Duration::from_millis(1)),
        // An MPD that never finishes arriving.
        "drip" => {
            opts.mpd_deadline = Duration::from_secs(2);
            Reply::ok(mpd(r#"mediaPresentationDuration="PT60S""#, "0", 1))
                .slow(1, Duration::from_millis(500))
        }
        other => panic!("unknown case {other}"),
    };
    origin.script(PATH, mpd_reply);
    Prepared {
        _rt: rt,
        origin,
        opts,
    }
}

/// Plays a prepared case: `Ok(segments played)` or the error's one-line message.
fn run(p: &Prepared) -> Result<usize, String> {
    let r = play(&p.opts)
        .map(|p| p.playback.events.len())
        .map_err(|e| e.to_string());
    assert!(p.origin.requests(PATH) >= 1);
    r
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The child's entry point (run by [`in_child`] only).
#[test]
#[ignore = "entry point of a child process of hostile_mpd_cases"]
fn child() {
    let case = std::env::var("HOSTILE_CASE").expect("HOSTILE_CASE");
    // Warm up what every case uses (runtime, client, origin, an MPD parse) before the baseline.
    let _ = run(&prepare("r_minus_2"));
    let p = prepare(&case);
    let before = status_kb("VmRSS:");
    let r = run(&p);
    let hwm = status_kb("VmHWM:");
    println!(
        "RESULT {}",
        serde_json::json!({ "before_kb": before, "hwm_kb": hwm, "result": format!("{r:?}") })
    );
}

struct Ran {
    growth_mb: f64,
    secs: f64,
    result: String,
}

/// Runs `case` alone in a child process of this test binary; kills it after `limit`.
fn in_child(case: &str, limit: Duration) -> Ran {
    let t0 = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "hostile_mpd::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_CASE", case)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("case {case}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = t0.elapsed().as_secs_f64();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "case {case}: no result ({})\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let kb = |k: &str| v[k].as_u64().unwrap() as f64;
    let ran = Ran {
        growth_mb: (kb("hwm_kb") - kb("before_kb")).max(0.0) / 1024.0,
        secs,
        result: v["result"].as_str().unwrap().to_string(),
    };
    eprintln!(
        "{case}: {:.1} s, peak RSS growth {:.1} MiB: {}",
        ran.secs, ran.growth_mb, ran.result
    );
    ran
}

fn check(case: &str, limit_s: u64, max_growth_mb: f64, want: &[&str]) {
    let r = in_child(case, Duration::from_secs(limit_s));
    for w in want {
        assert!(
            r.result.contains(w),
            "case {case}: {:?} lacks {w:?}",
            r.result
        );
    }
    assert!(
        r.growth_mb <= max_growth_mb,
        "case {case}: peak RSS grew {:.1} MiB (bound {max_growth_mb})",
        r.growth_mb
    );
}

#[test]
fn hostile_mpds_end_in_bounded_time_and_memory() {
    // The issue's MPD with a 60 s period: clamped, plays.
    check("clamped", 20, 32.0, &["Ok(2)"]);
    // The same without a period end, and r = -2: refused at once, nothing listed.
    check(
        "unbounded",
        20,
        32.0,
        &["Err(", "a/manifest.mpd", "more than 1048576 segments"],
    );
    check(
        "r_minus_2",
        20,
        32.0,
        &["Err(", "r=-2", "only negative repeat count is -1"],
    );
    // One budget over all Representations: ~1 M segments listed at most (~100 bytes each).
    check(
        "many_reps",
        60,
        160.0,
        &[
            "Err(",
            "more than 1048576 segments, the most this reader lists",
        ],
    );
    // Bodies over 16 MiB: refused as declared or as they arrive (at most the limit kept).
    check(
        "declared_huge",
        20,
        48.0,
        &["Err(", "larger than 16777216 bytes"],
    );
    check(
        "streamed_huge",
        20,
        64.0,
        &["Err(", "larger than 16777216 bytes"],
    );
    // A dripping MPD: the deadline (2 s here, 60 s by default) ends it.
    check("drip", 20, 32.0, &["Err(", "no complete MPD within 2.0 s"]);
    assert_eq!(MPD_DEADLINE, Duration::from_secs(60));
}

#[test]
fn a_near_zero_bottleneck_is_refused_before_any_request() {
    let t = Trace {
        name: "dust".into(),
        data: TraceData::Periods(vec![Period {
            duration_ms: 3_600_000.0,
            bandwidth_kbps: 1e-9,
            latency_ms: 0.0,
        }]),
    };
    let e = Shaper::try_from_trace(&t, 1.0).unwrap_err().to_string();
    assert!(e.contains("dust") && e.contains("below 10 kbps"), "{e}");
    let ok = Trace {
        name: "ok".into(),
        data: TraceData::Periods(vec![Period {
            bandwidth_kbps: 10.0,
            ..match &t.data {
                TraceData::Periods(p) => p[0],
                _ => unreachable!(),
            }
        }]),
    };
    assert!(Arc::new(Shaper::try_from_trace(&ok, 1.0).unwrap()).is_limited());
}
