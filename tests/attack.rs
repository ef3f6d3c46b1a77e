//! Attacks on what the host prints and proves, each written as the safe
//! behaviour it must keep: a finding fails here until it is fixed. Real
//! host binary, real scratch cluster, the real catalog-audit fixture (a
//! tier running the statements its data file lists under the grants the
//! case gives it, saying after each how often the trap functions ran).

mod support;

use support::audit::*;
use support::*;

/// A plan running `statements` under `grants` against a catalog holding
/// implicit code no statement names: refused before the gate, naming each
/// of `objects`, nothing written and no trap run; once reviewed, the same
/// plan runs and the trap runs (the audit is what stood between them);
/// `redefine` (a change of that code after the review) is refused again.
fn refused_until_reviewed(
    name: &str,
    setup: &str,
    statements: &[&str],
    grants: &str,
    objects: &[&str],
    redefine: &str,
) {
    let c = Cluster::start(name);
    c.psql(TRAP);
    c.psql(setup);
    let f = Fixture::new(statements, grants);
    let before = c.hits();
    let r = c.host(&f.args("run", true, &[]));
    assert_eq!(c.hits(), before, "the trap ran before (or instead of) a refusal:\n{}", r.all());
    r.expect_code(2).expect("refusing the plan before any plugin runs (only the catalog was read)");
    for o in objects {
        r.expect(&format!("Unreviewed {o} — reached by "));
    }
    assert!(c.untouched(), "the refused run wrote the ledger");

    // Reviewed: the plan runs, and the trap does run (a real path).
    let lock = f.lock();
    let review = c.review(&f.plan, &lock, false);
    for o in objects {
        review.expect(&format!("Pinned {o} (definition sha256 "));
    }
    let reviewed = ["--lock", lock.as_str()];
    let r = c.host(&f.args("run", true, &reviewed));
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    assert!(c.hits() > before, "the trap did not run once reviewed:\n{}", r.all());

    // The code changed since the review: unreviewed again, and it does not run.
    c.psql(redefine);
    let again = c.hits();
    let r = c.host(&f.args("run", true, &reviewed));
    assert_eq!(c.hits(), again, "the changed code ran:\n{}", r.all());
    r.expect_code(2).expect(&format!("its definition changed since the lock file {lock} recorded it"));
}

/// A domain's DEFAULT runs on every INSERT that leaves a column of that
/// domain out (and on `SET col = DEFAULT`): code no statement names, like
/// a column's own default, which the audit already refuses.
#[test]
fn a_domain_default_run_by_a_plain_insert_is_refused_until_reviewed() {
    refused_until_reviewed(
        "atk-domain-default",
        r#"
CREATE DOMAIN public.stamp AS bigint DEFAULT trap.hit();
CREATE TABLE public.items (id int, s public.stamp);
"#,
        &["INSERT INTO public.items (id) VALUES (1)"],
        r#"read = ["trap.hits_now"]
insert = ["public.items"]"#,
        &["type public.stamp"],
        "ALTER DOMAIN public.stamp SET DEFAULT trap.hit() + 1",
    );
}

/// The same default reached without naming the table at all: a granted
/// DELETE on the parent, whose `ON DELETE SET DEFAULT` key sets the
/// child's column to its domain's default.
#[test]
fn a_domain_default_run_by_a_cascade_set_default_is_refused_until_reviewed() {
    refused_until_reviewed(
        "atk-domain-cascade",
        r#"
CREATE DOMAIN public.parent_ref AS int DEFAULT (trap.hit() * 0)::int;
CREATE TABLE public.parent (id int PRIMARY KEY);
INSERT INTO public.parent VALUES (0), (1);
CREATE TABLE public.child (pid public.parent_ref REFERENCES public.parent ON DELETE SET DEFAULT);
INSERT INTO public.child VALUES (1);
"#,
        &["DELETE FROM public.parent WHERE id = 1"],
        r#"read = ["trap.hits_now", "public.parent"]
delete = ["public.parent"]
update = ["public.child"]"#,
        &["type public.parent_ref"],
        "ALTER DOMAIN public.parent_ref SET DEFAULT (trap.hit() * 0 + 0)::int",
    );
}

/// A reviewed trigger's function calls another function: the review
/// pinned the trigger function's text, which names the callee, so a change
/// of the callee is a change of what the trigger runs.
#[test]
fn a_reviewed_triggers_callee_changed_after_the_review_is_refused_again() {
    refused_until_reviewed(
        "atk-trigger-callee",
        r#"
CREATE FUNCTION public.audit_item(int) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM trap.hit(); END $$;
CREATE TABLE public.items (id int);
CREATE FUNCTION public.on_items() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM public.audit_item(NEW.id); RETURN NEW; END $$;
CREATE TRIGGER audit_items AFTER INSERT ON public.items FOR EACH ROW EXECUTE FUNCTION public.on_items();
"#,
        &["INSERT INTO public.items VALUES (1)"],
        r#"read = ["trap.hits_now"]
insert = ["public.items"]"#,
        &["trigger audit_items on public.items"],
        "CREATE OR REPLACE FUNCTION public.audit_item(int) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
         AS $$ BEGIN PERFORM trap.hit(); CREATE TABLE public.smuggled (); END $$",
    );
}

/// A deferred constraint is checked at COMMIT, which a dry run never
/// reaches: "ALL TIERS WOULD PASS" must mean the real run's COMMIT passes
/// too (the dry run can check them with `SET CONSTRAINTS ALL IMMEDIATE`
/// at the end of each tier, inside its transaction).
#[test]
#[ignore = "finding: a dry run never checks deferred constraints (no COMMIT, no SET CONSTRAINTS ALL IMMEDIATE); fix in runbook/dry_run.rs"]
fn a_dry_run_does_not_say_all_tiers_would_pass_when_a_deferred_key_fails_at_commit() {
    let c = Cluster::start("atk-deferred");
    c.psql(TRAP);
    c.psql(
        "CREATE TABLE public.parent (id int PRIMARY KEY);
         CREATE TABLE public.items (id int, pid int REFERENCES public.parent DEFERRABLE INITIALLY DEFERRED);",
    );
    let f = Fixture::new(
        &["INSERT INTO public.items VALUES (1, 999)"],
        "read = [\"trap.hits_now\"]\ninsert = [\"public.items\"]",
    );
    let dry = c.host(&f.args("run", true, &["--dry-run"]));
    let real = c.host(&f.args("run", true, &[]));
    real.expect("violates foreign key constraint");
    assert_ne!(real.code, 0, "the real run passed:\n{}", real.all());
    assert!(!dry.all().contains("ALL TIERS WOULD PASS"), "the dry run promised what the run broke:\n{}", dry.all());
    assert_ne!(dry.code, 0, "the dry run passed:\n{}", dry.all());
}
