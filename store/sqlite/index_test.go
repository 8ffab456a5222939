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
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT max(pk) FROM messages`).Scan(&last))
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

// TestNewMessagePastWatermark: a message stored after the newest indexed
// ones were erased is given a pk past the indexer's watermark, not the
// erased one's again, so it is indexed and found.
func TestNewMessagePastWatermark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversationWith(t, Options{IndexInterval: -1})
	other, _, err := db.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "erased"}, CreateUser: true})
	require.NoError(t, err)
	for _, m := range []struct{ conv, text string }{{c.ID, "alpha"}, {other.ID, "beta"}, {other.ID, "delta"}} {
		_, err := db.AppendMessage(ctx, tenant.ID, m.conv, parley.NewMessage{FromBot: true, Text: m.text})
		require.NoError(t, err)
	}
	_, err = db.IndexPending(ctx)
	require.NoError(t, err)
	require.NoError(t, db.DeleteUser(ctx, tenant.ID, "erased")) // the two newest messages

	res, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "gamma"})
	require.NoError(t, err)
	n, err := db.IndexPending(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	found, err := db.SearchMessages(ctx, tenant.ID, c.ID, []string{"gamma"}, 0, 10, 0)
	require.NoError(t, err)
	require.Len(t, found, 1, "indexed")
	require.Equal(t, res.Message.Seq, found[0].Seq)
}
