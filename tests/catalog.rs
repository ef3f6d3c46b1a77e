//! The catalog audit, implicit code: an object in the target's catalog that
//! makes a plain statement run a function no statement names — a default
//! operator class, a cast, an operator, a default conversion, an event
//! trigger, a column type, a trigger, a rule, a policy, a default — refuses
//! the plan before the gate, naming it, until the lock file lists it as
//! reviewed. Each case also proves the tripwire: the checker allows the
//! case's statements (`host explain`), and once the object is reviewed the
//! same plan runs them and the trap function runs (its counter moves),
//! unless the server's EXECUTE check stops it under roles — so the audit is
//! what stood between the statement and the function. Every case runs with
//! restricted roles off and on.

mod support;

use support::audit::*;
use support::*;

/// What the trap does once the object is reviewed and the plan runs.
#[derive(Debug, Clone, Copy)]
enum Tripwire {
    /// The trap ran; the run completes.
    Hits,
    /// The trap ran, then the tier failed as the text says (a value the
    /// plugin contract does not carry).
    HitsThenFails(&'static str),
    /// The server refused the trap function to the plugin's role: EXECUTE
    /// is checked there (roles on).
    Denied(&'static str),
    /// The function ran and says so itself (a C function: no counter).
    Says(&'static str),
    /// A superuser bypasses row-level security: the policy never runs.
    Bypassed,
}

struct Case {
    name: &'static str,
    setup: &'static str,
    /// Each statement, and whether it must run the trap on its own.
    statements: &'static [(&'static str, bool)],
    grants: &'static str,
    /// What the refusal names.
    objects: &'static [&'static str],
    off: Tripwire,
    on: Tripwire,
    /// A change of the object's code after the review: refused again.
    redefine: Option<&'static str>,
    /// Objects of the setup the refusal must not name: they change nothing.
    harmless: &'static [&'static str],
}

fn run_case(case: &Case, roles: bool) {
    let c = Cluster::start(&format!("{}{}", case.name, if roles { "-roles" } else { "" }));
    c.psql(TRAP);
    c.psql(case.setup);
    let statements: Vec<&str> = case.statements.iter().map(|(s, _)| *s).collect();
    let f = Fixture::new(&statements, case.grants);
    let mut extra: Vec<&str> = Vec::new();
    if roles {
        c.roles_for(&f.plan, "public, trap");
        extra.push("--roles");
    }
    let before = c.hits();

    // Refused before the gate, naming each object; nothing written, no trap ran.
    let r = c.host(&f.args("run", true, &extra));
    r.expect_code(2).expect("refusing the plan before any plugin runs (only the catalog was read)");
    r.expect("no lock file was given").expect("host grants PLUGINS… --database-url URL --lock FILE");
    for o in case.objects {
        r.expect(&format!("Unreviewed {o} — reached by "));
    }
    for o in case.harmless {
        assert!(!r.all().contains(&format!("Unreviewed {o} ")), "{o} was named:\n{}", r.all());
    }
    assert!(!r.all().contains("GATE"), "the gate ran:\n{}", r.all());
    assert!(c.untouched(), "the refused run wrote the ledger");
    assert_eq!(c.hits(), before, "a trap ran before the refusal");

    // The checker allows every statement: the audit is what stops them.
    for s in &statements {
        c.host(&["explain", &f.tier, s]).expect_code(0).expect("ALLOWED");
    }

    // Reviewed: the lock file lists each object; the same plan runs.
    let lock = f.lock();
    let review = c.review(&f.plan, &lock, false);
    review.expect("reviewed catalog object(s)");
    for o in case.objects {
        review.expect(&format!("Pinned {o} (definition sha256 "));
    }
    let locked = std::fs::read_to_string(&lock).unwrap();
    for o in case.objects {
        assert!(locked.contains(o), "{o} not recorded in the lock file:\n{locked}");
    }
    let mut reviewed = extra.clone();
    reviewed.extend(["--lock", lock.as_str()]);
    let r = c.host(&f.args("run", true, &reviewed));
    r.expect("Audited the catalog:").expect(&format!("each reviewed in {lock}"));
    let tripwire = if roles { case.on } else { case.off };
    match tripwire {
        Tripwire::Hits => {
            r.expect_code(0).expect("ROLLOUT COMPLETE");
            each_statement_hits(case, &r, before);
        }
        Tripwire::HitsThenFails(why) => {
            r.expect_code(4).expect(why);
            assert!(c.hits() > before, "the trap did not run:\n{}", r.all());
        }
        Tripwire::Denied(why) => {
            r.expect_code(4).expect(why);
            assert_eq!(c.hits(), before, "the trap ran under roles:\n{}", r.all());
        }
        Tripwire::Says(what) => {
            r.expect_code(4).expect(what);
        }
        Tripwire::Bypassed => {
            r.expect_code(0);
            assert_eq!(c.hits(), before, "the trap ran:\n{}", r.all());
        }
    }
    // Its code changed since the review: unreviewed again.
    if let Some(sql) = case.redefine {
        c.psql(sql);
        let again = c.hits();
        let r = c.host(&f.args("run", true, &reviewed));
        r.expect_code(2).expect(&format!("its definition changed since the lock file {lock} recorded it"));
        assert_eq!(c.hits(), again, "the changed code ran");
    }
}

