//! One plugin's SQL access for the length of a transaction
//! ([`SqlSession`]): what every statement goes through before it is sent
//! (Ctrl-C, the budget, the grants check, the deadline), what it is told
//! when the server says no, and the role it must still run as after.

use super::check::{self, Catalog, Checker};
use super::checked::CheckCache;
use super::send::SendError;
use super::stats::{Change, Stats};
use super::steps::Steps;
use super::stop::Stop;
use super::{convert, one_line, sent, stream};
use crate::bindings::types::{RowSet, SqlError, SqlValue};
use crate::manifest::{Grants, Limits, Phase, Phases};
use crate::signal::Interrupt;
use rollout_connect::wire::Wire;
use rollout_connect::Canceller;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// One plugin's SQL access for the length of a transaction.
pub struct SqlSession {
    pub(super) client: Arc<Client>,
    pub(super) cancel: Canceller,
    pub(super) grants: Arc<Grants>,
    /// The catalog lists the checker uses: the server's, read once per
    /// command ([`SqlSession::with_catalog`]).
    pub(super) catalog: Arc<Catalog>,
    pub(super) read_only: bool,
    pub(super) limits: Limits,
    /// End of the current call's wall time; the sandbox sets it per call.
    pub deadline: Instant,
    pub(super) interrupt: Interrupt,
    /// Counters for the whole transaction (apply and post-conditions).
    pub stats: Stats,
    /// Under roles: the plugin's role, proven again after every statement.
    pub(super) role: Option<String>,
    /// The statements this plugin's session has passed, by text.
    pub(super) checked: CheckCache,
    /// The row streams open in this transaction (`query-stream`).
    pub(super) streams: stream::Streams,
    /// The connection's wire: rows bounded as they arrive, and the extra
    /// answer of a refused COPY taken out (`connect::wire`).
    pub(super) wire: Option<Arc<Wire>>,
    /// Where a DDL statement's retry is said (`Waiting  lock on …`).
    pub(super) on_wait: Option<OnWait>,
    /// A concurrent tier's apply or rollback: where its CONCURRENTLY
    /// statements go (none: the tier is one transaction).
    pub(super) steps: Option<Arc<dyn Steps>>,
    /// The tier's mode, which the checker is told.
    pub(super) mode: crate::manifest::Mode,
    /// A tier whose grants differ by phase: the apply's and the rollback's
    /// (`grants` is their union, for what does not depend on the phase).
    pub(super) phases: Option<[Arc<Grants>; 2]>,
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

    /// Swaps this session's passed checks with `cache`: the batches of one
    /// pass are sessions of their own with the same grants, catalog, mode
    /// and memory limit (everything a verdict depends on besides the text
    /// and the rules the cache keys), so a text one batch passed is a
    /// lookup in the next, not a parse, walk and deparse.
    pub fn swap_checks(&mut self, cache: &mut CheckCache) {
        std::mem::swap(&mut self.checked, cache);
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
    pub(super) fn bound_rows(&self, on: bool) {
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
    pub fn running_as(mut self, role: Option<&str>) -> Self {
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

    /// What every plugin statement goes through before it is sent: Ctrl-C,
    /// the `statements` budget, the grants check (cached by text) and the
    /// deadline. A refusal is recorded and handed to the plugin.
    pub(super) fn begin(
        &mut self,
        statement: &str,
        params: usize,
    ) -> Result<Result<Arc<check::Checked>, SqlError>, Stop> {
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
    pub(super) fn begin_with(
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
    pub(super) fn refuse(&mut self, statement: &str, why: String) -> SqlError {
        self.stats.errors.push(format!("refused `{}`: {why}", one_line(statement)));
        SqlError { sqlstate: "RL000".into(), message: why, detail: None, refused: true }
    }

    /// Under roles: the session must still be the plugin's role after a
    /// statement, before its result reaches the plugin.
    pub(super) async fn prove_role(&self) -> Result<(), Stop> {
        let Some(role) = &self.role else { return Ok(()) };
        match self.client.query_one("SELECT current_user::text", &[]).await {
            Ok(row) if row.try_get::<_, String>(0).ok().as_ref() == Some(role) => Ok(()),
            Ok(row) => Err(Stop::RoleChanged(row.try_get::<_, String>(0).unwrap_or_default())),
            Err(e) => Err(Stop::RoleChanged(format!("unknown: {e}"))),
        }
    }

    /// A server error as the plugin sees it (DETAIL only where it may read
    /// the rows it could quote), recorded; a lost connection stops the call.
    pub(super) fn failed(
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
