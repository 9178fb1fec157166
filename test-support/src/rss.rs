//! Resident memory of the servers under test: [`vm_rss`] reads a process's `VmRSS` from
//! `/proc/PID/status`, and [`RssSampler`] reads it for every watched process on a thread of
//! its own (every 100 ms unless told otherwise) and keeps each one's peak, so a test can
//! assert at the end that no server went over its budget plus a stated overhead at any
//! point of the run — not only when it looked.
//!
//! Processes may be added while it runs ([`RssSampler::watch`]): a server restarted in the
//! middle of a test is watched under a new entry. A process that has exited is skipped (its
//! peak is what was seen while it lived).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often [`RssSampler::start`] samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

const MIB: f64 = (1 << 20) as f64;

/// The `VmRSS` of process `pid`, bytes; `None` once it has exited (or is a zombie).
pub fn vm_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// One watched process and what was seen of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssReport {
    /// What the test calls it (`edge-a`, `origin (restarted)`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Its memory budget (cache tiers, fill buffers…), bytes.
    pub budget: u64,
    /// What it may use beyond the budget (binary, runtime, connections, malloc slack), bytes.
    pub overhead: u64,
    /// The highest `VmRSS` sampled, bytes.
    pub peak: u64,
    /// How many samples were read.
    pub samples: u64,
}

impl RssReport {
    /// `budget + overhead`.
    pub fn bound(&self) -> u64 {
        self.budget + self.overhead
    }

    /// The peak stayed within [`RssReport::bound`] and at least one sample was read.
    pub fn within(&self) -> bool {
        self.samples > 0 && self.peak <= self.bound()
    }
}

impl fmt::Display for RssReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}): peak {:.1} MiB over {} samples; bound {:.0} MiB (budget {:.0} + overhead {:.0}){}",
            self.name,
            self.pid,
            self.peak as f64 / MIB,
            self.samples,
            self.bound() as f64 / MIB,
            self.budget as f64 / MIB,
            self.overhead as f64 / MIB,
            if self.within() { "" } else { "  <-- OVER" }
        )
    }
}

/// Samples the RSS of the watched processes until [`RssSampler::stop`].
pub struct RssSampler {
    watched: Arc<Mutex<Vec<RssReport>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling every [`SAMPLE_EVERY`] (nothing is watched yet).
    pub fn start() -> RssSampler {
        RssSampler::every(SAMPLE_EVERY)
    }

    /// Starts sampling every `interval`.
    pub fn every(interval: Duration) -> RssSampler {
        let watched: Arc<Mutex<Vec<RssReport>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (Arc::clone(&watched), Arc::clone(&stop));
        let thread = std::thread::spawn(move || loop {
            sample(&w);
            if s.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(interval);
        });
        RssSampler {
            watched,
            stop,
            thread: Some(thread),
        }
    }

    /// Watches process `pid` as `name`, held to `budget + overhead` bytes (sampled at once).
    pub fn watch(&self, name: &str, pid: u32, budget: u64, overhead: u64) -> &RssSampler {
        let mut w = self.watched.lock().unwrap();
        w.push(RssReport {
            name: name.to_owned(),
            pid,
            budget,
            overhead,
            peak: 0,
            samples: 0,
        });
        drop(w);
        sample(&self.watched);
        self
    }

    /// What was seen so far, without stopping.
    pub fn reports(&self) -> Vec<RssReport> {
        self.watched.lock().unwrap().clone()
    }

    /// Takes a last sample, stops the thread and returns every watched process's report.
    pub fn stop(mut self) -> Vec<RssReport> {
        self.halt();
        self.reports()
    }

    /// [`RssSampler::stop`], then panics with every report (and `context`) unless each
    /// process stayed within its bound; returns the reports' lines.
    pub fn assert_within(self, context: &str) -> String {
        let reports = self.stop();
        let text = reports
            .iter()
            .map(|r| format!("  RSS {r}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            reports.iter().all(RssReport::within),
            "{context}: a server went over its memory bound:\n{text}"
        );
        text
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One sample of every watched process that still runs.
fn sample(watched: &Mutex<Vec<RssReport>>) {
    let mut w = watched.lock().unwrap();
    for r in w.iter_mut() {
        if let Some(rss) = vm_rss(r.pid) {
            r.peak = r.peak.max(rss);
            r.samples += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_a_live_process_and_holds_it_to_its_bound() {
        let me = std::process::id();
        assert!(vm_rss(me).unwrap() > 0);
        let s = RssSampler::every(Duration::from_millis(10));
        s.watch("me", me, 1 << 40, 0).watch("tiny", me, 1, 0);
        std::thread::sleep(Duration::from_millis(60));
        let r = s.stop();
        assert!(r[0].samples >= 3 && r[0].within(), "{}", r[0]);
        assert!(!r[1].within(), "{}", r[1]);
        assert!(r[1].to_string().contains("OVER"), "{}", r[1]);
    }

    #[test]
    fn an_exited_process_is_skipped_and_never_within() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(vm_rss(pid), None);
        let s = RssSampler::start();
        s.watch("gone", pid, 1 << 30, 0);
        let r = s.stop();
        assert_eq!(r[0].samples, 0);
        assert!(!r[0].within());
    }

    #[test]
    #[should_panic(expected = "went over its memory bound")]
    fn assert_within_names_the_offender() {
        let s = RssSampler::start();
        s.watch("me", std::process::id(), 1, 0);
        s.assert_within("unit");
    }
}
