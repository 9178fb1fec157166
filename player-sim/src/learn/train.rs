//! Training against the offline optimum with the simulator in the loop (Comyco's idea of an
//! expert that knows the future, with DAgger's data collection and AggreVaTe's cost-to-go).
//!
//! ```text
//!  training traces ──vary (seeded)──▶ rollouts in the Pensieve model ──▶ (features, regret of
//!  + synthetic ones                    at a decision the expert values   every choice), kept
//!        │                             every choice (optimal's           over all iterations
//!        │                             search from this state, knowing         │
//!        │                             the next `horizon` segments); the       ▼
//!        │                             expert, the policy or (explore) a  minibatch Adam:
//!        │                             random choice acts                 −regret regression
//!        └─ held-out traces ──▶ validation QoE of the policy alone ──▶ the best iteration is kept
//! ```
//!
//! **Labels.** At a labelled decision the expert runs the `optimal` algorithm's dynamic program
//! from the rollout's exact state (trace position, clock, buffer, last quality), once per
//! choice for this segment ([`choice_values_pensieve`]), so every choice gets the best QoE_lin
//! reachable after it; its *regret* is how much it loses against the best choice.
//!
//! **Objective.** [`Objective::Regret`] (the default) trains each output to the negated regret
//! of its choice, so the policy picks the least *expected* regret given what a player can see.
//! Plain imitation (classifying the expert's choice) fails here: the expert knows the future,
//! so in one observable state it goes high on some traces and low on others, and a classifier
//! takes the more frequent answer even when the other one's mistakes cost ten times more (a
//! stall against a lower rung). Measured on the HSDPA set with the same data: imitation
//! 22–36, regret regression 44+ (README). [`Objective::Imitation`] is kept for comparison.
//!
//! **Data.** Iteration 0 lets the expert act (its states); iteration `k` lets it act with
//! probability `beta^k` and the policy otherwise, so the data covers the states the policy
//! itself reaches (DAgger, Ross et al. 2011); with probability `explore` a random choice is
//! played instead, which puts states no good player reaches (an empty buffer after a top-rung
//! request) into the data. Labelling is nearly all of the cost, so only `label_fraction` of the
//! decisions are labelled and the expert looks `horizon` segments ahead.
//!
//! Everything is a function of the seed: variations, synthetic traces, mixing and exploration
//! draws and minibatch order come from [`SplitMix64`] streams derived from it, rollouts run in
//! parallel but are collected in order, and the network trains in one thread.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::features::{self, History, FEATURE_SET};
use super::mlp::{argmax, Mlp, Trainer};
use super::policy::{Policy, FORMAT, VERSION};
use super::traces::Samples;
use crate::abr::learned::Learned;
use crate::abr::Ctx;
use crate::input::{Ladder, Trace, TraceData};
use crate::metrics::{self, QoeOptions};
use crate::model::pensieve::{self, TracePos};
use crate::model::ModelKind;
use crate::optimal::{choice_values_pensieve, PensieveState, Resolution};
use crate::rng::SplitMix64;
use crate::session::{self, SessionConfig};

/// What the network is trained to output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Classify: cross-entropy against `softmax(−regret / temperature)` plus `regret_weight`
    /// × the expected regret of the softmax choice.
    Imitation,
    /// Regress: each output is the negated regret of its choice (mean squared error), so the
    /// largest output is the choice with the least expected regret given what the player
    /// sees (AggreVaTe's cost-to-go, Ross & Bagnell 2014).
    Regret,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Seed of everything random.
    pub seed: u64,
    /// DAgger iterations (the first is pure imitation).
    pub iterations: usize,
    /// Probability decay of letting the expert act: `beta^k` in iteration `k`.
    pub beta: f64,
    /// Passes over the aggregated data after each iteration's rollouts.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Variations of every training trace per iteration.
    pub variations: usize,
    /// Rescale each variation's mean bandwidth into this range (Mbit/s, log-uniform).
    pub scale_mbps: Option<(f64, f64)>,
    /// Synthetic traces ([`super::synth`]) added to the given ones.
    pub synthetic: usize,
    /// Fraction of the traces held out for choosing the best iteration.
    pub validation_fraction: f64,
    /// The training objective.
    pub objective: Objective,
    /// Probability of a random quality at a decision in the rollouts.
    pub explore: f64,
    /// Regrets above this (QoE units) are trained as this: the network's capacity goes to
    /// ranking the sensible choices rather than to sizing disasters exactly.
    pub regret_cap: f32,
    /// Temperature (QoE units) of the soft targets: the target of a choice is
    /// `softmax(−regret / temperature)`, so near-equal choices share the target.
    pub temperature: f32,
    /// Weight of the expected regret of the policy's own choice in the loss.
    pub regret_weight: f32,
    /// The expert's search resolution.
    #[serde(skip)]
    pub expert: Resolution,
    /// Segments the expert looks ahead from each decision (the rest of the session at most).
    pub horizon: usize,
    /// Share of the decisions that the expert labels (the others are played but not kept);
    /// labelling is nearly all of a rollout's cost.
    pub label_fraction: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 1,
            iterations: 8,
            beta: 0.5,
            epochs: 12,
            batch: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-5,
            hidden: vec![128, 64],
            variations: 8,
            scale_mbps: Some((0.5, 5.0)),
            synthetic: 0,
            validation_fraction: 0.15,
            objective: Objective::Regret,
            explore: 0.1,
            regret_cap: 6.0,
            temperature: 1.0,
            regret_weight: 0.5,
            expert: Resolution {
                grid_ms: 250.0,
                beam: 60,
            },
            horizon: 16,
            label_fraction: 0.5,
        }
    }
}

