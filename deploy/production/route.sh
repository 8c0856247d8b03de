#!/usr/bin/env bash
# Points nginx at exactly the live realtime replicas of a compose project:
# writes one `server <ip>:3000` line per running replica into
# $SB_NGINX_UPSTREAM_DIR/realtime.conf and reloads nginx gracefully.
# Run it after `docker compose up` and after every `--scale`.
#
#   deploy/production/route.sh [project]      (default: $COMPOSE_PROJECT_NAME or switchboard-prod)
#
# Why a rendered list: nginx's `hash ... consistent` keys its ring on the
# `server` string, so `server realtime:3000` alone would rotate one client
# over every replica (not sticky; long-polling breaks). See docs/stack.md.
# Needs only bash and the docker CLI (no Node), so it works on any host.
set -euo pipefail
project="${1:-${COMPOSE_PROJECT_NAME:-switchboard-prod}}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="${SB_NGINX_UPSTREAM_DIR:-$here/upstream}"
mkdir -p "$dir"

lines=""
names=""
for id in $(docker ps -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=realtime"); do
  name="$(docker inspect --format '{{.Name}}' "$id")"
  ip="$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$id" | awk '{print $1}')"
  [ -n "$ip" ] || continue
  lines+="server $ip:3000 max_fails=3 fail_timeout=10s;  # ${name#/}"$'\n'
  names+="${name#/} "
done
if [ -z "$lines" ]; then
  echo "route.sh: no running realtime replica in project \"$project\"; upstream left as it was" >&2
  exit 1
fi
tmp="$(mktemp "$dir/.realtime.conf.XXXXXX")"
printf '# Rendered by deploy/production/route.sh for project "%s": one line per live replica.\n%s' "$project" "$lines" > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$dir/realtime.conf"

nginx_id="$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=nginx" | head -n1)"
if [ -n "$nginx_id" ]; then
  docker exec "$nginx_id" nginx -s reload
  echo "route.sh: nginx routes to ${names% }"
else
  echo "route.sh: wrote $dir/realtime.conf (${names% }); nginx is not running yet"
fi
