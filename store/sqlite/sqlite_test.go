package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store/sqlite"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return db
	})
}

// TestUnknownDigest: a conversation whose history predates digests (NULL,
// as migration 2 leaves them) has no digest, and appends keep it unknown
// rather than start a chain that would not cover the older messages.
func TestUnknownDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	tenant, err := db.EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = db.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	c, _, err := db.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "u"}, CreateUser: true})
	require.NoError(t, err)
	_, err = db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "old", NoReply: true})
	require.NoError(t, err)
	_, err = db.Writer().ExecContext(ctx, `UPDATE conversations SET digest = NULL`)
	require.NoError(t, err)
	_, err = db.Writer().ExecContext(ctx, `UPDATE messages SET digest = NULL`)
	require.NoError(t, err)

	_, err = db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "new", NoReply: true})
	require.NoError(t, err)
	for seq := range int64(3) {
		stored, d, err := db.HistoryDigest(ctx, tenant.ID, c.ID, seq)
		require.NoError(t, err)
		require.Equal(t, int64(2), stored)
		if seq == 0 {
			require.Equal(t, parley.ChainStart, d, "an empty prefix is always known")
		} else {
			require.Nil(t, d, "the digest up to %d is unknown", seq)
		}
	}
}
