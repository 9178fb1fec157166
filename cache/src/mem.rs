//! Byte-weighted eviction policies for one memory shard: S3-FIFO and LRU.
//!
//! [`MemTier`] is a plain (not thread-safe) map with a byte budget; [`crate::Cache`] keeps
//! one per shard behind a `Mutex`. It is generic over key and value so the miss-ratio
//! simulator (`examples/miss_ratio.rs`) can drive exactly the same code with weights only.
//!
//! ## Why hand-written
//! The edge needs a cache whose budget is in **bytes** (segments range from a few KB to a
//! few MB), that is **exact** (accounted bytes never exceed the budget, checked after every
//! operation), and that is small enough to read in one sitting. With a crate we would have
//! to prove its accounting holds including our per-object overhead: `moka` (W-TinyLFU)
//! applies evictions in batched maintenance, so its weighted size can run over the capacity
//! in between; `quick_cache` and `foyer` split the capacity internally by their own rules.
//! S3-FIFO itself is ~150 lines here.
//!
//! ## S3-FIFO (Yang et al., SOSP'23), byte-weighted
//! * New objects enter the **small** FIFO (target: 10% of the bytes) unless their key is in
//!   the **ghost** queue, in which case they go straight to **main**.
//! * A hit sets nothing but a 2-bit frequency counter (saturating at 3): no list movement.
//! * Eviction from small: the oldest object moves to main if it was hit since insertion,
//!   otherwise it is dropped and its key hash enters the ghost queue.
//! * Eviction from main: the oldest object is reinserted at the tail with its frequency
//!   decremented if it is non-zero, otherwise dropped.
//! * Small is evicted while it holds at least its target share, main otherwise.
//!
//! One-hit wonders (a scan) therefore pass through small only and never displace the
//! objects in main.
//!
//! ## Accounting
//! Each object weighs `key + meta + body + `[`ENTRY_OVERHEAD`] (computed by the caller,
//! see [`crate::Cache`]). The ghost queue keeps only 64-bit key hashes; each ghost entry is
//! charged [`GHOST_ENTRY_BYTES`] against a reserve of 1% of the budget that objects cannot
//! use, so `objects + ghost ≤ budget` always holds.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};

use crate::Policy;

/// Bytes charged per cached object on top of key, meta and body: the slab slot (key
/// handle, two `Bytes` handles, links, weight, frequency: 112 B), the hash-map slot at
/// maximum load (≈29 B), the key's `Arc` header (≈32 B with the allocator's) and the two
/// `Bytes` shared control blocks (≈80 B) — ≈253 B on 64-bit targets, checked by a unit test
/// against the real type sizes; 320 leaves headroom for the free list and allocator slack.
/// The slab and the map keep their peak capacity, which is at most
/// `budget / ENTRY_OVERHEAD` slots, so their idle slots stay within that same charge.
pub const ENTRY_OVERHEAD: u64 = 320;

/// Bytes charged per ghost-queue entry (a 64-bit hash in the FIFO plus its hash-set slot).
pub const GHOST_ENTRY_BYTES: u64 = 48;

/// Share of the budget S3-FIFO gives its small queue, in percent.
const SMALL_PERCENT: u64 = 10;
/// Share of the budget reserved for the ghost queue's bookkeeping, in percent.
const GHOST_RESERVE_PERCENT: u64 = 1;
/// Maximum value of the frequency counter (2 bits).
const MAX_FREQ: u8 = 3;

const NIL: usize = usize::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

struct Node<K, V> {
    key: K,
    value: V,
    weight: u64,
    freq: u8,
    queue: Queue,
    prev: usize,
    next: usize,
}

#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
    bytes: u64,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        bytes: 0,
        len: 0,
    };
}

/// Recently evicted key hashes (S3-FIFO's ghost queue), bounded by the total weight of the
/// objects they stood for (≤ main's share) and by an entry count (the reserve).
struct Ghost {
    fifo: VecDeque<(u64, u64)>,
    members: HashMap<u64, u32>,
    weight: u64,
    max_weight: u64,
    max_entries: usize,
}

