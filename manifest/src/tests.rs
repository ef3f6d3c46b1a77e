//! The manifest's rules: every string field held to its rule, the
//! ledger, dangerous grants and unbounded limits refused, declared metric
//! names that fit the kind.

use super::*;

const BASE: &str = "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = [\"db\"]\npost_conditions = [\"m\"]\nrollback_conditions = [\"m\"]\n";

#[test]
fn the_ledger_and_unbounded_limits_cannot_be_granted() {
    assert!(Manifest::parse(BASE).is_ok());
    let ledger = format!("{BASE}[grants]\nread = [\"rollout_ledger.tier_event\"]\n");
    assert!(Manifest::parse(&ledger).unwrap_err().to_string().contains("the ledger belongs to the host"));
    let no_timeout = format!("{BASE}[limits]\nstatement_timeout_ms = 0\n");
    assert!(Manifest::parse(&no_timeout).unwrap_err().to_string().contains("statement_timeout_ms=0"));
    // A number TOML reads, above the bound: the bound refuses it.
    let huge = format!("{BASE}[limits]\nwall_time_ms = 86400001\n");
    let e = Manifest::parse(&huge).unwrap_err().to_string();
    assert!(e.contains("limit wall_time_ms=86400001 must be between 1 and 86400000"), "{e}");
    let memory = format!("{BASE}[limits]\nmemory_mib = 4097\n");
    assert!(Manifest::parse(&memory).unwrap_err().to_string().contains("memory_mib=4097"));
    // The output caps are bounded too, and none may be 0.
    for (limit, value, says) in [
        ("log_lines", "0", "limit log_lines=0 must be between 1 and 1000000"),
        ("log_bytes", "67108865", "limit log_bytes=67108865 must be between 1 and 67108864"),
        ("metrics", "100001", "limit metrics=100001 must be between 1 and 100000"),
        ("metric_text", "0", "limit metric_text=0 must be between 1 and 16777216"),
    ] {
        let e = Manifest::parse(&format!("{BASE}[limits]\n{limit} = {value}\n")).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    let l = Manifest::parse(BASE).unwrap().limits;
    assert_eq!((l.log_lines, l.log_bytes, l.metrics, l.metric_text), (10_000, 1 << 20, 1_000, 64 << 10));
    // rows_changed = 0 is a real limit: a tier that may change nothing.
    assert!(Manifest::parse(&format!("{BASE}[limits]\nrows_changed = 0\n")).is_ok());
    let gate_write =
        "name = \"g\"\nkind = \"gate\"\ndescription = \"d\"\ndatabases = []\n[grants]\ninsert = [\"a.b\"]\n";
    assert!(Manifest::parse(gate_write).unwrap_err().to_string().contains("read-only"));
}

#[test]
fn every_table_is_declared_by_name_for_the_plugins_kind() {
    let tier = "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = []\n";
    let e = Manifest::parse(tier).unwrap_err().to_string();
    assert!(e.contains("must declare `post_conditions"), "{e}");
    let e = Manifest::parse(&format!("{tier}post_conditions = [\"a\"]\n")).unwrap_err().to_string();
    assert!(e.contains("must declare `rollback_conditions"), "{e}");
    let twice = format!("{tier}post_conditions = [\"a\", \"a\"]\nrollback_conditions = [\"b\"]\n");
    assert!(Manifest::parse(&twice).unwrap_err().to_string().contains("declares the metric `a` twice"));
    let tier_metrics = format!("{tier}post_conditions = [\"a\"]\nrollback_conditions = [\"b\"]\nmetrics = [\"c\"]\n");
    assert!(Manifest::parse(&tier_metrics).unwrap_err().to_string().contains("has no `metrics`"));
    let probe = "name = \"p\"\nkind = \"probe\"\nordinal = 9\ndescription = \"d\"\ndatabases = []\n";
    assert!(Manifest::parse(probe).unwrap_err().to_string().contains("must declare `metrics"));
    assert!(Manifest::parse(&format!("{probe}metrics = [\"a\"]\nsummary = [\"a\"]\n")).is_ok());
    let summary = format!("{probe}metrics = [\"a\"]\nsummary = [\"b\"]\n");
    assert!(Manifest::parse(&summary).unwrap_err().to_string().contains("`summary` names `b`"));
    let empty = format!("{probe}metrics = [\" \"]\n");
    assert!(Manifest::parse(&empty).unwrap_err().to_string().contains("`metrics[0]` must be a metric name"));
    let post = format!("{probe}metrics = [\"a\"]\npost_conditions = [\"a\"]\n");
    assert!(Manifest::parse(&post).unwrap_err().to_string().contains("has no `post_conditions`"));
}

#[test]
fn a_control_or_invisible_character_in_any_manifest_string_is_refused_naming_the_field() {
    let base = "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = [\"db\"]\npost_conditions = [\"m\"]\nrollback_conditions = [\"m\"]\n";
    assert!(Manifest::parse(base).is_ok());
    for (extra, field, shown) in [
        ("[grants]\nread = [\"a.b\", \"\\u001b[2Ka.c\"]\n", "grants.read[1]", "\\x1b[2Ka.c"),
        ("[grants]\ndrop = [\"a.b\\r\"]\n", "grants.drop[0]", "a.b\\r"),
        ("[params.p]\npattern = \"x\"\ndescription = \"\\u202eevil\"\n", "params.p.description", "\\u{202e}evil"),
        ("summary = [\"ok\\u0007\"]\n", "summary[0]", "ok\\x07"),
    ] {
        let e = Manifest::parse(&format!("{base}{extra}")).unwrap_err().to_string();
        assert!(e.contains(&format!("manifest field `{field}`")) && e.contains(shown), "{e}");
        assert!(!e.chars().any(crate::text::is_hidden), "{e:?}");
    }
    let e = Manifest::parse(&base.replace("description = \"d\"", "description = \"a\\nb\"")).unwrap_err();
    assert!(e.to_string().contains("`description`"), "{e}");
}

/// A manifest with every string field set, each to a value of its own.
const FULL: &str = r#"name = "t-1"
kind = "tier"
ordinal = 1
description = "d"
databases = ["db$1", "db-2"]
files = ["data.csv"]
post_conditions = ["m.1"]
rollback_conditions = ["m-2"]
[params.p_1]
pattern = "[a-z]+"
description = "pd"
[grants]
read = ["s.r$"]
insert = ["s.i"]
update = ["s.u"]
delete = ["s.d"]
create = ["s.c"]
drop = ["s.dr"]
functions = ["s.f", "pg_catalog.current_setting"]
sequences = ["s.q"]
references = ["s.ref"]
alter = ["s.al"]
index = ["s.ix"]
acknowledge = ["pg_catalog.current_setting"]
"#;

/// Every string value of a TOML value (not the keys).
fn strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn every_string_field_has_a_rule() {
    let m = Manifest::parse(FULL).unwrap();
    let ruled: Vec<&String> = m.text_fields().into_iter().map(|(_, v, _)| v).collect();
    let mut all = Vec::new();
    strings(&toml::Value::try_from(&m).unwrap(), &mut all);
    // The parameters' names are keys the manifest's author chose, too.
    all.extend(m.params.keys().cloned());
    // `kind` is an enum: its string is the host's.
    all.retain(|s| s != "tier");
    for s in &all {
        assert!(ruled.contains(&s), "the manifest string {s:?} has no rule in Manifest::text_fields");
    }
    assert_eq!(ruled.len(), all.len(), "{ruled:?} vs {all:?}");
}

#[test]
fn names_are_ascii_words_and_prose_is_one_trimmed_line() {
    assert!(Manifest::parse(FULL).is_ok());
    // Each field, given a value its rule refuses: the error names the field and the rule.
    let cases: &[(&str, &str, &str, &str)] = &[
        ("name = \"t-1\"", "name = \"t 1\"", "`name`", "the plugin's name"),
        ("name = \"t-1\"", "name = \"t$1\"", "`name`", "no `$`"),
        ("\"db-2\"", "\"db|2\"", "`databases[1]`", "a database name"),
        ("\"data.csv\"", "\".hidden\"", "`files[0]`", "not starting with `.`"),
        ("\"data.csv\"", "\"a b.csv\"", "`files[0]`", "plain file name"),
        ("\"m.1\"", "\"m`1\"", "`post_conditions[0]`", "a metric name"),
        ("\"m-2\"", "\"m|2\"", "`rollback_conditions[0]`", "a metric name"),
        ("[params.p_1]", "[params.\"p 1\"]", "`params.p 1`", "a parameter name"),
        ("\"[a-z]+\"", "\"[a-z] +\"", "`params.p_1.pattern`", "without whitespace"),
        ("\"pd\"", "\" pd\"", "`params.p_1.description`", "without leading or trailing whitespace"),
        ("description = \"d\"", "description = \"d \"", "`description`", "without leading or trailing"),
        ("\"s.r$\"", "\"s.r s\"", "`grants.read[0]`", "schema-qualified"),
        ("\"s.i\"", "\"s.\\\"i\\\"\"", "`grants.insert[0]`", "schema-qualified"),
        ("\"s.u\"", "\"s.u;\"", "`grants.update[0]`", "schema-qualified"),
        ("\"s.d\"", "\"s.d'\"", "`grants.delete[0]`", "schema-qualified"),
        ("\"s.c\"", "\"s.c\\\\\"", "`grants.create[0]`", "schema-qualified"),
        ("\"s.dr\"", "\"s.d`r\"", "`grants.drop[0]`", "schema-qualified"),
        ("\"s.f\"", "\"f\"", "`grants.functions[0]`", "schema-qualified"),
        ("\"s.q\"", "\"s.q.r\"", "`grants.sequences[0]`", "schema-qualified"),
        ("\"s.ref\"", "\"s.réf\"", "`grants.references[0]`", "schema-qualified"),
        (
            "\"s.ref\"",
            "\"s.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
            "`grants.references[0]`",
            "1 to 63",
        ),
    ];
    for (from, to, field, says) in cases {
        let text = FULL.replacen(from, to, 1);
        assert_ne!(text, FULL, "{from} not in the manifest");
        let e = Manifest::parse(&text).unwrap_err().to_string();
        assert!(e.contains(&format!("manifest field {field} must be")) && e.contains(says), "{to}: {e}");
        assert!(e.contains("stricter than PostgreSQL") && e.contains("rename it"), "{e}");
    }
}

#[test]
fn a_dangerous_grant_is_refused_under_every_key_unless_acknowledgeable_and_acknowledged() {
    for key in ["read", "insert", "update", "delete", "create", "drop", "functions", "sequences", "references"] {
        for object in ["pg_catalog.pg_read_file", "pg_catalog.lo_open", "pg_catalog.pg_authid", "pg_catalog.set_config"]
        {
            let e = Manifest::parse(&format!("{BASE}[grants]\n{key} = [\"{object}\"]\n")).unwrap_err().to_string();
            assert!(e.contains(&format!("manifest field `grants.{key}[0]`")), "{e}");
            assert!(e.contains(&format!("no plugin may be granted `{object}`")) && e.contains("instead"), "{e}");
            // An acknowledgement does not help: these are never granted.
            let acked = format!("{BASE}[grants]\n{key} = [\"{object}\"]\nacknowledge = [\"{object}\"]\n");
            assert!(Manifest::parse(&acked).is_err(), "{key} {object}");
        }
    }
    let setting = format!("{BASE}[grants]\nfunctions = [\"pg_catalog.current_setting\"]\n");
    let e = Manifest::parse(&setting).unwrap_err().to_string();
    assert!(e.contains("acknowledge = [\"pg_catalog.current_setting\"]"), "{e}");
    let acked = format!("{setting}acknowledge = [\"pg_catalog.current_setting\"]\n");
    assert_eq!(Manifest::parse(&acked).unwrap().grants.acknowledge, ["pg_catalog.current_setting"]);
    // An acknowledgement of nothing granted, or of what needs none, is refused.
    let stray = format!("{BASE}[grants]\nacknowledge = [\"pg_catalog.pg_notify\"]\n");
    assert!(Manifest::parse(&stray).unwrap_err().to_string().contains("no grant above names it"));
    let needless = format!("{BASE}[grants]\nread = [\"s.t\"]\nacknowledge = [\"s.t\"]\n");
    assert!(Manifest::parse(&needless).unwrap_err().to_string().contains("needs no acknowledgement"));
}

/// The grants check's suggestions come from the loader's own rule: each
/// suggested line loads, and what no line can allow says why.
#[test]
fn a_suggested_grant_always_loads_and_a_refused_one_says_why() {
    let objects = [
        "one_roof.team",
        "a$grant$b.c--d",
        "rollout_ledger.rollout",
        "pg_catalog.pg_read_file",
        "pg_catalog.pg_authid",
        "pg_catalog.pg_stat_activity",
        "pg_catalog.pg_notify",
        "a b.c",
        "s.\"t\"",
        "s.t\nread = [\"x.y\"]",
        "s.t]\ndrop = [\"x.y",
    ];
    for object in objects {
        for key in ["read", "insert", "update", "delete", "create", "drop", "functions", "sequences"] {
            match suggested_grant(key, object) {
                Ok(lines) => {
                    let m = Manifest::parse(&format!("{BASE}[grants]\n{lines}\n"))
                        .unwrap_or_else(|e| panic!("suggested {lines:?} does not load: {e}"));
                    let list = m.grants.lists().into_iter().find(|(k, _)| *k == key).unwrap().1.clone();
                    assert_eq!(list, [object], "{lines}");
                }
                Err(why) => {
                    assert!(grant_refusal(object).is_some(), "{object}");
                    let e = Manifest::parse(&format!("{BASE}[grants]\n{key} = [{}]\n", toml::Value::from(object)))
                        .unwrap_err();
                    assert!(!why.is_empty(), "{e}");
                }
            }
        }
    }
    assert_eq!(suggested_grant("update", "app.team").unwrap(), "update = [\"app.team\"]");
    assert!(suggested_grant("read", "rollout_ledger.rollout").unwrap_err().contains("the ledger belongs to the host"));
}

#[test]
fn a_mode_fits_the_kind_and_batches_fit_the_mode() {
    let tier = |extra: &str| {
        format!(
            "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = [\"x\"]\n\
             post_conditions = [\"a\"]\nrollback_conditions = [\"b\"]\n{extra}"
        )
    };
    assert_eq!(Manifest::parse(&tier("")).unwrap().mode, Mode::Transaction);
    assert_eq!(Manifest::parse(&tier("mode = \"concurrent\"")).unwrap().mode, Mode::Concurrent);
    let batched = Manifest::parse(&tier("mode = \"batched\"\n[batches]\nsize = 500\n")).unwrap();
    assert_eq!(batched.batches.as_ref().map(|b| b.size), Some(500));
    for (extra, says) in [
        ("mode = \"batched\"", "needs a `[batches]` table"),
        ("[batches]\nsize = 5", "is for a tier with `mode = \"batched\"`"),
        ("mode = \"batched\"\n[batches]\nsize = 50000", "min_size (100) <= size (50000) <= max_size (10000)"),
        ("mode = \"batched\"\n[batches]\npause_ms = 99999999", "batches.pause_ms"),
        ("mode = \"online\"", "unknown variant"),
    ] {
        let err = Manifest::parse(&tier(extra)).unwrap_err().to_string();
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    // Every grant that changes the schema, each alone: a batched tier may
    // hold none of them, and a transactional tier may.
    for ddl in ["alter", "index", "create", "drop"] {
        let grant = format!("[grants]\n{ddl} = [\"s.t\"]");
        let err = Manifest::parse(&tier(&format!("mode = \"batched\"\n[batches]\n{grant}"))).unwrap_err().to_string();
        assert!(err.contains("a batched tier changes rows") && err.contains(&format!("`{ddl}`")), "{ddl}: {err}");
        assert!(Manifest::parse(&tier(&grant)).is_ok(), "{ddl} on a transactional tier");
    }
    let gate = "name = \"g\"\nkind = \"gate\"\ndescription = \"d\"\ndatabases = [\"x\"]\nmetrics = [\"m\"]\nmode = \"concurrent\"";
    assert!(Manifest::parse(gate).unwrap_err().to_string().contains("has no `mode`"));
}
