//! What a plugin makes the host write, bounded per call: its log lines
//! (the `log` import and its stdout/stderr, one budget of `log_lines` and
//! `log_bytes`) and the metrics it returns (`metrics`, `metric_text`).
//!
//! Unbounded, a plugin logging 1 MiB lines in a loop wrote 1.1 GB to stderr
//! and as much to `rollout.log` in 5 s, and one returning 300,000 metrics
//! took the host past 500 MB and wrote a 47 MB `report.json`. Here every
//! log message and every stdout/stderr write is counted *before* anything
//! of it is written: one that would pass a cap is refused whole and the
//! plugin stopped, naming the cap, like every other limit ([`Stop::Limit`]).
//!
//! Bytes are counted as the plugin sent them. The reporter then shows each
//! byte as at most 4 (`\x1b`) and cuts each line at [`text::LINE_BYTES`],
//! so one call writes at most about `min(4 × log_bytes, log_lines × 4 KiB)`
//! of text plus a tag (~60 bytes) a line to stderr, and the same with a
//! timestamp to `rollout.log`.
//!
//! stdout and stderr are one stream: each line goes to the log as it ends,
//! in order with the `log` lines; a blank line counts but is not shown.
//! What has not ended by the end of the call is shown then.

use super::LogSink;
use crate::bindings::types::{Level, Metric};
use crate::manifest::Limits;
use crate::sql::Stop;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The most a plugin may write to stdout at once (WASI `check-write`):
/// also the most one write makes the host copy.
const WRITE_PERMIT: usize = 64 * 1024;

/// One call's log budget, shared by the `log` import and stdout/stderr
/// (a clone is the same budget).
#[derive(Clone)]
pub(super) struct Output(Arc<Mutex<Budget>>);

struct Budget {
    plugin: String,
    sink: Arc<dyn LogSink>,
    max_lines: u64,
    max_bytes: u64,
    lines: u64,
    bytes: u64,
    /// stdout/stderr bytes since the last line break, counted already;
    /// never more than `max_bytes`.
    partial: Vec<u8>,
    /// The cap that stopped the plugin: nothing more is written.
    hit: Option<Stop>,
}

impl Budget {
    /// Takes `lines` and `bytes` from the budget, or refuses them all.
    fn take(&mut self, lines: u64, bytes: u64) -> Result<(), Stop> {
        if let Some(stop) = &self.hit {
            return Err(stop.clone());
        }
        let stop = if self.lines.saturating_add(lines) > self.max_lines {
            Stop::Limit { name: "log_lines", value: self.max_lines }
        } else if self.bytes.saturating_add(bytes) > self.max_bytes {
            Stop::Limit { name: "log_bytes", value: self.max_bytes }
        } else {
            self.lines += lines;
            self.bytes += bytes;
            return Ok(());
        };
        self.hit = Some(stop.clone());
        Err(stop)
    }

    /// One stdout/stderr line, counted already; a blank one is not shown.
    fn show(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        if !line.trim().is_empty() {
            self.sink.plugin_log(&self.plugin, Level::Info, &line);
        }
    }
}

/// How many lines the reporter shows for a message: one per line break,
/// and one more for text after the last (as [`crate::text::terminal_lines`]
/// splits it).
fn lines_of(message: &[u8]) -> u64 {
    count_breaks(message) + u64::from(!message.is_empty() && !message.ends_with(b"\n"))
}

