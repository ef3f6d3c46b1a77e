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
//! A sequence read at BEGIN that a later reading cannot read is not proven
//! clean: it fails the step as a set-back does, saying why it was not read
//! (another session holds it ACCESS EXCLUSIVE, it is gone, or the step's
//! own transaction holds it in a mode that rewrites it at COMMIT). The one
//! sequence a reading before COMMIT passes over is one the step's own
//! transaction holds ACCESS EXCLUSIVE (it drops it or its table): reading
//! it would wait on that very transaction.
//!
//! What readings cannot see, and why no check is added for it: a `setval`
//! back to a value production drew between two readings (or before a
//! batch's carried BEGIN reading), or back and forward again. The checker
//! already refuses `setval` unless the manifest grants `pg_catalog.setval`
//! as a function (and `update` on the sequence), so only such a plan can
//! set a sequence back by SQL. For it, nothing the database offers is both
//! true and cheap: a position is not transactional and has no
//! compare-and-set, so a check at the call (`greatest(v, nextval(s))`)
//! races a concurrent `nextval`; a `max(column) < next value` check before
//! COMMIT misses values drawn by production transactions not yet
//! committed and keys used outside the column, and scans a column without
//! an index. So the grant is what the reviewer reads (docs/operator.md).
//!
//! Positions are read on the control connection, the host's own login:
//! under `--roles` the work session's runner holds no privilege on the
//! sequences. A position read is one statement ([`read_all`]).

mod ended;

use crate::digest::reading::{read_all, Entry, Locks, On, Position, Reading};
use crate::digest::{Move, Sequence};
use crate::error::Failure;
use crate::text::terminal;
pub(super) use ended::Ended;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

/// The positions at a transaction's BEGIN.
pub(super) struct Watch {
    at_begin: Reading,
    /// [`Watch::before_commit`] failed the step naming what was set back.
    said: AtomicBool,
    /// The reading before COMMIT, when it is also what COMMIT leaves (the
    /// step's transaction held no sequence in a mode that rewrites it):
    /// a batched pass's next BEGIN reading ([`Watch::carried`]).
    proved: Mutex<Option<Reading>>,
}

/// A sequence set back during the transaction, and what identifies it.
#[derive(Debug, Clone)]
pub(super) struct SetBack {
    pub moved: Move,
    pub oid: u32,
    pub schema: String,
    pub relname: String,
}

impl Watch {
    /// Every user sequence's position, before the transaction's BEGIN
    /// (waiting, up to the control connection's lock_timeout, for one
    /// another session holds).
    pub async fn begin(control: &Arc<Client>) -> Result<Watch, Failure> {
        let cannot = "the sequence watch cannot read the sequences' positions before BEGIN (the host's login needs \
                      USAGE on every user schema and SELECT on every sequence in it)";
        let at_begin =
            read_all(On::Kept(control), None, Locks::Wait).await.map_err(|e| Failure::Database(e.context(cannot)))?;
        if let Some((name, e)) = at_begin.iter().find(|(_, e)| !matches!(e.position, Position::At(_))) {
            let why = unread_why(&e.position, e.step_rewrites);
            return Err(Failure::Database(anyhow::anyhow!("{cannot}: {}", terminal(&format!("{name}: {why}")))));
        }
        Ok(Watch::of(at_begin))
    }

    fn of(at_begin: Reading) -> Watch {
        Watch { at_begin, said: AtomicBool::new(false), proved: Mutex::new(None) }
    }

    /// The next batch's watch from this one's reading before COMMIT, when
    /// that reading is proven to be what COMMIT left: the plugin runs only
    /// inside a batch, so nothing of it moves a sequence between this
    /// COMMIT and the next BEGIN (production only draws forward, which the
    /// next check reads as drawn). Saves one reading per batch.
    pub fn carried(&self) -> Option<Watch> {
        let proved = self.proved.lock().ok()?.take()?;
        Some(Watch::of(proved))
    }

    /// Before COMMIT: fails `label` if its transaction set a sequence back,
    /// or if a sequence read at BEGIN cannot be read now. `work` is the
    /// work session's backend: only its own ACCESS EXCLUSIVE lock excuses
    /// a sequence from this reading.
    pub async fn before_commit(&self, control: &Arc<Client>, label: &str, work: i32) -> Result<(), Failure> {
        let now = read_all(On::Kept(control), None, Locks::Skip { work: Some(work) }).await.map_err(|e| {
            Failure::Database(e.context(format!("{label}: cannot read the sequences' positions before COMMIT")))
        })?;
        let judged = judge(&self.at_begin, &now, true);
        if judged.behind.is_empty() && judged.unread.is_empty() {
            let proves_commit = now.values().all(|e| !e.step_rewrites && matches!(e.position, Position::At(_)));
            if let (true, Ok(mut proved)) = (proves_commit, self.proved.lock()) {
                *proved = Some(now);
            }
            return Ok(());
        }
        self.said.store(true, Ordering::Relaxed);
        let mut causes = Vec::new();
        if !judged.behind.is_empty() {
            let which: Vec<String> = judged.behind.iter().map(|s| set_back_line(&s.moved)).collect();
            causes.push(format!(
                "it set back {} (sequences do not roll back); a set-back sequence is never committed",
                which.join(", ")
            ));
        }
        if !judged.unread.is_empty() {
            causes.push(format!(
                "{}: the step cannot prove it did not set {} back, so it is not committed",
                unread_lines(&judged.unread),
                if judged.unread.len() == 1 { "it" } else { "them" }
            ));
        }
        Err(Failure::TierFailed { label: label.to_string(), cause: causes.join("; ") })
    }

