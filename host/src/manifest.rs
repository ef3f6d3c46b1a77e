//! The plugin manifest: what a reviewer reads to know what a plugin is and
//! may do, without running it.
//!
//! It is the crate's `plugin.toml`, embedded by the SDK in the component's
//! `rollout-manifest` custom section, so the manifest is part of the bytes
//! whose sha256 the ledger records: changing either changes the digest.
//! Unknown keys are refused, so a typo never silently drops a grant or limit.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Name of the custom section that carries the manifest.
pub const SECTION: &str = "rollout-manifest";

/// What a plugin is and may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique name in the plan; the ledger keys tiers by it.
    pub name: String,
    pub kind: Kind,
    /// Tier number (tier, verify, probe); the gate has none, it always runs first.
    pub ordinal: Option<u32>,
    pub description: String,
    /// `current_database()` must be one of these; empty means the plugin
    /// refuses every database.
    pub databases: Vec<String>,
    /// Rollout parameters the plugin reads; each is required.
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// Data files handed to the plugin read-only under `/data`.
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub grants: Grants,
    /// Check plugins: metrics printed on the rollback's closing line.
    #[serde(default)]
    pub summary: Vec<String>,
    /// Gate, verify, probe: the metric names its table holds, each exactly
    /// once (the reviewer reads the gate's predicates here).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Tier: the metric names of its post-conditions table.
    #[serde(default)]
    pub post_conditions: Vec<String>,
    /// Tier: the metric names of its rollback-conditions table.
    #[serde(default)]
    pub rollback_conditions: Vec<String>,
}

/// The four plugin kinds of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Read-only pre-check; the rollout runs only when it says READY.
    Gate,
    /// A change in one transaction, with post-conditions and a rollback.
    Tier,
    /// Read-only table after the last tier (tier 8 in One-Roof).
    Verify,
    /// Read-only table after a run or a rollback.
    Probe,
}

impl Kind {
    /// Gate, verify and probe plugins can never write.
    pub fn read_only(self) -> bool {
        !matches!(self, Kind::Tier)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Gate => "gate",
            Kind::Tier => "tier",
            Kind::Verify => "verify",
            Kind::Probe => "probe",
        })
    }
}

/// A required rollout parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Regular expression the whole value must match.
    pub pattern: String,
    pub description: String,
    /// This parameter is the approval reference the ledger records.
    #[serde(default)]
    pub approval: bool,
}

/// Resource limits; every one has a default so a plugin is never unbounded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall time of one call into the plugin, host calls included.
    pub wall_time_ms: u64,
    /// Linear memory of the plugin.
    pub memory_mib: u64,
    /// Statements per transaction (a tier's apply and post-conditions
    /// together; a check plugin's one call).
    pub statements: u64,
    /// Rows returned to the plugin per transaction.
    pub rows_returned: u64,
    /// Rows inserted, updated or deleted per transaction (0: none may be).
    pub rows_changed: u64,
    /// `SET LOCAL statement_timeout` of the tier's transaction.
    pub statement_timeout_ms: u64,
    /// `SET LOCAL lock_timeout` of the tier's transaction.
    pub lock_timeout_ms: u64,
    /// Lines a plugin may log in one call: its `log` messages (a message of
    /// n lines counts n) and its stdout/stderr lines together. Every line
    /// reaches the operator's terminal and `rollout.log` with its tag, so
    /// this bounds how many there are; 10,000 is far more than any runbook
    /// step says (a One-Roof tier logs a few).
    pub log_lines: u64,
    /// Bytes a plugin may log in one call, as it sent them, before the host
    /// escapes them (a byte shows as at most 4) and cuts each line at 4 KiB.
    /// A message that would pass it is refused whole and the plugin
    /// stopped: with 1 MiB, one call writes at most ~4 MiB plus the tags.
    pub log_bytes: u64,
    /// Metrics (check table rows) one call may return. `report.json` keeps
    /// every one; One-Roof's largest table has 17, and no operator reads
    /// 1,000.
    pub metrics: u64,
    /// Bytes of metric text one call may return: every metric's name,
    /// expected and actual value together. A total, not a per-field cap,
    /// because `report.json` keeps the text exact: the total is what bounds
    /// it (a 4 KiB field cap would still let 1,000 metrics bring 12 MiB).
    /// 64 KiB is 64 bytes a metric at the full count; One-Roof's largest
    /// table has 302.
    pub metric_text: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time_ms: 60_000,
            memory_mib: 64,
            statements: 1_000,
            rows_returned: 100_000,
            rows_changed: 100_000,
            statement_timeout_ms: 30_000,
            lock_timeout_ms: 5_000,
            log_lines: 10_000,
            log_bytes: 1024 * 1024,
            metrics: 1_000,
            metric_text: 64 * 1024,
        }
    }
}

