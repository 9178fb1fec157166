//! Fair sharing: Jain's fairness index of the players' bitrates, overall and per group of
//! players sharing something (an edge, the bottleneck, an ABR).
//!
//! Jain's index (R. Jain, D. Chiu, W. Hawe, "A Quantitative Measure of Fairness and
//! Discrimination for Resource Allocation in Shared Computer Systems", DEC-TR-301, 1984,
//! eq. 1) of allocations `x_1..x_n` is
//!
//! ```text
//! J(x) = (Σ x_i)² / (n · Σ x_i²)
//! ```
//!
//! 1 when every player gets the same, 1/n when one player takes everything, and `k/n` when
//! `k` players share equally and the others get nothing. It is scale-free (kbps or Mbps give
//! the same index). The allocation of a player is its **mean bitrate**: the mean over its
//! played segments of the rung's `@bandwidth` ([`Metrics::mean_bitrate_kbps`]); segments
//! have one duration, so this is the bitrate weighted by media time played (stalls are not
//! counted as zero bitrate: rebuffering is reported on its own).
//!
//! The arithmetic is written here rather than taken from a crate: it is one line, and the
//! point of this module is which players are grouped and what an empty or all-zero group
//! reports.

use std::collections::BTreeMap;

use serde::Serialize;

#[cfg(doc)]
use player_sim::metrics::Metrics;

/// Jain's fairness index of `xs` (see the [module docs](self)), `None` when it is undefined:
/// no values, or every value zero. Negative or non-finite values are not allocations and
/// are skipped.
pub fn jain(xs: &[f64]) -> Option<f64> {
    let v: Vec<f64> = xs
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .collect();
    let n = v.len() as f64;
    let sum: f64 = v.iter().sum();
    let sq: f64 = v.iter().map(|x| x * x).sum();
    if v.is_empty() || sq <= 0.0 {
        return None;
    }
    // Rounding can push an all-equal set a hair past 1.
    Some((sum * sum / (n * sq)).min(1.0))
}

/// The fairness of one group of players.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FairnessGroup {
    /// What the players share: `all`, an edge id, or an ABR name.
    pub group: String,
    /// Players in the group that finished (the ones with a bitrate).
    pub players: usize,
    /// Mean of their mean bitrates, kbps.
    pub mean_bitrate_kbps: f64,
    /// Jain's index of their mean bitrates (`None`: no player, or all at 0 kbps).
    pub jain: Option<f64>,
}

impl FairnessGroup {
    /// The group `name` of these players' mean bitrates.
    pub fn of(name: impl Into<String>, kbps: &[f64]) -> FairnessGroup {
        FairnessGroup {
            group: name.into(),
            players: kbps.len(),
            mean_bitrate_kbps: if kbps.is_empty() {
                0.0
            } else {
                kbps.iter().sum::<f64>() / kbps.len() as f64
            },
            jain: jain(kbps),
        }
    }
}

/// Jain's index of a swarm: over every finished player, per edge (each player counted at the
/// edge that sent most of its video bytes) and per ABR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fairness {
    /// What the allocation is (`mean bitrate per player (kbps)`), for readers of the JSON.
    pub of: String,
    /// What the overall group shares: `shared bottleneck of N kbps` or `no common
    /// bottleneck` (then the overall index compares players on unrelated links).
    pub overall_shares: String,
    /// Every finished player.
    pub overall: FairnessGroup,
    /// Per edge (the edge that sent most of the player's video bytes), by edge id.
    pub by_edge: Vec<FairnessGroup>,
    /// Per ABR, by name (one row when every player runs the same ABR).
    pub by_abr: Vec<FairnessGroup>,
}

/// One finished player as [`fairness`] sees it: its main edge, ABR and mean bitrate.
#[derive(Debug, Clone, Copy)]
pub struct PlayerShare<'a> {
    /// The edge that sent most of its video bytes (`None`: no video response).
    pub edge: Option<&'a str>,
    /// Its ABR.
    pub abr: &'a str,
    /// Its mean bitrate ([`Metrics::mean_bitrate_kbps`]), kbps.
    pub kbps: f64,
}

