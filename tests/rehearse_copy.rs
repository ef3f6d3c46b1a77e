//! A rehearsal runs its steps only on the copy: the operator's mark is read
//! from the copy's catalog, never from a setting the client can make (URL
//! options, PGOPTIONS, a role's settings), and every connection of every
//! step stands on the server and database the rehearsal's digests read.

mod support;

use support::rehearsal::*;
use support::*;

/// Production's own URL handed over as the copy's, with the mark supplied
/// the ways a client can: each is refused before any step, and production
/// gets no ledger. The source is a second, unmarked server in the same
/// state, so nothing but the mark tells the two apart.
#[test]
fn a_mark_the_client_supplies_is_no_mark_and_no_step_runs_on_production() {
    let prod = Cluster::start("mark-prod");
    prod.ratify();
    let other = restored(&prod, "mark-other");
    let plan = one_roof();
    let refused = |to: &str, env: &[(&str, &str)], how: &str| {
        let reports = tempfile::tempdir().unwrap();
        let r = rehearse_urls(&prod, &other.url(), to, &plan, &[], reports.path(), env);
        assert_eq!(r.code, 5, "the mark by {how} was taken for the copy's:\n{}", r.all());
        r.expect("--copy-url: database `directus` is not marked as a rehearsal copy");
        assert_eq!(report(reports.path())["steps"].as_array().unwrap().len(), 0, "a step ran ({how})");
        production_untouched(&prod);
        production_untouched(&other);
    };
    // In the URL's options.
    refused(&format!("{} options='-c host.rehearsal_copy=on'", prod.url()), &[], "URL options");
    // In PGOPTIONS (the whole environment's).
    refused(&prod.url(), &[("PGOPTIONS", "-c host.rehearsal_copy=on")], "PGOPTIONS");
    // In a role's settings on production, for every database or for this one.
    prod.psql("ALTER ROLE postgres SET host.rehearsal_copy = on");
    refused(&prod.url(), &[], "ALTER ROLE … SET");
    prod.psql("ALTER ROLE postgres RESET host.rehearsal_copy");
    prod.psql("ALTER ROLE postgres IN DATABASE directus SET host.rehearsal_copy = on");
    refused(&prod.url(), &[], "ALTER ROLE … IN DATABASE … SET");
    // The session did see the setting each time: only the catalog's
    // database-wide setting is the mark.
    assert_eq!(prod.psql("SHOW host.rehearsal_copy"), "on");
    // A step handed production directly refuses it the same way, before
    // its gate, whatever its session's settings say.
    let reports = tempfile::tempdir().unwrap();
    let here = identity(&prod);
    step_run(&prod, &plan, here, reports.path()).expect_code(5).expect("is not marked as a rehearsal copy");
    production_untouched(&prod);
}

/// A pooler-like front with two backends, both marked copies in the same
/// state: the rehearsal reads one, its steps would land on the other,
/// where no digest looks (every rollback would compare equal). Every
/// connection of a step proves where it stands before anything runs on it.
#[test]
fn a_step_whose_connections_land_on_another_server_than_the_digests_read_is_refused() {
    let (prod, copy) = production_and_copy("pin");
    let twin = restored(&prod, "pin-twin");
    twin.psql_in("postgres", "ALTER DATABASE directus SET host.rehearsal_copy = on");
    let plan = one_roof();
    // The rehearsal's own two connections reach the copy; every later one,
    // each step's, the twin.
    let switch = Switch::start(&copy, 2, &twin);
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_urls(&prod, &prod.url(), &switch.url(), &plan, &[], reports.path(), &[]);
    r.expect_code(5)
        .expect("rehearsal refused at `run`: `host run` refused its database")
        .expect("this connection reached another server or database than the copy the rehearsal reads");
    let stored = report(reports.path());
    assert_eq!(stored["steps"].as_array().unwrap().len(), 3, "{stored:#}");
    for c in [&prod, &copy, &twin] {
        production_untouched(c);
    }
    // Only the step's work session, where the plugins run, lands on the
    // twin (its control connection, the third, on the copy): refused too,
    // before any plugin ran anywhere.
    let switch = Switch::start(&copy, 3, &twin);
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_urls(&prod, &prod.url(), &switch.url(), &plan, &[], reports.path(), &[]);
    r.expect_code(5).expect("this connection reached another server or database than the copy the rehearsal reads");
    for c in [&prod, &twin] {
        production_untouched(c);
    }
    assert_eq!(copy.scalar("SELECT count(*) FROM rollout_ledger.tier_event"), 0, "a tier ran on the copy");
    assert_eq!(copy.baseline_line(), BASELINE);
}

/// The rehearsal's own two connections (the snapshot's and the reader's)
/// split apart: refused before any digest.
#[test]
fn a_rehearsal_whose_own_connections_reach_two_servers_is_refused() {
    let (prod, copy) = production_and_copy("split");
    let twin = restored(&prod, "split-twin");
    twin.psql_in("postgres", "ALTER DATABASE directus SET host.rehearsal_copy = on");
    let split = Switch::start(&copy, 1, &twin);
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_urls(&prod, &prod.url(), &split.url(), &one_roof(), &[], reports.path(), &[]);
    r.expect_code(5).expect("the digest's two connections reached different servers or databases");
    assert_eq!(report(reports.path())["steps"].as_array().unwrap().len(), 0);
    for c in [&prod, &copy, &twin] {
        production_untouched(c);
    }
}
