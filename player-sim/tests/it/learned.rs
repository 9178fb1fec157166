//! The learned ABR: the expert it imitates, the rollout it trains on, training's determinism,
//! and policy files (good and bad) through `abr::build` as `simulate`/`study`/`play` use it.

use std::path::PathBuf;
use std::sync::Arc;

use player_sim::abr::learned::Learned;
use player_sim::abr::AbrKind;
use player_sim::input::{read_ladder, read_trace, read_trace_dir};
use player_sim::learn::traces::Samples;
use player_sim::learn::train::{rollout, RolloutSettings};
use player_sim::learn::{self, Policy, TrainConfig};
use player_sim::metrics::QoeOptions;
use player_sim::model::pensieve::{self, TracePos};
use player_sim::model::ModelKind;
use player_sim::optimal::{self, best_next_pensieve, PensieveState, Resolution};
use player_sim::rng::SplitMix64;
use player_sim::session::{self, SessionConfig};
use player_sim::study::{self, StudyConfig};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn qoe() -> QoeOptions {
    QoeOptions {
        skip_first: true,
        ..Default::default()
    }
}

/// A small, fast training run (a few FCC traces, one DAgger step) used by several tests.
fn small_policy(seed: u64) -> Policy {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let traces: Vec<_> = read_trace_dir(&shared("pensieve/fcc_test_every6th"), None)
        .unwrap()
        .into_iter()
        .take(6)
        .collect();
    let cfg = TrainConfig {
        seed,
        iterations: 2,
        epochs: 3,
        variations: 1,
        hidden: vec![16],
        expert: Resolution {
            grid_ms: 500.0,
            beam: 40,
        },
        ..TrainConfig::default()
    };
    let session = SessionConfig::for_model(ModelKind::Pensieve);
    let mut seen = Vec::new();
    let (p, report) = learn::train(&ladder, &traces, &session, &qoe(), &cfg, |r| {
        seen.push(r.iteration)
    })
    .unwrap();
    assert_eq!(seen, vec![0, 1]);
    assert_eq!(report.iterations.len(), 2);
    assert_eq!(report.validation_traces.len(), 1);
    assert!(report.iterations[1].samples > report.iterations[0].samples);
    p
}

/// From the state after segment 0 (clock included), the mid-session expert makes the same
/// choice for segment 1 as the whole-session `optimal` plan.
#[test]
fn mid_session_expert_agrees_with_the_optimal_plan() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let cfg = SessionConfig::for_model(ModelKind::Pensieve);
    let traces = read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    for trace in traces.iter().step_by(20) {
        let plan = optimal::plan(&ladder, trace, &cfg);
        let s = Samples::of(trace);
        let mut pos = TracePos::new(&s.t, &s.bw_mbps);
        let mut buf = 0.0;
        let q0 = plan.qualities[0];
        let size = ladder.sizes_bits[0][q0] / 8.0;
        let st = pensieve::chunk_step(
            &mut pos,
            &mut buf,
            size,
            ladder.segment_duration_ms,
            cfg.buffer_max_ms,
        );
        let state = PensieveState {
            pos,
            clock_ms: st.delay_ms + st.sleep_ms,
            buffer_ms: buf,
            last_quality: q0,
            index: 1,
        };
        let q1 = best_next_pensieve(&ladder, &cfg, state, Resolution::default());
        assert_eq!(q1, plan.qualities[1], "{}", trace.name);
    }
}

/// A rollout in which the policy always acts plays exactly what the session plays with
/// `Learned`: training sees the states the real player reaches.
#[test]
fn rollout_plays_as_the_session_does() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let cfg = SessionConfig::for_model(ModelKind::Pensieve);
    let policy = small_policy(3);
    for name in ["norway_bus_1", "norway_car_1", "norway_tram_43"] {
        let trace = read_trace(&shared(&format!("pensieve/hsdpa_test/{name}")), None).unwrap();
        let s = Samples::of(&trace);
        let res = Resolution {
            grid_ms: 500.0,
            beam: 20,
        };
        let how = RolloutSettings {
            expert_share: 0.0,
            expert: res,
            horizon: 48,
            label_fraction: 1.0,
            explore: 0.0,
        };
        let r = rollout(
            &ladder,
            &s,
            &cfg,
            Some(&policy),
            &how,
            &mut SplitMix64::new(1),
        );
        let mut a = Learned::new(Arc::new(policy.clone()));
        let pb = session::run_with(&ladder, &trace, &mut a, &cfg);
        let played: Vec<usize> = pb.chunks().map(|e| e.quality).collect();
        assert_eq!(r.played, played, "{name}");
        assert_eq!(r.labels.len(), played.len() - 1);
        assert!(r.labels.iter().all(|l| (*l as usize) < ladder.levels()));
    }
}

