//! The walk's verbs and links, on catalogs made by hand.

use super::*;

/// A catalog by hand: (oid, name, relkind, view query, updatable bits).
fn catalog(
    relations: &[(u32, &str, char, Option<&str>, i32)],
    edges: &[(u32, u32, Link)],
    rules: Vec<Rule>,
) -> Catalog {
    let mut c = Catalog::default();
    for &(oid, name, kind, view, updatable) in relations {
        let view = view.map(str::to_string);
        c.relations.insert(oid, Relation { name: name.into(), kind, view, updatable, instead_of: 0 });
        c.by_name.insert(name.into(), oid);
    }
    c.edges = edges.iter().map(|(from, to, link)| Edge { from: *from, to: *to, link: link.clone() }).collect();
    c.rules = rules;
    c
}

fn reach(c: &Catalog, grants: Grants) -> Reach {
    let mut out = Reach::default();
    c.reach_of("p", &grants, &mut out);
    out
}

fn paths(r: &Reach) -> Vec<String> {
    r.reached.iter().map(|x| format!("{} needs {}", x.path_text(), x.grant_line())).collect()
}

#[test]
fn each_verb_follows_only_the_links_that_carry_it() {
    let fk = |d, u| Link::ForeignKey { on_delete: d, on_update: u };
    let c = catalog(
        &[
            (1, "s.parts", 'p', None, 0),
            (2, "s.part", 'r', None, 0),
            (3, "s.parent", 'r', None, 0),
            (4, "s.child", 'r', None, 0),
            (5, "s.cascade", 'r', None, 0),
            (6, "s.nulls", 'r', None, 0),
        ],
        &[
            (1, 2, Link::Inherits),
            (3, 4, Link::Inherits),
            (2, 5, fk('c', 'a')),
            (2, 6, fk('n', 'c')),
            (1, 6, Link::Depends),
        ],
        vec![],
    );
    let only = |op: &str, rel: &str| {
        let mut g = Grants::default();
        match op {
            "insert" => g.insert.push(rel.into()),
            "update" => g.update.push(rel.into()),
            "delete" => g.delete.push(rel.into()),
            "alter" => g.alter.push(rel.into()),
            "index" => g.index.push(rel.into()),
            _ => g.drop.push(rel.into()),
        }
        paths(&reach(&c, g))
    };
    // ALTER TABLE recurses to partitions and inheritance children, and a
    // key's new type rebuilds the constraints of the tables referencing it;
    // CREATE INDEX reaches partitions only.
    assert_eq!(
        only("alter", "s.parts"),
        [
            r#"s.parts → partition → s.part needs alter = ["s.part"]"#,
            r#"s.parts → partition → s.part → foreign key → s.cascade needs alter = ["s.cascade"]"#,
            r#"s.parts → partition → s.part → foreign key → s.nulls needs alter = ["s.nulls"]"#,
        ]
    );
    assert_eq!(only("alter", "s.parent"), [r#"s.parent → inheritance child → s.child needs alter = ["s.child"]"#]);
    assert_eq!(only("index", "s.parts"), [r#"s.parts → partition → s.part needs index = ["s.part"]"#]);
    assert!(only("index", "s.parent").is_empty());
    assert_eq!(
        only("delete", "s.parts"),
        [
            r#"s.parts → partition → s.part needs delete = ["s.part"]"#,
            r#"s.parts → partition → s.part → ON DELETE CASCADE → s.cascade needs delete = ["s.cascade"]"#,
            r#"s.parts → partition → s.part → ON DELETE SET NULL → s.nulls needs update = ["s.nulls"]"#,
        ]
    );
    assert_eq!(only("update", "s.part"), [r#"s.part → ON UPDATE CASCADE → s.nulls needs update = ["s.nulls"]"#]);
    assert_eq!(only("insert", "s.parts"), [r#"s.parts → partition → s.part needs insert = ["s.part"]"#]);
    assert_eq!(only("drop", "s.parts"), [r#"s.parts → partition → s.part needs drop = ["s.part"]"#]);
    // An inheritance child takes an update or a delete, never an
    // insert, and a DROP without CASCADE refuses to drop it.
    assert_eq!(only("delete", "s.parent"), [r#"s.parent → inheritance child → s.child needs delete = ["s.child"]"#]);
    assert!(only("insert", "s.parent").is_empty());
    assert!(only("drop", "s.parent").is_empty());
    // Granted, a reached relation is still shown, as granted.
    let g = Grants { delete: vec!["s.parent".into(), "s.child".into()], ..Default::default() };
    let r = reach(&c, g);
    assert_eq!(r.reached.len(), 1);
    assert!(r.reached[0].granted);
}

#[test]
fn a_view_passes_a_write_to_its_base_unless_a_rule_takes_it_and_a_rule_writes_what_its_text_says() {
    let all = (1 << 2) | (1 << 3) | (1 << 4);
    let rule = |event, instead, conditional| Rule {
        relation: 1,
        name: "r".into(),
        event: Some(event),
        instead,
        conditional,
        disabled: false,
        definition: "CREATE RULE r AS ON INSERT TO s.v DO INSTEAD INSERT INTO s.log VALUES (1)".into(),
    };
    let relations =
        [(1, "s.v", 'v', Some("SELECT id FROM s.base"), all), (2, "s.base", 'r', None, 0), (3, "s.log", 'r', None, 0)];
    let insert = Grants { insert: vec!["s.v".into()], ..Default::default() };
    let c = catalog(&relations, &[], vec![]);
    assert_eq!(paths(&reach(&c, insert.clone())), [r#"s.v → view → s.base needs insert = ["s.base"]"#]);
    let c = catalog(&relations, &[], vec![rule(Op::Insert, true, false)]);
    assert_eq!(
        paths(&reach(&c, insert.clone())),
        [r#"s.v → rule r (DO INSTEAD INSERT) → s.log needs insert = ["s.log"]"#]
    );
    // A conditional INSTEAD rule leaves the other rows to the view.
    let c = catalog(&relations, &[], vec![rule(Op::Insert, true, true)]);
    assert_eq!(paths(&reach(&c, insert.clone())).len(), 2);
    // An INSTEAD OF trigger takes the write (and is reviewed as code).
    let mut c = catalog(&relations, &[], vec![]);
    c.relations.get_mut(&1).unwrap().instead_of = 64 | 4;
    assert!(reach(&c, insert.clone()).reached.is_empty());
    // Updatable, with no single base the host can read: refused as unknown.
    let c = catalog(&[(1, "s.v", 'v', Some("SELECT a.id FROM s.a JOIN s.b USING (id)"), all)], &[], vec![]);
    let r = reach(&c, insert);
    assert!(r.reached.is_empty());
    assert_eq!(r.unknown.len(), 1);
    assert!(r.unknown[0].why.contains("no single base relation"), "{:?}", r.unknown);
}
