//! Hand-computed cases, determinism and bad inputs.

use std::path::{Path, PathBuf};

use player_sim::abr::{self, AbrKind, AbrOptions, Ctx};
use player_sim::input::{self, Ladder, Period, Trace, TraceData};
use player_sim::metrics::{compute, QoeOptions};
use player_sim::model::sabre::TraceNetwork;
use player_sim::model::ModelKind;
use player_sim::session::{run, SessionConfig};
use player_sim::study::{self, StudyConfig};

fn ladder(bitrates: &[f64], d_ms: f64, sizes: &[f64], n: usize) -> Ladder {
    Ladder {
        name: "t".into(),
        bitrates_kbps: bitrates.to_vec(),
        segment_duration_ms: d_ms,
        sizes_bits: vec![sizes.to_vec(); n],
    }
}
fn periods(p: &[(f64, f64, f64)]) -> Trace {
    Trace {
        name: "p".into(),
        data: TraceData::Periods(
            p.iter()
                .map(|&(d, b, l)| Period {
                    duration_ms: d,
                    bandwidth_kbps: b,
                    latency_ms: l,
                })
                .collect(),
        ),
    }
}
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn constant_link() {
    // 5000 kbps, 75 ms latency; 3 s segments of 3 Mbit: each download 75 + 600 ms.
    let l = ladder(&[1000.0], 3000.0, &[3_000_000.0], 5);
    let t = periods(&[(1e9, 5000.0, 75.0)]);
    for abandonment in [false, true] {
        let mut cfg = SessionConfig::for_model(ModelKind::Sabre);
        cfg.abandonment = abandonment;
        let p = run(&l, &t, &AbrKind::Fixed, &cfg).unwrap();
        for e in &p.events {
            close(e.time_ms, 675.0);
            close(e.ttfb_ms, 75.0);
            close(e.throughput_kbps, 5000.0);
            close(e.estimate_kbps, 5000.0);
        }
        close(p.startup_ms, 675.0);
        assert_eq!(p.rebuffer_ms, 0.0);
        close(p.total_play_ms, 675.0 + 5.0 * 3000.0);
        // Levels: 3000 after the first, then +3000-675 each.
        close(p.events[4].buffer_after_ms, 3000.0 + 4.0 * 2325.0);
    }
}

#[test]
fn step_down_link() {
    // 4000 kbps for 10 s, then 1000 kbps; 2 s segments of 4 Mbit, no latency.
    // Downloads 0..9 take 1 s each (level 2000, then +1000 each: 11000 after #9); then 4 s each:
    // 9000, 7000, 5000, 3000; then #14 stalls 1000 ms and #15..#17 stall 2000 ms each (level 2000).
    let l = ladder(&[2000.0], 2000.0, &[4_000_000.0], 18);
    let t = periods(&[(10000.0, 4000.0, 0.0), (1e9, 1000.0, 0.0)]);
    let mut cfg = SessionConfig::for_model(ModelKind::Sabre);
    cfg.abandonment = false;
    let p = run(&l, &t, &AbrKind::Fixed, &cfg).unwrap();
    let after: Vec<f64> = p.events.iter().map(|e| e.buffer_after_ms).collect();
    let want = [
        2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 11000.0, 9000.0,
        7000.0, 5000.0, 3000.0, 2000.0, 2000.0, 2000.0, 2000.0,
    ];
    for (a, w) in after.iter().zip(want) {
        close(*a, w);
    }
    let stalls: Vec<f64> = p.events.iter().map(|e| e.rebuffer_ms).collect();
    assert!(stalls[..14].iter().all(|&s| s == 0.0));
    assert_eq!(&stalls[14..], &[1000.0, 2000.0, 2000.0, 2000.0]);
    assert_eq!(p.rebuffer_ms, 7000.0);
    assert_eq!(p.rebuffer_events, 4);
    close(p.total_play_ms, 1000.0 + 18.0 * 2000.0 + 7000.0);
    let m = compute(&p, &l.bitrates_kbps, &QoeOptions::default());
    close(m.qoe_lin, 18.0 * 2.0 - 4.3 * 7.0);
}

