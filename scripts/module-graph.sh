#!/usr/bin/env bash
# Prints the host's module graph (one `from to` line per `crate::` path
# between top-level modules, `crate::x` and `crate::{x, y}` alike) and fails
# if it has a cycle: dependencies must point one way. Then checks that the
# module tree in docs/architecture.md names every top-level module of
# host/src, none that is gone, and lists each below every module it uses.
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

# The tree in docs/architecture.md: its first code block after "## The module
# tree"; a module is a line starting with `name.rs` or `name/`.
doc=../../docs/architecture.md
listed=$(awk '/^## The module tree/ { t = 1 } t && /^```/ { if (b) exit; b = 1; next }
  b && match($0, /^[a-z_]+(\.rs|\/)/) { n = substr($0, 1, RLENGTH); sub(/(\.rs|\/)$/, "", n); print n }' "$doc")
present=$(for f in *; do case $f in lib.rs | *_tests.rs | tests.rs) ;; *.rs) echo "${f%.rs}" ;; *) [ -d "$f" ] && echo "$f" ;; esac; done | sort -u)
stale=$(comm -3 <(echo "$present") <(echo "$listed" | sort))
if [ -n "$stale" ]; then
  echo "docs/architecture.md's module tree does not match host/src (left: only in host/src; right: only in the doc):" >&2
  echo "$stale" >&2; exit 1
fi
up=$(echo "$graph" | awk -v order="$(echo $listed)" 'BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) pos[o[i]] = i }
  NF == 2 && pos[$2] > pos[$1] { print "  " $1 " uses " $2 ", listed below it" }')
if [ -n "$up" ]; then
  echo "docs/architecture.md's module tree is not bottom to top:" >&2; echo "$up" >&2; exit 1
fi
echo "docs/architecture.md: $(echo "$listed" | wc -l) modules, each listed below what it uses"
