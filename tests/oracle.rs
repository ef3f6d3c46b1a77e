//! The differential oracle for the grants checker (issue 9 item 1): every
//! statement the checker allows, from PostgreSQL's regression suite, the
//! hostile corpus and generated variants, under several grant sets, is run
//! as a restricted role holding exactly those grants (plus what the checker
//! claims any plugin may do) in a transaction that is rolled back, with a
//! tripwire on every object the grants do not cover. The checker allowing
//! what PostgreSQL refuses for privilege, or what trips the wire, is a
//! disagreement; each is written to the findings file and fails the test.
//!
//! `make test` runs a fixed-seed sample; `make oracle` (ORACLE_FULL=1) runs
//! every statement. ORACLE_SEED=n draws another sample and other variants;
//! ORACLE_REGRESS=n checks n regression statements instead of 12,000.

mod support;

#[path = "oracle/corpus.rs"]
mod corpus;
#[path = "oracle/ddl.rs"]
mod ddl;
#[path = "oracle/exec.rs"]
mod exec;
#[path = "oracle/mutate.rs"]
mod mutate;
#[path = "oracle/report.rs"]
mod report;
#[path = "oracle/roles.rs"]
mod roles;
#[path = "oracle/templates.rs"]
mod templates;

use corpus::{Case, Corpus};
use host::sql::check::{Checker, Refusal};
use mutate::Rng;
use report::{Counts, Finding};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use support::*;

/// Regression statements checked in `make test` (all of them in `make oracle`).
const SAMPLE_REGRESS: usize = 12_000;
/// Mutations made from the allowed statements.
const MUTATIONS_SAMPLE: usize = 1_500;
const MUTATIONS_FULL: usize = 5_000;

/// The checker's verdict on each statement of a case, for one grant set.
type Verdicts = Vec<Result<String, Refusal>>;

fn check_all(set: &roles::GrantSet, cases: &[Case]) -> Vec<Verdicts> {
    let memory_mib = host::manifest::Limits::default().memory_mib;
    let checker = Checker::new(&set.grants, set.read_only).limits(memory_mib, None);
    let check =
        &|case: &Case| -> Verdicts { case.script.iter().map(|s| checker.check(s, params(s)).map(|c| c.sql)).collect() };
    // Two threads: the machine is shared; each check runs on its own thread anyway.
    let half = cases.len().div_ceil(2).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = cases
            .chunks(half)
            .map(|chunk| s.spawn(move || chunk.iter().map(check).collect::<Vec<Verdicts>>()))
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("checker thread")).collect::<Vec<Verdicts>>()
    })
}

/// The highest `$n` in the text (an over-estimate is harmless: it only
/// bounds the parameter count).
fn params(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut most = 0;
    for (i, _) in sql.match_indices('$') {
        let digits: String = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).map(|&c| c as char).collect();
        most = most.max(digits.parse().unwrap_or(0).min(1_000));
    }
    most
}

/// The variants of corpus (c): mutations of the statements some grant set
/// allowed and of the regression statements refused only for naming an
/// unqualified relation (a swap qualifies it), then the templates.
fn generated(seed: u64, seeds: &[String], wanted: usize, row_functions: &[String]) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < wanted && !seeds.is_empty() && tries < wanted * 20 {
        tries += 1;
        let from = rng.pick(seeds).clone();
        if let Some(sql) = mutate::mutate(&mut rng, &from) {
            if seen.insert(sql.clone()) {
                out.push(Case { corpus: Corpus::Generated, origin: format!("mutation of: {from}"), script: vec![sql] });
            }
        }
    }
    out.extend(templates::cases(row_functions));
    out.extend(ddl::cases());
    out
}

