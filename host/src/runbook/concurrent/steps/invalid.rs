//! The INVALID index an interrupted step leaves: read from the catalog,
//! judged whose it is (a table the tier may index, a step of this plugin's
//! name and sha256 that never finished), and dropped, or named with the
//! statement that drops it when it is not the host's to drop.

use super::Owner;
use crate::quote;
use crate::report::Reporter;
use tokio_postgres::Client;

const UNFINISHED: &str = include_str!("../step_unfinished.sql");
const INDEX: &str = include_str!("../step_index.sql");

/// The indexes a concurrent tier may drop: those of the tables its `index`
/// grant names, and those its `drop` grant names.
pub(crate) struct Reach {
    pub tables: Vec<String>,
    pub indexes: Vec<String>,
}

impl Reach {
    pub(super) fn covers(&self, i: &Index) -> bool {
        self.tables.contains(&i.table) || self.indexes.contains(&format!("{}.{}", i.schema, i.name))
    }
}

/// An index as the catalog has it.
pub(super) struct Index {
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) valid: bool,
    /// Another backend building it now (0: none).
    pub(super) builder: i32,
    /// Its table, `schema.name`.
    pub(super) table: String,
    pub(super) oid: i64,
}

pub(super) async fn index(client: &Client, object: &str) -> Result<Option<Index>, tokio_postgres::Error> {
    let row = client.query_opt(INDEX, &[&object]).await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Index {
        schema: r.try_get(0)?,
        name: r.try_get(1)?,
        valid: r.try_get(2)?,
        builder: r.try_get(3)?,
        table: r.try_get(4)?,
        oid: r.try_get(5)?,
    }))
}

/// The host's own statement that drops `i`, every name quoted.
pub(super) fn drop_statement(i: &Index) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {}.{}", quote::ident(&i.schema), quote::ident(&i.name))
}

/// An INVALID index another backend is building now: not the host's to drop.
pub(super) fn still_building(object: &str, i: &Index) -> String {
    format!(
        "index {object} is INVALID and server process {} is still building it (a statement of an earlier host the \
         server has not ended yet); wait for it or end it with SELECT pg_cancel_backend({}), then run again (or \
         run `{}` yourself)",
        i.builder,
        i.builder,
        drop_statement(i)
    )
}

/// An INVALID index of the step's name on a table the plugin may not
/// index, and not one its `drop` grant names: not the host's to drop.
pub(super) fn not_ours(object: &str, i: &Index) -> String {
    format!(
        "an INVALID index {object} exists on {}, a table this tier's `index` grant does not name; the host drops \
         only what the tier may index: rename the tier's index, or drop that one yourself (`{}`) if it is yours",
        crate::text::terminal(&i.table),
        drop_statement(i)
    )
}

/// An INVALID index of the step's name that this plugin's steps did not
/// leave (production's, another plugin's, other bytes of this name's): not
/// the host's to drop.
pub(super) fn not_left(object: &str, i: &Index, owner: &Owner) -> String {
    format!(
        "an INVALID index {object} exists that no unfinished step of {} (sha256 {}) left (the ledger's \
         rollout_ledger.step): production, another plugin or other bytes of this plugin built it, so the host does \
         not drop it; rename the tier's index, or drop that one yourself (`{}`) if it is not needed",
        crate::text::terminal(&owner.plugin),
        owner.sha256,
        drop_statement(i)
    )
}

/// Drops `object` when it is an INVALID index on one of `tables`,
/// reporting it; a valid one (or none) is left as it is. The error says
/// what is left and the statement that drops it.
pub(super) async fn drop_invalid(
    client: &Client,
    reporter: &Reporter,
    object: &str,
    tables: &Reach,
) -> Result<(), String> {
    let found =
        index(client, object).await.map_err(|e| format!("cannot read index {object}: {}", crate::db::why(&e)))?;
    let Some(i) = found.filter(|i| !i.valid) else { return Ok(()) };
    if !tables.covers(&i) {
        return Err(not_ours(object, &i));
    }
    let drop = drop_statement(&i);
    if i.builder != 0 {
        return Err(still_building(object, &i));
    }
    match client.batch_execute(&drop).await {
        Ok(()) => {
            reporter
                .status("Recovered", &format!("dropped INVALID index {object} left by an interrupted step: {drop}"));
            Ok(())
        }
        Err(e) => Err(format!("INVALID index {object} is left; cannot drop it ({}); run `{drop}`", crate::db::why(&e))),
    }
}

/// Before a concurrent tier's apply or rollback: every index this plugin's
/// steps (its name and sha256) started and never finished (any earlier
/// rollout) that is INVALID now is dropped. The ledger is read on
/// `control`, the catalog on `work`.
pub(crate) async fn recover(
    control: &Client,
    work: &Client,
    reporter: &Reporter,
    (plugin, sha256): (&str, &str),
    tables: &Reach,
) -> Result<(), String> {
    let rows = control
        .query(UNFINISHED, &[&plugin, &sha256])
        .await
        .map_err(|e| format!("cannot read {plugin}'s unfinished steps from the ledger: {}", crate::db::why(&e)))?;
    for row in rows {
        let object: String = row.try_get(0).map_err(|e| format!("ledger step object: {e}"))?;
        drop_invalid(work, reporter, &object, tables).await?;
    }
    Ok(())
}
