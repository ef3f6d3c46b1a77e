//! A tier's lock footprint, measured on the server: for each relation its
//! transaction locked, the strongest mode (the locks the work session held
//! after each DDL statement, read in that statement's round trip by
//! `sql::locking`, once before COMMIT, and as a sampler on the control
//! connection sees them), how long it was held (first seen → the
//! transaction's end), whether it was rewritten (the `relfilenode` of each
//! table an `alter` or `index` grant names and of its indexes, before the
//! tier on the control connection and before COMMIT in the tier's
//! transaction), and which other sessions it blocked, on any lock (a
//! relation, a row it changed), for how long: directly, or queued behind
//! another session that waits on it (a lock queue). The sampler runs for every
//! tier, every 50 ms (20 ms for a concurrent tier, whose steps keep no lock
//! past their statement: each lock is seen from its first sample to its
//! last, to within one interval); a concurrent tier's files are compared
//! after its last step on the control connection. The rollback's
//! transaction is measured the same way, as one ([`Footprint::over`]); a
//! concurrent tier's rollback steps as its apply's; a batched tier's pass
//! (apply or undo) batch by batch, each relation held as long as the
//! longest batch that held it ([`Footprint::batch`]).

use super::control::Control;
use crate::plan::Plugin;
use crate::report::footprint::{LockHeld, WaitedBy, NAMED_AT_MOST, QUEUED, ROW_LOCKS};
use crate::sql::locking::{self, Held};
use crate::sql::Stats;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const SQL: &str = include_str!("footprint.sql");

/// One query of `footprint.sql`, by its `-- name:` line.
fn sql(name: &str) -> &'static str {
    SQL.split("-- name: ").find_map(|q| q.strip_prefix(name)).map(str::trim).unwrap_or_default()
}

/// How often the sampler looks for sessions waiting on the tier.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How often it looks for a concurrent tier's own locks.
const SAMPLE_STEPS_EVERY: Duration = Duration::from_millis(20);

/// By relation (or [`ROW_LOCKS`]): the sessions seen waiting on it, each
/// with its longest wait, and when the first was seen.
type Waits = BTreeMap<String, (BTreeMap<i32, WaitedBy>, Instant)>;

/// By relation: the tier's own locks as sampled (is an index, the
/// strongest mode, first and last seen).
type Own = BTreeMap<String, (bool, String, Instant, Instant)>;

/// What the sampler saw.
#[derive(Default)]
struct Sampled {
    waits: Waits,
    own: Own,
}

/// relfilenode by relation oid, with the relation's name and whether it
/// is an index.
type Files = BTreeMap<i64, (String, bool, i64)>;

/// What the host measures while one tier runs.
pub(super) struct Footprint {
    /// The tables whose files are compared.
    named: Vec<String>,
    before: Files,
    after: Option<Files>,
    /// The locks read before COMMIT.
    at_commit: Vec<Held>,
    /// The locks read after each DDL statement of a transaction that
    /// measures several tiers (the rollback's): [`Footprint::saw`].
    during: Vec<Held>,
    /// A dry run's shared transaction: what it already held before the
    /// tier, which is not the tier's.
    baseline: Vec<Held>,
    sampler: Option<(oneshot::Sender<()>, JoinHandle<Sampled>)>,
    /// A concurrent tier: the control connection, to compare its files
    /// after its last step.
    concurrent: Option<Arc<Client>>,
    /// The sampler's interval.
    every: Duration,
    /// A batched pass: by relation, from each committed batch's locks,
    /// (is an index, the strongest mode, the longest batch that held it).
    batches: BTreeMap<String, (bool, String, u64)>,
}

impl Footprint {
    /// Starts measuring `tier`, whose transaction runs on `work`; `shared`
    /// when that transaction is not the tier's own (a dry run). Every
    /// read here is best effort: a footprint the host could not measure is
    /// left out, never made up.
    pub async fn start(control: &Control, tier: &Plugin, work: &Client, shared: bool) -> Footprint {
        let concurrent = tier.manifest.mode == crate::manifest::Mode::Concurrent && !shared;
        Footprint::measure(control, named(&[tier]), work, shared, concurrent).await
    }

    /// Starts measuring the rollback's transaction, which undoes `tiers`
    /// on `work`; started before its BEGIN.
    pub async fn over(control: &Control, tiers: &[&Plugin], work: &Client) -> Footprint {
        Footprint::measure(control, named(tiers), work, false, false).await
    }

    async fn measure(
        control: &Control,
        named: Vec<String>,
        work: &Client,
        shared: bool,
        concurrent: bool,
    ) -> Footprint {
        let mut f = Footprint {
            named,
            before: Files::new(),
            after: None,
            at_commit: Vec::new(),
            during: Vec::new(),
            baseline: Vec::new(),
            sampler: None,
            concurrent: None,
            every: if concurrent { SAMPLE_STEPS_EVERY } else { SAMPLE_EVERY },
            batches: BTreeMap::new(),
        };
        if shared {
            f.baseline = locking::held(work).await.unwrap_or_default();
        }
        f.before = files(control.client(), &f.named).await.unwrap_or_default();
        if let Ok(row) = work.query_typed("SELECT pg_catalog.pg_backend_pid()", &[]).await {
            if let Some(pid) = row.first().and_then(|r| r.try_get::<_, i32>(0).ok()) {
                f.sampler = Some(sample(control.client().clone(), pid, f.every));
                if concurrent {
                    f.concurrent = Some(control.client().clone());
                }
            }
        }
        f
    }

