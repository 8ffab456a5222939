package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
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

	_, unlock, ok, err := a.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
	require.NoError(t, err)
	require.True(t, ok)
	// Held well past one lease: renewed, so never free for the other.
	for deadline := time.Now().Add(3 * lease); time.Now().Before(deadline); time.Sleep(lease / 6) {
		_, _, ok, err := b.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
		require.NoError(t, err)
		require.False(t, ok, "another replica took a held lease")
	}
	unlock()
	_, unlockB, ok, err := b.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
	require.NoError(t, err)
	require.True(t, ok, "given back: free at once")
	unlockB()

	// The holder dies without giving it back: free once its lease ends.
	_, _, ok, err = a.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, a.Close()) // stops renewing
	_, _, ok, err = b.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
	require.NoError(t, err)
	require.False(t, ok, "not before the lease ends")
	require.Eventually(t, func() bool {
		_, unlock, ok, err := b.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
		if err != nil || !ok {
			return false
		}
		unlock()
		return true
	}, 10*lease, lease/10)
}

// TestLockReplyReadsAfterTheWait: a lease being given back by a group
// commit still under way makes the take wait for that commit; the state
// read with the take is then the one that commit left (the reply it
// stored), not the one from before the wait.
func TestLockReplyReadsAfterTheWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	_, unlock, ok, err := db.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
	require.NoError(t, err)
	require.True(t, ok)
	defer unlock()

	// A commit under way: the lease given back and the turn answered.
	tx, err := db.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `UPDATE reply_leases SET expires_at = '-infinity' WHERE conversation_id = $1`, c.ID)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE conversations SET answered_seq = 7 WHERE id = $1`, c.ID)
	require.NoError(t, err)

	type taken struct {
		answered int64
		ok       bool
		err      error
	}
	done := make(chan taken, 1)
	go func() {
		st, unlock, ok, err := db.LockReply(ctx, tenant.ID, c.ID, parley.ReplyRead{})
		if ok {
			unlock()
		}
		var answered int64
		if st != nil {
			answered = st.AnsweredSeq
		}
		done <- taken{answered, ok, err}
	}()
	select {
	case got := <-done:
		t.Fatalf("the take did not wait for the lease being given back: %+v", got)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Commit(ctx))
	got := <-done
	require.NoError(t, got.err)
	require.True(t, got.ok, "free once the commit gave it back")
	require.Equal(t, int64(7), got.answered, "the state that commit left")
}

// openDB opens a store in a schema of the test's own.
func openDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.URL(t), Options{Schema: pgtest.Schema(t)})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// openConversation opens a store in a schema of the test's own, with a
// conversation.
func openConversation(t *testing.T) (*DB, *parley.Tenant, *parley.Conversation) {
	t.Helper()
	db := openDB(t)
	tenant, c := storetest.NewConversation(t, db)
	return db, tenant, c
}
