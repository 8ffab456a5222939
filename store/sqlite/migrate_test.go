package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestReplyContextsMigration: migration 3 re-keys reply contexts by their
// message, and back; contexts stored before either way stay readable, and
// deleting a user (with their conversations) still deletes them.
func TestReplyContextsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	var replies []int64
	for i, text := range []string{"first", "second"} {
		_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: text})
		require.NoError(t, err)
		m, err := db.StoreReply(ctx, tenant.ID, c.ID, parley.Reply{UptoSeq: int64(2*i + 1),
			Message: parley.NewMessage{FromBot: true, Text: "re " + text}, Context: json.RawMessage(`{"n":"` + text + `"}`)})
		require.NoError(t, err)
		replies = append(replies, m.Seq)
	}
	provider, err := migrationProvider(db.Writer())
	require.NoError(t, err)

	_, err = provider.DownTo(ctx, 2)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Writer().QueryRowContext(ctx,
		`SELECT count(*) FROM reply_contexts WHERE conversation_id = ? AND seq IN (?, ?)`, c.ID, replies[0], replies[1]).Scan(&n))
	require.Equal(t, 2, n, "keyed by (conversation, seq) again")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	for i, text := range []string{"first", "second"} {
		got, err := db.ReplyContext(ctx, tenant.ID, c.ID, replies[i])
		require.NoError(t, err)
		require.JSONEq(t, `{"n":"`+text+`"}`, string(got))
	}
	_, err = db.ReplyContext(ctx, "other", c.ID, replies[0])
	require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	_, err = db.ReplyContext(ctx, tenant.ID, c.ID, 1)
	require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "a user message has no context")

	require.NoError(t, db.DeleteUser(ctx, tenant.ID, "u"))
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT count(*) FROM reply_contexts`).Scan(&n))
	require.Zero(t, n, "deleted with the conversation's messages")
}

// TestContentTermsMigration: migration 11 replaces the library's FTS5
// index by the term index, and 12 indexes the items stored before it;
// down again, FTS5 is rebuilt from the items.
func TestContentTermsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	var items []*parley.ContentItem
	for i, title := range []string{"Sunset over the lake", "Dogs in the park"} {
		it, _, err := db.AddContent(ctx, tenant.ID, &parley.ContentItem{BotID: c.BotID, MediaType: "image/png",
			SHA256: fmt.Sprint(i), Title: title, Tags: []string{}})
		require.NoError(t, err)
		items = append(items, it)
	}
	provider, err := migrationProvider(db.Writer())
	require.NoError(t, err)
	_, err = provider.DownTo(ctx, 10)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT count(*) FROM content_fts WHERE content_fts MATCH 'dog'`).Scan(&n))
	require.Equal(t, 1, n, "FTS5 rebuilt on the way down")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	got, err := db.ListContent(ctx, tenant.ID, parley.ContentFilter{BotID: c.BotID, Terms: []string{"dog", "lake"}, PerTerm: 5})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{items[0].ID, items[1].ID}, []string{got[0].ID, got[1].ID})
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT count(*) FROM content_terms`).Scan(&n))
	require.Equal(t, len(items[0].SearchTerms())+len(items[1].SearchTerms()), n)
	require.NoError(t, db.DeleteBot(ctx, tenant.ID, c.BotID))
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT count(*) FROM content_terms`).Scan(&n))
	require.Zero(t, n, "items indexed by the migration leave with their bot")
}