/// Training went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Training works in the Pensieve model only (its expert is that model's optimum).
    #[error("training uses the pensieve model (its expert plans with it); got {0}")]
    Model(ModelKind),
    /// Not enough traces to train and validate.
    #[error("need at least 2 training traces, got {0}")]
    TooFewTraces(usize),
    /// A setting is out of range.
    #[error("invalid training setting: {0}")]
    Setting(String),
}

/// One iteration's figures.
#[derive(Debug, Clone, Serialize)]
pub struct IterationReport {
    /// Iteration (0 = behaviour cloning).
    pub iteration: usize,
    /// Probability that the expert acted in this iteration's rollouts.
    pub expert_share: f64,
    /// Samples aggregated so far.
    pub samples: usize,
    /// Mean cross-entropy in the last epoch.
    pub loss: f64,
    /// Share of all aggregated samples on which the policy picks the expert's label.
    pub agreement: f64,
    /// Mean QoE_lin of the policy alone on the held-out traces (three seeded variations each).
    pub validation_qoe: f64,
    /// Wall seconds for this iteration (not in the policy file, which a seed reproduces).
    #[serde(skip)]
    pub seconds: f64,
}

/// What training produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Per iteration.
    pub iterations: Vec<IterationReport>,
    /// The iteration whose network was kept.
    pub best_iteration: usize,
    /// Mean QoE_lin of the expert itself on the held-out traces (an upper reference).
    pub validation_expert_qoe: f64,
    /// Training traces (base, before variations).
    pub training_traces: Vec<String>,
    /// Held-out traces.
    pub validation_traces: Vec<String>,
    /// Network parameters.
    pub parameters: usize,
    /// Wall seconds in all (not in the policy file, which a seed reproduces).
    #[serde(skip)]
    pub seconds: f64,
}

