//! Hostile traces (issue 12, item 7): each is refused with an error naming the file, the
//! line where one is known and the bound it breaks, in bounded time and memory. Before these
//! rules a Mahimahi timestamp of 2^64-1 ms aborted the process (a 1.5 EB bin vector) and a
//! near-zero bandwidth made one download loop for ever.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use player_sim::input::{
    self, Period, Trace, TraceData, MAX_INPUT_BYTES, MAX_TRACE_PERIODS, MIN_TRACE_MEAN_KBPS,
};

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Reads `body` as a trace file named `name` and returns the error's message; the read must
/// fail within a second.
fn refused(name: &str, body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), name, body);
    let t0 = Instant::now();
    let e = input::read_trace(&p, None).expect_err("a hostile trace must be refused");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    e.to_string()
}

fn has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn mahimahi_huge_timestamp_is_an_error_at_its_line() {
    let m = refused("mm.down", "1\n5\n18446744073709551615\n");
    has(
        &m,
        &["mm.down:3:", "18446744073709551615", "past the", "24 h"],
    );
    // Just past 24 h: same error, still before any bin is allocated.
    let m = refused("mm2.down", "1\n86400001\n");
    has(&m, &["mm2.down:2:", "past the"]);
}

#[test]
fn mahimahi_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    // Up to 24 h is accepted: a packet every 100 ms for a day, binned lazily.
    let p = write(dir.path(), "day.down", "1\n86400000\n");
    // Two packets in a day is 0.0003 kbps: below the floor.
    let e = input::read_trace(&p, None).unwrap_err().to_string();
    has(&e, &["mean throughput", "below 10 kbps"]);
    let p = write(dir.path(), "ok.down", &"1\n".repeat(1000));
    let t = input::read_trace(&p, None).unwrap();
    assert!(t.mean_kbps() > 100_000.0);
    // Bin width 0 is refused, not a division by zero.
    let e = input::read_mahimahi_trace(&p, 0, 0.0)
        .unwrap_err()
        .to_string();
    has(&e, &["bin width 0"]);
    // Bins of 1 ms over a day would be 86 M periods.
    let p = write(dir.path(), "wide.down", "1\n50000000\n");
    let e = input::read_mahimahi_trace(&p, 1, 0.0)
        .unwrap_err()
        .to_string();
    has(&e, &["wide.down:2:", "bins of 1 ms"]);
}

#[test]
fn near_zero_and_zero_bandwidths_are_refused() {
    let sabre = |kbps: &str| {
        format!(r#"[{{"duration_ms": 1000, "bandwidth_kbps": {kbps}, "latency_ms": 0}}]"#)
    };
    has(
        &refused("z.json", &sabre("0")),
        &["z.json", "no period delivers any bits"],
    );
    has(
        &refused("tiny.json", &sabre("1e-300")),
        &["tiny.json", "mean throughput", "below 10 kbps"],
    );
    has(&refused("nine.json", &sabre("9.99")), &["below 10 kbps"]);
    // 10 kbps is the floor itself: accepted.
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ten.json", &sabre("10"));
    assert!(input::read_trace(&p, None).is_ok());
    // Cooked text: zero, near-zero.
    has(
        &refused("c0", "0 0\n1 0\n2 0\n"),
        &["c0", "no interval delivers"],
    );
    has(
        &refused("c1", "0 0\n1 1e-9\n2 1e-9\n"),
        &["c1", "below 10 kbps"],
    );
    // Mahimahi: one packet in a minute (0.2 kbps).
    has(&refused("m1", "60000\n"), &["m1", "below 10 kbps"]);
}

#[test]
fn non_finite_and_out_of_range_values_are_refused() {
    // JSON has no NaN/inf literals; 1e999 is parsed by serde_json as an error or inf.
    let m = refused(
        "inf.json",
        r#"[{"duration_ms": 1e999, "bandwidth_kbps": 100, "latency_ms": 0}]"#,
    );
    has(&m, &["inf.json"]);
    has(&refused("nan", "0 0\n1 NaN\n"), &["nan:2:", "not finite"]);
    has(&refused("inf", "0 0\ninf 5\n"), &["inf:2:", "not finite"]);
    // A latency of 1e300 ms would walk the trace for ever on every request.
    has(
        &refused(
            "lat.json",
            r#"[{"duration_ms": 1000, "bandwidth_kbps": 100, "latency_ms": 1e300}]"#,
        ),
        &["lat.json", "latency", "more than 60000 ms"],
    );
    // Periods of 1e-9 ms: a billion steps per second of trace.
    has(
        &refused(
            "dust.json",
            r#"[{"duration_ms": 1e-9, "bandwidth_kbps": 1e9, "latency_ms": 0}]"#,
        ),
        &["dust.json", "mean period"],
    );
    // A loop longer than a day.
    has(
        &refused(
            "long.json",
            r#"[{"duration_ms": 1e300, "bandwidth_kbps": 100, "latency_ms": 0}]"#,
        ),
        &["long.json", "24 h"],
    );
    has(&refused("late", "0 1\n90000 1\n"), &["late:2:", "24 h"]);
}

#[test]
fn oversized_files_and_counts_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.down");
    // A sparse file one byte over the limit: refused after reading at most the limit + 1.
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(MAX_INPUT_BYTES + 1).unwrap();
    let t0 = Instant::now();
    let e = input::read_mahimahi_trace(&p, 100, 0.0)
        .unwrap_err()
        .to_string();
    assert!(t0.elapsed() < Duration::from_secs(5));
    has(&e, &["big.down", "larger than"]);
    // More cooked samples than a trace may have (2^20 + 2 short lines, ~14 MB).
    let mut s = String::with_capacity(16 << 20);
    for i in 0..MAX_TRACE_PERIODS + 2 {
        s.push_str(&format!("{}.0 5\n", i / 100));
    }
    let m = refused("many", &s);
    has(&m, &["many:", "samples a trace may have"]);
}

