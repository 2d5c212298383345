# `make test` is the one command that runs every test (CI calls it through
# .ci/run). It installs what the tests need when it is missing.
GO ?= go
PKGS := ./...

.PHONY: test deps vet build fuzz bench clean

test: deps vet
	$(GO) test -race -timeout 30m -count=1 $(PKGS)

deps:
	@command -v $(GO) >/dev/null || { echo "Go is required: install Go 1.26+ from https://go.dev/dl/"; exit 1; }
	$(GO) mod download

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

build:
	$(GO) build -o parley ./cmd/parley

# A short fuzzing pass over every fuzz target (their seed corpora already run in `make test`).
fuzz:
	$(GO) test -run x -fuzz FuzzDecodeEnvelope -fuzztime 30s ./protocol/
	$(GO) test -run x -fuzz FuzzSniff -fuzztime 30s ./internal/media/
	$(GO) test -run x -fuzz FuzzDisposition -fuzztime 30s ./internal/media/

bench: build
	./scripts/bench-chat.sh

clean:
	rm -f parley
