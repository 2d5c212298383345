# `make test` is the one command that runs every test (CI calls it through
# .ci/run). It installs what the tests need when it is missing: Go modules,
# Debian's chromium, Node.js and the browser tests' npm packages, coturn
# (its turnutils_uclient, for the TURN test), ffmpeg, and the WordPress and PHP
# packages of the plugin's test; it starts MariaDB when nothing answers on
# 127.0.0.1:3306 (installing mariadb-server if needed) and PostgreSQL when
# nothing answers on 127.0.0.1:5432 (installing postgresql if needed), and the
# tests' S3 server (tools/s3server) when nothing answers on 127.0.0.1:9333.
GO ?= go
PKGS := ./...
BIN_DIR := $(CURDIR)/.bin

.PHONY: test test-go test-browser deps vet build fuzz bench bench-widget bench-call screenshots clean

test: deps vet test-go test-browser

test-go:
	$(GO) test -race -timeout 30m -count=1 $(PKGS)

# Browser tests: headless chromium against the real binary, several test
# files at once (each runs its own server on its own port and data).
test-browser:
	$(GO) build -o $(BIN_DIR)/parley ./cmd/parley
	cd test/browser && PARLEY_BIN=$(BIN_DIR)/parley node --test --test-concurrency=3 --test-timeout=600000 *.test.mjs

deps:
	@command -v $(GO) >/dev/null || { echo "Go is required: install Go 1.26+ from https://go.dev/dl/"; exit 1; }
	$(GO) mod download
	./scripts/deps-browser.sh
	./scripts/deps-media.sh
	./scripts/deps-turn.sh
	./scripts/deps-wordpress.sh
	./scripts/deps-postgres.sh
	./scripts/deps-redis.sh
	./scripts/deps-s3.sh
	./scripts/deps-lb.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

build:
	$(GO) build -o parley ./cmd/parley

# The screenshots the browser tests took, copied to where the README shows them.
screenshots:
	cp test/browser/screenshots/*.png docs/screenshots/

# A short fuzzing pass over every fuzz target (their seed corpora already run in `make test`).
fuzz:
	$(GO) test -run x -fuzz FuzzDecodeEnvelope -fuzztime 30s ./protocol/
	$(GO) test -run x -fuzz FuzzSniff -fuzztime 30s ./internal/media/
	$(GO) test -run x -fuzz FuzzDisposition -fuzztime 30s ./internal/media/

bench: build
	./scripts/bench-chat.sh

# The widget in a browser: bytes, time to ready, connect and acknowledge (BENCHMARKS.md).
bench-widget: deps
	$(GO) build -o $(BIN_DIR)/parley ./cmd/parley
	PARLEY_BIN=$(BIN_DIR)/parley node test/browser/bench-widget.mjs --runs 15
	PARLEY_BIN=$(BIN_DIR)/parley node test/browser/bench-widget.mjs --runs 9 --latency 80

# A video call between two browsers: ring and accept → first frame (BENCHMARKS.md).
bench-call: deps
	$(GO) build -o $(BIN_DIR)/parley ./cmd/parley
	PARLEY_BIN=$(BIN_DIR)/parley node test/browser/bench-call.mjs --runs 20
	PARLEY_BIN=$(BIN_DIR)/parley node test/browser/bench-call.mjs --runs 20 --relay

clean:
	rm -rf parley $(BIN_DIR)