#[test]
fn outage_rebuffer_sabre() {
    // 1000 kbps, a 6 s outage at t = 5 s; 1 s segments of 0.5 Mbit. After 10 downloads
    // (t = 5 s) the level is 5500 ms; download #10 takes 6000 + 500 ms: stall exactly 1000 ms.
    let l = ladder(&[500.0], 1000.0, &[500_000.0], 14);
    let t = periods(&[
        (5000.0, 1000.0, 0.0),
        (6000.0, 0.0, 0.0),
        (1e9, 1000.0, 0.0),
    ]);
    for abandonment in [false, true] {
        let mut cfg = SessionConfig::for_model(ModelKind::Sabre);
        cfg.abandonment = abandonment;
        let p = run(&l, &t, &AbrKind::Fixed, &cfg).unwrap();
        close(p.events[10].buffer_before_ms, 5500.0);
        close(p.events[10].time_ms, 6500.0);
        close(p.events[10].rebuffer_ms, 1000.0);
        close(p.rebuffer_ms, 1000.0);
        assert_eq!(p.rebuffer_events, 1);
        close(p.total_play_ms, 500.0 + 14000.0 + 1000.0);
    }
}

#[test]
fn outage_rebuffer_pensieve() {
    // 8 Mbps (1e6 B/s, 950000 B/s of payload), 40 s outage from t = 10.25 s. Chunks of
    // 950000 B take 1 s + 80 ms RTT; buffer after 10 chunks = 4000 + 9 * 2920 = 30280 ms.
    // Chunk 11 starts at t = 10 s: 0.25 s, the 40 s outage, 0.75 s: 41080 ms → stall 10800 ms.
    let dir = tempfile::tempdir().unwrap();
    let tr = dir.path().join("outage");
    std::fs::write(&tr, "0\t8\n10.25\t8\n50.25\t0\n1000\t8\n").unwrap();
    let t = input::read_trace(&tr, None).unwrap();
    let l = ladder(&[300.0, 750.0], 4000.0, &[1_000_000.0, 950_000.0 * 8.0], 12);
    let mut cfg = SessionConfig::for_model(ModelKind::Pensieve);
    cfg.abr = AbrOptions {
        fixed_quality: 1,
        ..Default::default()
    };
    let p = run(&l, &t, &AbrKind::Fixed, &cfg).unwrap();
    close(p.events[0].time_ms, 1080.0);
    close(p.startup_ms, 1080.0);
    close(p.events[9].buffer_after_ms, 30280.0);
    close(p.events[10].time_ms, 41080.0);
    close(p.events[10].rebuffer_ms, 10800.0);
    close(p.rebuffer_ms, 10800.0);
    let m = compute(&p, &l.bitrates_kbps, &QoeOptions::default());
    close(m.qoe_lin, 12.0 * 0.75 - 4.3 * (1.08 + 10.8));
    let m2 = compute(
        &p,
        &l.bitrates_kbps,
        &QoeOptions {
            skip_first: true,
            ..Default::default()
        },
    );
    close(m2.qoe_lin, 11.0 * 0.75 - 4.3 * 10.8);
}

