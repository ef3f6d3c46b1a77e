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

/// A domain default calling a built-in function that is not inert:
/// PostgreSQL records no dependency on a built-in function, so the audit
/// reads it from the default's stored expression.
#[test]
fn a_domain_default_calling_an_active_built_in_is_refused() {
    let c = Cluster::start("atk-domain-builtin");
    c.psql(TRAP);
    c.psql(
        "CREATE DOMAIN public.noted AS text DEFAULT pg_catalog.set_config('application_name', 'changed', true);
         CREATE TABLE public.items (id int, n public.noted);",
    );
    let f = Fixture::new(
        &["INSERT INTO public.items (id) VALUES (1)"],
        "read = [\"trap.hits_now\"]\ninsert = [\"public.items\"]",
    );
    let r = c.host(&f.args("run", true, &[]));
    r.expect_code(2).expect("Unreviewed type public.noted — reached by ");
    assert!(c.untouched(), "the refused run wrote the ledger");
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
/// too (the dry run checks them after each tier: `SET CONSTRAINTS ALL
/// IMMEDIATE` in a savepoint it rolls back; tests/deferred.rs has the rest).
#[test]
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

/// The check of deferred constraints comes after the tier's apply, as its
/// COMMIT's would: a tier that relies on deferral (the child row first,
/// its parent after) passes the dry run and the run alike.
#[test]
fn a_tier_that_relies_on_a_deferred_key_within_itself_passes_the_dry_run_and_the_run() {
    let c = Cluster::start("atk-deferred-ok");
    c.psql(TRAP);
    c.psql(
        "CREATE TABLE public.parent (id int PRIMARY KEY);
         CREATE TABLE public.items (id int, pid int REFERENCES public.parent DEFERRABLE INITIALLY DEFERRED);",
    );
    let f = Fixture::new(
        &["INSERT INTO public.items VALUES (1, 7)", "INSERT INTO public.parent VALUES (7)"],
        "read = [\"trap.hits_now\"]\ninsert = [\"public.items\", \"public.parent\"]",
    );
    c.host(&f.args("run", true, &["--dry-run"])).expect_code(0);
    c.host(&f.args("run", true, &[])).expect_code(0);
    assert_eq!(c.scalar("SELECT count(*) FROM public.items"), 1);
}

/// A foreign key's check reads the table at its other end, whatever its
/// actions: deleting from the referenced table looks for referencing rows
/// (an index scan of the referencing table, which runs its operator
/// class's support function), and that table is in no grant and in no
/// closure (NO ACTION writes nothing).
#[test]
fn an_index_the_foreign_key_check_scans_on_an_ungranted_table_is_refused_until_reviewed() {
    refused_until_reviewed(
        "atk-fk-check-index",
        r#"
CREATE FUNCTION trap.cmp(int, int) RETURNS int LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT (trap.hit() * 0)::int + btint4cmp($1, $2) $$;
CREATE OPERATOR CLASS trap.counted_ops FOR TYPE int USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 trap.cmp(int, int);
CREATE TABLE public.parent (id int PRIMARY KEY);
INSERT INTO public.parent SELECT g FROM generate_series(1, 20000) g;
CREATE TABLE public.child (pid int REFERENCES public.parent);
INSERT INTO public.child SELECT g FROM generate_series(2, 20000) g;
CREATE INDEX child_pid ON public.child (pid trap.counted_ops);
ANALYZE public.parent, public.child;
"#,
        &["DELETE FROM public.parent WHERE id = 1"],
        r#"read = ["trap.hits_now", "public.parent"]
delete = ["public.parent"]"#,
        &["index public.child_pid on public.child"],
        "CREATE OR REPLACE FUNCTION trap.cmp(int, int) RETURNS int LANGUAGE sql SECURITY DEFINER \
         AS $$ SELECT (trap.hit() * 0 + 0)::int + btint4cmp($1, $2) $$",
    );
}

/// A granted function is code the reviewer read by its grant's name:
/// once its body changes after the review, the review no longer covers
/// what the plugin's call runs, as for implicit code. The lock file pins
/// its definition, `host grants` shows it pinned with what it runs, and
/// the refusal says what changed and how to review again.
#[test]
fn a_granted_function_changed_after_the_review_is_refused_again() {
    let c = Cluster::start("atk-granted-function");
    c.psql(TRAP);
    c.psql("CREATE FUNCTION public.label(int) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT 'n' || $1 $$;");
    let f = Fixture::new(&["SELECT public.label(1)"], "read = [\"trap.hits_now\"]\nfunctions = [\"public.label\"]");
    let lock = f.lock();
    c.review(&f.plan, &lock, false).expect("Pinned function public.label (definition sha256 ");
    // The reviewer sees the definition pinned, and what it runs.
    let url = c.url();
    let mut a = vec!["grants"];
    a.extend(f.plan.iter().map(String::as_str));
    a.extend(["--database-url", url.as_str()]);
    c.host(&a)
        .expect_code(0)
        .expect("  pinned    function public.label  [sha256 ")
        .expect("runs public.label(integer)");
    a.push("--json");
    let j: serde_json::Value = serde_json::from_str(&c.host(&a).expect_code(0).stdout).unwrap();
    let tier =
        j["catalog"]["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "test-catalog").unwrap().clone();
    let pinned = tier["pinned"].as_array().unwrap();
    let label = pinned.iter().find(|p| p["object"] == "function public.label").expect("the function pinned");
    assert_eq!((label["kind"].as_str(), label["runs"][0].as_str()), (Some("function"), Some("public.label(integer)")));
    assert!(tier["implicit"].as_array().unwrap().is_empty(), "a granted definition is not implicit code: {tier}");
    c.psql(
        "CREATE OR REPLACE FUNCTION public.label(int) RETURNS text LANGUAGE sql SECURITY DEFINER \
         AS $$ SELECT 'n' || $1 || trap.hit() $$;",
    );
    let before = c.hits();
    let r = c.host(&f.args("run", true, &["--lock", lock.as_str()]));
    assert_eq!(c.hits(), before, "the changed function ran under the old review:\n{}", r.all());
    r.expect_code(2)
        .expect("Unreviewed function public.label — reached by plugin test-catalog; the definition of its overloads")
        .expect(&format!("since the lock file {lock} recorded it; it now runs public.label(integer), trap.hit()"))
        .expect("record them as reviewed with `host grants PLUGINS… --database-url URL --lock FILE`");
    assert!(c.untouched(), "the refused run wrote the ledger");
}

/// A call picks among a granted name's overloads by its arguments: one
/// added after the review may be the one it runs (`label('1')` runs
/// `label(text)` once there is one), and a function a granted one calls
/// runs as much as its body. Either changed is refused; the reviewed
/// state runs, before and after (no false refusal).
#[test]
fn an_overload_added_or_a_callee_changed_after_the_review_is_refused() {
    let c = Cluster::start("atk-granted-overload");
    c.psql(TRAP);
    let helper = "CREATE OR REPLACE FUNCTION public.helper(int) RETURNS text LANGUAGE sql AS $$ SELECT $1::text $$;";
    c.psql(helper);
    c.psql("CREATE FUNCTION public.label(int) RETURNS text LANGUAGE sql AS $$ SELECT 'n' || public.helper($1) $$;");
    let f = Fixture::new(&["SELECT public.label('1')"], "read = [\"trap.hits_now\"]\nfunctions = [\"public.label\"]");
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    // A dry run: the same audit, and it can run again.
    let reviewed = f.args("run", true, &["--lock", lock.as_str(), "--dry-run"]);
    let runs = |why: &str| {
        let r = c.host(&reviewed);
        r.expect_code(0).expect("DRY RUN COMPLETE").expect(&format!("granted definition(s) as pinned in {lock}"));
        assert!(!r.all().contains("Unreviewed"), "{why}:\n{}", r.all());
    };
    let refused = |change: &str, says: &str| {
        c.psql(change);
        let before = c.hits();
        let r = c.host(&reviewed);
        assert_eq!(c.hits(), before, "{change} ran under the old review:\n{}", r.all());
        r.expect_code(2).expect("Unreviewed function public.label — reached by plugin test-catalog").expect(says);
    };
    runs("the reviewed functions, unchanged, were refused");
    refused(
        "CREATE FUNCTION public.label(text) RETURNS text LANGUAGE sql AS $$ SELECT 't' || trap.hit() $$;",
        "an overload was added or dropped, since the lock file",
    );
    c.psql("DROP FUNCTION public.label(text)");
    runs("back as reviewed, yet refused");
    refused(
        "CREATE OR REPLACE FUNCTION public.helper(int) RETURNS text LANGUAGE sql AS $$ SELECT $1::text || trap.hit() $$;",
        "it now runs public.helper(integer), public.label(integer)",
    );
    c.psql(helper);
    runs("the callee back as reviewed, yet refused");
}

/// A view's query runs as its owner whenever a plugin reads it: a view a
/// read grant names, redefined after the review (here to read another
/// table, with no function at all), is no longer what was reviewed. Its
/// owner and options are part of it. A lock file written without a
/// database pins names only, and the run says so.
#[test]
fn a_granted_view_redefined_after_the_review_is_refused() {
    let c = Cluster::start("atk-granted-view");
    c.psql(TRAP);
    c.psql(
        "CREATE TABLE public.open_t (x int); INSERT INTO public.open_t VALUES (1); \
         CREATE TABLE public.secret (x int); INSERT INTO public.secret VALUES (42); \
         CREATE VIEW public.shown AS SELECT x FROM public.open_t;",
    );
    let f = Fixture::new(&["SELECT x FROM public.shown"], "read = [\"trap.hits_now\", \"public.shown\"]");
    let lock = f.lock();
    c.review(&f.plan, &lock, false).expect("Pinned view public.shown (definition sha256 ");
    // A dry run: the same audit, and it can run again.
    let reviewed = f.args("run", true, &["--lock", lock.as_str(), "--dry-run"]);
    c.host(&reviewed).expect_code(0).expect("DRY RUN COMPLETE");
    let rollouts = || c.scalar("SELECT count(*) FROM rollout_ledger.rollout");
    for (change, back) in [
        (
            "CREATE OR REPLACE VIEW public.shown AS SELECT x FROM public.secret",
            "CREATE OR REPLACE VIEW public.shown AS SELECT x FROM public.open_t",
        ),
        ("ALTER VIEW public.shown SET (security_invoker = true)", "ALTER VIEW public.shown RESET (security_invoker)"),
    ] {
        c.psql(change);
        let before = rollouts();
        let r = c.host(&reviewed);
        r.expect_code(2)
            .expect("Unreviewed view public.shown — reached by plugin test-catalog")
            .expect(&format!("its definition changed since the lock file {lock} recorded it"));
        assert_eq!(rollouts(), before, "{change}: the refused run wrote the ledger");
        c.psql(back);
        c.host(&reviewed).expect_code(0).expect("DRY RUN COMPLETE");
    }
    // Without a database the lock file pins the grants' names only.
    c.psql("CREATE OR REPLACE VIEW public.shown AS SELECT x FROM public.secret");
    let mut w = vec!["grants"];
    w.extend(f.plan.iter().map(String::as_str));
    w.extend(["--lock", lock.as_str()]);
    c.host(&w).expect_code(0).expect("a lock file written without a database pins their names only");
    c.host(&reviewed)
        .expect_code(0)
        .expect(&format!("not pinned: the lock file {lock} has no [catalog] (written without a database"));
}

/// The host's own schemas are what no proof compares (the rehearsal's
/// digest leaves them out: the host writes them on every step), so no
/// plugin may be granted anything in any of them, under any key.
#[test]
fn no_plugin_may_be_granted_an_object_in_any_of_the_hosts_own_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/inert.wasm")).expect("make test-plugins");
    for (schema, _) in host::digest::HOST_SCHEMAS {
        for (key, table) in [("delete", "entry"), ("update", "key"), ("insert", "entry")] {
            let object = format!("{schema}.{table}");
            let mut m: toml::Table = toml::from_str(&manifest_of(&wasm)).unwrap();
            let grants = m.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
            grants.insert(key.into(), toml::Value::Array(vec![object.clone().into()]));
            let path = dir.path().join(format!("{schema}-{key}.wasm"));
            std::fs::write(&path, with_manifest(&wasm, &toml::to_string(&m).unwrap())).unwrap();
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
            c.current_dir(root()).args(["grants", path.to_str().unwrap()]);
            let r = Run::from(c.env("HOST_COMPILE_CACHE", compile_cache()).output().unwrap());
            assert_eq!(r.code, 2, "{key} = [\"{object}\"] was accepted:\n{}", r.all());
        }
    }
}
