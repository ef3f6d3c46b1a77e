//! The catalog audit, what a write reaches: a statement names one relation,
//! the server changes every relation the catalog links to it — partitions,
//! inheritance children, tables whose foreign keys cascade, a view's base
//! table, what a rule writes, what a trigger writes. Each reached relation
//! needs the same plugin's grant, or the plan is refused before the gate
//! naming the path; with the grant it runs, and what it changed is counted
//! by the server (`pg_stat_xact_user_tables`) relation by relation, flagged
//! where no grant names it. Every path runs with roles off and on.

mod support;

use support::audit::*;
use support::*;

struct Path {
    name: &'static str,
    setup: &'static str,
    statements: &'static [&'static str],
    /// The plugin's grants, and its grants with the reached relation too.
    grants: &'static str,
    granted: &'static str,
    /// What the refusal says (each a line of it).
    refusal: &'static [&'static str],
    /// Implicit code to review as well (a rule, a trigger).
    review: bool,
    /// After the granted run: `SELECT` returning `t`.
    after: &'static str,
    /// What the report's server-counted table shows for the reached relation.
    counted: &'static str,
}

fn run_path(p: &Path, roles: bool) {
    let c = Cluster::start(&format!("reach-{}{}", p.name, if roles { "-roles" } else { "" }));
    c.psql(TRAP);
    c.psql(p.setup);
    let f = Fixture::new(p.statements, p.grants);
    let mut extra: Vec<&str> = Vec::new();
    if roles {
        c.roles_for(&f.plan, "public, trap");
        extra.push("--roles");
    }
    let r = c.host(&f.args("run", false, &extra));
    r.expect_code(2).expect("refusing the plan before any plugin runs (only the catalog was read)");
    for line in p.refusal {
        r.expect(line);
    }
    assert!(!r.all().contains("GATE"), "the gate ran:\n{}", r.all());
    assert!(c.untouched(), "the refused run wrote the ledger");

    // The reached relation granted (a new manifest: new bytes), and any
    // implicit code reviewed: the plan runs.
    f.grant(p.granted);
    if roles {
        c.psql(
            "DROP OWNED BY rollout_test_verdict, rollout_test_catalog, rollout_test_verdict_verify;
                DROP ROLE rollout_test_verdict, rollout_test_catalog, rollout_test_verdict_verify",
        );
        c.roles_for(&f.plan, "public, trap");
    }
    let lock = f.lock();
    if p.review {
        c.review(&f.plan, &lock, false);
        extra.extend(["--lock", lock.as_str()]);
    }
    let r = c.host(&f.args("run", false, &extra));
    r.expect_code(0).expect("Audited the catalog:").expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql(p.after), "t", "{}:\n{}", p.after, r.all());
    let report = std::fs::read_to_string(c.reports().last().unwrap().join("report.md")).unwrap();
    assert!(report.contains("Tier 1 — test-catalog: rows changed, as the server counted them"), "{report}");
    assert!(report.contains(p.counted), "expected {:?} in report.md:\n{report}", p.counted);
}

/// A partitioned table whose partitions another role owns, holding data: a
/// delete on it deletes from each partition, at every level.
const PARTITION: Path = Path {
    name: "partition",
    setup: r#"
CREATE ROLE someone;
CREATE TABLE public.parts (k int, v text) PARTITION BY LIST (k);
CREATE TABLE public.parts_a PARTITION OF public.parts FOR VALUES IN (1);
CREATE TABLE public.parts_b PARTITION OF public.parts FOR VALUES IN (2) PARTITION BY LIST (v);
CREATE TABLE public.parts_b1 PARTITION OF public.parts_b FOR VALUES IN ('x');
ALTER TABLE public.parts_a OWNER TO someone;
ALTER TABLE public.parts_b1 OWNER TO someone;
INSERT INTO public.parts VALUES (1, 'a'), (1, 'b'), (2, 'x');
"#,
    statements: &["DELETE FROM public.parts WHERE k >= 1"],
    grants: r#"read = ["public.parts"]
delete = ["public.parts"]"#,
    granted: r#"read = ["public.parts"]
delete = ["public.parts", "public.parts_a", "public.parts_b", "public.parts_b1"]"#,
    refusal: &[
        r#"Ungranted public.parts → partition → public.parts_a needs delete = ["public.parts_a"] in plugin test-catalog"#,
        r#"Ungranted public.parts → partition → public.parts_b needs delete = ["public.parts_b"] in plugin test-catalog"#,
        r#"Ungranted public.parts → partition → public.parts_b → partition → public.parts_b1 needs delete = ["public.parts_b1"] in plugin test-catalog"#,
    ],
    review: false,
    after: "SELECT count(*) = 0 FROM public.parts",
    counted: "| public.parts\\_a | 0 | 0 | 2 |  |",
};

