//! `make bench`: the per-statement cost of the grants check, side by side
//! with its baselines in one run: parsing alone, and the statement's round
//! trip to PostgreSQL (when PGHOST points at a cluster with the baseline);
//! then the distribution of one check's time (p50, p90, p99, max) over
//! every statement of PostgreSQL's regression suite, where the tail is.
//!
//! Run: `make bench` (starts and stops a scratch cluster), or alone:
//! `cargo build --release -p host --example bench_check &&
//! target/release/examples/bench_check` (no database needed for the
//! distribution; BENCH_CORPUS_ONLY=1 skips the per-statement table).
//! Over the corpus it also prints where a new statement's check goes:
//! each step of the route (parse, JSON, deparse, re-parse) timed alone.

use host::manifest::Grants;
use host::sql::check::Checker;
use std::time::{Duration, Instant};

/// Statements the One-Roof plugins send, with the grants they run under.
const STATEMENTS: &[&str] = &[
    "SELECT count(*) FROM one_roof.approval WHERE kind = 'ospa' AND status = 'ratified'",
    "SELECT count(*) FROM one_roof.responsibility r WHERE NOT EXISTS (SELECT 1 FROM one_roof.resp_ownership o WHERE o.area_id = r.area_id)",
    "SELECT count(*) FROM (SELECT area_id FROM one_roof.resp_ownership GROUP BY area_id HAVING count(DISTINCT team_code) > 1) AS c",
    "SELECT count(*) FROM one_roof.ui_projection p JOIN one_roof.responsibility r ON r.id = p.responsibility_id LEFT JOIN one_roof.resp_ownership o ON o.area_id = r.area_id LEFT JOIN (SELECT c.responsibility_id, n.code FROM one_roof.containment c JOIN one_roof.axis_node n ON n.id = c.node_id WHERE n.axis_code = 'release_scope') AS rs ON rs.responsibility_id = p.responsibility_id WHERE o.team_code IS DISTINCT FROM p.owner_team OR rs.code IS DISTINCT FROM p.node_code",
    "SELECT status FROM one_roof.kg_domain WHERE code = 'kg_domain_x'",
    "SELECT count(*) FROM one_roof.event_type_registry WHERE active AND code = ANY (ARRAY['a', 'b', 'c'])",
];

fn grants() -> Grants {
    let read = [
        "approval",
        "responsibility",
        "resp_ownership",
        "ui_projection",
        "containment",
        "axis_node",
        "kg_domain",
        "event_type_registry",
    ];
    Grants { read: read.iter().map(|t| format!("one_roof.{t}")).collect(), ..Grants::default() }
}

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

/// Every statement of the regression suite the oracle reads
/// (`tests/data/postgres_regress`), split by the parser where a file parses.
fn regress_corpus() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/postgres_regress");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "sql"));
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        let text: String = text.lines().filter(|l| !l.trim_start().starts_with('\\')).collect::<Vec<_>>().join("\n");
        let parts = pg_query::split_with_parser(&text).or_else(|_| pg_query::split_with_scanner(&text));
        let parts: Vec<&str> = parts.unwrap_or_else(|_| text.split(";\n").collect());
        out.extend(parts.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    }
    out
}

/// One check per regression statement, timed; p50/p90/p99/max of the
/// whole corpus (allowed and refused alike: a refusal costs a check too).
fn corpus_distribution(checker: &Checker) {
    let corpus = regress_corpus();
    if corpus.is_empty() {
        println!("no regression corpus under tests/data/postgres_regress");
        return;
    }
    for sql in corpus.iter().take(2_000) {
        let _ = std::hint::black_box(checker.check(sql, 0));
    }
    let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3usize);
    let mut times = Vec::with_capacity(corpus.len() * rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        for sql in &corpus {
            let t = Instant::now();
            let _ = std::hint::black_box(checker.check(sql, 0));
            times.push(t.elapsed());
        }
    }
    let total = start.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "check over the regression corpus ({} statements x {rounds}): p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, \
         max {:.1} µs, mean {:.1} µs",
        corpus.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        total.as_secs_f64() * 1e6 / times.len() as f64
    );
}

