//! The lists the checker derives from PostgreSQL's catalog, as the server a
//! command runs against has them: the functions one argument can call
//! (`alias.f` is the call `f(alias)`, attribute notation: `callable.sql`)
//! and the arguments of built-in functions that name an object
//! (`setval('s.seq', …)`, `to_regclass('s.t')`: `names.sql`).
//!
//! A newer server has functions an older list does not know, so a command
//! that connects reads the lists once, on its work session, and every check
//! of that command uses them ([`Catalog::read`]): first the fingerprint of
//! the catalog rows they are derived from (`fingerprint.sql`, about 2 ms);
//! where it is the one the lists compiled into the host were read with,
//! they are the server's lists; otherwise both queries run (tens of ms).
//! The compiled-in lists (`callable.txt`, `names.txt`, the output of the
//! same queries on PostgreSQL [`BUILT_FROM`]) serve alone only `host
//! explain`, which has no database, and it says so ([`Catalog::describe`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// The PostgreSQL version the compiled-in lists were read from, and the
/// fingerprint of its catalog (`fingerprint.sql`), one a line.
const BUILT: &str = include_str!("catalog-built.txt");

/// The PostgreSQL version the compiled-in lists were read from.
pub fn built_from() -> &'static str {
    BUILT.lines().next().unwrap_or("").trim()
}

fn built_fingerprint() -> &'static str {
    BUILT.lines().nth(1).unwrap_or("").trim()
}

/// Where a [`Catalog`]'s lists come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the host from PostgreSQL [`built_from`].
    Build,
    /// The connected server's, of this version: its catalog's fingerprint
    /// is the build's (`same_as_build`), or the lists were read in full.
    Server { version: String, same_as_build: bool },
}

/// One argument of a built-in function that names an object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NameArg {
    /// The argument counts of the overload it belongs to.
    fewest: usize,
    most: usize,
    /// Its position, from 0.
    position: usize,
    /// The reg* type it is read as (`regclass`), or `oid` for a name the
    /// catalog gives no type (a text twin of an oid argument).
    kind: String,
}

/// The lists themselves.
#[derive(Debug)]
struct Lists {
    callable: HashSet<String>,
    names: HashMap<String, Vec<NameArg>>,
}

/// The catalog-derived lists one command's checks use.
#[derive(Debug)]
pub struct Catalog {
    lists: Arc<Lists>,
    source: Source,
}

/// The server's lists could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the checker's lists (callable.sql, names.sql) from the server: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("the server's catalog gave a row the checker cannot read ({0}); report this with the server's version")]
    Row(String),
}

impl Catalog {
    /// The lists compiled into the host, for `host explain` and for checks
    /// made without a server (tests, the fuzzer).
    pub fn built() -> Arc<Catalog> {
        static BUILT: OnceLock<Arc<Catalog>> = OnceLock::new();
        BUILT.get_or_init(|| Arc::new(Catalog { lists: built_lists_parsed(), source: Source::Build })).clone()
    }

    /// The lists of the server `client` is connected to: its fingerprint
    /// and version in one round trip, and where the fingerprint is not the
    /// build's, both lists in another (the host's own constant SQL, no
    /// plugin text).
    pub async fn read(client: &tokio_postgres::Client) -> Result<Catalog, CatalogError> {
        let sql = format!(
            "{}\nSELECT pg_catalog.split_part(pg_catalog.current_setting('server_version'), ' ', 1);",
            include_str!("fingerprint.sql")
        );
        let answers = statements(client, &sql).await?;
        let cell = |i: usize| answers.get(i).and_then(|rows| rows.first()).and_then(|r| r.first()).cloned();
        let (fingerprint, version) = (cell(0).unwrap_or_default(), cell(1).unwrap_or_default());
        if fingerprint == built_fingerprint() {
            let source = Source::Server { version, same_as_build: true };
            return Ok(Catalog { lists: built_lists_parsed(), source });
        }
        let sql = format!("{}\n{}", include_str!("callable.sql"), include_str!("names.sql"));
        let mut answers = statements(client, &sql).await?.into_iter();
        let callable = answers.next().unwrap_or_default().into_iter().flatten();
        let names = answers.next().unwrap_or_default().into_iter();
        let lists = Arc::new(Lists::from_rows(callable, names)?);
        Ok(Catalog { lists, source: Source::Server { version, same_as_build: false } })
    }

    /// Whether `name` is a `pg_catalog` function one argument can call.
    pub(super) fn callable_with_one_argument(&self, name: &str) -> bool {
        self.lists.callable.contains(name)
    }

    /// The arguments of `pg_catalog.function` called with `args` arguments
    /// that name an object, with the kind each is read as. Where overloads
    /// of that arity disagree on an argument's kind, it is `oid` (a kind no
    /// rule resolves): the checker cannot tell which overload the server
    /// will pick.
    pub(super) fn name_args(&self, function: &str, args: usize) -> Vec<(usize, &str)> {
        let mut out: Vec<(usize, &str)> = Vec::new();
        let rows = self.lists.names.get(function).map(Vec::as_slice).unwrap_or_default();
        for a in rows.iter().filter(|a| a.fewest <= args && args <= a.most && a.position < args) {
            match out.iter_mut().find(|(p, _)| *p == a.position) {
                Some((_, kind)) if *kind != a.kind => *kind = "oid",
                Some(_) => {}
                None => out.push((a.position, a.kind.as_str())),
            }
        }
        out
    }

