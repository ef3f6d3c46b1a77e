//! What a write reaches: for every relation a plugin's grants let it write,
//! every relation the catalog says that write also changes, with the path
//! to it (`reach.sql`). A statement names one relation; the server changes
//! several, as their owners, so each needs its grant like any other:
//!
//! - **partitions** of a partitioned table: every verb, `drop` included;
//!   **inheritance children**: `update` and `delete`;
//! - tables whose **foreign keys** reference it with a cascading action:
//!   `ON DELETE CASCADE` deletes, `SET NULL` and `SET DEFAULT` and any `ON
//!   UPDATE` action update;
//! - the **base relation of an auto-updatable view** (unless an INSTEAD
//!   rule or INSTEAD OF trigger takes the write);
//! - the relations a **rule**'s actions write, read from the rule's own
//!   definition (parsed by libpg_query, the server's parser).
//!
//! Each is followed again from where it lands. What a trigger writes cannot
//! be read from the catalog: a trigger is implicit code (`implicit.sql`) and
//! is reviewed as such.

use super::definitions::{rule_targets, view_base};
use crate::manifest::Grants;
use crate::plan::Plugin;
use crate::sql::check::Op;
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const REACH: &str = include_str!("../reach.sql");

/// A relation the walk from the plan's relations found.
#[derive(Debug, Clone)]
struct Relation {
    name: String,
    /// `pg_class.relkind`: `r` table, `p` partitioned, `v` view, …
    kind: char,
    /// A view's query, as the server prints it.
    view: Option<String>,
    /// `pg_relation_is_updatable`: which writes the relation takes.
    updatable: i32,
    /// Bits of the events an INSTEAD OF trigger takes (`pg_trigger.tgtype`).
    instead_of: i32,
}

/// A catalog link from one relation to another.
#[derive(Debug, Clone)]
enum Link {
    /// `pg_inherits`: a partition, or an inheritance child.
    Inherits,
    /// A foreign key of `to` referencing `from`, with its actions.
    ForeignKey { on_delete: char, on_update: char },
    /// A rule of `from` names `to` (the walk follows it; what the rule
    /// writes is read from its text).
    Depends,
}

#[derive(Debug, Clone)]
struct Edge {
    from: u32,
    to: u32,
    link: Link,
}

/// A rule other than a view's `_RETURN`.
#[derive(Debug, Clone)]
struct Rule {
    relation: u32,
    name: String,
    event: Option<Op>,
    instead: bool,
    conditional: bool,
    disabled: bool,
    definition: String,
}

/// The part of the catalog the plan's relations reach.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    relations: BTreeMap<u32, Relation>,
    by_name: BTreeMap<String, u32>,
    edges: Vec<Edge>,
    rules: Vec<Rule>,
}

/// One step of a path: the link followed and the relation it lands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// `partition`, `ON DELETE CASCADE`, `view`, `rule r_log (DO ALSO INSERT)`.
    pub via: String,
    pub to: String,
}

/// A relation a plugin's granted write reaches, and whether that plugin
/// holds the grant the reached write needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    pub plugin: String,
    /// The granted write the path starts from.
    pub from: String,
    pub op: Op,
    pub path: Vec<Hop>,
    /// Where it lands, and the write it does there.
    pub relation: String,
    pub needs: Op,
    pub granted: bool,
    /// The other plugins of the plan whose `create` or `alter` grant
    /// names a relation of the path: their DDL made (or can make) it
    /// reach where it does ([`super::plan`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_by: Vec<String>,
}

/// A write whose reach the host cannot read: refused, since it cannot be
/// shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unknown {
    pub plugin: String,
    pub relation: String,
    pub why: String,
}

/// Everything the plan's writes reach.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reach {
    pub reached: Vec<Reached>,
    pub unknown: Vec<Unknown>,
}

impl Reach {
    /// Every relation some write of the plan reaches beyond its target,
    /// granted or not.
    pub fn relations(&self) -> BTreeSet<&str> {
        self.reached.iter().map(|r| r.relation.as_str()).collect()
    }
}

impl Reached {
    /// `one_roof.rt_parent → ON DELETE CASCADE → crm.rt_subscription`.
    pub fn path_text(&self) -> String {
        let mut out = self.from.clone();
        for h in &self.path {
            out.push_str(&format!(" → {} → {}", h.via, h.to));
        }
        out
    }

    /// What grants it: `delete = ["crm.rt_subscription"]`.
    pub fn grant_line(&self) -> String {
        format!("{} = [\"{}\"]", self.needs.grant_key(), self.relation)
    }
}

/// One step the walk can take from a relation under a verb.
enum Step {
    To { via: String, name: String, oid: Option<u32>, op: Op },
    Unknown(String),
}

