// Package enginetest opens real stores for tests: SQLite in a temporary
// directory, PostgreSQL in a schema of its own on the server named by
// PARLEY_TEST_POSTGRES_URL (scripts/test.sh starts one). Every package whose
// tests need a store runs them through Run, so that each runs on both
// engines the same way.
package enginetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/sqlite"
)

// The engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options are what a test chooses of its store; the rest is the engine's
// default.
type Options struct {
	Queue  store.QueueOptions
	Hub    *live.Hub
	Logger *slog.Logger
}

// Open opens a fresh, empty store of the engine, closed when the test ends.
func Open(t testing.TB, engine string, o Options) parley.Store {
	t.Helper()
	var st parley.Store
	var err error
	switch engine {
	case SQLite:
		st, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"),
			sqlite.Options{Queue: o.Queue, Hub: o.Hub, Logger: o.Logger})
	case Postgres:
		st, err = postgres.Open(context.Background(), pgtest.URL(t),
			postgres.Options{Schema: pgtest.Schema(t), Queue: o.Queue, Hub: o.Hub, Logger: o.Logger})
	default:
		t.Fatalf("enginetest: no engine %q", engine)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Run runs fn once per engine, as parallel subtests named for it.
func Run(t *testing.T, fn func(t *testing.T, engine string)) {
	for _, engine := range []string{SQLite, Postgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}
