//! What a COMMIT would check — a `DEFERRABLE INITIALLY DEFERRED` key, a
//! deferred constraint trigger — is checked where the host proves things:
//! after a tier's apply (before its post-conditions), after each batch,
//! after a rollback's undo (before its probes), after each tier of a dry
//! run (which never commits). A violation fails that step, naming what the
//! server named. The check is kept (a savepoint, released): a deferred
//! trigger fires once, in the check, and what it writes is there for the
//! post-conditions and for a dry run's next tier, as at COMMIT; the
//! constraint modes are as declared again. Real server, real binary, real
//! plugins.

mod support;

use support::audit::*;
use support::backfill::*;
use support::*;

/// A deferred key, and a deferred constraint trigger that refuses a
/// negative row.
const SETUP: &str = "
    CREATE TABLE public.parent (id int PRIMARY KEY);
    CREATE TABLE public.items (id int, pid int CONSTRAINT items_pid REFERENCES public.parent DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE public.t (x int);
    CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF NEW.x < 0 THEN RAISE EXCEPTION 'no negative x'; END IF; RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER refuse_negative AFTER INSERT ON public.t DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION public.refuse();";

/// The line of a step the check refused, as the host writes it.
const REFUSED: &str = "it is what its COMMIT would have refused";

fn cluster(name: &str) -> Cluster {
    let c = Cluster::start(name);
    c.psql(SETUP);
    c
}

#[test]
fn a_run_fails_the_tier_whose_deferred_key_breaks_before_its_post_conditions_and_keeps_nothing() {
    let c = cluster("def-run-key");
    let f = Fixture::new(&["INSERT INTO public.items VALUES (1, 999)"], "insert = [\"public.items\"]");
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(4)
        .expect("tier 1 (test-catalog) failed: its deferred constraint items_pid on public.items fails: ERROR 23503:")
        .expect(REFUSED);
    // Failed where the host proves things, not at COMMIT, and nothing proved on it.
    assert!(!r.all().contains("its COMMIT was refused"), "{}", r.all());
    assert!(!r.all().contains("Post-conditions — tier 1"), "post-conditions ran on it:\n{}", r.all());
    assert_eq!(c.scalar("SELECT count(*) FROM public.items"), 0);
    assert_eq!(c.tier_states(), "test-catalog=failed");
}

#[test]
fn a_deferred_constraint_trigger_fails_the_dry_run_and_the_run_naming_its_function() {
    let c = cluster("def-trigger");
    let f = Fixture::new(&["INSERT INTO public.t VALUES (-1)"], "insert = [\"public.t\"]");
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    let says = "tier 1 (test-catalog) failed: a deferred constraint trigger (PL/pgSQL function public.refuse() line 1 \
                at RAISE) fails: ERROR P0001: no negative x";
    let dry = c.host(&f.args("run", false, &["--dry-run", "--lock", lock.as_str()]));
    dry.expect_code(4).expect(says).expect(REFUSED);
    assert!(!dry.all().contains("ALL TIERS WOULD PASS"), "{}", dry.all());
    let run = c.host(&f.args("run", false, &["--lock", lock.as_str()]));
    run.expect_code(4).expect(says).expect(REFUSED);
    assert_eq!(c.scalar("SELECT count(*) FROM public.t"), 0);
}

/// Two tiers: the first's row fires a deferred trigger that counts its
/// firings (a sequence: it does not roll back) into a table; the second
/// relies on deferral (the child row before its parent). The dry run, one
/// transaction for both, passes: the first tier's check put the
/// constraints back to deferred. The trigger fires once, in tier 1's
/// check (tier 2's finds nothing pending), and not again at COMMIT; tier
/// 1's post-condition sees its own lock_timeout back after the run's check.
#[test]
fn a_plan_that_is_fine_runs_as_before_and_a_deferred_trigger_fires_once_in_its_check() {
    let c = cluster("def-fine");
    c.psql(
        "CREATE SEQUENCE public.firing;
         CREATE TABLE public.fired (n bigint);
         CREATE FUNCTION public.count_firing() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO public.fired VALUES (nextval('public.firing')); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER counted AFTER INSERT ON public.t DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION public.count_firing();",
    );
    // After the check, the tier's own lock_timeout (its manifest's 5 s), not the check's 50 ms.
    let f = Fixture::new(
        &["INSERT INTO public.t VALUES (1)", "-- expect SELECT pg_catalog.current_setting('lock_timeout') = '5s'"],
        "insert = [\"public.t\"]\nfunctions = [\"pg_catalog.current_setting\"]\nacknowledge = [\"pg_catalog.current_setting\"]",
    );
    let (plan, _second) = f.and_then(
        &["INSERT INTO public.items VALUES (1, 7)", "INSERT INTO public.parent VALUES (7)"],
        "insert = [\"public.items\", \"public.parent\"]",
    );
    let lock = f.lock();
    c.review(&plan, &lock, false);
    let run = args("run", &plan, &["--param", "verdict=ok", "--param", "tripwire=off", "--lock", lock.as_str()]);
    let dry = c.host(&[run.as_slice(), &["--dry-run"]].concat());
    dry.expect_code(0).expect("ALL TIERS WOULD PASS");
    // Fired once, in tier 1's check (not again in tier 2's); the dry run keeps nothing.
    let seen = || (c.scalar("SELECT count(*) FROM public.fired"), c.scalar("SELECT last_value FROM public.firing"));
    assert_eq!(seen(), (0, 1), "after the dry run:\n{}", dry.all());
    let run = c.host(&run);
    run.expect_code(0).expect("ROLLOUT COMPLETE");
    // Fired once, in tier 1's check, and kept: its COMMIT does not fire it again.
    assert_eq!(seen(), (1, 2), "after the run:\n{}", run.all());
    assert_eq!(c.scalar("SELECT n FROM public.fired"), 2);
    assert_eq!(c.scalar("SELECT count(*) FROM public.items"), 1);
}

/// A deferred trigger that, while the run's check fires it, sets the
/// transaction's lock_timeout to "wait forever" and the setting where the
/// check keeps the tier's own: the tier's lock_timeout is back after the
/// check all the same (the host puts back the value it read before any
/// trigger ran).
#[test]
fn a_deferred_trigger_cannot_leave_the_tier_without_its_lock_timeout() {
    let c = cluster("def-timeout");
    c.psql(
        "CREATE FUNCTION public.unbound() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM pg_catalog.set_config('host_rollout.saved_lock_timeout', '0', true);
                    PERFORM pg_catalog.set_config('lock_timeout', '0', true); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER unbound AFTER INSERT ON public.t DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION public.unbound();",
    );
    let f = Fixture::new(
        &["INSERT INTO public.t VALUES (1)", "-- expect SELECT pg_catalog.current_setting('lock_timeout') = '5s'"],
        "insert = [\"public.t\"]\nfunctions = [\"pg_catalog.current_setting\"]\nacknowledge = [\"pg_catalog.current_setting\"]",
    );
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    let run = c.host(&f.args("run", false, &["--lock", lock.as_str()]));
    run.expect_code(0).expect("ROLLOUT COMPLETE");
}

/// An account whose deferred trigger `purge_closed` deletes its child
/// rows when its balance reaches 0 (the child rows' key is immediate).
const PURGE: &str = "
    CREATE TABLE public.acct (id int PRIMARY KEY, bal int);
    CREATE TABLE public.child (acct int REFERENCES public.acct);
    INSERT INTO public.acct VALUES (1, 10);
    INSERT INTO public.child VALUES (1), (1);
    CREATE FUNCTION public.purge() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF NEW.bal = 0 THEN DELETE FROM public.child WHERE acct = NEW.id; END IF; RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER purge_closed AFTER UPDATE ON public.acct DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION public.purge();";

/// The tier closes the account and says the children are kept: its
/// COMMIT would delete them, so its post-condition is proven on the state
/// the COMMIT keeps and fails, in the dry run and in the run, and nothing
/// is committed.
#[test]
fn a_post_condition_is_proven_with_the_deferred_triggers_writes_and_fails_on_them() {
    let c = cluster("def-purge");
    c.psql(PURGE);
    let f = Fixture::new(
        &["UPDATE public.acct SET bal = 0 WHERE id = 1", "-- expect SELECT count(*) = 2 FROM public.child"],
        "read = [\"public.acct\", \"public.child\"]\nupdate = [\"public.acct\"]\ndelete = [\"public.child\"]",
    );
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    let says = "tier 1 (test-catalog) failed: post-conditions not met";
    let dry = c.host(&f.args("run", false, &["--dry-run", "--lock", lock.as_str()]));
    dry.expect_code(4).expect(says);
    assert!(!dry.all().contains("ALL TIERS WOULD PASS"), "{}", dry.all());
    let run = c.host(&f.args("run", false, &["--lock", lock.as_str()]));
    run.expect_code(4).expect(says);
    assert!(!run.all().contains("ROLLOUT COMPLETE"), "{}", run.all());
    assert_eq!(c.scalar("SELECT count(*) FROM public.child"), 2, "{}", run.all());
    assert_eq!(c.scalar("SELECT bal FROM public.acct"), 10);
    assert_eq!(c.tier_states(), "test-catalog=failed");
}

/// Tier 1 closes the account (its deferred trigger deletes the children
/// at COMMIT); tier 2 deletes the account, which the children's immediate
/// key allows only once they are gone. The dry run, one transaction, has
/// tier 1's deferred writes when tier 2 runs, as the run has: it passes,
/// and so does the run.
#[test]
fn a_dry_runs_next_tier_runs_on_the_previous_tiers_deferred_writes() {
    let c = cluster("def-purge-two");
    c.psql(PURGE);
    let f = Fixture::new(
        &["UPDATE public.acct SET bal = 0 WHERE id = 1"],
        "read = [\"public.acct\", \"public.child\"]\nupdate = [\"public.acct\"]\ndelete = [\"public.child\"]",
    );
    let (plan, _second) = f.and_then(
        &["DELETE FROM public.acct WHERE id = 1", "-- expect SELECT NOT EXISTS (SELECT FROM public.child)"],
        "read = [\"public.acct\", \"public.child\"]\ndelete = [\"public.acct\"]",
    );
    let lock = f.lock();
    c.review(&plan, &lock, false);
    let run = args("run", &plan, &["--param", "verdict=ok", "--param", "tripwire=off", "--lock", lock.as_str()]);
    let dry = c.host(&[run.as_slice(), &["--dry-run"]].concat());
    dry.expect_code(0).expect("ALL TIERS WOULD PASS");
    assert_eq!(c.scalar("SELECT count(*) FROM public.child"), 2, "the dry run kept something");
    let run = c.host(&run);
    run.expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.scalar("SELECT count(*) FROM public.acct") + c.scalar("SELECT count(*) FROM public.child"), 0);
}

