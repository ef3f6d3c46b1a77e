//! The catalog audit: what the target's catalog makes a plan's statements
//! do beyond what they name, read before any plugin runs.
//!
//! A statement names one relation and one function; the catalog decides
//! what else runs and what else changes. Two questions, answered from one
//! read-only snapshot of the catalog in two queries:
//!
//! - **Implicit code** ([`implicit`], `implicit.sql`): objects that make a
//!   plain statement run code that is not built in — a default operator
//!   class, a cast, an operator, a default conversion, an event trigger, a
//!   column type (a domain's checks and default included), a trigger, rule,
//!   policy, default, constraint or index of a relation the plan reaches, or
//!   an index a foreign key's check scans at the key's other end. PostgreSQL does not check EXECUTE on sort
//!   and comparison support functions, type I/O or triggers, so restricted
//!   roles do not stop them. Each is refused until the lock file lists it as
//!   reviewed, by name and by a digest of its definition ([`review`]).
//! - **Reach** ([`reach`], `reach.sql`): every relation a granted write also
//!   changes — partitions and inheritance children, cascading foreign keys,
//!   views' base tables, rules' actions — needs the matching grant in the
//!   same plugin's manifest; read again before each tier, in the catalog
//!   the plan's earlier tiers left ([`plan`]): one plugin's view can carry
//!   another's write past its grants.
//!
//! And after the fact, [`changed`]: every relation whose rows the server
//! counted a tier changing, granted or not.
//!
//! "Built in" means created by initdb: oid below 16384
//! (`FirstNormalObjectId`). An extension's objects have later oids and are
//! not built in, wherever they live; neither is anything a superuser adds to
//! `pg_catalog`.

pub mod changed;
mod definitions;
mod implicit;
pub mod plan;
pub mod reach;
mod review;
mod show;

pub use changed::{Changed, Counts};
pub use implicit::{Implicit, ImplicitKind};
pub use reach::{Hop, Reach, Reached, Unknown};
pub use review::{Reviewed, Verdict};
pub use show::{json, text};

use crate::plan::Plugin;
use anyhow::{Context as _, Result};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// What `host grants` says without `--database-url`.
pub const NEEDS_A_DATABASE: &str = "the catalog audit (code the database runs that no statement names, and the \
     relations the plugins' writes reach) needs a database: add --database-url URL (with --lock, it records the \
     reviewed objects in the lock file, and pins the definitions of the granted functions and views; a lock file \
     written without a database pins their names only)";

/// What the catalog says about a plan, for every plugin of it.
#[derive(Debug, Clone)]
pub struct Audit {
    /// Objects that run code no statement names, each with the plugins that reach it.
    pub implicit: Vec<Implicit>,
    /// Every relation a plugin's writes reach beyond their targets.
    pub reach: Reach,
    /// How long the catalog read took, and in how many queries.
    pub elapsed: Duration,
    pub queries: u32,
}

/// The snapshot the audit reads in: read-only, one view of the catalog
/// for both queries, and `search_path = pg_catalog` so that every
/// definition the server prints qualifies every name outside it. JIT off:
/// the planner's estimates for `implicit.sql` cross `jit_above_cost`, and
/// compiling its ~600 expressions took 8.3 s of a 8.4 s read (measured on
/// the One-Roof baseline, PostgreSQL 15, `jit = on` as shipped).
const BEGIN: &str =
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL search_path = pg_catalog; SET LOCAL jit = off";

/// Reads the audit of `plugins` on `client` (the control connection, or a
/// reviewer's), in a read-only transaction of its own.
pub async fn read(client: &Client, plugins: &[&Plugin]) -> Result<Audit> {
    let started = Instant::now();
    let (implicit, reach) = in_snapshot(client, read_in(client, plugins)).await?;
    Ok(Audit { implicit, reach, elapsed: started.elapsed(), queries: 2 })
}

