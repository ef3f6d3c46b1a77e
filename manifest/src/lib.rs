//! The plugin manifest: what a reviewer reads to know what a plugin is and
//! may do, without running it.
//!
//! It is the crate's `plugin.toml`, embedded by the SDK in the component's
//! `rollout-manifest` custom section, so the manifest is part of the bytes
//! whose sha256 the ledger records: changing either changes the digest.
//! Unknown keys are refused, so a typo never silently drops a grant or limit.
//!
//! A crate of its own so that one parser judges a manifest twice with the
//! same words: when the plugin is built (the SDK's export macros parse the
//! crate's `plugin.toml`, so `make tiers` fails) and when `host` loads it.
//! The host re-exports it as `host::manifest`.

pub mod dangerous;
mod grants;
mod limits;
mod mode;
mod phases;
pub mod text;

pub use grants::{grant_refusal, suggested_grant, Grants, HOST_SCHEMAS};
pub use limits::Limits;
pub use mode::{Batches, Mode};
pub use phases::{split_columns, Columns, Phase, Phases, WrittenGrants, COLUMN_KEYS};

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
    /// Tier: how the host runs its apply and rollback (one transaction,
    /// statements that cannot run in one, or committed batches).
    #[serde(default, skip_serializing_if = "Mode::is_transaction")]
    pub mode: Mode,
    /// Tier with `mode = "batched"`: the bounds the host drives its batches within.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<Batches>,
    /// The grants as written: `[grants]` (both phases) and a tier's
    /// `[grants.apply]` and `[grants.rollback]` (`phases.rs`).
    #[serde(rename = "grants", default)]
    pub written_grants: WrittenGrants,
    /// What the plugin may do in either phase, resolved at load: every
    /// reader asking what it may ever touch (the audit, the role wall, the
    /// grants text's write table) reads this.
    #[serde(skip)]
    pub grants: Grants,
    /// What each phase of a tier may do: the checker holds a call to its
    /// phase's grants. A gate, verify or probe has one set, in both.
    #[serde(skip)]
    pub phases: Phases,
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
        let mut m: Manifest = toml::from_str(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&mut self) -> Result<(), ManifestError> {
        for (field, value, rule) in self.text_fields() {
            rule.check(&field, value)?;
        }
        (self.grants, self.phases) = phases::resolve(&self.written_grants, self.kind)?;
        self.grants.validate()?;
        let bad = |s: String| Err(ManifestError::Invalid(s));
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
        self.validate_metrics()?;
        self.limits.validate()?;
        mode::validate(self.kind, self.mode, self.batches.as_ref())?;
        let g = &self.grants;
        if self.mode == Mode::Batched
            && !(g.alter.is_empty() && g.index.is_empty() && g.create.is_empty() && g.drop.is_empty())
        {
            return bad(
                "a batched tier changes rows, one committed batch at a time; its `alter`, `index`, `create` or `drop` \
                 grant would run schema changes batch by batch: put them in a tier of their own"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What a manifest string may hold, by field. [`Manifest::text_fields`]
/// is the one table giving each field its rule, and every output that
/// shows a manifest string (the grants text, `inspect`, `explain`, status
/// and report tables, `report.md`, the role SQL, the lock file) relies on
/// it. First, everywhere: no control or invisible character
/// ([`crate::text::is_hidden`]: ESC, CR, newline, tab, bidi overrides, …).
/// Then names — of the plugin, databases, granted objects, data files,
/// parameters, metrics — are ASCII words, stricter than PostgreSQL on
/// purpose: no space (a metric name may have single spaces between words),
/// quote, backslash, `|`, backtick or non-ASCII letter, so no name can
/// hide, forge or reorder a line, a table cell or a grant, whatever
/// language shows it. Prose (descriptions) is one line without
/// leading or trailing spaces, shown escaped wherever it goes; a pattern has
/// no whitespace, so `param name ~ /pattern/` stays one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The plugin's name (ledger key, role name, log tag).
    PluginName,
    /// A database name: one identifier.
    Database,
    /// A granted relation, sequence or function: `schema.name`.
    Object,
    /// A grant as written: `schema.name`, or `schema.name(column, …)`.
    Grant,
    /// A data file in the data directory.
    FileName,
    /// A rollout parameter's name.
    ParamName,
    /// A metric name of a check table.
    MetricName,
    /// A parameter's regular expression.
    Pattern,
    /// A description.
    Prose,
}

/// Longest metric name a manifest may declare.
pub const MAX_METRIC_NAME: usize = 128;
/// PostgreSQL's identifier limit (NAMEDATALEN - 1): a longer name is cut.
const MAX_IDENTIFIER: usize = 63;
/// Longest description: one terminal line, never cut when shown.
const MAX_PROSE: usize = crate::text::LINE_BYTES;

impl Rule {
    /// The rule in words, for the error that names it.
    fn says(self) -> String {
        let ident = format!("1 to {MAX_IDENTIFIER} ASCII letters, digits, `_`, `$` or `-`");
        match self {
            Rule::PluginName => format!("the plugin's name: {ident} but no `$`"),
            Rule::Database => format!("a database name: {ident}"),
            Rule::Object => format!("schema-qualified: `schema.name`, each part {ident}"),
            Rule::Grant => format!(
                "schema-qualified: `schema.name`, each part {ident}; a `read`, `insert` or `update` grant may name \
                 columns as `schema.name(col_a, col_b)`, each 1 to {MAX_IDENTIFIER} ASCII letters, digits, `_` or \
                 `$`, separated by a comma and one space"
            ),
            Rule::FileName => "a plain file name in the data directory: 1 to 255 ASCII letters, digits, `_`, `-` or \
                               `.`, not starting with `.`"
                .into(),
            Rule::ParamName => format!("a parameter name: {ident} but no `$`"),
            Rule::MetricName => format!(
                "a metric name of 1 to {MAX_METRIC_NAME} characters: ASCII letters, digits, `_`, `-`, `.` and single \
                 spaces between words"
            ),
            Rule::Pattern => "a regular expression without whitespace (write a space as `\\x20` or `[ ]`)".into(),
            Rule::Prose => format!("one line of at most {MAX_PROSE} bytes without leading or trailing whitespace"),
        }
    }

    /// Whether `c` may stand anywhere in a value of this rule.
    fn char_ok(self, c: char) -> bool {
        let ascii = |extra: &str| c.is_ascii_alphanumeric() || extra.contains(c);
        match self {
            Rule::PluginName | Rule::ParamName => ascii("_-"),
            Rule::Database => ascii("_$-"),
            Rule::Object => ascii("_$-."),
            Rule::Grant => ascii("_$-.(), "),
            Rule::FileName => ascii("_-."),
            Rule::MetricName => ascii("_-. "),
            Rule::Pattern => !c.is_whitespace(),
            Rule::Prose => true,
        }
    }

    /// `Ok` when `value` follows the rule (hidden characters aside), else
    /// the rule in words and what broke it.
    pub fn allows(self, value: &str) -> Result<(), String> {
        let sized = |v: &str, max: usize| !v.is_empty() && v.len() <= max;
        let bad_char = value.chars().find(|&c| !self.char_ok(c));
        let shaped = match self {
            Rule::PluginName | Rule::ParamName | Rule::Database => sized(value, MAX_IDENTIFIER),
            Rule::Object => {
                let parts: Vec<&str> = value.split('.').collect();
                parts.len() == 2 && parts.iter().all(|p| sized(p, MAX_IDENTIFIER))
            }
            Rule::Grant => phases::split_columns(value).is_some_and(|(o, _)| Rule::Object.allows(o).is_ok()),
            Rule::FileName => sized(value, 255) && !value.starts_with('.'),
            Rule::MetricName => sized(value, MAX_METRIC_NAME) && value.trim() == value && !value.contains("  "),
            Rule::Pattern => value.len() <= 1024,
            Rule::Prose => value.len() <= MAX_PROSE && value.trim() == value,
        };
        if shaped && bad_char.is_none() {
            return Ok(());
        }
        let found = bad_char.map(|c| format!(", and it holds {c:?} (U+{:04X})", c as u32)).unwrap_or_default();
        Err(format!("must be {}{found}", self.says()))
    }

    /// Holds `value` of `field` to the rule, naming the field and showing
    /// the value inert.
    fn check(self, field: &str, value: &str) -> Result<(), ManifestError> {
        let shown = crate::text::terminal(value);
        if let Some(c) = value.chars().find(|&c| crate::text::is_hidden(c)) {
            return Err(ManifestError::Invalid(format!(
                "manifest field `{field}` holds the control or invisible character U+{:04X} (\"{shown}\"): manifest \
                 strings must be plain one-line text",
                c as u32
            )));
        }
        self.allows(value).map_err(|why| {
            ManifestError::Invalid(format!("manifest field `{field}` {why} (the value is `{shown}`); {STRICTER}"))
        })
    }
}

/// Why a manifest is stricter than the language a string ends up in.
pub const STRICTER: &str = "manifests are stricter than PostgreSQL here so that no string can hide, forge or \
                            reorder a line, a table cell or a grant a reviewer reads: rename it";

impl Manifest {
    /// Every string of the manifest with its field's name and [`Rule`]:
    /// the one place a field gets its rule. A new string field must be
    /// added here (the test `every_string_field_has_a_rule` counts them).
    pub fn text_fields(&self) -> Vec<(String, &String, Rule)> {
        let mut out = vec![
            ("name".to_string(), &self.name, Rule::PluginName),
            ("description".to_string(), &self.description, Rule::Prose),
        ];
        let lists: [(&str, &Vec<String>, Rule); 6] = [
            ("databases", &self.databases, Rule::Database),
            ("files", &self.files, Rule::FileName),
            ("summary", &self.summary, Rule::MetricName),
            ("metrics", &self.metrics, Rule::MetricName),
            ("post_conditions", &self.post_conditions, Rule::MetricName),
            ("rollback_conditions", &self.rollback_conditions, Rule::MetricName),
        ];
        for (key, values, rule) in lists {
            out.extend(values.iter().enumerate().map(|(i, v)| (format!("{key}[{i}]"), v, rule)));
        }
        // Every grant list of every table, the ones added later included.
        for (prefix, table, _) in self.written_grants.tables() {
            let grants = table.lists().into_iter().map(|(k, l)| (k, l, Rule::Grant));
            for (key, values, rule) in grants.chain([("acknowledge", &table.own.acknowledge, Rule::Object)]) {
                out.extend(values.iter().enumerate().map(|(i, v)| (format!("{prefix}.{key}[{i}]"), v, rule)));
            }
        }
        for (name, spec) in &self.params {
            let shown = crate::text::terminal(name);
            out.push((format!("params.{shown}"), name, Rule::ParamName));
            out.push((format!("params.{shown}.pattern"), &spec.pattern, Rule::Pattern));
            out.push((format!("params.{shown}.description"), &spec.description, Rule::Prose));
        }
        out
    }

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

#[cfg(test)]
mod phases_tests;
#[cfg(test)]
mod tests;
