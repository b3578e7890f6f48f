#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL on 127.0.0.1 for the test run.
#   scripts/postgres-for-tests.sh start  -> prints the SQLAlchemy URL on stdout
#   scripts/postgres-for-tests.sh stop
# Installs PostgreSQL from Debian when it is missing. Runs the server as the
# unprivileged 'postgres' user because PostgreSQL refuses to run as root.
set -euo pipefail
PGROOT=${SDR_TEST_PG_DIR:-/tmp/sdr-agent-pg}
PORT=${SDR_TEST_PG_PORT:-55432}

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_pg() {
  if ! find_bin >/dev/null; then
    echo "installing PostgreSQL from Debian..." >&2
    export DEBIAN_FRONTEND=noninteractive
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
      command -v sudo >/dev/null || { echo "PostgreSQL is missing and installing it needs root" >&2; return 1; }
      sudo="sudo -E"
    fi
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq postgresql >&2
  fi
}

case "${1:-}" in
  start)
    install_pg
    BIN=$(find_bin)
    "$0" stop >/dev/null 2>&1 || true
    rm -rf "$PGROOT"; mkdir -p "$PGROOT"
    [ "$(id -u)" = "0" ] && chown postgres "$PGROOT"
    as_pg "$BIN/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 >/dev/null
    as_pg "$BIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/log" -w -t 60 \
      -o "-h 127.0.0.1 -p $PORT -k $PGROOT -c fsync=off -c max_connections=200" start >/dev/null
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres sdr_test
    echo "postgresql+asyncpg://postgres@127.0.0.1:$PORT/sdr_test"
    ;;
  stop)
    BIN=$(find_bin) || exit 0
    [ -d "$PGROOT/data" ] && as_pg "$BIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
