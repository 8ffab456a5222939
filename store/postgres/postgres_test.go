package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) parley.Store {
			db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t)})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db
		},
		Jobs: func(t *testing.T, st parley.Store, kind, conversationID string) int {
			var n int
			require.NoError(t, st.(*postgres.DB).Pool().QueryRow(context.Background(),
				`SELECT count(*) FROM river_job WHERE kind = $2 AND args->>'conversation_id' = $1`,
				conversationID, kind).Scan(&n))
			return n
		},
	})
}
