//! Corpus (c), part three: DDL on relations that exist (issue 20) — the
//! names an ALTER TABLE, CREATE INDEX, CREATE VIEW, ALTER TYPE … ADD VALUE
//! or COMMENT ON carries (constraint and index names, referenced tables,
//! functions, operators, operator classes, collations and types in
//! defaults, checks, index expressions and predicates, a view's query),
//! over granted, trap, vault and ledger objects. Each script first creates
//! `oracle.made` (the `ddl` set's role owns it, as PostgreSQL asks of
//! ALTER), then the statement, then writes and a read that make what it
//! installed run (a default, a check, an index expression, a view's
//! functions), so the tripwire sees anything the checker let through.

use super::corpus::{Case, Corpus};

const MADE: &str = "CREATE TABLE oracle.made (id int PRIMARY KEY, a int, b text)";

/// What runs what a statement installed on `oracle.made`.
const EXERCISE: &[&str] = &[
    "INSERT INTO oracle.made (id, a, b) VALUES (1, 1, 'a'), (2, 2, 'b')",
    "UPDATE oracle.made SET a = a + 1",
    "SELECT * FROM oracle.made ORDER BY b",
];

/// `ALTER TABLE oracle.made …` sub-commands carrying names.
const ALTER: &[&str] = &[
    "ADD COLUMN c int",
    "ADD COLUMN c int DEFAULT trap.fi(1)",
    "ADD COLUMN c int DEFAULT vault.fi(1)",
    "ADD COLUMN c int DEFAULT 1 OPERATOR(trap.###) 1",
    "ADD COLUMN c int CHECK (trap.fb(c))",
    "ADD COLUMN c trap.dom",
    "ADD COLUMN c vault.dom",
    "ADD COLUMN c trap.mood",
    "ADD COLUMN c text COLLATE trap.coll",
    "ADD COLUMN c text COLLATE vault.coll",
    "ADD COLUMN c int GENERATED ALWAYS AS (trap.fi(a)) STORED",
    "ADD COLUMN c serial",
    "ADD COLUMN c int REFERENCES oracle.r (id)",
    "ADD COLUMN c int REFERENCES vault.t (id)",
    "ADD COLUMN c int REFERENCES oracle.w (id)",
    "ADD COLUMN c int UNIQUE",
    "ADD COLUMN c text STORAGE EXTERNAL",
    "ALTER COLUMN a SET DEFAULT trap.fi(1)",
    "ALTER COLUMN a SET DEFAULT (1)::trap.dom",
    "ALTER COLUMN a SET DEFAULT 2",
    "ALTER COLUMN a TYPE bigint",
    "ALTER COLUMN a TYPE bigint USING trap.fi(a)",
    "ALTER COLUMN a TYPE trap.dom",
    "ALTER COLUMN b TYPE text COLLATE trap.coll",
    "ALTER COLUMN a SET NOT NULL",
    "ALTER COLUMN a DROP NOT NULL",
    "DROP COLUMN b",
    "ADD CONSTRAINT made_a CHECK (trap.fb(a)) NOT VALID",
    "ADD CONSTRAINT made_a CHECK (a OPERATOR(trap.===) a)",
    "ADD CONSTRAINT made_a CHECK (a > 0) NOT VALID",
    "ADD CONSTRAINT made_r FOREIGN KEY (a) REFERENCES oracle.r (id) NOT VALID",
    "ADD CONSTRAINT made_r FOREIGN KEY (a) REFERENCES vault.t (id) NOT VALID",
    "ADD CONSTRAINT made_r FOREIGN KEY (a) REFERENCES oracle.w (id)",
    "ADD CONSTRAINT made_u UNIQUE (a)",
    "ADD CONSTRAINT made_x EXCLUDE USING btree (a trap.int_ops WITH =)",
    "ADD CONSTRAINT made_x EXCLUDE USING btree (a WITH OPERATOR(vault.===))",
    "ADD CONSTRAINT made_x EXCLUDE USING trap_hash (a WITH =)",
    "ADD CONSTRAINT made_u UNIQUE (a) USING INDEX TABLESPACE trap_ts",
    "DROP CONSTRAINT made_pkey",
    "RENAME COLUMN a TO a2",
    "RENAME CONSTRAINT made_pkey TO made_key",
    "SET TABLESPACE trap_ts",
    "SET ACCESS METHOD trap_heap",
    "OWNER TO oracle_read",
    "ENABLE ROW LEVEL SECURITY",
    "SET (fillfactor = 50)",
    "INHERIT oracle.r",
];

