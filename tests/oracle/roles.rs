//! The oracle's grant sets, and for each a restricted role holding exactly
//! those privileges plus what the checker claims any plugin may do.

use super::support::root;
use host::manifest::{Grants, Manifest};

/// One grant set: the checker is run with it, the statements it allows are
/// run as `role`.
pub struct GrantSet {
    pub name: &'static str,
    pub role: &'static str,
    /// As the checker is told for gate, verify and probe plugins.
    pub read_only: bool,
    pub grants: Grants,
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The grant sets: read only; write without read; create (with writes on
/// the created table); the hostile fixture's grants; the union of every
/// One-Roof plugin's grants (tiers/*/plugin.toml, parsed by host::manifest);
/// names; DDL; and column lists on read, insert and update (the role holds
/// column privileges exactly as the lists say).
pub fn grant_sets() -> Vec<GrantSet> {
    let read_only = Grants {
        read: list(&["oracle.r", "one_roof.team", "one_roof.responsibility", "one_roof.v_resp_gap"]),
        ..Grants::default()
    };
    let write_only = Grants {
        insert: list(&["oracle.w", "oracle.s", "one_roof.label"]),
        update: list(&["oracle.w", "oracle.s", "one_roof.label"]),
        delete: list(&["oracle.w", "oracle.s", "one_roof.label"]),
        ..Grants::default()
    };
    let made = list(&["oracle.made"]);
    let create = Grants {
        read: list(&["oracle.made", "oracle.r"]),
        insert: made.clone(),
        update: made.clone(),
        delete: made.clone(),
        create: made.clone(),
        drop: made,
        ..Grants::default()
    };
    let hostile = Grants { read: list(&["one_roof.team"]), insert: list(&["one_roof.label"]), ..Grants::default() };
    let named = [
        "setval",
        "nextval",
        "currval",
        "pg_relation_size",
        "pg_table_size",
        "pg_sequence_last_value",
        "to_regproc",
        "to_regtype",
        "to_regnamespace",
        "to_tsvector",
        "has_table_privilege",
    ];
    let names = Grants {
        read: list(&["oracle.r"]),
        update: list(&["oracle.s_id_seq"]),
        sequences: list(&["oracle.s_id_seq"]),
        functions: named.iter().map(|f| format!("pg_catalog.{f}")).collect(),
        ..Grants::default()
    };
    // DDL on what the role owns (PostgreSQL lets only the owner ALTER or
    // index): oracle.made, which it creates, and the enum oracle.mood, which
    // role_sql hands it. A view it may create, read, comment on and drop.
    let ddl = Grants {
        read: list(&["oracle.r", "oracle.made", "oracle.v"]),
        references: list(&["oracle.r"]),
        insert: list(&["oracle.made"]),
        update: list(&["oracle.made"]),
        create: list(&["oracle.made", "oracle.v"]),
        drop: list(&["oracle.made", "oracle.v", "oracle.made_i"]),
        alter: list(&["oracle.made", "oracle.mood", "oracle.v"]),
        index: list(&["oracle.made"]),
        ..Grants::default()
    };
    // Column lists: a read of two of oracle.r's columns; a read, insert
    // and update of different columns of oracle.w (delete is per row).
    let mut columns = Grants {
        read: list(&["oracle.r", "oracle.w"]),
        insert: list(&["oracle.w"]),
        update: list(&["oracle.w"]),
        delete: list(&["oracle.w"]),
        ..Grants::default()
    };
    for (key, rel, cols) in [
        ("read", "oracle.r", &["id", "a"][..]),
        ("read", "oracle.w", &["id", "a", "b"][..]),
        ("insert", "oracle.w", &["id", "b"][..]),
        ("update", "oracle.w", &["a"][..]),
    ] {
        columns.columns.insert((key, rel.to_string()), list(cols));
    }
    vec![
        GrantSet { name: "read-only", role: "oracle_read", read_only: true, grants: read_only },
        GrantSet { name: "write-no-read", role: "oracle_write", read_only: false, grants: write_only },
        GrantSet { name: "create", role: "oracle_create", read_only: false, grants: create },
        GrantSet { name: "hostile", role: "oracle_hostile", read_only: false, grants: hostile },
        GrantSet { name: "one-roof", role: "oracle_one_roof", read_only: false, grants: one_roof_union() },
        GrantSet { name: "names", role: "oracle_names", read_only: false, grants: names },
        GrantSet { name: "ddl", role: "oracle_ddl", read_only: false, grants: ddl },
        GrantSet { name: "columns", role: "oracle_columns", read_only: false, grants: columns },
    ]
}

/// Every tiers/*/plugin.toml's grants, merged.
fn one_roof_union() -> Grants {
    let mut all = Grants::default();
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("tiers"))
        .expect("tiers/")
        .filter_map(|e| e.ok().map(|e| e.path().join("plugin.toml")))
        .filter(|p| p.is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "tiers/*/plugin.toml: found {}", dirs.len());
    for path in dirs {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let g = Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).grants;
        let lists = [
            (&mut all.read, g.read),
            (&mut all.insert, g.insert),
            (&mut all.update, g.update),
            (&mut all.delete, g.delete),
            (&mut all.create, g.create),
            (&mut all.drop, g.drop),
            (&mut all.functions, g.functions),
            (&mut all.sequences, g.sequences),
        ];
        for (into, from) in lists {
            for item in from {
                if !into.contains(&item) {
                    into.push(item);
                }
            }
        }
    }
    all
}

