#!/usr/bin/env bash
# Runs "parley bench" on SQLite and on a throwaway PostgreSQL on loopback,
# printing the Markdown table the README shows. Arguments go to parley bench.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/parley-bench ./cmd/parley
read -r pgdir url < <(scripts/postgres.sh)
trap 'scripts/postgres.sh stop "$pgdir"' EXIT
/tmp/parley-bench bench --postgres-url "$url" "$@"
