package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// FuzzSearchQuery: no search text a client sends is FTS5 syntax. Every
// query ftsQuery builds must run without an error.
func FuzzSearchQuery(f *testing.F) {
	db, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"), Options{})
	require.NoError(f, err)
	f.Cleanup(func() { db.Close() })
	for _, s := range []string{"pizza", `"a" OR b`, "NEAR(a b)", "a*", "-x", "col:val", "über straße", "it's", "'''", "^a", "{a b}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := db.ListConversations(context.Background(), "t", parley.ConversationFilter{Query: q, Limit: 1})
		require.NoError(t, err, "q=%q fts=%q", q, ftsQuery(q))
	})
}
