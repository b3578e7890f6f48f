#!/usr/bin/env bash
# The whole suite on SQLite, then the storage/API suite again on PostgreSQL.
# PostgreSQL is skipped only when SDR_TEST_POSTGRES=0 is set explicitly, and it says so.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

run_pytest() {
  "$PY" -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; return 1; fi
  return $rc
}

run_pytest tests || exit 1

if [ "${SDR_TEST_POSTGRES:-1}" = "0" ]; then
  echo "!! SDR_TEST_POSTGRES=0: PostgreSQL run skipped on request"
  exit 0
fi
url=$(bash scripts/postgres-for-tests.sh start) || { echo "could not start PostgreSQL" >&2; exit 1; }
trap 'bash scripts/postgres-for-tests.sh stop' EXIT
echo "== storage and API suite on PostgreSQL ($url)"
SDR_TEST_DATABASE_URL="$url" run_pytest -m postgres tests
