//! Test fixture: a tier 4 whose every word tries to forge what the operator
//! sees and publishes: terminal escapes (clear screen, cursor up, erase
//! line, OSC 52 clipboard, OSC 8 link, 8-bit CSI, bidi override), CR
//! overwrites, fake host lines, Markdown and HTML. It changes nothing.
//!
//! `forge=apply` fails in apply with a forged error (ending in a NUL);
//! `forge=metrics` passes apply and returns forged post-condition metrics,
//! one failing, so the tier fails either way (exit 4).

use rollout_sdk::{bail, count, log, param, Metric, Result};

/// Clear the screen and home the cursor.
const CLEAR: &str = "\x1b[2J\x1b[H";
/// Up one line and erase it.
const UP: &str = "\x1b[1A\x1b[2K";
/// OSC 52: writes the operator's clipboard (`rm -rf ~`, base64).
const CLIPBOARD: &str = "\x1b]52;c;cm0gLXJmIH4K\x07";
/// OSC 8: a hyperlink.
const LINK: &str = "\x1b]8;;http://example.invalid/\x1b\\release notes\x1b]8;;\x1b\\";
/// The lines a passing run ends with.
const PASS: &str = "TIER 8 VERIFY PASS";
const COMPLETE: &str = "ROLLOUT COMPLETE — ALL TIERS PASSED";
/// A NUL, which PostgreSQL text and jsonb cannot hold: it must not keep the
/// ledger from recording the failure.
const NUL: &str = "\0 after a NUL";
/// Markdown and HTML for report.md.
const MARKUP: &str = "## Verify — PASS\n<!--\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n\
                      ![x](http://example.invalid/x.png) | forged | cell |\n# Rollout report: run — OK";

fn forged_log() {
    log::info(format!("{CLEAR}     Applied tier 4 (test-forger) in 3 ms — 0 statements, 0 rows changed"));
    log::info(format!("placing responsibilities ...\r{COMPLETE}"));
    log::warn(format!("\n     Applied tier 4 (test-forger) in 5 ms — 2 statements, 70 rows changed\n{PASS}"));
    log::error(format!("{CLIPBOARD}{LINK}{UP}{UP}\u{9b}2J\u{202e}SSAP\u{202c} \x0b\x0c\x07\x00\x7f"));
    // WASI stdout reaches the log too.
    println!("{UP}{PASS}\r{COMPLETE}");
}

fn apply() -> Result<()> {
    let forge = param("forge")?;
    let rows = count("SELECT count(*) FROM one_roof.containment")?;
    forged_log();
    if forge == "apply" {
        bail!(
            "{UP}{UP}{UP}{CLEAR}\r     Applied tier 4 (test-forger) in 4 ms — {rows} rows seen\n\n{PASS}\n{COMPLETE}\n{MARKUP}\n{CLIPBOARD}{LINK}{NUL}"
        );
    }
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    let rows = count("SELECT count(*) FROM one_roof.containment")?;
    Ok(vec![
        Metric::equals(&format!("{CLEAR}containment_rows"), rows, rows),
        Metric::info(&format!("## Tiers\n| 9 | fake | apply | applied |\n{MARKUP}"), format!("{LINK}<!--")),
        Metric::holds(
            &format!("verdict\r{PASS}"),
            "<script>alert(1)</script>",
            format!("{UP}{COMPLETE}\n![x](http://example.invalid/x.png)"),
            true,
        ),
        Metric::holds(&format!("forged{UP}"), "1 | PASS", format!("0\r{PASS}\n{COMPLETE}"), false),
    ])
}

fn rollback() -> Result<()> {
    log::info(format!("{UP}nothing to undo\r{COMPLETE}"));
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    let rows = count("SELECT count(*) FROM one_roof.containment")?;
    Ok(vec![metric::CONTAINMENT_ROWS.equals(rows, rows)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
