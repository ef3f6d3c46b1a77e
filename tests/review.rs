//! Issue 8 under attack: a COMMIT still running on the server when its
//! answer is lost or its host is gone, a host that lost its control
//! connection (and with it the rollout lock), and checks that write through
//! a granted function. Real server, real binary, real plugins.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::proxy::Proxy;
use support::*;

/// A parent row an application holds, and a table whose foreign key to it
/// is checked only at COMMIT; a function that writes.
const SETUP: &str = "
    CREATE TABLE public.parent (id int PRIMARY KEY); INSERT INTO public.parent VALUES (1);
    CREATE TABLE public.child (parent_id int REFERENCES public.parent DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE public.sneaked (n int);
    CREATE FUNCTION public.sneak() RETURNS int LANGUAGE sql AS 'INSERT INTO public.sneaked VALUES (1) RETURNING 1';";

fn via(c: &Cluster, proxy: &Proxy, a: &[&str]) -> Command {
    proxy.host_cmd(c, a)
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An application session holding the parent row (FOR UPDATE) for a minute.
fn hold_parent(c: &Cluster) -> Child {
    let child = c
        .psql_cmd()
        .arg("-c")
        .arg("BEGIN; SELECT id FROM public.parent WHERE id = 1 FOR UPDATE; SELECT pg_sleep(60);")
        .env("PGAPPNAME", "parent-locker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the parent row lock", 20, || {
        c.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'parent-locker' AND query LIKE '%pg_sleep%'") == 1
    });
    child
}

fn release_parent(c: &Cluster, mut locker: Child) {
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parent-locker'");
    let _ = locker.wait();
}

/// No backend of any host's tier transaction is left on the server.
fn tiers_done(c: &Cluster) {
    wait_until("the tier's backend to end", 30, || {
        c.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host apply%' AND state <> 'idle'")
            == 0
    });
}

fn rollout_lock_free(c: &Cluster) {
    wait_until("the rollout lock to be released", 20, || {
        c.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 1414087762 AND granted") == 0
    });
}

#[test]
fn a_lost_commit_answer_is_never_said_uncommitted_while_that_commit_still_runs() {
    let c = Cluster::start("rv-inflight");
    c.ratify();
    c.psql(SETUP);
    let locker = hold_parent(&c);
    let plan = plan_with(None, &["tests/plugins/sly.wasm"]);
    // COMMITs of a run: tiers 0..6, then tier 7 (the fixture): the 8th. Only
    // that connection loses its way back; the control connection lives.
    let proxy = Proxy::start_one(&c.dir, 8);
    let r =
        Run::from(via(&c, &proxy, &args("run", &plan, &["--param", APR, "--param", "sly=defer"])).output().unwrap());
    assert!(proxy.has_cut(), "the proxy never saw the 8th COMMIT:\n{}", r.all());
    r.expect_code(8);
    // The application lets go of its row: the COMMIT that was waiting on it goes through.
    release_parent(&c, locker);
    tiers_done(&c);
    let applied =
        c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE plugin = 'test-sly' AND event = 'applied'");
    let rows = c.scalar("SELECT count(*) FROM public.child");
    assert_eq!((applied, rows), (1, 1), "the server committed tier 7 and its ledger row:\n{}", r.all());
    assert!(
        !r.all().contains("nothing of it was kept"),
        "the host said tier 7 was not kept, and the ledger (and the data) say it was:\n{}",
        r.all()
    );
}

#[test]
fn status_never_settles_a_rollout_whose_commit_still_runs_on_the_server() {
    let c = Cluster::start("rv-settle-inflight");
    c.ratify();
    c.psql(SETUP);
    let locker = hold_parent(&c);
    let plan = plan_with(None, &["tests/plugins/sly.wasm"]);
    let mut host = c.spawn(&args("run", &plan, &["--param", APR, "--param", "sly=defer"]));
    // The host's COMMIT query (its gate, then COMMIT) waits on the row.
    wait_until("tier 7's COMMIT to wait on the parent row", 60, || {
        c.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host apply%' AND query LIKE '/* host: COMMIT behind its gate */%' AND wait_event_type = 'Lock'") == 1
    });
    // The host is killed (OOM, kill -9, its machine lost) while the server works on its COMMIT.
    host.kill().unwrap();
    let _ = host.wait();
    rollout_lock_free(&c);
    let st = c.host(&["status"]);
    release_parent(&c, locker);
    tiers_done(&c);
    let states = c.tier_states();
    assert!(states.contains("test-sly=applied"), "the server committed tier 7: {states}");
    assert!(
        !st.stdout.contains("Settled rollout 1") || st.stdout.contains("test-sly"),
        "status settled rollout 1 as 'anything else of it did not commit' while its tier 7 was committing:\n{}",
        st.all()
    );
}

#[test]
fn a_host_that_lost_its_rollout_lock_commits_no_tier_of_a_settled_rollout() {
    let c = Cluster::start("rv-control-lost");
    c.ratify();
    let plan = plan_with(None, &["tests/plugins/sly.wasm"]);
    let host = c.spawn(&args("run", &plan, &["--param", APR, "--param", "sly=sleep"]));
    wait_until("tier 7 to sleep", 60, || {
        c.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host apply%' AND query LIKE '%pg_sleep%'") == 1
    });
    // The control connection alone dies (a DBA's pg_terminate_backend, an
    // idle-session timeout, a middlebox); the rollout lock goes with it.
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'host run by%'");
    rollout_lock_free(&c);
    let st = c.host(&["status"]);
    let out = host.wait_with_output().unwrap();
    let r = Run::from(out);
    let settled = st.stdout.contains("Settled rollout 1");
    let states = c.tier_states();
    assert!(
        !(settled && states.contains("test-sly=applied")),
        "status settled rollout 1 ({}), then its live host committed tier 7: {states}\nhost:\n{}",
        st.stdout,
        r.all()
    );
    assert_eq!(r.code, 8, "a lost control connection is a lost connection:\n{}", r.all());
}

#[test]
fn checks_cannot_write_through_a_granted_function() {
    let c = Cluster::start("rv-check-writes");
    c.ratify();
    c.psql(SETUP);
    let plan = plan_with(None, &["tests/plugins/sly.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "sly=write"]));
    let sneaked = c.scalar("SELECT count(*) FROM public.sneaked");
    assert_eq!(sneaked, 0, "tier 7's post-conditions wrote {sneaked} row(s) and the tier committed:\n{}", r.all());
    assert_ne!(r.code, 0, "{}", r.all());
}