/// A batched backfill (5,000 rows a batch, tests/plugins/backfill) of a
/// table whose deferred trigger refuses a backfilled row past id `past`;
/// the plan and its lock file (the trigger reviewed).
fn backfill_refused_past(name: &str, past: i32) -> (Cluster, tempfile::TempDir, Vec<String>, String) {
    backfill_with(
        name,
        &format!(
            "CREATE FUNCTION app.refuse_far() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'row % is too far', NEW.id; END $$;
             CREATE CONSTRAINT TRIGGER too_far AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW WHEN (NEW.id > {past} AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.refuse_far();"
        ),
    )
}

/// Rows past id 25,000 refused: batches 1–5 commit, batch 6 fails at its
/// check, before its step and its COMMIT (then the failed tier is rolled
/// back, batched, as any).
#[test]
fn a_batch_whose_deferred_trigger_fails_fails_at_its_check_and_the_batches_before_it_stay() {
    let (c, _dir, plan, lock) = backfill_refused_past("def-batched", 25000);
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 6 apply-batch failed: a deferred constraint trigger (PL/pgSQL function app.refuse_far()")
        .expect("ERROR P0001: row 25001 is too far")
        .expect(REFUSED);
    assert!(!r.all().contains("its COMMIT was refused"), "{}", r.all());
    // The five batches before it committed; then the failed tier was rolled back, batched.
    r.expect("a failed tier is rolled back, not resumed");
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 0, "{}", r.all());
    assert_eq!(c.scalar(DONE_STEPS), 5);
}

/// A batch's check that meets a row another session holds waits for it as
/// the COMMIT would (the tier's lock_timeout, 5 s): the holder lets go
/// after 4 s, the deferred trigger fires in the check, and every batch
/// commits with its step, once.
#[test]
fn a_batch_whose_deferred_check_meets_a_locked_row_waits_for_it_and_every_batch_commits() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-locked",
        "CREATE TABLE app.parent (id int PRIMARY KEY);
         INSERT INTO app.parent VALUES (1);
         CREATE FUNCTION app.parent_there() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM 1 FROM app.parent WHERE id = 1 FOR KEY SHARE; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER parent_there AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.id = 1 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.parent_there();",
    );
    // Another session holds parent 1 for 4 s (the tier's lock_timeout is 5 s).
    let mut holder = c
        .psql_cmd()
        .args(["-q", "-c"])
        .arg(
            "BEGIN; SET application_name = 'holder'; SELECT 1 FROM app.parent WHERE id = 1 FOR UPDATE; \
             SELECT pg_sleep(4); COMMIT",
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let holds = "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE a.application_name = 'holder' AND l.relation = 'app.parent'::regclass)";
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.psql(holds) != "t" {
        assert!(std::time::Instant::now() < until, "the holder did not take its lock in 30 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = run_backfill(&c, &plan, &lock);
    let _ = holder.wait();
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    assert!(!r.all().contains("Not checked"), "{}", r.all());
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 50000, "{}", r.all());
    // Each batch's step once: its rows add up.
    let steps = "SELECT count(*) * 100000 + sum(rows_changed) FROM rollout_ledger.step WHERE plugin = 'test-backfill' \
                 AND phase = 'apply' AND kind = 'batch' AND state = 'done'";
    assert_eq!(c.scalar(steps), 11 * 100000 + 50000, "{}", r.all());
    let first = "SELECT rows_changed FROM rollout_ledger.step WHERE plugin = 'test-backfill' AND phase = 'apply' \
                 AND kind = 'batch' AND seq = 1";
    assert_eq!(c.scalar(first), 5000, "{}", r.all());
}

/// A deferred trigger that sets a sequence back while it fires, in the
/// batch's check (a sleep first, so a reading taken beside the check
/// rather than after it would see the sequence before it moved): the
/// batch fails naming it and is not committed.
#[test]
fn a_batch_whose_deferred_trigger_sets_a_sequence_back_fails_and_is_not_committed() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-setback",
        "CREATE SEQUENCE app.order_no;
         SELECT setval('app.order_no', 1000);
         CREATE FUNCTION app.rewind() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM pg_sleep(0.3); PERFORM setval('app.order_no', 10); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER rewind AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.id = 1 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.rewind();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 1")
        .expect("it set back sequence app.order_no from 1000 to 10");
    assert_left(&c, &r, 0, 0);
}

