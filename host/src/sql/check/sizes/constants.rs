//! Constants the size check reads out of the parse tree: a number (a
//! literal, a cast of one, `+ - * /` over constants), a string literal, and
//! what a constant `format()` string asks for.

use super::bound::Size;
use serde_json::{Map, Value};

/// The node inside `{"node": {Kind: body}}`, as (kind, body).
fn node(v: &Value) -> Option<(&str, &Map<String, Value>)> {
    let (kind, body) = v.get("node")?.as_object()?.iter().next()?;
    Some((kind.as_str(), body.as_object()?))
}

/// A string literal's text (or a cast of one).
pub(super) fn text(v: &Value) -> Option<&str> {
    match node(v)? {
        ("AConst", c) => c.get("val")?.get("Sval")?.get("sval")?.as_str(),
        ("TypeCast", c) => text(c.get("arg")?),
        _ => None,
    }
}

/// The value of a numeric constant expression, if it is one.
pub(super) fn constant(v: &Value) -> Option<f64> {
    match node(v)? {
        ("AConst", c) => {
            let val = c.get("val")?;
            if let Some(i) = val.get("Ival") {
                return Some(i.get("ival").and_then(Value::as_f64).unwrap_or(0.0));
            }
            let s = val.get("Fval").and_then(|f| f.get("fval")).or_else(|| val.get("Sval")?.get("sval"))?;
            s.as_str()?.trim().parse().ok().filter(|n: &f64| n.is_finite())
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

/// The size of `format(fmt, args…)` with a constant `fmt`: its text, each
/// field width (written, `%10s`, or a constant argument, `%*s`) at 4 bytes a
/// character, and each argument it refers to (`%s`, `%I` and `%L` quote,
/// doubling at most) once per reference. None when a `*` width is not a
/// constant.
pub(super) fn format_size(fmt: &str, args: &[Value], sizes: &[Size]) -> Option<Size> {
    let mut total = Size::bytes(fmt.len() as f64);
    let mut next_arg = 0;
    let b = fmt.as_bytes();
    let mut i = 0;
    let number = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        (start < *i).then(|| fmt[start..*i].parse().ok()).flatten()
    };
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        // %[n$][-][width|*[m$]]type
        let mark = i;
        let position = match number(&mut i) {
            Some(n) if b.get(i) == Some(&b'$') => {
                i += 1;
                Some(n.saturating_sub(1))
            }
            _ => {
                i = mark;
                None
            }
        };
        while b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b.get(i) == Some(&b'*') {
            i += 1;
            let width_arg = match number(&mut i) {
                Some(n) if b.get(i) == Some(&b'$') => {
                    i += 1;
                    n.saturating_sub(1)
                }
                _ => {
                    let a = next_arg;
                    next_arg += 1;
                    a
                }
            };
            total = total.add(Size::bytes(args.get(width_arg).and_then(constant)?.abs() * 4.0));
        } else if let Some(width) = number(&mut i) {
            total = total.add(Size::bytes(width as f64 * 4.0));
        }
        let arg = position.unwrap_or_else(|| {
            let a = next_arg;
            next_arg += 1;
            a
        });
        next_arg = next_arg.max(arg + 1);
        if let Some(s) = sizes.get(arg) {
            total = total.add(s.times(2.0));
        }
        i += 1;
    }
    Some(total)
}
