# agent-vault: `make test` runs every test on a fresh machine (it installs what it needs);
# `make demo` runs the quick start end to end in a temporary directory.
SHELL := /bin/bash
GO ?= go
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/bin
FUZZTIME ?= 2s

.PHONY: all build deps test test-go test-fuzz test-python test-node demo bench vectors fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/agent-vault ./cmd/agent-vault

deps:
	@scripts/ensure-deps.sh

test: deps build test-go test-fuzz test-python test-node

test-go:
	$(GO) vet ./...
	$(GO) test ./...

# Every fuzz target runs briefly here; run longer by hand, e.g. make fuzz FUZZTIME=5m.
test-fuzz:
	@set -e; for pkg in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | cut -d' ' -f2); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$pkg >/dev/null; \
	  done; \
	done

fuzz:
	$(MAKE) test-fuzz FUZZTIME=$(FUZZTIME)

$(VENV)/.installed: sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e 'sdk/python[test]'
	touch $@

test-python: build $(VENV)/.installed
	AGENT_VAULT_BIN=$(BIN)/agent-vault $(VENV)/bin/pytest -q sdk/python

test-node: build
	cd sdk/node && npm ci --no-audit --no-fund --loglevel=error && AGENT_VAULT_BIN=$(BIN)/agent-vault npm test

demo: build
	@scripts/demo.sh $(BIN)/agent-vault

bench: deps build
	$(GO) run ./bench -bin $(BIN)/agent-vault

vectors:
	$(GO) run ./vault/internal/vectorgen -out testdata/vectors

clean:
	rm -rf $(BIN) $(VENV) sdk/node/node_modules sdk/node/dist
