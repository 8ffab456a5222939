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
	"github.com/parley-chat/parley/webhook"
)

// TestCommitKicksQueues: a committed transaction kicks the queues of the
// jobs it queued, once each; a rolled-back one kicks nothing.
func TestCommitKicksQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(t), Options{Schema: pgtest.Schema(t)})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
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
		require.NoError(t, db.enqueue(ctx, tx, job, webhook.InsertOpts()))
		return errors.New("rolled back")
	}))
	require.Empty(t, kicked())
	require.NoError(t, db.withTx(ctx, func(tx pgx.Tx) error {
		require.NoError(t, db.enqueue(ctx, tx, job, webhook.InsertOpts()))
		return db.enqueue(ctx, tx, job, webhook.InsertOpts())
	}))
	require.JSONEq(t, `{"queue":"deliveries"}`, kicked())
	require.Empty(t, kicked(), "one kick per queue")
}
