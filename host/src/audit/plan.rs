//! The plan's plugins together: what one plugin's DDL makes another's
//! granted write reach.
//!
//! Each plugin's statements pass its own check, and the catalog audit
//! reads the catalog as it stands before any plugin runs. But a view one
//! plugin creates over tables it may read, a cascading key it adds onto
//! another's table, or a child table it hangs under one, makes a later
//! plugin's granted write change relations that plugin was never granted
//! (PostgreSQL writes a view's base table as the view's owner, so no
//! privilege of the writer is asked). So the reach of a tier's writes is
//! read again just before it runs, in the catalog the earlier tiers left
//! (committed, or the dry run's one open transaction), with the same walk
//! as the audit's ([`super::reach`]); every path is credited to the other
//! plugins whose `create` or `alter` grant names a relation on it.

use super::{catalog_of, in_snapshot, Reach, Reached};
use crate::plan::Plugin;
use anyhow::{Context as _, Result};
use tokio_postgres::Client;

/// Where [`reach_now`] reads the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// In a read-only transaction of its own (a connection outside any).
    Snapshot,
    /// Inside the transaction open on the connection (a dry run's), in a
    /// savepoint rolled back after.
    Open,
}

/// The savepoint [`Within::Open`] reads in; a plugin cannot name it (the
/// checker refuses transaction control). Its `SET LOCAL`s go with it.
const SAVEPOINT: &str = "SAVEPOINT rollout_host_reach; SET LOCAL search_path = pg_catalog; SET LOCAL jit = off";
const RESTORE: &str = "ROLLBACK TO SAVEPOINT rollout_host_reach; RELEASE SAVEPOINT rollout_host_reach";

/// Credits each path of `reach` to the other plugins of `plan` whose
/// `create` or `alter` grant names a relation on it.
pub fn credit(reach: &mut Reach, plan: &[&Plugin]) {
    for r in &mut reach.reached {
        r.made_by = plan
            .iter()
            .filter(|p| p.manifest.name != r.plugin && !made(p, r).is_empty())
            .map(|p| p.manifest.name.clone())
            .collect();
    }
}

/// The relations on `r`'s path (its start included) that `p`'s `create`
/// or `alter` grant names.
fn made<'a>(p: &Plugin, r: &'a Reached) -> Vec<&'a str> {
    let g = &p.manifest.grants;
    std::iter::once(r.from.as_str())
        .chain(r.path.iter().map(|h| h.to.as_str()))
        .filter(|rel| g.create.iter().chain(&g.alter).any(|c| c == rel))
        .collect()
}

/// Whether `tier`'s writes may reach further than the audit read before
/// the plan began: a plugin ordered before it holds a `create` or `alter`
/// grant, so the catalog may have changed under the plan.
pub fn may_have_moved(tier: &Plugin, plan: &[&Plugin]) -> bool {
    plan.iter().any(|p| {
        let g = &p.manifest.grants;
        p.ordinal() < tier.ordinal() && (!g.create.is_empty() || !g.alter.is_empty())
    })
}

/// What `tier`'s granted writes reach in the catalog on `client` now,
/// each path credited to the plugins of `plan` that made it.
pub async fn reach_now(client: &Client, tier: &Plugin, plan: &[&Plugin], within: Within) -> Result<Reach> {
    let read = async {
        let mut reach = catalog_of(client, &[tier]).await?.reach(&[tier]);
        credit(&mut reach, plan);
        Ok(reach)
    };
    match within {
        Within::Snapshot => in_snapshot(client, read).await,
        Within::Open => {
            client.batch_execute(SAVEPOINT).await.context("cannot open the reach check's savepoint")?;
            let result = read.await;
            let ended = client.batch_execute(RESTORE).await;
            let reach = result?;
            ended.context("cannot end the reach check's savepoint")?;
            Ok(reach)
        }
    }
}

/// Why `tier` may not run, when its writes reach what no grant of it
/// names (or what the host cannot read): one line, every path, each with
/// the plugins whose DDL made it. `None` when every path is granted.
pub fn refusal(tier: &Plugin, reach: &Reach, plan: &[&Plugin]) -> Option<String> {
    let ungranted: Vec<&Reached> = reach.reached.iter().filter(|r| !r.granted).collect();
    if ungranted.is_empty() && reach.unknown.is_empty() {
        return None;
    }
    let name = &tier.manifest.name;
    let mut parts = Vec::new();
    for r in &ungranted {
        let mut line = format!("{} needs {} in plugin {name}", r.path_text(), r.grant_line());
        for maker in plan.iter().filter(|p| r.made_by.contains(&p.manifest.name)) {
            line.push_str(&format!(
                " ({} is what plugin {} may create or alter)",
                made(maker, r).join(", "),
                maker.manifest.name
            ));
        }
        parts.push(line);
    }
    for u in &reach.unknown {
        parts.push(format!("what it writes through {} reaches: {}", u.relation, u.why));
    }
    let makers: std::collections::BTreeSet<&str> =
        ungranted.iter().flat_map(|r| r.made_by.iter().map(String::as_str)).collect();
    let together = match makers.is_empty() {
        true => "the catalog changed since the audit read it before the plan".to_string(),
        false => format!(
            "each plugin passed its own check, but together with {} its write would change relations no grant of \
             {name} names",
            makers.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Some(crate::text::terminal(&format!(
        "refused before it ran: in the catalog the plan's earlier tiers left, its writes reach past its grants: {}; \
         {together}. Grant {name} those writes (a reviewed change of its manifest), or change what the other \
         plugin makes",
        parts.join("; ")
    )))
}