/// Trains a policy for `ladder` on `traces` under `session` (which must be the Pensieve model).
/// `progress` is told about each iteration as it ends.
pub fn train(
    ladder: &Ladder,
    traces: &[Trace],
    session: &SessionConfig,
    qoe: &QoeOptions,
    cfg: &TrainConfig,
    mut progress: impl FnMut(&IterationReport),
) -> Result<(Policy, TrainReport), TrainError> {
    if session.model != ModelKind::Pensieve {
        return Err(TrainError::Model(session.model));
    }
    let mut base: Vec<Samples> = traces.iter().map(Samples::of).collect();
    base.extend(super::synth::traces(cfg.synthetic, cfg.seed));
    if base.len() < 2 {
        return Err(TrainError::TooFewTraces(base.len()));
    }
    if cfg.iterations == 0 || cfg.batch == 0 || cfg.variations == 0 {
        return Err(TrainError::Setting(
            "iterations, batch and variations must be at least 1".into(),
        ));
    }
    let settings_ok = (0.0..1.0).contains(&cfg.validation_fraction)
        && (0.0..=1.0).contains(&cfg.beta)
        && (0.0..=1.0).contains(&cfg.explore)
        && cfg.label_fraction > 0.0
        && cfg.label_fraction <= 1.0;
    if !settings_ok {
        return Err(TrainError::Setting(
            "validation fraction must be in [0, 1), beta and explore in [0, 1], \
             label fraction in (0, 1]"
                .into(),
        ));
    }
    if let Some((lo, hi)) = cfg.scale_mbps {
        if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
            return Err(TrainError::Setting(format!(
                "bandwidth range {lo}:{hi} Mbit/s must satisfy 0 < lo <= hi"
            )));
        }
    }
    let started = Instant::now();
    let levels = ladder.levels();
    let nf = features::count(levels);

    // Seeded split into training and validation traces.
    let mut order: Vec<usize> = (0..base.len()).collect();
    let mut split_rng = SplitMix64::new(cfg.seed ^ 0x5EED_0001);
    for i in (1..order.len()).rev() {
        order.swap(i, split_rng.below(i + 1));
    }
    let n_val =
        ((base.len() as f64 * cfg.validation_fraction).round() as usize).min(base.len() - 1);
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut val_rng = SplitMix64::new(cfg.seed ^ 0x5EED_0002);
    let validation: Vec<Samples> = val_idx
        .iter()
        .flat_map(|&i| [i, i, i])
        .map(|i| base[i].vary(&mut val_rng, cfg.scale_mbps))
        .collect();

    let mut xs: Vec<f32> = Vec::new();
    let mut ys: Vec<u8> = Vec::new();
    let mut regrets: Vec<f32> = Vec::new();
    let mut sizes = vec![nf];
    sizes.extend(&cfg.hidden);
    sizes.push(levels);
    let mut policy = Policy {
        format: FORMAT.into(),
        version: VERSION,
        feature_set: FEATURE_SET.into(),
        levels,
        bitrates_kbps: ladder.bitrates_kbps.clone(),
        input_mean: vec![0.0; nf],
        input_scale: vec![1.0; nf],
        network: Mlp::new(&sizes, cfg.seed),
        training: serde_json::Value::Null,
    };
    let mut trainer = Trainer::new(&policy.network, cfg.learning_rate, cfg.weight_decay);
    let mut batch_rng = SplitMix64::new(cfg.seed ^ 0x5EED_0003);
    let mut reports = Vec::new();
    let mut best: Option<(f64, usize, Policy)> = None;

    for it in 0..cfg.iterations {
        let t0 = Instant::now();
        let share = if it == 0 {
            1.0
        } else {
            cfg.beta.powi(it as i32)
        };
        let acting = (it > 0).then(|| Arc::new(policy.clone()));
        // Rollouts: one per (training trace, variation), each with its own seeded stream.
        let jobs: Vec<(usize, usize)> = train_idx
            .iter()
            .flat_map(|&i| (0..cfg.variations).map(move |v| (i, v)))
            .collect();
        let collected: Vec<Rollout> = jobs
            .par_iter()
            .map(|&(i, v)| {
                let mut rng = SplitMix64::new(
                    cfg.seed
                        ^ (it as u64).wrapping_mul(0x9E37_79B9)
                        ^ ((i * 64 + v) as u64).wrapping_mul(0x85EB_CA6B_0000_0001),
                );
                let s = base[i].vary(&mut rng, cfg.scale_mbps);
                let how = RolloutSettings {
                    expert_share: share,
                    expert: cfg.expert,
                    horizon: cfg.horizon,
                    label_fraction: cfg.label_fraction,
                    explore: cfg.explore,
                };
                rollout(ladder, &s, session, acting.as_deref(), &how, &mut rng)
            })
            .collect();
        for r in collected {
            xs.extend(r.features);
            ys.extend(r.labels);
            regrets.extend(r.regrets);
        }
        if it == 0 {
            let (m, s) = normalisation(&xs, nf);
            policy.input_mean = m;
            policy.input_scale = s;
        }
        // Train on everything aggregated so far (normalised copy).
        let mut normed = xs.clone();
        normed.chunks_mut(nf).for_each(|row| policy.normalise(row));
        let n = ys.len();
        let soft: Vec<f32> = regrets
            .chunks(levels)
            .flat_map(|r| soft_target(r, cfg.temperature))
            .collect();
        let neg_regrets: Vec<f32> = regrets.iter().map(|r| -r.min(cfg.regret_cap)).collect();
        let mut idx: Vec<usize> = (0..n).collect();
        let mut loss = 0.0;
        for _ in 0..cfg.epochs {
            for i in (1..n).rev() {
                idx.swap(i, batch_rng.below(i + 1));
            }
            let (mut sum, mut batches) = (0.0f64, 0usize);
            for chunk in idx.chunks(cfg.batch) {
                let bx: Vec<&[f32]> = chunk
                    .iter()
                    .map(|&k| &normed[k * nf..(k + 1) * nf])
                    .collect();
                let bt: Vec<&[f32]> = chunk
                    .iter()
                    .map(|&k| &soft[k * levels..(k + 1) * levels])
                    .collect();
                let br: Vec<&[f32]> = chunk
                    .iter()
                    .map(|&k| &regrets[k * levels..(k + 1) * levels])
                    .collect();
                sum += match cfg.objective {
                    Objective::Imitation => trainer.step_soft(
                        &mut policy.network,
                        &bx,
                        &bt,
                        Some((&br, cfg.regret_weight)),
                    ),
                    Objective::Regret => {
                        let neg: Vec<&[f32]> = chunk
                            .iter()
                            .map(|&k| &neg_regrets[k * levels..(k + 1) * levels])
                            .collect();
                        trainer.step_regress(&mut policy.network, &bx, &neg)
                    }
                } as f64;
                batches += 1;
            }
            loss = sum / batches.max(1) as f64;
        }
        let agree = (0..n)
            .filter(|&k| {
                argmax(&policy.network.logits(&normed[k * nf..(k + 1) * nf])) == ys[k] as usize
            })
            .count() as f64
            / n.max(1) as f64;
        let validation_qoe = evaluate(ladder, &validation, session, qoe, &policy);
        let r = IterationReport {
            iteration: it,
            expert_share: share,
            samples: n,
            loss,
            agreement: agree,
            validation_qoe,
            seconds: t0.elapsed().as_secs_f64(),
        };
        progress(&r);
        if best.as_ref().is_none_or(|(q, _, _)| validation_qoe > *q) {
            best = Some((validation_qoe, it, policy.clone()));
        }
        reports.push(r);
    }
    let validation_expert_qoe = expert_qoe(ladder, &validation, session, qoe);
    let (_, best_iteration, mut kept) = best.expect("at least one iteration ran");
    let report = TrainReport {
        iterations: reports,
        best_iteration,
        validation_expert_qoe,
        training_traces: train_idx.iter().map(|&i| base[i].name.clone()).collect(),
        validation_traces: val_idx.iter().map(|&i| base[i].name.clone()).collect(),
        parameters: kept.network.parameters(),
        seconds: started.elapsed().as_secs_f64(),
    };
    kept.training = serde_json::json!({ "config": cfg, "report": &report });
    Ok((kept, report))
}

