//! A tier's lock footprint, measured on the server: for each relation its
//! transaction locked, the strongest mode (the locks the work session held
//! after each DDL statement, read in that statement's round trip by
//! `sql::locking`, and once before COMMIT), how long it was held (first
//! seen → the transaction's end), whether it was rewritten (the
//! `relfilenode` of each table an `alter` or `index` grant names and of its
//! indexes, before the tier on the control connection and before COMMIT in
//! the tier's transaction), and which other sessions waited on it (a
//! sampler on the control connection, every 50 ms while the tier runs).
//! A concurrent tier's steps run outside a transaction and keep no lock
//! past their statement, so for it the sampler also reads, every 20 ms,
//! the locks the work session holds (each seen from its first sample to
//! its last: to within one interval), and its files are compared after
//! the last step on the control connection.
//! A tier without a DDL grant costs one read of `pg_locks`, no sampler.

use super::control::Control;
use crate::plan::Plugin;
use crate::report::footprint::{LockHeld, QUEUED};
use crate::sql::locking::{self, Held};
use crate::sql::Stats;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
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

/// By relation: the sessions seen waiting on it, and the longest wait.
type Waits = BTreeMap<String, (BTreeSet<i32>, u64)>;

/// By relation: a concurrent tier's own locks as sampled (is an index, the
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
    /// The tier may run DDL (it has an `alter`, `index`, `create` or
    /// `drop` grant): only then the files and the sampler.
    ddl: bool,
    /// The tables whose files are compared.
    named: Vec<String>,
    before: Files,
    after: Option<Files>,
    /// The locks read before COMMIT.
    at_commit: Vec<Held>,
    /// A dry run's shared transaction: what it already held before the
    /// tier, which is not the tier's.
    baseline: Vec<Held>,
    sampler: Option<(oneshot::Sender<()>, JoinHandle<Sampled>)>,
    /// A concurrent tier: the control connection, to compare its files
    /// after its last step.
    concurrent: Option<Arc<Client>>,
}

impl Footprint {
    /// Starts measuring `tier`, whose transaction runs on `work`; `shared`
    /// when that transaction is not the tier's own (a dry run). Every
    /// read here is best effort: a footprint the host could not measure is
    /// left out, never made up.
    pub async fn start(control: &Control, tier: &Plugin, work: &Client, shared: bool) -> Footprint {
        let g = &tier.manifest.grants;
        let ddl = !(g.alter.is_empty() && g.index.is_empty() && g.create.is_empty() && g.drop.is_empty());
        let named: Vec<String> = g.alter.iter().chain(&g.index).cloned().collect();
        let mut f = Footprint {
            ddl,
            named,
            before: Files::new(),
            after: None,
            at_commit: Vec::new(),
            baseline: Vec::new(),
            sampler: None,
            concurrent: None,
        };
        if !ddl {
            return f;
        }
        if shared {
            f.baseline = locking::held(work).await.unwrap_or_default();
        }
        f.before = files(control.client(), &f.named).await.unwrap_or_default();
        if let Ok(row) = work.query_typed("SELECT pg_catalog.pg_backend_pid()", &[]).await {
            if let Some(pid) = row.first().and_then(|r| r.try_get::<_, i32>(0).ok()) {
                let own = tier.manifest.mode == crate::manifest::Mode::Concurrent && !shared;
                f.sampler = Some(sample(control.client().clone(), pid, own));
                if own {
                    f.concurrent = Some(control.client().clone());
                }
            }
        }
        f
    }

    /// Just before COMMIT, in the tier's transaction: the locks it holds
    /// and (a DDL tier) the files of the tables its grants name.
    pub async fn before_commit(&mut self, work: &Client) {
        if self.ddl {
            let (held, after) = futures_util::join!(locking::held(work), files(work, &self.named));
            self.at_commit = held.unwrap_or_default();
            self.after = after.ok();
        } else {
            self.at_commit = locking::held(work).await.unwrap_or_default();
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
        for h in stats.held.iter().chain(&self.at_commit) {
            if already.get(h.relation.as_str()).is_some_and(|&s| s >= locking::strength(&h.mode)) {
                continue;
            }
            let e = by.entry(h.relation.clone()).or_insert_with(|| (h.mode.clone(), h.seen, h.index));
            if locking::strength(&h.mode) > locking::strength(&e.0) {
                e.0 = h.mode.clone();
            }
            e.1 = e.1.min(h.seen);
        }
        // A concurrent tier's locks, as sampled: held from the first sample
        // that saw one to the last (to within one interval).
        let mut spans: BTreeMap<String, u64> = BTreeMap::new();
        for (relation, (index, mode, first, last)) in &own {
            if by.contains_key(relation) {
                continue;
            }
            by.insert(relation.clone(), (mode.clone(), *first, *index));
            spans.insert(relation.clone(), (last.duration_since(*first) + SAMPLE_STEPS_EVERY).as_millis() as u64);
        }
        // A relation it queued for and never took: the sessions that queued
        // behind its wait are still its footprint.
        for relation in waits.keys() {
            by.entry(relation.clone()).or_insert_with(|| (QUEUED.into(), now, false));
        }
        let rewritten = rewrites(&self.before, self.after.as_ref());
        by.into_iter()
            .map(|(relation, (mode, seen, index))| {
                let (waiters, max_wait_ms) = waits.get(&relation).map_or((0, 0), |(p, w)| (p.len() as u32, *w));
                LockHeld {
                    rewritten: rewritten.get(&relation).copied(),
                    mode: if mode == QUEUED { mode } else { locking::mode_name(&mode) },
                    held_ms: spans.get(&relation).copied().unwrap_or(now.duration_since(seen).as_millis() as u64),
                    index,
                    waiters,
                    max_wait_ms,
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
    let rows = client.query(sql("files"), &[&named]).await?;
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

/// Polls, on the control connection, for sessions waiting on locks `pid`
/// holds or is queued for (and, `own`, for the locks `pid` holds), until
/// told to stop.
fn sample(control: Arc<Client>, pid: i32, own: bool) -> (oneshot::Sender<()>, JoinHandle<Sampled>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut seen = Sampled::default();
        let Ok(waiters) = control.prepare(sql("waiters")).await else { return seen };
        let held = if own { control.prepare(sql("own")).await.ok() } else { None };
        let every = if own { SAMPLE_STEPS_EVERY } else { SAMPLE_EVERY };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&pid];
        loop {
            let mine = async {
                match &held {
                    Some(q) => control.query(q, &params).await.ok(),
                    None => None,
                }
            };
            let (w, mine) = futures_util::join!(control.query(&waiters, &params), mine);
            let at = Instant::now();
            for r in w.iter().flatten() {
                let (Ok(relation), Ok(waiter), Ok(ms)) =
                    (r.try_get::<_, String>(0), r.try_get::<_, i32>(1), r.try_get::<_, i64>(2))
                else {
                    continue;
                };
                let e = seen.waits.entry(relation).or_default();
                e.0.insert(waiter);
                e.1 = e.1.max(ms.max(0) as u64);
            }
            for r in mine.iter().flatten() {
                let (Ok(relation), Ok(index), Ok(mode)) =
                    (r.try_get::<_, String>(0), r.try_get::<_, bool>(1), r.try_get::<_, String>(2))
                else {
                    continue;
                };
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
