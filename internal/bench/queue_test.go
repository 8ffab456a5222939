package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/store/sqlite"
)

// TestQueueFloor: the floor moves every job it inserts through fetch and
// completion, on a queue nothing else serves, and reports a cost for each
// step.
func TestQueueFloor(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	require.NoError(t, err)
	defer db.Close()
	c, err := QueueFloor(ctx, riversqlite.New(db.Writer()).GetExecutor(), 5, 3)
	require.NoError(t, err)
	require.Positive(t, c.Insert)
	require.Positive(t, c.Fetch)
	require.Positive(t, c.Complete)
	require.Equal(t, c.Insert+c.Fetch+c.Complete, c.Total())
	var completed, other int
	require.NoError(t, db.Writer().QueryRowContext(ctx,
		`SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state <> 'completed')
		 FROM river_job WHERE queue = ?`, floorQueue).Scan(&completed, &other))
	require.Equal(t, 15, completed)
	require.Zero(t, other)
}
