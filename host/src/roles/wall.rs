//! The wall at run time: one command's key, and the membership of the
//! runner in one role at a time, inside the host's own transaction.
//!
//! The control connection (the operator) registers the sha256 of a fresh
//! random key (`rollout_roles.register`), tied to its own backend; the key
//! itself goes only to the work session, as a bound parameter of
//! `rollout_roles.enter`/`leave` (never in SQL text: `pg_stat_activity`
//! and the plugin never see it). Around each plugin call the host grants
//! the runner exactly that plugin's role and switches to it, then switches
//! back and takes the membership back, all in its transaction: the
//! committed catalog never shows the runner a member of anything, a crash
//! leaves nothing, and during a call the runner can become only the
//! current plugin's role. A plugin that leaves its role (RESET ROLE, `SET
//! SESSION AUTHORIZATION DEFAULT` in a granted function) is the runner,
//! which holds nothing, and cannot call `enter` without the key.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

/// 32 random bytes from the kernel; shown nowhere.
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<secret>)")
    }
}

impl Key {
    /// A fresh key (`/dev/urandom`, the kernel's CSPRNG).
    pub fn generate() -> std::io::Result<Key> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Key(bytes))
    }

    /// What the key table holds: its sha256.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0).to_vec()
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

const REGISTER: &str = "SELECT rollout_roles.register($1)";
const UNREGISTER: &str = "SELECT rollout_roles.unregister($1)";
/// Grants the runner the role and switches to it, in one statement (the
/// function's result is the role; its GRANT is seen by `set_config`).
const ENTER_AS: &str = "SELECT pg_catalog.set_config('role', rollout_roles.enter($1, $2), true)";
/// Grants the runner the role, without switching (a check switches inside
/// its read-only savepoint).
const ENTER: &str = "SELECT rollout_roles.enter($1, $2)::text";
const SWITCH: &str = "SELECT pg_catalog.set_config('role', $1, true)";
/// Who the call ended as, and back to the session user (the runner).
const SWITCH_BACK: &str = "SELECT current_user::text, pg_catalog.set_config('role', 'none', true)";
const LEAVE: &str = "SELECT rollout_roles.leave($1)::text";

/// One command's key, registered on its control connection.
pub struct Wall {
    key: Key,
    runner: String,
    /// The control connection's session user (the proof's fixes hand
    /// objects back to it).
    operator: String,
    control: Arc<Client>,
}

impl std::fmt::Debug for Wall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wall").field("runner", &self.runner).finish_non_exhaustive()
    }
}

impl Wall {
    /// A fresh key, registered by the control connection (committed, tied
    /// to its backend for as long as it lives).
    pub async fn register(control: Arc<Client>, runner: &str, operator: &str) -> anyhow::Result<Wall> {
        let key = Key::generate().map_err(|e| anyhow::anyhow!("cannot read random bytes for the key: {e}"))?;
        control
            .query_typed(REGISTER, &[(&key.digest(), Type::BYTEA)])
            .await
            .map_err(|e| anyhow::anyhow!("cannot register the command's key (rollout_roles.register): {e}"))?;
        Ok(Wall { key, runner: runner.to_string(), operator: operator.to_string(), control })
    }

    /// The command ends: its key is deleted (its connection's end would
    /// make it useless anyway).
    pub async fn unregister(&self) {
        let _ = self.control.query_typed(UNREGISTER, &[(&self.key.digest(), Type::BYTEA)]).await;
    }

    /// The login role of the work session.
    pub fn runner(&self) -> &str {
        &self.runner
    }

    /// The control connection's session user.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The runner becomes a member of `role` alone and switches to it, for
    /// the transaction open on `client` (one round trip).
    pub async fn enter_as(&self, client: &Client, role: &str) -> Result<(), Error> {
        client.query_typed(ENTER_AS, &[(&self.key.bytes(), Type::BYTEA), (&role, Type::NAME)]).await.map(|_| ())
    }

    /// The runner becomes a member of `role` alone, still as itself.
    pub async fn enter(&self, client: &Client, role: &str) -> Result<(), Error> {
        client.query_typed(ENTER, &[(&self.key.bytes(), Type::BYTEA), (&role, Type::NAME)]).await.map(|_| ())
    }

    /// The runner is a member of no role again.
    pub async fn leave(&self, client: &Client) -> Result<(), Error> {
        client.query_typed(LEAVE, &[(&self.key.bytes(), Type::BYTEA)]).await.map(|_| ())
    }

    /// Back to the runner and out of the role, sent together (one round
    /// trip); returns who the call ended as. In an aborted transaction
    /// both fail (and the rollback that follows ends both anyway).
    pub async fn switch_back_and_leave(&self, client: &Client) -> Result<String, Error> {
        let key = self.key.bytes();
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 1] = [(&key, Type::BYTEA)];
        let back = client.query_typed(SWITCH_BACK, &[]);
        let leave = client.query_typed(LEAVE, &params);
        let (back, leave) = futures_util::join!(back, leave);
        let user: String = back?.first().map(|r| r.try_get(0)).transpose()?.unwrap_or_default();
        leave?;
        Ok(user)
    }
}

/// Switches the open transaction to `role` (which the session user must be
/// able to become), until [`switch_back`] or the transaction's end.
pub async fn switch(client: &Client, role: &str) -> Result<(), Error> {
    client.query_typed(SWITCH, &[(&role, Type::TEXT)]).await.map(|_| ())
}

/// Back to the session user; returns who the session was until now.
pub async fn switch_back(client: &Client) -> Result<String, Error> {
    let rows = client.query_typed(SWITCH_BACK, &[]).await?;
    rows.first().map(|r| r.try_get(0)).transpose().map(Option::unwrap_or_default)
}
