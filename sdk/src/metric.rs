//! Lines of a check table: name, expected, actual, pass/fail.

use std::fmt::Display;

/// One line of a check table (gate, post-conditions, verify, probe).
pub use crate::__bindings::types::Metric;

impl Metric {
    /// Passes when `actual` prints the same as `expected`.
    pub fn equals(name: &str, expected: impl Display, actual: impl Display) -> Metric {
        let (expected, actual) = (expected.to_string(), actual.to_string());
        Metric { name: name.into(), passed: expected == actual, expected, actual, info: false }
    }

    /// Passes when `passed` holds; `expected` says the rule (`≥ 1`, `absent`).
    pub fn holds(name: &str, expected: impl Display, actual: impl Display, passed: bool) -> Metric {
        Metric { name: name.into(), expected: expected.to_string(), actual: actual.to_string(), passed, info: false }
    }

    /// Shown for information only; never fails the check.
    pub fn info(name: &str, actual: impl Display) -> Metric {
        Metric { name: name.into(), expected: "(info)".into(), actual: actual.to_string(), passed: true, info: true }
    }
}