/// After each statement marked so, the trap's counter moved (the tier logs
/// `TRIPWIRE n hits=k`).
fn each_statement_hits(case: &Case, r: &Run, before: i64) {
    let mut last = before;
    for (i, (stmt, hits)) in case.statements.iter().enumerate() {
        let tag = format!("TRIPWIRE {} hits=", i + 1);
        let line = r.all().lines().find(|l| l.contains(&tag)).map(str::to_string);
        let line = line.unwrap_or_else(|| panic!("no {tag} line:\n{}", r.all()));
        let now: i64 = line.rsplit('=').next().unwrap().trim().parse().unwrap();
        if *hits {
            assert!(now > last, "`{stmt}` did not run the trap ({last} → {now}):\n{}", r.all());
        }
        last = now;
    }
}

/// A default btree operator class for `point` (which has none), its
/// comparison and equality functions traps, with its operators in
/// pg_catalog (where every statement finds them): every statement that
/// sorts, groups, compares or indexes points runs its functions.
const OPCLASS_SETUP: &str = r#"
CREATE FUNCTION public.pt_cmp(point, point) RETURNS int LANGUAGE sql IMMUTABLE SECURITY DEFINER
  AS $$ SELECT (trap.hit() * 0)::int + btfloat8cmp($1[0], $2[0]) $$;
CREATE FUNCTION public.pt_lt(point, point) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT $1[0] < $2[0] $$;
CREATE FUNCTION public.pt_le(point, point) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT $1[0] <= $2[0] $$;
CREATE FUNCTION public.pt_eq(point, point) RETURNS bool LANGUAGE sql IMMUTABLE SECURITY DEFINER
  AS $$ SELECT trap.hit() > 0 AND $1[0] = $2[0] $$;
CREATE FUNCTION public.pt_ge(point, point) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT $1[0] >= $2[0] $$;
CREATE FUNCTION public.pt_gt(point, point) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT $1[0] > $2[0] $$;
CREATE OPERATOR pg_catalog.< (LEFTARG = point, RIGHTARG = point, FUNCTION = public.pt_lt);
CREATE OPERATOR pg_catalog.<= (LEFTARG = point, RIGHTARG = point, FUNCTION = public.pt_le);
CREATE OPERATOR pg_catalog.= (LEFTARG = point, RIGHTARG = point, FUNCTION = public.pt_eq);
CREATE OPERATOR pg_catalog.>= (LEFTARG = point, RIGHTARG = point, FUNCTION = public.pt_ge);
CREATE OPERATOR pg_catalog.> (LEFTARG = point, RIGHTARG = point, FUNCTION = public.pt_gt);
CREATE OPERATOR CLASS public.point_ops DEFAULT FOR TYPE point USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
  FUNCTION 1 public.pt_cmp(point, point);
