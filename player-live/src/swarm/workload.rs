//! The workload of a swarm, drawn from its seed before the run starts: each player's title
//! (Zipf popularity), arrival time (the [`Arrival`] process) and trace with its start offset
//! ([`plan`]); and the per-player inputs derived from it: the rotated trace
//! ([`rotate_trace`]), the shared bottleneck's constant trace ([`constant_trace`]) and the
//! entry with the title filled in ([`entry_for`]). The generator, Zipf and the arrival
//! schedules are the [`workload`] crate's.

use serde::Serialize;

use player_sim::input::{Period, Trace, TraceData};

pub use ::workload::{Arrival, SplitMix64, Zipf};

use super::{SwarmConfig, SwarmError, TITLE_PLACEHOLDER};
use crate::Entry;

/// One player of the workload, as drawn from the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedPlayer {
    /// 0-based player id (in arrival order).
    pub id: usize,
    /// Title.
    pub title: String,
    /// 0-based popularity rank of the title.
    pub rank: usize,
    /// Arrival time, session s.
    pub arrival_s: f64,
    /// Index into [`SwarmConfig::traces`].
    pub trace: Option<usize>,
    /// Start offset into the trace, s.
    pub trace_offset_s: f64,
    /// Its ABR: with a comma-separated [`SwarmConfig::abr`] list of `k` names, player `i`
    /// plays the `(i mod k)`-th ([`abr_for`]).
    pub abr: String,
}

/// The ABR of player `id` when the swarm's ABR is `list` (comma-separated names; player `i`
/// gets the `(i mod k)`-th, so a mixed swarm alternates them in arrival order).
pub fn abr_for(list: &str, id: usize) -> String {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return list.to_string();
    }
    names[id % names.len()].to_string()
}

/// Draws the workload: titles (Zipf), arrival times, trace assignment and offsets. A pure
/// function of the config; each kind of draw has its own stream, so e.g. changing the number
/// of traces does not change titles or arrivals.
pub fn plan(cfg: &SwarmConfig) -> Result<Vec<PlannedPlayer>, SwarmError> {
    if cfg.titles.is_empty() {
        return Err(SwarmError::NoTitles);
    }
    cfg.arrival.validate()?;
    let zipf = Zipf::new(cfg.titles.len(), cfg.zipf_s)?;
    let mut titles = SplitMix64::new(cfg.seed ^ 0x7469_746c_6573);
    let mut arrivals = SplitMix64::new(cfg.seed ^ 0x6172_7269_7665);
    let mut offsets = SplitMix64::new(cfg.seed ^ 0x6f66_6673_6574);
    let times = cfg.arrival.schedule(cfg.players, &mut arrivals);
    Ok(times
        .into_iter()
        .enumerate()
        .map(|(id, arrival_s)| {
            let rank = zipf.sample(&mut titles);
            let trace = (!cfg.traces.is_empty()).then(|| id % cfg.traces.len());
            let u = offsets.next_f64();
            let trace_offset_s = match trace {
                Some(t) if cfg.random_offset => u * trace_duration_s(&cfg.traces[t]),
                _ => 0.0,
            };
            PlannedPlayer {
                id,
                title: cfg.titles[rank].clone(),
                rank,
                arrival_s,
                trace,
                trace_offset_s,
                abr: abr_for(&cfg.abr, id),
            }
        })
        .collect())
}

fn trace_duration_s(t: &Trace) -> f64 {
    t.to_periods(0.0).iter().map(|p| p.duration_ms).sum::<f64>() / 1000.0
}

/// `trace` started `offset_s` in (it loops, so the part before the offset moves to the end).
pub fn rotate_trace(trace: &Trace, offset_s: f64) -> Trace {
    if offset_s <= 0.0 {
        return trace.clone();
    }
    let periods = trace.to_periods(0.0);
    let total: f64 = periods.iter().map(|p| p.duration_ms).sum();
    if total <= 0.0 {
        return trace.clone();
    }
    let mut off = (offset_s * 1000.0) % total;
    let mut head = Vec::new();
    let mut tail = Vec::new();
    for p in periods {
        if off <= 0.0 {
            head.push(p);
        } else if p.duration_ms <= off {
            off -= p.duration_ms;
            tail.push(p);
        } else {
            tail.push(Period {
                duration_ms: off,
                ..p
            });
            head.push(Period {
                duration_ms: p.duration_ms - off,
                ..p
            });
            off = 0.0;
        }
    }
    head.extend(tail);
    // Latency of cooked/Mahimahi traces is 0 here, as in `to_periods(0.0)`.
    Trace {
        name: format!("{}@{:.1}s", trace.name, offset_s),
        data: TraceData::Periods(head),
    }
}

