//! The SQL each tier sent in a rollout — a run, a rollback, a dry run,
//! and so each step of a rehearsal on its copy — kept in the ledger
//! (append-only table `statement`) so `host inspect --sql PLUGIN` lists it
//! later without running anything: one row per distinct statement
//! ([`Sent`], bounded), and a row `seq = 0` per tier saying how many sends
//! of plain reads were left out (zero when none), so a tier that sent
//! nothing is recorded too, and, when any were, a row `seq = -1` counting
//! the sends of statements that may change rows or schema left out past
//! the listing's bytes. Written with the rollout's close, in the same
//! statement ([`super::finish`]): no round trip of its own, and a rollout
//! that failed or was interrupted records what its tiers sent up to there.

use crate::sql::sent::{Sent, SentStatement, MAX_TEXT};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error};

/// Inserts the rows [`Columns`] holds for rollout `$1`; the rollout's close
/// ([`super::finish`]) runs it as a data-modifying CTE, one statement.
pub(super) const INSERT: &str = "
    INSERT INTO rollout_ledger.statement
        (rollout_id, plugin, ordinal, sha256, seq, sql, params, calls, failed, rows_affected, time_us)
    SELECT $1, u.plugin, u.ordinal, u.sha256, u.seq, u.sql, u.params::jsonb, u.calls, u.failed, u.rows_affected,
           u.time_us
    FROM unnest($5::text[], $6::int4[], $7::text[], $8::int4[], $9::text[], $10::text[], $11::int8[], $12::int8[],
                $13::int8[], $14::int8[])
        AS u (plugin, ordinal, sha256, seq, sql, params, calls, failed, rows_affected, time_us)";
/// The ledger has the table (read-only verbs never upgrade it).
const HAS: &str = "SELECT to_regclass('rollout_ledger.statement') IS NOT NULL";
/// The last rollout (of verb `$2`, any when NULL) that recorded the SQL of
/// the plugin with this sha256.
const LAST: &str = "
    SELECT s.rollout_id, r.verb, r.operator, r.started_at::text, s.plugin, s.ordinal
    FROM rollout_ledger.statement s JOIN rollout_ledger.rollout r ON r.id = s.rollout_id
    WHERE s.sha256 = $1 AND ($2::text IS NULL OR r.verb = $2) ORDER BY s.id DESC LIMIT 1";
const OF: &str = "
    SELECT seq, sql, params::text, calls, failed, rows_affected, time_us FROM rollout_ledger.statement
    WHERE rollout_id = $1 AND sha256 = $2 AND plugin = $3 ORDER BY seq, id";

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What one tier of a rollout sent: the plugin that ran (its name, ordinal
/// and sha256: a reviewed replacement's own) and its statements.
#[derive(Debug, Clone)]
pub struct Listing {
    pub plugin: String,
    pub ordinal: i32,
    pub sha256: String,
    pub sent: Sent,
}

/// The rows of every listing as the columns [`INSERT`] unnests.
#[derive(Default)]
pub(super) struct Columns {
    plugin: Vec<String>,
    ordinal: Vec<i32>,
    sha256: Vec<String>,
    seq: Vec<i32>,
    sql: Vec<Option<String>>,
    params: Vec<String>,
    calls: Vec<i64>,
    failed: Vec<i64>,
    rows: Vec<i64>,
    us: Vec<i64>,
}

impl Columns {
    pub(super) fn of(listings: &[Listing]) -> Columns {
        let mut c = Columns::default();
        for l in listings {
            c.push(l, 0, None, "[]".into(), [int(l.sent.left_out_calls), 0, 0, 0]);
            if l.sent.left_out_changes > 0 {
                c.push(l, -1, None, "[]".into(), [int(l.sent.left_out_changes), 0, 0, 0]);
            }
            for (i, s) in l.sent.statements.iter().enumerate() {
                let seq = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let sql = Some(super::storable(&s.sql).into_owned());
                let params = super::storable_json(serde_json::Value::from(s.params.clone())).to_string();
                c.push(l, seq, sql, params, [int(s.calls), int(s.failed), int(s.rows), int(s.time_us)]);
            }
        }
        c
    }

    fn push(
        &mut self,
        l: &Listing,
        seq: i32,
        sql: Option<String>,
        params: String,
        [calls, failed, rows, us]: [i64; 4],
    ) {
        self.plugin.push(super::storable(&l.plugin).into_owned());
        self.ordinal.push(l.ordinal);
        self.sha256.push(l.sha256.clone());
        self.seq.push(seq);
        self.sql.push(sql);
        self.params.push(params);
        self.calls.push(calls);
        self.failed.push(failed);
        self.rows.push(rows);
        self.us.push(us);
    }

    /// Parameters `$5` to `$14` of [`INSERT`].
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.plugin,
            &self.ordinal,
            &self.sha256,
            &self.seq,
            &self.sql,
            &self.params,
            &self.calls,
            &self.failed,
            &self.rows,
            &self.us,
        ]
    }
}

/// The SQL the plugin with `sha256` sent in the last rollout that recorded it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub rollout_id: i64,
    /// The rollout's verb: `run`, `rollback` or `dry_run`.
    pub verb: String,
    pub operator: String,
    pub started_at: String,
    pub plugin: String,
    pub ordinal: i32,
    pub sent: Sent,
}

/// What the ledger recorded of the plugin with `sha256` in its last rollout
/// of `verb` (its ledger name; any verb when `None`), if anything.
pub async fn last(client: &Client, sha256: &str, verb: Option<&str>) -> Result<Option<Recorded>, Error> {
    if !super::exists(client).await? || !client.query_one(HAS, &[]).await?.get::<_, bool>(0) {
        return Ok(None);
    }
    let Some(r) = client.query_opt(LAST, &[&sha256, &verb]).await? else {
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
