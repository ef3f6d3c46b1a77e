//! The host side of the plugin's `sql` import: check, budget, send, convert.
//!
//! Every statement is checked against the plugin's grants ([`check`]),
//! counted against its limits, and sent with the extended protocol (one
//! statement per string, enforced again by the server) on the tier's
//! connection inside the host's transaction. Every SQL error and refusal is
//! recorded, so a plugin that swallows one still fails its tier.

mod bulk;
pub mod check;
mod checked;
pub mod convert;
pub mod locking;
pub mod sent;
mod stream;

use crate::bindings::types::{RowSet, SqlError, SqlValue};
use crate::manifest::{Grants, Limits, Phase, Phases};
use crate::signal::Interrupt;
use check::{Catalog, Checker};
use checked::CheckCache;
use futures_util::{pin_mut, TryStreamExt};
use rollout_connect::wire::Wire;
use rollout_connect::Canceller;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Why the host stopped a plugin: a limit it reached or the operator's
/// Ctrl-C. Not a fault the plugin can handle; the call traps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    #[error("limit {name}={value} reached")]
    Limit { name: &'static str, value: u64 },
    #[error("interrupted by the operator (Ctrl-C)")]
    Interrupted,
    /// The database connection is gone: the host, not the plugin, handles it.
    #[error("the database connection was lost: {0}")]
    ConnectionLost(String),
    /// Under roles, a statement left the session as another role than the
    /// plugin's: its result is withheld and the call stops.
    #[error("the statement changed the role it runs as (now {0}); its result is withheld")]
    RoleChanged(String),
}

/// Runs a statement that cannot run in a transaction block (a checked
/// [`check::Step`]) as a step of its own: the runbook's concurrent steps
/// (recorded in the ledger, retried on a lock wait) or, in a dry run, only
/// shown. The session stops it at the deadline or on Ctrl-C like any
/// statement.
pub trait Steps: Send + Sync {
    fn run<'a>(
        &'a self,
        client: &'a Client,
        step: &'a check::Step,
        sql: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), StepError>>;
}

/// Why a step did not complete.
#[derive(Debug)]
pub enum StepError {
    /// The server said no, or the connection was lost.
    Sql(tokio_postgres::Error),
    /// The host's own judgement of it (an index left INVALID, the lock
    /// retries spent): the plugin gets it as `RL002`.
    Failed(String),
}

/// What a plugin's SQL did in one tier, for the ledger and the report.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub statements: u64,
    pub rows_returned: u64,
    pub rows_changed: u64,
    /// SQL errors and refusals, in order; any one fails the tier.
    pub errors: Vec<String>,
    /// Every statement that changed something: what a dry run reports.
    #[serde(skip)]
    pub changes: Vec<Change>,
    /// DDL attempts whose short lock wait ran out and were retried.
    pub lock_retries: u64,
    /// The relation locks the transaction held after each DDL statement
    /// (the tier's lock footprint).
    #[serde(skip)]
    pub held: Vec<locking::Held>,
    /// Every statement sent, by distinct text (`sent`): what a dry run lists.
    #[serde(skip)]
    pub sent: sent::Sent,
}

/// What one statement did to one relation (the one it writes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub relation: String,
    pub op: check::Op,
    pub rows: u64,
}

/// One plugin's SQL access for the length of a transaction.
pub struct SqlSession {
    client: Arc<Client>,
    cancel: Canceller,
    grants: Arc<Grants>,
    /// The catalog lists the checker uses: the server's, read once per
    /// command ([`SqlSession::with_catalog`]).
    catalog: Arc<Catalog>,
    read_only: bool,
    limits: Limits,
    /// End of the current call's wall time; the sandbox sets it per call.
    pub deadline: Instant,
    interrupt: Interrupt,
    /// Counters for the whole transaction (apply and post-conditions).
    pub stats: Stats,
    /// Under roles: the plugin's role, proven again after every statement.
    role: Option<String>,
    /// The statements this plugin's session has passed, by text.
    checked: CheckCache,
    /// The row streams open in this transaction (`query-stream`).
    streams: stream::Streams,
    /// The connection's wire: rows bounded as they arrive, and the extra
    /// answer of a refused COPY taken out (`connect::wire`).
    wire: Option<Arc<Wire>>,
    /// Where a DDL statement's retry is said (`Waiting  lock on …`).
    on_wait: Option<OnWait>,
    /// A concurrent tier's apply or rollback: where its CONCURRENTLY
    /// statements go (none: the tier is one transaction).
    steps: Option<Arc<dyn Steps>>,
    /// The tier's mode, which the checker is told.
    mode: crate::manifest::Mode,
    /// A tier whose grants differ by phase: the apply's and the rollback's
    /// (`grants` is their union, for what does not depend on the phase).
    phases: Option<[Arc<Grants>; 2]>,
    /// The phase of the current call; the sandbox sets it per call.
    pub phase: Option<Phase>,
}