    /// Just before COMMIT, in the tier's transaction: the locks it holds
    /// and (a DDL tier) the files of the tables its grants name.
    pub async fn before_commit(&mut self, work: &Client) {
        let (held, after) = futures_util::join!(locking::held(work), files(work, &self.named));
        self.at_commit = held.unwrap_or_default();
        self.after = after.ok();
    }

    /// The locks one tier of the measured transaction read after its DDL
    /// statements (its [`Stats::held`]).
    pub fn saw(&mut self, stats: &Stats) {
        self.during.extend(stats.held.iter().cloned());
    }

    /// One committed batch of a batched pass: the locks its transaction
    /// held just before COMMIT, each held at most from the batch's BEGIN
    /// (`began`) to now, its COMMIT done. A pass's footprint keeps, per
    /// relation, the longest any one batch held it: production waits on
    /// one batch's transaction, never on the pass.
    pub fn batch(&mut self, held: &[Held], began: Instant) {
        let ms = began.elapsed().as_millis() as u64;
        for h in held {
            let e = self.batches.entry(h.relation.clone()).or_insert_with(|| (h.index, h.mode.clone(), 0));
            if locking::strength(&h.mode) > locking::strength(&e.1) {
                e.1 = h.mode.clone();
            }
            e.2 = e.2.max(ms);
        }
    }

    /// Stops measuring at the transaction's end: each relation's strongest
    /// mode, how long it was held, whether it was rewritten, who waited.
    pub async fn end(mut self, stats: &Stats) -> Vec<LockHeld> {
        let Sampled { waits, own } = match self.sampler.take() {
            Some((stop, task)) => {
                let _ = stop.send(());
                task.await.unwrap_or_default()
            }
            None => Sampled::default(),
        };
        if let (Some(control), None) = (&self.concurrent, &self.after) {
            self.after = files(control, &self.named).await.ok();
        }
        let now = Instant::now();
        let already: BTreeMap<&str, u8> =
            self.baseline.iter().map(|h| (h.relation.as_str(), locking::strength(&h.mode))).collect();
        // By relation: the strongest mode, first seen, an index.
        let mut by: BTreeMap<String, (String, Instant, bool)> = BTreeMap::new();
        for h in stats.held.iter().chain(&self.during).chain(&self.at_commit) {
            if already.get(h.relation.as_str()).is_some_and(|&s| s >= locking::strength(&h.mode)) {
                continue;
            }
            let e = by.entry(h.relation.clone()).or_insert_with(|| (h.mode.clone(), h.seen, h.index));
            if locking::strength(&h.mode) > locking::strength(&e.0) {
                e.0 = h.mode.clone();
            }
            e.1 = e.1.min(h.seen);
        }
        // A batched pass's: the longest batch that held each.
        let mut spans: BTreeMap<String, u64> = BTreeMap::new();
        for (relation, (index, mode, ms)) in &self.batches {
            let e = by.entry(relation.clone()).or_insert_with(|| (mode.clone(), now, *index));
            if locking::strength(mode) > locking::strength(&e.0) {
                e.0 = mode.clone();
            }
            spans.insert(relation.clone(), *ms);
        }
        // Its locks as sampled: one it still held at the end was held
        // since the first sample that saw it; one it let go of (a concurrent
        // step's, a retried statement's) from the first sample to the last
        // (to within one interval).
        for (relation, (index, mode, first, last)) in &own {
            if already.get(relation.as_str()).is_some_and(|&s| s >= locking::strength(mode)) {
                continue;
            }
            if let Some(e) = by.get_mut(relation) {
                if !spans.contains_key(relation) {
                    e.1 = e.1.min(*first);
                }
                continue;
            }
            by.insert(relation.clone(), (mode.clone(), *first, *index));
            spans.insert(relation.clone(), (last.duration_since(*first) + self.every).as_millis() as u64);
        }
        // A relation it queued for and never took: the sessions that queued
        // behind its wait are still its footprint; so are those that waited
        // on a row it changed (the row's relation when the server said it).
        for (relation, (who, first)) in &waits {
            let rows = who.values().all(|w| w.lock != "relation");
            let mode = if rows { ROW_LOCKS } else { QUEUED };
            by.entry(relation.clone()).or_insert_with(|| (mode.into(), *first, false));
        }
        let rewritten = rewrites(&self.before, self.after.as_ref());
        by.into_iter()
            .map(|(relation, (mode, seen, index))| {
                let mut sessions: Vec<WaitedBy> =
                    waits.get(&relation).map(|(who, _)| who.values().cloned().collect()).unwrap_or_default();
                sessions.sort_by(|a, b| b.waited_ms.cmp(&a.waited_ms).then(a.pid.cmp(&b.pid)));
                let (waiters, max_wait_ms) = (sessions.len() as u32, sessions.first().map_or(0, |w| w.waited_ms));
                sessions.truncate(NAMED_AT_MOST);
                LockHeld {
                    rewritten: rewritten.get(&relation).copied(),
                    mode: if mode == QUEUED || mode == ROW_LOCKS { mode } else { locking::mode_name(&mode) },
                    held_ms: spans.get(&relation).copied().unwrap_or(now.duration_since(seen).as_millis() as u64),
                    index,
                    waiters,
                    max_wait_ms,
                    sessions,
                    relation,
                }
            })
            .collect()
    }
}

