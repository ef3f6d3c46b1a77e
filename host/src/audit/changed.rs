//! What a tier changed, as the server counted it: the rows each relation
//! gained, lost or had updated in the current transaction (what
//! `pg_stat_xact_user_tables` shows), read before and after the tier's
//! apply. A
//! statement names one relation; a cascade, a partition, a view's base
//! table, a rule or a trigger changes others, and only the server's own
//! counts name them all. Each relation is flagged when no grant of the
//! plugin names that change.

use crate::manifest::Grants;
use crate::sql::check::Op;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// Per relation, this transaction's inserted, updated and deleted rows so
/// far (an update that moves a row to another partition counts as a delete
/// and an insert; a HOT update is counted as an update too): the columns
/// `n_tup_ins`, `n_tup_upd`, `n_tup_del` of `pg_stat_xact_user_tables`,
/// read with the view's own functions and filter, without its aggregate
/// over every index (3× slower with 10,000 tables: 60 ms a read). The
/// host's own schemas are left out: under roles its role wall writes
/// `rollout_roles.entry` around every call, which no plugin did. The
/// counts are taken only for the relations past the schema filter (`OFFSET
/// 0` keeps the planner from calling them for every catalog table first,
/// once per schema: 0.38 ms of execution became 0.18); a batch reads them
/// twice.
const COUNTS: &str = "
    SELECT name, ins, upd, del FROM (
        SELECT n.nspname || '.' || c.relname AS name, pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid) AS ins,
               pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) AS upd,
               pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid) AS del
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 't', 'm', 'p')
          AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'rollout_ledger', 'rollout_roles'])
          AND n.nspname !~ '^pg_toast'
        OFFSET 0) counted
    WHERE ins + upd + del > 0";

/// The server's counts at one moment of a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(BTreeMap<String, [i64; 3]>);

/// What one relation's rows did between two moments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changed {
    pub relation: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// The changes no grant of the plugin names (`insert`, `update`,
    /// `delete`): reached through the catalog, past what it may write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_granted: Vec<Op>,
}

impl Counts {
    /// Reads them on `client`, inside the transaction they count.
    pub async fn read(client: &Client) -> Result<Counts> {
        // Typed, with no separate prepare: one round trip, one statement.
        Counts::from_rows(&client.query_typed(COUNTS, &[]).await?)
    }

    /// The read's SQL, for a caller that keeps it prepared (a batch's).
    pub const SQL: &'static str = COUNTS;

    /// The counts from the rows of [`Counts::SQL`].
    pub fn from_rows(rows: &[tokio_postgres::Row]) -> Result<Counts> {
        let mut out = BTreeMap::new();
        for row in rows {
            out.insert(row.try_get(0)?, [row.try_get(1)?, row.try_get(2)?, row.try_get(3)?]);
        }
        Ok(Counts(out))
    }

    /// What changed from `before` to `self`, judged against `grants`.
    pub fn since(&self, before: &Counts, grants: &Grants) -> Vec<Changed> {
        let mut out = Vec::new();
        for (relation, now) in &self.0 {
            let was = before.0.get(relation).copied().unwrap_or_default();
            let d = |i: usize| now[i].saturating_sub(was[i]).max(0) as u64;
            let (inserted, updated, deleted) = (d(0), d(1), d(2));
            if inserted + updated + deleted == 0 {
                continue;
            }
            let mut not_granted = Vec::new();
            for (rows, op, list) in [
                (inserted, Op::Insert, &grants.insert),
                (updated, Op::Update, &grants.update),
                (deleted, Op::Delete, &grants.delete),
            ] {
                if rows > 0 && !list.contains(relation) {
                    not_granted.push(op);
                }
            }
            out.push(Changed { relation: relation.clone(), inserted, updated, deleted, not_granted });
        }
        out
    }
}

impl Changed {
    /// Rows by operation, non-zero ones only: `(Op::Delete, 50)`.
    pub fn by_op(&self) -> impl Iterator<Item = (Op, u64)> {
        [(Op::Insert, self.inserted), (Op::Update, self.updated), (Op::Delete, self.deleted)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_moved_is_reported_and_each_change_no_grant_names_is_flagged() {
        let before = Counts([("a.t".to_string(), [1, 0, 0]), ("a.same".to_string(), [5, 5, 5])].into());
        let after = Counts(
            [("a.t".to_string(), [3, 0, 0]), ("a.same".to_string(), [5, 5, 5]), ("crm.child".to_string(), [0, 2, 50])]
                .into(),
        );
        let grants = Grants { insert: vec!["a.t".into()], delete: vec!["crm.child".into()], ..Default::default() };
        let changed = after.since(&before, &grants);
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert_eq!((changed[0].relation.as_str(), changed[0].inserted, changed[0].deleted), ("a.t", 2, 0));
        assert!(changed[0].not_granted.is_empty());
        assert_eq!(changed[1].relation, "crm.child");
        assert_eq!(changed[1].not_granted, vec![Op::Update]);
        assert_eq!(changed[1].by_op().collect::<Vec<_>>(), vec![(Op::Update, 2), (Op::Delete, 50)]);
    }
}