/// Jain's index overall, per edge and per ABR of the players' mean bitrates.
pub fn fairness(players: &[PlayerShare<'_>], shared_bottleneck_kbps: Option<f64>) -> Fairness {
    let all: Vec<f64> = players.iter().map(|p| p.kbps).collect();
    let mut by_edge: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut by_abr: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in players {
        let k = p.kbps;
        by_edge
            .entry(p.edge.unwrap_or("(none)"))
            .or_default()
            .push(k);
        by_abr.entry(p.abr).or_default().push(k);
    }
    let rows = |m: BTreeMap<&str, Vec<f64>>| {
        m.into_iter()
            .map(|(g, v)| FairnessGroup::of(g, &v))
            .collect()
    };
    Fairness {
        of: "mean bitrate per player (kbps)".into(),
        overall_shares: shared_bottleneck_kbps.map_or_else(
            || "no common bottleneck".to_string(),
            |k| format!("shared bottleneck of {k} kbps"),
        ),
        overall: FairnessGroup::of("all", &all),
        by_edge: rows(by_edge),
        by_abr: rows(by_abr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn equal_shares_are_perfectly_fair() {
        assert!(close(jain(&[800.0; 7]), 1.0));
        assert!(close(jain(&[3.0]), 1.0));
    }

    #[test]
    fn one_player_taking_all_gives_one_over_n() {
        for n in 1..10 {
            let mut v = vec![0.0; n];
            v[n / 2] = 4300.0;
            assert!(close(jain(&v), 1.0 / n as f64), "n = {n}");
        }
        // k of n sharing equally: k/n.
        assert!(close(jain(&[0.0, 0.0, 500.0, 500.0, 500.0]), 3.0 / 5.0));
    }

    #[test]
    fn known_example() {
        // (1 + 2 + 3 + 4)² / (4 · (1 + 4 + 9 + 16)) = 100 / 120.
        assert!(close(jain(&[1.0, 2.0, 3.0, 4.0]), 100.0 / 120.0));
        // Scale-free.
        assert!(close(
            jain(&[1000.0, 2000.0, 3000.0, 4000.0]),
            100.0 / 120.0
        ));
        // (300 + 1000)² / (2 · (300² + 1000²)) = 1 690 000 / 2 180 000.
        assert!(close(jain(&[300.0, 1000.0]), 1_690_000.0 / 2_180_000.0));
    }

    #[test]
    fn undefined_and_skipped_values() {
        assert_eq!(jain(&[]), None);
        assert_eq!(jain(&[0.0, 0.0]), None);
        assert!(close(jain(&[f64::NAN, 5.0, -1.0, 5.0]), 1.0));
    }

    #[test]
    fn groups_by_edge_and_abr() {
        let ps = [
            PlayerShare {
                edge: Some("e1"),
                abr: "bba",
                kbps: 1000.0,
            },
            PlayerShare {
                edge: Some("e1"),
                abr: "throughput",
                kbps: 1000.0,
            },
            PlayerShare {
                edge: Some("e2"),
                abr: "bba",
                kbps: 250.0,
            },
            PlayerShare {
                edge: None,
                abr: "bba",
                kbps: 750.0,
            },
        ];
        let f = fairness(&ps, Some(3000.0));
        assert_eq!(f.overall.players, 4);
        assert!((f.overall.mean_bitrate_kbps - 750.0).abs() < 1e-9);
        // 3000² / (4 · (1e6 + 1e6 + 62 500 + 562 500)).
        assert!(close(f.overall.jain, 9e6 / (4.0 * 2_625_000.0)));
        assert_eq!(f.overall_shares, "shared bottleneck of 3000 kbps");
        let e: Vec<_> = f
            .by_edge
            .iter()
            .map(|g| (g.group.as_str(), g.players))
            .collect();
        assert_eq!(e, [("(none)", 1), ("e1", 2), ("e2", 1)]);
        assert!(close(f.by_edge[1].jain, 1.0));
        let bba = &f.by_abr[0];
        assert_eq!((bba.group.as_str(), bba.players), ("bba", 3));
        // 2000² / (3 · (1e6 + 62 500 + 562 500)).
        assert!(close(bba.jain, 4e6 / (3.0 * 1_625_000.0)));
        assert_eq!(fairness(&[], None).overall.jain, None);
    }
}
