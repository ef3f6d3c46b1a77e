#!/usr/bin/env bash
# Regenerates bench/one-roof.sql and bench/gate.sql: runs One-Roof with the
# release host on a scratch cluster that logs every statement, and keeps the
# plugins' statements (bench/capture.py). Run after a plugin's SQL changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/rollout-capture.XXXXXX); chmod 755 "$dir"
trap 'bash scripts/scratch-pg.sh stop "$dir/c" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
bash scripts/scratch-pg.sh template "$dir/t" >/dev/null
bash scripts/scratch-pg.sh clone "$dir/t" "$dir/c" >/dev/null
export PGHOST=$dir/c PGUSER=postgres PGDATABASE=directus
psql -q -v ON_ERROR_STOP=1 -f sql/ratify.sql
psql -q -c "ALTER SYSTEM SET log_statement = 'all'" -c "ALTER SYSTEM SET log_line_prefix = '@@%a|%c|'" \
  -c "SELECT pg_reload_conf()" >/dev/null
HOST_COMPILE_CACHE=off target/release/host run --tiers tiers/*.wasm --param ratified_apr=APR-2026-0412 \
  --reports "$dir/reports" >/dev/null 2>&1
python3 bench/capture.py "$dir/c/server.log" bench
