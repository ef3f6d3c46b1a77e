//! The ledger in the target database (schema `rollout_ledger`): one row per
//! rollout and an append-only event per tier.
//!
//! The `applied` and `rolled_back` events are written on the tier's own
//! connection inside its transaction, so ledger and data never disagree;
//! `failed` and `interrupted` events are written afterwards on the control
//! connection, since the tier's transaction is gone.
//!
//! One file per responsibility: [`schema`] creates and upgrades it,
//! [`rollout`] opens, holds and closes a rollout's row, [`stale`] settles
//! rollouts a gone host left running, [`events`] appends and reads tier
//! events, [`history`] lists past rollouts, [`statements`] keeps the SQL
//! each tier sent and [`signed`] the lock file a rollout ran under.

mod events;
mod history;
mod rollout;
mod schema;
mod signed;
mod stale;
pub mod statements;

pub use events::{applied, event, has_event, replaced, Applied, Event, Replaced};
pub use history::{history, Past};
pub use rollout::{await_end, finish, hold, set_gate, start, stored, Start, Stored};
pub use schema::{ensure, exists};
pub use signed::{set_lock, LockSigned};
pub use stale::{abandon_stale, Settled, Stale};

/// What happened to a tier: the ledger's `tier_event.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierEvent {
    Applied,
    RolledBack,
    Failed,
    Interrupted,
    Verified,
}

impl TierEvent {
    /// The word the ledger stores (its CHECK constraint lists them).
    pub fn as_str(self) -> &'static str {
        match self {
            TierEvent::Applied => "applied",
            TierEvent::RolledBack => "rolled_back",
            TierEvent::Failed => "failed",
            TierEvent::Interrupted => "interrupted",
            TierEvent::Verified => "verified",
        }
    }

    /// Written in the change's own transaction: true only once it committed.
    pub fn committed(self) -> bool {
        matches!(self, TierEvent::Applied | TierEvent::RolledBack)
    }
}

/// How a command ended: `rollout.outcome` in the ledger, `outcome` in the
/// report (where a command that succeeded is `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Complete,
    RolledBack,
    Blocked,
    Failed,
    Interrupted,
    Refused,
    /// Found still `running` by a later command holding the lock: the host
    /// that ran it is gone.
    Abandoned,
    /// A COMMIT's answer was lost and the ledger could not be read.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Complete => "complete",
            Outcome::RolledBack => "rolled_back",
            Outcome::Blocked => "blocked",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Refused => "refused",
            Outcome::Abandoned => "abandoned",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The gate's verdict, as the ledger and the operator's screen say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    Blocked,
}

impl Verdict {
    pub fn of(passed: bool) -> Verdict {
        if passed {
            Verdict::Ready
        } else {
            Verdict::Blocked
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "READY",
            Verdict::Blocked => "BLOCKED",
        }
    }
}

/// PostgreSQL's text and jsonb cannot hold U+0000, and plugin text can: the
/// ledger keeps it as U+FFFD, so that a plugin's NUL can never stop a
/// rollout from being closed or its events from being written.
pub fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}").into()
    } else {
        text.into()
    }
}

/// [`storable`] over every string (and key) of a JSON value.
pub fn storable_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable(&s).into_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(storable_json).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (storable(&k).into_owned(), storable_json(v))).collect())
        }
        other => other,
    }
}
