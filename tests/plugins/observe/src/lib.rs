//! Session fixture: a probe that looks for anything an earlier plugin left
//! on the session (tests/session.rs).

use rollout_sdk::{count, scalar, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    let pid: i32 = scalar("SELECT pg_backend_pid()")?;
    let setting: String = scalar("SELECT coalesce(current_setting('leak.setting', true), '')")?;
    let locks =
        count("SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")?;
    // The rollout lock ("TIER"), held by another session: the host's control connection.
    let rollout_lock = count(
        "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objid = 1414088018 AND granted \
         AND pid <> pg_backend_pid()",
    )?;
    let temp: String = scalar("SELECT coalesce(to_regclass('pg_temp.leaked_temp')::text, 'absent')")?;
    let listening = count("SELECT count(*) FROM pg_listening_channels()")?;
    let prepared = count("SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql")?;
    let role: String =
        scalar("SELECT CASE WHEN current_user = session_user THEN 'session user' ELSE current_user::text END")?;
    let timeout: String = scalar("SELECT current_setting('statement_timeout')")?;
    let application: String = scalar("SELECT current_setting('application_name')")?;
    // The host's own name for its connection (`host apply by …`), not one a plugin set.
    let own_name = application.starts_with("host ") && application.contains(" by ");
    Ok(vec![
        metric::BACKEND.info(pid),
        metric::SETTING.equals("", setting),
        metric::ADVISORY_LOCKS.equals(0, locks),
        metric::ROLLOUT_LOCK.equals(1, rollout_lock),
        metric::TEMP_TABLE.equals("absent", temp),
        metric::LISTENING.equals(0, listening),
        metric::PREPARED.equals(0, prepared),
        metric::ROLE.equals("session user", role),
        metric::STATEMENT_TIMEOUT.equals("7s", timeout),
        metric::APPLICATION.holds("host … by …", &application, own_name),
    ])
}

rollout_sdk::check! { check: check }