impl Catalog {
    /// Reads the relations `names` (`schema.name`) reach, in the audit's snapshot.
    pub async fn read(client: &Client, names: &[String]) -> Result<Catalog> {
        let mut c = Catalog::default();
        // Typed: one round trip, no statement prepared per read.
        for row in client.query_typed(REACH, &[(&names, Type::TEXT_ARRAY)]).await? {
            let kind: String = row.try_get(0)?;
            let (from, from_name): (u32, String) = (row.try_get(1)?, row.try_get(2)?);
            let (to, detail, a, b): (u32, String, String, String) =
                (row.try_get(3)?, row.try_get(5)?, row.try_get(6)?, row.try_get(7)?);
            let definition: Option<String> = row.try_get(8)?;
            let bits: i32 = row.try_get(9)?;
            let char_of = |s: &str| s.chars().next().unwrap_or(' ');
            match kind.as_str() {
                "relation" => {
                    let r = Relation {
                        name: from_name.clone(),
                        kind: char_of(&detail),
                        view: definition,
                        updatable: bits,
                        instead_of: 0,
                    };
                    c.relations.insert(from, r);
                    c.by_name.insert(from_name, from);
                }
                "inherits" => c.edges.push(Edge { from, to, link: Link::Inherits }),
                "fk" => c.edges.push(Edge {
                    from,
                    to,
                    link: Link::ForeignKey { on_delete: char_of(&a), on_update: char_of(&b) },
                }),
                "depends" => c.edges.push(Edge { from, to, link: Link::Depends }),
                "rule" => c.rules.push(Rule {
                    relation: from,
                    name: detail,
                    event: match a.as_str() {
                        "2" => Some(Op::Update),
                        "3" => Some(Op::Insert),
                        "4" => Some(Op::Delete),
                        _ => None,
                    },
                    instead: b.split(' ').any(|w| w == "instead"),
                    conditional: b.split(' ').any(|w| w == "conditional"),
                    disabled: b.split(' ').any(|w| w == "disabled"),
                    definition: definition.unwrap_or_default(),
                }),
                "instead" => {
                    if let Some(r) = c.relations.get_mut(&from) {
                        r.instead_of = bits;
                    }
                }
                other => bail!("reach.sql returned the unknown kind {other:?} (a host bug)"),
            }
        }
        Ok(c)
    }

    /// Every relation the named ones reach along any link (their
    /// partitions and children, cascading keys, what their rules and views
    /// name): where the plan's statements can make code run.
    pub fn closure(&self, names: &[String]) -> BTreeSet<u32> {
        let mut seen: BTreeSet<u32> = names.iter().filter_map(|n| self.by_name.get(n).copied()).collect();
        let mut todo: Vec<u32> = seen.iter().copied().collect();
        while let Some(oid) = todo.pop() {
            for e in self.edges.iter().filter(|e| e.from == oid) {
                if self.relations.contains_key(&e.to) && seen.insert(e.to) {
                    todo.push(e.to);
                }
            }
        }
        seen
    }

    /// What each plugin's granted writes reach, shortest path first.
    pub fn reach(&self, plugins: &[&Plugin]) -> Reach {
        let mut out = Reach::default();
        for p in plugins {
            self.reach_of(&p.manifest.name, &p.manifest.grants, &mut out);
        }
        out
    }

