//! `make bench`, a backfill: one column of `shop.orders` (1,000,000 rows,
//! `ONLINE_ROWS` to change) filled by primary-key ranges of 10,000 ids,
//! each batch committed, while the writer workload of bench_online runs:
//!
//! - `none`: the writers alone, for as long as the host's backfill took;
//! - `host`: `host run` of the online gate, the bench fixture
//!   `tests/plugins/backfill-bench` and its verify (a batched tier of fixed 10,000-id
//!   batches, no pause), each batch committed with its ledger checkpoint;
//! - `psql`: the same UPDATEs as a psql script in autocommit, one commit
//!   per batch;
//! - `host paced`: the same backfill (`tests/plugins/backfill-paced`) with
//!   the batch size left to the host: from 10,000 ids, halved while a
//!   batch takes longer than its `target_ms`. With 10,000-id batches one
//!   random write in a hundred lands on the running batch's rows and waits
//!   for its COMMIT, whoever runs it (psql's loop too): the writers' p99 is
//!   that wait. The paced run shows what the one knob buys and costs;
//! - `psql small`: psql's loop again, in batches of the paced run's
//!   average size: the same trade made by the baseline, so the host's cost
//!   at that size is read beside psql's, not beside psql's 10,000.
//!
//! Each on a fresh copy of the `shop` template in `ONLINE_TEMPLATE`, with
//! the column added before the writers start. Prints the backfill's time
//! (host: end to end, the tier as its report times it, and its batches
//! alone), the writers' p50/p99/max in each scenario, and the host's peak
//! RSS from the kernel when it exits (`wait4`). Goals (issue 21): the
//! tier within 1.2× of psql's loop, writers' p99 during the host's
//! backfill within 2× of their p99 with none, host peak RSS under 64 MiB.

mod bench_writers;

use bench_writers::{around, ms, rate, Copy, Window, CLIENTS};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Ids per batch, as the fixture's manifest says.
const BATCH: i64 = 10_000;
/// The fixtures: fixed batches of `BATCH` ids; batches the host sizes to
/// its manifest's `target_ms`.
const FIXED: &str = "backfill-bench";
const PACED: &str = "backfill-paced";
const SET: &str = "region = (ARRAY['north', 'south', 'east', 'west'])[customer_id % 4 + 1]";

