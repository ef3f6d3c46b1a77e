//! Argument-size bombs: safe functions whose constant arguments make the
//! server build something huge. Six `rpad('', 260000000, 'x')` terms held
//! 1.7 GB in one backend; nothing about them is ungranted, only their size.
//!
//! What a statement's constant size arguments ask for is summed over the
//! whole statement and must stay within the plugin's own memory limit
//! (`memory_mib`), the budget the host already holds it to for the rows it
//! receives:
//!
//! - `lpad`/`rpad(s, n, …)`: n characters, counted at 4 bytes (the longest
//!   UTF-8 character);
//! - `repeat(s, n)`: n × the bytes of `s` (n × 1 when `s` is not constant);
//! - `generate_series(start, stop[, step])` on numbers: each row counted at
//!   8 bytes (one bigint, a floor on what a row costs);
//! - `format(fmt, …)`: each field width in a constant `fmt` (`%9999s`, or
//!   `%*s` with a constant width argument).
//!
//! A constant is a literal, a cast of one, or `+ - * /` over constants.
//!
//! What this cannot bound, and is left to the server's `statement_timeout`
//! (set from the plugin's limits) and PostgreSQL's 1 GB limit on one value:
//! sizes that are not constant (a `$n` parameter, a column, a subquery);
//! `generate_series` over timestamps; amplifiers whose size is a product of
//! their inputs (`replace`, nested calls, `repeat` of a column); and work
//! multiplied by rows (`string_agg`, `array_agg` over a large join).

use super::{refuse, Refusal};
use serde_json::{Map, Value};

/// The bytes a statement's constant size arguments may ask for.
pub(super) struct Asked {
    limit_mib: u64,
    bytes: f64,
}

impl Asked {
    pub(super) fn new(limit_mib: u64) -> Self {
        Asked { limit_mib, bytes: 0.0 }
    }

    /// Counts what the call `name(args)` asks for; refuses once the
    /// statement's total passes the bound.
    pub(super) fn call(&mut self, name: &str, args: &[Value]) -> Result<(), Refusal> {
        let asks = match (name, args) {
            ("lpad" | "rpad", [_, n, ..]) => constant(n).map(|n| n * 4.0),
            ("repeat", [s, n]) => constant(n).map(|n| n * text(s).map_or(1, str::len) as f64),
            ("generate_series", [start, stop, rest @ ..]) => {
                let step = match rest {
                    [] => Some(1.0),
                    [step] => constant(step),
                    _ => None,
                };
                match (constant(start), constant(stop), step) {
                    (Some(a), Some(b), Some(s)) if s != 0.0 => Some(((b - a) / s + 1.0) * 8.0),
                    _ => None,
                }
            }
            ("format", [fmt, rest @ ..]) => text(fmt).map(|f| format_widths(f, rest)),
            _ => None,
        };
        let Some(asks) = asks.filter(|a| *a > 0.0) else { return Ok(()) };
        self.bytes += asks;
        let limit = (self.limit_mib * 1024 * 1024) as f64;
        if self.bytes > limit {
            return refuse(format!(
                "{name}(…) with constant size arguments asks the server for about {:.0} MiB; a statement's constant \
                 sizes (lpad/rpad/repeat/format widths, generate_series rows) may ask for at most the plugin's \
                 memory limit, memory_mib = {}",
                self.bytes / 1024.0 / 1024.0,
                self.limit_mib
            ));
        }
        Ok(())
    }
}

/// The node inside `{"node": {Kind: body}}`, as (kind, body).
fn node(v: &Value) -> Option<(&str, &Map<String, Value>)> {
    let (kind, body) = v.get("node")?.as_object()?.iter().next()?;
    Some((kind.as_str(), body.as_object()?))
}

/// A string literal's text.
fn text(v: &Value) -> Option<&str> {
    match node(v)? {
        ("AConst", c) => c.get("val")?.get("Sval")?.get("sval")?.as_str(),
        _ => None,
    }
}

/// The value of a numeric constant expression, if it is one.
fn constant(v: &Value) -> Option<f64> {
    match node(v)? {
        ("AConst", c) => {
            let val = c.get("val")?;
            if let Some(i) = val.get("Ival") {
                return Some(i.get("ival").and_then(Value::as_f64).unwrap_or(0.0));
            }
            let s = val.get("Fval").and_then(|f| f.get("fval")).or_else(|| val.get("Sval")?.get("sval"))?;
            s.as_str()?.trim().parse().ok()
        }
        ("TypeCast", c) => constant(c.get("arg")?),
        ("AExpr", e) => {
            let op = e.get("name")?.as_array()?.last()?["node"]["String"]["sval"].as_str()?;
            let right = constant(e.get("rexpr")?)?;
            let left = match e.get("lexpr") {
                None | Some(Value::Null) => return (op == "-").then_some(-right),
                Some(l) => constant(l)?,
            };
            match op {
                "+" => Some(left + right),
                "-" => Some(left - right),
                "*" => Some(left * right),
                "/" if right != 0.0 => Some(left / right),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The bytes of padding a constant `format()` string asks for: each field
/// width, written (`%10s`) or taken from a constant argument (`%*s`).
fn format_widths(fmt: &str, args: &[Value]) -> f64 {
    let mut total = 0.0;
    let mut next_arg = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(|d| d.is_ascii_digit() || *d == '-' || *d == '$') {
            digits.push(d);
            chars.next();
            if d == '$' {
                digits.clear();
            }
        }
        match chars.peek() {
            Some('*') => {
                chars.next();
                if let Some(w) = args.get(next_arg).and_then(constant) {
                    total += w.abs();
                }
                next_arg += 1;
                while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '$') {
                    chars.next();
                }
            }
            Some('%') if digits.is_empty() => {
                chars.next();
                continue;
            }
            _ => total += digits.trim_start_matches('-').parse::<f64>().unwrap_or(0.0),
        }
        next_arg += 1;
    }
    total
}
