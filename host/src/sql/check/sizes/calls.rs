//! What a built-in function's result can hold: each call counted at its
//! largest from its arguments' bounds, a size argument that is not a
//! constant refused, and the aggregates that hold every row refused
//! whatever the grants.

use super::bound::Size;
use super::constants::{constant, format_size, text};
use crate::sql::check::{refuse, Refusal};
use serde_json::Value;

/// Aggregates whose result holds every row they aggregate.
const ACCUMULATORS: &[&str] = &[
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_agg_strict",
    "jsonb_agg_strict",
    "json_object_agg_strict",
    "jsonb_object_agg_strict",
    "json_object_agg_unique",
    "jsonb_object_agg_unique",
    "json_object_agg_unique_strict",
    "jsonb_object_agg_unique_strict",
    "xmlagg",
    "range_agg",
    "range_intersect_agg",
];

/// Functions whose result is a small scalar whatever their arguments.
#[rustfmt::skip]
const SCALAR: &[&str] = &[
    "count", "length", "char_length", "character_length", "octet_length", "bit_length", "strpos", "position",
    "starts_with", "cardinality", "array_length", "array_ndims", "bool_and", "bool_or", "every", "rank",
    "dense_rank", "row_number", "percent_rank", "cume_dist", "ntile", "date_part", "extract", "now",
    "gen_random_uuid", "md5", "current_database", "to_regclass", "ascii", "sign", "isfinite",
];

/// Functions that build JSON from their arguments: its text escapes a
/// control character as six.
const JSON: &[&str] = &[
    "to_json",
    "to_jsonb",
    "row_to_json",
    "array_to_json",
    "json_build_array",
    "json_build_object",
    "jsonb_build_array",
    "jsonb_build_object",
    "json_object",
    "jsonb_object",
];

/// The refusal for an aggregate that holds every row, if `name` is one.
pub(in crate::sql::check) fn accumulator(name: &str) -> Result<(), Refusal> {
    if ACCUMULATORS.contains(&name) {
        return refuse(format!(
            "{name}(…) builds one value from every row it aggregates, and the checker cannot bound the rows (a \
             series of 100 kB values held 1 GB in 0.7 s); read the rows and combine them in the plugin, where \
             rows_returned and memory_mib bound them"
        ));
    }
    Ok(())
}

/// The bound on `name(args…)`'s result, given each argument's bound
/// (`sizes`) and their sum; a size argument that is not a constant is
/// refused.
pub(super) fn size(name: &str, args: &[Value], sizes: &[Size], sum: Size) -> Result<Size, Refusal> {
    let what = format!("{name}(…)");
    let refuse_size = |arg: &str| {
        refuse(format!(
            "{what}'s {arg} is not a constant: the server allocates what it says in one piece, which \
             statement_timeout does not stop (rpad('', abs(250000000), 'x') held 1.7 GB past a 3 s timeout); \
             write it as a constant (the statement's constant sizes may ask for at most memory_mib)"
        ))
    };
    let size = match (name, args) {
        ("lpad" | "rpad", [_, n, ..]) => match constant(n) {
            Some(n) => Size::bytes(n.max(0.0) * 4.0),
            None => return refuse_size("length"),
        },
        ("repeat", [_, n]) => match constant(n) {
            Some(n) => sizes[0].times(n.max(0.0)),
            None => return refuse_size("count"),
        },
        ("replace", [_, from, _]) => {
            if !sizes[2].constant() {
                return refuse_size("replacement");
            }
            let to = sizes[2].bytes;
            let ratio = match text(from) {
                Some(f) if !f.is_empty() => (to / f.len() as f64).ceil(),
                Some(_) => 1.0,
                None => to,
            };
            sizes[0].times(ratio.max(1.0))
        }
        ("regexp_replace", [_, _, repl, ..]) => {
            let Some(r) = text(repl) else { return refuse_size("replacement") };
            // Each match (one may start at every character) becomes the
            // replacement, and each back reference copies the match.
            let refs = r.matches('\\').count() as f64;
            sizes[0].times(1.0 + r.len() as f64 + refs).add(Size::bytes(r.len() as f64))
        }
        ("translate", [_, ..]) => sizes[0].times(4.0),
        ("upper" | "lower" | "initcap", [_]) => sizes[0].times(2.0),
        ("format", [fmt, rest @ ..]) => match text(fmt) {
            Some(f) => match format_size(f, rest, &sizes[1..]) {
                Some(size) => size,
                None => return refuse_size("width"),
            },
            None => return refuse_size("format string"),
        },
        ("to_char", [_, _, ..]) => sizes[1].times(16.0).add(Size::bytes(64.0)),
        ("generate_series", [start, stop, rest @ ..]) => {
            let step = match rest {
                [] => Some(1.0),
                [step] => constant(step),
                _ => None,
            };
            match (constant(start), constant(stop), step) {
                (Some(a), Some(b), Some(s)) if s != 0.0 => Size::bytes((((b - a) / s).max(0.0) + 1.0) * 8.0),
                _ => {
                    return refuse(format!(
                        "{what}: a series' bounds and step must be constant numbers, so the checker can count \
                         its rows; bound it with constants (`generate_series(1, 1000) AS n … WHERE n <= $1`, or a \
                         date as `date $1 + n`)"
                    ))
                }
            }
        }
        ("string_to_array" | "regexp_split_to_array" | "string_to_table" | "regexp_split_to_table", _) => {
            sum.times(8.0)
        }
        _ if JSON.contains(&name) => sum.times(6.0),
        _ if SCALAR.contains(&name) => Size::bytes(64.0),
        _ => sum,
    };
    Ok(size)
}