#[test]
fn buffer_cap_sabre_and_pensieve() {
    // Sabre: Bmax 25000, D 3000 → never request above 22000; after an idle, exactly 22000.
    let l = ladder(&[1000.0], 3000.0, &[3_000_000.0], 40);
    let t = periods(&[(1e9, 50000.0, 10.0)]);
    let p = run(
        &l,
        &t,
        &AbrKind::Fixed,
        &SessionConfig::for_model(ModelKind::Sabre),
    )
    .unwrap();
    let idled: Vec<_> = p.events.iter().filter(|e| e.idle_ms > 0.0).collect();
    assert!(idled.len() > 20);
    for e in &p.events {
        assert!(e.buffer_before_ms <= 22000.0 + 1e-6);
    }
    for e in idled {
        close(e.buffer_before_ms, 22000.0);
    }
    // Pensieve: cap 60 s, 500 ms sleeps: after a sleep the buffer is in (59500, 60000].
    let l = ladder(&[300.0, 750.0], 4000.0, &[1000.0, 2000.0], 48);
    let dir = tempfile::tempdir().unwrap();
    let tr = dir.path().join("fast");
    std::fs::write(&tr, "0 50\n1 50\n2 50\n").unwrap();
    let t = input::read_trace(&tr, None).unwrap();
    let p = run(
        &l,
        &t,
        &AbrKind::Fixed,
        &SessionConfig::for_model(ModelKind::Pensieve),
    )
    .unwrap();
    let slept: Vec<_> = p.events.iter().filter(|e| e.idle_ms > 0.0).collect();
    assert!(slept.len() > 20);
    for e in slept {
        assert!(e.buffer_after_ms > 59500.0 && e.buffer_after_ms <= 60000.0);
        assert_eq!(e.idle_ms % 500.0, 0.0);
    }
}

#[test]
fn sabre_latency_straddles_a_boundary() {
    // MODELS.md D4: 30 ms left at latency 100, next period latency 200 → 30 + 0.7 * 200 = 170.
    let ps = [
        Period {
            duration_ms: 30.0,
            bandwidth_kbps: 1000.0,
            latency_ms: 100.0,
        },
        Period {
            duration_ms: 1000.0,
            bandwidth_kbps: 1000.0,
            latency_ms: 200.0,
        },
    ];
    let mut n = TraceNetwork::new(&ps);
    close(n.latency_delay(), 170.0);
}

#[test]
fn bb_boundaries() {
    let l = ladder(
        &[300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0],
        4000.0,
        &[1.0; 6],
        48,
    );
    let ctx = |b: f64| Ctx {
        ladder: &l,
        quirks: ModelKind::Pensieve.quirks(),
        index: 1,
        segments: 48,
        buffer_ms: b,
        buffer_max_ms: 60000.0,
        last_quality: 1,
        throughput_kbps: Some(1e9),
        latency_ms: Some(0.0),
    };
    let mut bb = abr::build(&AbrKind::Bba, &l, 60000.0, &AbrOptions::default()).unwrap();
    for (b, q) in [
        (6990.0, 0),
        (7000.0, 1),
        (14990.0, 4),
        (15000.0, 5),
        (0.0, 0),
        (99000.0, 5),
    ] {
        assert_eq!(bb.decide(&ctx(b)).quality, q, "buffer {b}");
    }
}

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn read_dir_bytes(d: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn determinism_same_inputs_same_bytes() {
    let movie = input::read_ladder(&shared("pensieve/envivio")).unwrap();
    let mut traces = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    traces.truncate(12);
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec![
            "bba".parse().unwrap(),
            "bola-e".parse().unwrap(),
            "robustmpc".parse().unwrap(),
            "throughput".parse().unwrap(),
        ],
    );
    let meta = serde_json::json!({"test": true});
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s1 = study::run_with_jobs(Some(1), &movie, &traces, &cfg).unwrap();
    player_sim::output::write_study(a.path(), &s1, &cfg, "hsdpa_test", &meta).unwrap();
    let s2 = study::run_with_jobs(Some(2), &movie, &traces, &cfg).unwrap();
    player_sim::output::write_study(b.path(), &s2, &cfg, "hsdpa_test", &meta).unwrap();
    let (x, y) = (read_dir_bytes(a.path()), read_dir_bytes(b.path()));
    assert!(
        x.iter().any(|(n, _)| n == "cdf_qoe.svg") && x.iter().any(|(n, _)| n == "events.jsonl")
    );
    assert_eq!(x.len(), y.len());
    for ((n1, b1), (n2, b2)) in x.iter().zip(&y) {
        assert_eq!(n1, n2);
        assert!(b1 == b2, "{n1} differs between runs");
    }
}