/// The files of the tables `named` and their indexes, on `client`.
async fn files(client: &Client, named: &[String]) -> Result<Files, tokio_postgres::Error> {
    if named.is_empty() {
        return Ok(Files::new());
    }
    let rows = client.query_typed(sql("files"), &[(&named, Type::TEXT_ARRAY)]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, (r.try_get(1).ok()?, r.try_get(2).ok()?, r.try_get(3).ok()?))))
        .collect())
}

/// By relation name: whether its file changed. A relation that is gone,
/// or new in the tier, was not rewritten (it was dropped or created).
fn rewrites(before: &Files, after: Option<&Files>) -> BTreeMap<String, bool> {
    let Some(after) = after else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for (oid, (name, _, node)) in after {
        let changed = before.get(oid).is_some_and(|(_, _, was)| was != node);
        out.insert(name.clone(), changed);
    }
    out
}

/// The tables whose files are compared: those the `alter` and `index`
/// grants of `tiers` name.
fn named(tiers: &[&Plugin]) -> Vec<String> {
    let named: BTreeSet<&String> =
        tiers.iter().flat_map(|t| t.manifest.grants.alter.iter().chain(&t.manifest.grants.index)).collect();
    named.into_iter().cloned().collect()
}

/// The relation locks backend `pid` holds now, read on the control
/// connection (prepared there once). Outside the transaction that holds
/// them: a relation it created is not there yet, which is why a batch
/// reads its own with [`locking::held`].
async fn held_by(control: &Arc<Client>, pid: i32) -> Result<Vec<locking::Held>, tokio_postgres::Error> {
    static OWN: std::sync::LazyLock<crate::db::Prepared> =
        std::sync::LazyLock::new(|| crate::db::Prepared::new(sql("own"), &[Type::INT4]));
    Ok(locking::rows_held(&OWN.query(control, &[&pid]).await?))
}

/// Polls, on the control connection, every `every`, for the sessions `pid`
/// blocks (any lock) and for the relation locks `pid` holds, until told
/// to stop.
fn sample(control: Arc<Client>, pid: i32, every: Duration) -> (oneshot::Sender<()>, JoinHandle<Sampled>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut seen = Sampled::default();
        // Both in one round trip, each prepared once: parsing and planning
        // the waiters' query was 0.5 of its 0.55 ms on the server, every
        // sample, beside the tier it watches.
        static WAITERS: std::sync::LazyLock<crate::db::Prepared> =
            std::sync::LazyLock::new(|| crate::db::Prepared::new(sql("waiters"), &[Type::INT4]));
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&pid];
        loop {
            let (w, mine) = futures_util::join!(WAITERS.query(&control, &params), held_by(&control, pid));
            let at = Instant::now();
            for r in w.iter().flatten() {
                let (Ok(relation), Ok(waiter), Ok(ms), Ok(application), Ok(lock), Ok(behind)) = (
                    r.try_get::<_, Option<String>>(0),
                    r.try_get::<_, i32>(1),
                    r.try_get::<_, i64>(2),
                    r.try_get::<_, String>(3),
                    r.try_get::<_, String>(4),
                    r.try_get::<_, Option<i32>>(5),
                ) else {
                    continue;
                };
                let relation = relation.unwrap_or_else(|| ROW_LOCKS.into());
                let who = &mut seen.waits.entry(relation).or_insert_with(|| (BTreeMap::new(), at)).0;
                let w = who.entry(waiter).or_insert_with(|| WaitedBy {
                    pid: waiter,
                    application,
                    lock,
                    waited_ms: 0,
                    behind,
                });
                w.waited_ms = w.waited_ms.max(ms.max(0) as u64);
                // Held up by the tier itself at any sample: said so.
                if behind.is_none() {
                    w.behind = None;
                }
            }
            for locking::Held { relation, index, mode, .. } in mine.into_iter().flatten() {
                let e = seen.own.entry(relation).or_insert_with(|| (index, mode.clone(), at, at));
                if locking::strength(&mode) > locking::strength(&e.1) {
                    e.1 = mode;
                }
                e.3 = at;
            }
            tokio::select! {
                _ = &mut stopped => return seen,
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
    (stop, task)
}
