//! The one clock behind every freshness decision.
//!
//! Age, freshness, stale-while-revalidate and stale-if-error (RFC 9111 §4.2, RFC 5861) are
//! all computed from "now" and the times a response was requested and received. The edge
//! reads those instants from the [`Clock`] its [`EdgeState`](crate::EdgeState) holds, never
//! from [`SystemTime::now`] directly, so tests can move time instead of sleeping:
//!
//! - [`Clock::system`] (the default) is the wall clock.
//! - [`Clock::following_tokio`] is a wall-clock reading taken once plus the time elapsed on
//!   [`tokio::time::Instant`] since; under `tokio::time::pause()` it stands still, and
//!   `tokio::time::advance(d)` moves it by exactly `d`. (Outside a paused runtime it runs
//!   with the monotonic clock, so it is also usable as a jump-free wall clock.)
//!
//! Only freshness uses this clock: request latency in [`metrics`](crate::metrics) and the
//! network timeouts are measured by tokio's timers, which `pause()` controls anyway.

use std::time::SystemTime;

/// Source of "now" for the edge's freshness and age calculations (see the module docs).
/// Cheap to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, Default)]
enum Kind {
    #[default]
    System,
    Tokio {
        base: SystemTime,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// The wall clock ([`SystemTime::now`]).
    pub fn system() -> Clock {
        Clock { kind: Kind::System }
    }

    /// A clock that starts at the current wall-clock time and then advances with
    /// [`tokio::time::Instant`], so `tokio::time::pause()` / `advance()` move it.
    /// Create it inside the runtime (and after `pause()`) whose time it should follow.
    pub fn following_tokio() -> Clock {
        Clock {
            kind: Kind::Tokio {
                base: SystemTime::now(),
                start: tokio::time::Instant::now(),
            },
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match self.kind {
            Kind::System => SystemTime::now(),
            Kind::Tokio { base, start } => base + start.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_advance_only() {
        let c = Clock::following_tokio();
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.now(), t0, "paused: real time does not move it");
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(c.now(), t0 + Duration::from_secs(90));
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let before = SystemTime::now();
        let now = Clock::default().now();
        assert!(now >= before && now <= SystemTime::now());
    }
}
