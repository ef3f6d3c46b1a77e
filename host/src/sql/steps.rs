//! Statements that cannot run in a transaction block (`CREATE INDEX
//! CONCURRENTLY`): the session hands each, checked, to a step runner the
//! runbook gives it ([`Steps`]), under the same deadline and Ctrl-C.

use super::session::SqlSession;
use super::stop::{stop_signal, stoppable, Stop};
use super::{check, one_line, sent};
use crate::bindings::types::{RowSet, SqlError};
use std::time::Instant;
use tokio_postgres::Client;

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

impl SqlSession {
    /// A checked statement that cannot run in a transaction block, handed
    /// to the runbook's step runner; without one it is refused.
    pub(super) async fn step(
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
}