/// `CREATE INDEX … ON oracle.made …` bodies.
const INDEX: &[&str] = &[
    "(a)",
    "(a trap.int_ops)",
    "(a vault.int_ops)",
    "((trap.fi(a)))",
    "((vault.fi(a)))",
    "(a) WHERE trap.fb(a)",
    "(a) WHERE a OPERATOR(trap.===) 1",
    "(b COLLATE trap.coll)",
    "(b COLLATE vault.coll)",
    "USING trap_hash (a)",
    "USING hash (a trap.int_hash_ops)",
    "USING gin (b gin_trgm_ops)",
    "(a) TABLESPACE trap_ts",
    "(a) WITH (fillfactor = 50)",
    "(a) INCLUDE (b)",
    "((a + 1)) WHERE b <> 'x'",
];

/// View queries, for `CREATE [OR REPLACE] VIEW oracle.v AS …`.
const VIEW: &[&str] = &[
    "SELECT id, a FROM oracle.r",
    "SELECT id, a FROM oracle.w",
    "SELECT * FROM vault.t",
    "SELECT trap.fi(a) FROM oracle.r",
    "SELECT vault.fi(a) FROM oracle.r",
    "SELECT a OPERATOR(trap.===) 1 FROM oracle.r",
    "SELECT b COLLATE trap.coll FROM oracle.r",
    "SELECT a::trap.dom FROM oracle.r",
    "SELECT * FROM oracle.r WHERE EXISTS (SELECT 1 FROM oracle.w)",
    "WITH x AS (SELECT * FROM vault.t) SELECT * FROM x",
    "SELECT * FROM rollout_ledger.rollout",
    "SELECT xmin, id FROM oracle.r",
    "SELECT id FROM oracle.made",
    "SELECT '{n}'::regclass",
];

/// Whole statements: an enum's new value, comments, drops, view options.
const OTHER: &[&str] = &[
    "ALTER TYPE oracle.mood ADD VALUE 'new'",
    "ALTER TYPE oracle.mood ADD VALUE IF NOT EXISTS 'ok' BEFORE 'sad'",
    "ALTER TYPE oracle.mood ADD VALUE 'later' AFTER 'ok'",
    "ALTER TYPE trap.mood ADD VALUE 'new'",
    "ALTER TYPE oracle.mood RENAME VALUE 'ok' TO 'fine'",
    "COMMENT ON TYPE oracle.mood IS 'x'",
    "COMMENT ON TYPE trap.mood IS 'x'",
    "COMMENT ON TABLE oracle.r IS 'x'",
    "COMMENT ON COLUMN oracle.r.a IS 'x'",
    "COMMENT ON TABLE rollout_ledger.rollout IS 'x'",
    "COMMENT ON FUNCTION trap.fi(int) IS 'x'",
    "CREATE VIEW oracle.v WITH (security_barrier) AS SELECT id FROM oracle.r WITH CASCADED CHECK OPTION",
    "CREATE VIEW oracle.v WITH (security_invoker) AS SELECT id FROM oracle.r",
    "CREATE VIEW oracle.r AS SELECT 1 AS id",
    "CREATE TEMP VIEW v AS SELECT id FROM oracle.r",
    "CREATE MATERIALIZED VIEW oracle.v AS SELECT id FROM oracle.r",
    "DROP VIEW oracle.v_resp",
    "DROP VIEW one_roof.v_resp_gap",
];

/// Every DDL case.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut push = |origin: String, script: Vec<String>| {
        cases.push(Case { corpus: Corpus::Generated, origin, script });
    };
    let exercise = || EXERCISE.iter().map(|s| s.to_string());
    for (i, sub) in ALTER.iter().enumerate() {
        let mut script = vec![MADE.to_string(), format!("ALTER TABLE oracle.made {sub}")];
        script.extend(exercise());
        push(format!("alter:{}", i + 1), script);
    }
    for (i, body) in INDEX.iter().enumerate() {
        let mut script = vec![MADE.to_string(), format!("CREATE INDEX made_i ON oracle.made {body}")];
        script.extend(exercise());
        script.push("DROP INDEX oracle.made_i".into());
        push(format!("index:{}", i + 1), script);
    }
    for (i, query) in VIEW.iter().enumerate() {
        let query = query.replace("{n}", "vault.t");
        for create in ["CREATE VIEW", "CREATE OR REPLACE VIEW"] {
            let mut script = vec![MADE.to_string(), format!("{create} oracle.v AS {query}")];
            script.push("SELECT * FROM oracle.v".into());
            script.push("COMMENT ON VIEW oracle.v IS 'x'".into());
            script.push("DROP VIEW oracle.v".into());
            push(format!("view:{}:{create}", i + 1), script);
        }
    }
    for (i, sql) in OTHER.iter().enumerate() {
        push(format!("ddl:{}", i + 1), vec![sql.to_string()]);
    }
    cases
}
