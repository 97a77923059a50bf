# kure: build, demo, test, bench. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
KURE := target/debug/kure
PLUGIN := target/debug/libkure_terraform_generator.so
DEMO_HOME ?= $(CURDIR)/target/demo-home

.PHONY: help build plugins demo test check fmt clippy unit bench clean

help:
	@echo "make demo    build kure and the terraform plugin, generate manifests from examples/"
	@echo "make test    fmt check, clippy -D warnings, every test (what CI runs)"
	@echo "make bench   benchmarks (prints a table)"
	@echo "make build   build the workspace"

build:
	$(CARGO) build --workspace

plugins:
	$(CARGO) build -p kure-terraform-generator

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

unit:
	$(CARGO) test --workspace

check: fmt clippy

test: fmt clippy unit

# Release builds of kure, the benchmark plugin and the in-process boundary benchmark, then one
# table (tests/bench/run.py; BENCH_QUICK=1 for a shorter run).
bench:
	$(CARGO) build --release -p kure-cli -p kure-bench-app-workload
	$(CARGO) build --release -p kure-tests --bin bench_boundary
	python3 tests/bench/run.py

clean:
	$(CARGO) clean
	rm -rf out
