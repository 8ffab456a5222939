package sqlite

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestUnknownDigest: a conversation whose history predates digests (NULL,
// as migration 2 leaves them) has no digest, and appends keep it unknown
// rather than start a chain that would not cover the older messages.
func TestUnknownDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "old", NoReply: true})
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
