package sqlite

import (
	"context"
	"database/sql"
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

// TestMessagesByConversationMigration: migration 14 clusters messages by
// conversation, and back; both ways every message keeps its pk (the
// full-text index's rowid), its bubbles (stored as NULL when they are
// just the text), its reply context and its media rows, the
// tables that refer to messages still refer to messages, and deleting the
// user deletes all of it. A message stored after either way is given a pk
// past the others and is found by search.
func TestMessagesByConversationMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversationWith(t, Options{IndexInterval: -1})
	w := db.Writer()
	_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "a kayak on the lake", Bubbles: []string{"a kayak on the lake"}, IdempotencyKey: "k-1",
		AttachedMedia: []parley.Media{{URL: "https://example.com/a.png"}}})
	require.NoError(t, err)
	require.NoError(t, db.SetMessageMedia(ctx, tenant.ID, c.ID, 1,
		[]parley.Media{{URL: "https://example.com/a.png", Status: parley.MediaStored, SHA256: "aa", Size: 3, MediaType: "image/png"}}))
	reply, err := db.StoreReply(ctx, tenant.ID, c.ID, parley.Reply{UptoSeq: 1,
		Message: parley.NewMessage{FromBot: true, Text: "a paddle\n\ntoo", Bubbles: []string{"a paddle", "too"}},
		Context: json.RawMessage(`{"n":1}`)})
	require.NoError(t, err)
	bubbles := func(way string) {
		t.Helper()
		page, err := db.ListMessages(ctx, tenant.ID, c.ID, parley.HistoryQuery{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"a kayak on the lake"}, page[0].Bubbles, way)
		require.Equal(t, []string{"a paddle", "too"}, page[1].Bubbles, way)
	}
	bubbles("first")
	var stored sql.NullString
	require.NoError(t, db.Writer().QueryRowContext(ctx, `SELECT bubbles FROM messages WHERE seq = 1`).Scan(&stored))
	require.False(t, stored.Valid, "one bubble, the text: not stored twice")
	_, err = db.IndexPending(ctx)
	require.NoError(t, err)
	pks := func() map[int64]int64 {
		rows, err := w.QueryContext(ctx, `SELECT seq, pk FROM messages`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[int64]int64{}
		for rows.Next() {
			var seq, pk int64
			require.NoError(t, rows.Scan(&seq, &pk))
			out[seq] = pk
		}
		require.NoError(t, rows.Err())
		return out
	}
	before := pks()
	require.Len(t, before, 2)
	count := func(table string) int {
		var n int
		require.NoError(t, w.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}
	// Each way, then a new message: found by search, its pk past the others.
	check := func(way string, text string) {
		t.Helper()
		require.Equal(t, before, pks(), "%s: pks kept", way)
		bubbles(way)
		var schema string
		require.NoError(t, w.QueryRowContext(ctx,
			`SELECT group_concat(sql, ' ') FROM sqlite_master WHERE name IN ('reply_contexts', 'message_media')`).Scan(&schema))
		require.NotContains(t, schema, "messages_by", "%s: the tables referring to messages still name messages", way)
		require.Equal(t, 1, count("reply_contexts"), way)
		require.Equal(t, 1, count("message_media"), way)
		got, err := db.ReplyContext(ctx, tenant.ID, c.ID, reply.Seq)
		require.NoError(t, err)
		require.JSONEq(t, `{"n":1}`, string(got), way)
		again, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "a kayak on the lake", Bubbles: []string{"a kayak on the lake"}, IdempotencyKey: "k-1",
			AttachedMedia: []parley.Media{{URL: "https://example.com/a.png"}}})
		require.NoError(t, err)
		require.True(t, again.Replayed, "%s: the idempotency index kept", way)

		res, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: text})
		require.NoError(t, err)
		_, err = db.IndexPending(ctx)
		require.NoError(t, err)
		found, err := db.SearchMessages(ctx, tenant.ID, c.ID, []string{text}, 0, 10, 0)
		require.NoError(t, err)
		require.Len(t, found, 1, "%s: %q indexed", way, text)
		require.Equal(t, res.Message.Seq, found[0].Seq)
		found, err = db.SearchMessages(ctx, tenant.ID, c.ID, []string{"kayak"}, 0, 10, 0)
		require.NoError(t, err)
		require.Len(t, found, 1, "%s: the old message still found", way)
		before = pks()
		require.Greater(t, before[res.Message.Seq], before[reply.Seq], way)
	}
	check("up", "canoe")

	provider, err := migrationProvider(w)
	require.NoError(t, err)
	_, err = provider.DownTo(ctx, 13)
	require.NoError(t, err)
	check("down", "rowing")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	check("up again", "sailing")

	// A process that died after the migration's commit and before goose
	// recorded it runs it again at its next start: the new layout is
	// copied into itself.
	_, err = w.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id = 14`)
	require.NoError(t, err)
	_, err = provider.Up(ctx)
	require.NoError(t, err)
	check("run twice", "rafting")

	var fk int
	require.NoError(t, w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
	require.Equal(t, 1, fk, "foreign keys on again after the migration")
	require.NoError(t, db.DeleteUser(ctx, tenant.ID, "u"))
	for _, table := range []string{"messages", "reply_contexts", "message_media"} {
		require.Zero(t, count(table), "%s deleted with the user", table)
	}
}
