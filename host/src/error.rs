//! Why a command stopped, and the exit code an operator's script sees.
//!
//! Every variant says what was wrong and what to do; the exit codes are
//! documented in docs/operator.md and never reused for another meaning.

use crate::db::LockHolder;
use crate::ledger::Outcome;

/// The exit code of a rehearsal's step that failed as injected.
pub const INJECTED: u8 = 11;

/// A command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad plugins, plan or arguments: nothing touched the database.
    #[error("{}", said_once(.0))]
    Plan(anyhow::Error),
    /// A required parameter is missing or malformed.
    #[error("{0}")]
    Params(String),
    /// The gate said BLOCKED: no tier ran.
    #[error("gate BLOCKED: {0}; no tier ran")]
    Blocked(String),
    /// A tier, the verify plugin or a probe failed; committed tiers stay.
    #[error("{label} failed: {cause}")]
    TierFailed { label: String, cause: String },
    /// A rehearsal's step failed where the rehearsal injected the failure
    /// (`host rehearse --fail-at`): the tier's transaction rolled back as a
    /// tier failure's would. Its own exit code ([`INJECTED`]) is how the
    /// rehearsal knows the step failed there and nowhere else; no command
    /// an operator types ends so.
    #[error("{label} failed: failure injected by the rehearsal (--fail-at) after the apply, before COMMIT")]
    Injected { label: String },
    /// The database is not one every plugin allows.
    #[error("{0}")]
    WrongDatabase(String),
    /// Another rollout holds the lock.
    #[error("another rollout holds the rollout lock{}; wait for it to finish, then run again", .0.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    LockHeld(Option<LockHolder>),
    /// The ledger's state refuses the command (partly applied, later tier applied).
    #[error("{0}")]
    LedgerState(String),
    /// Under roles, a plugin's restricted role is missing or does not hold
    /// exactly its grants; the message gives the SQL that fixes it.
    #[error("{0}")]
    Roles(String),
    /// The catalog audit refuses the plan: code no statement names that was
    /// not reviewed, or a write that reaches a relation no grant names
    /// (`audit`). Only the catalog was read.
    #[error("{0}")]
    Audit(String),
    /// The database could not be reached or the connection was lost.
    #[error("{}", said_once(.0))]
    Database(anyhow::Error),
    /// The answer to a COMMIT was lost and the ledger could not say whether
    /// it happened: the next command settles it.
    #[error("outcome UNKNOWN: {0}")]
    CommitUnknown(String),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted by the operator: {0}")]
    Interrupted(String),
    /// The command's work succeeded but its report could not be written
    /// (the message says what the work did and how to get the report
    /// back). Only a success becomes this: a command that already failed
    /// keeps its own code, which says more about the database than a lost
    /// file does. `host report` exits so too when it cannot write the files.
    #[error("{0}")]
    ReportLost(String),
    /// A rehearsal disproved what the runbook asserts: a rollback that does
    /// not restore the baseline, is not idempotent, or a run that is not
    /// repeatable, or a copy that is not the source; the message names the
    /// step and the first difference.
    #[error("REHEARSAL FAILED: {0}")]
    Rehearsal(String),
    /// A plugin's transaction set a sequence back and the host could not
    /// move it forward again: production's next INSERT drawing from it can
    /// collide with existing keys. The message names the sequence, its
    /// position and the SQL that moves it forward.
    #[error("SEQUENCE SET BACK: {0}")]
    SequenceSetBack(String),
}

/// An error and its causes, `context: cause: …`, each said once: a cause
/// whose text its context already quotes (an error type that both shows
/// its source and returns it, as `ManifestError::Syntax` does with TOML's
/// multi-line message) is not repeated.
pub fn said_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.trim()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

impl Failure {
    /// Prints the failure as the command's last word, on stderr. Only a
    /// plan's failure, found before any plugin ran (a manifest's TOML
    /// error), is shown as the lines it has; every other one can quote a
    /// plugin, so it stays on one line with its newlines visible.
    pub fn print(&self) {
        match self {
            Failure::Plan(_) => crate::printer::get().error_lines(&self.to_string()),
            _ => crate::printer::get().error(&self.to_string()),
        };
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Plan(_) | Failure::Params(_) | Failure::Roles(_) | Failure::Audit(_) => 2,
            Failure::Blocked(_) => 3,
            Failure::TierFailed { .. } => 4,
            Failure::WrongDatabase(_) => 5,
            Failure::LockHeld(_) => 6,
            Failure::LedgerState(_) => 7,
            Failure::Database(_) | Failure::CommitUnknown(_) => 8,
            Failure::Interrupted(_) => 130,
            Failure::ReportLost(_) => 9,
            Failure::Rehearsal(_) => 10,
            Failure::Injected { .. } => INJECTED,
            Failure::SequenceSetBack(_) => 12,
        }
    }

    /// The ledger event of a step that ended with this failure.
    pub fn event(&self) -> crate::ledger::TierEvent {
        match self {
            Failure::Interrupted(_) => crate::ledger::TierEvent::Interrupted,
            _ => crate::ledger::TierEvent::Failed,
        }
    }

    /// The outcome word the ledger and the report record. (`ReportLost` is
    /// decided after both are closed, so its word is never recorded.)
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::Blocked(_) => Outcome::Blocked,
            Failure::Interrupted(_) => Outcome::Interrupted,
            Failure::CommitUnknown(_) => Outcome::Unknown,
            Failure::LockHeld(_)
            | Failure::LedgerState(_)
            | Failure::WrongDatabase(_)
            | Failure::Roles(_)
            | Failure::Audit(_) => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }
}

/// Database errors on the host's own statements.
impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Database(anyhow::Error::new(e).context("database error on the host's own statement"))
    }
}

#[cfg(test)]
mod tests {
    use super::said_once;

    #[test]
    fn a_cause_its_context_already_quotes_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("not valid: {0}")]
        struct Quotes(#[source] std::io::Error);
        let inner = std::io::Error::other("line 2\n  | kind = [");
        let e = anyhow::Error::new(Quotes(inner)).context("plugin p");
        let said = said_once(&e);
        assert_eq!(said, "plugin p: not valid: line 2\n  | kind = [");
        let plain = anyhow::anyhow!("root").context("middle").context("top");
        assert_eq!(said_once(&plain), "top: middle: root");
    }
}
