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

// TestClaimDoesNotWaitForFlush: a reply claim's transaction, and only it,
// commits with synchronous_commit off.
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
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	require.Equal(t, "on", setting(tx))
	var last int64
	require.NoError(t, tx.QueryRow(ctx, claimReplySQL, tenant.ID, c.ID).Scan(&last))
	require.Equal(t, int64(1), last)
	require.Equal(t, "off", setting(tx))
	require.NoError(t, tx.Commit(ctx))

	tx, err = conn.Begin(ctx)
	require.NoError(t, err)
	require.Equal(t, "on", setting(tx), "the next transaction waits for its flush again")
	require.NoError(t, tx.Rollback(ctx))

	last, err = db.ClaimReply(ctx, tenant.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), last)
}
