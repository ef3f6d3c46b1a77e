//! Test fixture: a hostile tier. Every attempt that gets through is logged
//! as `ESCAPED: …`; the suite asserts there are none.

use rollout_sdk::{data_file, log, param, query, Error, Metric, Result};

/// Runs each corpus statement; counts what the host refused.
fn sql_corpus() -> Result<()> {
    let corpus = data_file("hostile-corpus.sql")?;
    let (mut tried, mut refused) = (0, 0);
    for stmt in corpus.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")) {
        // `\n` in the corpus stands for a line break inside one statement.
        let stmt = stmt.replace("\\n", "\n");
        tried += 1;
        match query(&stmt) {
            Err(e) if e.sqlstate() == Some("RL000") => refused += 1,
            Err(e) => log::error(format!("ESCAPED (reached the server): {stmt} -> {e}")),
            Ok(_) => log::error(format!("ESCAPED (ran): {stmt}")),
        }
    }
    log::info(format!("HOSTILE SQL: tried {tried}, refused {refused}"));
    Ok(())
}

fn escape(route: &str) -> Result<()> {
    match route {
        "sql" => sql_corpus()?,
        "files" => {
            for path in ["/etc/passwd", "/data/../../etc/passwd", "/proc/self/environ", "/", "/tmp"] {
                match std::fs::read_to_string(path) {
                    Ok(_) => log::error(format!("ESCAPED (read): {path}")),
                    Err(e) => log::info(format!("refused read {path}: {e}")),
                }
            }
            match std::fs::write("/data/hostile-corpus.sql", "overwritten") {
                Ok(_) => log::error("ESCAPED (wrote the granted file)"),
                Err(e) => log::info(format!("refused write /data: {e}")),
            }
            log::info("HOSTILE FILES: done");
        }
        "env" => {
            let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
            if vars.is_empty() {
                log::info("HOSTILE ENV: empty");
            } else {
                log::error(format!("ESCAPED (environment): {vars:?}"));
            }
        }
        "loop" => loop {
            std::hint::black_box(0u64);
        },
        "alloc" => {
            // black_box: an allocation the optimiser can see through is never made.
            let big = std::hint::black_box(vec![7u8; 1 << 30]);
            let sum: u64 = big.iter().step_by(4096).map(|b| *b as u64).sum();
            log::error(format!("ESCAPED (allocated {} bytes, {sum})", big.len()));
        }
        "sleep" => {
            // pg_sleep is not granted: refused. A slow query through granted
            // relations must be cancelled at the statement timeout instead.
            let _ = query("SELECT pg_sleep(10)");
            query(
                "SELECT count(*) FROM one_roof.team a, one_roof.team b, one_roof.team c, one_roof.team d,
                 one_roof.team e, one_roof.team f, one_roof.team g, one_roof.team h, one_roof.team i",
            )?;
            log::error("ESCAPED (slow query finished)");
        }
        "wait" => {
            // Parked in a WASI clock wait, where no wasm code runs.
            std::thread::sleep(std::time::Duration::from_secs(60));
            log::error("ESCAPED (slept past the deadline)");
        }
        "bigvalues" => {
            // Few rows, each huge: held by the host before the plugin sees them.
            query("SELECT rpad('', 1000000, 'x') FROM one_roof.team a, one_roof.team b")?;
            log::error("ESCAPED (100 MB of values returned)");
        }
        "flood" => loop {
            query("SELECT code FROM one_roof.team WHERE false")?;
        },
        "huge" => {
            query(
                "SELECT a.code FROM one_roof.team a, one_roof.team b, one_roof.team c, one_roof.team d, one_roof.team e",
            )?;
            log::error("ESCAPED (huge result returned)");
        }
        other => return Err(Error::msg(format!("unknown route {other}"))),
    }
    Ok(())
}

fn apply() -> Result<()> {
    escape(&param("escape")?)
}

fn post_conditions() -> Result<Vec<Metric>> {
    let route = param("escape")?;
    Ok(vec![metric::ESCAPE.equals(&route, &route)])
}

fn rollback() -> Result<()> {
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::ESCAPE.equals("nothing to undo", "nothing to undo")])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
