//! A host query the command runs many times on one connection, prepared
//! once there: parse and plan are paid once, and after five runs the
//! server keeps a generic plan. The sequence watch reads every sequence
//! before each plugin transaction's COMMIT and at each batch: 3.6 KB of
//! SQL whose parse and plan were about 0.9 of its 1 ms on the server;
//! prepared, about 0.26 ms.
//!
//! For connections the host keeps for the whole command and runs outside
//! a transaction (the control connection): each statement is kept with a
//! weak reference to its client, so a client dropped can never be taken
//! for another made at the same address. A statement the server no longer
//! knows (SQLSTATE 26000: a `DEALLOCATE` on that connection) is prepared
//! again; inside a transaction that error would abort it, so a read in a
//! transaction ([`Prepared::query_in`], a batch's) never prepares again:
//! the caller forgets, after each session reset, what the server no longer
//! has ([`Prepared::forget_gone`]), and uses kept statements only while no
//! SQL `PREPARE` could stand in for one ([`super::sql_prepared`]).

use std::sync::{Arc, Mutex, Weak};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

/// How many connections' statements one query keeps (a command has one
/// control connection; a rehearsal runs several commands).
const KEPT: usize = 8;

/// One query, with the types of its parameters, and where it is prepared.
pub struct Prepared {
    sql: &'static str,
    types: &'static [Type],
    on: Mutex<Vec<(Weak<Client>, Statement)>>,
}

impl Prepared {
    pub const fn new(sql: &'static str, types: &'static [Type]) -> Prepared {
        Prepared { sql, types, on: Mutex::new(Vec::new()) }
    }

    /// Runs it on `client` with `params` (one round trip once prepared
    /// there; two the first time).
    pub async fn query(
        &self,
        client: &Arc<Client>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        if let Some(statement) = self.kept(client) {
            match client.query(&statement, params).await {
                Err(e) if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) => {}
                done => return done,
            }
        }
        let statement = self.prepare(client).await?;
        client.query(&statement, params).await
    }

    /// [`query`](Self::query) inside a transaction: a statement the server
    /// no longer knows fails it (SQLSTATE 26000) rather than being
    /// prepared again in a transaction that error has aborted.
    pub async fn query_in(
        &self,
        client: &Arc<Client>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = match self.kept(client) {
            Some(s) => s,
            None => self.prepare(client).await?,
        };
        client.query(&statement, params).await
    }

    /// Forgets the statement kept on `client` unless `present` (the texts
    /// of the protocol-level statements the session has,
    /// [`super::reset_session`]; tokio-postgres does not say a statement's
    /// name) still holds its text. Were another protocol-level statement of
    /// the same text there instead, the kept one's next use fails (26000).
    pub fn forget_gone(&self, client: &Arc<Client>, present: &[String]) {
        if present.iter().any(|p| p == self.sql) {
            return;
        }
        if let Ok(mut on) = self.on.lock() {
            on.retain(|(w, _)| !mine(w, client));
        }
    }

    fn kept(&self, client: &Arc<Client>) -> Option<Statement> {
        let on = self.on.lock().ok()?;
        on.iter().find(|(w, _)| mine(w, client)).map(|(_, s)| s.clone())
    }

    async fn prepare(&self, client: &Arc<Client>) -> Result<Statement, tokio_postgres::Error> {
        let statement = client.prepare_typed(self.sql, self.types).await?;
        if let Ok(mut on) = self.on.lock() {
            on.retain(|(w, _)| !mine(w, client) && w.strong_count() > 0);
            if on.len() >= KEPT {
                on.remove(0);
            }
            on.push((Arc::downgrade(client), statement.clone()));
        }
        Ok(statement)
    }
}

/// Whether `w` is `client` (never another client made at its address: the
/// weak reference would be dead).
fn mine(w: &Weak<Client>, client: &Arc<Client>) -> bool {
    std::ptr::eq(w.as_ptr(), Arc::as_ptr(client))
}
