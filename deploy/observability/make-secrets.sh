#!/usr/bin/env bash
# The observability profile's secrets (`make certs` runs this): Grafana's
# admin password, Prometheus' password and its web config (basic auth with a
# bcrypt hash of that password). Nothing has a default: Grafana and Prometheus
# are published (on SB_BIND, 127.0.0.1 unless changed) and ask for them.
#
#   deploy/observability/make-secrets.sh [--force]
#
# Writes into SB_OBSERVABILITY_SECRETS_DIR (default deploy/observability/secrets,
# git-ignored, only the owner can enter it):
#   grafana_admin_password   Grafana's user `admin`   (32 random bytes, hex)
#   prometheus_password      Prometheus' user `switchboard` (32 random bytes, hex)
#   prometheus_web.yml       Prometheus' --web.config.file
# Existing files are kept unless --force.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${SB_OBSERVABILITY_SECRETS_DIR:-$here/secrets}"
force=0
[ "${1:-}" = "--force" ] && force=1
command -v openssl >/dev/null || { echo "make-secrets.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

bcrypt() { # password -> bcrypt hash: python3's crypt (libxcrypt), else htpasswd
  local h
  if command -v python3 >/dev/null && h="$(python3 -W ignore -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$1" 2>/dev/null)" && [[ $h == \$2* ]]; then
    echo "$h"
  elif command -v htpasswd >/dev/null; then
    htpasswd -nbB switchboard "$1" | cut -d: -f2
  else
    echo "make-secrets.sh: a bcrypt hash needs python3 (with crypt) or htpasswd (apt-get install apache2-utils)" >&2; return 1
  fi
}

write() { # name, command producing the value; readable in the containers (their users are not the host's owner)
  local f="$dir/$1"
  if [ -s "$f" ] && [ "$force" = 0 ]; then echo "kept     $f"; return; fi
  eval "$2" > "$f.tmp"
  chmod 644 "$f.tmp"
  mv "$f.tmp" "$f"
  echo "wrote    $f"
}

write grafana_admin_password "openssl rand -hex 32"
write prometheus_password "openssl rand -hex 32"
if [ ! -s "$dir/prometheus_web.yml" ] || [ "$force" = 1 ] || [ "$dir/prometheus_password" -nt "$dir/prometheus_web.yml" ]; then
  hash="$(bcrypt "$(cat "$dir/prometheus_password")")"
  printf '# Prometheus web config (--web.config.file): basic auth on every endpoint.\nbasic_auth_users:\n  switchboard: %s\n' "$hash" > "$dir/prometheus_web.yml.tmp"
  chmod 644 "$dir/prometheus_web.yml.tmp"
  mv "$dir/prometheus_web.yml.tmp" "$dir/prometheus_web.yml"
  echo "wrote    $dir/prometheus_web.yml"
else
  echo "kept     $dir/prometheus_web.yml"
fi
