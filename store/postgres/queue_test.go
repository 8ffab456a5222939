package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store"
)

// TestCommitKicksQueues: a committed transaction kicks the queues of the
// jobs it queued, once each; a rolled-back one kicks nothing.
func TestCommitKicksQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	// The queue's listener answers a kick at once; with nothing kicked it
	// waits for River's own notifications, here until the short deadline.
	l := db.queue.Driver().GetListener(&riverdriver.GetListenenerParams{Schema: pgtest.Schema(t)})
	require.NoError(t, l.Connect(ctx))
	t.Cleanup(func() { l.Close(context.Background()) })
	kicked := func() string {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		n, err := l.WaitForNotification(ctx)
		if err != nil {
			return ""
		}
		return n.Payload
	}
	job := parley.WebhookJob{TenantID: "t", DeliveryID: "d"}
	require.Error(t, db.withTx(ctx, func(tx pgx.Tx) error {
		require.NoError(t, db.enqueue(ctx, tx, job, store.DeliveryJobOpts()))
		return errors.New("rolled back")
	}))
	require.Empty(t, kicked())
	require.NoError(t, db.withTx(ctx, func(tx pgx.Tx) error {
		require.NoError(t, db.enqueue(ctx, tx, job, store.DeliveryJobOpts()))
		return db.enqueue(ctx, tx, job, store.DeliveryJobOpts())
	}))
	require.JSONEq(t, `{"queue":"deliveries"}`, kicked())
	require.Empty(t, kicked(), "one kick per queue")
}

// TestClaimDoesNotWaitForFlush: a reply's claim's transaction and a memory
// job's, and only they, commit with synchronous_commit off.
func TestClaimDoesNotWaitForFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	_, err := db.AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}})
	require.NoError(t, err)

	conn, err := db.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	setting := func(q pgx.Tx) string {
		var v string
		require.NoError(t, q.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&v))
		return v
	}
	for _, claim := range []struct {
		name string
		sql  string
		scan func(pgx.Row) error
	}{
		{"reply", claimReplySQL, func(row pgx.Row) error {
			var last int64
			if err := row.Scan(&last); err != nil {
				return err
			}
			require.Equal(t, int64(1), last)
			return nil
		}},
		{"memories", claimMemoriesSQL, func(row pgx.Row) error {
			got, err := scanConversation(row)
			if err == nil {
				require.Equal(t, c.ID, got.ID)
			}
			return err
		}},
	} {
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		require.Equal(t, "on", setting(tx), claim.name)
		require.NoError(t, claim.scan(tx.QueryRow(ctx, claim.sql, tenant.ID, c.ID)), claim.name)
		require.Equal(t, "off", setting(tx), claim.name)
		require.NoError(t, tx.Commit(ctx))

		tx, err = conn.Begin(ctx)
		require.NoError(t, err)
		require.Equal(t, "on", setting(tx), "%s: the next transaction waits for its flush again", claim.name)
		require.NoError(t, tx.Rollback(ctx))
	}

	last, err := db.ClaimReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), last)
	_, err = db.pool.Exec(ctx, `UPDATE conversations SET memory_queued = true WHERE id = $1`, c.ID)
	require.NoError(t, err)
	claimed, err := db.ClaimMemories(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, c.ID, claimed.ID)
	var queued bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT memory_queued FROM conversations WHERE id = $1`, c.ID).Scan(&queued))
	require.False(t, queued, "claimed")
}
