# chat-server. `make run` and `make test` set up everything they need on Debian.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= swift
PY := .venv/py/bin/python
DEBUG_BIN := .build/debug/chat-server
RELEASE_BIN := .build/release/chat-server
AUTOBAHN_CORE := '1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*' '9.*' '10.*'

.PHONY: help deps build release run bench test test-unit test-web test-integration conformance-core conformance test-asan fuzz fuzz-quick docker-check lint env-example clean

help:
	@echo "make run          build (release) and serve on PORT (starts a local redis-server if none answers)"
	@echo "make test         unit, integration and conformance tests (starts its own redis-servers)"
	@echo "make conformance  the whole Autobahn TestSuite (compression sections too)"
	@echo "make bench        chat-server vs Nchan, same tool, same run; writes docs/BENCHMARKS.md (~15 min)"
	@echo "make test-asan    integration and conformance tests against an AddressSanitizer build"
	@echo "make fuzz         libFuzzer on the HTTP, frame and protocol parsers (FUZZ_SECONDS per target, default 300)"
	@echo "make docker-check lint docker/Dockerfile and validate docker/compose.yaml"
	@echo "make lint         swift-format, shellcheck, eslint, 120 columns (docs/STYLE.md); LINT_PATHS=... for a part"
	@echo "make clean        remove every build folder (.build, .build-*, build/); keeps .venv (Python tools)"
	@echo "make env-example  regenerate .env.example from the settings table"

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product chat-server

run: release
	@scripts/run-local.sh $(ARGS)

# Installs nginx + the Nchan module (the peer), builds both release products, runs
# every workload. BENCH_ARGS="--only W1,W3 --seconds 10" for a subset.
bench: deps
	@scripts/deps.sh --bench
	$(SWIFT) build -c release
	python3 bench/run.py $(BENCH_ARGS)

test: deps
	@scripts/deps.sh --test
	@scripts/py-venv.sh
	$(SWIFT) build --build-tests
	$(MAKE) --no-print-directory lint test-unit test-web test-integration conformance-core fuzz-quick docker-check

test-unit:
	$(SWIFT) test --skip-build

# The web client's pure modules (web/js/), with node's own test runner (Debian's nodejs).
test-web:
	node --test Tests/web/*.test.mjs

test-integration:
	@scripts/py-venv.sh
	CHAT_SERVER_BIN=$(DEBUG_BIN) CHAT_BENCH_BIN=.build/debug/chat-bench $(PY) -m pytest -q Tests/integration

# Autobahn sections 1-10 against /echo of a server that needs no Redis for it.
conformance-core:
	@scripts/conformance.sh $(DEBUG_BIN) build/autobahn $(AUTOBAHN_CORE)

conformance: release
	AUTOBAHN_ALLOW_UNIMPLEMENTED="12. 13." scripts/conformance.sh $(RELEASE_BIN) build/autobahn-full '*'

# The server built with AddressSanitizer (and LeakSanitizer); any report fails the run.
ASAN_BIN := .build-asan/debug/chat-server
test-asan: deps
	@scripts/deps.sh --test
	@scripts/py-venv.sh
	$(SWIFT) build --sanitize=address --scratch-path .build-asan
	CHAT_SANITIZED=1 CHAT_SERVER_BIN=$(ASAN_BIN) CHAT_BENCH_BIN=.build-asan/debug/chat-bench $(PY) -m pytest -q Tests/integration
	@scripts/conformance.sh $(ASAN_BIN) build/autobahn-asan $(AUTOBAHN_CORE)
	@! grep -l Sanitizer build/autobahn-asan/server.log

# libFuzzer on ChatCore's parsers: the package's ChatFuzz target built by SwiftPM with
# libFuzzer and AddressSanitizer into .build-fuzz (scripts/fuzz.sh, Sources/ChatFuzz).
FUZZ_SECONDS ?= 300
fuzz:
	@scripts/fuzz.sh 1000000000 $(FUZZ_SECONDS)

# Part of `make test`: 300,000 inputs per parser (a few seconds each).
fuzz-quick:
	@scripts/fuzz.sh 300000 60

docker-check:
	@scripts/check-docker.sh

# scripts/lint.sh over Sources, Plugins, Tests, Fuzz, Package.swift, scripts, bench, web, .ci/run
# (LINT_PATHS="Sources/ChatCore scripts" for a part; scripts/lint.sh --fix formats the Swift first):
# swift-format lint --strict (.swift-format), no line over 120 columns, shellcheck, and Debian's
# eslint 6 (.eslintrc.json, scripts/eslint-rules) on the web client's modules and their tests.
# docs/STYLE.md says why.
lint:
	@scripts/deps.sh --lint
	@scripts/lint.sh $(LINT_PATHS)

env-example: build
	$(DEBUG_BIN) --env-example > .env.example

# The Swift builds (.build; .build-asan, .build-fuzz), everything the scripts and tests write
# (build/: logs, corpora, reports) and pytest's caches. Not .venv: the Python tools, slow to
# install and not a build.
clean:
	rm -rf .build .build-* build .pytest_cache
	find Tests bench -name __pycache__ -type d -prune -exec rm -rf {} +
