#!/usr/bin/env bash
# Runs every test with the race detector on both stores: SQLite in temp
# directories, PostgreSQL on a throwaway server on loopback started here.
# Extra arguments go to go test (e.g. scripts/test.sh -run Conformance).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r pgdir url < <(scripts/postgres.sh)
trap 'scripts/postgres.sh stop "$pgdir"' EXIT
export PARLEY_TEST_POSTGRES_URL=$url

go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
