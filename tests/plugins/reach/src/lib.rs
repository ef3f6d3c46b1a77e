//! Test fixture: a tier whose write reaches past the relations it names,
//! into a schema its grants never mention, and whose rollback undoes only
//! what it named (or that burns sequences towards their bound). Only a
//! digest of the whole database sees what it leaves behind.

use rollout_sdk::{execute, param, Metric, Result};

fn apply() -> Result<()> {
    match param("reach")?.as_str() {
        // Account 1's 50 contacts in crm go with it (ON DELETE CASCADE).
        "cascade" => execute("DELETE FROM shop.account WHERE id = 1")?,
        // A 2025 event lands in crm.event_archive, a partition of shop.event.
        "partition" => execute("INSERT INTO shop.event (at, what) VALUES ('2025-06-01', 'tier 7')")?,
        // Through the view, into crm.note; the view shows only public notes.
        "view" => execute("INSERT INTO shop.public_note (kind, body) VALUES ('internal', 'tier 7 note')")?,
        // The audit trigger logs the change into crm.audit_log.
        "trigger" => execute("UPDATE shop.account SET balance = 10 WHERE id = 2")?,
        "burn" => {
            execute("INSERT INTO shop.ticket (note) SELECT 'tier 7' FROM generate_series(1, 10)")?;
            execute("INSERT INTO shop.batch (note) SELECT 'tier 7' FROM generate_series(1, 40)")?
        }
        _ => 0,
    };
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REACH.equals("applied", "applied")])
}

fn rollback() -> Result<()> {
    match param("reach")?.as_str() {
        // Restores the account exactly, not its contacts.
        "cascade" => execute(
            "INSERT INTO shop.account (id, name, balance) SELECT 1, 'account 1', 0
             WHERE NOT EXISTS (SELECT 1 FROM shop.account WHERE id = 1)",
        )?,
        // Looks where this year's events go.
        "partition" => execute("DELETE FROM shop.event_recent WHERE what = 'tier 7'")?,
        // The view cannot see the internal note: nothing is deleted.
        "view" => execute("DELETE FROM shop.public_note WHERE body = 'tier 7 note'")?,
        // The balance is restored; the trigger logs that too.
        "trigger" => execute("UPDATE shop.account SET balance = 0 WHERE id = 2 AND balance <> 0")?,
        "burn" => {
            execute("DELETE FROM shop.ticket WHERE note = 'tier 7'")?;
            execute("DELETE FROM shop.batch WHERE note = 'tier 7'")?
        }
        _ => 0,
    };
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REACH.equals("rolled back", "rolled back")])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
