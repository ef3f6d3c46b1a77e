//! `make bench`: the host beside its baselines, in one run, each figure the
//! median of `BENCH_RUNS` (default 5) runs with min and max, host and
//! baseline runs interleaved so a busy machine slows both alike.
//!
//! Needs PGHOST/PGUSER pointing at a cluster whose `directus` holds the
//! One-Roof baseline (the Makefile starts a scratch one), the release
//! `host`, the One-Roof plugins and tests/plugins/bench.wasm.

#[path = "bench_parts/statements.rs"]
mod statements;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tokio_postgres::types::Type;

const APR: &str = "ratified_apr=APR-2026-0412";
/// The statement the bench plugin sends (tests/plugins/bench).
const SAME: &str = "SELECT status FROM one_roof.approval WHERE code = $1";
const CODE: &str = "APR-2026-0412";
const STATEMENTS: u32 = 10_000;
/// Rows the read figure streams, and rows the load figure loads.
const READ_ROWS: u32 = 1_000_000;
const LOAD_ROWS: u32 = 100_000;

/// Median, min and max of one figure's runs.
struct Figure {
    runs: Vec<f64>,
}

impl Figure {
    fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
    fn min(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.runs.iter().copied().fold(0.0, f64::max)
    }
    fn show(&self, unit: Unit) -> String {
        format!("{} [{}–{}]", unit.show(self.median()), unit.show(self.min()), unit.show(self.max()))
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Micros,
    Mib,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Seconds if v < 1.0 => format!("{:.0} ms", v * 1e3),
            Unit::Seconds => format!("{v:.2} s"),
            Unit::Micros => format!("{v:.1} µs"),
            Unit::Mib => format!("{v:.0} MiB"),
        }
    }
}

struct Bench {
    root: PathBuf,
    scratch: tempfile::TempDir,
    runs: usize,
}

impl Bench {
    fn host(&self, cache: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(self.root.join("target/release/host"));
        c.current_dir(&self.root).args(args).env("HOST_COMPILE_CACHE", cache).env("PGDATABASE", "directus");
        // `host roles apply` writes no report and takes no --reports.
        if args.first() != Some(&"roles") {
            c.arg("--reports").arg(self.scratch.path().join("reports"));
        }
        c
    }

    /// Seconds `c` took; it must succeed.
    fn time(&self, mut c: Command) -> f64 {
        let start = Instant::now();
        let out = c.output().expect("command runs");
        let took = start.elapsed().as_secs_f64();
        assert!(out.status.success(), "{c:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        took
    }

    /// Seconds `c` took and its peak RSS in MiB, from the kernel when it
    /// exits (`wait4`); it must succeed. Its output is discarded.
    #[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak RSS")]
    #[allow(unsafe_code, reason = "wait4 and getrusage, which std does not offer, give a child's peak RSS")]
    fn time_rss(&self, mut c: Command) -> (f64, f64) {
        use std::process::Stdio;
        let start = Instant::now();
        let child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("command runs");
        // SAFETY: rusage is plain integers and timevals, for which all-zero is a valid value.
        let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
        // SAFETY: waits for our own child, with valid pointers, once.
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        let took = start.elapsed().as_secs_f64();
        let ok = pid == child.id() as libc::pid_t && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        assert!(ok, "{c:?} failed");
        (took, usage.ru_maxrss as f64 / 1024.0)
    }

    /// What `c` printed (stdout and stderr); it must succeed.
    fn output(&self, mut c: Command) -> String {
        let out = c.stdout(std::process::Stdio::piped()).output().expect("command runs");
        assert!(out.status.success(), "{c:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    fn psql(&self, db: &str, args: &[&str]) -> Command {
        let mut c = Command::new("psql");
        c.current_dir(&self.root).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]).args(args);
        c.stdout(std::process::Stdio::null());
        c
    }

