package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store/sqlite"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) parley.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db
		},
		Jobs: func(t *testing.T, st parley.Store, kind, conversationID string) int {
			var n int
			require.NoError(t, st.(*sqlite.DB).Writer().QueryRowContext(context.Background(),
				`SELECT count(*) FROM river_job WHERE json_extract(args, '$.conversation_id') = ? AND kind = ?`,
				conversationID, kind).Scan(&n))
			return n
		},
		Rows: func(t *testing.T, st parley.Store, table string) int {
			var n int
			require.NoError(t, st.(*sqlite.DB).Writer().QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
			return n
		},
	})
}
