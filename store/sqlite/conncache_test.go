package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCachingConn: one-shot queries on the writer's connection run on kept
// statements, with the same results as without; a statement whose rows are
// open is not reused under them; scripts run whole; PRAGMAs take effect
// every time; the cache stays bounded.
func TestCachingConn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connector, err := newCachingConnector("file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1)
	cached := func() int {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		n := 0
		require.NoError(t, conn.Raw(func(c any) error { n = len(c.(*cachingConn).stmts); return nil }))
		return n
	}

	// A script runs every statement, and is not kept.
	_, err = db.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b');`)
	require.NoError(t, err)
	require.Zero(t, cached())

	count := func() int {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n))
		return n
	}
	require.Equal(t, 2, count())
	for i := 3; i <= 5; i++ {
		_, err := db.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint(i))
		require.NoError(t, err)
	}
	require.Equal(t, 5, count(), "a kept statement sees new rows")
	require.Equal(t, 2, cached(), "the count and the insert are kept")

	// Rows open on a kept statement; the same query inside runs apart.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	rows, err := tx.QueryContext(ctx, `SELECT k FROM t WHERE k > ? ORDER BY k`, 0)
	require.NoError(t, err)
	var outer, inner []int
	for rows.Next() {
		var k int
		require.NoError(t, rows.Scan(&k))
		outer = append(outer, k)
		if k == 2 {
			in, err := tx.QueryContext(ctx, `SELECT k FROM t WHERE k > ? ORDER BY k`, 3)
			require.NoError(t, err)
			for in.Next() {
				var j int
				require.NoError(t, in.Scan(&j))
				inner = append(inner, j)
			}
			require.NoError(t, in.Err())
			in.Close()
		}
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.NoError(t, tx.Commit())
	require.Equal(t, []int{1, 2, 3, 4, 5}, outer)
	require.Equal(t, []int{4, 5}, inner)

	// PRAGMAs act when run, not when kept.
	level := func() int {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n))
		return n
	}
	for _, want := range []int{2, 1, 2} {
		_, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA synchronous = %d`, want))
		require.NoError(t, err)
		require.Equal(t, want, level())
	}

	// Bounded: many distinct texts, the least recently used go.
	for i := range 3 * maxCachedStatements {
		var v int
		require.NoError(t, db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v))
		require.Equal(t, i, v)
	}
	require.Equal(t, maxCachedStatements, cached())
	require.Equal(t, 5, count())

	// A failing statement reports its error, and is not kept.
	_, err = db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`)
	require.ErrorContains(t, err, "no such table")
}

func TestSingleStatement(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query        string
		single, prag bool
	}{
		{"SELECT 1", true, false},
		{"SELECT 1;", true, false},
		{"SELECT 1;\n  \t", true, false},
		{"SELECT 1; SELECT 2", false, false},
		{"SELECT 1;;", true, false},
		{"-- once; twice\nSELECT 1", true, false},
		{"SELECT 1 /* a; b */ + 2", true, false},
		{"SELECT 'a;b', \"c;d\", [e;f], `g;h`", true, false},
		{"SELECT 'it''s; fine'", true, false},
		{"SELECT 1; -- trailing comment", true, false},
		{"SELECT 1; /* c */ SELECT 2", false, false},
		{"SELECT 1;'x'", false, false},
		{"PRAGMA synchronous = FULL", true, true},
		{"  pragma synchronous", true, true},
		{"-- name: X\nPRAGMA user_version", true, true},
		{"/* c */ PRAGMA user_version", true, true},
		{"SELECT 'PRAGMA'", true, false},
	} {
		require.Equal(t, tc.single, singleStatement(tc.query), tc.query)
		require.Equal(t, tc.prag, isPragma(tc.query), tc.query)
	}
}
