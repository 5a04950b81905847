# podsleuth Makefile. Everything the tests need (criu 4.2.1, Kubernetes binaries, apt packages,
# checkpointctl as a reference tool) is installed by `make setup`, idempotently, under
# PODSLEUTH_CACHE (outside the repository). `make test` runs it first.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
export PODSLEUTH_CACHE ?= $(HOME)/.cache/podsleuth-dev
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -s -w: a release build carries no symbol table or DWARF (stack traces keep function names).
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin
# Where tests find the real components (set by `make setup`; tests skip with a reason when one
# is missing, and fail instead when CI=true).
export PODSLEUTH_CRIU ?= $(PODSLEUTH_CACHE)/criu/bin/criu
export PODSLEUTH_K8S_BIN ?= $(PODSLEUTH_CACHE)/k8s/bin
export PODSLEUTH_CHECKPOINTCTL ?= $(PODSLEUTH_CACHE)/checkpointctl/bin/checkpointctl
GOTEST_FLAGS ?= -timeout 45m
# YARA (libyara through go-yara, Debian's libyara-dev and golang-github-hillu-go-yara-dev, installed
# by `make setup`) is linked into every build and test run here; `make build YARA=` builds without
# it (then `podsleuth yara` says so, and the YARA tests fail under CI=true).
YARA ?= yara
export GOFLAGS := $(strip $(GOFLAGS) $(if $(YARA),-tags=$(YARA)))
UNIT_PKGS = $$($(GO) list ./... | grep -v /test/e2e)

.PHONY: help build run analyzer-image setup test test-unit test-e2e golden fixtures fuzz bench lint cover clean demo demo-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build bin/podsleuth and the kubectl plugin bin/kubectl-podsleuth
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/podsleuth ./cmd/podsleuth
	ln -sf podsleuth $(BIN)/kubectl-podsleuth

# The hunt's analyzer image: podsleuth with YARA linked statically (libyara.a and what yara.pc
# names; glibc static, so netgo/osusergo keep it from needing NSS), packed with no shell by
# `podsleuth hunt image build` (docs/hunt.md). Times come from the commit: same commit, same digest.
ANALYZER_DIR ?= $(BIN)
ANALYZER_LDFLAGS := $(LDFLAGS) -linkmode external -extldflags '-static -Wl,--start-group -lyara -lmagic -ljansson -lcrypto -lz -lbz2 -llzma -lm -ldl -lpthread -Wl,--end-group'

analyzer-image: ## build the hunt's analyzer image: $(ANALYZER_DIR)/analyzer-image.tar (OCI archive) and .ref (name@sha256)
	@mkdir -p $(ANALYZER_DIR)
	GOFLAGS= $(GO) build -trimpath -tags 'yara,netgo,osusergo' -ldflags "$(ANALYZER_LDFLAGS)" -o $(ANALYZER_DIR)/podsleuth-analyzer ./cmd/podsleuth
	$(ANALYZER_DIR)/podsleuth-analyzer hunt image build --binary $(ANALYZER_DIR)/podsleuth-analyzer \
		--revision "$$(git rev-parse HEAD)" --created "$$(git log -1 --format=%cI)" \
		-f $(ANALYZER_DIR)/analyzer-image.tar --ref-file $(ANALYZER_DIR)/analyzer-image.ref

run: build ## run podsleuth (the TUI; the bundled sample evidence when no cluster answers)
	$(BIN)/podsleuth

setup: ## install everything the tests need (idempotent, cached in PODSLEUTH_CACHE)
	test/setup/all.sh

test: setup ## install what the tests need, then run every test (unit, real CRIU, real cluster, TUI, reports)
	test/run-tests.sh all

test-unit: ## run the tests that need no cluster
	test/run-tests.sh unit

test-e2e: setup ## run only the end-to-end tests against the real cluster
	test/run-tests.sh e2e

golden: ## rewrite golden files (review the diff!)
	$(GO) test $$(grep -rl --include='*_test.go' -e 'flag.Bool("update"' . | xargs -n1 dirname | sort -u) -update

fixtures: ## regenerate the real CRIU/podman fixtures under test/fixtures
	test/fixtures/gen.sh

fuzz: ## run every fuzz target for FUZZTIME (default 30s each)
	test/fuzz.sh $${FUZZTIME:-30s}

bench: setup ## benchmarks against checkpointctl/kubectl on the same inputs (prints a table)
	test/bench/run.sh

lint: ## gofmt, go vet, the layering, file-size and architecture-doc checks
	@u=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$u" ] || { echo "gofmt: $$u"; exit 1; }
	$(GO) vet ./...
	$(GO) test -run 'TestLayering|TestFileSize|TestArchitecture' ./test/

cover: ## unit test coverage report
	$(GO) test -coverprofile=cover.out $(UNIT_PKGS) && $(GO) tool cover -func=cover.out | tail -1

demo: setup build ## start the real single-node cluster with demo workloads and open podsleuth on it
	test/e2e/demo.sh up && eval "$$(test/e2e/demo.sh env)" && $(BIN)/podsleuth

demo-down: ## stop the demo cluster and leave nothing running
	test/e2e/demo.sh down

clean: ## remove build outputs (not the PODSLEUTH_CACHE)
	rm -rf $(BIN) cover.out