/// What one backfill took.
#[derive(Default)]
struct Took {
    /// The command, start to exit.
    end_to_end: Duration,
    /// The host's tier (its report's duration) and its batches alone.
    tier: Option<(Duration, Duration, usize)>,
    /// The child's peak RSS in MiB.
    rss_mib: f64,
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = PathBuf::from(std::env::var("ONLINE_TEMPLATE").expect("ONLINE_TEMPLATE: the template cluster"));
    let rows: i64 = std::env::var("ONLINE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let script = psql_script(&template, rows, BATCH);

    let (host, host_w) = scenario(&rt, &root, &template, rows, "host", |socket| host_run(&root, socket, FIXED));
    let (paced, paced_w) = scenario(&rt, &root, &template, rows, "paced", |socket| host_run(&root, socket, PACED));
    let (psql, psql_w) = scenario(&rt, &root, &template, rows, "psql", |socket| psql_run(socket, &script));
    // psql's loop at the size the paced run settled on (to 100 ids).
    let small = match paced.as_ref().ok().and_then(|p| p.tier) {
        Some((_, _, n)) if n > 0 => ((rows / n as i64 + 50) / 100 * 100).max(100),
        _ => 500,
    };
    let small_script = psql_script(&template, rows, small);
    let (psql_small, small_w) =
        scenario(&rt, &root, &template, rows, "psql-small", |socket| psql_run(socket, &small_script));
    let _ = std::fs::remove_file(&small_script);
    let idle = host.as_ref().map(|h| h.tier.map(|t| t.0).unwrap_or(h.end_to_end)).unwrap_or(Duration::from_secs(5));
    let (_, none_w) = scenario(&rt, &root, &template, rows, "none", |_| {
        std::thread::sleep(idle);
        Ok(Took { end_to_end: idle, ..Took::default() })
    });
    let _ = std::fs::remove_file(&script);
    let (host, psql) = match (host, psql) {
        (Ok(h), Ok(p)) => (h, p),
        (h, p) => {
            for (name, r) in [("host", h), ("psql", p)] {
                if let Err(e) = r {
                    eprintln!("{name}: the backfill failed: {e}");
                }
            }
            std::process::exit(1);
        }
    };

    println!(
        "\nBackfill of {rows} rows in batches of {BATCH} ids, {CLIENTS} writers running ({} transactions/s in all)",
        rate()
    );
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!("psql script, a commit per batch: {} (peak RSS {:.0} MiB)", s(psql.end_to_end), psql.rss_mib);
    match host.tier {
        Some((tier, batches, n)) => println!(
            "host: tier {} ({n} batches {}), end to end {} (peak RSS {:.0} MiB)",
            s(tier),
            s(batches),
            s(host.end_to_end),
            host.rss_mib
        ),
        None => println!("host: end to end {} (no report found)", s(host.end_to_end)),
    }
    let tier = host.tier.map(|t| t.0).unwrap_or(host.end_to_end).as_secs_f64();
    let ratio = tier / psql.end_to_end.as_secs_f64().max(1e-9);
    println!(
        "host tier / psql: {ratio:.2}× (goal <= 1.2×: {}); end to end / psql: {:.2}×",
        verdict(ratio <= 1.2),
        host.end_to_end.as_secs_f64() / psql.end_to_end.as_secs_f64().max(1e-9)
    );
    println!("host peak RSS: {:.1} MiB (goal < 64 MiB: {})", host.rss_mib, verdict(host.rss_mib < 64.0));
    match (&paced, paced.as_ref().ok().and_then(|p| p.tier)) {
        (Ok(_), Some((tier, _, n))) => println!(
            "host paced (batches sized to hold their rows about {} ms): tier {} ({n} batches, {:.0} ids each on \
             average), {:.2}× psql's time",
            paced_target_ms(&root),
            s(tier),
            rows as f64 / n.max(1) as f64,
            tier.as_secs_f64() / psql.end_to_end.as_secs_f64().max(1e-9),
        ),
        (Ok(p), None) => println!("host paced: end to end {} (no report found)", s(p.end_to_end)),
        (Err(e), _) => println!("host paced: the backfill failed: {e}"),
    }
    match (&psql_small, paced.as_ref().ok().and_then(|p| p.tier)) {
        (Ok(small_took), Some((tier, _, _))) => println!(
            "psql script in batches of {small} ids (the paced run's size): {}; host paced / psql at that size: {:.2}×",
            s(small_took.end_to_end),
            tier.as_secs_f64() / small_took.end_to_end.as_secs_f64().max(1e-9)
        ),
        (Ok(small_took), None) => println!("psql script in batches of {small} ids: {}", s(small_took.end_to_end)),
        (Err(e), _) => println!("psql script in batches of {small} ids: failed: {e}"),
    }

    println!("\nWriter latency ({CLIENTS} writers, {} transactions/s in all, each timed from when it was due)", rate());
    println!("{:<10} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9}", "backfill", "txns", "txns/s", "errors", "p50", "p99", "max");
    let rows_of =
        [("none", &none_w), ("host", &host_w), ("psql", &psql_w), ("paced", &paced_w), ("psql-small", &small_w)];
    for (name, w) in rows_of {
        println!(
            "{:<10} {:>8} {:>9.0} {:>7} {:>9} {:>9} {:>9}",
            name,
            w.within().len(),
            w.within().len() as f64 / w.seconds(),
            w.errors(),
            ms(w.percentile(0.5)),
            ms(w.percentile(0.99)),
            ms(w.max())
        );
    }
    let idle_p99 = none_w.percentile(0.99).as_secs_f64().max(1e-9);
    let p99 = |w: &Window| w.percentile(0.99).as_secs_f64() / idle_p99;
    println!(
        "writers' p99 / idle p99: host {:.2}× (goal <= 2×: {}), psql {:.2}× (the same batches); host paced {:.2}× ({}), \
         psql in batches of {small} {:.2}×",
        p99(&host_w),
        verdict(p99(&host_w) <= 2.0),
        p99(&psql_w),
        p99(&paced_w),
        verdict(p99(&paced_w) <= 2.0),
        p99(&small_w)
    );
}

/// The paced fixture's `[batches] target_ms`, from its manifest.
fn paced_target_ms(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join(format!("tests/plugins/{PACED}/plugin.toml"))).unwrap_or_default();
    let line = manifest.lines().find_map(|l| l.trim().strip_prefix("target_ms")).unwrap_or("= ?");
    line.trim_start_matches([' ', '=']).trim().to_string()
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// A fresh copy with the column to fill, the writers on it around `backfill`.
fn scenario(
    rt: &tokio::runtime::Runtime,
    root: &Path,
    template: &Path,
    rows: i64,
    name: &str,
    backfill: impl FnOnce(&str) -> Result<Took, String>,
) -> (Result<Took, String>, Window) {
    let copy = Copy::of(root, template, &format!("backfill-{name}"));
    let socket = copy.socket();
    let added = Command::new("psql")
        .args(["-h", &socket, "-U", "postgres", "-d", "shop", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("ALTER TABLE shop.orders ADD COLUMN region text")
        .output();
    assert!(added.is_ok_and(|o| o.status.success()), "cannot add shop.orders.region");
    around(rt, &socket, rows, || backfill(&socket))
}

/// psql's loop: one UPDATE per batch of `batch` ids, each its own transaction.
fn psql_script(template: &Path, rows: i64, batch: i64) -> PathBuf {
    let path = template.with_file_name(format!("backfill-{batch}.sql"));
    let mut sql = String::new();
    let mut from = 0;
    while from < rows {
        let to = from + batch;
        sql.push_str(&format!("UPDATE shop.orders SET {SET} WHERE id > {from} AND id <= {to};\n"));
        from = to;
    }
    std::fs::write(&path, sql).expect("the psql script is written");
    path
}

fn psql_run(socket: &str, script: &Path) -> Result<Took, String> {
    let mut c = Command::new("psql");
    c.args(["-h", socket, "-U", "postgres", "-d", "shop", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(script);
    let (end_to_end, rss_mib) = time_rss(c)?;
    Ok(Took { end_to_end, tier: None, rss_mib })
}

fn host_run(root: &Path, socket: &str, fixture: &str) -> Result<Took, String> {
    let host = std::env::var("HOST").map(PathBuf::from).unwrap_or_else(|_| root.join("target/release/host"));
    let reports = root.join(format!("target/bench-backfill-reports-{fixture}"));
    let _ = std::fs::remove_dir_all(&reports);
    let mut c = Command::new(host);
    c.arg("run")
        .arg("--tiers")
        .arg(root.join("examples/online/plugins/gate.wasm"))
        .arg(root.join(format!("tests/plugins/{fixture}.wasm")))
        .arg(root.join("tests/plugins/backfill-bench-verify.wasm"))
        .args(["--database-url", &format!("host={socket} user=postgres dbname=shop")])
        .arg("--reports")
        .arg(&reports);
    let (end_to_end, rss_mib) = time_rss(c)?;
    Ok(Took { end_to_end, tier: tier_times(&reports), rss_mib })
}

/// The backfill tier's duration in report.json, the sum of its batches'
/// and their number.
fn tier_times(reports: &Path) -> Option<(Duration, Duration, usize)> {
    let file = find(reports, "report.json")?;
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let tier = json.get("tiers")?.as_array()?.iter().find(|t| t.get("batches").is_some_and(|b| !b.is_null()))?;
    let ms = |v: Option<&serde_json::Value>| Duration::from_millis(v.and_then(|v| v.as_u64()).unwrap_or(0));
    let batches = tier.get("batches")?.get("batches")?.as_array()?;
    let sum = batches.iter().map(|b| ms(b.get("duration_ms"))).sum();
    Some((ms(tier.get("duration_ms")), sum, batches.len()))
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// How long `c` took and its peak RSS in MiB, from the kernel when it
/// exits (`wait4`); its output is kept only to say why it failed.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak RSS")]
#[allow(unsafe_code, reason = "wait4 and getrusage, which std does not offer, give a child's peak RSS")]
fn time_rss(mut c: Command) -> Result<(Duration, f64), String> {
    let log = std::env::temp_dir().join(format!("bench-backfill-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let child = c.stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn().map_err(|e| format!("{c:?}: {e}"))?;
    // SAFETY: rusage is plain integers and timevals, for which all-zero is a valid value.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, with valid pointers, once.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let ok = pid == child.id() as libc::pid_t && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        return Err(format!("{c:?} failed:\n{text}"));
    }
    Ok((took, usage.ru_maxrss as f64 / 1024.0))
}
