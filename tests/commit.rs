//! What a batch commits is what the host read after its plugin's call:
//! the reads it keeps prepared on the work session cannot be stood in for
//! (a SQL `PREPARE` under their name, a `DEALLOCATE`), and nothing of the
//! plugin runs at its COMMIT (a `WITH HOLD` cursor's query). Real server,
//! real binary, real plugins; hostile triggers on the backfilled table.

mod support;

use support::args;
use support::audit::Fixture;
use support::backfill::*;
use support::Cluster;

/// A trigger of the backfilled table that runs `body` (plpgsql) once, when
/// the batch holding id `at` updates it.
fn trigger_at(at: u32, name: &str, body: &str) -> String {
    format!(
        "CREATE FUNCTION app.{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$;
         CREATE TRIGGER {name} AFTER UPDATE ON app.item
           FOR EACH ROW WHEN (NEW.id = {at} AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.{name}();"
    )
}

/// A deferred trigger of the backfilled table (batch 1) that fires in the
/// batch's deferred check, defers every constraint again and writes
/// `app.q`, queueing another deferred trigger, which runs `late` (plpgsql)
/// at COMMIT, after every count of the host's.
fn deferred_again(late: &str) -> String {
    format!(
        "CREATE TABLE app.q (id int);
         CREATE FUNCTION app.late() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {late}; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER late AFTER INSERT ON app.q DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION app.late();
         CREATE FUNCTION app.first() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN SET CONSTRAINTS ALL DEFERRED; INSERT INTO app.q VALUES (1); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER first AFTER UPDATE ON app.item DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.id = 1 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.first();"
    )
}

/// A trigger of the backfilled table that, in batch 2 (id 5,001), writes a
/// table no grant names, then stands in for the host's kept counts read:
/// `DEALLOCATE` of its protocol-level statement and a SQL `PREPARE` under
/// its name that counts nothing. The read before the kept ones sees the
/// statement SQL made: batch 2 fails and nothing of it is kept.
#[test]
fn a_trigger_that_prepares_a_statement_in_place_of_the_hosts_kept_read_fails_the_batch() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-forge",
        "CREATE TABLE app.side (n int);
         CREATE FUNCTION app.forge() RETURNS trigger LANGUAGE plpgsql AS $$
           DECLARE s text;
           BEGIN
             INSERT INTO app.side VALUES (1);
             FOR s IN SELECT name FROM pg_catalog.pg_prepared_statements
                       WHERE NOT from_sql AND statement LIKE '%pg_stat_get_xact_tuples_inserted%' LOOP
               EXECUTE format('DEALLOCATE %I', s);
               EXECUTE format('PREPARE %I AS SELECT ''x''::text, 0::int8, 0::int8, 0::int8 WHERE false', s);
             END LOOP;
             RETURN NULL;
           END $$;
         CREATE TRIGGER forge AFTER UPDATE ON app.item
           FOR EACH ROW WHEN (NEW.id = 5001 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.forge();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 2")
        .expect("statement(s) made by SQL PREPARE were on the session after its call")
        .expect("a failed tier is rolled back, not resumed");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 0, "batch 2 is not kept: {}", r.all());
    assert_left(&c, &r, 1, 0);
}

/// A trigger that, in batch 2, deallocates every prepared statement of the
/// session, the host's kept reads with them: batch 2 fails (its reads are
/// gone), and the rollback pass on the same session, whose reset finds
/// them gone, prepares them again and restores every row.
#[test]
fn a_trigger_that_deallocates_the_hosts_kept_reads_fails_its_batch_and_the_rollback_prepares_them_again() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-dealloc",
        "CREATE FUNCTION app.dealloc() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN EXECUTE 'DEALLOCATE ALL'; RETURN NULL; END $$;
         CREATE TRIGGER dealloc AFTER UPDATE ON app.item
           FOR EACH ROW WHEN (NEW.id = 5001 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.dealloc();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 2")
        .expect("the host's kept read of its row counts is gone: a statement of the batch deallocated it")
        .expect("a failed tier is rolled back, not resumed");
    assert_left(&c, &r, 1, 0);
    assert!(c.tier_states().contains("test-backfill=rolled_back"), "{}", c.tier_states());
}

