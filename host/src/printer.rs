//! The one printer of a host command: it alone writes to stdout and stderr.
//!
//! The rule: **stdout carries the verb's result, stderr tells the story.**
//! The story is everything said while the command works — status lines
//! (`   Connected …`), check tables, verdicts (`GATE READY`), plugin log
//! lines, warnings and errors — on stderr, in the order it happened, so a
//! redirect (`host run … > result.json`) never splits it. The result is what
//! a script reads: the text of a reading verb (`status`, `explain`,
//! `inspect`, `grants`), or with `--format json` one JSON document for every
//! verb that has a result (`gate`, `run` and `rollback` print their report's
//! typed summary; `rehearse` its report).
//!
//! Tables fit the width (the stream's terminal, else `COLUMNS`, else 100
//! columns): a long cell wraps inside its column. Colour only on a
//! terminal, never with `NO_COLOR`, and only on the host's own words (the
//! verb of a status line, `error:`), never on plugin text. `--quiet` drops
//! the status lines, tables and plugin log lines from the screen (the run's
//! `rollout.log` keeps them); verdicts, warnings, errors and the result stay.

use crate::text;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// How a verb prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for a person (tables, lines).
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
}

/// The output options every verb takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// How to print the verb's result on stdout: `human` text, or one `json`
    /// document (the report's summary for gate, run, rollback, rehearse).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print only verdicts, warnings, errors and the result: no status
    /// lines, tables or plugin logs on the screen (`rollout.log` keeps them).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// What a status line's verb says, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Work done or under way (green).
    Progress,
    /// Something the operator should read (yellow).
    Warning,
}

/// Columns when neither the terminal nor `COLUMNS` says.
pub const DEFAULT_WIDTH: u16 = 100;
/// No table is squeezed below this.
const MIN_WIDTH: u16 = 40;

/// The printer's settings, fixed once per process.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: Format,
    quiet: bool,
    /// `NO_COLOR` was not set (the stream must still be a terminal).
    colour_allowed: bool,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

/// Sets the printer from the command line; the first call wins.
pub fn init(options: &Options) {
    let colour_allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = PRINTER.set(Printer { format: options.format, quiet: options.quiet, colour_allowed });
}

/// The process's printer (human, not quiet, until [`init`]).
pub fn get() -> &'static Printer {
    PRINTER.get_or_init(|| Printer { format: Format::Human, quiet: false, colour_allowed: false })
}

impl Printer {
    /// The result is one JSON document.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// A status line of the story: `   Connected to …`, the verb
    /// right-aligned (made inert here: it may quote a plugin). Returns the
    /// line as `rollout.log` keeps it (no colour).
    pub fn status(&self, tone: Tone, verb: &str, message: &str) -> String {
        let message = text::terminal(message);
        let plain = format!("{verb:>12} {message}");
        let shown = match tone {
            _ if !self.colour(Stream::Err) || verb.is_empty() => plain.clone(),
            Tone::Progress => format!("\x1b[1;32m{verb:>12}\x1b[0m {message}"),
            Tone::Warning => format!("\x1b[1;33m{verb:>12}\x1b[0m {message}"),
        };
        if !self.quiet || tone == Tone::Warning {
            write(Stream::Err, &shown);
        }
        plain
    }

    /// A verdict line of the story (`GATE READY`, `ROLLOUT COMPLETE …`):
    /// kept under `--quiet`.
    pub fn verdict(&self, line: &str) -> String {
        let line = text::terminal(line);
        write(Stream::Err, &line);
        line
    }

    /// A line the story shows only when not quiet (a plugin's log line,
    /// already rendered inert by the caller).
    pub fn detail(&self, line: &str) {
        if !self.quiet {
            write(Stream::Err, line);
        }
    }

    /// An error on stderr, always, on one line: it may quote a plugin (its
    /// error string, a value it chose), so every newline in it is shown as
    /// `\n` and no line of it can pass for one of the host's.
    pub fn error(&self, message: &str) -> String {
        let line = text::terminal(message.trim_end());
        write(Stream::Err, &format!("{} {line}", self.error_tag()));
        format!("error: {line}")
    }

    /// An error whose lines are the host's or a parser's (a manifest's TOML
    /// error, before any plugin ran): `error: first line`, then each
    /// further line indented under it, each made inert.
    pub fn error_lines(&self, message: &str) -> String {
        let lines = text::terminal_lines(message.trim_end());
        let Some((first, rest)) = lines.split_first() else {
            return self.error("");
        };
        let mut plain = format!("error: {first}");
        for line in rest {
            plain.push_str(&format!("\n       {line}"));
        }
        let shown = plain.replacen("error:", self.error_tag(), 1);
        write(Stream::Err, &shown);
        plain
    }

