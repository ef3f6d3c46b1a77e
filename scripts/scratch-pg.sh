#!/usr/bin/env bash
# A scratch PostgreSQL cluster on a unix socket in DIR (no TCP port):
#   scratch-pg.sh start DIR    initdb + start; prints the socket directory
#   scratch-pg.sh stop DIR     stop and delete
# As root, the server runs as the `postgres` user.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

case $cmd in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" start \
      -o "-k $dir -c listen_addresses='' -c fsync=off -c full_page_writes=off" >/dev/null
    echo "$dir"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
