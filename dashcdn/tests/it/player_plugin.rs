//! `dashcdn player study --abr 'bba,plugin:python3 examples/abr/bba.py'`: the Python BBA beside
//! the built-in gives the same table row; a failing plug-in's playbacks are reported on stderr
//! and in summary.json's `failures`, the other algorithm's are not affected, and the exit status
//! says that playbacks failed.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dashcdn");

fn repo(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(p)
}

fn shared(p: &str) -> PathBuf {
    repo("../shared/abr-traces").join(p)
}

fn study(abr: &str, traces: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "player", "study", "--model", "pensieve", "--quiet", "--abr", abr,
        ])
        .arg("--movie")
        .arg(shared("pensieve/envivio"))
        .arg("--traces")
        .arg(traces)
        .arg("--out")
        .arg(out)
        .current_dir(repo("."))
        .output()
        .unwrap()
}

#[test]
fn python_bba_row_equals_the_builtin_row() {
    let out = tempfile::tempdir().unwrap();
    let o = study(
        "bba,plugin:python3 examples/abr/bba.py",
        &shared("pensieve/hsdpa_test"),
        out.path(),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");
    let row = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).filter(|r| r.starts_with(' ')))
            .unwrap_or_else(|| panic!("no row {name}:\n{stdout}"))
            .trim()
            .to_string()
    };
    assert!(row("bba").starts_with("142 "), "{stdout}");
    assert_eq!(row("bba"), row("plugin:bba.py"), "{stdout}");
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["failures"], serde_json::json!([]));
    assert_eq!(s["algorithms"][1]["abr"], "plugin:bba.py");
}

#[test]
fn failing_plugin_is_reported_and_the_study_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let traces = d.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(shared("pensieve/hsdpa_test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files[..3] {
        std::fs::copy(f, traces.join(f.file_name().unwrap())).unwrap();
    }
    let names: Vec<String> = player_sim::input::read_trace_dir(&traces, None)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let script = d.path().join("nine.py");
    std::fs::write(
        &script,
        r#"import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "start":
        print('{"type": "hello", "version": 1}', flush=True)
    elif m["type"] != "end":
        print('{"quality": %d}' % (9 if m["index"] == 3 else 0), flush=True)
"#,
    )
    .unwrap();
    let cmd = format!("python3 {}", script.display());
    let out = d.path().join("out");
    let o = study(&format!("bba,plugin:{cmd}"), &traces, &out);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!o.status.success(), "{stderr}");
    let msg = format!("plug-in \"{cmd}\": answered quality 9 for segment 3, ladder has 6 (0..5)");
    assert!(
        stderr.contains(&format!(
            "3 playbacks failed (not in the table):\n  3 x {msg}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("3 of 6 playbacks failed"), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("bba ") && l.contains(" 3 ")),
        "{stdout}"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let f = s["failures"].as_array().unwrap();
    assert_eq!(f.len(), 3);
    for (x, n) in f.iter().zip(&names) {
        assert_eq!(x["abr"], "plugin:nine.py");
        assert_eq!(x["trace"].as_str().unwrap(), n);
        assert_eq!(x["message"].as_str().unwrap(), msg);
    }
    assert_eq!(s["algorithms"][0]["failed"], 0);
    assert_eq!(s["algorithms"][1]["failed"], 3);
    assert_eq!(s["algorithms"][1]["playbacks"], 0);
}