/// `softmax(−regret / temperature)` (one-hot on the best choice at temperature 0).
fn soft_target(regret: &[f32], temperature: f32) -> Vec<f32> {
    if temperature <= 0.0 {
        let best = argmax(&regret.iter().map(|r| -r).collect::<Vec<_>>());
        return (0..regret.len())
            .map(|j| f32::from(u8::from(j == best)))
            .collect();
    }
    let e: Vec<f32> = regret.iter().map(|r| (-r / temperature).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Regret given to a choice the expert's search pruned entirely (QoE units).
pub const REGRET_CAP: f32 = 20.0;

/// Per-feature mean and standard deviation (floored, so constant features pass unchanged).
fn normalisation(xs: &[f32], nf: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (xs.len() / nf).max(1) as f64;
    let mut mean = vec![0.0f64; nf];
    for row in xs.chunks(nf) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; nf];
    for row in xs.chunks(nf) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let scale = var
        .iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd < 1e-3 {
                1.0
            } else {
                sd as f32
            }
        })
        .collect();
    (mean.iter().map(|m| *m as f32).collect(), scale)
}

fn trace_of(s: &Samples) -> Trace {
    Trace {
        name: s.name.clone(),
        data: TraceData::Samples {
            t: s.t.clone(),
            bw_mbps: s.bw_mbps.clone(),
        },
    }
}

/// Mean QoE_lin of `policy` alone on `traces`.
fn evaluate(
    ladder: &Ladder,
    traces: &[Samples],
    session: &SessionConfig,
    qoe: &QoeOptions,
    policy: &Policy,
) -> f64 {
    let p = Arc::new(policy.clone());
    let each: Vec<f64> = traces
        .par_iter()
        .map(|s| {
            let mut a = Learned::new(p.clone());
            let pb = session::run_with(ladder, &trace_of(s), &mut a, session);
            metrics::compute(&pb, &ladder.bitrates_kbps, qoe).qoe_lin
        })
        .collect();
    // Summed in trace order: the same figure whatever the threads.
    each.iter().sum::<f64>() / traces.len().max(1) as f64
}