/// A deferred trigger that puts a schema of its own before `pg_catalog` in
/// the transaction's `search_path`, where a `current_setting` says the
/// path is still the host's: the batch's identity read is not fooled, the
/// batch fails naming the change, and nothing of it is kept.
#[test]
fn a_deferred_trigger_that_moves_the_search_path_behind_a_lying_function_fails_the_batch() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-path",
        "CREATE SCHEMA evil;
         CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT 'pg_catalog, pg_temp' $$;
         CREATE FUNCTION app.move_path() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog, pg_temp', true); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER move_path AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.id = 1 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.move_path();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 1")
        .expect("search_path `pg_catalog, pg_temp` → `evil, pg_catalog, pg_temp`");
    assert_left(&c, &r, 0, 0);
}

/// A deferred trigger that fails the check with a lock error it raises
/// itself (the first time it fires), then writes a table no grant names
/// when it fires again: were the check left to the COMMIT, the COMMIT
/// would fire it again and keep its writes, counted nowhere. The check
/// waits as the COMMIT would, so the lock error fails batch 1 and nothing
/// is written.
#[test]
fn a_deferred_trigger_that_fakes_a_locked_row_in_the_check_cannot_write_at_commit() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-fake-lock",
        "CREATE TABLE app.side (n int);
         CREATE SEQUENCE app.fired;
         CREATE FUNCTION app.lazy() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF pg_catalog.nextval('app.fired') = 1 THEN
               RAISE EXCEPTION 'could not obtain lock on row' USING ERRCODE = 'lock_not_available';
             END IF;
             INSERT INTO app.side SELECT g FROM pg_catalog.generate_series(1, 100) g;
             RETURN NULL;
           END $$;
         CREATE CONSTRAINT TRIGGER lazy AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.id = 3 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.lazy();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4).expect("tier 1 (test-backfill) batch 1").expect("could not obtain lock on row");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 0, "nothing written at a COMMIT: {}", r.all());
    assert_eq!(c.scalar(DONE_STEPS), 0, "{}", r.all());
}

