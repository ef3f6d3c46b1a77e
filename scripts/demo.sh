#!/usr/bin/env bash
# The One-Roof production runbook, end to end, on a scratch cluster:
# baseline → gate BLOCKED → ratify → rehearsal on a copy → dry run → run to
# PASS → rollback OK → run to PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release binary, as `make install` puts it on the PATH.
host=${HOST:-target/release/host}
tiers=(tiers/*.wasm)
apr=APR-2026-0412
dir=$(mktemp -d /tmp/one-roof-demo.XXXXXX)
copy=$dir-copy
trap 'bash scripts/scratch-pg.sh stop "$copy"; bash scripts/scratch-pg.sh stop "$dir"' EXIT
start=$(date +%s.%N)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Scratch cluster in $dir; database directus with the One-Roof baseline"
bash scripts/scratch-pg.sh start "$dir" >/dev/null
export PGHOST=$dir PGUSER=postgres PGDATABASE=directus
psql -q -d postgres -c "CREATE DATABASE directus"
psql -q -v ON_ERROR_STOP=1 -f sql/baseline.sql

step "Review: the restricted roles, and a lock file that says the plan runs under them"
# One role per plugin holding exactly its grants, and the role wall
# (PostgreSQL as the second wall), made by `host roles apply`, which reads
# the catalog for what the grants imply (a serial's sequence) and proves the
# result; the lock pins the reviewed plugins and, with --roles, says so.
$host roles apply "${tiers[@]}" --operator-role "$PGUSER"
lock=$dir/one-roof.lock
$host grants "${tiers[@]}" --lock "$lock" --roles
run=(--tiers "${tiers[@]}" --lock "$lock")

step "1. PRE-CHECK: host gate (today the approval is a draft)"
set +e
$host gate "${run[@]}" --param ratified_apr=$apr
code=$?
set -e
echo "(exit code $code: BLOCKED, as the runbook says of today)"
[ $code -eq 3 ]

step "Governance ratifies $apr (outside the runner)"
psql -q -v ON_ERROR_STOP=1 -f sql/ratify.sql
$host gate "${run[@]}" --param ratified_apr=$apr

step "Rehearse on a copy: run, rollback to the exact baseline (by digest), idempotent, run again, every tier's FAIL path"
# A copy of production on another server, restored from its dump (roles
# first: the plan runs under them), under production's own database name.
bash scripts/scratch-pg.sh start "$copy" >/dev/null
pg_dumpall --roles-only | grep -v '^CREATE ROLE postgres;' | psql -q -h "$copy" -d postgres -v ON_ERROR_STOP=1
psql -q -h "$copy" -d postgres -c "CREATE DATABASE directus"
pg_dump directus | psql -q -h "$copy" -v ON_ERROR_STOP=1 >/dev/null
# The operator's word that this database is the copy: rehearse refuses any other.
psql -q -h "$copy" -d postgres -c "ALTER DATABASE directus SET host.rehearsal_copy = on"
$host rehearse "${run[@]}" --param ratified_apr=$apr --fail-at all \
  --from "host=$dir dbname=directus" --copy-url "host=$copy dbname=directus"

step "Preview: host run --dry-run (the whole plan in one transaction, rolled back, under the roles)"
$host run --dry-run "${run[@]}" --param ratified_apr=$apr

step "2. EXECUTE: host run (every plugin as its own restricted role)"
$host run "${run[@]}" --param ratified_apr=$apr
roles=$(psql -Atc "SELECT roles FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1")
echo "(the ledger says the rollout ran under roles: $roles)"
[ "$roles" = t ]

step "host status"
$host status

step "5. ROLLBACK: host rollback"
$host rollback "${run[@]}"

step "2. EXECUTE again after the rollback"
$host run "${run[@]}" --param ratified_apr=$apr

end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "\nOne-Roof demo finished in %.1f s; reports under ./reports\n", b - a }'
