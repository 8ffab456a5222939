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

	foundOnce(t, db, tenant, c, 0, indexBatch-1, indexBatch, total-1) // each side of the restart
}

// foundOnce: the message holding "w<i>" (seq i+1) is found by that word,
// once, for each i.
func foundOnce(t *testing.T, db *DB, tenant *parley.Tenant, c *parley.Conversation, is ...int) {
	t.Helper()
	for _, i := range is {
		found, err := db.SearchMessages(context.Background(), tenant.ID, c.ID, []string{fmt.Sprintf("w%d", i)}, 0, 10, 0)
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

func TestMergeDue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pages []int
		due   bool
	}{
		{nil, false},
		{[]int{100}, false},
		{[]int{100, 24}, false},
		{[]int{100, 25}, true},
		{[]int{10, 100, 10, 5}, true},
		{[]int{3, 3}, true},
		{[]int{400, 40, 30, 20}, false},
	} {
		require.Equal(t, c.due, mergeDue(c.pages), "%v", c.pages)
	}
}

// segmented stores three batches of messages and indexes them, one
// segment each (a level merges at four: FTS5's usermerge), and returns
// how many messages, and a count of the index's segments.
func segmented(t *testing.T, db *DB, tenant *parley.Tenant, c *parley.Conversation) (int, func() int) {
	t.Helper()
	ctx := context.Background()
	total := 3 * indexBatch
	for i := range total {
		_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: fmt.Sprintf("note w%d", i), NoReply: true})
		require.NoError(t, err)
	}
	segments := func() int {
		var n int
		require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM messages_fts_idx`).Scan(&n))
		return n
	}
	for {
		n, err := db.IndexPending(ctx)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	require.Greater(t, segments(), 1, "each batch adds a segment")
	return total, segments
}

// TestFullMerge: batches leave the index in several segments; a full merge
// (Settle, as the indexer does once caught up) leaves one, and every
// message is found as before.
func TestFullMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversationWith(t, Options{IndexInterval: -1})
	total, segments := segmented(t, db, tenant, c)
	due, err := db.fullMergeDue(ctx)
	require.NoError(t, err)
	require.True(t, due, "segments of like sizes are due a full merge")

	require.NoError(t, db.Settle(ctx))
	require.Equal(t, 1, segments())
	worked, err := db.MergeIndexStep(ctx)
	require.NoError(t, err)
	require.False(t, worked, "one segment: nothing left to merge")
	due, err = db.fullMergeDue(ctx)
	require.NoError(t, err)
	require.False(t, due)
	foundOnce(t, db, tenant, c, 0, indexBatch, total-1)
}

// TestIndexerMergesWhenDue: the indexer's own loop, once caught up, merges
// an index that is due into one segment.
func TestIndexerMergesWhenDue(t *testing.T) {
	t.Parallel()
	db, tenant, c := openConversationWith(t, Options{IndexInterval: -1})
	_, segments := segmented(t, db, tenant, c)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); db.runIndexer(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-stopped }()
	require.Eventually(t, func() bool { return segments() == 1 }, 20*time.Second, 20*time.Millisecond)
}
