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

mod bench_writers;

use bench_writers::{around, ms, rate, Copy, Window, CLIENTS};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Scenario {
    name: &'static str,
    /// What the change printed when it failed, or how long it took.
    change: Result<Duration, String>,
    window: Window,
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
    println!(
        "\nWriter latency during the change ({CLIENTS} writers, {} transactions/s in all, timed from when each was due; {rows} orders; examples/online)",
        rate()
    );
    println!(
        "{:<6} {:>10} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9}",
        "change", "took", "txns", "txns/s", "errors", "p50", "p99", "max"
    );
    for s in [&none, &naive, &host] {
        show(s);
    }
    let max = |s: &Scenario| s.window.max().as_secs_f64();
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
    let w = &s.window;
    let took = match &s.change {
        Ok(d) => format!("{:.2} s", d.as_secs_f64()),
        Err(e) => {
            eprintln!("{}: the change failed: {e}", s.name);
            "FAILED".into()
        }
    };
    println!(
        "{:<6} {:>10} {:>8} {:>9.0} {:>7} {:>9} {:>9} {:>9}",
        s.name,
        took,
        w.within().len(),
        w.within().len() as f64 / w.seconds(),
        w.errors(),
        ms(w.percentile(0.5)),
        ms(w.percentile(0.99)),
        ms(w.max())
    );
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
    let copy = Copy::of(root, template, name);
    let socket = copy.socket();
    let (change, window) = around(rt, &socket, rows, || match idle {
        Some(d) => {
            std::thread::sleep(d);
            Ok(d)
        }
        None => change(root, &socket, name),
    });
    Scenario { name, change, window }
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
