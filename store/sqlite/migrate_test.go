package sqlite

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pressly/goose/v3"
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
	provider, err := goose.NewProvider(goose.DialectSQLite3, db.Writer(), mustSub(migrations, "migrations"))
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