#[test]
fn a_delete_on_a_partitioned_table_needs_a_grant_on_every_partition() {
    run_path(&PARTITION, false);
    // And a drop of it drops them all.
    let c = Cluster::start("reach-partition-drop");
    c.psql(PARTITION.setup);
    let f = Fixture::new(&["DROP TABLE public.parts"], r#"drop = ["public.parts"]"#);
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(2);
    r.expect(r#"public.parts → partition → public.parts_b → partition → public.parts_b1 needs drop = ["public.parts_b1"] in plugin test-catalog"#);
    assert_eq!(c.scalar("SELECT count(*) FROM public.parts"), 3);
}

#[test]
fn a_delete_on_a_partitioned_table_needs_a_grant_on_every_partition_under_roles() {
    run_path(&PARTITION, true);
}

/// An inheritance parent: a delete on it deletes its children's rows.
const INHERITANCE: Path = Path {
    name: "inherits",
    setup: r#"
CREATE TABLE public.animals (id int, name text);
CREATE TABLE public.dogs (breed text) INHERITS (public.animals);
INSERT INTO public.animals VALUES (1, 'cat');
INSERT INTO public.dogs VALUES (2, 'rex', 'lab'), (3, 'ace', 'pug');
"#,
    statements: &["DELETE FROM public.animals"],
    grants: r#"delete = ["public.animals"]"#,
    granted: r#"delete = ["public.animals", "public.dogs"]"#,
    refusal: &[
        r#"Ungranted public.animals → inheritance child → public.dogs needs delete = ["public.dogs"] in plugin test-catalog"#,
    ],
    review: false,
    after: "SELECT count(*) = 0 FROM public.dogs",
    counted: "| public.dogs | 0 | 0 | 2 |  |",
};

#[test]
fn a_delete_on_an_inheritance_parent_needs_a_grant_on_its_children() {
    run_path(&INHERITANCE, false);
}

#[test]
fn a_delete_on_an_inheritance_parent_needs_a_grant_on_its_children_under_roles() {
    run_path(&INHERITANCE, true);
}

/// A foreign key in another schema with ON DELETE CASCADE: 50 rows there.
const CASCADE_SETUP: &str = r#"
CREATE SCHEMA crm;
CREATE TABLE public.rt_parent (id int PRIMARY KEY);
CREATE TABLE crm.rt_subscription (id int, parent_id int REFERENCES public.rt_parent ON DELETE CASCADE);
INSERT INTO public.rt_parent SELECT g FROM generate_series(1, 5) g;
INSERT INTO crm.rt_subscription SELECT g, 1 + g % 5 FROM generate_series(1, 50) g;
"#;

const CASCADE: Path = Path {
    name: "cascade",
    setup: CASCADE_SETUP,
    statements: &["DELETE FROM public.rt_parent"],
    grants: r#"delete = ["public.rt_parent"]"#,
    granted: r#"delete = ["public.rt_parent", "crm.rt_subscription"]"#,
    refusal: &[
        r#"Ungranted public.rt_parent → ON DELETE CASCADE → crm.rt_subscription needs delete = ["crm.rt_subscription"] in plugin test-catalog"#,
    ],
    review: false,
    after: "SELECT count(*) = 0 FROM crm.rt_subscription",
    counted: "| crm.rt\\_subscription | 0 | 0 | 50 |  |",
};

#[test]
fn a_delete_that_cascades_into_another_schema_needs_a_grant_there() {
    run_path(&CASCADE, false);
}

#[test]
fn a_delete_that_cascades_into_another_schema_needs_a_grant_there_under_roles() {
    run_path(&CASCADE, true);
}

/// ON DELETE SET NULL updates the referencing rows.
const SET_NULL: Path = Path {
    name: "setnull",
    setup: r#"
CREATE SCHEMA crm;
CREATE TABLE public.rt_parent (id int PRIMARY KEY);
CREATE TABLE crm.rt_note (id int, parent_id int REFERENCES public.rt_parent ON DELETE SET NULL);
INSERT INTO public.rt_parent VALUES (1), (2);
INSERT INTO crm.rt_note VALUES (1, 1), (2, 1), (3, 2);
"#,
    statements: &["DELETE FROM public.rt_parent"],
    grants: r#"delete = ["public.rt_parent"]"#,
    granted: r#"delete = ["public.rt_parent"]
update = ["crm.rt_note"]"#,
    refusal: &[
        r#"Ungranted public.rt_parent → ON DELETE SET NULL → crm.rt_note needs update = ["crm.rt_note"] in plugin test-catalog"#,
    ],
    review: false,
    after: "SELECT count(*) = 3 FROM crm.rt_note WHERE parent_id IS NULL",
    counted: "| crm.rt\\_note | 0 | 3 | 0 |  |",
};

#[test]
fn a_delete_that_sets_null_needs_an_update_grant_there() {
    run_path(&SET_NULL, false);
}

#[test]
fn a_delete_that_sets_null_needs_an_update_grant_there_under_roles() {
    run_path(&SET_NULL, true);
}

/// An auto-updatable view: an insert into it writes its base table.
const VIEW: Path = Path {
    name: "view",
    setup: r#"
CREATE TABLE public.items_base (id int, note text);
CREATE VIEW public.v_items AS SELECT id, note FROM public.items_base;
"#,
    statements: &["INSERT INTO public.v_items (id, note) VALUES (1, 'through the view')"],
    grants: r#"insert = ["public.v_items"]"#,
    granted: r#"insert = ["public.v_items", "public.items_base"]"#,
    refusal: &[
        r#"Ungranted public.v_items → view → public.items_base needs insert = ["public.items_base"] in plugin test-catalog"#,
    ],
    review: false,
    after: "SELECT count(*) = 1 FROM public.items_base",
    counted: "| public.items\\_base | 1 | 0 | 0 |  |",
};

#[test]
fn an_insert_into_a_view_needs_a_grant_on_its_base_table() {
    run_path(&VIEW, false);
}

#[test]
fn an_insert_into_a_view_needs_a_grant_on_its_base_table_under_roles() {
    run_path(&VIEW, true);
}

/// A rule that writes an audit table in another schema: the rule is
/// implicit code (reviewed) and what it writes is read from its text
/// (granted).
const RULE: Path = Path {
    name: "rule",
    setup: r#"
CREATE SCHEMA audit;
CREATE TABLE public.r_src (id int);
INSERT INTO public.r_src VALUES (1), (2), (3);
CREATE TABLE audit.r_log (id int, what text);
CREATE RULE r_log AS ON DELETE TO public.r_src DO ALSO INSERT INTO audit.r_log VALUES (OLD.id, 'deleted');
"#,
    statements: &["DELETE FROM public.r_src"],
    grants: r#"delete = ["public.r_src"]"#,
    granted: r#"delete = ["public.r_src"]
insert = ["audit.r_log"]"#,
    refusal: &[
        "Unreviewed rule r_log on public.r_src — reached by plugin test-catalog; no lock file was given",
        r#"Ungranted public.r_src → rule r_log (DO ALSO INSERT) → audit.r_log needs insert = ["audit.r_log"] in plugin test-catalog"#,
    ],
    review: true,
    after: "SELECT count(*) = 3 FROM audit.r_log",
    counted: "| audit.r\\_log | 3 | 0 | 0 |  |",
};

#[test]
fn a_delete_whose_rule_writes_elsewhere_needs_a_grant_there_and_a_review() {
    run_path(&RULE, false);
}

#[test]
fn a_delete_whose_rule_writes_elsewhere_needs_a_grant_there_and_a_review_under_roles() {
    run_path(&RULE, true);
}

/// A trigger writing an audit table: what it writes cannot be read from
/// the catalog, so the trigger is reviewed, and the server's count flags
/// the write no grant names.
const TRIGGER_SETUP: &str = r#"
CREATE SCHEMA audit;
CREATE TABLE public.items (id int);
CREATE TABLE audit.log (id int, what text);
CREATE FUNCTION public.log_items() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN INSERT INTO audit.log VALUES (NEW.id, 'inserted'); RETURN NEW; END $$;
CREATE TRIGGER log_items AFTER INSERT ON public.items FOR EACH ROW EXECUTE FUNCTION public.log_items();
"#;

const TRIGGER: Path = Path {
    name: "trigger",
    setup: TRIGGER_SETUP,
    statements: &["INSERT INTO public.items VALUES (7)"],
    grants: r#"insert = ["public.items"]"#,
    granted: r#"insert = ["public.items"]"#,
    refusal: &["Unreviewed trigger log_items on public.items — reached by plugin test-catalog; no lock file was given"],
    review: true,
    after: "SELECT count(*) = 1 FROM audit.log",
    counted: "| audit.log | 1 | 0 | 0 | insert |",
};

#[test]
fn a_trigger_writing_elsewhere_is_reviewed_and_its_write_flagged() {
    run_path(&TRIGGER, false);
}

#[test]
fn a_trigger_writing_elsewhere_is_reviewed_and_its_write_flagged_under_roles() {
    run_path(&TRIGGER, true);
}

/// The dry run's changes come from the server: a DELETE whose cascade
/// reaches another schema names the child relation and its row count, and
/// a trigger's write no grant names is flagged; nothing stays.
#[test]
fn a_dry_run_names_every_relation_the_server_changed_and_flags_what_no_grant_names() {
    let c = Cluster::start("reach-dry");
    c.psql(CASCADE_SETUP);
    c.psql(TRIGGER_SETUP);
    let f = Fixture::new(
        &["DELETE FROM public.rt_parent", "INSERT INTO public.items VALUES (7)"],
        r#"delete = ["public.rt_parent", "crm.rt_subscription"]
insert = ["public.items"]"#,
    );
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    let r = c.host(&f.args("run", false, &["--dry-run", "--lock", &lock]));
    r.expect_code(0).expect("DRY RUN COMPLETE");
    r.expect("Would change public.rt_parent — delete 5 rows (1 statement)");
    r.expect("Would change crm.rt_subscription — delete 50 rows (no statement named it: reached through the catalog)");
    r.expect("Would change public.items — insert 1 row (1 statement)");
    r.expect(
        "Would change audit.log — insert 1 row (no statement named it: reached through the catalog); \
         no insert grant of test-catalog names it",
    );
    assert_eq!(c.scalar("SELECT count(*) FROM crm.rt_subscription"), 50, "the dry run kept its delete");
    assert_eq!(c.scalar("SELECT count(*) FROM audit.log"), 0, "the dry run kept the trigger's write");
    let report = std::fs::read_to_string(c.reports().last().unwrap().join("report.md")).unwrap();
    assert!(report.contains("| crm.rt\\_subscription | 0 | 0 | 50 |  |"), "{report}");
    assert!(report.contains("| audit.log | 1 | 0 | 0 | insert |"), "{report}");
    let json = std::fs::read_to_string(c.reports().last().unwrap().join("report.json")).unwrap();
    assert!(json.contains(r#""not_granted": ["#), "{json}");
    // A real run says the same of what it committed.
    let r = c.host(&f.args("run", false, &["--lock", &lock]));
    r.expect_code(0).expect("Changed audit.log — insert 1 row(s); no insert grant of test-catalog names it");
}

/// `host grants … --database-url`: per plugin, the implicit code it
/// reaches (with the digest the lock records) and every path its writes
/// take, granted or not, as text and JSON; without a database it says the
/// audit needs one, and a lock file written so records no catalog object.
#[test]
fn the_reviewer_sees_per_plugin_the_implicit_code_and_every_path_its_writes_take() {
    let c = Cluster::start("reach-review");
    c.psql(CASCADE_SETUP);
    c.psql(TRIGGER_SETUP);
    let f = Fixture::new(
        &["DELETE FROM public.rt_parent", "INSERT INTO public.items VALUES (7)"],
        r#"delete = ["public.rt_parent"]
insert = ["public.items"]"#,
    );
    let url = c.url();
    let mut a = vec!["grants"];
    a.extend(f.plan.iter().map(String::as_str));
    let offline = c.host(&a);
    offline.expect_code(0).expect("Note the catalog audit");
    assert!(!offline.stdout.contains("catalog audit"), "{}", offline.stdout);
    a.extend(["--database-url", url.as_str()]);
    let r = c.host(&a);
    r.expect_code(0).expect("catalog audit of database `directus` (2 queries, ");
    let text = &r.stdout;
    let section = text.split("plugin test-catalog — tier 1 (test-catalog)").nth(2).unwrap_or_else(|| panic!("{text}"));
    assert!(section.contains("  implicit  trigger log_items on public.items  [sha256 "), "{text}");
    assert!(
        section.contains(
            r#"  reaches   delete public.rt_parent → ON DELETE CASCADE → crm.rt_subscription: delete NOT GRANTED: needs delete = ["crm.rt_subscription"]"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "plugin test-verdict — gate (test-verdict)\n  (nothing: no implicit code, no write past its target)"
        ),
        "{text}"
    );
    a.push("--json");
    let j: serde_json::Value = serde_json::from_str(&c.host(&a).expect_code(0).stdout).unwrap();
    let tier =
        j["catalog"]["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "test-catalog").unwrap().clone();
    assert_eq!(tier["implicit"][0]["kind"], "trigger");
    assert_eq!(tier["implicit"][0]["object"], "trigger log_items on public.items");
    assert_eq!(tier["reach"][0]["relation"], "crm.rt_subscription");
    assert_eq!(tier["reach"][0]["needs"], "delete");
    assert_eq!(tier["reach"][0]["granted"], false);
    assert_eq!(tier["reach"][0]["path"][0]["via"], "ON DELETE CASCADE");
    // A lock file written without a database records no catalog object:
    // the trigger is then not in it.
    let lock = f.lock();
    let mut w = vec!["grants"];
    w.extend(f.plan.iter().map(String::as_str));
    w.extend(["--lock", lock.as_str()]);
    c.host(&w).expect_code(0).expect("Note the catalog audit");
    assert!(!std::fs::read_to_string(&lock).unwrap().contains("[catalog]"));
    let r = c.host(&f.args("run", false, &["--lock", &lock]));
    r.expect_code(2)
        .expect(&format!("trigger log_items on public.items (not in the lock file {lock} (never reviewed))"));
}

/// What `host rehearse` will use to look wherever a plan can write:
/// `host::audit::reach`, every relation the plan's writes reach, with the
/// path to each, from the catalog alone.
#[test]
fn the_reach_of_a_plan_is_one_library_call() {
    let c = Cluster::start("reach-library");
    c.psql(CASCADE_SETUP);
    let f = Fixture::new(&["DELETE FROM public.rt_parent"], r#"delete = ["public.rt_parent"]"#);
    let plugins: Vec<host::plan::Plugin> =
        f.plan.iter().map(|p| host::plan::read(std::path::Path::new(p), None).expect("a plugin")).collect();
    let target = host::db::Target::new(Some(&c.url())).unwrap();
    let reach = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let client = target.connect("reach test").await.unwrap();
        host::audit::reach(&client, &plugins.iter().collect::<Vec<_>>()).await.unwrap()
    });
    assert_eq!(reach.relations().into_iter().collect::<Vec<_>>(), ["crm.rt_subscription"]);
    let r = &reach.reached[0];
    assert_eq!((r.plugin.as_str(), r.from.as_str(), r.granted), ("test-catalog", "public.rt_parent", false));
    assert_eq!(r.path_text(), "public.rt_parent → ON DELETE CASCADE → crm.rt_subscription");
}