#[test]
fn the_checker_allows_nothing_postgresql_refuses_or_the_tripwire_sees() {
    let started = Instant::now();
    let full = std::env::var("ORACLE_FULL").is_ok_and(|v| v == "1");
    let seed: u64 = std::env::var("ORACLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_260_412);
    let c = Cluster::start("oracle");
    let ts = c.dir.join("trap_ts");
    std::fs::create_dir_all(&ts).expect("tablespace directory");
    #[allow(unsafe_code, reason = "std has no safe call for the effective uid")]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        let owner = std::process::Command::new("chown").arg("postgres").arg(&ts).status().expect("chown");
        assert!(owner.success(), "chown postgres {}", ts.display());
    }
    c.psql(&format!("CREATE TABLESPACE trap_ts LOCATION '{}'", ts.display()));
    c.psql(&std::fs::read_to_string(root().join("tests/oracle/setup.sql")).expect("setup.sql"));
    c.psql(&roles::claimed_sql(host::sql::check::safe_functions()));
    let sets = roles::grant_sets();
    for set in &sets {
        c.psql(&roles::role_sql(set));
    }
    let row_functions: Vec<String> = c
        .psql(
            "SELECT string_agg(DISTINCT proname, ' ' ORDER BY proname) FROM pg_proc
             WHERE pronamespace = 'pg_catalog'::regnamespace AND pronargs = 1 AND prokind = 'f'
               AND proargtypes[0] IN ('record'::regtype, 'anyelement'::regtype, '\"any\"'::regtype,
                 'anynonarray'::regtype, 'anycompatible'::regtype, 'anycompatiblenonarray'::regtype)",
        )
        .split(' ')
        .map(String::from)
        .collect();

    // Corpora (a) and (b), checked under every set.
    let mut regress = corpus::regress();
    let regress_total = regress.len();
    // ORACLE_REGRESS=n: a smaller sample, for a first look at a change.
    let sample = std::env::var("ORACLE_REGRESS").ok().and_then(|s| s.parse().ok()).unwrap_or(SAMPLE_REGRESS);
    if !full && regress.len() > sample {
        let mut rng = Rng::new(seed);
        let mut keep: Vec<usize> = (0..regress.len()).collect();
        for i in (1..keep.len()).rev() {
            keep.swap(i, rng.below(i + 1));
        }
        keep.truncate(sample);
        keep.sort();
        regress = keep.into_iter().map(|i| regress[i].clone()).collect();
    }
    let mut cases = regress;
    cases.extend(corpus::hostile());
    let verdicts: Vec<Vec<Verdicts>> = sets.iter().map(|s| check_all(s, &cases)).collect();
    let mut seeds = BTreeSet::new();
    for (i, case) in cases.iter().enumerate() {
        for (j, stmt) in case.script.iter().enumerate() {
            let allowed = verdicts.iter().any(|v| v[i][j].is_ok());
            let unqualified = verdicts[0][i][j].as_ref().is_err_and(|r| r.reason.starts_with("unqualified relation"));
            if allowed || unqualified {
                seeds.insert(stmt.clone());
            }
        }
    }
    let seeds: Vec<String> = seeds.into_iter().collect();
    let wanted = if full { MUTATIONS_FULL } else { MUTATIONS_SAMPLE };
    let gen = generated(seed, &seeds, wanted, &row_functions);
    let gen_verdicts: Vec<Vec<Verdicts>> = sets.iter().map(|s| check_all(s, &gen)).collect();
    let checked_at = started.elapsed();

    // Run what was allowed.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let mut counts: BTreeMap<(Corpus, &str), Counts> = BTreeMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut other_errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut peak = 0u64;
    runtime.block_on(async {
        let memory_mib = host::manifest::Limits::default().memory_mib;
        let exec = exec::Executor::connect(&c.dir, memory_mib).await;
        for (set_index, set) in sets.iter().enumerate() {
            for (all, verdicts) in [(&cases, &verdicts[set_index]), (&gen, &gen_verdicts[set_index])] {
                for (case, verdict) in all.iter().zip(verdicts) {
                    let n = counts.entry((case.corpus, set.name)).or_default();
                    n.statements += case.script.len();
                    let script: Vec<Option<String>> = verdict.iter().map(|v| v.as_ref().ok().cloned()).collect();
                    let allowed: Vec<usize> = (0..script.len()).filter(|&j| script[j].is_some()).collect();
                    if allowed.is_empty() {
                        continue;
                    }
                    n.allowed += allowed.len();
                    let outcomes = exec.run(set.role, &script).await;
                    peak = peak.max(exec.peak_mib.load(std::sync::atomic::Ordering::Relaxed));
                    for (j, outcome) in allowed.into_iter().zip(outcomes) {
                        match outcome {
                            exec::Outcome::Ok => n.ok += 1,
                            exec::Outcome::OtherError(e) => {
                                n.other += 1;
                                let code = e.split(':').next().unwrap_or("").to_string();
                                // An internal error or a client-side one could be the oracle's own
                                // fault: shown with its statement.
                                if (code.starts_with("XX") || code == "client") && !other_errors.contains_key(&code) {
                                    eprintln!("oracle: {e} in `{}` ({})", case.script[j], set.name);
                                }
                                *other_errors.entry(code).or_default() += 1;
                            }
                            disagreement => {
                                n.disagreements += 1;
                                findings.push(Finding {
                                    corpus: case.corpus,
                                    origin: case.origin.clone(),
                                    set: set.name,
                                    statement: case.script[j].clone(),
                                    sent: script[j].clone().unwrap_or_default(),
                                    outcome: disagreement,
                                });
                            }
                        }
                    }
                }
            }
        }
    });
    let took = started.elapsed();
    let table = report::table(&counts);
    eprintln!(
        "\ngrants oracle ({}, seed {seed}): {} of {regress_total} regression statements, {} hostile, {} generated; \
         checked in {:.1?}, total {:.1?}\n{table}\nother errors by SQLSTATE: {other_errors:?}\n\
         most memory the server held for one allowed statement: {peak} MiB (the tripwire: memory_mib + {} MiB)",
        if full { "full" } else { "sample; make oracle for all" },
        cases.iter().filter(|c| c.corpus == Corpus::Regress).count(),
        cases.iter().filter(|c| c.corpus == Corpus::Hostile).count(),
        gen.len(),
        checked_at,
        took,
        exec::MEMORY_SLACK_MIB,
    );
    let path = report::write_findings(&findings, &table);
    assert!(
        findings.is_empty(),
        "{} disagreements between the checker and PostgreSQL (all of them in {}):\n{}",
        findings.len(),
        path.display(),
        report::summary(&findings, 30)
    );
}
