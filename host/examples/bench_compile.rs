//! `make bench`'s compile figure: the One-Roof plugins (`tiers/*.wasm`)
//! compiled cold (a new engine, no compile cache) with Cranelift and with
//! Winch, runs of the two interleaved so a busy machine slows both alike;
//! median [min–max] of `BENCH_RUNS` (default 5) of the process's CPU time
//! (`getrusage`: every compiler thread counted) and of wall time, and the
//! ratio. The engine is configured as the host's (`sandbox::Sandbox::new`:
//! epoch interruption on), the strategy the only difference.
//!
//! `target/release/examples/bench_compile` from the repository root (or
//! `make bench`, which runs it first).

use std::path::PathBuf;
use std::time::Instant;
use wasmtime::{component::Component, Config, Engine, Strategy};

/// CPU seconds (user + system) this process has used, all threads.
#[allow(unsafe_code, reason = "getrusage, which std does not offer, gives the process's CPU time")]
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers and timevals, for which all-zero is valid.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    // SAFETY: a valid pointer to a rusage we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// (CPU seconds, wall seconds) to compile every plugin with `strategy`.
fn compile_all(strategy: Strategy, plugins: &[(String, Vec<u8>)]) -> (f64, f64) {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.strategy(strategy);
    let engine = Engine::new(&config).expect("engine");
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    for (name, bytes) in plugins {
        let component = Component::from_binary(&engine, bytes).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        drop(component);
    }
    (cpu_seconds() - cpu, wall.elapsed().as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `median [min–max]` in ms.
fn show(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{:.0} ms [{:.0}–{:.0} ms]", median(v) * 1e3, min * 1e3, max * 1e3)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let runs = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let mut plugins: Vec<(String, Vec<u8>)> = std::fs::read_dir(root.join("tiers"))
        .expect("tiers/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&p).expect("read")))
        .collect();
    plugins.sort();
    assert!(!plugins.is_empty(), "no tiers/*.wasm: run `make tiers` first");
    let mb = plugins.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / (1 << 20) as f64;
    let compilers = [("Cranelift", Strategy::Cranelift), ("Winch", Strategy::Winch)];
    let mut cpu = [Vec::new(), Vec::new()];
    let mut wall = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (i, (_, strategy)) in compilers.iter().enumerate() {
            let (c, w) = compile_all(*strategy, &plugins);
            cpu[i].push(c);
            wall[i].push(w);
        }
    }
    println!(
        "\nCompiling the {} One-Roof plugins ({mb:.1} MiB, tiers/*.wasm), cold, {runs} runs each, median [min–max] \
         (host/examples/bench_compile.rs):\n",
        plugins.len()
    );
    println!("| compiler | CPU | wall |");
    println!("| --- | --- | --- |");
    for (i, (name, _)) in compilers.iter().enumerate() {
        println!("| {name} | {} | {} |", show(&cpu[i]), show(&wall[i]));
    }
    println!(
        "| Winch / Cranelift | {:.2}× | {:.2}× |",
        median(&cpu[1]) / median(&cpu[0]),
        median(&wall[1]) / median(&wall[0])
    );
}