CREATE TABLE public.pts (p point);
INSERT INTO public.pts VALUES ('(1,1)'), ('(2,2)'), ('(0,0)');
"#;

const OPCLASS_OBJECTS: &[&str] =
    &["operator class public.point_ops DEFAULT FOR TYPE point USING btree", "operator pg_catalog.<(point, point)"];

/// What sorts or compares points runs the class's comparison function.
/// PostgreSQL checks no EXECUTE on it: under roles too.
const OPCLASS: Case = Case {
    name: "opclass",
    setup: OPCLASS_SETUP,
    statements: &[
        ("SELECT p::text AS shown FROM public.pts ORDER BY p", true),
        ("SELECT GREATEST(p, '(0,0)'::point)::text FROM public.pts", true),
        ("SELECT ROW(p, 1) < ROW(p, 2) FROM public.pts", true),
        ("SELECT ARRAY[p] < ARRAY['(5,5)'::point] FROM public.pts", true),
        ("CREATE TABLE public.pk_made (p point PRIMARY KEY)", false),
        ("INSERT INTO public.pk_made SELECT p FROM public.pts", true),
    ],
    grants: r#"read = ["public.pts", "trap.hits_now"]
create = ["public.pk_made", "public.pk_made_pkey"]
insert = ["public.pk_made"]"#,
    objects: OPCLASS_OBJECTS,
    off: Tripwire::Hits,
    on: Tripwire::Hits,
    redefine: None,
    harmless: &[],
};

#[test]
fn a_default_operator_class_for_a_built_in_type_is_refused_until_reviewed() {
    run_case(&OPCLASS, false);
}

#[test]
fn a_default_operator_class_for_a_built_in_type_is_refused_until_reviewed_under_roles() {
    run_case(&OPCLASS, true);
}

/// What groups points (DISTINCT, GROUP BY, UNION, a window's peers) runs
/// the class's equality operator, on whose function PostgreSQL does check
/// EXECUTE.
const OPCLASS_EQUALITY: Case = Case {
    name: "opclass-eq",
    setup: OPCLASS_SETUP,
    statements: &[
        ("SELECT count(*) FROM (SELECT DISTINCT p FROM public.pts) d", true),
        ("SELECT count(*) FROM (SELECT p FROM public.pts GROUP BY p) g", true),
        ("SELECT count(*) FROM (SELECT p FROM public.pts UNION SELECT p FROM public.pts) u", true),
        ("SELECT rank() OVER (ORDER BY p) FROM public.pts", true),
    ],
    grants: r#"read = ["public.pts", "trap.hits_now"]"#,
    objects: OPCLASS_OBJECTS,
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for function pt_eq"),
    redefine: None,
    harmless: &[],
};

#[test]
fn grouping_by_a_default_operator_class_is_refused_until_reviewed() {
    run_case(&OPCLASS_EQUALITY, false);
}

#[test]
fn grouping_by_a_default_operator_class_is_refused_until_reviewed_under_roles() {
    run_case(&OPCLASS_EQUALITY, true);
}

/// A cast between two built-in types through a trap function.
const CAST: Case = Case {
    name: "cast",
    setup: r#"
CREATE FUNCTION public.vc_point(varchar) RETURNS point LANGUAGE sql SECURITY DEFINER AS $$ SELECT point(trap.hit(), 0) $$;
CREATE CAST (varchar AS point) WITH FUNCTION public.vc_point(varchar);
CREATE TABLE public.vcs (v varchar);
INSERT INTO public.vcs VALUES ('1,2');
"#,
    statements: &[("SELECT CAST(v AS point)::text FROM public.vcs", true)],
    grants: r#"read = ["public.vcs", "trap.hits_now"]"#,
    objects: &["cast (character varying AS point) WITH FUNCTION public.vc_point(character varying)"],
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for function vc_point"),
    redefine: Some(
        "CREATE OR REPLACE FUNCTION public.vc_point(varchar) RETURNS point LANGUAGE sql SECURITY DEFINER \
         AS $$ SELECT point(trap.hit() + 1, 0) $$",
    ),
    harmless: &[],
};

