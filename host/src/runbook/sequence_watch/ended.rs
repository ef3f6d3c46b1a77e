//! What the sequences did over a transaction that was rolled back, and
//! how the step's outcome says it: every failure that carries a set-back
//! (a tier's, a rollback's, a batch's, a dry run's, an interrupt, a lost
//! connection) says what the host moved forward, or the SQL to run.

use super::{set_back_line, SetBack};
use crate::digest::{Move, Sequence};
use crate::error::{said_once, Failure};
use crate::quote;
use crate::text::terminal;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// Moves a set-back sequence to the position it had at BEGIN, found by the
/// oid read at BEGIN (never by a name, which another sequence could carry
/// by then): no row, nothing moved.
const MOVE_FORWARD: &str = "SELECT pg_catalog.setval(c.oid::pg_catalog.regclass, $2, $3)
    FROM pg_catalog.pg_class c WHERE c.oid = $1 AND c.relkind = 'S'";

/// What the sequences did over a transaction that was rolled back.
#[derive(Debug, Default)]
pub(in crate::runbook) struct Ended {
    /// Set back, then moved forward again by the host: what was, what it was set back to.
    pub repaired: Vec<Move>,
    /// Set back, and the host could not move it forward: the sequence, and why.
    pub(super) stuck: Vec<(SetBack, String)>,
    /// Drawn forward meanwhile (gaps: a rollback does not return them).
    pub drawn: Vec<Move>,
    /// The positions could not be read after the rollback (all, or the
    /// sequences named): nothing of those is proven.
    pub unread: Option<String>,
    /// The step's failure already names the sequences set back.
    pub(super) said: bool,
}

/// Moves `s` forward to its position at BEGIN, by its oid; why not, if not.
pub(super) async fn move_forward(control: &Client, s: &SetBack) -> Result<(), String> {
    let Some(was) = s.moved.before else { return Err("its position at BEGIN is unknown".into()) };
    // `s` is behind `was` now: moving it to `was` is greatest(now, was).
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] =
        [(&s.oid, Type::OID), (&was.last_value, Type::INT8), (&was.is_called, Type::BOOL)];
    match control.query_typed(MOVE_FORWARD, &params).await {
        Ok(rows) if rows.is_empty() => Err(format!("the sequence read at BEGIN, oid {}, is gone", s.oid)),
        Ok(_) => Ok(()),
        Err(e) => Err(crate::db::why(&e)),
    }
}

/// The SQL that moves `s` forward to its position at BEGIN, as the
/// operator runs it: the sequence named by its oid, and set only while its
/// schema-qualified name (quoted as an identifier, then as a literal with
/// every hidden character written as an escape) still names that oid, so
/// no name can break the statement, show something else, or redirect it.
fn repair_sql(s: &SetBack) -> String {
    let (last, called) = s.moved.before.map_or((0, true), |b| (b.last_value, b.is_called));
    let name = quote::printable_literal(&format!("{}.{}", quote::ident(&s.schema), quote::ident(&s.relname)));
    let oid = s.oid;
    format!(
        "SELECT pg_catalog.setval({oid}::pg_catalog.regclass, {last}, {called}) \
         WHERE pg_catalog.to_regclass({name}) = {oid}::pg_catalog.regclass;"
    )
}

impl Ended {
    /// Whether the rollback left anything of the transaction behind that
    /// the host could not undo or could not check.
    pub fn clean(&self) -> bool {
        self.stuck.is_empty() && self.unread.is_none()
    }

    /// What follows "nothing of it was kept" (only said when [`clean`]):
    /// the sequences moved forward again, the values drawn.
    ///
    /// [`clean`]: Ended::clean
    pub fn kept_note(&self) -> String {
        self.notes().iter().map(|n| format!("; {n}")).collect()
    }

    /// The notes of [`kept_note`](Ended::kept_note): the sequences set
    /// back and moved forward again, and the values drawn.
    pub fn notes(&self) -> Vec<String> {
        let drawn: i128 = self.drawn.iter().map(Move::drawn).sum();
        let drawn = (drawn > 0).then(|| format!("sequences drew {drawn} values (gaps)"));
        self.repaired_note().into_iter().chain(drawn).collect()
    }

    /// The sequences set back and moved forward again, if any.
    pub fn repaired_note(&self) -> Option<String> {
        if self.repaired.is_empty() {
            return None;
        }
        if self.said {
            let which: Vec<String> = self.repaired.iter().map(|m| terminal(&m.sequence)).collect();
            return Some(format!("the host moved {} forward again to its position at BEGIN", which.join(", ")));
        }
        let which: Vec<String> = self.repaired.iter().map(set_back_line).collect();
        Some(format!(
            "it set back {} (sequences do not roll back), and the host moved each forward again to its position \
             at BEGIN",
            which.join(", ")
        ))
    }

