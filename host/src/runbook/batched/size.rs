//! The size of the next batch, within the manifest's `[batches]` bounds:
//! halved on a statement or lock timeout, and after a batch that held its
//! rows longer than `target_ms` (from the plugin's call to the end of its
//! COMMIT: production's writes to its rows waited that long at most);
//! grown by half again after one that held them less than half of
//! `target_ms` (GitLab's batched migrations aim at a batch time the same
//! way). The host's own reads before the call lock no row of the batch and
//! do not count.

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
        if ms > self.target_ms {
            self.now = (self.now / 2).max(self.min);
        } else if ms < self.target_ms / 2 {
            self.now = (self.now + self.now / 2).clamp(self.min, self.max);
        }
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
    fn grows_after_fast_batches_only_up_to_max() {
        let mut s = size(1000, 100, 2000);
        s.after(60);
        assert_eq!(s.get(), 1000, "a batch over half the target is not fast");
        s.after(10);
        assert_eq!(s.get(), 1500);
        s.after(10);
        assert_eq!(s.get(), 2000);
        s.after(10);
        assert_eq!(s.get(), 2000);
    }

    #[test]
    fn shrinks_after_a_batch_over_the_target_down_to_min() {
        let mut s = size(1000, 300, 2000);
        s.after(100);
        assert_eq!(s.get(), 1000, "a batch of exactly the target keeps its size");
        s.after(101);
        assert_eq!(s.get(), 500);
        s.after(5000);
        assert_eq!(s.get(), 300);
        s.after(5000);
        assert_eq!(s.get(), 300, "never below min_size");
    }
}