fn count_breaks(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Output {
    /// A fresh budget for one call of `plugin`, writing to `sink`.
    pub(super) fn new(plugin: &str, sink: Arc<dyn LogSink>, limits: &Limits) -> Output {
        Output(Arc::new(Mutex::new(Budget {
            plugin: plugin.to_string(),
            sink,
            max_lines: limits.log_lines,
            max_bytes: limits.log_bytes,
            lines: 0,
            bytes: 0,
            partial: Vec::new(),
            hit: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Budget> {
        // Nothing panics while holding it; a poisoned budget is still whole.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A `log` call: counted, then written; refused whole over a cap.
    pub(super) fn log(&self, level: Level, message: &str) -> Result<(), Stop> {
        let mut budget = self.lock();
        budget.take(lines_of(message.as_bytes()), message.len() as u64)?;
        budget.sink.plugin_log(&budget.plugin, level, message);
        Ok(())
    }

    /// Bytes written to stdout or stderr: counted (a line counts when its
    /// first byte comes), then every line they end is shown.
    fn write(&self, bytes: &[u8]) -> Result<(), Stop> {
        let mut budget = self.lock();
        let Some((_, before_last)) = bytes.split_last() else { return Ok(()) };
        // A line starts at the first byte after a break (or after the last line ended).
        let starts = u64::from(budget.partial.is_empty()) + count_breaks(before_last);
        budget.take(starts, bytes.len() as u64)?;
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            budget.partial.extend_from_slice(&rest[..at]);
            let line = std::mem::take(&mut budget.partial);
            budget.show(&line);
            rest = &rest[at + 1..];
        }
        budget.partial.extend_from_slice(rest);
        Ok(())
    }

    /// The end of the call: shows a last stdout line that did not end.
    pub(super) fn finish(&self) {
        let mut budget = self.lock();
        let line = std::mem::take(&mut budget.partial);
        if budget.hit.is_none() && !line.is_empty() {
            budget.show(&line);
        }
    }

    /// The cap that stopped the plugin, if one did.
    pub(super) fn hit(&self) -> Option<Stop> {
        self.lock().hit.clone()
    }
}

/// A returned table within the caps: at most `metrics` rows and
/// `metric_text` bytes of names, expected and actual values together.
///
/// wasmtime has lifted the list into host memory by now: its typed calls
/// copy a returned value before the host sees it, and calls the plugin's
/// post-return (which frees the list in the plugin) before returning, so
/// a lazy `WasmList` cannot be read afterwards. That copy is bounded by
/// the plugin's memory (`memory_mib`: the list and its strings are in it)
/// and, since strings could alias one buffer, by wasmtime's per-call
/// hostcall fuel, which the sandbox sets to the same `memory_mib` (never
/// above wasmtime's 128 MiB default): a bigger lift stops the plugin
/// naming `memory_mib` before anything is copied.
pub(super) fn metrics_within(metrics: &[Metric], limits: &Limits) -> Result<(), Stop> {
    if metrics.len() as u64 > limits.metrics {
        return Err(Stop::Limit { name: "metrics", value: limits.metrics });
    }
    let text: u64 = metrics.iter().map(|m| (m.name.len() + m.expected.len() + m.actual.len()) as u64).sum();
    if text > limits.metric_text {
        return Err(Stop::Limit { name: "metric_text", value: limits.metric_text });
    }
    Ok(())
}

// The WASI side: stdout and stderr are this budget.

impl IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Output {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Output {
    async fn ready(&mut self) {}
}

impl OutputStream for Output {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // A trap: the plugin is stopped at the write that passed the cap.
        Output::write(self, &bytes).map_err(|stop| StreamError::Trap(stop.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for Output {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let buf = &buf[..buf.len().min(WRITE_PERMIT)];
        Poll::Ready(Output::write(&self, buf).map(|()| buf.len()).map_err(std::io::Error::other))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what would reach the terminal and `rollout.log`.
    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl LogSink for Seen {
        fn plugin_log(&self, _: &str, _: Level, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    fn output(lines: u64, bytes: u64) -> (Output, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let limits = Limits { log_lines: lines, log_bytes: bytes, ..Limits::default() };
        (Output::new("p", seen.clone(), &limits), seen)
    }

    fn seen(s: &Seen) -> Vec<String> {
        s.0.lock().unwrap().clone()
    }

    #[test]
    fn a_message_counts_the_lines_the_reporter_shows() {
        for m in ["", "a", "a\n", "\n", "a\nb", "one\r\n\n     Applied\nPASS\rx", "a\n\n\n"] {
            assert_eq!(lines_of(m.as_bytes()), crate::text::terminal_lines(m).len() as u64, "{m:?}");
        }
    }

    #[test]
    fn a_message_over_a_cap_is_refused_whole_and_nothing_more_is_written() {
        let (out, sink) = output(3, 10);
        out.log(Level::Info, "12345").unwrap();
        // 5 + 6 bytes > 10: refused, not cut.
        assert_eq!(out.log(Level::Info, "abcdef"), Err(Stop::Limit { name: "log_bytes", value: 10 }));
        assert_eq!(seen(&sink), ["12345"]);
        // Once stopped, even what would fit is refused.
        assert!(out.log(Level::Info, "a").is_err());
        assert_eq!(out.hit(), Some(Stop::Limit { name: "log_bytes", value: 10 }));
        let (out, sink) = output(3, 100);
        out.log(Level::Info, "a\nb").unwrap();
        assert_eq!(out.log(Level::Info, "c\nd"), Err(Stop::Limit { name: "log_lines", value: 3 }));
        assert_eq!(seen(&sink), ["a\nb"]);
    }

    #[test]
    fn stdout_lines_share_the_budget_and_show_as_they_end() {
        // Lines: logged, one, two, the blank one, three = 5.
        let (out, sink) = output(5, 100);
        out.log(Level::Info, "logged").unwrap();
        out.write(b"one\r\ntw").unwrap();
        assert_eq!(seen(&sink), ["logged", "one"]);
        // "o" continues the open line: no new line is counted for it.
        out.write(b"o\n   \nthree").unwrap();
        assert_eq!(seen(&sink), ["logged", "one", "two"]);
        // The open line is shown at the end of the call.
        out.finish();
        assert_eq!(seen(&sink), ["logged", "one", "two", "three"]);
        // One line fewer allowed: the second write is refused whole.
        let (out, sink) = output(4, 100);
        out.log(Level::Info, "logged").unwrap();
        out.write(b"one\r\ntw").unwrap();
        assert_eq!(out.write(b"o\n   \nthree"), Err(Stop::Limit { name: "log_lines", value: 4 }));
        assert_eq!(seen(&sink), ["logged", "one"], "nothing of a refused write is shown");
        out.finish();
        assert_eq!(seen(&sink), ["logged", "one"], "nor the open line of a stopped plugin");
        // Bytes: 4 + 6 > 8.
        let (out, sink) = output(10, 8);
        out.write(b"1234").unwrap();
        assert_eq!(out.write(b"56789\n"), Err(Stop::Limit { name: "log_bytes", value: 8 }));
        assert_eq!(out.hit(), Some(Stop::Limit { name: "log_bytes", value: 8 }));
        assert!(seen(&sink).is_empty());
    }

    #[test]
    fn returned_metrics_are_counted_and_measured() {
        let m = |name: &str, actual: &str| Metric {
            name: name.into(),
            expected: "1".into(),
            actual: actual.into(),
            passed: true,
            info: false,
        };
        let limits = Limits { metrics: 2, metric_text: 10, ..Limits::default() };
        assert_eq!(metrics_within(&[m("a", "1"), m("b", "1")], &limits), Ok(()));
        assert_eq!(
            metrics_within(&[m("a", "1"), m("b", "1"), m("c", "1")], &limits),
            Err(Stop::Limit { name: "metrics", value: 2 })
        );
        // 3 + 1 + 7 = 11 bytes of text > 10.
        assert_eq!(
            metrics_within(&[m("abc", "1234567")], &limits),
            Err(Stop::Limit { name: "metric_text", value: 10 })
        );
    }
}
