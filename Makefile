# The two commands: `make demo` (One-Roof end to end on a scratch cluster)
# and `make test` (every test). Both install what they need first.

CARGO     ?= cargo
WASM      := wasm32-wasip2
# The operator's binary, the demo's and the tests' are one release build:
# one compile on a fresh machine, and no libpg_query C assertions (a debug
# build aborts on some statements instead of refusing them).
HOST      := target/release/host
BINDIR    ?= $(HOME)/.cargo/bin
TIER_CRATES := $(filter-out common,$(patsubst tiers/%/Cargo.toml,%,$(wildcard tiers/*/Cargo.toml)))
TEST_CRATES := $(patsubst tests/plugins/%/Cargo.toml,%,$(wildcard tests/plugins/*/Cargo.toml))

.PHONY: setup host install tiers test-plugins demo test bench clean

setup:
	@bash scripts/setup.sh

host: setup
	$(CARGO) build --release --locked -p host

# Puts the release `host` on the PATH (BINDIR=/usr/local/bin to change where).
install: host
	install -d $(BINDIR)
	install -m 0755 $(HOST) $(BINDIR)/host
	@echo "installed $(BINDIR)/host ($$($(BINDIR)/host --version))"

# Build every One-Roof plugin as a component: tiers/<crate>.wasm.
tiers: setup
	$(CARGO) build --release --locked --target $(WASM) $(addprefix -p one-roof-,$(TIER_CRATES))
	@for c in $(TIER_CRATES); do cp target/$(WASM)/release/one_roof_$$(echo $$c | tr - _).wasm tiers/$$c.wasm; done
	@echo "built $(words $(TIER_CRATES)) plugins: $(addsuffix .wasm,$(addprefix tiers/,$(TIER_CRATES)))"

# Fixture plugins the tests use (misbehaving tier 4, rehearsal tier).
test-plugins: setup
	$(CARGO) build --release --locked --target $(WASM) $(addprefix -p test-,$(TEST_CRATES))
	@for c in $(TEST_CRATES); do cp target/$(WASM)/release/test_$$c.wasm tests/plugins/$$c.wasm; done

demo: host tiers
	@HOST=$(HOST) HOST_COMPILE_CACHE=$(CURDIR)/target/host-compile-cache bash scripts/demo.sh

test: host tiers test-plugins
	HOST_COMPILE_CACHE= $(CARGO) test --release --locked -p host --lib --bins
	$(CARGO) test --release --locked -p host --test rollout --test grants --test tls -- --test-threads=3
	$(CARGO) test --release --locked -p host --test hostile -- --nocapture

clean:
	$(CARGO) clean
	rm -f tiers/*.wasm tests/plugins/*.wasm

# Per-statement cost of the grants check beside its baselines (parse alone,
# the statement's round trip), in one run, on a scratch cluster.
bench: setup
	$(CARGO) build --release --locked -p host --example bench_check
	@dir=$$(mktemp -d /tmp/rollout-bench.XXXXXX); chmod 755 $$dir; \
	bash scripts/scratch-pg.sh template $$dir/t >/dev/null && bash scripts/scratch-pg.sh clone $$dir/t $$dir/c >/dev/null; \
	PGHOST=$$dir/c PGUSER=postgres PGDATABASE=directus target/release/examples/bench_check; rc=$$?; \
	bash scripts/scratch-pg.sh stop $$dir/c; rm -rf $$dir; exit $$rc
