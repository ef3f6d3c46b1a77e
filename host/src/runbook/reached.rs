//! Before each tier: what its granted writes reach in the catalog the
//! plan's earlier tiers left ([`crate::audit::plan`]). The catalog audit
//! read the catalog before any plugin ran; a view an earlier tier created
//! can carry this tier's write to tables no grant of it names, though
//! each plugin passed its own check. Such a tier is refused before any of
//! it runs, naming the paths and the plugins that made them.

use super::context::Context;
use super::control::Control;
use super::tier::{ledger_event, tier_row, TierRecord};
use crate::audit::plan::{self, Within};
use crate::error::Failure;
use crate::plan::{Plan, Plugin};
use crate::sandbox::Call;
use tokio_postgres::Client;

/// Refuses `tier` when its writes reach past its grants in the catalog on
/// `client` as it stands now; nothing to read when no earlier plugin of
/// the plan may create or alter anything.
pub(super) async fn check(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Client,
    within: Within,
) -> Result<(), Failure> {
    let all: Vec<&Plugin> = plan.all().collect();
    if !plan::may_have_moved(tier, &all) {
        return Ok(());
    }
    let reach = plan::reach_now(client, tier, &all, within)
        .await
        .map_err(|e| Failure::Database(e.context(format!("cannot read what {} writes reach", tier.label()))))?;
    match plan::refusal(tier, &reach, &all) {
        None => Ok(()),
        Some(cause) => {
            ctx.reporter().status("Refused", &format!("{} — its writes reach past its grants", tier.label()));
            Err(Failure::TierFailed { label: tier.label(), cause })
        }
    }
}

/// A run's tier refused by [`check`]: its ledger row and report row say
/// so; nothing of it ran.
pub(super) async fn refused(
    ctx: &Context,
    control: &Control,
    rollout_id: i64,
    tier: &Plugin,
    failure: Failure,
) -> Failure {
    let (event, message) = (failure.event(), failure.to_string());
    control.record_failure(&ledger_event(rollout_id, tier, event, 0, &Default::default(), Some(&message))).await;
    let mut row = tier_row(tier, Call::Apply, event, 0, &TierRecord::default());
    row.message = Some(message);
    ctx.reporter().add_tier(row);
    failure
}
