//! The table lock a checked statement takes, as PostgreSQL documents it
//! for each command, and what it costs production: which queries on the
//! table wait behind it, whether it rewrites or scans the whole table, and
//! the safer form. `host explain` shows it without a database.

use serde::Serialize;

/// PostgreSQL's table lock modes that DDL takes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// `VALIDATE CONSTRAINT`, `COMMENT ON`: reads and writes go on.
    ShareUpdateExclusive,
    /// `CREATE INDEX`: reads go on, writes wait.
    Share,
    /// `ADD FOREIGN KEY`: reads go on, writes wait (on both tables).
    ShareRowExclusive,
    /// Most of `ALTER TABLE`: every query on the table waits.
    AccessExclusive,
}

impl LockMode {
    /// As PostgreSQL names it.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Which of production's queries on the table wait while it is held.
    pub fn blocks(self) -> &'static str {
        match self {
            LockMode::ShareUpdateExclusive => "no reads or writes (only other schema changes)",
            LockMode::Share | LockMode::ShareRowExclusive => "every write (reads go on)",
            LockMode::AccessExclusive => "every read and write",
        }
    }
}

/// The strongest lock a statement takes on a table, held until the tier's
/// transaction ends, and the work done under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lock {
    /// `schema.table`.
    pub relation: String,
    pub mode: LockMode,
    /// The table is written anew (every row copied, every index rebuilt).
    pub rewrite: bool,
    /// Every row is read under the lock (a check, an index build).
    pub scan: bool,
    /// The form that holds production up less, when there is one.
    pub safer: Option<&'static str>,
}

impl Lock {
    /// `mode` on `relation`, with no rewrite or scan.
    pub(super) fn on(relation: &str, mode: LockMode) -> Lock {
        Lock { relation: relation.to_string(), mode, rewrite: false, scan: false, safer: None }
    }

    /// The same lock, rewriting the table when `rewrites`.
    pub(super) fn rewriting(mut self, rewrites: bool, safer: &'static str) -> Lock {
        if rewrites {
            self.rewrite = true;
            self.safer = Some(safer);
        }
        self
    }

    /// The same lock, reading every row of the table under it.
    pub(super) fn scanning(mut self, safer: &'static str) -> Lock {
        self.scan = true;
        self.safer = Some(safer);
        self
    }

    /// Two sub-commands of one statement: the stronger mode, and all the
    /// work both do (the first safer form said).
    pub(super) fn max(self, other: Lock) -> Lock {
        Lock {
            mode: self.mode.max(other.mode),
            rewrite: self.rewrite || other.rewrite,
            scan: self.scan || other.scan,
            safer: self.safer.or(other.safer),
            // `s.t and s.referenced` names more than `s.t`.
            relation: if other.relation.len() > self.relation.len() { other.relation } else { self.relation },
        }
    }

    /// Whether production's queries wait on it for longer than a catalog
    /// change: it blocks writes or reads, or does work proportional to the
    /// table under a lock that blocks them.
    pub fn holds_production_up(&self) -> bool {
        self.mode >= LockMode::Share || self.rewrite || (self.scan && self.mode > LockMode::ShareUpdateExclusive)
    }

    /// One line for the operator: `ACCESS EXCLUSIVE on s.t, rewrites the
    /// table: every read and write waits until the tier commits; safer: …`.
    pub fn describe(&self) -> String {
        let work = match (self.rewrite, self.scan) {
            (true, _) => ", rewrites the table",
            (false, true) => ", reads every row under it",
            _ => "",
        };
        let mut out = format!(
            "{} lock on {}{work}: {} on it waits until the tier commits",
            self.mode.name(),
            self.relation,
            self.mode.blocks()
        );
        if let Some(safer) = self.safer {
            out.push_str(&format!("; safer: {safer}"));
        }
        out
    }
}
