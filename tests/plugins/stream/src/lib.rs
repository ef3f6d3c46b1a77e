//! Stream fixture: a tier 7 that reads a million rows within its 64 MiB,
//! and loads rows with copy-in, or tries to where its grants say no.

use rollout_sdk::{copy_in, log, param, query, stream, stream_with, Error, Loader, Metric, Result, Value};

fn rows() -> Result<i64> {
    param("rows")?.parse().map_err(|_| Error::msg("rows is not a number"))
}

fn apply() -> Result<()> {
    let one = || vec![vec![Value::Int8(1), Value::Text("x".into())]];
    match param("mode")?.as_str() {
        "read" => {
            let (mut n, mut sum) = (0i64, 0i64);
            for batch in stream("SELECT id, label FROM public.big")? {
                for row in batch?.iter() {
                    n += 1;
                    sum += row.get::<i64>("id")?;
                }
            }
            log::info(format!("streamed {n} rows, ids summing to {sum}"));
            if n != rows()? {
                return Err(Error::msg(format!("streamed {n} rows, expected {}", rows()?)));
            }
        }
        "whole" => {
            let n = query("SELECT id, label FROM public.big")?.len();
            log::info(format!("read {n} rows in one result"));
        }
        "load" => {
            // Reads and writes interleave: each batch read is loaded before
            // the next one is fetched.
            let mut out = Loader::new("public.loaded", &["id", "label"]).batch(5_000);
            let source = stream_with("SELECT id, label FROM public.big WHERE id <= $1", &[&rows()?])?;
            source.for_each_row(|row| out.push(&[&row.get::<i64>("id")?, &row.get::<String>("label")?]))?;
            log::info(format!("loaded {} rows", out.finish()?));
        }
        // make bench: rows (id, its 64-digit zero-padded decimal) made here,
        // as bench.rs writes them for psql's \copy.
        "make" => {
            let start = std::time::Instant::now();
            let mut out = Loader::new("public.loaded", &["id", "label"]);
            for id in 1..=rows()? {
                out.push(&[&id, &format!("{id:064}")])?;
            }
            let n = out.finish()?;
            log::info(format!("made {n} rows in {} µs", start.elapsed().as_micros()));
        }
        "copy_denied" => {
            copy_in("public.big", &["id", "label"], &one())?;
        }
        "copy_outside" => {
            copy_in("public.other", &["id", "label"], &one())?;
        }
        "copy_bad_column" => {
            copy_in("public.loaded", &["id", "nope"], &one())?;
        }
        other => return Err(Error::msg(format!("unknown mode {other}"))),
    }
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    let mode = param("mode")?;
    Ok(vec![metric::MODE.equals(&mode, &mode)])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