/// Every relation the writes of `plugins` reach beyond their targets, with
/// the path to each and whether the plugin holds its grant (one query, in
/// a read-only transaction of its own): for a caller that needs only that,
/// e.g. a rehearsal that must look wherever the plan can write.
pub async fn reach(client: &Client, plugins: &[&Plugin]) -> Result<Reach> {
    in_snapshot(client, async { Ok(catalog_of(client, plugins).await?.reach(plugins)) }).await
}

/// `work` inside the audit's snapshot ([`BEGIN`]), ended either way by
/// ROLLBACK: it only read, and a COMMIT on the control connection would
/// read as a step that kept something. BEGIN and `work`'s first query go
/// in one round trip (the connection sends them in order); when BEGIN
/// fails, what `work` read is not used.
async fn in_snapshot<T>(client: &Client, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let (begun, result) = futures_util::join!(client.batch_execute(BEGIN), work);
    if let Err(e) = begun {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(anyhow::Error::new(e).context("cannot begin the catalog audit's read-only snapshot"));
    }
    let ended = client.batch_execute("ROLLBACK").await;
    let value = result?;
    ended.context("cannot end the catalog audit's read-only snapshot")?;
    Ok(value)
}

/// The part of the catalog every relation the plugins name reaches.
async fn catalog_of(client: &Client, plugins: &[&Plugin]) -> Result<reach::Catalog> {
    let named: BTreeSet<String> = plugins.iter().flat_map(|p| granted_relations(p)).collect();
    reach::Catalog::read(client, &named.into_iter().collect::<Vec<_>>())
        .await
        .context("cannot read what the plan's relations reach in the catalog")
}

async fn read_in(client: &Client, plugins: &[&Plugin]) -> Result<(Vec<Implicit>, Reach)> {
    let catalog = catalog_of(client, plugins).await?;
    let mut reach = catalog.reach(plugins);
    plan::credit(&mut reach, plugins);
    let scopes: Vec<(String, BTreeSet<u32>)> = plugins
        .iter()
        .map(|p| (p.manifest.name.clone(), catalog.closure(&granted_relations(p).collect::<Vec<_>>())))
        .collect();
    let all: BTreeSet<u32> = scopes.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    let everyone: Vec<String> = plugins.iter().map(|p| p.manifest.name.clone()).collect();
    let functions: BTreeSet<String> = plugins.iter().flat_map(|p| p.manifest.grants.functions.clone()).collect();
    let functions: Vec<String> = functions.into_iter().collect();
    let implicit = implicit::read(client, &all.into_iter().collect::<Vec<_>>(), &functions, |reached| match reached {
        implicit::Reached::Granted(name) => plugins
            .iter()
            .filter(|p| p.manifest.grants.functions.iter().any(|f| f == name))
            .map(|p| p.manifest.name.clone())
            .collect(),
        implicit::Reached::Relations([]) => everyone.clone(),
        implicit::Reached::Relations(relations) => {
            scopes.iter().filter(|(_, s)| relations.iter().any(|r| s.contains(r))).map(|(p, _)| p.clone()).collect()
        }
    })
    .await
    .context("cannot read the catalog's implicit code")?;
    Ok((implicit, reach))
}

/// Every relation a plugin's grants name: what it reads, writes, creates
/// or drops. Whatever of them exists is where the audit starts.
fn granted_relations(p: &Plugin) -> impl Iterator<Item = String> + '_ {
    let g = &p.manifest.grants;
    g.read.iter().chain(g.writes().map(|(_, r)| r)).cloned()
}

impl Audit {
    /// What the plan may not do as the catalog stands, given what the
    /// lock file says was reviewed (`None`: no lock file).
    pub fn verdict(&self, reviewed: Option<&Reviewed>) -> Verdict {
        Verdict::of(self, reviewed)
    }

    /// Every implicit-code object, as the lock file records it reviewed:
    /// its name and the digest of its definition.
    pub fn reviewable(&self) -> std::collections::BTreeMap<String, String> {
        self.implicit.iter().map(|i| (i.object.clone(), i.digest.clone())).collect()
    }
}
