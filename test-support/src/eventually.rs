//! Waiting for something that settles shortly after a request: a cache store that lands
//! just after the body ends, a counter scraped from `/metrics`, a reload after `SIGHUP`.
//!
//! [`eventually()`] retries a check until it holds and otherwise fails with the check's last
//! error, the number of tries and the time spent — instead of a hand-written
//! `for _ in 0..200 { …; sleep(10 ms) }` loop that ends in a bare "never happened". A check
//! returns anything that is a [`Check`]: `bool`, `Option<T>` or `Result<T, E>`.
//!
//! The async variants measure time with [`tokio::time::Instant`], so they also work in a
//! test whose tokio clock is paused (the sleeps between tries advance it).

use std::fmt;
use std::future::Future;
use std::time::Duration;

/// Pause between two tries unless told otherwise ([`Patience::every`]).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);

/// The outcome of one try: held (with a value) or not yet (with why).
pub trait Check {
    /// The value returned once the check holds.
    type Ok;
    /// `Ok(value)` when it holds, `Err(why not)` otherwise.
    fn check(self) -> Result<Self::Ok, String>;
}

impl Check for bool {
    type Ok = ();
    fn check(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("check returned false".into())
        }
    }
}

impl<T> Check for Option<T> {
    type Ok = T;
    fn check(self) -> Result<T, String> {
        self.ok_or_else(|| "check returned None".into())
    }
}

impl<T, E: fmt::Display> Check for Result<T, E> {
    type Ok = T;
    fn check(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A check that never held in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    /// The timeout asked for.
    pub timeout: Duration,
    /// The time actually spent (at least `timeout`, or less if the last try overran it).
    pub elapsed: Duration,
    /// How many tries ran (a try still running at the deadline counts).
    pub tries: u32,
    /// Why the last try did not hold.
    pub last: String,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "did not hold within {:?} ({} tries over {:?}); last: {}",
            self.timeout, self.tries, self.elapsed, self.last
        )
    }
}

impl std::error::Error for GaveUp {}

/// How long to keep trying and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Give up once this much time has passed.
    pub timeout: Duration,
    /// Pause between tries.
    pub interval: Duration,
}

impl Patience {
    /// Tries for `timeout`, every [`DEFAULT_INTERVAL`].
    pub fn new(timeout: Duration) -> Patience {
        Patience {
            timeout,
            interval: DEFAULT_INTERVAL,
        }
    }

    /// The same timeout, trying every `interval`.
    pub fn every(self, interval: Duration) -> Patience {
        Patience { interval, ..self }
    }

    /// Runs `check` until it holds or the timeout passes. A try still running at the
    /// deadline is abandoned (dropped) and reported.
    pub async fn until<F, Fut>(self, mut check: F) -> Result<<Fut::Output as Check>::Ok, GaveUp>
    where
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: Check,
    {
        let start = tokio::time::Instant::now();
        let deadline = start + self.timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            let last = match tokio::time::timeout_at(deadline, check()).await {
                Ok(outcome) => match outcome.check() {
                    Ok(v) => return Ok(v),
                    Err(why) => why,
                },
                Err(_) => "the last try was still running at the deadline".into(),
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(GaveUp {
                    timeout: self.timeout,
                    elapsed: now - start,
                    tries,
                    last,
                });
            }
            tokio::time::sleep(self.interval.min(deadline - now)).await;
        }
    }

    /// [`Patience::until`] for blocking code (a try cannot be interrupted: one that
    /// overruns the deadline is waited for, then reported).
    pub fn until_sync<C: Check>(self, mut check: impl FnMut() -> C) -> Result<C::Ok, GaveUp> {
        let start = std::time::Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            let last = match check().check() {
                Ok(v) => return Ok(v),
                Err(why) => why,
            };
            let elapsed = start.elapsed();
            if elapsed >= self.timeout {
                return Err(GaveUp {
                    timeout: self.timeout,
                    elapsed,
                    tries,
                    last,
                });
            }
            std::thread::sleep(self.interval.min(self.timeout - elapsed));
        }
    }
}

/// Retries the async `check` every [`DEFAULT_INTERVAL`] until it holds and returns its
/// value; panics with the last error, the tries and the time spent after `timeout`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let mut n = 0;
/// let v = test_support::eventually(Duration::from_secs(1), || {
///     n += 1;
///     let n = n;
///     async move { (n >= 3).then_some(n) }
/// })
/// .await;
/// assert_eq!(v, 3);
/// # }
/// ```
pub async fn eventually<F, Fut>(timeout: Duration, check: F) -> <Fut::Output as Check>::Ok
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Check,
{
    match Patience::new(timeout).until(check).await {
        Ok(v) => v,
        Err(gave_up) => panic!("eventually: {gave_up}"),
    }
}

/// [`eventually()`] for blocking tests: retries `check` every [`DEFAULT_INTERVAL`].
pub fn eventually_sync<C: Check>(timeout: Duration, check: impl FnMut() -> C) -> C::Ok {
    match Patience::new(timeout).until_sync(check) {
        Ok(v) => v,
        Err(gave_up) => panic!("eventually: {gave_up}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_it_holds() {
        let mut n = 0u32;
        let got = eventually(Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move {
                if n < 4 {
                    Err(format!("only {n}"))
                } else {
                    Ok(n * 10)
                }
            }
        })
        .await;
        assert_eq!(got, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_with_the_last_error_and_the_time_spent() {
        let mut n = 0u32;
        let err = Patience::new(Duration::from_secs(1))
            .every(Duration::from_millis(100))
            .until(|| {
                n += 1;
                let n = n;
                async move { Err::<(), _>(format!("try {n}")) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.tries, 11, "{err}");
        assert_eq!(err.last, "try 11");
        assert_eq!(err.elapsed, Duration::from_secs(1));
        let text = err.to_string();
        assert!(text.contains("1s") && text.contains("try 11"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_try_that_hangs_is_cut_at_the_deadline() {
        let err = Patience::new(Duration::from_secs(2))
            .until(std::future::pending::<bool>)
            .await
            .unwrap_err();
        assert_eq!(err.tries, 1);
        assert!(err.last.contains("still running"), "{err}");
    }

    #[test]
    fn sync_variant_with_bool_and_option() {
        let mut n = 0;
        eventually_sync(Duration::from_secs(5), || {
            n += 1;
            n == 3
        });
        assert_eq!(n, 3);
        let err = Patience::new(Duration::from_millis(30))
            .until_sync(|| None::<u8>)
            .unwrap_err();
        assert!(err.elapsed >= Duration::from_millis(30));
        assert_eq!(err.last, "check returned None");
    }

    #[test]
    #[should_panic(expected = "eventually: did not hold within")]
    fn eventually_panics_with_the_report() {
        eventually_sync(Duration::from_millis(20), || false);
    }
}
