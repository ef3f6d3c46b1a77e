//! The writer workload `make bench` runs beside a change (bench_online)
//! or a backfill (bench_backfill): several clients, each sending short
//! transactions updating one random row of `shop.orders` at a fixed rate
//! (`WRITER_RATE` transactions a second in all, 1,000 unless set), every
//! transaction's start and latency kept; and the copies of the `shop`
//! template cluster each scenario runs on (scripts/scratch-pg.sh).
//!
//! The rate is fixed, as production traffic arrives whether or not the
//! database keeps up (pgbench's `-R`): a latency is measured from when the
//! transaction was due, not when a delayed client got round to sending it,
//! so a stall counts for every transaction that queued behind it. Writers
//! that send as fast as they can would measure the machine's spare CPU
//! instead: on a small machine they take every core, and anything else
//! running (a backfill, psql) shows up as their slowdown.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writer clients.
pub const CLIENTS: usize = 4;
/// Writer transactions a second, all clients together, unless `WRITER_RATE` says.
pub const RATE: u64 = 1_000;

/// The writers' rate: `WRITER_RATE` or [`RATE`].
pub fn rate() -> u64 {
    std::env::var("WRITER_RATE").ok().and_then(|v| v.parse().ok()).filter(|r| *r > 0).unwrap_or(RATE)
}
/// Writers run this long before the change starts and after it ends.
pub const MARGIN: Duration = Duration::from_secs(2);

/// One writer transaction: when it was due, how long it took from then, whether it failed.
#[derive(Clone, Copy)]
pub struct Txn {
    pub start: Instant,
    pub took: Duration,
    pub failed: bool,
}

/// The writers' transactions during one change, from its start to its end.
pub struct Window {
    pub txns: Vec<Txn>,
    pub from: Instant,
    pub to: Instant,
}

impl Window {
    /// The transactions that overlap the change.
    pub fn within(&self) -> Vec<&Txn> {
        self.txns.iter().filter(|t| t.start <= self.to && t.start + t.took >= self.from).collect()
    }

    pub fn seconds(&self) -> f64 {
        (self.to - self.from).as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0.5, 0.99) of the latency of the transactions within.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut v: Vec<Duration> = self.within().iter().map(|t| t.took).collect();
        if v.is_empty() {
            return Duration::ZERO;
        }
        v.sort();
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }

    pub fn max(&self) -> Duration {
        self.within().iter().map(|t| t.took).max().unwrap_or_default()
    }

    pub fn errors(&self) -> usize {
        self.within().iter().filter(|t| t.failed).count()
    }
}

/// A running copy of the template cluster, stopped and removed on drop.
pub struct Copy {
    pub dir: PathBuf,
    script: PathBuf,
}

impl Copy {
    /// A fresh copy of `template`, started, beside it as `copy-<name>`.
    pub fn of(root: &Path, template: &Path, name: &str) -> Copy {
        let dir = template.with_file_name(format!("copy-{name}"));
        let script = root.join("scripts/scratch-pg.sh");
        let ok = Command::new("bash").arg(&script).arg("clone").arg(template).arg(&dir).output();
        assert!(ok.is_ok_and(|o| o.status.success()), "cannot copy the template cluster");
        Copy { dir, script }
    }

    /// Its socket directory.
    pub fn socket(&self) -> String {
        self.dir.display().to_string()
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").arg(&self.dir).output();
    }
}

/// Runs the writers on `socket` for `MARGIN`, then `change` (timed by the
/// window), then `MARGIN` more; returns what `change` gave and the window.
pub fn around<T>(rt: &tokio::runtime::Runtime, socket: &str, rows: i64, change: impl FnOnce() -> T) -> (T, Window) {
    let stop = Arc::new(AtomicBool::new(false));
    let txns = Arc::new(Mutex::new(Vec::new()));
    let every = Duration::from_secs_f64(CLIENTS as f64 / rate() as f64);
    let writers: Vec<_> = (0..CLIENTS)
        .map(|i| rt.spawn(writer(socket.to_string(), rows, i as i64, every, stop.clone(), txns.clone())))
        .collect();
    std::thread::sleep(MARGIN);
    let from = Instant::now();
    let out = change();
    let to = Instant::now();
    std::thread::sleep(MARGIN);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = rt.block_on(w);
    }
    let txns = txns.lock().map(|t| t.clone()).unwrap_or_default();
    (out, Window { txns, from, to })
}

/// Updates one random order per transaction, one due `every`, until `stop`.
async fn writer(
    socket: String,
    rows: i64,
    seed: i64,
    every: Duration,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Vec<Txn>>>,
) {
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
    // The clients' schedules are spread over one interval.
    let mut due = Instant::now() + every.mul_f64(seed as f64 / CLIENTS as f64);
    while !stop.load(Ordering::Relaxed) {
        // A small LCG: any spread of ids will do, and the bench needs no RNG crate.
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = 1 + ((x >> 33) as i64) % rows;
        tokio::time::sleep_until(due.into()).await;
        let failed = client.execute(&update, &[&id]).await.is_err();
        mine.push(Txn { start: due, took: due.elapsed(), failed });
        due += every;
    }
    if let Ok(mut all) = out.lock() {
        all.extend(mine);
    }
}

/// Milliseconds, one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
