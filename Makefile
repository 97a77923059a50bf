# kure: build, demo, test, bench. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
KURE := target/debug/kure
PLUGIN := target/debug/libkure_terraform_generator.so
DEMO_HOME ?= $(CURDIR)/target/demo-home

.PHONY: help build plugins plugin sign-plugin install-plugin demo test check fmt clippy doc unit deny bench bench-compare fuzz fuzz-build clean

help:
	@echo "make demo    build kure and the terraform plugin, generate manifests from examples/"
	@echo "make test    fmt check, clippy -D warnings, the library docs, cargo deny, every test (what CI runs)"
	@echo "make bench   benchmarks (prints a table)"
	@echo "make bench-compare BASE=REV   this tree against revision REV, side by side"
	@echo "make fuzz    run every fuzz target for FUZZ_SECONDS (default 60) each"
	@echo "make build   build the workspace"
	@echo "make plugin sign-plugin install-plugin   the design's example plugin: build"
	@echo "             terraform-generator.so, sign it (KEY=private-key.pem), copy both into"
	@echo "             PREFIX (default /usr/local/lib/kure/plugins); DIST=DIR moves the files"

build:
	$(CARGO) build --workspace

plugins:
	$(CARGO) build -p kure-terraform-generator

# The distribution targets of Kure's plugin architecture design, for the example plugin:
# `make plugin` builds DIST/terraform-generator.so (DIST defaults to here), `make sign-plugin`
# signs it with the design's openssl command (KEY= picks the private key, default DIST/private-key.pem), and
# `make install-plugin` copies the library and its signature into PREFIX, a plugin directory
# kure searches (the default needs root). kure loads it once a key in
# /etc/kure/trusted-signers.pem (or `kure trust add`) verifies the signature.
DIST ?= .
KEY ?= $(DIST)/private-key.pem
PREFIX ?= /usr/local/lib/kure/plugins

plugin:
	$(CARGO) build --release -p kure-terraform-generator
	cp target/release/libkure_terraform_generator.so $(DIST)/terraform-generator.so

sign-plugin:
	cd $(DIST) && openssl dgst -sha256 -sign $(abspath $(KEY)) -out terraform-generator.so.sig terraform-generator.so

install-plugin:
	install -d $(PREFIX)
	install -m 0644 $(DIST)/terraform-generator.so $(DIST)/terraform-generator.so.sig $(PREFIX)/

$(KURE) $(PLUGIN): FORCE
	$(CARGO) build -p kure-cli -p kure-terraform-generator
FORCE:

# The demo signs the example plugin with a demo key, trusts that key in a private KURE_HOME,
# installs the plugin, and generates every example: the same path a user takes.
demo: $(KURE) $(PLUGIN)
	rm -rf $(DEMO_HOME) out && mkdir -p $(DEMO_HOME)
	@echo "== kure plugins keygen / sign / trust add / install"
	KURE_HOME=$(DEMO_HOME) $(KURE) plugins keygen --bits 2048 --out $(DEMO_HOME)/demo
	cp $(PLUGIN) $(DEMO_HOME)/libkure_terraform_generator.so
	KURE_HOME=$(DEMO_HOME) $(KURE) plugins sign $(DEMO_HOME)/libkure_terraform_generator.so --key $(DEMO_HOME)/demo.key.pem
	KURE_HOME=$(DEMO_HOME) $(KURE) trust add $(DEMO_HOME)/demo.pub.pem
	KURE_HOME=$(DEMO_HOME) $(KURE) plugins install $(DEMO_HOME)/libkure_terraform_generator.so
	KURE_HOME=$(DEMO_HOME) $(KURE) plugins list
	@echo "== kure gvks"
	KURE_HOME=$(DEMO_HOME) $(KURE) gvks
	@echo "== kure generate -f examples/  (stdout)"
	KURE_HOME=$(DEMO_HOME) $(KURE) generate -f examples/
	@echo "== kure generate -f examples/ -o out/"
	KURE_HOME=$(DEMO_HOME) $(KURE) generate -f examples/ -o out
	@find out -name '*.yaml' | sort
	@echo "== kure --isolation process generate -f examples/  (plugin in a sandboxed worker: same bytes)"
	KURE_HOME=$(DEMO_HOME) $(KURE) --isolation process generate -f examples/ | cmp - <(KURE_HOME=$(DEMO_HOME) $(KURE) generate -f examples/) && echo "identical output in both isolation modes"
	@echo "== kure plugins status  (hash, signature, load in a sandboxed worker, initialize, health_check, shutdown)"
	KURE_HOME=$(DEMO_HOME) $(KURE) plugins status

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The library docs plugin authors and kure-core's users read: no broken or private links.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q -p kure-core -p kure-plugin-api --no-deps --all-features

