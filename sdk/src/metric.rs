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

/// A metric name `plugin.toml` declares: the export macro gives one
/// constant per declared name (`metric::ACTIVE_AXES`), so the code cannot
/// misspell one. Build the table's line from it with [`MetricName::equals`],
/// [`MetricName::holds`] or [`MetricName::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricName(&'static str);

impl MetricName {
    /// Made by the export macro from the manifest; not for plugin code.
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        MetricName(name)
    }

    /// The name as plugin.toml writes it.
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// [`Metric::equals`] under this name.
    pub fn equals(self, expected: impl Display, actual: impl Display) -> Metric {
        Metric::equals(self.0, expected, actual)
    }

    /// [`Metric::holds`] under this name.
    pub fn holds(self, expected: impl Display, actual: impl Display, passed: bool) -> Metric {
        Metric::holds(self.0, expected, actual, passed)
    }

    /// [`Metric::info`] under this name.
    pub fn info(self, actual: impl Display) -> Metric {
        Metric::info(self.0, actual)
    }
}

impl Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
