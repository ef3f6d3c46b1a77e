//! Output is bounded: a plugin that floods the log, stdout or its metrics
//! is stopped at a cap it names, one whose error text is huge has it cut,
//! its tier is rolled back (exit 4), and what the host wrote and the
//! memory it took stay small. Each run
//! is the real release binary against a scratch cluster, its peak RSS read
//! from the kernel when it exits (`wait4`'s `ru_maxrss`), its stderr
//! counted byte by byte. The figures are printed (`-- --nocapture`).

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use support::*;

/// Bounds with margin over what was measured (see each test's output).
const MAX_OUTPUT: u64 = 4 << 20;
const MAX_RSS_KIB: u64 = 300 << 10;
const MAX_REPORT: u64 = 1 << 20;
const MAX_LEDGER_MESSAGE: i64 = 64 << 10;

/// gate, the misbehaving tier 4, verify: nothing else runs, nothing else
/// can be blamed, and nothing is left committed between runs.
fn plan() -> Vec<String> {
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push("tests/plugins/misbehave.wasm".into());
    plan
}

/// One stream of the child: every byte counted, the first 4 MiB and the
/// last 64 KiB kept for the assertions (a flood is never held whole).
#[derive(Default)]
struct Stream {
    bytes: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Stream {
    fn read(mut from: impl Read) -> Stream {
        let mut s = Stream::default();
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.bytes += n as u64;
            let room = (4usize << 20).saturating_sub(s.head.len());
            s.head.extend_from_slice(&buf[..n.min(room)]);
            s.tail.extend_from_slice(&buf[..n]);
            if s.tail.len() > 128 << 10 {
                s.tail.drain(..s.tail.len() - (64 << 10));
            }
        }
        s
    }

    fn text(&self) -> String {
        let mut t = String::from_utf8_lossy(&self.head).into_owned();
        if self.bytes > self.head.len() as u64 {
            t.push_str("\n[…]\n");
            t.push_str(&String::from_utf8_lossy(&self.tail));
        }
        t
    }
}

/// What one `host run` did.
struct Measured {
    code: i32,
    stderr: Stream,
    stdout: Stream,
    peak_rss_kib: u64,
    rollout_log: u64,
    report_json: u64,
    secs: f64,
}

/// Runs `host` to its end; the kernel's peak RSS of the child comes with
/// its exit status (`wait4`), so no sample can miss the peak.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak RSS")]
#[allow(unsafe_code, reason = "wait4, which std does not offer, gives the child's peak RSS")]
fn measured(c: &Cluster, mode: &str) -> Measured {
    let plan = plan();
    let param = format!("mode={mode}");
    let before = c.reports().len();
    let started = std::time::Instant::now();
    let mut cmd: Command = c.host_cmd(&args("run", &plan, &["--param", APR, "--param", &param]));
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn host");
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || Stream::read(out));
    let err = std::thread::spawn(move || Stream::read(err));
    // SAFETY: rusage is plain integers and timevals, for which all-zero is a valid value.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, with valid pointers; `child` is not waited on again.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let secs = started.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let reports = c.reports();
    assert_eq!(reports.len(), before + 1, "one new report directory");
    let size = |name: &str| std::fs::metadata(reports[before].join(name)).map(|m| m.len()).unwrap_or(0);
    let m = Measured {
        code,
        stderr: err.join().unwrap(),
        stdout: out.join().unwrap(),
        peak_rss_kib: usage.ru_maxrss as u64,
        rollout_log: size("rollout.log"),
        report_json: size("report.json"),
        secs,
    };
    eprintln!(
        "bounds: mode={mode}: exit {} in {:.2} s, peak RSS {} KiB, stderr {} B, stdout {} B, rollout.log {} B, report.json {} B",
        m.code,
        m.secs,
        m.peak_rss_kib,
        m.stderr.bytes,
        m.stdout.bytes,
        m.rollout_log,
        m.report_json
    );
    m
}

