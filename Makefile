# ibuild developer and CI entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := /usr/local/go/bin:$(PATH)

GO ?= go
# Where hack/testbases.sh keeps the base rootfs tarballs (outside the repo).
IBUILD_TESTBASES ?= /var/cache/ibuild-testbases
export IBUILD_TESTBASES
TEST_TIMEOUT ?= 25m
FUZZTIME_SHORT ?= 10s
FUZZTIME_LONG ?= 10m

.PHONY: all build test deps install-deps testbases vet unit fuzz-short fuzz-long bench demo clean

all: build

build:
	$(GO) build -o bin/ibuild ./cmd/ibuild

## test: everything CI checks, in order: packages, test bases, vet, unit tests, short fuzzing.
test: deps
	$(MAKE) --no-print-directory testbases
	$(MAKE) --no-print-directory vet
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz-short

## deps: install missing Debian packages when root (quick no-op when all are present), check Go.
deps:
	@command -v $(GO) >/dev/null || { echo "go not found (expected in /usr/local/go/bin)"; exit 1; }
	@$(GO) version
	@if [ "$$(id -u)" = 0 ]; then hack/install-deps.sh; \
	else hack/install-deps.sh || echo "warning: not root; tests needing the missing packages will skip"; fi

## install-deps: apt-get update + install every package in hack/apt-packages.txt.
install-deps:
	hack/install-deps.sh --update

testbases:
	hack/testbases.sh

vet:
	$(GO) vet ./...

unit:
	hack/gotest.sh -count=1 -timeout $(TEST_TIMEOUT) ./...

fuzz-short:
	hack/fuzz.sh $(FUZZTIME_SHORT)

fuzz-long:
	hack/fuzz.sh $(FUZZTIME_LONG)

bench:
	$(GO) test -bench . -run '^$$' ./...

# TODO(integrator): build the embedded example (Dockerfile + context) with
# `go run ./cmd/ibuild build ...` on top of the imported busybox test base and
# show the result; for now this only proves the command runs.
demo: testbases
	$(GO) run ./cmd/ibuild --help

clean:
	rm -rf bin/