/// A constant-rate trace (the shared bottleneck).
pub fn constant_trace(kbps: f64) -> Trace {
    Trace {
        name: format!("shared-{kbps}kbps"),
        data: TraceData::Periods(vec![Period {
            duration_ms: 3_600_000.0,
            bandwidth_kbps: kbps,
            latency_ms: 0.0,
        }]),
    }
}

/// The entry of one title: [`TITLE_PLACEHOLDER`] replaced in the URL, or in the DNS name and
/// path.
///
/// DNS: the redirector answers by *name* (the service whose `dns_name` is, or is the closest
/// zone of, the query) and hashes by the client's subnet, not by content — so one name sends
/// every title of a client to one edge. A per-title name (`{title}.titles.example.test`) is
/// answered only if the topology has a `[[services]]` entry with that `dns_name` for every
/// title (its `edges` decide where the title goes; a name inside another service's zone that
/// is listed earlier is answered — NXDOMAIN — by that one).
pub fn entry_for(template: &Entry, title: &str) -> Entry {
    match template {
        Entry::Url(u) => Entry::Url(u.replace(TITLE_PLACEHOLDER, title)),
        Entry::Dns {
            server,
            name,
            port,
            path,
        } => Entry::Dns {
            server: *server,
            name: name.replace(TITLE_PLACEHOLDER, title),
            port: *port,
            path: path.replace(TITLE_PLACEHOLDER, title),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::fixtures::{cfg, trace};

    #[test]
    fn plan_is_a_function_of_the_seed() {
        let ts = vec![trace("x", &[1000.0, 2000.0, 3000.0]), trace("y", &[500.0])];
        let a = plan(&cfg(9, ts.clone())).unwrap();
        assert_eq!(a, plan(&cfg(9, ts.clone())).unwrap());
        assert_ne!(a, plan(&cfg(10, ts.clone())).unwrap());
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(|p| p.trace == Some(p.id % 2)));
        assert!(a
            .iter()
            .all(|p| p.trace_offset_s < if p.trace == Some(0) { 3.0 } else { 1.0 }));
        // Titles and arrivals do not depend on the traces.
        let b = plan(&cfg(9, vec![])).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.arrival_s, &x.title), (y.arrival_s, &y.title));
            assert_eq!((y.trace, y.trace_offset_s), (None, 0.0));
        }
    }

    #[test]
    fn a_list_of_abrs_alternates_in_arrival_order() {
        let mut c = cfg(9, vec![]);
        c.abr = "throughput, cmsd-throughput".into();
        let a = plan(&c).unwrap();
        for p in &a {
            let want = ["throughput", "cmsd-throughput"][p.id % 2];
            assert_eq!(p.abr, want);
        }
        // Titles and arrivals do not depend on the ABRs.
        let b = plan(&cfg(9, vec![])).unwrap();
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.title == y.title && y.abr == "bba"));
        assert_eq!(abr_for("bba", 7), "bba");
        assert_eq!(abr_for("a,b,c", 7), "b");
    }

    #[test]
    fn rotation_starts_the_trace_at_the_offset() {
        let t = trace("x", &[1000.0, 2000.0, 3000.0]);
        let r = rotate_trace(&t, 1.5);
        let p = r.to_periods(0.0);
        let got: Vec<(f64, f64)> = p
            .iter()
            .map(|p| (p.duration_ms, p.bandwidth_kbps))
            .collect();
        assert_eq!(
            got,
            vec![
                (500.0, 2000.0),
                (1000.0, 3000.0),
                (1000.0, 1000.0),
                (500.0, 2000.0)
            ]
        );
        assert_eq!(rotate_trace(&t, 0.0), t);
        // Offsets wrap around.
        assert_eq!(
            rotate_trace(&t, 4.5).to_periods(0.0),
            rotate_trace(&t, 1.5).to_periods(0.0)
        );
    }

    #[test]
    fn entries_fill_in_the_title() {
        let dns = Entry::Dns {
            server: "127.0.0.1:53".parse().unwrap(),
            name: "{title}.titles.example.test".into(),
            port: 8080,
            path: "/{title}/manifest.mpd".into(),
        };
        match entry_for(&dns, "t2") {
            Entry::Dns { name, path, .. } => {
                assert_eq!(name, "t2.titles.example.test");
                assert_eq!(path, "/t2/manifest.mpd");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            entry_for(&Entry::Url("http://r:1/{title}/manifest.mpd".into()), "t2"),
            Entry::Url("http://r:1/t2/manifest.mpd".into())
        );
    }
}
