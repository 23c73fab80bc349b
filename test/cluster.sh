# test/cluster.sh: a throwaway PostgreSQL 15 cluster for tests and the demo.
# Source it, then call cluster_start; cluster_stop runs on exit.
# Exports PGHOST (a private socket directory), PGPORT, PGUSER, PGDATABASE.

PG_BIN=${PG_BIN:-$(pg_config --bindir)}

cluster_start() {
    CLUSTER_DIR=$(mktemp -d /tmp/ntk-cluster.XXXXXX)
    chmod 755 "$CLUSTER_DIR"
    local run=""
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$CLUSTER_DIR"
        run="runuser -u postgres --"
    fi
    CLUSTER_RUN=$run
    export PGHOST=$CLUSTER_DIR PGPORT=${NTK_TEST_PORT:-54329} PGUSER=postgres PGDATABASE=postgres
    [ -n "$run" ] || PGUSER=$(id -un)
    $run "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U "$PGUSER" -A trust -E UTF8 --no-locale >"$CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/initdb.log"; return 1; }
    cat >>"$CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
port = $PGPORT
fsync = off
shared_buffers = 256MB
max_connections = 40
max_prepared_transactions = 10
CONF
    $run "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null \
        || { cat "$CLUSTER_DIR/server.log"; return 1; }
    trap cluster_stop EXIT
}

cluster_stop() {
    [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] || return 0
    $CLUSTER_RUN "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=
}
