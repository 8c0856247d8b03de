#!/usr/bin/env bash
# Runs inside the fresh-install check's container (make test-fresh-install,
# deploy/stack/src/verbs/fresh-install.ts), as root on a bare Debian: gives it
# what a fresh machine of ours has, clones the commit under test and runs what
# `make test` installs, then checks each result. Prints one line per step with
# its time; each step's output is in /check/logs/<step>.log, and a failed step
# leaves its name and log in /check/logs/failed-step for the caller's message.
set -euo pipefail
: "${SB_COMMIT:?the commit to check}"
logs=/check/logs
work=/root/switchboard
export DEBIAN_FRONTEND=noninteractive
check_started=$SECONDS

# run_step NAME COMMAND...: COMMAND runs with errexit in a subshell (a function
# called from `if` would run with errexit off), its output in the step's log.
run_step() {
  local name=$1 log rc started=$SECONDS
  shift
  log="$(tr -cs 'a-z0-9' '-' <<<"${name,,}" | sed 's/^-//; s/-$//').log"
  set +e
  (set -e; "$@") >"$logs/$log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    printf '%s\n%s\n' "$name" "$log" >"$logs/failed-step"
    printf '    %-46s FAILED after %d s (exit %d)\n' "$name" $((SECONDS - started)) "$rc"
    exit 1
  fi
  # Checks show what they found: the last line of their output.
  local found=
  [[ $name == check:* ]] && found="  $(tail -n 1 "$logs/$log" | cut -c 1-60)"
  printf '    %-46s %4d s%s\n' "$name" $((SECONDS - started)) "$found"
}

# --- what a fresh machine has: Node 20 with npm and Go are mounted; git, make, gcc from apt
machine_packages() {
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
  apt-get update
  apt-get install -y --no-install-recommends git ca-certificates make gcc libc6-dev
  echo "machine: node $(node -v), npm $(npm -v), $(go version), $(git --version)"
}

clone() {
  git clone --no-local --no-checkout /repo.git "$work"
  git -C "$work" checkout --detach "$SB_COMMIT"
}

# --- what `make test` installs, each through the entry point make uses
# The Node the Makefile puts first on PATH (ensure-node's answer).
project_node() { PATH="$(./scripts/ensure-node.sh):$PATH" "$@"; }
stack() { project_node node --import tsx deploy/stack/src/cli.ts "$@"; }

# --- the checks
node_fetched() {
  local machine
  machine=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$machine" -ge 22 ]; then
    echo "the machine's Node $(node -v) is new enough: ensure-node uses it (no .tools/node)"
  else
    .tools/node/bin/node -v | grep -E '^v24\.'
  fi
}

ferretdb_serves() {
  local data pid bin
  data=$(mktemp -d)
  # make test-deps names the binary by a hash of its sources; a fresh clone has just the one.
  bin=$(ls .tools/bin/ferretdb-* | head -n 1)
  "$bin" -listen 127.0.0.1:27017 -data "$data" >"$logs/ferretdb-server.log" 2>&1 &
  pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  # A MongoDB command through the service's own driver, once FerretDB listens.
  (cd services/realtime && PATH="$(../../scripts/ensure-node.sh):$PATH" node -e '
    const mongoose = require("mongoose");
    (async () => {
      await mongoose.connect("mongodb://127.0.0.1:27017/check", { serverSelectionTimeoutMS: 30000 });
      const info = await mongoose.connection.db.admin().command({ buildInfo: 1 });
      await mongoose.connection.db.collection("check").insertOne({ ok: 1 });
      console.log(`ferretdb answers buildInfo: MongoDB ${info.version}`);
      await mongoose.disconnect();
    })().catch((err) => { console.error(err); process.exit(1); });')
  # Its data went to the PostgreSQL it started (as the postgres user: this runs as root) ...
  test -f "$data/pgdata/PG_VERSION"
  # ... which stops with it.
  kill "$pid"
  wait "$pid"
  trap - EXIT
  if postgres_runs; then echo "PostgreSQL still runs after FerretDB stopped"; exit 1; fi
  echo "ferretdb on PostgreSQL $(cat "$data/pgdata/PG_VERSION") served and stopped"
}

# No procps in the bare image: the process names straight from /proc.
postgres_runs() { grep -qx postgres /proc/[0-9]*/comm 2>/dev/null; }

postgres_installed() {
  ls /usr/lib/postgresql/*/bin/postgres
  # test-deps drops the cluster Debian's package creates and starts: nothing of it runs.
  if postgres_runs; then echo "a PostgreSQL server is running after make test-deps"; exit 1; fi
  /usr/lib/postgresql/*/bin/postgres --version
}

compose_answers() { DOCKER_CONFIG="$work/.tools/docker-config" docker compose version; }

run_step "machine: git, make, gcc (apt)" machine_packages
run_step "clone ${SB_COMMIT:0:12}" clone
cd "$work"
run_step "ensure-node (Node 24 into .tools/)" ./scripts/ensure-node.sh
run_step "make install (npm ci)" make install
run_step "make test-deps (redis-server, PostgreSQL, FerretDB)" make test-deps
run_step "e2e-deps (chromium)" stack e2e-deps
run_step "compose-plugin (go build)" stack compose-plugin
run_step "check: .tools/node" node_fetched
run_step "check: redis-server" redis-server --version
run_step "check: postgresql (no cluster left running)" postgres_installed
run_step "check: ferretdb" ferretdb_serves
run_step "check: chromium" chromium --version
run_step "check: docker compose" compose_answers
printf '    %-46s %4d s\n' "all steps" $((SECONDS - check_started))