/// A dry run previews a batched tier's first batch: refused from the
/// first row, the preview fails as that batch's COMMIT would.
#[test]
fn a_dry_run_of_a_batched_tier_checks_its_first_batch_as_its_commit_would() {
    let (c, _dir, plan, lock) = backfill_refused_past("def-batched-dry", 0);
    let a = args("run", &plan, &["--param", "verdict=ok", "--param", "fail=none", "--lock", &lock, "--dry-run"]);
    let r = c.host(&a);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) failed: a deferred constraint trigger (PL/pgSQL function app.refuse_far()")
        .expect("ERROR P0001: row 1 is too far")
        .expect(REFUSED);
    assert!(!r.all().contains("ALL TIERS WOULD PASS"), "{}", r.all());
}

/// One-Roof applied, then an application's table whose deferred key
/// points at tier 2's ownership rows: the rollback, which deletes them,
/// fails at its check, before its probes and its COMMIT; nothing of it is
/// kept and the ledger still says applied.
#[test]
fn a_rollback_that_breaks_a_deferred_key_fails_before_its_probes_and_keeps_nothing() {
    let c = Cluster::start("def-rollback");
    c.ratify();
    let plan = one_roof();
    c.host(&args("run", &plan, &["--param", APR])).expect_code(0);
    c.psql(
        "CREATE TABLE public.pin (owner bigint CONSTRAINT pin_owner REFERENCES one_roof.resp_ownership DEFERRABLE INITIALLY DEFERRED);
         INSERT INTO public.pin SELECT min(id) FROM one_roof.resp_ownership;",
    );
    let (applied, states) = (c.state_digest(), c.tier_states());
    let r = c.host(&args("rollback", &plan, &["--param", APR]));
    r.expect_code(4)
        .expect("the rollback failed: its deferred constraint pin_owner on public.pin fails: ERROR 23503:")
        .expect(REFUSED)
        .expect("; the ledger still says applied");
    assert!(!r.all().contains("FULL ROLLBACK OK"), "{}", r.all());
    assert!(!r.all().contains("its COMMIT was refused"), "{}", r.all());
    assert_eq!(c.state_digest(), applied, "the data changed");
    assert_eq!(c.tier_states(), states);
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'rolled_back'"), 0);
}
