//! The upstream circuit breaker: a dead or hanging upstream is marked down for a while, so
//! every client does not pay the connect or response timeout.
//!
//! States ([`Health`]): `Closed` (normal) → after `threshold` consecutive failures
//! (connect failures and timeouts; an answer of any status is a success) → `Open` for
//! `open_for`, during which [`Breaker::admit`] refuses at once ([`Admit::Reject`]: misses
//! fail fast with `502`, stale copies are served) → then `HalfOpen`: exactly one request
//! goes through as a probe ([`Admit::Probe`]) while the others are still refused; its
//! success closes the breaker, its failure opens it again for twice as long (capped at
//! `max_open`). Time is [`tokio::time::Instant`], so tests drive it with a paused clock.
//! Every change of state is returned by [`Breaker::record`] / [`Breaker::admit`] for the
//! caller to log, and [`Breaker::health`] feeds `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The upstream is used normally.
    Closed,
    /// The upstream is marked down until the instant.
    Open(Instant),
    /// One probe is (or may be) in flight.
    HalfOpen,
}

impl Health {
    /// `0` closed, `1` half-open, `2` open (the `/metrics` gauge).
    pub fn code(self) -> i64 {
        match self {
            Health::Closed => 0,
            Health::HalfOpen => 1,
            Health::Open(_) => 2,
        }
    }
}

/// Whether a request may go upstream now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go (the breaker is closed).
    Go,
    /// Go as the half-open probe (report its result with [`Breaker::record`]).
    Probe,
    /// The upstream is marked down: fail fast.
    Reject,
}

#[derive(Debug)]
struct Core {
    health: Health,
    failures: u32,
    open_for: Duration,
    probing: bool,
}

/// A circuit breaker (see the module docs). `threshold` 0 disables it.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    base: Duration,
    max_open: Duration,
    core: Mutex<Core>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration, max_open: Duration) -> Breaker {
        Breaker {
            threshold,
            base: open_for,
            max_open: max_open.max(open_for),
            core: Mutex::new(Core {
                health: Health::Closed,
                failures: 0,
                open_for,
                probing: false,
            }),
        }
    }

    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn health(&self) -> Health {
        self.core().health
    }

    /// Decides whether a request may go upstream at `now`; the second value is the new
    /// state when it changed (open → half-open).
    pub fn admit(&self, now: Instant) -> (Admit, Option<Health>) {
        if self.threshold == 0 {
            return (Admit::Go, None);
        }
        let mut c = self.core();
        match c.health {
            Health::Closed => (Admit::Go, None),
            Health::Open(until) if now < until => (Admit::Reject, None),
            Health::Open(_) => {
                c.health = Health::HalfOpen;
                c.probing = true;
                (Admit::Probe, Some(Health::HalfOpen))
            }
            Health::HalfOpen if c.probing => (Admit::Reject, None),
            Health::HalfOpen => {
                c.probing = true;
                (Admit::Probe, None)
            }
        }
    }

    /// Records the result of an admitted request at `now`; returns the new state when it
    /// changed.
    pub fn record(&self, ok: bool, now: Instant) -> Option<Health> {
        if self.threshold == 0 {
            return None;
        }
        let mut c = self.core();
        let before = c.health;
        if ok {
            c.failures = 0;
            c.open_for = self.base;
            c.probing = false;
            c.health = Health::Closed;
        } else {
            c.failures = c.failures.saturating_add(1);
            match c.health {
                Health::HalfOpen => {
                    c.open_for = (c.open_for * 2).min(self.max_open);
                    c.health = Health::Open(now + c.open_for);
                    c.probing = false;
                }
                Health::Closed if c.failures >= self.threshold => {
                    c.open_for = self.base;
                    c.health = Health::Open(now + c.open_for);
                }
                _ => {}
            }
        }
        (c.health != before).then_some(c.health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_probes_and_backs_off() {
        let b = Breaker::new(3, Duration::from_secs(1), Duration::from_secs(3));
        let t0 = Instant::now();
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.admit(t0).0, Admit::Go);
        // the third consecutive failure opens it for 1 s
        assert_eq!(
            b.record(false, t0),
            Some(Health::Open(t0 + Duration::from_secs(1)))
        );
        assert_eq!(b.admit(t0 + Duration::from_millis(999)).0, Admit::Reject);
        // then one probe, the others still refused
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.admit(t1), (Admit::Probe, Some(Health::HalfOpen)));
        assert_eq!(b.admit(t1).0, Admit::Reject);
        // a failed probe doubles the time down: 2 s, then capped at 3 s
        assert_eq!(
            b.record(false, t1),
            Some(Health::Open(t1 + Duration::from_secs(2)))
        );
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(b.admit(t2).0, Admit::Probe);
        assert_eq!(
            b.record(false, t2),
            Some(Health::Open(t2 + Duration::from_secs(3)))
        );
        // a successful probe closes it and resets the back-off
        let t3 = t2 + Duration::from_secs(3);
        assert_eq!(b.admit(t3).0, Admit::Probe);
        assert_eq!(b.record(true, t3), Some(Health::Closed));
        assert_eq!(b.admit(t3).0, Admit::Go);
        // a success between failures resets the count
        b.record(false, t3);
        b.record(false, t3);
        b.record(true, t3);
        b.record(false, t3);
        assert_eq!(b.health(), Health::Closed);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(1), Duration::from_secs(1));
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(b.record(false, t), None);
        }
        assert_eq!(b.admit(t).0, Admit::Go);
    }
}
