//! What a rule or a view does, read from its own definition as the server
//! prints it (under `search_path = pg_catalog`, so every other name is
//! qualified), with libpg_query, the server's own parser: the relations a
//! rule's actions write, and the one relation an auto-updatable view
//! passes its writes to.

use crate::sql::check::Op;
use pg_query::protobuf::{node::Node as N, OnConflictAction, RangeVar, SetOperation};

/// `schema.name` of a relation as the server printed it (under
/// `search_path = pg_catalog`, so an unqualified name is in `pg_catalog`).
fn qualified(r: &RangeVar) -> String {
    let schema = if r.schemaname.is_empty() { "pg_catalog" } else { &r.schemaname };
    format!("{schema}.{}", r.relname)
}

/// The relations a rule's actions write, and how, from its definition.
pub(super) fn rule_targets(definition: &str) -> Result<Vec<(String, Op)>, String> {
    let parsed = pg_query::parse(definition, 0).map_err(|e| format!("its definition does not parse: {e}"))?;
    let node = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()).and_then(|n| n.node.as_ref());
    let Some(N::RuleStmt(rule)) = node else {
        return Err("its definition is not a CREATE RULE".into());
    };
    let mut out = Vec::new();
    for action in &rule.actions {
        let (relation, op) = match &action.node {
            Some(N::InsertStmt(s)) => {
                let upsert = s
                    .on_conflict_clause
                    .as_ref()
                    .is_some_and(|c| c.action == OnConflictAction::OnconflictUpdate as i32);
                if upsert {
                    out.extend(s.relation.as_ref().map(|r| (qualified(r), Op::Update)));
                }
                (&s.relation, Op::Insert)
            }
            Some(N::UpdateStmt(s)) => (&s.relation, Op::Update),
            Some(N::DeleteStmt(s)) => (&s.relation, Op::Delete),
            Some(N::SelectStmt(_)) | Some(N::NotifyStmt(_)) => continue,
            _ => return Err("it has an action the host does not read".into()),
        };
        match relation {
            Some(r) => out.push((qualified(r), op)),
            None => return Err("an action names no relation".into()),
        }
    }
    Ok(out)
}

/// The one relation an auto-updatable view's query reads from, if its
/// query has exactly one (PostgreSQL updates no other kind of view).
pub(super) fn view_base(query: &str) -> Option<String> {
    let parsed = pg_query::parse(query, 0).ok()?;
    let node = parsed.protobuf.stmts.first()?.stmt.as_ref()?.node.as_ref()?;
    let N::SelectStmt(s) = node else { return None };
    if s.op != SetOperation::SetopNone as i32 || s.from_clause.len() != 1 {
        return None;
    }
    match &s.from_clause[0].node {
        Some(N::RangeVar(r)) => Some(qualified(r)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_actions_are_read_from_its_definition() {
        let def = "CREATE RULE r_log AS\n    ON DELETE TO public.r_src DO  INSERT INTO audit.r_log (id, at)\n  VALUES (old.id, 'deleted'::text);";
        assert_eq!(rule_targets(def).unwrap(), vec![("audit.r_log".to_string(), Op::Insert)]);
        let many = "CREATE RULE m AS ON UPDATE TO s.t DO INSTEAD (UPDATE s.a SET x = 1; DELETE FROM \"S\".\"B\"; SELECT 1; NOTIFY c)";
        assert_eq!(rule_targets(many).unwrap(), vec![("s.a".to_string(), Op::Update), ("S.B".to_string(), Op::Delete)]);
        let upsert =
            "CREATE RULE u AS ON INSERT TO s.t DO ALSO INSERT INTO s.c VALUES (1) ON CONFLICT (id) DO UPDATE SET n = 2";
        assert_eq!(
            rule_targets(upsert).unwrap(),
            vec![("s.c".to_string(), Op::Update), ("s.c".to_string(), Op::Insert)]
        );
        assert!(rule_targets("CREATE RULE n AS ON DELETE TO s.t DO INSTEAD NOTHING").unwrap().is_empty());
        assert!(rule_targets("SELECT 1").is_err());
        assert_eq!(
            rule_targets("CREATE RULE c AS ON INSERT TO s.t DO ALSO INSERT INTO cat VALUES (1)").unwrap()[0].0,
            "pg_catalog.cat"
        );
    }

    #[test]
    fn a_views_base_is_its_one_relation() {
        assert_eq!(
            view_base(" SELECT items_base.id\n   FROM public.items_base\n  WHERE (items_base.id > 0);"),
            Some("public.items_base".into())
        );
        assert_eq!(view_base("SELECT a.id FROM s.a JOIN s.b ON a.id = b.id"), None);
        assert_eq!(view_base("SELECT 1 FROM s.a UNION SELECT 1 FROM s.b"), None);
        assert_eq!(view_base("SELECT x FROM (SELECT 1 AS x) q"), None);
    }
}
