//! ABR plug-ins (`plugin:COMMAND`, player_sim::abr::plugin): the Python BBA of
//! `examples/abr/bba.py` makes the built-in `bba`'s decisions, and every kind of plug-in failure
//! fails its playback with a message naming the plug-in while the study goes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use player_sim::abr::AbrKind;
use player_sim::input::{self, Ladder, Trace};
use player_sim::model::ModelKind;
use player_sim::session::{self, SessionConfig};
use player_sim::study::{self, Study, StudyConfig};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/abr"))
}

fn python_bba() -> String {
    // Quoted, to go through the command splitter's quoting.
    format!("plugin:python3 '{}'", examples().join("bba.py").display())
}

fn envivio() -> Ladder {
    input::read_ladder(&shared("pensieve/envivio")).unwrap()
}

fn hsdpa(n: usize) -> Vec<Trace> {
    let mut t = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    t.truncate(n);
    t
}

/// The first `n` Sabre 3G traces (read one by one: reading the whole directory is slow in
/// the dev profile).
fn sabre_traces(n: usize) -> Vec<Trace> {
    let dir = shared("sabre/3Glogs_every3rd");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files[..n]
        .iter()
        .map(|f| input::read_trace(f, None).unwrap())
        .collect()
}

/// Asserts that both halves of a two-algorithm study played identically.
fn assert_same_playbacks(s: &Study, traces: usize) {
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(s.results.len(), 2 * traces);
    let (a, b) = s.results.split_at(traces);
    for (x, y) in a.iter().zip(b) {
        let (px, py) = (x.playback.as_ref().unwrap(), y.playback.as_ref().unwrap());
        assert_eq!(px.trace, py.trace);
        assert!(!px.events.is_empty());
        assert_eq!(px.events, py.events, "trace {}", px.trace);
        assert_eq!(px.rebuffer_ms, py.rebuffer_ms);
        assert_eq!(x.metrics.qoe_lin, y.metrics.qoe_lin);
    }
}

#[test]
fn python_bba_equals_builtin_on_all_hsdpa_traces_pensieve() {
    let ladder = envivio();
    let traces = hsdpa(usize::MAX);
    assert_eq!(traces.len(), 142);
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![AbrKind::Bba, python_bba().parse().unwrap()],
    );
    let s = study::run(&ladder, &traces, &cfg).unwrap();
    assert_eq!(s.summary[0].abr, "bba");
    assert_eq!(s.summary[1].abr, "plugin:bba.py");
    assert_eq!(s.summary[1].playbacks, 142);
    assert_eq!(s.summary[1].failed, 0);
    assert_same_playbacks(&s, 142);
    // Not all at one rung: the decisions were really exercised.
    let qualities: std::collections::BTreeSet<usize> = s.results[142..]
        .iter()
        .flat_map(|r| {
            r.playback
                .as_ref()
                .unwrap()
                .events
                .iter()
                .map(|e| e.quality)
        })
        .collect();
    assert_eq!(qualities.len(), 6, "{qualities:?}");
    assert_eq!(s.summary[0].qoe_lin, s.summary[1].qoe_lin);
}

#[test]
fn python_bba_equals_builtin_under_sabre_model() {
    let ladder = input::read_ladder(&shared("sabre/movie.json")).unwrap();
    let traces = sabre_traces(3);
    let cfg = StudyConfig::for_model(
        ModelKind::Sabre,
        vec![AbrKind::Bba, python_bba().parse().unwrap()],
    );
    assert!(cfg.session.abandonment);
    let s = study::run(&ladder, &traces, &cfg).unwrap();
    assert_same_playbacks(&s, 3);
}

/// Writes `name` into `dir` and returns its `plugin:` spec.
fn script(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    format!("plugin:python3 {}", p.display())
}

