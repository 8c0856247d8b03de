#!/usr/bin/env bash
# `make certs`: a self-signed TLS pair for trying the production stack, and
# the Docker secrets it reads, each in its own file. Nothing here is ever
# built into an image or written into a compose file.
#
#   deploy/production/make-secrets.sh [--force]
#
# Writes (git-ignored, in folders only the owner can enter):
#   certs/tls.crt, certs/tls.key        self-signed for CN=$TLS_CN (default localhost),
#                                       SAN localhost, 127.0.0.1 and $TLS_CN; 825 days
#   secrets/auth_public_key.pem         an RS256 key pair standing in for your identity provider:
#   secrets/auth_signing_key.pem        the replicas get the public half (AUTH_PUBLIC_KEY_FILE);
#                                       the private half stays here (0600), for sign-token.sh only
#   secrets/redis_password              32 random bytes, hex
#   secrets/redis_tls.{crt,key}         Redis' own self-signed pair for the name redis (redis-tls.yml)
#   secrets/mongo_password              32 random bytes, hex (the official mongo image's root password)
#   secrets/admin_ui_password           24 random bytes, base64: the admin UI's password, read only
#                                       with admin-ui.yml (the UI is off without it)
#   upstream/realtime.conf              nginx's placeholder upstream until route.sh runs
#   secrets/mongo_url                   MONGO_URL for the service: with credentials for
#                                       the official mongo image; MONGO_AUTH=0 writes one
#                                       without (the local FerretDB image has no auth)
# Existing files are kept (so a running stack's secrets do not change under
# it) unless --force. Real certificates: point TLS_CERT_FILE and TLS_KEY_FILE
# at your own pair instead (deploy/README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
certs="${TLS_DIR:-$here/certs}"
secrets="${SB_SECRETS_DIR:-$here/secrets}"
force=0
[ "${1:-}" = "--force" ] && force=1
cn="${TLS_CN:-localhost}"
umask 077
mkdir -p "$certs" "$secrets"
chmod 700 "$certs" "$secrets"

command -v openssl >/dev/null || { echo "make-secrets.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }

write() { # name, command producing the value
  local f="$secrets/$1"
  if [ -s "$f" ] && [ "$force" = 0 ]; then echo "kept     $f"; return; fi
  eval "$2" > "$f.tmp"
  # Readable inside the containers, whose users (node, redis) are not the host's
  # owner: compose bind-mounts secret files with their host mode. The folder
  # (0700) keeps other host users out.
  chmod 644 "$f.tmp"
  mv "$f.tmp" "$f"
  echo "wrote    $f"
}

if [ ! -s "$certs/tls.crt" ] || [ "$force" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
    -keyout "$certs/tls.key" -out "$certs/tls.crt" -subj "/CN=$cn" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1$([ "$cn" != localhost ] && echo ",DNS:$cn")" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
  chmod 644 "$certs/tls.crt"
  chmod 600 "$certs/tls.key"
  echo "wrote    $certs/tls.crt, $certs/tls.key (self-signed, CN=$cn)"
else
  echo "kept     $certs/tls.crt"
fi

# nginx's upstream until route.sh lists the replicas (not sticky; run route.sh after up/scale).
upstream="${SB_NGINX_UPSTREAM_DIR:-$here/upstream}"
mkdir -p "$upstream"
chmod 755 "$upstream"
if [ ! -s "$upstream/realtime.conf" ]; then
  printf '# Placeholder until deploy/production/route.sh lists the replicas (not sticky).\nserver realtime:3000 max_fails=3 fail_timeout=10s;\n' > "$upstream/realtime.conf"
  chmod 644 "$upstream/realtime.conf"
  echo "wrote    $upstream/realtime.conf (placeholder)"
fi

# Redis over TLS (redis-tls.yml): a self-signed pair for the name `redis`,
# readable by the redis user in its container like the other secrets.
if [ ! -s "$secrets/redis_tls.crt" ] || [ "$force" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
    -keyout "$secrets/redis_tls.key" -out "$secrets/redis_tls.crt" -subj "/CN=redis" \
    -addext "subjectAltName=DNS:redis" -addext "extendedKeyUsage=serverAuth" 2>/dev/null
  chmod 644 "$secrets/redis_tls.crt" "$secrets/redis_tls.key"
  echo "wrote    $secrets/redis_tls.crt, $secrets/redis_tls.key (self-signed, CN=redis)"
else
  echo "kept     $secrets/redis_tls.crt"
fi

# A key pair standing in for your identity provider (deploy/README.md, "Authentication"):
# the private key signs tokens (sign-token.sh) and never goes into a container.
if [ ! -s "$secrets/auth_signing_key.pem" ] || [ "$force" = 1 ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$secrets/auth_signing_key.pem" 2>/dev/null
  chmod 600 "$secrets/auth_signing_key.pem"
  openssl pkey -in "$secrets/auth_signing_key.pem" -pubout -out "$secrets/auth_public_key.pem"
  chmod 644 "$secrets/auth_public_key.pem"
  echo "wrote    $secrets/auth_signing_key.pem, $secrets/auth_public_key.pem (RS256 pair)"
else
  echo "kept     $secrets/auth_signing_key.pem"
fi
write redis_password "openssl rand -hex 32"
write mongo_password "openssl rand -hex 32"
write admin_ui_password "openssl rand -base64 24"
if [ "${MONGO_AUTH:-1}" = 0 ]; then
  write mongo_url "printf 'mongodb://mongo:27017/switchboard'"
else
  write mongo_url "printf 'mongodb://root:%s@mongo:27017/switchboard?authSource=admin' \"\$(cat '$secrets/mongo_password')\""
fi
