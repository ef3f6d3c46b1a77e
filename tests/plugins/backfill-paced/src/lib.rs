//! Bench fixture: the same backfill as `backfill-bench` (its source, this
//! crate's own `plugin.toml`), with the batch size left to the host: it
//! starts at 10,000 ids and shrinks while a batch takes longer than
//! `target_ms`, so `make bench` shows what the operator's one knob buys the
//! writers' p99 and what it costs the backfill's time.

include!("../../backfill-bench/src/backfill.rs");
