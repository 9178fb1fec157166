//! Faults, in CI (issue 16): real `dashcdn` servers on 127.0.0.x under one fault each, every
//! test bounded in time and in count, its pass condition stated in its doc comment and
//! asserted with the measured value in the failure message. `cargo test -p dashcdn --test it
//! faults` runs them all (one at a time: [`one_at_a_time`]; about 70 s on two cores).
//!
//! | fault | module | pass condition |
//! |---|---|---|
//! | an edge SIGKILLed mid-swarm | [`edge_kill`] | the redirector's 302 excludes it within 3 s; every player finishes; no player rebuffers more than one segment + the health detection time |
//! | the origin killed for 30 s during a swarm | [`origin_down`] | cached segments answered `STALE`, every player finishes with rebuffering under the bound; after the origin returns a never-cached object is a `MISS` `200` again |
//! | slow origin (2 s to first byte), flapping origin | [`slow_origin`] | N clients × M objects → one origin request per object |
//! | truncated, cut and broken-chunked upstream bodies | [`corrupt`] | the client never gets a complete-looking body; the next request is a `MISS` (nothing stored) |
//! | 5,000 idle connections, oversized headers, invalid Range, path escapes, garbage on the DNS port | [`abuse`] | well-behaved HTTP clients' and a resolver's p99 stay under their bounds; every abuse gets its answer (431/416/404/400, DNS FORMERR or nothing) |
//!
//! And in every one of them, RSS: an [`RssSampler`] reads the `VmRSS` of every server
//! (origin, edges, redirector) every 100 ms, and each one's peak is asserted at the end
//! against its budget plus [`OVERHEAD`] ([`edge_budget`], [`ORIGIN_BUDGET`],
//! [`REDIRECTOR_BUDGET`]).
//!
//! The edge's in-process resilience tests (`edge/tests/it/edge_resilience.rs`: stale on a
//! paused clock, a hanging upstream's `504`, a corrupt disk tier) and the slowloris tests
//! (`slowloris.rs`: 3,000 slow senders at 1,024 descriptors, the `Host` rules, accept
//! back-off) are the finer-grained halves of these faults and are not repeated here.

pub mod abuse;
pub mod corrupt;
pub mod edge_kill;
pub mod origin_down;
pub mod slow_origin;

use std::sync::{Mutex, MutexGuard};

use test_support::rss::RssSampler;

/// One MiB.
pub const MIB: u64 = 1 << 20;

/// What a server may use beyond its budget: the debug binary's touched pages and the runtime
/// (16–20 MiB idle), hyper's per-connection buffers (tens of connections here; the idle
/// ones of [`abuse`] hold a few KiB each), the fills' streaming windows and malloc's slack
/// between trims. The same figure as `memory.rs`.
pub const OVERHEAD: u64 = 48 * MIB;

/// The origin's budget: its hot-file cache at the default size (64 MiB).
pub const ORIGIN_BUDGET: u64 = 64 * MIB;

/// The redirector holds no content: only the fixed overhead.
pub const REDIRECTOR_BUDGET: u64 = 0;

/// The memory tier the fault tests give their edges (`--mem`).
pub const EDGE_MEM: &str = "64MiB";

/// An edge's budget: its `--mem` ([`EDGE_MEM`]) plus the fills' budget (the default
/// `fill_memory`).
pub fn edge_budget() -> u64 {
    let fill = edge::EdgeConfig::new("http://127.0.0.1:1", "127.0.0.1:0".parse().unwrap())
        .fill_memory
        .0;
    64 * MIB + fill
}

/// The fault tests take turns: each one's time bounds hold for a machine not also running
/// another fault (a poisoned lock from a failed test does not fail the next).
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A sampler already running (every 100 ms); watch servers with [`RssSampler::watch`].
pub fn rss_sampler() -> RssSampler {
    RssSampler::start()
}

/// The rows of a swarm's `fetches.csv` as maps of column → value.
pub fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

/// What a finished `dashcdn player swarm --out OUT` left: its stdout (after asserting it
/// exited 0), every player's rebuffering (s, from `swarm.json`) and the rows of `fetches.csv`.
pub struct SwarmResult {
    /// The swarm's standard output (its report table).
    pub stdout: String,
    /// `rebuffer_s` of every player.
    pub rebuffers: Vec<f64>,
    /// `fetches.csv`, one map per request.
    pub fetches: Vec<std::collections::HashMap<String, String>>,
    /// `swarm.json`.
    pub report: serde_json::Value,
}

impl SwarmResult {
    /// Reads the swarm's output directory after it ended (panics with its output if it failed).
    pub fn read(run: &std::process::Output, out: &std::path::Path) -> SwarmResult {
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(
            run.status.success(),
            "swarm failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("swarm.json")).unwrap())
                .unwrap();
        let rebuffers: Vec<f64> = report["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metrics"]["rebuffer_s"].as_f64().unwrap_or(f64::NAN))
            .collect();
        let fetches = csv_rows(&std::fs::read_to_string(out.join("fetches.csv")).unwrap());
        SwarmResult {
            stdout,
            rebuffers,
            fetches,
            report,
        }
    }

    /// The worst player's rebuffering, s.
    pub fn worst_rebuffer(&self) -> f64 {
        self.rebuffers.iter().cloned().fold(0.0, f64::max)
    }
}

/// A current-thread runtime for the blocking tests' few async steps.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
