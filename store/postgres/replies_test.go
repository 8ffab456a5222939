package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store/storetest"
)

// TestReplyLease: the reply lease spans replicas, is renewed while held,
// and frees the conversation within one lease when its holder dies.
func TestReplyLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := pgtest.URL(t), pgtest.Schema(t)
	const lease = 600 * time.Millisecond
	replica := func() *DB {
		db, err := Open(ctx, url, Options{Schema: schema, ReplyLease: lease})
		require.NoError(t, err)
		return db
	}
	a, b := replica(), replica()
	t.Cleanup(func() { b.Close() })
	tenant, c := storetest.NewConversation(t, a)

	_, unlock, ok, err := a.LockReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.True(t, ok)
	// Held well past one lease: renewed, so never free for the other.
	for deadline := time.Now().Add(3 * lease); time.Now().Before(deadline); time.Sleep(lease / 6) {
		_, _, ok, err := b.LockReply(ctx, tenant.ID, c.ID)
		require.NoError(t, err)
		require.False(t, ok, "another replica took a held lease")
	}
	unlock()
	_, unlockB, ok, err := b.LockReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.True(t, ok, "given back: free at once")
	unlockB()

	// The holder dies without giving it back: free once its lease ends.
	_, _, ok, err = a.LockReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, a.Close()) // stops renewing
	_, _, ok, err = b.LockReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.False(t, ok, "not before the lease ends")
	require.Eventually(t, func() bool {
		_, unlock, ok, err := b.LockReply(ctx, tenant.ID, c.ID)
		if err != nil || !ok {
			return false
		}
		unlock()
		return true
	}, 10*lease, lease/10)
}
