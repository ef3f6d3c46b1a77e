#!/usr/bin/env bash
# The One-Roof production runbook, end to end, on a scratch cluster:
# baseline → gate BLOCKED → ratify → run to PASS → rollback OK → run to PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release binary, as `make install` puts it on the PATH.
host=${HOST:-target/release/host}
tiers=(tiers/*.wasm)
apr=APR-2026-0412
dir=$(mktemp -d /tmp/one-roof-demo.XXXXXX)
trap 'bash scripts/scratch-pg.sh stop "$dir"' EXIT
start=$(date +%s.%N)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Scratch cluster in $dir; database directus with the One-Roof baseline"
bash scripts/scratch-pg.sh start "$dir" >/dev/null
export PGHOST=$dir PGUSER=postgres PGDATABASE=directus
psql -q -d postgres -c "CREATE DATABASE directus"
psql -q -v ON_ERROR_STOP=1 -f sql/baseline.sql

step "1. PRE-CHECK: host gate (today the approval is a draft)"
set +e
$host gate --tiers "${tiers[@]}" --param ratified_apr=$apr
code=$?
set -e
echo "(exit code $code: BLOCKED, as the runbook says of today)"
[ $code -eq 3 ]

step "Governance ratifies $apr (outside the runner)"
psql -q -v ON_ERROR_STOP=1 -f sql/ratify.sql
$host gate --tiers "${tiers[@]}" --param ratified_apr=$apr

step "Preview: host run --dry-run (the whole plan in one transaction, rolled back)"
$host run --dry-run --tiers "${tiers[@]}" --param ratified_apr=$apr

step "2. EXECUTE: host run"
$host run --tiers "${tiers[@]}" --param ratified_apr=$apr

step "host status"
$host status

step "5. ROLLBACK: host rollback"
$host rollback --tiers "${tiers[@]}"

step "2. EXECUTE again after the rollback"
$host run --tiers "${tiers[@]}" --param ratified_apr=$apr

end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "\nOne-Roof demo finished in %.1f s; reports under ./reports\n", b - a }'
