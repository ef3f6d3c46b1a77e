#!/usr/bin/env bash
# A scratch PostgreSQL cluster on a unix socket in DIR (no TCP port):
#   scratch-pg.sh start DIR    initdb + start; prints the socket directory
#   scratch-pg.sh stop DIR     stop and delete
#   scratch-pg.sh template DIR a stopped cluster holding `directus` with the
#                              One-Roof baseline, to copy per test
#   scratch-pg.sh online DIR ROWS  a stopped cluster holding `shop` with
#                              examples/online/setup.sql (ROWS orders)
#   scratch-pg.sh clone TEMPLATE DIR   copy a template and start it
#   scratch-pg.sh crash DIR    stop at once, as a crash would (-m immediate)
#   scratch-pg.sh restart DIR  start a clone that crashed (unix socket only)
#   scratch-pg.sh tls DIR PORT make a running cluster TLS-only on
#                              localhost:PORT (the socket in DIR moves to PORT
#                              too, so use -p PORT); prints DIR/tls, holding a
#                              test CA, server and client (CN rollout_cert)
#                              certificates and an unrelated other-ca.
#                              Roles: rollout_tls (password tls-secret-pw) and
#                              rollout_cert (client certificate login).
# As root, the server runs as the `postgres` user.
set -euo pipefail
cmd=${1:?start|stop|crash|restart|template|clone|tls}; dir=${2:?directory}
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
  online)
    rows=${3:?rows}
    "$0" start "$dir" >/dev/null
    psql -h "$dir" -U postgres -d postgres -qc "CREATE DATABASE shop"
    psql -h "$dir" -U postgres -d shop -q -v ON_ERROR_STOP=1 -v rows="$rows" \
      -f "$(dirname "$0")/../examples/online/setup.sql"
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
  tls)
    port=${3:?port}; tls=$dir/tls; data=$dir/data
    mkdir -p "$tls" && chmod 755 "$tls"
    cat >"$tls/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
    # EC P-256 keys (PKCS#8 PEM, mode 0600), SHA-256 X.509 v3 certificates valid 3 days.
    key() { (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/$1.key"); }
    ca() {  # NAME CN: a self-signed CA
      key "$1"
      openssl req -new -x509 -config "$tls/openssl.cnf" -extensions ca -key "$tls/$1.key" \
        -subj "/CN=$2" -sha256 -days 3 -out "$tls/$1.crt"
    }
    leaf() {  # NAME CN: signed by ca, extensions from section NAME
      key "$1"
      openssl req -new -x509 -config "$tls/openssl.cnf" -extensions "$1" -key "$tls/$1.key" \
        -subj "/CN=$2" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -sha256 -days 3 -out "$tls/$1.crt"
    }
    ca ca "rollout test CA"; ca other-ca "rollout other CA"
    leaf server localhost; leaf client rollout_cert
    rm "$tls/openssl.cnf"; chmod 644 "$tls"/*.crt
    # The server's own copies, in the data directory.
    for f in server.crt server.key ca.crt; do
      install -m 600 "$tls/$f" "$data/$f"
      if [ "$(id -u)" = 0 ]; then chown postgres "$data/$f"; fi
    done
    cat >"$data/pg_hba.conf" <<'HBA'
local     all all                       trust
hostssl   all rollout_cert 127.0.0.1/32 cert
hostssl   all rollout_cert ::1/128      cert
hostssl   all all          127.0.0.1/32 scram-sha-256
hostssl   all all          ::1/128      scram-sha-256
hostnossl all all          0.0.0.0/0    reject
hostnossl all all          ::/0         reject
HBA
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(sed -n 4p "$data/postmaster.pid")" -U postgres -d postgres <<SQL
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = '$data/server.crt';
ALTER SYSTEM SET ssl_key_file = '$data/server.key';
ALTER SYSTEM SET ssl_ca_file = '$data/ca.crt';
ALTER SYSTEM SET password_encryption = 'scram-sha-256';
ALTER SYSTEM SET listen_addresses = 'localhost';
ALTER SYSTEM SET port = $port;
SET password_encryption = 'scram-sha-256';
CREATE ROLE rollout_tls LOGIN SUPERUSER PASSWORD 'tls-secret-pw';
CREATE ROLE rollout_cert LOGIN SUPERUSER;
SQL
    as_pg "$bin/pg_ctl" -D "$data" -w -m fast -l "$dir/server.log" restart \
      -o "-k $dir -c listen_addresses=localhost -c port=$port -c fsync=off -c full_page_writes=off" >/dev/null
    echo "$tls"
    ;;
  crash)
    as_pg "$bin/pg_ctl" -D "$dir/data" -w -m immediate stop >/dev/null
    ;;
  restart)
    as_pg "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" start \
      -o "-k $dir -c listen_addresses='' -c fsync=off -c full_page_writes=off" >/dev/null
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop|crash|restart|template DIR | clone TEMPLATE DIR | tls DIR PORT" >&2; exit 2 ;;
esac
