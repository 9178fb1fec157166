//! Trace order under the Pensieve model: robustMPC carries its error history across traces, so
//! its mean depends on the play order. Pensieve's reference run (`mpc.py`, unsorted
//! `os.listdir`) played `hsdpa_test/` in the order recorded in `hsdpa_reference_order.txt`
//! (MODELS.md B2.1): 40.706 in that order, 41.193 in sorted-name order. The recorded order must
//! reach `summary.json`.

use std::path::PathBuf;

use player_sim::input::read_ladder;
use player_sim::model::ModelKind;
use player_sim::study::{self, StudyConfig};
use player_sim::trace_order::{read_trace_dir_ordered, OrderSource};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn robustmpc_mean(order_file: Option<&std::path::Path>) -> (f64, Vec<String>) {
    let movie = read_ladder(&shared("pensieve/envivio")).unwrap();
    let (traces, order) =
        read_trace_dir_ordered(&shared("pensieve/hsdpa_test"), None, order_file).unwrap();
    assert_eq!(traces.len(), 142);
    let mut cfg = StudyConfig::for_model(ModelKind::Pensieve, vec!["robustmpc".parse().unwrap()]);
    cfg.keep_events = false;
    assert!(cfg.carry_state && cfg.qoe.skip_first);
    let s = study::run(&movie, &traces, &cfg).unwrap();
    let played: Vec<String> = s.results.iter().map(|r| r.metrics.trace.clone()).collect();
    assert_eq!(played, order.names, "results follow the play order");
    (s.summary[0].qoe_lin.mean, order.names)
}

#[test]
fn robustmpc_reproduces_the_reference_only_in_its_order() {
    let file = shared("pensieve/hsdpa_reference_order.txt");
    let (reference, ref_names) = robustmpc_mean(Some(&file));
    let (sorted, sorted_names) = robustmpc_mean(None);
    assert_eq!(format!("{reference:.3}"), "40.706");
    assert_eq!(format!("{sorted:.3}"), "41.193");
    // Same set, different order.
    assert_ne!(ref_names, sorted_names);
    let mut a = ref_names.clone();
    a.sort();
    assert_eq!(a, sorted_names);
    assert_eq!(ref_names[0], "norway_tram_43");
}

#[test]
fn summary_json_records_the_order_and_settings() {
    let movie = read_ladder(&shared("pensieve/envivio")).unwrap();
    let d = tempfile::tempdir().unwrap();
    let tdir = d.path().join("traces");
    std::fs::create_dir(&tdir).unwrap();
    for n in ["norway_bus_1", "norway_car_6", "norway_tram_43"] {
        std::fs::copy(shared(&format!("pensieve/hsdpa_test/{n}")), tdir.join(n)).unwrap();
    }
    let list = d.path().join("order.txt");
    std::fs::write(
        &list,
        "# mine\nnorway_tram_43\nnorway_bus_1\n\nnorway_car_6\n",
    )
    .unwrap();
    let (traces, order) = read_trace_dir_ordered(&tdir, None, Some(&list)).unwrap();
    assert_eq!(order.source, OrderSource::File(list.clone()));
    let cfg = StudyConfig::for_model(ModelKind::Pensieve, vec!["bba".parse().unwrap()]);
    let s = study::run(&movie, &traces, &cfg).unwrap();
    let out = d.path().join("out");
    let meta = serde_json::json!({ "trace_count": 3 });
    let mut meta = meta.as_object().unwrap().clone();
    meta.extend(cfg.reproducibility(&order).as_object().unwrap().clone());
    player_sim::output::write_study(&out, &s, &cfg, "traces", &meta.into()).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let run = &j["run"];
    assert_eq!(run["trace_count"], 3);
    assert_eq!(
        run["trace_order"],
        serde_json::json!(["norway_tram_43", "norway_bus_1", "norway_car_6"])
    );
    assert_eq!(run["trace_order_source"], list.display().to_string());
    assert_eq!(run["seed"], serde_json::Value::Null);
    assert_eq!(run["model"], "pensieve");
    assert_eq!(run["carry_state"], true);
    assert_eq!(run["abr"], serde_json::json!(["bba"]));
    assert_eq!(run["session"]["buffer_max_ms"], 60000.0);
    assert_eq!(run["session"]["segments"], 48);
    assert_eq!(
        run["session"]["estimator"],
        serde_json::json!({"ewma": [3.0, 8.0]})
    );
    assert_eq!(run["session"]["abr"]["gp"], 5.0);
    assert_eq!(run["qoe"]["skip_first"], true);
    assert_eq!(j["algorithms"][0]["abr"], "bba");
}