impl Ghost {
    fn insert(&mut self, hash: u64, weight: u64) {
        if self.max_entries == 0 {
            return;
        }
        self.fifo.push_back((hash, weight));
        *self.members.entry(hash).or_insert(0) += 1;
        self.weight += weight;
        while self.weight > self.max_weight || self.fifo.len() > self.max_entries {
            let Some((h, w)) = self.fifo.pop_front() else {
                break;
            };
            self.weight -= w;
            if let Some(count) = self.members.get_mut(&h) {
                *count -= 1;
                if *count == 0 {
                    self.members.remove(&h);
                }
            }
        }
    }

    /// Whether `hash` is in the ghost queue; forgets it if so.
    fn take(&mut self, hash: u64) -> bool {
        self.members.remove(&hash).is_some()
    }
}

/// Result of [`MemTier::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// The object is now resident.
    pub admitted: bool,
    /// Objects evicted to make room.
    pub evicted: usize,
}

/// A byte-budgeted map with S3-FIFO or LRU eviction (one shard; not thread-safe).
pub struct MemTier<K, V> {
    policy: Policy,
    capacity: u64,
    object_capacity: u64,
    small_target: u64,
    map: HashMap<K, usize>,
    slab: Vec<Option<Node<K, V>>>,
    free: Vec<usize>,
    small: List,
    main: List,
    ghost: Ghost,
    hasher: BuildHasherDefault<DefaultHasher>,
    evictions: u64,
}

impl<K: Hash + Eq + Clone, V> MemTier<K, V> {
    /// An empty tier with a budget of `capacity` bytes.
    pub fn new(policy: Policy, capacity: u64) -> Self {
        let reserve = match policy {
            Policy::S3Fifo => capacity * GHOST_RESERVE_PERCENT / 100,
            Policy::Lru => 0,
        };
        let object_capacity = capacity - reserve;
        let small_target = object_capacity * SMALL_PERCENT / 100;
        MemTier {
            policy,
            capacity,
            object_capacity,
            small_target,
            map: HashMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            small: List::EMPTY,
            main: List::EMPTY,
            ghost: Ghost {
                fifo: VecDeque::new(),
                members: HashMap::new(),
                weight: 0,
                max_weight: object_capacity - small_target,
                max_entries: (reserve / GHOST_ENTRY_BYTES) as usize,
            },
            hasher: BuildHasherDefault::default(),
            evictions: 0,
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The budget given to [`MemTier::new`].
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The largest weight an object may have to be admitted (the budget minus the ghost reserve).
    pub fn max_weight(&self) -> u64 {
        self.object_capacity
    }

    /// Accounted bytes: resident objects' weights plus the ghost queue's entries.
    /// Never exceeds [`MemTier::capacity`].
    pub fn used_bytes(&self) -> u64 {
        self.object_bytes() + self.ghost.fifo.len() as u64 * GHOST_ENTRY_BYTES
    }

    /// Sum of the resident objects' weights.
    pub fn object_bytes(&self) -> u64 {
        self.small.bytes + self.main.bytes
    }

    /// Number of resident objects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no object is resident.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Objects evicted to make room so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether `key` is resident (does not count as an access).
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The value for `key` without counting an access.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = *self.map.get(key)?;
        self.slab[idx].as_ref().map(|n| &n.value)
    }

    /// The value for `key`, counting an access (S3-FIFO: frequency +1; LRU: move to MRU).
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = *self.map.get(key)?;
        match self.policy {
            Policy::S3Fifo => {
                let node = self.node_mut(idx);
                node.freq = (node.freq + 1).min(MAX_FREQ);
            }
            Policy::Lru => {
                self.unlink(idx);
                self.push_back(idx);
            }
        }
        self.slab[idx].as_ref().map(|n| &n.value)
    }

    /// Inserts or replaces `key`. A replaced object keeps its queue and frequency (it moves
    /// to its queue's tail). Objects heavier than [`MemTier::max_weight`] are not admitted
    /// (and an older value under the same key is removed, so nothing stale stays).
    pub fn insert(&mut self, key: K, value: V, weight: u64) -> Inserted {
        if weight > self.object_capacity {
            self.remove(&key);
            return Inserted {
                admitted: false,
                evicted: 0,
            };
        }
        if let Some(&idx) = self.map.get(&key) {
            // Replace in place: detach so eviction cannot pick it, make room, re-attach.
            self.unlink(idx);
            let evicted = self.make_room(weight);
            let node = self.node_mut(idx);
            node.value = value;
            node.weight = weight;
            self.push_back(idx);
            return Inserted {
                admitted: true,
                evicted,
            };
        }
        let evicted = self.make_room(weight);
        let queue = match self.policy {
            Policy::Lru => Queue::Main,
            Policy::S3Fifo => {
                let hash = self.hasher.hash_one(&key);
                if self.ghost.take(hash) {
                    Queue::Main
                } else {
                    Queue::Small
                }
            }
        };
        let node = Node {
            key: key.clone(),
            value,
            weight,
            freq: 0,
            queue,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(idx) => {
                self.slab[idx] = Some(node);
                idx
            }
            None => {
                self.slab.push(Some(node));
                self.slab.len() - 1
            }
        };
        self.map.insert(key, idx);
        self.push_back(idx);
        Inserted {
            admitted: true,
            evicted,
        }
    }

