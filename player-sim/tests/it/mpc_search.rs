//! robustMPC/fastMPC: the branch-and-bound plan search makes the same decisions as the
//! exhaustive walk over whole playbacks, on several traces, ladders (6 and 10 rungs) and models.

use std::path::PathBuf;

use player_sim::abr::mpc::Mpc;
use player_sim::input::{read_ladder, read_trace};
use player_sim::model::ModelKind;
use player_sim::session::{run_with, SessionConfig};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn first_file(dir: &str) -> String {
    let mut v: Vec<String> = std::fs::read_dir(shared(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    format!("{dir}/{}", v[0])
}

fn decisions(p: &player_sim::Playback) -> Vec<(usize, usize, bool)> {
    p.events
        .iter()
        .map(|e| (e.index, e.quality, e.abandoned))
        .collect()
}

#[test]
fn pruned_and_exhaustive_mpc_decide_alike() {
    let cases = [
        // Pensieve's 6-rung Envivio ladder, 4 s chunks.
        (
            "pensieve/envivio",
            ModelKind::Pensieve,
            vec![
                "pensieve/hsdpa_test/norway_bus_1".to_string(),
                "pensieve/hsdpa_test/norway_train_5".to_string(),
                "pensieve/hsdpa_test/norway_car_12".to_string(),
                first_file("pensieve/fcc_test_every6th"),
            ],
        ),
        // Sabre's 10-rung BBB ladder (230-6000 kbps, 3 s segments), first 40 segments.
        (
            "sabre/bbb.json",
            ModelKind::Sabre,
            vec![
                "sabre/network.json".to_string(),
                first_file("sabre/3Glogs_every3rd"),
                first_file("sabre/4Glogs"),
            ],
        ),
        // The 6-rung 4K ladder (1-35 Mbps) on FCC broadband, generic model.
        (
            "sabre/bbb4k.json",
            ModelKind::Generic,
            vec![first_file("sabre/fcc_hd_first50")],
        ),
    ];
    let mut checked = 0;
    for (movie, model, traces) in &cases {
        let ladder = read_ladder(&shared(movie)).unwrap();
        let mut cfg = SessionConfig::for_model(*model);
        if *model != ModelKind::Pensieve {
            cfg.segments = Some(40);
        }
        for t in traces {
            let trace = read_trace(&shared(t), None).unwrap();
            for robust in [true, false] {
                let make = |pruned: bool| {
                    let mut m = if robust { Mpc::robust() } else { Mpc::fast() };
                    m.pruned = pruned;
                    m
                };
                let (mut a, mut b) = (make(true), make(false));
                let pa = run_with(&ladder, &trace, &mut a, &cfg);
                let pb = run_with(&ladder, &trace, &mut b, &cfg);
                assert_eq!(
                    decisions(&pa),
                    decisions(&pb),
                    "{movie} x {t} ({model}, robust {robust})"
                );
                assert!(pa.chunks().count() >= 40);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);
}
