//! The [`Summary`]: what a report says, the one value its files are
//! rendered from and the ledger stores.

use super::logs::{self, PluginLog};
use super::{CheckTable, LockRecord, TierRow};
use crate::plan::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the report says about one command, and nothing else:
/// `report.json` and `report.md` are rendered from it alone, and the ledger
/// stores it, so nothing here may come from the moment of rendering (no
/// clock read then, no exit code, no path). Strings and integers only, no
/// float and no untyped map, so that it reads back from jsonb unchanged.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub verb: String,
    pub rollout_id: Option<i64>,
    pub database: String,
    pub operator: String,
    pub params: BTreeMap<String, String>,
    pub plugins: Vec<Record>,
    pub started_at: String,
    pub ended_at: String,
    pub gate: Option<CheckTable>,
    pub tiers: Vec<TierRow>,
    pub verify: Option<CheckTable>,
    pub probes: Vec<CheckTable>,
    pub outcome: String,
    pub message: String,
    /// Under roles: each plugin's restricted role, by plugin name (proven
    /// before the gate). Absent otherwise, so a report stored before roles
    /// is written again byte for byte.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, String>,
    /// What the plugins logged (info, warn, error), capped
    /// ([`logs::MAX_LINES`] lines, each cut at [`logs::MESSAGE_BYTES`]).
    /// Absent when they logged nothing, so older reports read back the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<PluginLog>,
    /// How many more log lines the plugins wrote than the report keeps
    /// (`rollout.log` has them all).
    #[serde(default, skip_serializing_if = "logs::is_zero")]
    pub logs_left_out: u64,
    /// The lock file it ran under (`--lock`): its sha256 and signature.
    /// Absent without one, so older reports read back the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockRecord>,
}
