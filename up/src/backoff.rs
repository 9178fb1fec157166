//! The restart policy of a component that died on its own (not stopped through the API).
//!
//! - The first restart waits [`FIRST_DELAY`] (0.5 s); each further failure doubles the wait,
//!   up to [`MAX_DELAY`] (30 s).
//! - A child that ran [`HEALTHY_AFTER`] (60 s) or longer before dying counts as healthy:
//!   the next wait is [`FIRST_DELAY`] again.
//! - `up` never gives up: a component that keeps failing is retried every 30 s, shown as
//!   `restarting` with its restart count and last exit on the page and in `/api/status`
//!   (a port taken by another program is a reason to fix, not to stop the rest of the CDN).
//! - A component stopped or killed through the API is not restarted until started again
//!   through the API.

use std::time::Duration;

/// Wait before the first restart.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Longest wait between restarts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A child that ran this long before dying resets the backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The backoff state of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    /// Deaths in a row without a healthy run in between.
    failures: u32,
}

impl Backoff {
    /// A child died after running for `ran`: how long to wait before starting it again.
    pub fn on_death(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY_AFTER {
            self.failures = 0;
        }
        let delay = FIRST_DELAY
            .checked_mul(1u32.checked_shl(self.failures.min(16)).unwrap_or(u32::MAX))
            .map_or(MAX_DELAY, |d| d.min(MAX_DELAY));
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Forgets past failures (after a start through the API).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_half_a_second_to_thirty() {
        let mut b = Backoff::default();
        let quick = Duration::from_secs(1);
        let waits: Vec<_> = (0..10).map(|_| b.on_death(quick).as_millis()).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
        );
        for _ in 0..100 {
            assert_eq!(b.on_death(quick), MAX_DELAY);
        }
    }

    #[test]
    fn a_healthy_run_resets_it() {
        let mut b = Backoff::default();
        b.on_death(Duration::ZERO);
        b.on_death(Duration::ZERO);
        assert_eq!(
            b.on_death(HEALTHY_AFTER - Duration::from_millis(1)),
            FIRST_DELAY * 4
        );
        assert_eq!(b.on_death(HEALTHY_AFTER), FIRST_DELAY);
        assert_eq!(b.on_death(Duration::ZERO), FIRST_DELAY * 2);
        b.reset();
        assert_eq!(b.on_death(Duration::ZERO), FIRST_DELAY);
    }
}
