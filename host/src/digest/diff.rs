//! The first difference between two states, down to the object and a
//! sample of the differing rows: what an operator needs to find what a
//! rollback left behind.

use super::{Object, Reader, RowHash, Rows, State};
use anyhow::Result;
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::fmt;

/// Rows shown of a relation whose rows differ.
const SAMPLE: usize = 5;

/// How one object differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// In the state now, not in the baseline.
    Added { object: String, kind: &'static str },
    /// In the baseline, gone now.
    Removed { object: String, kind: &'static str },
    /// The catalog shape differs: the lines only in one of the two.
    Shape { object: String, baseline_only: Vec<String>, now_only: Vec<String> },
    /// The rows differ: how many of each side the other lacks, and the text
    /// of up to [`SAMPLE`] rows present now that the baseline did not have.
    Rows { object: String, columns: Vec<String>, added: usize, removed: usize, sample: Vec<String> },
    /// The rows of a relation the whole-database net reads differ: it
    /// keeps their count and hash, not the rows.
    Counted { object: String, baseline: u64, now: u64 },
}

impl Difference {
    /// The object it is about.
    pub fn object(&self) -> &str {
        match self {
            Difference::Added { object, .. }
            | Difference::Removed { object, .. }
            | Difference::Shape { object, .. }
            | Difference::Rows { object, .. }
            | Difference::Counted { object, .. } => object,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Added { object, kind } => {
                write!(f, "{kind} {object} exists now; the baseline had no such {kind}")
            }
            Difference::Removed { object, kind } => write!(f, "{kind} {object} of the baseline is gone"),
            Difference::Shape { object, baseline_only, now_only } => {
                write!(f, "the definition of {object} differs from the baseline")?;
                for l in baseline_only {
                    write!(f, "\n  - baseline: {l}")?;
                }
                for l in now_only {
                    write!(f, "\n  + now:      {l}")?;
                }
                Ok(())
            }
            Difference::Rows { object, columns, added, removed, sample } => {
                let s = |n: usize| if n == 1 { "" } else { "s" };
                write!(
                    f,
                    "the rows of {object} differ from the baseline: {added} row{} not in the baseline, {removed} row{} of \
                     the baseline missing",
                    s(*added),
                    s(*removed)
                )?;
                if !sample.is_empty() {
                    write!(f, "\n  columns ({})", columns.join(", "))?;
                }
                for row in sample {
                    write!(f, "\n  + row {row}")?;
                }
                if *removed > 0 {
                    write!(f, "\n  (a missing row's content is not kept by the digest: compare with the source)")?;
                }
                Ok(())
            }
            Difference::Counted { object, baseline, now } => {
                let s = |n: &u64| if *n == 1 { "" } else { "s" };
                if baseline == now {
                    write!(
                        f,
                        "the rows of {object} differ from the baseline: {now} row{} in both, not the same",
                        s(now)
                    )?;
                } else {
                    write!(
                        f,
                        "the rows of {object} differ from the baseline: {baseline} row{} in the baseline, {now} now",
                        s(baseline)
                    )?;
                }
                write!(
                    f,
                    "\n  (outside the plan's schemas: the whole-database net keeps a count and a hash per relation, not \
                     the rows; compare with the source)"
                )
            }
        }
    }
}

/// The differences of `now` from `base`, in name order; rows present now
/// and not in the baseline are read again on `reader` for the sample.
pub async fn difference(base: &State, now: &State, reader: &Reader) -> Result<Vec<Difference>> {
    let mut found = Vec::new();
    for (name, b) in &base.objects {
        match now.objects.get(name) {
            None => found.push(Difference::Removed { object: name.clone(), kind: b.kind.as_str() }),
            Some(n) if b.kind != n.kind || b.shape != n.shape => found.push(shape(name, b, n)),
            Some(n) if b.rows != n.rows => found.push(rows(name, b, n, reader).await?),
            Some(_) => {}
        }
    }
    for (name, n) in &now.objects {
        if !base.objects.contains_key(name) {
            found.push(Difference::Added { object: name.clone(), kind: n.kind.as_str() });
        }
    }
    found.sort_by(|a, b| a.object().cmp(b.object()));
    Ok(found)
}

fn shape(name: &str, b: &Object, n: &Object) -> Difference {
    let (bl, nl): (Vec<&str>, Vec<&str>) = (b.shape.lines().collect(), n.shape.lines().collect());
    let only = |x: &[&str], y: &[&str]| x.iter().filter(|l| !y.contains(l)).map(|l| l.to_string()).collect();
    let (mut baseline_only, mut now_only): (Vec<String>, Vec<String>) = (only(&bl, &nl), only(&nl, &bl));
    if b.kind != n.kind {
        baseline_only.insert(0, format!("kind {}", b.kind.as_str()));
        now_only.insert(0, format!("kind {}", n.kind.as_str()));
    }
    // A large object's key is its oid alone.
    let object = if n.kind == super::Kind::LargeObject { format!("large object {name}") } else { name.to_string() };
    Difference::Shape { object, baseline_only, now_only }
}

async fn rows(name: &str, b: &Object, n: &Object, reader: &Reader) -> Result<Difference> {
    let (base_rows, now_rows) = match (&b.rows, &n.rows) {
        (Rows::Exact(b), Rows::Exact(n)) => (b, n),
        (b, n) => {
            let count = |r: &Rows| r.count();
            return Ok(Difference::Counted { object: name.to_string(), baseline: count(b), now: count(n) });
        }
    };
    let (added, removed) = multiset_difference(base_rows, now_rows);
    let mut wanted: HashSet<RowHash> = added.iter().copied().collect();
    let mut sample = Vec::new();
    if !wanted.is_empty() {
        let snapshot = reader.snapshot().await?;
        let read = snapshot
            .each_row(name, |line| {
                let hash: RowHash = Sha256::digest(line).into();
                if wanted.remove(&hash) {
                    sample.push(crate::text::terminal(&String::from_utf8_lossy(line)));
                }
                sample.len() < SAMPLE && !wanted.is_empty()
            })
            .await;
        snapshot.end().await;
        read?;
    }
    let columns =
        n.shape.lines().filter_map(|l| l.strip_prefix("column ")?.split(' ').next()).map(String::from).collect();
    Ok(Difference::Rows { object: name.to_string(), columns, added: added.len(), removed: removed.len(), sample })
}

/// Hashes in `now` not matched in `base`, and in `base` not matched in
/// `now`, counting duplicates (both sorted).
fn multiset_difference(base: &[RowHash], now: &[RowHash]) -> (Vec<RowHash>, Vec<RowHash>) {
    let (mut i, mut j) = (0, 0);
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    loop {
        match (base.get(i), now.get(j)) {
            (Some(b), Some(n)) if b == n => {
                i += 1;
                j += 1;
            }
            (Some(b), n) if n.is_none_or(|n| b < n) => {
                removed.push(*b);
                i += 1;
            }
            (_, Some(n)) => {
                added.push(*n);
                j += 1;
            }
            _ => break,
        }
    }
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::multiset_difference;

    #[test]
    fn duplicates_count_once_each() {
        let h = |b: u8| [b; 32];
        let (added, removed) = multiset_difference(&[h(1), h(2), h(2), h(4)], &[h(2), h(3), h(4), h(4)]);
        assert_eq!(added, vec![h(3), h(4)]);
        assert_eq!(removed, vec![h(1), h(2)]);
    }
}
