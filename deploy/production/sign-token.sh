#!/usr/bin/env bash
# Signs a token the way an identity provider does, with the key pair `make certs`
# made (secrets/auth_signing_key.pem): an RS256 JWT the replicas verify with
# auth_public_key.pem. For trying the production stack and for checks; in
# production your identity provider issues the tokens (deploy/README.md,
# "Authentication").
#
#   AUTH_ISSUER=https://idp.example AUTH_AUDIENCE=switchboard-realtime \
#     deploy/production/sign-token.sh <userId> [roles, comma-separated] [lifetime in seconds, default 3600]
#
# Prints the token. Claims: iss, aud, sub, sid (a new session each time), roles, iat, exp.
# The key: AUTH_SIGNING_KEY (default $SB_SECRETS_DIR/auth_signing_key.pem).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
key="${AUTH_SIGNING_KEY:-${SB_SECRETS_DIR:-$here/secrets}/auth_signing_key.pem}"
user="${1:?usage: sign-token.sh <userId> [roles] [lifetime-seconds]}"
roles="${2:-}"
ttl="${3:-3600}"
: "${AUTH_ISSUER:?set AUTH_ISSUER (the issuer the replicas expect)}"
: "${AUTH_AUDIENCE:?set AUTH_AUDIENCE (the audience the replicas expect)}"
[ -r "$key" ] || { echo "sign-token.sh: no signing key at $key: run make certs" >&2; exit 1; }
[[ $user =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "sign-token.sh: a user id is 1 to 64 of A-Z a-z 0-9 _ . -" >&2; exit 1; }
[[ $ttl =~ ^[0-9]+$ ]] || { echo "sign-token.sh: the lifetime is a number of seconds" >&2; exit 1; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
json_list() { # a,b -> ["a","b"]
  local out="" r
  IFS=',' read -ra parts <<< "$1"
  for r in "${parts[@]}"; do [ -n "$r" ] && out="$out${out:+,}\"$r\""; done
  printf '[%s]' "$out"
}
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"%s","aud":"%s","sub":"%s","sid":"%s","roles":%s,"iat":%d,"exp":%d}' \
  "$AUTH_ISSUER" "$AUTH_AUDIENCE" "$user" "$(openssl rand -hex 16)" "$(json_list "$roles")" "$now" "$((now + ttl))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