/// The process's CPU time (every thread's, user and system) from
/// `/proc/self/stat`, in seconds at the kernel's 100 ticks a second; zero
/// where there is no such file. Steadier than the wall clock on a machine
/// other builds share.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let ticks: Vec<f64> = after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// Each step of a new statement's route, timed alone (wall and CPU) over
/// the statements of the corpus the check passes, which go the whole
/// route; the rest of the check (walk, rules, comparison, the hop to the
/// checker thread) is the check's mean less the steps' sum.
fn corpus_breakdown(checker: &Checker) {
    let corpus: Vec<String> = regress_corpus()
        .into_iter()
        .filter(|s| pg_query::parse(s, 0).is_ok_and(|p| p.protobuf.stmts.len() == 1) && checker.check(s, 0).is_ok())
        .collect();
    if corpus.is_empty() {
        return;
    }
    let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3u32);
    let n = corpus.len() as f64 * f64::from(rounds);
    let mean = |f: &mut dyn FnMut()| {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        for _ in 0..rounds {
            f();
        }
        (start.elapsed().as_secs_f64() * 1e6 / n, (cpu_seconds() - cpu) * 1e6 / n)
    };
    let parsed: Vec<_> = corpus.iter().filter_map(|s| pg_query::parse(s, 0).ok()).collect();
    let deparsed: Vec<String> = parsed.iter().filter_map(|p| p.deparse(Default::default()).ok()).collect();
    let steps = [
        ("parse", mean(&mut || corpus.iter().for_each(|s| drop(std::hint::black_box(pg_query::parse(s, 0)))))),
        (
            "to_json",
            mean(&mut || parsed.iter().for_each(|p| drop(std::hint::black_box(serde_json::to_value(&p.protobuf))))),
        ),
        (
            "deparse",
            mean(&mut || parsed.iter().for_each(|p| drop(std::hint::black_box(p.deparse(Default::default()))))),
        ),
        ("re-parse", mean(&mut || deparsed.iter().for_each(|s| drop(std::hint::black_box(pg_query::parse(s, 0)))))),
    ];
    let reparsed: Vec<_> = deparsed.iter().filter_map(|s| pg_query::parse(s, 0).ok()).collect();
    let second =
        mean(&mut || reparsed.iter().for_each(|p| drop(std::hint::black_box(serde_json::to_value(&p.protobuf)))));
    let check = mean(&mut || corpus.iter().for_each(|s| drop(std::hint::black_box(checker.check(s, 0)))));
    let line: Vec<String> =
        steps.iter().map(|(name, (wall, cpu))| format!("{name} {wall:.1} (cpu {cpu:.1})")).collect();
    let rest =
        (check.0 - steps.iter().map(|(_, t)| t.0).sum::<f64>(), check.1 - steps.iter().map(|(_, t)| t.1).sum::<f64>());
    println!(
        "route of a statement the check passes, mean µs over {} statements x {rounds}: {}, rest (walk, rules, \
         comparison, thread hop) {:.1} (cpu {:.1}); check {:.1} (cpu {:.1})",
        corpus.len(),
        line.join(", "),
        rest.0,
        rest.1,
        check.0,
        check.1
    );
    println!(
        "  the re-parsed tree as JSON, which the comparison no longer builds: {:.1} µs (cpu {:.1})",
        second.0, second.1
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let g = grants();
    if std::env::var("BENCH_CORPUS_ONLY").is_ok_and(|v| v == "1") {
        corpus_distribution(&Checker::new(&g, true));
        corpus_breakdown(&Checker::new(&g, true));
        return;
    }
    let checker = Checker::new(&g, true);
    let client = match std::env::var("PGHOST") {
        Ok(_) => {
            let target = host::db::Target::new(None).expect("PG* variables");
            Some(target.connect("bench").await.expect("connect"))
        }
        Err(_) => None,
    };
    println!(
        "{:<60} {:>10} {:>10} {:>12} {:>8} {:>8}",
        "statement", "parse µs", "check µs", "round trip µs", "chk/prs", "chk/rt"
    );
    let (mut sum_parse, mut sum_check, mut sum_rt) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for sql in STATEMENTS {
        let parse = per_call(2_000, || {
            std::hint::black_box(pg_query::parse(sql, 0).unwrap());
        });
        let check = per_call(2_000, || {
            std::hint::black_box(checker.check(sql, 0).unwrap());
        });
        let rt = match &client {
            Some(c) => {
                let n = 200;
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(c.query(*sql, &[]).await.expect("statement runs"));
                }
                start.elapsed() / n
            }
            None => Duration::ZERO,
        };
        sum_parse += parse;
        sum_check += check;
        sum_rt += rt;
        let short: String = sql.chars().take(58).collect();
        let ratio_rt =
            if rt.is_zero() { "-".to_string() } else { format!("{:.2}", check.as_secs_f64() / rt.as_secs_f64()) };
        println!(
            "{short:<60} {:>10.1} {:>10.1} {:>12.1} {:>8.2} {:>8}",
            parse.as_secs_f64() * 1e6,
            check.as_secs_f64() * 1e6,
            rt.as_secs_f64() * 1e6,
            check.as_secs_f64() / parse.as_secs_f64(),
            ratio_rt
        );
    }
    let n = STATEMENTS.len() as u32;
    println!(
        "mean: parse {:.1} µs, check {:.1} µs ({:.2}× parse), round trip {:.1} µs{}",
        (sum_parse / n).as_secs_f64() * 1e6,
        (sum_check / n).as_secs_f64() * 1e6,
        sum_check.as_secs_f64() / sum_parse.as_secs_f64(),
        (sum_rt / n).as_secs_f64() * 1e6,
        if sum_rt.is_zero() {
            String::new()
        } else {
            format!(" (check = {:.2}× the round trip)", sum_check.as_secs_f64() / sum_rt.as_secs_f64())
        }
    );
    corpus_distribution(&checker);
    corpus_breakdown(&checker);
}
