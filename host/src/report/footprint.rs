//! A tier's lock footprint as the report keeps and shows it: for each
//! relation its transaction locked, the strongest mode, how long it was
//! held, whether it was rewritten, and who waited on it (on the relation
//! or on a row of it; [`ROW_LOCKS`] when the server did not say which
//! relation the row is in). Measured on the server by
//! `runbook/footprint.rs`.

use crate::text;
use serde::{Deserialize, Serialize};

/// The mode of a relation the tier queued for and never took.
pub const QUEUED: &str = "QUEUED (never taken)";

/// The "relation" of waits on a row the tier changed when the waiting
/// session held no lock naming the row's relation (a wait on the tier's
/// transaction id).
pub const ROW_LOCKS: &str = "row locks";

/// At most this many waiting sessions are named per relation (the count
/// and the longest wait count them all).
pub const NAMED_AT_MOST: usize = 20;

/// Another session the tier made wait, as the server showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitedBy {
    pub pid: i32,
    /// Its `application_name` (set by that session: shown made inert).
    pub application: String,
    /// What it waited for, as `pg_locks.locktype` says: `relation`,
    /// `tuple` (a row), `transactionid` (a row the tier changed) …
    pub lock: String,
    /// The longest the host saw it wait.
    pub waited_ms: u64,
    /// The waiting session it queued behind (a lock queue: it waited on
    /// that session's request, which waited on the tier); `None` when the
    /// tier itself held it up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind: Option<i32>,
}

/// One relation of a tier's lock footprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockHeld {
    /// `schema.name`.
    pub relation: String,
    /// An index rather than a table.
    pub index: bool,
    /// The strongest mode taken, as PostgreSQL's documentation names it
    /// (`ACCESS EXCLUSIVE`).
    pub mode: String,
    /// From when the host first saw it held to the transaction's end (the
    /// dry run: to the tier's end; its transaction goes on).
    pub held_ms: u64,
    /// Its file was written anew (`pg_class.relfilenode` changed); `None`
    /// when the host did not compare (no `alter`/`index` grant names it, or
    /// the tier stopped before COMMIT).
    pub rewritten: Option<bool>,
    /// Other sessions seen waiting on it while the tier ran.
    pub waiters: u32,
    /// The longest of their waits the host saw.
    pub max_wait_ms: u64,
    /// The sessions that waited, longest wait first ([`NAMED_AT_MOST`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<WaitedBy>,
}

impl LockHeld {
    /// `one_roof.x — ACCESS EXCLUSIVE for 120 ms, rewritten; 2 sessions
    /// waited, longest 180 ms`, for a status line (made inert there).
    pub fn line(&self) -> String {
        let what = if self.index { "index " } else { "" };
        let rewritten = match self.rewritten {
            Some(true) => ", rewritten",
            Some(false) => ", not rewritten",
            None => "",
        };
        let waited = match self.waiters {
            0 => "no session waited".to_string(),
            1 => format!("1 session waited {} ms{}", self.max_wait_ms, self.who()),
            n => format!("{n} sessions waited, longest {} ms{}", self.max_wait_ms, self.who()),
        };
        if self.relation == ROW_LOCKS {
            return format!("rows it changed — {waited}");
        }
        if self.mode == QUEUED {
            return format!("{what}{} — queued for its lock, never took it; {waited}", self.relation);
        }
        format!("{what}{} — {} for {} ms{rewritten}; {waited}", self.relation, self.mode, self.held_ms)
    }
}

impl LockHeld {
    /// ` (pid 12 "app" on a row 800 ms, …)`: who waited, for the status
    /// line; empty when nobody did.
    pub fn who(&self) -> String {
        match self.sessions.is_empty() {
            true => String::new(),
            false => format!(" ({})", self.named()),
        }
    }

    /// `pid 12 "app" on a row 800 ms, …`: who waited, for the report.
    pub fn named(&self) -> String {
        let named: Vec<String> = self
            .sessions
            .iter()
            // Another session chose its name: quoted as a Rust string (a
            // `"` or a control character escaped), it cannot close the quote
            // and write the rest of the line.
            .map(|w| {
                let queued = w.behind.map(|b| format!(", queued behind pid {b}")).unwrap_or_default();
                format!("pid {} {:?} on {} {} ms{queued}", w.pid, w.application, lock_name(&w.lock), w.waited_ms)
            })
            .collect();
        named.join(", ")
    }
}

/// `pg_locks.locktype` as the operator reads it.
fn lock_name(locktype: &str) -> &str {
    match locktype {
        "relation" => "the relation",
        "tuple" | "transactionid" => "a row",
        "virtualxid" => "its transaction",
        other => other,
    }
}

/// The report.md section of one tier's footprint.
pub fn markdown(ordinal: u32, plugin: &str, retries: u64, held: &[LockHeld]) -> String {
    let mut out = format!(
        "\n### Tier {ordinal} — {}: lock footprint, measured on the server ({retries} lock-wait retries)\n\n\
         | relation | kind | strongest mode | held ms | rewritten | sessions waited | longest wait ms | who waited |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        text::markdown(plugin)
    );
    for h in held {
        let rewritten = match h.rewritten {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not compared",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {rewritten} | {} | {} | {} |\n",
            text::markdown(&h.relation),
            if h.relation == ROW_LOCKS {
                "rows"
            } else if h.index {
                "index"
            } else {
                "table"
            },
            text::markdown(&h.mode),
            h.held_ms,
            h.waiters,
            h.max_wait_ms,
            text::markdown(&h.named())
        ));
    }
    out
}

#[cfg(test)]
mod waiter_tests {
    use super::*;

    #[test]
    fn a_waiters_application_name_cannot_close_its_quote() {
        let forged = "x\" on a row 1 ms), no session waited (\u{1b}[2K";
        let held = LockHeld {
            relation: "app.t".into(),
            index: false,
            mode: "ROW EXCLUSIVE".into(),
            held_ms: 5,
            rewritten: None,
            waiters: 1,
            max_wait_ms: 9,
            sessions: vec![WaitedBy {
                pid: 7,
                application: forged.into(),
                lock: "tuple".into(),
                waited_ms: 9,
                behind: None,
            }],
        };
        let line = held.line();
        assert!(line.contains(r#"pid 7 "x\" on a row 1 ms), no session waited (\u{1b}[2K" on a row 9 ms"#), "{line}");
        assert!(!line.contains('\u{1b}'), "{line}");
    }
}