    fn error_tag(&self) -> &'static str {
        if self.colour(Stream::Err) {
            "\x1b[1;31merror\x1b[0m:"
        } else {
            "error:"
        }
    }

    /// A table of the story, fitted to stderr's width; returns it as
    /// `rollout.log` keeps it (at the same width).
    pub fn table(&self, title: &str, table: Table, footer: &[String]) -> String {
        let text = render(title, Some(table), Stream::Err, footer);
        if !self.quiet {
            write(Stream::Err, &text);
        }
        text
    }

    /// The human result of a reading verb, on stdout (the verb prints
    /// its JSON instead when [`Printer::json`]).
    pub fn result(&self, text: &str) {
        write(Stream::Out, text.trim_end_matches('\n'));
    }

    /// A part of a human result on stdout: a title, a table fitted to
    /// stdout's width (if any), lines under it.
    pub fn result_table(&self, title: &str, table: Option<Table>, footer: &[String]) {
        self.result(&render(title, table, Stream::Out, footer));
    }

    /// The JSON result on stdout: one document, pretty-printed.
    pub fn result_json(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(json) => write(Stream::Out, &json),
            Err(e) => {
                self.error(&format!("the JSON result could not be written: {e}"));
            }
        }
    }

    fn colour(&self, stream: Stream) -> bool {
        self.colour_allowed && is_terminal(stream)
    }
}

fn is_terminal(stream: Stream) -> bool {
    match stream {
        Stream::Out => std::io::stdout().is_terminal(),
        Stream::Err => std::io::stderr().is_terminal(),
    }
}

/// A new table in the host's style, its columns arranged to fit.
pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    t
}

/// The width tables are fitted to on `stream`: its terminal's, else
/// `COLUMNS`, else [`DEFAULT_WIDTH`]; never below 40.
fn width(stream: Stream) -> u16 {
    let mut probe = Table::new();
    if stream == Stream::Err {
        probe.use_stderr();
    }
    let terminal = if is_terminal(stream) { probe.width() } else { None };
    let columns = || std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|c| *c > 0);
    terminal.or_else(columns).unwrap_or(DEFAULT_WIDTH).max(MIN_WIDTH)
}

/// `title`, the table fitted to `stream`'s width, then `footer` lines.
fn render(title: &str, table: Option<Table>, stream: Stream, footer: &[String]) -> String {
    let mut lines = Vec::new();
    if !title.is_empty() {
        lines.push(text::terminal(title));
    }
    if let Some(mut table) = table {
        table.set_width(width(stream));
        lines.push(table.to_string());
    }
    lines.extend(footer.iter().cloned());
    lines.join("\n")
}

/// Writes a line; a closed pipe (`| head`) must not stop a rollout, and
/// `rollout.log` keeps everything anyway. A live progress line steps aside
/// for it and is drawn again below it.
fn write(stream: Stream, line: &str) {
    let out = || {
        let _ = match stream {
            Stream::Out => writeln!(std::io::stdout().lock(), "{line}"),
            Stream::Err => writeln!(std::io::stderr().lock(), "{line}"),
        };
    };
    let bar = LIVE.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) => bar.suspend(out),
        None => out(),
    }
}

/// The progress line drawn now, if any.
static LIVE: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// A live progress line on stderr for a long step (a batched tier's rows):
/// rows done (of the total, when known), rate, elapsed time and ETA,
/// redrawn in place. Only when stderr is a terminal and the printer is not
/// quiet; otherwise it draws nothing (the report keeps the figures).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Printer {
    /// Starts a progress line named `label` (host text and plugin names,
    /// shown inert) at `done` rows.
    pub fn progress(&self, label: &str, done: u64) -> Progress {
        if self.quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(Progress::style(false));
        bar.set_prefix(text::terminal(label));
        bar.set_position(done);
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        if let Ok(mut live) = LIVE.lock() {
            *live = Some(bar.clone());
        }
        Progress(Some(bar))
    }
}

impl Progress {
    fn style(total: bool) -> indicatif::ProgressStyle {
        let template = if total {
            "{prefix} {human_pos}/{human_len} rows ({percent}%)  {per_sec}  elapsed {elapsed}  ETA {eta}"
        } else {
            "{prefix} {human_pos} rows  {per_sec}  elapsed {elapsed}"
        };
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    }

    /// The rows the whole pass touches, once the plugin says.
    pub fn total(&self, total: u64) {
        if let Some(bar) = &self.0 {
            if bar.length() != Some(total) {
                bar.set_style(Self::style(true));
                bar.set_length(total);
            }
        }
    }

    /// Rows done since the last call.
    pub fn add(&self, rows: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(rows);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            if let Ok(mut live) = LIVE.lock() {
                *live = None;
            }
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_fits_the_width_and_wraps_a_long_cell() {
        let mut t = new_table(&["metric", "expected", "actual", "result"]);
        t.add_row(vec!["z".repeat(150), "1".into(), "q".repeat(90), "PASS".into()]);
        t.set_width(60);
        let shown = t.to_string();
        for line in shown.lines() {
            assert!(line.chars().count() <= 60, "{} columns: {line}\n{shown}", line.chars().count());
        }
        // Nothing is lost: the cell wraps.
        assert_eq!(shown.chars().filter(|c| *c == 'z').count(), 150, "{shown}");
        assert_eq!(shown.chars().filter(|c| *c == 'q').count(), 90, "{shown}");
    }
}
