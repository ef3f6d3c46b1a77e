//! The size of the next batch, within the manifest's `[batches]` bounds:
//! halved on a statement or lock timeout (the batch held production up),
//! grown by half again after a batch that took less than half the
//! statement timeout (GitLab's batched migrations do the same).

use crate::manifest::Batches;

/// The size the host asks for next.
#[derive(Debug, Clone)]
pub(crate) struct Size {
    now: u64,
    min: u64,
    max: u64,
    fast_ms: u64,
}

impl Size {
    pub fn new(b: &Batches) -> Size {
        Size { now: b.size, min: b.min_size, max: b.max_size, fast_ms: b.statement_timeout_ms / 2 }
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

    /// After a committed batch that took `ms`.
    pub fn after(&mut self, ms: u64) {
        if ms < self.fast_ms {
            self.now = (self.now + self.now / 2).clamp(self.min, self.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(size: u64, min: u64, max: u64) -> Size {
        Size::new(&Batches { size, min_size: min, max_size: max, statement_timeout_ms: 1000, ..Default::default() })
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
        s.after(600);
        assert_eq!(s.get(), 1000, "a batch over half the timeout is not fast");
        s.after(10);
        assert_eq!(s.get(), 1500);
        s.after(10);
        assert_eq!(s.get(), 2000);
        s.after(10);
        assert_eq!(s.get(), 2000);
    }
}