    /// After the transaction was rolled back: each sequence set back
    /// during it is moved forward again to its position at BEGIN.
    pub async fn after_rollback(&self, control: &Arc<Client>) -> Ended {
        let now = match read_all(On::Kept(control), None, Locks::Skip { work: None }).await {
            Ok(now) => now,
            Err(e) => return Ended { unread: Some(format!("{e:#}")), ..Default::default() },
        };
        let judged = judge(&self.at_begin, &now, false);
        let begin: std::collections::BTreeMap<String, Sequence> = at(&self.at_begin);
        let drawn = crate::digest::moves(&begin, &at(&now)).into_iter().filter(|m| m.drawn() > 0).collect();
        let said = self.said.load(Ordering::Relaxed);
        let unread = (!judged.unread.is_empty()).then(|| unread_lines(&judged.unread));
        let mut ended = Ended { drawn, said, unread, ..Default::default() };
        for s in judged.behind {
            match ended::move_forward(control, &s).await {
                Ok(()) => ended.repaired.push(s.moved),
                Err(why) => ended.stuck.push((s, why)),
            }
        }
        ended
    }
}

/// What a later reading says of the sequences read at BEGIN.
struct Judged {
    behind: Vec<SetBack>,
    /// Read at BEGIN, not read now: the server-quoted name and why.
    unread: Vec<(String, String)>,
}

/// Compares each sequence read at BEGIN with `now`, by name and oid.
/// `open`: the step's transaction is still open, so a sequence it holds
/// ACCESS EXCLUSIVE is passed over (read after it ends), and one it holds
/// in a mode that rewrites it at COMMIT cannot be judged before COMMIT.
fn judge(at_begin: &Reading, now: &Reading, open: bool) -> Judged {
    let mut judged = Judged { behind: Vec::new(), unread: Vec::new() };
    for (name, was) in at_begin {
        let Position::At(b) = was.position else { continue };
        let Some(e) = now.get(name) else {
            judged.unread.push((name.clone(), "no sequence has that name any more".into()));
            continue;
        };
        if e.oid != was.oid {
            judged.unread.push((name.clone(), format!("the name now names another sequence (oid {})", e.oid)));
            continue;
        }
        match e.position {
            Position::HeldByStep if open => continue,
            Position::At(_) if open && e.step_rewrites => {
                judged.unread.push((name.clone(), unread_why(&e.position, true)));
            }
            Position::At(a) => {
                let behind = if a.increment < 0 { a.next() > b.next() } else { a.next() < b.next() };
                if behind {
                    let moved = Move { sequence: name.clone(), before: Some(b), after: Some(a) };
                    let (oid, schema, relname) = (e.oid, e.schema.clone(), e.relname.clone());
                    judged.behind.push(SetBack { moved, oid, schema, relname });
                }
            }
            p => judged.unread.push((name.clone(), unread_why(&p, e.step_rewrites))),
        }
    }
    judged
}

/// Why a sequence was not read, in words.
fn unread_why(p: &Position, step_rewrites: bool) -> String {
    match p {
        Position::HeldBy(pid) => format!("backend pid {pid} holds it in ACCESS EXCLUSIVE mode"),
        Position::HeldByStep => "the step's own transaction holds it in ACCESS EXCLUSIVE mode".into(),
        Position::Gone => "it was dropped or renamed while it was read".into(),
        Position::At(_) if step_rewrites => "the step's own transaction holds it in a mode that rewrites it at \
                                             COMMIT (ALTER SEQUENCE): what it reads before COMMIT is not what COMMIT \
                                             leaves"
            .into(),
        Position::At(_) => "read".into(),
    }
}

/// `sequence app.s could not be read (why)`, each, for the terminal.
fn unread_lines(unread: &[(String, String)]) -> String {
    let each: Vec<String> =
        unread.iter().map(|(name, why)| terminal(&format!("sequence {name} could not be read ({why})"))).collect();
    each.join("; ")
}

/// The positions read, by name.
fn at(reading: &Reading) -> std::collections::BTreeMap<String, Sequence> {
    reading
        .iter()
        .filter_map(|(n, e): (&String, &Entry)| match e.position {
            Position::At(s) => Some((n.clone(), s)),
            _ => None,
        })
        .collect()
}

/// `sequence app.s from 100 to 1`, for the operator's terminal.
fn set_back_line(m: &Move) -> String {
    let at = |s: Option<Sequence>| s.map_or_else(|| "?".into(), |s| s.position());
    terminal(&format!("sequence {} from {} to {}", m.sequence, at(m.before), at(m.after)))
}
