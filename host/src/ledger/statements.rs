//! The SQL a tier sent in a dry run, kept in the ledger (append-only table
//! `statement`) so `host inspect --sql PLUGIN` lists it later without
//! running anything: one row per distinct statement ([`Sent`], bounded),
//! and a row `seq = 0` per tier saying how many sends of plain reads were
//! left out (zero when none), so a tier that sent nothing is recorded too,
//! and, when any were, a row `seq = -1` counting the sends of statements
//! that may change rows or schema left out past the listing's bytes.

use crate::sql::sent::{Sent, SentStatement, MAX_TEXT};
use tokio_postgres::{Client, Error};

const INSERT: &str = "
    INSERT INTO rollout_ledger.statement
        (rollout_id, plugin, ordinal, sha256, seq, sql, params, calls, failed, rows_affected, time_us)
    SELECT $1, $2, $3, $4, u.seq, u.sql, u.params::jsonb, u.calls, u.failed, u.rows_affected, u.time_us
    FROM unnest($5::int4[], $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])
        AS u (seq, sql, params, calls, failed, rows_affected, time_us)";
/// The ledger has the table (read-only verbs never upgrade it).
const HAS: &str = "SELECT to_regclass('rollout_ledger.statement') IS NOT NULL";
/// The last rollout that recorded the SQL of the plugin with this sha256.
const LAST: &str = "
    SELECT s.rollout_id, r.verb, r.operator, r.started_at::text, s.plugin, s.ordinal
    FROM rollout_ledger.statement s JOIN rollout_ledger.rollout r ON r.id = s.rollout_id
    WHERE s.sha256 = $1 ORDER BY s.id DESC LIMIT 1";
const OF: &str = "
    SELECT seq, sql, params::text, calls, failed, rows_affected, time_us FROM rollout_ledger.statement
    WHERE rollout_id = $1 AND sha256 = $2 AND plugin = $3 ORDER BY seq, id";

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records what one tier of rollout `rollout_id` sent.
pub async fn record(
    client: &Client,
    rollout_id: i64,
    (plugin, ordinal, sha256): (&str, i32, &str),
    sent: &Sent,
) -> Result<(), Error> {
    let mut seq = vec![0i32];
    let mut sql: Vec<Option<String>> = vec![None];
    let mut params = vec!["[]".to_string()];
    let (mut calls, mut failed) = (vec![int(sent.left_out_calls)], vec![0i64]);
    let (mut rows, mut us) = (vec![0i64], vec![0i64]);
    if sent.left_out_changes > 0 {
        seq.push(-1);
        sql.push(None);
        params.push("[]".to_string());
        calls.push(int(sent.left_out_changes));
        failed.push(0);
        rows.push(0);
        us.push(0);
    }
    for (i, s) in sent.statements.iter().enumerate() {
        seq.push(i32::try_from(i + 1).unwrap_or(i32::MAX));
        sql.push(Some(super::storable(&s.sql).into_owned()));
        let json = serde_json::Value::from(s.params.clone());
        params.push(super::storable_json(json).to_string());
        calls.push(int(s.calls));
        failed.push(int(s.failed));
        rows.push(int(s.rows));
        us.push(int(s.time_us));
    }
    let plugin = super::storable(plugin);
    client
        .execute(
            INSERT,
            &[&rollout_id, &plugin.as_ref(), &ordinal, &sha256, &seq, &sql, &params, &calls, &failed, &rows, &us],
        )
        .await
        .map(|_| ())
}

/// The SQL the plugin with `sha256` sent in the last rollout that recorded it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub rollout_id: i64,
    /// `dry_run`.
    pub verb: String,
    pub operator: String,
    pub started_at: String,
    pub plugin: String,
    pub ordinal: i32,
    pub sent: Sent,
}

/// What the ledger recorded of the plugin with `sha256`, if anything.
pub async fn last(client: &Client, sha256: &str) -> Result<Option<Recorded>, Error> {
    if !super::exists(client).await? || !client.query_one(HAS, &[]).await?.get::<_, bool>(0) {
        return Ok(None);
    }
    let Some(r) = client.query_opt(LAST, &[&sha256]).await? else {
        return Ok(None);
    };
    let mut found = Recorded {
        rollout_id: r.try_get(0)?,
        verb: r.try_get(1)?,
        operator: r.try_get(2)?,
        started_at: r.try_get(3)?,
        plugin: r.try_get(4)?,
        ordinal: r.try_get(5)?,
        sent: Sent::default(),
    };
    for row in client.query(OF, &[&found.rollout_id, &sha256, &found.plugin]).await? {
        let u = |i| row.try_get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        match row.try_get::<_, Option<String>>(1)? {
            None if row.try_get::<_, i32>(0)? < 0 => found.sent.left_out_changes += u(3)?,
            None => found.sent.left_out_calls += u(3)?,
            Some(sql) => {
                let params: String = row.try_get(2)?;
                let params = serde_json::from_str(&params).unwrap_or_default();
                // A text at the bound was cut when recorded.
                let cut = sql.len() >= MAX_TEXT;
                let statement =
                    SentStatement { sql, params, calls: u(3)?, failed: u(4)?, rows: u(5)?, time_us: u(6)?, cut };
                found.sent.statements.push(statement);
            }
        }
    }
    Ok(Some(found))
}
