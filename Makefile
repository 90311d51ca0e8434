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

.PHONY: all build test deps install-deps testbases vet unit fuzz-short fuzz-long bench breakout demo clean

all: build

build:
	$(GO) build -o bin/ibuild ./cmd/ibuild

## test: everything CI checks, in order: packages, test bases, vet, unit tests, short fuzzing,
## the BuildKit conformance suite (its first run on a machine also builds the pinned BuildKit).
test: deps
	$(MAKE) --no-print-directory testbases
	$(MAKE) --no-print-directory vet
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz-short
	$(MAKE) --no-print-directory conformance

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

## vet: go vet, then the portability check: every library package vets for
## darwin, and the CLI builds there (inspect and compare IMAGE... run on a laptop; builds need
## Linux). cmd/ibuild's tests are Linux-only end-to-end builds, so it is built, not vetted.
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./layer/... ./parser/... ./progress/... ./cache/... ./registry/... ./report/... ./attest/... ./build/... ./internal/...
	GOOS=darwin $(GO) build -o /dev/null ./cmd/ibuild

unit:
	hack/gotest.sh -count=1 -timeout $(TEST_TIMEOUT) ./...

fuzz-short:
	hack/fuzz.sh $(FUZZTIME_SHORT)

fuzz-long:
	hack/fuzz.sh $(FUZZTIME_LONG)

bench:
	$(GO) test -bench . -run '^$$' ./...

## breakout: the RUN-time attacks of SECURITY.md (devices, seccomp, cgroups,
## keyrings, --security-opt, sudo), each checking a host canary, and the
## store and input attacks (another user in the store, FIFOs, signals,
## kill -9 debris, the context rename race); needs root.
breakout: deps
	$(MAKE) --no-print-directory testbases
	hack/gotest.sh -count=1 -timeout $(TEST_TIMEOUT) -run 'Breakout|TestDefaultProfile|TestCompile' \
		./build/sandbox/... ./build/buildctx ./cmd/ibuild

## demo: the mission's comparison: examples/demo (a small app) built on Alpine
## and on Debian by `ibuild compare`; the report opens with which image is
## smaller, by how much, and what to change (examples/demo/compare.sh). Alpine
## is ../shared/testdata/alpine's mini rootfs when present, else busybox stands in.
DEMO_ROOT ?= /var/tmp/ibuild-demo
export DEMO_ROOT
demo: deps build
	hack/testbases.sh busybox debian
	examples/demo/compare.sh bin/ibuild demo-out

clean:
	rm -rf bin/

.PHONY: conformance buildkit

## conformance: build every case of testdata/conformance with BuildKit (the
## pinned reference, installed by hack/buildkit.sh) and with ibuild, and
## compare the images (testdata/conformance/README.md).
## RUN=REGEX picks cases (make conformance RUN=env-home), CONFORMANCE_CASES=DIR
## takes the cases from another directory. `go -C conformance test` without a
## package argument streams the per-case lines and the summary even on success;
## the whole output is kept in bin/conformance.log and the summary repeated last.
CONFORMANCE_PARALLEL ?= 3
RUN ?=
conformance: deps build
	hack/testbases.sh
	bk=$$(hack/buildkit.sh); status=0; \
	IBUILD_CONFORMANCE=1 IBUILD_BIN=$(CURDIR)/bin/ibuild IBUILD_BUILDKIT_BIN="$$bk" \
	$(if $(CONFORMANCE_CASES),CONFORMANCE_CASES=$(abspath $(CONFORMANCE_CASES))) \
	$(GO) -C conformance test -count=1 -timeout 30m -parallel $(CONFORMANCE_PARALLEL) -run 'TestConformance/case/$(RUN)' \
		2>&1 | tee bin/conformance.log || status=$$?; \
	grep -h -e '^different:' -e '^conformance:' bin/conformance.log || true; exit $$status

## buildkit: install the pinned buildkitd/buildctl once per machine (prints their directory).
buildkit:
	hack/buildkit.sh
