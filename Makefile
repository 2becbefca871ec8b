# agent-vault: `make test` runs every test on a fresh machine (it installs what it needs);
# `make demo` runs the quick start end to end in a temporary directory.
SHELL := /bin/bash
GO ?= go
PYTHON ?= python3
VENV := .venv
VENV_MCP := .venv-mcp
BIN := $(CURDIR)/bin
FUZZTIME ?= 2s
# What --version reports (internal/cli/version.go): the tag (git describe), the commit, the build date.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo dev$$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty))
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# Taken once and handed to sub-makes, so both programs of one `make` carry the same date.
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILD_DATE := $(BUILD_DATE)
export BUILD_DATE
CLIPKG := github.com/agent-vault/agent-vault/internal/cli
# A static binary starts faster than one that loads the C library, which matters for `get`.
GOBUILDFLAGS ?= -trimpath -ldflags='-s -X $(CLIPKG).version=$(VERSION) -X $(CLIPKG).commit=$(COMMIT) -X $(CLIPKG).date=$(BUILD_DATE)'
# make install: both programs, the manual pages and the completion scripts under PREFIX.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
MANOUT := $(CURDIR)/build/man
# goreleaser v2.17.0 is the last release that builds with Go 1.26; cyclonedx-gomod writes the SBOMs.
GORELEASER_VERSION ?= v2.17.0
CYCLONEDX_VERSION ?= v1.10.0
TOOLS := $(CURDIR)/build/tools
# staticcheck 2026.2.2, the newest release, analyses Go 1.26 code; make test-lint installs it with go install.
STATICCHECK_VERSION ?= v0.8.2
NODE_MODULES := sdk/node/node_modules/.installed

.PHONY: all build install man deps test test-go test-lint test-fuzz test-python test-node test-mcp test-recipes test-release release-tools release-snapshot demo bench bench-quick bench-mcp vectors vectors-regen fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOBUILDFLAGS) -o $(BIN)/agent-vault ./cmd/agent-vault
	CGO_ENABLED=0 $(GO) build $(GOBUILDFLAGS) -o $(BIN)/agent-vault-mcp ./cmd/agent-vault-mcp

# Manual pages generated from the command definitions (internal/tools/mangen), into build/man.
man:
	@rm -rf $(MANOUT)
	@$(GO) run ./internal/tools/mangen -out $(MANOUT)

