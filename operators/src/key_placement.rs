//! Which worker folds a GROUP BY key, when every worker is in one process.
//!
//! The exchange by key used to send a key's rows to `hash % workers`. With
//! the few hundred or thousand keys of an IoT rule (its devices) a hash
//! splits them unevenly by chance: the standard workload's 1,000 device ids
//! fall 511 / 489 on two workers, so one worker folds 4 % more rows than the
//! other and the rule waits for it. A [`KeyPlacement`] instead cuts the key
//! hashes into [`KEY_BUCKETS`] buckets and gives each bucket to the workers
//! in turn, in the order its first key is seen; every place that routes —
//! the feed's [`crate::partition::KeyRouter`], each worker's tag and the
//! exchange — reads the same table, so they agree without locking, and a
//! bucket never changes worker. Keys that share a bucket share a worker:
//! 1,000 keys take about 970 buckets and split within a few keys of even;
//! past about 10,000 keys, buckets hold several keys each and the split is
//! as even as a hash's (which is, with that many keys, within a few %).
//! In a cluster the processes could not agree on an order of first sight,
//! so a rule there routes by the hash alone ([`KeyPlacement::by_hash`]).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Buckets of a balanced placement (one byte each: 16 KB).
pub const KEY_BUCKETS: usize = 16384;

/// A bucket's mark before its first key: no worker yet.
const UNPLACED: u8 = u8::MAX;

/// The worker of each GROUP BY key hash of one rule.
#[derive(Debug)]
pub struct KeyPlacement {
    peers: u64,
    /// `peers - 1` when `peers` is a power of two.
    mask: Option<u64>,
    /// Each bucket's worker, or [`UNPLACED`]; empty for a placement by hash alone.
    buckets: Box<[AtomicU8]>,
    /// The next worker to give a bucket to.
    next: AtomicU64,
}

impl KeyPlacement {
    /// A placement over `peers` workers that gives buckets of keys out in
    /// turn as they are first seen. Only for workers that share this
    /// placement: every worker of one process.
    pub fn balanced(peers: usize) -> Self {
        let mut p = Self::by_hash(peers);
        // A worker index must fit a bucket's byte beside the unplaced mark.
        if p.peers > 1 && p.peers < u64::from(UNPLACED) {
            p.buckets = (0..KEY_BUCKETS).map(|_| AtomicU8::new(UNPLACED)).collect();
        }
        p
    }

    /// A placement over `peers` workers by the hash alone: the same on
    /// every process, with nothing shared.
    pub fn by_hash(peers: usize) -> Self {
        let peers = (peers as u64).max(1);
        Self {
            peers,
            mask: peers.is_power_of_two().then(|| peers - 1),
            buckets: Box::default(),
            next: AtomicU64::new(0),
        }
    }

    /// The worker of the key whose route hash is `hash`.
    #[inline]
    pub fn of(&self, hash: u64) -> u64 {
        // The top bits pick the bucket: the hashes mix every byte into them.
        match self.buckets.get((hash >> (64 - KEY_BUCKETS.trailing_zeros())) as usize) {
            Some(bucket) => match bucket.load(Ordering::Relaxed) {
                UNPLACED => self.place(bucket),
                worker => u64::from(worker),
            },
            None => self.hashed(hash),
        }
    }

    /// Gives an unplaced bucket the next worker in turn, or reads the worker
    /// another thread gave it first.
    #[cold]
    fn place(&self, bucket: &AtomicU8) -> u64 {
        let worker = (self.next.fetch_add(1, Ordering::Relaxed) % self.peers) as u8;
        match bucket.compare_exchange(UNPLACED, worker, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => u64::from(worker),
            Err(theirs) => u64::from(theirs),
        }
    }

    #[inline]
    fn hashed(&self, hash: u64) -> u64 {
        match self.mask {
            Some(mask) => hash & mask,
            None => hash % self.peers,
        }
    }

    /// Workers the keys are placed on.
    pub fn peers(&self) -> u64 {
        self.peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyed::string_key_hash;

    fn worker(p: &KeyPlacement, key: &str) -> u64 {
        p.of(string_key_hash(key.as_bytes()))
    }

    fn spread(p: &KeyPlacement, keys: impl Iterator<Item = String>) -> Vec<u32> {
        let mut per = vec![0u32; p.peers() as usize];
        for k in keys {
            per[worker(p, &k) as usize] += 1;
        }
        per
    }

    /// The workload's 1,000 device ids, and ids of other shapes, split
    /// within 1 % of even up to 1,000 keys (a hash alone: 511 / 489 for the
    /// workload), and no worse than a uniform draw past that.
    #[test]
    fn keys_split_evenly_and_keep_their_worker() {
        let shapes: [fn(u32) -> String; 3] =
            [|k| format!("d{k}"), |k| format!("device-{k:06}"), |k| format!("{k:08x}")];
        for shape in shapes {
            for keys in [100u32, 1_000, 10_000] {
                for peers in [2usize, 3, 4] {
                    let p = KeyPlacement::balanced(peers);
                    let per = spread(&p, (0..keys).map(shape));
                    let share = 1.0 / peers as f64;
                    let even = f64::from(keys) * share;
                    let within = match keys {
                        ..=1_000 => 1.0 + 0.01 * f64::from(keys),
                        _ => 4.0 * (f64::from(keys) * share * (1.0 - share)).sqrt(),
                    };
                    for n in &per {
                        assert!((f64::from(*n) - even).abs() <= within, "{keys} keys on {peers}: {per:?}");
                    }
                    // Asked again, in another order, every key keeps its worker.
                    let first: Vec<u64> = (0..keys).map(|k| worker(&p, &shape(k))).collect();
                    for k in (0..keys).rev() {
                        assert_eq!(worker(&p, &shape(k)), first[k as usize]);
                    }
                }
            }
        }
    }

    #[test]
    fn by_hash_is_the_plain_exchange_route() {
        for peers in [1usize, 2, 3, 4] {
            let p = KeyPlacement::by_hash(peers);
            for k in 0..1000u64 {
                let h = string_key_hash(format!("d{k}").as_bytes());
                assert_eq!(p.of(h), h % peers as u64);
            }
        }
        // One worker, or more workers than a bucket can name: nothing to balance.
        assert_eq!(KeyPlacement::balanced(1).of(12345), 0);
        assert_eq!(KeyPlacement::balanced(300).of(301), 1);
    }

    /// Threads that meet new keys at once still agree on every key's worker.
    #[test]
    fn threads_agree_on_each_keys_worker() {
        let p = std::sync::Arc::new(KeyPlacement::balanced(2));
        let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let p = p.clone();
                    s.spawn(move || {
                        let mut out = vec![0; 2000];
                        let order: Vec<usize> =
                            if t % 2 == 0 { (0..2000).collect() } else { (0..2000).rev().collect() };
                        for k in order {
                            out[k] = worker(&p, &format!("d{k}"));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for other in &seen[1..] {
            assert_eq!(other, &seen[0]);
        }
    }
}
