//! Corpus (c), part one: grammar-aware mutations of statements, made on
//! pg_query's parse tree and deparsed: relation names swapped, expressions
//! wrapped in trap calls, operators, casts and collations, clauses added
//! (WHERE, RETURNING, ON CONFLICT … DO UPDATE, ORDER BY … USING). A fixed
//! seed makes the same variants every run.

use pg_query::protobuf::{node::Node as N, Node, ParseResult};

/// splitmix64: a fixed sequence from a seed, with no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Relations a swap puts in: granted in some set, never granted, catalog,
/// a view, the create target and a table in the schema nobody may use.
pub const RELATIONS: &[&str] = &[
    "oracle.r",
    "oracle.w",
    "oracle.s",
    "oracle.made",
    "one_roof.team",
    "one_roof.label",
    "one_roof.resp_ownership",
    "one_roof.kg_domain",
    "one_roof.drift_finding",
    "one_roof.v_resp_gap",
    "one_roof.approval",
    "information_schema.columns",
    "pg_catalog.pg_authid",
    "pg_catalog.pg_class",
    "vault.t",
];

/// Wrappers for an expression `{}`: trap and vault functions, operators,
/// casts to their types, their collations, and harmless built-ins.
pub const WRAPPERS: &[&str] = &[
    "trap.fi(({})::int)",
    "trap.f({})",
    "trap.ft(({})::text)",
    "vault.fi(({})::int)",
    "({})::int OPERATOR(trap.###) 1",
    "({})::int OPERATOR(vault.===) 1",
    "({})::int OPERATOR(pg_catalog.+) 1",
    "({})::int::trap.dom",
    "CAST(({})::int AS vault.dom)",
    "({})::text COLLATE trap.coll",
    "({})::text COLLATE vault.coll",
    "({})::text COLLATE \"C\"",
    "ROW(({})::int, 'a')::trap.pair",
    "ROW(({})::int, 'a')::vault.pair",
    "({})::text::trap.mood",
    "({})::text::trap.tdom",
    "lower(({})::text)",
    "coalesce(({})::text, 'x')",
    "(SELECT count(*) FROM vault.t WHERE ({}) IS NOT NULL)",
    "ARRAY[({})::int]::trap.dom[]",
    "({})::text::regclass",
    "({})::text = ANY (ARRAY['a'])",
    "({})::int IN (SELECT trap.fv())",
];

/// A statement's tree, when it parses to exactly one statement.
fn parse(sql: &str) -> Option<ParseResult> {
    let p = pg_query::parse(sql, 0).ok()?.protobuf;
    (p.stmts.len() == 1).then_some(p)
}

fn top(p: &mut ParseResult) -> Option<&mut N> {
    p.stmts.get_mut(0)?.stmt.as_mut()?.node.as_mut()
}

fn deparse(p: &ParseResult) -> Option<String> {
    pg_query::deparse(p, Default::default()).ok()
}

/// An expression as text (deparsed as `SELECT <expr>`).
fn expr_text(node: &Node) -> Option<String> {
    let mut p = parse("SELECT 1")?;
    if let Some(N::SelectStmt(s)) = top(&mut p) {
        if let Some(N::ResTarget(t)) = s.target_list.get_mut(0)?.node.as_mut() {
            t.val = Some(Box::new(node.clone()));
        }
    }
    deparse(&p)?.strip_prefix("SELECT ").map(String::from)
}

/// An expression's tree, from its text.
fn expr_node(text: &str) -> Option<Node> {
    let mut p = parse(&format!("SELECT {text}"))?;
    match top(&mut p) {
        Some(N::SelectStmt(s)) => match s.target_list.first()?.node.as_ref()? {
            N::ResTarget(t) => t.val.as_deref().cloned(),
            _ => None,
        },
        _ => None,
    }
}

fn wrap(rng: &mut Rng, node: Option<&Node>) -> Option<Node> {
    let inner = match node {
        Some(n) => expr_text(n)?,
        None => "1".to_string(),
    };
    expr_node(&rng.pick(WRAPPERS).replace("{}", &inner))
}

/// Every relation in the statement becomes one of [`RELATIONS`].
#[allow(unsafe_code, reason = "pg_query hands out the parse tree's nodes to change as raw pointers")]
fn swap_relations(rng: &mut Rng, p: &mut ParseResult) {
    // SAFETY: the pointers come from `p`, which is borrowed mutably for
    // this whole block; only strings inside the RangeVars change, nothing
    // is moved or freed while they are held.
    unsafe {
        for (node, _, _) in p.nodes_mut() {
            if let pg_query::NodeMut::RangeVar(rv) = node {
                let (schema, name) = rng.pick(RELATIONS).split_once('.').unwrap_or(("oracle", "r"));
                (*rv).schemaname = schema.to_string();
                (*rv).relname = name.to_string();
            }
        }
    }
}