#[test]
fn check_limits_guards_programmatic_traces_too() {
    let t = |kbps: f64, ms: f64| Trace {
        name: "x".into(),
        data: TraceData::Periods(vec![Period {
            duration_ms: ms,
            bandwidth_kbps: kbps,
            latency_ms: 0.0,
        }]),
    };
    assert!(t(MIN_TRACE_MEAN_KBPS, 1000.0).check_limits().is_ok());
    assert!(t(1e-6, 1000.0).check_limits().is_err());
    assert!(t(f64::NAN, 1000.0).check_limits().is_err());
    assert!(t(100.0, f64::INFINITY).check_limits().is_err());
    let samples = Trace {
        name: "s".into(),
        data: TraceData::Samples {
            t: vec![0.0, 1.0],
            bw_mbps: vec![1.0],
        },
    };
    assert!(samples
        .check_limits()
        .unwrap_err()
        .contains("2 timestamps but 1"));
}

#[test]
fn a_large_sabre_trace_is_read_in_linear_time() {
    // 200 000 periods (13 MB): the line of each period used to be found by scanning from the
    // start of the file for every period (quadratic: hours at this size).
    let dir = tempfile::tempdir().unwrap();
    let item = r#"{"duration_ms": 100, "bandwidth_kbps": 1000, "latency_ms": 20}"#;
    let body = format!("[{}]", vec![item; 200_000].join(",\n"));
    let p = write(dir.path(), "big.json", &body);
    let t0 = Instant::now();
    let t = input::read_trace(&p, None).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(t.to_periods(0.0).len(), 200_000);
    // Errors still name the period's line.
    let body = format!("[{},\n{}]", [item; 3].join(",\n"), r#"{"duration_ms": 1}"#);
    let p = write(dir.path(), "missing.json", &body);
    let e = input::read_trace(&p, None).unwrap_err().to_string();
    has(
        &e,
        &["missing.json:4:", "period 3: missing \"bandwidth_kbps\""],
    );
    let p = write(dir.path(), "notobj.json", "[\n1]");
    let e = input::read_trace(&p, None).unwrap_err().to_string();
    has(&e, &["period 0 is not an object"]);
    let p = write(dir.path(), "obj.json", "{}");
    let e = input::read_trace(&p, None).unwrap_err().to_string();
    has(&e, &["obj.json:1:", "expected a JSON list"]);
}

#[test]
fn hostile_ladders_are_refused() {
    let movie = |d: &str, size: &str| {
        format!(
            r#"{{"segment_duration_ms": {d}, "bitrates_kbps": [100, 200], "segment_sizes_bits": [[{size}, 2000]]}}"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str, body: &str| {
        let p = write(dir.path(), name, body);
        input::read_ladder(&p)
            .map(|l| l.segments())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read("ok.json", &movie("4000", "1000")), Ok(1));
    // A 1e300-bit segment would be transferred period by period for ever.
    let e = read("huge.json", &movie("4000", "1e300")).unwrap_err();
    has(
        &e,
        &["huge.json", "segment 0: size 1e300 bits", "more than 1e10"],
    );
    let e = read("tiny.json", &movie("1e-300", "1000")).unwrap_err();
    has(&e, &["tiny.json", "outside 1..=3600000 ms"]);
    let e = read("long.json", &movie("1e300", "1000")).unwrap_err();
    has(&e, &["long.json", "outside"]);
}
