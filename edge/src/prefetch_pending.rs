//! The prefetched objects no client has asked for yet, and what prefetched them: how
//! [`crate::prefetch`] tells a prefetch *hit* (a client request that finds stored an object
//! a prefetch stored before any client asked for it) by source. A leaf: [`crate::state`]
//! holds one.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use crate::metrics::SourceLabels;

/// Prefetched objects remembered until a client asks for them (oldest dropped first).
pub const MAX_PENDING: usize = 4096;

/// What a prefetch followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The player's CMCD `nor`.
    Nor,
    /// Segment `k+1..=k+N`.
    Guess,
}

impl Source {
    /// The metric label: `nor` or `guess`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nor => "nor",
            Source::Guess => "guess",
        }
    }

    pub(crate) fn labels(self) -> SourceLabels {
        SourceLabels {
            source: self.as_str(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PendingObject {
    source: Source,
    stored: bool,
    seq: u64,
}

/// Objects a prefetch started, until a client asks for them: their source and whether
/// the prefetch stored them.
#[derive(Debug, Default)]
pub struct Pending {
    map: Mutex<(HashMap<String, PendingObject>, u64)>,
    /// Hint fetches in flight (capped by [`crate::prefetch::MAX_HINT_FETCHES`]).
    pub(crate) hint_fetches: AtomicUsize,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, PendingObject>, u64)> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A prefetch of `key` starts.
    pub fn started(&self, key: &str, source: Source) {
        let mut g = self.lock();
        let (map, seq) = &mut *g;
        if map.len() >= MAX_PENDING && !map.contains_key(key) {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        *seq += 1;
        map.insert(
            key.to_owned(),
            PendingObject {
                source,
                stored: false,
                seq: *seq,
            },
        );
    }

    /// The prefetch of `key` ended, stored (`ok`) or not.
    pub fn finished(&self, key: &str, ok: bool) {
        let mut g = self.lock();
        if ok {
            if let Some(p) = g.0.get_mut(key) {
                p.stored = true;
            }
        } else {
            g.0.remove(key);
        }
    }

    /// A client asked for `key` and found it stored (`found`) or not: the prefetch source
    /// to credit with a hit, if any. Either way the object is no longer pending.
    pub fn client_request(&self, key: &str, found: bool) -> Option<Source> {
        let p = self.lock().0.remove(key)?;
        (found && p.stored).then_some(p.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_is_a_stored_prefetch_no_client_asked_for_before() {
        let p = Pending::default();
        p.started("/a", Source::Nor);
        p.finished("/a", true);
        assert_eq!(p.client_request("/a", true), Some(Source::Nor));
        assert_eq!(p.client_request("/a", true), None, "only the first client");
        // a client that came while the prefetch was in flight: no hit, not later either
        p.started("/b", Source::Guess);
        assert_eq!(p.client_request("/b", false), None);
        p.finished("/b", true);
        assert_eq!(p.client_request("/b", true), None);
        // a failed prefetch is forgotten
        p.started("/c", Source::Guess);
        p.finished("/c", false);
        assert_eq!(p.client_request("/c", true), None);
        for i in 0..MAX_PENDING + 5 {
            p.started(&format!("/k{i}"), Source::Guess);
        }
        assert_eq!(p.lock().0.len(), MAX_PENDING);
        assert!(!p.lock().0.contains_key("/k0"));
    }
}