/// Mean QoE_lin of the expert (acting at every step) on `traces`.
fn expert_qoe(
    ladder: &Ladder,
    traces: &[Samples],
    session: &SessionConfig,
    qoe: &QoeOptions,
) -> f64 {
    let each: Vec<f64> = traces
        .par_iter()
        .map(|s| {
            let plan = crate::optimal::plan(ladder, &trace_of(s), session);
            let mut a = plan;
            let pb = session::run_with(ladder, &trace_of(s), &mut a, session);
            metrics::compute(&pb, &ladder.bitrates_kbps, qoe).qoe_lin
        })
        .collect();
    each.iter().sum::<f64>() / traces.len().max(1) as f64
}

/// How a rollout acts and labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RolloutSettings {
    /// Probability that the expert acts at a decision (always when there is no policy).
    pub expert_share: f64,
    /// The expert's search resolution.
    pub expert: Resolution,
    /// Segments the expert plans ahead.
    pub horizon: usize,
    /// Share of the decisions labelled.
    pub label_fraction: f64,
    /// Probability of a uniformly random quality instead (after labelling), so that the data
    /// also covers states that neither the expert nor the policy would reach on their own.
    pub explore: f64,
}

/// What one rollout collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollout {
    /// Features of every decision, flattened.
    pub features: Vec<f32>,
    /// The expert's label of every decision (its best choice).
    pub labels: Vec<u8>,
    /// Per decision and choice, the QoE the choice loses against the best one (flattened,
    /// `levels` per decision; at most [`REGRET_CAP`]).
    pub regrets: Vec<f32>,
    /// The quality played for every segment.
    pub played: Vec<usize>,
}

/// One session in the Pensieve model exactly as [`pensieve::run`] plays it, labelling every
/// decision with the expert's choice. The expert acts with probability `expert_share` (always
/// when `policy` is `None`), the policy otherwise.
pub fn rollout(
    ladder: &Ladder,
    s: &Samples,
    cfg: &SessionConfig,
    policy: Option<&Policy>,
    how: &RolloutSettings,
    rng: &mut SplitMix64,
) -> Rollout {
    let RolloutSettings {
        expert_share,
        expert,
        horizon,
        label_fraction,
        explore,
    } = *how;
    let n = cfg.segment_count(ladder);
    let d = ladder.segment_duration_ms;
    let top = ladder.levels() - 1;
    let mut pos = TracePos::new(&s.t, &s.bw_mbps);
    let mut buf = 0.0;
    let mut clock = 0.0;
    let mut q = pensieve::DEFAULT_QUALITY.min(top);
    let mut hist = History::default();
    let mut scratch = Vec::new();
    let mut out = Rollout::default();
    let mut f = Vec::new();
    for i in 0..n {
        out.played.push(q);
        let size_bits = ladder.sizes_bits[i][q];
        let st = pensieve::chunk_step(&mut pos, &mut buf, size_bits / 8.0, d, cfg.buffer_max_ms);
        let dl = st.download(i, q, size_bits);
        hist.push(&dl);
        if i + 1 >= n {
            break;
        }
        let ctx = Ctx {
            ladder,
            quirks: cfg.model.quirks(),
            index: i + 1,
            segments: n,
            buffer_ms: buf,
            buffer_max_ms: cfg.buffer_max_ms,
            last_quality: q,
            throughput_kbps: None,
            latency_ms: None,
        };
        features::extract(&ctx, &hist, &mut f);
        clock += st.delay_ms + st.sleep_ms;
        let state = PensieveState {
            pos,
            clock_ms: clock,
            buffer_ms: buf,
            last_quality: q,
            index: i + 1,
        };
        let expert_acts = policy.is_none() || rng.next_f64() < expert_share;
        let labelled = rng.next_f64() < label_fraction;
        // The policy decides from the features just extracted (what `Learned` computes from
        // the same history in a session).
        let mut policy_choice = || {
            policy.map_or(q, |p| {
                scratch.clear();
                scratch.extend_from_slice(&f);
                p.choose(&mut scratch, top + 1)
            })
        };
        if !expert_acts && !labelled {
            q = policy_choice();
            continue;
        }
        let values = choice_values_pensieve(ladder, cfg, state, expert, horizon);
        let best = values
            .iter()
            .flatten()
            .fold(f64::NEG_INFINITY, |a, b| a.max(*b));
        let label = values.iter().position(|v| *v == Some(best)).unwrap_or(q);
        if labelled {
            out.features.extend_from_slice(&f);
            out.labels.push(label as u8);
            out.regrets.extend(
                values
                    .iter()
                    .map(|v| v.map_or(REGRET_CAP, |v| ((best - v) as f32).min(REGRET_CAP))),
            );
        }
        q = if expert_acts { label } else { policy_choice() };
        if explore > 0.0 && rng.next_f64() < explore {
            q = rng.below(top + 1);
        }
    }
    out
}
