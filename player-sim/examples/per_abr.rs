//! Playbacks per second per algorithm, for the proof suite (`bench/run`):
//! `cargo run --release -p player-sim --example per_abr -- [ROUNDS]`.
//!
//! Every built-in algorithm plays the 142 HSDPA test traces on Pensieve's Envivio movie under
//! the Pensieve model (the study `dashcdn player study --abr all` runs), on one thread, with
//! events not kept: each round times one algorithm's 142 playbacks (repeated until 0.3 s have
//! passed), algorithms in the same order every round. Prints one JSON line per algorithm and round —
//! `{"block":"sim_abr","server":"bola-e","run":1,"playbacks":142,"secs":…,"playbacks_per_s":…,
//! "mean_qoe":…}` — so that the report can quote medians and spread; the mean QoE is printed
//! as a check that every round played the same sessions.

use std::path::PathBuf;
use std::time::Instant;

use player_sim::abr::AbrKind;
use player_sim::input;
use player_sim::model::ModelKind;
use player_sim::study::{run_with_jobs, StudyConfig};

/// Shortest time one measurement runs.
const MIN_SECS: f64 = 0.3;

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 3,
    };
    let movie = input::read_ladder(&shared("pensieve/envivio"))?;
    let hsdpa = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None)?;
    for run in 1..=rounds {
        for kind in AbrKind::BUILT_IN {
            let name = kind.name().unwrap_or("?");
            let cfg = StudyConfig {
                keep_events: false,
                ..StudyConfig::for_model(ModelKind::Pensieve, vec![kind.clone()])
            };
            // The whole study again until MIN_SECS have passed: the fast algorithms play 142
            // traces in about a millisecond, too short to time alone.
            let start = Instant::now();
            let mut studies = 0usize;
            let study = loop {
                let study = run_with_jobs(Some(1), &movie, &hsdpa, &cfg)?;
                studies += 1;
                if start.elapsed().as_secs_f64() >= MIN_SECS {
                    break study;
                }
            };
            let secs = start.elapsed().as_secs_f64();
            let n = hsdpa.len() * studies;
            println!(
                "{{\"block\":\"sim_abr\",\"case\":\"Envivio x {} HSDPA traces, pensieve model, 1 thread\",\"server\":\"{name}\",\"run\":{run},\"playbacks\":{n},\"secs\":{secs:.6},\"playbacks_per_s\":{:.1},\"mean_qoe\":{:.4}}}",
                hsdpa.len(),
                n as f64 / secs,
                study.summary[0].qoe_lin.mean
            );
        }
    }
    Ok(())
}