#[test]
fn a_cast_between_built_in_types_is_refused_until_reviewed() {
    run_case(&CAST, false);
}

#[test]
fn a_cast_between_built_in_types_is_refused_until_reviewed_under_roles() {
    run_case(&CAST, true);
}

/// An operator a superuser put in pg_catalog (found by every statement:
/// the host pins `search_path` to it), and one elsewhere on built-in types.
const OPERATOR: Case = Case {
    name: "operator",
    setup: r#"
CREATE FUNCTION public.text_plus(text, int4) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT $1 || trap.hit() $$;
CREATE OPERATOR pg_catalog.+ (LEFTARG = text, RIGHTARG = int4, FUNCTION = public.text_plus);
CREATE OPERATOR public.=== (LEFTARG = int4, RIGHTARG = int4, FUNCTION = int4eq);
CREATE TABLE public.words (t text);
INSERT INTO public.words VALUES ('a');
"#,
    statements: &[("SELECT t + 1 FROM public.words", true)],
    grants: r#"read = ["public.words", "trap.hits_now"]"#,
    objects: &["operator pg_catalog.+(text, integer)", "operator public.===(integer, integer)"],
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for function text_plus"),
    redefine: None,
    harmless: &[],
};

#[test]
fn an_operator_on_built_in_types_is_refused_until_reviewed() {
    run_case(&OPERATOR, false);
}

#[test]
fn an_operator_on_built_in_types_is_refused_until_reviewed_under_roles() {
    run_case(&OPERATOR, true);
}

