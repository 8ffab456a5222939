package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t)})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return db
	})
}