/// A trigger that declares a `WITH HOLD` cursor over a function that
/// writes a table no grant names: the server would run its query at
/// COMMIT, after every check and count. The host closes every cursor
/// before its COMMIT, so nothing is written, and the backfill completes.
#[test]
fn a_with_hold_cursor_a_trigger_declares_runs_nothing_at_the_batchs_commit() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-hold",
        "CREATE TABLE app.side (n int);
         CREATE FUNCTION app.w() RETURNS int LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO app.side VALUES (1); RETURN 1; END $$;
         CREATE FUNCTION app.declare_late() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             EXECUTE 'DECLARE late CURSOR WITH HOLD FOR SELECT app.w() FROM pg_catalog.generate_series(1, 1000)';
             RETURN NULL;
           END $$;
         CREATE TRIGGER declare_late AFTER UPDATE ON app.item
           FOR EACH ROW WHEN (NEW.id = 2 AND NEW.v IS NOT NULL) EXECUTE FUNCTION app.declare_late();",
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 0, "the cursor's query never ran: {}", r.all());
    assert_eq!(c.scalar(DONE_STEPS), 11, "{}", r.all());
}

/// A deferred trigger that fires in the batch's deferred check, defers
/// every constraint again and writes a row that queues another deferred
/// trigger, which writes a table no grant names: at COMMIT it would fire
/// after every count. The COMMIT's gate fires it first, sees rows the host
/// never counted, and skips the COMMIT: batch 1 fails, nothing is kept.
#[test]
fn a_trigger_deferred_again_in_the_check_cannot_write_at_commit() {
    let (c, _dir, plan, lock) = backfill_with(
        "commit-deferred-again",
        &format!(
            "CREATE TABLE app.hidden (note text); {}",
            deferred_again("INSERT INTO app.hidden VALUES ('written at COMMIT')")
        ),
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4).expect(
        "batch 1 of tier 1 (test-backfill) failed: something still deferred at its COMMIT (a trigger that fired \
         in the deferred check can defer another) wrote rows or locked relations the host had not counted: host \
         commit gate: rows written or relations locked past the last count of the host",
    );
    assert_eq!(c.scalar("SELECT count(*) FROM app.hidden"), 0, "nothing written at COMMIT: {}", r.all());
    assert_left(&c, &r, 0, 0);
}

/// The same chain, but the trigger at COMMIT empties a table of 1,000 rows
/// with TRUNCATE, which adds no row to any count: the gate sees the lock it
/// took past the host's last count (none) and skips the COMMIT.
#[test]
fn a_trigger_deferred_again_in_the_check_cannot_truncate_at_commit() {
    let (c, _dir, plan, lock) = backfill_with(
        "commit-deferred-truncate",
        &format!(
            "CREATE TABLE app.side (n int); INSERT INTO app.side SELECT g FROM generate_series(1, 1000) g; {}",
            deferred_again("TRUNCATE app.side")
        ),
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("host commit gate: rows written or relations locked past the last count of the host")
        .expect("(relations locked SHARE or stronger now: app.side (AccessExclusiveLock)");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 1000, "the TRUNCATE is not kept: {}", r.all());
    assert_left(&c, &r, 0, 0);
}

/// A trigger that, in batch 2, empties a table of 1,000 rows with
/// TRUNCATE: the server counts none of them (a TRUNCATE takes no row
/// count), so the batch's `rows_changed` and its report would not see
/// them. The TRUNCATE holds ACCESS EXCLUSIVE, which no batch may: batch 2
/// fails, and the table keeps its rows.
#[test]
fn a_trigger_that_truncates_a_table_in_a_batch_fails_it_and_the_rows_stay() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-truncate",
        &format!(
            "CREATE TABLE app.side (n int); INSERT INTO app.side SELECT g FROM generate_series(1, 1000) g; {}",
            trigger_at(5001, "zap", "TRUNCATE app.side")
        ),
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4)
        .expect("tier 1 (test-backfill) batch 2")
        .expect("it locks app.side (ACCESS EXCLUSIVE) (a TRUNCATE, a DROP or other DDL")
        .expect("a failed tier is rolled back, not resumed");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 1000, "the TRUNCATE is not kept: {}", r.all());
    assert_left(&c, &r, 1, 0);
}

/// A temporary table a batch makes for itself (ACCESS EXCLUSIVE on it,
/// which no other session can see) does not fail the batch.
#[test]
fn a_temporary_table_a_batch_makes_for_itself_is_allowed() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-temp",
        &trigger_at(5001, "scratch", "CREATE TEMP TABLE IF NOT EXISTS scratch (n int) ON COMMIT DROP"),
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(0);
    // Ten batches of 5,000 ids, and the eleventh that finds none left.
    assert_left(&c, &r, 11, 50000);
}

