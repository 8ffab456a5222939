#!/usr/bin/env bash
# Runs every test with the race detector on both stores: SQLite in temp
# directories, PostgreSQL on a throwaway server on loopback started here.
# Extra arguments go to go test (e.g. scripts/test.sh -run Conformance).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r pgdir url < <(scripts/postgres.sh)
trap 'scripts/postgres.sh stop "$pgdir"' EXIT
export PARLEY_TEST_POSTGRES_URL=$url
# PgBouncer in transaction mode in front of it, for the pooled store's tests.
if [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1; then
	PARLEY_TEST_PGBOUNCER_URL=$(scripts/postgres.sh bouncer "$pgdir")
	export PARLEY_TEST_PGBOUNCER_URL
fi

# An independent OpenAI-compatible server for the provider tests.
if command -v npm >/dev/null 2>&1; then
	mock=.cache/mock-llm
	if [ ! -x "$mock/node_modules/.bin/mock-llm" ]; then
		npm install --prefix "$mock" --silent --no-audit --no-fund @dwmkerr/mock-llm@0.1.29 >/dev/null
	fi
	export MOCK_LLM=$PWD/$mock/node_modules/.bin/mock-llm
	# The Standard Webhooks reference verifier, for the signature tests.
	swh=.cache/standardwebhooks
	if [ ! -d "$swh/node_modules/standardwebhooks" ]; then
		npm install --prefix "$swh" --silent --no-audit --no-fund standardwebhooks@1.1.1 >/dev/null
	fi
	export STANDARDWEBHOOKS_DIR=$PWD/$swh/node_modules/standardwebhooks
	# A real S3-compatible server for the blob store's S3 backend.
	s3=.cache/s3rver
	if [ ! -x "$s3/node_modules/.bin/s3rver" ]; then
		npm install --prefix "$s3" --silent --no-audit --no-fund s3rver@3.7.1 >/dev/null
	fi
	export S3RVER=$PWD/$s3/node_modules/.bin/s3rver
fi

go vet ./...
# Lint (staticcheck.conf); its version is pinned here, fetched from the Go proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 -timeout 20m "$@" ./...

# Every fuzz target for a short while (PARLEY_FUZZTIME, default 2000
# executions) when the whole suite runs: the seed corpora already ran above;
# this looks further. A count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" at its end on a loaded
# machine with nothing found (go.dev/issue/75804, fixed in Go 1.27).
if [ $# -eq 0 ]; then
	fuzztime=${PARLEY_FUZZTIME:-2000x}
	grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+' . | while IFS=: read -r file decl; do
		target=${decl#func }
		echo "fuzz $target ($(dirname "$file"), $fuzztime)"
		if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$(dirname "${file#./}")" 2>&1); then
			echo "$out"
			exit 1
		fi
	done
fi