    /// Removes `key` (not counted as an eviction).
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.map.remove(key)?;
        self.unlink(idx);
        self.free_node(idx).map(|n| n.value)
    }

    /// Removes every object whose key matches `pred`; returns the removed keys.
    pub fn remove_if(&mut self, mut pred: impl FnMut(&K) -> bool) -> Vec<K> {
        let doomed: Vec<K> = self.map.keys().filter(|k| pred(k)).cloned().collect();
        for key in &doomed {
            self.remove(key);
        }
        doomed
    }

    /// Evicts until `need` more bytes fit in the object budget; returns the number evicted.
    fn make_room(&mut self, need: u64) -> usize {
        let mut evicted = 0;
        while self.object_bytes() + need > self.object_capacity {
            let freed = match self.policy {
                Policy::Lru => {
                    if self.main.head == NIL {
                        break;
                    }
                    self.evict(self.main.head)
                }
                Policy::S3Fifo => {
                    if self.small.len > 0
                        && (self.small.bytes >= self.small_target || self.main.len == 0)
                    {
                        self.evict_small()
                    } else if self.main.len > 0 {
                        self.evict_main()
                    } else {
                        break;
                    }
                }
            };
            if freed {
                evicted += 1;
            }
        }
        self.evictions += evicted as u64;
        evicted
    }

    /// S3-FIFO: the oldest object of small moves to main if it was hit, else leaves (→ ghost).
    fn evict_small(&mut self) -> bool {
        let idx = self.small.head;
        self.unlink(idx);
        let node = self.node_mut(idx);
        if node.freq > 0 {
            node.freq = 0;
            node.queue = Queue::Main;
            self.push_back(idx);
            false
        } else {
            let node = self.free_node(idx).expect("listed node exists");
            self.map.remove(&node.key);
            let hash = self.hasher.hash_one(&node.key);
            self.ghost.insert(hash, node.weight);
            true
        }
    }

    /// S3-FIFO: the oldest object of main gets another lap if its frequency is non-zero.
    fn evict_main(&mut self) -> bool {
        let idx = self.main.head;
        let node = self.node_mut(idx);
        if node.freq > 0 {
            node.freq -= 1;
            self.unlink(idx);
            self.push_back(idx);
            false
        } else {
            self.evict(idx)
        }
    }

    fn evict(&mut self, idx: usize) -> bool {
        self.unlink(idx);
        let node = self.free_node(idx).expect("listed node exists");
        self.map.remove(&node.key);
        true
    }

    fn node_mut(&mut self, idx: usize) -> &mut Node<K, V> {
        self.slab[idx].as_mut().expect("live node")
    }

    fn free_node(&mut self, idx: usize) -> Option<Node<K, V>> {
        let node = self.slab[idx].take();
        if node.is_some() {
            self.free.push(idx);
        }
        node
    }

    fn list(&mut self, queue: Queue) -> &mut List {
        match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        }
    }

    fn push_back(&mut self, idx: usize) {
        let (queue, weight) = {
            let n = self.node_mut(idx);
            (n.queue, n.weight)
        };
        let old_tail = self.list(queue).tail;
        {
            let n = self.node_mut(idx);
            n.prev = old_tail;
            n.next = NIL;
        }
        if old_tail == NIL {
            self.list(queue).head = idx;
        } else {
            self.node_mut(old_tail).next = idx;
        }
        let list = self.list(queue);
        list.tail = idx;
        list.bytes += weight;
        list.len += 1;
    }

    fn unlink(&mut self, idx: usize) {
        let (queue, weight, prev, next) = {
            let n = self.node_mut(idx);
            let r = (n.queue, n.weight, n.prev, n.next);
            n.prev = NIL;
            n.next = NIL;
            r
        };
        if prev == NIL {
            self.list(queue).head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.list(queue).tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
        let list = self.list(queue);
        list.bytes -= weight;
        list.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(policy: Policy, cap: u64) -> MemTier<u64, ()> {
        MemTier::new(policy, cap)
    }

    #[test]
    fn budget_holds_for_many_distinct_objects() {
        for policy in [Policy::S3Fifo, Policy::Lru] {
            let mut t = tier(policy, 100_000);
            let mut x = 1u64;
            for k in 0..20_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let w = 50 + x % 5_000;
                t.insert(k % 3_000, (), w);
                if x % 3 == 1 {
                    t.get(&(x % 3_000));
                }
                assert!(t.used_bytes() <= t.capacity(), "{policy:?} over budget");
            }
            assert!(t.evictions() > 0);
        }
    }

    #[test]
    fn too_heavy_is_not_admitted_and_removes_stale() {
        let mut t = tier(Policy::S3Fifo, 10_000);
        assert!(t.insert(1, (), 100).admitted);
        assert!(!t.insert(1, (), 10_000).admitted);
        assert!(!t.contains(&1));
        assert_eq!(t.object_bytes(), 0);
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut t = tier(Policy::Lru, 300);
        t.insert(1, (), 100);
        t.insert(2, (), 100);
        t.insert(3, (), 100);
        t.get(&1);
        t.insert(4, (), 100);
        assert!(t.contains(&1) && !t.contains(&2) && t.contains(&3) && t.contains(&4));
    }

    #[test]
    fn s3fifo_one_hit_wonders_leave_from_small() {
        let mut t = tier(Policy::S3Fifo, 10_000);
        // Hot set: inserted, hit, and pushed into main by a stream of cold objects.
        for k in 0..50 {
            t.insert(k, (), 100);
            t.get(&k);
        }
        for k in 1_000..3_000 {
            t.insert(k, (), 100);
            for h in 0..50 {
                t.get(&h);
            }
        }
        for k in 0..50 {
            assert!(t.contains(&k), "hot {k} evicted");
        }
    }

    #[test]
    fn ghost_hit_goes_to_main() {
        let mut t = tier(Policy::S3Fifo, 100_000);
        t.insert(7, (), 1_000);
        // Flush 7 out of small without a hit: it becomes a ghost.
        for k in 100..199 {
            t.insert(k, (), 1_000);
        }
        assert!(!t.contains(&7));
        t.insert(7, (), 1_000);
        let idx = t.map[&7];
        assert_eq!(t.slab[idx].as_ref().unwrap().queue, Queue::Main);
    }

    #[test]
    fn replace_keeps_object_and_adjusts_bytes() {
        let mut t: MemTier<u64, &str> = MemTier::new(Policy::S3Fifo, 1_000);
        t.insert(1, "a", 300);
        t.insert(2, "b", 300);
        t.insert(1, "c", 500);
        assert_eq!(t.peek(&1), Some(&"c"));
        assert!(t.object_bytes() <= t.max_weight());
        assert_eq!(t.remove_if(|k| *k == 1), vec![1]);
        assert_eq!(t.len(), t.map.len());
    }
}

#[cfg(test)]
mod overhead {
    use super::*;
    use crate::Entry;
    use std::mem::size_of;
    use std::sync::Arc;

    /// The bytes one cached object costs beyond key, meta and body, estimated from the
    /// real types: slab slot, hash-map slot (at hashbrown's 7/8 maximum load, plus its
    /// control byte), the `Arc<str>` header of the key, and the two `Bytes` shared control
    /// blocks (24 bytes each plus an allocator header of 8–16).
    #[test]
    fn entry_overhead_covers_the_real_per_object_cost() {
        let slab = size_of::<Option<Node<Arc<str>, Entry>>>();
        let map_slot = (size_of::<(Arc<str>, usize)>() + 1) * 8 / 7 + 1;
        let arc_header = 2 * size_of::<usize>() + 16;
        let bytes_blocks = 2 * (24 + 16);
        let estimate = (slab + map_slot + arc_header + bytes_blocks) as u64;
        eprintln!("slab {slab} map {map_slot} arc {arc_header} bytes {bytes_blocks} = {estimate}");
        assert!(estimate <= ENTRY_OVERHEAD, "{estimate} > {ENTRY_OVERHEAD}");
    }
}