    /// Where the lists come from, as `host explain` and the report say it.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Build => format!(
                "attribute-notation and name-argument lists: built from PostgreSQL {} at build time; the server may differ",
                built_from()
            ),
            Source::Server { version, same_as_build: true } => format!(
                "attribute-notation and name-argument lists: the server's (PostgreSQL {version}, whose catalog is the \
                 one they were built from)"
            ),
            Source::Server { version, same_as_build: false } => {
                format!("attribute-notation and name-argument lists: read from the server (PostgreSQL {version})")
            }
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The built lists and `callable` more, as a newer server's would be.
    #[cfg(test)]
    pub(super) fn for_tests(callable: &[&str]) -> Arc<Catalog> {
        let built = built_lists_parsed();
        let lists = Lists {
            callable: built.callable.iter().cloned().chain(callable.iter().map(|s| s.to_string())).collect(),
            names: built.names.clone(),
        };
        Arc::new(Catalog {
            lists: Arc::new(lists),
            source: Source::Server { version: "test".into(), same_as_build: false },
        })
    }
}

/// The rows of each statement of `sql`, as text.
async fn statements(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Vec<Vec<String>>>, CatalogError> {
    use tokio_postgres::SimpleQueryMessage::{CommandComplete, Row};
    let mut out = vec![Vec::new()];
    for message in client.simple_query(sql).await? {
        match message {
            Row(row) => {
                let cells = (0..row.len()).map(|i| row.get(i).unwrap_or("").to_string()).collect();
                if let Some(last) = out.last_mut() {
                    last.push(cells);
                }
            }
            CommandComplete(_) => out.push(Vec::new()),
            _ => {}
        }
    }
    Ok(out)
}

/// The compiled-in lists, parsed once.
fn built_lists_parsed() -> Arc<Lists> {
    static LISTS: OnceLock<Arc<Lists>> = OnceLock::new();
    LISTS
        .get_or_init(|| {
            let names = include_str!("names.txt").lines().map(|l| l.split('|').map(str::to_string).collect());
            let callable = include_str!("callable.txt").lines().map(String::from);
            // Compiled-in text, checked by `the_compiled_in_lists_read` below.
            Arc::new(Lists::from_rows(callable, names).expect("names.txt is compiled in and tested"))
        })
        .clone()
}

impl Lists {
    fn from_rows(
        callable: impl Iterator<Item = String>,
        names: impl Iterator<Item = Vec<String>>,
    ) -> Result<Lists, CatalogError> {
        let callable = callable.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        let mut by_function: HashMap<String, Vec<NameArg>> = HashMap::new();
        for row in names {
            let bad = || CatalogError::Row(row.join("|"));
            let [function, fewest, most, position, kind] = row.as_slice() else { return Err(bad()) };
            let number = |s: &String| s.trim().parse::<usize>().map_err(|_| bad());
            let arg = NameArg {
                fewest: number(fewest)?,
                most: number(most)?,
                position: number(position)?,
                kind: kind.clone(),
            };
            by_function.entry(function.clone()).or_default().push(arg);
        }
        Ok(Lists { callable, names: by_function })
    }
}

/// The compiled-in lists, one name or row a line, and the fingerprint of
/// the catalog they were read from, for the test that compares them with
/// the server's.
pub fn built_lists() -> (&'static str, &'static str, &'static str) {
    (include_str!("callable.txt"), include_str!("names.txt"), built_fingerprint())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_lists_read() {
        let c = Catalog::built();
        assert!(c.lists.callable.len() > 500, "the attribute-notation list comes from the catalog");
        assert!(built_fingerprint().len() > 10 && built_from().starts_with("15."), "catalog-built.txt");
        assert_eq!(c.name_args("setval", 2), vec![(0, "regclass")]);
        assert_eq!(c.name_args("to_regclass", 1), vec![(0, "regclass")]);
        assert_eq!(c.name_args("has_table_privilege", 2), vec![(0, "oid")]);
        assert!(c.name_args("to_tsvector", 1).is_empty(), "to_tsvector(text) names nothing");
        assert!(c.name_args("max", 1).is_empty(), "max(text) is an aggregate, not a name lookup");
        assert!(c.describe().contains("built from PostgreSQL 15"), "{}", c.describe());
    }

    #[test]
    fn a_malformed_row_is_an_error_not_a_guess() {
        let rows = vec![vec!["setval".to_string(), "two".into(), "2".into(), "0".into(), "regclass".into()]];
        let e = Lists::from_rows(std::iter::empty(), rows.into_iter()).unwrap_err();
        assert!(e.to_string().contains("setval|two"), "{e}");
    }
}
