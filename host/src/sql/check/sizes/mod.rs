//! What a statement makes the server hold in memory. `statement_timeout`
//! does not stop an allocation: six `rpad('', abs(250000000), 'x')` terms
//! held 1.7 GB in one backend for 12 s past a 3 s timeout, nested `replace`
//! 2.9 GB, `string_agg` of 100 kB pads over a 100,000-row series 1 GB in
//! 0.7 s, a recursive CTE doubling a string 1.5 GB. So the check bounds it:
//!
//! - **Sizes are constants.** A pad length, a `repeat` count, a series'
//!   bounds and step, a `format` width (and the format string) must be
//!   constants; so must a replacement (`replace`, `regexp_replace`), whose
//!   size multiplies the text's. What the constants ask for (each call's
//!   result counted at its largest, 4 bytes a character, every
//!   intermediate result of the statement summed, series rows at 8 bytes)
//!   is at most the plugin's `memory_mib`.
//! - **Values are copied, not multiplied.** A value the statement reads (a
//!   column, a parameter, a subquery) may be copied into its results at most
//!   [`MAX_COPIES`] times in all (concatenation adds, `repeat` and a growing
//!   `replace` multiply, a row or array's text doubles its quotes, JSON's
//!   escapes grow sixfold): linear in the statement's text, never
//!   exponential in its nesting. The host also holds each statement to
//!   copies × its largest parameter ≤ `memory_mib` before sending it.
//! - **No value built from every row.** `string_agg`, `array_agg`,
//!   `json(b)_agg`, `json(b)_object_agg`, `xmlagg`, `range_agg` and
//!   `ARRAY(SELECT …)` hold what every row adds, and the checker cannot
//!   bound rows (a join, a series): refused whatever the grants; the plugin
//!   reads the rows instead, bounded by `rows_returned` and `memory_mib`.
//! - **A recursive CTE carries its values without growth**: in its
//!   recursive term a value of the CTE itself (an unqualified column, or
//!   one qualified by the CTE) may be copied once per expression, never
//!   twice (`s || s` doubles per iteration).
//!
//! A constant is a literal, a cast of one, or `+ - * /` over constants.
//! Functions outside the table below (granted ones) are counted as the sum
//! of their arguments. What stays the operator's: values already stored
//! are read as they are (a 1 MB stored value copied 1,024 times is 1 GB).
//!
//! `bound.rs` holds the bound a value's size is computed as,
//! `constants.rs` the constants read from the tree, `calls.rs` what each
//! built-in function's result can hold, and `walk.rs` the walk over one
//! statement that sums them against the plugin's limits.

mod bound;
mod calls;
mod constants;
mod walk;

pub(super) use calls::accumulator;
pub(super) use walk::check;

/// Most copies of the values it reads a statement may make.
pub const MAX_COPIES: f64 = 1024.0;