/// One mutation of `sql` (which kind is drawn from `rng`), deparsed.
pub fn mutate(rng: &mut Rng, sql: &str) -> Option<String> {
    let mut p = parse(sql)?;
    let kind = rng.below(6);
    if kind == 0 {
        swap_relations(rng, &mut p);
        return deparse(&p);
    }
    if rng.below(2) == 0 {
        swap_relations(rng, &mut p);
    }
    match top(&mut p)? {
        N::SelectStmt(s) if s.op == 1 && !s.target_list.is_empty() => match kind {
            1 | 2 => {
                let i = rng.below(s.target_list.len());
                if let Some(N::ResTarget(t)) = s.target_list[i].node.as_mut() {
                    t.val = Some(Box::new(wrap(rng, t.val.as_deref())?));
                }
            }
            3 => {
                s.where_clause = Some(Box::new(expr_node(&format!("({}) IS NOT NULL", expr_text(&wrap(rng, None)?)?))?))
            }
            4 => {
                let op = *rng.pick(&["OPERATOR(trap.<<<)", "OPERATOR(vault.===)", "OPERATOR(pg_catalog.<)", ">"]);
                let order = parse(&format!("SELECT 1 ORDER BY 1 USING {op}"))?;
                if let Some(N::SelectStmt(o)) = order.stmts[0].stmt.as_ref()?.node.clone() {
                    s.sort_clause = o.sort_clause;
                }
            }
            _ => {
                let col = expr_node(&format!("{} AS x", expr_text(&wrap(rng, None)?)?));
                s.target_list.push(Node {
                    node: Some(N::ResTarget(Box::new(pg_query::protobuf::ResTarget {
                        val: col.map(Box::new),
                        name: "x".into(),
                        ..Default::default()
                    }))),
                });
            }
        },
        N::UpdateStmt(u) => match kind {
            1 | 2 if !u.target_list.is_empty() => {
                let i = rng.below(u.target_list.len());
                if let Some(N::ResTarget(t)) = u.target_list[i].node.as_mut() {
                    t.val = Some(Box::new(wrap(rng, t.val.as_deref())?));
                }
            }
            3 => {
                u.where_clause = Some(Box::new(
                    wrap(rng, None).and_then(|w| expr_node(&format!("({}) IS NOT NULL", expr_text(&w)?)))?,
                ))
            }
            _ => u.returning_clause = returning(rng)?,
        },
        N::DeleteStmt(d) => match kind {
            3 => {
                d.where_clause = Some(Box::new(expr_node(&format!("({}) IS NOT NULL", expr_text(&wrap(rng, None)?)?))?))
            }
            _ => d.returning_clause = returning(rng)?,
        },
        N::InsertStmt(i) => match kind {
            1 | 2 => i.returning_clause = returning(rng)?,
            _ => {
                let clause: &&str = rng.pick(ON_CONFLICT);
                let on = parse(clause)?;
                if let Some(N::InsertStmt(o)) = on.stmts[0].stmt.as_ref()?.node.clone() {
                    i.on_conflict_clause = o.on_conflict_clause;
                    // The clause names the target `t`.
                    if let Some(rv) = i.relation.as_mut() {
                        rv.alias = o.relation.and_then(|r| r.alias);
                    }
                }
            }
        },
        _ => swap_relations(rng, &mut p),
    }
    deparse(&p)
}

fn returning(rng: &mut Rng) -> Option<Option<pg_query::protobuf::ReturningClause>> {
    let text = match rng.below(3) {
        0 => "*".to_string(),
        1 => "1".to_string(),
        _ => expr_text(&wrap(rng, None)?)?,
    };
    let p = parse(&format!("DELETE FROM oracle.w RETURNING {text}"))?;
    match p.stmts[0].stmt.as_ref()?.node.clone()? {
        N::DeleteStmt(d) => Some(d.returning_clause),
        _ => None,
    }
}

/// ON CONFLICT clauses, as whole statements to take the clause from: the
/// DO UPDATE ones read the existing row (`t.b`, `t.a`) or run a trap.
const ON_CONFLICT: &[&str] = &[
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET b = t.b || 'y'",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 1 WHERE t.a > 0",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET a = trap.fi(1)",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) DO NOTHING",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id) WHERE t.a > 0 DO NOTHING",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (a COLLATE trap.coll) DO NOTHING",
    "INSERT INTO x.y AS t (id) VALUES (1) ON CONFLICT (id vault.int_ops) DO NOTHING",
];
