//! The catalog audit's fixtures (tests/catalog.rs, tests/reach.rs): a
//! plan of three plugins — the `verdict` gate, the `catalog` tier running
//! the statements a case gives it under the grants the case gives it, and
//! the `verdict` gate again as the verify — and the trap counter every
//! trap function bumps.

use super::*;

/// The counter every trap function bumps (a sequence: it does not roll
/// back), a view the tier may read it through (under roles a sequence
/// grant is not one the role proof allows), and `trap.hit()`.
pub const TRAP: &str = r#"
CREATE SCHEMA trap;
CREATE SEQUENCE trap.hits;
CREATE FUNCTION trap.hit() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$ SELECT nextval('trap.hits') $$;
CREATE FUNCTION trap.hit_bool() RETURNS bool LANGUAGE sql SECURITY DEFINER AS $$ SELECT trap.hit() > 0 $$;
CREATE VIEW trap.hits_now AS SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS hits FROM trap.hits;
"#;

/// Writes the `catalog` fixture plugin to `path` as tier `name` (ordinal
/// `ordinal`, described as `what`) under `grants` (TOML lines).
pub fn write_catalog_tier(path: &Path, name: &str, ordinal: u32, what: &str, grants: &str) {
    let wasm = std::fs::read(root().join("tests/plugins/catalog.wasm")).expect("make test-plugins");
    let manifest = format!(
        r#"name = "{name}"
kind = "tier"
ordinal = {ordinal}
description = "{what}"
databases = ["directus"]
files = ["statements.sql"]
post_conditions = ["statements"]
rollback_conditions = ["statements"]

[params.tripwire]
pattern = "on|off"
description = "read trap.hits_now after each statement"

[grants]
{grants}

[limits]
statements = 100
"#
    );
    std::fs::write(path, with_manifest(&wasm, &manifest)).unwrap();
}

/// The plan of one case, in a directory of its own.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// gate, tier, verify (paths).
    pub plan: Vec<String>,
    pub tier: String,
}

/// The verdict fixture as a plan's verify (its manifest), for plans the tests build.
pub const VERIFY: &str = r#"name = "test-verdict-verify"
kind = "verify"
ordinal = 8
description = "The verdict fixture as the plan's verify: its table as the `verdict` parameter says."
databases = ["directus"]
metrics = ["db", "ready"]

[params.verdict]
pattern = "ok|empty|missing|extra|duplicate"
description = "the shape of the table"

[limits]
statements = 5
"#;

impl Fixture {
    /// A tier running `statements` (one a line) under `grants` (the lines
    /// of its `[grants]` table, TOML).
    pub fn new(statements: &[&str], grants: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("a fixture directory");
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/statements.sql"), statements.join("\n") + "\n").unwrap();
        let verdict = std::fs::read(root().join("tests/plugins/verdict.wasm")).expect("make test-plugins");
        let verify = dir.path().join("verify.wasm");
        std::fs::write(&verify, with_manifest(&verdict, VERIFY)).unwrap();
        let f = Fixture {
            plan: vec![
                root().join("tests/plugins/verdict.wasm").display().to_string(),
                dir.path().join("catalog.wasm").display().to_string(),
                verify.display().to_string(),
            ],
            tier: dir.path().join("catalog.wasm").display().to_string(),
            dir,
        };
        f.grant(grants);
        f
    }

    /// Rewrites the tier with these grants instead (a reviewed change of
    /// its manifest: new bytes).
    pub fn grant(&self, grants: &str) {
        let what = "Runs the statements of its data file (catalog audit fixture).";
        write_catalog_tier(Path::new(&self.tier), "test-catalog", 1, what, grants);
    }

    /// This plan with a second catalog tier (`test-catalog-two`, ordinal
    /// 2) running `statements` under `grants`, and the directory holding
    /// that tier (kept as long as the plan is used).
    pub fn and_then(&self, statements: &[&str], grants: &str) -> (Vec<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a fixture directory");
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/statements.sql"), statements.join("\n") + "\n").unwrap();
        let tier = dir.path().join("catalog.wasm");
        let what = "Runs the statements of its data file (a second catalog tier).";
        write_catalog_tier(&tier, "test-catalog-two", 2, what, grants);
        let mut plan = self.plan.clone();
        plan.insert(2, tier.display().to_string());
        (plan, dir)
    }

    /// `verb --tiers <plan> --param verdict=ok --param tripwire=… <extra>`.
    pub fn args<'a>(&'a self, verb: &'a str, tripwire: bool, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = args(verb, &self.plan, &["--param", "verdict=ok"]);
        a.extend(["--param", if tripwire { "tripwire=on" } else { "tripwire=off" }]);
        a.extend_from_slice(extra);
        a
    }

    /// The lock file of this case's directory.
    pub fn lock(&self) -> String {
        self.dir.path().join("rollout.lock").display().to_string()
    }
}

impl Cluster {
    /// How often the trap functions have run.
    pub fn hits(&self) -> i64 {
        self.scalar("SELECT hits FROM trap.hits_now")
    }

    /// The plan's restricted roles, set up by `host roles apply`, after EXECUTE on every function in `schemas` is taken
    /// from PUBLIC (the role proof asks for it: the roles hold only their
    /// grants).
    pub fn roles_for(&self, plan: &[String], schemas: &str) {
        self.psql(&format!("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA {schemas} FROM PUBLIC"));
        let mut a = vec!["roles", "apply"];
        a.extend(plan.iter().map(String::as_str));
        self.host(&a).expect_code(0).expect("restricted roles hold exactly their plugins' grants");
    }

    /// `host grants <plan> --database-url … --lock FILE [--roles]`: the
    /// reviewer records the catalog as it stands.
    pub fn review(&self, plan: &[String], lock: &str, roles: bool) -> Run {
        let url = self.url();
        let mut a = vec!["grants"];
        a.extend(plan.iter().map(String::as_str));
        a.extend(["--database-url", url.as_str(), "--lock", lock]);
        if roles {
            a.push("--roles");
        }
        let r = self.host(&a);
        r.expect_code(0);
        r
    }

    /// Nothing was written: no rollout in the ledger (a refusal before it).
    pub fn untouched(&self) -> bool {
        // Under roles, `host roles apply` creates the ledger (its writer's
        // grants need it); no rollout may be in it.
        self.psql("SELECT to_regclass('rollout_ledger.rollout') IS NULL") == "t"
            || self.psql("SELECT count(*) FROM rollout_ledger.rollout") == "0"
    }
}