/// Same seed, same policy; another seed, another policy. The file round-trips and plays in a
/// study through `learned:FILE`.
#[test]
fn training_is_reproducible_and_the_file_plays() {
    let a = small_policy(7);
    let b = small_policy(7);
    assert_eq!(
        serde_json::to_string(&a.network).unwrap(),
        serde_json::to_string(&b.network).unwrap()
    );
    let c = small_policy(8);
    assert_ne!(a.network, c.network);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    a.save(&file).unwrap();
    let back = Policy::load(&file).unwrap();
    assert_eq!(back.network, a.network);

    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let traces: Vec<_> = read_trace_dir(&shared("pensieve/hsdpa_test"), None)
        .unwrap()
        .into_iter()
        .take(10)
        .collect();
    let name = format!("learned:{}", file.display());
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![name.parse().unwrap(), AbrKind::Bba],
    );
    let st = study::run(&ladder, &traces, &cfg).unwrap();
    // Named by the file's stem in tables and plots.
    assert_eq!(st.summary[0].abr, "learned:policy");
    assert_eq!(st.summary[0].playbacks, 10);
    assert!(st.summary[0].qoe_lin.mean.is_finite());
}

/// Bad policy files are refused with the file's name and the reason; a policy for another
/// number of qualities is refused against the ladder.
#[test]
fn bad_policy_files_are_refused_clearly() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let build = |p: &std::path::Path| {
        player_sim::abr::build(
            &AbrKind::Learned(p.display().to_string()),
            &ladder,
            60_000.0,
            &Default::default(),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default()
    };
    let missing = dir.path().join("nope.json");
    assert!(build(&missing).contains("nope.json"), "{}", build(&missing));

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 3").unwrap();
    let e = build(&garbage);
    assert!(
        e.contains("garbage.json") && e.contains("not a policy file"),
        "{e}"
    );

    let good = small_policy(5);
    let mut wrong = good.clone();
    wrong.network.layers[0].w.pop();
    let f = dir.path().join("wrong.json");
    wrong.save(&f).unwrap();
    let e = build(&f);
    assert!(e.contains("inconsistent sizes"), "{e}");

    let mut nan = good.clone();
    nan.input_scale[0] = f32::NAN;
    let f = dir.path().join("nan.json");
    // serde_json writes NaN as null, which is not a number: refused either way.
    nan.save(&f).unwrap();
    assert!(!build(&f).is_empty());

    let mut fewer = read_ladder(&shared("pensieve/envivio")).unwrap();
    fewer.bitrates_kbps.truncate(4);
    fewer.sizes_bits.iter_mut().for_each(|s| s.truncate(4));
    let f = dir.path().join("good.json");
    good.save(&f).unwrap();
    let e = player_sim::abr::build(
        &AbrKind::Learned(f.display().to_string()),
        &fewer,
        60_000.0,
        &Default::default(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap();
    assert!(e.contains("6 qualities") && e.contains("has 4"), "{e}");
}

/// Trains only in the Pensieve model and with sane settings.
#[test]
fn training_refuses_bad_settings() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let traces = read_trace_dir(&shared("pensieve/fcc_test_every6th"), None).unwrap();
    let sabre = SessionConfig::for_model(ModelKind::Sabre);
    let e = learn::train(
        &ladder,
        &traces,
        &sabre,
        &qoe(),
        &TrainConfig::default(),
        |_| {},
    );
    assert!(e.unwrap_err().to_string().contains("pensieve"));
    let p = SessionConfig::for_model(ModelKind::Pensieve);
    let e = learn::train(
        &ladder,
        &traces[..1],
        &p,
        &qoe(),
        &TrainConfig::default(),
        |_| {},
    );
    assert!(e.is_err());
    let bad = TrainConfig {
        scale_mbps: Some((2.0, 1.0)),
        ..TrainConfig::default()
    };
    assert!(learn::train(&ladder, &traces, &p, &qoe(), &bad, |_| {}).is_err());
}

/// The shipped policy, trained by the README's `dashcdn player train` command.
fn shipped_policy() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/abr/learned-envivio.json"
    ))
}