install: build man
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(DATADIR)/bash-completion/completions" \
	  "$(DESTDIR)$(DATADIR)/zsh/site-functions" "$(DESTDIR)$(DATADIR)/fish/vendor_completions.d"
	install -m 0755 $(BIN)/agent-vault $(BIN)/agent-vault-mcp "$(DESTDIR)$(BINDIR)/"
	install -m 0644 $(MANOUT)/*.1 "$(DESTDIR)$(MANDIR)/man1/"
	$(BIN)/agent-vault completions bash > "$(DESTDIR)$(DATADIR)/bash-completion/completions/agent-vault"
	$(BIN)/agent-vault completions zsh > "$(DESTDIR)$(DATADIR)/zsh/site-functions/_agent-vault"
	$(BIN)/agent-vault completions fish > "$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/agent-vault.fish"
	@echo "installed agent-vault and agent-vault-mcp in $(DESTDIR)$(BINDIR)"

deps:
	@scripts/ensure-deps.sh

# Every suite, one summary line each; the output of a suite that fails is printed after its line.
test:
	@scripts/test-all.sh deps build lint go fuzz python node mcp recipes release

test-go:
	$(GO) test ./...

# The linters, each clean: gofmt and go vet, staticcheck (pinned, in build/tools); mypy --strict and ruff check
# (pinned in the Python SDK's lint extra, in .venv) over the SDK, tests/mcp (with .venv-mcp's packages) and
# tests/recipes; tsc --noEmit with the Node SDK's strict tsconfig.json (its sources and its tests).
test-lint: $(TOOLS)/staticcheck-$(STATICCHECK_VERSION) $(VENV)/.installed $(VENV_MCP)/.installed $(NODE_MODULES)
	@echo "gofmt -l"; unformatted=$$(find . \( -path './.*' -o -name node_modules \) -prune -o -name '*.go' -print | xargs gofmt -l); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change (run gofmt -w on them):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck-$(STATICCHECK_VERSION) ./...
	cd sdk/python && ../../$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict --python-version 3.10 --python-executable $(VENV_MCP)/bin/python tests/mcp
	$(VENV)/bin/mypy --strict --python-version 3.10 tests/recipes
	$(VENV)/bin/ruff check sdk/python tests/mcp tests/recipes
	sdk/node/node_modules/.bin/tsc --noEmit -p sdk/node

# Owner commands killed at random instants (CRASH_TRIALS trials, every command), and readers in a loop while the
# vault changes and is pulled; `make test-go` runs a short form of the same tests. The last lines are a summary
# (trials per command, kills before/after the commit point, how recovery ended); the full log is kept. Reproduce a
# failed trial with AGENT_VAULT_CRASH_SEED=<seed> AGENT_VAULT_CRASH_TRIAL=<n> go test ./tests/crash -run KillAny -v.
CRASH_TRIALS ?= 200
CRASH_READ_CYCLES ?= 15
CRASH_LOG ?= $${TMPDIR:-/tmp}/agent-vault-test-crash.log
test-crash:
	@set -o pipefail; echo "full log: $(CRASH_LOG)"; \
	AGENT_VAULT_CRASH_TRIALS=$(CRASH_TRIALS) AGENT_VAULT_CRASH_READ_CYCLES=$(CRASH_READ_CYCLES) \
	  $(GO) test -count=1 -timeout 60m -v -run . ./tests/crash 2>&1 | tee $(CRASH_LOG) | grep -v '^=== ' | tail -60

# Every fuzz target runs briefly here; run longer by hand, e.g. make fuzz FUZZTIME=5m.
test-fuzz:
	@set -e; for pkg in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | cut -d' ' -f2); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    if ! out=$$($(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$pkg 2>&1); then \
	      echo "$$out" | tail -20; \
	      echo "retrying $$t once (a real failure saved its input under $$pkg/testdata/fuzz and fails again)"; \
	      $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$pkg >/dev/null; \
	    fi; \
	  done; \
	done

fuzz:
	$(MAKE) test-fuzz FUZZTIME=$(FUZZTIME)

$(VENV)/.installed: sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e 'sdk/python[test,lint]'
	touch $@

test-python: build $(VENV)/.installed
	AGENT_VAULT_BIN=$(BIN)/agent-vault $(VENV)/bin/pytest -q sdk/python

# The README's Docker and GitHub Actions recipes, extracted from README.md and run as far as this machine allows.
# Also: the README's install commands run verbatim in a copy of this checkout, the Python sdist and wheel
# build and pass twine check, npm install of sdk/node from a checkout builds it (import and require), and
# the GitHub Action (action.yml) runs against a real vault.
$(VENV)/.packaging: $(VENV)/.installed
	$(VENV)/bin/pip install -q build twine
	touch $@

test-recipes: build $(VENV)/.installed $(VENV)/.packaging
	AGENT_VAULT_BIN=$(BIN)/agent-vault $(VENV)/bin/pytest -q tests/recipes

# The MCP server end to end: the real binaries over stdio, driven by the official MCP Python SDK.
$(VENV_MCP)/.installed: tests/mcp/requirements.txt
	$(PYTHON) -m venv $(VENV_MCP)
	$(VENV_MCP)/bin/pip install -q --upgrade pip
	$(VENV_MCP)/bin/pip install -q -r tests/mcp/requirements.txt
	touch $@

test-mcp: build $(VENV_MCP)/.installed
	AGENT_VAULT_BIN=$(BIN)/agent-vault $(VENV_MCP)/bin/pytest -q tests/mcp

# The Node SDK's packages, exactly as package-lock.json has them (npm test builds dist itself).
$(NODE_MODULES): sdk/node/package.json sdk/node/package-lock.json
	cd sdk/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

test-node: build $(NODE_MODULES)
	cd sdk/node && AGENT_VAULT_BIN=$(BIN)/agent-vault npm test

# The release configuration is valid (goreleaser check), installing goreleaser with go install when needed.
$(TOOLS)/goreleaser-$(GORELEASER_VERSION):
	@mkdir -p $(TOOLS)/tmp-goreleaser
	GOBIN=$(TOOLS)/tmp-goreleaser $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
	mv $(TOOLS)/tmp-goreleaser/goreleaser $@

$(TOOLS)/cyclonedx-gomod-$(CYCLONEDX_VERSION):
	@mkdir -p $(TOOLS)/tmp-cyclonedx
	GOBIN=$(TOOLS)/tmp-cyclonedx $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION)
	mv $(TOOLS)/tmp-cyclonedx/cyclonedx-gomod $@
	ln -sf cyclonedx-gomod-$(CYCLONEDX_VERSION) $(TOOLS)/cyclonedx-gomod

# Built with make build's settings (no cgo, -trimpath), so that it reuses the standard library that build compiled.
$(TOOLS)/staticcheck-$(STATICCHECK_VERSION):
	@mkdir -p $(TOOLS)/tmp-staticcheck
	CGO_ENABLED=0 GOBIN=$(TOOLS)/tmp-staticcheck $(GO) install -trimpath honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/tmp-staticcheck/staticcheck $@

release-tools: $(TOOLS)/goreleaser-$(GORELEASER_VERSION)

test-release: $(TOOLS)/goreleaser-$(GORELEASER_VERSION)
	$(TOOLS)/goreleaser-$(GORELEASER_VERSION) check

# Archives (Linux and macOS, amd64 and arm64), checksums, SBOMs, the Homebrew cask and deb/rpm packages in
# dist/, built locally; nothing is published.
release-snapshot: $(TOOLS)/goreleaser-$(GORELEASER_VERSION) $(TOOLS)/cyclonedx-gomod-$(CYCLONEDX_VERSION)
	PATH="$(TOOLS):$$PATH" $(TOOLS)/goreleaser-$(GORELEASER_VERSION) release --snapshot --clean --skip=publish

demo: build
	@scripts/demo.sh $(BIN)/agent-vault

# The benchmark table: agent-vault against the stock age CLI, the original agent-vault (when installed:
# scripts/install-original.sh, or ORIGINAL_AGENT_VAULT=PATH) and the crypto-only floor, at 10 and 10,000
# secrets. Vaults are built once per binary and kept in BENCH_CACHE (the first run builds them: several
# minutes). bench-quick: 10 and 1,000 secrets, fewer runs, no MCP figures.
BENCH_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/agent-vault-bench

bench: deps build
	$(GO) run ./bench -bin $(BIN)/agent-vault -cache $(BENCH_CACHE)
	@$(MAKE) --no-print-directory bench-mcp

bench-quick: deps build
	$(GO) run ./bench -bin $(BIN)/agent-vault -cache $(BENCH_CACHE) -sizes 10,1000 -runs 100 -list-runs 10 -set-runs 7 -repeat 1 -pq-size 1000

bench-mcp: build $(VENV_MCP)/.installed
	AGENT_VAULT_BIN=$(BIN)/agent-vault $(VENV_MCP)/bin/python tests/mcp/bench_mcp.py

# make vectors adds the sets of test vectors that testdata/vectors lacks and never rewrites a file there;
# make vectors-regen SETS=pq (or classic, admins, or a list such as classic,pq) makes a set anew, rewriting all of its files.
SETS ?= classic,pq,admins
vectors:
	$(GO) run ./vault/internal/vectorgen -out testdata/vectors -add

vectors-regen:
	$(GO) run ./vault/internal/vectorgen -out testdata/vectors -sets $(SETS)

clean:
	rm -rf $(BIN) $(VENV) $(VENV_MCP) sdk/node/node_modules sdk/node/dist build dist .mypy_cache sdk/python/.mypy_cache .ruff_cache
