//! The upper bound the size check computes for a value.

/// An upper bound on a value's size: `bytes` from constants, plus `copies`
/// times the largest value the statement reads, plus `carried` times a
/// value a recursive CTE carries between iterations (in its recursive term).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Size {
    pub(super) bytes: f64,
    pub(super) copies: f64,
    pub(super) carried: f64,
}

impl Size {
    pub(super) const fn bytes(bytes: f64) -> Size {
        Size { bytes, copies: 0.0, carried: 0.0 }
    }
    pub(super) fn add(self, o: Size) -> Size {
        Size { bytes: self.bytes + o.bytes, copies: self.copies + o.copies, carried: self.carried + o.carried }
    }
    pub(super) fn times(self, k: f64) -> Size {
        Size { bytes: self.bytes * k, copies: self.copies * k, carried: self.carried * k }
    }
    pub(super) fn max(self, o: Size) -> Size {
        Size { bytes: self.bytes.max(o.bytes), copies: self.copies.max(o.copies), carried: self.carried.max(o.carried) }
    }
    pub(super) fn constant(self) -> bool {
        self.copies == 0.0 && self.carried == 0.0
    }
}
