//! A trained policy and its file: the network, the input normalisation and a record of how it
//! was trained, as one JSON document (`dashcdn player train --out FILE`, `--abr learned:FILE`).
//!
//! The format is plain so that other tools can run the same policy: `examples/abr/mlp_policy.py`
//! reads it with numpy and reproduces the decisions of `learned:FILE`.
//!
//! ```text
//! { "format": "dashcdn-learned-abr", "version": 1, "feature_set": "v1",
//!   "levels": 6, "bitrates_kbps": [...],          // the ladder it was trained on
//!   "input_mean": [...], "input_scale": [...],     // x' = (x - mean) / scale, per feature
//!   "network": { "layers": [ { "inputs", "outputs", "w": [out*in, row-major], "b": [out] }, ... ] },
//!   "training": { ... } }                          // seed, traces, iterations, figures
//! ```
//! Hidden layers use ReLU; the output is one logit per quality and the policy takes the
//! largest (the first on ties).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::features::{self, History, FEATURE_SET};
use super::mlp::Mlp;
use crate::abr::Ctx;

/// The `format` field of a policy file.
pub const FORMAT: &str = "dashcdn-learned-abr";
/// The `version` this build reads and writes.
pub const VERSION: u32 = 1;

/// Reading or using a policy file went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read or written.
    #[error("learned policy {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The file is not JSON of the policy's shape.
    #[error("learned policy {path}: not a policy file: {error}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        error: serde_json::Error,
    },
    /// The file parses but is not usable (wrong format, version, sizes, non-finite values).
    #[error("learned policy {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The policy was trained for another number of qualities.
    #[error("learned policy {path} chooses among {policy} qualities, but the ladder has {ladder}")]
    Levels {
        /// The file.
        path: PathBuf,
        /// The policy's qualities.
        policy: usize,
        /// The ladder's.
        ladder: usize,
    },
}

/// A policy: normalisation + network, with its training record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The feature set ([`FEATURE_SET`]).
    pub feature_set: String,
    /// Qualities the policy chooses among.
    pub levels: usize,
    /// The bitrates of the ladder it was trained on, kbps (for information).
    pub bitrates_kbps: Vec<f64>,
    /// Per-feature mean subtracted before the network.
    pub input_mean: Vec<f32>,
    /// Per-feature scale divided by before the network.
    pub input_scale: Vec<f32>,
    /// The network.
    pub network: Mlp,
    /// How it was trained (seed, traces, figures), free-form.
    pub training: serde_json::Value,
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let p: Policy = serde_json::from_str(&text).map_err(|error| PolicyError::Json {
            path: path.to_path_buf(),
            error,
        })?;
        p.check().map_err(|reason| PolicyError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(p)
    }

    /// Writes the policy as JSON.
    pub fn save(&self, path: &Path) -> Result<(), PolicyError> {
        let text = serde_json::to_string(self).map_err(|error| PolicyError::Json {
            path: path.to_path_buf(),
            error,
        })?;
        std::fs::write(path, text).map_err(|error| PolicyError::Io {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Consistency of the fields (what `load` enforces).
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format is \"{}\", expected \"{FORMAT}\"",
                self.format
            ));
        }
        if self.version != VERSION {
            return Err(format!(
                "version {} (this build reads {VERSION})",
                self.version
            ));
        }
        if self.feature_set != FEATURE_SET {
            return Err(format!(
                "feature set \"{}\" (this build computes \"{FEATURE_SET}\")",
                self.feature_set
            ));
        }
        if self.levels == 0 || self.levels > 64 {
            return Err(format!("{} qualities", self.levels));
        }
        let n = features::count(self.levels);
        if self.input_mean.len() != n || self.input_scale.len() != n {
            return Err(format!(
                "normalisation has {}/{} entries, the feature set has {n}",
                self.input_mean.len(),
                self.input_scale.len()
            ));
        }
        let layers = &self.network.layers;
        if layers.is_empty() {
            return Err("the network has no layers".into());
        }
        let mut width = n;
        for (i, l) in layers.iter().enumerate() {
            if l.inputs != width || l.w.len() != l.inputs * l.outputs || l.b.len() != l.outputs {
                return Err(format!("layer {i} has inconsistent sizes"));
            }
            width = l.outputs;
        }
        if width != self.levels {
            return Err(format!(
                "the network has {width} outputs for {} qualities",
                self.levels
            ));
        }
        if !self.network.is_finite()
            || !self
                .input_mean
                .iter()
                .chain(&self.input_scale)
                .all(|v| v.is_finite())
            || self.input_scale.iter().any(|s| *s <= 0.0)
        {
            return Err("non-finite or non-positive values".into());
        }
        Ok(())
    }

    /// Normalises raw features in place.
    pub fn normalise(&self, x: &mut [f32]) {
        for ((v, m), s) in x.iter_mut().zip(&self.input_mean).zip(&self.input_scale) {
            *v = (*v - m) / s;
        }
    }

    /// The quality for the decision in `ctx` given the download history. `scratch` is reused
    /// between calls to avoid allocating.
    pub fn decide(&self, ctx: &Ctx, h: &History, scratch: &mut Vec<f32>) -> usize {
        features::extract(ctx, h, scratch);
        self.choose(scratch, ctx.levels())
    }

    /// The quality for raw features `x` (normalised in place) on a ladder of `levels`.
    pub fn choose(&self, x: &mut [f32], levels: usize) -> usize {
        self.normalise(x);
        self.network.argmax(x).min(levels - 1)
    }
}