/// What the plugin's SQL may touch; nothing is allowed unless a line here
/// grants it. Relations are `schema.name`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    pub read: Vec<String>,
    pub insert: Vec<String>,
    pub update: Vec<String>,
    pub delete: Vec<String>,
    /// Tables the plugin may `CREATE TABLE`.
    pub create: Vec<String>,
    /// Tables the plugin may `DROP TABLE`.
    pub drop: Vec<String>,
    /// Functions beyond the safe default set, as `schema.name`.
    pub functions: Vec<String>,
    /// Sequences the plugin's inserts draw from (`USAGE` for its role).
    pub sequences: Vec<String>,
    /// Tables a foreign key of a table it creates points at: PostgreSQL
    /// needs `REFERENCES` on them for the `CREATE TABLE`, and no other
    /// grant says so (`host grants --role-sql`, the role proof).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

impl Grants {
    /// Every relation this plugin may write, with the operation.
    pub fn writes(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let ops: [(&'static str, &Vec<String>); 5] = [
            ("insert", &self.insert),
            ("update", &self.update),
            ("delete", &self.delete),
            ("create", &self.create),
            ("drop", &self.drop),
        ];
        ops.into_iter().flat_map(|(op, list)| list.iter().map(move |r| (op, r)))
    }
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid TOML for a plugin manifest: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
}

impl Manifest {
    /// Parses and validates the embedded `plugin.toml`.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        plain_text(self)?;
        let bad = |s: String| Err(ManifestError::Invalid(s));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad(format!("name `{}` must be non-empty letters, digits, `-` or `_`", self.name));
        }
        match (self.kind, self.ordinal) {
            (Kind::Gate, Some(_)) => return bad("a gate has no ordinal: it always runs first".into()),
            (Kind::Tier | Kind::Verify | Kind::Probe, None) => {
                return bad(format!("a {} needs an `ordinal`", self.kind))
            }
            _ => {}
        }
        if self.kind.read_only() {
            if let Some((op, rel)) = self.grants.writes().next() {
                return bad(format!(
                    "a {} plugin is read-only, but its grants give `{op}` on {rel}: remove that line",
                    self.kind
                ));
            }
        }
        for (name, spec) in &self.params {
            if let Err(e) = regex::Regex::new(&spec.pattern) {
                return bad(format!("parameter `{name}`: pattern is not a valid regular expression: {e}"));
            }
        }
        for file in &self.files {
            if file.is_empty() || file.contains('/') || file.starts_with('.') {
                return bad(format!("data file `{file}` must be a plain file name in the data directory"));
            }
        }
        let named = self.grants.read.iter().chain(&self.grants.references).chain(&self.grants.sequences);
        for rel in named.chain(self.grants.writes().map(|(_, r)| r)) {
            if rel.split('.').count() != 2 {
                return bad(format!("grant `{rel}` must be schema-qualified: `schema.name`"));
            }
            if rel.starts_with("rollout_ledger.") {
                return bad(format!("grant `{rel}`: the ledger belongs to the host; no plugin may touch it"));
            }
        }
        self.validate_metrics()?;
        let l = &self.limits;
        let day = 24 * 3600 * 1000;
        for (name, value, min, max) in [
            ("wall_time_ms", l.wall_time_ms, 1, day),
            ("memory_mib", l.memory_mib, 1, 4096),
            ("statement_timeout_ms", l.statement_timeout_ms, 1, day),
            ("lock_timeout_ms", l.lock_timeout_ms, 1, day),
            ("statements", l.statements, 1, u32::MAX as u64),
            ("rows_returned", l.rows_returned, 1, u32::MAX as u64),
            ("rows_changed", l.rows_changed, 0, u32::MAX as u64),
            // What a plugin makes the host write and keep: bounded low
            // enough that the worst case fits a terminal and a disk.
            ("log_lines", l.log_lines, 1, 1_000_000),
            ("log_bytes", l.log_bytes, 1, 64 * 1024 * 1024),
            ("metrics", l.metrics, 1, 100_000),
            ("metric_text", l.metric_text, 1, 16 * 1024 * 1024),
        ] {
            if value < min || value > max {
                return bad(format!("limit {name}={value} must be between {min} and {max}; every limit is bounded"));
            }
        }
        Ok(())
    }
}

