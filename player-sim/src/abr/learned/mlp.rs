//! A small multilayer perceptron (ReLU hidden layers, softmax output) with cross-entropy
//! training by Adam — the learned ABR's policy network.
//!
//! Hand-written on purpose: the network has about 12 k parameters and two hidden layers, so
//! forward and backward passes are a few dozen lines, while `candle` or `burn` would add
//! minutes of compile time to every CI run on two cores (and `burn` hundreds of crates) for
//! kernels this size cannot use. Plain loops also keep training bit-for-bit reproducible from a
//! seed (fixed summation order, no threads inside a step), which a study must be.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// One fully connected layer: `y = W x + b`, `W` row-major `[out][in]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Weights, `outputs × inputs`, row-major.
    pub w: Vec<f32>,
    /// Biases, `outputs`.
    pub b: Vec<f32>,
}

impl Dense {
    fn new(inputs: usize, outputs: usize, rng: &mut SplitMix64) -> Dense {
        // He initialisation for ReLU layers.
        let sd = (2.0 / inputs as f64).sqrt();
        Dense {
            inputs,
            outputs,
            w: (0..inputs * outputs)
                .map(|_| (rng.normal() * sd) as f32)
                .collect(),
            b: vec![0.0; outputs],
        }
    }
    fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        for o in 0..self.outputs {
            let row = &self.w[o * self.inputs..(o + 1) * self.inputs];
            let mut s = self.b[o];
            for (w, v) in row.iter().zip(x) {
                s += w * v;
            }
            y.push(s);
        }
    }
}

/// The network: dense layers with ReLU between them, logits out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// The layers, input first.
    pub layers: Vec<Dense>,
}

