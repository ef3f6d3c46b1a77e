//! `same_tree.rs`: the re-parsed tree is compared with the checked JSON as
//! the JSON-to-JSON comparison it replaces would compare them.

use super::policy;
use super::same_tree::same_tree;
use serde_json::{Map, Value};

fn tree(sql: &str) -> pg_query::protobuf::ParseResult {
    pg_query::parse(sql, 0).expect("test statements parse").protobuf
}

fn json(sql: &str) -> Value {
    serde_json::to_value(tree(sql)).expect("parse trees serialise")
}

/// The comparison `same_tree` replaces: both trees as JSON, positions
/// skipped. The reference the differential test holds it to.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let fields = |m: &Map<String, Value>| m.iter().filter(|(k, _)| !policy::is_position(k)).count();
            fields(x) == fields(y)
                && x.iter()
                    .filter(|(k, _)| !policy::is_position(k))
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w)),
        _ => a == b,
    }
}

/// The SELECT's own fields in a tree's JSON.
fn select(tree: &mut Value) -> &mut Map<String, Value> {
    tree["stmts"][0]["stmt"]["node"]["SelectStmt"].as_object_mut().expect("a SELECT")
}

const BASE: &str = "SELECT a FROM s.t WHERE b = 1";

#[test]
fn an_equal_tree_passes() {
    assert!(same_tree(&tree(BASE), &json(BASE)));
}

#[test]
fn a_tree_differing_only_in_positions_passes() {
    let spaced = "SELECT   a   FROM s.t   WHERE b =   1";
    assert_ne!(json(spaced), json(BASE), "the positions differ");
    assert!(same_tree(&tree(spaced), &json(BASE)));
    let mut without = json(BASE);
    let node = select(&mut without)["where_clause"]["node"].as_object_mut().and_then(|n| n.values_mut().next());
    let expr = node.and_then(Value::as_object_mut).expect("a WHERE expression");
    assert!(expr.remove("location").is_some(), "the expression has a position");
    assert!(same_tree(&tree(BASE), &without), "a position field missing on one side is no difference");
}

#[test]
fn one_constant_differs() {
    assert!(!same_tree(&tree("SELECT a FROM s.t WHERE b = 2"), &json(BASE)));
    assert!(!same_tree(&tree("SELECT a FROM s.t WHERE b = '1'"), &json(BASE)));
}

#[test]
fn one_name_differs() {
    assert!(!same_tree(&tree("SELECT a FROM s.u WHERE b = 1"), &json(BASE)));
    assert!(!same_tree(&tree("SELECT c FROM s.t WHERE b = 1"), &json(BASE)));
}

#[test]
fn one_list_length_differs() {
    let two = "SELECT a, a FROM s.t WHERE b = 1";
    assert!(!same_tree(&tree(two), &json(BASE)), "one item more");
    assert!(!same_tree(&tree(BASE), &json(two)), "one item fewer");
}

#[test]
fn an_extra_field_differs() {
    let mut extra = json(BASE);
    select(&mut extra).insert("extra".into(), Value::Null);
    assert!(!same_tree(&tree(BASE), &extra));
}

#[test]
fn a_missing_field_differs() {
    let mut missing = json(BASE);
    select(&mut missing).remove("limit_option");
    assert!(!same_tree(&tree(BASE), &missing));
}

/// Every pair of a set of statements of many shapes, and each statement
/// against its own tree with one field changed: `same_tree` answers as the
/// JSON comparison does.
#[test]
fn it_answers_as_the_json_comparison() {
    let statements = [
        BASE,
        "SELECT a FROM s.t WHERE b = 1.5",
        "SELECT a FROM s.t WHERE b = -1",
        "SELECT a FROM s.t WHERE b = true",
        "SELECT a FROM s.t WHERE b IS NULL",
        "SELECT a FROM s.t WHERE b = 9223372036854775807",
        "SELECT x'ff', B'101', 'é'::text, E'\\n'",
        "WITH c AS (SELECT 1) SELECT * FROM c",
        "INSERT INTO s.t (a, b) VALUES (1, 2), (3, 4) ON CONFLICT DO NOTHING",
        "UPDATE s.t SET a = a + 1 WHERE b IN (1, 2, 3)",
        "DELETE FROM s.t USING s.u WHERE s.t.a = s.u.a RETURNING *",
        "CREATE TABLE s.n (id bigint PRIMARY KEY, v text DEFAULT 'x')",
        "SELECT count(*) FILTER (WHERE a > 0) OVER (PARTITION BY b ORDER BY c) FROM s.t",
    ];
    for a in statements {
        for b in statements {
            let (tree_a, json_b) = (tree(a), json(b));
            let expected = same_shape(&serde_json::to_value(&tree_a).expect("serialises"), &json_b);
            assert_eq!(same_tree(&tree_a, &json_b), expected, "{a} against {b}");
        }
        let mut changed = json(a);
        let stmt = changed["stmts"][0]["stmt"]["node"].as_object_mut().and_then(|n| n.values_mut().next());
        if let Some(Value::Object(fields)) = stmt {
            let key = fields.keys().find(|k| !policy::is_position(k)).cloned().expect("a field");
            fields.insert(key, Value::String("changed".into()));
        }
        let tree_a = tree(a);
        let expected = same_shape(&serde_json::to_value(&tree_a).expect("serialises"), &changed);
        assert!(!expected, "{a}: the change is a difference");
        assert_eq!(same_tree(&tree_a, &changed), expected, "{a} against itself changed");
    }
}

/// Over every statement of PostgreSQL's regression suite that deparses:
/// its re-parsed tree against its own checked tree, and against the next
/// statement's, `same_tree` answers as the JSON comparison does, so no
/// check's verdict changes with it.
#[test]
fn over_the_regression_suite_it_answers_as_the_json_comparison() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/postgres_regress");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the regression corpus").filter_map(|e| e.ok()).collect();
    files.sort_by_key(|e| e.path());
    let (mut compared, mut previous): (usize, Option<Value>) = (0, None);
    for file in files.iter().filter(|e| e.path().extension().is_some_and(|x| x == "sql")) {
        let text = String::from_utf8_lossy(&std::fs::read(file.path()).expect("a readable file")).into_owned();
        let Ok(parts) = pg_query::split_with_scanner(&text) else { continue };
        for sql in parts {
            let Ok(parsed) = pg_query::parse(sql, 0) else { continue };
            let Ok(text) = parsed.deparse(Default::default()) else { continue };
            let Ok(reparsed) = pg_query::parse(&text, 0) else { continue };
            let checked = serde_json::to_value(&parsed.protobuf).expect("serialises");
            let again = serde_json::to_value(&reparsed.protobuf).expect("serialises");
            for against in [Some(&checked), previous.as_ref()].into_iter().flatten() {
                assert_eq!(same_tree(&reparsed.protobuf, against), same_shape(&again, against), "{sql}");
                compared += 1;
            }
            previous = Some(checked);
        }
    }
    assert!(compared > 10_000, "the corpus was read: {compared} comparisons");
}
