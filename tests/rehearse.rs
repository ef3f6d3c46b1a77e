//! `host rehearse`: on a copy of production (a second server, restored from
//! production's pg_dump), the plan runs, rolls back, rolls back again, runs
//! again and fails at each tier, and content digests prove each rollback
//! restores the exact baseline. A rollback that leaves a row behind where
//! no check looks, or that is not idempotent, fails the rehearsal, named
//! down to the relation and the row. Production is only read.

mod support;

use std::process::Command;
use support::rehearsal::*;
use support::*;

#[test]
fn a_rehearsal_of_one_roof_with_fail_at_all_proves_every_rollback_restores_the_baseline() {
    let (prod, copy) = production_and_copy("rehearse-ok");
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &copy, &one_roof(), &["--fail-at", "all"], reports.path());
    // Counted here independently of the digest: every relation of the
    // schema, and every row of its tables.
    let relations = prod.scalar(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'one_roof'::regnamespace AND relkind IN ('r','p','v','m','f')",
    );
    let rows = prod.scalar(
        "SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', 'one_roof', relname), false, true, '')))[1]::text::bigint)::bigint
         FROM pg_class WHERE relnamespace = 'one_roof'::regnamespace AND relkind IN ('r','p')",
    );
    // And the whole-database net: every other user schema (here `public`,
    // empty).
    let (net_relations, net_rows) = (
        prod.scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', 'one_roof') AND c.relkind IN ('r','p','v','m','f')",
        ),
        prod.scalar(
            "SELECT coalesce(sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), 0)::bigint
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', 'one_roof') AND c.relkind IN ('r','p')",
        ),
    );
    r.expect_code(0).expect(&format!(
        "REHEARSAL OK: rollback restores the baseline exactly ({relations} relations, {rows} rows; the whole-database \
         net: {net_relations} relations, {net_rows} rows; 0 large objects; not compared: {}); idempotent; run \
         repeatable; every injected tier failure rolled back to the baseline",
        host::digest::NOT_COMPARED
    ));
    let stored = report(reports.path());
    assert_eq!(stored["outcome"], "ok");
    let steps = stored["steps"].as_array().unwrap();
    let tiers = 7;
    assert_eq!(steps.len(), 2 + 5 + 2 * tiers, "{stored:#}");
    let compared: Vec<&serde_json::Value> =
        steps.iter().filter(|s| s["step"].as_str().unwrap().contains("rollback")).collect();
    assert_eq!(compared.len(), 3 + tiers);
    for s in &compared {
        assert_eq!(s["equal_to_baseline"], "yes", "{s}");
        assert_eq!(s["digest"], stored["baseline_digest"], "{s}");
    }
    for n in 0..tiers {
        r.expect(&format!("run failing at tier {n}")).expect(&format!("rollback after tier {n} failed"));
    }
    // Sequence positions are never compared, but each step shows the ones
    // it moved, before → after, and the margin left.
    r.expect("Excluded the positions of ");
    r.expect(
        "Sequence one_roof.resp_ownership_id_seq 1 (is_called false) → 30 (drew 30); 9223372036854775777 values left \
         before its maximum 9223372036854775807",
    );
    let moved = stored["sequences"].as_array().unwrap();
    assert!(
        moved.iter().any(|m| m["step"] == "run"
            && m["sequence"] == "one_roof.resp_ownership_id_seq"
            && m["before"] == "1 (is_called false)"
            && m["after"] == "30"
            && m["drawn"] == "30"),
        "{stored:#}"
    );
    assert_eq!(stored["warnings"].as_array().unwrap().len(), 0, "{stored:#}");
    // Every step ran on the copy, and production was only read.
    production_untouched(&prod);
    assert_eq!(copy.scalar("SELECT count(*) FROM rollout_ledger.rollout WHERE verb = 'run'"), 2 + tiers as i64);
    assert_eq!(copy.baseline_line(), prod.baseline_line());
}