# Tests that need a tool this machine lacks skip loudly (never under CI) and are listed at the
# end.
unit:
	$(CARGO) test --workspace
	@echo "== the containment tests again, against release builds of kure and the fixture plugins"
	KURE_TEST_PROFILE=release $(CARGO) test -p kure-tests --test containment

check: fmt clippy

# The tests, then the list of what was skipped (a missing tool: a failure under CI).
test: fmt clippy doc
	@mkdir -p target && rm -f target/test-skips.txt
	@$(MAKE) --no-print-directory deny unit
	@if [ -s target/test-skips.txt ]; then \
		echo "== SKIPPED:"; sort -u target/test-skips.txt; \
	else echo "== no test skipped"; fi

# cargo deny (deny.toml): licenses, bans, sources; then advisories, whose database is on GitHub.
# When it cannot be fetched the check is listed as skipped, with the reason.
deny:
	@if ! $(CARGO) deny --version >/dev/null 2>&1; then \
		if [ -n "$$CI" ]; then echo "cargo-deny is missing (cargo install --locked cargo-deny); CI skips nothing" >&2; exit 1; fi; \
		echo "SKIPPED cargo deny: not installed (cargo install --locked cargo-deny)" | tee -a target/test-skips.txt; \
		exit 0; \
	fi; \
	$(CARGO) deny check licenses bans sources && \
	if $(CARGO) deny check advisories >target/deny-advisories.log 2>&1; then \
		echo "== cargo deny advisories: ok"; \
	elif grep -q "failed to fetch advisory database" target/deny-advisories.log; then \
		echo "cargo deny advisories: the RustSec database (github.com/RustSec/advisory-db) cannot be fetched from this machine" | tee -a target/test-skips.txt; \
	else cat target/deny-advisories.log; exit 1; fi

# Release builds of kure, the benchmark plugin and the in-process boundary benchmark, then one
# table (tests/bench/run.py; BENCH_QUICK=1 for a shorter run).
bench:
	$(CARGO) build --release -p kure-cli -p kure-bench-app-workload -p kure-fixture-rawabi
	$(CARGO) build --release -p kure-tests --bin bench_boundary
	python3 tests/bench/run.py

# This tree against another revision (BASE, e.g. a commit before a refactor), interleaved on the
# same inputs: `make bench-compare BASE=73b4153`. BASE is built in a temporary git worktree
# with a target directory of its own (target/bench-base), then tests/bench/run.py runs its
# `baseline` section (BENCH_BASELINE) only.
BASE ?= HEAD
bench-compare:
	$(CARGO) build --release -p kure-cli -p kure-bench-app-workload -p kure-fixture-rawabi
	$(CARGO) build --release -p kure-tests --bin bench_boundary
	rm -rf target/bench-base/src && git worktree prune
	git worktree add --detach target/bench-base/src $(BASE)
	cd target/bench-base/src && CARGO_TARGET_DIR=$(CURDIR)/target/bench-base/target \
		$(CARGO) build --release -p kure-cli -p kure-bench-app-workload; \
		status=$$?; cd $(CURDIR) && git worktree remove --force target/bench-base/src; exit $$status
	BENCH_ONLY=baseline BENCH_BASELINE=$(CURDIR)/target/bench-base/target/release python3 tests/bench/run.py

# Coverage-guided fuzzing with libFuzzer on the stable toolchain: the instrumentation flags
# cargo-fuzz passes, without its nightly-only sanitizers. `--target` keeps the flags off build
# scripts and proc macros. Each target starts from its committed seeds (read only) and grows a
# working corpus under target/fuzz; a crash leaves its input in target/fuzz/artifacts/TARGET/
# (copy it to kure-core/fuzz/regressions/TARGET/ with the fix: `make test` replays both).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= yaml spec keys index lock
FUZZ_DIR := kure-core/fuzz
FUZZ_TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks

fuzz-build:
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --release --manifest-path $(FUZZ_DIR)/Cargo.toml \
		--target $(FUZZ_TRIPLE) --target-dir target/fuzz

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz/corpus/$$t target/fuzz/artifacts/$$t; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: target/fuzz/$$t.log)"; \
		if ! target/fuzz/$(FUZZ_TRIPLE)/release/$$t target/fuzz/corpus/$$t $(FUZZ_DIR)/corpus/$$t \
			-dict=$(FUZZ_DIR)/dict/$$t.dict -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=target/fuzz/artifacts/$$t/ >target/fuzz/$$t.log 2>&1; then \
			tail -n 40 target/fuzz/$$t.log; \
			echo "fuzz target $$t found a problem: the input is in target/fuzz/artifacts/$$t/" >&2; \
			exit 1; \
		fi; \
		grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' target/fuzz/$$t.log; \
	done

clean:
	$(CARGO) clean
	rm -rf out
