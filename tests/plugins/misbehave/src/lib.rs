//! Test fixture: a tier 4 that does part of the real work, then misbehaves.

use rollout_sdk::{bail, copy_in, count, execute, execute_with, log, param, query, stream, Metric, Result, Value};

fn partial_work() -> Result<u64> {
    execute(
        "INSERT INTO one_roof.containment (responsibility_id, node_id)
         SELECT r.id, n.id FROM one_roof.responsibility r
         JOIN one_roof.resp_area a ON a.id = r.area_id
         JOIN one_roof.axis_node n ON n.axis_code = 'release_scope' AND n.code = a.domain
         WHERE a.domain = 'core'",
    )
}

fn apply() -> Result<()> {
    let mode = param("mode")?;
    let n = partial_work()?;
    log::info(format!("placed {n} responsibilities, now misbehaving: {mode}"));
    match mode.as_str() {
        "fail" => bail!("containment failed on purpose after {n} rows"),
        "commit" => {
            let _ = execute("COMMIT");
            let _ = execute("INSERT INTO one_roof.containment SELECT 1, 1");
        }
        "set_role" => {
            let _ = execute("SET ROLE postgres");
        }
        "do" => {
            let _ = execute("DO $$ BEGIN DELETE FROM one_roof.containment; END $$");
        }
        "swallow" => {
            // A real server-side error, ignored: the host must still fail the tier.
            let _ = execute("SELECT 1 / (SELECT count(*) FROM one_roof.containment WHERE node_id < 0)");
        }
        "trap" => std::process::abort(),
        "panic" => panic!("tier 4 panicked on purpose with {n} rows placed"),
        "loop" => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            let big = std::hint::black_box(vec![1u8; 1 << 30]);
            log::info(format!("allocated {}", big.len()));
        }
        "sleep" => {
            execute("SELECT pg_sleep(30)")?;
        }
        // Long enough for a test to act while the tier's transaction is open.
        "sleep_short" => {
            execute("SELECT pg_sleep(2)::text")?;
        }
        // Parked in a WASI wait, not in wasm code nor in SQL.
        "wasi_sleep" => std::thread::sleep(std::time::Duration::from_secs(30)),
        // An ERROR whose SQLSTATE is of class 08 on a live session (a
        // function the test creates raises it): the tier's SQL error.
        "raise08" => {
            execute("SELECT public.raise_08006()")?;
        }
        // A COPY the server refuses before it starts (no such column); the
        // session must answer the next statement in order.
        "copy_refused" => {
            let row = vec![Value::Int4(1), Value::Int4(1)];
            let refused = copy_in("one_roof.containment", &["responsibility_id", "no_such_column"], &[row]);
            log::info(format!("copy-in: {refused:?}"));
            let after = count("SELECT count(*) FROM one_roof.containment");
            log::info(format!("the next statement: {after:?}"));
        }
        // A granted function that changes the session's search_path.
        "set_path" => {
            execute("SELECT public.change_path()")?;
        }
        // A stream left open when the call ends: the next plugin's stream
        // in the same transaction (a dry run) must not meet it.
        "stream_open" => std::mem::forget(stream("SELECT node_id FROM one_roof.containment")?),
        // Values far larger than the plugin's memory, in one result.
        "big_read" => {
            let rows = query("SELECT v FROM public.big_value");
            log::info(format!("big read: {}", rows.map(|r| r.len().to_string()).unwrap_or_else(|e| e.to_string())));
        }
        // Output floods: each runs until the host stops it.
        "log_flood" => {
            let line = "x".repeat(1 << 20);
            loop {
                log::info(&line);
            }
        }
        "log_lines" => loop {
            log::info("a short line, again and again");
        },
        "print_flood" => {
            // Shorter than std's 1 KiB line buffer: one write a line.
            let line = "p".repeat(1000);
            loop {
                println!("{line}");
            }
        }
        "error_flood" => bail!("{}", "e".repeat(8 << 20)),
        "sql_error_flood" => {
            // The server echoes the bad value in its error; swallowed, it still fails the tier.
            let _ = execute_with("SELECT $1::int", &[&"y".repeat(8 << 20)]);
        }
        _ => {}
    }
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    if param("mode")? == "post_write" {
        // A check that writes: undoes part of the tier behind the host's back.
        execute(
            "DELETE FROM one_roof.containment WHERE node_id IN (SELECT id FROM one_roof.axis_node WHERE code = 'core')",
        )?;
    }
    let mode = param("mode")?;
    match mode.as_str() {
        // An empty table: a check that checked nothing.
        "no_metrics" => Ok(vec![]),
        // More metrics than any table needs, then fewer but longer ones.
        "metric_flood" => Ok((0..300_000).map(|i| Metric::equals(&format!("metric_{i}"), i, i)).collect()),
        // Empty, so that 900,000 fit in the plugin's 64 MiB: lifted, they
        // would take the host 72 MB (80 bytes each), more than that memory.
        "metric_lift" => Ok((0..900_000).map(|_| Metric::holds("", "", "", true)).collect()),
        "metric_text" => Ok((0..100).map(|i| Metric::info(&format!("long_{i}"), "t".repeat(1024))).collect()),
        _ => Ok(vec![metric::MODE.equals(&mode, &mode)]),
    }
}

fn rollback() -> Result<()> {
    execute(
        "DELETE FROM one_roof.containment c USING one_roof.axis_node n
         WHERE n.id = c.node_id AND n.axis_code = 'release_scope'",
    )?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    let n = count(
        "SELECT count(*) FROM one_roof.containment c JOIN one_roof.axis_node n ON n.id = c.node_id
         WHERE n.axis_code = 'release_scope'",
    )?;
    Ok(vec![metric::RELEASE_SCOPE_CONTAINMENT.equals(0, n)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