/// `privs` (and REFERENCES with SELECT) on the columns `cols` of `rel`.
fn column_grant(privs: &str, rel: &str, cols: &[String], role: &str) -> String {
    let cols: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
    let cols = cols.join(", ");
    let privs =
        if privs == "SELECT" { format!("SELECT ({cols}), REFERENCES ({cols})") } else { format!("{privs} ({cols})") };
    format!("GRANT {privs} ON {rel} TO {role};\n")
}

fn array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
}

/// What every restricted role may execute: what the checker claims any
/// plugin may reach without a grant. A member role `oracle_claimed` holds it.
/// - the safe functions (every overload of each name in pg_catalog);
/// - the function behind every pg_catalog operator (the walk allows any
///   operator that is unqualified or in pg_catalog);
/// - the function of every built-in cast (the walk allows casts to any
///   unqualified or pg_catalog type, and the parser adds implicit ones), and
///   the input/output functions of every pg_catalog type but the pseudo-types
///   (a cast without a function is an I/O conversion, which the server checks
///   like a call: `1::text` needs `int4out`). Pseudo-types are left out: their
///   I/O functions only ever run as calls (`t.anyelement_out`);
/// - `int8inc`, which the server adds for `SEARCH BREADTH FIRST` (the walk
///   allows the clause; the depth counter it implies is harmless).
pub fn claimed_sql(safe: &[&str]) -> String {
    let safe: Vec<String> = safe.iter().map(|s| s.to_string()).collect();
    format!(
        "CREATE ROLE oracle_claimed NOLOGIN;
DO $$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY({safe})
    UNION SELECT oprcode FROM pg_operator WHERE oprnamespace = 'pg_catalog'::regnamespace AND oprcode <> 0
    UNION SELECT castfunc FROM pg_cast WHERE castfunc <> 0
    UNION SELECT io FROM pg_type t, LATERAL (VALUES (typinput), (typoutput), (typreceive), (typsend)) v(io)
      WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype <> 'p' AND io <> 0
    UNION SELECT 'pg_catalog.int8inc(bigint)'::regprocedure
  LOOP EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO oracle_claimed', f); END LOOP;
END $$;",
        safe = array(&safe)
    )
}

