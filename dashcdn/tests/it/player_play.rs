//! `dashcdn player play` through a real CDN on loopback: an origin (127.0.0.1), an edge
//! `edge-a` (127.0.0.2) and a redirector (127.0.0.1, DNS + HTTP), each a `dashcdn` process.
//!
//! 1. Enter via the redirector's HTTP 302, shaped by a trace 6 Mbps → 400 kbit/s → 6 Mbps on a
//!    ×4 clock: the player reaches the top rungs, drops to a lower rung during the low phase
//!    and recovers after it; every request (MPD, init, media, audio) is answered by `edge-a`,
//!    the first request of every object with `X-Cache: MISS` (a cold cache); the audio covers
//!    the whole played duration; the request log is printed while the player runs.
//! 2. Enter via the redirector's DNS (A query for `cdn.example.test` → 127.0.0.2), unshaped,
//!    8 segments: served by `edge-a` again, now from its cache (`HIT`), audio included.
//!    The redirector's `/steered/` MPD (a BaseURL per edge) plays from `edge-a` too
//!    (`--no-audio`: no audio requests).
//! 3. A bad entry (404 MPD) fails with an error naming the URL and status.
//! 4. (second test) An MPD whose first BaseURL is a dead server: one failed request, then the
//!    next BaseURL (an edge) serves everything; with every BaseURL dead, an error naming the URL.
//!
//! Content: `$DASHCDN_CONTENT/default` when it exists (test.sh packages it first), otherwise
//! the default packaged once into the target tmp dir (the real 4-rung ladder, 2 s segments,
//! 60 s).

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use test_support::process::Process;
use test_support::Patience;

/// Runs `dashcdn player play ARGS`, killing it after `limit`.
fn player(args: &[&str], dir: &Path, limit: Duration) -> Output {
    player_live(args, dir, limit).0
}

/// Like [`player`]; also returns the most stdout lines seen while the player was still
/// running (the request log is printed live, not at the end). Its output is also left in
/// `<dir>/stdout.txt` and `<dir>/stderr.txt`.
fn player_live(args: &[&str], dir: &Path, limit: Duration) -> (Output, usize) {
    let mut child = Process::spawn(
        Command::new(BIN)
            .args(["player", "play"])
            .args(args)
            .env("RUST_LOG", "info"),
    )
    .unwrap();
    let mut live_lines = 0;
    let exited = Patience::new(limit)
        .every(Duration::from_millis(50))
        .until_sync(|| {
            let status = child.try_wait().unwrap();
            if status.is_none() {
                live_lines = live_lines.max(child.stdout().lines().count());
            }
            status
        });
    if let Err(e) = exited {
        // `child` is killed and reaped as it drops
        panic!(
            "player {args:?} still running after {limit:?} ({e});\n{}",
            child.output_report()
        );
    }
    let out = child.wait_output().unwrap();
    std::fs::write(dir.join("stdout.txt"), &out.stdout).unwrap();
    std::fs::write(dir.join("stderr.txt"), &out.stderr).unwrap();
    (out, live_lines)
}

/// Runs `dashcdn player play ARGS --out <dir>/<name>`, which must succeed (`what` names it in
/// the failure message), and returns its playback.json.
fn play_ok(
    what: &str,
    args: &[&str],
    dir: &Path,
    name: &str,
    limit: Duration,
) -> serde_json::Value {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let mut args = args.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let o = player(&args, &out, limit);
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    playback(&out)
}

