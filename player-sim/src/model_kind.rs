//! Which network/buffer model a session uses ([`ModelKind`]), and what the ABRs do differently
//! under it ([`ModelKind::quirks`]).
//!
//! This sits below the events ([`crate::events::Playback`] records its model) and the models
//! themselves ([`crate::model`]), so both can name it; `model::ModelKind` re-exports it.

use crate::abr::Quirks;

/// Which model a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Sabre engine with configurable startup, payload and latency.
    Generic,
    /// Sabre (UMass-LIDS/sabre @ 09b03bb), exact.
    Sabre,
    /// Pensieve `test/fixed_env.py`, exact.
    Pensieve,
}

/// A model name that is not `generic`, `sabre` or `pensieve`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model \"{0}\" (generic, sabre, pensieve)")]
pub struct UnknownModel(pub String);

impl ModelKind {
    /// The model's name (as on the command line, in `summary.json` and in the plug-in
    /// protocol).
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Generic => "generic",
            ModelKind::Sabre => "sabre",
            ModelKind::Pensieve => "pensieve",
        }
    }

    /// What the ABRs do differently under this model: Pensieve's reference ABRs (`bb.py`,
    /// `mpc.py`) compute some rules differently from Sabre's; see [`Quirks`]'s fields. Built
    /// once per playback by the player loops and handed to the ABRs in every
    /// [`crate::abr::Ctx`].
    pub fn quirks(self) -> Quirks {
        let pensieve = self == ModelKind::Pensieve;
        Quirks {
            model: self.name(),
            bba_in_seconds: pensieve,
            mpc_sizes_one_ahead: pensieve,
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Self, UnknownModel> {
        match s {
            "generic" => Ok(ModelKind::Generic),
            "sabre" => Ok(ModelKind::Sabre),
            "pensieve" => Ok(ModelKind::Pensieve),
            _ => Err(UnknownModel(s.to_string())),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_pensieve_has_quirks() {
        for m in [ModelKind::Generic, ModelKind::Sabre, ModelKind::Pensieve] {
            assert_eq!(m.to_string().parse::<ModelKind>(), Ok(m));
            let q = m.quirks();
            assert_eq!(q.model, m.name());
            assert_eq!(q.bba_in_seconds, m == ModelKind::Pensieve);
            assert_eq!(q.mpc_sizes_one_ahead, m == ModelKind::Pensieve);
        }
        let e = "sabr".parse::<ModelKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown model \"sabr\" (generic, sabre, pensieve)"
        );
    }
}
