//! What a connection is doing — idle, sending a request head, or serving requests — for
//! the timeout watchdog and the connection-limit eviction of [`crate::server`], and the
//! guard ([`InFlight`]) that counts a request as in flight until its response is done.
//! Both the hyper path (`server`) and the direct HTTP/1.1 path (`direct`) report into it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What a connection is doing, for the timeout watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<ActivityState>,
    /// Set while the connection is idle and no byte of a next request has been read: the
    /// read path records the first byte only then (one atomic load per read otherwise).
    awaiting_first_byte: AtomicBool,
    /// Wakes the watchdog when the state changes.
    pub(crate) changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    /// Requests completed on this connection.
    served: u64,
    idle_since: Instant,
    first_byte: Option<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                served: 0,
                idle_since: Instant::now(),
                first_byte: None,
            }),
            awaiting_first_byte: AtomicBool::new(true),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed if nothing changes; `None` while a request is
    /// in flight (or the applicable timeout is off).
    pub(crate) fn deadline(
        &self,
        header_read: Option<Duration>,
        idle: Option<Duration>,
    ) -> Option<Instant> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        match s.first_byte {
            Some(first) => header_read.map(|h| first + h),
            None => idle.map(|i| s.idle_since + i),
        }
    }

    /// Whether the connection ever completed a request and since when it has been
    /// stalled (idle, or sending a request head), or `None` while a request is in flight.
    /// Ordered as eviction prefers: never served first, then longest stalled.
    pub(crate) fn stalled(&self) -> Option<(bool, Instant)> {
        let s = self.lock();
        (s.in_flight == 0).then_some((s.served > 0, s.idle_since))
    }

    pub(crate) fn bytes_read(&self) {
        if self.awaiting_first_byte.swap(false, Ordering::AcqRel) {
            let mut s = self.lock();
            if s.in_flight == 0 && s.first_byte.is_none() {
                s.first_byte = Some(Instant::now());
            }
            drop(s);
            self.changed.notify_one();
        }
    }

    pub(crate) fn request_started(&self) {
        let mut s = self.lock();
        s.in_flight += 1;
        s.first_byte = None;
        self.awaiting_first_byte.store(false, Ordering::Release);
        drop(s);
        self.changed.notify_one();
    }

    pub(crate) fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.served += 1;
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.first_byte = None;
            self.awaiting_first_byte.store(true, Ordering::Release);
        }
        drop(s);
        self.changed.notify_one();
    }
}

/// One request in flight; finished when dropped (with the response body, or with the
/// handler's future if the connection goes away first).
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(crate) fn start(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}