/// `examples/abr/mlp_policy.py` (numpy, through the plug-in protocol) makes the decisions of
/// the built-in `learned:FILE` for the shipped policy, on every HSDPA trace.
#[test]
fn numpy_plugin_reproduces_the_learned_policy() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let traces = read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    let policy = shipped_policy();
    let script = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/abr/mlp_policy.py"
    ));
    let learned = format!("learned:{}", policy.display());
    let plugin = format!("plugin:python3 {} {}", script.display(), policy.display());
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![learned.parse().unwrap(), plugin.parse().unwrap()],
    );
    let st = study::run(&ladder, &traces, &cfg).unwrap();
    assert!(st.failures.is_empty(), "{:?}", st.failures);
    let n = traces.len();
    assert_eq!(st.results.len(), 2 * n);
    let qualities = |r: &study::RunResult| -> Vec<usize> {
        r.playback
            .as_ref()
            .unwrap()
            .chunks()
            .map(|e| e.quality)
            .collect()
    };
    for (i, trace) in traces.iter().enumerate() {
        assert_eq!(
            qualities(&st.results[i]),
            qualities(&st.results[n + i]),
            "{}",
            trace.name
        );
    }
}

/// The shipped policy beats robustMPC on the HSDPA test set (which it never saw in training)
/// and reaches Pensieve's published 43.47, under the Pensieve model with its scoring.
#[test]
fn shipped_policy_beats_robustmpc_on_hsdpa() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let traces = read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    let learned = format!("learned:{}", shipped_policy().display());
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![learned.parse().unwrap(), AbrKind::RobustMpc],
    );
    let st = study::run(&ladder, &traces, &cfg).unwrap();
    let (l, r) = (st.summary[0].qoe_lin.mean, st.summary[1].qoe_lin.mean);
    assert!((r - 41.193).abs() < 5e-4, "robustMPC {r}");
    assert!(l > r && l >= 43.47, "learned {l} vs robustMPC {r}");
    // Its training record names no HSDPA trace.
    let p = Policy::load(&shipped_policy()).unwrap();
    let record = p.training.to_string();
    assert!(!record.contains("norway"), "trained on a test trace");
}

/// The expert that labels the rollouts, acting alone, plays about as well as the `optimal`
/// plan (it re-plans at every segment from where it is, with a smaller beam).
#[test]
fn expert_rollouts_play_near_the_optimum() {
    let ladder = read_ladder(&shared("pensieve/envivio")).unwrap();
    let cfg = SessionConfig::for_model(ModelKind::Pensieve);
    let traces = read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    let score = |qualities: Vec<usize>, trace: &player_sim::Trace| {
        let mut plan = optimal::Plan { qualities };
        let pb = session::run_with(&ladder, trace, &mut plan, &cfg);
        player_sim::metrics::compute(&pb, &ladder.bitrates_kbps, &qoe()).qoe_lin
    };
    let (mut expert, mut best) = (0.0, 0.0);
    for trace in traces.iter().step_by(12) {
        let s = Samples::of(trace);
        let res = Resolution {
            grid_ms: 250.0,
            beam: 60,
        };
        let how = RolloutSettings {
            expert_share: 1.0,
            expert: res,
            horizon: 48,
            label_fraction: 1.0,
            explore: 0.0,
        };
        let r = rollout(&ladder, &s, &cfg, None, &how, &mut SplitMix64::new(2));
        expert += score(r.played, trace);
        best += score(optimal::plan(&ladder, trace, &cfg).qualities, trace);
    }
    assert!(expert >= 0.97 * best, "expert {expert} vs optimal {best}");
}