/// The dry run's first batch is held to the same rule: a TRUNCATE in it
/// fails the preview, and the table keeps its rows.
#[test]
fn a_dry_run_whose_first_batch_truncates_a_table_fails() {
    let (c, _dir, plan, lock) = backfill_with(
        "def-batched-truncate-dry",
        &format!(
            "CREATE TABLE app.side (n int); INSERT INTO app.side SELECT g FROM generate_series(1, 1000) g; {}",
            trigger_at(1, "zap", "TRUNCATE app.side")
        ),
    );
    let r =
        c.host(&args("run", &plan, &["--param", "verdict=ok", "--param", "fail=none", "--lock", &lock, "--dry-run"]));
    r.expect_code(4).expect("its first batch locks app.side (ACCESS EXCLUSIVE)");
    assert_eq!(c.scalar("SELECT count(*) FROM app.side"), 1000, "{}", r.all());
    assert_left(&c, &r, 0, 0);
}

/// A tier (not batched) whose DDL already holds every lock a TRUNCATE
/// takes: it creates `public.nt` and fills it. A deferred trigger that
/// fires in its check defers again and queues another, which at COMMIT
/// empties `public.nt` (its 20 counted rows taken back), deletes 5
/// production rows and fills a temporary table with 15: the rows written
/// still sum to the host's last count, and no new lock is taken. The gate
/// compares relation by relation (the catalogs the temporary table wrote
/// too) and skips the COMMIT: the tier fails, production keeps its rows.
#[test]
fn a_commit_that_balances_the_rows_it_took_back_is_refused_relation_by_relation() {
    let c = Cluster::start("commit-balanced");
    c.psql(
        "CREATE TABLE public.prod (id int PRIMARY KEY);
         INSERT INTO public.prod SELECT g FROM generate_series(1, 100) g;
         CREATE TABLE public.q (id int);
         CREATE TABLE public.q2 (id int);
         CREATE FUNCTION public.late() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             TRUNCATE public.nt;
             DELETE FROM public.prod WHERE id <= 5;
             CREATE TEMP TABLE pad ON COMMIT DROP AS SELECT g FROM pg_catalog.generate_series(1, 15) g;
             RETURN NULL;
           END $$;
         CREATE CONSTRAINT TRIGGER late AFTER INSERT ON public.q2 DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION public.late();
         CREATE FUNCTION public.first() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN SET CONSTRAINTS ALL DEFERRED; INSERT INTO public.q2 VALUES (1); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER first AFTER INSERT ON public.q DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION public.first();",
    );
    let f = Fixture::new(
        &[
            "CREATE TABLE public.nt (id int PRIMARY KEY)",
            "INSERT INTO public.nt SELECT g FROM generate_series(1, 20) g",
            "INSERT INTO public.q VALUES (1)",
        ],
        r#"create = ["public.nt"]
insert = ["public.nt", "public.q"]"#,
    );
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    let r = c.host(&f.args("run", false, &["--lock", &lock]));
    r.expect_code(4).expect("host commit gate: rows written or relations locked past the last count of the host");
    assert_eq!(c.scalar("SELECT count(*) FROM public.prod"), 100, "production keeps its rows: {}", r.all());
    assert_eq!(c.scalar("SELECT count(*) FROM pg_class WHERE relname = 'nt'"), 0, "the tier is not kept: {}", r.all());
}

/// The same chain in a batch, but the trigger at COMMIT writes no row of
/// any table: it replaces the body of a function the review approved. The
/// system catalogs' counts are in the gate's comparison, so the COMMIT is
/// skipped and the function keeps its reviewed body.
#[test]
fn a_trigger_deferred_again_cannot_replace_a_function_at_commit() {
    let (c, _dir, plan, lock) = backfill_with(
        "commit-deferred-replace",
        &format!(
            "CREATE FUNCTION app.guard() RETURNS int LANGUAGE sql AS 'SELECT 1'; {}",
            deferred_again("CREATE OR REPLACE FUNCTION app.guard() RETURNS int LANGUAGE sql AS 'SELECT 2'")
        ),
    );
    let r = run_backfill(&c, &plan, &lock);
    r.expect_code(4).expect("host commit gate: rows written or relations locked past the last count of the host");
    assert_eq!(c.scalar("SELECT app.guard()"), 1, "the reviewed body stays: {}", r.all());
    assert_left(&c, &r, 0, 0);
}
