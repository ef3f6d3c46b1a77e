//! The size of the next batch, within the manifest's `[batches]` bounds:
//! halved on a statement or lock timeout; after a committed batch, scaled
//! by how long it held its rows (from the plugin's call to the end of its
//! COMMIT: production's writes to its rows waited that long at most) so
//! that the next holds them about nine tenths of `target_ms`. A batch over
//! the target shrinks the next in proportion, at once; one under four
//! fifths of it grows the next in proportion, by half at most (GitLab's
//! batched migrations aim at a batch time the same way). Aiming near the
//! target, not under half of it, keeps the batches as few as the target
//! allows: each costs the host's own statements. The host's reads before
//! the call lock no row of the batch and do not count.

use crate::manifest::Batches;

/// The size the host asks for next.
#[derive(Debug, Clone)]
pub(crate) struct Size {
    now: u64,
    min: u64,
    max: u64,
    target_ms: u64,
}

impl Size {
    pub fn new(b: &Batches) -> Size {
        Size { now: b.size, min: b.min_size, max: b.max_size, target_ms: b.target_ms }
    }

    pub fn get(&self) -> u64 {
        self.now
    }

    /// For the plugin's call (the manifest bounds sizes to 1,000,000).
    pub fn as_u32(&self) -> u32 {
        u32::try_from(self.now).unwrap_or(u32::MAX)
    }

    /// After a timeout: half, not below `min_size`; false when it was
    /// already `min_size` (the tier fails: even the smallest batch is too slow).
    pub fn halve(&mut self) -> bool {
        if self.now <= self.min {
            return false;
        }
        self.now = (self.now / 2).max(self.min);
        true
    }

    /// After a committed batch that held its rows `ms`.
    pub fn after(&mut self, ms: u64) {
        let target = u128::from(self.target_ms);
        let (now, ms) = (u128::from(self.now), u128::from(ms.max(1)));
        // Rows this batch held per millisecond, times the aim.
        let aimed = now * target * 9 / 10 / ms;
        let next = if ms > target {
            aimed
        } else if ms * 5 < target * 4 {
            aimed.min(now + (now / 2).max(1))
        } else {
            now
        };
        self.now = u64::try_from(next).unwrap_or(u64::MAX).clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(size: u64, min: u64, max: u64) -> Size {
        Size::new(&Batches { size, min_size: min, max_size: max, target_ms: 100, ..Default::default() })
    }

    #[test]
    fn halves_down_to_min_then_says_no() {
        let mut s = size(1000, 300, 5000);
        assert!(s.halve());
        assert_eq!(s.get(), 500);
        assert!(s.halve());
        assert_eq!(s.get(), 300);
        assert!(!s.halve());
        assert_eq!(s.get(), 300);
    }

    #[test]
    fn grows_after_fast_batches_by_half_at_most_and_only_up_to_max() {
        let mut s = size(1000, 100, 2000);
        s.after(85);
        assert_eq!(s.get(), 1000, "a batch within 80–100% of the target keeps its size");
        s.after(75);
        assert_eq!(s.get(), 1200, "aimed at 90 ms: 1000 × 90 / 75");
        s.after(10);
        assert_eq!(s.get(), 1800, "by half at most");
        s.after(10);
        assert_eq!(s.get(), 2000);
        s.after(10);
        assert_eq!(s.get(), 2000);
    }

    #[test]
    fn shrinks_after_a_batch_over_the_target_in_proportion_down_to_min() {
        let mut s = size(1000, 100, 2000);
        s.after(100);
        assert_eq!(s.get(), 1000, "a batch of exactly the target keeps its size");
        s.after(180);
        assert_eq!(s.get(), 500, "aimed at 90 ms: 1000 × 90 / 180");
        s.after(4500);
        assert_eq!(s.get(), 100, "500 × 90 / 4500 is 10: never below min_size");
        s.after(5000);
        assert_eq!(s.get(), 100);
    }

    #[test]
    fn settles_near_the_target_when_time_has_a_fixed_part() {
        // 3 ms of the batch's own statements, then 5 µs a row.
        let mut s = size(10_000, 10, 1_000_000);
        let held = |n: u64| 3 + n / 200;
        for _ in 0..20 {
            s.after(held(s.get()));
        }
        let ms = held(s.get());
        assert!((80..=100).contains(&ms), "settled at {} rows holding {ms} ms", s.get());
    }

    #[test]
    fn a_size_of_one_can_grow() {
        let mut s = size(1, 1, 10);
        s.after(1);
        assert_eq!(s.get(), 2);
    }
}
