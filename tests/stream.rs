//! Large results and bulk loads (contract 0.3.1): a tier streams a million
//! rows within `memory_mib = 64`, where one whole result is stopped by it;
//! `rows_returned` stops a stream part-way; `copy-in` loads rows under an
//! `insert` grant and is refused without one. Each run is the real release
//! host, the One-Roof plan and the fixture tests/plugins/stream as tier 7,
//! on a scratch cluster; the host's peak RSS is read from the kernel when it
//! exits (`wait4`) and printed (`-- --nocapture`).

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use support::*;

const MILLION: i64 = 1_000_000;

/// A cluster where the gate says READY, with `public.big` holding `rows`
/// rows of (id, 64-character label) and an empty `public.loaded`.
fn cluster(name: &str, rows: i64) -> Cluster {
    let c = Cluster::start(name);
    c.ratify();
    c.psql(&format!(
        "CREATE TABLE public.big AS SELECT g::int8 AS id, repeat(md5(g::text), 2) AS label \
         FROM generate_series(1, {rows}) g; \
         CREATE TABLE public.loaded (id int8 PRIMARY KEY, label text NOT NULL); \
         CREATE TABLE public.other (id int8, label text)"
    ));
    c
}

/// One `host run` of the One-Roof plan plus `plugin` (tier 7): its exit
/// code, its output, and its peak RSS in KiB.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak RSS")]
#[allow(unsafe_code, reason = "wait4, which std does not offer, gives the child's peak RSS")]
fn run(c: &Cluster, plugin: &str, mode: &str, rows: i64) -> (i32, String, u64) {
    let plan = plan_with(None, &[plugin]);
    let (mode, rows) = (format!("mode={mode}"), format!("rows={rows}"));
    let mut cmd: Command = c.host_cmd(&args("run", &plan, &["--param", APR, "--param", &mode, "--param", &rows]));
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn host");
    let read = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = from.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    // SAFETY: rusage is plain integers and timevals, for which all-zero is a valid value.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, with valid pointers; `child` is not waited on again.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let text = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    eprintln!("stream: {mode} {rows}: exit {code}, peak host RSS {} KiB", usage.ru_maxrss);
    (code, text, usage.ru_maxrss as u64)
}

const FIXTURE: &str = "tests/plugins/stream.wasm";

#[test]
fn a_tier_streams_a_million_rows_within_64_mib_where_one_whole_result_is_stopped() {
    let c = cluster("stream-whole", MILLION);
    let (code, out, _) = run(&c, FIXTURE, "whole", MILLION);
    assert_eq!(code, 4, "one result of a million rows must not fit in 64 MiB:\n{out}");
    assert!(out.contains("limit memory_mib=64 reached"), "stopped by its memory limit:\n{out}");
    drop(c);
    let c = cluster("stream-million", MILLION);
    let sum = MILLION * (MILLION + 1) / 2;
    let (code, out, rss) = run(&c, FIXTURE, "read", MILLION);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("streamed {MILLION} rows, ids summing to {sum}")), "{out}");
    assert!(c.tier_states().contains("test-stream=applied"), "{}", c.tier_states());
    // The host never holds the result: its whole process, the One-Roof plan
    // included, stays under 64 MiB (the rows' labels alone are 64 MB).
    assert!(rss < 64 << 10, "peak host RSS {rss} KiB");
}

/// The fixture with one line of its manifest replaced, written under `dir`.
fn fixture_with(dir: &std::path::Path, line: &str, instead: &str) -> String {
    let wasm = std::fs::read(root().join(FIXTURE)).unwrap();
    let manifest = manifest_of(&wasm);
    assert!(manifest.contains(line), "{line} is in the fixture's manifest");
    let fixture = dir.join("stream.wasm");
    std::fs::write(&fixture, with_manifest(&wasm, &manifest.replace(line, instead))).unwrap();
    fixture.display().to_string()
}

#[test]
fn rows_returned_stops_a_stream_part_way() {
    let c = cluster("stream-budget", MILLION);
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_with(dir.path(), "rows_returned = 2000000", "rows_returned = 150000");
    let (code, out, _) = run(&c, &fixture, "read", MILLION);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("apply failed: stopped by the host: limit rows_returned=150000 reached"), "{out}");
    assert!(!out.contains("streamed"), "the stream did not reach its end:\n{out}");
}

#[test]
fn the_deadline_stops_a_stream_and_a_load_part_way() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_with(dir.path(), "wall_time_ms = 60000", "wall_time_ms = 300");
    for (mode, rows) in [("read", MILLION), ("make", 2 * MILLION)] {
        let c = cluster(&format!("stream-deadline-{mode}"), MILLION);
        let (code, out, _) = run(&c, &fixture, mode, rows);
        assert_eq!(code, 4, "{mode}:\n{out}");
        assert!(out.contains("apply failed: stopped by the host: limit wall_time_ms=300 reached"), "{mode}:\n{out}");
        assert_eq!(c.scalar("SELECT count(*) FROM public.loaded"), 0, "{mode}: nothing of it was kept");
    }
}

#[test]
fn copy_in_loads_under_the_insert_grant_and_reads_interleave_with_it() {
    let c = cluster("stream-load", 200_000);
    let (code, out, _) = run(&c, FIXTURE, "load", 100_000);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("loaded 100000 rows"), "{out}");
    assert_eq!(c.scalar("SELECT count(*) FROM public.loaded"), 100_000);
    let same = "SELECT count(*) FROM public.loaded l JOIN public.big b USING (id) WHERE l.label = b.label";
    assert_eq!(c.scalar(same), 100_000, "every row loaded as read");
    let changed = c.scalar(
        "SELECT rows_changed FROM rollout_ledger.tier_event WHERE plugin = 'test-stream' AND event = 'applied'",
    );
    assert_eq!(changed, 100_000, "the loaded rows count as rows changed");
}

#[test]
fn copy_in_is_refused_without_the_insert_grant_and_for_a_column_it_lacks() {
    for (mode, says) in [
        ("copy_denied", "refused by the host: insert on public.big is not granted; to allow it, add to plugin.toml under [grants]: insert = [\"public.big\"]"),
        ("copy_outside", "refused by the host: insert on public.other is not granted"),
        ("copy_bad_column", "SQL error 42703: column \"nope\" of relation \"loaded\" does not exist"),
    ] {
        let c = cluster(&format!("stream-{mode}"), 10);
        let (code, out, _) = run(&c, FIXTURE, mode, 1);
        assert_eq!(code, 4, "{mode}:\n{out}");
        assert!(out.contains(says), "{mode}: expected {says:?}:\n{out}");
        assert_eq!(c.scalar("SELECT count(*) FROM public.big"), 10, "{mode}: nothing was loaded");
        assert_eq!(c.scalar("SELECT count(*) FROM public.other"), 0, "{mode}: nothing was loaded");
    }
}

#[test]
fn a_plugin_built_for_contract_0_3_0_still_loads_and_runs() {
    let fixture = "tests/plugins/contract-0-3-0.wasm";
    let c = Cluster::start("stream-contract");
    let inspect = c.host(&["inspect", fixture]);
    inspect.expect_code(0).expect("rollout:plugin/sql@0.3.0");
    assert!(!inspect.all().contains("@0.3.1"), "the fixture imports 0.3.0 only:\n{}", inspect.all());
    c.ratify();
    let plan = plan_with(None, &[fixture]);
    c.host(&args("run", &plan, &["--param", APR])).expect_code(0);
    assert!(c.tier_states().contains("test-contract-0-3-0=applied"), "{}", c.tier_states());
}
