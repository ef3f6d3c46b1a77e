//! Grants per phase and per column: how the tables combine, and the
//! forms refused because a reader could misread them.

use super::*;

const TIER: &str = "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = [\"db\"]\npost_conditions = [\"m\"]\nrollback_conditions = [\"m\"]\n";

fn tier(grants: &str) -> Result<Manifest, String> {
    Manifest::parse(&format!("{TIER}{grants}")).map_err(|e| e.to_string())
}

fn refused(grants: &str, says: &str) {
    let e = tier(grants).err().unwrap_or_else(|| panic!("loaded: {grants}"));
    assert!(e.contains(says), "{grants}\n=> {e}\nwanted: {says}");
}

#[test]
fn plain_grants_mean_both_phases_and_older_manifests_load_unchanged() {
    let m = tier("[grants]\nread = [\"s.a\"]\nupdate = [\"s.a\"]\n").unwrap();
    assert!(!m.phases.split);
    assert_eq!(m.phases.apply, m.grants);
    assert_eq!(m.phases.rollback, m.grants);
    assert_eq!(m.grants.read, ["s.a"]);
    assert!(m.grants.columns.is_empty());
}

#[test]
fn a_phase_table_adds_to_the_plain_grants_for_that_phase_only() {
    let m = tier(
        "[grants]\nread = [\"s.a\"]\n[grants.apply]\ncreate = [\"s.new\"]\n[grants.rollback]\ndrop = [\"s.new\"]\ninsert = [\"s.b(x, y)\"]\n",
    )
    .unwrap();
    assert!(m.phases.split);
    let (apply, rollback) = (&m.phases.apply, &m.phases.rollback);
    assert_eq!(
        (apply.read.as_slice(), apply.create.as_slice(), apply.drop.len()),
        (&["s.a".to_string()][..], &["s.new".to_string()][..], 0)
    );
    assert_eq!(
        (rollback.read.len(), rollback.create.len(), rollback.drop.as_slice()),
        (1, 0, &["s.new".to_string()][..])
    );
    assert_eq!(rollback.limited("insert", "s.b"), Some(&["x".to_string(), "y".to_string()][..]));
    assert_eq!(apply.insert.len(), 0);
    // Either phase: the union, for every reader asking what it may ever touch.
    assert_eq!((m.grants.create.len(), m.grants.drop.len(), m.grants.insert.len()), (1, 1, 1));
    assert_eq!(m.grants.limited("insert", "s.b").map(<[String]>::len), Some(2));
}

#[test]
fn columns_of_both_phases_unite_and_a_whole_table_grant_wins() {
    let m = tier("[grants.apply]\nupdate = [\"s.t(a)\"]\nread = [\"s.t(a)\"]\n[grants.rollback]\nupdate = [\"s.t(b)\"]\nread = [\"s.t\"]\n").unwrap();
    assert_eq!(m.grants.limited("update", "s.t"), Some(&["a".to_string(), "b".to_string()][..]));
    assert_eq!(m.grants.limited("read", "s.t"), None);
    assert_eq!(m.phases.apply.limited("read", "s.t"), Some(&["a".to_string()][..]));
    assert_eq!(m.phases.rollback.limited("read", "s.t"), None);
}

#[test]
fn ambiguous_or_empty_looking_forms_are_refused_saying_what_to_write() {
    refused(
        "[grants]\nread = [\"s.a\"]\n[grants.apply]\nread = [\"s.a(x)\"]\n",
        "`s.a` is granted `read` twice for apply (`grants.read[0]` and `grants.apply.read[0]`)",
    );
    refused("[grants]\nread = [\"s.a\", \"s.a(x)\"]\n", "`s.a` is granted `read` twice");
    refused("[grants.apply]\n", "`[grants.apply]` grants nothing");
    refused("[grants.rollback]\nread = []\n", "`[grants.rollback]` grants nothing");
    refused("[grants.apply]\nacknowledge = [\"s.a\"]\nread = [\"s.a\"]\n", "acknowledgements go under `[grants]`");
    refused("[grants.apply.rollback]\nread = [\"s.a\"]\n", "phases do not nest");
    refused("[grants]\ndelete = [\"s.a(x)\"]\n", "only `read`, `insert` and `update` grants may name columns");
    refused("[grants]\nupdate = [\"s.a(x, x)\"]\n", "names the column `x` twice");
    for form in ["s.a()", "s.a(x,y)", "s.a (x)", "s.a(x", "s.a(x) ", "s.a(x; y)", "s.a(x)(y)"] {
        refused(&format!("[grants]\nread = [\"{form}\"]\n"), "`schema.name(col_a, col_b)`");
    }
    refused("[grants.apply]\nread = [\"rollout_ledger.rollout(id)\"]\n", "the ledger belongs to the host");
    refused("[grants.rollback]\nread = [\"pg_catalog.pg_authid\"]\n", "grants.rollback.read[0]");
    let gate = "name = \"g\"\nkind = \"gate\"\ndescription = \"d\"\ndatabases = []\nmetrics = [\"m\"]\n[grants.apply]\nread = [\"s.a\"]\n";
    let e = Manifest::parse(gate).unwrap_err().to_string();
    assert!(e.contains("a gate plugin has one phase"), "{e}");
    // A phase-only write still makes a read-only kind refuse; a batched tier's
    // phase table may not hold schema changes either.
    let batched = format!("{TIER}mode = \"batched\"\n[batches]\nsize = 500\n[grants.rollback]\ndrop = [\"s.a\"]\n");
    let e = Manifest::parse(&batched).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("a batched tier changes rows"), "{e}");
}

#[test]
fn an_unknown_key_in_any_grants_table_is_refused_by_name() {
    refused("[grants]\nreed = [\"s.a\"]\n", "unknown field `reed`");
    refused("[grants]\nreed = [\"s.a\"]\n", "expected one of `read`, `insert`");
    refused("[grants.apply]\nread = [\"s.a\"]\ndelet = [\"s.a\"]\n", "in [grants.apply]: unknown field `delet`");
    refused("[grants.rollback]\ncolumns = [\"s.a\"]\n", "in [grants.rollback]: unknown field `columns`");
    refused("[grants]\nread = \"s.a\"\n", "invalid type");
    refused("[grants]\napply = [\"s.a\"]\n", "in [grants.apply]");
    // The written form serialises as written (`host grants --json`) and back.
    let m = tier("[grants]\nread = [\"s.a(x)\"]\n[grants.apply]\ninsert = [\"s.b\"]\n").unwrap();
    let text = toml::to_string(&m.written_grants).unwrap();
    assert_eq!(text, "read = [\"s.a(x)\"]\n\n[apply]\ninsert = [\"s.b\"]\n");
    assert_eq!(toml::from_str::<WrittenGrants>(&text).unwrap(), m.written_grants);
}
