//! Bounding the maps of sign-ins, codes and tokens: dead entries are dropped in batches as a
//! map grows.

use std::collections::HashMap;

/// Maps of sign-ins, codes and tokens are pruned of dead entries once they reach this size…
const PRUNE_MIN: usize = 256;

/// When to prune one map: once it has grown a quarter past what the last pruning kept (at
/// least [`PRUNE_MIN`]), so a long run's memory stays within 1.25× the live entries and
/// pruning costs O(1) per insert, amortised (a scan of n entries every n/4 inserts). (At 2×,
/// the refresher benchmark's 10,000 companies kept ~20,000 dead tokens in the mock.)
#[derive(Debug)]
pub(super) struct Pruning {
    next_at: usize,
}

impl Default for Pruning {
    fn default() -> Self {
        Self { next_at: PRUNE_MIN }
    }
}

impl Pruning {
    pub(super) fn run<K, V>(
        &mut self,
        map: &mut HashMap<K, V>,
        keep: impl FnMut(&K, &mut V) -> bool,
    ) {
        if map.len() >= self.next_at {
            map.retain(keep);
            self.next_at = map.len().saturating_add(map.len() / 4).max(PRUNE_MIN);
        }
    }
}

/// One [`Pruning`] per map of [`State`](super::State).
#[derive(Debug, Default)]
pub(super) struct Prunings {
    pub(super) txns: Pruning,
    pub(super) codes: Pruning,
    pub(super) access: Pruning,
    pub(super) refresh: Pruning,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long run's churn (every entry dead soon after insertion, a few kept alive) keeps the
    /// map within 1.25× its live entries (or the minimum), and live entries survive every pruning.
    #[test]
    fn pruning_bounds_a_churning_map_and_keeps_live_entries() {
        let mut pruning = Pruning::default();
        let mut map: HashMap<u32, bool> = HashMap::new();
        let mut biggest = 0;
        for i in 0..100_000u32 {
            pruning.run(&mut map, |_, live| *live);
            // Every 10th entry stays live; the previous entry dies when the next arrives.
            if let Some(prev) = i.checked_sub(1).and_then(|p| map.get_mut(&p)) {
                *prev = (i - 1) % 10 == 0;
            }
            map.insert(i, true);
            biggest = biggest.max(map.len());
        }
        let live = map.values().filter(|l| **l).count();
        assert_eq!(live, 10_001, "10,000 kept plus the newest");
        assert!(
            biggest <= live + live / 4 + 1,
            "grew to {biggest} for {live} live"
        );
        assert!((0..100_000).step_by(10).all(|k| map.contains_key(&k)));
    }
}