/// Every bound of one run, checked together so that one broken cap shows
/// every assertion that catches it.
fn check(c: &Cluster, mode: &str, says: &str) -> Measured {
    let m = measured(c, mode);
    let stderr = m.stderr.text();
    let mut wrong: Vec<String> = Vec::new();
    let mut want = |what: String, ok: bool| {
        if !ok {
            wrong.push(what)
        }
    };
    want(format!("peak RSS {} KiB < {} KiB", m.peak_rss_kib, MAX_RSS_KIB), m.peak_rss_kib < MAX_RSS_KIB);
    want(format!("stderr {} B < {MAX_OUTPUT} B", m.stderr.bytes), m.stderr.bytes < MAX_OUTPUT);
    want(format!("stdout {} B < {MAX_OUTPUT} B", m.stdout.bytes), m.stdout.bytes < MAX_OUTPUT);
    want(format!("rollout.log {} B < {MAX_OUTPUT} B", m.rollout_log), m.rollout_log < MAX_OUTPUT);
    want(format!("report.json {} B < {MAX_REPORT} B", m.report_json), m.report_json < MAX_REPORT);
    want(format!("exit code {} = 4", m.code), m.code == 4);
    want(format!("stderr names the cap: {says:?}"), stderr.contains(says));
    want("the wall time did not stop it".into(), !stderr.contains("wall_time_ms"));
    let states = c.tier_states();
    want(format!("tier 4 failed ({states})"), states.split(' ').next_back() == Some("test-misbehave=failed"));
    let longest = c.scalar("SELECT coalesce(max(length(message)), 0) FROM rollout_ledger.tier_event");
    want(format!("ledger message {longest} B < {MAX_LEDGER_MESSAGE} B"), longest < MAX_LEDGER_MESSAGE);
    assert!(wrong.is_empty(), "{mode}: wrong:\n  {}\nstderr:\n{}", wrong.join("\n  "), tail(&stderr));
    m
}

/// The end of the output, for a failure message.
fn tail(s: &str) -> &str {
    let mut at = s.len().saturating_sub(3000);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

/// Lines the plugin got onto the operator's terminal.
fn plugin_lines(m: &Measured) -> usize {
    m.stderr.text().lines().filter(|l| l.contains("[test-misbehave] info:")).count()
}

/// A scratch cluster where the gate says READY.
fn cluster(name: &str) -> Cluster {
    let c = Cluster::start(name);
    c.ratify();
    c
}

#[test]
fn one_mib_log_lines_in_a_loop_stop_at_log_bytes_and_none_is_written() {
    let c = cluster("bounds-log-flood");
    let m = check(
        &c,
        "log_flood",
        "tier 4 (test-misbehave) apply failed: stopped by the host: limit log_bytes=1048576 reached",
    );
    // After the plugin's progress line the first 1 MiB line would pass
    // log_bytes: it is refused whole, not written cut.
    assert_eq!(plugin_lines(&m), 1, "only the progress line:\n{}", m.stderr.text());
}

#[test]
fn short_log_lines_in_a_loop_stop_after_exactly_log_lines() {
    let c = cluster("bounds-log-lines");
    let m = check(&c, "log_lines", "apply failed: stopped by the host: limit log_lines=10000 reached");
    assert_eq!(plugin_lines(&m), 10_000, "the progress line and 9,999 more");
}

#[test]
fn stdout_in_a_loop_shares_the_log_budget_line_by_line() {
    let c = cluster("bounds-print");
    let m = check(&c, "print_flood", "apply failed: stopped by the host: limit log_bytes=1048576 reached");
    let printed = m.stderr.text().lines().filter(|l| l.ends_with(&"p".repeat(1000))).count();
    let progress = "placed 70 responsibilities, now misbehaving: print_flood".len();
    assert_eq!(printed, ((1 << 20) - progress) / 1001, "as many 1001-byte writes as fit after the progress line");
}

#[test]
fn three_hundred_thousand_metrics_fail_at_the_metrics_cap_in_bounded_memory() {
    let c = cluster("bounds-metrics");
    check(
        &c,
        "metric_flood",
        "tier 4 (test-misbehave) post-conditions failed: stopped by the host: limit metrics=1000 reached",
    );
}

#[test]
fn a_result_whose_copy_would_pass_the_plugin_memory_is_refused_before_it_is_copied() {
    let c = cluster("bounds-metric-lift");
    // 900,000 empty metrics: 61 MB in the plugin, 72 MB once lifted.
    check(&c, "metric_lift", "post-conditions failed: stopped by the host: limit memory_mib=64 reached");
}

#[test]
fn long_metric_text_fails_at_the_metric_text_cap() {
    let c = cluster("bounds-metric-text");
    check(&c, "metric_text", "post-conditions failed: stopped by the host: limit metric_text=65536 reached");
}

#[test]
fn an_8_mib_error_string_is_kept_but_cut() {
    let c = cluster("bounds-error");
    check(&c, "error_flood", "apply failed: eeee");
    let ledger = c.psql("SELECT message FROM rollout_ledger.tier_event ORDER BY id DESC LIMIT 1");
    assert!(ledger.ends_with(&format!("… [{} more bytes]", (8 << 20) - (16 << 10))), "{}", tail(&ledger));
}

#[test]
fn an_sql_error_echoing_an_8_mib_value_is_kept_but_cut() {
    let c = cluster("bounds-sql-error");
    // The server echoes the value the plugin bound in its 22P02 error; the
    // plugin swallows the error, which still fails the tier.
    check(&c, "sql_error_flood", "SQL error 22P02 in `SELECT $1::int`");
}