fn err_of<T: std::fmt::Debug>(r: Result<T, input::InputError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_inputs_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Pensieve cooked: non-numeric, negative, wrong columns, empty.
    let p = w("c1", "0 1.0\n1 abc\n");
    let e = err_of(input::read_trace(&p, None));
    assert!(e.contains("c1:2:") && e.contains("not a number"), "{e}");
    let p = w("c2", "0 1.0\n1 2.0\n2 -3\n");
    let e = err_of(input::read_trace(&p, None));
    assert!(e.contains("c2:3:") && e.contains("negative"), "{e}");
    let p = w("c3", "0 1.0\n1 2.0 7\n");
    let e = err_of(input::read_trace(&p, None));
    assert!(e.contains("c3:2:") && e.contains("2 columns"), "{e}");
    let p = w("c4", "");
    assert!(err_of(input::read_trace(&p, None)).contains("c4"));
    let p = w("c5", "0 0\n1 0\n");
    assert!(err_of(input::read_trace(&p, None)).contains("no interval delivers"));
    // Sabre network: negative bandwidth on line 3; not JSON.
    let p = w("n.json", "[\n {\"duration_ms\": 1000, \"bandwidth_kbps\": 100, \"latency_ms\": 5},\n {\"duration_ms\": 1000, \"bandwidth_kbps\": -1, \"latency_ms\": 5}\n]\n");
    let e = err_of(input::read_trace(&p, None));
    assert!(
        e.contains("n.json:3:") && e.contains("bandwidth_kbps"),
        "{e}"
    );
    let p = w("bad.json", "[\n {\"duration_ms\": 1000,,}\n]");
    assert!(err_of(input::read_trace(&p, None)).contains("bad.json:2:"));
    // Sabre movie: mismatched sizes on line 5.
    let p = w(
        "m.json",
        "{\"segment_duration_ms\": 3000,\n \"bitrates_kbps\": [100, 200],\n \"segment_sizes_bits\": [\n  [1, 2],\n  [1]\n ]\n}\n",
    );
    let e = err_of(input::read_ladder(&p));
    assert!(
        e.contains("m.json:5:") && e.contains("1 sizes but the ladder has 2"),
        "{e}"
    );
    let p = w("m2.json", "{\"segment_duration_ms\": 3000, \"bitrates_kbps\": [200, 100], \"segment_sizes_bits\": [[1, 2]]}");
    assert!(err_of(input::read_ladder(&p)).contains("ascending"));
    // Pensieve sizes: non-numeric on line 2; mismatched counts.
    let v = d.path().join("v");
    std::fs::create_dir(&v).unwrap();
    for q in 0..6 {
        std::fs::write(
            v.join(format!("video_size_{q}")),
            if q == 3 { "10\nx\n" } else { "10\n20\n" },
        )
        .unwrap();
    }
    let e = err_of(input::read_ladder(&v));
    assert!(e.contains("video_size_3:2:"), "{e}");
    std::fs::write(v.join("video_size_3"), "10\n").unwrap();
    let e = err_of(input::read_ladder(&v));
    assert!(e.contains("video_size_3") && e.contains("1 chunks"), "{e}");
    // Mahimahi: backwards timestamps.
    let p = w("mm", "1\n5\n3\n");
    let e = err_of(input::read_trace(&p, None));
    assert!(e.contains("mm:3:"), "{e}");
}

#[test]
fn mahimahi_binning() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mm");
    // 10 packets in the first 100 ms, none in the second.
    std::fs::write(&p, "1\n2\n3\n4\n5\n6\n7\n8\n9\n100\n200\n").unwrap();
    let t = input::read_trace(&p, None).unwrap();
    let TraceData::Periods(ps) = &t.data else {
        panic!()
    };
    assert_eq!(ps.len(), 2);
    close(ps[0].bandwidth_kbps, 10.0 * 12000.0 / 100.0);
    close(ps[1].bandwidth_kbps, 12000.0 / 100.0);
}
