//! Which databases a rehearsal may read and change: the source and the copy
//! told apart, the copy marked by its operator in its catalog, and every
//! connection, the rehearsal's own and each step's, pinned to the copy's
//! server identity ([`crate::rehearsal_copy`]).

use crate::digest::Reader;
use crate::error::Failure;
use crate::rehearsal_copy::{self, Identity};
use std::sync::Arc;
use tokio_postgres::Client;

/// The two connections a digest of `url` reads on, proven to stand on one
/// server and database; `read_only` for the source.
pub async fn connect(url: &str, name: &str, read_only: bool) -> Result<Reader, Failure> {
    let target = crate::db::Target::new(Some(url)).map_err(Failure::Plan)?;
    let holder = target.connect(&format!("{name}, snapshot")).await.map_err(Failure::Database)?;
    let reader = target.connect(name).await.map_err(Failure::Database)?;
    if read_only {
        for c in [&holder, &reader] {
            c.batch_execute("SET default_transaction_read_only = on").await?;
        }
    }
    Reader::pair(holder, reader).await.map_err(|e| Failure::WrongDatabase(format!("{e:#}")))
}

/// Refuses a copy that is the source itself, a copy under another database
/// name, a copy its operator did not mark as one in its catalog, and a
/// source that is marked: a rehearsal runs and rolls back the plan again
/// and again, so it runs only on a database that is certainly not
/// production.
pub async fn same_database_refused(source: &Reader, copy: &Reader) -> Result<(), Failure> {
    let (s, c) = (database(source.session()).await?, database(copy.session()).await?);
    if source.server == copy.server {
        return Err(Failure::Plan(anyhow::anyhow!(
            "--copy-url reaches the source database itself (database {s}, {}): a rehearsal runs and rolls back the \
             plan again and again, so it runs only on a copy; restore a copy (pg_dump, a snapshot) on another server \
             and name it with --copy-url",
            source.server
        )));
    }
    if s != c {
        return Err(Failure::Plan(anyhow::anyhow!(
            "the copy's database is named `{c}`, the source's `{s}`: the plugins' identity guard allows the source's \
             name, so restore the copy under that name (on another server)"
        )));
    }
    // Two databases in the same state look alike both ways: only the
    // operator's mark, in the catalog, says which one is the copy.
    if !rehearsal_copy::is_marked(copy.session()).await? {
        return Err(Failure::WrongDatabase(format!("--copy-url: {}", rehearsal_copy::unmarked(&c))));
    }
    if rehearsal_copy::is_marked(source.session()).await? {
        return Err(Failure::WrongDatabase(format!(
            "--from: database `{s}` there is marked as a rehearsal copy ({}), so it is not production: check that \
             --from and --copy-url are not swapped",
            rehearsal_copy::COPY_MARK
        )));
    }
    Ok(())
}

/// A state read on the copy must have been read where the steps run.
pub fn pinned(read_on: &Identity, copy: &Identity) -> Result<(), Failure> {
    if read_on == copy {
        return Ok(());
    }
    Err(Failure::WrongDatabase(format!(
        "the copy's state was read on another server or database ({read_on}) than the copy the steps are pinned to \
         ({copy}): point --copy-url at the copy's server alone"
    )))
}

async fn database(client: &Arc<Client>) -> Result<String, Failure> {
    crate::db::current_database(client).await.map_err(Failure::Database)
}
