#!/bin/sh
# nginx's entrypoint in the swarm stack: keeps the sticky upstream in step
# with the realtime service's tasks, then runs nginx in the foreground.
#
# Why: the routing mesh (and a service's virtual IP) balances per TCP
# connection, which breaks long-polling (every request of an Engine.IO
# session must reach one replica), and nginx's `hash ... consistent` needs
# one `server` line per replica to be sticky (docs/stack.md). So nginx is the
# only published service, and this loop resolves `tasks.realtime` (one A
# record per running task) every UPSTREAM_REFRESH seconds, rewrites
# /etc/nginx/switchboard-upstream/realtime.conf when the set changed (a
# scale, an update, a task rescheduled) and reloads nginx gracefully.
set -u
dir=/etc/nginx/switchboard-upstream
name="${UPSTREAM_DNS:-tasks.realtime}"
port="${UPSTREAM_PORT:-3000}"
every="${UPSTREAM_REFRESH:-5}"

# Prints "changed" when it wrote a new list; nothing when the set is the same or empty.
render() {
  ips="$(getent ahostsv4 "$name" 2>/dev/null | awk '{print $1}' | sort -u -V)"
  [ -n "$ips" ] || return 0
  new="$(for ip in $ips; do echo "server $ip:$port max_fails=3 fail_timeout=10s;"; done)"
  old="$(grep '^server' "$dir/realtime.conf" 2>/dev/null)"
  [ "$new" = "$old" ] && return 0
  printf '# Rendered from %s by nginx-entrypoint.sh\n%s\n' "$name" "$new" > "$dir/.realtime.conf.tmp"
  mv "$dir/.realtime.conf.tmp" "$dir/realtime.conf"
  echo changed
}

mkdir -p "$dir"
# nginx refuses an upstream without servers: wait for the first task.
until [ -s "$dir/realtime.conf" ]; do
  render >/dev/null
  [ -s "$dir/realtime.conf" ] || sleep 1
done
echo "nginx-entrypoint: upstream $(grep -c '^server' "$dir/realtime.conf") replica(s) from $name" >&2
(
  while sleep "$every"; do
    if [ "$(render)" = changed ]; then
      echo "nginx-entrypoint: $(grep -c '^server' "$dir/realtime.conf") replica(s) from $name, reloading" >&2
      nginx -s reload
    fi
  done
) &
exec nginx -g 'daemon off;'