impl Manifest {
    /// The declared metric names fit the kind: a check plugin declares
    /// `metrics`, a tier `post_conditions` and `rollback_conditions`; each
    /// list non-empty, without repeats; a probe's `summary` names declared metrics.
    fn validate_metrics(&self) -> Result<(), ManifestError> {
        let bad = |s: String| Err(ManifestError::Invalid(s));
        type Lists<'a> = [(&'static str, &'a Vec<String>)];
        let (required, refused): (&Lists, &Lists) = if self.kind == Kind::Tier {
            (
                &[("post_conditions", &self.post_conditions), ("rollback_conditions", &self.rollback_conditions)],
                &[("metrics", &self.metrics), ("summary", &self.summary)],
            )
        } else {
            (
                &[("metrics", &self.metrics)],
                &[("post_conditions", &self.post_conditions), ("rollback_conditions", &self.rollback_conditions)],
            )
        };
        for (key, list) in refused {
            if !list.is_empty() {
                return bad(format!("a {} plugin has no `{key}`: remove it", self.kind));
            }
        }
        for (key, list) in required {
            if list.is_empty() {
                return bad(format!(
                    "a {} plugin must declare `{key} = [\"metric\", …]`: the metric names its table returns (an empty table never passes)",
                    self.kind
                ));
            }
            for (i, name) in list.iter().enumerate() {
                if name.trim().is_empty() || name.chars().count() > MAX_METRIC_NAME {
                    return bad(format!("`{key}[{i}]` must be a metric name of 1 to {MAX_METRIC_NAME} characters"));
                }
                if list[..i].contains(name) {
                    return bad(format!("`{key}` declares the metric `{name}` twice"));
                }
            }
        }
        if let Some(s) = self.summary.iter().find(|s| !self.metrics.contains(s)) {
            return bad(format!("`summary` names `{s}`, which `metrics` does not declare"));
        }
        Ok(())
    }
}

/// Longest metric name a manifest may declare.
pub const MAX_METRIC_NAME: usize = 128;

/// Every string a reviewer reads (`grants`, `inspect`, reports) must be
/// plain one-line text: a control or invisible character (ESC, CR, a bidi
/// override, …; [`crate::text::is_hidden`]) could hide or redraw another
/// line on the reviewer's terminal, so the manifest is refused, naming the
/// field and showing the value inert.
fn plain_text(m: &Manifest) -> Result<(), ManifestError> {
    let mut fields: Vec<(String, &String)> = vec![("name".into(), &m.name), ("description".into(), &m.description)];
    for (key, values) in [
        ("databases", &m.databases),
        ("files", &m.files),
        ("summary", &m.summary),
        ("metrics", &m.metrics),
        ("post_conditions", &m.post_conditions),
        ("rollback_conditions", &m.rollback_conditions),
        ("grants.read", &m.grants.read),
        ("grants.insert", &m.grants.insert),
        ("grants.update", &m.grants.update),
        ("grants.delete", &m.grants.delete),
        ("grants.create", &m.grants.create),
        ("grants.drop", &m.grants.drop),
        ("grants.functions", &m.grants.functions),
        ("grants.sequences", &m.grants.sequences),
        ("grants.references", &m.grants.references),
    ] {
        fields.extend(values.iter().enumerate().map(|(i, v)| (format!("{key}[{i}]"), v)));
    }
    for (name, spec) in &m.params {
        let shown = crate::text::terminal(name);
        fields.push((format!("params.{shown}"), name));
        fields.push((format!("params.{shown}.pattern"), &spec.pattern));
        fields.push((format!("params.{shown}.description"), &spec.description));
    }
    for (field, value) in fields {
        if let Some(c) = value.chars().find(|&c| crate::text::is_hidden(c)) {
            return Err(ManifestError::Invalid(format!(
                "manifest field `{field}` holds the control or invisible character U+{:04X} (\"{}\"): manifest strings must be plain one-line text",
                c as u32,
                crate::text::terminal(value)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod plain_text_tests {
    use super::*;

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
}

#[cfg(test)]
mod tests {
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
        let tier_metrics =
            format!("{tier}post_conditions = [\"a\"]\nrollback_conditions = [\"b\"]\nmetrics = [\"c\"]\n");
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
}
