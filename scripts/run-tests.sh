#!/usr/bin/env bash
# The whole suite on SQLite, then every test marked `postgres` (storage and API) again on PostgreSQL.
# PostgreSQL is skipped only when SDR_TEST_POSTGRES=0 is set explicitly, and it says so.
# Extra arguments go to both pytest runs (e.g. `scripts/run-tests.sh -x`).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

run_pytest() {
  "$PY" -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; return 1; fi
  return $rc
}

echo "== whole suite on SQLite"
SDR_TEST_DATABASE_URL= run_pytest "$@" tests || exit 1

if [ "${SDR_TEST_POSTGRES:-1}" = "0" ]; then
  echo "!! SDR_TEST_POSTGRES=0: PostgreSQL run skipped on request"
  exit 0
fi
# A private data directory and port per run, so parallel runs on one machine never share a server.
SDR_TEST_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sdr-agent-pg.XXXXXX")
SDR_TEST_PG_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SDR_TEST_PG_DIR SDR_TEST_PG_PORT
trap 'bash scripts/postgres-for-tests.sh stop; rm -rf "$SDR_TEST_PG_DIR"' EXIT
url=$(bash scripts/postgres-for-tests.sh start) || { echo "could not start PostgreSQL" >&2; exit 1; }
echo "== storage and API suite on PostgreSQL ($url)"
SDR_TEST_DATABASE_URL="$url" run_pytest "$@" -m postgres tests
