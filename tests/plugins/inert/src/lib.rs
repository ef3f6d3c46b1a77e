//! Test fixture: a tier 7 that puts hostile text (SQL and psql delimiters,
//! terminal escapes, bidi overrides, Markdown, HTML, TOML breakers; the
//! strings tests/inert.rs generates and passes hex-encoded in the `hostile`
//! parameter) into every place a plugin can: log lines and stdout, metric
//! names, expected and actual values (`inert=conditions`), its error, the
//! text of a statement the host refuses and the name of a result column
//! (`inert=error`). It changes nothing; the tier fails either way.

use rollout_sdk::{bail, log, param, query, Error, Metric, Result};

/// The hostile strings the test sent.
fn hostile() -> Result<Vec<String>> {
    let text = param("hostile")?;
    text.split(',').filter(|h| !h.is_empty()).map(unhex).collect()
}

fn unhex(h: &str) -> Result<String> {
    let bytes: Option<Vec<u8>> =
        (0..h.len()).step_by(2).map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect();
    let bytes = bytes.ok_or_else(|| Error::msg("the hostile parameter is not hex"))?;
    String::from_utf8(bytes).map_err(|_| Error::msg("a hostile string is not UTF-8"))
}

/// A SQL identifier holding `name`, quoted as PostgreSQL quotes it.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn apply() -> Result<()> {
    let all = hostile()?;
    for (i, h) in all.iter().enumerate() {
        match i % 4 {
            0 => log::info(h),
            1 => log::warn(h),
            2 => log::error(h),
            _ => println!("{h}"),
        }
    }
    if param("inert")? != "error" {
        return Ok(());
    }
    // The host refuses it and says why, quoting the statement: swallowed
    // here, it still fails the tier, with the text in the failure.
    let _ = query(&format!("SELECT 1 FROM {}.t -- {}", quoted(&all[0]), all[1]));
    // A column of a type the contract cannot carry: the error names it.
    let column = match query(&format!("SELECT '1'::money AS {}", quoted(&all[2]))) {
        Ok(_) => "the money column was carried".to_string(),
        Err(e) => e.to_string(),
    };
    // Within the 16 KiB the host keeps of an error, with the column's at the end.
    let first: Vec<&str> = all.iter().take(200).map(String::as_str).collect();
    bail!("{} | {column}", first.join(" "))
}

fn post_conditions() -> Result<Vec<Metric>> {
    let all = hostile()?;
    let mut metrics = vec![metric::DECLARED.equals(&all[0], &all[0])];
    for (i, h) in all.iter().enumerate() {
        metrics.push(Metric::holds(h, h, h, i % 2 == 0));
    }
    Ok(metrics)
}

fn rollback() -> Result<()> {
    for h in hostile().unwrap_or_default() {
        log::info(h);
    }
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::DECLARED.equals(0, 0)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