    /// One line per sequence drawn from: `sequence app.s drew 3 values: 7 → 10 (gaps: …)`.
    pub fn drawn_lines(&self) -> Vec<String> {
        let at = |s: Option<Sequence>| s.map_or_else(|| "?".into(), |s| s.position());
        self.drawn
            .iter()
            .map(|m| {
                terminal(&format!(
                    "sequence {} drew {} values: {} → {} (gaps: sequences do not roll back)",
                    m.sequence,
                    m.drawn(),
                    at(m.before),
                    at(m.after)
                ))
            })
            .collect()
    }

    /// Why the rollback does not undo everything, when it does not
    /// ([`clean`](Ended::clean) is false): what is set back in production
    /// and the exact SQL that moves it forward, or what could not be read.
    pub fn left_behind(&self) -> Option<String> {
        if let Some(why) = &self.unread {
            return Some(terminal(&format!(
                "the host cannot read the sequences' positions after the rollback ({why}): a sequence the \
                 transaction set back would still be set back; check every sequence against the values in use"
            )));
        }
        if self.stuck.is_empty() {
            return None;
        }
        let each: Vec<String> = self
            .stuck
            .iter()
            .map(|(s, why)| {
                let at = s.moved.after.map_or_else(|| "?".into(), |s| s.position());
                terminal(&format!(
                    "production's sequence {} is set back at {at} and the host could not move it forward ({why}): \
                     run `{}` as a role that may",
                    s.moved.sequence,
                    repair_sql(s)
                ))
            })
            .collect();
        Some(each.join("; "))
    }

    /// `failure` as the step ends with it: one that left a sequence set
    /// back is a [`Failure::SequenceSetBack`], with its own exit code;
    /// every other failure keeps its kind and exit code and says the
    /// sequences the host moved forward, or that it could not read them
    /// after the rollback.
    pub fn amend(&self, failure: Failure) -> Failure {
        let left = self.left_behind();
        if !self.stuck.is_empty() {
            return Failure::SequenceSetBack(format!("{failure}; {}", left.unwrap_or_default()));
        }
        match left.or_else(|| self.repaired_note()) {
            Some(note) => noted(failure, &note),
            None => failure,
        }
    }
}

/// `failure` with `; note` after what it says, of whatever kind it is.
fn noted(failure: Failure, note: &str) -> Failure {
    let add = |s: String| format!("{s}; {note}");
    match failure {
        Failure::TierFailed { label, cause } => Failure::TierFailed { label, cause: add(cause) },
        Failure::Plan(e) => Failure::Plan(anyhow::anyhow!(add(said_once(&e)))),
        Failure::Database(e) => Failure::Database(anyhow::anyhow!(add(said_once(&e)))),
        Failure::Params(s) => Failure::Params(add(s)),
        Failure::Blocked(s) => Failure::Blocked(add(s)),
        Failure::WrongDatabase(s) => Failure::WrongDatabase(add(s)),
        Failure::LedgerState(s) => Failure::LedgerState(add(s)),
        Failure::Roles(s) => Failure::Roles(add(s)),
        Failure::Audit(s) => Failure::Audit(add(s)),
        Failure::CommitUnknown(s) => Failure::CommitUnknown(add(s)),
        Failure::Interrupted(s) => Failure::Interrupted(add(s)),
        Failure::ReportLost(s) => Failure::ReportLost(add(s)),
        Failure::Rehearsal(s) => Failure::Rehearsal(add(s)),
        Failure::SequenceSetBack(s) => Failure::SequenceSetBack(add(s)),
        // A rehearsal's injected failure carries no text of its own (its
        // exit code is what the rehearsal reads); the step's status line
        // says the note (`kept_note`).
        f @ (Failure::Injected { .. } | Failure::LockHeld(_)) => f,
    }
}

#[cfg(test)]
mod tests {
    use super::{noted, repair_sql, Move, SetBack};
    use crate::digest::Sequence;
    use crate::error::Failure;

    fn at(last_value: i64) -> Sequence {
        Sequence { last_value, is_called: true, start: 1, min: 1, max: 100, increment: 1, cycle: false }
    }

    #[test]
    fn the_repair_sql_names_the_sequence_by_oid_and_checks_its_quoted_name() {
        let moved = Move { sequence: "app.\"it's\"".into(), before: Some(at(50)), after: Some(at(1)) };
        let s = SetBack { moved, oid: 16385, schema: "app".into(), relname: "it's\n\u{1b}[2J\"\\".into() };
        assert_eq!(
            repair_sql(&s),
            "SELECT pg_catalog.setval(16385::pg_catalog.regclass, 50, true) WHERE \
             pg_catalog.to_regclass(E'\"app\".\"it''s\\n\\x1b[2J\"\"\\\\\"') = 16385::pg_catalog.regclass;"
        );
    }

    #[test]
    fn every_failure_with_text_carries_the_note() {
        let note = "the host moved app.s forward again";
        let said = |f: Failure| noted(f, note).to_string();
        assert!(said(Failure::Interrupted("stopped".into())).ends_with(note));
        assert!(said(Failure::Database(anyhow::anyhow!("lost"))).ends_with(note));
        assert!(said(Failure::Blocked("no".into())).contains(note));
        assert!(said(Failure::TierFailed { label: "t".into(), cause: "c".into() }).ends_with(note));
    }
}
