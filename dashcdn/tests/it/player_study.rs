//! `dashcdn player study|simulate --trace-order`: the traces play in the file's order, that
//! order and the study's settings reach summary.json, and a bad list is an error naming the
//! file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dashcdn");

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

/// A directory with three HSDPA traces.
fn traces(dir: &Path) -> PathBuf {
    let t = dir.join("traces");
    std::fs::create_dir_all(&t).unwrap();
    for n in ["norway_bus_1", "norway_car_6", "norway_tram_43"] {
        std::fs::copy(shared(&format!("pensieve/hsdpa_test/{n}")), t.join(n)).unwrap();
    }
    t
}

fn player(mode: &str, traces: &Path, extra: &[&str]) -> Output {
    let movie = shared("pensieve/envivio");
    let mut args = vec![
        "player",
        mode,
        "--movie",
        movie.to_str().unwrap(),
        "--traces",
        traces.to_str().unwrap(),
        "--model",
        "pensieve",
        "--abr",
        "bba,robustmpc",
        "--quiet",
    ];
    args.extend(extra);
    Command::new(BIN).args(&args).output().unwrap()
}

#[test]
fn study_plays_and_records_the_given_order() {
    let d = tempfile::tempdir().unwrap();
    let t = traces(d.path());
    let list = d.path().join("order.txt");
    std::fs::write(
        &list,
        "# order\nnorway_tram_43\n\nnorway_bus_1\nnorway_car_6\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let o = player(
        "study",
        &t,
        &[
            "--trace-order",
            list.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let run = &j["run"];
    let order = serde_json::json!(["norway_tram_43", "norway_bus_1", "norway_car_6"]);
    assert_eq!(run["trace_order"], order);
    assert_eq!(run["trace_order_source"], list.display().to_string());
    assert_eq!(run["seed"], serde_json::Value::Null);
    assert_eq!(run["model"], "pensieve");
    assert_eq!(run["carry_state"], true);
    assert_eq!(run["qoe"]["skip_first"], true);
    assert_eq!(run["session"]["buffer_max_ms"], 60000.0);
    assert_eq!(run["abr"], serde_json::json!(["bba", "robustmpc"]));
    // The existing fields are still there.
    assert_eq!(run["trace_count"], 3);
    assert_eq!(run["score_from"], 2);
    // metrics.csv rows follow the play order for each algorithm.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("robustmpc,"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(rows, ["norway_tram_43", "norway_bus_1", "norway_car_6"]);

    // Without the file: sorted names.
    let out2 = d.path().join("out2");
    let o = player("simulate", &t, &["--out", out2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        j["run"]["trace_order"],
        serde_json::json!(["norway_bus_1", "norway_car_6", "norway_tram_43"])
    );
    assert_eq!(j["run"]["trace_order_source"], "sorted names");
}

#[test]
fn a_bad_order_file_names_the_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let t = traces(d.path());
    let list = d.path().join("order.txt");
    let cases = [
        (
            "norway_bus_1\nnorway_nope\nnorway_car_6\nnorway_tram_43\n",
            ":2: norway_nope is not a trace file in",
        ),
        (
            "norway_bus_1\nnorway_car_6\nnorway_bus_1\nnorway_tram_43\n",
            ":3: norway_bus_1 is listed twice (first at line 1)",
        ),
        ("norway_bus_1\nnorway_car_6\n", ": 1 trace file(s) of"),
    ];
    for (text, want) in cases {
        std::fs::write(&list, text).unwrap();
        let o = player("study", &t, &["--trace-order", list.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{text:?} was accepted");
        assert!(
            err.contains(&format!("{}{want}", list.display())),
            "{text:?}: {err}"
        );
    }
}