/// A default conversion for an encoding pair that has none, in pg_catalog
/// (where `convert()` finds it). Conversion functions are C; this one is
/// the server's own ISO-8859-to-UTF-8 code, which says it ran when asked
/// for another pair. (Created with a function that accepts the pair, then
/// replaced: CREATE CONVERSION tries the function once.)
const CONVERSION: Case = Case {
    name: "conversion",
    setup: r#"
CREATE FUNCTION pg_catalog.trap_conv(int4, int4, cstring, internal, int4, bool) RETURNS int4 LANGUAGE internal AS 'int4mod';
CREATE DEFAULT CONVERSION pg_catalog.trap_conv FOR 'LATIN9' TO 'LATIN1' FROM pg_catalog.trap_conv;
CREATE OR REPLACE FUNCTION pg_catalog.trap_conv(int4, int4, cstring, internal, int4, bool) RETURNS int4
  LANGUAGE c AS '$libdir/utf8_and_iso8859', 'iso8859_to_utf8';
-- The role proof refuses PUBLIC's EXECUTE on a function made in pg_catalog
-- after initdb; a conversion's function runs with no EXECUTE check anyway.
REVOKE EXECUTE ON FUNCTION pg_catalog.trap_conv(int4, int4, cstring, internal, int4, bool) FROM PUBLIC;
"#,
    statements: &[("SELECT convert('abc'::bytea, 'LATIN9', 'LATIN1')", false)],
    grants: r#"functions = ["pg_catalog.convert"]"#,
    objects: &["default conversion pg_catalog.trap_conv FOR LATIN9 TO LATIN1"],
    off: Tripwire::Says(r#"expected destination encoding "UTF8", but got "LATIN1""#),
    on: Tripwire::Says(r#"expected destination encoding "UTF8", but got "LATIN1""#),
    redefine: None,
    harmless: &[],
};

#[test]
fn a_default_conversion_is_refused_until_reviewed() {
    run_case(&CONVERSION, false);
}

#[test]
fn a_default_conversion_is_refused_until_reviewed_under_roles() {
    run_case(&CONVERSION, true);
}

/// An event trigger: it fires on a plugin's CREATE TABLE.
const EVENT_TRIGGER: Case = Case {
    name: "evtrigger",
    setup: r#"
CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN IF current_query() ILIKE '%trap_made%' THEN PERFORM trap.hit(); END IF; END $$;
CREATE EVENT TRIGGER trap_ddl ON ddl_command_start EXECUTE FUNCTION public.on_ddl();
"#,
    statements: &[("CREATE TABLE public.trap_made (id int)", true)],
    grants: r#"read = ["trap.hits_now"]
create = ["public.trap_made"]"#,
    objects: &["event trigger trap_ddl ON ddl_command_start"],
    off: Tripwire::Hits,
    on: Tripwire::Hits,
    redefine: None,
    harmless: &[],
};

#[test]
fn an_event_trigger_is_refused_until_reviewed() {
    run_case(&EVENT_TRIGGER, false);
}

#[test]
fn an_event_trigger_is_refused_until_reviewed_under_roles() {
    run_case(&EVENT_TRIGGER, true);
}

/// A column type that is not built in (as an extension's is): the host
/// reads results in binary, so the server runs the type's send function;
/// and a domain whose check calls a trap.
const TYPE: Case = Case {
    name: "type",
    setup: r#"
CREATE TYPE public.mytext;
CREATE FUNCTION public.mytext_in(cstring) RETURNS public.mytext LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION public.mytext_out(public.mytext) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE public.mytext (INPUT = public.mytext_in, OUTPUT = public.mytext_out, LIKE = text);
CREATE FUNCTION public.mytext_send(public.mytext) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT SECURITY DEFINER
  AS $$ SELECT convert_to(trap.hit()::text, 'UTF8') $$;
ALTER TYPE public.mytext SET (SEND = public.mytext_send);
CREATE DOMAIN public.checked AS int CHECK (trap.hit_bool());
CREATE TABLE public.typed (v public.mytext, d public.checked);
INSERT INTO public.typed (v) VALUES ('a');
"#,
    statements: &[("SELECT v FROM public.typed", true)],
    grants: r#"read = ["public.typed", "trap.hits_now"]"#,
    objects: &["type public.mytext", "type public.checked"],
    off: Tripwire::HitsThenFails("which the plugin contract does not carry"),
    on: Tripwire::HitsThenFails("which the plugin contract does not carry"),
    redefine: None,
    harmless: &[],
};

#[test]
fn a_column_type_that_is_not_built_in_is_refused_until_reviewed() {
    run_case(&TYPE, false);
}

#[test]
fn a_column_type_that_is_not_built_in_is_refused_until_reviewed_under_roles() {
    run_case(&TYPE, true);
}

/// A trigger on a granted table. PostgreSQL checks EXECUTE on a trigger
/// function when the trigger is created, never when it fires.
const TRIGGER: Case = Case {
    name: "trigger",
    setup: r#"
CREATE TABLE public.items (id int);
CREATE FUNCTION public.on_items() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM trap.hit(); RETURN NEW; END $$;
CREATE TRIGGER trap_items AFTER INSERT ON public.items FOR EACH ROW EXECUTE FUNCTION public.on_items();
"#,
    statements: &[("INSERT INTO public.items VALUES (1)", true)],
    grants: r#"read = ["trap.hits_now"]
insert = ["public.items"]"#,
    objects: &["trigger trap_items on public.items"],
    off: Tripwire::Hits,
    on: Tripwire::Hits,
    redefine: None,
    harmless: &[],
};

#[test]
fn a_trigger_on_a_granted_table_is_refused_until_reviewed() {
    run_case(&TRIGGER, false);
}

#[test]
fn a_trigger_on_a_granted_table_is_refused_until_reviewed_under_roles() {
    run_case(&TRIGGER, true);
}

/// A rule on a granted table (every rule is implicit code: it runs
/// statements of its own).
const RULE: Case = Case {
    name: "rule",
    setup: r#"
CREATE TABLE public.ruled (id int);
CREATE RULE trap_rule AS ON INSERT TO public.ruled DO ALSO SELECT trap.hit();
"#,
    statements: &[("INSERT INTO public.ruled VALUES (1)", true)],
    grants: r#"read = ["trap.hits_now"]
insert = ["public.ruled"]"#,
    objects: &["rule trap_rule on public.ruled"],
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for function hit"),
    redefine: None,
    harmless: &[],
};

#[test]
fn a_rule_on_a_granted_table_is_refused_until_reviewed() {
    run_case(&RULE, false);
}

#[test]
fn a_rule_on_a_granted_table_is_refused_until_reviewed_under_roles() {
    run_case(&RULE, true);
}

/// A row-level security policy calling a trap: it runs for a restricted
/// role (which the server then refuses the function); a superuser operator
/// bypasses it.
const POLICY: Case = Case {
    name: "policy",
    setup: r#"
CREATE TABLE public.guarded (id int);
INSERT INTO public.guarded VALUES (1);
ALTER TABLE public.guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY trap_policy ON public.guarded USING (trap.hit_bool());
"#,
    statements: &[("SELECT id FROM public.guarded", false)],
    grants: r#"read = ["public.guarded", "trap.hits_now"]"#,
    objects: &["policy trap_policy on public.guarded"],
    off: Tripwire::Bypassed,
    on: Tripwire::Denied("permission denied for function hit_bool"),
    redefine: None,
    harmless: &[],
};

#[test]
fn a_policy_calling_a_function_is_refused_until_reviewed() {
    run_case(&POLICY, false);
}

#[test]
fn a_policy_calling_a_function_is_refused_until_reviewed_under_roles() {
    run_case(&POLICY, true);
}

/// A column default calling a trap, beside a generated column, a check
/// constraint and an index expression that call functions that are not
/// built in (every expression PostgreSQL stores records what it calls).
const DEFAULT: Case = Case {
    name: "default",
    setup: r#"
CREATE FUNCTION public.plus_one(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT $1 + 1 $$;
CREATE TABLE public.stamped (
  id int CHECK (public.plus_one(id) > 0),
  stamp bigint DEFAULT trap.hit(),
  next int GENERATED ALWAYS AS (public.plus_one(id)) STORED);
CREATE INDEX stamped_next ON public.stamped (public.plus_one(id));
"#,
    statements: &[("INSERT INTO public.stamped (id) VALUES (1)", true)],
    grants: r#"read = ["trap.hits_now"]
insert = ["public.stamped"]"#,
    objects: &[
        "default of public.stamped.stamp",
        "generated column public.stamped.next",
        "constraint stamped_id_check on public.stamped",
        "index public.stamped_next on public.stamped",
    ],
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for function hit"),
    redefine: None,
    harmless: &[],
};

#[test]
fn a_default_calling_a_function_is_refused_until_reviewed() {
    run_case(&DEFAULT, false);
}

#[test]
fn a_default_calling_a_function_is_refused_until_reviewed_under_roles() {
    run_case(&DEFAULT, true);
}

/// Built-in functions that change state, in a check constraint and a
/// default: PostgreSQL records no dependency on a built-in function (it is
/// pinned), so the audit reads what each stored expression calls from the
/// expression itself. A built-in function is inert when it is immutable or
/// stable (and runs no SQL from text), or draws a value (the clock,
/// randomness, a sequence moving forward): those stay unnamed.
const BUILT_IN: Case = Case {
    name: "builtin",
    setup: r#"
CREATE TABLE public.housekept (
  id int,
  status text CONSTRAINT housekeeping CHECK (status <> 'resolved' OR pg_catalog.setval('trap.hits', 4242) > 0),
  note text DEFAULT pg_catalog.set_config('trap.note', 'set', true),
  made timestamptz DEFAULT clock_timestamp(),
  uid uuid DEFAULT gen_random_uuid(),
  shown text GENERATED ALWAYS AS (upper(status)) STORED);
CREATE INDEX housekept_lower ON public.housekept (lower(status)) WHERE id > 0;
"#,
    statements: &[("INSERT INTO public.housekept (id, status) VALUES (1, 'resolved')", true)],
    grants: r#"read = ["trap.hits_now"]
insert = ["public.housekept"]"#,
    objects: &["constraint housekeeping on public.housekept", "default of public.housekept.note"],
    off: Tripwire::Hits,
    on: Tripwire::Denied("permission denied for sequence hits"),
    redefine: None,
    harmless: &[
        "default of public.housekept.made",
        "default of public.housekept.uid",
        "generated column public.housekept.shown",
        "index public.housekept_lower",
    ],
};

#[test]
fn a_built_in_function_that_changes_state_in_a_stored_expression_is_refused_until_reviewed() {
    run_case(&BUILT_IN, false);
}

#[test]
fn a_built_in_function_that_changes_state_in_a_stored_expression_is_refused_until_reviewed_under_roles() {
    run_case(&BUILT_IN, true);
}

/// "Built in" is what initdb made (oid < 16384): an extension's objects are
/// not, though PostgreSQL ships them — its type's I/O, its default
/// operator class and its casts are refused until reviewed like any other.
#[test]
fn an_extensions_objects_are_not_built_in() {
    let c = Cluster::start("extension");
    c.psql(TRAP);
    c.psql(
        "CREATE EXTENSION citext; CREATE TABLE public.people (name citext); INSERT INTO public.people VALUES ('Ann')",
    );
    let f = Fixture::new(&["SELECT name::text FROM public.people ORDER BY name"], r#"read = ["public.people"]"#);
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(2)
        .expect("Unreviewed type public.citext — reached by plugin test-catalog")
        .expect("Unreviewed operator class public.citext_ops DEFAULT FOR TYPE public.citext USING btree")
        .expect("Unreviewed cast (public.citext AS text) WITHOUT FUNCTION");
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    c.host(&f.args("run", false, &["--lock", &lock])).expect_code(0).expect("ROLLOUT COMPLETE");
}

/// Every verb that runs a plugin audits first, before the gate: `gate`,
/// `run`, `run --dry-run` and `rollback` (and so every step of a
/// rehearsal, which runs them).
#[test]
fn every_verb_that_runs_a_plugin_audits_the_catalog_first() {
    let c = Cluster::start("every-verb");
    c.psql(TRAP);
    c.psql(CAST.setup);
    let f = Fixture::new(&["SELECT CAST(v AS point)::text FROM public.vcs"], CAST.grants);
    for verb in [&["gate"][..], &["run", "--dry-run"], &["rollback"]] {
        let r = c.host(&f.args(verb[0], false, &verb[1..]));
        r.expect_code(2).expect("Unreviewed cast (character varying AS point)");
        assert!(!r.all().contains("GATE"), "{verb:?}: the gate ran:\n{}", r.all());
    }
    assert!(c.untouched());
    assert_eq!(c.hits(), 0);
}

/// The database-wide kinds no other case plants: a support function added
/// to a built-in operator family (its built-in classes reach it), and a
/// default table access method that is not built in (every CREATE TABLE
/// without USING runs its handler).
#[test]
fn a_function_added_to_a_built_in_family_and_a_default_access_method_are_refused_until_reviewed() {
    let c = Cluster::start("family-am");
    c.psql(TRAP);
    c.psql(
        "CREATE FUNCTION public.int_text_cmp(int4, text) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 0 $$;
         ALTER OPERATOR FAMILY integer_ops USING btree ADD FUNCTION 1 (int4, text) public.int_text_cmp(int4, text);
         CREATE ACCESS METHOD trap_heap TYPE TABLE HANDLER heap_tableam_handler;
         ALTER DATABASE directus SET default_table_access_method = trap_heap",
    );
    let f = Fixture::new(&["CREATE TABLE public.made_here (id int)"], r#"create = ["public.made_here"]"#);
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(2)
        .expect(
            "Unreviewed function 1 public.int_text_cmp(integer,text) added to operator family integer_ops USING btree",
        )
        .expect("Unreviewed access method trap_heap (default_table_access_method) — reached by every plugin");
    let lock = f.lock();
    c.review(&f.plan, &lock, false);
    c.host(&f.args("run", false, &["--lock", &lock])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(
        c.psql("SELECT amname FROM pg_class JOIN pg_am ON pg_am.oid = relam WHERE relname = 'made_here'"),
        "trap_heap"
    );
}
