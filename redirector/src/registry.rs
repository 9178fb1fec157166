//! Per-edge state kept across topology reloads, keyed by `(id, url)`: the health
//! ([`crate::health::HealthRegistry`]) and the live figures ([`crate::live::LiveRegistry`])
//! of every edge. A leaf module.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// States of type `T` by `(edge id, edge url)`, created with `T::default()` on first sight.
#[derive(Debug)]
pub struct EdgeRegistry<T> {
    map: Mutex<HashMap<(String, String), Arc<T>>>,
}

impl<T> Default for EdgeRegistry<T> {
    fn default() -> Self {
        EdgeRegistry {
            map: Mutex::default(),
        }
    }
}

impl<T: Default> EdgeRegistry<T> {
    /// The state of this edge (created on first sight).
    pub fn get(&self, id: &str, url: &str) -> Arc<T> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((id.to_string(), url.to_string()))
            .or_default()
            .clone()
    }

    /// Forgets edges not in `keep` (after a reload).
    pub fn retain(&self, keep: &[(String, String)]) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|k, _| keep.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_state_and_retain_forgets_the_rest() {
        let r: EdgeRegistry<std::sync::atomic::AtomicU32> = EdgeRegistry::default();
        let a = r.get("a", "http://a");
        a.store(7, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            r.get("a", "http://a")
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
        assert_eq!(
            r.get("a", "http://other")
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        r.retain(&[("a".into(), "http://a".into())]);
        assert_eq!(
            r.get("a", "http://a")
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
        assert_eq!(r.map.lock().unwrap().len(), 1, "http://other forgotten");
    }
}