    /// Breadth first from every granted write: the first path found to a
    /// relation and verb is a shortest one. A state already walked (a
    /// granted write itself, or one reached before) is not walked again,
    /// but a path into a granted write is still recorded (as granted).
    fn reach_of(&self, name: &str, grants: &Grants, out: &mut Reach) {
        let mut seen: BTreeSet<(String, &'static str)> = BTreeSet::new();
        let mut recorded: BTreeSet<(String, &'static str)> = BTreeSet::new();
        let mut queue: VecDeque<(u32, Op, String, Op, Vec<Hop>)> = VecDeque::new();
        for (key, rel) in grants.writes() {
            let Some(op) = write_op(key) else { continue };
            let Some(&oid) = self.by_name.get(rel) else { continue };
            seen.insert((rel.clone(), op.grant_key()));
            queue.push_back((oid, op, rel.clone(), op, Vec::new()));
        }
        while let Some((oid, op, from, first, path)) = queue.pop_front() {
            for step in self.steps(oid, op) {
                match step {
                    Step::Unknown(why) => {
                        let relation = self.relations.get(&oid).map(|r| r.name.clone()).unwrap_or_default();
                        let u = Unknown { plugin: name.to_string(), relation, why };
                        if !out.unknown.contains(&u) {
                            out.unknown.push(u);
                        }
                    }
                    Step::To { via, name: to, oid: next, op: needs } => {
                        if !recorded.insert((to.clone(), needs.grant_key())) {
                            continue;
                        }
                        let walk = seen.insert((to.clone(), needs.grant_key()));
                        let mut path = path.clone();
                        path.push(Hop { via, to: to.clone() });
                        let granted = granted(grants, needs, &to);
                        out.reached.push(Reached {
                            plugin: name.to_string(),
                            from: from.clone(),
                            op: first,
                            path: path.clone(),
                            relation: to,
                            needs,
                            granted,
                            made_by: Vec::new(),
                        });
                        if let (Some(next), true) = (next, walk) {
                            queue.push_back((next, needs, from.clone(), first, path));
                        }
                    }
                }
            }
        }
    }

    /// Where a write `op` on `oid` goes on to, one link away.
    fn steps(&self, oid: u32, op: Op) -> Vec<Step> {
        let Some(rel) = self.relations.get(&oid) else { return Vec::new() };
        let mut out = Vec::new();
        let to = |oid: u32, via: &str, op: Op| Step::To {
            via: via.to_string(),
            name: self.relations.get(&oid).map(|r| r.name.clone()).unwrap_or_default(),
            oid: Some(oid),
            op,
        };
        for e in self.edges.iter().filter(|e| e.from == oid && self.relations.contains_key(&e.to)) {
            match e.link {
                Link::Inherits if rel.kind == 'p' => {
                    if matches!(op, Op::Insert | Op::Update | Op::Delete | Op::Drop | Op::Alter | Op::Index) {
                        out.push(to(e.to, "partition", op));
                    }
                }
                Link::Inherits => {
                    // ALTER TABLE recurses to inheritance children too
                    // (CREATE INDEX does not).
                    if matches!(op, Op::Update | Op::Delete | Op::Alter) {
                        out.push(to(e.to, "inheritance child", op));
                    }
                }
                // ALTER TABLE on a referenced table (a key's type) rebuilds
                // the constraints of the tables referencing it.
                Link::ForeignKey { .. } if op == Op::Alter => out.push(to(e.to, "foreign key", Op::Alter)),
                Link::ForeignKey { on_delete, on_update } => {
                    let (event, action) = match op {
                        Op::Delete => ("DELETE", on_delete),
                        Op::Update => ("UPDATE", on_update),
                        _ => continue,
                    };
                    let (what, needs) = match (action, op) {
                        ('c', Op::Delete) => ("CASCADE", Op::Delete),
                        ('c', _) => ("CASCADE", Op::Update),
                        ('n', _) => ("SET NULL", Op::Update),
                        ('d', _) => ("SET DEFAULT", Op::Update),
                        _ => continue,
                    };
                    out.push(to(e.to, &format!("ON {event} {what}"), needs));
                }
                Link::Depends => {}
            }
        }
        for rule in self.rules.iter().filter(|r| r.relation == oid && !r.disabled && r.event == Some(op)) {
            match rule_targets(&rule.definition) {
                Ok(targets) => {
                    let also = if rule.instead { "INSTEAD" } else { "ALSO" };
                    for (name, needs) in targets {
                        let via = format!("rule {} (DO {also} {})", rule.name, needs.grant_key().to_uppercase());
                        let oid = self.by_name.get(&name).copied();
                        out.push(Step::To { via, name, oid, op: needs });
                    }
                }
                Err(why) => out.push(Step::Unknown(format!("rule {}: {why}", rule.name))),
            }
        }
        if let Some(step) = self.view_base(oid, rel, op) {
            out.push(step);
        }
        out
    }

    /// An auto-updatable view passes a write to its base relation, unless
    /// an unconditional INSTEAD rule or an INSTEAD OF trigger takes it.
    fn view_base(&self, oid: u32, rel: &Relation, op: Op) -> Option<Step> {
        let query = rel.view.as_ref()?;
        // pg_relation_is_updatable's bits are 1 << CmdType; tgtype's are
        // TRIGGER_TYPE_INSERT 4, _DELETE 8, _UPDATE 16.
        let (cmd, trigger) = match op {
            Op::Update => (1 << 2, 16),
            Op::Insert => (1 << 3, 4),
            Op::Delete => (1 << 4, 8),
            _ => return None,
        };
        let ruled = self
            .rules
            .iter()
            .any(|r| r.relation == oid && r.event == Some(op) && r.instead && !r.conditional && !r.disabled);
        if rel.updatable & cmd == 0 || ruled || rel.instead_of & trigger != 0 {
            return None;
        }
        Some(match view_base(query) {
            Some(name) => {
                let oid = self.by_name.get(&name).copied();
                Step::To { via: "view".into(), name, oid, op }
            }
            None => Step::Unknown(format!(
                "view {} takes {} but its query has no single base relation the host can read",
                rel.name,
                op.grant_key()
            )),
        })
    }
}

/// The verbs whose reach is followed.
fn write_op(key: &str) -> Option<Op> {
    Some(match key {
        "insert" => Op::Insert,
        "update" => Op::Update,
        "delete" => Op::Delete,
        "drop" => Op::Drop,
        "alter" => Op::Alter,
        "index" => Op::Index,
        _ => return None,
    })
}

fn granted(g: &Grants, op: Op, relation: &str) -> bool {
    let list = match op {
        Op::Insert => &g.insert,
        Op::Update => &g.update,
        Op::Delete => &g.delete,
        Op::Drop => &g.drop,
        Op::Create => &g.create,
        Op::Read => &g.read,
        Op::Alter => &g.alter,
        Op::Index => &g.index,
    };
    list.iter().any(|r| r == relation)
}

#[cfg(test)]
mod tests;