#[test]
fn a_rollback_that_leaves_a_row_behind_where_no_check_looks_fails_naming_the_relation_and_the_row() {
    let (prod, copy) = production_and_copy("rehearse-stray");
    let reports = tempfile::tempdir().unwrap();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/undo.wasm"]);
    // The host's own rollback checks and the probes all pass on this one:
    let r = rehearse(&prod, &copy, &plan, &["--param", "undo=stray"], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `rollback`: after `rollback` the copy differs from the baseline")
        .expect("the rows of one_roof.containment differ from the baseline: 1 row not in the baseline, 0 rows of the baseline missing")
        .expect("columns (responsibility_id, node_id)");
    let node = copy.scalar("SELECT id FROM one_roof.axis_node WHERE axis_code = 'lifecycle' AND code = 'build'");
    r.expect(&format!("+ row (1,{node})"));
    let stored = report(reports.path());
    assert_eq!(stored["outcome"], "failed");
    assert_eq!(stored["steps"].as_array().unwrap().last().unwrap()["equal_to_baseline"], "no");
    production_untouched(&prod);
}

#[test]
fn a_rollback_that_is_not_idempotent_fails_at_its_second_call() {
    let (prod, copy) = production_and_copy("rehearse-greedy");
    let reports = tempfile::tempdir().unwrap();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/undo.wasm"]);
    let r = rehearse(&prod, &copy, &plan, &["--param", "undo=greedy"], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `rollback again (idempotent)`")
        .expect("the rows of one_roof.containment differ from the baseline: 0 rows not in the baseline, 1 row of the baseline missing");
    production_untouched(&prod);
}

#[test]
fn a_copy_that_is_the_source_itself_is_refused_before_anything_runs() {
    let prod = Cluster::start("rehearse-self");
    prod.ratify();
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &prod, &one_roof(), &[], reports.path());
    r.expect_code(2).expect("--copy-url reaches the source database itself");
    production_untouched(&prod);
}

#[test]
fn a_copy_that_is_not_the_sources_state_is_refused_at_the_baseline() {
    let (prod, copy) = production_and_copy("rehearse-stale");
    copy.psql("UPDATE one_roof.team SET name = name || ' (renamed on the copy)' WHERE code = (SELECT min(code) FROM one_roof.team)");
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &copy, &one_roof(), &[], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `copy baseline`: the copy is not the source's state")
        .expect("the rows of one_roof.team differ")
        .expect("(renamed on the copy)");
    // No step ran: the copy has no ledger either.
    assert_eq!(copy.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
    production_untouched(&prod);
}

#[test]
fn ctrl_c_during_a_step_interrupts_that_step_as_an_interrupted_run_and_exits_130() {
    let (prod, copy) = production_and_copy("rehearse-ctrlc");
    let reports = tempfile::tempdir().unwrap();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let (from, to) = (prod.url(), copy.url());
    let mut a = args("rehearse", &plan, &["--param", APR, "--param", "mode=sleep", "--from", &from, "--copy-url", &to]);
    a.extend(["--reports", reports.path().to_str().unwrap()]);
    let child = prod.spawn(&a);
    // The run step is parked in tier 4's pg_sleep, on the copy.
    let sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while copy.scalar(sleeping) == 0 {
        assert!(std::time::Instant::now() < deadline, "the run step never reached tier 4");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SIGTERM to the rehearsal alone (not its process group): it must pass
    // the interrupt on to its step.
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by the operator: the rehearsal stopped during `run`"), "{stderr}");
    assert_eq!(copy.scalar(sleeping), 0, "the step's statement still runs on the copy");
    assert_eq!(copy.psql("SELECT outcome FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1"), "interrupted");
    assert_eq!(report(reports.path())["outcome"], "failed");
    production_untouched(&prod);
}

#[test]
fn a_view_or_rule_changed_on_the_copy_is_refused_at_the_baseline() {
    // A view's query and a rule are read apart from the rest of the catalog
    // (one relation's rules per transaction: printing them locks what they
    // name); they are still part of each relation's shape.
    let (prod, copy) = production_and_copy_with("rehearse-rules", "");
    copy.psql(
        "CREATE OR REPLACE VIEW one_roof.v_axis_active AS
           SELECT code, title FROM one_roof.classification_axis WHERE status = 'retired';
         CREATE RULE left_behind_rule AS ON DELETE TO one_roof.team DO INSTEAD NOTHING;",
    );
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &copy, &one_roof(), &[], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `copy baseline`: the copy is not the source's state")
        .expect("the definition of one_roof.v_axis_active differs")
        .expect("+ now:        WHERE (classification_axis.status = 'retired'::text);")
        .expect("the definition of one_roof.team differs")
        .expect("+ now:      rule left_behind_rule enabled=O CREATE RULE left_behind_rule AS");
    production_untouched(&prod);
}

#[test]
fn a_copy_that_differs_only_where_a_row_text_or_the_catalog_hides_it_is_refused_at_the_baseline() {
    // Each change below is one a rollback could leave behind: a table with a
    // column named `r` (whose `r::text` is that column, not the row), a float
    // changed in its last bit (printed alike with extra_float_digits = 0), a
    // sequence created or redefined, an enum value added, a domain created, a
    // comment, a partition detached (every column and row kept).
    let (prod, copy) = production_and_copy_with(
        "rehearse-hidden",
        "CREATE TABLE one_roof.probe_r (r int, note text);
         INSERT INTO one_roof.probe_r VALUES (1, 'as in production');
         CREATE TABLE one_roof.probe_float (v float8);
         INSERT INTO one_roof.probe_float VALUES (0.1);
         CREATE TYPE one_roof.review_kind AS ENUM ('first');
         CREATE TABLE one_roof.ranged (k int) PARTITION BY RANGE (k);
         CREATE TABLE one_roof.ranged_low PARTITION OF one_roof.ranged FOR VALUES FROM (0) TO (10);",
    );
    for c in [&prod, &copy] {
        c.psql("ALTER DATABASE directus SET extra_float_digits = 0");
    }
    copy.psql(
        "UPDATE one_roof.probe_r SET note = 'changed on the copy';
         UPDATE one_roof.probe_float SET v = 0.10000000000000002;
         CREATE SEQUENCE one_roof.left_behind_seq;
         ALTER SEQUENCE one_roof.gov_outbox_id_seq INCREMENT BY 2;
         ALTER TYPE one_roof.review_kind ADD VALUE 'second';
         CREATE DOMAIN one_roof.left_behind_domain AS int;
         COMMENT ON TABLE one_roof.team IS 'commented on the copy';
         ALTER TABLE one_roof.ranged DETACH PARTITION one_roof.ranged_low;
         CREATE OPERATOR one_roof.=== (FUNCTION = int4eq, LEFTARG = int, RIGHTARG = int);
         CREATE SCHEMA left_behind_schema;",
    );
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &copy, &one_roof(), &[], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `copy baseline`: the copy is not the source's state")
        .expect("the rows of one_roof.probe_r differ from the baseline: 1 row not in the baseline, 1 row")
        .expect("+ row (1,\"changed on the copy\")")
        .expect("the rows of one_roof.probe_float differ from the baseline: 1 row not in the baseline, 1 row")
        .expect("+ row (0.10000000000000002)")
        .expect("sequence one_roof.left_behind_seq exists now")
        .expect("the definition of one_roof.gov_outbox_id_seq differs")
        .expect("increment=2")
        .expect("the definition of one_roof.review_kind differs")
        .expect("labels 'first', 'second'")
        .expect("type one_roof.left_behind_domain exists now")
        .expect("comment commented on the copy")
        .expect("- baseline: partition bound FOR VALUES FROM (0) TO (10)");
    // What a schema holds besides relations, functions and types; and,
    // outside the plan's schemas, the whole-database net.
    let unseen: Vec<&str> =
        ["object operator one_roof.===(integer,integer) exists now", "schema left_behind_schema exists now"]
            .into_iter()
            .filter(|t| !r.all().contains(t))
            .collect();
    assert!(unseen.is_empty(), "not reported: {unseen:?}\n{}", r.all());
    assert_eq!(copy.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
    production_untouched(&prod);
}

#[test]
fn swapped_urls_or_an_unmarked_copy_are_refused_and_production_is_never_rehearsed_on() {
    let (prod, copy) = production_and_copy("rehearse-swapped");
    let reports = tempfile::tempdir().unwrap();
    // Swapped: the "copy" is production, which nobody marked; the "source"
    // is the marked copy. Both hold the same state.
    let r = rehearse(&copy, &prod, &one_roof(), &[], reports.path());
    r.expect_code(5).expect("--copy-url: database `directus` is not marked as a rehearsal copy");
    production_untouched(&prod);
    // A second copy, restored but not marked: refused the same way.
    let (prod2, unmarked) = production_and_copy("rehearse-unmarked");
    unmarked.psql_in("postgres", "ALTER DATABASE directus RESET host.rehearsal_copy");
    let r = rehearse(&prod2, &unmarked, &one_roof(), &[], reports.path());
    r.expect_code(5).expect("is not marked as a rehearsal copy");
    assert_eq!(unmarked.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
    // Each step checks the mark on its own connection too: a step sent to
    // an unmarked database refuses before its gate.
    let plan = one_roof();
    let here = identity(&prod2);
    step_run(&prod2, &plan, here, reports.path()).expect_code(5).expect("is not marked as a rehearsal copy");
    production_untouched(&prod2);
}

/// A sequence moved back behind the baseline, by a reviewed trigger (the
/// audit lets it run: it is in the lock file), is invisible to the digest's
/// equality (positions never roll back) yet makes the next INSERT collide:
/// the rehearsal fails at the step that set it back, naming it.
pub const SET_BACK: &str = "CREATE TABLE public.invoice (id serial PRIMARY KEY);
INSERT INTO public.invoice SELECT FROM generate_series(1, 100);
CREATE FUNCTION public.housekeeping() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_catalog.setval('public.invoice_id_seq', 1); RETURN NULL; END $$;
CREATE TRIGGER housekeeping AFTER INSERT ON one_roof.containment
  FOR EACH STATEMENT EXECUTE FUNCTION public.housekeeping();";

#[test]
fn a_sequence_set_back_behind_the_baseline_fails_the_rehearsal_naming_it_and_both_positions() {
    let (prod, copy) = production_and_copy_with("rehearse-setback", SET_BACK);
    let (reports, reviewed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lock = reviewed.path().join("rollout.lock").display().to_string();
    copy.review(&one_roof(), &lock, false).expect("reviewed catalog object(s)");
    let r = rehearse(&prod, &copy, &one_roof(), &["--lock", &lock], reports.path());
    // The run's own sequence watch fails the tier and moves the sequence
    // forward again (tests/sequences.rs); the digest's check stands behind
    // it for what the watch does not see.
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `run`: `host run` exited 4")
        .expect("it set back sequence public.invoice_id_seq from 100 to 1");
    assert!(!r.all().contains("REHEARSAL OK"), "{}", r.all());
    assert_eq!(report(reports.path())["failed_step"], "run");
    // On the copy it left, the next INSERT no longer collides.
    let next = copy.scalar("SELECT nextval('public.invoice_id_seq')");
    assert_eq!(copy.scalar(&format!("SELECT count(*) FROM public.invoice WHERE id = {next}")), 0, "id {next}");
    production_untouched(&prod);
}

/// Large objects live outside every schema: a reviewed trigger that
/// overwrites one and unlinks another during tier 2 left every relation
/// equal, and the rehearsal said "exactly". Each large object is now in the
/// digest (owner, ACL, a hash of its content): the rollback fails, naming
/// both.
#[test]
fn a_large_object_a_trigger_overwrites_or_unlinks_during_a_tier_fails_the_rehearsal_naming_it() {
    let (prod, copy) = production_and_copy_with(
        "rehearse-blobs",
        "CREATE TABLE public.blob (name text PRIMARY KEY, id oid NOT NULL);
         INSERT INTO public.blob VALUES ('kept', lo_from_bytea(0, '\\x0102'::bytea)),
                                        ('unlinked', lo_from_bytea(0, '\\x0304'::bytea));
         CREATE FUNCTION public.blob_housekeeping() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           PERFORM pg_catalog.lo_put((SELECT id FROM public.blob WHERE name = 'kept'), 0, '\\x5858585858585858'::bytea);
           PERFORM pg_catalog.lo_unlink((SELECT id FROM public.blob WHERE name = 'unlinked'));
           RETURN NULL;
         END $$;
         CREATE TRIGGER blob_housekeeping AFTER INSERT ON one_roof.resp_ownership
           FOR EACH STATEMENT EXECUTE FUNCTION public.blob_housekeeping();",
    );
    let (kept, unlinked) = (
        prod.scalar("SELECT id::bigint FROM public.blob WHERE name = 'kept'"),
        prod.scalar("SELECT id::bigint FROM public.blob WHERE name = 'unlinked'"),
    );
    let (reports, reviewed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lock = reviewed.path().join("rollout.lock").display().to_string();
    copy.review(&one_roof(), &lock, false).expect("reviewed catalog object(s)");
    let r = rehearse(&prod, &copy, &one_roof(), &["--lock", &lock], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `rollback`: after `rollback` the copy differs from the baseline")
        .expect(&format!("the definition of large object {kept} differs from the baseline"))
        .expect("- baseline: content 2 bytes sha256 ")
        .expect("+ now:      content 8 bytes sha256 ")
        .expect(&format!("large object {unlinked} of the baseline is gone"));
    assert!(!r.all().contains("REHEARSAL OK"), "{}", r.all());
    production_untouched(&prod);
}

/// What the digest reads beyond rows and definitions: a table made in
/// information_schema (outside every user schema, and pg_dump does not copy
/// it), an index's flags, a column's options.
#[test]
fn a_table_in_information_schema_index_flags_or_column_options_differing_are_refused_at_the_baseline() {
    let (prod, copy) = production_and_copy("rehearse-outside");
    copy.psql(
        "CREATE TABLE information_schema.stash (note text);
         ALTER TABLE one_roof.team CLUSTER ON team_pkey;
         ALTER TABLE one_roof.team ALTER COLUMN code SET (n_distinct = 5);",
    );
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse(&prod, &copy, &one_roof(), &[], reports.path());
    r.expect_code(10)
        .expect("REHEARSAL FAILED: at `copy baseline`: the copy is not the source's state")
        .expect("table information_schema.stash exists now")
        .expect("the definition of one_roof.team differs")
        .expect("clustered=t replident=f")
        .expect("options={n_distinct=5}");
    production_untouched(&prod);
}
