//! [`AbrKind`]: the algorithms by name, as `--abr` spells them, and [`AbrError`].

use std::fmt;
use std::str::FromStr;

use super::learned::policy::PolicyError;
use super::learned::PREFIX as LEARNED_PREFIX;
use super::plugin::{PluginError, PREFIX as PLUGIN_PREFIX};

/// An ABR algorithm as named on the command line, in tables and in output files. [`FromStr`]
/// and [`fmt::Display`] use exactly these names, so a parsed name prints as it was given.
/// The built-in names are also a [`clap::ValueEnum`] (for help texts and single-choice
/// arguments); `learned:FILE` and `plugin:COMMAND` carry their text and are parsed by
/// [`FromStr`] only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AbrKind {
    /// `fixed`: one quality throughout ([`super::AbrOptions::fixed_quality`]).
    Fixed,
    /// `throughput`: rate-based with Sabre's insufficient-buffer rule.
    Throughput,
    /// `bba`: buffer-based (Pensieve's `bb.py`).
    Bba,
    /// `festive`: FESTIVE.
    Festive,
    /// `bola-basic`: BOLA-BASIC.
    BolaBasic,
    /// `bola`: BOLA-U.
    Bola,
    /// `bola-o`: BOLA-O.
    BolaO,
    /// `bola-e`: BOLA-E.
    BolaE,
    /// `dynamic`: Sabre's DYNAMIC.
    Dynamic,
    /// `dynamicdash`: Sabre's DYNAMICDASH.
    DynamicDash,
    /// `dynamic-dashjs`: the dash.js DYNAMIC thresholds.
    DynamicDashjs,
    /// `robustmpc`: robustMPC.
    RobustMpc,
    /// `fastmpc`: fastMPC.
    FastMpc,
    /// `optimal`: the offline optimum ([`crate::optimal`]).
    Optimal,
    /// `learned:FILE`: a trained policy; the text after the prefix, as given.
    Learned(String),
    /// `plugin:COMMAND`: an ABR in a child process; the text after the prefix, as given.
    Plugin(String),
}

/// Errors naming or building an algorithm.
#[derive(Debug, thiserror::Error)]
pub enum AbrError {
    /// Not a known name.
    #[error("unknown ABR algorithm \"{0}\" (known: {known}, all)", known = AbrKind::known())]
    Unknown(String),
    /// An `--abr` list with no name in it.
    #[error("no ABR algorithm given")]
    Empty,
    /// `optimal` asked of [`super::build`], which has no trace to plan over.
    #[error(
        "ABR algorithm \"optimal\" plans over the whole trace and is built per session \
         (session::build_abr), not here"
    )]
    NeedsTrace,
    /// A plug-in's command line is unusable or its process cannot be started.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A learned policy cannot be loaded or does not fit the ladder.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl AbrKind {
    /// Every built-in algorithm, in the order of tables and of `--abr all`.
    pub const BUILT_IN: [AbrKind; 14] = [
        AbrKind::Fixed,
        AbrKind::Throughput,
        AbrKind::Bba,
        AbrKind::Festive,
        AbrKind::BolaBasic,
        AbrKind::Bola,
        AbrKind::BolaO,
        AbrKind::BolaE,
        AbrKind::Dynamic,
        AbrKind::DynamicDash,
        AbrKind::DynamicDashjs,
        AbrKind::RobustMpc,
        AbrKind::FastMpc,
        AbrKind::Optimal,
    ];

    /// A built-in algorithm's name; `None` for `learned:` and `plugin:` (see [`fmt::Display`]).
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            AbrKind::Fixed => "fixed",
            AbrKind::Throughput => "throughput",
            AbrKind::Bba => "bba",
            AbrKind::Festive => "festive",
            AbrKind::BolaBasic => "bola-basic",
            AbrKind::Bola => "bola",
            AbrKind::BolaO => "bola-o",
            AbrKind::BolaE => "bola-e",
            AbrKind::Dynamic => "dynamic",
            AbrKind::DynamicDash => "dynamicdash",
            AbrKind::DynamicDashjs => "dynamic-dashjs",
            AbrKind::RobustMpc => "robustmpc",
            AbrKind::FastMpc => "fastmpc",
            AbrKind::Optimal => "optimal",
            AbrKind::Learned(_) | AbrKind::Plugin(_) => return None,
        })
    }

    /// The plug-in command (after `plugin:`, trimmed), if this is a plug-in.
    pub fn plugin_command(&self) -> Option<&str> {
        match self {
            AbrKind::Plugin(c) => Some(c.trim()),
            _ => None,
        }
    }

    /// The built-in names, comma-separated (for error messages).
    fn known() -> String {
        Self::BUILT_IN
            .iter()
            .filter_map(AbrKind::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for AbrKind {
    type Err = AbrError;
    fn from_str(s: &str) -> Result<Self, AbrError> {
        if let Some(path) = s.strip_prefix(LEARNED_PREFIX) {
            return Ok(AbrKind::Learned(path.to_string()));
        }
        if let Some(cmd) = s.strip_prefix(PLUGIN_PREFIX) {
            return Ok(AbrKind::Plugin(cmd.to_string()));
        }
        Self::BUILT_IN
            .iter()
            .find(|k| k.name() == Some(s))
            .cloned()
            .ok_or_else(|| AbrError::Unknown(s.to_string()))
    }
}

impl fmt::Display for AbrKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbrKind::Learned(p) => write!(f, "{LEARNED_PREFIX}{p}"),
            AbrKind::Plugin(c) => write!(f, "{PLUGIN_PREFIX}{c}"),
            k => f.write_str(k.name().unwrap_or_default()),
        }
    }
}

impl serde::Serialize for AbrKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl clap::ValueEnum for AbrKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::BUILT_IN
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        self.name().map(clap::builder::PossibleValue::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_as_they_parse() {
        for k in &AbrKind::BUILT_IN {
            let n = k.to_string();
            assert_eq!(n.parse::<AbrKind>().unwrap(), *k);
            let v = <AbrKind as clap::ValueEnum>::from_str(&n, false).unwrap();
            assert_eq!(&v, k);
        }
        for s in [
            "learned:policies/a.json",
            "plugin: python3 x.py --y 'a b'",
            "learned:",
        ] {
            assert_eq!(s.parse::<AbrKind>().unwrap().to_string(), s);
        }
        let names: Vec<String> = AbrKind::BUILT_IN.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            names.join(","),
            "fixed,throughput,bba,festive,bola-basic,bola,bola-o,bola-e,dynamic,dynamicdash,\
             dynamic-dashjs,robustmpc,fastmpc,optimal"
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = "bolaa".parse::<AbrKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown ABR algorithm \"bolaa\" (known: fixed, throughput, bba, festive, \
             bola-basic, bola, bola-o, bola-e, dynamic, dynamicdash, dynamic-dashjs, robustmpc, \
             fastmpc, optimal, all)"
        );
    }

    #[test]
    fn lists_expand_all_and_check_plugins() {
        let l = super::super::parse_list("bba, all,plugin:x").unwrap();
        assert_eq!(l.len(), 16);
        assert_eq!(l[0], AbrKind::Bba);
        assert_eq!(l[15], AbrKind::Plugin("x".into()));
        assert!(matches!(
            super::super::parse_list("plugin:'x"),
            Err(AbrError::Plugin(PluginError::UnbalancedQuote(_)))
        ));
        assert!(matches!(
            super::super::parse_list(" , "),
            Err(AbrError::Empty)
        ));
    }
}
