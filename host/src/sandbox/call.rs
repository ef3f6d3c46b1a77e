//! What one call into a plugin is: the world it must export, the export
//! called, what the call needs to know, and what it can answer.

use crate::bindings::types::{Batch, Level, Metric, Phase};
use crate::manifest::Limits;
use crate::sql::Stop;
use std::collections::BTreeMap;
use std::path::Path;
use wasmtime::component::Component;

/// Which world of `rollout:plugin` a component must export: a tier's, or a
/// check's (gate, verify, probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Tier,
    /// A tier with `mode = "batched"`: the `batched-tier` world.
    BatchedTier,
    Check,
}

impl World {
    pub(super) fn name(self) -> &'static str {
        match self {
            World::Tier => "tier",
            World::BatchedTier => "batched-tier",
            World::Check => "check",
        }
    }

    pub(super) fn exports(self) -> &'static str {
        match self {
            World::Tier => "`apply`, `post-conditions` and `rollback`",
            World::BatchedTier => "`apply-batch`, `post-conditions`, `rollback-batch` and `rollback-conditions`",
            World::Check => "`check`",
        }
    }
}

/// Where a plugin's log lines go (the reporter, in the runbook).
pub trait LogSink: Send + Sync {
    fn plugin_log(&self, plugin: &str, level: Level, line: &str);
}

/// What one call needs to know about the plugin it runs.
pub struct CallSpec<'a> {
    /// The plugin's name, for its log lines.
    pub name: &'a str,
    pub component: &'a Component,
    /// The world it was compiled for (its exports were checked against it).
    pub world: World,
    pub limits: &'a Limits,
    /// The granted data files, preopened read-only at `/data`.
    pub data_dir: Option<&'a Path>,
    /// The parameters the manifest declares, and only those.
    pub params: BTreeMap<String, String>,
}

/// Which export to call.
#[derive(Debug, Clone)]
pub enum Call {
    Apply,
    PostConditions,
    Rollback,
    RollbackConditions,
    Check(Phase),
    /// One batch of a batched tier, from `position` (none: the start).
    ApplyBatch(BatchAt),
    /// One batch of a batched tier's rollback.
    RollbackBatch(BatchAt),
}

/// Where a batch starts and how many rows the host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAt {
    pub position: Option<String>,
    pub size: u32,
}

impl Call {
    /// The phase of a tier's call, whose grants its SQL is held to (a
    /// check plugin's call has none: its grants are one set).
    pub fn phase(&self) -> Option<crate::manifest::Phase> {
        use crate::manifest::Phase;
        match self {
            Call::Apply | Call::PostConditions | Call::ApplyBatch(_) => Some(Phase::Apply),
            Call::Rollback | Call::RollbackConditions | Call::RollbackBatch(_) => Some(Phase::Rollback),
            Call::Check(_) => None,
        }
    }

    /// The export's WIT name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Apply => "apply",
            Call::ApplyBatch(_) => "apply-batch",
            Call::RollbackBatch(_) => "rollback-batch",
            Call::PostConditions => "post-conditions",
            Call::Rollback => "rollback",
            Call::RollbackConditions => "rollback-conditions",
            Call::Check(_) => "check",
        }
    }
}

/// What a call returned, when the plugin ran to the end.
#[derive(Debug)]
pub enum Returned {
    Done,
    Metrics(Vec<Metric>),
    /// What a batch said it did (its text not yet bounded: the runbook does).
    Batch(Batch),
}

/// Why a call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin returned its own error.
    #[error("{0}")]
    Failed(String),
    /// The host stopped it.
    #[error("{0}")]
    Stopped(Stop),
    /// It trapped (panic, unreachable, out-of-bounds…).
    #[error("plugin trapped: {0}")]
    Trapped(String),
}
