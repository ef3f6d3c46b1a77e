//! Bench fixture: the backfill `make bench` times against psql
//! (host/examples/bench_backfill.rs). One UPDATE per batch, of the ids in
//! (from, from + size]; the position is `from/last`, `last` the largest id
//! read once by the first batch, so a batch costs the host what psql's loop
//! costs the server: one UPDATE, nothing else.

// The body, shared with tests/plugins/backfill-paced (its own plugin.toml).
include!("backfill.rs");