/// The restricted role of a grant set: schema USAGE and table privileges
/// as granted (a read as SELECT and REFERENCES on each of its columns, not
/// the table: system columns, which the checker claims no plugin reads,
/// then need a privilege the role does not hold); CREATE on the schema of a create grant; USAGE on listed
/// sequences and on those owned by a table it may insert into (its default
/// draws from it); REFERENCES with read (the checker counts a foreign key as
/// a read of the referenced table); EXECUTE on granted functions, on the
/// functions in the defaults of the tables it may insert into or update
/// (`nextval` for a serial column), and on the functions of the views it may
/// read (a view's functions are checked against the caller): those are the
/// operator's code, which the grant on the relation covers, not the plugin's.
pub fn role_sql(set: &GrantSet) -> String {
    let g = &set.grants;
    let role = set.role;
    let mut sql = format!("CREATE ROLE {role} NOLOGIN IN ROLE oracle_claimed;\n");
    let mut all: Vec<String> = Vec::new();
    for l in [&g.read, &g.insert, &g.update, &g.delete, &g.create, &g.drop, &g.sequences, &g.functions] {
        all.extend(l.iter().cloned());
    }
    sql.push_str(&format!(
        "DO $$ DECLARE s text; BEGIN
  FOR s IN SELECT DISTINCT split_part(x, '.', 1) FROM unnest({all}) x WHERE EXISTS
      (SELECT 1 FROM pg_namespace WHERE nspname = split_part(x, '.', 1)) LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', s);
  END LOOP;
END $$;\n",
        all = array(&all)
    ));
    // A column list grants those columns only (SELECT and REFERENCES for a
    // read, INSERT or UPDATE of them), as the role wall does.
    let mut whole: Vec<String> = Vec::new();
    for rel in &g.read {
        match g.limited("read", rel) {
            Some(cols) => sql.push_str(&column_grant("SELECT", rel, cols, role)),
            None => whole.push(rel.clone()),
        }
    }
    sql.push_str(&format!(
        "DO $$ DECLARE r regclass; cols text; BEGIN
  FOR r IN SELECT to_regclass(x) FROM unnest({rels}) x WHERE to_regclass(x) IS NOT NULL LOOP
    SELECT string_agg(quote_ident(attname), ', ') INTO cols FROM pg_attribute
      WHERE attrelid = r AND attnum > 0 AND NOT attisdropped;
    IF (SELECT relkind FROM pg_class WHERE oid = r) = 'S' OR cols IS NULL THEN
      EXECUTE format('GRANT SELECT ON %s TO {role}', r);
    ELSE
      EXECUTE format('GRANT SELECT (%s), REFERENCES (%s) ON %s TO {role}', cols, cols, r);
    END IF;
  END LOOP;
END $$;\n",
        rels = array(&whole)
    ));
    for (privs, rels) in [("INSERT", &g.insert), ("UPDATE", &g.update), ("DELETE", &g.delete)] {
        let key = privs.to_ascii_lowercase();
        let (limited, rels): (Vec<&String>, Vec<&String>) = rels.iter().partition(|r| g.limited(&key, r).is_some());
        for rel in limited {
            sql.push_str(&column_grant(privs, rel, g.limited(&key, rel).unwrap_or_default(), role));
        }
        let rels: Vec<String> = rels.into_iter().cloned().collect();
        let rels = &rels;
        sql.push_str(&format!(
            "DO $$ DECLARE r regclass; BEGIN
  FOR r IN SELECT to_regclass(x) FROM unnest({rels}) x WHERE to_regclass(x) IS NOT NULL LOOP
    EXECUTE format('GRANT {privs} ON %s TO {role}', r);
  END LOOP;
END $$;\n",
            rels = array(rels)
        ));
    }
    // An alter grant naming an existing type: the role owns it, as only an
    // owner may ALTER TYPE (the checker is the only wall for the line).
    sql.push_str(&format!(
        "DO $$ DECLARE t regtype; BEGIN
  FOR t IN SELECT to_regtype(x) FROM unnest({alter}) x WHERE to_regtype(x) IS NOT NULL
      AND (SELECT typtype FROM pg_type WHERE oid = to_regtype(x)) = 'e' LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO {role}', t);
  END LOOP;
END $$;\n",
        alter = array(&g.alter)
    ));
    let schemas: Vec<String> = g.create.iter().filter_map(|c| c.split('.').next().map(String::from)).collect();
    for s in schemas {
        sql.push_str(&format!("GRANT CREATE ON SCHEMA {s} TO {role};\n"));
    }
    sql.push_str(&format!(
        "DO $$ DECLARE q regclass; BEGIN
  FOR q IN SELECT to_regclass(x) FROM unnest({seqs}) x WHERE to_regclass(x) IS NOT NULL
    UNION SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'S'
      WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid IN
        (SELECT to_regclass(x) FROM unnest({ins}) x WHERE to_regclass(x) IS NOT NULL) LOOP
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {role}', q);
  END LOOP;
END $$;\n",
        seqs = array(&g.sequences),
        ins = array(&g.insert)
    ));
    // The operator's code (oracle_admin.operator_code in setup.sql): the
    // functions and catalog tables its text names. Over-granting by name is
    // the safe side of this oracle: it can only hide a disagreement that
    // involves these very objects.
    let code = format!(
        "oracle_admin.operator_code({}, {})",
        array(&[g.insert.clone(), g.update.clone()].concat()),
        array(&g.read)
    );
    sql.push_str(&format!(
        "DO $$ DECLARE f regprocedure; t regclass; BEGIN
  FOR f IN
    SELECT p.oid FROM {code} body, regexp_matches(body, '([a-z_0-9]+)\\(', 'g') m
      JOIN pg_proc p ON p.proname = m[1]
      WHERE p.pronamespace IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    UNION
    -- calls the deparsed text writes in their SQL form, without the name
    SELECT p.oid FROM (VALUES (' SIMILAR ', 'similar_to_escape'), ('AT TIME ZONE', 'timezone'),
        ('EXTRACT(', 'extract'), ('OVERLAPS', 'overlaps'), ('POSITION(', 'position')) s(syntax, name)
      JOIN pg_proc p ON p.proname = s.name AND p.pronamespace = 'pg_catalog'::regnamespace
      WHERE EXISTS (SELECT 1 FROM {code} body WHERE strpos(body, s.syntax) > 0)
    UNION
    SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname || '.' || p.proname = ANY({funcs})
  LOOP EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {role}', f); END LOOP;
  FOR t IN
    SELECT DISTINCT c.oid FROM {code} body, regexp_matches(body, '(pg_[a-z_]+)', 'g') m
      JOIN pg_class c ON c.relname = m[1] AND c.relnamespace = 'pg_catalog'::regnamespace
  LOOP EXECUTE format('GRANT SELECT ON %s TO {role}', t); END LOOP;
END $$;\n",
        funcs = array(&g.functions),
    ));
    sql
}
