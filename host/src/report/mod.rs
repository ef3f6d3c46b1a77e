//! The rollout's story and its published report.
//!
//! Every line goes through the [`printer`](crate::printer) (the story on
//! stderr, in order; the result on stdout) and also, timestamped, to the
//! run's `rollout.log`. At the end, `report.json` and `report.md` are written
//! beside it under `--reports/<time>-<verb>/`, ready to publish as they are.
//! Both are a pure function of the [`Summary`], which the ledger stores when
//! the rollout closes ([`stored`]): a report that cannot be written is never
//! announced as written, and `host report ID` writes the same bytes again.
//! With `--format json`, the summary is also the command's result on stdout.
//!
//! Plugin text is data: every line printed here goes through
//! [`text::terminal`] (a plugin's log message through [`text::terminal_lines`],
//! each line tagged `[plugin] level:`), every table cell too, and
//! `report.md` through [`text::markdown`]; `report.json` keeps the exact text.
//!
//! `summary.rs` holds the [`Summary`], `reporter.rs` the [`Reporter`] that
//! prints the story and records the summary, and `rollout_log.rs` the log
//! file beside the report.

mod batches;
pub mod footprint;
mod logs;
mod markdown;
pub mod rehearsal;
mod reporter;
mod reviewed;
mod rollout_log;
pub mod statements;
pub mod stored;
mod summary;
mod tables;

pub use batches::{BatchLine, BatchRecord, Resumed};
pub use logs::PluginLog;
pub use reporter::Reporter;
pub use reviewed::{LockRecord, Signature};
pub use statements::millis as sql_millis;
pub use stored::Lost;
pub use summary::Summary;
pub use tables::{status, CheckTable, MetricResult, MetricRow, StatusReport, TierRow};
