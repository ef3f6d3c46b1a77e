//! What a plugin's SQL did in one tier: the counters, errors, changes and
//! locks the ledger, the report and a dry run read.

use super::{check, locking, sent};

/// What a plugin's SQL did in one tier, for the ledger and the report.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub statements: u64,
    pub rows_returned: u64,
    pub rows_changed: u64,
    /// SQL errors and refusals, in order; any one fails the tier.
    pub errors: Vec<String>,
    /// Every statement that changed something: what a dry run reports.
    #[serde(skip)]
    pub changes: Vec<Change>,
    /// DDL attempts whose short lock wait ran out and were retried.
    pub lock_retries: u64,
    /// The relation locks the transaction held after each DDL statement
    /// (the tier's lock footprint).
    #[serde(skip)]
    pub held: Vec<locking::Held>,
    /// Every statement sent, by distinct text (`sent`): what a dry run lists.
    #[serde(skip)]
    pub sent: sent::Sent,
}

/// What one statement did to one relation (the one it writes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub relation: String,
    pub op: check::Op,
    pub rows: u64,
}