/// Says one status line about a DDL statement waiting for its lock.
pub type OnWait = Arc<dyn Fn(&str) + Send + Sync>;

impl SqlSession {
    /// From now on, only reads: a tier's post-conditions are a check, and
    /// may not write whatever its manifest grants.
    pub fn read_only_from_now(&mut self) {
        self.read_only = true;
    }

    /// SQL access for `grants` on `client`, until `deadline`.
    pub fn new(
        client: Arc<Client>,
        cancel: Canceller,
        grants: Grants,
        read_only: bool,
        limits: Limits,
        deadline: Instant,
        interrupt: Interrupt,
    ) -> Self {
        let (stats, checked) = (Stats::default(), CheckCache::default());
        let streams = stream::Streams::default();
        SqlSession {
            client,
            cancel,
            grants: Arc::new(grants),
            catalog: Catalog::built(),
            read_only,
            limits,
            deadline,
            interrupt,
            stats,
            checked,
            streams,
            role: None,
            wire: None,
            on_wait: None,
            steps: None,
            mode: crate::manifest::Mode::default(),
            phases: None,
            phase: None,
        }
    }

    /// A tier whose grants differ by phase ([`Phases::split`]): each call
    /// is checked against its phase's grants.
    pub fn in_phases(mut self, phases: &Phases) -> Self {
        if phases.split {
            self.phases = Some([Arc::new(phases.apply.clone()), Arc::new(phases.rollback.clone())]);
        }
        self
    }

    /// Where each retry of a DDL statement is said.
    pub fn on_lock_wait(mut self, on_wait: OnWait) -> Self {
        self.on_wait = Some(on_wait);
        self
    }