#[test]
fn abandon_calls_and_reports_reach_a_plugin_written_with_the_helper() {
    // Asks for abandonment checks (never abandons) and checks the reports against the requests;
    // then it plays as BBA, so the playbacks must equal the built-in's.
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        r#"import sys
sys.path.insert(0, {examples:?})
import bba
from dashcdn_abr import run

def on_download(s, r):
    assert r["downloaded_bits"] == r["size_bits"] and r["abandon_to"] is None
    s.state["last"] = r

def check_abandon(s, m):
    s.state["checks"] = s.state.get("checks", 0) + 1
    assert 0 <= m["downloaded_bits"] < m["size_bits"] and m["level_ms"] >= 0
    assert m["size_bits"] == s.sizes_bits[m["index"]][m["quality"]]
    return None

def decide(s, m):
    last = s.state.get("last")
    if last is not None:
        assert last["index"] + 1 == m["index"], (last, m)
        assert last["quality"] == m["last_quality"]
    if m["index"] == s.segments - 1:
        assert s.state.get("checks", 0) > 0, "no abandonment checks"
    assert m["next_sizes_bits"] == s.sizes_bits[m["index"]]
    return bba.decide(s, m)

run(decide, first_quality=bba.first_quality, on_download=on_download,
    check_abandon=check_abandon)
"#,
        examples = examples().display().to_string()
    );
    let spec = script(d.path(), "abandoning.py", &text);
    let ladder = input::read_ladder(&shared("sabre/movie.json")).unwrap();
    let traces = sabre_traces(2);
    let cfg = StudyConfig::for_model(ModelKind::Sabre, vec![AbrKind::Bba, spec.parse().unwrap()]);
    let s = study::run(&ladder, &traces, &cfg).unwrap();
    assert_same_playbacks(&s, 2);
}

/// A raw protocol loop (no helper) that answers quality 0, except `at3` at segment 3.
fn misbehaving(at3: &str) -> String {
    format!(
        r#"import json, os, sys, time
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "start":
        print(json.dumps({{"type": "hello", "version": 1, "wants": []}}), flush=True)
        continue
    if m["type"] == "end":
        continue
    if m["type"] == "decide" and m["index"] == 3:
{at3}
    print('{{"quality": 0}}', flush=True)
"#
    )
}

/// Runs `bba` and the plug-in over 4 traces; the plug-in fails each playback with a message
/// containing `expect`, `bba` is untouched.
fn assert_fails_every_playback(at3: &str, timeout: Duration, expect: &str) -> Study {
    let d = tempfile::tempdir().unwrap();
    let spec = script(d.path(), "bad.py", &misbehaving(at3));
    let named = format!("plug-in \"{}\": ", spec.strip_prefix("plugin:").unwrap());
    let mut cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![AbrKind::Bba, spec.parse().unwrap()],
    );
    cfg.session.abr.plugin_timeout = timeout;
    let s = study::run(&envivio(), &hsdpa(4), &cfg).unwrap();
    assert_eq!((s.summary[0].playbacks, s.summary[0].failed), (4, 0));
    assert_eq!((s.summary[1].playbacks, s.summary[1].failed), (0, 4));
    assert_eq!(s.results.len(), 4);
    assert_eq!(s.failures.len(), 4);
    for f in &s.failures {
        assert_eq!(f.abr, "plugin:bad.py");
        assert!(f.message.starts_with(&named), "{}", f.message);
        assert!(f.message.contains(expect), "{}", f.message);
    }
    let names: Vec<&str> = s.failures.iter().map(|f| f.trace.as_str()).collect();
    let want: Vec<String> = hsdpa(4).into_iter().map(|t| t.name).collect();
    assert_eq!(names, want);
    s
}

const SECONDS: Duration = Duration::from_secs(5);

#[test]
fn crash_fails_the_playback_with_the_exit_status_and_stderr() {
    let s = assert_fails_every_playback(
        "        sys.stderr.write('boom at segment 3\\n'); sys.exit(3)",
        SECONDS,
        "exited (exit status: 3) while answering decide for segment 3; stderr: boom at segment 3",
    );
    assert_eq!(s.failure_counts().len(), 1);
}

#[test]
fn bad_json_fails_the_playback() {
    assert_fails_every_playback(
        "        print('this is not json', flush=True); continue",
        SECONDS,
        "answered decide for segment 3 with bad JSON (",
    );
}

