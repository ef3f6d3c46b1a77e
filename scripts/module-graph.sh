#!/usr/bin/env bash
# Prints the host's module graph (one `from to` line per `crate::` path
# between top-level modules, `crate::x` and `crate::{x, y}` alike) and fails
# if it has a cycle: dependencies must point one way (README, Architecture).
set -euo pipefail
cd "$(dirname "$0")/../host/src"
edges() {
  local f from
  for f in $(find . -name '*.rs' ! -name main.rs ! -name lib.rs | sort); do
    from=${f#./}; from=${from%%/*}; from=${from%.rs}
    grep -ohE 'crate::(\{[^}]*\}|[a-z_]+)' "$f" | sed -E 's/^crate:://; s/[{}]//g' | tr ',' '\n' \
      | sed -E 's/^ *//; s/::.*//; s/ .*//' | awk -v from="$from" '/^[a-z_]+$/ && $0 != from { print from, $0 }'
  done | sort -u
}
graph=$(edges || true)
if [ "${1:-}" = "--print" ]; then echo "$graph"; fi
if ! loop=$(echo "$graph" | tsort 2>&1 >/dev/null) || [ -n "$loop" ]; then
  echo "module graph has a cycle:" >&2; echo "$loop" >&2; exit 1
fi
echo "module graph: $(echo "$graph" | wc -l) edges between host modules, no cycle"
