//! The host side of the plugin's `sql` import: check, budget, send, convert.
//!
//! Every statement is checked against the plugin's grants ([`check`]),
//! counted against its limits, and sent with the extended protocol (one
//! statement per string, enforced again by the server) on the tier's
//! connection inside the host's transaction. Every SQL error and refusal is
//! recorded, so a plugin that swallows one still fails its tier.

mod bulk;
pub mod check;
mod checked;
pub(crate) mod convert;
pub(crate) mod locking;
mod send;
pub mod sent;
mod session;
mod stats;
mod steps;
mod stop;
mod stream;

pub(crate) use checked::CheckCache;
pub(crate) use session::{OnWait, SqlSession};
pub(crate) use stats::{Change, Stats};
pub(crate) use steps::{StepError, Steps};
pub(crate) use stop::stoppable;
pub(crate) use stop::Stop;

/// A statement on one line, shortened, for messages.
pub(crate) fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}