#[test]
fn out_of_range_quality_fails_the_playback() {
    let s = assert_fails_every_playback(
        "        print('{\"quality\": 9}', flush=True); continue",
        SECONDS,
        "answered quality 9 for segment 3, ladder has 6 (0..5)",
    );
    let m = &s.failures[0].message;
    assert!(m.ends_with("\": answered quality 9 for segment 3, ladder has 6 (0..5)"));
}

#[test]
fn timeout_fails_the_playback() {
    let t0 = std::time::Instant::now();
    assert_fails_every_playback(
        "        time.sleep(60)",
        Duration::from_millis(300),
        "no answer to decide for segment 3 within 0.3 s (killed",
    );
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}

#[test]
fn endless_line_is_cut_off_without_exhausting_memory() {
    assert_fails_every_playback(
        "        chunk = 'x' * 65536\n        while True: sys.stdout.write(chunk)",
        SECONDS,
        "answered decide for segment 3 with a line longer than 1048576 bytes (killed)",
    );
}

#[test]
fn error_answer_fails_the_playback_with_its_text() {
    assert_fails_every_playback(
        "        print('{\"error\": \"no idea\"}', flush=True); continue",
        SECONDS,
        "error in decide for segment 3: no idea",
    );
}

#[test]
fn missing_program_fails_every_playback_not_the_study() {
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![
            AbrKind::Bba,
            "plugin:/nonexistent/python9 x.py".parse().unwrap(),
        ],
    );
    let s = study::run(&envivio(), &hsdpa(3), &cfg).unwrap();
    assert_eq!(s.summary[0].playbacks, 3);
    assert_eq!(s.summary[1].failed, 3);
    let c = s.failure_counts();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, 3);
    assert!(
        c[0].1.starts_with(
            "plug-in \"/nonexistent/python9 x.py\": cannot start \"/nonexistent/python9\""
        ),
        "{}",
        c[0].1
    );
}

#[test]
fn session_run_returns_the_failure_as_an_error() {
    let d = tempfile::tempdir().unwrap();
    let spec = script(
        d.path(),
        "nine.py",
        &misbehaving("        print('{\"quality\": 9}', flush=True); continue"),
    );
    let cfg = SessionConfig::for_model(ModelKind::Pensieve);
    let e = session::run(&envivio(), &hsdpa(1)[0], &spec.parse().unwrap(), &cfg).unwrap_err();
    let m = format!("{e:#}");
    assert!(
        m.contains("nine.py\": answered quality 9 for segment 3"),
        "{m}"
    );
}

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; a reaped process has none.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn one_process_serves_many_playbacks_and_a_dead_one_is_replaced_and_reaped() {
    // Each process appends its pid to a log; the first session after `crash.flag` is missing
    // creates it and crashes, so exactly one playback fails.
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("pids.log");
    let flag = d.path().join("crash.flag");
    let text = format!(
        r#"import json, os, sys
open({log:?}, "a").write("%d\n" % os.getpid())
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "start":
        print('{{"type": "hello", "version": 1}}', flush=True)
        continue
    if m["type"] == "end":
        continue
    if m["index"] == 5 and not os.path.exists({flag:?}):
        open({flag:?}, "w").close()
        os._exit(1)
    print('{{"quality": 2}}', flush=True)
"#,
        log = log.display().to_string(),
        flag = flag.display().to_string(),
    );
    let spec = script(d.path(), "once.py", &text);
    let cfg = StudyConfig::for_model(ModelKind::Pensieve, vec![spec.parse().unwrap()]);
    let traces = hsdpa(8);
    let s = study::run_with_jobs(Some(1), &envivio(), &traces, &cfg).unwrap();
    assert_eq!(s.failures.len(), 1, "{:?}", s.failures);
    assert!(s.failures[0].message.contains("exited (exit status: 1)"));
    assert_eq!(s.summary[0].playbacks, 7);
    for r in &s.results {
        let p = r.playback.as_ref().unwrap();
        assert!(p.events[1..].iter().all(|e| e.quality == 2));
    }
    let pids: Vec<u32> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    // One process before the crash, one after: reused, not one per playback.
    assert_eq!(pids.len(), 2, "{pids:?}");
    // The study closed its idle children; none is left running or as a zombie.
    for pid in pids {
        assert!(!alive(pid), "plug-in process {pid} still exists");
    }
}
