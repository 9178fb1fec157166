//! Speed benchmark: `cargo run --release -p player-sim --example speed`.
//!
//! * BBA on 48-segment movies (Pensieve's Envivio ladder) over the HSDPA test traces, on one
//!   thread: playbacks per second per core, for the pensieve and the sabre/generic engines.
//! * The learned policy shipped in `examples/abr/learned-envivio.json` (`learned:FILE`) over
//!   the HSDPA test traces, pensieve model, one thread: playbacks and decisions per second.
//! * robustMPC (pensieve model, errors carried trace to trace as mpc.py does) over all HSDPA and
//!   FCC test traces, on one thread: wall time.
//! * robustMPC/fastMPC plan search, branch and bound vs exhaustive (same decisions, checked
//!   here): 6 rungs (Envivio, HSDPA, pensieve model) and 10 rungs (Sabre's BBB ladder, 199 x
//!   3 s segments, over the 3G logs, sabre model), one thread.

use std::path::PathBuf;
use std::time::Instant;

use player_sim::abr::mpc::Mpc;
use player_sim::abr::AbrKind;
use player_sim::input::{self, Ladder, Trace};
use player_sim::metrics::{compute, QoeOptions};
use player_sim::model::ModelKind;
use player_sim::session::{build_abr, run_with, SessionConfig};
use player_sim::study::{run_with_jobs, StudyConfig};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

/// Plays every trace with a fresh robustMPC/fastMPC: (seconds, decisions, decision sequences).
fn mpc_playbacks(
    ladder: &Ladder,
    traces: &[Trace],
    cfg: &SessionConfig,
    robust: bool,
    pruned: bool,
) -> (f64, usize, Vec<Vec<usize>>) {
    let start = Instant::now();
    let seqs: Vec<Vec<usize>> = traces
        .iter()
        .map(|t| {
            let mut m = if robust { Mpc::robust() } else { Mpc::fast() };
            m.pruned = pruned;
            let p = run_with(ladder, t, &mut m, cfg);
            p.events.iter().map(|e| e.quality).collect()
        })
        .collect();
    let n = seqs.iter().map(Vec::len).sum();
    (start.elapsed().as_secs_f64(), n, seqs)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let movie = input::read_ladder(&shared("pensieve/envivio"))?;
    let hsdpa = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None)?;
    let fcc = input::read_trace_dir(&shared("pensieve/fcc_test_every6th"), None)?;
    for model in [ModelKind::Pensieve, ModelKind::Sabre, ModelKind::Generic] {
        let mut cfg = SessionConfig::for_model(model);
        cfg.segments = Some(48);
        let rounds = 100;
        let start = Instant::now();
        let mut n = 0usize;
        let mut acc = 0.0;
        for _ in 0..rounds {
            for t in &hsdpa {
                let mut a = build_abr(&AbrKind::Bba, &movie, t, &cfg)?;
                let p = run_with(&movie, t, a.as_mut(), &cfg);
                acc += compute(&p, &movie.bitrates_kbps, &QoeOptions::default()).qoe_lin;
                n += 1;
            }
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "BBA, {model} model, 48 segments, 1 thread: {n} playbacks in {s:.3} s = {:.0} playbacks/s/core (checksum {acc:.3})",
            n as f64 / s
        );
    }
    let policy = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/abr/learned-envivio.json"
    ));
    let policy = std::sync::Arc::new(player_sim::learn::Policy::load(&policy)?);
    let cfg = SessionConfig::for_model(ModelKind::Pensieve);
    let start = Instant::now();
    let (mut playbacks, mut decisions) = (0usize, 0usize);
    for _ in 0..20 {
        for t in &hsdpa {
            let mut a = player_sim::abr::learned::Learned::new(policy.clone());
            let p = run_with(&movie, t, &mut a, &cfg);
            playbacks += 1;
            decisions += p.events.len();
        }
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "learned policy, pensieve model, HSDPA, 1 thread: {playbacks} playbacks in {s:.3} s = {:.0} playbacks/s/core, {:.0} decisions/s (policy loaded once)",
        playbacks as f64 / s,
        decisions as f64 / s
    );
    for (name, traces) in [("HSDPA", &hsdpa), ("FCC", &fcc)] {
        let cfg = StudyConfig {
            keep_events: false,
            ..StudyConfig::for_model(ModelKind::Pensieve, vec![AbrKind::RobustMpc])
        };
        let start = Instant::now();
        let s = run_with_jobs(Some(1), &movie, traces, &cfg)?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "robustMPC, pensieve model, {} {name} traces x 48 chunks, 1 thread: {secs:.3} s ({:.0} playbacks/s/core), mean QoE_lin(2..48) {:.3}",
            traces.len(),
            traces.len() as f64 / secs,
            s.summary[0].qoe_lin.mean
        );
    }
    let bbb = input::read_ladder(&shared("sabre/bbb.json"))?;
    let g3 = input::read_trace_dir(&shared("sabre/3Glogs_every3rd"), None)?;
    let cases = [
        (
            "6 rungs, Envivio x HSDPA, pensieve model",
            &movie,
            &hsdpa,
            ModelKind::Pensieve,
        ),
        (
            "10 rungs, BBB x 3G logs, sabre model",
            &bbb,
            &g3,
            ModelKind::Sabre,
        ),
    ];
    for (what, ladder, traces, model) in cases {
        let cfg = SessionConfig::for_model(model);
        for robust in [true, false] {
            let name = if robust { "robustMPC" } else { "fastMPC" };
            let (t_all, n, s_all) = mpc_playbacks(ladder, traces, &cfg, robust, false);
            let (t_bnb, _, s_bnb) = mpc_playbacks(ladder, traces, &cfg, robust, true);
            if s_all != s_bnb {
                return Err(format!("{name} {what}: pruned search decided differently").into());
            }
            println!(
                "{name} plan search, {what} ({} traces, {n} decisions), 1 thread: exhaustive {t_all:.3} s ({:.1} us/decision), branch and bound {t_bnb:.3} s ({:.1} us/decision): {:.1}x, same decisions",
                traces.len(),
                1e6 * t_all / n as f64,
                1e6 * t_bnb / n as f64,
                t_all / t_bnb
            );
        }
    }
    Ok(())
}
