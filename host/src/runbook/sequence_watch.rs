//! The sequence watch: a sequence's position is not transactional
//! (`setval` and `nextval` are never rolled back), so a plugin's
//! transaction that sets one back leaves it set back whether it commits or
//! not, and production's next INSERT drawing from it collides with keys it
//! already handed out. Every plugin transaction the host runs (a tier's
//! apply, each batch, each rollback, the dry run) is watched: every
//! sequence of the user schemas (asked of the catalog, not only those a
//! manifest names) is read at its BEGIN, again before its COMMIT, and again
//! after a ROLLBACK. One set back fails the step, and after the rollback the
//! host moves it FORWARD again to where it was at BEGIN, never further back.
//!
//! Positions are read on the control connection, the host's own login:
//! under `--roles` the work session's runner holds no privilege on the
//! sequences. A position read is one statement ([`read_sequences`]).

use crate::digest::{moves, read_sequences, set_back, Move, Sequence};
use crate::error::Failure;
use crate::text::terminal;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_postgres::Client;

/// Moves a set-back sequence to the position it had at BEGIN (a bound
/// parameter: the name is the server's own quoting, read as a regclass).
const MOVE_FORWARD: &str = "SELECT pg_catalog.setval($1::text::regclass, $2, $3)";

/// The positions at a transaction's BEGIN.
pub(super) struct Watch {
    at_begin: BTreeMap<String, Sequence>,
    /// [`Watch::before_commit`] failed the step naming what was set back.
    said: AtomicBool,
}

/// What the sequences did over a transaction that was rolled back.
#[derive(Debug, Default)]
pub(super) struct Ended {
    /// Set back, then moved forward again by the host: what was, what it was set back to.
    pub repaired: Vec<Move>,
    /// Set back, and the host could not move it forward: the move, and why.
    pub stuck: Vec<(Move, String)>,
    /// Drawn forward meanwhile (gaps: a rollback does not return them).
    pub drawn: Vec<Move>,
    /// The positions could not be read after the rollback: nothing is proven.
    pub unread: Option<String>,
    /// The step's failure already names the sequences set back.
    said: bool,
}

impl Watch {
    /// Every user sequence's position, before the transaction's BEGIN.
    pub async fn begin(control: &Client) -> Result<Watch, Failure> {
        let at_begin = read(control).await.map_err(|e| {
            Failure::Database(e.context(
                "the sequence watch cannot read the sequences' positions before BEGIN (the host's login needs USAGE \
                 on every user schema and SELECT on every sequence in it)",
            ))
        })?;
        Ok(Watch { at_begin, said: AtomicBool::new(false) })
    }

    /// Before COMMIT: fails `label` if its transaction set a sequence back
    /// (one its open transaction holds exclusively is read after it ends).
    pub async fn before_commit(&self, control: &Client, label: &str) -> Result<(), Failure> {
        let now = read(control).await.map_err(|e| {
            Failure::Database(e.context(format!("{label}: cannot read the sequences' positions before COMMIT")))
        })?;
        let behind = set_back(&self.at_begin, &now);
        if behind.is_empty() {
            return Ok(());
        }
        self.said.store(true, Ordering::Relaxed);
        let which: Vec<String> = behind.iter().map(set_back_line).collect();
        let cause = format!(
            "it set back {} (sequences do not roll back); a set-back sequence is never committed",
            which.join(", ")
        );
        Err(Failure::TierFailed { label: label.to_string(), cause })
    }

    /// After the transaction was rolled back: each sequence set back
    /// during it is moved forward again to its position at BEGIN.
    pub async fn after_rollback(&self, control: &Client) -> Ended {
        let now = match read(control).await {
            Ok(now) => now,
            Err(e) => return Ended { unread: Some(format!("{e:#}")), ..Default::default() },
        };
        let behind = set_back(&self.at_begin, &now);
        let drawn = moves(&self.at_begin, &now).into_iter().filter(|m| m.drawn() > 0).collect();
        let said = self.said.load(Ordering::Relaxed);
        let mut ended = Ended { drawn, said, ..Default::default() };
        for m in behind {
            let Some(was) = m.before else { continue };
            // `m` is behind `was` now: moving it to `was` is greatest(now, was).
            match control.execute(MOVE_FORWARD, &[&m.sequence, &was.last_value, &was.is_called]).await {
                Ok(_) => ended.repaired.push(m),
                Err(e) => {
                    let why = crate::db::why(&e);
                    ended.stuck.push((m, why));
                }
            }
        }
        ended
    }
}

async fn read(control: &Client) -> anyhow::Result<BTreeMap<String, Sequence>> {
    read_sequences(control, None, true).await
}

/// `sequence app.s from 100 to 1`, for the operator's terminal.
fn set_back_line(m: &Move) -> String {
    let at = |s: Option<Sequence>| s.map_or_else(|| "?".into(), |s| s.position());
    terminal(&format!("sequence {} from {} to {}", m.sequence, at(m.before), at(m.after)))
}

/// The SQL that moves `m` forward to its position at BEGIN, as the
/// operator runs it (the name quoted as a literal).
pub(super) fn repair_sql(m: &Move) -> String {
    let (last, called) = m.before.map_or((0, true), |b| (b.last_value, b.is_called));
    format!("SELECT pg_catalog.setval({}, {last}, {called});", crate::quote::literal(&m.sequence))
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
    /// and the exact SQL that moves it forward, or that nothing could be read.
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
            .map(|(m, why)| {
                let at = m.after.map_or_else(|| "?".into(), |s| s.position());
                terminal(&format!(
                    "production's sequence {} is set back at {at} and the host could not move it forward ({why}): \
                     run `{}` as a role that may",
                    m.sequence,
                    repair_sql(m)
                ))
            })
            .collect();
        Some(each.join("; "))
    }

    /// `failure` as the step ends with it: one that left a sequence set
    /// back is a [`Failure::SequenceSetBack`], with its own exit code; a
    /// tier's failure names the sequences the host moved forward, or that
    /// it could not read them after the rollback (a lost connection keeps
    /// its own failure and exit code: nothing says a sequence is set back).
    pub fn amend(&self, failure: Failure) -> Failure {
        let left = self.left_behind();
        if !self.stuck.is_empty() {
            return Failure::SequenceSetBack(format!("{failure}; {}", left.unwrap_or_default()));
        }
        match (failure, left.or_else(|| self.repaired_note())) {
            (Failure::TierFailed { label, cause }, Some(note)) => {
                Failure::TierFailed { label, cause: format!("{cause}; {note}") }
            }
            (f, _) => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{repair_sql, Move, Sequence};

    #[test]
    fn the_repair_sql_quotes_the_name_as_a_literal() {
        let at = |last_value| Sequence {
            last_value,
            is_called: true,
            start: 1,
            min: 1,
            max: 100,
            increment: 1,
            cycle: false,
        };
        let m = Move { sequence: "app.\"it's\"".into(), before: Some(at(50)), after: Some(at(1)) };
        assert_eq!(repair_sql(&m), "SELECT pg_catalog.setval('app.\"it''s\"', 50, true);");
    }
}
