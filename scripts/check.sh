#!/usr/bin/env bash
# The project's one test command: lint, format check, type check, tests.
#
# PostgreSQL tests run against TEST_DATABASE_URL when it is set; otherwise,
# when a server answers on 127.0.0.1:5432, against a throwaway database
# created here and dropped on exit. Extra arguments go to pytest.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -x .venv/bin/python ]]; then
    PYTHON=.venv/bin/python
else
    PYTHON=${PYTHON:-python3}
fi

echo "== ruff check" >&2
"$PYTHON" -m ruff check .
echo "== ruff format --check" >&2
"$PYTHON" -m ruff format --check .
echo "== mypy" >&2
"$PYTHON" -m mypy integration_health

PG_HOST=127.0.0.1
PG_USER=${PGUSER:-postgres}
if [[ -z "${TEST_DATABASE_URL:-}" ]] && command -v pg_isready >/dev/null \
    && pg_isready -q -h "$PG_HOST" -p 5432; then
    TEST_DB="ih_check_$(date +%s)_$$_${RANDOM}"
    createdb -h "$PG_HOST" -U "$PG_USER" "$TEST_DB"
    trap 'dropdb -h "$PG_HOST" -U "$PG_USER" --if-exists --force "$TEST_DB"' EXIT
    export TEST_DATABASE_URL="postgresql://${PG_USER}@${PG_HOST}:5432/${TEST_DB}"
    echo "== PostgreSQL: throwaway database $TEST_DB" >&2
elif [[ -z "${TEST_DATABASE_URL:-}" ]]; then
    echo "== PostgreSQL: no server on $PG_HOST:5432; PostgreSQL tests will skip" >&2
fi

echo "== pytest" >&2
status=0
"$PYTHON" -m pytest "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "check.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
