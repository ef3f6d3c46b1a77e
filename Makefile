# The two commands: `make demo` (One-Roof end to end on a scratch cluster)
# and `make test` (every test). Both install what they need first.

CARGO     ?= cargo
WASM      := wasm32-wasip2
# The operator's binary, the demo's and the tests' are one release build:
# one compile on a fresh machine, and no libpg_query C assertions (a debug
# build aborts on some statements instead of refusing them).
HOST      := target/release/host
BINDIR    ?= $(HOME)/.cargo/bin

.PHONY: setup host install tiers test-plugins examples demo lint test oracle bench fuzz clean

setup:
	@bash scripts/setup.sh

host: setup
	$(CARGO) build --release --locked -p host

# Puts the release `host` on the PATH (BINDIR=/usr/local/bin to change where).
install: host
	install -d $(BINDIR)
	install -m 0755 $(HOST) $(BINDIR)/host
	@echo "installed $(BINDIR)/host ($$($(BINDIR)/host --version))"

# ---- Plugins: the naming rule, written once --------------------------------
# Every plugin is a crate in a directory of its own; the directory names the
# package and the built component:
#
#   tiers/<dir>/           package one-roof-<dir>  ->  tiers/<dir>.wasm
#   tests/plugins/<dir>/   package test-<dir>      ->  tests/plugins/<dir>.wasm
#   examples/online/plugins/<dir>/  package online-<dir>  ->  examples/online/plugins/<dir>.wasm
#
# The prefixes are TIER_PREFIX and TEST_PREFIX below. cargo writes each
# component as target/wasm32-wasip2/release/<package, dashes as underscores>.wasm
# and the copy gives it its directory's name. tiers/common is a library, not a
# plugin; tiers/data and tests/plugins/data hold data files. The `name` in
# plugin.toml is the plugin's own (ledger, reports) and need not follow the
# rule. `make new-tier NAME=foo` writes a crate that does.
TIER_PREFIX := one-roof-
TEST_PREFIX := test-
TIER_CRATES := $(filter-out common,$(patsubst tiers/%/Cargo.toml,%,$(wildcard tiers/*/Cargo.toml)))
TEST_CRATES := $(patsubst tests/plugins/%/Cargo.toml,%,$(wildcard tests/plugins/*/Cargo.toml))
ONLINE_PREFIX := online-
ONLINE_CRATES := $(patsubst examples/online/plugins/%/Cargo.toml,%,$(wildcard examples/online/plugins/*/Cargo.toml))

# $(call build-plugins,PREFIX,DIRS,PARENT): checks each PARENT/<dir> is the
# package PREFIX<dir>, builds them all, copies each to PARENT/<dir>.wasm.
define build-plugins
	@for d in $(2); do grep -q '^name = "$(1)'"$$d"'"' $(3)/$$d/Cargo.toml || \
	  { echo "$(3)/$$d/Cargo.toml: the package must be named $(1)$$d (naming rule: Makefile, tiers target)" >&2; exit 2; }; done
	$(CARGO) build --release --locked --target $(WASM) $(addprefix -p $(1),$(2))
	@for d in $(2); do cp target/$(WASM)/release/$$(echo "$(1)$$d" | tr - _).wasm $(3)/$$d.wasm; done
endef

# Build every One-Roof plugin as a component: tiers/<dir>.wasm.
tiers: setup
	$(call build-plugins,$(TIER_PREFIX),$(TIER_CRATES),tiers)
	@echo "built $(words $(TIER_CRATES)) plugins: $(addsuffix .wasm,$(addprefix tiers/,$(TIER_CRATES)))"

# Fixture plugins the tests use (misbehaving tier 4, rehearsal tier, wrong
# kind, …): tests/plugins/<dir>.wasm.
test-plugins: setup
	$(call build-plugins,$(TEST_PREFIX),$(TEST_CRATES),tests/plugins)

# The second example plan (examples/online: a column added, backfilled, a
# foreign key added NOT VALID then validated, an index built concurrently):
# examples/online/plugins/<dir>.wasm.
examples: setup
	$(call build-plugins,$(ONLINE_PREFIX),$(ONLINE_CRATES),examples/online/plugins)

# A new tier from templates/tier/: `make new-tier NAME=foo` writes tiers/foo/
# (package one-roof-foo, built by `make tiers` to tiers/foo.wasm) and adds it
# to Cargo.lock. Refuses a directory that exists.
.PHONY: new-tier
new-tier:
	@case "$(NAME)" in ''|*[!a-z0-9-]*|-*|*-) \
	  echo "usage: make new-tier NAME=foo (lowercase letters, digits and dashes)" >&2; exit 2;; esac
	@if [ -e tiers/$(NAME) ]; then echo "tiers/$(NAME) already exists; refusing to touch it" >&2; exit 2; fi
	@mkdir tiers/$(NAME) && mkdir tiers/$(NAME)/src
	@for f in Cargo.toml plugin.toml src/lib.rs; do \
	  sed -e 's/__PACKAGE__/$(TIER_PREFIX)$(NAME)/g' -e 's/__NAME__/$(NAME)/g' templates/tier/$$f > tiers/$(NAME)/$$f; done
	@$(CARGO) metadata --format-version 1 >/dev/null # writes the crate into Cargo.lock, nothing else
	@echo "created tiers/$(NAME)/ (package $(TIER_PREFIX)$(NAME)): edit plugin.toml and src/lib.rs, then make tiers"

# The demo's compile cache is private to the user, as the host requires.
demo: host tiers
	@install -d -m 0700 target/host-compile-cache && chmod 700 target/host-compile-cache
	@HOST=$(HOST) HOST_COMPILE_CACHE=$(CURDIR)/target/host-compile-cache bash scripts/demo.sh

# Style and layering, before any test: formatting, clippy on every target
# with warnings as errors, the host's module graph without a cycle, and
# every relative link in the Markdown resolving (tests/links.rs).
lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings
	bash scripts/module-graph.sh
	$(CARGO) test --release --locked -p host --test links

test: lint host tiers test-plugins examples
	HOST_COMPILE_CACHE=off $(CARGO) test --release --locked -p host --lib --bins
	$(CARGO) test --release --locked -p rollout-manifest -p rollout-connect
	$(CARGO) test --release --locked --no-fail-fast -p host --test rollout --test grants --test tls --test truth --test output --test proof --test faults --test review --test report --test classes --test dryrun --test rehearse --test rehearse_reach --test rehearse_copy --test rehearse_yield --test cache --test roles --test wall --test rolesql --test session --test outcomes --test parity --test inert --test dangerous --test catalog --test reach --test sdk --test ddl --test online --test views --test locks --test concurrent --test lockfile --test batched --test replace --test phase --test signed --test sqllist --test attack --test sequences --test deferred --test commit --test prepared -- --test-threads=3
	@if [ "$$(id -u)" = 0 ]; then $(CARGO) test --release --locked -p host --test report -- --ignored; \
	  else echo "make test: tests/report.rs's full-disk test needs root (it mounts a tmpfs); not run"; fi
	$(CARGO) test --release --locked --no-fail-fast -p host --test hostile --test bounds --test stream --test oracle -- --nocapture

# The differential oracle over every regression statement and 5,000
# mutations (make test runs a fixed-seed sample of 12,000 statements and
# 1,500 mutations): every statement the checker allows runs as a restricted
# role with a tripwire; a disagreement fails it and is written to
# ORACLE_FINDINGS (default target/oracle-findings.txt). ORACLE_SEED=n
# for another sample. .ci/run runs it after make test.
oracle: host
	ORACLE_FULL=1 $(CARGO) test --release --locked -p host --test oracle -- --nocapture

clean:
	$(CARGO) clean
	rm -f tiers/*.wasm tests/plugins/*.wasm examples/online/plugins/*.wasm

# The grants checker under a fixed-seed mutation fuzzer (hostile corpus,
# spliced, repeated, nested, random bytes, huge names): no panic, no abort,
# no slow check. SECONDS=600 for the ten minutes a checker change deserves;
# SEED=n for another sequence. An input that fails is left in target/.
SECONDS ?= 60
fuzz:
	$(CARGO) build --release --locked -p host --example fuzz_check
	FUZZ_SECONDS=$(SECONDS) target/release/examples/fuzz_check

# The host beside its baselines, in one run (docs/performance.md):
# One-Roof end to end vs `psql -f bench/one-roof.sql`, `host gate` cold and
# warm, per statement vs tokio-postgres `query_typed` and psql, then the
# grants check vs parsing, writers during examples/online's change and during
# a backfill of 1,000,000 rows (host vs psql); first, the One-Roof plugins
# compiled cold with Cranelift and with Winch. A scratch cluster; BENCH_RUNS=n (default 5).
bench: host tiers test-plugins examples
	$(CARGO) build --release --locked -p host --example bench --example bench_check --example bench_online --example bench_backfill --example bench_compile
	target/release/examples/bench_compile
	@dir=$$(mktemp -d /tmp/rollout-bench.XXXXXX); chmod 755 $$dir; \
	bash scripts/scratch-pg.sh template $$dir/t >/dev/null && bash scripts/scratch-pg.sh clone $$dir/t $$dir/c >/dev/null; \
	PGHOST=$$dir/c PGUSER=postgres PGDATABASE=directus target/release/examples/bench && \
	PGHOST=$$dir/c PGUSER=postgres PGDATABASE=directus target/release/examples/bench_check && \
	bash scripts/scratch-pg.sh online $$dir/online $${ONLINE_ROWS:-1000000} && \
	ONLINE_TEMPLATE=$$dir/online target/release/examples/bench_online && \
	ONLINE_TEMPLATE=$$dir/online target/release/examples/bench_backfill; rc=$$?; \
	bash scripts/scratch-pg.sh stop $$dir/c; rm -rf $$dir; exit $$rc