    /// `directus` again as the ratified baseline, before a timed run.
    fn fresh_directus(&self) {
        let sql = "DROP DATABASE IF EXISTS directus WITH (FORCE); CREATE DATABASE directus TEMPLATE one_roof_base";
        for s in sql.split("; ") {
            self.time(self.psql("postgres", &["-c", s]));
        }
    }

    /// A new private, empty compile cache directory.
    fn empty_cache(&self, n: usize) -> PathBuf {
        let dir = self.scratch.path().join(format!("cold-cache-{n}"));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).expect("cache dir");
        dir
    }

    /// `runs` interleaved samples of each closure.
    fn paired<const N: usize>(&self, mut each: impl FnMut(usize) -> [f64; N]) -> [Figure; N] {
        let mut all: [Figure; N] = std::array::from_fn(|_| Figure { runs: Vec::new() });
        for run in 0..self.runs {
            for (figure, v) in all.iter_mut().zip(each(run)) {
                figure.runs.push(v);
            }
        }
        all
    }
}

/// The `ns_per_statement` the bench plugin reported in the newest gate report.
fn reported_ns(reports: &Path) -> f64 {
    let newest = std::fs::read_dir(reports)
        .expect("reports")
        .filter_map(|e| e.ok())
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .expect("a report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest.path().join("report.json")).expect("report.json"))
            .expect("report.json is JSON");
    let metrics = json["gate"]["metrics"].as_array().expect("gate metrics");
    let m = metrics.iter().find(|m| m["name"] == "ns_per_statement").expect("ns_per_statement");
    m["actual"].as_str().and_then(|s| s.parse().ok()).expect("a number")
}

/// tokio-postgres `query_typed`, `STATEMENTS` times in one transaction:
/// µs per statement, the same text or a distinct text each time.
async fn direct(client: &tokio_postgres::Client, distinct: bool) -> f64 {
    client.batch_execute("BEGIN").await.expect("begin");
    let start = Instant::now();
    for i in 0..STATEMENTS {
        let text = if distinct {
            format!("SELECT status, {i} AS n FROM one_roof.approval WHERE code = $1")
        } else {
            SAME.into()
        };
        let rows = client.query_typed(&text, &[(&CODE, Type::TEXT)]).await.expect("statement");
        assert_eq!(rows.len(), 1);
    }
    let took = start.elapsed();
    client.batch_execute("COMMIT").await.expect("commit");
    took.as_secs_f64() * 1e6 / STATEMENTS as f64
}

/// A psql script of the same statements, literal values, one transaction.
fn psql_script(path: &Path, distinct: bool) {
    let mut s = String::from("BEGIN;\n");
    for i in 0..STATEMENTS {
        if distinct {
            s.push_str(&format!("SELECT status, {i} AS n FROM one_roof.approval WHERE code = '{CODE}';\n"));
        } else {
            s.push_str(&format!("SELECT status FROM one_roof.approval WHERE code = '{CODE}';\n"));
        }
    }
    s.push_str("COMMIT;\n");
    std::fs::write(path, s).expect("psql script");
}

fn row(work: &str, host: String, baseline: String, ratio: String, goal: &str) {
    println!("| {work} | {host} | {baseline} | {ratio} | {goal} |");
}

/// The host's own statements in one One-Roof `host run` (warm), counted in
/// the scratch cluster's log ([`statements`]); `None` without a log.
fn statements_per_run(b: &Bench, warm: &Path, run: &[&str]) -> Option<statements::Count> {
    let log = statements::server_log()?;
    let set = |on: bool| {
        for sql in statements::logging(on) {
            b.time(b.psql("postgres", &["-c", &sql]));
        }
    };
    set(true);
    b.fresh_directus();
    let from = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    b.time(b.host(warm, run));
    let text = std::fs::read(&log).unwrap_or_default();
    set(false);
    let after = text.get(from as usize..).unwrap_or_default();
    Some(statements::count(&String::from_utf8_lossy(after)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let runs = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(5);
    let b = Bench { root: root.clone(), scratch: tempfile::tempdir().expect("scratch dir"), runs };
    let tiers: Vec<String> = {
        let mut t: Vec<String> = std::fs::read_dir(root.join("tiers"))
            .expect("tiers/")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .map(|p| p.strip_prefix(&root).unwrap_or(&p).display().to_string())
            .collect();
        t.sort();
        t
    };
    let plan_args = |verb: &'static str| -> Vec<String> {
        let mut a = vec![verb.to_string(), "--tiers".into()];
        a.extend(tiers.iter().cloned());
        a.extend(["--param".into(), APR.into()]);
        a
    };
    // The ratified baseline, kept as a template for every timed run; each
    // plugin's role and the wall (`host roles apply`) for the `--roles`
    // figure are applied to each fresh copy before its run, untimed (a
    // role may hold privileges in one database only: the host refuses a
    // template that holds them too).
    b.time(b.psql("directus", &["-f", "sql/ratify.sql"]));
    let warm = b.scratch.path().join("warm-cache");
    std::fs::DirBuilder::new().mode(0o700).create(&warm).expect("warm cache");
    let mut apply = vec!["roles", "apply"];
    apply.extend(tiers.iter().map(String::as_str));
    apply.extend(["--operator-role", "postgres"]);
    b.time(b.psql("postgres", &["-c", "CREATE DATABASE one_roof_base TEMPLATE directus"]));
    let run = plan_args("run");
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let under_roles: Vec<&str> = run.iter().copied().chain(["--roles"]).collect();
    let gate = plan_args("gate");
    let gate: Vec<&str> = gate.iter().map(String::as_str).collect();
    b.fresh_directus();
    b.time(b.host(&warm, &run)); // fills the warm cache
    let statements = statements_per_run(&b, &warm, &run);
    eprintln!("bench: {} runs of each figure…", b.runs);

    let [host_warm, host_cold, psql, host_roles] = b.paired(|n| {
        b.fresh_directus();
        let w = b.time(b.host(&warm, &run));
        b.fresh_directus();
        let c = b.time(b.host(&b.empty_cache(n), &run));
        b.fresh_directus();
        let p = b.time(b.psql("directus", &["-f", "bench/one-roof.sql"]));
        b.fresh_directus();
        b.time(b.host(&warm, &apply));
        let r = b.time(b.host(&warm, &under_roles));
        [w, c, p, r]
    });
    b.fresh_directus();
    let [gate_warm, gate_cold, gate_psql] = b.paired(|n| {
        let w = b.time(b.host(&warm, &gate));
        let c = b.time(b.host(&b.empty_cache(100 + n), &gate));
        let p = b.time(b.psql("directus", &["-f", "bench/gate.sql"]));
        [w, c, p]
    });

    let target = host::db::Target::new(Some("dbname=directus")).expect("PG* variables");
    let client = target.connect("bench").await.expect("connect");
    let (same_sql, distinct_sql) = (b.scratch.path().join("same.sql"), b.scratch.path().join("distinct.sql"));
    psql_script(&same_sql, false);
    psql_script(&distinct_sql, true);
    let reports = b.scratch.path().join("reports");
    let count = STATEMENTS.to_string();
    let mut per_statement = Vec::new();
    for (mode, script) in [("same", &same_sql), ("distinct", &distinct_sql)] {
        let args = [
            "gate",
            "--tiers",
            "tests/plugins/bench.wasm",
            "tiers/t8-verify.wasm",
            "--param",
            &format!("mode={mode}"),
            "--param",
            &format!("count={count}"),
        ];
        let mut figures = [(); 3].map(|_| Figure { runs: Vec::new() });
        for _ in 0..b.runs {
            b.time(b.host(&warm, &args));
            figures[0].runs.push(reported_ns(&reports) / 1e3);
            figures[1].runs.push(direct(&client, mode == "distinct").await);
            let script = script.display().to_string();
            figures[2].runs.push(b.time(b.psql("directus", &["-f", &script])) * 1e6 / STATEMENTS as f64);
        }
        per_statement.push((mode, figures));
    }

    let (read, load) = rows_and_load(&b, &warm, &run);

    let ratio = |a: &Figure, b: &Figure| format!("{:.2}×", a.median() / b.median());
    let over = |a: &Figure, b: &Figure| format!("+{:.1} µs", a.median() - b.median());
    println!("\nmake bench: {} runs each, median [min–max]; host and baseline runs interleaved\n", b.runs);
    println!("| work | host | baseline | ratio | goal (issue 23) |");
    println!("| --- | --- | --- | --- | --- |");
    let s = Unit::Seconds;
    row(
        "One-Roof end to end, compile cache warm",
        host_warm.show(s),
        format!("`psql -f bench/one-roof.sql` {}", psql.show(s)),
        ratio(&host_warm, &psql),
        "≤ 1.3×",
    );
    row("One-Roof end to end, compile cache cold", host_cold.show(s), "same".into(), ratio(&host_cold, &psql), "≤ 3×");
    row(
        "One-Roof end to end under `--roles` (each plugin its own role, the wall, the proof), warm",
        host_roles.show(s),
        format!("the same run without roles {}", host_warm.show(s)),
        ratio(&host_roles, &host_warm),
        "—",
    );
    row(
        "`host gate`, cold (compiles the gate only)",
        gate_cold.show(s),
        format!("`psql -f bench/gate.sql` {}", gate_psql.show(s)),
        over_s(&gate_cold, &gate_psql),
        "—",
    );
    row("`host gate`, warm", gate_warm.show(s), "same".into(), over_s(&gate_warm, &gate_psql), "—");
    for (mode, [host, direct, psql]) in &per_statement {
        let what = if *mode == "same" {
            "one statement, same text, 10,000× in one tier"
        } else {
            "one statement, 10,000 distinct texts"
        };
        row(
            what,
            host.show(Unit::Micros),
            format!("tokio-postgres `query_typed` {}; psql {}", direct.show(Unit::Micros), psql.show(Unit::Micros)),
            format!("{} ({})", ratio(host, direct), over(host, direct)),
            if *mode == "same" { "≤ +10 µs" } else { "≤ +50 µs" },
        );
    }
    let [host_read, host_rss, psql_read, psql_rss] = &read;
    row(
        "read 1,000,000 rows in a tier (`host gate` end to end; peak RSS)",
        format!("{}; {}", host_read.show(s), host_rss.show(Unit::Mib)),
        format!("`psql -A` {}; {}", psql_read.show(s), psql_rss.show(Unit::Mib)),
        ratio(host_read, psql_read),
        "≤ 1.2×, < 64 MiB",
    );
    let [host_load, copy, inserts] = &load;
    let (best, name) =
        if copy.median() <= inserts.median() { (copy, "`\\copy`") } else { (inserts, "batched INSERTs") };
    row(
        "load 100,000 rows from a tier (copy-in, 10 batches; time inside the tier)",
        host_load.show(s),
        format!(
            "psql {name}, the faster, {} (`\\copy` {}; 200 INSERTs of 500 rows {}; psql `\\timing`)",
            best.show(s),
            copy.show(s),
            inserts.show(s)
        ),
        ratio(host_load, best),
        "≤ 1.2×",
    );
    let (count, baseline) = match &statements {
        Some(c) => (c.show(), format!("psql sends the plugins' {} only", c.plugins)),
        None => ("not counted: no server.log in PGHOST".into(), "—".into()),
    };
    row(
        "the host's own statements in one One-Roof `host run` (ledger, lock, identity, session reset; server log)",
        count,
        baseline,
        "—".into(),
        "cut what the run does not need (165 at 245d1a4)",
    );
    println!("\nThe grants check alone vs parsing (host/examples/bench_check.rs):\n");
}

/// The 1M-row read (host time, host RSS, psql -A time, psql RSS) and the
/// 100k-row load (host, psql \copy, psql batched INSERTs), interleaved.
fn rows_and_load(b: &Bench, warm: &Path, run: &[&str]) -> ([Figure; 4], [Figure; 3]) {
    let fill = format!(
        "CREATE TABLE public.bench_rows AS SELECT g::int8 AS id, lpad(g::text, 64, '0') AS label \
         FROM generate_series(1, {READ_ROWS}) g"
    );
    b.time(b.psql("directus", &["-c", &fill]));
    let count = format!("count={READ_ROWS}");
    let gate = ["gate", "--tiers", "tests/plugins/bench.wasm", "tiers/t8-verify.wasm", "--param", "mode=read"];
    let read = b.paired(|_| {
        let mut host = b.host(warm, &gate);
        host.args(["--param", &count]);
        let (host, host_rss) = b.time_rss(host);
        let (psql, psql_rss) = b.time_rss(b.psql("directus", &["-A", "-c", "SELECT id, label FROM public.bench_rows"]));
        [host, host_rss, psql, psql_rss]
    });
    // The rows the stream fixture makes (tests/plugins/stream, mode=make).
    let tsv = b.scratch.path().join("rows.tsv");
    let rows: String = (1..=LOAD_ROWS).map(|id| format!("{id}\t{id:064}\n")).collect();
    std::fs::write(&tsv, rows).expect("rows.tsv");
    let inserts = b.scratch.path().join("inserts.sql");
    let mut script = String::from("\\timing on\nBEGIN;\n");
    for batch in (1..=LOAD_ROWS).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = batch.iter().map(|id| format!("({id},'{id:064}')")).collect();
        script.push_str(&format!("INSERT INTO public.loaded VALUES {};\n", values.join(",")));
    }
    script.push_str("COMMIT;\n");
    std::fs::write(&inserts, script).expect("inserts.sql");
    let table = "CREATE TABLE public.loaded (id int8 PRIMARY KEY, label text NOT NULL)";
    // The One-Roof plan with the stream fixture as tier 7.
    let mut plan: Vec<String> = run.iter().map(|a| a.to_string()).collect();
    let params = plan.iter().position(|a| a == "--param").unwrap_or(plan.len());
    plan.insert(params, "tests/plugins/stream.wasm".into());
    plan.extend(["--param".into(), "mode=make".into(), "--param".into(), format!("rows={LOAD_ROWS}")]);
    let plan: Vec<&str> = plan.iter().map(String::as_str).collect();
    let load = b.paired(|_| {
        b.fresh_directus();
        b.time(b.psql("directus", &["-c", table]));
        let out = b.output(b.host(warm, &plan));
        let host = number_after(&out, &format!("made {LOAD_ROWS} rows in "), " µs") / 1e6;
        b.time(b.psql("directus", &["-c", "TRUNCATE public.loaded"]));
        let copy = format!("\\copy public.loaded FROM '{}'", tsv.display());
        let copy = psql_timing(&b.output(b.psql("directus", &["-c", "\\timing on", "-c", &copy])));
        b.time(b.psql("directus", &["-c", "TRUNCATE public.loaded"]));
        let inserts = psql_timing(&b.output(b.psql("directus", &["-f", &inserts.display().to_string()])));
        [host, copy, inserts]
    });
    (read, load)
}

/// The number between `before` and `after` in `text`.
fn number_after(text: &str, before: &str, after: &str) -> f64 {
    let at = text.find(before).unwrap_or_else(|| panic!("no {before:?} in:\n{text}")) + before.len();
    text[at..].split(after).next().and_then(|n| n.trim().parse().ok()).expect("a number")
}

/// The seconds psql's `\timing` lines add up to.
fn psql_timing(out: &str) -> f64 {
    out.lines().filter_map(|l| l.strip_prefix("Time: ")?.split(" ms").next()?.parse::<f64>().ok()).sum::<f64>() / 1e3
}

/// How much longer than the baseline, in ms.
fn over_s(a: &Figure, b: &Figure) -> String {
    format!("+{:.0} ms over its SQL", (a.median() - b.median()) * 1e3)
}