/// Runs `dashcdn player play ARGS` (its output in `<dir>/<name>`), which must fail; returns
/// its stderr.
fn play_err(args: &[&str], dir: &Path, name: &str, limit: Duration) -> String {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let o = player(args, &out, limit);
    assert!(!o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Audio fetches: present, all `200` from `edge`, the init once, audio segments `0..n` each
/// once, reaching the end of the played video (`audio_until_s >= video_until_s`, up to the
/// content's own audio length). Returns `n`.
fn check_audio(p: &serde_json::Value, edge: &str) -> usize {
    let f = fetches(p);
    let audio: Vec<_> = f
        .iter()
        .filter(|x| x["kind"] == "audio" || x["kind"] == "audio_init")
        .collect();
    assert!(!audio.is_empty(), "no audio fetched");
    for x in &audio {
        assert_eq!(x["status"], 200, "{x}");
        assert_eq!(x["edge"], edge, "audio not served by the edge: {x}");
        assert!(x["url"].as_str().unwrap().contains("/a128/"), "{x}");
    }
    let inits = audio.iter().filter(|x| x["kind"] == "audio_init").count();
    assert_eq!(inits, 1, "the audio init once");
    let idx: Vec<u64> = audio
        .iter()
        .filter(|x| x["kind"] == "audio")
        .map(|x| x["index"].as_u64().unwrap())
        .collect();
    let mut sorted = idx.clone();
    sorted.sort();
    let n = sorted.len();
    assert_eq!(
        sorted,
        (0..n as u64).collect::<Vec<_>>(),
        "each audio segment once"
    );
    let (a, v) = (
        p["audio_until_s"].as_f64().unwrap(),
        p["video_until_s"].as_f64().unwrap(),
    );
    assert!(v > 0.0 && a >= v - 0.05, "audio to {a} s, video to {v} s");
    assert_eq!(p["audio_representation_id"], "a128");
    n
}

fn playback(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("playback.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fetches(p: &serde_json::Value) -> &Vec<serde_json::Value> {
    p["fetches"].as_array().unwrap()
}

#[test]
fn play_through_redirector_and_edge_adapts_to_the_trace_and_reports_the_edge() {
    let t0 = Instant::now();
    let root = content_root();
    let (_origin, origin) = start_origin(&root);
    let (_edge, edge) = start_edge(&origin, "127.0.0.2:0", "edge-a", "256MiB");
    let edge_port = edge.rsplit_once(':').unwrap().1.to_string();

    let dir = tempfile::tempdir().unwrap();
    let topo = write_topology(
        dir.path(),
        &format!(
            r#"
default_location = "eu"
cdn_name = "cdn.example.test"
[health]
interval_ms = 200
[[edges]]
id = "edge-a"
url = "{edge}"
address = "127.0.0.2"
lat = 48.85
lon = 2.35
[[locations]]
name = "eu"
lat = 50.1
lon = 8.7
networks = ["192.0.2.0/24"]
"#
        ),
    );
    let redirector_proc = start_redirector(&topo);
    let (redirector, dns) = (redirector_proc.url.clone(), redirector_proc.dns());

    // 1. Via the 302, shaped (BOLA-E): 8 s at 6 Mbps, 16 s at 400 kbit/s, then 6 Mbps; clock x4.
    let trace = dir.path().join("step.json");
    std::fs::write(
        &trace,
        r#"[{"duration_ms": 8000, "bandwidth_kbps": 6000, "latency_ms": 0},
            {"duration_ms": 16000, "bandwidth_kbps": 400, "latency_ms": 0},
            {"duration_ms": 100000, "bandwidth_kbps": 6000, "latency_ms": 0}]"#,
    )
    .unwrap();
    let out1 = dir.path().join("play1");
    std::fs::create_dir_all(&out1).unwrap();
    let entry = format!("{redirector}/default/manifest.mpd");
    let started = Instant::now();
    let (o, live_lines) = player_live(
        &[
            "--url",
            &entry,
            "--trace",
            trace.to_str().unwrap(),
            "--speed",
            "4",
            "--abr",
            "bola-e",
            // Without CMCD: with it the edge prefetches the object `nor` names (its
            // prefetch_hints, on by default), and the cold-cache check below (the first
            // request of every object a MISS) would not hold. CMCD through an edge is
            // player_cmcd's test.
            "--cmcd",
            "off",
            "--out",
            out1.to_str().unwrap(),
        ],
        &out1,
        Duration::from_secs(150),
    );
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "player failed: {}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("shaped play took {:?}\n{stdout}", started.elapsed());
    for f in [
        "playback.json",
        "fetches.csv",
        "fetches.jsonl",
        "events.csv",
        "events.jsonl",
        "timeline.svg",
        "timeline.png",
    ] {
        assert!(out1.join(f).exists(), "{f} not written");
    }
    let p = playback(&out1);
    assert!(
        p["mpd_url"].as_str().unwrap().starts_with(&edge),
        "MPD not from the edge: {}",
        p["mpd_url"]
    );
    let f = fetches(&p);
    assert_eq!(f[0]["kind"], "mpd");
    assert_eq!(f[0]["requested"].as_str().unwrap(), entry, "the 302 entry");
    let mut seen = BTreeSet::new();
    for x in f {
        assert_eq!(x["status"], 200, "{x}");
        assert_eq!(x["edge"], "edge-a", "not served by the edge: {x}");
        assert!(x["url"].as_str().unwrap().starts_with(&edge), "{x}");
        // Cold cache: the first request of every object is a miss (an abandoned attempt
        // may leave the object cached for a retry).
        if seen.insert(x["url"].as_str().unwrap().to_string()) {
            assert_eq!(x["cache"], "MISS", "first request of an object: {x}");
        }
    }
    let media = f.iter().filter(|x| x["kind"] == "media").count();
    assert!(media >= 30, "{media} media requests for 30 segments");
    assert!(f.iter().any(|x| x["kind"] == "init"));
    // Completed segments and their rungs, in order; real sizes in the events.
    let events = p["playback"]["events"].as_array().unwrap();
    let chunks: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["abandoned"] == false).collect();
    assert_eq!(chunks.len(), 30, "every segment played");
    for e in &chunks {
        let (size, got) = (
            e["size_bits"].as_f64().unwrap(),
            e["downloaded_bits"].as_f64().unwrap(),
        );
        assert!(size > 0.0 && size == got, "real size: {e}");
    }
    let q: Vec<u64> = chunks
        .iter()
        .map(|e| e["quality"].as_u64().unwrap())
        .collect();
    eprintln!("rungs: {q:?}");
    let top = q
        .iter()
        .position(|&x| x >= 2)
        .unwrap_or_else(|| panic!("never reached the top rungs: {q:?}"));
    let drop = top
        + q[top..]
            .iter()
            .position(|&x| x <= 1)
            .unwrap_or_else(|| panic!("never dropped during the low phase: {q:?}"));
    assert!(
        q[drop..].iter().any(|&x| x >= 2),
        "never recovered after the low phase: {q:?}"
    );
    // The drop happened in (or just after) the low phase of the trace: 8..24 s of trace time.
    let drop_at = chunks[drop]["request_ms"].as_f64().unwrap();
    assert!(
        (6000.0..30000.0).contains(&drop_at),
        "drop at {drop_at} ms: {q:?}"
    );
    // The shaper works: throughput samples of the big (upper-rung) segments peak near the
    // trace's 6 Mbps, not at loopback speed (generous bounds for a loaded machine).
    let peak = chunks
        .iter()
        .filter(|e| e["quality"].as_u64().unwrap() >= 2)
        .map(|e| e["throughput_kbps"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(
        (2500.0..7000.0).contains(&peak),
        "peak upper-rung sample {peak} kbps: {q:?}"
    );
    assert!(stdout.contains("edge-a"), "per-segment log names the edge");
    assert!(stdout.contains("MISS"), "per-segment log shows X-Cache");
    // Audio beside the video: the whole 60 s (30 audio segments of ~2 s), from the edge.
    let n = check_audio(&p, "edge-a");
    assert_eq!(n, 30, "audio segments for 60 s");
    assert!(
        stdout.contains("a-init") && stdout.contains(" a29 "),
        "audio in the log"
    );
    // One log line per request, printed as they happen (seen while the player ran).
    let logged = stdout.lines().filter(|l| l.contains("edge-a")).count();
    assert!(
        logged >= f.len(),
        "{logged} log lines for {} requests",
        f.len()
    );
    assert!(
        live_lines >= 20,
        "only {live_lines} lines printed while the player ran: the log is not live"
    );

    // 2. Via DNS, unshaped, 8 segments: the same edge, now warm.
    let p = play_ok(
        "DNS player",
        &[
            "--dns",
            &dns,
            "--name",
            "cdn.example.test",
            "--port",
            &edge_port,
            "--path",
            "/default/manifest.mpd",
            "--segments",
            "8",
        ],
        dir.path(),
        "play2",
        Duration::from_secs(60),
    );
    assert_eq!(
        p["mpd_url"].as_str().unwrap(),
        format!("http://127.0.0.2:{edge_port}/default/manifest.mpd")
    );
    let f = fetches(&p);
    let media: Vec<_> = f.iter().filter(|x| x["kind"] == "media").collect();
    assert!(media.len() >= 8);
    for x in f {
        assert_eq!(x["edge"], "edge-a", "{x}");
        assert_eq!(x["status"], 200, "{x}");
    }
    // Unshaped, the ABR climbs to the top; every top-rung object of the first 8 segments
    // was fetched by the first player, so those are hits.
    let hits = media.iter().filter(|x| x["cache"] == "HIT").count();
    assert!(hits >= 1, "no HIT on a warm edge: {media:?}");
    // 8 video segments (16 s): the audio segments covering them (~2.005 s each), all HITs.
    let n = check_audio(&p, "edge-a");
    assert!((8..=9).contains(&n), "{n} audio segments for 16 s");
    assert!(f
        .iter()
        .filter(|x| x["kind"] == "audio")
        .all(|x| x["cache"] == "HIT"));
    assert!(
        f[0]["cache"] == "HIT" || f[0]["cache"] == "REVALIDATED",
        "the MPD is cached: {}",
        f[0]
    );

    // 2b. The redirector's steered MPD (one BaseURL per edge): segments from edge-a.
    let steered = format!("{redirector}/steered/default/manifest.mpd");
    let p = play_ok(
        "steered player",
        &["--url", &steered, "--segments", "3", "--no-audio"],
        dir.path(),
        "play2b",
        Duration::from_secs(60),
    );
    assert_eq!(p["mpd_url"].as_str().unwrap(), steered);
    for x in fetches(&p).iter().filter(|x| x["kind"] != "mpd") {
        assert_eq!(x["edge"], "edge-a", "{x}");
        assert!(x["url"].as_str().unwrap().starts_with(&edge), "{x}");
        assert!(
            !x["url"].as_str().unwrap().contains("/a128/"),
            "--no-audio: {x}"
        );
    }
    assert!(p["audio_until_s"].is_null(), "--no-audio");

    // 2c. A plug-in ABR, built through the same `abr::build` as in the simulator: told that
    // the sizes are nominal (otherwise it answers an invalid quality), its decisions are
    // followed (always the top rung); one answering quality 9 fails the playback, naming it.
    let plugin = |name: &str, answer: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                r#"import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "start":
        top = m["levels"] - 1 if m["sizes"] == "nominal" else 99
        print('{{"type": "hello", "version": 1}}', flush=True)
    elif m["type"] != "end":
        print('{{"quality": %d}}' % ({answer}), flush=True)
"#
            ),
        )
        .unwrap();
        format!("python3 {}", p.display())
    };
    let top_cmd = plugin("top.py", "top");
    let p = play_ok(
        "plug-in player",
        &[
            "--url",
            &entry,
            "--segments",
            "3",
            "--no-audio",
            "--abr",
            &format!("plugin:{top_cmd}"),
        ],
        dir.path(),
        "play2c",
        Duration::from_secs(60),
    );
    let q: Vec<u64> = p["playback"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["quality"].as_u64().unwrap())
        .collect();
    assert_eq!(q, [3, 3, 3], "the plug-in's top rung of the 4-rung ladder");
    let nine_cmd = plugin("nine.py", "9");
    let err = play_err(
        &[
            "--url",
            &entry,
            "--segments",
            "3",
            "--no-audio",
            "--abr",
            &format!("plugin:{nine_cmd}"),
        ],
        dir.path(),
        "play2d",
        Duration::from_secs(60),
    );
    assert!(
        err.contains(&format!(
            "plug-in \"{nine_cmd}\": answered quality 9 for segment 0, ladder has 4 (0..3)"
        )),
        "{err}"
    );

    // 2e. A learned policy: `dashcdn player train` on the content's own 4-rung ladder (a tiny
    // run on three FCC traces), then `--abr learned:FILE` plays it through the CDN; the
    // envivio-shaped policy of another ladder is refused with a clear error.
    let traces = dir.path().join("train-traces");
    std::fs::create_dir_all(&traces).unwrap();
    let fcc = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/abr-traces/pensieve/fcc_test_every6th");
    let mut names: Vec<_> = std::fs::read_dir(&fcc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for f in names.iter().take(3) {
        std::fs::copy(f, traces.join(f.file_name().unwrap())).unwrap();
    }
    let policy = dir.path().join("policy.json");
    let o = Command::new(BIN)
        .args(["player", "train", "--movie"])
        .arg(root.join("default"))
        .arg("--traces")
        .arg(&traces)
        .arg("--out")
        .arg(&policy)
        .args(["--iterations", "1", "--epochs", "2", "--variations", "1"])
        .args(["--expert-beam", "8", "--horizon", "4", "--hidden", "8"])
        .args(["--validation", "0.34"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let learned = format!("learned:{}", policy.display());
    let p = play_ok(
        "learned player",
        &[
            "--url",
            &entry,
            "--segments",
            "4",
            "--no-audio",
            "--abr",
            &learned,
        ],
        dir.path(),
        "play2e",
        Duration::from_secs(60),
    );
    assert_eq!(p["playback"]["abr"], learned.as_str());
    assert_eq!(p["playback"]["events"].as_array().unwrap().len(), 4);
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/abr/learned-envivio.json");
    let err = play_err(
        &[
            "--url",
            &entry,
            "--segments",
            "2",
            "--abr",
            &format!("learned:{}", other.display()),
        ],
        dir.path(),
        "play2f",
        Duration::from_secs(30),
    );
    assert!(
        err.contains("chooses among 6 qualities, but the ladder has 4"),
        "{err}"
    );

    // 3. A missing MPD: a clear error naming the URL and the status.
    let bad = format!("{redirector}/nope/manifest.mpd");
    let err = play_err(
        &["--url", &bad],
        dir.path(),
        "play3",
        Duration::from_secs(30),
    );
    assert!(
        err.contains("/nope/manifest.mpd") && err.contains("404"),
        "error names the URL and status: {err}"
    );
    eprintln!("test took {:?}", t0.elapsed());
}

/// The default MPD with MPD-level BaseURLs `bases` (absolute), written as `<dir>/<name>/manifest.mpd`.
fn mpd_with_bases(content: &Path, dir: &Path, name: &str, bases: &[String]) {
    let text = std::fs::read_to_string(content.join("default/manifest.mpd")).unwrap();
    let start = text.find("<MPD").unwrap();
    let end = start + text[start..].find('>').unwrap() + 1;
    let inserted: String = bases
        .iter()
        .map(|b| format!("\n  <BaseURL>{b}</BaseURL>"))
        .collect();
    let out = format!("{}{}{}", &text[..end], inserted, &text[end..]);
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join("manifest.mpd"), out).unwrap();
}

#[test]
fn play_falls_back_to_the_next_base_url_and_names_a_failing_url() {
    let root = content_root();
    let (_origin, origin) = start_origin(&root);
    let (_edge, edge) = start_edge(&origin, "127.0.0.2:0", "edge-b", "64MiB");
    // MPDs served by a second origin: the first BaseURL is a dead server (port 9 refuses).
    let mpds = tempfile::tempdir().unwrap();
    let dead = "http://127.0.0.1:9/default/".to_string();
    mpd_with_bases(
        &root,
        mpds.path(),
        "fallback",
        &[dead.clone(), format!("{edge}/default/")],
    );
    mpd_with_bases(
        &root,
        mpds.path(),
        "dead",
        &[dead.clone(), "http://127.0.0.1:9/other/".to_string()],
    );
    let (_mpd_server, mpd_server) = start_origin(mpds.path());

    let dir = tempfile::tempdir().unwrap();
    let p = play_ok(
        "player",
        &[
            "--url",
            &format!("{mpd_server}/fallback/manifest.mpd"),
            "--segments",
            "4",
        ],
        dir.path(),
        "fallback",
        Duration::from_secs(60),
    );
    let f = fetches(&p);
    let failed: Vec<_> = f.iter().filter(|x| x["status"] != 200).collect();
    assert_eq!(
        failed.len(),
        1,
        "one failed request, then the next base: {f:?}"
    );
    assert_eq!(failed[0]["status"], 0);
    assert!(failed[0]["url"].as_str().unwrap().starts_with(&dead));
    for x in f
        .iter()
        .filter(|x| x["kind"] != "mpd" && x["status"] == 200)
    {
        assert_eq!(x["edge"], "edge-b", "{x}");
        assert!(x["url"].as_str().unwrap().starts_with(&edge), "{x}");
    }
    let media = f
        .iter()
        .filter(|x| x["kind"] == "media" && x["status"] == 200);
    assert_eq!(media.count(), 4);

    // Every base dead: a clear error naming the URL.
    let err = play_err(
        &["--url", &format!("{mpd_server}/dead/manifest.mpd")],
        dir.path(),
        "dead",
        Duration::from_secs(60),
    );
    assert!(
        err.contains("http://127.0.0.1:9/other/") && err.contains("retry"),
        "error names the URL: {err}"
    );
}
