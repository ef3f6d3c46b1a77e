#!/usr/bin/env bash
# A scratch PostgreSQL cluster on a unix socket in DIR (no TCP port):
#   scratch-pg.sh start DIR    initdb + start; prints the socket directory
#   scratch-pg.sh stop DIR     stop and delete
#   scratch-pg.sh template DIR a stopped cluster holding `directus` with the
#                              One-Roof baseline, to copy per test
#   scratch-pg.sh clone TEMPLATE DIR   copy a template and start it
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
  template)
    "$0" start "$dir" >/dev/null
    psql -h "$dir" -U postgres -d postgres -qc "CREATE DATABASE directus"
    psql -h "$dir" -U postgres -d directus -q -v ON_ERROR_STOP=1 -f "$(dirname "$0")/../sql/baseline.sql"
    as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null
    ;;
  clone)
    to=${3:?target directory}
    cp -a "$dir" "$to"
    rm -f "$to"/.s.PGSQL.* "$to"/data/postmaster.pid
    as_pg "$bin/pg_ctl" -D "$to/data" -w -l "$to/server.log" start \
      -o "-k $to -c listen_addresses='' -c fsync=off -c full_page_writes=off" >/dev/null
    echo "$to"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
