package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
)

// migrationsOf is the schema's migrations on db, to run down and up.
func migrationsOf(t *testing.T, db *DB) *goose.Provider {
	t.Helper()
	sqlDB := stdlib.OpenDBFromPool(db.Pool())
	t.Cleanup(func() { sqlDB.Close() })
	provider, err := migrationProvider(sqlDB)
	require.NoError(t, err)
	return provider
}

// TestContentTermsMigration: migration 10 replaces the library's tsvector
// by the term index, and 11 indexes the items stored before it; down
// again, the tsvector is back.
func TestContentTermsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(t), Options{Schema: pgtest.Schema(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	tenant, err := db.EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = db.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	var items []*parley.ContentItem
	for i, title := range []string{"Sunset over the lake", "Dogs in the park"} {
		it, _, err := db.AddContent(ctx, tenant.ID, &parley.ContentItem{BotID: "bot", MediaType: "image/png",
			SHA256: fmt.Sprint(i), Title: title, Tags: []string{"a tag"}})
		require.NoError(t, err)
		items = append(items, it)
	}
	provider := migrationsOf(t, db)
	_, err = provider.DownTo(ctx, 9)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM content_items WHERE tsv @@ to_tsquery('english', 'dog')`).Scan(&n))
	require.Equal(t, 1, n, "the tsvector back on the way down")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	got, err := db.ListContent(ctx, tenant.ID, parley.ContentFilter{BotID: "bot", Terms: []string{"dog", "lake", "tag"}, PerTerm: 5})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.ElementsMatch(t, []string{items[0].ID, items[1].ID}, []string{got[0].ID, got[1].ID})
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM content_terms`).Scan(&n))
	require.Equal(t, len(items[0].SearchTerms())+len(items[1].SearchTerms()), n)
	require.NoError(t, db.DeleteBot(ctx, tenant.ID, "bot"))
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM content_terms`).Scan(&n))
	require.Zero(t, n, "items indexed by the migration leave with their bot")
}

// TestReplyContextTextMigration: down from migration 15 a reply's context
// is jsonb again; up, a context stored as jsonb is read as ever, and the
// next is stored as text.
func TestReplyContextTextMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	sent := `{"messages": [{"role": "user", "content": "hi"}]}`
	reply := func(upto int64) *parley.Message {
		_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}})
		require.NoError(t, err)
		m, err := db.StoreReply(ctx, tenant.ID, c.ID, parley.Reply{UptoSeq: upto,
			Message: parley.NewMessage{FromBot: true, Text: "hello", Bubbles: []string{"hello"}}, Context: json.RawMessage(sent)})
		require.NoError(t, err)
		return m
	}
	first := reply(1)
	provider := migrationsOf(t, db)
	_, err := provider.DownTo(ctx, 14)
	require.NoError(t, err)
	var kept string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT context::text FROM reply_contexts WHERE seq = $1`, first.Seq).Scan(&kept))
	require.JSONEq(t, sent, kept, "down, the context is jsonb again")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	got, err := db.ReplyContext(ctx, tenant.ID, c.ID, first.Seq)
	require.NoError(t, err)
	require.JSONEq(t, sent, string(got), "a context stored as jsonb is read")
	second := reply(3)
	got, err = db.ReplyContext(ctx, tenant.ID, c.ID, second.Seq)
	require.NoError(t, err)
	require.Equal(t, sent, string(got), "the next is stored as the text encoded")
}