    /// The tier's mode (the checker allows CONCURRENTLY only in a
    /// concurrent tier; where its steps run is [`SqlSession::run_steps_with`]).
    pub fn in_mode(mut self, mode: crate::manifest::Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A concurrent tier's call: its steps run through `steps`.
    pub fn run_steps_with(&mut self, steps: Arc<dyn Steps>) {
        self.steps = Some(steps);
    }

    /// The wire under the session's connection ([`rollout_connect::Target::wire`]).
    pub fn on_wire(mut self, wire: Option<Arc<Wire>>) -> Self {
        self.wire = wire;
        self
    }

    /// While a plugin statement's rows arrive, each is counted from its
    /// header on the wire against `memory_mib`, before the driver holds it
    /// (`on`); the host's own statements are not bounded (`off`).
    fn bound_rows(&self, on: bool) {
        if let Some(wire) = &self.wire {
            wire.bound_rows(on.then(|| self.limits.memory_mib * 1024 * 1024));
        }
    }

    /// The catalog lists to check this session's statements against: the
    /// connected server's ([`Catalog::read`]), not the ones built in.
    pub fn with_catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// Under roles: every statement must leave the session as `role`.
    pub fn as_role(mut self, role: Option<&str>) -> Self {
        self.role = role.map(str::to_string);
        self
    }

    /// Runs one plugin statement. The outer error stops the plugin (a limit,
    /// the deadline, Ctrl-C); the inner one is the plugin's to handle.
    pub async fn query(&mut self, statement: &str, params: &[SqlValue]) -> Result<Result<RowSet, SqlError>, Stop> {
        let checked = match self.begin_with(statement, params)? {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(step) = &checked.step {
            return self.step(statement, &checked, step).await;
        }
        let started = Instant::now();
        let result = match checked.lock.as_ref().filter(|_| !self.read_only) {
            Some(lock) => self.send_ddl(&checked, params, lock.clone()).await,
            None => self.send(&checked, params).await,
        };
        let (ok, rows) = match &result {
            Ok(Ok(set)) if checked.kind == check::StatementKind::Select => (true, set.rows.len() as u64),
            Ok(Ok(set)) => (true, set.rows_changed),
            _ => (false, 0),
        };
        // Listed before a stop (Ctrl-C, the deadline) ends the plugin: it was sent.
        let effect = sent::Effect::of(&checked);
        self.stats.sent.record(&checked.sql, effect, sent::param_types(params), ok, rows, started.elapsed());
        let result = result?;
        let set = match result {
            Ok(set) => set,
            Err(SendError::Stop(stop)) => return Err(stop),
            Err(SendError::Sql(e)) => return Ok(Err(self.failed(statement, &checked, &e)?)),
            Err(SendError::Value(e)) => {
                let message = format!("SQL error {} in `{}`: {}", e.sqlstate, one_line(statement), e.message);
                self.stats.errors.push(crate::text::cut(message, crate::text::MESSAGE_BYTES));
                return Ok(Err(e));
            }
        };
        // A checker miss that switched role must not hand the plugin a row
        // read as anyone else (the host checks again after the call).
        self.prove_role().await?;
        self.stats.rows_changed += set.rows_changed;
        if let Some((relation, op)) = checked.accesses.iter().find(|(_, op)| *op != check::Op::Read) {
            let change = Change { relation: relation.clone(), op: *op, rows: set.rows_changed };
            self.stats.changes.push(change);
        }
        if self.stats.rows_changed > self.limits.rows_changed {
            return Err(Stop::Limit { name: "rows_changed", value: self.limits.rows_changed });
        }
        Ok(Ok(set))
    }

    /// Sends a checked statement until it ends, the deadline or Ctrl-C.
    async fn send(&mut self, checked: &check::Checked, params: &[SqlValue]) -> Result<Result<RowSet, SendError>, Stop> {
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        let cancel = self.cancel.clone();
        self.bound_rows(true);
        let result = stoppable(self.send_rows(checked, params), stop, &cancel).await;
        self.bound_rows(false);
        result
    }

    /// A DDL statement ([`locking`]): each attempt in its own savepoint
    /// under `ddl_lock_timeout_ms`, sent in one round trip with the
    /// savepoint, the wait, the release and the read of the locks held
    /// after it; an attempt whose wait ran out is undone, said, paused
    /// and retried up to `ddl_lock_retries`, then fails naming who held
    /// the lock.
    async fn send_ddl(
        &mut self,
        checked: &check::Checked,
        params: &[SqlValue],
        lock: check::Lock,
    ) -> Result<Result<RowSet, SendError>, Stop> {
        let (first, mut rng) = (Instant::now(), fastrand::Rng::new());
        let relations = locking::relations(&lock.relation);
        let mut retry = 0;
        loop {
            // Its locks are held from before it was sent, not from when the
            // read after it answered (a rewrite holds them all along).
            let sent = Instant::now();
            let client = self.client.clone();
            let (before, after) = (locking::before(&self.limits), locking::after(&self.limits));
            let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
            let cancel = self.cancel.clone();
            self.bound_rows(true);
            let work = async {
                let (b, r, a, h) = futures_util::join!(
                    client.batch_execute(&before),
                    self.send_rows(checked, params),
                    client.batch_execute(&after),
                    locking::held(&client)
                );
                (b.and(a), r, h)
            };
            let result = stoppable(work, stop, &cancel).await;
            self.bound_rows(false);
            let (wrapped, result, held) = result?;
            let lock_wait_ran_out = matches!(&result, Err(SendError::Sql(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE));
            if !lock_wait_ran_out {
                if let (Ok(()), Ok(_), Ok(held)) = (&wrapped, &result, held) {
                    self.stats.held.extend(held.into_iter().map(|h| locking::Held { seen: sent, ..h }));
                }
                return Ok(result);
            }
            // Back to before the attempt, then who held the lock.
            if let Err(e) = self.client.batch_execute(locking::UNDO).await {
                return Ok(Err(SendError::Sql(e)));
            }
            let blockers = locking::blockers(&self.client, &relations, lock.mode).await;
            if retry >= self.limits.ddl_lock_retries {
                let why = locking::spent(&lock.relation, &self.limits, first.elapsed(), &blockers);
                return Ok(Err(SendError::Value(SqlError {
                    sqlstate: "55P03".into(),
                    message: why,
                    detail: None,
                    refused: false,
                })));
            }
            retry += 1;
            self.stats.lock_retries += 1;
            let pause = locking::pause(retry, &mut rng);
            if let Some(say) = &self.on_wait {
                let by = match blockers.first() {
                    Some(b) if blockers.len() > 1 => format!("{} and {} more", b.short(), blockers.len() - 1),
                    Some(b) => b.short(),
                    None => "a session that has since ended".into(),
                };
                let n = self.limits.ddl_lock_retries;
                say(&format!("lock on {} held by {by}, retry {retry}/{n} in {} ms", lock.relation, pause.as_millis()));
            }
            let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                stop = stop => return Err(stop),
            }
        }
    }

    /// A checked statement that cannot run in a transaction block, handed
    /// to the runbook's step runner; without one it is refused.
    async fn step(
        &mut self,
        statement: &str,
        checked: &check::Checked,
        step: &check::Step,
    ) -> Result<Result<RowSet, SqlError>, Stop> {
        let Some(steps) = self.steps.clone() else {
            let why = "this statement runs only as a step of a concurrent tier's apply or rollback".to_string();
            return Ok(Err(self.refuse(statement, why)));
        };
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        let cancel = self.cancel.clone();
        let client = self.client.clone();
        let started = Instant::now();
        let ran = stoppable(steps.run(&client, step, &checked.sql), stop, &cancel).await;
        let ok = matches!(ran, Ok(Ok(())));
        self.stats.sent.record(&checked.sql, sent::Effect::MayChange, Vec::new(), ok, 0, started.elapsed());
        let ran = ran?;
        match ran {
            Ok(()) => Ok(Ok(RowSet { columns: Vec::new(), rows: Vec::new(), rows_changed: 0 })),
            Err(StepError::Sql(e)) => Ok(Err(self.failed(statement, checked, &e)?)),
            Err(StepError::Failed(why)) => {
                let message = format!("step `{}` failed: {why}", one_line(statement));
                self.stats.errors.push(crate::text::cut(message, crate::text::MESSAGE_BYTES));
                Ok(Err(SqlError { sqlstate: "RL002".into(), message: why, detail: None, refused: false }))
            }
        }
    }

    /// What every plugin statement goes through before it is sent: Ctrl-C,
    /// the `statements` budget, the grants check (cached by text) and the
    /// deadline. A refusal is recorded and handed to the plugin.
    fn begin(&mut self, statement: &str, params: usize) -> Result<Result<Arc<check::Checked>, SqlError>, Stop> {
        if self.interrupt.is_set() {
            return Err(Stop::Interrupted);
        }
        self.stats.statements += 1;
        if self.stats.statements > self.limits.statements {
            return Err(Stop::Limit { name: "statements", value: self.limits.statements });
        }
        // The check is synchronous work: it stops itself at the deadline, and
        // a check that ends past it stops the plugin like any other overrun.
        // A text this session passed under the same rules is a lookup.
        let checker = match (&self.phases, self.phase) {
            (None, _) => Checker::shared(self.grants.clone(), self.read_only),
            (Some([apply, rollback]), Some(phase)) => {
                let (mine, other) = if phase == Phase::Apply { (apply, rollback) } else { (rollback, apply) };
                Checker::shared(mine.clone(), self.read_only).in_phase(phase, other.clone())
            }
            (Some(_), None) => {
                let why = "this tier's grants differ by phase, and the host did not say which phase this call is in";
                return Ok(Err(self.refuse(statement, why.to_string())));
            }
        };
        let checker =
            checker.mode(self.mode).limits(self.limits.memory_mib, Some(self.deadline)).catalog(self.catalog.clone());
        let checked = self.checked.check(&checker, statement, params, self.read_only);
        if Instant::now() >= self.deadline {
            return Err(Stop::Limit { name: "wall_time_ms", value: self.limits.wall_time_ms });
        }
        Ok(checked.map_err(|refusal| self.refuse(statement, refusal.to_string())))
    }

    /// [`SqlSession::begin`] for a statement sent with `params`: the check
    /// bounds how many times it may copy what it reads (`copies`, see
    /// `check/sizes.rs`), and the host holds that times its largest
    /// parameter to the plugin's `memory_mib`, the bytes it makes the server
    /// hold from what the plugin sent.
    fn begin_with(
        &mut self,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<Result<Arc<check::Checked>, SqlError>, Stop> {
        let checked = match self.begin(statement, params.len())? {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        let largest = params.iter().map(convert::size).max().unwrap_or(0);
        let limit = self.limits.memory_mib * 1024 * 1024;
        if checked.copies * largest as f64 > limit as f64 {
            let why = format!(
                "the statement may copy what it reads {} times, and its largest parameter is {largest} bytes: \
                 together more than the plugin's memory limit, memory_mib = {} (copy the parameter fewer times)",
                checked.copies, self.limits.memory_mib
            );
            return Ok(Err(self.refuse(statement, why)));
        }
        Ok(Ok(checked))
    }

    /// A refusal (`RL000`), recorded so the tier fails even if the plugin
    /// swallows it.
    fn refuse(&mut self, statement: &str, why: String) -> SqlError {
        self.stats.errors.push(format!("refused `{}`: {why}", one_line(statement)));
        SqlError { sqlstate: "RL000".into(), message: why, detail: None, refused: true }
    }

    /// Under roles: the session must still be the plugin's role after a
    /// statement, before its result reaches the plugin.
    async fn prove_role(&self) -> Result<(), Stop> {
        let Some(role) = &self.role else { return Ok(()) };
        match self.client.query_one("SELECT current_user::text", &[]).await {
            Ok(row) if row.try_get::<_, String>(0).ok().as_ref() == Some(role) => Ok(()),
            Ok(row) => Err(Stop::RoleChanged(row.try_get::<_, String>(0).unwrap_or_default())),
            Err(e) => Err(Stop::RoleChanged(format!("unknown: {e}"))),
        }
    }

    /// A server error as the plugin sees it (DETAIL only where it may read
    /// the rows it could quote), recorded; a lost connection stops the call.
    fn failed(
        &mut self,
        statement: &str,
        checked: &check::Checked,
        e: &tokio_postgres::Error,
    ) -> Result<SqlError, Stop> {
        let mut error = convert::sql_error(e);
        // A row past the plugin's memory: the wire ended the connection at
        // the row's header, before the host held it.
        if self.wire.as_ref().and_then(|w| w.cut_for_size()).is_some() {
            return Err(Stop::Limit { name: "memory_mib", value: self.limits.memory_mib });
        }
        if convert::connection_lost(e) {
            return Err(Stop::ConnectionLost(format!("SQL error {}: {}", error.sqlstate, error.message)));
        }
        if error.detail.is_some() && !may_see_detail(&self.grants, checked, e) {
            error.detail = None;
        }
        // The server echoes values the plugin chose: bound the record.
        let message = format!("SQL error {} in `{}`: {}", error.sqlstate, one_line(statement), error.message);
        self.stats.errors.push(crate::text::cut(message, crate::text::MESSAGE_BYTES));
        Ok(error)
    }

    /// Counts one row handed to the plugin against `rows_returned`, and its
    /// bytes (`held`, since the last batch began) against `memory_mib`.
    fn take_row(&mut self, row: &tokio_postgres::Row, held: &mut u64) -> Result<Vec<SqlValue>, SendError> {
        self.stats.rows_returned += 1;
        if self.stats.rows_returned > self.limits.rows_returned {
            return Err(SendError::Stop(Stop::Limit { name: "rows_returned", value: self.limits.rows_returned }));
        }
        let values = convert::row(row).map_err(SendError::Value)?;
        *held += values.iter().map(convert::size).sum::<u64>();
        if *held > self.limits.memory_mib * 1024 * 1024 {
            return Err(SendError::Stop(Stop::Limit { name: "memory_mib", value: self.limits.memory_mib }));
        }
        Ok(values)
    }

    /// One round trip: parse, bind and execute with the parameters' own
    /// types (`query_typed_raw`), results in binary.
    async fn send_rows(&mut self, checked: &check::Checked, params: &[SqlValue]) -> Result<RowSet, SendError> {
        let typed: Vec<_> = params.iter().map(convert::param).collect();
        let stream = self.client.query_typed_raw(&checked.sql, typed.iter().map(|(t, v)| (v, t.clone()))).await?;
        pin_mut!(stream);
        let mut rows = Vec::new();
        let mut columns = None;
        // Rows are held in the host before the plugin gets them: budget
        // their bytes too, at the plugin's own memory limit.
        let mut held = 0u64;
        while let Some(row) = stream.try_next().await? {
            if columns.is_none() {
                columns = Some(convert::columns(row.columns()));
            }
            rows.push(self.take_row(&row, &mut held)?);
        }
        // A SELECT's row count is not a change.
        let rows_changed =
            if checked.kind == check::StatementKind::Select { 0 } else { stream.rows_affected().unwrap_or(0) };
        let columns = match columns {
            Some(c) => c,
            None => self.describe_empty(checked, &typed).await?,
        };
        Ok(RowSet { columns, rows, rows_changed })
    }

    /// The columns of a result without rows, which `query_typed_raw` does
    /// not hand back: a second round trip, only for a statement that has
    /// columns (a SELECT, or a change with RETURNING) and returned no row.
    async fn describe_empty(
        &self,
        checked: &check::Checked,
        typed: &[(tokio_postgres::types::Type, convert::TextParam)],
    ) -> Result<Vec<crate::bindings::types::Column>, SendError> {
        let returning = checked.sql.to_ascii_uppercase().contains("RETURNING");
        if checked.kind != check::StatementKind::Select && !returning {
            return Ok(Vec::new());
        }
        let types: Vec<_> = typed.iter().map(|(t, _)| t.clone()).collect();
        let stmt = self.client.prepare_typed(&checked.sql, &types).await?;
        Ok(convert::columns(stmt.columns()))
    }
}

/// Whether the plugin may see an error's DETAIL: the server puts row
/// contents there ("Failing row contains …", "Key (code)=(…) already
/// exists"), so only a plugin that may read every relation the statement
/// touches, and the relation the error names, sees it. (PostgreSQL itself
/// withholds such DETAIL from a role without SELECT on the columns.)
fn may_see_detail(grants: &Grants, checked: &check::Checked, e: &tokio_postgres::Error) -> bool {
    // A table read only in some columns is not readable here: DETAIL may
    // show the others.
    let readable =
        |relation: &str| grants.read.iter().any(|r| r == relation) && grants.limited("read", relation).is_none();
    let named = e.as_db_error().and_then(|db| Some(format!("{}.{}", db.schema()?, db.table()?)));
    checked.accesses.iter().all(|(relation, _)| readable(relation)) && named.as_deref().is_none_or(readable)
}

/// Why sending a statement did not give rows.
enum SendError {
    /// The server (or the connection) said no.
    Sql(tokio_postgres::Error),
    /// A value the contract cannot carry (`RL001`).
    Value(SqlError),
    /// A limit the host enforces.
    Stop(Stop),
}

impl From<tokio_postgres::Error> for SendError {
    fn from(e: tokio_postgres::Error) -> Self {
        SendError::Sql(e)
    }
}

/// Runs `work` (an exchange with the server) to its end, or until `stop`
/// (the deadline, Ctrl-C) resolves first: then the statement is cancelled
/// on the server and `work` driven until it has ended there (dropping the
/// future cancels nothing on the server).
pub(crate) async fn stoppable<T>(
    work: impl std::future::Future<Output = T>,
    stop: impl std::future::Future<Output = Stop>,
    cancel: &Canceller,
) -> Result<T, Stop> {
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => Ok(r),
        stop = stop => {
            until_ended(cancel, work).await;
            Err(stop)
        }
    }
}

/// How long a stopped statement may take to end on the server once the host
/// asked (a server that does not answer is the connection's problem then).
const CANCEL_SETTLE: Duration = Duration::from_secs(3);

/// Cancels the statement `work` runs and waits until it has ended, asking
/// again every 100 ms: a cancel that reaches the server before the statement
/// has started there is ignored, and the statement would run on (a
/// `pg_sleep` for minutes) with the tier's ROLLBACK queued behind it.
async fn until_ended<F: std::future::Future>(cancel: &Canceller, mut work: std::pin::Pin<&mut F>) {
    let settle = async {
        loop {
            cancel.cancel().await;
            if tokio::time::timeout(Duration::from_millis(100), work.as_mut()).await.is_ok() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(CANCEL_SETTLE, settle).await;
}

/// Resolves when the plugin must stop: deadline passed or Ctrl-C.
async fn stop_signal(deadline: Instant, wall_time_ms: u64, interrupt: Interrupt) -> Stop {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => Stop::Limit { name: "wall_time_ms", value: wall_time_ms },
        _ = interrupt.wait() => Stop::Interrupted,
    }
}

/// A statement on one line, shortened, for messages.
pub fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}
