#!/usr/bin/env bash
# Runs "parley bench" on SQLite and on a throwaway PostgreSQL on loopback,
# printing the Markdown table the README shows. Arguments go to parley bench.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/parley-bench ./cmd/parley
# PostgreSQL's cache a quarter of the machine's memory, as its manual
# suggests for a database server (the tests' clusters keep 256MB).
buffers=$(awk '/^MemTotal/ {print int($2 / 4 / 1024) "MB"}' /proc/meminfo)
read -r pgdir url < <(PARLEY_PG_SHARED_BUFFERS="${PARLEY_PG_SHARED_BUFFERS:-$buffers}" scripts/postgres.sh)
trap 'scripts/postgres.sh stop "$pgdir"' EXIT
/tmp/parley-bench bench --postgres-url "$url" "$@"
