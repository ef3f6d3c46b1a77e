//! `make bench`, production impact: the latency of a writer workload (short
//! transactions updating one row of `shop.orders` each, several clients)
//! while a schema change runs, side by side in one run:
//!
//! - `none`: no change, the writers alone for as long as the host's run took;
//! - `psql`: examples/online/naive.sql, the change as one transaction of
//!   plain DDL and one UPDATE;
//! - `host`: `host run` of the examples/online plan (a column, its
//!   backfill, a foreign key NOT VALID then validated, an index built
//!   concurrently).
//!
//! Each on a fresh copy of one database (`ONLINE_ROWS` orders, default
//! 1,000,000), copied from the template cluster in `ONLINE_TEMPLATE` by
//! scripts/scratch-pg.sh. A writer's transaction counts when it overlaps
//! the change (from the change's start to its end); its latency is from
//! its send to its answer. Figures: transactions and their rate (a stall
//! shows as a low rate: a stalled writer makes one slow transaction where
//! it would have made hundreds, which p99 hides), errors, p50, p99, max.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
/// Writers run this long before the change starts and after it ends.
const MARGIN: Duration = Duration::from_secs(2);

/// One writer transaction: when it was sent, how long it took, whether it failed.
#[derive(Clone, Copy)]
struct Txn {
    start: Instant,
    took: Duration,
    failed: bool,
}

