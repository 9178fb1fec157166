//! `dashcdn player train`: trains a learned ABR with the simulator in the loop
//! (`player_sim::learn`) and writes the policy file that `--abr learned:FILE` plays.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use player_sim::input::{self, TraceFormat};
use player_sim::learn::{self, TrainConfig};
use player_sim::metrics::QoeOptions;
use player_sim::model::ModelKind;
use player_sim::session::SessionConfig;

/// Flags of `dashcdn player train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The ladder with per-segment sizes (as `study --movie`), e.g.
    /// ../shared/abr-traces/pensieve/envivio.
    #[arg(long, value_name = "PATH")]
    movie: PathBuf,
    /// A directory of training traces (repeatable; Sabre JSON, Pensieve cooked or Mahimahi).
    /// Keep the evaluation set out: e.g. pensieve/fcc_test_every6th, sabre/4Glogs,
    /// sabre/fcc_sd_first50, sabre/fcc_hd_first50, never pensieve/hsdpa_test.
    #[arg(long, value_name = "DIR", required = true)]
    traces: Vec<PathBuf>,
    /// Trace format (default: guessed per file).
    #[arg(long, value_name = "FORMAT", value_parser = super::player::parse_format)]
    trace_format: Option<TraceFormat>,
    /// Where to write the policy (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Seed of every random choice (variations, mixing, initial weights, minibatches): the
    /// same seed and inputs give the same policy, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// DAgger iterations (the first imitates the expert's own rollouts).
    #[arg(long, default_value_t = TrainConfig::default().iterations)]
    iterations: usize,
    /// Passes over the aggregated data after each iteration.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Variations (random start, rescaled bandwidth) of every trace per iteration.
    #[arg(long, default_value_t = TrainConfig::default().variations)]
    variations: usize,
    /// Rescale every variation's mean bandwidth to a log-uniform draw from LO:HI Mbit/s
    /// ("none" keeps the traces' own bandwidth).
    #[arg(long, value_name = "LO:HI", default_value = "0.5:5")]
    scale_mbps: String,
    /// Hidden layer widths, comma-separated.
    #[arg(
        long,
        value_name = "N,N",
        default_value = "128,64",
        value_delimiter = ','
    )]
    hidden: Vec<usize>,
    /// Adam learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    learning_rate: f32,
    /// What the network learns: `regret` (each output regresses the negated regret of its
    /// choice; the policy takes the least expected regret) or `imitation` (classifies the
    /// expert's choice: cross-entropy on soft targets plus the expected regret).
    #[arg(long, default_value = "regret", value_parser = ["regret", "imitation"])]
    objective: String,
    /// Regrets above this (QoE units) are trained as this (at most 20, the search's own cap).
    #[arg(long, default_value_t = TrainConfig::default().regret_cap)]
    regret_cap: f32,
    /// Probability of a random quality at a rollout decision (exploration).
    #[arg(long, default_value_t = TrainConfig::default().explore)]
    explore: f64,
    /// Temperature of the soft targets (QoE units; 0: the expert's best choice only).
    #[arg(long, default_value_t = TrainConfig::default().temperature)]
    temperature: f32,
    /// Weight of the expected regret of the policy's own choice in the loss.
    #[arg(long, default_value_t = TrainConfig::default().regret_weight)]
    regret_weight: f32,
    /// Synthetic traces (a Markov chain over bandwidth levels, as Pensieve generated) added to
    /// the --traces.
    #[arg(long, default_value_t = TrainConfig::default().synthetic)]
    synthetic: usize,
    /// Fraction of the traces held out to choose the best iteration.
    #[arg(long, default_value_t = TrainConfig::default().validation_fraction)]
    validation: f64,
    /// The expert's search beam (states kept per segment; `optimal` uses 1000).
    #[arg(long, default_value_t = TrainConfig::default().expert.beam)]
    expert_beam: usize,
    /// Segments the expert plans ahead from each decision (48: to the end of the video).
    #[arg(long, default_value_t = TrainConfig::default().horizon)]
    horizon: usize,
    /// Share of the decisions the expert labels (the expensive part of a rollout).
    #[arg(long, default_value_t = TrainConfig::default().label_fraction)]
    label_fraction: f64,
    /// Worker threads for the rollouts (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

/// Runs `dashcdn player train`.
pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    let ladder = input::read_ladder(&a.movie)?;
    let mut traces = Vec::new();
    for d in &a.traces {
        let mut t = input::read_trace_dir(d, a.trace_format)?;
        // Names must stay unique across directories (they name the held-out set).
        let dir = d.file_name().map(|n| n.to_string_lossy().into_owned());
        for x in &mut t {
            if let Some(dir) = &dir {
                x.name = format!("{dir}/{}", x.name);
            }
        }
        traces.extend(t);
    }
    let scale_mbps = match a.scale_mbps.as_str() {
        "none" => None,
        s => {
            let (lo, hi) = s
                .split_once(':')
                .with_context(|| format!("--scale-mbps takes LO:HI or none, got {s}"))?;
            Some((
                lo.trim().parse::<f64>().context("--scale-mbps LO")?,
                hi.trim().parse::<f64>().context("--scale-mbps HI")?,
            ))
        }
    };
    let mut cfg = TrainConfig {
        seed: a.seed,
        iterations: a.iterations,
        epochs: a.epochs,
        variations: a.variations,
        scale_mbps,
        hidden: a.hidden.clone(),
        learning_rate: a.learning_rate,
        validation_fraction: a.validation,
        synthetic: a.synthetic,
        temperature: a.temperature,
        explore: a.explore,
        regret_cap: a.regret_cap,
        objective: if a.objective == "imitation" {
            learn::Objective::Imitation
        } else {
            learn::Objective::Regret
        },
        horizon: a.horizon,
        label_fraction: a.label_fraction,
        regret_weight: a.regret_weight,
        ..TrainConfig::default()
    };
    cfg.expert.beam = a.expert_beam.max(1);
    let session = SessionConfig::for_model(ModelKind::Pensieve);
    let qoe = QoeOptions {
        skip_first: true,
        ..Default::default()
    };
    eprintln!(
        "training on {} traces + {} synthetic ({} variations each per iteration) for the \
         {}-rung ladder {}, {} iterations, seed {}",
        traces.len(),
        cfg.synthetic,
        cfg.variations,
        ladder.levels(),
        ladder.name,
        cfg.iterations,
        cfg.seed
    );
    let run = || {
        learn::train(&ladder, &traces, &session, &qoe, &cfg, |r| {
            eprintln!(
                "iteration {:>2}: expert share {:.3}, {:>6} samples, loss {:.4}, agreement {:.1} %, \
                 held-out QoE_lin {:.3}, {:.1} s",
                r.iteration,
                r.expert_share,
                r.samples,
                r.loss,
                r.agreement * 100.0,
                r.validation_qoe,
                r.seconds
            )
        })
    };
    let (policy, report) = match a.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j.max(1))
            .build()?
            .install(run)?,
        None => run()?,
    };
    policy.save(&a.out)?;
    eprintln!(
        "kept iteration {} (held-out QoE_lin {:.3}; the expert itself {:.3}); {} parameters; \
         {:.1} s in all",
        report.best_iteration,
        report.iterations[report.best_iteration].validation_qoe,
        report.validation_expert_qoe,
        report.parameters,
        report.seconds
    );
    println!("wrote {}", a.out.display());
    Ok(())
}