impl Mlp {
    /// A network with layer widths `sizes` (input, hidden…, output), initialised from `seed`.
    pub fn new(sizes: &[usize], seed: u64) -> Mlp {
        let mut rng = SplitMix64::new(seed);
        Mlp {
            layers: sizes
                .windows(2)
                .map(|w| Dense::new(w[0], w[1], &mut rng))
                .collect(),
        }
    }
    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }
    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }
    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }
    /// Logits for `x`.
    pub fn logits(&self, x: &[f32]) -> Vec<f32> {
        let mut a = x.to_vec();
        let mut y = Vec::new();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            l.forward(&a, &mut y);
            if i < last {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            std::mem::swap(&mut a, &mut y);
        }
        a
    }
    /// Index of the largest logit (the first on ties).
    pub fn argmax(&self, x: &[f32]) -> usize {
        argmax(&self.logits(x))
    }
    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.w.iter().chain(&l.b).all(|v| v.is_finite()))
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Adam optimiser state and the gradient buffers of one network.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// Learning rate.
    pub lr: f32,
    /// L2 weight decay (added to the gradient of weights, not biases).
    pub weight_decay: f32,
    grad: Vec<(Vec<f32>, Vec<f32>)>,
    m: Vec<(Vec<f32>, Vec<f32>)>,
    v: Vec<(Vec<f32>, Vec<f32>)>,
    t: i32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl Trainer {
    /// Zeroed state for `net`.
    pub fn new(net: &Mlp, lr: f32, weight_decay: f32) -> Trainer {
        let zeros = || {
            net.layers
                .iter()
                .map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()]))
                .collect::<Vec<_>>()
        };
        Trainer {
            lr,
            weight_decay,
            grad: zeros(),
            m: zeros(),
            v: zeros(),
            t: 0,
        }
    }

    /// One Adam step on the mean cross-entropy of a minibatch (`xs[i]` labelled `ys[i]`);
    /// returns that mean loss (before the step).
    pub fn step(&mut self, net: &mut Mlp, xs: &[&[f32]], ys: &[usize]) -> f32 {
        let k = net.outputs();
        let onehot: Vec<Vec<f32>> = ys
            .iter()
            .map(|&y| (0..k).map(|j| f32::from(u8::from(j == y))).collect())
            .collect();
        let targets: Vec<&[f32]> = onehot.iter().map(|v| &v[..]).collect();
        self.step_soft(net, xs, &targets, None)
    }

    /// One Adam step on the mean squared error between the network's outputs and `targets`
    /// (every output has a target); returns that mean (before the step).
    pub fn step_regress(&mut self, net: &mut Mlp, xs: &[&[f32]], targets: &[&[f32]]) -> f32 {
        self.step_with(net, xs, |si, z, delta| {
            let k = z.len() as f32;
            let mut l = 0.0;
            for ((d, zj), tj) in delta.iter_mut().zip(z).zip(targets[si]) {
                let e = zj - tj;
                l += e * e / k;
                *d = 2.0 * e / k;
            }
            l
        })
    }

    /// One Adam step on the mean of, per sample, the cross-entropy against the distribution
    /// `targets[i]` plus, with `costs = Some((c, w))`, `w` times the expected cost of the
    /// network's own softmax choice, `Σ_a p_a · c[i][a]` (cost-sensitive classification: it
    /// weighs a mistake by what it costs, which cross-entropy alone cannot). Returns the mean
    /// loss (before the step).
    pub fn step_soft(
        &mut self,
        net: &mut Mlp,
        xs: &[&[f32]],
        targets: &[&[f32]],
        costs: Option<(&[&[f32]], f32)>,
    ) -> f32 {
        self.step_with(net, xs, |si, logits, delta| {
            let target = targets[si];
            let mx = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = logits.iter().map(|z| (z - mx).exp()).collect();
            let sum: f32 = exps.iter().sum();
            let p: Vec<f32> = exps.iter().map(|e| e / sum).collect();
            let mut loss = 0.0;
            for ((d, pj), tj) in delta.iter_mut().zip(&p).zip(target.iter()) {
                if *tj > 0.0 {
                    loss += -tj * pj.max(1e-12).ln();
                }
                *d = pj - tj;
            }
            if let Some((c, w)) = costs {
                // d/dz_j Σ_a p_a c_a = p_j (c_j − Σ_a p_a c_a).
                let c = c[si];
                let expected: f32 = p.iter().zip(c).map(|(a, b)| a * b).sum();
                loss += w * expected;
                for ((d, pj), cj) in delta.iter_mut().zip(&p).zip(c) {
                    *d += w * pj * (cj - expected);
                }
            }
            loss
        })
    }

    /// One Adam step on the mean over the minibatch of a per-sample loss: `per_sample(i,
    /// outputs, d)` returns sample `i`'s loss and writes its gradient with respect to the
    /// network's outputs into `d`.
    fn step_with(
        &mut self,
        net: &mut Mlp,
        xs: &[&[f32]],
        mut per_sample: impl FnMut(usize, &[f32], &mut [f32]) -> f32,
    ) -> f32 {
        for (gw, gb) in &mut self.grad {
            gw.iter_mut().for_each(|g| *g = 0.0);
            gb.iter_mut().for_each(|g| *g = 0.0);
        }
        let n = xs.len().max(1) as f32;
        let mut loss = 0.0;
        let depth = net.layers.len();
        let mut acts: Vec<Vec<f32>> = vec![Vec::new(); depth + 1];
        for (si, x) in xs.iter().enumerate() {
            // Forward, keeping every layer's (post-ReLU) output.
            acts[0].clear();
            acts[0].extend_from_slice(x);
            for i in 0..depth {
                let (before, after) = acts.split_at_mut(i + 1);
                net.layers[i].forward(&before[i], &mut after[0]);
                if i + 1 < depth {
                    after[0].iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
            let mut delta = vec![0.0f32; acts[depth].len()];
            loss += per_sample(si, &acts[depth], &mut delta);
            delta.iter_mut().for_each(|d| *d /= n);
            // Backward.
            for i in (0..depth).rev() {
                let l = &net.layers[i];
                let input = &acts[i];
                let (gw, gb) = &mut self.grad[i];
                for o in 0..l.outputs {
                    let d = delta[o];
                    if d == 0.0 {
                        continue;
                    }
                    gb[o] += d;
                    let row = &mut gw[o * l.inputs..(o + 1) * l.inputs];
                    for (g, a) in row.iter_mut().zip(input) {
                        *g += d * a;
                    }
                }
                if i > 0 {
                    let mut prev = vec![0.0f32; l.inputs];
                    for o in 0..l.outputs {
                        let d = delta[o];
                        if d == 0.0 {
                            continue;
                        }
                        let row = &l.w[o * l.inputs..(o + 1) * l.inputs];
                        for (p, w) in prev.iter_mut().zip(row) {
                            *p += d * w;
                        }
                    }
                    // ReLU'.
                    for (p, a) in prev.iter_mut().zip(input) {
                        if *a <= 0.0 {
                            *p = 0.0;
                        }
                    }
                    delta = prev;
                }
            }
        }
        self.t += 1;
        let bc1 = 1.0 - BETA1.powi(self.t);
        let bc2 = 1.0 - BETA2.powi(self.t);
        for (i, l) in net.layers.iter_mut().enumerate() {
            let (gw, gb) = &self.grad[i];
            let (mw, mb) = &mut self.m[i];
            let (vw, vb) = &mut self.v[i];
            let wd = self.weight_decay;
            adam(&mut l.w, gw, mw, vw, self.lr, wd, bc1, bc2);
            adam(&mut l.b, gb, mb, vb, self.lr, 0.0, bc1, bc2);
        }
        loss / n
    }
}

#[allow(clippy::too_many_arguments)]
fn adam(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    wd: f32,
    bc1: f32,
    bc2: f32,
) {
    for i in 0..p.len() {
        let gi = g[i] + wd * p[i];
        m[i] = BETA1 * m[i] + (1.0 - BETA1) * gi;
        v[i] = BETA2 * v[i] + (1.0 - BETA2) * gi * gi;
        p[i] -= lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + EPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient equals a finite difference of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        let net = Mlp::new(&[3, 5, 4], 3);
        let x = [0.3f32, -0.7, 1.1];
        let y = 2usize;
        let loss = |n: &Mlp| {
            let z = n.logits(&x);
            let mx = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let s: f64 = z.iter().map(|v| ((v - mx) as f64).exp()).sum();
            -(((z[y] - mx) as f64).exp() / s).ln()
        };
        let mut t = Trainer::new(&net, 0.0, 0.0);
        let mut probe = net.clone();
        t.step(&mut probe, &[&x], &[y]);
        assert_gradient(&net, &t, loss, 2e-3);
    }

    /// With soft targets and the expected-cost term, the analytic gradient still equals a
    /// finite difference of the loss.
    #[test]
    fn cost_sensitive_gradient_matches_finite_differences() {
        let net = Mlp::new(&[3, 5, 4], 11);
        let x = [0.9f32, 0.2, -0.4];
        let target = [0.1f32, 0.6, 0.3, 0.0];
        let cost = [2.0f32, 0.0, 0.5, 7.0];
        let w = 0.7f32;
        let loss = |n: &Mlp| {
            let z = n.logits(&x);
            let mx = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = z.iter().map(|v| ((v - mx) as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / s).collect();
            let ce: f64 = p
                .iter()
                .zip(target)
                .map(|(p, t)| -(t as f64) * p.ln())
                .sum();
            ce + w as f64 * p.iter().zip(cost).map(|(p, c)| p * c as f64).sum::<f64>()
        };
        let mut t = Trainer::new(&net, 0.0, 0.0);
        let mut probe = net.clone();
        let got = t.step_soft(&mut probe, &[&x], &[&target], Some((&[&cost], w)));
        assert!(
            (got as f64 - loss(&net)).abs() < 1e-4,
            "{got} vs {}",
            loss(&net)
        );
        assert_gradient(&net, &t, loss, 3e-3);
    }

    /// The regression step's gradient equals a finite difference of the mean squared error.
    #[test]
    fn regression_gradient_matches_finite_differences() {
        let net = Mlp::new(&[3, 6, 4], 5);
        let x = [-0.2f32, 0.8, 0.5];
        let target = [-3.0f32, 0.0, -0.5, -6.0];
        let loss = |n: &Mlp| {
            let z = n.logits(&x);
            z.iter()
                .zip(target)
                .map(|(z, t)| ((z - t) as f64).powi(2))
                .sum::<f64>()
                / 4.0
        };
        let mut t = Trainer::new(&net, 0.0, 0.0);
        let mut probe = net.clone();
        let got = t.step_regress(&mut probe, &[&x], &[&target]);
        assert!((got as f64 - loss(&net)).abs() < 1e-4);
        assert_gradient(&net, &t, loss, 3e-3);
    }

    /// The gradient `t` accumulated for `net` equals central finite differences of `loss` at
    /// the first, a middle and the last weight of every layer.
    fn assert_gradient(net: &Mlp, t: &Trainer, loss: impl Fn(&Mlp) -> f64, tol: f64) {
        for (li, layer) in net.layers.iter().enumerate() {
            for wi in [0, layer.w.len() / 2, layer.w.len() - 1] {
                let h = 1e-3f32;
                let (mut a, mut b) = (net.clone(), net.clone());
                a.layers[li].w[wi] += h;
                b.layers[li].w[wi] -= h;
                let fd = (loss(&a) - loss(&b)) / (2.0 * h as f64);
                let g = t.grad[li].0[wi] as f64;
                assert!((fd - g).abs() < tol, "layer {li} w{wi}: fd {fd} vs {g}");
            }
        }
    }

    /// Training separates two linearly separable classes.
    #[test]
    fn learns_a_separable_problem() {
        let mut net = Mlp::new(&[2, 16, 2], 1);
        let mut t = Trainer::new(&net, 0.01, 0.0);
        let mut rng = SplitMix64::new(9);
        let data: Vec<([f32; 2], usize)> = (0..400)
            .map(|_| {
                let a = rng.next_f64() as f32 * 2.0 - 1.0;
                let b = rng.next_f64() as f32 * 2.0 - 1.0;
                ([a, b], usize::from(a + b > 0.0))
            })
            .collect();
        for _ in 0..60 {
            for chunk in data.chunks(32) {
                let xs: Vec<&[f32]> = chunk.iter().map(|(x, _)| &x[..]).collect();
                let ys: Vec<usize> = chunk.iter().map(|(_, y)| *y).collect();
                t.step(&mut net, &xs, &ys);
            }
        }
        let right = data.iter().filter(|(x, y)| net.argmax(x) == *y).count();
        assert!(right >= 390, "{right}/400 right");
        assert!(net.is_finite());
    }
}