struct Scenario {
    name: &'static str,
    /// What the change printed when it failed, or how long it took.
    change: Result<Duration, String>,
    txns: Vec<Txn>,
    window: (Instant, Instant),
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = PathBuf::from(std::env::var("ONLINE_TEMPLATE").expect("ONLINE_TEMPLATE: the template cluster"));
    let rows: i64 = std::env::var("ONLINE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let host = run(&rt, &root, &template, rows, "host", None);
    let took = host.change.as_ref().map(|d| *d).unwrap_or(Duration::from_secs(5));
    let naive = run(&rt, &root, &template, rows, "psql", None);
    let none = run(&rt, &root, &template, rows, "none", Some(took));
    println!("\nWriter latency during the change ({CLIENTS} writers, {rows} orders; examples/online)");
    println!(
        "{:<6} {:>10} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9}",
        "change", "took", "txns", "txns/s", "errors", "p50", "p99", "max"
    );
    for s in [&none, &naive, &host] {
        show(s);
    }
    let max = |s: &Scenario| {
        s.txns.iter().filter(|t| overlaps(t, s.window)).map(|t| t.took).max().unwrap_or_default().as_secs_f64()
    };
    println!(
        "the longest a writer waited: host {:.0} ms, psql {:.0} ms ({:.3}×); goal: zero writer errors, host p99 <= 50 \
         ms, host max <= the tiers' lock wait plus one retry (ddl_lock_timeout_ms 200)",
        max(&host) * 1e3,
        max(&naive) * 1e3,
        max(&host) / max(&naive).max(1e-9)
    );
    if host.change.is_err() || naive.change.is_err() {
        std::process::exit(1);
    }
}

fn show(s: &Scenario) {
    let within: Vec<&Txn> = s.txns.iter().filter(|t| overlaps(t, s.window)).collect();
    let errors = within.iter().filter(|t| t.failed).count();
    let took = match &s.change {
        Ok(d) => format!("{:.2} s", d.as_secs_f64()),
        Err(e) => {
            eprintln!("{}: the change failed: {e}", s.name);
            "FAILED".into()
        }
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let max = within.iter().map(|t| t.took).max().unwrap_or_default();
    let seconds = (s.window.1 - s.window.0).as_secs_f64().max(1e-9);
    println!(
        "{:<6} {:>10} {:>8} {:>9.0} {:>7} {:>9} {:>9} {:>9}",
        s.name,
        took,
        within.len(),
        within.len() as f64 / seconds,
        errors,
        ms(percentile(&s.txns, s.window, 0.5)),
        ms(percentile(&s.txns, s.window, 0.99)),
        ms(max)
    );
}

fn overlaps(t: &Txn, (from, to): (Instant, Instant)) -> bool {
    t.start <= to && t.start + t.took >= from
}

fn percentile(txns: &[Txn], window: (Instant, Instant), p: f64) -> Duration {
    let mut v: Vec<Duration> = txns.iter().filter(|t| overlaps(t, window)).map(|t| t.took).collect();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A fresh copy of the template, the writers on it, the change (or a
/// pause as long as `idle`), the writers stopped; the copy removed.
fn run(
    rt: &tokio::runtime::Runtime,
    root: &Path,
    template: &Path,
    rows: i64,
    name: &'static str,
    idle: Option<Duration>,
) -> Scenario {
    let copy = template.with_file_name(format!("copy-{name}"));
    let script = root.join("scripts/scratch-pg.sh");
    let ok = Command::new("bash").arg(&script).arg("clone").arg(template).arg(&copy).status();
    assert!(ok.is_ok_and(|s| s.success()), "cannot copy the template cluster");
    let socket = copy.display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let txns = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> =
        (0..CLIENTS).map(|i| rt.spawn(writer(socket.clone(), rows, i as i64, stop.clone(), txns.clone()))).collect();
    std::thread::sleep(MARGIN);
    let from = Instant::now();
    let change = match idle {
        Some(d) => {
            std::thread::sleep(d);
            Ok(d)
        }
        None => change(root, &socket, name),
    };
    let to = Instant::now();
    std::thread::sleep(MARGIN);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = rt.block_on(w);
    }
    let _ = Command::new("bash").arg(&script).arg("stop").arg(&copy).status();
    let txns = txns.lock().map(|t| t.clone()).unwrap_or_default();
    Scenario { name, change, txns, window: (from, to) }
}

/// The change itself, timed; its output is kept only when it fails.
fn change(root: &Path, socket: &str, name: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let out = if name == "psql" {
        Command::new("psql")
            .args(["-h", socket, "-U", "postgres", "-d", "shop", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(root.join("examples/online/naive.sql"))
            .output()
    } else {
        let host = std::env::var("HOST").map(PathBuf::from).unwrap_or_else(|_| root.join("target/release/host"));
        let plugins = std::fs::read_dir(root.join("examples/online/plugins"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let reports = root.join("target/bench-online-reports");
        Command::new(host)
            .arg("run")
            .arg("--tiers")
            .args(&plugins)
            .args(["--database-url", &format!("host={socket} user=postgres dbname=shop")])
            .arg("--reports")
            .arg(&reports)
            .output()
    };
    let took = started.elapsed();
    match out {
        Ok(o) if o.status.success() => Ok(took),
        Ok(o) => Err(format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(e.to_string()),
    }
}

/// Updates one random order per transaction until `stop`.
async fn writer(socket: String, rows: i64, seed: i64, stop: Arc<AtomicBool>, out: Arc<Mutex<Vec<Txn>>>) {
    let conf = format!("host={socket} user=postgres dbname=shop application_name=bench_writer");
    let Ok((client, conn)) = tokio_postgres::connect(&conf, tokio_postgres::NoTls).await else {
        eprintln!("a writer cannot connect to {socket}");
        return;
    };
    tokio::spawn(conn);
    let Ok(update) = client.prepare("UPDATE shop.orders SET amount = amount + 1 WHERE id = $1").await else {
        return;
    };
    let mut mine = Vec::new();
    let mut x = (seed as u64 + 1).wrapping_mul(6364136223846793005);
    while !stop.load(Ordering::Relaxed) {
        // A small LCG: any spread of ids will do, and the bench needs no RNG crate.
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = 1 + ((x >> 33) as i64) % rows;
        let start = Instant::now();
        let failed = client.execute(&update, &[&id]).await.is_err();
        mine.push(Txn { start, took: start.elapsed(), failed });
    }
    if let Ok(mut all) = out.lock() {
        all.extend(mine);
    }
}
