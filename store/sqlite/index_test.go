package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store/storetest"
)

// TestIndexerBatches: the indexer takes the writer for at most indexBatch
// messages at a time, indexes each message once, and after a restart
// resumes from its watermark. FTS5's automatic merging is off (migration
// 4): the batches merge segments themselves.
func TestIndexerBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(ctx, path, Options{IndexInterval: -1})
	require.NoError(t, err)
	tenant, c := storetest.NewConversation(t, db)
	var automerge int
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT v FROM messages_fts_config WHERE k = 'automerge'`).Scan(&automerge))
	require.Zero(t, automerge)

	total := 2*indexBatch + 5
	for i := range total {
		_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: fmt.Sprintf("note w%d", i)})
		require.NoError(t, err)
	}
	n, err := db.IndexPending(ctx)
	require.NoError(t, err)
	require.Equal(t, indexBatch, n)
	require.NoError(t, db.Close())

	db, err = Open(ctx, path, Options{IndexInterval: time.Hour}) // its first pass indexes the rest, a batch at a time
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var watermark, last int64
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT max(rowid) FROM messages`).Scan(&last))
	require.Eventually(t, func() bool {
		err := db.Writer().QueryRowContext(ctx, `SELECT last_rowid FROM search_index_state`).Scan(&watermark)
		return err == nil && watermark == last
	}, 10*time.Second, 5*time.Millisecond)
	n, err = db.IndexPending(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left")

	for _, i := range []int{0, indexBatch - 1, indexBatch, total - 1} { // each side of the restart
		found, err := db.SearchMessages(ctx, tenant.ID, c.ID, []string{fmt.Sprintf("w%d", i)}, 0, 10, 0)
		require.NoError(t, err)
		require.Len(t, found, 1, "w%d indexed once", i)
		require.Equal(t, int64(i+1), found[0].Seq)
	}
}
